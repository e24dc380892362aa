//! A whole demographic-differential evaluation: one global threshold, then per group the
//! rates with exact and subject-level bootstrap intervals, the equal error rate, score
//! summaries, DET points and histograms, and the differentials over the groups large enough
//! for their figures to mean something.

use std::collections::HashMap;

use super::{Differentials, GroupRates, Rate, differentials};
use crate::eval::{Eer, Rates, Scores};

/// Comparison scores with their group, kind and (optionally) subject, in columns so that
/// tens of millions fit comfortably.
#[derive(Debug, Default)]
pub struct Table {
    groups: Vec<String>,
    group_ids: HashMap<String, u32>,
    subject_ids: HashMap<String, u32>,
    score: Vec<f64>,
    /// group << 1 | genuine.
    label: Vec<u32>,
    /// Subject index per comparison; empty when no comparison named a subject.
    subject: Vec<u32>,
    acquisition: Vec<(u64, u64)>,
    enrolment: Vec<(u64, u64)>,
    acquisition_given: bool,
    enrolment_given: bool,
}

/// Why a comparison could not be added.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TableError {
    /// The score is NaN or infinite.
    #[error("the score is not a finite number")]
    NotFinite,
    /// Some comparisons named a subject and this one does not (or the other way round).
    #[error("either every comparison names a subject or none does")]
    MixedSubjects,
    /// More groups or subjects than the table can index.
    #[error("too many distinct groups or subjects")]
    TooMany,
}

impl Table {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    fn group(&mut self, name: &str) -> Result<u32, TableError> {
        if let Some(g) = self.group_ids.get(name) {
            return Ok(*g);
        }
        let g = u32::try_from(self.groups.len())
            .ok()
            .filter(|g| *g < 1 << 30)
            .ok_or(TableError::TooMany)?;
        self.groups.push(name.to_owned());
        self.group_ids.insert(name.to_owned(), g);
        self.acquisition.push((0, 0));
        self.enrolment.push((0, 0));
        Ok(g)
    }

    /// Adds one comparison.
    pub fn push(
        &mut self,
        score: f64,
        genuine: bool,
        group: &str,
        subject: Option<&str>,
    ) -> Result<(), TableError> {
        if !score.is_finite() {
            return Err(TableError::NotFinite);
        }
        let named = !self.subject.is_empty() || (self.score.is_empty() && subject.is_some());
        if named != subject.is_some() {
            return Err(TableError::MixedSubjects);
        }
        let g = self.group(group)?;
        if let Some(s) = subject {
            let next = u32::try_from(self.subject_ids.len()).map_err(|_| TableError::TooMany)?;
            let id = *self.subject_ids.entry(s.to_owned()).or_insert(next);
            self.subject.push(id);
        }
        self.score.push(score);
        self.label.push(g << 1 | u32::from(genuine));
        self.acquisition[g as usize].1 += 1;
        Ok(())
    }

    /// Records a comparison attempt that failed because no sample could be acquired.
    pub fn push_failed_acquisition(&mut self, group: &str) -> Result<(), TableError> {
        let g = self.group(group)? as usize;
        self.acquisition[g].0 += 1;
        self.acquisition[g].1 += 1;
        self.acquisition_given = true;
        Ok(())
    }

    /// Records an enrolment attempt and whether it produced a template.
    pub fn push_enrolment(&mut self, group: &str, enrolled: bool) -> Result<(), TableError> {
        let g = self.group(group)? as usize;
        self.enrolment[g].0 += u64::from(!enrolled);
        self.enrolment[g].1 += 1;
        self.enrolment_given = true;
        Ok(())
    }

    /// The number of comparisons.
    pub fn len(&self) -> usize {
        self.score.len()
    }

    /// Whether there are no comparisons.
    pub fn is_empty(&self) -> bool {
        self.score.is_empty()
    }

    /// Whether the comparisons name their subjects.
    pub fn has_subjects(&self) -> bool {
        !self.subject.is_empty()
    }
}

