//! Hardening (issue 19), one test per reproduced attack: a quorum that stale approvals cannot
//! make up, and Ed25519 keys that cannot be chosen to accept forgeries.

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::json;

use crate::governance::{approve, member};
use crate::harness::Harness;

crate::on_both_backends!(
    approvals_of_members_who_left_do_not_count,
    small_order_keys_are_refused_for_members_and_devices,
);

fn pk(k: &ed25519_dalek::SigningKey) -> String {
    B64.encode(k.verifying_key().to_bytes())
}

/// Proposes `action` and returns its id and payload.
async fn propose(h: &Harness, action: serde_json::Value) -> (String, String) {
    let p = h
        .json(
            "POST",
            "/v1/proposals",
            &h.admin,
            json!({"action": action, "ttl_secs": 3600}),
        )
        .await;
    assert_eq!(p.status, StatusCode::CREATED, "{}", p.raw);
    (
        p.json["id"].as_str().expect("id").to_owned(),
        p.json["payload"].as_str().expect("payload").to_owned(),
    )
}

async fn approvals_of_members_who_left_do_not_count(h: &Harness) {
    let (m1, m2, m3, m4) = (member(1), member(2), member(3), member(4));
    let g = h
        .json(
            "POST",
            "/v1/governance/group",
            &h.admin,
            json!({"quorum": 2, "members": [
                {"name": "m1", "public_key": pk(&m1)},
                {"name": "m2", "public_key": pk(&m2)},
                {"name": "m3", "public_key": pk(&m3)}]}),
        )
        .await;
    assert_eq!(g.status, StatusCode::CREATED, "{}", g.raw);
    // P: a client that may search; m1 approves it (one of two).
    let r = h
        .json(
            "POST",
            "/v1/purposes",
            &h.admin,
            json!({"id": "door", "description": "Door", "operations": ["enroll", "verify"],
                   "dimension": 4, "retention": {"max_days_since_enrolment": 30}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    let (p, p_payload) = propose(
        h,
        json!({"type": "group.change", "quorum": 1, "members": [
            {"name": "m1", "public_key": pk(&m1)}]}),
    )
    .await;
    let r = approve(h, &p, "m1", &m1, &p_payload).await;
    assert_eq!(r.json["approvals"], 1, "{}", r.raw);
    // The group becomes m2, m3, m4 (m2 and m3 agree).
    let (change, payload) = propose(
        h,
        json!({"type": "group.change", "quorum": 2, "members": [
            {"name": "m2", "public_key": pk(&m2)},
            {"name": "m3", "public_key": pk(&m3)},
            {"name": "m4", "public_key": pk(&m4)}]}),
    )
    .await;
    approve(h, &change, "m2", &m2, &payload).await;
    let r = approve(h, &change, "m3", &m3, &payload).await;
    assert_eq!(r.json["status"], "applied", "{}", r.raw);
    // m4 alone must not carry P: m1's approval no longer counts.
    let r = approve(h, &p, "m4", &m4, &p_payload).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.json["approvals"], 1, "only m4 counts now: {}", r.raw);
    assert_eq!(r.json["status"], "open", "{}", r.raw);
    let group = h
        .send("GET", "/v1/governance/group", Some(&h.admin), None)
        .await;
    let names: Vec<&str> = group.json["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["m2", "m3", "m4"], "P did not apply");
    // A current member's approval makes the quorum.
    let r = approve(h, &p, "m2", &m2, &p_payload).await;
    assert_eq!(
        (&r.json["approvals"], &r.json["status"]),
        (&json!(2), &json!("applied")),
        "{}",
        r.raw
    );
}

async fn small_order_keys_are_refused_for_members_and_devices(h: &Harness) {
    // The identity point is a valid point, and the lax check accepts the signature
    // 01 00..00 || 00..00 under it for any message.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let weak = B64.encode(identity);
    let g = h
        .json(
            "POST",
            "/v1/governance/group",
            &h.admin,
            json!({"quorum": 1, "members": [{"name": "m", "public_key": weak}]}),
        )
        .await;
    assert_eq!(g.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", g.raw);
    assert_eq!(g.json["error"]["field"], "members.public_key");
    h.purpose("door", 4).await;
    let key = h.client(&[("door", &["enroll", "verify"])]).await;
    let before = h.snapshot_all().await;
    let d = h
        .json(
            "POST",
            "/v1/devices",
            &key,
            json!({"name": "gate", "public_key": weak}),
        )
        .await;
    assert_eq!(d.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", d.raw);
    assert_eq!(d.json["error"]["field"], "public_key");
    assert_eq!(before, h.snapshot_all().await);
}
