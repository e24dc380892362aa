//! Labelled embeddings and their scores, and `bioguard study protection`: error rates of the
//! raw and protected forms (accuracy by code size, unlinkability, reconstruction).
//!
//! Input is JSON lines as in `../shared/data/`: a label in `subject` (or `identity`; lines
//! whose label is null are skipped and counted), an optional `sample` name, and `embedding`.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use bioguard_core::{Dimension, Embedding, Matcher, Transform};
use bioguard_engine::eval::{Scores, unlinkability};
use bioguard_engine::{
    CodeBits, HadamardSigns, IndexOfMax, Kernel, ProtectedCode, Protector, SignProjection,
    cosine_similarity,
};
use sha2::{Digest, Sha256};

/// One labelled embedding.
pub struct Labelled {
    pub label: String,
    pub embedding: Vec<f32>,
}

/// The embeddings of a file, with what was read and skipped.
pub struct Dataset {
    pub path: PathBuf,
    pub sha256: String,
    pub items: Vec<Labelled>,
    pub dimension: usize,
    pub skipped_unlabelled: usize,
    pub skipped_by_prefix: usize,
}

impl Dataset {
    pub fn subjects(&self) -> usize {
        let mut labels: Vec<&str> = self.items.iter().map(|i| i.label.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        labels.len()
    }
}

/// Reads a JSONL file of labelled embeddings, keeping samples whose `sample` field starts with
/// `prefix` (when given). Every line must parse; the error names the line.
pub fn load(path: &Path, prefix: Option<&str>) -> anyhow::Result<Dataset> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut items = Vec::new();
    let (mut unlabelled, mut by_prefix) = (0, 0);
    let mut dimension = None;
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line =
            line.with_context(|| format!("{}: cannot read line {}", path.display(), n + 1))?;
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{} line {}", path.display(), n + 1);
        let v: serde_json::Value =
            serde_json::from_str(&line).with_context(|| format!("{}: not JSON", at()))?;
        let label = v.get("subject").or_else(|| v.get("identity"));
        let Some(label) = label else {
            bail!("{}: no `subject` or `identity` field", at());
        };
        let Some(label) = label.as_str() else {
            unlabelled += 1;
            continue;
        };
        if let Some(p) = prefix
            && !v
                .get("sample")
                .and_then(|s| s.as_str())
                .is_some_and(|s| s.starts_with(p))
        {
            by_prefix += 1;
            continue;
        }
        let embedding: Vec<f32> =
            serde_json::from_value(v.get("embedding").cloned().unwrap_or_default())
                .with_context(|| format!("{}: `embedding` is not a list of numbers", at()))?;
        if embedding.iter().any(|x| !x.is_finite()) || embedding.iter().all(|x| *x == 0.0) {
            bail!(
                "{}: the embedding has non-finite values or is all zeros",
                at()
            );
        }
        match dimension {
            None => dimension = Some(embedding.len()),
            Some(d) if d != embedding.len() => bail!(
                "{}: {} values where earlier lines had {d}",
                at(),
                embedding.len()
            ),
            Some(_) => {}
        }
        items.push(Labelled {
            label: label.to_owned(),
            embedding,
        });
    }
    let Some(dimension) = dimension else {
        bail!("{}: no labelled embedding found", path.display());
    };
    Ok(Dataset {
        path: path.to_owned(),
        sha256: bioguard_crypto::hex_encode(&hasher.finalize()),
        items,
        dimension,
        skipped_unlabelled: unlabelled,
        skipped_by_prefix: by_prefix,
    })
}

/// Which comparisons make up the genuine and impostor sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// Every pair of samples.
    AllPairs,
    /// The first sample of each subject is its enrolment; every other sample is a probe,
    /// compared with its own enrolment (genuine) and every other subject's (impostor).
    EnrolFirst,
}

/// Index pairs (a, b) of items to compare.
pub type Pairs = Vec<(usize, usize)>;

/// The genuine and the impostor comparisons of a protocol.
pub fn pairs(data: &Dataset, protocol: Protocol) -> (Pairs, Pairs) {
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    match protocol {
        Protocol::AllPairs => {
            for a in 0..data.items.len() {
                for b in a + 1..data.items.len() {
                    if data.items[a].label == data.items[b].label {
                        genuine.push((a, b));
                    } else {
                        impostor.push((a, b));
                    }
                }
            }
        }
        Protocol::EnrolFirst => {
            let mut enrolment: BTreeMap<&str, usize> = BTreeMap::new();
            for (i, item) in data.items.iter().enumerate() {
                enrolment.entry(item.label.as_str()).or_insert(i);
            }
            for (p, item) in data.items.iter().enumerate() {
                if enrolment[item.label.as_str()] == p {
                    continue;
                }
                for (label, e) in &enrolment {
                    if *label == item.label {
                        genuine.push((*e, p));
                    } else {
                        impostor.push((*e, p));
                    }
                }
            }
        }
    }
    (genuine, impostor)
}

