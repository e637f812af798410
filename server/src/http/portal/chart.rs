//! Charts as SVG drawn on the server: a risk trend (the probabilities of one target over a window,
//! with the tier thresholds as dashed lines) and a model's calibration plot (observed against
//! predicted by decile, with the diagonal). The page puts the same figures in a table beside it,
//! so the chart needs no script, prints, and a screen reader reads the table. Coordinates are
//! computed here and the markup is the page template's (`templates/patient.html`): a chart this
//! simple needs no plotting crate.

use chrono::{DateTime, Duration, Utc};

use crate::alerts::Tier;

pub const WIDTH: f64 = 640.0;
pub const HEIGHT: f64 = 220.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 28.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// A label at a position along an axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    pub at: f64,
    pub label: String,
}

/// A tier's threshold across the chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub y: f64,
    pub tier: &'static str,
    pub label: String,
}

/// Everything the template draws.
#[derive(Debug, Clone, PartialEq)]
pub struct Trend {
    /// `x,y x,y …` for an SVG polyline.
    pub points: String,
    /// The newest point, marked.
    pub last: Option<(f64, f64)>,
    pub thresholds: Vec<Threshold>,
    pub x_ticks: Vec<Tick>,
    pub y_ticks: Vec<Tick>,
    pub plot_left: f64,
    pub plot_right: f64,
    pub plot_bottom: f64,
}

/// The trend of `scores` (time, probability) over the `days` up to `now`, on a probability scale
/// that shows the highest score and threshold with room above.
pub fn trend(scores: &[(DateTime<Utc>, f64)], thresholds: &[(Tier, f64)], now: DateTime<Utc>, days: i64) -> Trend {
    let from = now - Duration::days(days);
    let mut sorted: Vec<(DateTime<Utc>, f64)> = scores.iter().filter(|(at, _)| *at >= from).copied().collect();
    sorted.sort_by_key(|(at, _)| *at);
    let highest = sorted.iter().map(|(_, p)| *p).chain(thresholds.iter().map(|(_, t)| *t)).fold(0.0_f64, f64::max);
    let top = nice_top(highest * 1.15);
    let x = |at: DateTime<Utc>| {
        let share = (at - from).num_seconds() as f64 / Duration::days(days).num_seconds() as f64;
        LEFT + share.clamp(0.0, 1.0) * (WIDTH - LEFT - RIGHT)
    };
    let y = |p: f64| TOP + (1.0 - (p / top).clamp(0.0, 1.0)) * (HEIGHT - TOP - BOTTOM);
    let points = sorted.iter().map(|(at, p)| format!("{:.1},{:.1}", x(*at), y(*p))).collect::<Vec<_>>().join(" ");
    let last = sorted.last().map(|(at, p)| (x(*at), y(*p)));
    let thresholds = thresholds
        .iter()
        .map(|(tier, t)| Threshold { y: y(*t), tier: tier.as_str(), label: format!("{} {}", tier.as_str(), pct(*t)) })
        .collect();
    let x_ticks = (0..=3)
        .map(|i| {
            let at = from + Duration::days(days * i / 3);
            Tick { at: x(at), label: at.format("%d %b").to_string() }
        })
        .collect();
    let y_ticks = (0..=4)
        .map(|i| {
            let p = top * f64::from(i) / 4.0;
            Tick { at: y(p), label: pct(p) }
        })
        .collect();
    Trend {
        points,
        last,
        thresholds,
        x_ticks,
        y_ticks,
        plot_left: LEFT,
        plot_right: WIDTH - RIGHT,
        plot_bottom: y(0.0),
    }
}

/// The calibration plot's size.
pub const SQUARE: f64 = 340.0;

/// A calibration plot: each decile's observed rate against its mean predicted probability, on
/// one scale for both axes so that the diagonal is perfect calibration.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// `x,y` of each decile.
    pub points: Vec<(f64, f64)>,
    pub line: String,
    pub ticks: Vec<Tick>,
    /// The plot's left edge (x of 0) and right edge (x of the top of the scale).
    pub low: f64,
    pub high: f64,
    /// y of 0 and y of the top of the scale.
    pub bottom: f64,
    pub top: f64,
}

