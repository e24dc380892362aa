//! Three `bioguard serve` processes on one PostgreSQL database: enrolments on one node are
//! found by identification on the others (each follows the ledger, woken by LISTEN/NOTIFY),
//! a deletion answered by one node is never returned by another, and the audit ledger stays
//! one gap-free sequence with three writers.

use std::time::{Duration, Instant};

use crate::http::request;
use crate::server::{Server, admin_token};

fn embedding(seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let v: Vec<f64> = (0..16)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
        .collect();
    let n = v.iter().map(|a| a * a).sum::<f64>().sqrt();
    v.iter().map(|a| (a / n) as f32).collect()
}

fn json_list(v: &[f32]) -> String {
    serde_json::to_string(v).expect("json")
}

fn ok(server: &Server, method: &str, path: &str, token: &str, body: &str) -> serde_json::Value {
    let r = request(server.addr, method, path, Some(token), Some(body)).expect("request");
    assert!(
        r.status < 300,
        "{method} {path} on {}: {} {}",
        server.addr,
        r.status,
        r.body
    );
    r.json()
}

/// The subjects node `server` returns for `probe`.
fn identify(server: &Server, key: &str, probe: &[f32]) -> Vec<String> {
    let body = format!(
        r#"{{"purpose":"entry","gallery":"hq","embedding":{}}}"#,
        json_list(probe)
    );
    ok(server, "POST", "/v1/identify", key, &body)["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .filter_map(|c| c["subject"].as_str().map(str::to_owned))
        .collect()
}

/// Waits until `node` finds `subject` with its own probe.
fn found_within(
    node: &Server,
    key: &str,
    subject: &str,
    probe: &[f32],
    limit: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        if identify(node, key, probe).iter().any(|s| s == subject) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "{subject}, enrolled elsewhere, not found by {} within {limit:?}",
            node.addr
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn three_nodes_on_one_postgresql_see_each_others_writes_and_never_return_deletions() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let Some(db) = rt.block_on(bioguard_store::testing::TestDb::postgres("multinode")) else {
        eprintln!("note: BIOGUARD_TEST_DATABASE_URL is not set; skipping the multi-node test");
        return;
    };
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let first = Server::start(dirs[0].path(), &["--database-url", db.url()]);
    let key_file = dirs[0].path().join("bioguard-data/master.key");
    let key_file = key_file.to_string_lossy().into_owned();
    // A slow poll, so that only the commit announcements can make the others fresh quickly.
    let poll = ["--gallery-sync-ms", "5000"];
    let nodes = [
        first,
        Server::start(
            dirs[1].path(),
            &[
                "--database-url",
                db.url(),
                "--key-file",
                &key_file,
                poll[0],
                poll[1],
            ],
        ),
        Server::start(
            dirs[2].path(),
            &[
                "--database-url",
                db.url(),
                "--key-file",
                &key_file,
                poll[0],
                poll[1],
            ],
        ),
    ];
    let admin = admin_token(&dirs[0].path().join("bioguard-data"));
    ok(
        &nodes[0],
        "POST",
        "/v1/purposes",
        &admin,
        r#"{"id":"entry","description":"Building entry","operations":["enroll","verify","identify"],"dimension":16,"max_gallery_size":1000,"retention":{"max_days_since_enrolment":30}}"#,
    );
    let key = ok(&nodes[1], "POST", "/v1/clients", &admin,
        r#"{"name":"gates","grants":[{"purpose":"entry","operations":["enroll","verify","identify"]}]}"#)
        ["api_key"].as_str().expect("key").to_owned();
    let enrol = |node: &Server, subject: &str, e: &[f32]| {
        ok(
            node,
            "PUT",
            &format!("/v1/subjects/{subject}/consents/entry"),
            &key,
            r#"{"notice_version":"v1","method":"app"}"#,
        );
        ok(
            node,
            "PUT",
            &format!("/v1/subjects/{subject}/templates/entry"),
            &key,
            &format!(r#"{{"embedding":{},"galleries":["hq"]}}"#, json_list(e)),
        );
    };
    // Each node enrols some people; every other node finds each of them.
    let mut worst = Duration::ZERO;
    for i in 0..12u64 {
        let writer = &nodes[(i % 3) as usize];
        let subject = format!("person-{i}");
        let e = embedding(i + 1);
        enrol(writer, &subject, &e);
        for reader in &nodes {
            worst = worst.max(found_within(
                reader,
                &key,
                &subject,
                &e,
                Duration::from_secs(4),
            ));
        }
    }
    eprintln!(
        "slowest cross-node freshness: {worst:?} (polling every 5 s; announcements do the rest)"
    );
    // A withdrawal answered by one node is never returned by any node afterwards, at once.
    for (i, node) in nodes.iter().enumerate() {
        let subject = format!("person-{i}");
        ok(
            node,
            "DELETE",
            &format!("/v1/subjects/{subject}/consents/entry"),
            &key,
            "",
        );
        for reader in &nodes {
            for _ in 0..5 {
                assert!(
                    !identify(reader, &key, &embedding(i as u64 + 1)).contains(&subject),
                    "{subject} withdrawn on {} but returned by {}",
                    node.addr,
                    reader.addr
                );
            }
        }
    }
    // Erasure likewise.
    ok(&nodes[2], "DELETE", "/v1/subjects/person-5", &key, "");
    for reader in &nodes {
        assert!(!identify(reader, &key, &embedding(6)).contains(&"person-5".to_owned()));
    }
    // One gap-free ledger, written by three processes.
    let (count, max): (i64, i64) = rt.block_on(async {
        let pool = bioguard_store::SqlStore::raw_pool(db.url())
            .await
            .expect("pool");
        let r = sqlx::query_as("SELECT COUNT(*), MAX(idx) FROM audit_leaves")
            .fetch_one(&pool)
            .await
            .expect("query");
        pool.close().await;
        r
    });
    assert_eq!(count, max + 1, "leaf indexes 0..{max} with no gap");
    let size: i64 = rt.block_on(async {
        let pool = bioguard_store::SqlStore::raw_pool(db.url())
            .await
            .expect("pool");
        let n = sqlx::query_scalar("SELECT size FROM audit_head")
            .fetch_one(&pool)
            .await
            .expect("head");
        pool.close().await;
        n
    });
    assert_eq!(size, count);
    drop(nodes);
    rt.block_on(db.cleanup());
}
