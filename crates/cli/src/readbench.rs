//! `bench ledger-reads`: what the public reads that once scanned the ledger cost as it grows.
//!
//! For each ledger size, a fresh database is filled with verification leaves shaped as the
//! service writes them (op `verify`, a decision, a decision id; two in three match), then
//! timed side by side with the reads they replaced:
//!
//! - the transparency report (`Service::transparency`, from the counters kept with the
//!   leaves) against reading and decoding every leaf to count it (the report before);
//! - a claim's decision lookup (`decision_leaf`, by the decision index) against the `LIKE`
//!   scan over leaves it replaced.
//!
//! Both sides must agree: the counts equal, the lookups find the same leaf.

use std::sync::Arc;

use anyhow::{Context, bail};
use bioguard_core::{DecisionId, Timestamp};
use bioguard_service::Service;
use bioguard_store::prelude::*;
use bioguard_store::{LeafDraft, Scratch, SqlStore};
use sqlx::Row;

/// The arguments of `bench ledger-reads`.
#[derive(clap::Args, Debug)]
pub struct ReadArgs {
    /// Ledger sizes to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "100,100000")]
    pub leaves: Vec<u64>,
    /// Timed repetitions of each read (the median is reported).
    #[arg(long, default_value_t = 21)]
    pub runs: usize,
    /// PostgreSQL to run against (a fresh schema per size); SQLite in a temporary folder
    /// otherwise.
    #[arg(long)]
    pub database_url: Option<String>,
}

/// One size's medians, in milliseconds.
struct Row4 {
    leaves: u64,
    report: f64,
    report_scan: f64,
    lookup: f64,
    lookup_like: f64,
}

/// Runs the benchmark and prints a table.
pub fn run(args: ReadArgs) -> anyhow::Result<()> {
    if args.runs == 0 || args.leaves.is_empty() {
        bail!("give at least one size (--leaves) and one run (--runs)");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut rows = Vec::new();
        for &n in &args.leaves {
            let db = match &args.database_url {
                Some(url) => Scratch::postgres_at(url)
                    .await
                    .context("making a schema for the benchmark")?,
                None => Scratch::sqlite().context("making a folder for the benchmark")?,
            };
            let r = one_size(&db, n, args.runs).await;
            db.cleanup().await;
            rows.push(r?);
        }
        println!(
            "{:>9} {:>12} {:>14} {:>12} {:>14}",
            "leaves", "report ms", "scan (old) ms", "lookup ms", "LIKE (old) ms"
        );
        for r in &rows {
            println!(
                "{:>9} {:>12.3} {:>14.3} {:>12.3} {:>14.3}",
                r.leaves, r.report, r.report_scan, r.lookup, r.lookup_like
            );
        }
        if let (Some(first), Some(last)) = (rows.first(), rows.last())
            && rows.len() > 1
        {
            println!(
                "largest / smallest: report {:.2}x (old {:.1}x), lookup {:.2}x (old {:.1}x)",
                last.report / first.report,
                last.report_scan / first.report_scan,
                last.lookup / first.lookup,
                last.lookup_like / first.lookup_like
            );
        }
        Ok(())
    })
}

fn verify_leaf(n: u64) -> (LeafDraft, DecisionId) {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&n.to_le_bytes());
    bytes[8..].copy_from_slice(&(n ^ 0x5a5a_5a5a_5a5a_5a5a).to_be_bytes());
    let id = DecisionId::from_random(bytes);
    let leaf = LeafDraft {
        time: Timestamp::from_unix(1_780_000_000 + n as i64),
        op: "verify",
        actor: "client:cl_bench".into(),
        subject: None,
        mentions: Vec::new(),
        purpose: Some(bioguard_core::PurposeId::parse("bench").expect("a valid id")),
        decision: Some(if n % 3 == 2 { "no_match" } else { "match" }.into()),
        request: None,
        detail: vec![
            ("decision".into(), id.to_string()),
            ("template".into(), format!("tpl_{n:032x}")),
            ("score".into(), "0.912".into()),
        ],
        outbox: Vec::new(),
    };
    (leaf, id)
}

/// Appends `n` verification leaves, many at once so that they share transactions.
async fn fill(store: &SqlStore, n: u64) -> anyhow::Result<Vec<DecisionId>> {
    let mut progress = crate::progress::Progress::new();
    let mut ids = Vec::with_capacity(n as usize);
    let mut next = 0u64;
    while next < n {
        let end = (next + 2048).min(n);
        let mut tasks = tokio::task::JoinSet::new();
        for i in next..end {
            let (leaf, id) = verify_leaf(i);
            ids.push(id);
            let store = store.clone();
            tasks.spawn(async move { store.append_audit(&leaf).await });
        }
        while let Some(r) = tasks.join_next().await {
            r.context("a writer task")??;
        }
        progress.update("leaves written", end, n);
        next = end;
    }
    progress.finish();
    Ok(ids)
}

