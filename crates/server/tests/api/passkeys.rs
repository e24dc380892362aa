//! Risk-group approvals made with passkeys: each assertion is checked (challenge, origin,
//! relying party, user verification, signature, counter), counts once per member beside
//! Ed25519 signatures, stops counting when the group drops the member, and is stored whole
//! so it can be checked again from the public proposal.

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bioguard_ledger::webauthn::soft::{OwnedAssertion, SoftAuthenticator};
use bioguard_ledger::webauthn::{Algorithm, b64url_encode};
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};

use crate::governance::{approve, member};
use crate::harness::{Harness, relying_party};

crate::on_both_backends!(passkeys_approve_beside_keys_and_are_checked_again,);

fn passkey(key: &SoftAuthenticator) -> Value {
    json!({"credential_id": b64url_encode(key.credential_id()),
           "public_key": b64url_encode(&key.key().to_cose())})
}

fn body(a: &OwnedAssertion) -> Value {
    json!({"credential_id": b64url_encode(&a.credential_id),
           "authenticator_data": b64url_encode(&a.authenticator_data),
           "client_data_json": b64url_encode(&a.client_data_json),
           "signature": b64url_encode(&a.signature)})
}

async fn approve_with(
    h: &Harness,
    id: &str,
    name: &str,
    a: &OwnedAssertion,
) -> crate::harness::Reply {
    h.json(
        "POST",
        &format!("/v1/proposals/{id}/approvals"),
        "",
        json!({"member": name, "passkey": body(a)}),
    )
    .await
}

/// A proposal's id and the challenge its passkey approvals sign.
async fn propose(h: &Harness, action: Value) -> (String, Vec<u8>, String) {
    let p = h
        .json("POST", "/v1/proposals", &h.admin, json!({"action": action}))
        .await;
    assert_eq!(p.status, StatusCode::CREATED, "{}", p.raw);
    let id = p.json["id"].as_str().expect("id").to_owned();
    let challenge =
        bioguard_core::b64url(p.json["passkey_challenge"].as_str().expect("c")).expect("base64url");
    assert_eq!(p.json["passkey_origin"], crate::harness::ORIGIN);
    let payload = p.json["payload"].as_str().expect("payload").to_owned();
    (id, challenge, payload)
}

