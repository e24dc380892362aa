//! What /metrics adds to one verification request, measured in-process: the access log's
//! request counter and latency histogram and the decision counter, exactly as a verify
//! records them, with the process's Prometheus recorder installed, against the same loop
//! without a recorder (a build before /metrics makes none of these calls, so the figure with the
//! recorder is what they cost a request). Prints nanoseconds per request (median of 7 runs).
//! Run: cargo run --release -p bioguard-server --example metrics_cost

use std::time::Instant;

fn one(i: u64) {
    bioguard_server::telemetry::request("POST", "/v1/verify", 200, 0.0004 + (i % 7) as f64 * 1e-5);
    let outcome = if i.is_multiple_of(5) {
        "no_match"
    } else {
        "match"
    };
    metrics::counter!("bioguard_decisions_total",
        "purpose" => "payment".to_string(), "operation" => "verify", "outcome" => outcome)
    .increment(1);
}

fn median_ns(n: u64) -> f64 {
    let mut runs: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            for i in 0..n {
                one(std::hint::black_box(i));
            }
            t.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[3]
}

fn main() {
    let n = 200_000;
    let without = median_ns(n);
    let handle = bioguard_server::telemetry::install().expect("recorder");
    let with = median_ns(n);
    let text = handle.render();
    assert!(text.contains("bioguard_decisions_total"));
    println!(
        "per request: {without:.0} ns without a recorder, {with:.0} ns with the Prometheus recorder (+{:.0} ns)",
        with - without
    );
}
