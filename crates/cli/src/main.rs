//! The `bioguard` command: the service, a demonstration, and tools around them.

mod admin;
mod audit;
mod backup;
mod bench;
mod calibrate;
mod config;
mod demo;
mod evaluate;
mod fairness;
mod governance;
mod http;
mod keybench;
mod limitbench;
mod naive;
mod progress;
mod readbench;
mod realcodes;
mod receipt;
mod serve;
mod spread;
mod synth;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::RawConfig;

#[derive(Parser)]
#[command(
    name = "bioguard",
    version,
    about = "Consent-gated, encrypted biometric authentication"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (zero config: ./bioguard-data, SQLite, 127.0.0.1:8600).
    Serve(ServeArgs),
    /// Sign a proposal's payload with a risk-group member key; prints the body to POST to
    /// /v1/proposals/{id}/approvals.
    Approve {
        /// The member's key file (from `governance keygen`).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The member's name in the risk group.
        #[arg(long)]
        member: String,
        /// The proposal: the JSON answer of GET /v1/proposals/{id}, or its payload.
        proposal: PathBuf,
    },
    /// The risk group's tools.
    #[command(subcommand)]
    Governance(GovernanceCommand),
    /// Reports drawn from the service's database.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Synthetic data for testing measures (labelled synthetic, never evidence).
    #[command(subcommand)]
    Synth(SynthCommand),
    /// Demographic-differential evaluation of a matcher and threshold.
    #[command(subcommand)]
    Fairness(FairnessCommand),
    /// Consent receipts and deletion certificates.
    #[command(subcommand)]
    Receipt(ReceiptCommand),
    /// The key provider's tools.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The operator's own credential.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Webhook deliveries to relying parties.
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// Copy an installation's embedded database while it serves, with a manifest that binds
    /// it to a signed checkpoint of its audit ledger. The master key is not copied unless
    /// --include-master-key says so.
    Backup {
        #[command(flatten)]
        args: StoreArgs,
        /// A new or empty folder for the backup.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Also copy the local master key into the backup (then keep the folder as safe as
        /// the key).
        #[arg(long)]
        include_master_key: bool,
    },
    /// Restore a backup into a new data directory, checking the database against the
    /// manifest and its audit ledger against the signed checkpoint before finishing.
    Restore {
        /// The backup folder.
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        #[command(flatten)]
        args: StoreArgs,
    },
    /// Enforce the retention schedule.
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Walk through consent, enrolment, verification and withdrawal on a temporary
    /// database with synthetic embeddings, printing each step.
    Demo,
    /// Print the OpenAPI document.
    Openapi,
    /// Error rates of the raw and protected forms on labelled embeddings, and the match
    /// threshold for a target false-match rate.
    Calibrate(calibrate::CalibrateArgs),
    /// The audit ledger's tools.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Benchmarks of the 1:N engine (run `bench/identify` for the side-by-side with FAISS).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Studies of the template protection (accuracy by code size, unlinkability,
    /// reconstruction), as recorded in docs/adr/0006-template-protection.md.
    Study {
        /// JSON lines with `subject` and `embedding`.
        #[arg(long, value_name = "FILE")]
        embeddings: PathBuf,
        /// Use only lines whose `sample` starts with this.
        #[arg(long, value_name = "PREFIX")]
        sample_prefix: Option<String>,
        /// Instead: the spread of accuracy over this many keys at each code size, with and
        /// without centring the embeddings on the population mean (issue 20).
        #[arg(long, value_name = "N")]
        keys: Option<usize>,
    },
}

