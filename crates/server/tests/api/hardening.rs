//! Hardening (issue 19), one test per reproduced attack: a quorum that stale approvals cannot
//! make up, and Ed25519 keys that cannot be chosen to accept forgeries.

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::json;

use crate::governance::{approve, member};
use crate::harness::Harness;

crate::on_both_backends!(
    approvals_of_members_who_left_do_not_count,
    small_order_keys_are_refused_for_members_and_devices,
    key_material_and_search_keys_need_the_quorum,
    anonymous_reads_and_expired_challenges_do_not_grow_tables,
    portal_links_open_once_and_end_with_their_client,
    a_history_is_read_a_page_at_a_time,
    three_nodes_on_one_postgresql_share_one_rate_and_one_lockout,
);

/// Whether an admin operation needs the risk group's quorum once a group exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    /// Always a proposal.
    Quorum,
    /// A proposal when it lets a client search (1:N), or issues such a client's key.
    WhenItAllowsSearch,
    /// The admin alone: the reason says why it neither destroys key material nor widens
    /// what a client may do.
    Admin(&'static str),
}

/// Every operation the admin token opens, and every incident action: none unclassified.
const ADMIN_OPERATIONS: &[(&str, &str, Gate)] = &[
    ("post", "/v1/purposes", Gate::WhenItAllowsSearch),
    (
        "post",
        "/v1/purposes/{purpose}/protection-key",
        Gate::Quorum,
    ),
    (
        "post",
        "/v1/purposes/{purpose}/matcher",
        Gate::Admin("only through the fairness gate; setting the gate aside is a proposal"),
    ),
    (
        "post",
        "/v1/purposes/{purpose}/retirement",
        Gate::Admin("narrows: the purpose takes no new consents or enrolments; destroys nothing"),
    ),
    (
        "post",
        "/v1/purposes/{purpose}/notices",
        Gate::Admin("tells people more; a material change asks them again"),
    ),
    (
        "post",
        "/v1/tenants",
        Gate::Admin("a tenant alone may do nothing"),
    ),
    ("get", "/v1/tenants", Gate::Admin("a read")),
    ("post", "/v1/clients", Gate::WhenItAllowsSearch),
    ("get", "/v1/clients", Gate::Admin("a read; no key is shown")),
    (
        "get",
        "/v1/clients/{client}",
        Gate::Admin("a read; no key is shown"),
    ),
    ("post", "/v1/clients/{client}/key", Gate::WhenItAllowsSearch),
    (
        "get",
        "/v1/clients/{client}/webhooks",
        Gate::Admin("a read; no secret is shown, and only the client registers endpoints"),
    ),
    (
        "get",
        "/v1/webhooks/{webhook}",
        Gate::Admin("a read; no secret"),
    ),
    (
        "delete",
        "/v1/webhooks/{webhook}",
        Gate::Admin("narrows: nothing more is sent"),
    ),
    (
        "get",
        "/v1/webhooks/{webhook}/messages",
        Gate::Admin("a read of the delivery log; never a payload"),
    ),
    (
        "post",
        "/v1/webhooks/{webhook}/replay",
        Gate::Admin("sends again what was sent, to the URL the client chose"),
    ),
    (
        "post",
        "/v1/reviewers",
        Gate::Admin("reviewers decide claims for people, from the reserve"),
    ),
    (
        "post",
        "/v1/reserve/topups",
        Gate::Admin("adds to the reserve"),
    ),
    ("get", "/v1/reserve", Gate::Admin("a read")),
    ("post", "/v1/incidents", Gate::Admin("records an incident")),
    ("get", "/v1/incidents/{id}", Gate::Admin("a read")),
    (
        "post",
        "/v1/incidents/{id}/actions",
        Gate::Admin("per action, see INCIDENT_ACTIONS"),
    ),
    (
        "post",
        "/v1/governance/group",
        Gate::Admin("registers the first group only; changing it is a proposal"),
    ),
    (
        "post",
        "/v1/proposals",
        Gate::Admin("proposes; nothing changes until the quorum signs"),
    ),
];

