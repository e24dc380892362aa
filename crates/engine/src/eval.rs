//! Error rates from comparison scores: FMR, FNMR, EER and the threshold for a target FMR.
//!
//! Scores are similarities: higher means more alike, and a comparison matches when its score
//! is at least the threshold. Used by `bioguard calibrate` and the protection study.

/// Genuine (mated) and impostor (non-mated) comparison scores.
#[derive(Debug, Clone, Default)]
pub struct Scores {
    genuine: Vec<f64>,
    impostor: Vec<f64>,
}

/// Error rates at one threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// The threshold.
    pub threshold: f64,
    /// False match rate: impostor scores at or above the threshold.
    pub fmr: f64,
    /// False non-match rate: genuine scores below the threshold.
    pub fnmr: f64,
}

impl Scores {
    /// Scores from two lists (NaNs are dropped).
    pub fn new(mut genuine: Vec<f64>, mut impostor: Vec<f64>) -> Self {
        genuine.retain(|s| !s.is_nan());
        impostor.retain(|s| !s.is_nan());
        genuine.sort_unstable_by(f64::total_cmp);
        impostor.sort_unstable_by(f64::total_cmp);
        Self { genuine, impostor }
    }

    /// The number of genuine comparisons.
    pub fn genuine_count(&self) -> usize {
        self.genuine.len()
    }

    /// The number of impostor comparisons.
    pub fn impostor_count(&self) -> usize {
        self.impostor.len()
    }

    /// The genuine scores, ascending.
    pub fn genuine(&self) -> &[f64] {
        &self.genuine
    }

    /// The impostor scores, ascending.
    pub fn impostor(&self) -> &[f64] {
        &self.impostor
    }

    /// Rates at `threshold`.
    pub fn rates_at(&self, threshold: f64) -> Rates {
        let below = |v: &[f64]| v.partition_point(|s| *s < threshold);
        let fmr = if self.impostor.is_empty() {
            0.0
        } else {
            (self.impostor.len() - below(&self.impostor)) as f64 / self.impostor.len() as f64
        };
        let fnmr = if self.genuine.is_empty() {
            0.0
        } else {
            below(&self.genuine) as f64 / self.genuine.len() as f64
        };
        Rates {
            threshold,
            fmr,
            fnmr,
        }
    }

    /// The threshold for a false-match rate of at most `target`, as bob.measure's
    /// `far_threshold`: the lowest impostor score `s` such that the share of impostor scores
    /// at or above `s` is at most `target` (so the threshold is itself an impostor score, and
    /// that impostor counts as a false match). When even the highest impostor score would
    /// exceed the target, the next number above it (FMR 0). `None` without impostor scores.
    pub fn threshold_for_fmr(&self, target: f64) -> Option<Rates> {
        let neg = &self.impostor;
        let n = neg.len();
        if n == 0 {
            return None;
        }
        if target >= 1.0 - f64::EPSILON {
            return Some(self.rates_at(next_down(neg[0])));
        }
        // Walk down from the highest impostor score, one distinct value at a time.
        let mut valid = next_up(neg[n - 1]);
        let mut end = n; // scores at index >= end are at or above the candidate
        while end > 0 {
            let value = neg[end - 1];
            let start = neg[..end].partition_point(|s| *s < value);
            let at_or_above = n - start;
            if at_or_above as f64 / n as f64 > target {
                break;
            }
            valid = value;
            end = start;
        }
        Some(self.rates_at(valid))
    }

    /// The threshold for a false-non-match rate of at most `target`, as bob.measure's
    /// `frr_threshold` (including its handling of tied genuine scores, which counts the tied
    /// values before the last of them). `None` without genuine scores.
    pub fn threshold_for_fnmr(&self, target: f64) -> Option<Rates> {
        let pos = &self.genuine;
        let n = pos.len();
        if n == 0 {
            return None;
        }
        if target >= 1.0 - f64::EPSILON {
            return Some(self.rates_at(next_up(pos[n - 1])));
        }
        let mut valid = next_up(pos[0]);
        let mut i = 0;
        while i < n {
            let value = pos[i];
            // Index of the last score equal to this one.
            i = pos.partition_point(|s| *s <= value) - 1;
            if i as f64 / n as f64 > target {
                break;
            }
            valid = value;
            i += 1;
        }
        Some(self.rates_at(valid))
    }

