//! `bioguard serve`: open keys and storage, bootstrap the admin token, serve HTTP until
//! SIGINT or SIGTERM, then finish requests in flight and close the database.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use bioguard_crypto::{KeyProvider as _, LocalKeyFile};
use bioguard_server::AppState;
use bioguard_service::Service;
use bioguard_store::SqlStore;
use zeroize::Zeroizing;

use crate::config::{Config, KeyProviderConfig};

/// Opens keys, storage and the service as configured.
pub async fn open_service(cfg: &Config) -> anyhow::Result<(Service, SqlStore)> {
    // Timed where the provider is really called: under the cache, whose hits cost nothing.
    let mut keys: Arc<dyn bioguard_crypto::KeyProvider> =
        Arc::new(bioguard_server::MeteredKeys::new(open_keys(cfg).await?));
    if cfg.data_key_cache_secs > 0 {
        tracing::info!(
            seconds = cfg.data_key_cache_secs,
            "unwrapped data keys are cached"
        );
        keys = Arc::new(bioguard_crypto::CachedKeys::new(
            keys,
            std::time::Duration::from_secs(cfg.data_key_cache_secs),
            100_000,
        ));
    }
    let store = match &cfg.database_url {
        Some(url) => SqlStore::connect(url).await.context(
            "cannot open the PostgreSQL database (is it running, and does the URL name an \
             existing database?)",
        )?,
        None => {
            let path = cfg.data_dir.join("bioguard.db");
            SqlStore::open_sqlite(&path)
                .await
                .with_context(|| format!("cannot open SQLite database {}", path.display()))?
        }
    };
    let service = Service::open(Arc::new(store.clone()), keys).await?;
    Ok((service, store))
}

/// Refuses to go on unless `cfg` names an existing installation: its data directory, its
/// embedded database (unless a PostgreSQL URL is set) and its local master key (when the key
/// provider is the local file). Maintenance commands call this first, so that a mistyped
/// `--data-dir` is an error instead of a new, empty installation with a new master key.
pub fn require_installation(cfg: &Config) -> anyhow::Result<()> {
    let mut needed = vec![cfg.data_dir.clone()];
    if cfg.database_url.is_none() {
        needed.push(cfg.data_dir.join("bioguard.db"));
    }
    if matches!(cfg.keys, KeyProviderConfig::Local) {
        needed.push(cfg.key_file.clone());
    }
    for path in needed {
        if !path.exists() {
            bail!(
                "no bioguard installation at {}: {} does not exist. Check --data-dir \
                 (BIOGUARD_DATA_DIR, or data_dir in the configuration file){}; `bioguard serve` \
                 creates a new installation",
                cfg.data_dir.display(),
                path.display(),
                if matches!(cfg.keys, KeyProviderConfig::Local) {
                    " and --key-file"
                } else {
                    ""
                }
            );
        }
    }
    Ok(())
}

/// [`open_service`] for a maintenance command: only on an existing installation.
pub(crate) async fn open_existing(cfg: &Config) -> anyhow::Result<(Service, SqlStore)> {
    require_installation(cfg)?;
    open_service(cfg).await
}

