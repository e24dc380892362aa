//! Tenants and least privilege: a client reaches only its own tenant's purposes and people,
//! and inside its tenant only what its grants and subject rights allow. Every refusal is a
//! 403 or 404 that leaves the whole database (the ledger included) as it was.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Harness, Reply, synthetic};

crate::on_both_backends!(
    another_tenant_and_a_client_without_the_grant_or_right_change_nothing,
    the_same_subject_id_at_two_tenants_is_two_people,
    a_lock_is_lifted_only_by_whoever_set_it,
    tenants_are_made_by_the_operator_and_own_their_purposes,
);

const DIM: usize = 4;
const ALL_RIGHTS: &[&str] = &["read", "erase", "lock", "portal"];

async fn tenant(h: &Harness, id: &str, name: &str) {
    let r = h
        .json(
            "POST",
            "/v1/tenants",
            &h.admin,
            json!({"id": id, "name": name}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
}

/// Declares purpose `name` of `tenant`, with 1:N search when `identify`.
async fn purpose(h: &Harness, tenant: &str, name: &str, identify: bool) {
    let mut ops = vec!["enroll", "verify"];
    if identify {
        ops.push("identify");
    }
    let mut body = json!({"id": name, "tenant": tenant, "description": format!("{name} at {tenant}"),
        "operations": ops, "dimension": DIM, "threshold": 0.7,
        "retention": {"max_days_since_enrolment": 365},
        "notice": {"text": format!("{name} at {tenant}"), "controller": format!("{tenant} Holdings Ltd"),
                   "jurisdiction": "EU: GDPR"}});
    if identify {
        body["max_gallery_size"] = json!(100);
    }
    let r = h.json("POST", "/v1/purposes", &h.admin, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    assert_eq!(r.json["id"], format!("{tenant}:{name}"));
}

/// The clients of the attack: the relying party that serves alice, and three that must not
/// reach her.
struct Cast {
    /// ACME's front desk: every grant on `login`, every subject right. Serves alice.
    owner: String,
    /// Another tenant's client with every right there.
    stranger: String,
    /// An ACME client with no grant and no right.
    bare: String,
    /// An ACME client that may verify, and nothing more.
    verifier: String,
    /// Alice's verification decision.
    decision: String,
}

async fn cast(h: &Harness) -> Cast {
    tenant(h, "acme", "ACME Payments").await;
    tenant(h, "beta", "Beta Bank").await;
    purpose(h, "acme", "login", true).await;
    purpose(h, "beta", "pay", false).await;
    let owner = h
        .client_of(
            Some("acme"),
            &[("login", &["enroll", "verify", "identify"])],
            ALL_RIGHTS,
        )
        .await;
    assert!(owner.starts_with("bgc_acme."), "the key names its tenant");
    let stranger = h
        .client_of(Some("beta"), &[("pay", &["enroll", "verify"])], ALL_RIGHTS)
        .await;
    let bare = h.client_of(Some("acme"), &[], &[]).await;
    let verifier = h
        .client_of(Some("acme"), &[("login", &["verify"])], &[])
        .await;
    assert_eq!(
        h.consent(&owner, "alice", "login").await.status,
        StatusCode::CREATED
    );
    let r = h
        .json(
            "PUT",
            "/v1/subjects/alice/templates/login",
            &owner,
            json!({"embedding": synthetic(1, DIM), "galleries": ["hall"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    let v = h.verify(&owner, "alice", "login", &synthetic(1, DIM)).await;
    assert_eq!(v.json["match"], true, "{}", v.raw);
    Cast {
        owner,
        stranger,
        bare,
        verifier,
        decision: v.json["decision_id"].as_str().expect("decision").to_owned(),
    }
}

async fn call(h: &Harness, method: &str, path: &str, key: &str, body: Option<Value>) -> Reply {
    match body {
        Some(b) => h.json(method, path, key, b).await,
        None => h.send(method, path, Some(key), None).await,
    }
}

async fn another_tenant_and_a_client_without_the_grant_or_right_change_nothing(h: &Harness) {
    let c = cast(h).await;
    let probe = synthetic(1, DIM);
    // Every subject route and operation, as (name, method, path, body).
    let routes: Vec<(&str, &str, String, Option<Value>)> = vec![
        (
            "consent",
            "PUT",
            "/v1/subjects/alice/consents/login".into(),
            Some(json!({"notice_version": "v1", "method": "in-app"})),
        ),
        (
            "withdraw",
            "DELETE",
            "/v1/subjects/alice/consents/login".into(),
            None,
        ),
        (
            "enrol or replace",
            "PUT",
            "/v1/subjects/alice/templates/login".into(),
            Some(json!({"embedding": synthetic(9, DIM), "galleries": ["hall"]})),
        ),
        (
            "verify",
            "POST",
            "/v1/verify".into(),
            Some(json!({"subject": "alice", "purpose": "login", "embedding": probe})),
        ),
        (
            "identify",
            "POST",
            "/v1/identify".into(),
            Some(json!({"purpose": "login", "gallery": "hall", "embedding": probe})),
        ),
        ("read", "GET", "/v1/subjects/alice".into(), None),
        ("history", "GET", "/v1/subjects/alice/history".into(), None),
        ("report", "GET", "/v1/subjects/alice/report".into(), None),
        ("erase", "DELETE", "/v1/subjects/alice".into(), None),
        ("lock", "POST", "/v1/subjects/alice/lock".into(), None),
        ("unlock", "POST", "/v1/subjects/alice/unlock".into(), None),
        (
            "portal link",
            "POST",
            "/v1/subjects/alice/portal-links".into(),
            Some(json!({})),
        ),
        (
            "claim",
            "POST",
            "/v1/claims".into(),
            Some(
                json!({"decision_id": c.decision, "currency": "EUR", "amount": 100,
                        "reason": "not me"}),
            ),
        ),
        (
            "challenge",
            "POST",
            "/v1/challenges".into(),
            Some(json!({"purpose": "login"})),
        ),
    ];
    // What the verify-only client may legitimately do is left out for it.
    let allowed_to_verifier = ["verify", "claim", "challenge"];
    let mut refused = 0;
    for (who, key) in [
        ("another tenant's client", &c.stranger),
        ("a client without grants or rights", &c.bare),
        ("a verify-only client", &c.verifier),
    ] {
        for (name, method, path, body) in &routes {
            if key == &c.verifier && allowed_to_verifier.contains(name) {
                continue;
            }
            let before = h.snapshot_all().await;
            let r = call(h, method, path, key, body.clone()).await;
            assert!(
                r.status == StatusCode::FORBIDDEN || r.status == StatusCode::NOT_FOUND,
                "{who}, {name}: {} {}",
                r.status,
                r.raw
            );
            assert!(
                r.json["error"]["code"].is_string(),
                "{who}, {name}: {}",
                r.raw
            );
            // The answer says nothing about alice: the same for a subject nobody holds.
            let after = h.snapshot_all().await;
            assert_eq!(before, after, "{who}, {name}: the database changed");
            refused += 1;
        }
    }
    assert_eq!(refused, 14 + 14 + 11);
    // Another tenant's client learns nothing of alice, whose identifier means nobody there.
    let r = call(h, "GET", "/v1/subjects/alice", &c.stranger, None).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "subject_not_found")
    );
    let r = call(h, "GET", "/v1/subjects/alice", &c.bare, None).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "no_right"));
    let r = call(
        h,
        "PUT",
        "/v1/subjects/alice/consents/login",
        &c.verifier,
        Some(json!({"notice_version": "v1", "method": "in-app"})),
    )
    .await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "no_grant"));
    // A client names purposes of its own tenant only: a qualified id is not a name.
    let r = h.verify(&c.stranger, "alice", "acme:login", &probe).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.raw);
    // A client sees its own tenant's purposes only.
    let mine = call(h, "GET", "/v1/purposes", &c.stranger, None).await;
    let ids: Vec<&str> = mine
        .json
        .as_array()
        .expect("list")
        .iter()
        .map(|p| p["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["beta:pay"]);
    // And after all of it, alice is untouched: she still verifies for the client she chose.
    let v = h.verify(&c.owner, "alice", "login", &probe).await;
    assert_eq!(v.json["match"], true, "{}", v.raw);
}

async fn the_same_subject_id_at_two_tenants_is_two_people(h: &Harness) {
    tenant(h, "acme", "ACME Payments").await;
    tenant(h, "gamma", "Gamma Gyms").await;
    purpose(h, "acme", "login", false).await;
    purpose(h, "gamma", "login", false).await;
    let acme = h
        .client_of(
            Some("acme"),
            &[("login", &["enroll", "verify"])],
            ALL_RIGHTS,
        )
        .await;
    let gamma = h
        .client_of(
            Some("gamma"),
            &[("login", &["enroll", "verify"])],
            ALL_RIGHTS,
        )
        .await;
    let (a_face, g_face) = (synthetic(1, DIM), synthetic(2, DIM));
    for (key, face) in [(&acme, &a_face), (&gamma, &g_face)] {
        assert_eq!(
            h.consent(key, "alice", "login").await.status,
            StatusCode::CREATED
        );
        assert_eq!(
            h.enroll(key, "alice", "login", face).await.status,
            StatusCode::CREATED,
            "each tenant enrols its own alice"
        );
    }
    // Two people: two pseudonyms, two data keys, two templates.
    assert_eq!(
        bioguard_store::count_rows(&h.store, "SELECT COUNT(DISTINCT subject) FROM templates")
            .await
            .expect("count"),
        2
    );
    let verify = |key: &str, face: &[f32]| {
        let (key, face) = (key.to_owned(), face.to_vec());
        async move { h.verify(&key, "alice", "login", &face).await }
    };
    assert_eq!(verify(&acme, &a_face).await.json["match"], true);
    assert_eq!(verify(&gamma, &g_face).await.json["match"], true);
    assert_eq!(
        verify(&gamma, &a_face).await.json["match"],
        false,
        "gamma's alice is not acme's"
    );
    // Their reports name two different principals.
    let principal = |key: &str| {
        let key = key.to_owned();
        async move {
            h.send("GET", "/v1/subjects/alice/report", Some(&key), None)
                .await
                .json["principal"]
                .as_str()
                .expect("principal")
                .to_owned()
        }
    };
    assert_ne!(principal(&acme).await, principal(&gamma).await);
    // Failed attempts at gamma lock out gamma's alice only (one failed above; five in all).
    for _ in 0..4 {
        assert_eq!(verify(&gamma, &a_face).await.json["match"], false);
    }
    assert_eq!(verify(&gamma, &g_face).await.code(), "attempts_exceeded");
    assert_eq!(verify(&acme, &a_face).await.json["match"], true);
    // Erasing gamma's alice leaves acme's.
    let r = h
        .send("DELETE", "/v1/subjects/alice", Some(&gamma), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.json["templates_deleted"], 1);
    assert_eq!(verify(&acme, &a_face).await.json["match"], true);
    assert_eq!(
        h.send("GET", "/v1/subjects/alice", Some(&gamma), None)
            .await
            .code(),
        "subject_not_found"
    );
}

async fn a_lock_is_lifted_only_by_whoever_set_it(h: &Harness) {
    h.purpose("door", DIM).await;
    let first = h.client(&[("door", &["enroll", "verify"])]).await;
    let second = h.client(&[("door", &["enroll", "verify"])]).await;
    h.consent(&first, "alice", "door").await;
    let lock = |key: &str, action: &str| {
        let (key, path) = (key.to_owned(), format!("/v1/subjects/alice/{action}"));
        async move { h.send("POST", &path, Some(&key), None).await }
    };
    // A client's lock: another client cannot lift it; the one that set it can.
    assert_eq!(lock(&first, "lock").await.status, StatusCode::OK);
    let before = h.snapshot_all().await;
    let r = lock(&second, "unlock").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "lock_held"),
        "{}",
        r.raw
    );
    assert_eq!(
        before,
        h.snapshot_all().await,
        "a refused unlock changes nothing"
    );
    let r = lock(&first, "unlock").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert!(r.json["locked"] == false, "{}", r.raw);
    let unlocked = h
        .leaves()
        .await
        .into_iter()
        .rev()
        .find(|l| l.op == "subject.unlock")
        .expect("the unlock is recorded");
    assert!(unlocked.actor.starts_with("client:"), "{unlocked:?}");

    // The person's own lock: no client lifts it, whoever issued the link; the person does.
    let link = h
        .json("POST", "/v1/subjects/alice/portal-links", &first, json!({}))
        .await;
    let url = link.json["url"].as_str().expect("url").to_owned();
    let opened = h.send("GET", &url, None, None).await;
    let cookie = opened.headers[axum::http::header::SET_COOKIE]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let page = portal(h, "GET", "/portal", &cookie, "").await;
    let at = page.raw.find("name=\"csrf\" value=\"").expect("a form") + 19;
    let csrf = page.raw[at..at + 64].to_owned();
    let r = portal(
        h,
        "POST",
        "/portal/lock",
        &cookie,
        &format!("csrf={csrf}&action=lock"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    for key in [&first, &second] {
        let before = h.snapshot_all().await;
        let r = lock(key, "unlock").await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "lock_held"),
            "{}",
            r.raw
        );
        assert_eq!(before, h.snapshot_all().await);
    }
    assert_eq!(
        h.verify(&first, "alice", "door", &synthetic(1, DIM))
            .await
            .status,
        StatusCode::LOCKED
    );
    let r = portal(
        h,
        "POST",
        "/portal/lock",
        &cookie,
        &format!("csrf={csrf}&action=unlock"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(
        bioguard_store::count_rows(&h.store, "SELECT COUNT(*) FROM subject_locks")
            .await
            .expect("count"),
        0
    );
}

async fn portal(h: &Harness, method: &str, path: &str, cookie: &str, form: &str) -> Reply {
    let req = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header(axum::http::header::COOKIE, cookie)
        .header(
            axum::http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(axum::body::Body::from(form.to_owned()))
        .expect("request");
    h.send_request(req).await
}

async fn tenants_are_made_by_the_operator_and_own_their_purposes(h: &Harness) {
    tenant(h, "acme", "ACME Payments").await;
    let again = h
        .json(
            "POST",
            "/v1/tenants",
            &h.admin,
            json!({"id": "acme", "name": "x"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.raw);
    for bad in [
        json!({"id": "Acme", "name": "x"}),
        json!({"id": "a:b", "name": "x"}),
        json!({"id": "ok", "name": ""}),
        json!({"id": "ok"}),
    ] {
        let r = h.json("POST", "/v1/tenants", &h.admin, bad.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.raw
        );
    }
    let listed = h.send("GET", "/v1/tenants", Some(&h.admin), None).await;
    let ids: Vec<&str> = listed
        .json
        .as_array()
        .expect("list")
        .iter()
        .map(|t| t["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["acme", "default"]);
    // Only the operator lists or makes tenants.
    let client = h.client(&[]).await;
    assert_eq!(
        h.send("GET", "/v1/tenants", Some(&client), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // Purpose ids are unique within a tenant, not across tenants.
    purpose(h, "acme", "login", false).await;
    h.purpose("login", DIM).await;
    let dup = h
        .json(
            "POST",
            "/v1/purposes",
            &h.admin,
            json!({"id": "login", "tenant": "acme", "description": "again", "operations": ["verify"],
                   "dimension": DIM, "retention": {"max_days_since_enrolment": 1},
                   "notice": {"text": "again", "controller": "ACME Payments Ltd", "jurisdiction": "EU: GDPR"}}),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT, "{}", dup.raw);
    // A tenant's purpose names its own controller and law: the operator's are not assumed.
    for notice in [
        None,
        Some(json!({"text": "Log in", "controller": "ACME Payments Ltd"})),
        Some(json!({"text": "Log in", "controller": "TBD", "jurisdiction": "EU: GDPR"})),
    ] {
        let mut body = json!({"id": "signup", "tenant": "acme", "description": "Sign up",
            "operations": ["verify"], "dimension": DIM, "retention": {"max_days_since_enrolment": 1}});
        if let Some(n) = &notice {
            body["notice"] = n.clone();
        }
        let r = h.json("POST", "/v1/purposes", &h.admin, body).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{notice:?}: {}",
            r.raw
        );
        assert!(
            r.json["error"]["field"]
                .as_str()
                .is_some_and(|f| f.starts_with("notice")),
            "{}",
            r.raw
        );
    }
    let nowhere = h
        .json(
            "POST",
            "/v1/purposes",
            &h.admin,
            json!({"id": "login", "tenant": "nosuch", "description": "x", "operations": ["verify"],
                   "dimension": DIM, "retention": {"max_days_since_enrolment": 1}}),
        )
        .await;
    assert_eq!(
        (nowhere.status, nowhere.code()),
        (StatusCode::NOT_FOUND, "tenant_not_found")
    );
    // A client is granted its own tenant's purposes only.
    let r = h
        .json(
            "POST",
            "/v1/clients",
            &h.admin,
            json!({"name": "x", "grants": [{"purpose": "acme:login", "operations": ["verify"]}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.raw);
    let r = h
        .json(
            "POST",
            "/v1/clients",
            &h.admin,
            json!({"name": "x", "tenant": "acme", "subject_rights": ["read", "admin"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.raw);
    let r = h
        .json(
            "POST",
            "/v1/clients",
            &h.admin,
            json!({"name": "x", "tenant": "acme", "subject_rights": ["read"],
                   "grants": [{"purpose": "login", "operations": ["verify"]}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    assert_eq!(r.json["tenant"], "acme");
    assert_eq!(r.json["subject_rights"], json!(["read"]));
    assert_eq!(r.json["grants"][0]["purpose"], "login");
    // Public pages name each purpose's controller.
    let t = h.send("GET", "/v1/transparency", None, None).await;
    assert_eq!(
        t.json["fairness"]["purposes"]["acme:login"]["controller"],
        "ACME Payments"
    );
    let s = h.send("GET", "/v1/retention-schedule", None, None).await;
    let controllers: Vec<(&str, &str)> = s.json["purposes"]
        .as_array()
        .expect("purposes")
        .iter()
        .map(|p| {
            (
                p["purpose"].as_str().expect("id"),
                p["controller"].as_str().expect("c"),
            )
        })
        .collect();
    assert!(
        controllers.contains(&("acme:login", "ACME Payments")),
        "{controllers:?}"
    );
    assert!(
        controllers.contains(&("login", "Default tenant")),
        "{controllers:?}"
    );
    let page = h.send("GET", "/purposes", None, None).await;
    assert!(page.raw.contains("ACME Payments"), "{}", page.raw);
}
