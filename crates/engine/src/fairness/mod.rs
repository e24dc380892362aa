//! Demographic-differential measures at one global threshold, in the manner of ISO/IEC
//! 19795-10: per-group false-match and false-non-match rates with exact (Clopper-Pearson)
//! intervals, and the differentials that summarise them (max/min ratios, the Fairness
//! Discrepancy Rate, the Inequity Rate and GARBE).
//!
//! Convention (as bob.measure): a comparison is accepted when its score is at least the
//! threshold, so an impostor exactly at the threshold is a false match.

pub mod evaluation;

/// One group's comparison scores.
#[derive(Debug, Clone, Default)]
pub struct GroupScores {
    /// The group's name.
    pub name: String,
    /// Genuine (same-subject) comparison scores.
    pub genuine: Vec<f64>,
    /// Impostor (different-subject) comparison scores.
    pub impostor: Vec<f64>,
}

/// A proportion with its exact confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Errors counted.
    pub errors: u64,
    /// Trials.
    pub trials: u64,
    /// errors / trials (0 when there are no trials).
    pub value: f64,
    /// Clopper-Pearson lower bound.
    pub lower: f64,
    /// Clopper-Pearson upper bound.
    pub upper: f64,
}

impl Rate {
    /// The rate of `errors` in `trials` with a two-sided interval at `confidence` (e.g. 0.95).
    pub fn new(errors: u64, trials: u64, confidence: f64) -> Self {
        let (lower, upper) = clopper_pearson(errors, trials, confidence);
        Self {
            errors,
            trials,
            value: if trials == 0 {
                0.0
            } else {
                errors as f64 / trials as f64
            },
            lower,
            upper,
        }
    }
}

/// One group's rates at the global threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRates {
    /// The group's name.
    pub name: String,
    /// False-match rate.
    pub fmr: Rate,
    /// False-non-match rate.
    pub fnmr: Rate,
}

/// The differentials across groups at one threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Differentials {
    /// Largest FMR over smallest (infinite when the smallest is 0 and the largest is not).
    pub fmr_ratio: f64,
    /// Largest FNMR over smallest.
    pub fnmr_ratio: f64,
    /// Fairness Discrepancy Rate: 1 - (alpha A + (1 - alpha) B), with A and B the largest
    /// pairwise FMR and FNMR differences. 1 is perfectly fair.
    pub fdr: f64,
    /// Inequity Rate: (max FMR / min FMR)^alpha x (max FNMR / min FNMR)^(1 - alpha). 1 is
    /// perfectly fair.
    pub inequity_rate: f64,
    /// GARBE: alpha Gini(FMR) + (1 - alpha) Gini(FNMR), each Gini with the n/(n-1)
    /// correction. 0 is perfectly fair.
    pub garbe: f64,
}

/// Per-group rates at `threshold`, intervals at `confidence`.
pub fn group_rates(groups: &[GroupScores], threshold: f64, confidence: f64) -> Vec<GroupRates> {
    groups
        .iter()
        .map(|g| {
            let fm = g.impostor.iter().filter(|s| **s >= threshold).count() as u64;
            let fnm = g.genuine.iter().filter(|s| **s < threshold).count() as u64;
            GroupRates {
                name: g.name.clone(),
                fmr: Rate::new(fm, g.impostor.len() as u64, confidence),
                fnmr: Rate::new(fnm, g.genuine.len() as u64, confidence),
            }
        })
        .collect()
}

fn ratio(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    if max == 0.0 {
        1.0
    } else if min == 0.0 {
        f64::INFINITY
    } else {
        max / min
    }
}

fn max_difference(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    if values.is_empty() { 0.0 } else { max - min }
}

/// The Gini coefficient with the small-sample correction n/(n-1); 0 for equal values.
pub fn gini(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 || mean == 0.0 {
        return 0.0;
    }
    let sum: f64 = values
        .iter()
        .flat_map(|a| values.iter().map(move |b| (a - b).abs()))
        .sum();
    (n / (n - 1.0)) * sum / (2.0 * n * n * mean)
}

