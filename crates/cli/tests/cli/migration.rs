//! Databases written before tenants migrate in place: nothing is lost, everything lands in
//! the default tenant, the existing client keeps its key and the subject rights it had, and
//! the ledger (old leaves with pseudonyms, new ones with tags) still verifies.
//!
//! The fixtures were written by the release before tenants (schema version 15) with
//! `tests/fixtures/make-pre-tenants.py`; see that script to make them again.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::http::{request, request_with};
use crate::server::{Server, binary};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pre-tenants")
}

fn scenario(kind: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join("scenario.json")).expect("scenario");
    serde_json::from_str::<Value>(&text).expect("json")[kind].clone()
}

/// Copies a fixture file, private as the service wants its key and token files.
fn copy_private(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::copy(from, to).expect("copy a fixture");
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let body = body.map(|b| b.to_string());
    let r = request(addr, method, path, Some(token), body.as_deref()).expect("request");
    (r.status, r.json())
}

async fn count(pool: &sqlx::AnyPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.expect(sql)
}

/// What the migrated database must hold, read directly.
async fn check_rows(url: &str) {
    let pool = bioguard_store::SqlStore::raw_pool(url).await.expect("pool");
    for (sql, want) in [
        ("SELECT COUNT(*) FROM purposes", 2),
        (
            "SELECT COUNT(*) FROM clients WHERE tenant_id = 'default'",
            1,
        ),
        (
            "SELECT COUNT(*) FROM clients WHERE rights = 'read,erase,lock,portal'",
            1,
        ),
        ("SELECT COUNT(*) FROM subjects", 3),
        ("SELECT COUNT(*) FROM subjects WHERE ledger_salt IS NULL", 0),
        ("SELECT COUNT(*) FROM consents", 4),
        ("SELECT COUNT(*) FROM templates", 4),
        ("SELECT COUNT(*) FROM data_keys", 4),
        ("SELECT COUNT(*) FROM subject_locks WHERE by_subject = 0", 1),
        ("SELECT COUNT(*) FROM claims", 1),
        ("SELECT COUNT(*) FROM tenants", 1),
        ("SELECT COUNT(*) FROM bioguard_migrations", 22),
        // Approvals from before passkeys are Ed25519 signatures; no counter is known yet.
        (
            "SELECT COUNT(*) FROM approvals WHERE assertion IS NOT NULL",
            0,
        ),
        ("SELECT COUNT(*) FROM passkey_counters", 0),
        // Subjects from before webhooks have no kept identifier; nothing is owed yet.
        (
            "SELECT COUNT(*) FROM subjects WHERE sealed_ref IS NOT NULL",
            0,
        ),
        ("SELECT COUNT(*) FROM webhook_messages", 0),
        // Purposes from before retirement existed are live.
        (
            "SELECT COUNT(*) FROM purposes WHERE retired_at IS NOT NULL",
            0,
        ),
        // Keys made before matchers were recorded keep the Gaussian transform without a
        // centre, so the templates made under them keep matching (check_service verifies).
        (
            "SELECT COUNT(*) FROM protection_keys \
             WHERE transform = 'gaussian-sign' AND centre IS NULL",
            2,
        ),
    ] {
        assert_eq!(count(&pool, sql).await, want, "{sql}");
    }
    // The leaves written before the ledger's counters are counted, and their decisions are
    // indexed (the old claim's decision is found by key: see check_service).
    assert_eq!(
        count(
            &pool,
            "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM audit_counts WHERE decision = ''"
        )
        .await,
        count(&pool, "SELECT size FROM audit_head").await
    );
    assert!(count(&pool, "SELECT COUNT(*) FROM audit_decisions").await > 0);
    assert_eq!(
        count(
            &pool,
            "SELECT COUNT(*) FROM audit_decisions d JOIN claims c ON c.decision_id = d.decision_id"
        )
        .await,
        1
    );
    // Salts are random and one per subject.
    assert_eq!(
        count(&pool, "SELECT COUNT(DISTINCT ledger_salt) FROM subjects").await,
        3
    );
    pool.close().await;
}

