//! The risk group's quorum: a sensitive change applies only with M valid signatures of
//! distinct members over its exact payload before it expires; every step is in the ledger.

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bioguard_crypto::KeyProvider as _;
use bioguard_ledger::Leaf;
use bioguard_store::prelude::*;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::json;

use crate::harness::Harness;

crate::on_both_backends!(
    a_key_version_is_destroyed_only_with_a_quorum,
    search_purposes_and_search_clients_need_the_quorum,
    a_purpose_created_through_a_proposal_keeps_every_field_of_its_request,
);

pub(crate) fn member(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

pub(crate) async fn approve(
    h: &Harness,
    id: &str,
    name: &str,
    key: &SigningKey,
    payload: &str,
) -> crate::harness::Reply {
    h.json(
        "POST",
        &format!("/v1/proposals/{id}/approvals"),
        "",
        json!({"member": name, "signature": B64.encode(key.sign(payload.as_bytes()).to_bytes())}),
    )
    .await
}

async fn ops(h: &Harness) -> Vec<String> {
    let n = h.store.audit_size().await.expect("size");
    h.store
        .audit_leaves(0, n)
        .await
        .expect("leaves")
        .iter()
        .map(|b| Leaf::decode(b).expect("leaf").op)
        .collect()
}

async fn a_key_version_is_destroyed_only_with_a_quorum(h: &Harness) {
    let admin = h.service.authenticate_admin(&h.admin).await.expect("admin");
    let (alice, bob, carol, mallory) = (member(1), member(2), member(3), member(9));
    h.service
        .rotate_keys(&admin, true, &mut |_, _| {})
        .await
        .expect("rotate");
    // Without a group, proposals are refused.
    let none = h
        .json(
            "POST",
            "/v1/proposals",
            &h.admin,
            json!({"action": {"type": "key.destroy_version", "version": 1}}),
        )
        .await;
    assert_eq!(
        (none.status, none.code()),
        (StatusCode::CONFLICT, "no_risk_group"),
        "{}",
        none.raw
    );
    let g = h
        .json(
            "POST",
            "/v1/governance/group",
            &h.admin,
            json!({"quorum": 2, "members": [
                {"name": "alice", "public_key": B64.encode(alice.verifying_key().to_bytes())},
                {"name": "bob", "public_key": B64.encode(bob.verifying_key().to_bytes())},
                {"name": "carol", "public_key": B64.encode(carol.verifying_key().to_bytes())},
            ]}),
        )
        .await;
    assert_eq!(g.status, StatusCode::CREATED, "{}", g.raw);
    let again = h
        .json(
            "POST",
            "/v1/governance/group",
            &h.admin,
            json!({"quorum": 1, "members": [
            {"name": "mallory", "public_key": B64.encode(mallory.verifying_key().to_bytes())}]}),
        )
        .await;
    assert_eq!(
        again.status,
        StatusCode::CONFLICT,
        "the group changes only by proposal"
    );

    // Version 1 is old (rotated before the group existed); destroying it directly is refused.
    assert!(matches!(
        h.service.destroy_key_version(&admin, 1).await,
        Err(bioguard_service::ServiceError::QuorumRequired)
    ));

    let p = h
        .json(
            "POST",
            "/v1/proposals",
            &h.admin,
            json!({"action": {"type": "key.destroy_version", "version": 1}, "ttl_secs": 3600}),
        )
        .await;
    assert_eq!(p.status, StatusCode::CREATED, "{}", p.raw);
    let id = p.json["id"].as_str().expect("id").to_owned();
    let payload = p.json["payload"].as_str().expect("payload").to_owned();
    assert!(payload.contains("\"key.destroy_version\""));

    // A non-member, a signature over another payload, and a bad encoding are refused.
    let r = approve(h, &id, "mallory", &mallory, &payload).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "not_a_member"),
        "{}",
        r.raw
    );
    let other = payload.replace("\"version\":1", "\"version\":2");
    let r = approve(h, &id, "alice", &alice, &other).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.raw);
    assert_eq!(r.json["error"]["field"], "signature");
    let r = approve(h, &id, "alice", &bob, &payload).await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "bob's key is not alice's: {}",
        r.raw
    );

    // M-1 = 1 valid signature: still open, the version still exists.
    let r = approve(h, &id, "alice", &alice, &payload).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(
        (r.json["approvals"].as_u64(), r.json["status"].as_str()),
        (Some(1), Some("open"))
    );
    let versions = |h: &Harness| {
        h.key_file()
            .versions()
            .iter()
            .map(|k| k.version)
            .collect::<Vec<_>>()
    };
    assert_eq!(versions(h), [1, 2]);
    // The same member twice does not count twice.
    let r = approve(h, &id, "alice", &alice, &payload).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.raw);

    // An expired proposal is refused even with a valid signature.
    let late = h
        .json(
            "POST",
            "/v1/proposals",
            &h.admin,
            json!({"action": {"type": "key.destroy_version", "version": 1}, "ttl_secs": 60}),
        )
        .await;
    let late_id = late.json["id"].as_str().expect("id").to_owned();
    let late_payload = late.json["payload"].as_str().expect("payload").to_owned();
    h.service.clock().advance(61);
    let r = approve(h, &late_id, "bob", &bob, &late_payload).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::GONE, "proposal_expired"),
        "{}",
        r.raw
    );

    // The second distinct member's signature reaches the quorum: the change applies.
    let r = approve(h, &id, "carol", &carol, &payload).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.json["status"], "applied", "{}", r.raw);
    assert_eq!(versions(h), [2], "version 1 is destroyed");
    let after = approve(h, &id, "bob", &bob, &payload).await;
    assert_eq!(
        (after.status, after.code()),
        (StatusCode::CONFLICT, "proposal_closed")
    );
    let shown = h
        .send("GET", &format!("/v1/proposals/{id}"), None, None)
        .await;
    assert_eq!(shown.json["approvals"], json!(["alice", "carol"]));

    // Every step is in the ledger, in order.
    let all = ops(h).await;
    let steps: Vec<&str> = all
        .iter()
        .map(String::as_str)
        .filter(|o| {
            o.starts_with("proposal.") || o.starts_with("governance.") || o.starts_with("keys.")
        })
        .collect();
    assert_eq!(
        steps,
        [
            "keys.rotate",
            "governance.group",
            "proposal.create",
            "proposal.approve",
            "proposal.create",
            "proposal.approve",
            "keys.destroy",
            "proposal.apply"
        ]
    );
}

