//! `bioguard audit verify` on an exported log: intact, then tampered in each way.

use std::path::Path;
use std::process::Command;

use bioguard_ledger::{Checkpoint, HashSource, Leaf, LogKey, MemoryTree, leaf_hash, root};

use crate::server::binary;

const ORIGIN: &str = "bioguard.example/audit";

fn leaves(n: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut prev = [0u8; 32];
    for i in 0..n {
        let bytes = Leaf {
            index: i,
            prev,
            time: 1_800_000_000 + i as i64,
            op: ["consent.grant", "enrol", "verify"][(i % 3) as usize].into(),
            actor: "client:cl_0123".into(),
            subject: Some(format!("{:064x}", i % 5)),
            purpose: Some("payment".into()),
            decision: Some("ok".into()),
            request: Some(format!("{i:016x}")),
            detail: vec![],
        }
        .encode();
        prev = leaf_hash(&bytes);
        out.push(bytes);
    }
    out
}

fn export(dir: &Path, key: &LogKey, leaves: &[Vec<u8>], signed: &[Vec<u8>], sizes: &[u64]) {
    let mut t = MemoryTree::new();
    for l in signed {
        t.push(leaf_hash(l));
    }
    std::fs::create_dir_all(dir.join("checkpoints")).expect("mkdir");
    for s in sizes {
        let note = key.sign(&Checkpoint {
            origin: ORIGIN.into(),
            size: *s,
            root: root(&t, *s),
        });
        std::fs::write(dir.join("checkpoints").join(format!("{s:08}.note")), note).expect("write");
    }
    let text: Vec<String> = leaves
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    std::fs::write(dir.join("leaves.jsonl"), text.join("\n") + "\n").expect("write");
    assert!(t.size() >= *sizes.iter().max().unwrap_or(&0));
}

