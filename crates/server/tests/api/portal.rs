//! The subject portal over the router: links are single-subject and expire, forged tokens and
//! cross-site forms are refused, actions change exactly what they say, and the public pages
//! are served with a strict policy.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;

use crate::harness::{Harness, Reply, synthetic};

crate::on_both_backends!(
    a_person_sees_only_their_own_data_and_acts_on_it,
    expired_forged_and_cross_site_requests_are_refused,
    public_pages_are_served_with_a_strict_policy,
    times_are_written_in_the_deployments_display_offset,
);

/// A deployment serving one region writes people's times in its offset, and names it.
async fn times_are_written_in_the_deployments_display_offset(h: &Harness) {
    h.purpose("door", 4).await;
    let key = h.client(&[("door", &["enroll", "verify"])]).await;
    assert!(h.consent(&key, "alice", "door").await.status.is_success());
    let cookie = open(h, &key, "alice", 600).await;
    let utc = get(h, "/portal", &cookie).await;
    assert!(utc.raw.contains(" UTC</time>"), "{}", utc.raw);
    let china = bioguard_server::app(bioguard_server::AppState {
        display_offset_minutes: 480,
        ..bioguard_server::AppState::new(h.service.clone())
    });
    let req = Request::builder()
        .uri("/portal")
        .header(header::COOKIE, &cookie)
        .header(header::ACCEPT_LANGUAGE, "zh-CN")
        .body(Body::empty())
        .expect("request");
    let page = crate::harness::send_to(&china, req).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.raw);
    assert!(page.raw.contains("（UTC+08:00）</time>"), "{}", page.raw);
    assert!(!page.raw.contains(" UTC</time>"), "{}", page.raw);
}

/// Issues a portal link for `subject` and opens it; returns the cookie.
async fn open(h: &Harness, key: &str, subject: &str, ttl: u32) -> String {
    let link = h
        .json(
            "POST",
            &format!("/v1/subjects/{subject}/portal-links"),
            key,
            json!({"ttl_secs": ttl}),
        )
        .await;
    assert_eq!(link.status, StatusCode::CREATED, "{}", link.raw);
    let url = link.json["url"].as_str().expect("url").to_owned();
    assert!(url.starts_with("/portal/open/bgp_"), "{url}");
    let opened = h.send("GET", &url, None, None).await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.raw);
    assert_eq!(opened.headers[header::LOCATION], "/portal");
    let cookie = opened.headers[header::SET_COOKIE].to_str().expect("cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    cookie.split(';').next().expect("pair").to_owned()
}