    /// The equal error rate as bob.measure's `eer`: the threshold minimising |FMR - FNMR|
    /// over the lowest score and the midpoints between successive distinct scores, and the
    /// mean of FMR and FNMR there. `None` unless there are scores of both kinds.
    pub fn eer(&self) -> Option<Eer> {
        let threshold = self.eer_threshold()?;
        let r = self.rates_at(threshold);
        Some(Eer {
            threshold,
            value: (r.fmr + r.fnmr) / 2.0,
            fmr: r.fmr,
            fnmr: r.fnmr,
        })
    }

    /// The threshold of [`Scores::eer`]. The running rates are accumulated step by step as
    /// bob.measure does, so that ties between candidate thresholds resolve the same way.
    fn eer_threshold(&self) -> Option<f64> {
        let (neg, pos) = (&self.impostor, &self.genuine);
        let (nn, np) = (neg.len(), pos.len());
        if nn == 0 || np == 0 {
            return None;
        }
        let (fmr_step, fnmr_step) = (1.0 / nn as f64, 1.0 / np as f64);
        let (mut fmr, mut fnmr) = (1.0_f64, 0.0_f64);
        let (mut i, mut j) = (0usize, 0usize);
        let mut best = (f64::INFINITY, f64::NAN);
        let mut t = neg[0].min(pos[0]);
        while i < nn && j < np {
            let d = (fmr - fnmr).abs();
            if d <= best.0 {
                best = (d, t);
            }
            if pos[j] >= neg[i] {
                t = neg[i];
                i += 1;
                fmr -= fmr_step;
            } else {
                t = pos[j];
                j += 1;
                fnmr += fnmr_step;
            }
            while i < nn && neg[i] == t {
                i += 1;
                fmr -= fmr_step;
            }
            while j < np && pos[j] == t {
                j += 1;
                fnmr += fnmr_step;
            }
            if i < nn || j < np {
                let next = match (neg.get(i), pos.get(j)) {
                    (Some(a), Some(b)) => a.min(*b),
                    (Some(a), None) => *a,
                    (None, Some(b)) => *b,
                    (None, None) => unreachable!("one list has scores left"),
                };
                t = (t + next) / 2.0;
            }
        }
        let d = (fmr - fnmr).abs();
        if d < best.0 {
            best = (d, t);
        }
        // Above every score: FMR 0, FNMR 1.
        if (i < nn || j < np) && 1.0 < best.0 {
            best = (1.0, next_up(if i < nn { neg[nn - 1] } else { pos[np - 1] }));
        }
        Some(best.1)
    }

    /// Points of the DET curve as bob.measure's `roc`/`det` with `n_points` and the smallest
    /// rate 10^`min_power`: thresholds for log-spaced FNMR and FMR targets, ascending, and
    /// the (FMR, FNMR) pair at each. Empty unless there are two scores of each kind.
    pub fn det_points(&self, n_points: usize, min_power: i32) -> Vec<Rates> {
        if self.genuine.len() < 2 || self.impostor.len() < 2 || n_points < 2 {
            return Vec::new();
        }
        let half = n_points / 2;
        let mut thresholds: Vec<f64> = log_values(half, min_power)
            .into_iter()
            .filter_map(|v| self.threshold_for_fnmr(v).map(|r| r.threshold))
            .chain(
                log_values(n_points - half, min_power)
                    .into_iter()
                    .filter_map(|v| self.threshold_for_fmr(v).map(|r| r.threshold)),
            )
            .collect();
        thresholds.sort_by(f64::total_cmp);
        thresholds.into_iter().map(|t| self.rates_at(t)).collect()
    }
}

