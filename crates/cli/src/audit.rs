//! `bioguard audit`: tools around the audit ledger.

use std::io::Write;

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bioguard_ledger::{
    Checkpoint, HashSource, LogKey, MemoryTree, VerifierKey, consistency_proof, inclusion_proof,
    leaf_hash, root, verify_log,
};
use serde_json::json;

/// Writes roots, proofs and checkpoints of a test tree for sizes 1..=`sizes`, one JSON line per
/// size, signed with a fresh key whose verifier key is in every line.
pub fn vectors(sizes: u64) -> anyhow::Result<()> {
    let key = LogKey::from_seed(
        "bioguard.crosscheck/log",
        &bioguard_crypto::random_array::<32>()?,
    )?;
    let verifier = key.verifier().to_string();
    let mut tree = MemoryTree::new();
    for i in 0..sizes {
        tree.push(leaf_hash(
            format!("bioguard cross-check leaf {i}").as_bytes(),
        ));
    }
    let b64 = |h: &[u8; 32]| B64.encode(h);
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    for n in 1..=sizes {
        let r = root(&tree, n);
        let checkpoint = key.sign(&Checkpoint {
            origin: "bioguard.crosscheck/log".into(),
            size: n,
            root: r,
        });
        let mut indexes = vec![0, n / 2, n - 1];
        indexes.dedup();
        let inclusion: Vec<_> = indexes
            .iter()
            .map(|m| {
                let p = inclusion_proof(&tree, *m, n)?;
                Ok(json!({"index": m, "leaf": b64(&tree.leaf(*m)),
                          "hashes": p.iter().map(b64).collect::<Vec<_>>()}))
            })
            .collect::<Result<_, bioguard_ledger::ProofError>>()?;
        let mut froms = vec![1, n / 2, n - 1, n];
        froms.retain(|m| *m >= 1);
        froms.sort_unstable();
        froms.dedup();
        let consistency: Vec<_> = froms
            .iter()
            .map(|m| {
                let p = consistency_proof(&tree, *m, n)?;
                Ok(json!({"from": m, "from_root": b64(&root(&tree, *m)),
                          "hashes": p.iter().map(b64).collect::<Vec<_>>()}))
            })
            .collect::<Result<_, bioguard_ledger::ProofError>>()?;
        writeln!(
            out,
            "{}",
            json!({"verifier": verifier, "size": n, "root": b64(&r), "checkpoint": checkpoint,
                   "inclusion": inclusion, "consistency": consistency})
        )?;
    }
    out.flush()?;
    Ok(())
}

/// `bench ledger`: builds an in-memory tree of `leaves` leaf hashes and times `proofs`
/// inclusion and consistency proofs at random indexes, printing medians and 99th percentiles.
pub fn bench_proofs(leaves: u64, proofs: usize) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let mut tree = MemoryTree::new();
    for i in 0..leaves {
        tree.push(leaf_hash(&i.to_le_bytes()));
    }
    let build = started.elapsed().as_secs_f64();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = |bound: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % bound
    };
    let (mut inc, mut con) = (Vec::with_capacity(proofs), Vec::with_capacity(proofs));
    for _ in 0..proofs {
        let m = next(leaves);
        let t = std::time::Instant::now();
        let p = inclusion_proof(&tree, m, leaves)?;
        inc.push(t.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(p);
        let from = 1 + next(leaves - 1);
        let t = std::time::Instant::now();
        let p = consistency_proof(&tree, from, leaves)?;
        con.push(t.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(p);
    }
    let stats = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[v.len() * 99 / 100])
    };
    let (im, i99) = stats(&mut inc);
    let (cm, c99) = stats(&mut con);
    println!(
        "{}",
        json!({"leaves": leaves, "build_seconds": build, "proofs": proofs,
               "inclusion_us_median": im, "inclusion_us_p99": i99,
               "consistency_us_median": cm, "consistency_us_p99": c99,
               "note": "in-memory tree of leaf hashes with cached complete subtrees"})
    );
    Ok(())
}

