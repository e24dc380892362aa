//! A person walks through their privacy portal in headless Chromium (driven over WebDriver):
//! open the link, see their data, withdraw one purpose, lock, unlock, download the report,
//! erase; each step is checked against the database. Screenshots are kept under
//! `target/tmp/`, and every page passes axe-core with no serious or critical violation.

use std::path::{Path, PathBuf};

use crate::http::request;
use crate::server::{Server, admin_token};
use crate::webdriver::{Browser, required};

/// axe-core's source, from `BIOGUARD_TEST_AXE` (set by `.ci/run`).
fn axe() -> Option<String> {
    match std::env::var("BIOGUARD_TEST_AXE") {
        Ok(p) => Some(std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))),
        Err(_) => {
            assert!(!required(), "BIOGUARD_TEST_AXE must name axe.min.js in CI");
            eprintln!("note: BIOGUARD_TEST_AXE is not set; skipping the accessibility checks");
            None
        }
    }
}

struct Db {
    url: String,
    rt: tokio::runtime::Runtime,
}

impl Db {
    fn new(dir: &Path) -> Self {
        Self {
            url: format!("sqlite://{}/bioguard-data/bioguard.db", dir.display()),
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("rt"),
        }
    }

    fn count(&self, sql: &'static str) -> i64 {
        self.rt.block_on(async {
            let pool = bioguard_store::SqlStore::raw_pool(&self.url)
                .await
                .expect("pool");
            let n: i64 = sqlx::query_scalar(sql)
                .fetch_one(&pool)
                .await
                .expect("query");
            pool.close().await;
            n
        })
    }
}

fn shots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

fn call(server: &Server, method: &str, path: &str, token: &str, body: &str) -> serde_json::Value {
    let r = request(server.addr, method, path, Some(token), Some(body)).expect("request");
    assert!(r.status < 300, "{method} {path}: {} {}", r.status, r.body);
    r.json()
}

