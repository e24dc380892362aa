//! What is on disk: no plaintext embedding anywhere in the stored data, and ciphertexts
//! bound to their row, subject and purpose.

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::http::StatusCode;
use sqlx::Row;

use crate::harness::{Harness, near, synthetic};

crate::on_both_backends!(
    stored_data_holds_no_plaintext_embedding,
    moved_ciphertext_is_an_integrity_error_not_a_decision,
);

/// The byte and text forms an embedding value could take if it leaked into storage.
struct Needles {
    bytes: Vec<Vec<u8>>,
    texts: Vec<String>,
}

fn needles(embeddings: &[Vec<f32>]) -> Needles {
    let mut bytes = Vec::new();
    let mut texts = Vec::new();
    for e in embeddings {
        // Two consecutive values as f32 and f64, little- and big-endian: 8 or 16 bytes, far
        // too long to occur in ciphertext by chance.
        for pair in e.windows(2) {
            let mut le = Vec::new();
            let mut be = Vec::new();
            let mut le64 = Vec::new();
            for v in pair {
                le.extend_from_slice(&v.to_le_bytes());
                be.extend_from_slice(&v.to_be_bytes());
                le64.extend_from_slice(&f64::from(*v).to_le_bytes());
            }
            bytes.extend([le, be, le64]);
        }
        // Decimal text with at least six significant digits, as JSON or SQL would print it.
        for v in e {
            for t in [
                format!("{v}"),
                format!("{v:.6}"),
                format!("{}", f64::from(*v)),
            ] {
                let digits = t.trim_start_matches(['-', '0', '.']).len();
                if digits >= 6 {
                    texts.push(t);
                }
            }
        }
    }
    Needles { bytes, texts }
}

fn find(haystack: &[u8], needles: &Needles) -> Option<String> {
    // Index every window of the needle lengths once, then look the needles up: a linear scan
    // per needle is far too slow over a database file in a debug build.
    let lengths: std::collections::BTreeSet<usize> = needles.bytes.iter().map(Vec::len).collect();
    let windows: std::collections::HashSet<&[u8]> =
        lengths.iter().flat_map(|n| haystack.windows(*n)).collect();
    if let Some(n) = needles
        .bytes
        .iter()
        .find(|n| windows.contains(n.as_slice()))
    {
        return Some(format!("binary {}", bioguard_crypto::hex_encode(n)));
    }
    let text = String::from_utf8_lossy(haystack);
    needles
        .texts
        .iter()
        .find(|t| text.contains(t.as_str()))
        .map(|t| format!("text {t}"))
}

/// Every byte the database holds: for SQLite the database file, its WAL and shared-memory
/// files; for PostgreSQL a `pg_dump` of the test schema with `bytea` hex decoded.
async fn stored_bytes(h: &Harness) -> Vec<u8> {
    if let Some(dir) = h.db.sqlite_dir() {
        let mut all = Vec::new();
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            all.extend(std::fs::read(&path).expect("read"));
        }
        assert!(all.len() > 4096, "the SQLite files were found");
        return all;
    }
    let (url, schema) = h.db.postgres_schema().expect("a postgres test db");
    let out = std::process::Command::new("pg_dump")
        .args([
            "--dbname",
            url,
            "--schema",
            schema,
            "--no-owner",
            "--inserts",
        ])
        .output()
        .expect("pg_dump must be installed to check the PostgreSQL dump");
    assert!(
        out.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut all = out.stdout.clone();
    // bytea columns are dumped as '\x<hex>': decode them so binary needles can be found.
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    for part in text.split("'\\x").skip(1) {
        let hex: String = part.chars().take_while(char::is_ascii_hexdigit).collect();
        if let Some(b) = bioguard_crypto::hex_decode(&hex) {
            all.extend(b);
        }
    }
    all
}

