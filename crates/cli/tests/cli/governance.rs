//! Members sign proposals with `bioguard approve`; destroying a key version with a risk group
//! registered needs their quorum.

use std::process::Command;

use crate::http::request;
use crate::server::{Server, admin_token, binary};

fn run(cwd: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(binary())
        .args(args)
        .current_dir(cwd)
        .env("BIOGUARD_LOG", "warn")
        .output()
        .expect("run");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn members_sign_with_the_cli_and_the_quorum_destroys_an_old_key_version() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let dir = cwd.path();
    let server = Server::start(dir, &[]);
    let admin = admin_token(&dir.join("bioguard-data"));
    let mut members = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let file = format!("{name}.key");
        let (ok, out, err) = run(dir, &["governance", "keygen", "--out", &file]);
        assert!(ok, "{err}");
        members.push(serde_json::json!({"name": name, "public_key": out.trim()}));
    }
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.join("alice.key"))
            .expect("meta")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    // Rotate while no group exists yet; afterwards a new version needs the quorum.
    let (ok, _, err) = run(dir, &["keys", "rotate"]);
    assert!(ok, "{err}");
    let body = serde_json::json!({"quorum": 2, "members": members}).to_string();
    let r = request(
        server.addr,
        "POST",
        "/v1/governance/group",
        Some(&admin),
        Some(&body),
    )
    .expect("group");
    assert_eq!(r.status, 201, "{}", r.body);

    let (ok, _, err) = run(dir, &["keys", "rotate"]);
    assert!(
        !ok && err.contains("risk group"),
        "a new key version needs the quorum: {err}"
    );
    let (ok, _, err) = run(dir, &["keys", "destroy-version", "1"]);
    assert!(!ok && err.contains("risk group"), "{err}");

    let p = request(
        server.addr,
        "POST",
        "/v1/proposals",
        Some(&admin),
        Some(r#"{"action":{"type":"key.destroy_version","version":1}}"#),
    )
    .expect("proposal");
    assert_eq!(p.status, 201, "{}", p.body);
    let id = p.json()["id"].as_str().expect("id").to_owned();
    std::fs::write(dir.join("proposal.json"), &p.body).expect("write");
    let mut last = String::new();
    for name in ["alice", "carol"] {
        let (ok, out, err) = run(
            dir,
            &[
                "approve",
                "--key",
                &format!("{name}.key"),
                "--member",
                name,
                "proposal.json",
            ],
        );
        assert!(ok, "{err}");
        assert!(
            err.contains("key.destroy_version"),
            "the signer is told what they sign: {err}"
        );
        let r = request(
            server.addr,
            "POST",
            &format!("/v1/proposals/{id}/approvals"),
            None,
            Some(out.trim()),
        )
        .expect("approve");
        assert_eq!(r.status, 200, "{}", r.body);
        last = r.body;
    }
    assert!(last.contains("\"status\":\"applied\""), "{last}");
    let (ok, out, err) = run(dir, &["keys", "status"]);
    assert!(ok, "{err}");
    let status: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    let versions = status["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 1, "{out}");
    assert!(
        versions[0].as_str().expect("v").starts_with("local:v2:"),
        "{out}"
    );
    // A payload that is not a bioguard proposal is never signed.
    std::fs::write(
        dir.join("other.json"),
        r#"{"payload":"{\"type\":\"wire-transfer\"}"}"#,
    )
    .expect("write");
    let (ok, _, err) = run(
        dir,
        &[
            "approve",
            "--key",
            "bob.key",
            "--member",
            "bob",
            "other.json",
        ],
    );
    assert!(!ok && err.contains("refusing"), "{err}");
}

#[test]
fn governance_verify_checks_signatures_and_passkeys_offline() {
    use bioguard_ledger::webauthn::soft::SoftAuthenticator;
    use bioguard_ledger::webauthn::{Algorithm, RelyingParty, b64url_encode};

    let cwd = tempfile::tempdir().expect("tempdir");
    let dir = cwd.path();
    let server = Server::start(dir, &[]);
    let admin = admin_token(&dir.join("bioguard-data"));
    // The default origin: localhost at the listening port.
    let rp = RelyingParty::from_origin(&format!("http://localhost:{}", server.addr.port()))
        .expect("origin");
    let (ok, alice, err) = run(dir, &["governance", "keygen", "--out", "alice.key"]);
    assert!(ok, "{err}");
    let mut bob = SoftAuthenticator::new(Algorithm::Es256, true);
    let group = serde_json::json!({"quorum": 2, "members": [
        {"name": "alice", "public_key": alice.trim()},
        {"name": "bob", "passkeys": [{"credential_id": b64url_encode(bob.credential_id()),
                                      "public_key": b64url_encode(&bob.key().to_cose())}]}]});
    let r = request(
        server.addr,
        "POST",
        "/v1/governance/group",
        Some(&admin),
        Some(&group.to_string()),
    )
    .expect("group");
    assert_eq!(r.status, 201, "{}", r.body);
    let p = request(
        server.addr,
        "POST",
        "/v1/proposals",
        Some(&admin),
        Some(r#"{"action":{"type":"key.rotate"}}"#),
    )
    .expect("proposal");
    assert_eq!(p.status, 201, "{}", p.body);
    let id = p.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(p.json()["passkey_origin"], rp.origin());
    std::fs::write(dir.join("open.json"), &p.body).expect("write");
    let challenge = bioguard_core::b64url(p.json()["passkey_challenge"].as_str().expect("c"))
        .expect("base64url");
    let a = bob.assert(&rp, &challenge);
    let body = serde_json::json!({"member": "bob", "passkey": {
        "credential_id": b64url_encode(&a.credential_id),
        "authenticator_data": b64url_encode(&a.authenticator_data),
        "client_data_json": b64url_encode(&a.client_data_json),
        "signature": b64url_encode(&a.signature)}});
    let r = request(
        server.addr,
        "POST",
        &format!("/v1/proposals/{id}/approvals"),
        None,
        Some(&body.to_string()),
    )
    .expect("approve");
    assert_eq!(r.status, 200, "{}", r.body);
    let (ok, out, err) = run(
        dir,
        &[
            "approve",
            "--key",
            "alice.key",
            "--member",
            "alice",
            "open.json",
        ],
    );
    assert!(ok, "{err}");
    let r = request(
        server.addr,
        "POST",
        &format!("/v1/proposals/{id}/approvals"),
        None,
        Some(out.trim()),
    )
    .expect("approve");
    assert!(r.body.contains("\"status\":\"applied\""), "{}", r.body);

    let save = |name: &str, path: &str| {
        let r = request(server.addr, "GET", path, None, None).expect("get");
        assert_eq!(r.status, 200, "{}", r.body);
        std::fs::write(dir.join(name), &r.body).expect("write");
        r.json()
    };
    let proposal = save("proposal.json", &format!("/v1/proposals/{id}"));
    save("group.json", "/v1/governance/group");
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "governance",
            "verify",
            "--proposal",
            "proposal.json",
            "--group",
            "group.json",
        ];
        args.extend_from_slice(extra);
        run(dir, &args)
    };
    let (ok, out, err) = verify(&[]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("valid    bob") && out.contains("valid    alice") && out.contains("OK"),
        "{out}"
    );
    // Bound to the origin: checked against another, bob's passkey approval fails.
    let (ok, out, _) = verify(&["--origin", "https://elsewhere.example"]);
    assert!(!ok && out.contains("refused  bob"), "{out}");
    // A record altered after the fact fails for both.
    let mut forged = proposal.clone();
    forged["payload"] = serde_json::json!(
        proposal["payload"]
            .as_str()
            .expect("payload")
            .replace("key.rotate", "key.destroy_version")
    );
    std::fs::write(dir.join("proposal.json"), forged.to_string()).expect("write");
    let (ok, out, err) = verify(&[]);
    assert!(!ok && err.contains("quorum"), "{out}{err}");
    // Not a proposal at all: a message that says what to save.
    std::fs::write(dir.join("proposal.json"), "<html>").expect("write");
    let (ok, _, err) = verify(&[]);
    assert!(!ok && err.contains("GET /v1/proposals"), "{err}");
}