/// The equal error rate and where it was found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Eer {
    /// The threshold.
    pub threshold: f64,
    /// (FMR + FNMR) / 2 at the threshold.
    pub value: f64,
    /// The false-match rate there.
    pub fmr: f64,
    /// The false-non-match rate there.
    pub fnmr: f64,
}

/// `points` values from 10^min_power up to 1, evenly spaced in the exponent as bob.measure
/// spaces them: 10^(k / floor(points / -min_power)) for k = 1 - points ..= 0.
fn log_values(points: usize, min_power: i32) -> Vec<f64> {
    let per_decade = (points as i64 / i64::from(-min_power).max(1)).max(1) as f64;
    (1 - points as i64..=0)
        .map(|k| 10f64.powf(k as f64 / per_decade))
        .collect()
}

/// The standard normal deviate of a probability, as used for DET axes: the rational
/// approximation of NIST's DETware `ppndf` (as in bob.measure), with 0 and 1 clamped to
/// machine epsilon.
pub fn ppndf(p: f64) -> f64 {
    let p = if p >= 1.0 {
        1.0 - f64::EPSILON
    } else if p <= 0.0 {
        f64::EPSILON
    } else {
        p
    };
    let q = p - 0.5;
    if q.abs() <= 0.42 {
        let r = q * q;
        return q
            * (((-25.441_060_496_3 * r + 41.391_197_735_3) * r - 18.615_000_625_2) * r
                + 2.506_628_238_8)
            / ((((3.130_829_098_3 * r - 21.062_241_018_2) * r + 23.083_367_437_4) * r
                - 8.473_510_930_9)
                * r
                + 1.0);
    }
    let tail = if q > 0.0 { 1.0 - p } else { p };
    let r = (-tail.ln()).sqrt();
    let v = (((2.321_212_768_5 * r + 4.850_141_271_3) * r - 2.297_964_791_3) * r - 2.787_189_311_3)
        / ((1.637_067_818_9 * r + 3.543_889_247_6) * r + 1.0);
    if q < 0.0 { -v } else { v }
}

/// The smallest f64 greater than `x` (for finite `x`).
fn next_up(x: f64) -> f64 {
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x == 0.0 {
        return f64::from_bits(1);
    }
    let bits = x.to_bits();
    f64::from_bits(if x > 0.0 { bits + 1 } else { bits - 1 })
}