fn checked(values: &[f32]) -> anyhow::Result<Embedding> {
    let d = Dimension::new(values.len() as u64)?;
    Ok(Embedding::parse(values.to_vec(), d)?)
}

/// Raw cosine scores.
pub fn raw_scores(
    data: &Dataset,
    genuine: &[(usize, usize)],
    impostor: &[(usize, usize)],
) -> Scores {
    let score = |(a, b): &(usize, usize)| {
        cosine_similarity(&data.items[*a].embedding, &data.items[*b].embedding)
    };
    Scores::new(
        genuine.iter().map(score).collect(),
        impostor.iter().map(score).collect(),
    )
}

/// Protected scores: the cosine equivalent cos(pi d / bits) of each Hamming distance, so that
/// thresholds read on the same scale as raw cosine.
pub fn code_scores(
    codes: &[ProtectedCode],
    bits: CodeBits,
    genuine: &[(usize, usize)],
    impostor: &[(usize, usize)],
) -> Scores {
    let k = Kernel::best();
    let score = |(a, b): &(usize, usize)| {
        bits.cosine_equivalent(k.distance(codes[*a].words(), codes[*b].words()))
    };
    Scores::new(
        genuine.iter().map(score).collect(),
        impostor.iter().map(score).collect(),
    )
}

/// Protects every embedding with a sign projection under `key`.
pub fn protect_all(
    data: &Dataset,
    key: &[u8; 32],
    bits: CodeBits,
) -> anyhow::Result<Vec<ProtectedCode>> {
    protect_all_with(data, key, bits, Transform::GaussianSign)
}

/// Protects every embedding (not centred) with `transform` under `key`.
pub fn protect_all_with(
    data: &Dataset,
    key: &[u8; 32],
    bits: CodeBits,
    transform: Transform,
) -> anyhow::Result<Vec<ProtectedCode>> {
    let matcher = Matcher {
        transform,
        centre: None,
    };
    let p = Protector::new(key, bits, data.dimension, &matcher).context("dimension")?;
    data.items
        .iter()
        .map(|i| p.protect(&checked(&i.embedding)?).context("dimension"))
        .collect()
}