async fn stored_data_holds_no_plaintext_embedding(h: &Harness) {
    h.purpose("payment", 64).await;
    h.purpose("door", 64).await;
    let key = h
        .client(&[("payment", &["enroll", "verify"]), ("door", &["enroll"])])
        .await;
    let mut enrolled = Vec::new();
    for n in 0..6u64 {
        let subject = format!("person-{n}");
        let purpose = if n % 2 == 0 { "payment" } else { "door" };
        let e = synthetic(1000 + n, 64);
        h.consent(&key, &subject, purpose).await;
        assert_eq!(
            h.enroll(&key, &subject, purpose, &e).await.status,
            StatusCode::CREATED
        );
        enrolled.push(e);
    }
    // Replace one and verify another, so every write path has run.
    let e = synthetic(2000, 64);
    h.enroll(&key, "person-0", "payment", &e).await;
    enrolled.push(e);
    h.verify(&key, "person-2", "payment", &near(&enrolled[2], 3))
        .await;

    let n = needles(&enrolled);
    assert!(n.texts.len() > 100, "enough decimal needles");

    // The scanner finds a leak when there is one: the same needles over the embeddings'
    // plain encodings.
    let mut control = Vec::new();
    for e in &enrolled {
        control.extend(e.iter().flat_map(|v| v.to_le_bytes()));
    }
    assert!(
        find(&control, &n).is_some(),
        "the scanner must find raw f32 bytes"
    );
    let control_text = serde_json::to_string(&enrolled).expect("json");
    assert!(
        find(control_text.as_bytes(), &n).is_some(),
        "the scanner must find JSON text"
    );
    // And it finds them inside the database when they are written there.
    sqlx::query("INSERT INTO purposes (id, description, operations, dimension, threshold, \
                 retention_days_since_enrolment, created_at) VALUES ('leak', $1, 'verify', 2, 0.5, 1, 0)")
        .bind(control_text.clone())
        .execute(h.store.pool())
        .await
        .expect("insert control");
    assert!(
        find(&stored_bytes(h).await, &n).is_some(),
        "a planted leak is detected"
    );
    sqlx::query("DELETE FROM purposes WHERE id = 'leak'")
        .execute(h.store.pool())
        .await
        .expect("delete control");

    if h.db.sqlite_dir().is_some() {
        // The planted row lives on in the WAL until a checkpoint; secure_delete then
        // overwrites it in the main file.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(h.store.pool())
            .await
            .expect("checkpoint");
    }
    let stored = stored_bytes(h).await;
    assert_eq!(
        find(&stored, &n),
        None,
        "a plaintext embedding value was found in storage"
    );
}

/// The pseudonyms in the templates table that are not in `known`.
async fn new_pseudonym(h: &Harness, known: &[String]) -> String {
    let rows = sqlx::query("SELECT DISTINCT subject FROM templates")
        .fetch_all(h.store.pool())
        .await
        .expect("select");
    let fresh: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String, _>("subject").expect("subject"))
        .filter(|s| !known.contains(s))
        .collect();
    assert_eq!(fresh.len(), 1);
    fresh[0].clone()
}

/// Runs one `UPDATE` that copies `columns` of `table` from the row of (`from`, `from_purpose`)
/// onto the row of (`to`, `to_purpose`).
async fn copy_columns(
    h: &Harness,
    table: &str,
    columns: &[&str],
    (from, from_purpose): (&str, &str),
    (to, to_purpose): (&str, &str),
) {
    for c in columns {
        let sql = format!(
            "UPDATE {table} SET {c} = (SELECT {c} FROM {table} WHERE subject = $1 AND \
             purpose_id = $2) WHERE subject = $3 AND purpose_id = $4"
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(from)
            .bind(from_purpose)
            .bind(to)
            .bind(to_purpose)
            .execute(h.store.pool())
            .await
            .expect("tamper");
        assert_eq!(r.rows_affected(), 1);
    }
}

/// Verifies and expects an integrity error: a 500 with code `integrity_failure` and no
/// decision, and no change to stored data (the failed use is not recorded as a use).
async fn expect_integrity_failure(h: &Harness, key: &str, who: &str, purpose: &str, e: &[f32]) {
    let before = h.snapshot().await;
    let r = h.verify(key, who, purpose, e).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.raw);
    assert_eq!(r.code(), "integrity_failure", "{}", r.raw);
    assert!(
        r.json.get("match").is_none(),
        "no decision on a tampered row: {}",
        r.raw
    );
    assert_eq!(before, h.snapshot().await);
}