async fn get(h: &Harness, path: &str, cookie: &str) -> Reply {
    let req = Request::builder()
        .method("GET")
        .uri(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .expect("request");
    h.send_request(req).await
}

async fn post_form(h: &Harness, path: &str, cookie: &str, form: &str) -> Reply {
    let req = Request::builder()
        .method("POST")
        .uri(path)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .expect("request");
    h.send_request(req).await
}

/// The anti-forgery token in a page's forms.
fn csrf(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form") + 19;
    page[at..at + 64].to_owned()
}

/// The number of entries in a subject's history, from the API.
/// The length of a subject's history before this call: the client's read of it is recorded
/// first, and is its last entry.
async fn history_len(h: &Harness, key: &str, subject: &str) -> usize {
    let r = h
        .send(
            "GET",
            &format!("/v1/subjects/{subject}/history"),
            Some(key),
            None,
        )
        .await;
    let entries = r.json["entries"].as_array().expect("entries");
    let last = entries.last().expect("the read itself")["leaf"]
        .as_str()
        .expect("leaf");
    assert!(last.contains("\"op\":\"subject.read\""), "{last}");
    entries.len() - 1
}

async fn count(h: &Harness, sql: &'static str) -> i64 {
    bioguard_store::count_rows(&h.store, sql)
        .await
        .expect("count")
}

async fn a_person_sees_only_their_own_data_and_acts_on_it(h: &Harness) {
    h.purpose("door", 4).await;
    h.purpose("gym", 4).await;
    let key = h
        .client(&[
            ("door", &["enroll", "verify"]),
            ("gym", &["enroll", "verify"]),
        ])
        .await;
    for (s, p) in [("alice", "door"), ("alice", "gym"), ("bob", "door")] {
        assert_eq!(h.consent(&key, s, p).await.status, StatusCode::CREATED);
    }
    let alice = synthetic(1, 4);
    assert_eq!(
        h.enroll(&key, "alice", "door", &alice).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        h.enroll(&key, "alice", "gym", &synthetic(2, 4))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        h.enroll(&key, "bob", "door", &synthetic(3, 4)).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        h.verify(&key, "alice", "door", &alice).await.json["match"],
        true
    );

    let cookie = open(h, &key, "alice", 600).await;
    let page = get(h, "/portal", &cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.raw);
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    // Her purposes, consents with their notice, templates, and her history with proofs.
    for text in [
        "id=\"purpose-door\"",
        "id=\"purpose-gym\"",
        "The notice you agreed to",
        "Download the signed consent receipt",
        "withdraw-door",
        "withdraw-gym",
        "proved in the signed log",
        ">Identity checked (one-to-one)<",
        ">Link to this portal issued<",
    ] {
        assert!(page.raw.contains(text), "{text}: {}", page.raw);
    }
    assert!(!page.raw.contains("not proved"), "every entry proves");
    // In her words: the organisation by its name, no ledger actor names; the purpose by what
    // it is for; what is held, said plainly; the notice's recipients said, not left blank.
    assert!(
        page.raw.contains(">test client<"),
        "the client's name: {}",
        page.raw
    );
    assert!(
        !page.raw.contains("client:cl_"),
        "a ledger actor name: {}",
        page.raw
    );
    assert!(page.raw.contains(">door purpose</h3>"), "{}", page.raw);
    assert!(page.raw.contains("No image, recording or raw measurement"));
    assert!(page.raw.contains("<dd>No one else</dd>"), "{}", page.raw);
    assert!(page.raw.contains("Harness Operations Ltd"));
    // Only hers: her history has her entries, not bob's; no embedding value appears.
    let rows = page
        .raw
        .matches("<tr><td data-label=\"Time\"><time")
        .count();
    let hers = history_len(h, &key, "alice").await;
    assert_eq!(rows, hers, "one row per leaf in her history");
    for v in &alice {
        assert!(
            !page.raw.contains(&format!("{v}")),
            "no template value on the page"
        );
    }

    // Withdraw one purpose: her gym template and consent end; door stays.
    let token = csrf(&page.raw);
    let r = post_form(
        h,
        "/portal/withdraw",
        &cookie,
        &format!("csrf={token}&purpose=gym"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert!(
        r.raw.contains("Consent withdrawn") && r.raw.contains("eyJ"),
        "receipt shown: {}",
        r.raw
    );
    assert_eq!(
        count(h, "SELECT COUNT(*) FROM templates").await,
        2,
        "alice's door and bob's door"
    );
    // Lock, then unlock.
    let r = post_form(
        h,
        "/portal/lock",
        &cookie,
        &format!("csrf={token}&action=lock"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(count(h, "SELECT COUNT(*) FROM subject_locks").await, 1);
    assert_eq!(
        h.verify(&key, "alice", "door", &alice).await.status,
        StatusCode::LOCKED
    );
    assert_eq!(
        h.verify(&key, "bob", "door", &synthetic(3, 4)).await.status,
        StatusCode::OK
    );
    let r = post_form(
        h,
        "/portal/lock",
        &cookie,
        &format!("csrf={token}&action=unlock"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(count(h, "SELECT COUNT(*) FROM subject_locks").await, 0);
    // The report downloads as a file.
    let report = get(h, "/portal/report", &cookie).await;
    assert_eq!(report.status, StatusCode::OK);
    assert!(
        report.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .expect("cd")
            .starts_with("attachment")
    );
    assert_eq!(
        report.json["templates"]
            .as_array()
            .expect("templates")
            .len(),
        1
    );
    // Erase: needs the confirmation; then everything of hers is gone, bob's stays, and the
    // link no longer opens anything.
    let r = post_form(h, "/portal/erase", &cookie, &format!("csrf={token}")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.raw);
    assert_eq!(
        count(h, "SELECT COUNT(*) FROM templates").await,
        2,
        "nothing erased unconfirmed"
    );
    let r = post_form(
        h,
        "/portal/erase",
        &cookie,
        &format!("csrf={token}&confirm=yes"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert!(r.raw.contains("deletion certificate"), "{}", r.raw);
    assert_eq!(
        count(h, "SELECT COUNT(*) FROM templates").await,
        1,
        "bob's only"
    );
    assert_eq!(
        count(h, "SELECT COUNT(*) FROM consents").await,
        1,
        "bob's only"
    );
    assert_eq!(count(h, "SELECT COUNT(*) FROM portal_links").await, 0);
    assert_eq!(
        get(h, "/portal", &cookie).await.status,
        StatusCode::FORBIDDEN
    );
    // Each portal action is in the ledger under the portal actor.
    let leaves = h.leaves().await;
    for op in [
        "consent.withdraw",
        "subject.lock",
        "subject.unlock",
        "subject.erase",
    ] {
        assert!(
            leaves
                .iter()
                .any(|l| l.op == op && l.actor.starts_with("subject:portal")),
            "{op}"
        );
    }
}

async fn expired_forged_and_cross_site_requests_are_refused(h: &Harness) {
    h.purpose("door", 4).await;
    let key = h.client(&[("door", &["enroll", "verify"])]).await;
    for s in ["alice", "bob"] {
        h.consent(&key, s, "door").await;
    }
    // Bob's link shows bob only.
    let bob = open(h, &key, "bob", 600).await;
    let page = get(h, "/portal", &bob).await;
    let his = history_len(h, &key, "bob").await;
    assert_eq!(
        page.raw
            .matches("<tr><td data-label=\"Time\"><time")
            .count(),
        his
    );
    // Forged tokens and cookies are refused, with a page saying what to do.
    for path in [
        "/portal/open/bgp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "/portal/open/nonsense",
    ] {
        let r = h.send("GET", path, None, None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.raw);
        assert!(
            r.raw
                .contains("Ask the organisation you deal with for a new one"),
            "{}",
            r.raw
        );
    }
    let forged = get(
        h,
        "/portal",
        "bioguard_portal=bgp_forgedforgedforgedforgedforged",
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(get(h, "/portal", "").await.status, StatusCode::FORBIDDEN);
    // A form without the page's anti-forgery token changes nothing.
    let r = post_form(h, "/portal/lock", &bob, "action=lock").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.raw);
    let r = post_form(
        h,
        "/portal/lock",
        &bob,
        &format!("action=lock&csrf={}", "0".repeat(64)),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.raw);
    assert_eq!(count(h, "SELECT COUNT(*) FROM subject_locks").await, 0);
    // Another subject's token does not work with this session's forms.
    let alice = open(h, &key, "alice", 600).await;
    let alice_csrf = csrf(&get(h, "/portal", &alice).await.raw);
    let r = post_form(
        h,
        "/portal/lock",
        &bob,
        &format!("action=lock&csrf={alice_csrf}"),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Bad TTLs are refused.
    let r = h
        .json(
            "POST",
            "/v1/subjects/bob/portal-links",
            &key,
            json!({"ttl_secs": 86_400}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.raw);
    // Links expire.
    h.service.clock().advance(601);
    let r = get(h, "/portal", &bob).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.raw);
    // A flood of bad tokens is slowed down.
    let mut limited = false;
    for _ in 0..30 {
        if get(h, "/portal", "bioguard_portal=bgp_x").await.status == StatusCode::TOO_MANY_REQUESTS
        {
            limited = true;
            break;
        }
    }
    assert!(limited, "rate limited");
}

async fn public_pages_are_served_with_a_strict_policy(h: &Harness) {
    h.purpose("door", 4).await;
    for (path, text) in [
        ("/", "privacy portal"),
        ("/purposes", "door purpose"),
        ("/retention", "365 days"),
        ("/transparency", "Templates enrolled"),
        ("/ledger", "Latest signed checkpoint"),
        ("/fairness", "no fairness report"),
    ] {
        let r = h.send("GET", path, None, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(r.raw.contains(text), "{path}: {}", r.raw);
        let csp = r.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("csp");
        assert!(
            csp.contains("default-src 'none'") && !csp.contains("unsafe"),
            "{csp}"
        );
        assert!(
            r.raw.starts_with("<!doctype html><html lang=\"en\">"),
            "{path}"
        );
        assert!(!r.raw.contains("<script"), "{path}: no script");
    }
    let css = h.send("GET", "/static/site.css", None, None).await;
    assert_eq!(css.headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
}