/// The differentials of group rates, weighting false matches by `alpha` (0.5 usually).
pub fn differentials(rates: &[GroupRates], alpha: f64) -> Differentials {
    let fmr: Vec<f64> = rates.iter().map(|r| r.fmr.value).collect();
    let fnmr: Vec<f64> = rates.iter().map(|r| r.fnmr.value).collect();
    let (fmr_ratio, fnmr_ratio) = (ratio(&fmr), ratio(&fnmr));
    Differentials {
        fmr_ratio,
        fnmr_ratio,
        fdr: 1.0 - (alpha * max_difference(&fmr) + (1.0 - alpha) * max_difference(&fnmr)),
        inequity_rate: fmr_ratio.powf(alpha) * fnmr_ratio.powf(1.0 - alpha),
        garbe: alpha * gini(&fmr) + (1.0 - alpha) * gini(&fnmr),
    }
}

/// The exact two-sided Clopper-Pearson interval for `x` successes in `n` trials.
pub fn clopper_pearson(x: u64, n: u64, confidence: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let a = (1.0 - confidence) / 2.0;
    let (x, n) = (x as f64, n as f64);
    let lower = if x == 0.0 {
        0.0
    } else {
        beta_quantile(a, x, n - x + 1.0)
    };
    let upper = if x == n {
        1.0
    } else {
        beta_quantile(1.0 - a, x + 1.0, n - x)
    };
    (lower, upper)
}

/// The `p` quantile of Beta(a, b), by bisection on the regularized incomplete beta function.
fn beta_quantile(p: f64, a: f64, b: f64) -> f64 {
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if incomplete_beta(mid, a, b) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

/// The regularized incomplete beta function I_x(a, b).
fn incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    let front = ln_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(x, a, b) / a
    } else {
        1.0 - front * beta_fraction(1.0 - x, b, a) / b
    }
}

