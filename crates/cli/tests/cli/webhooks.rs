//! Webhooks reach a relying party's receiver that checks every signature with the Standard
//! Webhooks reference library (PyPI `standardwebhooks`, from `BIOGUARD_TEST_WEBHOOK_PYTHON`,
//! set by `.ci/run`), not with bioguard's code: a withdrawal made in the portal while the
//! receiver is down arrives once it is up, once, signed; a client of another purpose hears
//! nothing; a replay sends the same message id again.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::http::{request, request_with};
use crate::server::{Server, admin_token, binary};

/// The receiver process, killed when dropped.
struct Receiver(Child);

impl Receiver {
    /// Starts the receiver on `port`, checking signatures with `secret`, writing to `out`.
    fn start(python: &str, secret: &str, port: u16, out: &Path) -> Self {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/webhook-receiver.py");
        Self(
            Command::new(python)
                .arg(&script)
                .args([secret, &port.to_string()])
                .arg(out)
                .stdin(Stdio::null())
                .spawn()
                .expect("start the receiver"),
        )
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn call(addr: SocketAddr, method: &str, path: &str, token: &str, body: &str) -> serde_json::Value {
    let r = request(addr, method, path, Some(token), Some(body)).expect("request");
    assert!(r.status < 300, "{method} {path}: {} {}", r.status, r.body);
    r.json()
}

/// Declares the purpose `door` (its notice names the test operator, configured by `Server`).
fn door(addr: SocketAddr, admin: &str) {
    call(
        addr,
        "POST",
        "/v1/purposes",
        admin,
        r#"{"id":"door","description":"The door","operations":["enroll","verify"],"dimension":4,"retention":{"max_days_since_enrolment":30}}"#,
    );
}

/// A port nothing listens on (yet).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Polls `f` every 200 ms for up to `secs` seconds until it answers `Some`.
fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn received(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Opens a portal link the way a browser does and withdraws consent for `purpose` there.
fn withdraw_in_the_portal(addr: SocketAddr, link: &str, purpose: &str) {
    let opened = request(addr, "GET", link, None, None).expect("open the link");
    assert_eq!(opened.status, 303, "{}", opened.body);
    let cookie = opened
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let page = request_with(addr, "GET", "/portal", &[("Cookie", &cookie)], None).expect("page");
    assert_eq!(page.status, 200);
    let at = page.body.find("name=\"csrf\" value=\"").expect("a form") + 19;
    let csrf = &page.body[at..at + page.body[at..].find('"').expect("end")];
    let done = request_with(
        addr,
        "POST",
        "/portal/withdraw",
        &[
            ("Cookie", &cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        Some(&format!("csrf={csrf}&purpose={purpose}")),
    )
    .expect("withdraw");
    assert_eq!(done.status, 200, "{}", done.body);
}

#[test]
fn a_portal_withdrawal_reaches_a_receiver_that_was_down_once_and_signed() {
    let Ok(python) = std::env::var("BIOGUARD_TEST_WEBHOOK_PYTHON") else {
        eprintln!("note: BIOGUARD_TEST_WEBHOOK_PYTHON is not set; skipping the webhook test");
        return;
    };
    let cwd = tempfile::tempdir().expect("tempdir");
    let dir = cwd.path();
    let server = Server::start_with_env(dir, &[], &[("BIOGUARD_WEBHOOK_RETRY_SECS", "1")]);
    let addr = server.addr;
    let admin = admin_token(&dir.join("bioguard-data"));
    door(addr, &admin);
    let front = call(
        addr,
        "POST",
        "/v1/clients",
        &admin,
        r#"{"name":"front desk","subject_rights":["portal"],"grants":[{"purpose":"door","operations":["enroll","verify"]}]}"#,
    );
    let kiosk = call(
        addr,
        "POST",
        "/v1/clients",
        &admin,
        r#"{"name":"kiosk","grants":[{"purpose":"door","operations":["enroll","verify"]}]}"#,
    );
    let (front_id, key) = (
        front["id"].as_str().expect("id"),
        front["api_key"].as_str().expect("key"),
    );
    let port = free_port();
    let hook = call(
        addr,
        "POST",
        "/v1/webhooks",
        key,
        &format!(r#"{{"url":"http://127.0.0.1:{port}/hooks/front"}}"#),
    );
    let (hook_id, secret) = (
        hook["id"].as_str().expect("id"),
        hook["secret"].as_str().expect("secret"),
    );
    assert!(secret.starts_with("whsec_"), "{hook}");
    assert_eq!(hook["events"].as_array().map(Vec::len), Some(7), "{hook}");
    // Another client of the same purpose, which never named alice, listens too (at another
    // path) and must hear nothing about her.
    call(
        addr,
        "POST",
        "/v1/webhooks",
        kiosk["api_key"].as_str().expect("key"),
        &format!(r#"{{"url":"http://127.0.0.1:{port}/hooks/kiosk"}}"#),
    );
    // The operator cannot point a client's events anywhere: registration is the client's.
    let by_admin = request(
        addr,
        "POST",
        "/v1/webhooks",
        Some(&admin),
        Some(r#"{"url":"https://elsewhere.example/"}"#),
    )
    .expect("request");
    assert_eq!(by_admin.status, 401, "{}", by_admin.body);
    // The secret is shown once: the endpoint's reads never carry it.
    let listed = call(
        addr,
        "GET",
        &format!("/v1/clients/{front_id}/webhooks"),
        &admin,
        "",
    );
    assert!(!listed.to_string().contains(&secret[6..]), "{listed}");

    call(
        addr,
        "PUT",
        "/v1/subjects/alice/consents/door",
        key,
        r#"{"notice_version":"v1","method":"web"}"#,
    );
    call(
        addr,
        "PUT",
        "/v1/subjects/alice/templates/door",
        key,
        r#"{"embedding":[0.1,0.2,0.3,0.4]}"#,
    );
    let link = call(
        addr,
        "POST",
        "/v1/subjects/alice/portal-links",
        key,
        r#"{"ttl_secs":900}"#,
    );
    let link = link["url"].as_str().expect("url").to_owned();
    withdraw_in_the_portal(addr, &link, "door");

    // The receiver is down: attempts fail and are retried.
    let log_path = format!("/v1/webhooks/{hook_id}/messages");
    let log = || call(addr, "GET", &log_path, &admin, "");
    let failing = wait_for(30, "two failed attempts", || {
        let l = log();
        (l["messages"][0]["attempts"].as_u64() >= Some(2)).then_some(l)
    });
    let messages = failing["messages"].as_array().expect("messages");
    assert_eq!(
        messages.len(),
        1,
        "one message for one withdrawal: {failing}"
    );
    let m = &messages[0];
    assert_eq!(m["event"], "consent.withdrawn");
    assert_eq!(m["state"], "pending", "{m}");
    assert!(
        m["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot connect")),
        "{m}"
    );
    let message_id = m["id"].as_str().expect("id").to_owned();

    // The receiver comes up; the next retry reaches it.
    let out = dir.join("received.jsonl");
    let _receiver = Receiver::start(&python, secret, port, &out);
    let delivered = wait_for(45, "the delivery", || {
        let l = log();
        (l["messages"][0]["state"] == "delivered").then_some(l)
    });
    assert_eq!(delivered["messages"][0]["last_status"], 204, "{delivered}");
    // Once: nothing more arrives over further retry periods.
    std::thread::sleep(Duration::from_secs(3));
    let got = received(&out);
    assert_eq!(got.len(), 1, "exactly one delivery: {got:#?}");
    let first = &got[0];
    assert_eq!(
        first["verdict"], "accepted",
        "the library verified the signature: {first}"
    );
    assert_eq!(first["path"], "/hooks/front");
    assert_eq!(first["id"], message_id.as_str());
    let payload = &first["payload"];
    assert_eq!(payload["type"], "consent.withdrawn");
    assert!(
        payload["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    // The person by the client's own name for them, and nothing else about them.
    assert_eq!(
        payload["data"],
        serde_json::json!({"purpose": "door", "by": "person", "subject": "alice"})
    );
    assert_eq!(payload.as_object().map(|o| o.len()), Some(3), "{payload}");

    // A replay from the command line sends the same message, with the same id, again.
    let replay = Command::new(binary())
        .args(["webhooks", "replay", "--data-dir"])
        .arg(dir.join("bioguard-data"))
        .args(["--message", &message_id])
        .env_remove("BIOGUARD_DATA_DIR")
        .output()
        .expect("replay");
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    let again = wait_for(15, "the replay", || {
        let r = received(&out);
        (r.len() == 2).then_some(r)
    });
    assert_eq!(again[1]["id"], message_id.as_str());
    assert_eq!(again[1]["verdict"], "accepted");
    assert!(
        again.iter().all(|r| r["path"] == "/hooks/front"),
        "the kiosk never named alice and hears nothing of her: {again:#?}"
    );
    // A replay of an unknown message says so and exits non-zero.
    let unknown = Command::new(binary())
        .args(["webhooks", "replay", "--data-dir"])
        .arg(dir.join("bioguard-data"))
        .args(["--message", "msg_nothing"])
        .output()
        .expect("replay");
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("no such webhook"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
}

/// Three nodes on one PostgreSQL database deliver one outbox: every message reaches the
/// receiver once, whichever node made the change and however the nodes race for it.
#[test]
fn three_nodes_on_one_postgresql_deliver_each_message_once() {
    let Ok(python) = std::env::var("BIOGUARD_TEST_WEBHOOK_PYTHON") else {
        eprintln!("note: BIOGUARD_TEST_WEBHOOK_PYTHON is not set; skipping the webhook test");
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let Some(db) = rt.block_on(bioguard_store::testing::TestDb::postgres("webhooks3")) else {
        eprintln!(
            "note: BIOGUARD_TEST_DATABASE_URL is not set; skipping the multi-node webhook test"
        );
        return;
    };
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let retry = [("BIOGUARD_WEBHOOK_RETRY_SECS", "1")];
    let first = Server::start_with_env(dirs[0].path(), &["--database-url", db.url()], &retry);
    let key_file = dirs[0]
        .path()
        .join("bioguard-data/master.key")
        .to_string_lossy()
        .into_owned();
    let mut nodes = vec![first];
    for d in &dirs[1..] {
        nodes.push(Server::start_with_env(
            d.path(),
            &["--database-url", db.url(), "--key-file", &key_file],
            &retry,
        ));
    }
    let admin = admin_token(&dirs[0].path().join("bioguard-data"));
    let addr = nodes[0].addr;
    door(addr, &admin);
    let client = call(
        addr,
        "POST",
        "/v1/clients",
        &admin,
        r#"{"name":"front desk","subject_rights":["lock"],"grants":[{"purpose":"door","operations":["enroll","verify"]}]}"#,
    );
    let key = client["api_key"].as_str().expect("key");
    let port = free_port();
    let out = dirs[0].path().join("received.jsonl");
    let hook = call(
        addr,
        "POST",
        "/v1/webhooks",
        key,
        &format!(r#"{{"url":"http://127.0.0.1:{port}/hooks","events":["subject.locked"]}}"#),
    );
    let _receiver = Receiver::start(
        &python,
        hook["secret"].as_str().expect("secret"),
        port,
        &out,
    );
    // Thirty people, each locked through a different node than the last.
    let people: Vec<String> = (0..30).map(|i| format!("p{i:02}")).collect();
    for (i, who) in people.iter().enumerate() {
        let node = nodes[i % 3].addr;
        call(
            node,
            "PUT",
            &format!("/v1/subjects/{who}/consents/door"),
            key,
            r#"{"notice_version":"v1","method":"web"}"#,
        );
        call(node, "POST", &format!("/v1/subjects/{who}/lock"), key, "");
    }
    let got = wait_for(60, "thirty deliveries", || {
        let r = received(&out);
        (r.len() >= 30).then_some(r)
    });
    // A few more poll rounds on every node: nothing arrives twice.
    std::thread::sleep(Duration::from_secs(3));
    let got = {
        let again = received(&out);
        assert_eq!(again.len(), got.len().max(30), "{again:#?}");
        again
    };
    let ids: std::collections::BTreeSet<&str> =
        got.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(
        ids.len(),
        30,
        "thirty distinct messages, each once: {got:#?}"
    );
    assert!(got.iter().all(|r| r["verdict"] == "accepted"), "{got:#?}");
    let mut named: Vec<&str> = got
        .iter()
        .filter_map(|r| r["payload"]["data"]["subject"].as_str())
        .collect();
    named.sort_unstable();
    assert_eq!(named, people.iter().map(String::as_str).collect::<Vec<_>>());
    let log = call(
        addr,
        "GET",
        &format!("/v1/webhooks/{}/messages", hook["id"].as_str().expect("id")),
        &admin,
        "",
    );
    assert!(
        log["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .all(|m| m["state"] == "delivered" && m["attempts"] == 1),
        "{log}"
    );
    drop(nodes);
    rt.block_on(db.cleanup());
}
