//! Faults under load, bounded in count and time on loopback: the database going away and
//! coming back (PostgreSQL behind a proxy that cuts every connection, as a restart does) and a
//! full disk under SQLite. The key manager going away is in `openbao.rs`; a node killed under
//! load is in `multinode.rs`.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::http::{Response, request};
use crate::server::{Server, admin_token};

/// A TCP proxy to PostgreSQL that can be switched off: every open connection is cut and new
/// ones are refused, as while the server restarts.
struct Proxy {
    addr: SocketAddr,
    down: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let down = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (d, o) = (down.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if d.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let pairs = [
                    (client.try_clone(), server.try_clone()),
                    (server.try_clone(), client.try_clone()),
                ];
                {
                    let mut o = o.lock().expect("lock");
                    o.push(client);
                    o.push(server);
                }
                for (from, to) in pairs {
                    if let (Ok(mut from), Ok(mut to)) = (from, to) {
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut from, &mut to);
                            let _ = to.shutdown(std::net::Shutdown::Both);
                        });
                    }
                }
            }
        });
        Self { addr, down, open }
    }

    /// Cuts every connection and refuses new ones.
    fn stop(&self) {
        self.down.store(true, Ordering::SeqCst);
        for s in self.open.lock().expect("lock").drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    fn resume(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

fn verify(addr: SocketAddr, key: &str, subject: &str, e: &str) -> Response {
    request(
        addr,
        "POST",
        "/v1/verify",
        Some(key),
        Some(&format!(
            r#"{{"subject":"{subject}","purpose":"door","embedding":{e}}}"#
        )),
    )
    .expect("the service answers even while its database is away")
}

const ALICE: &str = "[0.1,0.2,0.3,0.4]";
const IMPOSTOR: &str = "[0.4,-0.3,0.2,-0.1]";

fn setup(addr: SocketAddr, admin: &str) -> String {
    let call = |method: &str, path: &str, token: &str, body: &str| {
        let r = request(addr, method, path, Some(token), Some(body)).expect("request");
        assert!(r.status < 300, "{path}: {} {}", r.status, r.body);
        r.json()
    };
    call(
        "POST",
        "/v1/purposes",
        admin,
        r#"{"id":"door","description":"Door","operations":["enroll","verify"],"dimension":4,"retention":{"max_days_since_enrolment":30}}"#,
    );
    let key = call(
        "POST",
        "/v1/clients",
        admin,
        r#"{"name":"door","subject_rights":["read","erase","lock","portal"],"grants":[{"purpose":"door","operations":["enroll","verify"]}]}"#,
    )["api_key"]
        .as_str()
        .expect("key")
        .to_owned();
    call(
        "PUT",
        "/v1/subjects/alice/consents/door",
        &key,
        r#"{"notice_version":"v1","method":"web"}"#,
    );
    call(
        "PUT",
        "/v1/subjects/alice/templates/door",
        &key,
        &format!(r#"{{"embedding":{ALICE}}}"#),
    );
    key
}

#[test]
fn a_database_outage_answers_503_with_retry_after_and_never_a_wrong_decision() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let Some(db) = rt.block_on(bioguard_store::testing::TestDb::postgres("outage")) else {
        eprintln!("note: BIOGUARD_TEST_DATABASE_URL is not set; skipping the database outage test");
        return;
    };
    // The same database, reached through the proxy.
    let upstream: SocketAddr = "127.0.0.1:5432".parse().expect("addr");
    let proxy = Proxy::start(upstream);
    let url = db
        .url()
        .replacen("127.0.0.1:5432", &proxy.addr.to_string(), 1);
    assert_ne!(
        url,
        db.url(),
        "the test database is expected at 127.0.0.1:5432"
    );
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), &["--database-url", &url]);
    let admin = admin_token(&dir.path().join("bioguard-data"));
    let key = setup(server.addr, &admin);
    assert_eq!(
        verify(server.addr, &key, "alice", ALICE).json()["match"],
        true
    );

    // Load from two threads throughout: genuine and impostor attempts, checked as they come.
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new((0u32, 0u32, Vec::<String>::new())));
    let workers: Vec<_> = [("alice", ALICE, true), ("alice", IMPOSTOR, false)]
        .into_iter()
        .map(|(s, e, genuine)| {
            let (stop, seen, key, addr) = (stop.clone(), seen.clone(), key.clone(), server.addr);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let r = verify(addr, &key, s, e);
                    let mut seen = seen.lock().expect("lock");
                    match r.status {
                        200 if r.json()["match"] == genuine => seen.0 += 1,
                        503 if r.header("retry-after").is_some()
                            && r.json()["error"]["code"] == "unavailable" =>
                        {
                            seen.1 += 1
                        }
                        _ => seen.2.push(format!("{} {} {}", r.status, r.head, r.body)),
                    }
                    drop(seen);
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    proxy.stop();
    std::thread::sleep(Duration::from_secs(3));
    let during = seen.lock().expect("lock").1;
    let ready = request(server.addr, "GET", "/readyz", None, None).expect("readyz");
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert!(ready.body.contains("database"), "{}", ready.body);
    let live = request(server.addr, "GET", "/livez", None, None).expect("livez");
    assert_eq!(live.status, 200, "{}", live.body);
    proxy.resume();
    // It recovers by itself: answers come back without a restart.
    let started = Instant::now();
    loop {
        let r = verify(server.addr, &key, "alice", ALICE);
        if r.status == 200 {
            assert_eq!(r.json()["match"], true);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "did not recover: {} {}",
            r.status,
            r.body
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let recovered = started.elapsed();
    let ready = request(server.addr, "GET", "/readyz", None, None).expect("readyz");
    assert_eq!(ready.status, 200, "ready again: {}", ready.body);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker");
    }
    let (right, unavailable, wrong) = seen.lock().expect("lock").clone();
    assert!(
        wrong.is_empty(),
        "answers that were neither right nor 503 with Retry-After: {wrong:#?}"
    );
    assert!(during > 0, "the outage was seen as 503s");
    assert!(right > 0);
    eprintln!(
        "database outage: {right} right answers, {unavailable} 503s with Retry-After, none wrong; recovered {recovered:?} after the database came back"
    );
    // Writes during the outage were refused, not half-done: the ledger still verifies.
    crate::durability::verified_log(server.addr);
    drop(server);
    rt.block_on(db.cleanup());
}

/// A small tmpfs, unmounted on drop; `None` where this process may not mount (not root).
struct SmallDisk {
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().to_owned();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output()
            .ok()?;
        out.status.success().then_some(Self { path, _dir: dir })
    }

    fn grow(&self, size: &str) {
        let out = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.path)
            .output()
            .expect("remount");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.path)
            .output();
    }
}

