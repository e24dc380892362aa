//! The transparency page renders in headless Chromium (Debian `chromium`, installed by
//! `.ci/run`) and shows the figures the database holds.

use std::process::Command;

use crate::http::request;
use crate::server::{Server, admin_token, binary};

pub fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn the_transparency_page_renders_in_headless_chromium_with_the_database_figures() {
    let Some(browser) = chromium() else {
        eprintln!("note: chromium is not installed; skipping the transparency rendering test");
        return;
    };
    let cwd = tempfile::tempdir().expect("tempdir");
    let dir = cwd.path();
    let server = Server::start(dir, &[]);
    let admin = admin_token(&dir.join("bioguard-data"));
    request(server.addr, "POST", "/v1/purposes", Some(&admin), Some(
        r#"{"id":"door","description":"Door","operations":["enroll","verify"],"dimension":4,"retention":{"max_days_since_enrolment":30}}"#)).expect("purpose");
    let key = request(
        server.addr,
        "POST",
        "/v1/clients",
        Some(&admin),
        Some(r#"{"name":"door","grants":[{"purpose":"door","operations":["enroll","verify"]}]}"#),
    )
    .expect("client")
    .json()["api_key"]
        .as_str()
        .expect("key")
        .to_owned();
    for s in ["a", "b"] {
        request(
            server.addr,
            "PUT",
            &format!("/v1/subjects/{s}/consents/door"),
            Some(&key),
            Some(r#"{"notice_version":"v1","method":"web"}"#),
        )
        .expect("consent");
        request(
            server.addr,
            "PUT",
            &format!("/v1/subjects/{s}/templates/door"),
            Some(&key),
            Some(r#"{"embedding":[0.1,0.2,0.3,0.4]}"#),
        )
        .expect("enrol");
    }
    let json = request(server.addr, "GET", "/v1/transparency", None, None)
        .expect("report")
        .json();
    assert_eq!(json["enrolments"], 2);
    drop(server);

    let out = Command::new(binary())
        .args(["report", "transparency", "--out", "t.html"])
        .current_dir(dir)
        .env("BIOGUARD_LOG", "warn")
        .output()
        .expect("report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = dir.join("t.html");
    let dom = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", page.display()))
        .env("HOME", dir)
        .output()
        .expect("chromium");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("<h1>Transparency report</h1>"), "{dom}");
    // The rendered figures are the database's: two enrolments, two consents.
    assert!(dom.contains(r#"<td id="enrolments">2</td>"#), "{dom}");
    assert!(dom.contains(r#"<td id="consents.granted">2</td>"#), "{dom}");
}
