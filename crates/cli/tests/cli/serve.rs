//! `bioguard serve`: zero-config first start, restart, configuration errors, shutdown.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::http::request;
use crate::server::{Server, admin_token, binary};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn zero_config_start_creates_private_files_and_never_logs_the_token() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let server = Server::start(cwd.path(), &[]);
    let data = cwd.path().join("bioguard-data");
    assert_eq!(mode(&data), 0o700);
    for f in ["master.key", "admin.token", "bioguard.db"] {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }
    let token = admin_token(&data);
    assert!(token.starts_with("bga_") && token.len() == 68);
    let health = request(server.addr, "GET", "/healthz", None, None).expect("healthz");
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["database"], "sqlite");
    let r = request(
        server.addr,
        "POST",
        "/v1/purposes",
        Some(&token),
        Some(r#"{"id":"payment","description":"Pay","operations":["verify"],"dimension":4,"retention":{"max_days_since_enrolment":30}}"#),
    )
    .expect("create purpose");
    assert_eq!(r.status, 201, "{}", r.body);

    let log = server.log();
    assert!(
        log.contains("admin.token"),
        "the log names the token file:\n{log}"
    );
    let key_file = std::fs::read_to_string(data.join("master.key")).expect("key file");
    let key_hex = key_file
        .lines()
        .last()
        .expect("key line")
        .split(' ')
        .nth(1)
        .expect("hex");
    assert!(
        !log.contains(&token) && !log.contains(&token[4..]),
        "the token reached the log"
    );
    assert!(!log.contains(key_hex), "the master key reached the log");

    let status = server.terminate();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");

    // A restart keeps the same token and data and creates nothing new.
    let again = Server::start(cwd.path(), &[]);
    assert_eq!(admin_token(&data), token);
    let list = request(again.addr, "GET", "/v1/purposes", None, None).expect("list");
    assert_eq!(list.json()[0]["id"], "payment");
    assert!(!again.log().contains("created master key"));
    assert!(again.terminate().success());
}