/// The continued fraction of the incomplete beta function (modified Lentz).
fn beta_fraction(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..1000 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// ln Gamma(x) for x > 0 (Lanczos, g = 7, n = 9).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn clopper_pearson_matches_its_closed_forms() {
        // With no errors the upper bound is 1 - (alpha/2)^(1/n); with all errors the lower
        // bound is (alpha/2)^(1/n).
        for n in [1_u64, 10, 100, 1000] {
            let (lo, hi) = clopper_pearson(0, n, 0.95);
            assert_eq!(lo, 0.0);
            assert!(
                close(hi, 1.0 - 0.025_f64.powf(1.0 / n as f64), 1e-9),
                "{n}: {hi}"
            );
            let (lo, hi) = clopper_pearson(n, n, 0.95);
            assert_eq!(hi, 1.0);
            assert!(close(lo, 0.025_f64.powf(1.0 / n as f64), 1e-9), "{n}: {lo}");
        }
        // A published value: 5 of 20 at 95% is [0.0866, 0.4910].
        let (lo, hi) = clopper_pearson(5, 20, 0.95);
        assert!(
            close(lo, 0.086_571, 1e-5) && close(hi, 0.491_046, 1e-5),
            "{lo} {hi}"
        );
        // Symmetry: the interval for x of n mirrors the one for n - x.
        let (a, b) = clopper_pearson(3, 40, 0.9);
        let (c, d) = clopper_pearson(37, 40, 0.9);
        assert!(close(a, 1.0 - d, 1e-9) && close(b, 1.0 - c, 1e-9));
    }

    fn group(
        name: &str,
        impostor_above: usize,
        impostors: usize,
        genuine_below: usize,
        genuines: usize,
    ) -> GroupScores {
        GroupScores {
            name: name.into(),
            impostor: (0..impostors)
                .map(|i| if i < impostor_above { 0.9 } else { 0.1 })
                .collect(),
            genuine: (0..genuines)
                .map(|i| if i < genuine_below { 0.1 } else { 0.9 })
                .collect(),
        }
    }

    #[test]
    fn differentials_have_their_textbook_values() {
        // FMR 1%, 10%, 1%; FNMR 2%, 4%, 8% at threshold 0.5 (an impostor at exactly the
        // threshold counts as a false match: checked below).
        let groups = [
            group("a", 10, 1000, 20, 1000),
            group("b", 100, 1000, 40, 1000),
            group("c", 10, 1000, 80, 1000),
        ];
        let rates = group_rates(&groups, 0.5, 0.95);
        assert_eq!(rates[1].fmr.value, 0.1);
        let d = differentials(&rates, 0.5);
        assert!(close(d.fmr_ratio, 10.0, 1e-12));
        assert!(close(d.fnmr_ratio, 4.0, 1e-12));
        assert!(close(d.fdr, 1.0 - (0.5 * 0.09 + 0.5 * 0.06), 1e-12));
        assert!(close(d.inequity_rate, (10.0_f64 * 4.0).sqrt(), 1e-12));
        // Gini of (0.01, 0.1, 0.01): sum |xi - xj| = 4 x 0.09 = 0.36; mean 0.04;
        // (3/2) x 0.36 / (2 x 9 x 0.04) = 0.75. Of (0.02, 0.04, 0.08): sum = 0.24, mean
        // 0.14/3; (3/2) x 0.24 / (18 x 0.14/3) = 0.428571...
        assert!(close(gini(&[0.01, 0.1, 0.01]), 0.75, 1e-12));
        assert!(close(gini(&[0.02, 0.04, 0.08]), 0.36 / 0.84, 1e-12));
        assert!(close(d.garbe, 0.5 * 0.75 + 0.5 * (0.36 / 0.84), 1e-12));
        // Equal groups are perfectly fair.
        let same = group_rates(
            &[group("x", 5, 100, 5, 100), group("y", 5, 100, 5, 100)],
            0.5,
            0.95,
        );
        let d = differentials(&same, 0.5);
        assert_eq!((d.fdr, d.inequity_rate, d.garbe), (1.0, 1.0, 0.0));
        // At the threshold exactly: accepted, so an impostor there is a false match.
        let at = GroupScores {
            name: "t".into(),
            genuine: vec![0.5],
            impostor: vec![0.5],
        };
        let r = group_rates(&[at], 0.5, 0.95);
        assert_eq!((r[0].fmr.errors, r[0].fnmr.errors), (1, 0));
    }
}

/// A synthetic group for [`synthetic_scores`]: impostor scores are drawn from
/// N(`impostor_mean`, `sd`) and genuine scores from N(`genuine_mean`, `sd`), so the group's
/// FMR and FNMR at any threshold are known exactly (see [`SyntheticGroup::fmr_at`]).
/// Synthetic data: for testing the measures, never for statements about a real matcher.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticGroup {
    /// The group's name.
    pub name: String,
    /// Mean impostor score.
    pub impostor_mean: f64,
    /// Mean genuine score.
    pub genuine_mean: f64,
    /// Standard deviation of both.
    pub sd: f64,
    /// Impostor comparisons to draw.
    pub impostors: usize,
    /// Genuine comparisons to draw.
    pub genuines: usize,
}

impl SyntheticGroup {
    /// The exact false-match rate at `t`: P(impostor >= t).
    pub fn fmr_at(&self, t: f64) -> f64 {
        1.0 - normal_cdf((t - self.impostor_mean) / self.sd)
    }

    /// The exact false-non-match rate at `t`: P(genuine < t).
    pub fn fnmr_at(&self, t: f64) -> f64 {
        normal_cdf((t - self.genuine_mean) / self.sd)
    }
}

