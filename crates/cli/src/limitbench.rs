//! `bench limits`: what sharing the rate limit and the lockouts through PostgreSQL costs a
//! verification, side by side with the in-memory limits each node keeps otherwise.
//!
//! Both sides authenticate API keys of 16 clients through the service from `tasks` concurrent
//! tasks; the measured side also takes each request from the client's shared allowance, as
//! every authenticated request on PostgreSQL does. The rate is set high enough that nothing is
//! refused, and the run checks that nothing was. Reports calls per second and the median and
//! p99 latency of each side.

use std::sync::Arc;

use anyhow::{Context, bail};
use bioguard_store::Scratch;

/// The arguments of `bench limits`.
#[derive(clap::Args, Debug)]
pub struct LimitArgs {
    /// The PostgreSQL to share the limits through (a fresh schema, dropped after).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pub database_url: String,
    /// Verifications' limit calls to make on each side.
    #[arg(long, default_value_t = 50_000)]
    pub requests: usize,
    /// Concurrent tasks (as many as the service's connections in the load benchmark).
    #[arg(long, default_value_t = 32)]
    pub tasks: usize,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// Runs `one` `requests` times over `tasks` tasks; returns (requests/s, p50 µs, p99 µs).
async fn drive<F, Fut>(requests: usize, tasks: usize, one: F) -> anyhow::Result<(f64, f64, f64)>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let one = Arc::new(one);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = std::time::Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let (one, next) = (one.clone(), next.clone());
        set.spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= requests {
                    return Ok::<_, anyhow::Error>(lat);
                }
                let t = std::time::Instant::now();
                one(i).await?;
                lat.push(t.elapsed().as_secs_f64() * 1e6);
            }
        });
    }
    let mut all = Vec::with_capacity(requests);
    while let Some(r) = set.join_next().await {
        all.extend(r.context("a task")??);
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    Ok((
        requests as f64 / secs,
        percentile(&all, 0.5),
        percentile(&all, 0.99),
    ))
}

/// Runs the benchmark and prints both sides.
pub fn run(args: LimitArgs) -> anyhow::Result<()> {
    if args.requests == 0 || args.tasks == 0 {
        bail!("--requests and --tasks must be at least 1");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let db = Scratch::postgres_at(&args.database_url)
            .await
            .context("making a schema for the benchmark")?;
        let result = run_in(&args, &db).await;
        db.cleanup().await;
        result
    })
}

async fn run_in(args: &LimitArgs, db: &Scratch) -> anyhow::Result<()> {
    let store = Arc::new(db.store().await?);
    let keydir = tempfile::tempdir()?;
    let (keys, _) = bioguard_crypto::LocalKeyFile::open_or_create(&keydir.path().join("k"))?;
    let service = bioguard_service::Service::open(store.clone(), Arc::new(keys)).await?;
    let token = bioguard_crypto::random_token("bga_")?;
    service.register_admin_token(&token).await?;
    let admin = service.authenticate_admin(&token).await?;
    let mut keys = Vec::new();
    for n in 0..16 {
        let c = service
            .create_client(
                &admin,
                bioguard_core::ClientDefinition::parse(
                    &format!("bench {n}"),
                    None,
                    std::iter::empty(),
                    std::iter::empty(),
                )?,
            )
            .await?;
        keys.push(c.expose_api_key().to_owned());
    }
    let keys = Arc::new(keys);
    // What the shared rate adds to each request on PostgreSQL: the client's request taken from
    // the shared allowance, leased a few at a time (1,000,000 per second: nothing is refused).
    // The baseline authenticates the same clients with no limit at all. (A verification reads
    // the subject's shared lockout state in its one statement: no extra round trip.)
    let side = |limited: bool| {
        let service = service
            .clone()
            .with_client_rate_limit(if limited { 1_000_000 } else { 0 });
        let keys = keys.clone();
        drive(args.requests, args.tasks, move |i| {
            let (service, keys) = (service.clone(), keys.clone());
            async move {
                service
                    .authenticate_client(&keys[i % keys.len()])
                    .await
                    .context("a request was refused")?;
                Ok(())
            }
        })
    };
    let baseline = side(false).await?;
    let shared = side(true).await?;
    println!(
        "{:<48} {:>10} {:>9} {:>9}",
        "per verification, PostgreSQL", "calls/s", "p50 us", "p99 us"
    );
    for (name, (rps, p50, p99)) in [
        ("authenticate, no limit (baseline)", baseline),
        ("authenticate + shared rate (leased)", shared),
    ] {
        println!("{name:<48} {rps:>10.0} {p50:>9.1} {p99:>9.1}");
    }
    println!(
        "added per verification: {:.1} us at the median ({:.2}x the baseline's throughput)",
        shared.1 - baseline.1,
        shared.0 / baseline.0
    );
    Ok(())
}