/// Settings of an evaluation.
#[derive(Debug, Clone)]
pub struct Options {
    /// Set the global threshold at this false-match rate (bob.measure's `far_threshold`)...
    pub target_fmr: f64,
    /// ...unless a threshold is given.
    pub threshold: Option<f64>,
    /// Confidence of every interval (0.95 usually).
    pub confidence: f64,
    /// Weight of false matches in FDR, IR and GARBE (0.5 usually).
    pub alpha: f64,
    /// Subject-level bootstrap replicates (0 for none).
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    pub seed: u64,
    /// DET points per group.
    pub det_points: usize,
    /// Histogram bins.
    pub bins: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            target_fmr: 1e-3,
            threshold: None,
            confidence: 0.95,
            alpha: 0.5,
            bootstrap: 1000,
            seed: 19795,
            det_points: 100,
            bins: 40,
        }
    }
}

/// Five-number-plus summary of a set of scores.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    pub count: usize,
    pub mean: f64,
    pub sd: f64,
    pub min: f64,
    pub p05: f64,
    pub median: f64,
    pub p95: f64,
    pub max: f64,
}

impl Summary {
    fn of(sorted: &[f64]) -> Self {
        let n = sorted.len();
        if n == 0 {
            return Self::default();
        }
        let mean = sorted.iter().sum::<f64>() / n as f64;
        let sd = if n > 1 {
            (sorted.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        let q = |p: f64| sorted[((n - 1) as f64 * p).round() as usize];
        Self {
            count: n,
            mean,
            sd,
            min: sorted[0],
            p05: q(0.05),
            median: q(0.5),
            p95: q(0.95),
            max: sorted[n - 1],
        }
    }
}

/// A bootstrap percentile interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub lower: f64,
    pub upper: f64,
}

/// One group's figures.
#[derive(Debug, Clone)]
pub struct GroupResult {
    /// The group's name, as the input gave it.
    pub name: String,
    /// Distinct subjects (when the input names them).
    pub subjects: Option<usize>,
    /// FMR and FNMR at the global threshold, with Clopper-Pearson intervals.
    pub fmr: Rate,
    pub fnmr: Rate,
    /// Subject-level bootstrap intervals of FMR and FNMR.
    pub fmr_bootstrap: Option<Interval>,
    pub fnmr_bootstrap: Option<Interval>,
    /// The group's own equal error rate.
    pub eer: Option<Eer>,
    /// Failure to acquire and failure to enrol, when the input records attempts.
    pub fta: Option<Rate>,
    pub fte: Option<Rate>,
    pub genuine: Summary,
    pub impostor: Summary,
    /// DET points (FMR, FNMR) as bob.measure's `det`.
    pub det: Vec<Rates>,
    /// Genuine and impostor counts per histogram bin.
    pub genuine_histogram: Vec<u64>,
    pub impostor_histogram: Vec<u64>,
    /// Why the group's figures mean little (empty when they are fine).
    pub too_small: Vec<String>,
}

/// Bootstrap intervals of the differentials.
#[derive(Debug, Clone, Copy)]
pub struct DifferentialIntervals {
    pub replicates: usize,
    pub fmr_ratio: Interval,
    pub fnmr_ratio: Interval,
    pub fdr: Interval,
    pub inequity_rate: Interval,
    pub garbe: Interval,
}

/// The whole evaluation.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub options: Options,
    /// The global threshold and the whole population's rates there.
    pub threshold: f64,
    pub overall: GroupResult,
    pub groups: Vec<GroupResult>,
    /// Histogram bin edges (bins + 1 values).
    pub bin_edges: Vec<f64>,
    /// Differentials over the groups that are not too small (None with fewer than two).
    pub differentials: Option<Differentials>,
    pub differential_intervals: Option<DifferentialIntervals>,
    /// The groups left out of the differentials.
    pub excluded: Vec<String>,
}

/// Why an evaluation cannot be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvaluationError {
    #[error("no genuine comparisons: an evaluation needs both kinds")]
    NoGenuine,
    #[error("no impostor comparisons: an evaluation needs both kinds")]
    NoImpostor,
    #[error("the target false-match rate must be between 0 and 1")]
    BadTarget,
}

/// Per-subject error counts of one group at the threshold.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    false_matches: u32,
    impostors: u32,
    false_non_matches: u32,
    genuines: u32,
}

