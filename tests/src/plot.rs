//! The charts `make bench` writes beside `docs/benchmarks.md`: grouped bar charts as
//! SVG, written by hand. (The `plotters` crate lays text out with a font file it must
//! be given; an SVG viewer lays the labels out itself, and the file stays small and
//! the same for the same figures.)

use std::fmt::Write;

/// One group of bars: its label and one value per series (`NaN` or ≤ 0 on a log
/// scale: no bar).
pub struct Group {
    /// Under the group.
    pub label: String,
    /// In the order of the chart's series.
    pub values: Vec<f64>,
}

/// A grouped bar chart.
pub struct BarChart<'a> {
    /// Above the chart.
    pub title: &'a str,
    /// The value axis' label (with its unit).
    pub unit: &'a str,
    /// The series' names, in the legend and in each group's order.
    pub series: &'a [&'a str],
    /// The groups, left to right.
    pub groups: Vec<Group>,
    /// A logarithmic value axis (decades), for values that span orders of magnitude.
    pub log: bool,
}

/// Colours of the series, in order (then again).
const COLOURS: [&str; 8] = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#9c755f"];

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 60.0;
const BOTTOM: f64 = 50.0;

impl BarChart<'_> {
    /// The chart as an SVG document.
    pub fn svg(&self) -> String {
        let values = self.groups.iter().flat_map(|g| g.values.iter().copied());
        let shown: Vec<f64> = values.filter(|v| v.is_finite() && (!self.log || *v > 0.0)).collect();
        let max = shown.iter().copied().fold(0.0, f64::max);
        // The value axis: decades on a log scale, from the decade below the smallest
        // value; from 0 to a round maximum on a linear one.
        let (low, high) = if self.log {
            let min = shown.iter().copied().fold(f64::INFINITY, f64::min);
            (min.max(1e-9).log10().floor(), max.max(1e-9).log10().ceil().max(min.log10().floor() + 1.0))
        } else {
            (0.0, nice_ceiling(max))
        };
        let plot_h = HEIGHT - TOP - BOTTOM;
        let y = |v: f64| {
            let t = if self.log { (v.log10() - low) / (high - low) } else { v / high.max(f64::MIN_POSITIVE) };
            TOP + plot_h * (1.0 - t.clamp(0.0, 1.0))
        };
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(s, r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="22" font-size="16" text-anchor="middle">{}</text>"#,
            WIDTH / 2.0,
            xml(self.title)
        );
        // Grid lines and their labels.
        let ticks: Vec<f64> = if self.log {
            (low as i32..=high as i32).map(|e| 10f64.powi(e)).collect()
        } else {
            (0..=4).map(|i| high * i as f64 / 4.0).collect()
        };
        for t in ticks {
            let ty = y(t);
            let _ =
                writeln!(s, r##"<line x1="{LEFT}" x2="{}" y1="{ty:.1}" y2="{ty:.1}" stroke="#ddd"/>"##, WIDTH - RIGHT);
            let _ =
                writeln!(s, r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#, LEFT - 6.0, ty + 4.0, short(t));
        }
        let _ = writeln!(
            s,
            r#"<text transform="translate(16 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
            TOP + plot_h / 2.0,
            xml(self.unit)
        );
        // The bars.
        let group_w = (WIDTH - LEFT - RIGHT) / self.groups.len().max(1) as f64;
        let bar_w = group_w * 0.8 / self.series.len().max(1) as f64;
        for (g, group) in self.groups.iter().enumerate() {
            let x0 = LEFT + g as f64 * group_w + group_w * 0.1;
            for (i, &v) in group.values.iter().enumerate() {
                if !v.is_finite() || (self.log && v <= 0.0) {
                    continue;
                }
                let (x, top) = (x0 + i as f64 * bar_w, y(v));
                let _ = writeln!(
                    s,
                    r#"<rect x="{x:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {}: {}</title></rect>"#,
                    bar_w * 0.92,
                    TOP + plot_h - top,
                    COLOURS[i % COLOURS.len()],
                    xml(&group.label),
                    xml(self.series.get(i).copied().unwrap_or("")),
                    short(v)
                );
            }
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                x0 + group_w * 0.4,
                TOP + plot_h + 18.0,
                xml(&group.label)
            );
        }
        // The legend, one line above the plot.
        let mut lx = LEFT;
        for (i, name) in self.series.iter().enumerate() {
            let _ = writeln!(
                s,
                r#"<rect x="{lx:.1}" y="34" width="12" height="12" fill="{}"/>"#,
                COLOURS[i % COLOURS.len()]
            );
            let _ = writeln!(s, r#"<text x="{:.1}" y="45">{}</text>"#, lx + 16.0, xml(name));
            lx += 24.0 + 7.5 * name.len() as f64;
        }
        s.push_str("</svg>\n");
        s
    }
}

/// The smallest of 1, 2, 2.5, 5 × 10ⁿ at or above `v` (a linear axis' end).
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let decade = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * decade).find(|&c| c >= v).unwrap_or(10.0 * decade)
}

/// A value in a few characters: `12.3k`, `4.5M`, `1.2G`.
fn short(v: f64) -> String {
    let (scaled, suffix) = match v.abs() {
        a if a >= 1e9 => (v / 1e9, "G"),
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e3 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    let number = format!("{scaled:.2}");
    format!("{}{suffix}", number.trim_end_matches('0').trim_end_matches('.'))
}

/// `text` with XML's special characters escaped.
fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(log: bool) -> BarChart<'static> {
        BarChart {
            title: "cycles <per> tier",
            unit: "cycles",
            series: &["aot", "interp"],
            groups: vec![
                Group { label: "fib".into(), values: vec![1e6, 3e7] },
                Group { label: "sieve".into(), values: vec![5e6, f64::NAN] },
            ],
            log,
        }
    }

    #[test]
    fn bars_legend_and_axis_are_drawn() {
        let svg = chart(true).svg();
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<title>").count(), 3, "one bar per finite value");
        assert!(svg.contains("<title>fib interp: 30M</title>") && svg.contains("<title>sieve aot: 5M</title>"));
        assert!(svg.contains(">cycles &lt;per&gt; tier<"), "text is escaped");
        // Decades from 1M to 100M on the log axis.
        for tick in [">1M<", ">10M<", ">100M<"] {
            assert!(svg.contains(tick), "{tick} in\n{svg}");
        }
        assert!(svg.contains(">aot<") && svg.contains(">interp<"), "the legend");
    }

    #[test]
    fn a_log_bar_is_as_high_as_its_decades() {
        // 1M is the axis' bottom (no height), 30M reaches log10(30)/2 of the way to 100M.
        let svg = chart(true).svg();
        let height = |title: &str| -> f64 {
            let rect = svg.lines().find(|l| l.contains(title)).unwrap();
            let h = rect.split("height=\"").nth(1).unwrap().split('"').next().unwrap();
            h.parse().unwrap()
        };
        let plot_h = HEIGHT - TOP - BOTTOM;
        assert!(height("fib aot") < 0.5);
        assert!((height("fib interp") - plot_h * 30f64.log10() / 2.0).abs() < 0.2);
    }

    #[test]
    fn axis_ends_and_short_values_are_round() {
        assert_eq!(nice_ceiling(3.2e6), 5e6);
        assert_eq!(nice_ceiling(2.0), 2.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(short(33_300_000.0), "33.3M");
        assert_eq!(short(1000.0), "1k");
        assert_eq!(short(2.5), "2.5");
        assert!(!chart(false).svg().contains("NaN"));
    }
}