/// `audit verify`: checks an exported log offline.
pub fn verify(
    leaves: &std::path::Path,
    checkpoints: &std::path::Path,
    key: &str,
    origin: &str,
) -> anyhow::Result<()> {
    let key = VerifierKey::parse(key).context("--key is not a verifier key (name+keyid+key)")?;
    let text = std::fs::read_to_string(leaves)
        .with_context(|| format!("cannot read {}", leaves.display()))?;
    let leaves: Vec<Vec<u8>> = text.lines().map(|l| l.as_bytes().to_vec()).collect();
    let mut notes = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(checkpoints)
        .with_context(|| format!("cannot read {}", checkpoints.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for e in entries {
        notes.push(
            std::fs::read_to_string(e.path())
                .with_context(|| format!("cannot read {}", e.path().display()))?,
        );
    }
    let r = verify_log(&leaves, &notes, origin, &key);
    println!(
        "{} leaves, {} of {} checkpoints confirmed",
        r.leaves,
        r.checkpoints_ok,
        notes.len()
    );
    for p in &r.problems {
        println!("problem: {p}");
    }
    match r.first_bad_leaf {
        Some(i) => bail!("the log does not verify; the first leaf that does not fit is {i}"),
        None if !r.is_ok() => bail!("the log does not verify"),
        None => {
            println!("the log verifies");
            Ok(())
        }
    }
}

/// `audit export`: fetches the log of a running service into `out`.
pub fn export(server: &str, out: &std::path::Path) -> anyhow::Result<()> {
    let key: serde_json::Value = serde_json::from_str(&crate::http::get(server, "/v1/audit/key")?)?;
    let vkey = key["verifier_key"]
        .as_str()
        .context("no verifier key in the answer")?;
    let origin = key["origin"].as_str().context("no origin in the answer")?;
    let parsed = VerifierKey::parse(vkey)?;
    let note = crate::http::get(server, "/v1/audit/checkpoint")?;
    let kept: serde_json::Value =
        serde_json::from_str(&crate::http::get(server, "/v1/audit/checkpoints?from=0")?)?;
    let kept: Vec<(u64, String)> = kept["checkpoints"]
        .as_array()
        .context("no checkpoints in the answer")?
        .iter()
        .filter_map(|c| Some((c["size"].as_u64()?, c["note"].as_str()?.to_owned())))
        .collect();
    let size = parsed.open(&note)?.size;
    std::fs::create_dir_all(out.join("checkpoints"))
        .with_context(|| format!("cannot create {}", out.display()))?;
    let mut leaves = Vec::new();
    while (leaves.len() as u64) < size {
        let start = leaves.len() as u64;
        let end = (start + 1000).min(size);
        let page: serde_json::Value = serde_json::from_str(&crate::http::get(
            server,
            &format!("/v1/audit/leaves?start={start}&end={end}"),
        )?)?;
        for l in page["leaves"]
            .as_array()
            .context("no leaves in the answer")?
        {
            leaves.push(l.as_str().context("a leaf is not text")?.to_owned());
        }
        eprint!("\rfetched {} of {size} leaves", leaves.len());
    }
    eprintln!();
    std::fs::write(
        out.join("leaves.jsonl"),
        leaves.join("\n") + if leaves.is_empty() { "" } else { "\n" },
    )?;
    std::fs::write(out.join("key"), format!("{vkey}\n"))?;
    std::fs::write(out.join("origin"), format!("{origin}\n"))?;
    let dir = out.join("checkpoints");
    for (s, n) in kept.iter().chain(std::iter::once(&(size, note.clone()))) {
        save_checkpoint(&dir, *s, n)?;
    }
    println!(
        "exported {size} leaves and checkpoint {size} to {}",
        out.display()
    );
    Ok(())
}

/// Saves a checkpoint in `dir`, never overwriting one: a different note of the same size is
/// evidence of a fork, and is kept beside it.
fn save_checkpoint(dir: &std::path::Path, size: u64, note: &str) -> anyhow::Result<()> {
    let mut path = dir.join(format!("{size:012}.note"));
    let mut n = 1;
    while path.exists() {
        if std::fs::read_to_string(&path)? == note {
            return Ok(());
        }
        eprintln!(
            "warning: the service now signs a different tree of size {size} than the one saved \
             in {}: the log was forked or rewritten",
            path.display()
        );
        path = dir.join(format!("{size:012}-{n}.note"));
        n += 1;
    }
    std::fs::write(&path, note)?;
    Ok(())
}

/// `audit verify` with defaults taken from an exported folder, fetched first from a running
/// service when `server` is given.
pub fn verify_args(
    server: Option<String>,
    log: Option<std::path::PathBuf>,
    leaves: Option<std::path::PathBuf>,
    checkpoints: Option<std::path::PathBuf>,
    key: Option<String>,
    origin: Option<String>,
) -> anyhow::Result<()> {
    if let Some(server) = server {
        if leaves.is_some() || checkpoints.is_some() {
            bail!(
                "--server fetches the leaves and checkpoints itself: drop --leaves and --checkpoints"
            );
        }
        let (dir, temporary) = match log {
            Some(d) => (d, false),
            None => (
                std::env::temp_dir().join(format!(
                    "bioguard-verify-{}",
                    bioguard_crypto::hex_encode(&bioguard_crypto::random_array::<6>()?)
                )),
                true,
            ),
        };
        let result = export(&server, &dir).and_then(|()| {
            let published = std::fs::read_to_string(dir.join("key"))?.trim().to_owned();
            if let Some(pinned) = &key
                && pinned.trim() != published
            {
                bail!(
                    "the service publishes a different log key ({published}) than the one                      given with --key: do not trust this log until the operator explains why"
                );
            }
            verify_args(None, Some(dir.clone()), None, None, key, origin)
        });
        if temporary {
            let _ = std::fs::remove_dir_all(&dir);
        }
        return result;
    }
    let from_log = |name: &str| log.as_ref().map(|d| d.join(name));
    let read = |p: Option<std::path::PathBuf>, what: &str| -> anyhow::Result<String> {
        let p = p.with_context(|| format!("give --{what} or --log"))?;
        Ok(std::fs::read_to_string(&p)
            .with_context(|| format!("cannot read {}", p.display()))?
            .trim()
            .to_owned())
    };
    let leaves = leaves
        .or_else(|| from_log("leaves.jsonl"))
        .context("give --leaves or --log")?;
    let checkpoints = checkpoints
        .or_else(|| from_log("checkpoints"))
        .context("give --checkpoints or --log")?;
    let key = match key {
        Some(k) => k,
        None => read(from_log("key"), "key")?,
    };
    let origin = match origin {
        Some(o) => o,
        None => read(from_log("origin"), "origin")?,
    };
    verify(&leaves, &checkpoints, &key, &origin)
}

/// Options of `bench ledger-append`.
#[derive(clap::Args)]
pub struct AppendArgs {
    /// postgres://... (a fresh schema is made and dropped); default: SQLite in a temporary
    /// folder.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Changes to make with group commit.
    #[arg(long, default_value_t = 100_000)]
    pub count: usize,
    /// Changes to make one transaction each, as the baseline (0: skip it).
    #[arg(long, default_value_t = 3_000)]
    pub baseline_count: usize,
    /// Concurrent writers (requests in flight).
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// What each change is: `leaf` (an audit leaf alone) or `consent` (a consent granted to a
    /// new subject, with its leaf: three statements and a leaf).
    #[arg(long, default_value = "leaf", value_parser = ["leaf", "consent"])]
    pub change: String,
    /// The most changes in one transaction.
    #[arg(long, default_value_t = 512)]
    pub max_batch: usize,
}

/// `bench ledger-append`: durable changes per second through the store's group-commit writer,
/// against the same changes made one transaction each, in one run on one database.
pub fn bench_appends(args: AppendArgs) -> anyhow::Result<()> {
    use bioguard_store::Scratch;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        // A database of its own: a temporary SQLite folder, or a fresh PostgreSQL schema.
        let db = match &args.database_url {
            Some(url) => Scratch::postgres_at(url)
                .await
                .context("making a schema for the benchmark")?,
            None => Scratch::sqlite().context("making a folder for the benchmark")?,
        };
        let result = bench_appends_in(&args, &db).await;
        db.cleanup().await;
        result
    })
}

