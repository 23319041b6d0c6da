//! The SVG plot of a run: latency over time (top) and throughput over time (bottom), written by
//! hand so the bench needs no plotting library. Pure: result in, SVG text out.

use crate::report::{RunResult, SecondSample};
use std::fmt::Write as _;

const WIDTH: f64 = 900.0;
const PANEL_HEIGHT: f64 = 260.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 40.0;
const GAP: f64 = 60.0;

type Series<'a> = (&'a str, &'a str, fn(&SecondSample) -> f64);

/// Renders the plot of `r` as a standalone SVG document.
pub fn svg(r: &RunResult) -> String {
    let height = TOP + 2.0 * PANEL_HEIGHT + GAP + 50.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="22" font-size="15">{} — {}</text>"#,
        escape(&r.workload.name),
        escape(&r.started_at)
    );
    let latency: [Series<'_>; 4] = [
        ("publish p50", "#1f77b4", |x| x.publish_p50_ms),
        ("publish p99", "#aec7e8", |x| x.publish_p99_ms),
        ("end-to-end p50", "#d62728", |x| x.e2e_p50_ms),
        ("end-to-end p99", "#ff9896", |x| x.e2e_p99_ms),
    ];
    let throughput: [Series<'_>; 2] = [
        ("publish MB/s", "#2ca02c", |x| x.publish_mb_s),
        ("consume MB/s", "#9467bd", |x| x.consume_mb_s),
    ];
    panel(&mut s, r, TOP, "latency (ms)", &latency);
    panel(
        &mut s,
        r,
        TOP + PANEL_HEIGHT + GAP,
        "throughput (MB/s)",
        &throughput,
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">seconds since start (warm-up shaded)</text>"#,
        LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
        height - 12.0
    );
    s.push_str("</svg>\n");
    s
}

fn panel(s: &mut String, r: &RunResult, top: f64, title: &str, series: &[Series<'_>]) {
    let plot_w = WIDTH - LEFT - RIGHT;
    let t_max = r.series.last().map_or(1, |x| x.t_s + 1).max(1) as f64;
    let y_max = nice_ceiling(
        r.series
            .iter()
            .flat_map(|x| series.iter().map(move |(_, _, f)| f(x)))
            .fold(0.0, f64::max),
    );
    let x_of = |t: f64| LEFT + t / t_max * plot_w;
    let y_of = |v: f64| top + PANEL_HEIGHT - v / y_max * PANEL_HEIGHT;
    // Warm-up shading, frame, title.
    let warm = (r.workload.warmup_s as f64).min(t_max);
    if warm > 0.0 {
        let _ = writeln!(
            s,
            r##"<rect x="{LEFT}" y="{top}" width="{:.1}" height="{PANEL_HEIGHT}" fill="#eeeeee"/>"##,
            x_of(warm) - LEFT
        );
    }
    let _ = writeln!(
        s,
        r#"<rect x="{LEFT}" y="{top}" width="{plot_w}" height="{PANEL_HEIGHT}" fill="none" stroke="black"/>"#
    );
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="{}">{}</text>"#,
        top - 6.0,
        escape(title)
    );
    // Value ticks: five, with grid lines.
    for i in 0..=5 {
        let v = y_max * f64::from(i) / 5.0;
        let y = y_of(v);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#dddddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            y + 4.0,
            tick_label(v)
        );
    }
    // Time ticks on round seconds (1/2/5 × 10^k apart).
    let step = nice_ceiling(t_max / 5.0);
    let mut t = 0.0;
    while t <= t_max + 1e-9 {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{:.0}</text>"#,
            x_of(t),
            top + PANEL_HEIGHT + 16.0,
            t
        );
        t += step;
    }
    for (n, (name, colour, f)) in series.iter().enumerate() {
        let points: Vec<String> = r
            .series
            .iter()
            .map(|x| format!("{:.1},{:.1}", x_of(x.t_s as f64 + 0.5), y_of(f(x))))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{}"/>"#,
            points.join(" ")
        );
        let ly = top + 14.0 + n as f64 * 18.0;
        let lx = LEFT + plot_w + 12.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
            lx + 18.0,
            lx + 24.0,
            ly + 4.0,
            escape(name)
        );
    }
}

/// The smallest 1/2/5 × 10^k at or above `v` (1 for non-positive values).
fn nice_ceiling(v: f64) -> f64 {
    if v.is_nan() || v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * mag)
}

fn tick_label(v: f64) -> String {
    if v >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_result;

    #[test]
    fn plot_is_an_svg_with_every_series() {
        let out = svg(&sample_result());
        assert!(out.starts_with("<svg "));
        assert!(out.trim_end().ends_with("</svg>"));
        assert_eq!(out.matches("<polyline").count(), 6);
        assert!(out.contains("end-to-end p99"));
        assert!(out.contains("consume MB/s"));
    }

    #[test]
    fn empty_series_still_renders() {
        let mut r = sample_result();
        r.series.clear();
        assert!(svg(&r).contains("</svg>"));
    }

    #[test]
    fn nice_ceiling_rounds_up_to_one_two_five() {
        assert!((nice_ceiling(3.2) - 5.0).abs() < 1e-9);
        assert!((nice_ceiling(0.07) - 0.1).abs() < 1e-9);
        assert!((nice_ceiling(120.0) - 200.0).abs() < 1e-9);
        assert!((nice_ceiling(0.0) - 1.0).abs() < 1e-9);
    }
}
