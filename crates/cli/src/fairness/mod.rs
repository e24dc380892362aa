//! `bioguard fairness evaluate`: demographic-differential evaluation of a matcher and
//! threshold from comparison scores (CSV) or labelled embeddings (JSON lines), written as a
//! JSON report (what the fairness gate reads) and a self-contained HTML report with plots.

mod html;
mod input;
mod plot;

use std::path::PathBuf;

use anyhow::{Context, bail};
use bioguard_core::{
    DifferentialIntervals, Differentials, EerReport, FairnessReport, GroupReport, Num,
    REPORT_FORMAT, RateReport, ReportInput, ScoreSummary, finite,
};
use bioguard_engine::fairness::Rate;
use bioguard_engine::fairness::evaluation::{self, Evaluation, GroupResult, Interval, Options};

pub use input::Form;

/// Options of `bioguard fairness evaluate`.
#[derive(clap::Args)]
pub struct EvaluateArgs {
    /// Comparison scores as CSV with a header naming `score`, `genuine` (1 or 0) and `group`,
    /// and optionally `subject` (for the subject-level bootstrap). An empty score records a
    /// failure to acquire. Lines starting with `#` are comments.
    #[arg(long, value_name = "FILE", conflicts_with = "embeddings")]
    pub scores: Option<PathBuf>,
    /// Labelled embeddings as JSON lines (as in ../shared/data), scored with the deployed
    /// matcher. A null `embedding` records a failure to enrol.
    #[arg(long, value_name = "FILE", required_unless_present = "scores")]
    pub embeddings: Option<PathBuf>,
    /// The JSON field holding each embedding's group (e.g. `gender` or `source`).
    #[arg(long, value_name = "FIELD", default_value = "group")]
    pub group_field: String,
    /// Use only lines whose `sample` starts with this (e.g. `phrase/`).
    #[arg(long, value_name = "PREFIX")]
    pub sample_prefix: Option<String>,
    /// Which form of the matcher scores the embeddings.
    #[arg(long, value_enum, default_value = "protected")]
    pub form: Form,
    /// Protected code length in bits.
    #[arg(long, default_value_t = 2048)]
    pub bits: u64,
    /// Impostor pairs across groups are left out unless this is set (demographic studies
    /// compare impostors within a group, where false matches are likelier).
    #[arg(long)]
    pub cross_group_impostors: bool,
    /// For CSV scores: the matcher they came from, as `protected:BITS` or `raw`; the gate
    /// accepts a report only for the matcher the purpose uses.
    #[arg(long, value_name = "MATCHER")]
    pub matcher: Option<String>,
    /// The false-match rate the global threshold is set at, on the whole population (and the
    /// rate a group needs enough impostor comparisons to resolve, by the rule of three).
    #[arg(long, default_value_t = 1e-3)]
    pub target_fmr: f64,
    /// Evaluate at this threshold instead (e.g. the one a purpose is to use).
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Confidence of every interval.
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
    /// Weight of false matches in FDR, IR and GARBE.
    #[arg(long, default_value_t = 0.5)]
    pub alpha: f64,
    /// Subject-level bootstrap replicates (0 to skip).
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: usize,
    /// Seed of the bootstrap and of the protected form's evaluation key (the same command
    /// gives the same report).
    #[arg(long, default_value_t = 19795)]
    pub seed: u64,
    /// Where to write the JSON report.
    #[arg(long, value_name = "FILE")]
    pub json: PathBuf,
    /// Where to write the HTML report.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// Runs `bioguard fairness evaluate`.
pub fn evaluate(a: EvaluateArgs) -> anyhow::Result<()> {
    if !(a.target_fmr > 0.0 && a.target_fmr < 1.0) {
        bail!("--target-fmr must be between 0 and 1 (for example 1e-3)");
    }
    if !(a.confidence > 0.5 && a.confidence < 1.0) {
        bail!("--confidence must be between 0.5 and 1 (for example 0.95)");
    }
    if !(0.0..=1.0).contains(&a.alpha) {
        bail!("--alpha must be between 0 and 1 (0.5 weighs both error kinds equally)");
    }
    if a.threshold.is_some_and(|t| !t.is_finite()) {
        bail!("--threshold must be a number");
    }
    if a.bootstrap > 100_000 {
        bail!("--bootstrap: at most 100000 replicates");
    }
    let mut progress = crate::progress::Progress::new();
    let started = std::time::Instant::now();
    let input = match (&a.scores, &a.embeddings) {
        (Some(path), _) => input::read_scores(path, a.matcher.as_deref(), &mut progress)?,
        (None, Some(path)) => input::score_embeddings(&a, path, &mut progress)?,
        (None, None) => bail!("give --scores FILE or --embeddings FILE"),
    };
    let options = Options {
        target_fmr: a.target_fmr,
        threshold: a.threshold,
        confidence: a.confidence,
        alpha: a.alpha,
        bootstrap: a.bootstrap,
        seed: a.seed,
        ..Options::default()
    };
    let e = evaluation::evaluate(&input.table, &options, &mut |stage, done, total| {
        progress.update(stage, done, total)
    })
    .context("cannot evaluate")?;
    progress.finish();
    let report = report(&e, &input);
    write(&a.json, &serde_json::to_string_pretty(&report)?)?;
    if let Some(path) = &a.html {
        write(path, &html::render(&e, &report))?;
    }
    eprintln!(
        "evaluated {} comparisons in {} groups in {:.1} s: threshold {:.6}, overall FMR {:.3e}, FNMR {:.4}",
        input.table.len(),
        e.groups.len(),
        started.elapsed().as_secs_f64(),
        e.threshold,
        e.overall.fmr.value,
        e.overall.fnmr.value
    );
    match e.differentials {
        Some(d) => eprintln!(
            "differentials over {} groups: FMR ratio {}, FNMR ratio {}, FDR {:.4}, IR {}, GARBE {:.4}",
            e.groups.len() - e.excluded.len(),
            ratio_text(d.fmr_ratio),
            ratio_text(d.fnmr_ratio),
            d.fdr,
            ratio_text(d.inequity_rate),
            d.garbe
        ),
        None => eprintln!(
            "no differentials: fewer than two groups are large enough (see the report's statements)"
        ),
    }
    eprintln!("wrote {}", a.json.display());
    if let Some(path) = &a.html {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn write(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

pub(crate) fn ratio_text(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3}")
    } else {
        "infinite".into()
    }
}

fn rate(r: &Rate) -> RateReport {
    RateReport {
        errors: r.errors,
        trials: r.trials,
        value: finite(r.value),
        ci: [finite(r.lower), finite(r.upper)],
    }
}

fn interval(i: Option<Interval>) -> Option<[Num; 2]> {
    i.map(|i| [finite(i.lower), finite(i.upper)])
}

fn group_report(g: &GroupResult) -> GroupReport {
    let summary = |s: &evaluation::Summary| ScoreSummary {
        count: s.count as u64,
        mean: finite(s.mean),
        sd: finite(s.sd),
        min: finite(s.min),
        p05: finite(s.p05),
        median: finite(s.median),
        p95: finite(s.p95),
        max: finite(s.max),
    };
    GroupReport {
        name: g.name.clone(),
        subjects: g.subjects.map(|n| n as u64),
        genuine_comparisons: g.fnmr.trials,
        impostor_comparisons: g.fmr.trials,
        fmr: rate(&g.fmr),
        fnmr: rate(&g.fnmr),
        fmr_bootstrap_ci: interval(g.fmr_bootstrap),
        fnmr_bootstrap_ci: interval(g.fnmr_bootstrap),
        eer: g.eer.map(|e| EerReport {
            value: finite(e.value),
            threshold: finite(e.threshold),
        }),
        fta: g.fta.as_ref().map(rate),
        fte: g.fte.as_ref().map(rate),
        genuine_scores: summary(&g.genuine),
        impostor_scores: summary(&g.impostor),
        det: g
            .det
            .iter()
            .map(|p| [finite(p.threshold), finite(p.fmr), finite(p.fnmr)])
            .collect(),
        genuine_histogram: g.genuine_histogram.clone(),
        impostor_histogram: g.impostor_histogram.clone(),
        too_small: g.too_small.clone(),
    }
}

/// The statements a report makes about itself: how its groups were labelled, and what its
/// figures cannot say.
fn statements(e: &Evaluation, input: &input::Input) -> Vec<String> {
    let mut statements = vec![input.labels_statement.clone()];
    statements.extend(input.notes.iter().cloned());
    for g in &e.groups {
        match g.subjects {
            Some(1) => statements.push(format!(
                "Group {:?} has 1 subject: its figures describe that person, not a group.",
                g.name
            )),
            Some(n) if n < 10 => statements.push(format!(
                "Group {:?} has {n} subjects: its figures describe those people more than a \
                 group, and its bootstrap interval is rough.",
                g.name
            )),
            _ => {}
        }
        for why in &g.too_small {
            statements.push(format!(
                "Group {:?} is too small for its figures to mean much: {why}.",
                g.name
            ));
        }
    }
    if !e.excluded.is_empty() {
        statements.push(format!(
            "Left out of the differentials: {}.",
            e.excluded.join(", ")
        ));
    }
    match e.differentials {
        None => statements
            .push("No differentials: fewer than two groups are large enough to compare.".into()),
        Some(d) if !d.fmr_ratio.is_finite() || !d.fnmr_ratio.is_finite() => statements.push(
            "A group has no errors of a kind where another has some: that max/min ratio is \
             infinite (null in this file)."
                .into(),
        ),
        Some(_) => {}
    }
    if !input.table.has_subjects() {
        statements.push(
            "The input names no subjects, so there is no subject-level bootstrap; the \
             Clopper-Pearson intervals assume independent comparisons, which they are not."
                .into(),
        );
    }
    if input.synthetic {
        statements.insert(
            0,
            "SYNTHETIC: these scores were generated, not produced by a matcher; they say \
             nothing about any real system."
                .into(),
        );
    }
    statements
}

fn report(e: &Evaluation, input: &input::Input) -> FairnessReport {
    let compared = (e.groups.len() - e.excluded.len()) as u64;
    FairnessReport {
        format: REPORT_FORMAT.into(),
        generated_at: bioguard_core::rfc3339(bioguard_core::Timestamp::from_unix(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
        )),
        generator: format!("bioguard {}", env!("CARGO_PKG_VERSION")),
        synthetic: Some(input.synthetic),
        input: ReportInput {
            kind: input.kind.into(),
            file: input.file_name.clone(),
            sha256: input.sha256.clone(),
            comparisons: input.table.len() as u64,
            subjects_named: input.table.has_subjects(),
        },
        matcher: input.matcher.clone(),
        threshold: finite(e.threshold),
        threshold_from: if e.options.threshold.is_some() {
            "given"
        } else {
            "target_fmr"
        }
        .into(),
        target_fmr: Some(e.options.target_fmr),
        confidence: Some(e.options.confidence),
        alpha: Some(e.options.alpha),
        bootstrap_replicates: if input.table.has_subjects() {
            e.options.bootstrap as u64
        } else {
            0
        },
        seed: e.options.seed,
        overall: group_report(&e.overall),
        groups: e.groups.iter().map(group_report).collect(),
        histogram_edges: e.bin_edges.iter().map(|x| finite(*x)).collect(),
        differentials: e.differentials.map(|d| Differentials {
            groups: compared,
            fmr_ratio: finite(d.fmr_ratio),
            fnmr_ratio: finite(d.fnmr_ratio),
            fdr: finite(d.fdr),
            inequity_rate: finite(d.inequity_rate),
            garbe: finite(d.garbe),
        }),
        differential_bootstrap_ci: e.differential_intervals.map(|b| DifferentialIntervals {
            replicates: b.replicates as u64,
            fmr_ratio: interval(Some(b.fmr_ratio)),
            fnmr_ratio: interval(Some(b.fnmr_ratio)),
            fdr: interval(Some(b.fdr)),
            inequity_rate: interval(Some(b.inequity_rate)),
            garbe: interval(Some(b.garbe)),
        }),
        excluded_groups: e.excluded.clone(),
        statements: statements(e, input),
    }
}

/// `bioguard bench fairness`: writes `scores` synthetic comparison scores (four groups, 250
/// subjects each) to a temporary CSV, then times the whole evaluation `runs` times: reading
/// and parsing, the evaluation with a 1,000-replicate subject-level bootstrap, and writing
/// both reports. Prints each stage's median.
pub fn bench(scores: u64, runs: usize) -> anyhow::Result<()> {
    if scores < 1000 || runs == 0 {
        bail!("--scores must be at least 1000 and --runs at least 1");
    }
    let dir = std::env::temp_dir().join(format!("bioguard-fairness-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let csv = dir.join("scores.csv");
    let per_group = scores / 4;
    let (impostors, genuines) = (per_group - per_group / 10, per_group / 10);
    let groups: Vec<String> = [("a", 0.50), ("b", 0.53), ("c", 0.56), ("d", 0.50)]
        .iter()
        .map(|(g, m)| format!("{g}:{m}:0.82:0.08:{impostors}:{genuines}"))
        .collect();
    crate::synth::scores(&groups, 1, Some(250), &csv)?;
    let mut stages: [Vec<f64>; 3] = Default::default();
    for run in 0..runs {
        let mut progress = crate::progress::Progress::new();
        let t = std::time::Instant::now();
        let input = input::read_scores(&csv, Some("protected:2048"), &mut progress)?;
        let read = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let e = evaluation::evaluate(&input.table, &Options::default(), &mut |s, d, n| {
            progress.update(s, d, n)
        })?;
        let evaluated = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let report = report(&e, &input);
        let text = serde_json::to_string_pretty(&report)?;
        let page = html::render(&e, &report);
        let written = t.elapsed().as_secs_f64();
        progress.finish();
        eprintln!(
            "run {}: read {read:.2} s, evaluate {evaluated:.2} s, reports {written:.3} s ({} + {} bytes)",
            run + 1,
            text.len(),
            page.len()
        );
        stages[0].push(read);
        stages[1].push(evaluated);
        stages[2].push(written);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (r, e, w) = (
        median(&mut stages[0]),
        median(&mut stages[1]),
        median(&mut stages[2]),
    );
    println!(
        "fairness evaluation of {} synthetic scores (4 groups, 1,000 subjects, 1,000 bootstrap \
         replicates), median of {runs}: read {r:.2} s, evaluate {e:.2} s, reports {w:.3} s, \
         total {:.2} s",
        4 * per_group,
        r + e + w
    );
    Ok(())
}