async fn bench_appends_in(args: &AppendArgs, db: &bioguard_store::Scratch) -> anyhow::Result<()> {
    use bioguard_store::prelude::*;
    let store = db.store().await?;
    let purpose = bench_purpose();
    if args.change == "consent" {
        let key = bioguard_store::ProtectionKey {
            sealed: bioguard_store::SealedKey {
                kek: "bench".into(),
                wrapped: vec![0; 60],
            },
            matcher: bioguard_core::Matcher::LEGACY,
        };
        store
            .create_purpose(
                &purpose,
                &key,
                &bioguard_core::Notice {
                    version: 1,
                    body: "{}".into(),
                    hash: String::new(),
                    material: true,
                    reconsent_days: None,
                    published_at: bench_time(),
                },
                &bench_leaf("purpose.create"),
            )
            .await?;
    }
    let mut rows = Vec::new();
    if args.baseline_count > 0 {
        let one_each = store.with_max_batch(1);
        rows.push(
            run_appends(
                &one_each,
                args,
                args.baseline_count,
                0,
                "one transaction each",
            )
            .await?,
        );
    }
    let grouped = store.with_max_batch(args.max_batch);
    rows.push(
        run_appends(
            &grouped,
            args,
            args.count,
            args.baseline_count,
            "group commit",
        )
        .await?,
    );
    // The log the benchmark wrote must still verify, leaf by leaf.
    let n = store.audit_size().await?;
    let leaves = store.audit_leaves(0, n).await?;
    let key = bioguard_ledger::LogKey::from_seed("bench", &[7; 32])?;
    let report = bioguard_ledger::verify_log(&leaves, &[], "bench", &key.verifier());
    if !report.is_ok() {
        bail!(
            "the benchmark's log does not verify: {:?}",
            report.problems.first()
        );
    }
    let speedup = match rows.as_slice() {
        [base, grouped] => json!(
            grouped["per_second"].as_f64().unwrap_or(0.0)
                / base["per_second"].as_f64().unwrap_or(f64::NAN)
        ),
        _ => json!(null),
    };
    println!(
        "{}",
        json!({"backend": db.kind(), "change": args.change, "speedup": speedup,
               "log_verified_leaves": n})
    );
    store.close().await;
    Ok(())
}