/// Every incident action.
const INCIDENT_ACTIONS: &[(&str, Gate)] = &[
    ("suspend_client", Gate::Admin("narrows: a client stops")),
    (
        "reinstate_client",
        Gate::Admin("gives back no more than the grants the client had"),
    ),
    ("revoke_device", Gate::Admin("narrows: a device stops")),
    ("revoke_purpose_key", Gate::Quorum),
    ("notifications_sent", Gate::Admin("a record")),
    ("note", Gate::Admin("a record")),
    ("close", Gate::Admin("a record")),
];

#[test]
fn every_admin_operation_is_classified() {
    let doc: serde_json::Value =
        serde_json::from_str(bioguard_server::openapi_json()).expect("openapi");
    let mut admin = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let needs_admin = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("admin_token").is_some()));
            if needs_admin {
                admin.insert((method.clone(), path.clone()));
            }
        }
    }
    let listed: std::collections::BTreeSet<(String, String)> = ADMIN_OPERATIONS
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(
        admin, listed,
        "every admin operation in the API, and only those, is classified here"
    );
    // Every incident action the parser knows is listed, and no other.
    for (name, _) in INCIDENT_ACTIONS {
        assert!(
            bioguard_core::IncidentAction::parse(name, None, None, None, Some("n"))
                .map_err(|e| e.field())
                != Err("action"),
            "{name} is an incident action"
        );
    }
    let refused = bioguard_core::IncidentAction::parse("x", None, None, None, None)
        .expect_err("unknown action");
    let known = refused.rule().matches(',').count() + 2;
    assert_eq!(known, INCIDENT_ACTIONS.len(), "{}", refused.rule());
}

fn pk(k: &ed25519_dalek::SigningKey) -> String {
    B64.encode(k.verifying_key().to_bytes())
}

/// Proposes `action` and returns its id and payload.
async fn propose(h: &Harness, action: serde_json::Value) -> (String, String) {
    let p = h
        .json(
            "POST",
            "/v1/proposals",
            &h.admin,
            json!({"action": action, "ttl_secs": 3600}),
        )
        .await;
    assert_eq!(p.status, StatusCode::CREATED, "{}", p.raw);
    (
        p.json["id"].as_str().expect("id").to_owned(),
        p.json["payload"].as_str().expect("payload").to_owned(),
    )
}

