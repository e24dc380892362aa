//! A public ledger that proves without tracking: anyone can read every leaf, yet nothing in
//! them ties two uses of one person together, nothing a person or client is handed appears
//! in them, and after erasure not even the service can say which leaves were the person's.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use bioguard_ledger::Leaf;
use bioguard_service::SubjectKey;
use serde_json::{Value, json};

use crate::harness::{Harness, near, synthetic};

crate::on_both_backends!(no_public_value_links_the_uses_of_one_person);

const DIM: usize = 16;

/// The values a leaf shows about a use: its operation, actor, subject, purpose, decision,
/// request id and every detail (a list of tags counted tag by tag). Its index, predecessor
/// hash and time are left out: they are unique, or (times) a clock, not an identifier.
fn values(leaf: &Leaf) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    out.insert(format!("op={}", leaf.op));
    out.insert(format!("actor={}", leaf.actor));
    for (k, v) in [
        ("subject", &leaf.subject),
        ("purpose", &leaf.purpose),
        ("decision", &leaf.decision),
        ("request", &leaf.request),
    ] {
        if let Some(v) = v {
            out.insert(format!("{k}={v}"));
        }
    }
    for (k, v) in &leaf.detail {
        for part in v.split(',') {
            out.insert(format!("{k}={part}"));
        }
    }
    out
}

