//! Logs at trace level through a whole scenario never hold an embedding value, a key or a
//! token.

use crate::http::request;
use crate::server::{Server, admin_token};

#[test]
fn a_whole_scenario_at_trace_level_logs_no_template_key_or_token() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let server = Server::start(cwd.path(), &["--log", "trace"]);
    let data = cwd.path().join("bioguard-data");
    let admin = admin_token(&data);
    let call = |method: &str, path: &str, token: Option<&str>, body: Option<&str>| {
        let r = request(server.addr, method, path, token, body).expect("request");
        assert!(r.status < 500, "{method} {path}: {} {}", r.status, r.body);
        r
    };
    call(
        "POST",
        "/v1/purposes",
        Some(&admin),
        Some(
            r#"{"id":"gate","description":"Gate","operations":["enroll","verify","identify"],"dimension":6,"max_gallery_size":10,"retention":{"max_days_since_enrolment":30}}"#,
        ),
    );
    let key = call(
        "POST",
        "/v1/clients",
        Some(&admin),
        Some(r#"{"name":"gate","subject_rights":["read","erase","lock","portal"],"grants":[{"purpose":"gate","operations":["enroll","verify","identify"]}]}"#),
    )
    .json()["api_key"]
        .as_str()
        .expect("key")
        .to_owned();
    // Values unlikely to appear in a log by chance, in every text form they could take.
    let values = [
        0.7316492_f32,
        -0.4128573,
        0.2291846,
        0.3357129,
        -0.2513968,
        0.1847261,
    ];
    let embedding = serde_json::to_string(&values).expect("json");
    call(
        "PUT",
        "/v1/subjects/alice/consents/gate",
        Some(&key),
        Some(r#"{"notice_version":"v1","method":"web"}"#),
    );
    let enrol = format!(r#"{{"embedding":{embedding},"galleries":["lobby"]}}"#);
    call(
        "PUT",
        "/v1/subjects/alice/templates/gate",
        Some(&key),
        Some(&enrol),
    );
    let probe = format!(r#"{{"subject":"alice","purpose":"gate","embedding":{embedding}}}"#);
    assert_eq!(
        call("POST", "/v1/verify", Some(&key), Some(&probe)).json()["match"],
        true
    );
    let search = format!(r#"{{"purpose":"gate","gallery":"lobby","embedding":{embedding}}}"#);
    call("POST", "/v1/identify", Some(&key), Some(&search));
    call("POST", "/v1/subjects/alice/lock", Some(&key), None);
    call("POST", "/v1/subjects/alice/unlock", Some(&key), None);
    call("GET", "/v1/subjects/alice/report", Some(&key), None);
    call("GET", "/v1/subjects/alice/history", Some(&key), None);
    // A wrong token is refused; neither it nor the real ones may be logged.
    let wrong = "bgk_thisisnotavalidtokenbutlookslikeone0001";
    assert_eq!(
        request(server.addr, "GET", "/v1/subjects/alice", Some(wrong), None)
            .expect("r")
            .status,
        401
    );
    call(
        "DELETE",
        "/v1/subjects/alice/consents/gate",
        Some(&key),
        None,
    );
    call("DELETE", "/v1/subjects/alice", Some(&key), None);
    let captured = std::sync::Arc::clone(&server.log);
    assert!(server.terminate().success());
    // The reader thread drains the pipe once the process is gone.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let log = captured.lock().expect("log").clone();
    // Trace is the most verbose filter; what the dependencies emit below info shows it is on.
    assert!(log.contains("DEBUG"), "the log is not below info level");
    let lines = log.lines().count();
    assert!(lines > 60, "too few lines ({lines}) to mean anything");

    let master = std::fs::read_to_string(data.join("master.key")).expect("key file");
    let key_hex: Vec<&str> = master
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(_, k)| k.trim()))
        .filter(|k| k.len() == 64)
        .collect();
    assert!(!key_hex.is_empty());
    let mut secrets: Vec<String> = vec![admin.clone(), key.clone(), wrong.to_owned()];
    secrets.extend(key_hex.iter().map(|k| (*k).to_owned()));
    // Any fragment long enough to identify a secret.
    for s in &secrets {
        for w in s.as_bytes().windows(16) {
            let w = std::str::from_utf8(w).expect("ascii");
            assert!(!log.contains(w), "a secret fragment {w:?} is in the log");
        }
    }
    for v in values {
        for text in [
            format!("{v}"),
            format!("{:.5}", v),
            format!("{}", f64::from(v)),
        ] {
            assert!(
                !log.contains(&text),
                "the embedding value {text} is in the log"
            );
        }
        for bytes in [v.to_le_bytes(), v.to_be_bytes()] {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            assert!(
                !log.contains(&hex),
                "an embedding value's bytes are in the log"
            );
        }
    }
}

#[test]
fn json_logs_are_one_object_per_line_with_the_request_fields() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let server = Server::start(cwd.path(), &["--log-format", "json"]);
    let admin = admin_token(&cwd.path().join("bioguard-data"));
    let r = request(server.addr, "GET", "/v1/purposes", Some(&admin), None).expect("list");
    assert_eq!(r.status, 200);
    let r = request(server.addr, "GET", "/no/such/path", None, None).expect("404");
    assert_eq!(r.status, 404);
    // The access line is written as the response goes out, and read from the pipe by another
    // thread: wait for both requests' lines (a few milliseconds) rather than race them.
    let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while server.log().matches("\"status\":").count() < 2 && std::time::Instant::now() < end {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let log = server.log();
    assert!(server.terminate().success());
    let mut lines = 0;
    let mut requests = 0;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string(),
            "{line}"
        );
        assert!(v["message"].is_string(), "{line}");
        lines += 1;
        // Each request's line carries its status and its span's request id as fields.
        if v["status"].is_number() && v["span"]["request_id"].is_string() {
            requests += 1;
        }
        assert!(!line.contains(&admin), "the admin token reached the log");
    }
    assert!(lines >= 3, "{log}");
    assert!(requests >= 2, "no request lines in:\n{log}");
}
