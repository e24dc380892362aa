//! `bioguard demo` runs to completion with nothing else present.

use std::process::Command;

use crate::server::binary;

#[test]
fn demo_runs_to_completion() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let out = Command::new(binary())
        .arg("demo")
        .current_dir(cwd.path())
        .env("TMPDIR", cwd.path())
        .output()
        .expect("run demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "declares a purpose",
        "consents",
        "enrols",
        "\"match\":true",
        "\"match\":false",
        "consent_required",
        "withdraws",
        "0 templates and 0 data keys",
        "Demo complete",
    ] {
        assert!(
            stdout.contains(step),
            "demo output lacks {step:?}:\n{stdout}"
        );
    }
    // It cleans up after itself.
    let left: Vec<_> = std::fs::read_dir(cwd.path()).expect("read").collect();
    assert!(left.is_empty(), "the demo left files behind");
}
