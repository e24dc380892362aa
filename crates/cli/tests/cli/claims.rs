//! A claim's evidence pack checks offline with `bioguard audit verify --evidence`.

use std::process::Command;

use crate::http::request;
use crate::server::{Server, admin_token, binary};

#[test]
fn a_claims_evidence_verifies_offline_and_a_doctored_one_does_not() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let dir = cwd.path();
    let server = Server::start(dir, &[]);
    let admin = admin_token(&dir.join("bioguard-data"));
    request(server.addr, "POST", "/v1/purposes", Some(&admin), Some(
        r#"{"id":"pay","description":"Pay","operations":["enroll","verify"],"dimension":4,"retention":{"max_days_since_enrolment":30}}"#)).expect("purpose");
    let key = request(
        server.addr,
        "POST",
        "/v1/clients",
        Some(&admin),
        Some(r#"{"name":"till","grants":[{"purpose":"pay","operations":["enroll","verify"]}]}"#),
    )
    .expect("client")
    .json()["api_key"]
        .as_str()
        .expect("key")
        .to_owned();
    request(
        server.addr,
        "PUT",
        "/v1/subjects/alice/consents/pay",
        Some(&key),
        Some(r#"{"notice_version":"v1","method":"web"}"#),
    )
    .expect("consent");
    request(
        server.addr,
        "PUT",
        "/v1/subjects/alice/templates/pay",
        Some(&key),
        Some(r#"{"embedding":[0.1,0.2,0.3,0.4]}"#),
    )
    .expect("enrol");
    let v = request(
        server.addr,
        "POST",
        "/v1/verify",
        Some(&key),
        Some(r#"{"subject":"alice","purpose":"pay","embedding":[0.1,0.2,0.3,0.4]}"#),
    )
    .expect("verify");
    let decision = v.json()["decision_id"]
        .as_str()
        .expect("decision")
        .to_owned();
    let c = request(
        server.addr,
        "POST",
        "/v1/claims",
        Some(&key),
        Some(&format!(
            r#"{{"decision_id":"{decision}","currency":"EUR","amount":2500,"reason":"not me"}}"#
        )),
    )
    .expect("claim");
    assert_eq!(c.status, 201, "{}", c.body);
    let id = c.json()["id"].as_str().expect("id").to_owned();
    let pack = request(
        server.addr,
        "GET",
        &format!("/v1/claims/{id}"),
        Some(&key),
        None,
    )
    .expect("evidence");
    std::fs::write(dir.join("claim.json"), &pack.body).expect("write");
    std::fs::write(
        dir.join("doctored.json"),
        pack.body.replace("\\\"match\\\"", "\\\"no_match\\\""),
    )
    .expect("write");
    let vkey = request(server.addr, "GET", "/v1/audit/key", None, None)
        .expect("key")
        .json()["verifier_key"]
        .as_str()
        .expect("vkey")
        .to_owned();
    drop(server);
    let run = |file: &str| {
        let out = Command::new(binary())
            .args(["audit", "verify", "--evidence", file, "--key", &vkey])
            .current_dir(dir)
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
    };
    let (ok, out) = run("claim.json");
    assert!(ok && out.contains("the evidence verifies"), "{out}");
    let doctored = std::fs::read_to_string(dir.join("doctored.json")).expect("read");
    assert_ne!(doctored, pack.body, "the doctoring changed the leaf");
    let (ok, out) = run("doctored.json");
    assert!(!ok && out.contains("does not verify"), "{out}");
}