/// Draws seeded synthetic scores for each group.
pub fn synthetic_scores(groups: &[SyntheticGroup], seed: u64) -> Vec<GroupScores> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut uniform = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let mut normal = move || {
        let (u, v) = (uniform(), uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    };
    groups
        .iter()
        .map(|g| GroupScores {
            name: g.name.clone(),
            impostor: (0..g.impostors)
                .map(|_| g.impostor_mean + g.sd * normal())
                .collect(),
            genuine: (0..g.genuines)
                .map(|_| g.genuine_mean + g.sd * normal())
                .collect(),
        })
        .collect()
}

/// The standard normal CDF (via erfc; absolute error below 1.2e-7).
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// The complementary error function (Numerical Recipes' Chebyshev fit).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod synthetic_tests {
    use super::*;

    fn exact(groups: &[SyntheticGroup], t: f64, alpha: f64) -> Differentials {
        let rates: Vec<GroupRates> = groups
            .iter()
            .map(|g| GroupRates {
                name: g.name.clone(),
                fmr: Rate {
                    errors: 0,
                    trials: 0,
                    value: g.fmr_at(t),
                    lower: 0.0,
                    upper: 1.0,
                },
                fnmr: Rate {
                    errors: 0,
                    trials: 0,
                    value: g.fnmr_at(t),
                    lower: 0.0,
                    upper: 1.0,
                },
            })
            .collect();
        differentials(&rates, alpha)
    }

    #[test]
    fn estimates_converge_to_the_exact_differentials_of_injected_gaps() {
        // A reference group and, at the fixed threshold 0.5, one group with 10x (then 100x)
        // its false-match rate (impostors shifted up) and one with 3x its false-non-match
        // rate (genuine scores shifted down). The shifts come from the normal quantiles:
        // P(Z >= 3) = 0.00135; 10x is P(Z >= 2.21), 100x P(Z >= 1.105); 3x FNMR is
        // P(Z < -2.65).
        let g = |name: &str, imp: f64, gen_: f64| SyntheticGroup {
            name: name.into(),
            impostor_mean: imp,
            genuine_mean: gen_,
            sd: 0.1,
            impostors: 400_000,
            genuines: 400_000,
        };
        let t = 0.5;
        for (factor, impostor_mean, seed) in [(10.0, 0.279, 7), (100.0, 0.3895, 8)] {
            let groups = [
                g("ref", 0.2, 0.8),
                g("fmr", impostor_mean, 0.8),
                g("fnmr", 0.2, 0.765),
            ];
            let want = exact(&groups, t, 0.5);
            assert!(
                (want.fmr_ratio / factor - 1.0).abs() < 0.03,
                "{factor}x: {want:?}"
            );
            assert!((want.fnmr_ratio / 3.0 - 1.0).abs() < 0.03, "{want:?}");
            let got = differentials(&group_rates(&synthetic_scores(&groups, seed), t, 0.95), 0.5);
            assert!(
                (got.fmr_ratio / want.fmr_ratio - 1.0).abs() < 0.15,
                "{factor}x: {got:?} vs {want:?}"
            );
            assert!(
                (got.fdr - want.fdr).abs() < 2e-3,
                "{factor}x: {got:?} vs {want:?}"
            );
            assert!(
                (got.garbe - want.garbe).abs() < 0.02,
                "{factor}x: {got:?} vs {want:?}"
            );
            assert!(
                (got.inequity_rate / want.inequity_rate - 1.0).abs() < 0.1,
                "{factor}x: {got:?} vs {want:?}"
            );
            // Each estimated rate's interval holds the exact rate.
            for (r, g) in group_rates(&synthetic_scores(&groups, seed + 100), t, 0.999)
                .iter()
                .zip(&groups)
            {
                assert!(
                    r.fmr.lower <= g.fmr_at(t) && g.fmr_at(t) <= r.fmr.upper,
                    "{r:?}"
                );
                assert!(
                    r.fnmr.lower <= g.fnmr_at(t) && g.fnmr_at(t) <= r.fnmr.upper,
                    "{r:?}"
                );
            }
        }
    }

    #[test]
    fn the_normal_cdf_is_accurate() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959_963_985) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(-3.0) - 0.001_349_898).abs() < 1e-7);
    }
}
