//! The self-contained HTML report: one file with its font, styles and plots inline, no
//! script and nothing fetched from elsewhere.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bioguard_core::FairnessReport;
use bioguard_engine::fairness::Rate;
use bioguard_engine::fairness::evaluation::{Evaluation, GroupResult, Interval};
use bioguard_server::escape_html as esc;

use super::plot;

fn pct(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let p = 100.0 * x;
    if p == 0.0 {
        "0%".into()
    } else if p < 0.01 {
        format!("{p:.2e}%")
    } else {
        format!("{p:.3}%")
    }
}

fn rate_cell(r: &Rate) -> String {
    format!(
        "{} <span class=ci>[{}, {}]</span><br><span class=n>{} of {}</span>",
        pct(r.value),
        pct(r.lower),
        pct(r.upper),
        r.errors,
        r.trials
    )
}

fn boot_cell(i: Option<Interval>) -> String {
    i.map_or_else(
        || "–".into(),
        |i| format!("[{}, {}]", pct(i.lower), pct(i.upper)),
    )
}

fn plain(x: f64) -> String {
    super::ratio_text(x)
}

fn group_row(g: &GroupResult, out: &mut String) {
    let opt = |r: &Option<Rate>| r.as_ref().map_or_else(|| "–".into(), rate_cell);
    let _ = write!(
        out,
        "<tr{}><th scope=row>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        if g.too_small.is_empty() {
            ""
        } else {
            " class=small"
        },
        esc(&g.name),
        g.subjects.map_or_else(|| "–".into(), |s| s.to_string()),
        g.fnmr.trials,
        g.fmr.trials,
        rate_cell(&g.fmr),
        boot_cell(g.fmr_bootstrap),
        rate_cell(&g.fnmr),
        boot_cell(g.fnmr_bootstrap),
        g.eer.map_or_else(|| "–".into(), |e| pct(e.value)),
        opt(&g.fta),
        opt(&g.fte),
    );
}

fn summary_row(g: &GroupResult, out: &mut String) {
    for (kind, s) in [("genuine", &g.genuine), ("impostor", &g.impostor)] {
        if s.count == 0 {
            let _ = write!(
                out,
                "<tr><th scope=row>{} ({kind})</th><td>0</td><td colspan=7>no comparisons</td></tr>",
                esc(&g.name)
            );
            continue;
        }
        let _ = write!(
            out,
            "<tr><th scope=row>{} ({kind})</th><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td></tr>",
            esc(&g.name),
            s.count,
            s.mean,
            s.sd,
            s.min,
            s.p05,
            s.median,
            s.p95,
            s.max
        );
    }
}