pub(crate) fn pct(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

pub(crate) fn describe(data: &Dataset, protocol: Protocol, genuine: usize, impostor: usize) {
    println!(
        "{} embeddings of {} subjects from {} (dimension {}, sha256 {}…)",
        data.items.len(),
        data.subjects(),
        data.path.display(),
        data.dimension,
        &data.sha256[..12]
    );
    if data.skipped_unlabelled + data.skipped_by_prefix > 0 {
        println!(
            "skipped: {} unlabelled, {} not matching the sample prefix",
            data.skipped_unlabelled, data.skipped_by_prefix
        );
    }
    println!(
        "protocol {}: {genuine} genuine and {impostor} impostor comparisons",
        match protocol {
            Protocol::AllPairs => "all-pairs",
            Protocol::EnrolFirst => "enrol-first",
        }
    );
}

pub(crate) fn random_key() -> anyhow::Result<[u8; 32]> {
    Ok(bioguard_crypto::random_array::<32>()?)
}

/// Keys per measurement in the study: figures are means (and worst cases) over this many
/// independent keys, so that no single lucky key decides.
const STUDY_KEYS: usize = 8;

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// `bioguard study protection`: the measurements behind the choice of transform.
pub fn study(embeddings: &Path, sample_prefix: Option<&str>) -> anyhow::Result<()> {
    let data = load(embeddings, sample_prefix)?;
    let (genuine, impostor) = pairs(&data, Protocol::EnrolFirst);
    describe(&data, Protocol::EnrolFirst, genuine.len(), impostor.len());
    let keys: Vec<[u8; 32]> = (0..STUDY_KEYS)
        .map(|_| random_key())
        .collect::<anyhow::Result<_>>()?;
    let key_a = keys[0];
    let key_b = keys[1];

    println!(
        "\n1. Accuracy (enrol first sample, probe with the rest; protected forms: mean over {STUDY_KEYS} keys)"
    );
    println!(
        "{:<30} {:>8} {:>16} {:>16}",
        "form", "EER", "FNMR@FMR=1e-2", "FNMR@FMR=1e-3"
    );
    let line = |name: &str, all: &[Scores]| {
        let avg = |f: &dyn Fn(&Scores) -> Option<f64>| -> String {
            let v: Vec<f64> = all.iter().filter_map(f).collect();
            if v.is_empty() {
                "-".into()
            } else {
                pct(mean(&v))
            }
        };
        println!(
            "{name:<30} {:>8} {:>16} {:>16}",
            avg(&|s| s.eer().map(|e| e.value)),
            avg(&|s| s.threshold_for_fmr(1e-2).map(|r| r.fnmr)),
            avg(&|s| s.threshold_for_fmr(1e-3).map(|r| r.fnmr)),
        );
    };
    line("raw cosine", &[raw_scores(&data, &genuine, &impostor)]);
    for bits in [512u64, 1024, 2048, 4096] {
        let b = CodeBits::new(bits).context("bits")?;
        let all = keys
            .iter()
            .map(|k| {
                Ok(code_scores(
                    &protect_all(&data, k, b)?,
                    b,
                    &genuine,
                    &impostor,
                ))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        line(&format!("sign projection {bits} bits"), &all);
    }
    for width in [4usize, 8, 16] {
        let mut all = Vec::new();
        for key in &keys {
            let iom = IndexOfMax::new(key, 2048 / width, width, data.dimension).context("iom")?;
            let codes: Vec<ProtectedCode> = data
                .items
                .iter()
                .map(|i| iom.protect(&checked(&i.embedding)?).context("dimension"))
                .collect::<anyhow::Result<_>>()?;
            let k = Kernel::best();
            // Matching hash groups: one-hot codes differ in 2 bits per mismatched group.
            let groups = (2048 / width) as f64;
            let score = |(a, b): &(usize, usize)| {
                1.0 - f64::from(k.distance(codes[*a].words(), codes[*b].words())) / 2.0 / groups
            };
            all.push(Scores::new(
                genuine.iter().map(score).collect(),
                impostor.iter().map(score).collect(),
            ));
        }
        line(&format!("index-of-max 2048 bits, q={width}"), &all);
    }

    println!("\n2. Unlinkability (D<->sys; 0 = unlinkable, 1 = fully linkable)");
    // Unlinkability does not depend on recognition accuracy, so it is measured on every
    // embedding of the file (single words too), which gives far more mated pairs.
    let everything = load(embeddings, None)?;
    let n = everything.items.len();
    let b = CodeBits::DEFAULT;
    let k = Kernel::best();
    let labels: Vec<&str> = everything.items.iter().map(|i| i.label.as_str()).collect();
    // A relabelling that keeps every subject's sample count: the null model for the floor.
    let mut permuted = labels.clone();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for i in (1..permuted.len()).rev() {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        permuted.swap(i, (state >> 33) as usize % (i + 1));
    }
    for (name, transform) in [
        ("sign projection", Transform::GaussianSign),
        ("structured (hadamard)", Transform::HadamardSign),
    ] {
        let (mut cross, mut floor, mut same_key) = (Vec::new(), Vec::new(), Vec::new());
        for pair in keys.chunks_exact(2) {
            let ca = protect_all_with(&everything, &pair[0], b, transform)?;
            let cb = protect_all_with(&everything, &pair[1], b, transform)?;
            let mut sets: [(Vec<f64>, Vec<f64>); 3] = Default::default();
            for i in 0..n {
                for j in 0..n {
                    let x = b.cosine_equivalent(k.distance(ca[i].words(), cb[j].words()));
                    let slot = |same: bool, s: &mut (Vec<f64>, Vec<f64>), v: f64| {
                        if same { s.0.push(v) } else { s.1.push(v) }
                    };
                    slot(labels[i] == labels[j], &mut sets[0], x);
                    slot(permuted[i] == permuted[j], &mut sets[1], x);
                    if i != j {
                        let y = b.cosine_equivalent(k.distance(ca[i].words(), ca[j].words()));
                        slot(labels[i] == labels[j], &mut sets[2], y);
                    }
                }
            }
            cross.push(unlinkability(&sets[0].0, &sets[0].1).unwrap_or(f64::NAN));
            floor.push(unlinkability(&sets[1].0, &sets[1].1).unwrap_or(f64::NAN));
            same_key.push(unlinkability(&sets[2].0, &sets[2].1).unwrap_or(f64::NAN));
            if cross.len() == 1 {
                println!(
                    "{} embeddings of {} subjects; per key pair {} mated and {} non-mated comparisons",
                    n,
                    everything.subjects(),
                    sets[0].0.len(),
                    sets[0].1.len()
                );
            }
        }
        let max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        println!(
            "{name} 2048 bits, codes of the same embeddings under two keys (two purposes, \
         or one purpose before and after rotation): mean {:.4}, worst {:.4} over {} key pairs",
            mean(&cross),
            max(&cross),
            cross.len()
        );
        println!(
            "  estimator floor (subjects relabelled at random, same group sizes): mean {:.4}, worst {:.4}",
            mean(&floor),
            max(&floor)
        );
        println!(
            "  for reference, two templates of one subject under the same key: mean {:.4}",
            mean(&same_key)
        );
    }

    println!("\n3. Reconstruction: cosine of an attacker's estimate to the original embedding");
    let ca = protect_all(&data, &key_a, b)?;
    let p = SignProjection::new(&key_a, b, data.dimension);
    let wrong = SignProjection::new(&key_b, b, data.dimension);
    let raw = raw_scores(&data, &genuine, &impostor);
    let raw_t = raw.threshold_for_fmr(1e-3).map_or(1.0, |r| r.threshold);
    let reconstruct = |proj: &SignProjection, code: &ProtectedCode| -> Vec<f32> {
        let mut x = vec![0f32; data.dimension];
        for (j, row) in proj.rows().enumerate() {
            let sign = if code.words()[j / 64] >> (j % 64) & 1 == 1 {
                1.0
            } else {
                -1.0
            };
            for (xi, w) in x.iter_mut().zip(row) {
                *xi += sign * w;
            }
        }
        x
    };
    let (mut with_key, mut without_key, mut accepted) = (Vec::new(), Vec::new(), 0usize);
    for (i, item) in data.items.iter().enumerate() {
        let est = reconstruct(&p, &ca[i]);
        let c = cosine_similarity(&est, &item.embedding);
        if c >= raw_t {
            accepted += 1;
        }
        with_key.push(c);
        without_key.push(cosine_similarity(
            &reconstruct(&wrong, &ca[i]),
            &item.embedding,
        ));
    }
    println!(
        "sign projection 2048 bits, attacker holds the code and the key: mean cosine {:.3}; \
         {accepted} of {} reconstructions pass raw verification at the FMR 1e-3 threshold {:.3}",
        mean(&with_key),
        with_key.len(),
        raw_t
    );
    println!(
        "attacker holds the code only (guesses a key): mean cosine {:.3}",
        mean(&without_key)
    );
    let h = HadamardSigns::new(&key_a, b, data.dimension);
    let h_wrong = HadamardSigns::new(&key_b, b, data.dimension);
    let (mut with_key, mut without_key, mut accepted) = (Vec::new(), Vec::new(), 0usize);
    for item in &data.items {
        let code = h.protect_values(&item.embedding).context("dimension")?;
        let c = cosine_similarity(&h.reconstruct(&code), &item.embedding);
        if c >= raw_t {
            accepted += 1;
        }
        with_key.push(c);
        without_key.push(cosine_similarity(
            &h_wrong.reconstruct(&code),
            &item.embedding,
        ));
    }
    println!(
        "structured (hadamard) 2048 bits, attacker holds the code and the key: mean cosine \
         {:.3}; {accepted} of {} reconstructions pass raw verification at {:.3}; code only \
         (guesses a key): mean cosine {:.3}",
        mean(&with_key),
        with_key.len(),
        raw_t,
        mean(&without_key)
    );
    let iom = IndexOfMax::new(&key_a, 256, 8, data.dimension).context("iom")?;
    let mut iom_cos = Vec::new();
    for item in &data.items {
        let code = iom
            .protect(&checked(&item.embedding)?)
            .context("dimension")?;
        let mut est = vec![0f32; data.dimension];
        for h in 0..256 {
            for (q, row) in iom.group(h).enumerate() {
                let bit = h * 8 + q;
                if code.words()[bit / 64] >> (bit % 64) & 1 == 1 {
                    for (e, w) in est.iter_mut().zip(row) {
                        *e += w;
                    }
                }
            }
        }
        iom_cos.push(cosine_similarity(&est, &item.embedding));
    }
    println!(
        "index-of-max 2048 bits (q=8), attacker holds the code and the key: mean cosine {:.3}",
        mean(&iom_cos)
    );
    Ok(())
}
