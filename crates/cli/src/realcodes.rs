//! `bench make-codes --distribution voice`: a gallery whose codes look like production's.
//!
//! Uniformly random codes flatter any filter that skips codes far from the probe: protected
//! codes of real embeddings are not uniform (issue 20). Here the gallery's embeddings are drawn
//! from a Gaussian with the mean and covariance of the real voice embeddings (`--voices`, the
//! dev file of ../shared/data) and normalised; the probes are the real five-clip phrases of that
//! file. Both are protected as a purpose protects them: the default transform under one key,
//! centred on the voices' mean (`--matcher centred`, what a calibrated purpose does) or not
//! (`--matcher plain`). Each probe gets one genuine mate planted in the gallery: another phrase
//! of the same speaker, so every search has a true match to find.
//!
//! Optionally the raw float embeddings of gallery and probes are written too (`--floats`), for
//! the baseline of a deployment without template protection (FAISS `IndexFlatIP`).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use bioguard_core::{Centre, Dimension, Matcher, Transform};
use bioguard_engine::{CodeBits, Protector};

use crate::evaluate::load;

/// SplitMix64 and Box-Muller, for reproducible normals.
struct Normals {
    state: u64,
    spare: Option<f64>,
}

impl Normals {
    fn new(seed: u64) -> Self {
        Self {
            state: seed,
            spare: None,
        }
    }