async fn approvals_of_members_who_left_do_not_count(h: &Harness) {
    let (m1, m2, m3, m4) = (member(1), member(2), member(3), member(4));
    let g = h
        .json(
            "POST",
            "/v1/governance/group",
            &h.admin,
            json!({"quorum": 2, "members": [
                {"name": "m1", "public_key": pk(&m1)},
                {"name": "m2", "public_key": pk(&m2)},
                {"name": "m3", "public_key": pk(&m3)}]}),
        )
        .await;
    assert_eq!(g.status, StatusCode::CREATED, "{}", g.raw);
    // P: a client that may search; m1 approves it (one of two).
    let r = h
        .json(
            "POST",
            "/v1/purposes",
            &h.admin,
            json!({"id": "door", "description": "Door", "operations": ["enroll", "verify"],
                   "dimension": 4, "retention": {"max_days_since_enrolment": 30}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    let (p, p_payload) = propose(
        h,
        json!({"type": "group.change", "quorum": 1, "members": [
            {"name": "m1", "public_key": pk(&m1)}]}),
    )
    .await;
    let r = approve(h, &p, "m1", &m1, &p_payload).await;
    assert_eq!(r.json["approvals"], 1, "{}", r.raw);
    // The group becomes m2, m3, m4 (m2 and m3 agree).
    let (change, payload) = propose(
        h,
        json!({"type": "group.change", "quorum": 2, "members": [
            {"name": "m2", "public_key": pk(&m2)},
            {"name": "m3", "public_key": pk(&m3)},
            {"name": "m4", "public_key": pk(&m4)}]}),
    )
    .await;
    approve(h, &change, "m2", &m2, &payload).await;
    let r = approve(h, &change, "m3", &m3, &payload).await;
    assert_eq!(r.json["status"], "applied", "{}", r.raw);
    // m4 alone must not carry P: m1's approval no longer counts.
    let r = approve(h, &p, "m4", &m4, &p_payload).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.json["approvals"], 1, "only m4 counts now: {}", r.raw);
    assert_eq!(r.json["status"], "open", "{}", r.raw);
    let group = h
        .send("GET", "/v1/governance/group", Some(&h.admin), None)
        .await;
    let names: Vec<&str> = group.json["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["m2", "m3", "m4"], "P did not apply");
    // A current member's approval makes the quorum.
    let r = approve(h, &p, "m2", &m2, &p_payload).await;
    assert_eq!(
        (&r.json["approvals"], &r.json["status"]),
        (&json!(2), &json!("applied")),
        "{}",
        r.raw
    );
}

async fn small_order_keys_are_refused_for_members_and_devices(h: &Harness) {
    // The identity point is a valid point, and the lax check accepts the signature
    // 01 00..00 || 00..00 under it for any message.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let weak = B64.encode(identity);
    let g = h
        .json(
            "POST",
            "/v1/governance/group",
            &h.admin,
            json!({"quorum": 1, "members": [{"name": "m", "public_key": weak}]}),
        )
        .await;
    assert_eq!(g.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", g.raw);
    assert_eq!(g.json["error"]["field"], "members.public_key");
    h.purpose("door", 4).await;
    let key = h.client(&[("door", &["enroll", "verify"])]).await;
    let before = h.snapshot_all().await;
    let d = h
        .json(
            "POST",
            "/v1/devices",
            &key,
            json!({"name": "gate", "public_key": weak}),
        )
        .await;
    assert_eq!(d.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", d.raw);
    assert_eq!(d.json["error"]["field"], "public_key");
    assert_eq!(before, h.snapshot_all().await);
}

/// Proposes `action`, has m1 approve it (quorum 1) and returns the outcome.
async fn pass(h: &Harness, m1: &ed25519_dalek::SigningKey, action: serde_json::Value) -> String {
    let (id, payload) = propose(h, action).await;
    let r = approve(h, &id, "m1", m1, &payload).await;
    assert_eq!(r.json["status"], "applied", "{}", r.raw);
    r.json["result"].as_str().expect("result").to_owned()
}

async fn key_material_and_search_keys_need_the_quorum(h: &Harness) {
    // Before the group: a purpose that may search, a client of it, an incident.
    let r = h
        .json(
            "POST",
            "/v1/purposes",
            &h.admin,
            json!({"id": "door", "description": "Door", "operations": ["enroll", "identify"],
                   "dimension": 4, "max_gallery_size": 10,
                   "retention": {"max_days_since_enrolment": 30}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    let c = h
        .json(
            "POST",
            "/v1/clients",
            &h.admin,
            json!({"name": "gate", "grants": [{"purpose": "door", "operations": ["identify"]}]}),
        )
        .await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.raw);
    let client = c.json["id"].as_str().expect("id").to_owned();
    let i = h
        .json(
            "POST",
            "/v1/incidents",
            &h.admin,
            json!({"summary": "a leaked backup"}),
        )
        .await;
    assert_eq!(i.status, StatusCode::CREATED, "{}", i.raw);
    let incident = i.json["id"].as_str().expect("id").to_owned();
    let m1 = member(1);
    let g = h
        .json(
            "POST",
            "/v1/governance/group",
            &h.admin,
            json!({"quorum": 1, "members": [{"name": "m1", "public_key": pk(&m1)}]}),
        )
        .await;
    assert_eq!(g.status, StatusCode::CREATED, "{}", g.raw);

    // The admin alone is refused, and nothing changes.
    let before = h.snapshot_all().await;
    let key_path = format!("/v1/clients/{client}/key");
    let action_path = format!("/v1/incidents/{incident}/actions");
    for (path, body) in [
        ("/v1/purposes/door/protection-key", json!({})),
        (key_path.as_str(), json!({})),
        (
            action_path.as_str(),
            json!({"action": "revoke_purpose_key", "purpose": "door"}),
        ),
    ] {
        let r = h.json("POST", path, &h.admin, body).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "quorum_required"),
            "{path}: {}",
            r.raw
        );
    }
    assert_eq!(
        before,
        h.snapshot_all().await,
        "a refused change changed nothing"
    );
    // An incident action that narrows stays the admin's.
    let r = h
        .json(
            "POST",
            &action_path,
            &h.admin,
            json!({"action": "suspend_client", "client": client}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);

    // Through the quorum each applies.
    let out = pass(
        h,
        &m1,
        json!({"type": "protection_key.rotate", "purpose": "door"}),
    )
    .await;
    assert!(out.contains("version 2"), "{out}");
    let out = pass(
        h,
        &m1,
        json!({"type": "incident.revoke_purpose_key", "incident": incident, "purpose": "door"}),
    )
    .await;
    assert!(out.contains("version 2 revoked (now 3)"), "{out}");
    let timeline = h
        .send(
            "GET",
            &format!("/v1/incidents/{incident}"),
            Some(&h.admin),
            None,
        )
        .await;
    assert!(
        timeline.raw.contains("revoke_purpose_key"),
        "on the incident's timeline: {}",
        timeline.raw
    );
    let rotations: Vec<String> = h
        .leaves()
        .await
        .into_iter()
        .filter(|l| l.op == "protection_key.rotate")
        .map(|l| l.actor)
        .collect();
    assert_eq!(rotations, ["quorum", "quorum"]);

    // One approved key issue is one key.
    pass(
        h,
        &m1,
        json!({"type": "client.issue_key", "client": client}),
    )
    .await;
    let r = h.json("POST", &key_path, &h.admin, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let r = h.json("POST", &key_path, &h.admin, json!({})).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "quorum_required"),
        "a second key needs a second approval: {}",
        r.raw
    );
    // A client that may only verify is the admin's to re-key.
    h.purpose("till", 4).await;
    let v = h
        .json(
            "POST",
            "/v1/clients",
            &h.admin,
            json!({"name": "till", "grants": [{"purpose": "till", "operations": ["verify"]}]}),
        )
        .await;
    assert_eq!(v.status, StatusCode::CREATED, "{}", v.raw);
    let r = h
        .json(
            "POST",
            &format!("/v1/clients/{}/key", v.json["id"].as_str().expect("id")),
            &h.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
}

async fn anonymous_reads_and_expired_challenges_do_not_grow_tables(h: &Harness) {
    h.purpose("door", 4).await;
    let key = h.client(&[("door", &["enroll", "verify"])]).await;
    // Each anonymous checkpoint read after a new leaf used to keep a row.
    for who in ["a", "b", "c", "d"] {
        assert_eq!(
            h.consent(&key, who, "door").await.status,
            StatusCode::CREATED
        );
        let r = h.send("GET", "/v1/audit/checkpoint", None, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    }
    assert!(
        h.snapshot_of(&["audit_checkpoints"]).await.is_empty(),
        "readers keep no checkpoints; the interval task does"
    );
    // Challenges: expired ones are purged when new ones are issued.
    let challenge = || async {
        let r = h
            .json("POST", "/v1/challenges", &key, json!({"purpose": "door"}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    };
    for _ in 0..20 {
        challenge().await;
    }
    assert_eq!(h.snapshot_of(&["challenges"]).await.len(), 20);
    h.service
        .clock()
        .advance(bioguard_service::CHALLENGE_SECS + 301);
    challenge().await;
    assert_eq!(
        h.snapshot_of(&["challenges"]).await.len(),
        1,
        "only the live challenge is kept"
    );
}

/// Creates a client with every right on `purpose` and returns (id, key).
async fn client_with_id(h: &Harness, purpose: &str) -> (String, String) {
    let c = h
        .json(
            "POST",
            "/v1/clients",
            &h.admin,
            json!({"name": "till", "subject_rights": ["read", "erase", "lock", "portal"],
                   "grants": [{"purpose": purpose, "operations": ["enroll", "verify"]}]}),
        )
        .await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.raw);
    (
        c.json["id"].as_str().expect("id").to_owned(),
        c.json["api_key"].as_str().expect("key").to_owned(),
    )
}

/// Issues a portal link for `subject`; returns its path.
async fn portal_link(h: &Harness, key: &str, subject: &str) -> String {
    let link = h
        .json(
            "POST",
            &format!("/v1/subjects/{subject}/portal-links"),
            key,
            json!({}),
        )
        .await;
    assert_eq!(link.status, StatusCode::CREATED, "{}", link.raw);
    link.json["url"].as_str().expect("url").to_owned()
}

async fn portal_page(h: &Harness, cookie: &str) -> StatusCode {
    let req = axum::http::Request::builder()
        .uri("/portal")
        .header(axum::http::header::COOKIE, cookie)
        .body(axum::body::Body::empty())
        .expect("request");
    h.send_request(req).await.status
}

/// Opens `url`; returns the session cookie.
async fn open_portal(h: &Harness, url: &str) -> String {
    let opened = h.send("GET", url, None, None).await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.raw);
    let cookie = opened.headers[axum::http::header::SET_COOKIE]
        .to_str()
        .expect("cookie");
    let pair = cookie.split(';').next().expect("pair").to_owned();
    assert!(
        !url.contains(pair.split('=').nth(1).expect("value")),
        "the cookie carries a session token, not the link"
    );
    pair
}

async fn portal_links_open_once_and_end_with_their_client(h: &Harness) {
    h.purpose("door", 4).await;
    let (client, key) = client_with_id(h, "door").await;
    for who in ["alice", "bob"] {
        assert_eq!(
            h.consent(&key, who, "door").await.status,
            StatusCode::CREATED
        );
    }
    // A link opens once; the session it started carries on.
    let url = portal_link(h, &key, "alice").await;
    let cookie = open_portal(h, &url).await;
    assert_eq!(portal_page(h, &cookie).await, StatusCode::OK);
    let again = h.send("GET", &url, None, None).await;
    assert_eq!(
        again.status,
        StatusCode::FORBIDDEN,
        "reopened: {}",
        again.raw
    );
    assert_eq!(portal_page(h, &cookie).await, StatusCode::OK);

    // Re-keying the issuing client ends its links, opened or not.
    let unopened = portal_link(h, &key, "bob").await;
    let r = h
        .json(
            "POST",
            &format!("/v1/clients/{client}/key"),
            &h.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    let key = r.json["api_key"].as_str().expect("key").to_owned();
    assert_eq!(portal_page(h, &cookie).await, StatusCode::FORBIDDEN);
    let r = h.send("GET", &unopened, None, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.raw);

    // So does suspending it.
    let cookie = open_portal(h, &portal_link(h, &key, "alice").await).await;
    assert_eq!(portal_page(h, &cookie).await, StatusCode::OK);
    let i = h
        .json(
            "POST",
            "/v1/incidents",
            &h.admin,
            json!({"summary": "leaked key"}),
        )
        .await;
    let r = h
        .json(
            "POST",
            &format!(
                "/v1/incidents/{}/actions",
                i.json["id"].as_str().expect("id")
            ),
            &h.admin,
            json!({"action": "suspend_client", "client": client}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(portal_page(h, &cookie).await, StatusCode::FORBIDDEN);

    // Behind a proxy that speaks HTTPS, the cookie is marked Secure by the setting.
    let (_, key) = client_with_id(h, "door").await;
    let behind_tls = bioguard_server::app(bioguard_server::AppState {
        secure_cookies: true,
        ..bioguard_server::AppState::new(h.service.clone())
    });
    let url = portal_link(h, &key, "bob").await;
    let req = axum::http::Request::builder()
        .uri(url)
        .body(axum::body::Body::empty())
        .expect("request");
    let opened = tower::ServiceExt::oneshot(behind_tls, req)
        .await
        .expect("answer");
    let cookie = opened.headers()[axum::http::header::SET_COOKIE]
        .to_str()
        .expect("cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");
}

async fn a_history_is_read_a_page_at_a_time(h: &Harness) {
    h.purpose("door", 4).await;
    let key = h.client(&[("door", &["enroll", "verify"])]).await;
    h.consent(&key, "alice", "door").await;
    let face = crate::harness::synthetic(1, 4);
    h.enroll(&key, "alice", "door", &face).await;
    for _ in 0..6 {
        assert_eq!(
            h.verify(&key, "alice", "door", &face).await.status,
            StatusCode::OK
        );
    }
    let page = |q: String| {
        let key = key.clone();
        async move {
            h.send(
                "GET",
                &format!("/v1/subjects/alice/history{q}"),
                Some(&key),
                None,
            )
            .await
        }
    };
    // All at once (this read is recorded too, after the answer's entries).
    let all = page(String::new()).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.raw);
    assert!(all.json.get("next_after").is_none(), "{}", all.raw);
    let all: Vec<u64> = all.json["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["index"].as_u64().expect("index"))
        .collect();
    assert!(all.len() >= 8, "{all:?}");
    // Three at a time, following next_after, gives the same entries in the same order.
    let mut paged = Vec::new();
    let mut after: Option<u64> = None;
    loop {
        let q = match after {
            Some(a) => format!("?limit=3&after={a}"),
            None => "?limit=3".into(),
        };
        let r = page(q).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
        let entries = r.json["entries"].as_array().expect("entries");
        assert!(entries.len() <= 3);
        paged.extend(entries.iter().map(|e| e["index"].as_u64().expect("index")));
        match r.json["next_after"].as_u64() {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(
        &paged[..all.len()],
        &all[..],
        "pages follow the ledger's order"
    );
    for bad in ["?limit=0", "?limit=1001", "?after=x"] {
        let r = page(bad.into()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.raw
        );
    }
}

/// Rates and lockouts live in the database on PostgreSQL, so three nodes give one allowance and
/// count one subject's failures together. (On SQLite one process owns the database and keeps
/// them in memory: nothing to share.)
async fn three_nodes_on_one_postgresql_share_one_rate_and_one_lockout(h: &Harness) {
    if h.service.backend() != bioguard_store::Backend::Postgres {
        eprintln!("SQLite: limits are this process's own; nothing shared to test");
        return;
    }
    let r = h
        .json(
            "POST",
            "/v1/purposes",
            &h.admin,
            json!({"id": "door", "description": "Door", "operations": ["enroll", "verify"],
                   "dimension": 4, "threshold": 0.9,
                   "retention": {"max_days_since_enrolment": 30},
                   "risk": {"lockout_failures": 3, "lockout_window_secs": 60,
                            "lockout_secs": 300}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    let key = h.client(&[("door", &["enroll", "verify"])]).await;
    h.consent(&key, "alice", "door").await;
    let alice = crate::harness::synthetic(1, 4);
    assert_eq!(
        h.enroll(&key, "alice", "door", &alice).await.status,
        StatusCode::CREATED
    );
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(h.another_node_with(|s| s.with_client_rate_limit(5)).await);
    }

    // One failed verification on each node: the third locks alice out everywhere.
    let stranger = crate::harness::synthetic(99, 4);
    let verify = |n: usize, probe: Vec<f32>| {
        let (nodes, key) = (&nodes, key.clone());
        async move {
            h.json_to(
                &nodes[n],
                "POST",
                "/v1/verify",
                &key,
                json!({"subject": "alice", "purpose": "door", "embedding": probe}),
            )
            .await
        }
    };
    for n in 0..3 {
        let r = verify(n, stranger.clone()).await;
        assert_eq!(
            (r.status, &r.json["match"]),
            (StatusCode::OK, &json!(false)),
            "{}",
            r.raw
        );
    }
    let r = verify(0, alice.clone()).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "attempts_exceeded"),
        "three failures on three nodes lock the subject out on all: {}",
        r.raw
    );
    let lockouts = h.leaves().await;
    assert_eq!(
        lockouts
            .iter()
            .filter(|l| l.op == "subject.lockout")
            .count(),
        1
    );

    // 5 per second with a burst of 10, for all three nodes together: 30 requests at once,
    // ten to each node, pass about 10 (each node alone would have passed all its ten).
    let started = std::time::Instant::now();
    let mut passed = 0;
    for i in 0..30 {
        let r = h
            .json_to(&nodes[i % 3], "GET", "/v1/subjects/nobody", &key, json!({}))
            .await;
        if r.status != StatusCode::TOO_MANY_REQUESTS {
            passed += 1;
        }
    }
    // The verifications above spent 4 of the burst already; refill is 5 per second.
    let refill = (started.elapsed().as_secs_f64() * 5.0).ceil() as usize;
    assert!(
        passed <= 10 + refill,
        "{passed} passed in {:?}: the three nodes gave more than one allowance",
        started.elapsed()
    );
    assert!(passed >= 5, "{passed} passed");
}
