//! Risk controls: captures signed by registered devices over one-time challenges, liveness,
//! and the lockout after repeated failures. Every refusal has its own reason and a leaf.

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bioguard_ledger::Leaf;
use bioguard_store::prelude::*;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};

use crate::harness::{Harness, Reply, near, synthetic};

crate::on_both_backends!(
    attacks_on_captures_are_refused_each_with_its_reason_and_recorded,
    an_enumeration_burst_suspends_the_client_and_opens_an_incident,
    revoking_a_key_version_stops_matching_and_owes_exactly_the_affected_a_notice,
    the_transparency_report_counts_equal_the_database,
    a_hill_climbing_probe_series_suspends_the_client,
    identification_needs_a_signed_capture_when_the_purpose_says_so,
    a_risky_match_asks_for_a_second_factor,
);

const DIM: usize = 16;

struct Till<'a> {
    h: &'a Harness,
    key: String,
    device: String,
    signer: SigningKey,
}

impl Till<'_> {
    async fn challenge(&self) -> String {
        let r = self
            .h
            .json(
                "POST",
                "/v1/challenges",
                &self.key,
                json!({"purpose": "till"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
        r.json["challenge"].as_str().expect("challenge").to_owned()
    }

    /// A capture for verifying alice.
    fn capture(
        &self,
        signer: &SigningKey,
        challenge: &str,
        liveness: f64,
        signed: &[f32],
    ) -> Value {
        self.capture_of("alice", signer, challenge, liveness, signed)
    }

    /// A capture of `subject` (empty: for an identification).
    fn capture_of(
        &self,
        subject: &str,
        signer: &SigningKey,
        challenge: &str,
        liveness: f64,
        signed: &[f32],
    ) -> Value {
        let msg = bioguard_service::capture_message(challenge, "till", subject, liveness, signed);
        json!({"device": self.device, "challenge": challenge, "liveness": liveness,
               "signature": B64.encode(signer.sign(&msg).to_bytes())})
    }

    async fn verify(&self, probe: &[f32], capture: Option<Value>) -> Reply {
        let mut body = json!({"subject": "alice", "purpose": "till", "embedding": probe});
        if let Some(c) = capture {
            body["capture"] = c;
        }
        self.h.json("POST", "/v1/verify", &self.key, body).await
    }
}

fn refused(r: &Reply, code: &str) {
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, code),
        "{}",
        r.raw
    );
}

async fn leaves(h: &Harness, op: &str) -> Vec<Leaf> {
    let n = h.store.audit_size().await.expect("size");
    h.store
        .audit_leaves(0, n)
        .await
        .expect("leaves")
        .iter()
        .map(|b| Leaf::decode(b).expect("leaf"))
        .filter(|l| l.op == op)
        .collect()
}

