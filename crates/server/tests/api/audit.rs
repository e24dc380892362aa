//! The audit ledger through the API: exactly one leaf per change or use, written with it,
//! carrying the request id, and never biometric data.

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bioguard_ledger::{Leaf, VerifierKey, leaf_hash, verify_consistency, verify_inclusion};
use serde_json::json;

use tower::ServiceExt;

use crate::harness::{Harness, Reply, synthetic};

crate::on_both_backends!(
    every_operation_writes_exactly_one_leaf,
    checkpoints_proofs_and_history_verify_independently,
    a_burst_of_failed_authentications_is_recorded_once,
);

async fn leaves(h: &Harness) -> Vec<Leaf> {
    h.leaves().await
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
                   "operations": ["enroll", "verify", "identify"]}],
                   "subject_rights": ["read", "erase"]}),
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
    // Who looked at whom is a use too.
    let r = h.send("GET", "/v1/subjects/alice", Some(&key), None).await;
    let n = expect_leaves(h, n, &r, 1, "subject.read").await;
    let r = h
        .send("DELETE", "/v1/subjects/alice", Some(&key), None)
        .await;
    let n = expect_leaves(h, n, &r, 1, "subject.erase").await;

    // Leaves name subjects by one-time tags, never by the relying party's identifier or a
    // pseudonym, and hold no embedding.
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
    assert_eq!(n, 12);
}

fn hash(s: &serde_json::Value) -> [u8; 32] {
    B64.decode(s.as_str().expect("base64 text"))
        .expect("base64")
        .try_into()
        .expect("32 bytes")
}

fn hashes(v: &serde_json::Value) -> Vec<[u8; 32]> {
    v.as_array().expect("array").iter().map(hash).collect()
}

