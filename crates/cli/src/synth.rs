//! `bioguard synth scores`: seeded synthetic comparison scores with named groups and injected
//! differentials, for testing fairness measures. Synthetic: never evidence about a matcher.

use std::io::Write;

use anyhow::{Context, bail};
use bioguard_engine::fairness::{SyntheticGroup, synthetic_scores};

/// Parses `name:impostor_mean:genuine_mean:sd:impostors:genuines`.
fn parse_group(s: &str) -> anyhow::Result<SyntheticGroup> {
    let parts: Vec<&str> = s.split(':').collect();
    let [name, imp, gen_, sd, ni, ng] = parts.as_slice() else {
        bail!("--group {s:?}: expected name:impostor_mean:genuine_mean:sd:impostors:genuines");
    };
    let f = |v: &str, what: &str| -> anyhow::Result<f64> {
        v.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .with_context(|| format!("--group {s:?}: {what} is not a number"))
    };
    let n = |v: &str, what: &str| -> anyhow::Result<usize> {
        v.parse::<usize>()
            .ok()
            .filter(|x| *x <= 100_000_000)
            .with_context(|| format!("--group {s:?}: {what} is not a count up to 10^8"))
    };
    let sd = f(sd, "sd")?;
    if sd <= 0.0 {
        bail!("--group {s:?}: sd must be positive");
    }
    Ok(SyntheticGroup {
        name: (*name).to_owned(),
        impostor_mean: f(imp, "impostor_mean")?,
        genuine_mean: f(gen_, "genuine_mean")?,
        sd,
        impostors: n(ni, "impostors")?,
        genuines: n(ng, "genuines")?,
    })
}

/// Writes `score,genuine,group` lines for the groups to `out`.
pub fn scores(
    groups: &[String],
    seed: u64,
    subjects: Option<u32>,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    if subjects == Some(0) {
        bail!("--subjects must be at least 1");
    }
    if groups.is_empty() {
        bail!("give at least one --group name:impostor_mean:genuine_mean:sd:impostors:genuines");
    }
    let groups = groups
        .iter()
        .map(|g| parse_group(g))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let drawn = synthetic_scores(&groups, seed);
    let f =
        std::fs::File::create(out).with_context(|| format!("cannot write {}", out.display()))?;
    let mut w = std::io::BufWriter::new(f);
    writeln!(
        w,
        "# synthetic scores (bioguard synth scores, seed {seed}): not from any matcher"
    )?;
    let subject = |g: &str, i: usize| match subjects {
        Some(n) => format!(",{g}-{}", i % n as usize),
        None => String::new(),
    };
    writeln!(
        w,
        "score,genuine,group{}",
        if subjects.is_some() { ",subject" } else { "" }
    )?;
    let mut lines = 0u64;
    for g in &drawn {
        for (i, s) in g.impostor.iter().enumerate() {
            writeln!(w, "{s},0,{}{}", g.name, subject(&g.name, i))?;
        }
        for (i, s) in g.genuine.iter().enumerate() {
            writeln!(w, "{s},1,{}{}", g.name, subject(&g.name, i))?;
        }
        lines += (g.impostor.len() + g.genuine.len()) as u64;
    }
    w.flush()?;
    eprintln!(
        "wrote {lines} synthetic scores in {} groups to {}",
        drawn.len(),
        out.display()
    );
    Ok(())
}
