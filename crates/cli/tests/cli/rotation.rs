//! Key-encryption-key rotation while the service answers: no verification fails, everything
//! ends up under the new version, and once the old version is destroyed a copy of the old
//! database can no longer be decrypted.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::http::request;
use crate::server::{Server, admin_token, binary};

fn run(cwd: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(binary())
        .args(args)
        .current_dir(cwd)
        .env("BIOGUARD_LOG", "warn")
        .output()
        .expect("run");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn embedding(n: usize) -> String {
    let v: Vec<f32> = (0..8)
        .map(|i| ((n * 31 + i * 7) % 17) as f32 - 8.0)
        .collect();
    serde_json::to_string(&v).expect("json")
}

#[test]
fn rotation_under_load_loses_no_verification_and_destroying_the_old_version_shreds_backups() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let server = Server::start(cwd.path(), &[]);
    let data = cwd.path().join("bioguard-data");
    let admin = admin_token(&data);
    let r = request(server.addr, "POST", "/v1/purposes", Some(&admin), Some(
        r#"{"id":"door","description":"Door","operations":["enroll","verify"],"dimension":8,"retention":{"max_days_since_enrolment":30}}"#)).expect("purpose");
    assert_eq!(r.status, 201, "{}", r.body);
    let key = request(
        server.addr,
        "POST",
        "/v1/clients",
        Some(&admin),
        Some(r#"{"name":"door","grants":[{"purpose":"door","operations":["enroll","verify"]}]}"#),
    )
    .expect("client")
    .json()["api_key"]
        .as_str()
        .expect("key")
        .to_owned();
    const SUBJECTS: usize = 40;
    for n in 0..SUBJECTS {
        request(
            server.addr,
            "PUT",
            &format!("/v1/subjects/s{n}/consents/door"),
            Some(&key),
            Some(r#"{"notice_version":"v1","method":"web"}"#),
        )
        .expect("consent");
        let e = request(
            server.addr,
            "PUT",
            &format!("/v1/subjects/s{n}/templates/door"),
            Some(&key),
            Some(&format!(r#"{{"embedding":{}}}"#, embedding(n))),
        )
        .expect("enrol");
        assert_eq!(e.status, 201, "{}", e.body);
    }
    // A backup of the database as it is before the rotation.
    let backup = cwd.path().join("backup");
    std::fs::create_dir_all(&backup).expect("backup dir");
    for f in ["bioguard.db", "bioguard.db-wal", "bioguard.db-shm"] {
        if data.join(f).exists() {
            std::fs::copy(data.join(f), backup.join(f)).expect("copy");
        }
    }

    // A bounded loop of verifications from two threads while the rotation runs.
    let stop = Arc::new(AtomicBool::new(false));
    let (done, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let load: Vec<_> = (0..2)
        .map(|t| {
            let (stop, done, failed, key, addr) = (
                stop.clone(),
                done.clone(),
                failed.clone(),
                key.clone(),
                server.addr,
            );
            std::thread::spawn(move || {
                let mut n = t;
                while !stop.load(Ordering::Relaxed) {
                    let s = n % SUBJECTS;
                    let body = format!(
                        r#"{{"subject":"s{s}","purpose":"door","embedding":{}}}"#,
                        embedding(s)
                    );
                    let ok = request(addr, "POST", "/v1/verify", Some(&key), Some(&body))
                        .is_ok_and(|r| r.status == 200 && r.json()["match"] == true);
                    if !ok {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                    n += 2;
                }
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (ok, out) = run(cwd.path(), &["keys", "rotate"]);
    assert!(ok, "{out}");
    let report: serde_json::Value = serde_json::from_str(
        out.lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .expect("report"),
    )
    .expect("json");
    // 40 data keys, one protection key and the service secrets.
    assert!(
        report["rewrapped"].as_u64() >= Some(SUBJECTS as u64 + 1),
        "{out}"
    );
    assert_eq!(report["left"], 0, "{out}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.join().expect("load thread");
    }
    let (done, failed) = (done.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert!(done > 20, "too little load to mean anything: {done}");
    assert_eq!(
        failed, 0,
        "{failed} of {done} verifications failed during the rotation"
    );

    // Everything is under version 2; version 1 can go.
    let (ok, out) = run(cwd.path(), &["keys", "status"]);
    assert!(ok, "{out}");
    let status: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    let keks: Vec<&str> = status["wrapped_keys"]
        .as_array()
        .expect("array")
        .iter()
        .map(|k| k["kek"].as_str().expect("kek"))
        .collect();
    assert!(keks.len() == 1 && keks[0].starts_with("local:v2:"), "{out}");
    let (ok, out) = run(cwd.path(), &["keys", "destroy-version", "1"]);
    assert!(ok, "{out}");
    let (ok, out) = run(cwd.path(), &["keys", "destroy-version", "2"]);
    assert!(!ok && out.contains("current"), "{out}");

    // The live service still verifies; the old database copy no longer opens with the keys.
    let v = request(
        server.addr,
        "POST",
        "/v1/verify",
        Some(&key),
        Some(&format!(
            r#"{{"subject":"s3","purpose":"door","embedding":{}}}"#,
            embedding(3)
        )),
    )
    .expect("verify");
    assert_eq!(v.json()["match"], true, "{}", v.body);
    let key_file = data.join("master.key");
    let out = Command::new(binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&backup)
        .arg("--key-file")
        .arg(&key_file)
        .current_dir(cwd.path())
        .output()
        .expect("serve on the backup");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the old database still opened: {text}"
    );
    assert!(text.contains("local:v1"), "{text}");
}