/// Runs the evaluation; `progress(stage, done, total)` is called as it goes.
pub fn evaluate(
    table: &Table,
    options: &Options,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<Evaluation, EvaluationError> {
    if !(options.target_fmr > 0.0 && options.target_fmr < 1.0) {
        return Err(EvaluationError::BadTarget);
    }
    let groups = table.groups.len();
    // Split by group and kind.
    let mut genuine: Vec<Vec<f64>> = vec![Vec::new(); groups];
    let mut impostor: Vec<Vec<f64>> = vec![Vec::new(); groups];
    let total = table.len() as u64;
    for (i, (s, l)) in table.score.iter().zip(&table.label).enumerate() {
        let g = (l >> 1) as usize;
        if l & 1 == 1 {
            genuine[g].push(*s);
        } else {
            impostor[g].push(*s);
        }
        if i % (1 << 20) == 0 {
            progress("grouping", i as u64, total);
        }
    }
    progress("grouping", total, total);
    let all_genuine: Vec<f64> = genuine.iter().flatten().copied().collect();
    let all_impostor: Vec<f64> = impostor.iter().flatten().copied().collect();
    if all_genuine.is_empty() {
        return Err(EvaluationError::NoGenuine);
    }
    if all_impostor.is_empty() {
        return Err(EvaluationError::NoImpostor);
    }
    progress("sorting", 0, groups as u64 + 1);
    let overall_scores = Scores::new(all_genuine, all_impostor);
    let threshold = match options.threshold {
        Some(t) => t,
        None => overall_scores
            .threshold_for_fmr(options.target_fmr)
            .map(|r| r.threshold)
            .ok_or(EvaluationError::NoImpostor)?,
    };
    let lo = overall_scores.genuine()[0].min(overall_scores.impostor()[0]);
    let hi = overall_scores
        .genuine()
        .last()
        .copied()
        .unwrap_or(lo)
        .max(overall_scores.impostor().last().copied().unwrap_or(lo));
    let bins = options.bins.max(1);
    let width = if hi > lo {
        (hi - lo) / bins as f64
    } else {
        1.0
    };
    let bin_edges: Vec<f64> = (0..=bins).map(|i| lo + width * i as f64).collect();

    // Subject counts per group, for the subject numbers and the bootstrap.
    let mut per_subject: Vec<HashMap<u32, Counts>> = vec![HashMap::new(); groups];
    if table.has_subjects() {
        for ((s, l), subject) in table.score.iter().zip(&table.label).zip(&table.subject) {
            let g = (l >> 1) as usize;
            let c = per_subject[g].entry(*subject).or_default();
            if l & 1 == 1 {
                c.genuines += 1;
                c.false_non_matches += u32::from(*s < threshold);
            } else {
                c.impostors += 1;
                c.false_matches += u32::from(*s >= threshold);
            }
        }
    }

    let result = |name: &str,
                  scores: &Scores,
                  subjects: Option<usize>,
                  fta: Option<(u64, u64)>,
                  fte: Option<(u64, u64)>| {
        let at = |v: &[f64], below: bool| {
            let p = v.partition_point(|s| *s < threshold) as u64;
            if below { p } else { v.len() as u64 - p }
        };
        let histogram = |v: &[f64]| -> Vec<u64> {
            (0..bins)
                .map(|b| {
                    let from = v.partition_point(|s| *s < bin_edges[b]);
                    let to = if b + 1 == bins {
                        v.len()
                    } else {
                        v.partition_point(|s| *s < bin_edges[b + 1])
                    };
                    (to - from) as u64
                })
                .collect()
        };
        let mut too_small = Vec::new();
        let (ni, ng) = (scores.impostor_count(), scores.genuine_count());
        let needed_impostors = (3.0 / options.target_fmr).ceil() as usize;
        if ni < needed_impostors {
            too_small.push(format!(
                "{ni} impostor comparisons: at least {needed_impostors} are needed to resolve \
                 a false-match rate of {} (rule of three)",
                options.target_fmr
            ));
        }
        GroupResult {
            name: name.to_owned(),
            subjects,
            fmr: Rate::new(at(scores.impostor(), false), ni as u64, options.confidence),
            fnmr: Rate::new(at(scores.genuine(), true), ng as u64, options.confidence),
            fmr_bootstrap: None,
            fnmr_bootstrap: None,
            eer: scores.eer(),
            fta: fta.map(|(f, n)| Rate::new(f, n, options.confidence)),
            fte: fte.map(|(f, n)| Rate::new(f, n, options.confidence)),
            genuine: Summary::of(scores.genuine()),
            impostor: Summary::of(scores.impostor()),
            det: scores.det_points(options.det_points, -8),
            genuine_histogram: histogram(scores.genuine()),
            impostor_histogram: histogram(scores.impostor()),
            too_small,
        }
    };
    let sum = |v: &[(u64, u64)]| v.iter().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let mut overall = result(
        "all",
        &overall_scores,
        table.has_subjects().then_some(table.subject_ids.len()),
        table.acquisition_given.then(|| sum(&table.acquisition)),
        table.enrolment_given.then(|| sum(&table.enrolment)),
    );
    overall.too_small.clear();
    drop(overall_scores);
    let mut results = Vec::with_capacity(groups);
    for g in 0..groups {
        progress("per group", g as u64 + 1, groups as u64 + 1);
        let scores = Scores::new(
            std::mem::take(&mut genuine[g]),
            std::mem::take(&mut impostor[g]),
        );
        let mut r = result(
            &table.groups[g],
            &scores,
            table.has_subjects().then(|| per_subject[g].len()),
            table.acquisition_given.then(|| table.acquisition[g]),
            table.enrolment_given.then(|| table.enrolment[g]),
        );
        // FNMR is resolvable when the group has enough genuine comparisons to see the
        // population's FNMR (rule of three again, with a floor of 1%).
        let population_fnmr = overall.fnmr.value.max(0.01);
        let needed_genuine = (3.0 / population_fnmr).ceil() as usize;
        if scores.genuine_count() < needed_genuine {
            r.too_small.push(format!(
                "{} genuine comparisons: at least {needed_genuine} are needed to resolve a \
                 false-non-match rate of {:.4} (rule of three)",
                scores.genuine_count(),
                population_fnmr
            ));
        }
        results.push(r);
    }
    progress("per group", groups as u64 + 1, groups as u64 + 1);

    let included: Vec<usize> = (0..groups)
        .filter(|g| results[*g].too_small.is_empty())
        .collect();
    let excluded = (0..groups)
        .filter(|g| !results[*g].too_small.is_empty())
        .map(|g| table.groups[g].clone())
        .collect();
    let rates_of = |rs: &[GroupResult]| -> Vec<GroupRates> {
        included
            .iter()
            .map(|g| GroupRates {
                name: rs[*g].name.clone(),
                fmr: rs[*g].fmr,
                fnmr: rs[*g].fnmr,
            })
            .collect()
    };
    let differentials =
        (included.len() >= 2).then(|| differentials(&rates_of(&results), options.alpha));

    let mut differential_intervals = None;
    if table.has_subjects() && options.bootstrap > 0 {
        let subjects: Vec<Vec<Counts>> = per_subject
            .iter()
            .map(|m| m.values().copied().collect())
            .collect();
        let b = bootstrap(&subjects, options, &included, &mut |done| {
            progress("bootstrap", done as u64, options.bootstrap as u64)
        });
        // A group without comparisons of a kind has no interval for that rate.
        for (g, r) in results.iter_mut().enumerate() {
            r.fmr_bootstrap = (r.fmr.trials > 0).then_some(b.fmr[g]);
            r.fnmr_bootstrap = (r.fnmr.trials > 0).then_some(b.fnmr[g]);
        }
        differential_intervals = b.differentials;
    }
    Ok(Evaluation {
        options: options.clone(),
        threshold,
        overall,
        groups: results,
        bin_edges,
        differentials,
        differential_intervals,
        excluded,
    })
}

struct Bootstrapped {
    fmr: Vec<Interval>,
    fnmr: Vec<Interval>,
    differentials: Option<DifferentialIntervals>,
}

/// Resamples each group's subjects with replacement, `options.bootstrap` times.
fn bootstrap(
    subjects: &[Vec<Counts>],
    options: &Options,
    included: &[usize],
    progress: &mut dyn FnMut(usize),
) -> Bootstrapped {
    let mut x = options.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move |n: usize| -> usize {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ((x >> 11) % n as u64) as usize
    };
    let groups = subjects.len();
    let reps = options.bootstrap;
    let mut fmr = vec![Vec::with_capacity(reps); groups];
    let mut fnmr = vec![Vec::with_capacity(reps); groups];
    let mut diffs: Vec<Differentials> = Vec::with_capacity(reps);
    for rep in 0..reps {
        let mut rates = Vec::with_capacity(groups);
        for (g, s) in subjects.iter().enumerate() {
            let mut c = Counts::default();
            for _ in 0..s.len() {
                let d = s[next(s.len())];
                c.false_matches += d.false_matches;
                c.impostors += d.impostors;
                c.false_non_matches += d.false_non_matches;
                c.genuines += d.genuines;
            }
            let ratio = |e: u32, n: u32| if n == 0 { 0.0 } else { e as f64 / n as f64 };
            let (m, nm) = (
                ratio(c.false_matches, c.impostors),
                ratio(c.false_non_matches, c.genuines),
            );
            fmr[g].push(m);
            fnmr[g].push(nm);
            rates.push((m, nm));
        }
        if included.len() >= 2 {
            let rs: Vec<GroupRates> = included
                .iter()
                .map(|g| GroupRates {
                    name: String::new(),
                    fmr: Rate {
                        value: rates[*g].0,
                        ..Rate::new(0, 0, 0.95)
                    },
                    fnmr: Rate {
                        value: rates[*g].1,
                        ..Rate::new(0, 0, 0.95)
                    },
                })
                .collect();
            diffs.push(differentials(&rs, options.alpha));
        }
        if rep % 50 == 0 {
            progress(rep);
        }
    }
    progress(reps);
    let tail = (1.0 - options.confidence) / 2.0;
    let interval = |mut v: Vec<f64>| -> Interval {
        v.sort_by(f64::total_cmp);
        let at = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        Interval {
            lower: at(tail),
            upper: at(1.0 - tail),
        }
    };
    let differentials = (!diffs.is_empty()).then(|| {
        let pick = |f: fn(&Differentials) -> f64| interval(diffs.iter().map(f).collect());
        DifferentialIntervals {
            replicates: reps,
            fmr_ratio: pick(|d| d.fmr_ratio),
            fnmr_ratio: pick(|d| d.fnmr_ratio),
            fdr: pick(|d| d.fdr),
            inequity_rate: pick(|d| d.inequity_rate),
            garbe: pick(|d| d.garbe),
        }
    });
    Bootstrapped {
        fmr: fmr.into_iter().map(interval).collect(),
        fnmr: fnmr.into_iter().map(interval).collect(),
        differentials,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fairness::{SyntheticGroup, group_rates, synthetic_scores};

    fn table(groups: &[SyntheticGroup], subjects_per_group: usize) -> Table {
        let mut t = Table::new();
        for g in synthetic_scores(groups, 7) {
            for (i, s) in g.impostor.iter().enumerate() {
                let subject = format!("{}-{}", g.name, i % subjects_per_group);
                t.push(*s, false, &g.name, Some(&subject)).expect("push");
            }
            for (i, s) in g.genuine.iter().enumerate() {
                let subject = format!("{}-{}", g.name, i % subjects_per_group);
                t.push(*s, true, &g.name, Some(&subject)).expect("push");
            }
        }
        t
    }

    fn group(name: &str, impostor_mean: f64, impostors: usize, genuines: usize) -> SyntheticGroup {
        SyntheticGroup {
            name: name.into(),
            impostor_mean,
            genuine_mean: 0.8,
            sd: 0.08,
            impostors,
            genuines,
        }
    }

    #[test]
    fn per_group_rates_are_those_at_the_global_threshold() {
        let groups = [
            group("a", 0.5, 20_000, 2_000),
            group("b", 0.56, 20_000, 2_000),
            group("tiny", 0.5, 50, 10),
        ];
        let t = table(&groups, 100);
        let e = evaluate(&t, &Options::default(), &mut |_, _, _| {}).expect("evaluation");
        // The threshold is the population's, at FMR <= 1e-3.
        assert!(e.overall.fmr.value <= 1e-3, "{:?}", e.overall.fmr);
        assert_eq!(e.overall.fmr.trials, 40_050);
        let direct = group_rates(&synthetic_scores(&groups, 7), e.threshold, 0.95);
        for (r, d) in e.groups.iter().zip(&direct) {
            assert_eq!((r.fmr, r.fnmr), (d.fmr, d.fnmr), "{}", r.name);
            assert_eq!(r.subjects, Some(100.min(r.fmr.trials as usize)));
        }
        // Group b's impostors sit higher: its FMR is several times a's.
        assert!(e.groups[1].fmr.value > 3.0 * e.groups[0].fmr.value);
        // The tiny group is named as too small and left out of the differentials.
        assert!(
            e.groups[2].too_small[0].starts_with("50 impostor comparisons"),
            "{:?}",
            e.groups[2].too_small
        );
        assert!(e.groups[0].too_small.is_empty() && e.groups[1].too_small.is_empty());
        assert_eq!(e.excluded, vec!["tiny".to_owned()]);
        let d = e.differentials.expect("two groups large enough");
        assert!(
            (d.fmr_ratio - e.groups[1].fmr.value / e.groups[0].fmr.value).abs() < 1e-12,
            "{d:?}"
        );
        // Bootstrap intervals hold their point estimates.
        let b = e.differential_intervals.expect("subjects given");
        assert!(b.fmr_ratio.lower <= d.fmr_ratio && d.fmr_ratio <= b.fmr_ratio.upper);
        assert!(b.garbe.lower <= d.garbe && d.garbe <= b.garbe.upper);
        for r in &e.groups[..2] {
            let i = r.fmr_bootstrap.expect("bootstrap");
            assert!(i.lower <= r.fmr.value && r.fmr.value <= i.upper, "{i:?}");
        }
        // Histograms count every score; DET points come from the group's own scores.
        let h: u64 = e.groups[0].impostor_histogram.iter().sum();
        assert_eq!(h, 20_000);
        assert_eq!(e.bin_edges.len(), 41);
        assert_eq!(e.groups[0].det.len(), 100);
    }

    #[test]
    fn subject_level_intervals_are_wider_when_errors_cluster_in_few_subjects() {
        // Same error counts: one false match each for 20 of 200 subjects, or ten each for 2.
        let mut spread = Table::new();
        let mut clustered = Table::new();
        for g in ["a", "b"] {
            for i in 0..2000u32 {
                let s = if i % 100 == 0 { 0.9 } else { 0.1 };
                spread
                    .push(s, false, g, Some(&format!("{g}{}", i / 10)))
                    .expect("push");
                let subject = if s > 0.5 { (i / 100) % 2 } else { i / 10 };
                clustered
                    .push(s, false, g, Some(&format!("{g}{subject}")))
                    .expect("push");
                spread
                    .push(0.95, true, g, Some(&format!("{g}{}", i % 200)))
                    .expect("push");
                clustered
                    .push(0.95, true, g, Some(&format!("{g}{}", i % 200)))
                    .expect("push");
            }
        }
        let options = Options {
            threshold: Some(0.5),
            target_fmr: 0.01,
            ..Options::default()
        };
        let a = evaluate(&spread, &options, &mut |_, _, _| {}).expect("spread");
        let b = evaluate(&clustered, &options, &mut |_, _, _| {}).expect("clustered");
        assert_eq!(a.groups[0].fmr, b.groups[0].fmr, "same counts");
        let width = |e: &Evaluation| {
            let i = e.groups[0].fmr_bootstrap.expect("bootstrap");
            i.upper - i.lower
        };
        assert!(
            width(&b) > 1.5 * width(&a),
            "{} vs {}",
            width(&b),
            width(&a)
        );
    }

    #[test]
    fn bad_tables_are_refused() {
        let mut t = Table::new();
        assert_eq!(
            t.push(f64::NAN, true, "a", None),
            Err(TableError::NotFinite)
        );
        t.push(0.5, true, "a", None).expect("first");
        assert_eq!(
            t.push(0.5, true, "a", Some("s")),
            Err(TableError::MixedSubjects)
        );
        let e = evaluate(&t, &Options::default(), &mut |_, _, _| {});
        assert_eq!(e.err(), Some(EvaluationError::NoImpostor));
        t.push_failed_acquisition("a").expect("fta");
        t.push(0.1, false, "a", None).expect("impostor");
        let e = evaluate(&t, &Options::default(), &mut |_, _, _| {}).expect("ok");
        let fta = e.groups[0].fta.expect("attempts recorded");
        assert_eq!((fta.errors, fta.trials), (1, 3));
        assert!(e.groups[0].fte.is_none() && e.differential_intervals.is_none());
    }
}