fn median(mut ms: Vec<f64>) -> f64 {
    ms.sort_by(f64::total_cmp);
    ms[ms.len() / 2]
}

async fn one_size(db: &Scratch, n: u64, runs: usize) -> anyhow::Result<Row4> {
    let store = db.store().await?;
    let ids = fill(&store, n).await?;
    let keydir = tempfile::tempdir()?;
    let (keys, _) = bioguard_crypto::LocalKeyFile::open_or_create(&keydir.path().join("k"))?;
    let service = Service::open(Arc::new(store.clone()), Arc::new(keys)).await?;
    let pool = SqlStore::raw_pool(db.url()).await?;
    if db.kind() == "postgres" {
        // The steady state autovacuum keeps: a burst of writes leaves the counters' old row
        // versions and no statistics for the planner until it runs.
        sqlx::raw_sql("VACUUM ANALYZE audit_counts, audit_decisions, audit_leaves")
            .execute(&pool)
            .await?;
    }
    // Probes: decisions spread over the whole ledger, the last one written included.
    let probes: Vec<&DecisionId> = (0..runs)
        .map(|i| &ids[(i as u64 * (n.max(1) - 1) / runs.max(2) as u64) as usize])
        .chain(ids.last())
        .collect();

    // Each side's runs back to back: the old scans read the whole table and would evict the
    // pages the new reads keep warm if the two were interleaved.
    let (mut report, mut lookup, mut reports, mut found) = (vec![], vec![], vec![], vec![]);
    for id in probes.iter().take(3) {
        // Warm-up, untimed: the pool's connections and the statement caches.
        service.transparency().await?;
        store.decision_leaf(id).await?;
    }
    for i in 0..runs {
        let t = std::time::Instant::now();
        let r = service.transparency().await?;
        report.push(t.elapsed().as_secs_f64() * 1e3);
        reports.push((
            r.verifications.total,
            r.verifications.matched,
            r.ledger.size,
        ));
        let id = probes[i % probes.len()];
        let t = std::time::Instant::now();
        let leaf = store.decision_leaf(id).await?.context("indexed decision")?;
        lookup.push(t.elapsed().as_secs_f64() * 1e3);
        found.push(leaf.index);
    }
    let (mut scan, mut like) = (vec![], vec![]);
    for i in 0..runs {
        let t = std::time::Instant::now();
        let (total, matched) = scan_counts(&store).await?;
        scan.push(t.elapsed().as_secs_f64() * 1e3);
        if reports[i] != (total, matched, n) {
            bail!(
                "the report and the scan disagree: {:?} against {total}, {matched} of {n}",
                reports[i]
            );
        }
        let id = probes[i % probes.len()];
        let t = std::time::Instant::now();
        let old = like_lookup(&pool, id).await?.context("scanned decision")?;
        like.push(t.elapsed().as_secs_f64() * 1e3);
        if found[i] != old {
            bail!("the index and the scan found different leaves");
        }
    }
    pool.close().await;
    Ok(Row4 {
        leaves: n,
        report: median(report),
        report_scan: median(scan),
        lookup: median(lookup),
        lookup_like: median(like),
    })
}

/// The report's counting before: read and decode every leaf, a page at a time.
async fn scan_counts(store: &SqlStore) -> anyhow::Result<(u64, u64)> {
    let size = store.audit_size().await?;
    let (mut total, mut matched, mut start) = (0, 0, 0);
    while start < size {
        let end = (start + 10_000).min(size);
        for bytes in store.audit_leaves(start, end).await? {
            let leaf = bioguard_ledger::Leaf::decode(&bytes).context("a leaf")?;
            if leaf.op == "verify" {
                total += 1;
                matched += u64::from(leaf.decision.as_deref() == Some("match"));
            }
        }
        start = end;
    }
    Ok((total, matched))
}

/// The claim lookup before: a `LIKE` pattern over every leaf, each candidate decoded.
async fn like_lookup(pool: &sqlx::AnyPool, id: &DecisionId) -> anyhow::Result<Option<u64>> {
    let pattern = format!("%[\"decision\",\"{id}\"]%");
    let rows = sqlx::query("SELECT idx, leaf FROM audit_leaves WHERE leaf LIKE $1 ORDER BY idx")
        .bind(pattern.into_bytes())
        .fetch_all(pool)
        .await?;
    for r in rows {
        let leaf: Vec<u8> = r.try_get("leaf")?;
        if let Some(l) = bioguard_ledger::Leaf::decode(&leaf)
            && l.detail
                .iter()
                .any(|(k, v)| k == "decision" && v == id.as_str())
        {
            return Ok(Some(r.try_get::<i64, _>("idx")? as u64));
        }
    }
    Ok(None)
}
