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
