//! `bioguard calibrate`: the threshold for a target false-match rate, and the calibration
//! record a purpose is declared with.
//!
//! By default the record describes a centred matcher (ADR 0024): it carries the mean of the
//! file's embeddings (the *centre*, from at least `MIN_CENTRE_SUBJECTS` subjects), and the
//! threshold is a cosine between centred embeddings, measured on codes of the structured
//! transform. The measurement is cross-fitted as a deployment would see it: the subjects are
//! split into two folds, each fold is centred on the *other* fold's mean, and only comparisons
//! inside a fold are scored, so the mean never comes from the people it is applied to.
//! `--matcher plain` calibrates a matcher without a centre on all comparisons.

use std::path::PathBuf;

use anyhow::{Context, bail};
use bioguard_core::{MIN_CENTRE_SUBJECTS, Transform};
use bioguard_engine::CodeBits;
use bioguard_engine::eval::{Eer, Rates, Scores};

use crate::evaluate::{
    Dataset, Protocol, code_scores, describe, load, pairs, pct, random_key, raw_scores,
};
use crate::spread::{centred, folds, protect};

/// Which matcher to calibrate.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MatcherChoice {
    /// Centred on the file's mean (needs at least 20 subjects): the most accurate.
    Centred,
    /// Without a centre: the threshold is a cosine between the embeddings as sent.
    Plain,
}