async fn report(h: &Harness, key: &str, who: &str) -> Value {
    let r = h
        .send(
            "GET",
            &format!("/v1/subjects/{who}/report"),
            Some(key),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    r.json
}

fn ledger_key(report: &Value) -> SubjectKey {
    SubjectKey::from_b64(
        report["verify_with"]["subject_ledger_key"]["key"]
            .as_str()
            .expect("ledger key"),
    )
    .expect("a key")
}

async fn no_public_value_links_the_uses_of_one_person(h: &Harness) {
    let r = h
        .json(
            "POST",
            "/v1/purposes",
            &h.admin,
            json!({"id": "pay", "description": "Pay by face", "dimension": DIM,
                   "operations": ["enroll", "verify", "identify"], "max_gallery_size": 100,
                   "threshold": 0.7, "retention": {"max_days_since_enrolment": 30}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    let key = h
        .client(&[("pay", &["enroll", "verify", "identify"])])
        .await;
    let people = [("alice", synthetic(1, DIM)), ("bob", synthetic(2, DIM))];
    // Each person: consent, enrolment, several verifications (matches and a miss), two
    // identifications, a lock and an unlock, and reads by the client.
    for (who, face) in &people {
        assert_eq!(
            h.consent(&key, who, "pay").await.status,
            StatusCode::CREATED
        );
        let r = h
            .json(
                "PUT",
                &format!("/v1/subjects/{who}/templates/pay"),
                &key,
                json!({"embedding": face, "galleries": ["till-1"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    }
    for round in 0..3u64 {
        for (who, face) in &people {
            let v = h.verify(&key, who, "pay", &near(face, round)).await;
            assert_eq!(v.json["match"], true, "{}", v.raw);
        }
    }
    for (who, _) in &people {
        let v = h.verify(&key, who, "pay", &synthetic(99, DIM)).await;
        assert_eq!(v.json["match"], false, "{}", v.raw);
    }
    for round in 0..2u64 {
        for (_, face) in &people {
            let r = h
                .json(
                    "POST",
                    "/v1/identify",
                    &key,
                    json!({"purpose": "pay", "gallery": "till-1", "embedding": near(face, 10 + round)}),
                )
                .await;
            assert_eq!(
                r.json["candidates"].as_array().map(Vec::len),
                Some(1),
                "{}",
                r.raw
            );
        }
    }
    for (who, _) in &people {
        for action in ["lock", "unlock"] {
            let r = h
                .send(
                    "POST",
                    &format!("/v1/subjects/{who}/{action}"),
                    Some(&key),
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
        }
    }
    let reports: BTreeMap<&str, Value> = [
        ("alice", report(h, &key, "alice").await),
        ("bob", report(h, &key, "bob").await),
    ]
    .into();
    let leaves = h.leaves().await;

    // Whose uses are whose, as only the holders of each ledger key can tell.
    let mine: BTreeMap<&str, Vec<usize>> = reports
        .iter()
        .map(|(who, r)| {
            let k = ledger_key(r);
            let idx: Vec<usize> = (0..leaves.len())
                .filter(|i| k.names(&leaves[*i], None))
                .collect();
            (*who, idx)
        })
        .collect();
    for (who, idx) in &mine {
        // Consent, enrolment, 4 verifications, 2 identifications that return them, lock,
        // unlock, the report's read.
        assert_eq!(idx.len(), 11, "{who}: {idx:?}");
        // Their history is exactly the leaves their key recognises.
        let history: Vec<usize> = reports[who]["history"]
            .as_array()
            .expect("history")
            .iter()
            .map(|e| e["ledger_index"].as_u64().expect("index") as usize)
            .collect();
        assert_eq!(&history, idx, "{who}");
    }
    assert!(
        mine["alice"].iter().all(|i| !mine["bob"].contains(i)),
        "no leaf is both people's"
    );

    // No value is shared by two uses of one person unless the other person's uses show it
    // too: purpose, client, outcomes are everyone's; a tag, a device, a score would be theirs.
    let seen = |who: &str, v: &String| -> usize {
        mine[who]
            .iter()
            .filter(|i| values(&leaves[**i]).contains(v))
            .count()
    };
    let mut checked = 0;
    for (who, other) in [("alice", "bob"), ("bob", "alice")] {
        let all: BTreeSet<String> = mine[who].iter().flat_map(|i| values(&leaves[*i])).collect();
        for v in &all {
            if seen(who, v) >= 2 {
                assert!(
                    seen(other, v) > 0,
                    "`{v}` is in {} of {who}'s leaves and none of {other}'s",
                    seen(who, v)
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked > 0,
        "the scenario repeats shared values (purpose, client)"
    );

    // Nothing a person or client is handed, and no pseudonym, appears in a public leaf.
    let text: String = leaves
        .iter()
        .map(|l| String::from_utf8_lossy(&l.encode()).into_owned())
        .collect();
    let pseudonyms: Vec<String> = h
        .snapshot_of(&["subjects"])
        .await
        .iter()
        .map(|row| {
            row.split('"')
                .nth(1)
                .expect("the pseudonym column")
                .to_owned()
        })
        .collect();
    assert_eq!(pseudonyms.len(), 2);
    let mut handed: Vec<String> = pseudonyms.clone();
    for r in reports.values() {
        handed.push(r["principal"].as_str().expect("principal").to_owned());
        handed.push(
            r["verify_with"]["subject_ledger_key"]["key"]
                .as_str()
                .expect("key")
                .to_owned(),
        );
        for c in r["consents"].as_array().expect("consents") {
            handed.push(c["id"].as_str().expect("consent id").to_owned());
        }
    }
    for v in &handed {
        assert!(!text.contains(v.as_str()), "`{v}` reached a public leaf");
    }

    // After erasure the service can no longer make or recognise alice's tags: the salt of her
    // key is gone with her row, and no leaf but the erasure's own is indexed under her.
    let before = h.leaves().await.len();
    let e = h
        .send("DELETE", "/v1/subjects/alice", Some(&key), None)
        .await;
    assert_eq!(e.status, StatusCode::OK, "{}", e.raw);
    let subjects = h.snapshot_of(&["subjects"]).await;
    assert_eq!(subjects.len(), 1, "bob's row only: {subjects:?}");
    let gone: Vec<&String> = pseudonyms
        .iter()
        .filter(|p| !subjects.iter().any(|row| row.contains(p.as_str())))
        .collect();
    assert_eq!(gone.len(), 1);
    let gone = gone[0].as_str();
    let indexed: Vec<i64> = sqlx::query_scalar("SELECT idx FROM audit_leaves WHERE subject = $1")
        .bind(gone)
        .fetch_all(h.store.pool())
        .await
        .expect("select");
    assert_eq!(
        indexed,
        [before as i64],
        "only the erasure's own leaf is indexed under her"
    );
    assert_eq!(h.leaves().await[before].op, "subject.erase");
    let mentioned: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_mentions WHERE subject = $1")
            .bind(gone)
            .fetch_one(h.store.pool())
            .await
            .expect("count");
    assert_eq!(mentioned, 0);
    assert_eq!(h.leaves().await.len(), before + 1);
    // Bob is untouched and still proves his history.
    let b = report(h, &key, "bob").await;
    let k = ledger_key(&b);
    let leaves = h.leaves().await;
    for e in b["history"].as_array().expect("history") {
        let i = e["ledger_index"].as_u64().expect("index") as usize;
        assert!(k.names(&leaves[i], None));
    }
}
