//! The audit ledger through the API: exactly one leaf per change or use, written with it,
//! carrying the request id, and never biometric data.

use axum::http::StatusCode;
use bioguard_ledger::Leaf;
use bioguard_store::Store;
use serde_json::json;

use crate::harness::{Harness, Reply, synthetic};

crate::on_both_backends!(every_operation_writes_exactly_one_leaf);

async fn leaves(h: &Harness) -> Vec<Leaf> {
    let n = h.store.audit_size().await.expect("size");
    h.store
        .audit_leaves(0, n)
        .await
        .expect("leaves")
        .iter()
        .map(|b| Leaf::decode(b).expect("canonical leaf"))
        .collect()
}

/// Runs a call and checks it added `added` leaves, the last with `op` and the call's
/// request id.
async fn expect_leaves(h: &Harness, before: usize, reply: &Reply, added: usize, op: &str) -> usize {
    let all = leaves(h).await;
    assert_eq!(all.len(), before + added, "{op}: {}", reply.raw);
    if added > 0 {
        let last = all.last().expect("a leaf");
        assert_eq!(last.op, op);
        assert_eq!(
            last.request.as_deref(),
            Some(reply.request_id.as_str()),
            "{op}"
        );
    }
    all.len()
}

async fn every_operation_writes_exactly_one_leaf(h: &Harness) {
    // The harness registered the admin token: one leaf.
    let n = leaves(h).await.len();
    assert_eq!(n, 1);
    assert_eq!(leaves(h).await[0].op, "admin_token.register");
    let r = h
        .json(
            "POST",
            "/v1/purposes",
            &h.admin,
            json!({"id": "face-pay", "description": "Pay by face", "dimension": 16,
                   "operations": ["enroll", "verify", "identify"], "max_gallery_size": 100,
                   "retention": {"max_days_since_enrolment": 30}}),
        )
        .await;
    let n = expect_leaves(h, n, &r, 1, "purpose.create").await;
    let r = h
        .json(
            "POST",
            "/v1/clients",
            &h.admin,
            json!({"name": "till", "grants": [{"purpose": "face-pay",
                   "operations": ["enroll", "verify", "identify"]}]}),
        )
        .await;
    let key = r.json["api_key"].as_str().expect("key").to_owned();
    let n = expect_leaves(h, n, &r, 1, "client.create").await;
    let r = h.verify(&key, "alice", "face-pay", &synthetic(1, 16)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let n = expect_leaves(h, n, &r, 0, "").await;
    let r = h.consent(&key, "alice", "face-pay").await;
    let n = expect_leaves(h, n, &r, 1, "consent.grant").await;
    let r = h.consent(&key, "alice", "face-pay").await;
    let n = expect_leaves(h, n, &r, 0, "").await;
    let e = synthetic(1, 16);
    let r = h
        .json(
            "PUT",
            "/v1/subjects/alice/templates/face-pay",
            &key,
            json!({"embedding": e, "galleries": ["store-1"]}),
        )
        .await;
    let n = expect_leaves(h, n, &r, 1, "enrol").await;
    let r = h.verify(&key, "alice", "face-pay", &e).await;
    let n = expect_leaves(h, n, &r, 1, "verify").await;
    assert_eq!(leaves(h).await[n - 1].decision.as_deref(), Some("match"));
    let r = h
        .json(
            "POST",
            "/v1/identify/batch",
            &key,
            json!({"purpose": "face-pay", "gallery": "store-1",
                     "embeddings": [e.clone(), synthetic(2, 16)]}),
        )
        .await;
    let n = expect_leaves(h, n, &r, 2, "identify").await;
    let all = leaves(h).await;
    assert_eq!(all[n - 2].decision.as_deref(), Some("1 candidates"));
    assert_eq!(all[n - 1].decision.as_deref(), Some("0 candidates"));
    let r = h
        .send(
            "POST",
            "/v1/purposes/face-pay/protection-key",
            Some(&h.admin),
            None,
        )
        .await;
    let n = expect_leaves(h, n, &r, 1, "protection_key.rotate").await;
    let r = h
        .send(
            "DELETE",
            "/v1/subjects/alice/consents/face-pay",
            Some(&key),
            None,
        )
        .await;
    let n = expect_leaves(h, n, &r, 1, "consent.withdraw").await;
    let r = h
        .send("DELETE", "/v1/subjects/alice", Some(&key), None)
        .await;
    let n = expect_leaves(h, n, &r, 1, "subject.erase").await;

    // Leaves name pseudonyms, never the relying party's identifier, and hold no embedding.
    let text: String = leaves(h)
        .await
        .iter()
        .map(|l| String::from_utf8_lossy(&l.encode()).into_owned())
        .collect();
    assert!(
        !text.contains("alice"),
        "a subject identifier reached the ledger"
    );
    for v in &e {
        assert!(
            !text.contains(&format!("{v}")),
            "an embedding value reached the ledger"
        );
    }
    assert_eq!(n, 11);
}
