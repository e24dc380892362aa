//! `bioguard backup` while the service serves under load, and `bioguard restore`: every
//! subject enrolled before the backup verifies on the restored installation, whose audit
//! ledger verifies; a damaged backup or a missing master key is refused and leaves nothing.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::http::request;
use crate::server::{Server, admin_token, binary, purpose_and_client};

fn embedding(i: usize) -> String {
    let a = i as f64 * 0.7;
    format!("[{:.4},{:.4},{:.4},0.2]", a.cos(), a.sin(), (a * 0.3).cos())
}

fn enrol(addr: SocketAddr, key: &str, i: usize) -> u16 {
    let c = request(
        addr,
        "PUT",
        &format!("/v1/subjects/s{i}/consents/door"),
        Some(key),
        Some(r#"{"notice_version":"v1","method":"web"}"#),
    )
    .expect("consent");
    if c.status >= 300 {
        return c.status;
    }
    let body = format!(r#"{{"embedding":{}}}"#, embedding(i));
    request(
        addr,
        "PUT",
        &format!("/v1/subjects/s{i}/templates/door"),
        Some(key),
        Some(&body),
    )
    .expect("enrol")
    .status
}

fn verifies(addr: SocketAddr, key: &str, i: usize) -> (u16, String) {
    let body = format!(
        r#"{{"subject":"s{i}","purpose":"door","embedding":{}}}"#,
        embedding(i)
    );
    let r = request(addr, "POST", "/v1/verify", Some(key), Some(&body)).expect("verify");
    (r.status, r.body)
}

fn run(args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(binary());
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("BIOGUARD_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd.output().expect("run");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8")
}

#[test]
fn a_backup_under_load_restores_and_every_subject_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let data = dir.path().join("bioguard-data");
    let admin = admin_token(&data);
    let key = purpose_and_client(server.addr, &admin, "door");
    let before = 30;
    for i in 0..before {
        assert_eq!(enrol(server.addr, &key, i), 201);
    }

    // Load throughout the backup: verifications of those enrolled, and new enrolments.
    let stop = Arc::new(AtomicBool::new(false));
    let enrolled = Arc::new(AtomicUsize::new(before));
    let verified = Arc::new(AtomicUsize::new(0));
    let load = {
        let (stop, enrolled, verified, key, addr) = (
            stop.clone(),
            enrolled.clone(),
            verified.clone(),
            key.clone(),
            server.addr,
        );
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let (status, body) = verifies(addr, &key, n % before);
                assert_eq!(status, 200, "{body}");
                verified.fetch_add(1, Ordering::Relaxed);
                let next = enrolled.load(Ordering::Relaxed);
                assert_eq!(enrol(addr, &key, next), 201);
                enrolled.store(next + 1, Ordering::Relaxed);
                n += 1;
            }
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let backup = dir.path().join("backup");
    let (ok, out) = run(&["backup", "--data-dir", s(&data), "--out", s(&backup)]);
    assert!(ok, "{out}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    load.join().expect("load");
    assert!(verified.load(Ordering::Relaxed) > 0);
    assert!(out.contains("master key is NOT included"), "{out}");
    assert!(!backup.join("master.key").exists());
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(backup.join("manifest.json")).expect("manifest"),
    )
    .expect("json");
    assert!(
        manifest["ledger"]["size"].as_u64().expect("size") > 60,
        "{manifest}"
    );
    assert!(
        !std::fs::read_to_string(backup.join("manifest.json"))
            .expect("m")
            .contains(&admin)
    );
    drop(server);

    // Without the master key there is nothing to open the copy with: refused, nothing left.
    let restored = dir.path().join("restored");
    let (ok, out) = run(&["restore", "--from", s(&backup), "--data-dir", s(&restored)]);
    assert!(!ok && out.contains("holds no master key"), "{out}");
    assert!(!restored.join("bioguard.db").exists());

    // A damaged copy is refused before anything is written.
    let damaged = dir.path().join("damaged");
    std::fs::create_dir(&damaged).expect("mkdir");
    for f in ["manifest.json", "bioguard.db"] {
        std::fs::copy(backup.join(f), damaged.join(f)).expect("copy");
    }
    let mut bytes = std::fs::read(damaged.join("bioguard.db")).expect("read");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(damaged.join("bioguard.db"), bytes).expect("write");
    std::fs::copy(data.join("master.key"), restored.join("master.key")).expect("key");
    let (ok, out) = run(&["restore", "--from", s(&damaged), "--data-dir", s(&restored)]);
    assert!(!ok && out.contains("damaged"), "{out}");
    assert!(!restored.join("bioguard.db").exists());

    // With the key in place: restored, checked against the signed checkpoint.
    let (ok, out) = run(&["restore", "--from", s(&backup), "--data-dir", s(&restored)]);
    assert!(ok, "{out}");
    assert!(
        out.contains("matches the backup's signed checkpoint"),
        "{out}"
    );
    let (ok, out) = run(&["admin", "token", "rotate", "--data-dir", s(&restored)]);
    assert!(ok, "{out}");
    let again = Server::start(dir.path(), &["--data-dir", s(&restored)]);
    for i in 0..before {
        let (status, body) = verifies(again.addr, &key, i);
        assert_eq!(status, 200, "s{i}: {body}");
        assert!(body.contains(r#""match":true"#), "s{i}: {body}");
    }
    // The ledger verifies, by the service's published proofs and by `audit verify`.
    crate::durability::verified_log(again.addr);
    let (ok, out) = run(&[
        "audit",
        "verify",
        "--server",
        &format!("http://{}", again.addr),
    ]);
    assert!(ok, "{out}");
    assert!(admin_token(&restored).starts_with("bga_"));
    drop(again);

    // With --include-master-key, the backup restores on its own.
    let server = Server::start(dir.path(), &[]);
    let with_key = dir.path().join("with-key");
    let (ok, out) = run(&[
        "backup",
        "--data-dir",
        s(&data),
        "--out",
        s(&with_key),
        "--include-master-key",
    ]);
    assert!(ok, "{out}");
    drop(server);
    let second = dir.path().join("second");
    let (ok, out) = run(&["restore", "--from", s(&with_key), "--data-dir", s(&second)]);
    assert!(ok, "{out}");
    assert!(second.join("master.key").exists());
}