/// Opens the configured key provider (creating its first key if it holds none).
pub async fn open_keys(cfg: &Config) -> anyhow::Result<Arc<dyn bioguard_crypto::KeyProvider>> {
    if !cfg.data_dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&cfg.data_dir)
            .with_context(|| format!("cannot create data directory {}", cfg.data_dir.display()))?;
        tracing::info!(path = %cfg.data_dir.display(), "created data directory");
    }
    match &cfg.keys {
        KeyProviderConfig::Local => {
            let (keys, created) = LocalKeyFile::open_or_create(&cfg.key_file)?;
            if created {
                tracing::info!(
                    path = %keys.path().display(),
                    "created master key file (mode 0600); back it up apart from the database"
                );
            }
            tracing::info!(kek = %keys.current(), "key provider: local key file");
            Ok(Arc::new(keys))
        }
        KeyProviderConfig::Pkcs11 {
            module,
            token_label,
            pin_file,
        } => {
            let pin = secret_from(
                pin_file.as_deref(),
                "BIOGUARD_PKCS11_PIN",
                "pkcs11_pin_file",
            )?;
            let (keys, created) =
                bioguard_crypto::Pkcs11Provider::open_or_create(&bioguard_crypto::Pkcs11Config {
                    module: module.clone(),
                    token_label: token_label.clone(),
                    pin,
                })?;
            if created {
                tracing::info!(token = %token_label, kek = %keys.current(),
                    "created the first key-encryption key inside the PKCS#11 token");
            }
            tracing::info!(token = %token_label, kek = %keys.current(), "key provider: PKCS#11");
            Ok(Arc::new(keys))
        }
        KeyProviderConfig::OpenBao {
            addr,
            mount,
            key,
            token_file,
        } => {
            let token = secret_from(
                token_file.as_deref(),
                "BIOGUARD_OPENBAO_TOKEN",
                "openbao_token_file",
            )?;
            let (keys, created) =
                bioguard_crypto::OpenBaoTransit::open_or_create(&bioguard_crypto::OpenBaoConfig {
                    addr: addr.clone(),
                    token,
                    mount: mount.clone(),
                    key: key.clone(),
                })
                .await?;
            if created {
                tracing::info!(addr = %addr, key = %key, "created the transit key in OpenBao");
            }
            tracing::info!(addr = %addr, kek = %keys.current(), "key provider: OpenBao transit");
            Ok(Arc::new(keys))
        }
    }
}

/// A secret from a 0600 file, or else from an environment variable.
fn secret_from(file: Option<&Path>, var: &str, key: &str) -> anyhow::Result<Zeroizing<String>> {
    match file {
        Some(path) => {
            let mode = fs::metadata(path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .permissions()
                .mode()
                & 0o777;
            if mode & 0o077 != 0 {
                bail!(
                    "{} is readable by other users (mode {mode:04o}); run `chmod 600` on it",
                    path.display()
                );
            }
            Ok(Zeroizing::new(fs::read_to_string(path)?.trim().to_owned()))
        }
        None => Ok(Zeroizing::new(std::env::var(var).map_err(|_| {
            anyhow::anyhow!("give the secret in {var} or in a file named by {key}")
        })?)),
    }
}

/// The admin proof for operator commands: the token from `BIOGUARD_ADMIN_TOKEN` or from
/// `<data_dir>/admin.token`.
async fn operator(service: &Service, cfg: &Config) -> anyhow::Result<bioguard_service::Admin> {
    let token = match std::env::var("BIOGUARD_ADMIN_TOKEN") {
        Ok(t) => Zeroizing::new(t),
        Err(_) => {
            let path = cfg.data_dir.join("admin.token");
            Zeroizing::new(
                fs::read_to_string(&path)
                    .with_context(|| {
                        format!(
                            "this command needs the admin token: set BIOGUARD_ADMIN_TOKEN or \
                             keep it in {}",
                            path.display()
                        )
                    })?
                    .trim()
                    .to_owned(),
            )
        }
    };
    service
        .authenticate_admin(&token)
        .await
        .map_err(|_| anyhow::anyhow!("the admin token was refused"))
}

/// `keys rotate`: a new key-encryption key version (unless resuming), then every wrapped key
/// rewrapped under it, with progress on standard error.
pub async fn keys_rotate(cfg: Config, resume: bool) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let (service, store) = open_existing(&cfg).await?;
    let admin = operator(&service, &cfg).await?;
    let tty = std::io::stderr().is_terminal();
    let report = service
        .rotate_keys(&admin, !resume, &mut |done, left| {
            if tty {
                eprint!("\rrewrapped {done} keys, {left} to go   ");
            } else {
                eprintln!("rewrapped {done} keys, {left} to go");
            }
        })
        .await;
    if tty {
        eprintln!();
    }
    store.close().await;
    let report = report?;
    println!(
        "{}",
        serde_json::json!({"current": report.current, "rewrapped": report.rewrapped,
            "raced": report.raced, "left": report.left})
    );
    if report.left > 0 {
        bail!(
            "{} keys could not be rewrapped (see the log); they stay under their old version",
            report.left
        );
    }
    Ok(())
}

