//! Durability: SIGKILL while clients enrol in a loop, restart, and find every enrolment that
//! had been acknowledged. Bounded in count and time, on loopback.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::http::request;
use crate::server::{Server, admin_token};

const CLIENTS: usize = 4;
const MAX_PER_CLIENT: usize = 300;
const KILL_AFTER_ACKS: usize = 150;
const DIM: usize = 32;

fn embedding(n: usize) -> Vec<f32> {
    let mut x = (n as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let v: Vec<f32> = (0..DIM)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect();
    v
}

fn setup(addr: SocketAddr, admin: &str) -> String {
    let r = request(
        addr,
        "POST",
        "/v1/purposes",
        Some(admin),
        Some(
            &json!({"id": "payment", "description": "Pay", "operations": ["enroll", "verify"],
                     "dimension": DIM, "threshold": 0.99,
                     "retention": {"max_days_since_enrolment": 30}})
            .to_string(),
        ),
    )
    .expect("purpose");
    assert_eq!(r.status, 201, "{}", r.body);
    let r = request(
        addr,
        "POST",
        "/v1/clients",
        Some(admin),
        Some(
            &json!({"name": "till", "grants": [{"purpose": "payment",
                     "operations": ["enroll", "verify"]}]})
            .to_string(),
        ),
    )
    .expect("client");
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["api_key"].as_str().expect("key").to_owned()
}

/// Consents and enrols subjects in a loop until a request fails (the server died) or the
/// bound is reached; returns the subjects whose enrolment was acknowledged.
fn enrol_loop(
    addr: SocketAddr,
    key: String,
    client: usize,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<usize>>>,
) {
    for i in 0..MAX_PER_CLIENT {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let n = client * MAX_PER_CLIENT + i;
        let consent = request(
            addr,
            "PUT",
            &format!("/v1/subjects/s{n}/consents/payment"),
            Some(&key),
            Some(r#"{"notice_version":"v1","method":"kiosk"}"#),
        );
        if !matches!(consent, Ok(ref r) if r.status == 201) {
            return;
        }
        let enrol = request(
            addr,
            "PUT",
            &format!("/v1/subjects/s{n}/templates/payment"),
            Some(&key),
            Some(&json!({"embedding": embedding(n)}).to_string()),
        );
        match enrol {
            Ok(r) if r.status == 201 => acked.lock().expect("lock").push(n),
            _ => return,
        }
    }
}

fn kill_during_enrolment_and_check(cwd: &Path, args: &[&str]) {
    let server = Server::start(cwd, args);
    let admin = admin_token(&cwd.join("bioguard-data"));
    let key = setup(server.addr, &admin);
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (key, stop, acked, addr) = (key.clone(), stop.clone(), acked.clone(), server.addr);
            std::thread::spawn(move || enrol_loop(addr, key, c, stop, acked))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.lock().expect("lock").len() < KILL_AFTER_ACKS {
        assert!(Instant::now() < deadline, "enrolments too slow");
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker");
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() >= KILL_AFTER_ACKS);

    let server = Server::start(cwd, args);
    let mut missing = Vec::new();
    for n in &acked {
        let r = request(
            server.addr,
            "POST",
            "/v1/verify",
            Some(&key),
            Some(
                &json!({"subject": format!("s{n}"), "purpose": "payment",
                         "embedding": embedding(*n)})
                .to_string(),
            ),
        )
        .expect("verify");
        if r.status != 200 || r.json()["match"] != true {
            missing.push((n, r.status, r.body));
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged enrolments were lost or unreadable after SIGKILL: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    eprintln!(
        "durability: {} acknowledged enrolments all survived SIGKILL",
        acked.len()
    );
    assert!(server.terminate().success());
}

#[test]
fn acknowledged_enrolments_survive_sigkill_on_sqlite() {
    let cwd = tempfile::tempdir().expect("tempdir");
    kill_during_enrolment_and_check(cwd.path(), &[]);
}

#[test]
fn acknowledged_enrolments_survive_sigkill_on_postgres() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let Some(db) = rt.block_on(bioguard_store::testing::TestDb::postgres("durability")) else {
        return;
    };
    let cwd = tempfile::tempdir().expect("tempdir");
    kill_during_enrolment_and_check(cwd.path(), &["--database-url", db.url()]);
    rt.block_on(db.cleanup());
}