/// Where the service's data, keys and settings are (shared by `serve` and the commands that
/// work on its database).
#[derive(clap::Args)]
struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory: SQLite database, master key, admin token [default: ./bioguard-data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<String>,
    /// Address to listen on [default: 127.0.0.1:8600].
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// PostgreSQL URL (postgres://...); without it, SQLite in the data directory.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Local master key file [default: <data-dir>/master.key].
    #[arg(long, value_name = "FILE")]
    key_file: Option<String>,
    /// Largest request body accepted, in bytes [default: 262144].
    #[arg(long, value_name = "BYTES")]
    max_body_bytes: Option<String>,
    /// Log filter [default: info].
    #[arg(long, value_name = "FILTER")]
    log: Option<String>,
    /// Log lines as `text` or `json` (one object per line) [default: text].
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<String>,
    /// Seconds between signed checkpoints of the audit log [default: 60].
    #[arg(long, value_name = "SECONDS")]
    checkpoint_interval_secs: Option<String>,
    /// Seconds between retention sweeps; 0 turns the sweeper off [default: 3600].
    #[arg(long, value_name = "SECONDS")]
    retention_sweep_secs: Option<String>,
    /// Milliseconds between polls of the ledger for other nodes' changes to the galleries
    /// (PostgreSQL also announces each commit at once) [default: 1000].
    #[arg(long, value_name = "MS")]
    gallery_sync_ms: Option<String>,
    /// Requests per second each API client may make on this node [default: 1000; 0: none].
    #[arg(long, value_name = "N")]
    client_rate_per_sec: Option<String>,
    /// Seconds an unwrapped data key may stay in memory [default: 0, never].
    #[arg(long, value_name = "SECONDS")]
    data_key_cache_secs: Option<String>,
    /// Distinct subjects a client may verify per minute before it is suspended [default: 0,
    /// off].
    #[arg(long, value_name = "N")]
    abuse_distinct_subjects_per_min: Option<String>,
    /// Strictly closer failed probes of one subject that mark hill-climbing [default: 0, off].
    #[arg(long, value_name = "N")]
    abuse_hill_climb_probes: Option<String>,
    /// PEM certificate chain: with --tls-key, serve HTTPS.
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<String>,
    /// PEM private key of --tls-cert (mode 0600).
    #[arg(long, value_name = "FILE")]
    tls_key: Option<String>,
    /// PEM CA whose certificates every client must present (mutual TLS).
    #[arg(long, value_name = "FILE")]
    tls_client_ca: Option<String>,
    #[command(flatten)]
    keys: KeyProviderArgs,
}

/// Which key manager holds the key-encryption keys, and how to reach it (`serve` and the
/// maintenance commands share these flags).
#[derive(clap::Args)]
struct KeyProviderArgs {
    /// Key provider: local (the key file), pkcs11 or openbao [default: local].
    #[arg(long, value_name = "KIND")]
    key_provider: Option<String>,
    /// PKCS#11 library [default: /usr/lib/softhsm/libsofthsm2.so].
    #[arg(long, value_name = "FILE")]
    pkcs11_module: Option<String>,
    /// PKCS#11 token label [default: bioguard].
    #[arg(long, value_name = "LABEL")]
    pkcs11_token_label: Option<String>,
    /// File (mode 0600) holding the token's user PIN [default: BIOGUARD_PKCS11_PIN].
    #[arg(long, value_name = "FILE")]
    pkcs11_pin_file: Option<String>,
    /// OpenBao server [default: http://127.0.0.1:8200].
    #[arg(long, value_name = "URL")]
    openbao_addr: Option<String>,
    /// OpenBao transit mount [default: transit].
    #[arg(long, value_name = "PATH")]
    openbao_mount: Option<String>,
    /// OpenBao transit key name [default: bioguard].
    #[arg(long, value_name = "NAME")]
    openbao_key: Option<String>,
    /// File (mode 0600) holding the OpenBao token [default: BIOGUARD_OPENBAO_TOKEN].
    #[arg(long, value_name = "FILE")]
    openbao_token_file: Option<String>,
}