/// `report transparency`: the transparency report as an HTML file.
pub async fn transparency_report(cfg: Config, out: std::path::PathBuf) -> anyhow::Result<()> {
    let (service, store) = open_existing(&cfg).await?;
    let report = service.transparency().await;
    store.close().await;
    let report = report?;
    fs::write(&out, bioguard_server::transparency_html(&report))
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!("wrote the transparency report to {}", out.display());
    Ok(())
}

/// `keys status`: the key manager's versions and how many keys each wraps.
pub async fn keys_status(cfg: Config) -> anyhow::Result<()> {
    let (service, store) = open_existing(&cfg).await?;
    let status = service.key_status().await?;
    store.close().await;
    println!(
        "{}",
        serde_json::json!({"versions": status.versions,
            "wrapped_keys": status.usage.iter()
                .map(|u| serde_json::json!({"kek": u.kek, "keys": u.keys}))
                .collect::<Vec<_>>()})
    );
    Ok(())
}

/// `keys destroy-version`.
pub async fn keys_destroy(cfg: Config, version: u32) -> anyhow::Result<()> {
    let (service, store) = open_existing(&cfg).await?;
    let admin = operator(&service, &cfg).await?;
    let r = service.destroy_key_version(&admin, version).await;
    store.close().await;
    r?;
    println!("key-encryption key version {version} destroyed");
    Ok(())
}

/// `keys check`: the key-provider conformance suite against the configured provider, and
/// its wrap and unwrap rates.
pub async fn keys_check(cfg: Config, timed: usize, rotation: bool) -> anyhow::Result<()> {
    // A hardware or OpenBao key can be checked before any installation exists; a local key
    // file only where it already is (never created by a check).
    if matches!(cfg.keys, KeyProviderConfig::Local) && !cfg.key_file.exists() {
        require_installation(&cfg)?;
    }
    let keys = open_keys(&cfg).await?;
    let report = bioguard_crypto::conformance::check(keys.as_ref(), timed)
        .await
        .map_err(|e| anyhow::anyhow!("the key provider failed a check: {e}"))?;
    let mut passed = report.passed.clone();
    if rotation {
        passed.extend(
            bioguard_crypto::conformance::check_rotation(keys.as_ref())
                .await
                .map_err(|e| anyhow::anyhow!("the key provider failed a rotation check: {e}"))?,
        );
    }
    for p in &passed {
        println!("ok: {p}");
    }
    println!(
        "{}",
        serde_json::json!({"provider": keys.kind(), "checks_passed": passed.len(),
            "timed": timed, "wraps_per_second": report.wraps_per_second,
            "unwraps_per_second": report.unwraps_per_second})
    );
    Ok(())
}

/// Writes `contents` to `path` with mode 0600, durably, without overwriting an existing file.
pub(crate) fn write_secret_file(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Makes sure an admin token exists. On first start a token is written to
/// `<data-dir>/admin.token` (0600) before its digest is stored, so a crash in between is
/// repaired at the next start by registering the file's token. The token itself is never
/// logged: only the file's path.
pub async fn bootstrap_admin_token(service: &Service, data_dir: &Path) -> anyhow::Result<()> {
    let path = data_dir.join("admin.token");
    let read = |path: &Path| -> anyhow::Result<Zeroizing<String>> {
        let mode = fs::metadata(path)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            bail!(
                "{} is readable by other users (mode {mode:04o}); run `chmod 600` on it",
                path.display()
            );
        }
        Ok(Zeroizing::new(fs::read_to_string(path)?.trim().to_owned()))
    };
    if service.has_admin_token().await? {
        if path.exists() {
            let token = read(&path)?;
            if !service.is_admin_token(&token).await? {
                tracing::warn!(
                    path = %path.display(),
                    "this file does not hold the registered admin token; it was replaced or \
                     belongs to another database"
                );
            }
        } else {
            tracing::info!(
                "an admin token is registered (by an earlier start or another node); it is \
                 not in this data directory"
            );
        }
        return Ok(());
    }
    let mut created = false;
    let token = if path.exists() {
        read(&path)?
    } else {
        let token = Zeroizing::new(bioguard_crypto::random_token("bga_")?);
        write_secret_file(&path, &format!("{}\n", token.as_str()))
            .with_context(|| format!("cannot write {}", path.display()))?;
        created = true;
        token
    };
    if service.register_admin_token(&token).await? {
        tracing::info!(path = %path.display(), "admin token written; read it from this file");
    } else if created {
        // Another node registered its token first; ours is not valid, so do not leave it.
        let _ = fs::remove_file(&path);
    }
    Ok(())
}