async fn passkeys_approve_beside_keys_and_are_checked_again(h: &Harness) {
    let rp = relying_party();
    let alice: SigningKey = member(1);
    let mut bob = SoftAuthenticator::new(Algorithm::Es256, true);
    let mut bob_spare = SoftAuthenticator::new(Algorithm::EdDsa, false);
    let mut carol = SoftAuthenticator::new(Algorithm::EdDsa, true);
    let g = h
        .json(
            "POST",
            "/v1/governance/group",
            &h.admin,
            json!({"quorum": 2, "members": [
                {"name": "alice", "public_key": B64.encode(alice.verifying_key().to_bytes())},
                {"name": "bob", "passkeys": [passkey(&bob), passkey(&bob_spare)]},
                {"name": "carol", "passkeys": [passkey(&carol)]},
            ]}),
        )
        .await;
    assert_eq!(g.status, StatusCode::CREATED, "{}", g.raw);
    let public = h.send("GET", "/v1/governance/group", None, None).await;
    assert_eq!(
        public.json["members"][1]["passkeys"][1],
        passkey(&bob_spare)
    );

    // A group member whose passkey is no COSE key is refused.
    let bad = h
        .json(
            "POST",
            "/v1/proposals",
            &h.admin,
            json!({"action": {"type": "group.change", "quorum": 1, "members": [
                {"name": "dave", "passkeys": [{"credential_id": "AAAA", "public_key": "oA"}]}]}}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.raw);
    assert_eq!(bad.json["error"]["field"], "members.passkeys");

    let widen = json!({"type": "purpose.create", "purpose": {"id": "face-pay",
        "description": "Pay by face", "dimension": 8, "operations": ["enroll", "identify"],
        "max_gallery_size": 100, "retention": {"max_days_since_enrolment": 30}}});
    let (p1, c1, payload1) = propose(h, widen).await;
    let (p2, c2, _) = propose(h, json!({"type": "key.rotate"})).await;

    // An assertion bob made for p2, held back while he approves p1 with a later one.
    let early_for_p2 = bob.assert(&rp, &c2);
    // Refused: an assertion for another proposal, a tampered one, one without user
    // verification, one made for another site, a passkey of someone else, both proofs.
    let r = approve_with(h, &p1, "bob", &bob.assert(&rp, &c2)).await;
    assert_eq!(
        (r.status, r.json["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("passkey")),
        "{}",
        r.raw
    );
    assert!(r.raw.contains("challenge"), "{}", r.raw);
    let mut tampered = bob.assert(&rp, &c1);
    tampered.authenticator_data[32] |= 0x02; // a flag bit the signature covers
    let r = approve_with(h, &p1, "bob", &tampered).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.raw);
    let no_uv = bob.assert_as(rp.id(), rp.origin(), &c1, 0x01);
    let r = approve_with(h, &p1, "bob", &no_uv).await;
    assert!(r.raw.contains("not verified"), "{}", r.raw);
    let phished = bob.assert_as(rp.id(), "https://bioguard.test.evil.example", &c1, 0x05);
    let r = approve_with(h, &p1, "bob", &phished).await;
    assert!(r.raw.contains("another origin"), "{}", r.raw);
    let r = approve_with(h, &p1, "bob", &carol.assert(&rp, &c1)).await;
    assert_eq!(
        r.json["error"]["field"], "passkey.credential_id",
        "{}",
        r.raw
    );
    let both = h
        .json(
            "POST",
            &format!("/v1/proposals/{p1}/approvals"),
            "",
            json!({"member": "bob", "signature": "AAAA", "passkey": body(&bob.assert(&rp, &c1))}),
        )
        .await;
    assert_eq!(
        both.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        both.raw
    );
    let nobody = approve_with(h, &p1, "mallory", &bob.assert(&rp, &c1)).await;
    assert_eq!(nobody.code(), "not_a_member");
    // Nothing of that was recorded.
    let p = h
        .send("GET", &format!("/v1/proposals/{p1}"), None, None)
        .await;
    assert_eq!(p.json["approvals"], json!([]), "{}", p.raw);

    // Bob approves p1 with his passkey.
    let good = bob.assert(&rp, &c1);
    let r = approve_with(h, &p1, "bob", &good).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(
        (r.json["approvals"].as_u64(), r.json["status"].as_str()),
        (Some(1), Some("open"))
    );
    // Replayed: the same assertion again, and on p2 the one made before (its counter is
    // behind the one the server has seen).
    let r = approve_with(h, &p1, "bob", &good).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.raw);
    let r = approve_with(h, &p2, "bob", &early_for_p2).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "passkey_replayed"),
        "{}",
        r.raw
    );
    // His spare keeps no counter (always 0): it approves p2, once.
    let r = approve_with(h, &p2, "bob", &bob_spare.assert(&rp, &c2)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);

    // Alice signs p1 with her Ed25519 key: two distinct members, so it applies.
    let r = approve(h, &p1, "alice", &alice, &payload1).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.json["status"], "applied", "{}", r.raw);
    let list = h.send("GET", "/v1/purposes", None, None).await;
    assert!(list.raw.contains("\"face-pay\""), "{}", list.raw);

    // The public proposal carries every proof, and they check out again offline.
    let p = h
        .send("GET", &format!("/v1/proposals/{p1}"), None, None)
        .await;
    let proofs = p.json["proofs"].as_array().expect("proofs");
    let of = |name: &str| {
        proofs
            .iter()
            .find(|x| x["member"] == name)
            .expect("a proof")
    };
    assert_eq!(of("bob")["passkey"], body(&good));
    assert!(of("alice")["signature"].is_string());
    let group = h.send("GET", "/v1/governance/group", None, None).await;
    let report = bioguard_service::verify_proposal_document(&p.json, &group.json, None)
        .expect("a proposal document");
    let mut valid = report.valid.clone();
    valid.sort();
    assert_eq!(valid, ["alice", "bob"]);
    assert!(report.reached, "{report:?}");
    // A tampered record fails that check.
    let mut forged = p.json.clone();
    forged["payload"] = json!(payload1.replace("Pay by face", "Pay by face, everywhere"));
    let report = bioguard_service::verify_proposal_document(&forged, &group.json, None)
        .expect("a proposal document");
    assert!(report.valid.is_empty() && !report.reached, "{report:?}");

    // Carol and alice remove bob from the group: his approval of p2 stops counting, and
    // he can approve nothing more.
    let (p3, c3, payload3) = propose(
        h,
        json!({"type": "group.change", "quorum": 2, "members": [
            {"name": "alice", "public_key": B64.encode(alice.verifying_key().to_bytes())},
            {"name": "carol", "passkeys": [passkey(&carol)]}]}),
    )
    .await;
    let r = approve_with(h, &p3, "carol", &carol.assert(&rp, &c3)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let r = approve(h, &p3, "alice", &alice, &payload3).await;
    assert_eq!(r.json["status"], "applied", "{}", r.raw);
    let r = approve_with(h, &p2, "carol", &carol.assert(&rp, &c2)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(
        (r.json["approvals"].as_u64(), r.json["status"].as_str()),
        (Some(1), Some("open")),
        "bob's approval no longer counts: {}",
        r.raw
    );
    let (p4, c4, _) = propose(h, json!({"type": "key.rotate"})).await;
    let r = approve_with(h, &p4, "bob", &bob.assert(&rp, &c4)).await;
    assert_eq!(r.code(), "not_a_member", "{}", r.raw);

    // The ledger names the member and how they approved.
    let leaves = h.leaves().await;
    let approvals: Vec<_> = leaves
        .iter()
        .filter(|l| l.op == "proposal.approve")
        .map(|l| {
            (
                l.actor.clone(),
                l.detail
                    .iter()
                    .find(|(k, _)| k == "with")
                    .map(|(_, v)| v.clone()),
            )
        })
        .collect();
    assert!(
        approvals.contains(&("member:bob".into(), Some("passkey".into()))),
        "{approvals:?}"
    );
    assert!(
        approvals.contains(&("member:alice".into(), Some("ed25519".into()))),
        "{approvals:?}"
    );
}