fn verify(dir: &Path, key: &LogKey) -> (bool, String) {
    let out = Command::new(binary())
        .args(["audit", "verify", "--leaves"])
        .arg(dir.join("leaves.jsonl"))
        .arg("--checkpoints")
        .arg(dir.join("checkpoints"))
        .args(["--key", &key.verifier().to_string(), "--origin", ORIGIN])
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

#[test]
fn audit_verify_accepts_an_intact_log_and_names_the_first_bad_leaf() {
    let key = LogKey::from_seed(ORIGIN, &[5; 32]).expect("key");
    let good = leaves(60);
    let sizes = [10, 30, 45, 60];
    let cases: Vec<(&str, Vec<Vec<u8>>, u64)> = vec![
        (
            "altered",
            {
                let mut l = good.clone();
                l[33] = String::from_utf8_lossy(&l[33])
                    .replace("\"decision\":\"ok\"", "\"decision\":\"no\"")
                    .into_bytes();
                l
            },
            33,
        ),
        (
            "deleted",
            {
                let mut l = good.clone();
                l.remove(21);
                l
            },
            21,
        ),
        (
            "reordered",
            {
                let mut l = good.clone();
                l.swap(40, 41);
                l
            },
            40,
        ),
        (
            "inserted",
            {
                let mut l = good.clone();
                let intruder = Leaf {
                    index: 50,
                    prev: leaf_hash(&good[49]),
                    time: 0,
                    op: "verify".into(),
                    actor: "admin".into(),
                    subject: None,
                    purpose: None,
                    decision: Some("match".into()),
                    request: None,
                    detail: vec![],
                };
                l.insert(50, intruder.encode());
                l
            },
            50,
        ),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    export(dir.path(), &key, &good, &good, &sizes);
    let (ok, out) = verify(dir.path(), &key);
    assert!(ok, "{out}");
    assert!(
        out.contains("60 leaves, 4 of 4 checkpoints confirmed"),
        "{out}"
    );
    for (name, tampered, first) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        export(dir.path(), &key, &tampered, &good, &sizes);
        let (ok, out) = verify(dir.path(), &key);
        assert!(!ok, "{name}: {out}");
        assert!(
            out.contains(&format!("the first leaf that does not fit is {first}")),
            "{name}: {out}"
        );
    }
    // A forked checkpoint: the log key signed another tree of size 30.
    let dir = tempfile::tempdir().expect("tempdir");
    export(dir.path(), &key, &good, &good, &sizes);
    let mut fork = good.clone();
    fork[12] = b"rewritten".to_vec();
    let mut t = MemoryTree::new();
    for l in &fork {
        t.push(leaf_hash(l));
    }
    let note = key.sign(&Checkpoint {
        origin: ORIGIN.into(),
        size: 30,
        root: root(&t, 30),
    });
    std::fs::write(dir.path().join("checkpoints/fork.note"), note).expect("write");
    let (ok, out) = verify(dir.path(), &key);
    assert!(!ok && out.contains("forked"), "{out}");
}

#[test]
fn export_from_a_running_service_then_verify_and_catch_an_operator_rewrite() {
    use crate::http::request;
    use crate::server::{Server, admin_token};
    let cwd = tempfile::tempdir().expect("tempdir");
    let server = Server::start(cwd.path(), &[]);
    let admin = admin_token(&cwd.path().join("bioguard-data"));
    let r = request(server.addr, "POST", "/v1/purposes", Some(&admin), Some(
        r#"{"id":"payment","description":"Pay","operations":["enroll","verify"],"dimension":4,"retention":{"max_days_since_enrolment":30}}"#)).expect("purpose");
    assert_eq!(r.status, 201);
    let key = request(
        server.addr,
        "POST",
        "/v1/clients",
        Some(&admin),
        Some(
            r#"{"name":"till","grants":[{"purpose":"payment","operations":["enroll","verify"]}]}"#,
        ),
    )
    .expect("client")
    .json()["api_key"]
        .as_str()
        .expect("key")
        .to_owned();
    for s in ["alice", "bob"] {
        request(
            server.addr,
            "PUT",
            &format!("/v1/subjects/{s}/consents/payment"),
            Some(&key),
            Some(r#"{"notice_version":"v1","method":"web"}"#),
        )
        .expect("consent");
        request(
            server.addr,
            "PUT",
            &format!("/v1/subjects/{s}/templates/payment"),
            Some(&key),
            Some(r#"{"embedding":[0.1,0.2,0.3,0.4]}"#),
        )
        .expect("enrol");
    }
    let log = cwd.path().join("audit");
    let url = format!("http://{}", server.addr);
    let run = |args: &[&str]| {
        let out = Command::new(binary()).args(args).output().expect("run");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let log_s = log.to_str().expect("utf-8");
    let (ok, out) = run(&["audit", "export", "--server", &url, "--out", log_s]);
    assert!(ok, "{out}");
    assert!(out.contains("exported 7 leaves"), "{out}");
    let (ok, out) = run(&["audit", "verify", "--log", log_s]);
    assert!(ok && out.contains("the log verifies"), "{out}");
    // In one step, pinning the key the auditor holds; a different pinned key is refused.
    let vkey = std::fs::read_to_string(log.join("key")).expect("key");
    let (ok, out) = run(&["audit", "verify", "--server", &url, "--key", vkey.trim()]);
    assert!(
        ok && out.contains("7 leaves") && out.contains("the log verifies"),
        "{out}"
    );
    let other = bioguard_ledger::LogKey::from_seed(vkey.split('+').next().expect("name"), &[9; 32])
        .expect("key")
        .verifier()
        .to_string();
    let (ok, out) = run(&["audit", "verify", "--server", &url, "--key", &other]);
    assert!(
        !ok && out.contains("publishes a different log key"),
        "{out}"
    );

    // The operator rewrites leaf 4 (alice's enrolment) in the database; the service signs the
    // rewritten tree. The auditor's earlier checkpoint and the chain expose it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let url = format!(
            "sqlite://{}/bioguard-data/bioguard.db",
            cwd.path().display()
        );
        let pool = bioguard_store::SqlStore::raw_pool(&url)
            .await
            .expect("pool");
        let leaf: Vec<u8> = sqlx::query_scalar("SELECT leaf FROM audit_leaves WHERE idx = 4")
            .fetch_one(&pool)
            .await
            .expect("leaf");
        let forged = String::from_utf8(leaf)
            .expect("utf-8")
            .replace("\"enrolled\"", "\"refused\"");
        assert!(forged.contains("refused"));
        sqlx::query("UPDATE audit_leaves SET leaf = $1, hash = $2 WHERE idx = 4")
            .bind(forged.as_bytes().to_vec())
            .bind(bioguard_ledger::leaf_hash(forged.as_bytes()).to_vec())
            .execute(&pool)
            .await
            .expect("tamper");
        pool.close().await;
    });
    // A fresh node state: restart so the service rebuilds its tree from the rewritten rows.
    assert!(server.terminate().success());
    let server = Server::start(cwd.path(), &[]);
    let url = format!("http://{}", server.addr);
    let (ok, out) = run(&["audit", "export", "--server", &url, "--out", log_s]);
    assert!(ok, "{out}");
    let (ok, out) = run(&["audit", "verify", "--log", log_s]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("the first leaf that does not fit is 4"),
        "{out}"
    );
    assert!(out.contains("forked"), "{out}");
    // Fetching and verifying in one step into the same folder finds the same.
    let (ok, out) = run(&["audit", "verify", "--server", &url, "--log", log_s]);
    assert!(
        !ok && out.contains("the first leaf that does not fit is 4"),
        "{out}"
    );
}

#[test]
fn serve_signs_and_keeps_checkpoints_periodically() {
    use crate::http::request;
    use crate::server::{Server, admin_token};
    let cwd = tempfile::tempdir().expect("tempdir");
    let server = Server::start(cwd.path(), &["--checkpoint-interval-secs", "1"]);
    let admin = admin_token(&cwd.path().join("bioguard-data"));
    let key = request(server.addr, "GET", "/v1/audit/key", None, None)
        .expect("key")
        .json();
    let vkey = bioguard_ledger::VerifierKey::parse(key["verifier_key"].as_str().expect("key"))
        .expect("valid");
    let mut sizes = Vec::new();
    for round in 0..2 {
        let body = format!(
            r#"{{"id":"p{round}","description":"x","operations":["verify"],"dimension":4,"retention":{{"max_days_since_enrolment":1}}}}"#
        );
        assert_eq!(
            request(
                server.addr,
                "POST",
                "/v1/purposes",
                Some(&admin),
                Some(&body)
            )
            .expect("purpose")
            .status,
            201
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let list = request(server.addr, "GET", "/v1/audit/checkpoints", None, None)
                .expect("list")
                .json();
            let kept: Vec<u64> = list["checkpoints"]
                .as_array()
                .expect("array")
                .iter()
                .map(|c| {
                    vkey.open(c["note"].as_str().expect("note"))
                        .expect("signed")
                        .size
                })
                .collect();
            if kept.last() == Some(&(2 + round)) {
                sizes = kept;
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint of the grown log: {kept:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
    // After purpose p0 and after p1, with no request for them (a checkpoint of size 1, for
    // the admin token's leaf, is there too when the first tick came before p0).
    assert!(sizes.ends_with(&[2, 3]), "{sizes:?}");
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");
    assert!(server.terminate().success());
}
