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
            &json!({"name": "till", "subject_rights": ["read"], "grants": [{"purpose": "payment",
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
    check_ledger(server.addr, &key, &acked);
    assert!(server.terminate().success());
}

/// The whole audit log as a node serves it, checked: no gap, chain intact, root as signed by
/// a fresh checkpoint. Returns its size and leaves.
pub(crate) fn verified_log(addr: SocketAddr) -> (u64, Vec<Vec<u8>>) {
    use bioguard_ledger::{VerifierKey, verify_log};
    let k = request(addr, "GET", "/v1/audit/key", None, None)
        .expect("key")
        .json();
    let vkey = VerifierKey::parse(k["verifier_key"].as_str().expect("key")).expect("valid");
    let origin = k["origin"].as_str().expect("origin").to_owned();
    let note = request(addr, "GET", "/v1/audit/checkpoint", None, None)
        .expect("checkpoint")
        .body;
    let size = vkey.open(&note).expect("signed checkpoint").size;
    let mut leaves: Vec<Vec<u8>> = Vec::new();
    while (leaves.len() as u64) < size {
        let start = leaves.len() as u64;
        let end = (start + 1000).min(size);
        let page = request(
            addr,
            "GET",
            &format!("/v1/audit/leaves?start={start}&end={end}"),
            None,
            None,
        )
        .expect("leaves")
        .json();
        leaves.extend(
            page["leaves"]
                .as_array()
                .expect("leaves")
                .iter()
                .map(|l| l.as_str().expect("text").as_bytes().to_vec()),
        );
    }
    let report = verify_log(&leaves, &[note], &origin, &vkey);
    assert!(report.is_ok(), "the ledger does not verify: {report:?}");
    (size, leaves)
}

/// After the crash: the ledger verifies as a whole (no gap, chain intact, root as signed),
/// and every subject that holds a template, acknowledged or caught in flight, has the
/// consent and enrolment leaves that recorded it.
fn check_ledger(addr: SocketAddr, key: &str, acked: &[usize]) {
    use bioguard_ledger::Leaf;
    let (size, leaves) = verified_log(addr);
    let enrols = leaves
        .iter()
        .filter(|l| Leaf::decode(l).is_some_and(|l| l.op == "enrol"))
        .count();
    assert!(
        enrols >= acked.len(),
        "{enrols} enrol leaves for {} acknowledged enrolments",
        acked.len()
    );
    // Acknowledged subjects and the next ones each client may have had in flight.
    let mut subjects: Vec<usize> = acked.to_vec();
    for c in 0..CLIENTS {
        let last = acked
            .iter()
            .filter(|n| **n / MAX_PER_CLIENT == c)
            .max()
            .copied();
        let next = last.map_or(c * MAX_PER_CLIENT, |n| n + 1);
        subjects.extend([next, next + 1]);
    }
    for n in subjects {
        let held =
            request(addr, "GET", &format!("/v1/subjects/s{n}"), Some(key), None).expect("subject");
        if held.status == 404 {
            // Nothing held: no consent was committed, so no leaf names the subject either.
            assert_eq!(
                held.json()["error"]["code"],
                "subject_not_found",
                "{}",
                held.body
            );
            assert!(!acked.contains(&n), "s{n} was acknowledged but is gone");
            continue;
        }
        let held = held.json();
        let history = request(
            addr,
            "GET",
            &format!("/v1/subjects/s{n}/history"),
            Some(key),
            None,
        )
        .expect("history")
        .json();
        let ops: Vec<String> = history["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .filter_map(|e| Leaf::decode(e["leaf"].as_str().unwrap_or("").as_bytes()).map(|l| l.op))
            .collect();
        let has_template = !held["templates"].as_array().expect("templates").is_empty();
        let has_consent = !held["consents"].as_array().expect("consents").is_empty();
        assert_eq!(
            has_template,
            ops.iter().any(|o| o == "enrol"),
            "s{n}: template and enrol leaf disagree: {ops:?}"
        );
        assert_eq!(
            has_consent,
            ops.iter().any(|o| o == "consent.grant"),
            "s{n}: consent and leaf disagree: {ops:?}"
        );
    }
    eprintln!(
        "durability: ledger of {size} leaves verifies after SIGKILL; records and leaves agree"
    );
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