pub fn calibration(deciles: &[(usize, f64, f64)]) -> Calibration {
    let highest = deciles.iter().map(|(_, p, o)| p.max(*o)).fold(0.0_f64, f64::max);
    let top = nice_top(highest * 1.1);
    let span = SQUARE - LEFT - TOP;
    let x = |p: f64| LEFT + (p / top).clamp(0.0, 1.0) * span;
    let y = |p: f64| TOP + (1.0 - (p / top).clamp(0.0, 1.0)) * span;
    let points: Vec<(f64, f64)> = deciles.iter().map(|(_, p, o)| (x(*p), y(*o))).collect();
    Calibration {
        line: points.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect::<Vec<_>>().join(" "),
        points,
        ticks: (0..=4).map(|i| top * f64::from(i) / 4.0).map(|p| Tick { at: x(p), label: pct(p) }).collect(),
        low: x(0.0),
        high: x(top),
        bottom: y(0.0),
        top: y(top),
    }
}

/// One line of a weekly series: CSS class, name for the legend, and `x,y` points (weeks with no
/// figure are left out, so the line joins the weeks that have one).
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub class: &'static str,
    pub name: &'static str,
    pub points: String,
    pub dots: Vec<(f64, f64)>,
}

/// A chart of weekly figures on a fixed scale, with a reference level (validation, or a PSI
/// limit) drawn dashed.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub lines: Vec<Line>,
    pub references: Vec<Threshold>,
    pub x_ticks: Vec<Tick>,
    pub y_ticks: Vec<Tick>,
    pub plot_left: f64,
    pub plot_right: f64,
    pub plot_bottom: f64,
}

/// `lines` of (class, name, one value or none per week) over `weeks` (oldest first), on the scale
/// `low`..`high`, with `references` as (level, label).
pub fn series(
    weeks: &[chrono::NaiveDate],
    lines: Vec<(&'static str, &'static str, Vec<Option<f64>>)>,
    (low, high): (f64, f64),
    references: &[(f64, String)],
) -> Series {
    let span = (weeks.len().max(2) - 1) as f64;
    let x = |i: usize| LEFT + (i as f64 / span) * (WIDTH - LEFT - RIGHT);
    let y = |v: f64| TOP + (1.0 - ((v - low) / (high - low)).clamp(0.0, 1.0)) * (HEIGHT - TOP - BOTTOM);
    let step = weeks.len().div_ceil(6).max(1);
    Series {
        lines: lines
            .into_iter()
            .map(|(class, name, values)| {
                let dots: Vec<(f64, f64)> =
                    values.iter().enumerate().filter_map(|(i, v)| v.map(|v| (x(i), y(v)))).collect();
                Line {
                    class,
                    name,
                    points: dots.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect::<Vec<_>>().join(" "),
                    dots,
                }
            })
            .collect(),
        references: references
            .iter()
            .map(|(level, label)| Threshold { y: y(*level), tier: "reference", label: label.clone() })
            .collect(),
        x_ticks: weeks
            .iter()
            .enumerate()
            .filter(|(i, _)| i % step == 0)
            .map(|(i, w)| Tick { at: x(i), label: w.format("%d %b %y").to_string() })
            .collect(),
        y_ticks: (0..=4)
            .map(|i| low + (high - low) * f64::from(i) / 4.0)
            .map(|v| Tick { at: y(v), label: format!("{v:.2}") })
            .collect(),
        plot_left: LEFT,
        plot_right: WIDTH - RIGHT,
        plot_bottom: HEIGHT - BOTTOM,
    }
}

/// A feature's drift as a bar: its PSI on a scale to `top`.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub name: String,
    pub psi: String,
    pub level: &'static str,
    pub y: f64,
    pub width: f64,
}

pub const BAR_HEIGHT: f64 = 18.0;
pub const BAR_LEFT: f64 = 200.0;