#[test]
fn a_full_disk_under_sqlite_gives_clear_errors_and_no_corruption() {
    let Some(disk) = SmallDisk::mount("2m") else {
        assert!(
            std::env::var("BIOGUARD_TEST_FULL_DISK").as_deref() != Ok("required"),
            "mounting a tmpfs is required for this test (run as root)"
        );
        eprintln!("note: cannot mount a tmpfs here (not root?); skipping the full-disk test");
        return;
    };
    let server = Server::start(&disk.path, &[]);
    let admin = admin_token(&disk.path.join("bioguard-data"));
    let key = setup(server.addr, &admin);
    // Enrol until the disk is full; every answer is a success or a clear 507/503, never a 500.
    let mut acked = Vec::new();
    let mut refused = None;
    for n in 0..20_000 {
        let c = request(
            server.addr,
            "PUT",
            &format!("/v1/subjects/s{n}/consents/door"),
            Some(&key),
            Some(r#"{"notice_version":"v1","method":"web"}"#),
        )
        .expect("consent");
        let r = if c.status == 201 {
            request(
                server.addr,
                "PUT",
                &format!("/v1/subjects/s{n}/templates/door"),
                Some(&key),
                Some(&format!("{{\"embedding\":[0.{},0.2,0.3,0.4]}}", n % 9 + 1)),
            )
            .expect("enrol")
        } else {
            c
        };
        match r.status {
            200 | 201 => acked.push(n),
            _ => {
                refused = Some(r);
                break;
            }
        }
    }
    let refused = refused.expect("the 2 MiB disk filled up");
    assert_eq!(
        refused.status,
        507,
        "{} {}\n{}",
        refused.status,
        refused.body,
        server.log()
    );
    assert_eq!(
        refused.json()["error"]["code"],
        "storage_full",
        "{}",
        refused.body
    );
    assert!(refused.body.contains("disk"), "{}", refused.body);
    assert!(acked.len() > 10, "some enrolments fitted first");
    // While the disk is full: a verification whose ledger leaf cannot be written is refused
    // the same clear way (never a decision without its leaf). A few may still fit, in log
    // space SQLite reuses once it has been copied into the database file; each of those must
    // have its leaf. A client's lookup of a subject is recorded too.
    let mut decided = Vec::new();
    let mut full = None;
    for _ in 0..5_000 {
        let r = verify(server.addr, &key, "alice", ALICE);
        match r.status {
            200 => decided.push(r.json()["decision_id"].as_str().expect("id").to_owned()),
            _ => {
                full = Some(r);
                break;
            }
        }
    }
    let r = full.expect("verifications are refused once the log has no room left");
    assert_eq!(r.status, 507, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "storage_full", "{}", r.body);
    assert!(r.json().get("match").is_none());
    let held = request(
        server.addr,
        "GET",
        &format!("/v1/subjects/s{}", acked[0]),
        Some(&key),
        None,
    )
    .expect("lookup");
    // A client's look at a subject is a use, recorded like any other: answered only if its
    // (small) leaf still fits, else refused as clearly as the rest.
    match held.status {
        200 => assert_eq!(held.json()["templates"].as_array().map(Vec::len), Some(1)),
        _ => {
            assert_eq!(held.status, 507, "{}", held.body);
            assert_eq!(
                held.json()["error"]["code"],
                "storage_full",
                "{}",
                held.body
            );
        }
    }
    // Room again: the service carries on by itself, and everything acknowledged is there.
    disk.grow("32m");
    let held = request(
        server.addr,
        "GET",
        &format!("/v1/subjects/s{}", acked[0]),
        Some(&key),
        None,
    )
    .expect("lookup");
    assert_eq!(held.status, 200, "{}", held.body);
    assert_eq!(held.json()["templates"].as_array().map(Vec::len), Some(1));
    let r = verify(server.addr, &key, "alice", ALICE);
    assert_eq!(
        r.json()["match"],
        true,
        "{} {}\n{}",
        r.status,
        r.body,
        server.log()
    );
    for n in acked.iter().rev().take(5) {
        let r = verify(
            server.addr,
            &key,
            &format!("s{n}"),
            &format!("[0.{},0.2,0.3,0.4]", n % 9 + 1),
        );
        assert_eq!(r.json()["match"], true, "s{n}: {}", r.body);
    }
    let r = request(
        server.addr,
        "PUT",
        "/v1/subjects/late/consents/door",
        Some(&key),
        Some(r#"{"notice_version":"v1","method":"web"}"#),
    )
    .expect("consent");
    assert_eq!(r.status, 201, "{}", r.body);
    let (_, leaves) = crate::durability::verified_log(server.addr);
    for id in &decided {
        assert!(
            leaves
                .iter()
                .any(|l| String::from_utf8_lossy(l).contains(id.as_str())),
            "decision {id} answered while the disk was full has no ledger leaf"
        );
    }
    assert!(server.terminate().success());
    // And the file is sound.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let url = format!("sqlite://{}/bioguard-data/bioguard.db", disk.path.display());
    let check: String = rt.block_on(async {
        let pool = bioguard_store::SqlStore::raw_pool(&url)
            .await
            .expect("pool");
        let r = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&pool)
            .await
            .expect("check");
        pool.close().await;
        r
    });
    assert_eq!(check, "ok");
    eprintln!(
        "full disk: {} enrolments fitted, then 507 storage_full for writes and uses ({} verifications fitted first, each with its leaf); lookups went on; recovered after growing the disk; integrity ok",
        acked.len(),
        decided.len()
    );
}
