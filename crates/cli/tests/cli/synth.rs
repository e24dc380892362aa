//! `bioguard synth scores` writes seeded, labelled synthetic scores.

use std::process::Command;

use crate::server::binary;

#[test]
fn synthetic_scores_are_seeded_labelled_and_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |out: &str, seed: &str| {
        Command::new(binary())
            .args(["synth", "scores", "--seed", seed, "--out", out])
            .args([
                "--group",
                "a:0.2:0.8:0.1:300:100",
                "--group",
                "b:0.3:0.7:0.1:200:50",
            ])
            .current_dir(dir.path())
            .output()
            .expect("run")
    };
    assert!(run("one.csv", "5").status.success());
    assert!(run("two.csv", "5").status.success());
    assert!(run("three.csv", "6").status.success());
    let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).expect("read");
    let one = read("one.csv");
    assert_eq!(one, read("two.csv"), "the same seed gives the same scores");
    assert_ne!(one, read("three.csv"));
    assert!(one.starts_with("# synthetic"), "labelled synthetic");
    let rows: Vec<&str> = one.lines().skip(2).collect();
    assert_eq!(rows.len(), 650);
    let count = |g: &str, genuine: &str| {
        rows.iter()
            .filter(|r| r.ends_with(&format!(",{genuine},{g}")))
            .count()
    };
    assert_eq!(
        (
            count("a", "0"),
            count("a", "1"),
            count("b", "0"),
            count("b", "1")
        ),
        (300, 100, 200, 50)
    );
    let bad = Command::new(binary())
        .args([
            "synth",
            "scores",
            "--out",
            "x.csv",
            "--group",
            "a:0.2:0.8:-1:10:10",
        ])
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("sd must be positive"));
}
