//! Public pages for people (issue 21): English or Simplified Chinese from `Accept-Language`,
//! a switch that is remembered, an HTML page for an unknown page path, and the ledger's
//! check command filled in with this service's address and key.

use axum::body::Body;
use axum::http::{Request, StatusCode};

use crate::harness::{Harness, Reply};

crate::on_both_backends!(
    the_transparency_page_names_its_measures_and_period,
    pages_speak_the_readers_language_and_remember_a_switch,
    unknown_page_paths_answer_a_page_and_api_paths_json,
    the_ledger_page_gives_a_command_to_paste,
);

async fn get(h: &Harness, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = Request::builder().method("GET").uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    h.send_request(req.body(Body::empty()).expect("request"))
        .await
}

async fn pages_speak_the_readers_language_and_remember_a_switch(h: &Harness) {
    for path in [
        "/",
        "/purposes",
        "/retention",
        "/transparency",
        "/ledger",
        "/fairness",
    ] {
        let en = get(h, path, &[]).await;
        assert_eq!(en.status, StatusCode::OK, "{path}");
        assert!(en.raw.contains("<html lang=\"en\">"), "{path}");
        assert!(en.raw.contains("href=\"?lang=zh-CN\""), "{path}: no switch");
        // Every page names who runs the service and how to reach them.
        assert!(
            en.raw.contains("<footer id=\"operator\">")
                && en.raw.contains("Harness Operations Ltd")
                && en.raw.contains("privacy@harness.test"),
            "{path}: no operator in the footer"
        );
        let zh = get(h, path, &[("accept-language", "zh-CN,zh;q=0.9,en;q=0.5")]).await;
        assert!(zh.raw.contains("本服务的运营方为"), "{path}");
        assert!(
            zh.raw.contains("<html lang=\"zh-CN\">"),
            "{path}: {}",
            zh.raw
        );
        assert!(
            zh.raw.contains("公开信息"),
            "{path}: the navigation is not in Chinese"
        );
        assert!(zh.raw.contains("href=\"?lang=en\""), "{path}");
    }
    // The switch wins over the browser's languages and is kept in a cookie.
    let switched = get(h, "/purposes?lang=zh-CN", &[("accept-language", "en")]).await;
    assert!(switched.raw.contains("用途及其告知"), "{}", switched.raw);
    let cookie = switched
        .headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a language cookie")
        .to_owned();
    assert!(cookie.starts_with("bioguard_lang=zh-CN;") && cookie.contains("SameSite=Lax"));
    let pair = cookie.split(';').next().expect("pair");
    let kept = get(
        h,
        "/retention",
        &[("accept-language", "en"), ("cookie", pair)],
    )
    .await;
    assert!(kept.raw.contains("<html lang=\"zh-CN\">"), "{}", kept.raw);
    let back = get(h, "/retention?lang=en", &[("cookie", pair)]).await;
    assert!(back.raw.contains("<html lang=\"en\">"));
    // An unknown choice changes nothing.
    let odd = get(h, "/?lang=xx", &[]).await;
    assert!(odd.raw.contains("<html lang=\"en\">") && odd.headers.get("set-cookie").is_none());
}

async fn unknown_page_paths_answer_a_page_and_api_paths_json(h: &Harness) {
    let browser = [("accept", "text/html,application/xhtml+xml,*/*;q=0.8")];
    let page = get(h, "/no/such/page", &browser).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(
        page.headers
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap_or_default().starts_with("text/html"))
    );
    assert!(page.raw.contains("There is no such page"), "{}", page.raw);
    assert!(page.raw.contains("Harness Operations Ltd"), "{}", page.raw);
    let zh = get(h, "/nope", &[browser[0], ("accept-language", "zh")]).await;
    assert!(zh.raw.contains("没有这个页面"), "{}", zh.raw);
    // API clients, and any path under /v1/, get the JSON error.
    let api = get(h, "/v1/nope", &browser).await;
    assert_eq!(
        (api.status, api.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let curl = get(h, "/no/such/page", &[("accept", "*/*")]).await;
    assert_eq!(curl.code(), "not_found");
}

async fn the_ledger_page_gives_a_command_to_paste(h: &Harness) {
    let key = h.send("GET", "/v1/audit/key", None, None).await.json["verifier_key"]
        .as_str()
        .expect("key")
        .to_owned();
    let page = get(h, "/ledger", &[("host", "bio.example.org")]).await;
    let expected = format!(
        "bioguard audit verify --server http://bio.example.org --log bioguard-log --key &#39;{}&#39;",
        bioguard_server::escape_html(&key)
    );
    assert!(page.raw.contains(&expected), "{}", page.raw);
    assert!(
        !page.raw.contains("URL") && !page.raw.contains("KEY"),
        "placeholders left"
    );
    // A Host header that is not a host name is not echoed.
    let odd = get(h, "/ledger", &[("host", "x\"><script>")]).await;
    assert!(!odd.raw.contains("<script>") && odd.raw.contains("http://127.0.0.1:8600"));
}

async fn the_transparency_page_names_its_measures_and_period(h: &Harness) {
    let en = get(h, "/transparency", &[]).await;
    for words in [
        "Templates enrolled",
        "Verifications (1:1)",
        "Consents withdrawn",
        "Period:",
    ] {
        assert!(en.raw.contains(words), "{words}: {}", en.raw);
    }
    // No raw keys of the JSON report.
    for key in [
        "no_match",
        "erasure_requests",
        "ledger / origin",
        "captures_refused",
    ] {
        assert!(!en.raw.contains(key), "{key}: {}", en.raw);
    }
    let fairness = get(h, "/fairness", &[]).await;
    for term in [
        "FMR (false match rate)",
        "FNMR (false non-match rate)",
        "GARBE (",
    ] {
        assert!(fairness.raw.contains(term), "{term} is not explained");
    }
    let zh = get(h, "/transparency", &[("accept-language", "zh")]).await;
    assert!(
        zh.raw.contains("登记的模板") && zh.raw.contains("期间"),
        "{}",
        zh.raw
    );
}
