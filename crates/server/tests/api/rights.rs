//! The person's choices: lock and unlock biometric use, and withdraw, each answered with the
//! fallback so the relying party offers its non-biometric method.

use axum::http::StatusCode;
use bioguard_store::prelude::*;
use serde_json::json;

use crate::harness::{Harness, Reply, near, synthetic};

crate::on_both_backends!(
    a_lock_refuses_every_use_until_unlocked,
    withdrawal_leaves_nothing_and_every_use_answers_with_the_fallback,
    receipts_and_certificates_verify_with_the_published_key,
    consent_follows_the_current_notice,
    the_report_lists_everything_held_and_every_use,
    a_client_over_its_rate_is_told_when_to_retry,
    a_client_key_is_rotated_and_the_old_one_stops_at_once,
);

const DIM: usize = 16;

async fn setup(h: &Harness) -> String {
    let r = h
        .json(
            "POST",
            "/v1/purposes",
            &h.admin,
            json!({"id": "gate", "description": "Gate entry", "dimension": DIM,
                   "operations": ["enroll", "verify", "identify"], "max_gallery_size": 10,
                   "retention": {"max_days_since_enrolment": 30}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    let key = h
        .client(&[("gate", &["enroll", "verify", "identify"][..])])
        .await;
    for (who, seed) in [("alice", 1), ("bob", 2)] {
        h.consent(&key, who, "gate").await;
        let r = h
            .json(
                "PUT",
                &format!("/v1/subjects/{who}/templates/gate"),
                &key,
                json!({"embedding": synthetic(seed, DIM), "galleries": ["lobby"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    }
    key
}

async fn identify(h: &Harness, key: &str, seed: u64) -> Vec<String> {
    let r = h
        .json(
            "POST",
            "/v1/identify",
            key,
            json!({"purpose": "gate", "gallery": "lobby",
                   "embedding": near(&synthetic(seed, DIM), 7), "max_candidates": 3}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    r.json["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .map(|c| c["subject"].as_str().expect("subject").to_owned())
        .collect()
}

fn fallback(r: &Reply, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{}", r.raw);
    assert_eq!(r.code(), code, "{}", r.raw);
    assert_eq!(r.json["error"]["fallback"], "required", "{}", r.raw);
}

async fn size(h: &Harness) -> u64 {
    h.store.audit_size().await.expect("size")
}

async fn a_lock_refuses_every_use_until_unlocked(h: &Harness) {
    let key = setup(h).await;
    assert_eq!(identify(h, &key, 1).await, ["alice"]);
    let before = size(h).await;
    let r = h
        .send("POST", "/v1/subjects/alice/lock", Some(&key), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.json["locked"], true);
    assert!(r.json["locked_at"].is_string());
    assert_eq!(size(h).await, before + 1, "a lock is one leaf");
    // Locking again changes nothing and records nothing.
    let again = h
        .send("POST", "/v1/subjects/alice/lock", Some(&key), None)
        .await;
    assert_eq!(again.json["locked_at"], r.json["locked_at"]);
    assert_eq!(size(h).await, before + 1);

    let v = h.verify(&key, "alice", "gate", &synthetic(1, DIM)).await;
    fallback(&v, StatusCode::LOCKED, "biometrics_locked");
    let e = h.enroll(&key, "alice", "gate", &synthetic(1, DIM)).await;
    fallback(&e, StatusCode::LOCKED, "biometrics_locked");
    // Identification never returns her (and does not reveal that she matched).
    assert!(identify(h, &key, 1).await.is_empty());
    assert_eq!(identify(h, &key, 2).await, ["bob"], "others are unaffected");
    let s = h.send("GET", "/v1/subjects/alice", Some(&key), None).await;
    assert_eq!(s.json["locked_at"], r.json["locked_at"], "{}", s.raw);

    let u = h
        .send("POST", "/v1/subjects/alice/unlock", Some(&key), None)
        .await;
    assert_eq!(u.status, StatusCode::OK, "{}", u.raw);
    assert_eq!(u.json["locked"], false);
    assert_eq!(
        h.verify(&key, "alice", "gate", &synthetic(1, DIM))
            .await
            .json["match"],
        true
    );
    assert_eq!(identify(h, &key, 1).await, ["alice"]);
    let history = h
        .send("GET", "/v1/subjects/alice/history", Some(&key), None)
        .await;
    for op in ["subject.lock", "subject.unlock"] {
        assert_eq!(history.raw.matches(op).count(), 1, "{op}: {}", history.raw);
    }
    // Without a client key, nobody can lock or unlock.
    let anon = h.send("POST", "/v1/subjects/alice/lock", None, None).await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
}

async fn withdrawal_leaves_nothing_and_every_use_answers_with_the_fallback(h: &Harness) {
    let key = setup(h).await;
    let r = h
        .send(
            "DELETE",
            "/v1/subjects/alice/consents/gate",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    // Checked in the database itself: no template, no data key, no gallery entry for her.
    for (table, sql) in [
        ("templates", "SELECT COUNT(*) FROM templates"),
        ("data_keys", "SELECT COUNT(*) FROM data_keys"),
        (
            "template_galleries",
            "SELECT COUNT(*) FROM template_galleries",
        ),
    ] {
        assert_eq!(
            bioguard_store::count_rows(&h.store, sql)
                .await
                .expect("count"),
            1,
            "only Bob's row is left in {table}"
        );
    }
    let v = h.verify(&key, "alice", "gate", &synthetic(1, DIM)).await;
    fallback(&v, StatusCode::FORBIDDEN, "consent_required");
    assert!(identify(h, &key, 1).await.is_empty());
    let e = h.enroll(&key, "alice", "gate", &synthetic(1, DIM)).await;
    fallback(&e, StatusCode::FORBIDDEN, "consent_required");
    assert_eq!(identify(h, &key, 2).await, ["bob"]);
}

async fn receipts_and_certificates_verify_with_the_published_key(h: &Harness) {
    let key = setup(h).await;
    let jwks = h.send("GET", "/v1/keys", None, None).await;
    assert_eq!(jwks.status, StatusCode::OK, "{}", jwks.raw);
    let verifier =
        bioguard_ledger::DocumentVerifier::from_jwk(&jwks.json["keys"][0]).expect("a JWK");
    let check = |token: &str, typ: &str| {
        let doc = verifier.verify(token, &[typ]).expect("verifies");
        // Presented as the other kind of document, it is refused.
        let other = if typ == bioguard_service::RECEIPT_TYPE {
            bioguard_service::CERTIFICATE_TYPE
        } else {
            bioguard_service::RECEIPT_TYPE
        };
        assert!(verifier.verify(token, &[other]).is_err());
        assert_eq!(doc.typ, typ);
        // One changed byte anywhere in the payload or signature breaks it.
        let mut b = token.as_bytes().to_vec();
        let i = token.find('.').expect("dot") + 5;
        b[i] = if b[i] == b'a' { b'b' } else { b'a' };
        assert!(
            verifier
                .verify(&String::from_utf8(b).expect("ascii"), &[typ])
                .is_err()
        );
        doc.payload
    };
    // Consent given: the receipt carries the record's fields, never the subject's identifier.
    let r = h.consent(&key, "carol", "gate").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    let given = check(
        r.json["receipt"].as_str().expect("receipt"),
        bioguard_service::RECEIPT_TYPE,
    );
    assert_eq!(given["record_id"], r.json["id"]);
    assert_eq!(given["event"]["type"], "given");
    assert_eq!(given["event"]["state"], "active");
    assert_eq!(given["purpose"]["id"], "gate");
    assert_eq!(given["retention"]["max_days_since_enrolment"], 30);
    for field in [
        "schema_version",
        "principal",
        "notice",
        "data_types",
        "controller",
        "storage_location",
        "jurisdiction",
        "recipients",
        "withdrawal_method",
    ] {
        assert!(given.contains_key(field), "{field} missing: {given:?}");
    }
    assert!(
        !serde_json::Value::Object(given.clone())
            .to_string()
            .contains("carol"),
        "the receipt names the principal only"
    );
    // Withdrawn: a receipt of the ended record.
    let w = h
        .send(
            "DELETE",
            "/v1/subjects/carol/consents/gate",
            Some(&key),
            None,
        )
        .await;
    let ended = check(
        w.json["receipt"].as_str().expect("receipt"),
        bioguard_service::RECEIPT_TYPE,
    );
    assert_eq!(ended["record_id"], given["record_id"]);
    assert_eq!(ended["event"]["type"], "withdrawn");
    assert_eq!(ended["principal"], given["principal"]);
    // Erased: a certificate of what was destroyed, naming its ledger leaf.
    let e = h
        .send("DELETE", "/v1/subjects/alice", Some(&key), None)
        .await;
    assert_eq!(e.status, StatusCode::OK, "{}", e.raw);
    let cert = check(
        e.json["certificate"].as_str().expect("certificate"),
        bioguard_service::CERTIFICATE_TYPE,
    );
    assert_eq!(cert["destroyed"]["templates"], 1);
    assert_eq!(cert["destroyed"]["data_keys"], 1);
    assert_eq!(cert["ledger_index"], e.json["ledger_index"]);
    let leaf = h
        .store
        .audit_leaves(
            e.json["ledger_index"].as_u64().expect("index"),
            e.json["ledger_index"].as_u64().expect("index") + 1,
        )
        .await
        .expect("leaf");
    let leaf = bioguard_ledger::Leaf::decode(&leaf[0]).expect("leaf");
    assert_eq!(leaf.op, "subject.erase");
    // The leaf names her by a one-time tag; the certificate's principal is in no leaf.
    assert!(
        leaf.subject
            .as_deref()
            .is_some_and(|t| t.starts_with(bioguard_service::TAG_PREFIX)),
        "{leaf:?}"
    );
    let principal = cert["principal"].as_str().expect("principal");
    let all = h.leaves().await;
    assert!(
        all.iter()
            .all(|l| !String::from_utf8_lossy(&l.encode()).contains(principal)),
        "a principal reached a public leaf"
    );
}

async fn consent_follows_the_current_notice(h: &Harness) {
    let key = setup(h).await;
    // v1 came with the purpose; its canonical text hashes to the published hash.
    let list = h.send("GET", "/v1/purposes/gate/notices", None, None).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.raw);
    let v1 = &list.json[0];
    assert_eq!(v1["version"], "v1");
    let digest = {
        use sha2::Digest;
        bioguard_crypto::hex_encode(&sha2::Sha256::digest(
            v1["canonical"].as_str().expect("canonical").as_bytes(),
        ))
    };
    assert_eq!(v1["hash"], digest);

    // A material change with a 14-day deadline for consenting again.
    let n = h
        .json(
            "POST",
            "/v1/purposes/gate/notices",
            &h.admin,
            json!({"text": "Gate entry; templates are now also used at the car park",
                   "language": "en", "controller": "Acme Buildings Ltd",
                   "jurisdiction": "EU GDPR", "recipients": ["Car Park Ops Ltd"],
                   "material": true, "reconsent_days": 14}),
        )
        .await;
    assert_eq!(n.status, StatusCode::CREATED, "{}", n.raw);
    assert_eq!(n.json["version"], "v2");
    // Consent only to the current notice: v1 is outdated, v9 does not exist.
    let old = h
        .json(
            "PUT",
            "/v1/subjects/carol/consents/gate",
            &key,
            json!({"notice_version": "v1", "method": "web"}),
        )
        .await;
    assert_eq!(
        (old.status, old.code()),
        (StatusCode::CONFLICT, "notice_outdated"),
        "{}",
        old.raw
    );
    let none = h
        .json(
            "PUT",
            "/v1/subjects/carol/consents/gate",
            &key,
            json!({"notice_version": "v9", "method": "web"}),
        )
        .await;
    assert_eq!(
        none.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        none.raw
    );
    // Alice consented under v1: no new enrolment, but verification goes on until day 14.
    let e = h.enroll(&key, "alice", "gate", &synthetic(1, DIM)).await;
    fallback(&e, StatusCode::FORBIDDEN, "reconsent_required");
    h.service.clock().advance(13 * 86_400);
    assert_eq!(
        h.verify(&key, "alice", "gate", &synthetic(1, DIM))
            .await
            .json["match"],
        true
    );
    assert_eq!(identify(h, &key, 1).await, ["alice"]);
    h.service.clock().advance(86_400);
    let v = h.verify(&key, "alice", "gate", &synthetic(1, DIM)).await;
    fallback(&v, StatusCode::FORBIDDEN, "reconsent_required");
    assert!(identify(h, &key, 1).await.is_empty());
    // Consenting to v2 restores everything; the receipt names v2 and its hash.
    let c = h
        .json(
            "PUT",
            "/v1/subjects/alice/consents/gate",
            &key,
            json!({"notice_version": "v2", "method": "web"}),
        )
        .await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.raw);
    let jwks = h.send("GET", "/v1/keys", None, None).await;
    let receipt = bioguard_ledger::DocumentVerifier::from_jwk(&jwks.json["keys"][0])
        .expect("jwk")
        .verify(
            c.json["receipt"].as_str().expect("receipt"),
            &[bioguard_service::RECEIPT_TYPE],
        )
        .expect("verifies")
        .payload;
    assert_eq!(receipt["notice"]["version"], "v2");
    assert_eq!(receipt["notice"]["hash"], n.json["hash"]);
    assert_eq!(receipt["controller"], "Acme Buildings Ltd");
    assert_eq!(receipt["recipients"], json!(["Car Park Ops Ltd"]));
    assert_eq!(
        h.verify(&key, "alice", "gate", &synthetic(1, DIM))
            .await
            .json["match"],
        true
    );
    let e = h.enroll(&key, "alice", "gate", &synthetic(1, DIM)).await;
    assert_eq!(e.status, StatusCode::OK, "a replacement: {}", e.raw);
    // Publishing is for admins only.
    let anon = h
        .json(
            "POST",
            "/v1/purposes/gate/notices",
            &key,
            json!({"text": "x", "controller": "y"}),
        )
        .await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED, "{}", anon.raw);
}

async fn the_report_lists_everything_held_and_every_use(h: &Harness) {
    let key = setup(h).await;
    h.verify(&key, "alice", "gate", &synthetic(1, DIM)).await;
    identify(h, &key, 1).await;
    h.send("POST", "/v1/subjects/alice/lock", Some(&key), None)
        .await;
    let req = axum::http::Request::get("/v1/subjects/alice/report")
        .header("authorization", format!("Bearer {key}"))
        .body(axum::body::Body::empty())
        .expect("request");
    let r = h.send_request(req).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let report = &r.json;
    assert!(report["locked_since"].is_string());
    assert_eq!(report["purposes"][0]["id"], "gate");
    assert_eq!(report["purposes"][0]["current_notice"]["version"], "v1");
    assert_eq!(report["consents"].as_array().map(Vec::len), Some(1));
    let verifier = bioguard_ledger::DocumentVerifier::from_jwk(
        &report["verify_with"]["receipt_keys"]["keys"][0],
    )
    .expect("jwk");
    verifier
        .verify(
            report["consents"][0]["receipt"].as_str().expect("receipt"),
            &[bioguard_service::RECEIPT_TYPE],
        )
        .expect("the receipt in the report verifies");
    let t = &report["templates"][0];
    assert!(
        t["last_used_at"].is_string() && t["deleted_by"].is_string(),
        "{t}"
    );
    let ops: Vec<&str> = report["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|e| {
            assert!(e["ledger_index"].is_u64());
            e["operation"].as_str().expect("op")
        })
        .collect();
    assert_eq!(
        ops,
        [
            "consent.grant",
            "enrol",
            "verify",
            "identify",
            "subject.lock",
            "subject.read"
        ]
    );
    // Each entry is provably hers: its tag (or, for the identification, one of the tags
    // returned) checks with the ledger key the report gives her.
    let key = bioguard_service::SubjectKey::from_b64(
        report["verify_with"]["subject_ledger_key"]["key"]
            .as_str()
            .expect("ledger key"),
    )
    .expect("a key");
    let leaves = h.leaves().await;
    for e in report["history"].as_array().expect("history") {
        let i = e["ledger_index"].as_u64().expect("index") as usize;
        assert!(key.names(&leaves[i], None), "{:?}", leaves[i]);
    }
    // Nothing in it is the subject's own identifier.
    assert!(!r.raw.contains("alice"), "{}", r.raw);
}

async fn a_client_over_its_rate_is_told_when_to_retry(h: &Harness) {
    use tower::ServiceExt;
    let key = setup(h).await;
    // A node of the same deployment limited to 2 requests per second (burst 4) per client.
    let app = h.another_node_with(|s| s.with_client_rate_limit(2)).await;
    let get = || {
        axum::http::Request::get("/v1/subjects/alice")
            .header("authorization", format!("Bearer {key}"))
            .body(axum::body::Body::empty())
            .expect("request")
    };
    for _ in 0..4 {
        let r = app.clone().oneshot(get()).await.expect("reply");
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = app.clone().oneshot(get()).await.expect("reply");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let body = axum::body::to_bytes(r.into_body(), 1 << 16)
        .await
        .expect("body");
    assert!(String::from_utf8_lossy(&body).contains("rate_limited"));
    // The unlimited node of the same deployment still answers: the limit is per node.
    let r = h.send("GET", "/v1/subjects/alice", Some(&key), None).await;
    assert_eq!(r.status, StatusCode::OK);
}

async fn a_client_key_is_rotated_and_the_old_one_stops_at_once(h: &Harness) {
    let old = setup(h).await;
    let who = h.send("GET", "/v1/subjects/alice", Some(&old), None).await;
    assert_eq!(who.status, StatusCode::OK);
    let digest = {
        // The client id, from the ledger of its creation.
        let n = h.store.audit_size().await.expect("size");
        let leaves = h.store.audit_leaves(0, n).await.expect("leaves");
        leaves
            .iter()
            .map(|b| bioguard_ledger::Leaf::decode(b).expect("leaf"))
            .find(|l| l.op == "consent.grant")
            .map(|l| l.actor.trim_start_matches("client:").to_owned())
            .expect("a consent by the client")
    };
    let r = h
        .json(
            "POST",
            &format!("/v1/clients/{digest}/key"),
            &h.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let new = r.json["api_key"].as_str().expect("key").to_owned();
    assert_ne!(new, old);
    let refused = h.send("GET", "/v1/subjects/alice", Some(&old), None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let ok = h.send("GET", "/v1/subjects/alice", Some(&new), None).await;
    assert_eq!(ok.status, StatusCode::OK);
    let unknown = h
        .json(
            "POST",
            "/v1/clients/cl_00000000000000000000000000000000/key",
            &h.admin,
            json!({}),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::NOT_FOUND, "client_not_found")
    );
    let by_client = h
        .json(
            "POST",
            &format!("/v1/clients/{digest}/key"),
            &new,
            json!({}),
        )
        .await;
    assert_eq!(
        by_client.status,
        StatusCode::UNAUTHORIZED,
        "only the admin rotates keys"
    );
}
