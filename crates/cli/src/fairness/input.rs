//! Reading the inputs of a fairness evaluation: CSV comparison scores, or labelled
//! embeddings scored here with the deployed matcher.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

use anyhow::{Context, bail};
use bioguard_core::{CodeBits, Dimension, Embedding, MatcherForm, MatcherInfo};
use bioguard_engine::fairness::evaluation::Table;
use bioguard_engine::{Kernel, SignProjection, cosine_similarity};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::progress::Progress;

/// Which form of the matcher scores embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Form {
    /// Cosine similarity of the raw embeddings.
    Raw,
    /// The protected templates the service stores (sign projection under a key derived from
    /// the seed),
    /// scored on the cosine scale as the service does.
    Protected,
}

/// What was read, ready to evaluate.
pub struct Input {
    pub table: Table,
    pub kind: &'static str,
    pub file_name: String,
    pub sha256: String,
    pub matcher: MatcherInfo,
    pub synthetic: bool,
    pub labels_statement: String,
    pub notes: Vec<String>,
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Parses `protected:BITS` or `raw`.
fn declared_matcher(m: Option<&str>) -> anyhow::Result<MatcherInfo> {
    let form = |form| MatcherInfo {
        form,
        ..MatcherInfo::default()
    };
    Ok(match m {
        None => form(MatcherForm::Undeclared),
        Some("raw") => form(MatcherForm::Raw),
        Some(m) => {
            let bits = m
                .strip_prefix("protected:")
                .and_then(|b| b.parse::<u64>().ok())
                .and_then(CodeBits::new)
                .with_context(|| {
                    format!(
                        "--matcher {m:?}: expected `raw` or `protected:BITS` (e.g. protected:2048)"
                    )
                })?;
            MatcherInfo {
                code_bits: Some(bits.bits() as u64),
                ..form(MatcherForm::Protected)
            }
        }
    })
}

/// Reads CSV comparison scores.
pub fn read_scores(
    path: &Path,
    matcher: Option<&str>,
    progress: &mut Progress,
) -> anyhow::Result<Input> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let sha256 = bioguard_crypto::hex_encode(&Sha256::digest(&bytes));
    let text = std::str::from_utf8(&bytes)
        .with_context(|| format!("{}: not UTF-8 text", path.display()))?;
    let total = bytes.len() as u64;
    let mut table = Table::new();
    let mut synthetic = false;
    let mut columns: Option<(usize, usize, usize, Option<usize>, usize)> = None;
    let mut offset = 0u64;
    for (n, line) in text.lines().enumerate() {
        offset += line.len() as u64 + 1;
        if n % (1 << 20) == 0 {
            progress.update("bytes read", offset.min(total), total);
        }
        let line = line.trim_end_matches('\r');
        if line.starts_with('#') {
            synthetic |= line.to_ascii_lowercase().contains("synthetic");
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{} line {}", path.display(), n + 1);
        let Some((score, genuine, group, subject, width)) = columns else {
            let names: Vec<&str> = line.split(',').map(str::trim).collect();
            let find = |c: &str| names.iter().position(|x| *x == c);
            let (Some(s), Some(g), Some(gr)) = (find("score"), find("genuine"), find("group"))
            else {
                bail!(
                    "{}: the header must name the columns `score`, `genuine` and `group` \
                     (and optionally `subject`); it reads {line:?}",
                    at()
                );
            };
            columns = Some((s, g, gr, find("subject"), names.len()));
            continue;
        };
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != width {
            bail!(
                "{}: {} fields where the header has {width}",
                at(),
                fields.len()
            );
        }
        let group_name = fields[group].trim();
        if group_name.is_empty() {
            bail!("{}: the group is empty", at());
        }
        let genuine = match fields[genuine].trim() {
            "1" => true,
            "0" => false,
            other => bail!("{}: `genuine` must be 1 or 0, not {other:?}", at()),
        };
        let s = fields[score].trim();
        if s.is_empty() {
            table.push_failed_acquisition(group_name).with_context(at)?;
            continue;
        }
        let value: f64 = s
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .with_context(|| format!("{}: the score {s:?} is not a finite number", at()))?;
        let subject = subject.map(|i| fields[i].trim()).filter(|s| !s.is_empty());
        if subject.is_none() && table.has_subjects() {
            bail!(
                "{}: the subject is empty where earlier lines named one",
                at()
            );
        }
        table
            .push(value, genuine, group_name, subject)
            .with_context(at)?;
    }
    progress.update("bytes read", total, total);
    if columns.is_none() {
        bail!(
            "{}: no header line (score,genuine,group[,subject])",
            path.display()
        );
    }
    Ok(Input {
        table,
        kind: "scores",
        file_name: file_name(path),
        sha256,
        matcher: declared_matcher(matcher)?,
        synthetic,
        labels_statement: format!(
            "Group labels are the `group` column of {}, as supplied with the scores; this \
             tool neither checked nor inferred them.",
            file_name(path)
        ),
        notes: Vec::new(),
    })
}

struct Item {
    subject: String,
    group: String,
    embedding: Embedding,
}

/// Reads labelled embeddings and scores every pair with the chosen form of the matcher.
pub fn score_embeddings(
    a: &super::EvaluateArgs,
    path: &Path,
    progress: &mut Progress,
) -> anyhow::Result<Input> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut items = Vec::new();
    let mut table = Table::new();
    let (mut no_group, mut no_subject, mut by_prefix, mut failed) =
        (0usize, 0usize, 0usize, 0usize);
    let mut dimension: Option<Dimension> = None;
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line =
            line.with_context(|| format!("{}: cannot read line {}", path.display(), n + 1))?;
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{} line {}", path.display(), n + 1);
        let v: Value =
            serde_json::from_str(&line).with_context(|| format!("{}: not JSON", at()))?;
        if let Some(p) = &a.sample_prefix
            && !v["sample"]
                .as_str()
                .is_some_and(|s| s.starts_with(p.as_str()))
        {
            by_prefix += 1;
            continue;
        }
        let Some(subject) = v
            .get("subject")
            .or_else(|| v.get("identity"))
            .and_then(Value::as_str)
        else {
            no_subject += 1;
            continue;
        };
        let Some(group) = v.get(&a.group_field).and_then(|g| match g {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(x) => Some(x.to_string()),
            _ => None,
        }) else {
            no_group += 1;
            continue;
        };
        let values = match v.get("embedding") {
            None | Some(Value::Null) => {
                failed += 1;
                table.push_enrolment(&group, false).with_context(at)?;
                continue;
            }
            Some(e) => serde_json::from_value::<Vec<f32>>(e.clone())
                .with_context(|| format!("{}: `embedding` is not a list of numbers", at()))?,
        };
        let d = *dimension.get_or_insert(
            Dimension::new(values.len() as u64)
                .with_context(|| format!("{}: unusable embedding length", at()))?,
        );
        let embedding =
            Embedding::parse(values, d).map_err(|e| anyhow::anyhow!("{}: {e}", at()))?;
        table.push_enrolment(&group, true).with_context(at)?;
        items.push(Item {
            subject: subject.to_owned(),
            group,
            embedding,
        });
    }
    let Some(dimension) = dimension else {
        bail!(
            "{}: no labelled embedding with a `{}` value",
            path.display(),
            a.group_field
        );
    };
    // The subject is the probe (first) sample's subject; the group is its group.
    let score: Box<dyn Fn(usize, usize) -> f64> = match a.form {
        Form::Raw => Box::new(|x: usize, y: usize| {
            cosine_similarity(items[x].embedding.expose(), items[y].embedding.expose())
        }),
        Form::Protected => {
            let bits = CodeBits::new(a.bits).with_context(|| {
                format!(
                    "--bits must be a multiple of 256 from {} to {}",
                    CodeBits::MIN,
                    CodeBits::MAX
                )
            })?;
            // A key derived from the seed, so that the same command gives the same report
            // (the deployed purposes' keys are secret and never used here).
            let key: [u8; 32] = Sha256::new()
                .chain_update(b"bioguard/fairness-evaluation-key/v1")
                .chain_update(a.seed.to_le_bytes())
                .finalize()
                .into();
            let projection = SignProjection::new(&key, bits, dimension.get());
            let codes = items
                .iter()
                .map(|i| projection.protect(&i.embedding).context("dimension"))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let k = Kernel::best();
            Box::new(move |x: usize, y: usize| {
                bits.cosine_equivalent(k.distance(codes[x].words(), codes[y].words()))
            })
        }
    };
    let pairs = (items.len() * items.len().saturating_sub(1) / 2) as u64;
    let mut cross_group_genuine = 0usize;
    let mut cross_group_impostors = 0usize;
    let mut done = 0u64;
    for x in 0..items.len() {
        for y in x + 1..items.len() {
            let (p, q) = (&items[x], &items[y]);
            let genuine = p.subject == q.subject;
            if p.group != q.group {
                if genuine {
                    cross_group_genuine += 1;
                } else {
                    cross_group_impostors += 1;
                    if !a.cross_group_impostors {
                        continue;
                    }
                }
            }
            table.push(score(x, y), genuine, &p.group, Some(&p.subject))?;
        }
        done += (items.len() - x - 1) as u64;
        if x % 64 == 0 {
            progress.update("pairs scored", done, pairs);
        }
    }
    progress.update("pairs scored", pairs, pairs);
    let mut notes = Vec::new();
    let mut per_group: BTreeMap<&str, usize> = BTreeMap::new();
    for i in &items {
        *per_group.entry(i.group.as_str()).or_default() += 1;
    }
    if no_group > 0 {
        notes.push(format!(
            "{no_group} samples have no `{}` value and were left out (nothing was guessed).",
            a.group_field
        ));
    }
    if no_subject > 0 {
        notes.push(format!(
            "{no_subject} samples have no subject label and were left out."
        ));
    }
    if by_prefix > 0 {
        notes.push(format!(
            "{by_prefix} samples did not match the sample prefix {:?} and were left out.",
            a.sample_prefix.as_deref().unwrap_or("")
        ));
    }
    if failed > 0 {
        notes.push(format!(
            "{failed} samples had no embedding: counted as failures to enrol."
        ));
    }
    if cross_group_genuine > 0 {
        notes.push(format!(
            "{cross_group_genuine} genuine pairs join samples of two groups; each is counted \
             in its first sample's group."
        ));
    }
    if cross_group_impostors > 0 {
        notes.push(if a.cross_group_impostors {
            format!("{cross_group_impostors} impostor pairs across groups are included, each in its first sample's group.")
        } else {
            format!("{cross_group_impostors} impostor pairs across groups were left out: impostors are compared within their group.")
        });
    }
    let matcher = match a.form {
        Form::Raw => MatcherInfo {
            form: MatcherForm::Raw,
            dimension: Some(dimension.get() as u64),
            ..MatcherInfo::default()
        },
        Form::Protected => MatcherInfo {
            form: MatcherForm::Protected,
            code_bits: Some(a.bits),
            dimension: Some(dimension.get() as u64),
            key: Some("fresh random key for this evaluation".into()),
        },
    };
    Ok(Input {
        table,
        kind: "embeddings",
        file_name: file_name(path),
        sha256: bioguard_crypto::hex_encode(&hasher.finalize()),
        matcher,
        synthetic: false,
        labels_statement: format!(
            "Group labels are the `{}` field of {} ({} groups: {}), taken as given by the \
             data's metadata; this tool neither checked nor inferred them.",
            a.group_field,
            file_name(path),
            per_group.len(),
            per_group
                .iter()
                .map(|(g, n)| format!("{g} {n} samples"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        notes,
    })
}
