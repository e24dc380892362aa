//! The fairness gate: a threshold goes live only with a recent report for the purpose's
//! matcher at that threshold that meets the purpose's policy; otherwise only a risk-group
//! quorum can activate it, and the override is in the ledger and on the transparency report.

use axum::http::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::Harness;

crate::on_both_backends!(
    a_threshold_goes_live_only_through_the_fairness_gate,
    a_quorum_can_override_the_gate_and_the_override_is_public,
);

/// A report as `bioguard fairness evaluate` writes it (the fields the gate reads).
fn report(h: &Harness, threshold: f64, fmr_ratio: Value, age_days: i64, bits: u64) -> Value {
    let generated = h.service.clock().now().unix() - age_days * 86_400;
    json!({
        "format": "bioguard-fairness-report/1",
        "generated_at": bioguard_core::rfc3339(bioguard_core::Timestamp::from_unix(generated)),
        "synthetic": false,
        "matcher": {"form": "protected", "code_bits": bits, "dimension": 4},
        "threshold": threshold,
        "groups": [{"name": "a"}, {"name": "b"}],
        "differentials": {"groups": 2, "fmr_ratio": fmr_ratio, "fnmr_ratio": 1.3,
                          "fdr": 0.99, "inequity_rate": 1.5, "garbe": 0.12},
    })
}

async fn purpose(h: &Harness, id: &str) -> Value {
    let all = h.send("GET", "/v1/purposes", None, None).await;
    all.json
        .as_array()
        .expect("purposes")
        .iter()
        .find(|p| p["id"] == id)
        .cloned()
        .expect("purpose listed")
}

async fn activate(h: &Harness, threshold: f64, report: Option<Value>) -> crate::harness::Reply {
    let mut body = json!({"threshold": threshold});
    if let Some(r) = report {
        body["fairness_report"] = r;
    }
    h.json("POST", "/v1/purposes/door/matcher", &h.admin, body)
        .await
}

async fn a_threshold_goes_live_only_through_the_fairness_gate(h: &Harness) {
    h.purpose("door", 4).await;
    let p = purpose(h, "door").await;
    assert_eq!(p["fairness"]["status"], "none", "created without a report");
    assert_eq!(p["fairness_policy"]["max_fmr_ratio"], 4.0);

    // Each failing case is refused with its reason, recorded, and changes nothing.
    let cases: Vec<(Option<Value>, &str)> = vec![
        (None, "no fairness report was given"),
        (
            Some(report(h, 0.75, json!(10.0), 1, 2048)),
            "the FMR max/min ratio 10.0000 exceeds the policy's 4",
        ),
        (
            Some(report(h, 0.75, Value::Null, 1, 2048)),
            "the FMR max/min ratio is infinite or missing",
        ),
        (
            Some(report(h, 0.75, json!(1.5), 200, 2048)),
            "the report is 200 days old; the policy accepts at most 180",
        ),
        (
            Some(report(h, 0.70, json!(1.5), 1, 2048)),
            "the report was made at threshold 0.7, not 0.75",
        ),
        (
            Some(report(h, 0.75, json!(1.5), 1, 1024)),
            "not this purpose's protected 2048-bit codes",
        ),
        (
            Some({
                let mut r = report(h, 0.75, json!(1.5), 1, 2048);
                r["synthetic"] = json!(true);
                r
            }),
            "synthetic data",
        ),
        (
            Some({
                let mut r = report(h, 0.75, json!(1.5), 1, 2048);
                r["differentials"] = Value::Null;
                r
            }),
            "no differentials",
        ),
        (
            Some(json!({"hello": "world"})),
            "not a bioguard-fairness-report/1 document",
        ),
    ];
    for (i, (r, reason)) in cases.into_iter().enumerate() {
        let before = h.leaves().await.len();
        let reply = activate(h, 0.75, r).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "fairness_gate"),
            "case {i}: {}",
            reply.raw
        );
        assert!(reply.raw.contains(reason), "case {i}: {}", reply.raw);
        assert_eq!(
            purpose(h, "door").await["threshold"],
            0.7,
            "case {i}: unchanged"
        );
        let after = h.leaves().await;
        assert_eq!(
            after.len(),
            before + 1,
            "case {i}: one leaf for the refusal"
        );
        let leaf = after.last().expect("leaf");
        assert_eq!(
            (leaf.op.as_str(), leaf.decision.as_deref()),
            ("fairness.refuse", Some("refused"))
        );
    }
    // Bad requests are 4xx, never a 500.
    let bad = activate(h, 1.5, None).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.raw);
    let missing = h
        .json(
            "POST",
            "/v1/purposes/nowhere/matcher",
            &h.admin,
            json!({"threshold": 0.7}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.raw);
    let unauth = h
        .json(
            "POST",
            "/v1/purposes/door/matcher",
            "",
            json!({"threshold": 0.7}),
        )
        .await;
    assert_eq!(unauth.status, StatusCode::UNAUTHORIZED);

    // A passing report activates the threshold, and the leaf names the report.
    let good = report(h, 0.75, json!(1.5), 1, 2048);
    let sha = bioguard_crypto::hex_encode(&Sha256::digest(good.to_string().as_bytes()));
    let ok = activate(h, 0.75, Some(good)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.raw);
    assert_eq!(ok.json["fairness"]["status"], "passed");
    assert_eq!(ok.json["fairness"]["report_sha256"], sha.as_str());
    let p = purpose(h, "door").await;
    assert_eq!(
        (p["threshold"].as_f64(), &p["fairness"]["status"]),
        (Some(0.75), &json!("passed"))
    );
    let leaf = h.leaves().await.pop().expect("leaf");
    assert_eq!(leaf.op, "purpose.matcher.activate");
    assert_eq!(leaf.decision.as_deref(), Some("passed"));
    assert!(leaf.detail.contains(&("report_sha256".into(), sha.clone())));

    // A purpose created with a failing report is not created; with a passing one it is live.
    let create = |id: &str, r: Value| {
        json!({"id": id, "description": "Door", "operations": ["enroll", "verify"],
               "dimension": 4, "threshold": 0.75, "retention": {"max_days_since_enrolment": 30},
               "fairness_report": r})
    };
    let refused = h
        .json(
            "POST",
            "/v1/purposes",
            &h.admin,
            create("gate", report(h, 0.75, json!(9.0), 1, 2048)),
        )
        .await;
    assert_eq!(refused.code(), "fairness_gate", "{}", refused.raw);
    let all = h.send("GET", "/v1/purposes", None, None).await;
    assert!(!all.raw.contains("\"gate\""), "not created");
    let created = h
        .json(
            "POST",
            "/v1/purposes",
            &h.admin,
            create("gate", report(h, 0.75, json!(2.0), 1, 2048)),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.raw);
    assert_eq!(created.json["fairness"]["status"], "passed");
}