async fn propose_and_pass(
    h: &Harness,
    action: serde_json::Value,
    signers: &[(&str, &SigningKey)],
) -> serde_json::Value {
    let p = h
        .json("POST", "/v1/proposals", &h.admin, json!({"action": action}))
        .await;
    assert_eq!(p.status, StatusCode::CREATED, "{}", p.raw);
    let id = p.json["id"].as_str().expect("id").to_owned();
    let payload = p.json["payload"].as_str().expect("payload").to_owned();
    let mut last = serde_json::Value::Null;
    for (name, key) in signers {
        let r = approve(h, &id, name, key, &payload).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
        last = r.json;
    }
    last
}

/// Registers a risk group of alice and bob (keys `member(1)`, `member(2)`) with quorum 2.
pub(crate) async fn alice_and_bob(h: &Harness) -> (SigningKey, SigningKey) {
    let (alice, bob) = (member(1), member(2));
    let g = h
        .json(
            "POST",
            "/v1/governance/group",
            &h.admin,
            json!({"quorum": 2, "members": [
                {"name": "alice", "public_key": B64.encode(alice.verifying_key().to_bytes())},
                {"name": "bob", "public_key": B64.encode(bob.verifying_key().to_bytes())},
            ]}),
        )
        .await;
    assert_eq!(g.status, StatusCode::CREATED, "{}", g.raw);
    (alice, bob)
}

