//! bioguard's error-rate code against golden values from bob.measure 6.1.1, made by
//! `fairness-golden/regenerate` from the committed fixture score files in `tests/golden/`.
//! Every value must agree to 1e-6.

use std::path::{Path, PathBuf};

use bioguard_engine::eval::{Scores, ppndf};
use bioguard_engine::fairness::clopper_pearson;
use serde_json::Value;

const TOLERANCE: f64 = 1e-6;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn load(name: &str) -> (Scores, Value) {
    let text = std::fs::read_to_string(dir().join(name)).expect("fixture");
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for line in text.lines() {
        if line.starts_with('#') || line.starts_with("score") {
            continue;
        }
        let mut parts = line.split(',');
        let score: f64 = parts.next().expect("score").parse().expect("number");
        match parts.next() {
            Some("1") => genuine.push(score),
            Some("0") => impostor.push(score),
            other => panic!("bad genuine flag {other:?}"),
        }
    }
    let golden = std::fs::read_to_string(dir().join(name.replace(".csv", ".golden.json")))
        .expect("golden file");
    (
        Scores::new(genuine, impostor),
        serde_json::from_str(&golden).expect("JSON"),
    )
}

fn f(v: &Value) -> f64 {
    v.as_f64().expect("number")
}

fn rows(v: &Value) -> &Vec<Value> {
    v.as_array().expect("array")
}

#[track_caller]
fn agree(what: &str, ours: f64, theirs: f64) {
    assert!(
        (ours - theirs).abs() <= TOLERANCE,
        "{what}: bioguard {ours}, bob.measure {theirs}"
    );
}

fn check(name: &str) {
    let (scores, g) = load(name);
    assert_eq!(g["bob_measure_version"], "6.1.1");
    for row in rows(&g["farfrr"]) {
        let r = scores.rates_at(f(&row[0]));
        agree(&format!("{name} FMR at {}", row[0]), r.fmr, f(&row[1]));
        agree(&format!("{name} FNMR at {}", row[0]), r.fnmr, f(&row[2]));
    }
    for row in rows(&g["far_threshold"]) {
        let r = scores.threshold_for_fmr(f(&row[0])).expect("impostors");
        agree(
            &format!("{name} far_threshold({})", row[0]),
            r.threshold,
            f(&row[1]),
        );
        assert!(r.fmr <= f(&row[0]) || f(&row[0]) >= 1.0, "{r:?}");
    }
    for row in rows(&g["frr_threshold"]) {
        let r = scores.threshold_for_fnmr(f(&row[0])).expect("genuine");
        agree(
            &format!("{name} frr_threshold({})", row[0]),
            r.threshold,
            f(&row[1]),
        );
    }
    let eer = scores.eer().expect("both kinds");
    agree(
        &format!("{name} eer_threshold"),
        eer.threshold,
        f(&g["eer_threshold"]),
    );
    agree(&format!("{name} eer"), eer.value, f(&g["eer"]));
    let det = scores.det_points(100, -8);
    let (xs, ys) = (rows(&g["det_100"][0]), rows(&g["det_100"][1]));
    assert_eq!(det.len(), xs.len(), "{name}: DET point count");
    for (i, p) in det.iter().enumerate() {
        agree(&format!("{name} DET x[{i}]"), ppndf(p.fmr), f(&xs[i]));
        agree(&format!("{name} DET y[{i}]"), ppndf(p.fnmr), f(&ys[i]));
    }
    for row in rows(&g["ppndf"]) {
        agree(&format!("ppndf({})", row[0]), ppndf(f(&row[0])), f(&row[1]));
    }
    for row in rows(&g["confidence_for_indicator_variable"]) {
        let (x, n, alpha) = (
            row[0].as_u64().expect("x"),
            row[1].as_u64().expect("n"),
            f(&row[2]),
        );
        let (lo, hi) = clopper_pearson(x, n, 1.0 - alpha);
        agree(
            &format!("Clopper-Pearson lower {x}/{n} alpha {alpha}"),
            lo,
            f(&row[3]),
        );
        agree(
            &format!("Clopper-Pearson upper {x}/{n} alpha {alpha}"),
            hi,
            f(&row[4]),
        );
    }
}

#[test]
fn hand_made_scores_with_ties_agree_with_bob_measure() {
    check("ties.csv");
}

#[test]
fn synthetic_normal_scores_agree_with_bob_measure() {
    check("synthetic-normal.csv");
}

#[test]
fn real_voice_scores_agree_with_bob_measure() {
    check("voice-phrases.csv");
}
