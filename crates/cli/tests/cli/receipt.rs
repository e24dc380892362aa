//! `bioguard receipt verify`: a person checks a kept receipt offline with the published keys.

use std::process::Command;

use crate::http::request;
use crate::server::{Server, admin_token, binary};

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(binary()).args(args).output().expect("run");
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
fn a_kept_receipt_verifies_offline_and_a_changed_one_does_not() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let server = Server::start(cwd.path(), &[]);
    let admin = admin_token(&cwd.path().join("bioguard-data"));
    let r = request(server.addr, "POST", "/v1/purposes", Some(&admin), Some(
        r#"{"id":"door","description":"Door","operations":["enroll","verify"],"dimension":4,"retention":{"max_days_since_enrolment":30}}"#)).expect("purpose");
    assert_eq!(r.status, 201);
    let key = request(
        server.addr,
        "POST",
        "/v1/clients",
        Some(&admin),
        Some(r#"{"name":"door","grants":[{"purpose":"door","operations":["enroll"]}]}"#),
    )
    .expect("client")
    .json()["api_key"]
        .as_str()
        .expect("key")
        .to_owned();
    let answer = request(
        server.addr,
        "PUT",
        "/v1/subjects/dana/consents/door",
        Some(&key),
        Some(r#"{"notice_version":"v1","method":"kiosk"}"#),
    )
    .expect("consent");
    assert_eq!(answer.status, 201, "{}", answer.body);
    let keys = request(server.addr, "GET", "/v1/keys", None, None).expect("keys");
    let dir = cwd.path();
    std::fs::write(dir.join("answer.json"), &answer.body).expect("write");
    std::fs::write(dir.join("keys.json"), &keys.body).expect("write");
    let token = answer.json()["receipt"]
        .as_str()
        .expect("receipt")
        .to_owned();
    std::fs::write(dir.join("receipt.jws"), &token).expect("write");
    let path = |n: &str| dir.join(n).to_str().expect("utf-8").to_owned();

    // The whole answer or the bare token, against the saved keys or the service's.
    for file in ["answer.json", "receipt.jws"] {
        let (ok, out) = run(&[
            "receipt",
            "verify",
            &path(file),
            "--jwks",
            &path("keys.json"),
        ]);
        assert!(ok, "{out}");
        assert!(
            out.contains("bioguard-consent-receipt+jwt verifies"),
            "{out}"
        );
        assert!(out.contains("\"type\": \"given\""), "{out}");
    }
    let url = format!("http://{}", server.addr);
    let (ok, out) = run(&["receipt", "verify", &path("receipt.jws"), "--server", &url]);
    assert!(ok, "{out}");
    // A receipt is not a deletion certificate, although one key signs both.
    let (ok, out) = run(&[
        "receipt",
        "verify",
        &path("receipt.jws"),
        "--jwks",
        &path("keys.json"),
        "--type",
        "certificate",
    ]);
    assert!(!ok, "{out}");
    assert!(out.contains("deletion-certificate"), "{out}");

    // One changed byte in the payload: refused, exit status 1.
    let i = token.find('.').expect("dot") + 10;
    let mut altered = token.into_bytes();
    altered[i] = if altered[i] == b'x' { b'y' } else { b'x' };
    std::fs::write(dir.join("altered.jws"), &altered).expect("write");
    let (ok, out) = run(&[
        "receipt",
        "verify",
        &path("altered.jws"),
        "--jwks",
        &path("keys.json"),
    ]);
    assert!(!ok, "{out}");
    assert!(out.contains("does not verify"), "{out}");
    // Without keys, it says what to give.
    let (ok, out) = run(&["receipt", "verify", &path("receipt.jws")]);
    assert!(!ok && out.contains("--jwks"), "{out}");
}
