//! 1:N identification: only inside the named gallery, only subjects with a live consent,
//! never after deletion (on this node or another), bounded galleries, and renewable keys.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Harness, Reply, near, synthetic};

crate::on_both_backends!(
    finds_enrolled_subjects_inside_the_gallery_only,
    withdrawn_erased_and_unconsented_subjects_are_never_returned,
    another_nodes_deletions_are_honoured,
    galleries_are_bounded,
    invalid_probes_and_requests_are_refused_without_change,
    batches_answer_each_probe_in_order,
    rotating_the_key_revokes_every_code,
    galleries_are_rebuilt_at_start,
);

const DIM: usize = 32;

async fn face_pay(h: &Harness, max: u64) -> String {
    let r = h
        .json(
            "POST",
            "/v1/purposes",
            &h.admin,
            json!({"id": "face-pay", "description": "Pay by face at partner shops",
                   "operations": ["enroll", "verify", "identify"], "dimension": DIM,
                   "threshold": 0.7, "max_gallery_size": max,
                   "retention": {"max_days_since_enrolment": 365}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    assert_eq!(r.json["max_gallery_size"], max);
    assert_eq!(r.json["code_bits"], 2048);
    h.client(&[("face-pay", &["enroll", "verify", "identify"])])
        .await
}

async fn enrol(h: &Harness, key: &str, subject: &str, seed: u64, galleries: &[&str]) -> Reply {
    h.consent(key, subject, "face-pay").await;
    h.json(
        "PUT",
        &format!("/v1/subjects/{subject}/templates/face-pay"),
        key,
        json!({"embedding": synthetic(seed, DIM), "galleries": galleries}),
    )
    .await
}

async fn identify(h: &Harness, key: &str, gallery: &str, probe: &[f32]) -> Reply {
    h.json(
        "POST",
        "/v1/identify",
        key,
        json!({"purpose": "face-pay", "gallery": gallery, "embedding": probe, "max_candidates": 5}),
    )
    .await
}

fn subjects(r: &Reply) -> Vec<String> {
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert!(
        r.json["decision_id"]
            .as_str()
            .is_some_and(|d| d.starts_with("dec_"))
    );
    r.json["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .map(|c| {
            assert!(
                c.get("score").is_none() && c.get("distance").is_none(),
                "no scores"
            );
            c["subject"].as_str().expect("subject").to_owned()
        })
        .collect()
}

async fn finds_enrolled_subjects_inside_the_gallery_only(h: &Harness) {
    let key = face_pay(h, 100).await;
    for (s, seed, g) in [
        ("alice", 1, &["store-1"][..]),
        ("bob", 2, &["store-1", "store-2"][..]),
        ("carol", 3, &["store-1"][..]),
        ("dave", 4, &["store-2"][..]),
    ] {
        let r = enrol(h, &key, s, seed, g).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    }
    // A probe near Alice finds Alice, and only her.
    assert_eq!(
        subjects(&identify(h, &key, "store-1", &near(&synthetic(1, DIM), 9)).await),
        ["alice"]
    );
    // Dave is not in store-1: not found there, found in store-2.
    assert!(subjects(&identify(h, &key, "store-1", &near(&synthetic(4, DIM), 9)).await).is_empty());
    assert_eq!(
        subjects(&identify(h, &key, "store-2", &near(&synthetic(4, DIM), 9)).await),
        ["dave"]
    );
    // Bob is in both.
    assert_eq!(
        subjects(&identify(h, &key, "store-2", &synthetic(2, DIM)).await),
        ["bob"]
    );
    // A stranger finds nobody; an unknown gallery is empty, not an error.
    assert!(subjects(&identify(h, &key, "store-1", &synthetic(99, DIM)).await).is_empty());
    assert!(subjects(&identify(h, &key, "store-9", &synthetic(1, DIM)).await).is_empty());

    // Best first: a near-twin of Alice ranks below Alice for a probe equal to Alice.
    let twin = near(&synthetic(1, DIM), 5);
    h.consent(&key, "alice-twin", "face-pay").await;
    h.json(
        "PUT",
        "/v1/subjects/alice-twin/templates/face-pay",
        &key,
        json!({"embedding": twin, "galleries": ["store-1"]}),
    )
    .await;
    let r = identify(h, &key, "store-1", &synthetic(1, DIM)).await;
    assert_eq!(subjects(&r), ["alice", "alice-twin"]);
    assert_eq!(r.json["candidates"][1]["rank"], 2);
    let one = h
        .json(
            "POST",
            "/v1/identify",
            &key,
            json!({"purpose": "face-pay", "gallery": "store-1", "embedding": synthetic(1, DIM),
                   "max_candidates": 1}),
        )
        .await;
    assert_eq!(subjects(&one), ["alice"]);

    // Verification still works on the same templates; identification recorded a use.
    assert_eq!(
        h.verify(&key, "bob", "face-pay", &synthetic(2, DIM))
            .await
            .json["match"],
        true
    );
    let s = h.send("GET", "/v1/subjects/alice", Some(&key), None).await;
    assert!(s.json["templates"][0]["last_used_at"].is_string());

    // Every identification that returned a subject is in that subject's history, with the
    // leaf index of the decision; identifications that did not return them are not.
    let key = key.as_str();
    let history = |who: &'static str| async move {
        let r = h
            .send(
                "GET",
                &format!("/v1/subjects/{who}/history"),
                Some(key),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
        r.json["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| {
                let leaf =
                    bioguard_ledger::Leaf::decode(e["leaf"].as_str().expect("leaf").as_bytes())
                        .expect("a canonical leaf");
                assert_eq!(e["index"].as_u64(), Some(leaf.index));
                leaf.op
            })
            .filter(|op| op == "identify")
            .count()
    };
    // Alice: the first probe, the one that also found her twin, and the max-1 probe.
    assert_eq!(history("alice").await, 3);
    assert_eq!(history("alice-twin").await, 1);
    assert_eq!(history("bob").await, 1);
    assert_eq!(history("dave").await, 1);
    assert_eq!(history("carol").await, 0);
}

async fn withdrawn_erased_and_unconsented_subjects_are_never_returned(h: &Harness) {
    let key = face_pay(h, 100).await;
    for (s, seed) in [("alice", 1), ("bob", 2), ("carol", 3), ("erin", 5)] {
        assert_eq!(
            enrol(h, &key, s, seed, &["store-1"]).await.status,
            StatusCode::CREATED
        );
    }
    let w = h
        .send(
            "DELETE",
            "/v1/subjects/alice/consents/face-pay",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(w.status, StatusCode::OK);
    assert!(subjects(&identify(h, &key, "store-1", &synthetic(1, DIM)).await).is_empty());
    let e = h.send("DELETE", "/v1/subjects/bob", Some(&key), None).await;
    assert_eq!(e.status, StatusCode::OK);
    assert!(subjects(&identify(h, &key, "store-1", &synthetic(2, DIM)).await).is_empty());

    // Consent ended behind the service's back (as by another node's bug or an operator):
    // the database check still refuses the candidate the in-memory gallery offers.
    sqlx::query(
        "UPDATE consents SET ended_at = 1, end_reason = 'withdrawn' WHERE ended_at IS NULL \
                 AND subject IN (SELECT subject FROM templates WHERE id IN \
                 (SELECT template_id FROM template_galleries)) AND subject = \
                 (SELECT t.subject FROM templates t ORDER BY t.enrolled_at, t.id LIMIT 1)",
    )
    .execute(h.store.pool())
    .await
    .expect("end a consent");
    let mut found = Vec::new();
    for seed in [3u64, 5] {
        found.extend(subjects(
            &identify(h, &key, "store-1", &synthetic(seed, DIM)).await,
        ));
    }
    assert_eq!(
        found.len(),
        1,
        "exactly the subject whose consent ended is refused: {found:?}"
    );

    // A template deleted from the database is not returned either.
    sqlx::query("DELETE FROM template_galleries")
        .execute(h.store.pool())
        .await
        .expect("delete");
    for seed in [3u64, 5] {
        assert!(subjects(&identify(h, &key, "store-1", &synthetic(seed, DIM)).await).is_empty());
    }
}

async fn another_nodes_deletions_are_honoured(h: &Harness) {
    let key = face_pay(h, 100).await;
    for (s, seed) in [("alice", 1), ("bob", 2)] {
        assert_eq!(
            enrol(h, &key, s, seed, &["store-1"]).await.status,
            StatusCode::CREATED
        );
    }
    let node_b = h.another_node().await;
    // Node B loaded both from the database at start.
    let r = h
        .json_to(
            &node_b,
            "POST",
            "/v1/identify",
            &key,
            json!({"purpose": "face-pay", "gallery": "store-1", "embedding": synthetic(2, DIM)}),
        )
        .await;
    assert_eq!(subjects(&r), ["bob"]);
    // Withdrawal and erasure through node B; node A's memory still holds both codes.
    let w = h
        .json_to(
            &node_b,
            "DELETE",
            "/v1/subjects/alice/consents/face-pay",
            &key,
            Value::Null,
        )
        .await;
    assert_eq!(w.status, StatusCode::OK, "{}", w.raw);
    let e = h
        .json_to(&node_b, "DELETE", "/v1/subjects/bob", &key, Value::Null)
        .await;
    assert_eq!(e.status, StatusCode::OK, "{}", e.raw);
    assert!(subjects(&identify(h, &key, "store-1", &synthetic(1, DIM)).await).is_empty());
    assert!(subjects(&identify(h, &key, "store-1", &synthetic(2, DIM)).await).is_empty());
}

async fn galleries_are_bounded(h: &Harness) {
    let key = face_pay(h, 2).await;
    assert_eq!(
        enrol(h, &key, "alice", 1, &["store-1"]).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        enrol(h, &key, "bob", 2, &["store-1"]).await.status,
        StatusCode::CREATED
    );
    h.consent(&key, "carol", "face-pay").await;
    let before_full = h.snapshot().await;
    let r = h
        .json(
            "PUT",
            "/v1/subjects/carol/templates/face-pay",
            &key,
            json!({"embedding": synthetic(3, DIM), "galleries": ["store-1"]}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "gallery_full"),
        "{}",
        r.raw
    );
    assert_eq!(
        before_full,
        h.snapshot().await,
        "a refused enrolment stores nothing"
    );
    // Re-enrolling a member is not growth.
    assert_eq!(
        enrol(h, &key, "alice", 11, &["store-1"]).await.status,
        StatusCode::OK
    );

    // A gallery grown past the limit behind the service's back (rows inserted by hand) is
    // refused for search once a node loads it.
    sqlx::query(
        "INSERT INTO template_galleries (template_id, purpose_id, gallery) \
                 SELECT id, purpose_id, 'store-2' FROM templates",
    )
    .execute(h.store.pool())
    .await
    .expect("insert");
    let carol = h
        .json(
            "PUT",
            "/v1/subjects/carol/templates/face-pay",
            &key,
            json!({"embedding": synthetic(3, DIM)}),
        )
        .await;
    assert_eq!(carol.status, StatusCode::CREATED, "{}", carol.raw);
    sqlx::query(
        "INSERT INTO template_galleries (template_id, purpose_id, gallery) \
                 SELECT id, purpose_id, 'store-2' FROM templates WHERE id NOT IN \
                 (SELECT template_id FROM template_galleries WHERE gallery = 'store-2')",
    )
    .execute(h.store.pool())
    .await
    .expect("insert");
    let node = h.another_node().await;
    let r = h
        .json_to(
            &node,
            "POST",
            "/v1/identify",
            &key,
            json!({"purpose": "face-pay", "gallery": "store-2", "embedding": synthetic(1, DIM)}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "gallery_too_large"),
        "{}",
        r.raw
    );
}

async fn invalid_probes_and_requests_are_refused_without_change(h: &Harness) {
    let key = face_pay(h, 100).await;
    assert_eq!(
        enrol(h, &key, "alice", 1, &["store-1"]).await.status,
        StatusCode::CREATED
    );
    let verify_only = h.client(&[("face-pay", &["verify"])]).await;
    h.purpose("payment", DIM).await;
    let payment = h.client(&[("payment", &["enroll", "verify"])]).await;
    let good = synthetic(1, DIM);
    let cases: Vec<(&str, &str, Value, StatusCode, &str)> = vec![
        (
            "wrong dimension",
            &key,
            json!({"purpose": "face-pay", "gallery": "store-1", "embedding": [1.0, 2.0]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            "empty probe",
            &key,
            json!({"purpose": "face-pay", "gallery": "store-1", "embedding": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            "zero candidates",
            &key,
            json!({"purpose": "face-pay", "gallery": "store-1", "embedding": good, "max_candidates": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            "too many candidates",
            &key,
            json!({"purpose": "face-pay", "gallery": "store-1", "embedding": good, "max_candidates": 101}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            "odd gallery name",
            &key,
            json!({"purpose": "face-pay", "gallery": "../store", "embedding": good}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            "unknown field",
            &key,
            json!({"purpose": "face-pay", "gallery": "store-1", "embedding": good, "threshold": 0.1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            "no identify grant",
            &verify_only,
            json!({"purpose": "face-pay", "gallery": "store-1", "embedding": good}),
            StatusCode::FORBIDDEN,
            "no_grant",
        ),
        (
            "purpose without identify",
            &payment,
            json!({"purpose": "payment", "gallery": "store-1", "embedding": good}),
            StatusCode::FORBIDDEN,
            "no_grant",
        ),
        (
            "unknown purpose",
            &key,
            json!({"purpose": "nosuch", "gallery": "store-1", "embedding": good}),
            StatusCode::NOT_FOUND,
            "purpose_not_found",
        ),
    ];
    for (name, token, body, status, code) in cases {
        let before = h.snapshot().await;
        let r = h.json("POST", "/v1/identify", token, body).await;
        assert_eq!((r.status, r.code()), (status, code), "{name}: {}", r.raw);
        assert_eq!(before, h.snapshot().await, "{name}: the database changed");
    }
    // Non-finite values: 1e39 is a valid JSON number but not a finite f32.
    let r = h
        .send(
            "POST",
            "/v1/identify",
            Some(&key),
            Some(&format!(
                "{{\"purpose\":\"face-pay\",\"gallery\":\"store-1\",\"embedding\":[1e39{}]}}",
                ",0.5".repeat(DIM - 1)
            )),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        "{}",
        r.raw
    );
    // Galleries on a purpose without identification are refused at enrolment.
    h.consent(&payment, "alice", "payment").await;
    let r = h
        .json(
            "PUT",
            "/v1/subjects/alice/templates/payment",
            &payment,
            json!({"embedding": good, "galleries": ["store-1"]}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        "{}",
        r.raw
    );
    let r = h
        .json(
            "PUT",
            "/v1/subjects/alice/templates/face-pay",
            &key,
            json!({"embedding": good, "galleries": ["a b"]}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        "{}",
        r.raw
    );
}

async fn batches_answer_each_probe_in_order(h: &Harness) {
    let key = face_pay(h, 100).await;
    for (s, seed) in [("alice", 1), ("bob", 2), ("carol", 3)] {
        enrol(h, &key, s, seed, &["store-1"]).await;
    }
    let probes = vec![
        synthetic(3, DIM),
        synthetic(99, DIM),
        near(&synthetic(1, DIM), 4),
        synthetic(2, DIM),
    ];
    let r = h
        .json(
            "POST",
            "/v1/identify/batch",
            &key,
            json!({"purpose": "face-pay", "gallery": "store-1", "embeddings": probes}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let got: Vec<Vec<String>> = r.json["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|x| {
            x["candidates"]
                .as_array()
                .expect("c")
                .iter()
                .map(|c| c["subject"].as_str().expect("s").to_owned())
                .collect()
        })
        .collect();
    assert_eq!(
        got,
        vec![
            vec!["carol".to_owned()],
            vec![],
            vec!["alice".to_owned()],
            vec!["bob".to_owned()]
        ]
    );
    let too_many = vec![vec![0.5f32; DIM]; 257];
    let r = h
        .json(
            "POST",
            "/v1/identify/batch",
            &key,
            json!({"purpose": "face-pay", "gallery": "store-1", "embeddings": too_many}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request")
    );
    let r = h
        .json(
            "POST",
            "/v1/identify/batch",
            &key,
            json!({"purpose": "face-pay", "gallery": "store-1", "embeddings": []}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request")
    );
}

async fn rotating_the_key_revokes_every_code(h: &Harness) {
    let key = face_pay(h, 100).await;
    enrol(h, &key, "alice", 1, &["store-1"]).await;
    let r = h
        .send(
            "POST",
            "/v1/purposes/face-pay/protection-key",
            Some(&h.admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.json["protection_key_version"], 2);
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM protection_keys WHERE version = 1")
        .fetch_one(h.store.pool())
        .await
        .expect("count");
    assert_eq!(n, 0, "the old protection key is destroyed");
    let v = h
        .verify(&key, "alice", "face-pay", &synthetic(1, DIM))
        .await;
    assert_eq!(
        (v.status, v.code()),
        (StatusCode::CONFLICT, "reenrolment_required"),
        "{}",
        v.raw
    );
    assert!(subjects(&identify(h, &key, "store-1", &synthetic(1, DIM)).await).is_empty());
    // Enrolling again under the new key restores both.
    assert_eq!(
        enrol(h, &key, "alice", 1, &["store-1"]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        h.verify(&key, "alice", "face-pay", &synthetic(1, DIM))
            .await
            .json["match"],
        true
    );
    assert_eq!(
        subjects(&identify(h, &key, "store-1", &synthetic(1, DIM)).await),
        ["alice"]
    );
    let listed = h.send("GET", "/v1/purposes", None, None).await;
    assert_eq!(listed.json[0]["protection_key_version"], 2);
    let r = h
        .send(
            "POST",
            "/v1/purposes/face-pay/protection-key",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "clients cannot rotate keys"
    );
}

async fn galleries_are_rebuilt_at_start(h: &Harness) {
    let key = face_pay(h, 1000).await;
    for n in 0..40u64 {
        let s = format!("person-{n}");
        let g = if n % 2 == 0 { "even" } else { "odd" };
        assert_eq!(
            enrol(h, &key, &s, 100 + n, &[g, "all"]).await.status,
            StatusCode::CREATED
        );
    }
    let node = h.another_node().await;
    for n in [0u64, 7, 39] {
        let r = h
            .json_to(&node, "POST", "/v1/identify", &key,
                     json!({"purpose": "face-pay", "gallery": "all", "embedding": synthetic(100 + n, DIM)}))
            .await;
        assert_eq!(subjects(&r), [format!("person-{n}")]);
        let other = if n % 2 == 0 { "odd" } else { "even" };
        let r = h
            .json_to(&node, "POST", "/v1/identify", &key,
                     json!({"purpose": "face-pay", "gallery": other, "embedding": synthetic(100 + n, DIM)}))
            .await;
        assert!(subjects(&r).is_empty());
    }
}
