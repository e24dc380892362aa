//! Connections that never send a request, or send it slowly, or too often: the service keeps
//! answering, closes them on its timeouts, and limits anonymous callers per address (issue 19).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::http::request;
use crate::server::{Server, admin_token, purpose_and_client};

/// The open-files limit of this process (the server inherits it).
fn open_files() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(1024)
}

fn start(dir: &std::path::Path, env: &[(&str, &str)]) -> Server {
    let data = dir.join("data");
    Server::start_with_env(dir, &["--data-dir", data.to_str().expect("utf-8")], env)
}

/// Whether the server closed `s` (end of stream or reset) within `wait`.
fn closed_by_server(s: &mut TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).expect("timeout");
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            // hyper may answer a header timeout before closing.
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn median_ms(mut ms: Vec<f64>) -> f64 {
    ms.sort_by(f64::total_cmp);
    ms[ms.len() / 2]
}

#[test]
fn ten_thousand_idle_connections_neither_stall_the_service_nor_stay_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(
        dir.path(),
        &[
            ("BIOGUARD_HTTP_HEADER_TIMEOUT_SECS", "4"),
            ("BIOGUARD_PUBLIC_RATE_PER_IP", "0"),
        ],
    );
    let admin = admin_token(&dir.path().join("data"));
    let key = purpose_and_client(server.addr, &admin, "door");
    let face = r#"{"embedding":[0.1,0.2,0.3,0.4]}"#;
    let consent = r#"{"notice_version":"v1","method":"in-app"}"#;
    let ok = |r: std::io::Result<crate::http::Response>, want: u16| {
        let r = r.expect("request");
        assert_eq!(r.status, want, "{}", r.body);
    };
    ok(
        request(
            server.addr,
            "PUT",
            "/v1/subjects/dana/consents/door",
            Some(&key),
            Some(consent),
        ),
        201,
    );
    ok(
        request(
            server.addr,
            "PUT",
            "/v1/subjects/dana/templates/door",
            Some(&key),
            Some(face),
        ),
        201,
    );

    // Half of them connect and say nothing; half send part of a request's headers. As many
    // as this machine's open-files limit allows, up to 10,000.
    let n = 10_000.min(open_files().saturating_sub(400));
    let started = Instant::now();
    let mut idle = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = TcpStream::connect(server.addr).expect("connect");
        if i % 2 == 1 {
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .expect("partial head");
        }
        idle.push(s);
    }
    let opening = started.elapsed();
    eprintln!(
        "{n} idle connections opened in {:.1} s",
        opening.as_secs_f64()
    );
    // The measurement below must run while they are all open (the header timeout is 4 s).
    assert!(opening < Duration::from_secs(3), "opening took {opening:?}");

    let verify = r#"{"subject":"dana","purpose":"door","embedding":[0.1,0.2,0.3,0.4]}"#;
    let (mut health, mut verified) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        let t = Instant::now();
        ok(request(server.addr, "GET", "/healthz", None, None), 200);
        health.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let r =
            request(server.addr, "POST", "/v1/verify", Some(&key), Some(verify)).expect("verify");
        assert_eq!(
            (r.status, &r.json()["match"]),
            (200, &serde_json::json!(true)),
            "{}",
            r.body
        );
        verified.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (h, v) = (median_ms(health.clone()), median_ms(verified.clone()));
    eprintln!("with {n} idle connections: /healthz median {h:.2} ms, verify median {v:.2} ms");
    assert!(
        h < 100.0 && v < 100.0,
        "health {health:?}, verify {verified:?}"
    );

    // After the header timeout every one of them is closed by the server.
    std::thread::sleep(Duration::from_secs(5));
    let mut open = 0;
    for s in &mut idle {
        open += usize::from(!closed_by_server(s, Duration::from_millis(50)));
    }
    assert_eq!(open, 0, "{open} of {n} idle connections still open");
    ok(request(server.addr, "GET", "/healthz", None, None), 200);
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

#[test]
fn at_the_connection_bound_idle_connections_make_room() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), &[("BIOGUARD_MAX_CONNECTIONS", "16")]);
    let idle: Vec<TcpStream> = (0..64)
        .map(|_| TcpStream::connect(server.addr).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..5 {
        let r = request(server.addr, "GET", "/healthz", None, None).expect("health");
        assert_eq!(r.status, 200);
    }
    drop(idle);
}

#[test]
fn slow_bodies_time_out_and_anonymous_callers_are_limited_per_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(
        dir.path(),
        &[
            ("BIOGUARD_HTTP_BODY_TIMEOUT_SECS", "1"),
            ("BIOGUARD_PUBLIC_RATE_PER_IP", "2"),
        ],
    );
    let admin = admin_token(&dir.path().join("data"));
    let key = purpose_and_client(server.addr, &admin, "door");

    // A body promised and not sent: 408 after the body timeout, not a held connection.
    let mut s = TcpStream::connect(server.addr).expect("connect");
    s.write_all(
        format!(
            "PUT /v1/subjects/dana/consents/door HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \
             {key}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"notice"
        )
        .as_bytes(),
    )
    .expect("partial body");
    let t = Instant::now();
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());

    // Anonymous reads: a burst of twice the rate, then 429 with a time to wait.
    let statuses: Vec<u16> = (0..8)
        .map(|_| {
            request(server.addr, "GET", "/v1/transparency", None, None)
                .expect("transparency")
                .status
        })
        .collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    let r = request(server.addr, "GET", "/v1/audit/checkpoint", None, None).expect("read");
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.header("retry-after").is_some(), "{}", r.head);
    assert_eq!(r.json()["error"]["code"], "rate_limited");
    // Health checks and authenticated calls are not counted against the address.
    for _ in 0..5 {
        assert_eq!(
            request(server.addr, "GET", "/healthz", None, None)
                .expect("health")
                .status,
            200
        );
        let r = request(server.addr, "GET", "/v1/subjects/nobody", Some(&key), None).expect("read");
        assert_ne!(r.status, 429, "{}", r.body);
    }
}