    fn uniform(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn next(&mut self) -> f64 {
        if let Some(s) = self.spare.take() {
            return s;
        }
        let u1 = self.uniform().max(f64::MIN_POSITIVE);
        let u2 = self.uniform();
        let r = (-2.0 * u1.ln()).sqrt();
        let t = std::f64::consts::TAU * u2;
        self.spare = Some(r * t.sin());
        r * t.cos()
    }
}

/// The lower-triangular Cholesky factor of a symmetric positive-definite matrix (row-major,
/// `d` x `d`), with `ridge` added to the diagonal. `None` if it is not positive definite.
fn cholesky(a: &[f64], d: usize, ridge: f64) -> Option<Vec<f64>> {
    let mut l = vec![0f64; d * d];
    for i in 0..d {
        for j in 0..=i {
            let mut s = a[i * d + j] + if i == j { ridge } else { 0.0 };
            for k in 0..j {
                s -= l[i * d + k] * l[j * d + k];
            }
            if i == j {
                if s <= 0.0 {
                    return None;
                }
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    Some(l)
}

/// What `make_voice_codes` writes.
pub struct VoiceCodes<'a> {
    pub voices: &'a Path,
    pub n: usize,
    pub bits: u64,
    pub queries: usize,
    pub centred: bool,
    pub codes: &'a Path,
    pub probes: &'a Path,
    pub floats: Option<&'a PathBuf>,
    pub seed: u64,
}

fn normalised(mut v: Vec<f32>) -> Vec<f32> {
    let n = v
        .iter()
        .map(|a| f64::from(*a).powi(2))
        .sum::<f64>()
        .sqrt()
        .max(f64::MIN_POSITIVE);
    for a in &mut v {
        *a = (f64::from(*a) / n) as f32;
    }
    v
}

/// Writes the gallery and probes (raw little-endian words), and the floats if asked.
pub fn make_voice_codes(o: VoiceCodes<'_>) -> anyhow::Result<serde_json::Value> {
    let bits =
        CodeBits::new(o.bits).context("--bits must be a multiple of 256 from 512 to 4096")?;
    let all = load(o.voices, None)?;
    let d = all.dimension;
    let phrase_set = load(o.voices, Some("phrase/"))?;
    let phrases: Vec<&crate::evaluate::Labelled> = phrase_set.items.iter().collect();
    // Probes: phrases of speakers with at least two, each with a mate of the same speaker;
    // every phrase is used once (as a probe or as a mate), so no planted code repeats.
    let mut pairs = Vec::new();
    let mut taken = vec![false; phrases.len()];
    for i in 0..phrases.len() {
        if taken[i] {
            continue;
        }
        if let Some(j) =
            (i + 1..phrases.len()).find(|&j| !taken[j] && phrases[j].label == phrases[i].label)
        {
            taken[i] = true;
            taken[j] = true;
            pairs.push((i, j));
        }
    }
    if pairs.len() < o.queries {
        bail!(
            "{} has {} phrases with a mate; --queries must not exceed that",
            o.voices.display(),
            pairs.len()
        );
    }
    if o.n < 4 * o.queries {
        bail!("--n must be at least four times --queries");
    }
    // The mean and covariance of every embedding of the file.
    let m = all.items.len() as f64;
    let mut mean = vec![0f64; d];
    for item in &all.items {
        for (s, v) in mean.iter_mut().zip(&item.embedding) {
            *s += f64::from(*v) / m;
        }
    }
    let mut cov = vec![0f64; d * d];
    for item in &all.items {
        let c: Vec<f64> = item
            .embedding
            .iter()
            .zip(&mean)
            .map(|(v, mu)| f64::from(*v) - mu)
            .collect();
        for i in 0..d {
            for j in 0..=i {
                cov[i * d + j] += c[i] * c[j] / (m - 1.0);
            }
        }
    }
    for i in 0..d {
        for j in 0..i {
            cov[j * d + i] = cov[i * d + j];
        }
    }
    let l = cholesky(&cov, d, 1e-9).context("the voices' covariance is not positive definite")?;
    let centre = Centre::new(
        mean.iter().map(|v| *v as f32).collect(),
        all.subjects() as u64,
        Dimension::new(d as u64)?,
    )?;
    let matcher = Matcher {
        transform: Transform::DEFAULT,
        centre: o.centred.then_some(centre),
    };
    let key = crate::evaluate::random_key()?;
    let protector = Protector::new(&key, bits, d, &matcher).context("dimension")?;
    let mut rng = Normals::new(o.seed);
    let w = bits.words();
    let mut words = vec![0u64; o.n * w];
    let mut floats: Vec<f32> = if o.floats.is_some() {
        Vec::with_capacity(o.n * d)
    } else {
        Vec::new()
    };
    let mut z = vec![0f64; d];
    let step = (o.n / 10).max(1);
    for (k, slot) in words.chunks_exact_mut(w).enumerate() {
        for v in &mut z {
            *v = rng.next();
        }
        let x: Vec<f32> = (0..d)
            .map(|i| {
                let row = &l[i * d..i * d + i + 1];
                (mean[i] + row.iter().zip(&z).map(|(a, b)| a * b).sum::<f64>()) as f32
            })
            .collect();
        let x = normalised(x);
        slot.copy_from_slice(protector.protect_values(&x).context("dimension")?.words());
        if o.floats.is_some() {
            floats.extend_from_slice(&x);
        }
        if (k + 1) % step == 0 {
            eprintln!("  {} of {} codes", k + 1, o.n);
        }
    }
    // Probes, and each one's mate at a distinct random slot.
    let mut probe_words = Vec::with_capacity(o.queries * w);
    let mut probe_floats = Vec::with_capacity(o.queries * d);
    let mut used = std::collections::BTreeSet::new();
    let mut mates = Vec::with_capacity(o.queries);
    for &(p, mate) in pairs.iter().take(o.queries) {
        let x = normalised(phrases[p].embedding.clone());
        probe_words.extend_from_slice(protector.protect_values(&x).context("dimension")?.words());
        probe_floats.extend_from_slice(&x);
        let y = normalised(phrases[mate].embedding.clone());
        let mut slot = (rng.uniform() * o.n as f64) as usize % o.n;
        while !used.insert(slot) {
            slot = (slot + 1) % o.n;
        }
        mates.push(slot);
        words[slot * w..(slot + 1) * w]
            .copy_from_slice(protector.protect_values(&y).context("dimension")?.words());
        if o.floats.is_some() {
            floats[slot * d..(slot + 1) * d].copy_from_slice(&y);
        }
    }
    crate::bench::write_words(o.codes, &words)?;
    crate::bench::write_words(o.probes, &probe_words)?;
    if let Some(f) = o.floats {
        crate::bench::write_le(f, floats.into_iter().map(f32::to_le_bytes))?;
        let mut pf = f.clone().into_os_string();
        pf.push(".probes");
        crate::bench::write_le(
            Path::new(&pf),
            probe_floats.into_iter().map(f32::to_le_bytes),
        )?;
    }
    Ok(serde_json::json!({
        "codes": o.n, "probes": o.queries, "bits": bits.bits(), "seed": o.seed,
        "dimension": d, "transform": Transform::DEFAULT.as_str(), "centred": o.centred,
        "mates": mates,
        "data": format!(
            "real-distribution: gallery drawn from a Gaussian with the mean and covariance of \
             {} ({} embeddings, {} speakers), normalised; probes are its real phrases, each \
             with one mate (another phrase of the speaker) planted in the gallery",
            o.voices.display(), all.items.len(), all.subjects()
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_factors_a_known_matrix() {
        // [[4, 2], [2, 3]] = L L^T with L = [[2, 0], [1, sqrt 2]].
        let l = cholesky(&[4.0, 2.0, 2.0, 3.0], 2, 0.0).expect("positive definite");
        assert!((l[0] - 2.0).abs() < 1e-12 && l[1] == 0.0);
        assert!((l[2] - 1.0).abs() < 1e-12 && (l[3] - 2f64.sqrt()).abs() < 1e-12);
        assert!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2, 0.0).is_none());
    }

    #[test]
    fn normals_have_unit_variance() {
        let mut r = Normals::new(5);
        let xs: Vec<f64> = (0..100_000).map(|_| r.next()).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(
            mean.abs() < 0.02 && (var - 1.0).abs() < 0.03,
            "{mean} {var}"
        );
    }
}