async fn checkpoint(h: &Harness, key: &VerifierKey) -> (String, bioguard_ledger::Checkpoint) {
    let r = h.send("GET", "/v1/audit/checkpoint", None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let c = key
        .open(&r.raw)
        .expect("a checkpoint signed by the published key");
    (r.raw, c)
}

async fn checkpoints_proofs_and_history_verify_independently(h: &Harness) {
    let k = h.send("GET", "/v1/audit/key", None, None).await;
    assert_eq!(k.status, StatusCode::OK);
    let key = VerifierKey::parse(k.json["verifier_key"].as_str().expect("key")).expect("valid key");
    let origin = k.json["origin"].as_str().expect("origin").to_owned();
    h.purpose("payment", 8).await;
    let api = h.client(&[("payment", &["enroll", "verify"])]).await;
    h.consent(&api, "alice", "payment").await;
    let (old_note, old) = checkpoint(h, &key).await;
    assert_eq!(old.origin, origin);
    h.enroll(&api, "alice", "payment", &synthetic(1, 8)).await;
    h.verify(&api, "alice", "payment", &synthetic(1, 8)).await;
    h.consent(&api, "bob", "payment").await;
    let (new_note, new) = checkpoint(h, &key).await;
    assert_eq!(new.size, old.size + 3);

    // Every leaf: its text hashes to the proof's leaf hash, and the path reaches the root.
    let leaves = h
        .send(
            "GET",
            &format!("/v1/audit/leaves?start=0&end={}", new.size),
            None,
            None,
        )
        .await;
    assert_eq!(leaves.status, StatusCode::OK, "{}", leaves.raw);
    let texts: Vec<String> = leaves.json["leaves"]
        .as_array()
        .expect("leaves")
        .iter()
        .map(|l| l.as_str().expect("text").to_owned())
        .collect();
    assert_eq!(texts.len() as u64, new.size);
    for (i, text) in texts.iter().enumerate() {
        let p = h
            .send(
                "GET",
                &format!("/v1/audit/proof/inclusion?index={i}&size={}", new.size),
                None,
                None,
            )
            .await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.raw);
        let lh = leaf_hash(text.as_bytes());
        assert_eq!(hash(&p.json["leaf_hash"]), lh);
        verify_inclusion(
            &lh,
            i as u64,
            new.size,
            &hashes(&p.json["hashes"]),
            &new.root,
        )
        .expect("inclusion proof verifies");
    }
    let c = h
        .send(
            "GET",
            &format!(
                "/v1/audit/proof/consistency?from={}&to={}",
                old.size, new.size
            ),
            None,
            None,
        )
        .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.raw);
    verify_consistency(
        old.size,
        new.size,
        &hashes(&c.json["hashes"]),
        &old.root,
        &new.root,
    )
    .expect("the new checkpoint extends the old one");

    // The offline verifier agrees, given the leaves and both saved checkpoints.
    let bytes: Vec<Vec<u8>> = texts.iter().map(|t| t.as_bytes().to_vec()).collect();
    let report = bioguard_ledger::verify_log(&bytes, &[old_note, new_note.clone()], &origin, &key);
    assert!(report.is_ok(), "{report:?}");

    // Alice's history lists her consent, enrolment and verification, each provable.
    let hist = h
        .send("GET", "/v1/subjects/alice/history", Some(&api), None)
        .await;
    assert_eq!(hist.status, StatusCode::OK, "{}", hist.raw);
    let ops: Vec<String> = hist.json["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            let i = e["index"].as_u64().expect("index") as usize;
            let leaf = e["leaf"].as_str().expect("leaf");
            // The read itself is recorded first, after the leaves fetched above.
            if let Some(t) = texts.get(i) {
                assert_eq!(leaf, t.as_str());
            }
            Leaf::decode(leaf.as_bytes()).expect("leaf").op
        })
        .collect();
    assert_eq!(ops, ["consent.grant", "enrol", "verify", "subject.read"]);
    assert_eq!(
        h.send("GET", "/v1/subjects/alice/history", None, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    // Another node serves the same signed checkpoint.
    let node = h.another_node().await;
    let other = node
        .clone()
        .oneshot(
            axum::http::Request::get("/v1/audit/checkpoint")
                .body(axum::body::Body::empty())
                .expect("req"),
        )
        .await
        .expect("reply");
    let other = axum::body::to_bytes(other.into_body(), 1 << 20)
        .await
        .expect("body");
    // (The history read above was recorded: the log grew since `new_note`.)
    let (latest, new) = checkpoint(h, &key).await;
    assert_eq!(String::from_utf8_lossy(&other), latest);

    for bad in [
        format!(
            "/v1/audit/proof/inclusion?index={}&size={}",
            new.size, new.size
        ),
        format!("/v1/audit/proof/inclusion?index=0&size={}", new.size + 1),
        "/v1/audit/proof/inclusion?index=x&size=1".to_owned(),
        "/v1/audit/proof/inclusion?size=1".to_owned(),
        "/v1/audit/proof/consistency?from=0&to=1".to_owned(),
        format!("/v1/audit/proof/consistency?from=2&to={}", new.size + 5),
        "/v1/audit/leaves?start=0&end=5000".to_owned(),
        "/v1/audit/leaves?start=3&end=3".to_owned(),
    ] {
        let r = h.send("GET", &bad, None, None).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
            "{bad}: {}",
            r.raw
        );
    }
}

async fn a_burst_of_failed_authentications_is_recorded_once(h: &Harness) {
    let before = leaves(h).await.len();
    for n in 0..45 {
        let token = format!("bgc_{n:064}");
        let r = h
            .send("GET", "/v1/subjects/alice", Some(&token), None)
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let all = leaves(h).await;
    let bursts: Vec<&Leaf> = all[before..]
        .iter()
        .filter(|l| l.op == "auth.failure_burst")
        .collect();
    assert_eq!(
        bursts.len(),
        1,
        "one leaf per window, however many failures"
    );
    assert_eq!(all.len(), before + 1, "failures themselves change nothing");
    assert!(
        !String::from_utf8_lossy(&bursts[0].encode()).contains("bgc_"),
        "no token in the leaf"
    );
}
