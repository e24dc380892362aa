//! The PKCS#11 key provider against a real SoftHSM2 token (Debian `softhsm2`, installed by
//! `.ci/run`). Each test initialises its own token in a temporary directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::server::{binary, enrolment_survives_a_restart};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "4711-test-pin";

/// A fresh token labelled `bioguard-test`, or `None` (with a notice) without SoftHSM2.
fn token(dir: &Path) -> Option<PathBuf> {
    if !Path::new(MODULE).exists() {
        eprintln!("note: {MODULE} is missing (Debian: softhsm2); skipping a PKCS#11 test");
        return None;
    }
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).expect("token dir");
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .expect("conf");
    let out = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", "bioguard-test"])
        .args(["--pin", PIN, "--so-pin", "so-pin-0815"])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .expect("softhsm2-util");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(conf)
}

fn keys_check(cwd: &Path, conf: &Path, pin: &str) -> (bool, String) {
    let out = Command::new(binary())
        .args(["keys", "check", "--key-provider", "pkcs11"])
        .args([
            "--pkcs11-token-label",
            "bioguard-test",
            "--timed",
            "300",
            "--destroy-test-versions",
        ])
        .current_dir(cwd)
        .env("SOFTHSM2_CONF", conf)
        .env("BIOGUARD_PKCS11_PIN", pin)
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
fn a_softhsm_token_passes_the_key_provider_conformance_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(conf) = token(dir.path()) else {
        return;
    };
    let (ok, out) = keys_check(dir.path(), &conf, PIN);
    assert!(ok, "{out}");
    assert!(out.contains("\"checks_passed\":14"), "{out}");
    assert!(out.contains("\"provider\":\"pkcs11\""), "{out}");
    // The key was made inside the token: a second run finds it rather than making another.
    let (ok, out) = keys_check(dir.path(), &conf, PIN);
    assert!(ok && !out.contains("created the first"), "{out}");
    let (ok, out) = keys_check(dir.path(), &conf, "wrong-pin");
    assert!(!ok && out.contains("refused the PIN"), "{out}");
    assert!(
        !out.contains("wrong-pin"),
        "the PIN is never printed: {out}"
    );
}

#[test]
fn the_service_runs_on_a_softhsm_token_across_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(conf) = token(dir.path()) else {
        return;
    };
    let conf = conf.to_str().expect("utf-8").to_owned();
    let env = [
        ("SOFTHSM2_CONF", conf.as_str()),
        ("BIOGUARD_PKCS11_PIN", PIN),
    ];
    let args = [
        "--key-provider",
        "pkcs11",
        "--pkcs11-token-label",
        "bioguard-test",
    ];
    let (server, _) = enrolment_survives_a_restart(dir.path(), &args, &env);
    assert!(
        !dir.path().join("bioguard-data/master.key").exists(),
        "no key file with an HSM"
    );
    assert!(
        server.log().contains("key provider: PKCS#11"),
        "{}",
        server.log()
    );
    assert!(!server.log().contains(PIN));
}
