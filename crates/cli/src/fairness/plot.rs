//! SVG plots of a fairness evaluation, drawn with plotters and the embedded font (so text is
//! measured and shown the same everywhere; no system font is read).

use std::sync::Once;

use bioguard_engine::eval::ppndf;
use bioguard_engine::fairness::evaluation::{Evaluation, GroupResult};
use plotters::prelude::*;

/// The font embedded in the binary: a Latin-1 subset of DejaVu Sans (see
/// `assets/DejaVuSans-LICENSE.txt`).
pub const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans-subset.ttf");
/// The family name the plots and the page use for it.
pub const FAMILY: &str = "bioguard-sans";

fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is part of the binary and known to parse (tested); a failure here would
        // leave plotters without a font, which it reports as a drawing error below.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// Colours for groups, distinguishable for common colour-vision deficiencies (Okabe-Ito).
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(230, 159, 0),
    RGBColor(0, 0, 0),
    RGBColor(240, 228, 66),
];

/// Dash patterns that tell groups apart without colour (cycled with the palette).
fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Probability ticks of the DET axes.
const TICKS: [f64; 9] = [1e-5, 1e-4, 1e-3, 1e-2, 0.05, 0.1, 0.2, 0.4, 0.5];

fn tick_label(deviate: f64) -> String {
    let p = TICKS
        .iter()
        .copied()
        .min_by(|a, b| {
            (ppndf(*a) - deviate)
                .abs()
                .total_cmp(&(ppndf(*b) - deviate).abs())
        })
        .unwrap_or(0.5);
    let pct = p * 100.0;
    if pct >= 1.0 {
        format!("{pct:.0}%")
    } else {
        format!("{pct}%")
    }
}

type PlotResult = Result<(), Box<dyn std::error::Error>>;

/// A linear axis in normal-deviate units whose ticks sit at [`TICKS`] probabilities.
#[derive(Clone)]
struct DeviateAxis {
    lo: f64,
    hi: f64,
}

impl plotters::coord::ranged1d::Ranged for DeviateAxis {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let share = (value - self.lo) / (self.hi - self.lo);
        limit.0 + (share * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            TICKS.iter().map(|p| ppndf(*p)).collect()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// The DET curves of every group on normal-deviate axes, each group's operating point at
/// the global threshold marked.
pub fn det(e: &Evaluation) -> Result<String, String> {
    register();
    let mut svg = String::new();
    let drawn: PlotResult = (|| {
        let root = SVGBackend::with_string(&mut svg, (720, 560)).into_drawing_area();
        root.fill(&WHITE)?;
        let (lo, hi) = (ppndf(TICKS[0]), ppndf(0.5));
        let mut chart = ChartBuilder::on(&root)
            .caption("DET curves per group (normal-deviate axes)", (FAMILY, 18))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(DeviateAxis { lo, hi }, DeviateAxis { lo, hi })?;
        chart
            .configure_mesh()
            .x_desc("False-match rate")
            .y_desc("False-non-match rate")
            .x_label_formatter(&|v| tick_label(*v))
            .y_label_formatter(&|v| tick_label(*v))
            .label_style((FAMILY, 13))
            .axis_desc_style((FAMILY, 14))
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(220, 220, 220))
            .draw()?;
        let clamp = |v: f64| ppndf(v).clamp(lo, hi);
        for (i, g) in e.groups.iter().enumerate() {
            let c = colour(i);
            let points: Vec<(f64, f64)> = g
                .det
                .iter()
                .map(|p| (clamp(p.fmr), clamp(p.fnmr)))
                .collect();
            let style = ShapeStyle::from(&c).stroke_width(2);
            chart
                .draw_series(LineSeries::new(points, style))?
                .label(legend(g))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
            chart.draw_series(std::iter::once(Circle::new(
                (clamp(g.fmr.value), clamp(g.fnmr.value)),
                5,
                ShapeStyle::from(&c).filled(),
            )))?;
        }
        chart
            .configure_series_labels()
            .label_font((FAMILY, 13))
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(160, 160, 160))
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
        root.present()?;
        Ok(())
    })();
    drawn.map_err(|e| format!("cannot draw the DET plot: {e}"))?;
    Ok(svg)
}

fn legend(g: &GroupResult) -> String {
    if g.too_small.is_empty() {
        g.name.clone()
    } else {
        format!("{} (too small)", g.name)
    }
}

/// One group's genuine and impostor score histograms (each normalised to its own total), with
/// the global threshold.
pub fn histogram(e: &Evaluation, g: &GroupResult) -> Result<String, String> {
    register();
    let mut svg = String::new();
    let drawn: PlotResult = (|| {
        let root = SVGBackend::with_string(&mut svg, (520, 300)).into_drawing_area();
        root.fill(&WHITE)?;
        let edges = &e.bin_edges;
        let (lo, hi) = (edges[0], edges[edges.len() - 1]);
        let share = |h: &[u64]| -> Vec<f64> {
            let total = h.iter().sum::<u64>().max(1) as f64;
            h.iter().map(|c| *c as f64 / total).collect()
        };
        let (gen_share, imp_share) = (share(&g.genuine_histogram), share(&g.impostor_histogram));
        let top = gen_share
            .iter()
            .chain(&imp_share)
            .copied()
            .fold(0.0, f64::max)
            .max(1e-9)
            * 1.1;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("Scores of group {}", g.name), (FAMILY, 15))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(52)
            .build_cartesian_2d(lo..hi.max(lo + 1e-9), 0.0..top)?;
        chart
            .configure_mesh()
            .x_desc("Score")
            .y_desc("Share of comparisons")
            .label_style((FAMILY, 11))
            .axis_desc_style((FAMILY, 12))
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(230, 230, 230))
            .draw()?;
        let bars = |shares: &[f64], c: RGBColor| {
            shares
                .iter()
                .enumerate()
                .map(|(b, s)| {
                    Rectangle::new([(edges[b], 0.0), (edges[b + 1], *s)], c.mix(0.45).filled())
                })
                .collect::<Vec<_>>()
        };
        let impostor = RGBColor(213, 94, 0);
        let genuine = RGBColor(0, 114, 178);
        chart
            .draw_series(bars(&imp_share, impostor))?
            .label("impostor")
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], impostor.filled()));
        chart
            .draw_series(bars(&gen_share, genuine))?
            .label("genuine")
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], genuine.filled()));
        chart
            .draw_series(LineSeries::new(
                vec![(e.threshold, 0.0), (e.threshold, top)],
                ShapeStyle::from(&BLACK).stroke_width(2),
            ))?
            .label("threshold")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], BLACK.stroke_width(2)));
        chart
            .configure_series_labels()
            .label_font((FAMILY, 11))
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(160, 160, 160))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()?;
        root.present()?;
        Ok(())
    })();
    drawn.map_err(|e| format!("cannot draw the histogram of {}: {e}", g.name))?;
    Ok(svg)
}
