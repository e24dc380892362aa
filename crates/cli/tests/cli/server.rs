//! Starting and stopping `bioguard serve` as a real process.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bioguard"))
}

/// A running server process; killed (SIGKILL) when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `bioguard serve --listen 127.0.0.1:0 <args>` in `cwd` and waits until it
    /// listens. BIOGUARD_* variables of the test environment are not passed on.
    pub fn start(cwd: &Path, args: &[&str]) -> Server {
        Self::start_with_env(cwd, args, &[])
    }

    /// As [`Server::start`], with these environment variables set.
    pub fn start_with_env(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(binary());
        cmd.arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, _) in std::env::vars() {
            if k.starts_with("BIOGUARD_") {
                cmd.env_remove(k);
            }
        }
        // Every test service names an operator (the default notices name it), unless the
        // test clears it with an empty BIOGUARD_OPERATOR_NAME.
        cmd.envs([
            ("BIOGUARD_OPERATOR_NAME", "Test Operations Ltd"),
            ("BIOGUARD_OPERATOR_CONTACT", "privacy@operations.test"),
            ("BIOGUARD_OPERATOR_JURISDICTION", "EU: GDPR"),
        ]);
        cmd.envs(env.iter().copied());
        if env.contains(&("BIOGUARD_OPERATOR_NAME", "")) {
            for k in [
                "BIOGUARD_OPERATOR_NAME",
                "BIOGUARD_OPERATOR_CONTACT",
                "BIOGUARD_OPERATOR_JURISDICTION",
            ] {
                cmd.env_remove(k);
            }
        }
        let mut child = cmd.spawn().expect("spawn bioguard serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line
                    .split("listening on http://")
                    .nth(1)
                    .or_else(|| line.split("listening on https://").nth(1))
                {
                    // Text logs end the address at a space, JSON logs at a quote.
                    let _ = tx.send(
                        addr.split(|c: char| c.is_whitespace() || c == '"')
                            .next()
                            .unwrap_or_default()
                            .to_owned(),
                    );
                }
                let mut l = sink.lock().expect("log lock");
                l.push_str(&line);
                l.push('\n');
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(addr) = rx.recv_timeout(Duration::from_millis(100)) {
                return Server {
                    child,
                    addr: addr.parse().expect("listen address"),
                    log,
                };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "bioguard serve exited with {status} before listening:\n{}",
                    log.lock().expect("log lock")
                );
            }
            assert!(
                Instant::now() < deadline,
                "bioguard serve did not start in time"
            );
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().expect("log lock").clone()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the process with SIGKILL, as a crash would.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the admin token a first start wrote.
pub fn admin_token(data_dir: &Path) -> String {
    std::fs::read_to_string(data_dir.join("admin.token"))
        .expect("admin.token")
        .trim()
        .to_owned()
}

/// Creates a purpose `id` (4-dimensional, enrol and verify, 30-day retention) and a client
/// with both grants; returns the client's API key.
pub fn purpose_and_client(addr: SocketAddr, admin: &str, id: &str) -> String {
    let purpose = format!(
        r#"{{"id":"{id}","description":"Test","operations":["enroll","verify"],"dimension":4,"retention":{{"max_days_since_enrolment":30}}}}"#
    );
    let r = crate::http::request(addr, "POST", "/v1/purposes", Some(admin), Some(&purpose))
        .expect("purpose");
    assert_eq!(r.status, 201, "{}", r.body);
    let client = format!(
        r#"{{"name":"test","grants":[{{"purpose":"{id}","operations":["enroll","verify"]}}]}}"#
    );
    crate::http::request(addr, "POST", "/v1/clients", Some(admin), Some(&client))
        .expect("client")
        .json()["api_key"]
        .as_str()
        .expect("key")
        .to_owned()
}

/// Starts the service in `dir` with `args` and `env`, enrols `dana` for purpose `door`,
/// restarts it, and checks that she still verifies; returns the restarted server and the
/// client's key.
pub fn enrolment_survives_a_restart(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Server, String) {
    use crate::http::request;
    let server = Server::start_with_env(dir, args, env);
    let admin = admin_token(&dir.join("bioguard-data"));
    let key = purpose_and_client(server.addr, &admin, "door");
    request(
        server.addr,
        "PUT",
        "/v1/subjects/dana/consents/door",
        Some(&key),
        Some(r#"{"notice_version":"v1","method":"web"}"#),
    )
    .expect("consent");
    let e = request(
        server.addr,
        "PUT",
        "/v1/subjects/dana/templates/door",
        Some(&key),
        Some(r#"{"embedding":[0.1,0.2,0.3,0.4]}"#),
    )
    .expect("enrol");
    assert_eq!(e.status, 201, "{}", e.body);
    assert!(server.terminate().success());
    let server = Server::start_with_env(dir, args, env);
    let v = request(
        server.addr,
        "POST",
        "/v1/verify",
        Some(&key),
        Some(r#"{"subject":"dana","purpose":"door","embedding":[0.1,0.2,0.3,0.4]}"#),
    )
    .expect("verify");
    assert_eq!(v.status, 200, "{}", v.body);
    assert_eq!(v.json()["match"], true);
    (server, key)
}