async fn moved_ciphertext_is_an_integrity_error_not_a_decision(h: &Harness) {
    h.purpose("payment", 8).await;
    h.purpose("door", 8).await;
    let key = h
        .client(&[
            ("payment", &["enroll", "verify"]),
            ("door", &["enroll", "verify"]),
        ])
        .await;
    let alice = synthetic(1, 8);
    let bob = synthetic(2, 8);
    let mut pseudonyms: Vec<String> = Vec::new();
    for (who, e) in [("alice", &alice), ("bob", &bob)] {
        h.consent(&key, who, "payment").await;
        assert_eq!(
            h.enroll(&key, who, "payment", e).await.status,
            StatusCode::CREATED
        );
        pseudonyms.push(new_pseudonym(h, &pseudonyms).await);
        h.consent(&key, who, "door").await;
        assert_eq!(
            h.enroll(&key, who, "door", e).await.status,
            StatusCode::CREATED
        );
    }
    let (a, b) = (pseudonyms[0].as_str(), pseudonyms[1].as_str());
    for (who, e) in [("alice", &alice), ("bob", &bob)] {
        for p in ["payment", "door"] {
            assert_eq!(h.verify(&key, who, p, e).await.json["match"], true);
        }
    }

    // 1. Alice's payment ciphertext onto Bob's payment row: Bob's data key cannot open it,
    // and the associated data names Alice's template id. Neither probe gets a decision.
    copy_columns(h, "templates", &["sealed"], (a, "payment"), (b, "payment")).await;
    expect_integrity_failure(h, &key, "bob", "payment", &bob).await;
    expect_integrity_failure(h, &key, "bob", "payment", &alice).await;
    assert_eq!(
        h.verify(&key, "alice", "payment", &alice).await.json["match"],
        true
    );

    // 2. Alice's wrapped data key as well: the key unwraps only for Alice's pseudonym.
    copy_columns(
        h,
        "data_keys",
        &["kek", "wrapped"],
        (a, "payment"),
        (b, "payment"),
    )
    .await;
    expect_integrity_failure(h, &key, "bob", "payment", &alice).await;

    // 3. Alice's payment ciphertext onto her own door row: bound to the purpose.
    copy_columns(h, "templates", &["sealed"], (a, "payment"), (a, "door")).await;
    expect_integrity_failure(h, &key, "alice", "door", &alice).await;
    assert_eq!(
        h.verify(&key, "bob", "door", &bob).await.json["match"],
        true
    );
}

/// Real voice embeddings by speaker (five-clip phrases only), from `../shared/data` or
/// `BIOGUARD_SHARED_DATA`; `None` with a notice when absent.
pub fn voice_phrases() -> Option<BTreeMap<String, Vec<Vec<f32>>>> {
    voice_phrases_of_speakers_with(4)
}

/// The five-clip phrases of every speaker with at least `min` of them.
pub fn voice_phrases_of_speakers_with(min: usize) -> Option<BTreeMap<String, Vec<Vec<f32>>>> {
    let dir = std::env::var_os("BIOGUARD_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let path = dir.join("voice-embeddings-dev.jsonl");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!(
            "note: {} not found; skipping the real-data check",
            path.display()
        );
        return None;
    };
    let mut out: BTreeMap<String, Vec<Vec<f32>>> = BTreeMap::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("jsonl");
        if !v["sample"].as_str().unwrap_or("").starts_with("phrase/") {
            continue;
        }
        let e: Vec<f32> = serde_json::from_value(v["embedding"].clone()).expect("embedding");
        out.entry(v["subject"].as_str().expect("subject").to_owned())
            .or_default()
            .push(e);
    }
    out.retain(|_, v| v.len() >= min);
    Some(out)
}
