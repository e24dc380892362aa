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
        genuine.sort_by(f64::total_cmp);
        impostor.sort_by(f64::total_cmp);
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

    /// The lowest threshold whose FMR is at most `target`: just above the impostor score that
    /// would push the FMR over the target. `None` without impostor scores.
    pub fn threshold_for_fmr(&self, target: f64) -> Option<Rates> {
        let n = self.impostor.len();
        if n == 0 {
            return None;
        }
        let allowed = (target.max(0.0) * n as f64).floor() as usize;
        if allowed >= n {
            let lowest =
                self.impostor[0].min(self.genuine.first().copied().unwrap_or(f64::INFINITY));
            return Some(self.rates_at(lowest));
        }
        // Impostors ascending: the (allowed + 1)-th highest must fall below the threshold.
        let pivot = self.impostor[n - 1 - allowed];
        let t = next_up(pivot);
        Some(self.rates_at(t))
    }

    /// The equal error rate: the threshold where FMR and FNMR cross, and their mean there.
    pub fn eer(&self) -> Option<Rates> {
        if self.genuine.is_empty() || self.impostor.is_empty() {
            return None;
        }
        let mut candidates: Vec<f64> = self.genuine.iter().chain(&self.impostor).copied().collect();
        candidates.sort_by(f64::total_cmp);
        candidates.dedup();
        // FMR falls and FNMR rises with the threshold: find the first threshold where
        // FNMR >= FMR by bisection over the sorted candidates.
        let (mut lo, mut hi) = (0usize, candidates.len() - 1);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let r = self.rates_at(candidates[mid]);
            if r.fnmr >= r.fmr {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        let at = self.rates_at(candidates[lo]);
        let before = (lo > 0).then(|| self.rates_at(candidates[lo - 1]));
        let pick = match before {
            Some(b) if (b.fmr - b.fnmr).abs() < (at.fnmr - at.fmr).abs() => b,
            _ => at,
        };
        let eer = (pick.fmr + pick.fnmr) / 2.0;
        Some(Rates {
            threshold: pick.threshold,
            fmr: eer,
            fnmr: eer,
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_threshold() {
        let s = Scores::new(
            vec![0.9, 0.8, 0.7, 0.6],
            (1..=100).map(|i| f64::from(i) / 200.0).collect(),
        );
        // Impostors 0.005..0.5; FMR 1e-2 allows one impostor at or above the threshold.
        let r = s.threshold_for_fmr(0.01).expect("impostors");
        assert!(r.threshold > 0.495 && r.threshold <= 0.5, "{r:?}");
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
        assert!((e.fmr - 1.0 / 6.0).abs() < 0.01, "{e:?}");
        assert!((e.threshold - 0.5).abs() < 0.01, "{e:?}");
    }

    #[test]
    fn separable_sets_have_zero_eer() {
        let e = Scores::new(vec![0.9, 0.95], vec![0.1, 0.2])
            .eer()
            .expect("both");
        assert_eq!(e.fmr, 0.0);
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