fn serve_fails(cwd: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(binary());
    cmd.arg("serve").args(args).current_dir(cwd);
    for (k, _) in std::env::vars() {
        if k.starts_with("BIOGUARD_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run");
    assert!(
        !out.status.success(),
        "expected failure for {args:?} {env:?}"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn invalid_configuration_stops_the_start_with_the_key_and_the_rule() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let e = serve_fails(cwd.path(), &["--listen", "localhost"], &[]);
    assert!(
        e.contains("`listen`") && e.contains("--listen") && e.contains("127.0.0.1:8600"),
        "{e}"
    );

    let e = serve_fails(cwd.path(), &[], &[("BIOGUARD_MAX_BODY_BYTES", "ten")]);
    assert!(
        e.contains("`max_body_bytes`") && e.contains("BIOGUARD_MAX_BODY_BYTES"),
        "{e}"
    );

    let e = serve_fails(
        cwd.path(),
        &[],
        &[("BIOGUARD_DATABASE_URL", "mysql://localhost/x")],
    );
    assert!(
        e.contains("`database_url`") && e.contains("postgres://"),
        "{e}"
    );

    let cfg = cwd.path().join("bioguard.toml");
    std::fs::write(&cfg, "listen = \"127.0.0.1:0\"\nlog_level = \"debug\"\n").expect("write");
    let e = serve_fails(cwd.path(), &["--config", cfg.to_str().expect("utf-8")], &[]);
    assert!(
        e.contains("unknown key `log_level`") && e.contains("known keys"),
        "{e}"
    );

    std::fs::write(&cfg, "listen = [1, 2]\n").expect("write");
    let e = serve_fails(cwd.path(), &["--config", cfg.to_str().expect("utf-8")], &[]);
    assert!(e.contains("`listen`"), "{e}");

    let e = serve_fails(cwd.path(), &["--log", "bioguard=[[["], &[]);
    assert!(e.contains("`log`"), "{e}");

    // The operator is named for real, with a way to reach it.
    let e = serve_fails(
        cwd.path(),
        &[],
        &[("BIOGUARD_OPERATOR_NAME", "Corner Shop Ltd")],
    );
    assert!(
        e.contains("operator_name and operator_contact go together"),
        "{e}"
    );
    let e = serve_fails(
        cwd.path(),
        &[],
        &[
            ("BIOGUARD_OPERATOR_NAME", "TBD"),
            ("BIOGUARD_OPERATOR_CONTACT", "privacy@shop.example"),
        ],
    );
    assert!(
        e.contains("`operator_name`")
            && e.contains("BIOGUARD_OPERATOR_NAME")
            && e.contains("placeholder"),
        "{e}"
    );
    // None of these created anything.
    assert!(!cwd.path().join("bioguard-data").exists());
}

#[test]
fn unsafe_or_foreign_keys_are_refused() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let server = Server::start(cwd.path(), &[]);
    assert!(server.terminate().success());
    let data = cwd.path().join("bioguard-data");
    let key = data.join("master.key");

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let e = serve_fails(cwd.path(), &["--listen", "127.0.0.1:0"], &[]);
    assert!(e.contains("chmod 600"), "{e}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");

    // Another master key than the one the database was created with.
    std::fs::rename(&key, data.join("master.key.bak")).expect("move");
    let e = serve_fails(cwd.path(), &["--listen", "127.0.0.1:0"], &[]);
    assert!(e.contains("another master key"), "{e}");
}

#[test]
fn openapi_command_prints_the_document() {
    let out = Command::new(binary()).arg("openapi").output().expect("run");
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(doc["paths"]["/v1/verify"]["post"].is_object());
}

#[test]
fn maintenance_commands_refuse_a_directory_that_holds_no_installation() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let missing = cwd.path().join("typo");
    let report = cwd.path().join("report.html");
    let commands: [&[&str]; 6] = [
        &["keys", "status"],
        &["keys", "check"],
        &["retention", "sweep"],
        &[
            "report",
            "transparency",
            "--out",
            report.to_str().expect("utf-8"),
        ],
        &["keys", "rotate"],
        &["admin", "token", "rotate"],
    ];
    for args in commands {
        let mut cmd = Command::new(binary());
        cmd.args(args)
            .arg("--data-dir")
            .arg(&missing)
            .current_dir(cwd.path());
        for (k, _) in std::env::vars() {
            if k.starts_with("BIOGUARD_") {
                cmd.env_remove(k);
            }
        }
        let out = cmd.output().expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded: {stderr}");
        assert!(
            stderr.contains("no bioguard installation at") && stderr.contains("bioguard serve"),
            "{args:?}: {stderr}"
        );
        // A maintenance command does not listen, and its configuration line says nothing of it.
        assert!(!stderr.contains("listen="), "{args:?}: {stderr}");
        // Nothing was created: no directory, no master key, no database, no report.
        assert!(!missing.exists(), "{args:?} created {}", missing.display());
        assert!(!report.exists());
    }
    // An installation's directory without its database is refused too, and left as it was.
    std::fs::create_dir(&missing).expect("mkdir");
    let out = Command::new(binary())
        .args(["keys", "status", "--data-dir"])
        .arg(&missing)
        .current_dir(cwd.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bioguard.db does not exist"));
    assert_eq!(std::fs::read_dir(&missing).expect("read").count(), 0);
}

#[test]
fn serve_on_a_busy_port_fails_before_it_writes_anything() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let data = cwd.path().join("data");
    let stderr = serve_fails(
        cwd.path(),
        &[
            "--listen",
            &addr,
            "--data-dir",
            data.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    // No data directory: no master key, admin token, database or secrets were written.
    assert!(!data.exists(), "{stderr}");
    drop(taken);
}

#[test]
fn maintenance_commands_offer_only_their_own_flags() {
    for args in [
        &["keys", "status"][..],
        &["keys", "check"],
        &["retention", "sweep"],
        &["report", "transparency"],
        &["admin", "token", "rotate"],
    ] {
        let out = Command::new(binary())
            .args(args)
            .arg("--help")
            .output()
            .expect("run");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}");
        assert!(
            help.contains("--data-dir") && help.contains("--key-provider"),
            "{help}"
        );
        for serve_only in [
            "--listen",
            "--tls-cert",
            "--max-body-bytes",
            "--client-rate-per-sec",
        ] {
            assert!(!help.contains(serve_only), "{args:?} offers {serve_only}");
        }
    }
    let out = Command::new(binary())
        .args(["retention", "sweep", "--listen", "127.0.0.1:1"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen"));
}