/// Renders the report page.
pub fn render(e: &Evaluation, report: &FairnessReport) -> String {
    let font = B64.encode(plot::FONT);
    let synthetic = report.synthetic.unwrap_or(false);
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>Fairness evaluation{}</h1>",
        if synthetic { " (synthetic data)" } else { "" }
    );
    if synthetic {
        body.push_str("<p class=warn role=note><strong>Synthetic:</strong> these scores were generated, not produced by a matcher. They test the measures and say nothing about any real system.</p>");
    }
    let _ = write!(
        body,
        "<section aria-labelledby=setup><h2 id=setup>Set-up</h2><dl>\
         <dt>Input</dt><dd>{} ({}, {} comparisons, sha256 <code>{}</code>)</dd>\
         <dt>Matcher</dt><dd><code>{}</code></dd>\
         <dt>Global threshold</dt><dd id=threshold>{:.6} ({})</dd>\
         <dt>Convention</dt><dd>accept when score ≥ threshold (an impostor exactly at the threshold is a false match)</dd>\
         <dt>Intervals</dt><dd>{}% Clopper-Pearson per rate; subject-level bootstrap percentile intervals ({} replicates, seed {})</dd>\
         <dt>Generated</dt><dd>{} by {}</dd></dl></section>",
        esc(&report.input.file),
        esc(&report.input.kind),
        e.overall.fmr.trials + e.overall.fnmr.trials,
        esc(&report.input.sha256),
        esc(&serde_json::to_string(&report.matcher).unwrap_or_default()),
        e.threshold,
        if e.options.threshold.is_some() {
            "as given".to_owned()
        } else {
            format!(
                "set on the whole population at FMR ≤ {}",
                e.options.target_fmr
            )
        },
        e.options.confidence * 100.0,
        report.bootstrap_replicates,
        e.options.seed,
        esc(&report.generated_at),
        esc(&report.generator),
    );
    body.push_str("<section aria-labelledby=statements><h2 id=statements>How to read this, and its limits</h2><ul>");
    for s in &report.statements {
        let _ = write!(body, "<li>{}</li>", esc(s));
    }
    body.push_str("</ul></section>");

    body.push_str("<section aria-labelledby=diff><h2 id=diff>Differentials</h2>");
    match e.differentials {
        Some(d) => {
            let ci = |f: fn(
                &bioguard_engine::fairness::evaluation::DifferentialIntervals,
            ) -> Interval| {
                e.differential_intervals.as_ref().map_or_else(
                    || "–".to_owned(),
                    |b| {
                        let i = f(b);
                        format!("[{}, {}]", plain(i.lower), plain(i.upper))
                    },
                )
            };
            let _ = write!(
                body,
                "<table id=differentials><caption>Over {} groups; 1 is fair for the ratios, FDR and IR, 0 for GARBE (α = {})</caption>\
                 <thead><tr><th scope=col>Measure</th><th scope=col>Value</th><th scope=col>Bootstrap interval</th></tr></thead><tbody>\
                 <tr><th scope=row>FMR max/min</th><td>{}</td><td>{}</td></tr>\
                 <tr><th scope=row>FNMR max/min</th><td>{}</td><td>{}</td></tr>\
                 <tr><th scope=row>Fairness Discrepancy Rate</th><td>{:.4}</td><td>{}</td></tr>\
                 <tr><th scope=row>Inequity Rate</th><td>{}</td><td>{}</td></tr>\
                 <tr><th scope=row>GARBE</th><td>{:.4}</td><td>{}</td></tr></tbody></table>",
                e.groups.len() - e.excluded.len(),
                e.options.alpha,
                plain(d.fmr_ratio),
                ci(|b| b.fmr_ratio),
                plain(d.fnmr_ratio),
                ci(|b| b.fnmr_ratio),
                d.fdr,
                ci(|b| b.fdr),
                plain(d.inequity_rate),
                ci(|b| b.inequity_rate),
                d.garbe,
                ci(|b| b.garbe),
            );
        }
        None => body.push_str(
            "<p id=differentials>None: fewer than two groups are large enough to compare.</p>",
        ),
    }
    body.push_str("</section>");

    body.push_str("<section aria-labelledby=rates><h2 id=rates>Rates per group at the global threshold</h2>\
        <table id=groups><caption>Rows in grey are groups too small for their figures to mean much (see above)</caption><thead><tr>\
        <th scope=col>Group</th><th scope=col>Subjects</th><th scope=col>Genuine</th><th scope=col>Impostor</th>\
        <th scope=col>FMR [CI]</th><th scope=col>FMR bootstrap</th><th scope=col>FNMR [CI]</th><th scope=col>FNMR bootstrap</th>\
        <th scope=col>EER</th><th scope=col>FTA</th><th scope=col>FTE</th></tr></thead><tbody>");
    for g in &e.groups {
        group_row(g, &mut body);
    }
    body.push_str("</tbody><tfoot>");
    group_row(&e.overall, &mut body);
    body.push_str("</tfoot></table></section>");

    body.push_str("<section aria-labelledby=det><h2 id=det>DET curves</h2><figure id=det-plot>");
    match plot::det(e) {
        Ok(svg) => body.push_str(&svg),
        Err(why) => {
            let _ = write!(body, "<p>{}</p>", esc(&why));
        }
    }
    body.push_str("<figcaption>Each group's trade-off between false matches and false non-matches; dots mark each group at the global threshold. Lower left is better; curves apart mean the matcher treats the groups differently.</figcaption></figure></section>");

    body.push_str("<section aria-labelledby=scores><h2 id=scores>Score distributions</h2><table id=summaries><thead><tr>\
        <th scope=col>Group</th><th scope=col>n</th><th scope=col>mean</th><th scope=col>sd</th><th scope=col>min</th>\
        <th scope=col>5%</th><th scope=col>median</th><th scope=col>95%</th><th scope=col>max</th></tr></thead><tbody>");
    for g in &e.groups {
        summary_row(g, &mut body);
    }
    body.push_str("</tbody></table><div class=hists>");
    for g in &e.groups {
        body.push_str("<figure>");
        match plot::histogram(e, g) {
            Ok(svg) => body.push_str(&svg),
            Err(why) => {
                let _ = write!(body, "<p>{}</p>", esc(&why));
            }
        }
        let _ = write!(
            body,
            "<figcaption>Group {}: genuine and impostor scores, each as a share of its own total; the line is the global threshold.</figcaption></figure>",
            esc(&g.name)
        );
    }
    body.push_str("</div></section>");

    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=Content-Security-Policy content=\"default-src 'none'; style-src 'unsafe-inline'; font-src data:; img-src data:\">\
         <title>Fairness evaluation{}</title><style>\
         @font-face{{font-family:{fam};src:url(data:font/ttf;base64,{font}) format('truetype')}}\
         body{{font-family:{fam};margin:2rem auto;max-width:72rem;padding:0 1rem;color:#111;background:#fff;line-height:1.45}}\
         table{{border-collapse:collapse;margin:1rem 0;font-size:.9rem}}th,td{{border:1px solid #999;padding:.3rem .5rem;text-align:right;vertical-align:top}}\
         th[scope=row]{{text-align:left}}caption{{text-align:left;font-style:italic;padding:.3rem 0}}\
         tr.small{{background:#eee;color:#444}}.ci,.n{{color:#444;font-size:.85em}}code{{word-break:break-all}}\
         .warn{{border:2px solid #a00;padding:.5rem 1rem;background:#fee}}dt{{font-weight:bold}}\
         figure{{margin:1rem 0}}svg{{max-width:100%;height:auto}}.hists{{display:flex;flex-wrap:wrap;gap:1rem}}\
         </style></head><body><main>{body}</main></body></html>",
        if synthetic { " (synthetic data)" } else { "" },
        fam = plot::FAMILY,
    )
}
