//! `bioguard study --keys N`: how much a purpose's accuracy depends on the key it happened to
//! draw, at each code size, with and without centring the embeddings on the population mean
//! before the sign projection (issue 20).
//!
//! Centring is cross-fitted, as a deployment would see it: the subjects are split into two
//! folds, each fold's embeddings are centred on the mean of the *other* fold's, and only
//! comparisons inside a fold are scored (pooled over both folds). Every form is scored on the
//! same comparisons, so the rows compare like with like.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use bioguard_core::{CodeBits, Matcher, Transform};
use bioguard_engine::eval::Scores;
use bioguard_engine::{ProtectedCode, Protector, cosine_similarity};

use crate::evaluate::{Dataset, Protocol, code_scores, load, pairs};

/// Sample statistics of one metric over keys.
struct Spread {
    mean: f64,
    median: f64,
    worst: f64,
}

fn spread(mut v: Vec<f64>) -> Spread {
    v.sort_by(f64::total_cmp);
    Spread {
        mean: v.iter().sum::<f64>() / v.len() as f64,
        median: if v.len() % 2 == 1 {
            v[v.len() / 2]
        } else {
            (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
        },
        worst: v[v.len() - 1],
    }
}

/// The three figures of one set of scores: FNMR at FMR 1e-2 and 1e-3, and the EER.
fn figures(s: &Scores) -> anyhow::Result<[f64; 3]> {
    Ok([
        s.threshold_for_fmr(1e-2).context("no impostors")?.fnmr,
        s.threshold_for_fmr(1e-3).context("no impostors")?.fnmr,
        s.eer().context("no scores")?.value,
    ])
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// Each item's embedding centred on the mean of the other fold's items.
pub(crate) fn centred(data: &Dataset, fold: &[usize]) -> Vec<Vec<f32>> {
    let d = data.dimension;
    let mut sums = [vec![0f64; d], vec![0f64; d]];
    let mut counts = [0usize; 2];
    for (item, f) in data.items.iter().zip(fold) {
        for (s, v) in sums[*f].iter_mut().zip(&item.embedding) {
            *s += f64::from(*v);
        }
        counts[*f] += 1;
    }
    data.items
        .iter()
        .zip(fold)
        .map(|(item, f)| {
            let other = 1 - *f;
            item.embedding
                .iter()
                .zip(&sums[other])
                .map(|(v, s)| (f64::from(*v) - s / counts[other].max(1) as f64) as f32)
                .collect()
        })
        .collect()
}

/// The codes of already centred (or plain) values under `key` with `transform`.
pub(crate) fn protect(
    values: &[Vec<f32>],
    key: &[u8; 32],
    bits: CodeBits,
    dim: usize,
    transform: Transform,
) -> anyhow::Result<Vec<ProtectedCode>> {
    let matcher = Matcher {
        transform,
        centre: None,
    };
    let p = Protector::new(key, bits, dim, &matcher).context("dimension")?;
    values
        .iter()
        .map(|v| p.protect_values(v).context("dimension"))
        .collect()
}

/// Two folds of subjects, alternating in sorted label order: each item's fold, and the number
/// of subjects.
pub(crate) fn folds(data: &Dataset) -> (Vec<usize>, usize) {
    let mut labels: Vec<&str> = data.items.iter().map(|i| i.label.as_str()).collect();
    labels.sort_unstable();
    labels.dedup();
    let fold_of: BTreeMap<&str, usize> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (*l, i % 2))
        .collect();
    let fold = data
        .items
        .iter()
        .map(|i| fold_of[i.label.as_str()])
        .collect();
    (fold, labels.len())
}

/// Runs the study with `keys` keys and prints its table.
pub fn run(embeddings: &Path, sample_prefix: Option<&str>, keys: usize) -> anyhow::Result<()> {
    if keys < 2 {
        bail!("--keys must be at least 2 (the point is the spread between keys)");
    }
    let data = load(embeddings, sample_prefix)?;
    let (fold, subjects) = folds(&data);
    let (genuine, impostor) = pairs(&data, Protocol::AllPairs);
    let inside = |p: &[(usize, usize)]| -> Vec<(usize, usize)> {
        p.iter()
            .copied()
            .filter(|(a, b)| fold[*a] == fold[*b])
            .collect()
    };
    let (genuine, impostor) = (inside(&genuine), inside(&impostor));
    println!(
        "{} embeddings of {} subjects from {} (sha256 {}…); two folds of subjects, all pairs \
         inside a fold: {} genuine, {} impostor comparisons; {keys} keys per row",
        data.items.len(),
        subjects,
        data.path.display(),
        &data.sha256[..12],
        genuine.len(),
        impostor.len()
    );
    if impostor.len() < 10_000 {
        println!("note: fewer than 10,000 impostor comparisons: FNMR at FMR 1e-3 is coarse");
    }
    let centred_values = centred(&data, &fold);
    let plain_values: Vec<Vec<f32>> = data.items.iter().map(|i| i.embedding.clone()).collect();
    let cosine = |values: &[Vec<f32>]| {
        let score = |(a, b): &(usize, usize)| cosine_similarity(&values[*a], &values[*b]);
        Scores::new(
            genuine.iter().map(score).collect(),
            impostor.iter().map(score).collect(),
        )
    };
    println!(
        "\n{:<30} {:>6} {:>22} {:>22} {:>22}",
        "form",
        "bytes",
        "FNMR@1e-2 mean/med/worst",
        "FNMR@1e-3 mean/med/worst",
        "EER mean/med/worst"
    );
    for (name, values) in [
        ("raw cosine", &plain_values),
        ("centred cosine", &centred_values),
    ] {
        let [a, b, e] = figures(&cosine(values))?;
        println!(
            "{name:<30} {:>6} {:>22} {:>22} {:>22}",
            data.dimension * 4,
            pct(a),
            pct(b),
            pct(e)
        );
    }
    let keyset: Vec<[u8; 32]> = (0..keys)
        .map(|_| bioguard_crypto::random_array::<32>())
        .collect::<Result<_, _>>()?;
    for bits in [512u64, 1024, 2048] {
        let b = CodeBits::new(bits).context("bits")?;
        for (name, values, transform) in [
            ("sign", &plain_values, Transform::GaussianSign),
            ("centred sign", &centred_values, Transform::GaussianSign),
            ("hadamard", &plain_values, Transform::HadamardSign),
            ("centred hadamard", &centred_values, Transform::HadamardSign),
        ] {
            let mut per_key = [Vec::new(), Vec::new(), Vec::new()];
            for key in &keyset {
                let codes = protect(values, key, b, data.dimension, transform)?;
                let f = figures(&code_scores(&codes, b, &genuine, &impostor))?;
                for (slot, v) in per_key.iter_mut().zip(f) {
                    slot.push(v);
                }
            }
            let cell = |v: &Vec<f64>| {
                let s = spread(v.clone());
                format!("{}/{}/{}", pct(s.mean), pct(s.median), pct(s.worst))
            };
            println!(
                "{:<30} {:>6} {:>22} {:>22} {:>22}",
                format!("{name} {bits} bits"),
                bits / 8,
                cell(&per_key[0]),
                cell(&per_key[1]),
                cell(&per_key[2])
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spread_of_a_metric_names_its_worst_key() {
        let s = spread(vec![0.3, 0.1, 0.2, 0.4]);
        assert!((s.mean - 0.25).abs() < 1e-12);
        assert!((s.median - 0.25).abs() < 1e-12);
        assert!((s.worst - 0.4).abs() < 1e-12);
        assert!((spread(vec![0.5, 0.1, 0.2]).median - 0.2).abs() < 1e-12);
    }
}