async fn attacks_on_captures_are_refused_each_with_its_reason_and_recorded(h: &Harness) {
    let r = h
        .json(
            "POST",
            "/v1/purposes",
            &h.admin,
            json!({"id": "till", "description": "Pay at the till",
            "dimension": DIM, "operations": ["enroll", "verify"],
            "retention": {"max_days_since_enrolment": 30},
            "risk": {"require_capture": true, "min_liveness": 0.8, "lockout_failures": 3,
                     "lockout_window_secs": 60, "lockout_secs": 120}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    assert_eq!(r.json["risk"]["require_capture"], true);
    let key = h.client(&[("till", &["enroll", "verify"][..])]).await;
    let signer = SigningKey::from_bytes(&[5; 32]);
    let d = h
        .json(
            "POST",
            "/v1/devices",
            &key,
            json!({"name": "till 1",
            "public_key": B64.encode(signer.verifying_key().to_bytes())}),
        )
        .await;
    assert_eq!(d.status, StatusCode::CREATED, "{}", d.raw);
    let till = Till {
        h,
        key: key.clone(),
        device: d.json["device"].as_str().expect("device").to_owned(),
        signer,
    };
    h.consent(&key, "alice", "till").await;
    let alice = synthetic(1, DIM);
    let e = h.enroll(&key, "alice", "till", &alice).await;
    assert_eq!(e.status, StatusCode::CREATED, "{}", e.raw);
    let probe = near(&alice, 3);

    // No capture at all.
    refused(&till.verify(&probe, None).await, "capture_required");
    // A device this client never registered.
    let c = till.challenge().await;
    let mut cap = till.capture(&till.signer, &c, 0.95, &probe);
    cap["device"] = json!("dev_00000000000000000000000000000000");
    refused(&till.verify(&probe, Some(cap)).await, "unknown_device");
    // A forged signature: another key signs in the registered device's name.
    let forger = SigningKey::from_bytes(&[6; 32]);
    let c = till.challenge().await;
    refused(
        &till
            .verify(&probe, Some(till.capture(&forger, &c, 0.95, &probe)))
            .await,
        "bad_capture_signature",
    );
    // A genuine signature moved onto another embedding (an injected probe).
    let c = till.challenge().await;
    let other = synthetic(9, DIM);
    refused(
        &till
            .verify(&probe, Some(till.capture(&till.signer, &c, 0.95, &other)))
            .await,
        "bad_capture_signature",
    );
    // A photo-like presentation: the device's liveness score is low.
    let c = till.challenge().await;
    refused(
        &till
            .verify(&probe, Some(till.capture(&till.signer, &c, 0.3, &probe)))
            .await,
        "low_liveness",
    );
    // A good capture matches; replaying it exactly is refused.
    let c = till.challenge().await;
    let good = till.capture(&till.signer, &c, 0.95, &probe);
    let ok = till.verify(&probe, Some(good.clone())).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.raw);
    assert_eq!(ok.json["match"], true);
    refused(&till.verify(&probe, Some(good)).await, "challenge_reused");
    // An expired challenge, and one the service never issued.
    let c = till.challenge().await;
    h.service.clock().advance(61);
    refused(
        &till
            .verify(&probe, Some(till.capture(&till.signer, &c, 0.95, &probe)))
            .await,
        "challenge_expired",
    );
    refused(
        &till
            .verify(
                &probe,
                Some(till.capture(
                    &till.signer,
                    "chl_00000000000000000000000000000000",
                    0.95,
                    &probe,
                )),
            )
            .await,
        "challenge_unknown",
    );

    // Each refusal is one leaf with its reason; nothing about the embedding.
    let reasons: Vec<String> = leaves(h, "capture.refused")
        .await
        .into_iter()
        .map(|l| l.decision.expect("reason"))
        .collect();
    assert_eq!(
        reasons,
        [
            "capture_required",
            "unknown_device",
            "bad_capture_signature",
            "bad_capture_signature",
            "low_liveness",
            "challenge_reused",
            "challenge_expired",
            "challenge_unknown"
        ]
    );

    // Three failed verifications in the window lock the subject out, even for a good probe.
    let stranger = synthetic(77, DIM);
    for _ in 0..3 {
        let c = till.challenge().await;
        let r = till
            .verify(
                &stranger,
                Some(till.capture(&till.signer, &c, 0.95, &stranger)),
            )
            .await;
        assert_eq!(r.json["match"], false, "{}", r.raw);
    }
    let c = till.challenge().await;
    let locked = till
        .verify(&probe, Some(till.capture(&till.signer, &c, 0.95, &probe)))
        .await;
    refused(&locked, "attempts_exceeded");
    assert_eq!(locked.json["error"]["fallback"], "required");
    assert_eq!(leaves(h, "subject.lockout").await.len(), 1);
    // After the lockout, a good capture works again.
    h.service.clock().advance(121);
    let c = till.challenge().await;
    let back = till
        .verify(&probe, Some(till.capture(&till.signer, &c, 0.95, &probe)))
        .await;
    assert_eq!(back.json["match"], true, "{}", back.raw);

    // An incident revokes the device: its captures are refused from then on.
    let inc = h
        .json(
            "POST",
            "/v1/incidents",
            &h.admin,
            json!({"summary": "till 1 stolen"}),
        )
        .await;
    let inc = inc.json["id"].as_str().expect("id").to_owned();
    let r = h
        .json(
            "POST",
            &format!("/v1/incidents/{inc}/actions"),
            &h.admin,
            json!({"action": "revoke_device", "device": till.device}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let c = till.challenge().await;
    refused(
        &till
            .verify(&probe, Some(till.capture(&till.signer, &c, 0.95, &probe)))
            .await,
        "unknown_device",
    );
}

async fn an_enumeration_burst_suspends_the_client_and_opens_an_incident(h: &Harness) {
    use tower::ServiceExt;
    h.purpose("door", DIM).await;
    let key = h.client(&[("door", &["enroll", "verify"][..])]).await;
    // A node of the deployment that suspends a client verifying more than 3 distinct subjects
    // a minute.
    let node = h.another_node_with(|s| s.with_enumeration_limit(3)).await;
    let probe = |who: String| {
        axum::http::Request::post("/v1/verify")
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(
                json!({"subject": who, "purpose": "door", "embedding": synthetic(1, DIM)})
                    .to_string(),
            ))
            .expect("request")
    };
    for n in 0..3 {
        let r = node
            .clone()
            .oneshot(probe(format!("person-{n}")))
            .await
            .expect("reply");
        assert_eq!(
            r.status(),
            StatusCode::FORBIDDEN,
            "consent_required, but counted"
        );
    }
    let r = node
        .clone()
        .oneshot(probe("person-3".into()))
        .await
        .expect("reply");
    let body = axum::body::to_bytes(r.into_body(), 1 << 16)
        .await
        .expect("body");
    assert!(String::from_utf8_lossy(&body).contains("client_suspended"));
    // The suspension is in the database: every node refuses the client now.
    let r = h.send("GET", "/v1/subjects/alice", Some(&key), None).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "client_suspended"),
        "{}",
        r.raw
    );
    // The detector opened an incident whose timeline shows the suspension.
    let opened = leaves(h, "incident.open").await;
    assert_eq!(opened.len(), 1);
    let id = opened[0]
        .detail
        .iter()
        .find(|(k, _)| k == "incident")
        .map(|(_, v)| v.clone())
        .expect("incident id");
    let i = h
        .send("GET", &format!("/v1/incidents/{id}"), Some(&h.admin), None)
        .await;
    assert_eq!(i.status, StatusCode::OK, "{}", i.raw);
    assert_eq!(i.json["kind"], "abuse.enumeration");
    assert_eq!(i.json["timeline"][1]["action"], "suspend_client");
    let client = i.json["timeline"][1]["detail"]
        .as_str()
        .expect("client")
        .to_owned();
    assert_eq!(leaves(h, "client.suspend").await.len(), 1);
    // The operator reviews, reinstates the client and closes the incident.
    let r = h
        .json(
            "POST",
            &format!("/v1/incidents/{id}/actions"),
            &h.admin,
            json!({"action": "reinstate_client", "client": client}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    // Served again (nothing is held about alice, which the client may now be told).
    let ok = h.send("GET", "/v1/subjects/alice", Some(&key), None).await;
    assert_eq!(
        (ok.status, ok.code()),
        (StatusCode::NOT_FOUND, "subject_not_found"),
        "{}",
        ok.raw
    );
    let r = h
        .json(
            "POST",
            &format!("/v1/incidents/{id}/actions"),
            &h.admin,
            json!({"action": "close", "note": "a test script, now fixed"}),
        )
        .await;
    assert!(r.json["closed_at"].is_string(), "{}", r.raw);
    let again = h
        .json(
            "POST",
            &format!("/v1/incidents/{id}/actions"),
            &h.admin,
            json!({"action": "note", "note": "x"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.raw);
    let missing = h
        .send("GET", "/v1/incidents/inc_nope", Some(&h.admin), None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let not_admin = h
        .send("GET", &format!("/v1/incidents/{id}"), Some(&key), None)
        .await;
    assert_eq!(not_admin.status, StatusCode::UNAUTHORIZED);
}

/// The principal the subject's report names them by: what notifications name too.
async fn principal_of(h: &Harness, key: &str, who: &str) -> String {
    let r = h
        .send(
            "GET",
            &format!("/v1/subjects/{who}/report"),
            Some(key),
            None,
        )
        .await;
    r.json["principal"].as_str().expect("principal").to_owned()
}

async fn revoking_a_key_version_stops_matching_and_owes_exactly_the_affected_a_notice(h: &Harness) {
    h.purpose("door", DIM).await;
    h.purpose("gate", DIM).await;
    let key = h
        .client(&[
            ("door", &["enroll", "verify"][..]),
            ("gate", &["enroll", "verify"][..]),
        ])
        .await;
    for (who, purpose, seed) in [
        ("alice", "door", 1),
        ("bob", "door", 2),
        ("carol", "gate", 3),
    ] {
        h.consent(&key, who, purpose).await;
        let e = h.enroll(&key, who, purpose, &synthetic(seed, DIM)).await;
        assert_eq!(e.status, StatusCode::CREATED, "{}", e.raw);
    }
    h.consent(&key, "dave", "door").await;
    let open = h
        .json(
            "POST",
            "/v1/incidents",
            &h.admin,
            json!({"kind": "key.compromise", "summary": "door protection key found on a laptop"}),
        )
        .await;
    assert_eq!(open.status, StatusCode::CREATED, "{}", open.raw);
    let id = open.json["id"].as_str().expect("id").to_owned();
    let r = h
        .json(
            "POST",
            &format!("/v1/incidents/{id}/actions"),
            &h.admin,
            json!({"action": "revoke_purpose_key", "purpose": "door"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);

    // At once: door templates stop matching; gate is untouched.
    let v = h.verify(&key, "alice", "door", &synthetic(1, DIM)).await;
    assert_eq!(
        (v.status, v.code()),
        (StatusCode::CONFLICT, "reenrolment_required"),
        "{}",
        v.raw
    );
    assert_eq!(
        h.verify(&key, "carol", "gate", &synthetic(3, DIM))
            .await
            .json["match"],
        true
    );

    // Notifications for exactly the subjects whose door template was revoked.
    let mut owed: Vec<String> = r.json["notifications"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|n| n["subject"].as_str().expect("subject").to_owned())
        .collect();
    owed.sort();
    let mut expected = vec![
        principal_of(h, &key, "alice").await,
        principal_of(h, &key, "bob").await,
    ];
    expected.sort();
    assert_eq!(
        owed, expected,
        "alice and bob; not carol (gate), not dave (no template)"
    );
    assert_eq!(r.json["notifications"]["pending"], 2);
    // Sent within 72 hours: on time.
    let sent = h
        .json(
            "POST",
            &format!("/v1/incidents/{id}/actions"),
            &h.admin,
            json!({"action": "notifications_sent"}),
        )
        .await;
    assert_eq!(sent.json["notifications"]["on_time"], 2, "{}", sent.raw);

    // A second incident whose notification is not sent in time shows as late.
    let second = h
        .json(
            "POST",
            "/v1/incidents",
            &h.admin,
            json!({"summary": "gate key exposed"}),
        )
        .await;
    let id2 = second.json["id"].as_str().expect("id").to_owned();
    h.json(
        "POST",
        &format!("/v1/incidents/{id2}/actions"),
        &h.admin,
        json!({"action": "revoke_purpose_key", "purpose": "gate"}),
    )
    .await;
    h.service
        .clock()
        .advance(bioguard_service::NOTIFY_WITHIN_SECS + 60);
    let late = h
        .send("GET", &format!("/v1/incidents/{id2}"), Some(&h.admin), None)
        .await;
    assert_eq!(late.json["notifications"]["late"], 1, "{}", late.raw);
    assert_eq!(leaves(h, "incident.notify").await.len(), 2);
}

async fn the_transparency_report_counts_equal_the_database(h: &Harness) {
    h.purpose("door", DIM).await;
    let key = h.client(&[("door", &["enroll", "verify"][..])]).await;
    for (who, seed) in [("a", 1), ("b", 2), ("c", 3)] {
        h.consent(&key, who, "door").await;
        h.enroll(&key, who, "door", &synthetic(seed, DIM)).await;
    }
    h.verify(&key, "a", "door", &synthetic(1, DIM)).await;
    h.verify(&key, "b", "door", &synthetic(9, DIM)).await;
    h.send("DELETE", "/v1/subjects/c/consents/door", Some(&key), None)
        .await;
    h.send("DELETE", "/v1/subjects/b", Some(&key), None).await;
    let r = h.send("GET", "/v1/transparency", None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    // Each figure, recounted straight from the stored leaves.
    let count = |op: &'static str| async move {
        let sql: &'static str = match op {
            "enrol" => "SELECT COUNT(*) FROM audit_leaves WHERE leaf LIKE '%\"op\":\"enrol\"%'",
            "verify" => "SELECT COUNT(*) FROM audit_leaves WHERE leaf LIKE '%\"op\":\"verify\"%'",
            "match" => {
                "SELECT COUNT(*) FROM audit_leaves WHERE leaf LIKE '%\"op\":\"verify\"%' AND leaf LIKE '%\"decision\":\"match\"%'"
            }
            "grant" => {
                "SELECT COUNT(*) FROM audit_leaves WHERE leaf LIKE '%\"op\":\"consent.grant\"%'"
            }
            "withdraw" => {
                "SELECT COUNT(*) FROM audit_leaves WHERE leaf LIKE '%\"op\":\"consent.withdraw\"%'"
            }
            _ => "SELECT COUNT(*) FROM audit_leaves WHERE leaf LIKE '%\"op\":\"subject.erase\"%'",
        };
        bioguard_store::count_rows(&h.store, sql)
            .await
            .expect("count") as u64
    };
    let j = &r.json;
    assert_eq!(j["enrolments"].as_u64(), Some(count("enrol").await));
    assert_eq!(j["enrolments"], 3);
    assert_eq!(
        j["verifications"]["total"].as_u64(),
        Some(count("verify").await)
    );
    assert_eq!(
        j["verifications"]["match"].as_u64(),
        Some(count("match").await)
    );
    assert_eq!(j["verifications"]["no_match"], 1);
    assert_eq!(
        j["consents"]["granted"].as_u64(),
        Some(count("grant").await)
    );
    assert_eq!(
        j["consents"]["withdrawn"].as_u64(),
        Some(count("withdraw").await)
    );
    assert_eq!(
        j["deletions"]["erasure_requests"].as_u64(),
        Some(count("erase").await)
    );
    assert_eq!(
        j["ledger"]["size"].as_u64(),
        Some(h.store.audit_size().await.expect("size"))
    );
    // Counts only: no pseudonym or identifier anywhere in it.
    assert!(!r.raw.contains("\"subject\""), "{}", r.raw);
    let html = h
        .send("GET", "/v1/transparency?format=html", None, None)
        .await;
    assert!(
        html.raw.starts_with("<!doctype html>") && html.raw.contains("enrolments"),
        "{}",
        html.raw
    );
}

/// The unit vector between `from` and `to`, a fraction `t` of the way.
fn towards(from: &[f32], to: &[f32], t: f32) -> Vec<f32> {
    let v: Vec<f32> = from
        .iter()
        .zip(to)
        .map(|(a, b)| (1.0 - t) * a + t * b)
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

async fn a_hill_climbing_probe_series_suspends_the_client(h: &Harness) {
    use tower::ServiceExt;
    let dim = 64;
    let r = h
        .json(
            "POST",
            "/v1/purposes",
            &h.admin,
            json!({"id": "door", "description": "Door",
            "dimension": dim, "operations": ["enroll", "verify"], "code_bits": 4096,
            "retention": {"max_days_since_enrolment": 30}, "risk": {"lockout_failures": 0}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    let key = h.client(&[("door", &["enroll", "verify"][..])]).await;
    let alice = synthetic(1, dim);
    h.consent(&key, "alice", "door").await;
    h.enroll(&key, "alice", "door", &alice).await;
    let node = h
        .another_node_with(|s| s.with_hill_climbing_detection(4))
        .await;
    // An attacker starts from an unrelated face and moves towards Alice's a little at a time,
    // each probe failing but closer than the last.
    let start = synthetic(42, dim);
    let mut answers = Vec::new();
    for target in [0.53_f32, 0.60, 0.66, 0.72] {
        // The step towards Alice that gives this cosine: steps of about five degrees, some
        // 100 bits of the 4096-bit code apart (three or more standard deviations of the sign
        // projection's noise), every probe well inside the band and well above the threshold.
        let (mut lo, mut hi) = (0.0_f32, 1.0_f32);
        for _ in 0..40 {
            let mid = (lo + hi) / 2.0;
            if cosine(&towards(&start, &alice, mid), &alice) < target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let probe = towards(&start, &alice, hi);
        assert!(cosine(&probe, &alice) < 0.78, "each probe must still fail");
        let req = axum::http::Request::post("/v1/verify")
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(
                json!({"subject": "alice", "purpose": "door", "embedding": probe}).to_string(),
            ))
            .expect("request");
        let resp = node.clone().oneshot(req).await.expect("reply");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .expect("body");
        answers.push(String::from_utf8_lossy(&body).into_owned());
    }
    assert!(
        answers[..3].iter().all(|a| a.contains("\"match\":false")),
        "{answers:?}"
    );
    assert!(answers[3].contains("client_suspended"), "{answers:?}");
    let opened = leaves(h, "incident.open").await;
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].decision.as_deref(), Some("abuse.hill_climbing"));
    let r = h.send("GET", "/v1/subjects/alice", Some(&key), None).await;
    assert_eq!(
        r.code(),
        "client_suspended",
        "every node refuses the client now"
    );
}

async fn identification_needs_a_signed_capture_when_the_purpose_says_so(h: &Harness) {
    let r = h
        .json(
            "POST",
            "/v1/purposes",
            &h.admin,
            json!({"id": "till", "description": "Pay by face",
            "dimension": DIM, "operations": ["enroll", "identify"], "max_gallery_size": 10,
            "retention": {"max_days_since_enrolment": 30}, "risk": {"require_capture": true}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    let key = h.client(&[("till", &["enroll", "identify"][..])]).await;
    let signer = SigningKey::from_bytes(&[7; 32]);
    let d = h
        .json(
            "POST",
            "/v1/devices",
            &key,
            json!({"name": "till",
            "public_key": B64.encode(signer.verifying_key().to_bytes())}),
        )
        .await;
    let till = Till {
        h,
        key: key.clone(),
        device: d.json["device"].as_str().expect("device").to_owned(),
        signer,
    };
    h.consent(&key, "alice", "till").await;
    let alice = synthetic(1, DIM);
    let e = h
        .json(
            "PUT",
            "/v1/subjects/alice/templates/till",
            &key,
            json!({"embedding": alice, "galleries": ["shop"]}),
        )
        .await;
    assert_eq!(e.status, StatusCode::CREATED, "{}", e.raw);
    let probe = near(&alice, 4);
    let search = |capture: Option<Value>| {
        let mut body = json!({"purpose": "till", "gallery": "shop", "embedding": probe});
        if let Some(c) = capture {
            body["capture"] = c;
        }
        h.json("POST", "/v1/identify", &key, body)
    };
    refused(&search(None).await, "capture_required");
    let c = till.challenge().await;
    // A capture taken to verify someone is not one for a search.
    refused(
        &search(Some(till.capture(&till.signer, &c, 0.9, &probe))).await,
        "bad_capture_signature",
    );
    let c = till.challenge().await;
    let ok = search(Some(till.capture_of("", &till.signer, &c, 0.9, &probe))).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.raw);
    assert_eq!(ok.json["candidates"][0]["subject"], "alice");
    let c = till.challenge().await;
    refused(
        &search(Some(till.capture_of("", &till.signer, &c, 0.1, &probe))).await,
        "low_liveness",
    );
    // A batch cannot carry one device's capture for many probes.
    let batch = h
        .json(
            "POST",
            "/v1/identify/batch",
            &key,
            json!({"purpose": "till", "gallery": "shop", "embeddings": [probe, probe]}),
        )
        .await;
    assert_eq!(
        batch.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        batch.raw
    );
}

async fn a_risky_match_asks_for_a_second_factor(h: &Harness) {
    let r = h
        .json(
            "POST",
            "/v1/purposes",
            &h.admin,
            json!({"id": "till", "description": "Pay",
            "dimension": DIM, "operations": ["enroll", "verify"],
            "retention": {"max_days_since_enrolment": 30}, "risk": {"step_up_score": 50}}),
        )
        .await;
    assert_eq!(r.json["risk"]["step_up_score"], 50, "{}", r.raw);
    let key = h.client(&[("till", &["enroll", "verify"][..])]).await;
    let signer = SigningKey::from_bytes(&[8; 32]);
    let d = h
        .json(
            "POST",
            "/v1/devices",
            &key,
            json!({"name": "till",
            "public_key": B64.encode(signer.verifying_key().to_bytes())}),
        )
        .await;
    let till = Till {
        h,
        key: key.clone(),
        device: d.json["device"].as_str().expect("device").to_owned(),
        signer,
    };
    let verify = |capture: Option<Value>, probe: Vec<f32>| {
        let mut body = json!({"subject": "alice", "purpose": "till", "embedding": probe});
        if let Some(c) = capture {
            body["capture"] = c;
        }
        h.json("POST", "/v1/verify", &key, body)
    };
    h.consent(&key, "alice", "till").await;
    let alice = synthetic(1, DIM);
    h.enroll(&key, "alice", "till", &alice).await;
    // A clean capture with a high liveness score: low risk, no step-up.
    let c = till.challenge().await;
    let calm = verify(
        Some(till.capture(&till.signer, &c, 0.95, &alice)),
        alice.clone(),
    )
    .await;
    assert_eq!(calm.json["match"], true, "{}", calm.raw);
    assert_eq!(calm.json["risk"], "low");
    assert!(calm.json.get("step_up").is_none(), "{}", calm.raw);
    // No capture right after a failed attempt: 40 + 15 > 50, so the match asks for more.
    verify(None, synthetic(99, DIM)).await;
    let risky = verify(None, alice.clone()).await;
    assert_eq!(risky.json["match"], true, "{}", risky.raw);
    assert_eq!(risky.json["risk"], "high");
    assert_eq!(risky.json["step_up"], "required");
}
