//! The README's curl walkthrough, run as written against a freshly started service.

use std::process::Command;

use crate::server::Server;

/// The shell block between the walkthrough markers in README.md.
fn walkthrough() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let start = readme
        .find("<!-- walkthrough:begin -->")
        .expect("begin marker");
    let end = readme.find("<!-- walkthrough:end -->").expect("end marker");
    readme[start..end]
        .split("```")
        .skip(1)
        .step_by(2)
        .map(|block| block.trim_start_matches("sh").to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn readme_walkthrough_works_as_written() {
    let script = walkthrough();
    assert!(
        script.contains("http://127.0.0.1:8600"),
        "the walkthrough uses the default address"
    );
    let cwd = tempfile::tempdir().expect("tempdir");
    // The same zero-config start as the README's first command (no operator named), on a
    // free port.
    let server = Server::start_with_env(cwd.path(), &[], &[("BIOGUARD_OPERATOR_NAME", "")]);
    let script = script.replace("http://127.0.0.1:8600", &format!("http://{}", server.addr));
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(cwd.path())
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "walkthrough failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "\"id\":\"payment\"",
        "\"code\":\"consent_required\"",
        "\"status\":\"granted\"",
        "\"replaced\":false",
        "\"match\":true",
        "\"match\":false",
        "\"templates\":[{\"purpose\":\"payment\"",
        "\"template_destroyed\":true",
        "\"erased\":true",
    ] {
        assert!(
            stdout.contains(expected),
            "walkthrough output lacks {expected}:\n{stdout}"
        );
    }
    // Zero configuration names no operator: the pages say so plainly, and a purpose without
    // a notice is refused with what to do (the walkthrough's purpose brings its notice).
    let page = crate::http::request_with(server.addr, "GET", "/", &[("Accept", "text/html")], None)
        .expect("home page");
    assert!(
        page.body.contains("has not published its name and contact"),
        "{}",
        page.body
    );
    let admin = crate::server::admin_token(&cwd.path().join("bioguard-data"));
    let bare = crate::http::request(
        server.addr,
        "POST",
        "/v1/purposes",
        Some(&admin),
        Some(r#"{"id":"bare","description":"No notice","operations":["verify"],"dimension":4,"retention":{"max_days_since_enrolment":1}}"#),
    )
    .expect("purpose");
    assert_eq!(bare.status, 422, "{}", bare.body);
    assert!(
        bare.body.contains("\"field\":\"notice\"") && bare.body.contains("operator_name"),
        "{}",
        bare.body
    );
    assert!(server.terminate().success());
}
