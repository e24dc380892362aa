//! `bioguard admin token rotate`: the operator replaces (or recovers) the admin token while
//! the service runs; the old token stops at once.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::http::request;
use crate::server::{Server, admin_token, binary};

#[test]
fn a_rotated_admin_token_replaces_the_old_one_at_once_and_recovers_a_lost_one() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let server = Server::start(cwd.path(), &[]);
    let data = cwd.path().join("bioguard-data");
    let old = admin_token(&data);
    let tenants = |token: &str| {
        request(server.addr, "GET", "/v1/tenants", Some(token), None)
            .expect("tenants")
            .status
    };
    assert_eq!(tenants(&old), 200);

    // The token file is lost; the operator rotates with the data directory and master key.
    std::fs::remove_file(data.join("admin.token")).expect("rm");
    let rotate = || {
        let out = Command::new(binary())
            .args(["admin", "token", "rotate", "--data-dir"])
            .arg(&data)
            .env_remove("BIOGUARD_DATA_DIR")
            .output()
            .expect("run");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stdout}{stderr}");
        (stdout, stderr)
    };
    let (stdout, stderr) = rotate();
    assert!(stdout.contains("admin.token"), "{stdout}");
    let new = admin_token(&data);
    assert_ne!(new, old);
    assert!(new.starts_with("bga_"));
    assert!(
        !stdout.contains(&new) && !stderr.contains(&new),
        "the token is only in its file"
    );
    let mode = std::fs::metadata(data.join("admin.token"))
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(!data.join("admin.token.new").exists());

    // The running service refuses the old token from now on and takes the new one.
    assert_eq!(tenants(&old), 401);
    assert_eq!(tenants(&new), 200);

    // Again: the token before stops too; the rotations are in the public ledger.
    rotate();
    let newest = admin_token(&data);
    assert_eq!(tenants(&new), 401);
    assert_eq!(tenants(&newest), 200);
    let size = request(server.addr, "GET", "/v1/audit/checkpoint", None, None)
        .expect("checkpoint")
        .body
        .lines()
        .nth(1)
        .expect("size line")
        .parse::<u64>()
        .expect("size");
    let leaves = request(
        server.addr,
        "GET",
        &format!("/v1/audit/leaves?start=0&end={size}"),
        None,
        None,
    )
    .expect("leaves");
    assert_eq!(
        leaves.body.matches("admin_token.rotate").count(),
        2,
        "{}",
        leaves.body
    );
    assert!(server.terminate().success());

    // A restart keeps the newest token and writes none of its own.
    let again = Server::start(cwd.path(), &[]);
    assert_eq!(admin_token(&data), newest);
    assert!(
        !again
            .log()
            .contains("does not hold the registered admin token")
    );
    assert!(again.terminate().success());
}