fn bench_time() -> bioguard_core::Timestamp {
    bioguard_core::Timestamp::from_unix(1_800_000_000)
}

fn bench_leaf(op: &'static str) -> bioguard_store::LeafDraft {
    bioguard_store::LeafDraft {
        time: bench_time(),
        op,
        actor: "bench".into(),
        subject: None,
        mentions: Vec::new(),
        purpose: None,
        decision: Some("ok".into()),
        request: None,
        detail: vec![],
        outbox: Vec::new(),
    }
}

fn bench_purpose() -> bioguard_core::Purpose {
    use bioguard_core::{Description, Dimension, Operation, PurposeId, Retention, Threshold};
    bioguard_core::Purpose {
        id: PurposeId::parse("bench").expect("a valid purpose id"),
        description: Description::parse("benchmark").expect("a valid description"),
        operations: [Operation::Enroll].into(),
        dimension: Dimension::new(256).expect("a valid dimension"),
        threshold: Threshold::new(0.8).expect("a valid threshold"),
        retention: Retention::new(30, None).expect("a valid retention"),
        code_bits: bioguard_core::CodeBits::DEFAULT,
        max_gallery_size: None,
        calibration: None,
        risk: bioguard_core::RiskPolicy::default(),
        fairness: bioguard_core::FairnessPolicy::default(),
    }
}