/// Drives the migrated service: the old client, the old people, the old ledger.
fn check_service(server: &Server, data_dir: &Path, facts: &Value) {
    let addr = server.addr;
    let admin = std::fs::read_to_string(data_dir.join("admin.token")).expect("admin token");
    let admin = admin.trim();
    let key = facts["api_key"].as_str().expect("key");
    let face = |who: &str| facts["faces"][who].clone();

    // Everything is in the default tenant.
    let (s, tenants) = call(addr, "GET", "/v1/tenants", admin, None);
    assert_eq!(s, 200, "{tenants}");
    assert_eq!(tenants.as_array().map(Vec::len), Some(1));
    assert_eq!(tenants[0]["id"], "default");
    let (_, purposes) = call(addr, "GET", "/v1/purposes", key, None);
    let listed: Vec<(&str, &str)> = purposes
        .as_array()
        .expect("purposes")
        .iter()
        .map(|p| {
            (
                p["id"].as_str().expect("id"),
                p["tenant"].as_str().expect("tenant"),
            )
        })
        .collect();
    assert_eq!(listed, [("door", "default"), ("pay", "default")]);

    // The old key works, the old templates match, the old lock holds.
    let verify = |who: &str, purpose: &str| {
        call(
            addr,
            "POST",
            "/v1/verify",
            key,
            Some(json!({"subject": who, "purpose": purpose, "embedding": face(who)})),
        )
    };
    for (who, purpose) in [("alice", "door"), ("alice", "pay"), ("bob", "door")] {
        let (s, d) = verify(who, purpose);
        assert_eq!(
            (s, &d["match"]),
            (200, &json!(true)),
            "{who} {purpose}: {d}"
        );
    }
    let (s, d) = verify("carol", "door");
    assert_eq!(s, 423, "carol locked herself out before the upgrade: {d}");
    let (s, found) = call(
        addr,
        "POST",
        "/v1/identify",
        key,
        Some(json!({"purpose": "door", "gallery": "lobby", "embedding": face("bob")})),
    );
    assert_eq!(s, 200, "{found}");
    assert_eq!(found["candidates"][0]["subject"], "bob");

    // The client keeps the subject rights it effectively had.
    let (s, held) = call(addr, "GET", "/v1/subjects/alice", key, None);
    assert_eq!(s, 200, "{held}");
    assert_eq!(held["templates"].as_array().map(Vec::len), Some(2));
    let (s, report) = call(addr, "GET", "/v1/subjects/alice/report", key, None);
    assert_eq!(s, 200, "{report}");
    let ops: Vec<&str> = report["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|e| e["operation"].as_str().expect("op"))
        .collect();
    for op in ["consent.grant", "enrol", "verify", "subject.read"] {
        assert!(ops.contains(&op), "{op} in {ops:?}");
    }
    // Her history, old leaves (which name her pseudonym) and new ones (tags), is all proved
    // in her portal.
    let (s, link) = call(
        addr,
        "POST",
        "/v1/subjects/alice/portal-links",
        key,
        Some(json!({})),
    );
    assert_eq!(s, 201, "{link}");
    let opened =
        request(addr, "GET", link["url"].as_str().expect("url"), None, None).expect("open");
    let cookie = opened
        .header("set-cookie")
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let page =
        request_with(addr, "GET", "/portal", &[("Cookie", cookie.as_str())], None).expect("portal");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("proved in the signed log"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("not proved"), "{}", page.body);

    // The old claim is there, and still one per decision.
    let (s, again) = call(
        addr,
        "POST",
        "/v1/claims",
        key,
        Some(
            json!({"decision_id": facts["decision_id"], "currency": "EUR", "amount": 1,
                    "reason": "again"}),
        ),
    );
    assert_eq!(s, 409, "{again}");

    // The whole ledger, written before and after, verifies offline.
    let out = std::process::Command::new(binary())
        .args(["audit", "verify", "--server", &format!("http://{addr}")])
        .output()
        .expect("audit verify");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_sqlite_database_from_before_tenants_migrates_in_place() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let data = cwd.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    for f in ["bioguard.db", "master.key", "admin.token"] {
        copy_private(&fixtures().join("sqlite").join(f), &data.join(f));
    }
    let server = Server::start(cwd.path(), &["--data-dir", data.to_str().expect("utf-8")]);
    check_service(&server, &data, &scenario("sqlite"));
    server.terminate();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(check_rows(&format!(
        "sqlite://{}",
        data.join("bioguard.db").display()
    )));
}

#[test]
fn a_postgresql_database_from_before_tenants_migrates_in_place() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let Some(db) = rt.block_on(bioguard_store::testing::TestDb::postgres("migration")) else {
        return;
    };
    // The dump names the public schema; load it into this test's own schema instead.
    let dump = std::fs::read_to_string(fixtures().join("postgres.sql")).expect("dump");
    let dump: String = dump
        .lines()
        .filter(|l| !l.contains("pg_catalog.set_config('search_path'"))
        .map(|l| l.replace("public.", ""))
        .collect::<Vec<_>>()
        .join("\n");
    rt.block_on(async {
        let pool = bioguard_store::SqlStore::raw_pool(db.url())
            .await
            .expect("pool");
        sqlx::raw_sql(sqlx::AssertSqlSafe(dump))
            .execute(&pool)
            .await
            .expect("load the dump");
        pool.close().await;
    });
    let cwd = tempfile::tempdir().expect("tempdir");
    let data = cwd.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    copy_private(
        &fixtures().join("postgres-master.key"),
        &data.join("master.key"),
    );
    copy_private(
        &fixtures().join("postgres-admin.token"),
        &data.join("admin.token"),
    );
    let server = Server::start(
        cwd.path(),
        &[
            "--data-dir",
            data.to_str().expect("utf-8"),
            "--database-url",
            db.url(),
        ],
    );
    check_service(&server, &data, &scenario("postgres"));
    server.terminate();
    rt.block_on(check_rows(db.url()));
    rt.block_on(db.cleanup());
}