/// Where an existing installation's data and keys are: the flags of the maintenance commands
/// (`keys`, `retention sweep`, `report transparency`), a subset of `serve`'s. Settings that only
/// a running service uses are not offered here; a configuration file may still hold them.
#[derive(clap::Args)]
struct StoreArgs {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory of the installation [default: ./bioguard-data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<String>,
    /// PostgreSQL URL (postgres://...); without it, SQLite in the data directory.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Local master key file [default: <data-dir>/master.key].
    #[arg(long, value_name = "FILE")]
    key_file: Option<String>,
    /// Log filter [default: info].
    #[arg(long, value_name = "FILTER")]
    log: Option<String>,
    /// Log lines as `text` or `json` (one object per line) [default: text].
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<String>,
    #[command(flatten)]
    keys: KeyProviderArgs,
}

impl From<StoreArgs> for ServeArgs {
    fn from(a: StoreArgs) -> Self {
        ServeArgs {
            config: a.config,
            data_dir: a.data_dir,
            listen: None,
            database_url: a.database_url,
            key_file: a.key_file,
            max_body_bytes: None,
            log: a.log,
            log_format: a.log_format,
            checkpoint_interval_secs: None,
            retention_sweep_secs: None,
            gallery_sync_ms: None,
            client_rate_per_sec: None,
            data_key_cache_secs: None,
            abuse_distinct_subjects_per_min: None,
            abuse_hill_climb_probes: None,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            keys: a.keys,
        }
    }
}

#[derive(Subcommand)]
enum ReceiptCommand {
    /// Check a consent receipt or deletion certificate against the service's published keys;
    /// prints what it says. Exits 1 if it does not verify.
    Verify {
        /// The receipt: the compact JWS, or the JSON answer that holds it.
        file: PathBuf,
        /// The published keys (the JSON of GET /v1/keys, or one JWK), kept from before.
        #[arg(long, value_name = "FILE")]
        jwks: Option<PathBuf>,
        /// Fetch the keys from this running service instead.
        #[arg(long, value_name = "URL", conflicts_with = "jwks")]
        server: Option<String>,
        /// What the document must be: receipt or certificate (default: what the JSON answer
        /// holds it as, or either).
        #[arg(long = "type", value_name = "KIND")]
        kind: Option<String>,
    },
}

#[derive(Subcommand)]
enum FairnessCommand {
    /// Per-group error rates at one global threshold with exact and subject-level bootstrap
    /// intervals, the differentials (FMR/FNMR max/min, FDR, IR, GARBE), DET curves and
    /// histograms, as a JSON report (what the fairness gate reads) and an HTML report.
    Evaluate(Box<fairness::EvaluateArgs>),
}

#[derive(Subcommand)]
enum SynthCommand {
    /// Seeded comparison scores with named groups and injected differentials, as CSV
    /// (score,genuine,group). Each group's scores are normal with the means and spread given,
    /// so its rates at any threshold are known exactly.
    Scores {
        /// name:impostor_mean:genuine_mean:sd:impostors:genuines (repeat per group).
        #[arg(long = "group", value_name = "SPEC")]
        groups: Vec<String>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Also name a subject per comparison, cycling through this many per group (for the
        /// subject-level bootstrap of `fairness evaluate`).
        #[arg(long, value_name = "N")]
        subjects: Option<u32>,
        /// The CSV file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Write the transparency report (counts only) as an HTML page.
    Transparency {
        #[command(flatten)]
        args: StoreArgs,
        /// The HTML file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum GovernanceCommand {
    /// Make a member key pair: the private key into FILE (0600), the public key printed.
    Keygen {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Check a proposal's approvals offline: every Ed25519 signature and passkey assertion
    /// against the group's registered keys. Exits 1 unless the valid approvals of distinct
    /// members reach the quorum.
    Verify {
        /// The proposal: the JSON answer of GET /v1/proposals/{id}.
        #[arg(long, value_name = "FILE")]
        proposal: PathBuf,
        /// The risk group: the JSON answer of GET /v1/governance/group (as it was when the
        /// proposal applied).
        #[arg(long, value_name = "FILE")]
        group: PathBuf,
        /// The origin passkey approvals must have been made for (default: the one the
        /// proposal names).
        #[arg(long, value_name = "URL")]
        origin: Option<String>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Run the key-provider conformance checks against the configured provider (local key
    /// file or PKCS#11 token) and time wrap and unwrap.
    Check {
        #[command(flatten)]
        args: StoreArgs,
        /// Wraps and unwraps to time.
        #[arg(long, default_value_t = 2000)]
        timed: usize,
        /// Also check rotation and destruction: creates a version and DESTROYS the one that
        /// was current. Only for a test key file, token or transit key.
        #[arg(long)]
        destroy_test_versions: bool,
    },
    /// Create a new key-encryption key version and rewrap every wrapped key under it, online
    /// (the service keeps answering). Needs the admin token.
    Rotate {
        #[command(flatten)]
        args: StoreArgs,
        /// Do not create a version: finish rewrapping under the current one (after an
        /// interruption).
        #[arg(long)]
        resume: bool,
    },
    /// The key manager's versions and how many wrapped keys each holds.
    Status {
        #[command(flatten)]
        args: StoreArgs,
    },
    /// Destroy a key-encryption key version nothing is wrapped under any more. Irreversible:
    /// database backups from before the rotation can then never be decrypted.
    DestroyVersion {
        #[command(flatten)]
        args: StoreArgs,
        /// The version number.
        version: u32,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// The admin token.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Subcommand)]
enum WebhooksCommand {
    /// Send webhook messages again, with their ids (receivers drop ids they have seen), by
    /// the running service's delivery loop: one message (--message), or every message to an
    /// endpoint since a time (--endpoint and --since). Delivered and given-up messages alike.
    Replay {
        #[command(flatten)]
        args: StoreArgs,
        /// One message's id (`msg_...`, from the delivery log).
        #[arg(long, value_name = "ID", conflicts_with_all = ["endpoint", "since"])]
        message: Option<String>,
        /// An endpoint's id (`wh_...`).
        #[arg(long, value_name = "ID", requires = "since")]
        endpoint: Option<String>,
        /// The oldest message to send again, as an RFC 3339 time (2026-12-03T10:00:00Z).
        #[arg(long, value_name = "TIME", requires = "endpoint")]
        since: Option<String>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Replace the admin token with a new one, written to <data-dir>/admin.token; the old one
    /// stops working at once, on every node. Needs the database and the key provider, not the
    /// old token, so it also recovers a lost one.
    Rotate(StoreArgs),
}

#[derive(Subcommand)]
enum RetentionCommand {
    /// Delete every template past its purpose's retention limit now (with its data key),
    /// recording each deletion in the audit ledger. Safe to run while `serve` runs.
    Sweep(StoreArgs),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Write Merkle roots, proofs and signed checkpoints for tree sizes 1..=N as JSON lines,
    /// for the cross-check against an independent implementation (ledger-crosscheck/run).
    Vectors {
        #[arg(long, default_value_t = 1100)]
        sizes: u64,
    },
    /// Fetch a running service's log into a folder: leaves.jsonl, key, origin, and the
    /// current signed checkpoint added to checkpoints/ (earlier ones are kept).
    Export {
        /// The service, e.g. http://127.0.0.1:8600.
        #[arg(long, value_name = "URL")]
        server: String,
        /// The folder to write (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Verify a log offline: every leaf, every saved checkpoint's signature and root, forks;
    /// names the first leaf that does not fit. Exits 1 on any problem.
    Verify {
        /// Fetch the log from this running service first (as `audit export` does, into --log
        /// when given, so that its checkpoints accumulate there; else a temporary folder),
        /// then verify it. Give --key to pin the log key you obtained out of band.
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// A folder written by `audit export` (leaves.jsonl, checkpoints/, key, origin).
        #[arg(long, value_name = "DIR")]
        log: Option<PathBuf>,
        /// Instead of a whole log, check a claim's evidence pack (the JSON of
        /// GET /v1/claims/{id}): its checkpoint's signature under --key and the decision
        /// leaf's inclusion proof against it.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["server", "log", "leaves", "checkpoints"])]
        evidence: Option<PathBuf>,
        /// The leaves, one canonical leaf per line [default: <log>/leaves.jsonl].
        #[arg(long, value_name = "FILE")]
        leaves: Option<PathBuf>,
        /// A folder of saved checkpoints, one signed note per file [default: <log>/checkpoints].
        #[arg(long, value_name = "DIR")]
        checkpoints: Option<PathBuf>,
        /// The log's published verifier key [default: the content of <log>/key]. Compare it
        /// with the key you obtained from the operator out of band.
        #[arg(long, value_name = "VKEY")]
        key: Option<String>,
        /// The log's origin line [default: the content of <log>/origin].
        #[arg(long)]
        origin: Option<String>,
    },
}

/// What `bench make-codes` writes.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Distribution {
    /// Protected codes of embeddings with the real voices' distribution.
    Voice,
    /// Uniformly random bits.
    Uniform,
}

// Parsed once per process: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum BenchCommand {
    /// Write a gallery of random codes and probes with planted near neighbours.
    MakeCodes {
        #[arg(long)]
        n: usize,
        #[arg(long, default_value_t = 2048)]
        bits: u64,
        #[arg(long, default_value_t = 64)]
        queries: usize,
        #[arg(long, value_name = "FILE")]
        codes: PathBuf,
        #[arg(long, value_name = "FILE")]
        probes: PathBuf,
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// What the codes look like: `voice` (production-like: protected codes of embeddings
        /// with the real voices' distribution, real probes) or `uniform` (random bits, which
        /// flatter filters; a labelled extra).
        #[arg(long, value_enum, default_value = "voice")]
        distribution: Distribution,
        /// The real embeddings the `voice` distribution follows.
        #[arg(
            long,
            value_name = "FILE",
            default_value = "../shared/data/voice-embeddings-dev.jsonl"
        )]
        voices: PathBuf,
        /// For `voice`: protect as a centred purpose does (`centred`) or without a centre.
        #[arg(long, value_enum, default_value = "centred")]
        matcher: calibrate::MatcherChoice,
        /// For `voice`: also write the raw float embeddings (and `FILE.probes`), for the
        /// unprotected baseline.
        #[arg(long, value_name = "FILE")]
        floats: Option<PathBuf>,
    },
    /// Time single-probe searches or batches over codes written by `make-codes`.
    Identify(bench::IdentifyArgs),
    /// Time inclusion and consistency proof generation over an in-memory tree of N leaves.
    Ledger {
        #[arg(long, default_value_t = 10_000_000)]
        leaves: u64,
        #[arg(long, default_value_t = 10_000)]
        proofs: usize,
    },
    /// Durable changes per second with group commit, against one transaction per change.
    LedgerAppend(audit::AppendArgs),
    /// The transparency report and a claim's decision lookup at several ledger sizes, side
    /// by side with the scans they replaced.
    LedgerReads(readbench::ReadArgs),
    /// What sharing the rate limit and lockouts through PostgreSQL costs each verification,
    /// side by side with the in-memory limits.
    Limits(limitbench::LimitArgs),
    /// The load benchmark's baseline: every template kept in OpenBao transit and decrypted
    /// per verification (token in BIOGUARD_OPENBAO_TOKEN); serves POST /v1/verify.
    NaiveOpenbao {
        #[arg(long, default_value = "http://127.0.0.1:8200")]
        openbao_addr: String,
        #[arg(long, default_value = "127.0.0.1:8700")]
        listen: String,
        #[arg(long, default_value_t = 1000)]
        subjects: u64,
        #[arg(long, default_value_t = 128)]
        dimension: usize,
    },
    /// Time `fairness evaluate` end to end on N synthetic scores (read, evaluate with a
    /// subject-level bootstrap, write both reports).
    Fairness {
        #[arg(long, default_value_t = 10_000_000)]
        scores: u64,
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Time one key-encryption-key rotation over N enrolled synthetic subjects on a fresh
    /// SQLite database, with the key provider configured as for serve (creates a version in
    /// it).
    KeyRotation {
        #[command(flatten)]
        args: ServeArgs,
        #[arg(long, default_value_t = 10_000)]
        subjects: usize,
    },
    /// Time the sign projection (one probe into a protected code) against the row-by-row
    /// dot product it replaced, side by side on the same synthetic embeddings.
    Projection {
        #[arg(long, default_value_t = 128)]
        dimension: usize,
        #[arg(long, default_value_t = 2048)]
        bits: u64,
        #[arg(long, default_value_t = 20_000)]
        probes: usize,
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Measure sequential memory read bandwidth.
    Bandwidth {
        #[arg(long, default_value_t = 1)]
        threads: usize,
        #[arg(long, default_value_t = 1024)]
        mib: usize,
        #[arg(long, default_value_t = 5)]
        repeats: usize,
    },
}

fn init_logging(filter: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    if json {
        // One object per line: timestamp, level, fields (with `message`) and the request's
        // span (its id, method and route), flattened for log collectors.
        fmt.json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        fmt.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
}

/// Reads the configuration file, environment and flags, validates them and starts logging.
fn load_config(args: ServeArgs) -> anyhow::Result<config::Config> {
    load(args, true)
}

/// The configuration of a maintenance command: the installation's, not a server's.
fn load_store_config(args: StoreArgs) -> anyhow::Result<config::Config> {
    load(args.into(), false)
}

fn load(args: ServeArgs, serving: bool) -> anyhow::Result<config::Config> {
    let ServeArgs {
        config,
        data_dir,
        listen,
        database_url,
        key_file,
        max_body_bytes,
        log,
        log_format,
        checkpoint_interval_secs,
        retention_sweep_secs,
        gallery_sync_ms,
        tls_cert,
        tls_key,
        tls_client_ca,
        client_rate_per_sec,
        data_key_cache_secs,
        abuse_distinct_subjects_per_min,
        abuse_hill_climb_probes,
        keys:
            KeyProviderArgs {
                key_provider,
                pkcs11_module,
                pkcs11_token_label,
                pkcs11_pin_file,
                openbao_addr,
                openbao_mount,
                openbao_key,
                openbao_token_file,
            },
    } = args;
    let mut raw = RawConfig::default();
    if let Some(path) = &config {
        raw.merge_file(path)?;
    }
    let warnings = raw.merge_env(std::env::vars());
    raw.merge_flag("data_dir", "--data-dir", data_dir);
    raw.merge_flag("listen", "--listen", listen);
    raw.merge_flag("database_url", "--database-url", database_url);
    raw.merge_flag("key_file", "--key-file", key_file);
    raw.merge_flag("max_body_bytes", "--max-body-bytes", max_body_bytes);
    raw.merge_flag("log", "--log", log);
    raw.merge_flag("log_format", "--log-format", log_format);
    raw.merge_flag(
        "checkpoint_interval_secs",
        "--checkpoint-interval-secs",
        checkpoint_interval_secs,
    );
    raw.merge_flag(
        "retention_sweep_secs",
        "--retention-sweep-secs",
        retention_sweep_secs,
    );
    raw.merge_flag("gallery_sync_ms", "--gallery-sync-ms", gallery_sync_ms);
    raw.merge_flag("key_provider", "--key-provider", key_provider);
    raw.merge_flag("pkcs11_module", "--pkcs11-module", pkcs11_module);
    raw.merge_flag(
        "pkcs11_token_label",
        "--pkcs11-token-label",
        pkcs11_token_label,
    );
    raw.merge_flag("pkcs11_pin_file", "--pkcs11-pin-file", pkcs11_pin_file);
    raw.merge_flag(
        "client_rate_per_sec",
        "--client-rate-per-sec",
        client_rate_per_sec,
    );
    raw.merge_flag(
        "data_key_cache_secs",
        "--data-key-cache-secs",
        data_key_cache_secs,
    );
    raw.merge_flag(
        "abuse_distinct_subjects_per_min",
        "--abuse-distinct-subjects-per-min",
        abuse_distinct_subjects_per_min,
    );
    raw.merge_flag(
        "abuse_hill_climb_probes",
        "--abuse-hill-climb-probes",
        abuse_hill_climb_probes,
    );
    raw.merge_flag("tls_cert", "--tls-cert", tls_cert);
    raw.merge_flag("tls_key", "--tls-key", tls_key);
    raw.merge_flag("tls_client_ca", "--tls-client-ca", tls_client_ca);
    raw.merge_flag("openbao_addr", "--openbao-addr", openbao_addr);
    raw.merge_flag("openbao_mount", "--openbao-mount", openbao_mount);
    raw.merge_flag("openbao_key", "--openbao-key", openbao_key);
    raw.merge_flag(
        "openbao_token_file",
        "--openbao-token-file",
        openbao_token_file,
    );
    let cfg = raw.validate()?;
    init_logging(&cfg.log, cfg.log_json);
    for w in warnings {
        tracing::warn!("{w}");
    }
    tracing::info!("configuration: {}", config::describe(&raw, &cfg, serving));
    Ok(cfg)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// mimalloc rather than the C library's allocator: a request allocates and frees many small
/// buffers across threads, and under the load benchmark glibc's malloc and free took about a
/// tenth of the service's CPU (docs/performance.md). Memory that held secrets is zeroed
/// before it is freed whichever allocator runs.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => {
            load_config(args).and_then(|cfg| runtime()?.block_on(serve::run(cfg)))
        }
        Command::Approve {
            key,
            member,
            proposal,
        } => governance::approve(&key, &proposal, &member),
        Command::Governance(GovernanceCommand::Keygen { out }) => governance::keygen(&out),
        Command::Governance(GovernanceCommand::Verify {
            proposal,
            group,
            origin,
        }) => governance::verify(&proposal, &group, origin.as_deref()),
        Command::Fairness(FairnessCommand::Evaluate(args)) => fairness::evaluate(*args),
        Command::Synth(SynthCommand::Scores {
            groups,
            seed,
            subjects,
            out,
        }) => synth::scores(&groups, seed, subjects, &out),
        Command::Report(ReportCommand::Transparency { args, out }) => load_store_config(args)
            .and_then(|cfg| runtime()?.block_on(serve::transparency_report(cfg, out))),
        Command::Receipt(ReceiptCommand::Verify {
            file,
            jwks,
            server,
            kind,
        }) => receipt::verify(&file, jwks.as_deref(), server.as_deref(), kind.as_deref()),
        Command::Keys(KeysCommand::Rotate { args, resume }) => load_store_config(args)
            .and_then(|cfg| runtime()?.block_on(serve::keys_rotate(cfg, resume))),
        Command::Keys(KeysCommand::Status { args }) => {
            load_store_config(args).and_then(|cfg| runtime()?.block_on(serve::keys_status(cfg)))
        }
        Command::Keys(KeysCommand::DestroyVersion { args, version }) => load_store_config(args)
            .and_then(|cfg| runtime()?.block_on(serve::keys_destroy(cfg, version))),
        Command::Keys(KeysCommand::Check {
            args,
            timed,
            destroy_test_versions,
        }) => load_store_config(args).and_then(|cfg| {
            runtime()?.block_on(serve::keys_check(cfg, timed, destroy_test_versions))
        }),
        Command::Backup {
            args,
            out,
            include_master_key,
        } => load_store_config(args)
            .and_then(|cfg| runtime()?.block_on(backup::backup(cfg, out, include_master_key))),
        Command::Restore { from, args } => {
            load_store_config(args).and_then(|cfg| runtime()?.block_on(backup::restore(cfg, from)))
        }
        Command::Admin(AdminCommand::Token(TokenCommand::Rotate(args))) => {
            load_store_config(args).and_then(|cfg| runtime()?.block_on(admin::rotate_token(cfg)))
        }
        Command::Webhooks(WebhooksCommand::Replay {
            args,
            message,
            endpoint,
            since,
        }) => load_store_config(args).and_then(|cfg| {
            let target = admin::replay_target(message, endpoint, since)?;
            runtime()?.block_on(admin::replay_webhooks(cfg, target))
        }),
        Command::Retention(RetentionCommand::Sweep(args)) => {
            load_store_config(args).and_then(|cfg| runtime()?.block_on(serve::sweep(cfg)))
        }
        Command::Demo => demo::run(),
        Command::Calibrate(args) => calibrate::calibrate(args),
        Command::Audit(AuditCommand::Vectors { sizes }) => audit::vectors(sizes),
        Command::Audit(AuditCommand::Export { server, out }) => audit::export(&server, &out),
        Command::Audit(AuditCommand::Verify {
            evidence: Some(evidence),
            key,
            ..
        }) => audit::verify_evidence(&evidence, key.as_deref()),
        Command::Audit(AuditCommand::Verify {
            evidence: None,
            server,
            log,
            leaves,
            checkpoints,
            key,
            origin,
        }) => audit::verify_args(server, log, leaves, checkpoints, key, origin),
        Command::Bench(b) => match b {
            BenchCommand::Fairness { scores, runs } => fairness::bench(scores, runs),
            BenchCommand::NaiveOpenbao {
                openbao_addr,
                listen,
                subjects,
                dimension,
            } => runtime().and_then(|rt| {
                rt.block_on(naive::serve(openbao_addr, listen, subjects, dimension))
            }),
            BenchCommand::MakeCodes {
                n,
                bits,
                queries,
                codes,
                probes,
                seed,
                distribution,
                voices,
                matcher,
                floats,
            } => match distribution {
                Distribution::Uniform => bench::make_codes(n, bits, queries, &codes, &probes, seed),
                Distribution::Voice => realcodes::make_voice_codes(realcodes::VoiceCodes {
                    voices: &voices,
                    n,
                    bits,
                    queries,
                    centred: matcher == calibrate::MatcherChoice::Centred,
                    codes: &codes,
                    probes: &probes,
                    floats: floats.as_ref(),
                    seed,
                })
                .map(|summary| println!("{summary}")),
            },
            BenchCommand::Identify(args) => bench::identify(args),
            BenchCommand::Ledger { leaves, proofs } => audit::bench_proofs(leaves, proofs),
            BenchCommand::LedgerAppend(args) => audit::bench_appends(args),
            BenchCommand::LedgerReads(args) => readbench::run(args),
            BenchCommand::Limits(args) => limitbench::run(args),
            BenchCommand::KeyRotation { args, subjects } => {
                load_config(args).and_then(|cfg| runtime()?.block_on(keybench::run(cfg, subjects)))
            }
            BenchCommand::Bandwidth {
                threads,
                mib,
                repeats,
            } => bench::bandwidth(threads, mib, repeats),
            BenchCommand::Projection {
                dimension,
                bits,
                probes,
                runs,
            } => bench::projection(dimension, bits, probes, runs),
        },
        Command::Study {
            embeddings,
            sample_prefix,
            keys: None,
        } => evaluate::study(&embeddings, sample_prefix.as_deref()),
        Command::Study {
            embeddings,
            sample_prefix,
            keys: Some(keys),
        } => spread::run(&embeddings, sample_prefix.as_deref(), keys),
        Command::Openapi => {
            println!("{}", bioguard_server::openapi_json());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bioguard: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