async fn search_purposes_and_search_clients_need_the_quorum(h: &Harness) {
    let (alice, bob) = alice_and_bob(h).await;
    let purpose = json!({"id": "face-pay", "description": "Pay by face", "dimension": 8,
        "operations": ["enroll", "identify"], "max_gallery_size": 100,
        "retention": {"max_days_since_enrolment": 30}});
    // Direct: a 1:N purpose is refused; a verify-only one is not a widening of search.
    let r = h
        .json("POST", "/v1/purposes", &h.admin, purpose.clone())
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "quorum_required"),
        "{}",
        r.raw
    );
    let narrow = h
        .json(
            "POST",
            "/v1/purposes",
            &h.admin,
            json!({"id": "door", "description": "Door",
            "dimension": 8, "operations": ["enroll", "verify"],
            "retention": {"max_days_since_enrolment": 30}}),
        )
        .await;
    assert_eq!(narrow.status, StatusCode::CREATED, "{}", narrow.raw);
    // Through the quorum it is created.
    let out = propose_and_pass(
        h,
        json!({"type": "purpose.create", "purpose": purpose}),
        &[("alice", &alice), ("bob", &bob)],
    )
    .await;
    assert_eq!(out["status"], "applied", "{out}");
    let list = h.send("GET", "/v1/purposes", None, None).await;
    assert!(list.raw.contains("\"face-pay\""), "{}", list.raw);

    // A client that may identify: refused directly, created by the quorum without a key the
    // approvers could see, then given one by the admin.
    let client = json!({"name": "till", "grants": [
        {"purpose": "face-pay", "operations": ["enroll", "identify"]}]});
    let r = h.json("POST", "/v1/clients", &h.admin, client).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "quorum_required"),
        "{}",
        r.raw
    );
    let out = propose_and_pass(
        h,
        json!({"type": "client.create", "name": "till", "grants": [
            {"purpose": "face-pay", "operation": "enroll"},
            {"purpose": "face-pay", "operation": "identify"}]}),
        &[("alice", &alice), ("bob", &bob)],
    )
    .await;
    assert_eq!(out["status"], "applied", "{out}");
    let result = out["result"].as_str().expect("result");
    assert!(!result.contains("bgc_"), "no key in the result: {result}");
    let id = result.split_whitespace().nth(1).expect("client id");
    let key = h
        .json(
            "POST",
            &format!("/v1/clients/{id}/key"),
            &h.admin,
            json!({}),
        )
        .await;
    assert_eq!(key.status, StatusCode::OK, "{}", key.raw);
    let key = key.json["api_key"].as_str().expect("key");
    let search = h
        .json(
            "POST",
            "/v1/identify",
            key,
            json!({"purpose": "face-pay", "gallery": "g",
            "embedding": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]}),
        )
        .await;
    assert_eq!(search.status, StatusCode::OK, "{}", search.raw);
    // Creating a new key version needs the quorum too; resuming does not.
    let admin = h.service.authenticate_admin(&h.admin).await.expect("admin");
    assert!(matches!(
        h.service.rotate_keys(&admin, true, &mut |_, _| {}).await,
        Err(bioguard_service::ServiceError::QuorumRequired)
    ));
    h.service
        .rotate_keys(&admin, false, &mut |_, _| {})
        .await
        .expect("resume");
    let out = propose_and_pass(
        h,
        json!({"type": "key.rotate"}),
        &[("alice", &alice), ("bob", &bob)],
    )
    .await;
    assert_eq!(out["status"], "applied", "{out}");
    assert!(
        out["result"].as_str().is_some_and(|r| r.contains(":v2:")),
        "{out}"
    );
}

