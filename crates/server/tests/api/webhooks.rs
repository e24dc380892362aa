//! Webhook endpoints and the outbox through the API (issue 21): a client registers its own
//! endpoints; the changes that concern a person put messages in the outbox for the clients
//! that serve that person, and no other; the operator reads the delivery log, replays and
//! disables, and never sees a secret. (Delivery itself runs in `serve`; see the CLI tests.)

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Harness, synthetic};

crate::on_both_backends!(
    events_reach_only_the_clients_that_serve_the_person,
    endpoints_are_registered_by_their_client_with_checked_urls_and_events,
    the_schedule_an_incident_and_a_claim_are_told_to_the_client,
);

async fn register(h: &Harness, key: &str, url: &str) -> Value {
    let r = h
        .json("POST", "/v1/webhooks", key, json!({ "url": url }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    r.json
}

async fn ok(h: &Harness, method: &str, path: &str, token: &str, body: Value) -> Value {
    let r = h.json(method, path, token, body).await;
    assert!(r.status.is_success(), "{method} {path}: {}", r.raw);
    r.json
}

async fn events(h: &Harness, endpoint: &str) -> Vec<String> {
    let r = h
        .send(
            "GET",
            &format!("/v1/webhooks/{endpoint}/messages"),
            Some(&h.admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    r.json["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            assert_eq!(m["state"], "pending", "{m}");
            assert_eq!(m["attempts"], 0, "{m}");
            m["event"].as_str().expect("event").to_owned()
        })
        .collect()
}

async fn events_reach_only_the_clients_that_serve_the_person(h: &Harness) {
    h.purpose("door", 4).await;
    let ops: &[&str] = &["enroll", "verify"];
    let a = h.client(&[("door", ops)]).await;
    let b = h.client(&[("door", ops)]).await;
    let hook_a = register(h, &a, "https://a.example/hooks").await;
    let hook_b = register(h, &b, "https://b.example/hooks").await;
    let (id_a, id_b) = (
        hook_a["id"].as_str().expect("id"),
        hook_b["id"].as_str().expect("id"),
    );
    assert!(h.consent(&a, "alice", "door").await.status.is_success());
    assert!(
        h.enroll(&a, "alice", "door", &synthetic(1, 4))
            .await
            .status
            .is_success()
    );
    // B serves bob only.
    assert!(h.consent(&b, "bob", "door").await.status.is_success());
    for path in ["/v1/subjects/alice/lock", "/v1/subjects/alice/unlock"] {
        let r = h.send("POST", path, Some(&a), None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.raw);
    }
    let r = h
        .send("DELETE", "/v1/subjects/alice/consents/door", Some(&a), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    // Withdrawing what is not there changes nothing and owes nothing.
    let r = h
        .send("DELETE", "/v1/subjects/alice/consents/door", Some(&a), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.raw);
    assert!(h.consent(&a, "alice", "door").await.status.is_success());
    let r = h.send("DELETE", "/v1/subjects/alice", Some(&a), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(
        events(h, id_a).await,
        [
            "subject.erased",
            "consent.withdrawn",
            "subject.unlocked",
            "subject.locked"
        ]
    );
    assert!(events(h, id_b).await.is_empty(), "B does not serve alice");
    // A client reads its own delivery log; to another client the endpoint does not exist.
    let log_a = format!("/v1/webhooks/{id_a}/messages");
    let own_log = h.send("GET", &log_a, Some(&a), None).await;
    assert_eq!(own_log.status, StatusCode::OK, "{}", own_log.raw);
    assert_eq!(own_log.json["messages"].as_array().map(Vec::len), Some(4));
    for (token, status) in [
        (Some(b.as_str()), StatusCode::NOT_FOUND),
        (None, StatusCode::UNAUTHORIZED),
    ] {
        for (method, path) in [
            ("GET", log_a.as_str()),
            ("GET", &format!("/v1/webhooks/{id_a}")),
            ("DELETE", &format!("/v1/webhooks/{id_a}")),
        ] {
            let r = h.send(method, path, token, None).await;
            assert_eq!(r.status, status, "{method} {path}: {}", r.raw);
        }
    }

    // The operator reads, replays and disables; a secret is never shown again.
    let own = h.send("GET", "/v1/webhooks", Some(&a), None).await;
    assert_eq!(
        own.json["webhooks"].as_array().map(Vec::len),
        Some(1),
        "{}",
        own.raw
    );
    let client_a = own.json["webhooks"][0]["client"]
        .as_str()
        .expect("client")
        .to_owned();
    let listed = h
        .send(
            "GET",
            &format!("/v1/clients/{client_a}/webhooks"),
            Some(&h.admin),
            None,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.raw);
    let secret = hook_a["secret"].as_str().expect("secret");
    for body in [&listed.raw, &own.raw] {
        assert!(!body.contains(&secret[6..]), "a secret is shown again");
        assert!(!body.contains("\"secret\""), "{body}");
    }
    let r = h
        .json(
            "POST",
            &format!("/v1/webhooks/{id_a}/replay"),
            &h.admin,
            json!({"since": "2000-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(
        (r.status, r.json["queued"].as_u64()),
        (StatusCode::OK, Some(4)),
        "{}",
        r.raw
    );
    // A message of another endpoint, or none, is not this endpoint's to replay.
    let r = h
        .json(
            "POST",
            &format!("/v1/webhooks/{id_b}/replay"),
            &h.admin,
            json!({"message": "msg_nothing"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "webhook_not_found"),
        "{}",
        r.raw
    );
    let r = h
        .json(
            "POST",
            &format!("/v1/webhooks/{id_a}/replay"),
            &h.admin,
            json!({"message": "msg_x", "since": "2000-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.raw);
    let r = h
        .send(
            "DELETE",
            &format!("/v1/webhooks/{id_a}"),
            Some(&h.admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert!(r.json["disabled_at"].is_string(), "{}", r.raw);
    // A disabled endpoint is owed nothing new.
    assert!(h.consent(&a, "carol", "door").await.status.is_success());
    let r = h
        .send("POST", "/v1/subjects/carol/lock", Some(&a), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(events(h, id_a).await.len(), 4);
    let r = h
        .send("GET", "/v1/webhooks/wh_nothing", Some(&h.admin), None)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "webhook_not_found")
    );
}

async fn endpoints_are_registered_by_their_client_with_checked_urls_and_events(h: &Harness) {
    h.purpose("door", 4).await;
    let a = h.client(&[("door", &["enroll", "verify"])]).await;
    let before = h.snapshot_all().await;
    for (body, field) in [
        (json!({"url": "http://rp.example/hooks"}), "url"),
        (json!({"url": "ftp://rp.example/"}), "url"),
        (json!({"url": "https://user:pw@rp.example/"}), "url"),
        (
            json!({"url": "https://rp.example/", "events": []}),
            "events",
        ),
        (
            json!({"url": "https://rp.example/", "events": ["verify"]}),
            "events",
        ),
    ] {
        let r = h.json("POST", "/v1/webhooks", &a, body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.raw
        );
        assert_eq!(r.json["error"]["field"], field, "{}", r.raw);
    }
    // Only a client registers its endpoints: not the operator, not an anonymous caller.
    for token in [Some(h.admin.as_str()), None] {
        let r = h
            .send(
                "POST",
                "/v1/webhooks",
                token,
                Some(r#"{"url": "https://x.example/"}"#),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.raw);
    }
    assert_eq!(before, h.snapshot_all().await, "refusals change nothing");
    let hook = h
        .json(
            "POST",
            "/v1/webhooks",
            &a,
            json!({"url": "http://127.0.0.1:9/hook", "events": ["consent.withdrawn"]}),
        )
        .await;
    assert_eq!(hook.status, StatusCode::CREATED, "{}", hook.raw);
    assert_eq!(hook.json["events"], json!(["consent.withdrawn"]));
    let secret = hook.json["secret"].as_str().expect("secret");
    assert!(
        secret.starts_with("whsec_") && secret.len() == 6 + 32,
        "{secret}"
    );
    // Events it did not ask for are not queued for it.
    assert!(h.consent(&a, "dora", "door").await.status.is_success());
    let r = h
        .send("POST", "/v1/subjects/dora/lock", Some(&a), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let id = hook.json["id"].as_str().expect("id");
    assert!(events(h, id).await.is_empty());
}

async fn the_schedule_an_incident_and_a_claim_are_told_to_the_client(h: &Harness) {
    h.purpose("door", 4).await;
    let key = h.client(&[("door", &["enroll", "verify"])]).await;
    let hook = register(h, &key, "https://rp.example/hooks").await;
    let id = hook["id"].as_str().expect("id");
    for (who, seed) in [("alice", 1), ("bob", 2)] {
        assert!(h.consent(&key, who, "door").await.status.is_success());
        assert!(
            h.enroll(&key, who, "door", &synthetic(seed, 4))
                .await
                .status
                .is_success()
        );
    }
    let v = h.verify(&key, "alice", "door", &synthetic(1, 4)).await;
    let decision = v.json["decision_id"].as_str().expect("decision").to_owned();
    // A claim on that decision, denied by a reviewer.
    let claim = ok(
        h,
        "POST",
        "/v1/claims",
        &key,
        json!({"decision_id": decision,
        "currency": "EUR", "amount": 100, "reason": "not me"}),
    )
    .await;
    let reviewer = ok(
        h,
        "POST",
        "/v1/reviewers",
        &h.admin,
        json!({"name": "desk"}),
    )
    .await;
    ok(
        h,
        "POST",
        &format!("/v1/claims/{}/decision", claim["id"].as_str().expect("id")),
        reviewer["token"].as_str().expect("token"),
        json!({"approve": false, "reason": "the device logs show her own capture"}),
    )
    .await;
    // An incident revokes the purpose's key: both people are owed a notification.
    let incident = ok(
        h,
        "POST",
        "/v1/incidents",
        &h.admin,
        json!({"summary": "key exposed"}),
    )
    .await;
    ok(
        h,
        "POST",
        &format!(
            "/v1/incidents/{}/actions",
            incident["id"].as_str().expect("id")
        ),
        &h.admin,
        json!({"action": "revoke_purpose_key", "purpose": "door"}),
    )
    .await;
    // A year and a day later the schedule deletes both templates.
    h.service.clock().advance(366 * 86_400);
    let swept = h
        .service
        .retention_sweep(&mut |_, _| {})
        .await
        .expect("sweep");
    assert_eq!(swept.deleted, 2);
    assert_eq!(
        events(h, id).await,
        [
            "retention.deleted",
            "retention.deleted",
            "incident.notification_owed",
            "incident.notification_owed",
            "claim.decided",
        ]
    );
    // What each says, as the sender will post it: the client's own names, nothing else.
    let due = h
        .service
        .lease_webhooks(10, std::time::Duration::from_secs(30))
        .await
        .expect("lease");
    let mut bodies: Vec<Value> = due
        .iter()
        .map(|m| serde_json::from_str(&m.body).expect("json"))
        .collect();
    bodies.sort_by_key(|b| (b["type"].to_string(), b["data"]["subject"].to_string()));
    let data: Vec<&Value> = bodies.iter().map(|b| &b["data"]).collect();
    let claim_id = claim["id"].as_str().expect("id");
    assert_eq!(
        data[0],
        &json!({"claim": claim_id, "status": "denied", "decision": decision})
    );
    let incident_id = incident["id"].as_str().expect("id");
    for (d, who) in data[1..3].iter().zip(["alice", "bob"]) {
        assert_eq!(d["subject"], who);
        assert_eq!(
            (&d["purpose"], &d["incident"]),
            (&json!("door"), &json!(incident_id))
        );
        assert!(
            d["deadline"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{d}"
        );
    }
    for (d, who) in data[3..5].iter().zip(["alice", "bob"]) {
        assert_eq!(
            *d,
            &json!({"purpose": "door", "reason": "max_age_since_enrolment", "subject": who})
        );
    }
}