/// Waits for SIGINT or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled, so a signal that arrives right after "listening" is logged is
/// handled gracefully rather than killing the process.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
    let mut term = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {},
            _ = term.recv() => {},
        }
        tracing::info!("shutting down: finishing requests in flight");
    })
}

/// `retention sweep`: one sweep over the configured database, with a progress bar on
/// standard error and the report as JSON on standard output.
pub async fn sweep(cfg: Config) -> anyhow::Result<()> {
    let (service, store) = open_existing(&cfg).await?;
    let mut progress = crate::progress::Progress::new();
    let report = service
        .retention_sweep(&mut |done, total| {
            progress.update("expired templates handled", done, total)
        })
        .await;
    progress.finish();
    store.close().await;
    let report = report?;
    println!(
        "{}",
        serde_json::json!({
            "at": report.at, "expired": report.expired, "deleted": report.deleted,
            "by_reason": report.by_reason, "skipped": report.skipped,
        })
    );
    Ok(())
}

/// Runs the service until a shutdown signal.
/// Connections the kernel may queue before the service accepts them (tokio's default is
/// 1,024; a burst of new connections beyond the queue has its handshakes dropped and retried a
/// second later). The kernel caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 8192;

fn listen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

pub async fn run(cfg: Config) -> anyhow::Result<()> {
    // The address first: a busy port must not leave a new data directory, master key, admin
    // token or database behind. Connections wait in the backlog until the service is open.
    let listener = listen(cfg.listen).with_context(|| {
        format!(
            "cannot listen on {} (is another process using it? choose another with --listen)",
            cfg.listen
        )
    })?;
    let (service, store) = open_service(&cfg).await?;
    // Passkeys are bound to the public origin; by default localhost at the port listened on
    // (known only now when the configured port is 0).
    let origin = match &cfg.public_origin {
        Some(rp) => rp.clone(),
        None => bioguard_ledger::webauthn::RelyingParty::from_origin(&format!(
            "http://localhost:{}",
            listener.local_addr()?.port()
        ))
        .map_err(|e| anyhow::anyhow!("the default public_origin: {e}"))?,
    };
    let service = service
        .with_client_rate_limit(cfg.client_rate_per_sec)
        .with_enumeration_limit(cfg.abuse_distinct_subjects_per_min)
        .with_hill_climbing_detection(cfg.abuse_hill_climb_probes)
        .with_operator(cfg.operator.clone())
        .with_relying_party(Some(origin));
    if cfg.operator.is_none() {
        tracing::warn!(
            "no operator_name and operator_contact are configured: public pages say that the \
             operator has not published them, and every purpose needs a notice naming its \
             controller and jurisdiction"
        );
    }
    bootstrap_admin_token(&service, &cfg.data_dir).await?;
    let addr = listener.local_addr()?;
    let shutdown = shutdown_signal()?;
    // Sign and keep a checkpoint whenever the log grew, at least every interval.
    let checkpointer = {
        let service = service.clone();
        let every = std::time::Duration::from_secs(cfg.checkpoint_interval_secs);
        tokio::spawn(async move {
            let mut last = 0u64;
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Err(e) = service.audit_checkpoint_if_grown(&mut last).await {
                    tracing::warn!(error = %e, "could not issue a checkpoint; retrying next interval");
                }
            }
        })
    };
    // Enforce the retention schedule: sweep now, then every interval.
    let sweeper = (cfg.retention_sweep_secs > 0).then(|| {
        let service = service.clone();
        let every = std::time::Duration::from_secs(cfg.retention_sweep_secs);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                match service.retention_sweep(&mut |_, _| {}).await {
                    Ok(r) if r.deleted > 0 => {
                        tracing::info!(deleted = r.deleted, "expired templates deleted");
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "retention sweep failed; retrying next interval");
                    }
                }
            }
        })
    });
    // Follow changes other nodes commit into this node's galleries: at once when PostgreSQL
    // announces a commit, and at least every `gallery_sync_ms` in any case.
    let follower = {
        let service = service.clone();
        let url = cfg.database_url.clone();
        let every = std::time::Duration::from_millis(cfg.gallery_sync_ms.max(50));
        tokio::spawn(async move {
            let mut listener = match url.as_deref() {
                Some(u) => match bioguard_store::LedgerListener::connect(u).await {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for commits; polling only");
                        None
                    }
                },
                None => None,
            };
            let mut tick = tokio::time::interval(every);
            loop {
                match listener.as_mut() {
                    Some(l) => tokio::select! {
                        r = l.recv() => if let Err(e) = r {
                            tracing::warn!(error = %e, "commit notifications interrupted");
                            tokio::time::sleep(every).await;
                        },
                        _ = tick.tick() => {}
                    },
                    None => {
                        tick.tick().await;
                    }
                }
                if let Err(e) = service.sync_galleries().await {
                    tracing::warn!(error = %e, "could not follow the ledger into the galleries");
                }
            }
        })
    };
    // Tell relying parties: deliver the webhook outbox.
    let deliverer = tokio::spawn(bioguard_server::webhooks::run(
        service.clone(),
        cfg.webhooks.clone(),
    ));
    // Pick up key versions another process (a `keys rotate`) created.
    let key_refresher = {
        let service = service.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(15));
            loop {
                tick.tick().await;
                if let Err(e) = service.refresh_keys().await {
                    tracing::warn!(error = %e, "could not re-read the key manager's versions");
                }
            }
        })
    };
    let mut http = cfg.http.clone();
    // Each connection holds a file descriptor; keep room for the database, the key manager
    // and the log.
    if let Some(files) = bioguard_server::listen::open_files_limit() {
        let room = files.saturating_sub(256).max(16) as usize;
        if http.max_connections > room {
            tracing::warn!(
                max_connections = http.max_connections,
                open_files_limit = files,
                "max_connections lowered to {room} to fit the open-files limit; raise the \
                 limit (ulimit -n, LimitNOFILE=) to serve more connections at once"
            );
            http.max_connections = room;
        }
    }
    let state = AppState {
        service,
        max_body_bytes: cfg.max_body_bytes,
        retention_sweep_secs: (cfg.retention_sweep_secs > 0).then_some(cfg.retention_sweep_secs),
        secure_cookies: cfg.secure_cookies,
        display_offset_minutes: cfg.display_offset_minutes,
        http: http.clone(),
        per_ip: std::sync::Arc::new(bioguard_service::RateLimits::at(http.public_per_ip)),
    };
    match &cfg.tls {
        None => {
            tracing::info!("listening on http://{addr}");
            bioguard_server::serve(listener, bioguard_server::app(state), &http, shutdown).await;
        }
        Some(tls) => {
            let config =
                bioguard_server::tls::server_config(&tls.cert, &tls.key, tls.client_ca.as_deref())?;
            let listener = bioguard_server::tls::TlsListener::new(listener, config)?;
            tracing::info!(
                mutual_tls = tls.client_ca.is_some(),
                "listening on https://{addr}"
            );
            bioguard_server::serve(listener, bioguard_server::app(state), &http, shutdown).await;
        }
    }
    checkpointer.abort();
    deliverer.abort();
    key_refresher.abort();
    follower.abort();
    if let Some(s) = sweeper {
        s.abort();
    }
    tokio::time::timeout(bioguard_server::SHUTDOWN_GRACE, store.close())
        .await
        .ok();
    tracing::info!("stopped");
    Ok(())
}