/// Regression: a `purpose.create` proposal used a second purpose parser that dropped the risk
/// policy, fairness policy, calibration and notice (a purpose proposed with
/// `require_capture: true` was applied with `false`). The proposal now goes through the
/// parser `POST /v1/purposes` uses, and the applied purpose equals one declared directly.
async fn a_purpose_created_through_a_proposal_keeps_every_field_of_its_request(h: &Harness) {
    let (alice, bob) = alice_and_bob(h).await;
    let request = |id: &str| {
        json!({"id": id, "description": "Open the door by voice", "dimension": 8,
            "operations": ["enroll", "verify"], "threshold": 0.81, "code_bits": 1024,
            "retention": {"max_days_since_enrolment": 30, "max_days_since_last_use": 7},
            "calibration": {"source": "voice-embeddings-dev.jsonl", "target_fmr": 0.001},
            "risk": {"require_capture": true, "min_liveness": 0.7, "lockout_failures": 3,
                     "lockout_window_secs": 60, "lockout_secs": 600, "step_up_score": 40},
            "fairness_policy": {"max_report_age_days": 90, "max_fmr_ratio": 2.5,
                                "max_fnmr_ratio": 3.0, "max_garbe": 0.1},
            "notice": {"text": "We check your voice to open the door.", "language": "de",
                       "controller": "Door Ltd", "jurisdiction": "CH",
                       "recipients": ["Door Ltd security"], "withdrawal_method": "at the desk",
                       "material": false, "reconsent_days": 14}})
    };
    let direct = h
        .json("POST", "/v1/purposes", &h.admin, request("door-direct"))
        .await;
    assert_eq!(direct.status, StatusCode::CREATED, "{}", direct.raw);
    let out = propose_and_pass(
        h,
        json!({"type": "purpose.create", "purpose": request("door-quorum")}),
        &[("alice", &alice), ("bob", &bob)],
    )
    .await;
    assert_eq!(out["status"], "applied", "{out}");

    let list = h.send("GET", "/v1/purposes", None, None).await;
    let find = |id: &str| {
        let mut p = list
            .json
            .as_array()
            .expect("purposes")
            .iter()
            .find(|p| p["id"] == id)
            .cloned()
            .expect("listed");
        p["id"] = json!("(id)");
        p["name"] = json!("(id)");
        p
    };
    let (d, q) = (find("door-direct"), find("door-quorum"));
    assert_eq!(q["risk"]["require_capture"], true, "{q}");
    assert_eq!(q["risk"]["lockout_failures"], 3);
    assert_eq!(q["risk"]["step_up_score"], 40);
    assert_eq!(q["fairness_policy"]["max_garbe"], 0.1);
    assert_eq!(q["calibration"]["target_fmr"], 0.001);
    assert_eq!(q["threshold"], 0.81);
    assert_eq!(q["code_bits"], 1024);
    assert_eq!(q["retention"]["max_days_since_last_use"], 7);
    assert_eq!(q, d, "the proposal's purpose is the direct one's");

    // The notice too: its every statement, as published with the purpose.
    let (dn, qn) = (
        published_notice(h, "door-direct").await,
        published_notice(h, "door-quorum").await,
    );
    assert_eq!(qn.0["controller"], "Door Ltd", "{}", qn.0);
    assert_eq!(qn.0["language"], "de");
    assert_eq!(qn.0["recipients"], json!(["Door Ltd security"]));
    assert_eq!((&qn.1, &qn.2), (&json!(false), &json!(14)));
    assert_eq!(qn, dn, "the proposal's notice is the direct one's");

    // What the members signed says all of it.
    let applied = ops(h).await;
    assert!(applied.iter().filter(|o| *o == "purpose.create").count() == 2);
}

/// A purpose's first notice as published (its id blanked), with `material` and
/// `reconsent_days`.
async fn published_notice(
    h: &Harness,
    id: &str,
) -> (serde_json::Value, serde_json::Value, serde_json::Value) {
    let n = h
        .send("GET", &format!("/v1/purposes/{id}/notices"), None, None)
        .await;
    assert_eq!(n.status, StatusCode::OK, "{}", n.raw);
    let mut v = n.json[0]["notice"].clone();
    v["purpose"] = json!("(id)");
    (
        v,
        n.json[0]["material"].clone(),
        n.json[0]["reconsent_days"].clone(),
    )
}