async fn a_quorum_can_override_the_gate_and_the_override_is_public(h: &Harness) {
    h.purpose("door", 4).await;
    let (alice, bob) = crate::governance::alice_and_bob(h).await;
    // The gate refuses an unfair report and names it for an override.
    let unfair = report(h, 0.8, json!(12.0), 1, 2048);
    let sha = bioguard_crypto::hex_encode(&Sha256::digest(unfair.to_string().as_bytes()));
    let refused = activate(h, 0.8, Some(unfair)).await;
    assert_eq!(refused.code(), "fairness_gate", "{}", refused.raw);
    assert!(refused.raw.contains(&sha), "{}", refused.raw);

    // An override needs a reason and a well-formed report reference.
    for (action, field) in [
        (
            json!({"type": "fairness.override", "purpose": "door", "threshold": 0.8, "report_sha256": sha}),
            "action.reason",
        ),
        (
            json!({"type": "fairness.override", "purpose": "door", "threshold": 0.8, "report_sha256": "xyz", "reason": "r"}),
            "action.report_sha256",
        ),
        (
            json!({"type": "fairness.override", "purpose": "door", "threshold": 7, "reason": "r"}),
            "threshold",
        ),
    ] {
        let r = h
            .json("POST", "/v1/proposals", &h.admin, json!({"action": action}))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.raw);
        assert!(r.raw.contains(field), "{field}: {}", r.raw);
    }
    let p = h
        .json(
            "POST",
            "/v1/proposals",
            &h.admin,
            json!({"action": {"type": "fairness.override", "purpose": "door", "threshold": 0.8,
                   "report_sha256": sha,
                   "reason": "groups b and c are one pilot site; re-evaluate within 30 days"}}),
        )
        .await;
    assert_eq!(p.status, StatusCode::CREATED, "{}", p.raw);
    let id = p.json["id"].as_str().expect("id").to_owned();
    let payload = p.json["payload"].as_str().expect("payload").to_owned();
    let approve = crate::governance::approve;
    let one = approve(h, &id, "alice", &alice, &payload).await;
    assert_eq!(one.json["status"], "open", "{}", one.raw);
    assert_eq!(
        purpose(h, "door").await["threshold"],
        0.7,
        "one approval changes nothing"
    );
    let two = approve(h, &id, "bob", &bob, &payload).await;
    assert_eq!(two.json["status"], "applied", "{}", two.raw);
    let p = purpose(h, "door").await;
    assert_eq!(p["threshold"], 0.8);
    assert_eq!(p["fairness"]["status"], "override");
    assert_eq!(p["fairness"]["report_sha256"], sha.as_str());

    // In the ledger: the override, naming the proposal and the findings it set aside.
    let all = h.leaves().await;
    let leaf = all
        .iter()
        .find(|l| l.op == "purpose.matcher.activate")
        .expect("activation leaf");
    assert_eq!(leaf.decision.as_deref(), Some("override"));
    assert_eq!(leaf.actor, "quorum");
    assert!(leaf.detail.contains(&("proposal".into(), id.clone())));
    assert!(
        leaf.detail
            .iter()
            .any(|(k, v)| k == "finding_1" && v.contains("FMR max/min ratio 12")),
        "{:?}",
        leaf.detail
    );
    // And on the transparency report.
    let t = h.send("GET", "/v1/transparency", None, None).await;
    assert_eq!(
        t.json["fairness"]["activations"]["override"], 1,
        "{}",
        t.raw
    );
    assert_eq!(t.json["fairness"]["activations"]["passed"], 0);
    assert_eq!(t.json["fairness"]["refused"], 1);
    assert_eq!(t.json["fairness"]["purposes"]["door"]["status"], "override");
    assert_eq!(
        t.json["fairness"]["purposes"]["door"]["report_sha256"],
        sha.as_str()
    );
}
