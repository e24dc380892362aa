//! The operator's reads (issue 21): who may verify whom for what, answered by the API and not
//! by opening the database; one purpose by its id. Keys are never shown again.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Harness, synthetic};

crate::on_both_backends!(
    the_operator_lists_clients_with_grants_rights_and_status,
    one_purpose_is_read_by_its_id,
    a_retired_purpose_takes_no_one_new_and_keeps_serving_those_enrolled,
    notices_name_a_real_controller_and_law,
);

/// People are told who is responsible and under which law: the API refuses stand-ins, and a
/// purpose declared without a notice names the configured operator.
async fn notices_name_a_real_controller_and_law(h: &Harness) {
    let before = h.snapshot_all().await;
    for (notice, field) in [
        (
            json!({"text": "Pay", "controller": "the operator of this bioguard service", "jurisdiction": "EU: GDPR"}),
            "notice.controller",
        ),
        (
            json!({"text": "Pay", "controller": "TBD", "jurisdiction": "EU: GDPR"}),
            "notice.controller",
        ),
        (
            json!({"text": "Pay", "controller": "Corner Shop Ltd", "jurisdiction": "as stated by the operator"}),
            "notice.jurisdiction",
        ),
        (
            json!({"text": "Pay", "controller": "Corner Shop Ltd", "jurisdiction": "n/a"}),
            "notice.jurisdiction",
        ),
    ] {
        let r = h
            .json(
                "POST",
                "/v1/purposes",
                &h.admin,
                json!({"id": "pay", "description": "Pay",
                "operations": ["enroll", "verify"], "dimension": 4,
                "retention": {"max_days_since_enrolment": 30}, "notice": notice}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{notice}: {}",
            r.raw
        );
        assert_eq!(r.json["error"]["field"], field, "{}", r.raw);
    }
    assert_eq!(before, h.snapshot_all().await, "refusals change nothing");
    // Without a notice: the operator (the harness names one) and its law.
    h.purpose("door", 4).await;
    let notices = h.send("GET", "/v1/purposes/door/notices", None, None).await;
    assert_eq!(notices.status, StatusCode::OK, "{}", notices.raw);
    let v1 = &notices.json[0]["notice"];
    assert_eq!(
        v1["controller"], "Harness Operations Ltd",
        "{}",
        notices.raw
    );
    assert_eq!(v1["jurisdiction"], "EU: GDPR", "{}", notices.raw);
    // A notice that leaves out the law gets the operator's; a new version is checked too.
    let r = h
        .json(
            "POST",
            "/v1/purposes/door/notices",
            &h.admin,
            json!({"text": "New text", "controller": "Corner Shop Ltd"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    assert_eq!(r.json["notice"]["jurisdiction"], "EU: GDPR", "{}", r.raw);
    let r = h
        .json(
            "POST",
            "/v1/purposes/door/notices",
            &h.admin,
            json!({"text": "New text", "controller": "The Operator", "jurisdiction": "EU: GDPR"}),
        )
        .await;
    assert_eq!(
        (r.status, r.json["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("notice.controller")),
        "{}",
        r.raw
    );
}

async fn create(h: &Harness, body: Value) -> (String, String) {
    let r = h.json("POST", "/v1/clients", &h.admin, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    (
        r.json["id"].as_str().expect("id").to_owned(),
        r.json["api_key"].as_str().expect("key").to_owned(),
    )
}

async fn the_operator_lists_clients_with_grants_rights_and_status(h: &Harness) {
    let r = h
        .json(
            "POST",
            "/v1/tenants",
            &h.admin,
            json!({"id": "acme", "name": "ACME Payments"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    h.purpose("door", 4).await;
    let r = h
        .json(
            "POST",
            "/v1/purposes",
            &h.admin,
            json!({"id": "login", "tenant": "acme", "description": "Log in", "operations": ["enroll", "verify"],
                   "dimension": 4, "retention": {"max_days_since_enrolment": 30},
                   "notice": {"text": "Log in", "controller": "ACME Payments Ltd", "jurisdiction": "EU: GDPR"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    let (shop, shop_key) = create(
        h,
        json!({"name": "shop", "grants": [{"purpose": "door", "operations": ["enroll", "verify"]}],
               "subject_rights": ["read", "erase"]}),
    )
    .await;
    let (desk, desk_key) = create(
        h,
        json!({"name": "desk", "tenant": "acme", "grants": [{"purpose": "login", "operations": ["verify"]}]}),
    )
    .await;
    // The desk is suspended by an incident action.
    let inc = h
        .json(
            "POST",
            "/v1/incidents",
            &h.admin,
            json!({"summary": "desk key leaked"}),
        )
        .await;
    let inc = inc.json["id"].as_str().expect("incident").to_owned();
    let r = h
        .json(
            "POST",
            &format!("/v1/incidents/{inc}/actions"),
            &h.admin,
            json!({"action": "suspend_client", "client": desk}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);

    let all = h.send("GET", "/v1/clients", Some(&h.admin), None).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.raw);
    for key in [&shop_key, &desk_key] {
        assert!(!all.raw.contains(key.as_str()), "a key is shown again");
    }
    assert!(!all.raw.contains("api_key"), "{}", all.raw);
    let clients = all.json["clients"].as_array().expect("clients");
    let find = |id: &str| {
        clients
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("{id} not listed: {}", all.raw))
            .clone()
    };
    let s = find(&shop);
    assert_eq!(
        s,
        json!({"id": shop, "name": "shop", "tenant": "default",
               "grants": [{"purpose": "door", "operations": ["enroll", "verify"]}],
               "subject_rights": ["read", "erase"], "status": "active"})
    );
    let d = find(&desk);
    assert_eq!(d["tenant"], "acme");
    assert_eq!(
        d["grants"],
        json!([{"purpose": "login", "operations": ["verify"]}])
    );
    assert_eq!(d["subject_rights"], json!([]));
    assert_eq!(d["status"], "suspended");
    assert!(d["suspended_at"].is_string(), "{d}");
    let ids: Vec<&str> = clients
        .iter()
        .map(|c| c["id"].as_str().expect("id"))
        .collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted, "in id order");

    // One tenant's clients; a tenant that does not exist, or a malformed one.
    let acme = h
        .send("GET", "/v1/clients?tenant=acme", Some(&h.admin), None)
        .await;
    assert_eq!(acme.json["clients"], json!([d]), "{}", acme.raw);
    let none = h
        .send("GET", "/v1/clients?tenant=nosuch", Some(&h.admin), None)
        .await;
    assert_eq!(
        (none.status, none.code()),
        (StatusCode::NOT_FOUND, "tenant_not_found")
    );
    let bad = h
        .send("GET", "/v1/clients?tenant=Not%20One", Some(&h.admin), None)
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.raw);

    // One client; an unknown or malformed id.
    let one = h
        .send("GET", &format!("/v1/clients/{shop}"), Some(&h.admin), None)
        .await;
    assert_eq!(one.json, s, "{}", one.raw);
    let unknown = "cl_00000000000000000000000000000000";
    let r = h
        .send(
            "GET",
            &format!("/v1/clients/{unknown}"),
            Some(&h.admin),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "client_not_found"),
        "{}",
        r.raw
    );
    let r = h
        .send("GET", "/v1/clients/nope", Some(&h.admin), None)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.raw);

    // Only the operator reads them: a client's key, or none, is refused.
    for token in [Some(shop_key.as_str()), None] {
        let r = h.send("GET", "/v1/clients", token, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.raw);
        let r = h
            .send("GET", &format!("/v1/clients/{shop}"), token, None)
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.raw);
    }
}

async fn one_purpose_is_read_by_its_id(h: &Harness) {
    h.purpose("door", 4).await;
    let listed = h.send("GET", "/v1/purposes", None, None).await;
    let one = h.send("GET", "/v1/purposes/door", None, None).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.raw);
    assert_eq!(one.json, listed.json[0], "the same as in the list");
    let r = h.send("GET", "/v1/purposes/nosuch", None, None).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "purpose_not_found")
    );
    let r = h.send("GET", "/v1/purposes/Not%20One", None, None).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.raw);
}

async fn a_retired_purpose_takes_no_one_new_and_keeps_serving_those_enrolled(h: &Harness) {
    h.purpose("door", 4).await;
    let key = h.client(&[("door", &["enroll", "verify"])]).await;
    assert_eq!(
        h.consent(&key, "alice", "door").await.status,
        StatusCode::CREATED
    );
    let e = synthetic(1, 4);
    assert_eq!(
        h.enroll(&key, "alice", "door", &e).await.status,
        StatusCode::CREATED
    );
    let before = ledger_size(h).await;

    // Only the operator retires, and only a purpose that exists.
    let r = h
        .send("POST", "/v1/purposes/door/retirement", Some(&key), None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.raw);
    let r = h
        .send(
            "POST",
            "/v1/purposes/nosuch/retirement",
            Some(&h.admin),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "purpose_not_found")
    );
    assert_eq!(ledger_size(h).await, before, "a refusal records nothing");

    let r = h
        .send("POST", "/v1/purposes/door/retirement", Some(&h.admin), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let at = r.json["retired_at"]
        .as_str()
        .expect("retired_at")
        .to_owned();
    let shown = h.send("GET", "/v1/purposes/door", None, None).await;
    assert_eq!(shown.json["retired_at"], at.as_str());
    let page = h.send("GET", "/purposes", None, None).await;
    assert!(
        page.raw.contains("Retired: no new enrolments"),
        "{}",
        page.raw
    );
    assert!(page.raw.contains(&at[..10]), "{}", page.raw);
    // Retiring again answers the same time and writes nothing.
    let after = ledger_size(h).await;
    assert_eq!(after, before + 1, "the retirement is one leaf");
    let again = h
        .send("POST", "/v1/purposes/door/retirement", Some(&h.admin), None)
        .await;
    assert_eq!(again.json["retired_at"], at.as_str(), "{}", again.raw);
    assert_eq!(ledger_size(h).await, after);

    // No one new: neither consent nor enrolment, and the client is told to fall back.
    for r in [
        h.consent(&key, "bob", "door").await,
        h.enroll(&key, "alice", "door", &synthetic(2, 4)).await,
    ] {
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::CONFLICT, "purpose_retired"),
            "{}",
            r.raw
        );
        assert_eq!(r.json["error"]["fallback"], "required", "{}", r.raw);
    }
    // Those enrolled are still served until retention deletes their templates, and may
    // still withdraw.
    let v = h.verify(&key, "alice", "door", &e).await;
    assert_eq!(v.json["match"], true, "{}", v.raw);
    let w = h
        .send(
            "DELETE",
            "/v1/subjects/alice/consents/door",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(w.status, StatusCode::OK, "{}", w.raw);
}

/// How many leaves the audit ledger holds.
async fn ledger_size(h: &Harness) -> u64 {
    let note = h.send("GET", "/v1/audit/checkpoint", None, None).await.raw;
    note.lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .unwrap_or_else(|| panic!("a checkpoint: {note}"))
}
