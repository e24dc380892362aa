//! The retention schedule: published, and enforced by the sweeper when the clock passes
//! each limit; every deletion destroys the data key and is a leaf of the audit ledger.

use axum::http::StatusCode;
use bioguard_ledger::Leaf;
use bioguard_store::prelude::*;
use serde_json::json;

use crate::harness::{Harness, synthetic};

crate::on_both_backends!(
    moving_the_clock_past_each_limit_deletes_exactly_the_expired_templates,
    the_schedule_is_published_as_json_and_html,
);

const DAY: i64 = 86_400;
const DIM: usize = 8;

async fn purposes(h: &Harness) -> String {
    for (id, retention) in [
        (
            "door",
            json!({"max_days_since_enrolment": 30, "max_days_since_last_use": 10}),
        ),
        ("payroll", json!({"max_days_since_enrolment": 365})),
    ] {
        let r = h
            .json(
                "POST",
                "/v1/purposes",
                &h.admin,
                json!({"id": id, "description": format!("{id} <access>"),
                       "operations": ["enroll", "verify"], "dimension": DIM,
                       "retention": retention}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    }
    h.client(&[
        ("door", &["enroll", "verify"][..]),
        ("payroll", &["enroll", "verify"][..]),
    ])
    .await
}

async fn templates_held(h: &Harness) -> (i64, i64) {
    let t = bioguard_store::count_rows(&h.store, "SELECT COUNT(*) FROM templates")
        .await
        .expect("count");
    let k = bioguard_store::count_rows(&h.store, "SELECT COUNT(*) FROM data_keys")
        .await
        .expect("count");
    (t, k)
}

async fn retention_leaves(h: &Harness) -> Vec<Leaf> {
    h.leaves()
        .await
        .into_iter()
        .filter(|l| l.op == "retention.delete")
        .collect()
}

async fn sweep(h: &Harness) -> bioguard_service::SweepReport {
    h.service
        .retention_sweep(&mut |_, _| {})
        .await
        .expect("sweep")
}

async fn moving_the_clock_past_each_limit_deletes_exactly_the_expired_templates(h: &Harness) {
    let key = purposes(h).await;
    for (who, purpose, seed) in [
        ("alice", "door", 1),
        ("bob", "door", 2),
        ("carol", "payroll", 3),
    ] {
        h.consent(&key, who, purpose).await;
        let r = h.enroll(&key, who, purpose, &synthetic(seed, DIM)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    }
    assert_eq!(templates_held(h).await, (3, 3));
    // Nothing is due yet: a sweep deletes nothing and writes nothing.
    let size = h.store.audit_size().await.expect("size");
    assert_eq!(sweep(h).await.deleted, 0);
    assert_eq!(h.store.audit_size().await.expect("size"), size);

    // Day 5: Bob uses his template; Alice does not.
    h.service.clock().advance(5 * DAY);
    assert_eq!(
        h.verify(&key, "bob", "door", &synthetic(2, DIM)).await.json["match"],
        true
    );
    // A minute before day 10 (the margin covers the real seconds this test takes): still
    // inside every limit.
    h.service.clock().advance(5 * DAY - 60);
    assert_eq!(sweep(h).await.deleted, 0);
    // Day 10: Alice was never used for 10 days; only she goes.
    h.service.clock().advance(60);
    let r = sweep(h).await;
    assert_eq!((r.expired, r.deleted, r.skipped), (1, 1, 0));
    assert_eq!(r.by_reason.get("max_time_since_last_use"), Some(&1));
    assert_eq!(templates_held(h).await, (2, 2));
    let v = h.verify(&key, "alice", "door", &synthetic(1, DIM)).await;
    assert_eq!(v.status, StatusCode::NOT_FOUND, "{}", v.raw);
    assert_eq!(v.json["error"]["fallback"], "required", "{}", v.raw);
    assert_eq!(
        h.verify(&key, "bob", "door", &synthetic(2, DIM)).await.json["match"],
        true,
        "Bob's template is untouched"
    );

    // Day 25: Bob uses it again, so the last-use limit moves to day 35; the enrolment limit
    // (day 30) comes first.
    h.service.clock().advance(15 * DAY);
    h.verify(&key, "bob", "door", &synthetic(2, DIM)).await;
    h.service.clock().advance(5 * DAY);
    let r = sweep(h).await;
    assert_eq!((r.expired, r.deleted), (1, 1));
    assert_eq!(r.by_reason.get("max_age_since_enrolment"), Some(&1));
    assert_eq!(
        templates_held(h).await,
        (1, 1),
        "Carol's payroll template stays"
    );

    // Each deletion is one leaf naming the subject's pseudonym, purpose, reason and deadline,
    // and is in that subject's history.
    let leaves = retention_leaves(h).await;
    assert_eq!(leaves.len(), 2);
    let detail = |l: &Leaf, k: &str| {
        l.detail
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        detail(&leaves[0], "reason").as_deref(),
        Some("max_time_since_last_use")
    );
    assert_eq!(
        detail(&leaves[1], "reason").as_deref(),
        Some("max_age_since_enrolment")
    );
    assert!(leaves.iter().all(|l| l.purpose.as_deref() == Some("door")));
    assert!(leaves.iter().all(|l| l.actor == "system:retention"));
    let history = h
        .send("GET", "/v1/subjects/alice/history", Some(&key), None)
        .await;
    assert!(history.raw.contains("retention.delete"), "{}", history.raw);

    // A year on, Carol's goes too; the log still verifies from end to end.
    h.service.clock().advance(340 * DAY);
    assert_eq!(sweep(h).await.deleted, 1);
    assert_eq!(templates_held(h).await, (0, 0));
    let n = h.store.audit_size().await.expect("size");
    let all = h.store.audit_leaves(0, n).await.expect("leaves");
    let key = bioguard_ledger::LogKey::from_seed("t", &[1; 32]).expect("key");
    assert!(bioguard_ledger::verify_log(&all, &[], "t", &key.verifier()).is_ok());
}

async fn the_schedule_is_published_as_json_and_html(h: &Harness) {
    purposes(h).await;
    let r = h.send("GET", "/v1/retention-schedule", None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.json["sweep_interval_seconds"], 3600);
    let door = &r.json["purposes"][0];
    assert_eq!(door["purpose"], "door");
    assert_eq!(door["max_days_since_enrolment"], 30);
    assert_eq!(door["max_days_since_last_use"], 10);
    assert!(
        r.json["purposes"][1]["max_days_since_last_use"].is_null(),
        "{}",
        r.raw
    );
    let html = h
        .send("GET", "/v1/retention-schedule?format=html", None, None)
        .await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(html.raw.starts_with("<!doctype html>"), "{}", html.raw);
    assert!(html.raw.contains("deleted 365 days after enrolment"));
    // Purpose text is escaped, never markup.
    assert!(html.raw.contains("door &lt;access&gt;") && !html.raw.contains("<access>"));
    let bad = h
        .send("GET", "/v1/retention-schedule?format=pdf", None, None)
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.raw);
    assert_eq!(bad.json["error"]["field"], "format");
}