#[test]
fn a_person_walks_through_the_portal_in_a_real_browser() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let axe = axe();
    let cwd = tempfile::tempdir().expect("tempdir");
    let dir = cwd.path();
    let server = Server::start(dir, &[]);
    let admin = admin_token(&dir.join("bioguard-data"));
    for p in ["door", "gym"] {
        call(
            &server,
            "POST",
            "/v1/purposes",
            &admin,
            &format!(
                r#"{{"id":"{p}","description":"The {p} entrance","operations":["enroll","verify"],"dimension":4,"retention":{{"max_days_since_enrolment":30}}}}"#
            ),
        );
    }
    let key = call(&server, "POST", "/v1/clients", &admin,
        r#"{"name":"front desk","subject_rights":["read","portal"],"grants":[{"purpose":"door","operations":["enroll","verify"]},{"purpose":"gym","operations":["enroll","verify"]}]}"#)
        ["api_key"].as_str().expect("key").to_owned();
    for (s, p, e) in [
        ("alice", "door", "[0.1,0.2,0.3,0.4]"),
        ("alice", "gym", "[0.4,0.3,0.2,0.1]"),
        ("bob", "door", "[0.9,0.1,0.1,0.1]"),
    ] {
        call(
            &server,
            "PUT",
            &format!("/v1/subjects/{s}/consents/{p}"),
            &key,
            r#"{"notice_version":"v1","method":"web"}"#,
        );
        call(
            &server,
            "PUT",
            &format!("/v1/subjects/{s}/templates/{p}"),
            &key,
            &format!(r#"{{"embedding":{e}}}"#),
        );
    }
    call(
        &server,
        "POST",
        "/v1/verify",
        &key,
        r#"{"subject":"alice","purpose":"door","embedding":[0.1,0.2,0.3,0.4]}"#,
    );
    let link = call(
        &server,
        "POST",
        "/v1/subjects/alice/portal-links",
        &key,
        r#"{"ttl_secs":900}"#,
    );
    let base = format!("http://{}", server.addr);
    let db = Db::new(dir);
    // The checker itself finds a known violation (an unlabelled field, no language).
    if let Some(axe) = &axe {
        browser.goto("data:text/html,<title>x</title><input type=text>");
        let v = browser.serious_accessibility_violations(axe);
        assert!(
            v.iter().any(|v| v.contains("label")),
            "axe must flag an unlabelled field: {v:?}"
        );
    }
    let check = |what: &str, browser: &Browser| {
        if let Some(axe) = &axe {
            let v = browser.serious_accessibility_violations(axe);
            assert!(v.is_empty(), "{what}: {v:#?}");
        }
    };

    // Open the link: the token leaves the address bar; her data is there, bob's is not.
    browser.goto(&format!("{base}{}", link["url"].as_str().expect("url")));
    assert_eq!(browser.url(), format!("{base}/portal"));
    let page = browser.source();
    assert!(
        page.contains("id=\"purpose-door\"") && page.contains("id=\"purpose-gym\""),
        "{page}"
    );
    assert!(
        browser
            .text("#history-table")
            .contains("Identity checked (one-to-one)")
    );
    assert!(browser.text("#lock-state").contains("not locked"));
    browser.screenshot(&shots().join("portal.png"));
    check("portal", &browser);

    // Every page at a phone's width and a desktop's, in English and Chinese: nothing wider
    // than the window (measured in the page), axe clean, a screenshot of each.
    for (width, height) in [(360, 800), (1280, 900)] {
        browser.resize(width, height);
        for lang in ["en", "zh-CN"] {
            for path in [
                "/portal",
                "/",
                "/purposes",
                "/retention",
                "/transparency",
                "/ledger",
                "/fairness",
            ] {
                browser.goto(&format!("{base}{path}?lang={lang}"));
                let (seen, overflow) = browser.width_and_overflow();
                assert!(
                    seen <= i64::from(width) && seen > i64::from(width) / 2,
                    "{path} at {width}: the viewport is {seen} px"
                );
                assert!(
                    overflow <= 0,
                    "{path} at {width} px ({lang}) scrolls sideways by {overflow} px"
                );
                check(&format!("{path} at {width} px ({lang})"), &browser);
                let name = format!(
                    "{}-{width}-{lang}.png",
                    path.trim_start_matches('/').replace('/', "-")
                );
                browser.screenshot(&shots().join(if path == "/" {
                    format!("home-{width}-{lang}.png")
                } else {
                    name
                }));
            }
        }
        let zh = browser.source();
        assert!(
            zh.contains("lang=\"zh-CN\""),
            "the last page was not in Chinese"
        );
    }
    browser.resize(1280, 2400);
    browser.goto(&format!("{base}/portal?lang=en"));

    // Withdraw the gym purpose: the receipt is shown; in the database her gym consent ended
    // and its template is gone, the rest stays.
    browser.click("#withdraw-gym");
    assert!(browser.text("#outcome").contains("Consent withdrawn"));
    assert!(
        browser.text("#document").starts_with("eyJ"),
        "a JWS receipt"
    );
    check("withdrawal receipt", &browser);
    assert_eq!(db.count("SELECT COUNT(*) FROM templates"), 2);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM consents WHERE ended_at IS NOT NULL"),
        1
    );
    browser.click("#back");

    // Lock with the keyboard alone (Tab to the button, Enter), then unlock.
    browser.tab_to("lock", 30);
    browser.press("\u{E007}");
    assert!(browser.text("#outcome").contains("now locked"));
    assert_eq!(db.count("SELECT COUNT(*) FROM subject_locks"), 1);
    let locked = request(
        server.addr,
        "POST",
        "/v1/verify",
        Some(&key),
        Some(r#"{"subject":"alice","purpose":"door","embedding":[0.1,0.2,0.3,0.4]}"#),
    )
    .expect("verify");
    assert_eq!(locked.status, 423, "{}", locked.body);
    browser.click("#back");
    assert!(browser.text("#lock-state").contains("locked"));
    browser.click("#unlock");
    assert!(browser.text("#outcome").contains("unlocked"));
    assert_eq!(db.count("SELECT COUNT(*) FROM subject_locks"), 0);
    browser.click("#back");

    // Download the report: the file holds what the database holds.
    browser.click("#download-report");
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(browser.downloaded("bioguard-report.json")).expect("report"),
    )
    .expect("JSON report");
    assert_eq!(report["templates"].as_array().expect("templates").len(), 1);
    assert_eq!(report["consents"].as_array().expect("consents").len(), 2);

    // Erase, with confirmation: the certificate is shown; nothing of hers remains.
    browser.click("#erase-link");
    check("erase confirmation", &browser);
    browser.screenshot(&shots().join("portal-erase.png"));
    browser.click("#confirm");
    browser.click("#erase");
    assert!(browser.text("#outcome").contains("erased"));
    assert!(
        browser.text("#document").starts_with("eyJ"),
        "a JWS certificate"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM templates"), 1, "bob's only");
    assert_eq!(db.count("SELECT COUNT(*) FROM consents"), 1, "bob's only");
    assert_eq!(db.count("SELECT COUNT(*) FROM portal_links"), 0);
    // The link is spent with her data.
    browser.goto(&format!("{base}/portal"));
    assert!(browser.source().contains("not valid"));

    // The public pages render, and pass the same check.
    for path in [
        "/",
        "/purposes",
        "/retention",
        "/transparency",
        "/ledger",
        "/fairness",
    ] {
        browser.goto(&format!("{base}{path}"));
        check(path, &browser);
    }
    browser.goto(&format!("{base}/transparency"));
    assert!(browser.text("main").contains("Templates enrolled"));
    browser.screenshot(&shots().join("transparency.png"));
}
