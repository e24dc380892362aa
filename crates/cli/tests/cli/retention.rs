//! `bioguard retention sweep` on a service's data directory.

use std::process::Command;

use crate::http::request;
use crate::server::{Server, admin_token, binary};

#[test]
fn the_sweep_command_deletes_expired_templates_and_reports_them() {
    let cwd = tempfile::tempdir().expect("tempdir");
    // No sweeper in the server, so that only the command deletes.
    let server = Server::start(cwd.path(), &["--retention-sweep-secs", "0"]);
    let admin = admin_token(&cwd.path().join("bioguard-data"));
    let r = request(server.addr, "POST", "/v1/purposes", Some(&admin), Some(
        r#"{"id":"door","description":"Door","operations":["enroll","verify"],"dimension":4,"retention":{"max_days_since_enrolment":30}}"#)).expect("purpose");
    assert_eq!(r.status, 201);
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
    for s in ["old", "new"] {
        request(
            server.addr,
            "PUT",
            &format!("/v1/subjects/{s}/consents/door"),
            Some(&key),
            Some(r#"{"notice_version":"v1","method":"web"}"#),
        )
        .expect("consent");
        let e = request(
            server.addr,
            "PUT",
            &format!("/v1/subjects/{s}/templates/door"),
            Some(&key),
            Some(r#"{"embedding":[0.1,0.2,0.3,0.4]}"#),
        )
        .expect("enrol");
        assert_eq!(e.status, 201, "{}", e.body);
    }
    let url = format!(
        "sqlite://{}/bioguard-data/bioguard.db",
        cwd.path().display()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    // Age one template past its 30 days, as if it had been enrolled 31 days ago.
    let count = |sql: &'static str| {
        rt.block_on(async {
            let pool = bioguard_store::SqlStore::raw_pool(&url)
                .await
                .expect("pool");
            let n: i64 = sqlx::query_scalar(sql)
                .fetch_one(&pool)
                .await
                .expect("query");
            pool.close().await;
            n
        })
    };
    rt.block_on(async {
        let pool = bioguard_store::SqlStore::raw_pool(&url)
            .await
            .expect("pool");
        sqlx::query(
            "UPDATE templates SET enrolled_at = enrolled_at - 31 * 86400 \
             WHERE id = (SELECT MIN(id) FROM templates)",
        )
        .execute(&pool)
        .await
        .expect("age a template");
        pool.close().await;
    });
    let out = Command::new(binary())
        .args(["retention", "sweep"])
        .current_dir(cwd.path())
        .env_remove("BIOGUARD_DATABASE_URL")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("a report line")).expect("JSON report");
    assert_eq!(report["expired"], 1, "{stdout}");
    assert_eq!(report["deleted"], 1, "{stdout}");
    assert_eq!(
        report["by_reason"]["max_age_since_enrolment"], 1,
        "{stdout}"
    );
    assert!(stderr.contains("1/1 expired templates handled"), "{stderr}");
    assert_eq!(count("SELECT COUNT(*) FROM templates"), 1);
    assert_eq!(count("SELECT COUNT(*) FROM data_keys"), 1);
    assert_eq!(
        count("SELECT COUNT(*) FROM audit_leaves WHERE leaf LIKE '%retention.delete%'"),
        1
    );
    // A second sweep finds nothing more.
    let again = Command::new(binary())
        .args(["retention", "sweep"])
        .current_dir(cwd.path())
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&again.stdout).contains("\"deleted\":0"));
    drop(server);
}
