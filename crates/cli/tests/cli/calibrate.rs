//! `bioguard calibrate` on labelled embeddings: synthetic clusters (always) and the real voice
//! file from ../shared/data (when present).

use std::io::Write;
use std::process::Command;

use crate::server::binary;

/// Synthetic labelled embeddings: `subjects` centres, `samples` noisy captures of each.
fn write_clusters(path: &std::path::Path, subjects: usize, samples: usize, noise: f32) {
    let mut f = std::fs::File::create(path).expect("create");
    let mut x = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    for s in 0..subjects {
        let centre: Vec<f32> = (0..64).map(|_| next()).collect();
        for n in 0..samples {
            let e: Vec<f32> = centre.iter().map(|c| c + noise * next()).collect();
            let line = serde_json::json!({"subject": format!("s{s}"), "sample": format!("phrase/{n}"), "embedding": e});
            writeln!(f, "{line}").expect("write");
        }
    }
}

#[test]
fn calibrate_reports_rates_and_writes_a_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("synthetic.jsonl");
    write_clusters(&data, 40, 6, 0.6);
    let record = dir.path().join("calibration.json");
    let out = Command::new(binary())
        .args(["calibrate", "--embeddings"])
        .arg(&data)
        .args(["--target-fmr", "1e-2", "--json"])
        .arg(&record)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("240 embeddings of 40 subjects"), "{stdout}");
    assert!(
        stdout.contains("600 genuine and 28080 impostor"),
        "{stdout}"
    );
    assert!(
        stdout.contains("raw cosine") && stdout.contains("protected 2048-bit"),
        "{stdout}"
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record).expect("record")).expect("json");
    let t = r["threshold"].as_f64().expect("threshold");
    assert!(t > 0.0 && t < 1.0, "{r}");
    assert!(r["fmr"].as_f64().expect("fmr") <= 0.01);
    assert_eq!(r["code_bits"], 2048);
    assert_eq!(r["subjects"], 40);
    // A centred matcher by default: the record carries the mean of the file, from every
    // subject, and says what the threshold's cosine is taken between.
    assert_eq!(r["transform"], "hadamard-sign");
    assert_eq!(r["centre"]["subjects"], 40);
    assert_eq!(r["centre"]["values"].as_array().map(Vec::len), Some(64));
    assert!(
        r["threshold_unit"]
            .as_str()
            .is_some_and(|u| u.contains("centred")),
        "{r}"
    );
    assert!(
        stdout.contains(&format!("{t:.6}")),
        "the printed threshold is the recorded one"
    );
}

#[test]
fn a_centre_of_too_few_subjects_is_refused_and_plain_calibration_remains() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("few.jsonl");
    write_clusters(&data, 12, 6, 0.6);
    let out = Command::new(binary())
        .args(["calibrate", "--target-fmr", "1e-2", "--embeddings"])
        .arg(&data)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("at least 20 subjects") && e.contains("--matcher plain"),
        "{e}"
    );
    let record = dir.path().join("plain.json");
    let out = Command::new(binary())
        .args(["calibrate", "--matcher", "plain", "--target-fmr", "1e-2"])
        .arg("--embeddings")
        .arg(&data)
        .arg("--json")
        .arg(&record)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record).expect("record")).expect("json");
    assert!(r.get("centre").is_none(), "{r}");
    assert!(r["threshold"].as_f64().is_some_and(|t| t > 0.0));
}

#[test]
fn calibrate_names_the_bad_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("bad.jsonl");
    std::fs::write(
        &data,
        "{\"subject\":\"a\",\"embedding\":[1,2]}\n{\"subject\":\"b\",\"embedding\":[1,2,3]}\n",
    )
    .expect("write");
    let out = Command::new(binary())
        .args(["calibrate", "--embeddings"])
        .arg(&data)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("line 2") && e.contains("3 values"), "{e}");
    let out = Command::new(binary())
        .args(["calibrate", "--target-fmr", "2", "--embeddings"])
        .arg(&data)
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--target-fmr"));
}

#[test]
fn calibrate_on_the_real_voice_file() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/voice-embeddings-dev.jsonl");
    if !path.exists() {
        eprintln!(
            "note: {} not found; skipping the real-data calibration",
            path.display()
        );
        return;
    }
    let out = Command::new(binary())
        .args(["calibrate", "--sample-prefix", "phrase/", "--embeddings"])
        .arg(&path)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("250 embeddings of 21 subjects"), "{stdout}");
    assert!(
        stdout.contains("2117 genuine and 29008 impostor"),
        "{stdout}"
    );
    // The data's own documentation: EER 4.6%, threshold 0.80 and FNMR 23.2% at FMR 1e-3 for
    // raw cosine (the threshold is the impostor score bob.measure's far_threshold picks).
    assert!(
        stdout.contains("EER   4.58%") && stdout.contains("threshold 0.8005"),
        "{stdout}"
    );
}

/// The median FNMR at FMR 1e-3 over keys of one row of `study --keys` (the middle figure of
/// the "mean/median/worst" cell).
fn median_fnmr_at_1e3(out: &str, row: &str) -> f64 {
    let line = out
        .lines()
        .find(|l| l.starts_with(row))
        .unwrap_or_else(|| panic!("no row {row:?} in\n{out}"));
    let cell = line.split_whitespace().rev().nth(1).expect("the 1e-3 cell");
    cell.split('/')
        .nth(1)
        .and_then(|m| m.trim_end_matches('%').parse().ok())
        .unwrap_or_else(|| panic!("not mean/median/worst: {cell}"))
}

/// Issue 20's measurement: centring on the other fold's mean before projecting lowers the
/// false non-match rate at FMR 1e-3 on the real voices (cross-fitted, several keys).
#[test]
fn centring_lowers_the_false_non_match_rate_on_real_voices() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/voice-embeddings-dev.jsonl");
    if !path.exists() {
        eprintln!("note: {} not found; skipping", path.display());
        return;
    }
    let out = Command::new(binary())
        .args([
            "study",
            "--sample-prefix",
            "phrase/",
            "--keys",
            "5",
            "--embeddings",
        ])
        .arg(&path)
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plain = median_fnmr_at_1e3(&text, "sign 2048 bits");
    let centred = median_fnmr_at_1e3(&text, "centred sign 2048 bits");
    assert!(
        centred < plain,
        "centred {centred}% is not below plain {plain}%:\n{text}"
    );
    // One key is not a study: it is refused.
    let out = Command::new(binary())
        .args(["study", "--keys", "1", "--embeddings"])
        .arg(&path)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--keys"));
}