/// The largest f64 smaller than `x` (for finite `x`).
fn next_down(x: f64) -> f64 {
    -next_up(-x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_threshold() {
        let s = Scores::new(
            vec![0.9, 0.8, 0.7, 0.6],
            (1..=100).map(|i| f64::from(i) / 200.0).collect(),
        );
        // Impostors 0.005..0.5; FMR 1e-2 allows one impostor at or above the threshold,
        // and the threshold is that impostor's score (it counts as a false match).
        let r = s.threshold_for_fmr(0.01).expect("impostors");
        assert_eq!(r.threshold, 0.5, "{r:?}");
        assert_eq!(r.fmr, 0.01);
        assert_eq!(r.fnmr, 0.0);
        let r = s.threshold_for_fmr(0.0).expect("impostors");
        assert_eq!(r.fmr, 0.0);
        assert!(r.threshold > 0.5);
        let at = s.rates_at(0.75);
        assert_eq!((at.fmr, at.fnmr), (0.0, 0.5));
    }

    #[test]
    fn eer_of_overlapping_sets() {
        // Genuine 0.4..1.0, impostor 0.0..0.6: symmetric overlap, EER near 1/6.
        let g: Vec<f64> = (0..600).map(|i| 0.4 + f64::from(i) / 1000.0).collect();
        let i: Vec<f64> = (0..600).map(|i| f64::from(i) / 1000.0).collect();
        let e = Scores::new(g, i).eer().expect("both");
        assert!((e.value - 1.0 / 6.0).abs() < 0.01, "{e:?}");
        assert!((e.threshold - 0.5).abs() < 0.01, "{e:?}");
    }

    #[test]
    fn separable_sets_have_zero_eer() {
        let e = Scores::new(vec![0.9, 0.95], vec![0.1, 0.2])
            .eer()
            .expect("both");
        assert_eq!(e.value, 0.0);
    }
}

/// The Gomez-Barrero et al. (2018) global unlinkability measure D<->sys, from scores of
/// mated pairs (templates of one subject under two keys) and non-mated pairs.
///
/// The score densities are estimated with Gaussian kernels on a grid, one bandwidth for both
/// (Silverman's rule on the pooled scores and the smaller sample size);
/// D<->(s) = (LR(s) - 1) / (LR(s) + 1) where the likelihood ratio LR(s) > 1 and 0 elsewhere
/// (equal priors); D<->sys is its mean over the mated score density. 0 means the scores carry
/// no evidence of a link; 1 means every mated pair is recognisable as such.
pub fn unlinkability(mated: &[f64], non_mated: &[f64]) -> Option<f64> {
    if mated.len() < 2 || non_mated.len() < 2 {
        return None;
    }
    let lo = mated
        .iter()
        .chain(non_mated)
        .copied()
        .fold(f64::INFINITY, f64::min);
    let hi = mated
        .iter()
        .chain(non_mated)
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let span = (hi - lo).max(1e-9);
    let (lo, hi) = (lo - 0.1 * span, hi + 0.1 * span);
    const GRID: usize = 512;
    let step = (hi - lo) / (GRID - 1) as f64;
    // One bandwidth for both densities (Silverman's rule on the pooled scores): with a
    // bandwidth per set, the smaller set would be smoothed more, and the difference in the
    // tails alone would read as evidence of linkage.
    let pooled: Vec<f64> = mated.iter().chain(non_mated).copied().collect();
    let n = pooled.len() as f64;
    let mean = pooled.iter().sum::<f64>() / n;
    let sd = (pooled.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let h = (1.06 * sd * (mated.len().min(non_mated.len()) as f64).powf(-0.2)).max(span * 1e-3);
    // Binned estimate: count the scores per grid cell, then spread each cell with the kernel.
    // Exact enough at 512 cells, and independent of how many millions of scores there are.
    let kernel: Vec<f64> = (0..GRID)
        .map(|d| (-0.5 * (d as f64 * step / h).powi(2)).exp())
        .collect();
    let density = |xs: &[f64]| -> Vec<f64> {
        let mut counts = vec![0f64; GRID];
        for x in xs {
            let cell = (((x - lo) / step).round() as usize).min(GRID - 1);
            counts[cell] += 1.0;
        }
        let mut d: Vec<f64> = (0..GRID)
            .map(|g| {
                counts
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c > 0.0)
                    .map(|(b, c)| c * kernel[g.abs_diff(b)])
                    .sum::<f64>()
            })
            .collect();
        let total: f64 = d.iter().sum::<f64>() * step;
        for v in &mut d {
            *v /= total;
        }
        d
    };
    let pm = density(mated);
    let pn = density(non_mated);
    let mut sys = 0.0;
    for (m, n) in pm.iter().zip(&pn) {
        if *m <= 0.0 {
            continue;
        }
        let local = if *n <= 0.0 {
            1.0
        } else {
            let lr = m / n;
            if lr > 1.0 {
                (lr - 1.0) / (lr + 1.0)
            } else {
                0.0
            }
        };
        sys += m * local * step;
    }
    Some(sys)
}

#[cfg(test)]
mod unlinkability_tests {
    use super::unlinkability;

    fn spread(center: f64, n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| center + (i as f64 / n as f64 - 0.5) * 0.2)
            .collect()
    }

    #[test]
    fn identical_distributions_are_unlinkable() {
        let d = unlinkability(&spread(0.5, 2000), &spread(0.5, 4000)).expect("enough");
        assert!(d < 0.02, "{d}");
    }

    #[test]
    fn separated_distributions_are_fully_linkable() {
        let d = unlinkability(&spread(0.9, 2000), &spread(0.1, 4000)).expect("enough");
        assert!(d > 0.95, "{d}");
    }
}
