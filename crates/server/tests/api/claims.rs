//! Compensation claims: a disputed decision, its evidence pack (whose inclusion proof checks
//! against the signed checkpoint), a reviewer's decision, payment from a double-entry reserve
//! that never goes negative, and a missed deadline that shows.

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bioguard_ledger::{Hash, VerifierKey, leaf_hash, verify_inclusion};
use serde_json::json;

use crate::harness::{Harness, synthetic};

crate::on_both_backends!(a_disputed_decision_is_claimed_evidenced_decided_and_paid);

const DIM: usize = 8;

fn hash(v: &serde_json::Value) -> Hash {
    B64.decode(v.as_str().expect("base64"))
        .expect("base64")
        .try_into()
        .expect("32 bytes")
}

async fn a_disputed_decision_is_claimed_evidenced_decided_and_paid(h: &Harness) {
    h.purpose("pay", DIM).await;
    let key = h.client(&[("pay", &["enroll", "verify"][..])]).await;
    h.consent(&key, "alice", "pay").await;
    h.enroll(&key, "alice", "pay", &synthetic(1, DIM)).await;
    // A payment accepted on Alice's face that she says was not her: a disputed accept.
    let v = h.verify(&key, "alice", "pay", &synthetic(1, DIM)).await;
    assert_eq!(v.json["match"], true);
    let decision = v.json["decision_id"].as_str().expect("decision").to_owned();

    let unknown = h
        .json(
            "POST",
            "/v1/claims",
            &key,
            json!({"decision_id": "dec_00000000000000000000000000000000",
            "currency": "EUR", "amount": 100, "reason": "?"}),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::NOT_FOUND, "decision_not_found")
    );
    let floats = h
        .json(
            "POST",
            "/v1/claims",
            &key,
            json!({"decision_id": decision, "currency": "EUR",
            "amount": 12.5, "reason": "x"}),
        )
        .await;
    assert_eq!(
        floats.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "amounts are whole minor units"
    );

    let c = h
        .json(
            "POST",
            "/v1/claims",
            &key,
            json!({"decision_id": decision, "currency": "EUR",
            "amount": 12_000, "reason": "I was abroad; this payment was not mine"}),
        )
        .await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.raw);
    let id = c.json["id"].as_str().expect("id").to_owned();
    // One open claim per decision.
    let again = h
        .json(
            "POST",
            "/v1/claims",
            &key,
            json!({"decision_id": decision, "currency": "EUR",
            "amount": 12_000, "reason": "the same dispute again"}),
        )
        .await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, "conflict")
    );

    // The evidence pack: the decision's leaf, provably in the log the service signed.
    let got = h
        .send("GET", &format!("/v1/claims/{id}"), Some(&key), None)
        .await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.raw);
    let ev = &got.json["evidence"];
    assert_eq!(ev["decision"]["id"], decision.as_str());
    assert_eq!(ev["decision"]["outcome"], "match");
    let audit_key = h.send("GET", "/v1/audit/key", None, None).await;
    let vkey = VerifierKey::parse(audit_key.json["verifier_key"].as_str().expect("key"))
        .expect("verifier key");
    let checkpoint = vkey
        .open(ev["checkpoint"].as_str().expect("note"))
        .expect("the checkpoint is signed by the log key");
    let proof: Vec<Hash> = ev["inclusion_proof"]["hashes"]
        .as_array()
        .expect("hashes")
        .iter()
        .map(hash)
        .collect();
    let leaf = ev["decision"]["leaf"].as_str().expect("leaf");
    let index = ev["inclusion_proof"]["index"].as_u64().expect("index");
    assert_eq!(
        checkpoint.size,
        ev["inclusion_proof"]["size"].as_u64().expect("size")
    );
    verify_inclusion(
        &leaf_hash(leaf.as_bytes()),
        index,
        checkpoint.size,
        &proof,
        &checkpoint.root,
    )
    .expect("the decision is in the signed log");
    // Another client cannot see it.
    let other = h.client(&[("pay", &["verify"][..])]).await;
    let hidden = h
        .send("GET", &format!("/v1/claims/{id}"), Some(&other), None)
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);

    // The reviewer approves; the empty reserve cannot pay until it is topped up.
    // Reviewers are a role of their own: the admin adds one; the admin token cannot decide.
    let rv = h
        .json(
            "POST",
            "/v1/reviewers",
            &h.admin,
            json!({"name": "claims desk"}),
        )
        .await;
    assert_eq!(rv.status, StatusCode::CREATED, "{}", rv.raw);
    let reviewer = rv.json["token"].as_str().expect("token").to_owned();
    let path = format!("/v1/claims/{id}/decision");
    let as_admin = h
        .json(
            "POST",
            &path,
            &h.admin,
            json!({"approve": true, "reason": "x"}),
        )
        .await;
    assert_eq!(
        as_admin.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        as_admin.raw
    );
    let decide = |approve: bool| {
        h.json(
            "POST",
            &path,
            &reviewer,
            json!({"approve": approve, "reason": "device logs confirm a replayed capture"}),
        )
    };
    let broke = decide(true).await;
    assert_eq!(
        (broke.status, broke.code()),
        (StatusCode::CONFLICT, "reserve_insufficient")
    );
    let t = h
        .json(
            "POST",
            "/v1/reserve/topups",
            &h.admin,
            json!({"currency": "EUR", "amount": 50_000}),
        )
        .await;
    assert_eq!(t.status, StatusCode::CREATED, "{}", t.raw);
    let paid = decide(true).await;
    assert_eq!(paid.status, StatusCode::OK, "{}", paid.raw);
    assert_eq!(paid.json["status"], "paid");
    assert_eq!(
        decide(false).await.status,
        StatusCode::CONFLICT,
        "decided once"
    );
    let books = h.send("GET", "/v1/reserve", Some(&h.admin), None).await;
    let balance = |account: &str| {
        books.json["balances"]
            .as_array()
            .expect("balances")
            .iter()
            .find(|b| b["account"] == account)
            .and_then(|b| b["minor_units"].as_i64())
            .unwrap_or(0)
    };
    assert_eq!(balance("reserve"), 38_000);
    assert_eq!(balance("payouts"), 12_000);
    assert_eq!(balance("funding"), -50_000);
    assert_eq!(
        balance("reserve") + balance("payouts") + balance("funding"),
        0,
        "balanced"
    );
    let report = h.send("GET", "/v1/transparency", None, None).await;
    assert_eq!(report.json["claims"]["filed"], 1);
    assert_eq!(report.json["claims"]["paid"], 1);
    assert_eq!(report.json["claims"]["median_days_to_decision"], 0.0);

    // A paid decision takes no new claim either.
    let paid_again = h
        .json(
            "POST",
            "/v1/claims",
            &key,
            json!({"decision_id": decision, "currency": "EUR",
            "amount": 500, "reason": "a second dispute"}),
        )
        .await;
    assert_eq!(
        paid_again.status,
        StatusCode::CONFLICT,
        "{}",
        paid_again.raw
    );

    // A claim left undecided past its 30 days shows as overdue.
    let other = h.verify(&key, "alice", "pay", &synthetic(1, DIM)).await;
    let other = other.json["decision_id"]
        .as_str()
        .expect("decision")
        .to_owned();
    let late = h
        .json(
            "POST",
            "/v1/claims",
            &key,
            json!({"decision_id": other, "currency": "EUR",
            "amount": 500, "reason": "a second dispute"}),
        )
        .await;
    let late_id = late.json["id"].as_str().expect("id").to_owned();
    h.service
        .clock()
        .advance(bioguard_service::CLAIM_DECISION_SECS + 60);
    let shown = h
        .send(
            "GET",
            &format!("/v1/claims/{late_id}"),
            Some(&h.admin),
            None,
        )
        .await;
    assert_eq!(shown.json["evidence"]["overdue"], true, "{}", shown.raw);
    // The claim is in Alice's history.
    let history = h
        .send("GET", "/v1/subjects/alice/history", Some(&key), None)
        .await;
    assert!(history.raw.contains("claim.file"), "{}", history.raw);
}