/// Makes `count` changes with `concurrency` writers; subjects are numbered from `first`.
async fn run_appends(
    store: &bioguard_store::SqlStore,
    args: &AppendArgs,
    count: usize,
    first: usize,
    mode: &str,
) -> anyhow::Result<serde_json::Value> {
    use bioguard_store::prelude::*;
    let before = store.write_stats();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = std::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (store, next, consent) = (store.clone(), next.clone(), args.change == "consent");
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let t = std::time::Instant::now();
                if consent {
                    let mut digest = [0u8; 32];
                    digest[..8].copy_from_slice(&((first + i) as u64).to_le_bytes());
                    let subject = bioguard_core::Pseudonym::from_digest(digest);
                    let mut id = [0u8; 16];
                    id[..8].copy_from_slice(&((first + i) as u64).to_le_bytes());
                    let c = bioguard_core::NewConsent {
                        id: bioguard_core::ConsentId::from_random(id),
                        purpose: bench_purpose().id,
                        notice_version: bioguard_core::NoticeVersion::parse("v1")
                            .expect("a valid notice version"),
                        method: bioguard_core::ConsentMethod::parse("bench")
                            .expect("a valid method"),
                        client: bioguard_core::ClientId::from_random([0; 16]),
                        at: bench_time(),
                    };
                    store
                        .grant_consent(&subject, &c, &bench_leaf("consent.grant"))
                        .await?;
                } else {
                    store.append_audit(&bench_leaf("bench")).await?;
                }
                latencies.push(t.elapsed().as_secs_f64());
            }
            Ok::<_, bioguard_store::StoreError>(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(count);
    for t in tasks {
        latencies.extend(t.await??);
    }
    let secs = start.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
            * 1e3
    };
    let stats = store.write_stats();
    let batches = stats.batches - before.batches;
    let row = json!({"backend": format!("{:?}", store.backend()).to_lowercase(),
        "mode": mode, "change": args.change, "changes": count, "concurrency": args.concurrency,
        "seconds": secs, "per_second": count as f64 / secs, "transactions": batches,
        "mean_batch": count as f64 / batches.max(1) as f64,
        "latency_ms_p50": pct(0.5), "latency_ms_p99": pct(0.99)});
    println!("{row}");
    Ok(row)
}

/// `audit verify --evidence`: a claim's evidence pack, checked offline against the log key.
pub fn verify_evidence(path: &std::path::Path, key: Option<&str>) -> anyhow::Result<()> {
    let key = key.context(
        "give the log's verifier key with --key (from GET /v1/audit/key, obtained out of band)",
    )?;
    let key = VerifierKey::parse(key).context("--key is not a verifier key (name+keyid+key)")?;
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
    )
    .with_context(|| format!("{} is not JSON", path.display()))?;
    let ev = if v.get("evidence").is_some() {
        &v["evidence"]
    } else {
        &v
    };
    let note = ev["checkpoint"]
        .as_str()
        .context("the evidence holds no checkpoint")?;
    let checkpoint = key
        .open(note)
        .map_err(|e| anyhow::anyhow!("the checkpoint is not signed by this log key: {e}"))?;
    let leaf = ev["decision"]["leaf"]
        .as_str()
        .context("the evidence holds no leaf")?;
    let index = ev["inclusion_proof"]["index"]
        .as_u64()
        .context("no leaf index")?;
    let size = ev["inclusion_proof"]["size"]
        .as_u64()
        .context("no tree size")?;
    if size != checkpoint.size {
        bail!(
            "the proof is for a tree of {size} leaves, the checkpoint signs {}",
            checkpoint.size
        );
    }
    let hashes = ev["inclusion_proof"]["hashes"]
        .as_array()
        .context("no proof hashes")?
        .iter()
        .map(|h| {
            h.as_str()
                .and_then(|s| B64.decode(s).ok())
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .context("a proof hash is not 32 bytes of base64")
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    bioguard_ledger::verify_inclusion(
        &leaf_hash(leaf.as_bytes()),
        index,
        size,
        &hashes,
        &checkpoint.root,
    )
    .map_err(|e| anyhow::anyhow!("the inclusion proof does not verify: {e}"))?;
    println!(
        "the decision's leaf {index} is in the log of {size} leaves signed by {}",
        checkpoint.origin
    );
    println!("the evidence verifies");
    Ok(())
}