/// The bars of `psi` (name, value), largest first, with the x of the moderate and significant
/// limits.
pub fn drift_bars(psi: &[(String, f64)], limits: (f64, f64)) -> (Vec<Bar>, f64, f64, f64) {
    let top = psi.iter().map(|(_, v)| *v).fold(limits.1 * 1.5, f64::max);
    let scale = |v: f64| (v / top).clamp(0.0, 1.0) * (WIDTH - BAR_LEFT - RIGHT);
    let bars = psi
        .iter()
        .enumerate()
        .map(|(i, (name, v))| Bar {
            name: name.clone(),
            psi: format!("{v:.3}"),
            level: vigil_scoring::drift::level(*v),
            y: TOP + i as f64 * (BAR_HEIGHT + 4.0),
            width: scale(*v).max(1.0),
        })
        .collect::<Vec<_>>();
    let height = TOP + bars.len() as f64 * (BAR_HEIGHT + 4.0) + BOTTOM;
    (bars, BAR_LEFT + scale(limits.0), BAR_LEFT + scale(limits.1), height)
}

fn pct(p: f64) -> String {
    let v = p * 100.0;
    if v < 10.0 && v.fract().abs() > 1e-9 { format!("{v:.1} %") } else { format!("{v:.0} %") }
}

/// The smallest of 1, 2, 5 × 10^k (as a probability, at most 1) at or above `p`.
fn nice_top(p: f64) -> f64 {
    if p <= 0.0 {
        return 0.1;
    }
    let mut scale = 0.001;
    loop {
        for step in [1.0, 2.0, 5.0] {
            let candidate = step * scale;
            if candidate >= p || candidate >= 1.0 {
                return candidate.min(1.0);
            }
        }
        scale *= 10.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_shows_the_highest_figure_with_room_and_the_newest_point_is_marked() {
        let now = Utc::now();
        let scores =
            [(now - Duration::days(60), 0.04), (now - Duration::days(1), 0.12), (now - Duration::days(200), 0.9)];
        let trend = trend(&scores, &[(Tier::Warning, 0.08), (Tier::Critical, 0.15)], now, 90);
        // 0.15 × 1.15 → a scale to 20 %; the score of 200 days ago is outside the window.
        assert_eq!(trend.y_ticks.last().map(|t| t.label.as_str()), Some("20 %"));
        assert_eq!(trend.points.split(' ').count(), 2);
        let (x, y) = trend.last.expect("a newest point");
        assert!(x > WIDTH - RIGHT - 10.0 && y < trend.plot_bottom);
        // Higher thresholds are drawn higher up.
        assert!(trend.thresholds[1].y < trend.thresholds[0].y);
        assert_eq!(trend.thresholds[0].label, "warning 8 %");
        assert_eq!(nice_top(0.9), 1.0);
    }

    #[test]
    fn a_weekly_series_skips_weeks_without_a_figure_and_draws_its_reference() {
        let weeks: Vec<chrono::NaiveDate> =
            (0..4).map(|i| chrono::NaiveDate::from_ymd_opt(2026, 1, 5).expect("d") + Duration::weeks(i)).collect();
        let chart = series(
            &weeks,
            vec![("matured", "AUROC", vec![Some(0.8), None, Some(0.7), Some(0.6)])],
            (0.5, 1.0),
            &[(0.8, "validation".into())],
        );
        assert_eq!(chart.lines[0].dots.len(), 3);
        assert!((chart.references[0].y - chart.lines[0].dots[0].1).abs() < 1e-9, "0.8 on the reference");
        assert!(chart.lines[0].dots[2].1 > chart.lines[0].dots[1].1, "lower figures lower down");
        let (bars, moderate, significant, _) = drift_bars(&[("hba1c".into(), 0.6), ("age".into(), 0.01)], (0.1, 0.25));
        assert_eq!(bars[0].level, "significant");
        assert!(bars[0].width > bars[1].width && moderate < significant);
    }

    #[test]
    fn a_perfectly_calibrated_model_lies_on_the_diagonal() {
        let plot = calibration(&[(10, 0.02, 0.02), (10, 0.1, 0.1), (10, 0.3, 0.3)]);
        // x runs left to right and y bottom to top over the same span, so x + y is constant.
        for (x, y) in &plot.points {
            assert!((x + y - (plot.low + plot.bottom)).abs() < 1e-9, "({x}, {y})");
        }
        assert_eq!(plot.ticks.last().map(|t| t.label.as_str()), Some("50 %"));
        assert_eq!(nice_top(0.03), 0.05);
    }
}