/// Options of `bioguard calibrate`.
#[derive(clap::Args)]
pub struct CalibrateArgs {
    /// JSON lines with `subject` (or `identity`) and `embedding`, as in ../shared/data.
    #[arg(long, value_name = "FILE")]
    pub embeddings: PathBuf,
    /// The false-match rate the threshold must not exceed.
    #[arg(long, default_value_t = 1e-3)]
    pub target_fmr: f64,
    /// Protected code length in bits (multiple of 256, 512 to 4096).
    #[arg(long, default_value_t = 2048)]
    pub bits: u64,
    /// Which comparisons to score.
    #[arg(long, value_enum, default_value = "all-pairs")]
    pub protocol: Protocol,
    /// Use only lines whose `sample` starts with this (e.g. `phrase/`).
    #[arg(long, value_name = "PREFIX")]
    pub sample_prefix: Option<String>,
    /// The matcher the purpose will use.
    #[arg(long, value_enum, default_value = "centred")]
    pub matcher: MatcherChoice,
    /// Also write the calibration record as JSON, for a purpose's `calibration` field.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// The mean of every embedding of the file, each value rounded to its shortest f32 form (so
/// the record stays small and reads back to the same f32 values).
fn mean(data: &Dataset) -> Vec<f64> {
    let mut sums = vec![0f64; data.dimension];
    for item in &data.items {
        for (s, v) in sums.iter_mut().zip(&item.embedding) {
            *s += f64::from(*v);
        }
    }
    let n = data.items.len().max(1) as f64;
    sums.into_iter()
        .map(|s| {
            let v = (s / n) as f32;
            format!("{v}").parse::<f64>().unwrap_or(f64::from(v))
        })
        .collect()
}

pub fn calibrate(a: CalibrateArgs) -> anyhow::Result<()> {
    if !(a.target_fmr > 0.0 && a.target_fmr < 1.0) {
        bail!("--target-fmr must be between 0 and 1 (for example 1e-3)");
    }
    let bits = CodeBits::new(a.bits).with_context(|| {
        format!(
            "--bits must be a multiple of 256 from {} to {}",
            CodeBits::MIN,
            CodeBits::MAX
        )
    })?;
    let data = load(&a.embeddings, a.sample_prefix.as_deref())?;
    let centring = a.matcher == MatcherChoice::Centred;
    if centring && (data.subjects() as u64) < MIN_CENTRE_SUBJECTS {
        bail!(
            "a centred matcher needs embeddings of at least {MIN_CENTRE_SUBJECTS} subjects \
             ({} here): a mean of fewer people comes close to their own embeddings. Add \
             subjects, or calibrate a matcher without a centre with `--matcher plain`",
            data.subjects()
        );
    }
    let (genuine, impostor) = pairs(&data, a.protocol);
    if genuine.is_empty() || impostor.is_empty() {
        bail!("the file needs at least two samples of one subject and two subjects");
    }
    describe(&data, a.protocol, genuine.len(), impostor.len());
    let row = |name: &str, s: &Scores| -> anyhow::Result<(Eer, Rates)> {
        let eer = s.eer().context("no scores")?;
        let at = s
            .threshold_for_fmr(a.target_fmr)
            .context("no impostor scores")?;
        println!(
            "{name:<24} EER {:>7}   at FMR <= {}: threshold {:.4}, FMR {}, FNMR {}",
            pct(eer.value),
            a.target_fmr,
            at.threshold,
            pct(at.fmr),
            pct(at.fnmr)
        );
        Ok((eer, at))
    };
    println!();
    let raw = raw_scores(&data, &genuine, &impostor);
    let (raw_eer, raw_at) = row("raw cosine", &raw)?;
    let key = random_key()?;
    let mut same_pairs = None;
    let (scored, protected) = if centring {
        let (fold, _) = folds(&data);
        let inside = |p: &[(usize, usize)]| -> Vec<(usize, usize)> {
            p.iter()
                .copied()
                .filter(|(x, y)| fold[*x] == fold[*y])
                .collect()
        };
        let (g, i) = (inside(&genuine), inside(&impostor));
        if g.is_empty() || i.is_empty() {
            bail!("each fold of subjects needs genuine and impostor comparisons");
        }
        println!(
            "\ncentred matcher, cross-fitted: two folds of subjects, each centred on the other's \
             mean; {} genuine and {} impostor comparisons inside a fold",
            g.len(),
            i.len()
        );
        let min_impostors = (10.0 / a.target_fmr).ceil() as usize;
        if i.len() < min_impostors {
            println!(
                "warning: {} impostor comparisons are too few to estimate FMR {} well \
                 (at least {min_impostors} recommended)",
                i.len(),
                a.target_fmr
            );
        }
        same_pairs = Some(row("raw cosine (same pairs)", &raw_scores(&data, &g, &i))?);
        let values = centred(&data, &fold);
        let codes = protect(&values, &key, bits, data.dimension, Transform::DEFAULT)?;
        (g.len() + i.len(), code_scores(&codes, bits, &g, &i))
    } else {
        let min_impostors = (10.0 / a.target_fmr).ceil() as usize;
        if impostor.len() < min_impostors {
            println!(
                "warning: {} impostor comparisons are too few to estimate FMR {} well \
                 (at least {min_impostors} recommended)",
                impostor.len(),
                a.target_fmr
            );
        }
        let values: Vec<Vec<f32>> = data.items.iter().map(|i| i.embedding.clone()).collect();
        let codes = protect(&values, &key, bits, data.dimension, Transform::DEFAULT)?;
        (
            genuine.len() + impostor.len(),
            code_scores(&codes, bits, &genuine, &impostor),
        )
    };
    let (prot_eer, prot_at) = row(&format!("protected {}-bit", bits.bits()), &protected)?;
    if prot_at.threshold <= 0.0 {
        bail!(
            "the threshold for FMR {} is {:.4}, at or below 0: these embeddings do not separate \
             people at that rate; choose a higher --target-fmr or another model",
            a.target_fmr,
            prot_at.threshold
        );
    }
    let max_d = bits.max_distance(prot_at.threshold);
    let unit = if centring {
        "cosine similarity between embeddings centred on the record's `centre`"
    } else {
        "cosine similarity between the embeddings as sent"
    };
    println!(
        "\nthreshold for the purpose: {:.6} ({unit}; the engine matches {}-bit codes within \
         {max_d} bits)",
        prot_at.threshold,
        bits.bits()
    );
    if let Some(out) = &a.json {
        let mut record = serde_json::json!({
            "source": data.path.file_name().map(|n| n.to_string_lossy().into_owned()),
            "source_sha256": data.sha256,
            "embeddings": data.items.len(),
            "subjects": data.subjects(),
            "protocol": match a.protocol { Protocol::AllPairs => "all-pairs", Protocol::EnrolFirst => "enrol-first" },
            "sample_prefix": a.sample_prefix,
            "genuine_comparisons": genuine.len(),
            "impostor_comparisons": impostor.len(),
            "protected_comparisons": scored,
            "code_bits": bits.bits(),
            "transform": Transform::DEFAULT.as_str(),
            "threshold_unit": unit,
            "target_fmr": a.target_fmr,
            "threshold": prot_at.threshold,
            "fmr": prot_at.fmr,
            "fnmr": prot_at.fnmr,
            "eer_protected": prot_eer.value,
            "eer_raw": raw_eer.value,
            "raw_threshold": raw_at.threshold,
            "calibrated_at": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        });
        if let Some((eer, at)) = &same_pairs {
            // Raw cosine on the comparisons the protected figures come from.
            record["eer_raw_same_pairs"] = eer.value.into();
            record["fnmr_raw_same_pairs"] = at.fnmr.into();
        }
        if centring {
            record["centre"] = serde_json::json!({
                "subjects": data.subjects(),
                "values": mean(&data),
            });
        }
        std::fs::write(out, serde_json::to_string_pretty(&record)? + "\n")
            .with_context(|| format!("cannot write {}", out.display()))?;
        println!(
            "calibration record written to {} (send it as the purpose's `calibration`; its \
             `threshold` {:.6} becomes the purpose's when the request gives none)",
            out.display(),
            prot_at.threshold
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::Labelled;

    #[test]
    fn the_recorded_centre_is_the_mean_and_reads_back_as_the_same_f32() {
        let items = (0..4)
            .map(|i| Labelled {
                label: format!("s{i}"),
                embedding: vec![i as f32 / 3.0, 1.0],
            })
            .collect();
        let data = Dataset {
            path: "x".into(),
            sha256: String::new(),
            items,
            dimension: 2,
            skipped_unlabelled: 0,
            skipped_by_prefix: 0,
        };
        let m = mean(&data);
        assert_eq!(m[1], 1.0);
        assert_eq!(m[0] as f32, (0.0f32 + 1.0 / 3.0 + 2.0 / 3.0 + 1.0) / 4.0);
        assert!(format!("{}", m[0]).len() < 12, "{}", m[0]);
    }
}
