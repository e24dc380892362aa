//! `bioguard fairness evaluate`: the JSON report, and the HTML report rendered in headless
//! Chromium with its DET plot and tables; bad input refused with a message.

use std::path::Path;
use std::process::{Command, Output};

use crate::server::binary;
use crate::transparency::chromium;

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run bioguard")
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn synthetic_scores(dir: &Path) {
    // Group b's impostors sit higher (FMR several times a's); c is too small to count.
    ok(&run(
        dir,
        &[
            "synth",
            "scores",
            "--seed",
            "3",
            "--subjects",
            "60",
            "--out",
            "s.csv",
            "--group",
            "a:0.50:0.82:0.08:30000:3000",
            "--group",
            "b:0.56:0.82:0.08:30000:3000",
            "--group",
            "c:0.50:0.82:0.08:200:40",
        ],
    ));
}

#[test]
fn a_synthetic_evaluation_reports_the_injected_differential_and_renders_in_chromium() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    synthetic_scores(dir);
    let out = run(
        dir,
        &[
            "fairness",
            "evaluate",
            "--scores",
            "s.csv",
            "--matcher",
            "protected:2048",
            "--json",
            "r.json",
            "--html",
            "r.html",
            "--bootstrap",
            "300",
        ],
    );
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bootstrap"), "progress is shown: {stderr}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r.json")).expect("json"))
            .expect("JSON");
    assert_eq!(r["format"], "bioguard-fairness-report/1");
    assert_eq!(r["synthetic"], true, "the CSV's synthetic label is carried");
    assert_eq!(r["matcher"]["code_bits"], 2048);
    assert_eq!(r["overall"]["impostor_comparisons"], 60_200);
    assert!(r["overall"]["fmr"]["value"].as_f64().expect("fmr") <= 1e-3);
    let groups = r["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 3);
    assert_eq!(groups[0]["subjects"], 60);
    let fmr = |g: usize| groups[g]["fmr"]["value"].as_f64().expect("fmr");
    assert!(fmr(1) > 3.0 * fmr(0), "{} vs {}", fmr(1), fmr(0));
    assert_eq!(r["excluded_groups"], serde_json::json!(["c"]));
    let d = &r["differentials"];
    assert_eq!(d["groups"], 2);
    assert!((d["fmr_ratio"].as_f64().expect("ratio") - fmr(1) / fmr(0)).abs() < 1e-9);
    let ci = &r["differential_bootstrap_ci"]["fmr_ratio"];
    assert!(ci[0].as_f64().expect("lo") <= d["fmr_ratio"].as_f64().expect("ratio"));
    let statements = r["statements"].to_string();
    assert!(statements.contains("SYNTHETIC"), "{statements}");
    assert!(
        statements.contains(r#"Group \"c\" is too small"#),
        "{statements}"
    );

    let html = std::fs::read_to_string(dir.join("r.html")).expect("html");
    assert!(!html.contains("http://") || html.contains("http://www.w3.org/2000/svg"));
    assert!(
        !html.contains("https://"),
        "nothing is fetched from elsewhere"
    );
    assert!(html.contains("@font-face"), "the font is embedded");

    let Some(browser) = chromium() else {
        eprintln!("note: chromium is not installed; skipping the rendering half of this test");
        return;
    };
    let page = format!("file://{}", dir.join("r.html").display());
    let dom = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--dump-dom",
            &page,
        ])
        .env("HOME", dir)
        .output()
        .expect("chromium");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("<h1>Fairness evaluation (synthetic data)</h1>"),
        "{dom}"
    );
    // The DET plot: an SVG in its figure, one curve per group, axis names drawn.
    let det = &dom[dom.find(r#"<figure id="det-plot">"#).expect("DET figure")..];
    let det = &det[..det.find("</figure>").expect("figure end")];
    assert!(det.contains("<svg"), "{det}");
    assert!(det.matches("<polyline").count() >= 3, "{det}");
    assert!(det.contains("False-match rate") && det.contains("False-non-match rate"));
    // The tables: a row per group, the too-small one marked, the differentials.
    for g in ["a", "b"] {
        assert!(
            dom.contains(&format!(r#"<tr><th scope="row">{g}</th>"#)),
            "{dom}"
        );
    }
    assert!(
        dom.contains(r#"<tr class="small"><th scope="row">c</th>"#),
        "{dom}"
    );
    assert!(dom.contains(r#"<table id="differentials">"#), "{dom}");
    assert!(dom.contains("FMR max/min"), "{dom}");
    // A screenshot, kept as an artifact of the test run.
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let shot = shots.join("fairness-report.png");
    let _ = std::fs::remove_file(&shot);
    let taken = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg("--window-size=1280,2600")
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&page)
        .env("HOME", dir)
        .output()
        .expect("chromium");
    assert!(
        taken.status.success(),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
    let png = std::fs::read(&shot).expect("screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
}

#[test]
fn real_voice_embeddings_are_evaluated_by_their_source_with_the_limits_stated() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/voice-embeddings-dev.jsonl");
    if !data.exists() {
        eprintln!("note: {} is missing; skipping", data.display());
        return;
    }
    let data = data.to_string_lossy().into_owned();
    for form in ["raw", "protected"] {
        let out = run(
            tmp.path(),
            &[
                "fairness",
                "evaluate",
                "--embeddings",
                &data,
                "--sample-prefix",
                "phrase/",
                "--group-field",
                "source",
                "--form",
                form,
                "--target-fmr",
                "1e-2",
                "--bootstrap",
                "100",
                "--json",
                "v.json",
            ],
        );
        ok(&out);
        let r: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(tmp.path().join("v.json")).expect("json"),
        )
        .expect("JSON");
        assert_eq!(r["matcher"]["form"], form);
        assert_eq!(r["synthetic"], false);
        // 250 phrases of 21 speakers; one-speaker sources have no impostors of their own.
        assert_eq!(r["overall"]["fte"]["trials"], 250);
        assert_eq!(r["overall"]["subjects"], 21);
        assert_eq!(r["groups"].as_array().expect("groups").len(), 6);
        let statements = r["statements"].to_string();
        assert!(statements.contains("`source` field"), "{statements}");
        assert!(statements.contains("impostor pairs across groups were left out"));
        assert!(statements.contains("1 subject"), "{statements}");
    }
    // The report is what the fairness gate reads: at the threshold a purpose would use, it
    // passes a lenient policy and fails the default one on its FMR ratio.
    let out = run(
        tmp.path(),
        &[
            "fairness",
            "evaluate",
            "--embeddings",
            &data,
            "--sample-prefix",
            "phrase/",
            "--group-field",
            "source",
            "--form",
            "protected",
            "--threshold",
            "0.75",
            "--target-fmr",
            "1e-2",
            "--bootstrap",
            "0",
            "--json",
            "gate.json",
        ],
    );
    ok(&out);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("gate.json")).expect("json"))
            .expect("JSON");
    let mut purpose = bioguard_core::Purpose {
        id: bioguard_core::PurposeId::parse("voice").expect("id"),
        description: bioguard_core::Description::parse("Voice").expect("description"),
        operations: [bioguard_core::Operation::Verify].into(),
        dimension: bioguard_core::Dimension::new(256).expect("dimension"),
        threshold: bioguard_core::Threshold::new(0.75).expect("threshold"),
        retention: bioguard_core::Retention::new(30, None).expect("retention"),
        code_bits: bioguard_core::CodeBits::DEFAULT,
        max_gallery_size: None,
        calibration: None,
        risk: bioguard_core::RiskPolicy::default(),
        fairness: bioguard_core::FairnessPolicy {
            max_fmr_ratio: 1000.0,
            max_fnmr_ratio: 1000.0,
            max_garbe: 1.0,
            ..bioguard_core::FairnessPolicy::default()
        },
    };
    // The gate reads the report as written, exactly as the service receives it.
    let r = bioguard_service::SubmittedReport::from_text(r.to_string());
    let now = bioguard_core::Timestamp::from_unix(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64,
    );
    let lenient = bioguard_service::check_report(&purpose, 0.75, Some(&r), now);
    assert!(lenient.passed, "{:?}", lenient.reasons);
    purpose.fairness = bioguard_core::FairnessPolicy {
        max_fmr_ratio: 1.01,
        ..purpose.fairness
    };
    let strict = bioguard_service::check_report(&purpose, 0.75, Some(&r), now);
    assert!(
        !strict.passed && strict.reasons[0].contains("FMR max/min ratio"),
        "{:?}",
        strict.reasons
    );

    // Gender is given for two voices only (one of each, so impostors come only from
    // across the groups): everything else is left out, not guessed.
    let out = run(
        tmp.path(),
        &[
            "fairness",
            "evaluate",
            "--embeddings",
            &data,
            "--group-field",
            "gender",
            "--form",
            "raw",
            "--bootstrap",
            "0",
            "--cross-group-impostors",
            "--json",
            "g.json",
        ],
    );
    ok(&out);
    let r = std::fs::read_to_string(tmp.path().join("g.json")).expect("json");
    assert!(
        r.contains("have no `gender` value and were left out (nothing was guessed)"),
        "{r}"
    );
}

#[test]
fn bad_input_is_refused_with_the_line_and_what_to_do() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let cases = [
        (
            "score,group\n0.5,a\n",
            "must name the columns `score`, `genuine` and `group`",
        ),
        (
            "score,genuine,group\n0.5,2,a\n",
            "line 2: `genuine` must be 1 or 0",
        ),
        (
            "score,genuine,group\nabc,1,a\n",
            "line 2: the score \"abc\" is not a finite number",
        ),
        ("score,genuine,group\nNaN,1,a\n", "is not a finite number"),
        (
            "score,genuine,group\n0.5,1\n",
            "line 2: 2 fields where the header has 3",
        ),
        ("score,genuine,group\n0.5,1,a\n", "no impostor comparisons"),
        ("", "no header line"),
    ];
    for (text, expected) in cases {
        std::fs::write(dir.join("bad.csv"), text).expect("write");
        let out = run(
            dir,
            &[
                "fairness", "evaluate", "--scores", "bad.csv", "--json", "r.json",
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{text:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{text:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    std::fs::write(
        dir.join("ok.csv"),
        "score,genuine,group\n0.5,1,a\n0.1,0,a\n",
    )
    .expect("write");
    for (flag, value, expected) in [
        ("--target-fmr", "2", "--target-fmr must be between 0 and 1"),
        (
            "--matcher",
            "protected:100",
            "expected `raw` or `protected:BITS`",
        ),
        ("--alpha", "1.5", "--alpha must be between 0 and 1"),
    ] {
        let out = run(
            dir,
            &[
                "fairness", "evaluate", "--scores", "ok.csv", "--json", "r.json", flag, value,
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{flag}: {stderr}");
    }
}
