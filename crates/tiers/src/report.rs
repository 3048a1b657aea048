//! The profile table: one line per function that ran — calls, cycles, tier and the
//! time each tier's code took to make (`profile: …` lines; the tests read them) — and
//! the compile-latency figures of an app's promotions (`METRIC jit.compile_ms.…`,
//! [`compile_metrics`]).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::table::{MAX_TIERS, Table};

/// What the engine reports per function.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FunctionReport {
    /// Readable name.
    pub name: String,
    /// The function's symbol in the module (what `name` shortens).
    pub symbol: String,
    /// Calls.
    pub calls: u64,
    /// Outermost-activation cycles.
    pub cycles: u64,
    /// Current tier (an index into the tier table).
    pub tier: u32,
    /// `compile_ms[k]`: milliseconds its own code for tier `k` took to make, if it was
    /// made for this function alone (on promotion).
    pub compile_ms: [Option<f64>; MAX_TIERS],
    /// `steps[k]`: where those milliseconds went, when the code was compiled (not
    /// loaded from a snapshot).
    pub steps: [Option<CompileSteps>; MAX_TIERS],
}

/// Where the time of one promotion's compilation went, in milliseconds: the steps of
/// the tiered engine's `compile_function`, in order.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CompileSteps {
    /// Reading the app's bitcode into a fresh module.
    pub parse: f64,
    /// Shaping it for the tier: the function isolated, or rewritten for the top tier.
    pub shape: f64,
    /// The tier's optimisation pipeline.
    pub optimise: f64,
    /// Code generation into a relocatable object.
    pub codegen: f64,
    /// Linking the object into the JIT and looking its symbol up.
    pub link: f64,
}

impl CompileSteps {
    /// The steps' names, in the order of [`CompileSteps::values`] (the last part of
    /// their METRIC names).
    pub const NAMES: [&'static str; 5] = ["parse", "shape", "optimise", "codegen", "link"];

    /// The steps' milliseconds, in the order of [`CompileSteps::NAMES`].
    pub fn values(&self) -> [f64; 5] {
        [self.parse, self.shape, self.optimise, self.codegen, self.link]
    }
}

/// The median of `values` (the mean of the middle two for an even count); `None` when
/// there are none.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// A function name as one segment of a METRIC name: anything but ASCII letters,
/// digits and `_` becomes `_`.
fn metric_segment(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

/// The compile-latency METRIC lines of app `app`'s promotions in `report`:
///
/// - per promotion, `jit.compile_ms.<app>.<function>.<tier>` (the whole promotion);
/// - per tier with promotions, `jit.promotions.<app>.<tier>` (how many),
///   `jit.promote_ms_median.<app>.<tier>` and `jit.promote_ms_max.<app>.<tier>`;
/// - per tier and step, `jit.promote_share_pct.<app>.<tier>.<step>`: that step's share
///   of all the tier's compiled promotions' time (the steps of every promotion added
///   up), which says where the time goes.
pub fn compile_metrics(app: &str, table: Table, report: &[FunctionReport]) -> Vec<String> {
    let mut lines = Vec::new();
    for (k, tier) in table.rows().iter().enumerate() {
        let mut totals = Vec::new();
        let mut steps = [0.0; 5];
        for f in report {
            let Some(ms) = f.compile_ms[k] else { continue };
            lines.push(format!("METRIC jit.compile_ms.{app}.{}.{} {ms:.2} ms", metric_segment(&f.name), tier.name));
            totals.push(ms);
            if let Some(s) = f.steps[k] {
                for (sum, v) in steps.iter_mut().zip(s.values()) {
                    *sum += v;
                }
            }
        }
        let Some(mid) = median(&totals) else { continue };
        let max = totals.iter().copied().fold(0.0, f64::max);
        lines.push(format!("METRIC jit.promotions.{app}.{} {} promotions", tier.name, totals.len()));
        lines.push(format!("METRIC jit.promote_ms_median.{app}.{} {mid:.2} ms", tier.name));
        lines.push(format!("METRIC jit.promote_ms_max.{app}.{} {max:.2} ms", tier.name));
        let all: f64 = steps.iter().sum();
        if all > 0.0 {
            for (name, v) in CompileSteps::NAMES.iter().zip(steps) {
                lines.push(format!("METRIC jit.promote_share_pct.{app}.{}.{name} {:.1} %", tier.name, 100.0 * v / all));
            }
        }
    }
    lines
}

/// The profile table of `report` as lines, each starting with `prefix`: a header, then
/// one line per function that was called — name, calls, cycles, tier, and one column
/// per tier of `table` whose code is made (`t1 compile`, `t2 compile`).
pub fn profile_lines(prefix: &str, table: Table, report: &[FunctionReport]) -> Vec<String> {
    let columns: Vec<(usize, String)> = (table.rows().iter().enumerate())
        .filter_map(|(k, t)| t.producer.verb().map(|verb| (k, format!("{} {verb}", t.name))))
        .collect();
    let mut header = format!("{prefix} {:<28} {:>10} {:>16} {:>5}", "function", "calls", "cycles", "tier");
    for (_, title) in &columns {
        header += &format!(" {title:>12}");
    }
    let mut lines = alloc::vec![header];
    let ms = |t: Option<f64>| t.map_or("-".to_string(), |ms| format!("{ms:.1} ms"));
    for f in report.iter().filter(|f| f.calls > 0) {
        let mut line = format!("{prefix} {:<28} {:>10} {:>16} {:>5}", f.name, f.calls, f.cycles, table.name(f.tier));
        for (k, _) in &columns {
            line += &format!(" {:>12}", ms(f.compile_ms[*k]));
        }
        lines.push(line);
    }
    lines
}

/// What the tiered engine's runs of one app came to, for [`summary_lines`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TieredFigures {
    /// Promotions over all its runs (`METRIC app.<app>.tier_ups`).
    pub tier_ups: u32,
    /// The first run after which nothing was promoted any more.
    pub hot_after_run: u32,
    /// Milliseconds from loading until the end of that run (`app.<app>.time_to_hot_ms`).
    pub time_to_hot_ms: f64,
}

/// The run whose speed-ups the summary's last column is against.
pub const INTERPRETED_RUN: &str = "interp";

/// One app's summary on the console, at the end of the suite (`summary: …` lines):
/// per run (`aot`, the tier table's runs, `t2host`, `tiered` for the tiered engine's
/// hot run) its cycles, its speed-up against AOT (AOT's cycles over the run's: above 1
/// is faster than rustc's build) and against the interpreter (the interpreted run's
/// cycles over the run's); then the tiered engine's tier-ups and time to hot. A ratio
/// whose run is missing is `-`. Every figure is one of the same run's `METRIC` lines or
/// a quotient of two of them (the tests check that).
pub fn summary_lines(app: &str, runs: &[(&str, u64)], tiered: Option<TieredFigures>) -> Vec<String> {
    let cycles_of = |run: &str| runs.iter().find(|r| r.0 == run).map(|r| r.1).filter(|&c| c > 0);
    let speedup = |base: Option<u64>, c: u64| match base {
        Some(b) if c > 0 => format!("{:.2}x", b as f64 / c as f64),
        _ => "-".to_string(),
    };
    let mut lines = Vec::new();
    lines.push(format!("summary: {app}"));
    lines.push(format!("summary:   {:<14} {:>14} {:>9} {:>10}", "run", "cycles", "vs aot", "vs interp"));
    for &(run, c) in runs {
        let label = if run == "tiered" { "tiered (hot)" } else { run };
        lines.push(format!(
            "summary:   {label:<14} {c:>14} {:>9} {:>10}",
            speedup(cycles_of("aot"), c),
            speedup(cycles_of(INTERPRETED_RUN), c)
        ));
    }
    if let Some(t) = tiered {
        lines.push(format!(
            "summary:   {} tier-ups; hot after run {}; time to hot {:.1} ms",
            t.tier_ups, t.hot_after_run, t.time_to_hot_ms
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TIERS;

    #[test]
    fn the_table_reads_as_before_tiers_were_data() {
        let mut compile_ms = [None; MAX_TIERS];
        (compile_ms[1], compile_ms[2]) = (Some(2.04), Some(31.0));
        let report = [
            FunctionReport {
                name: "fib".into(),
                calls: 43782,
                cycles: 123456,
                tier: 2,
                compile_ms,
                ..Default::default()
            },
            FunctionReport { name: "never_called".into(), ..Default::default() },
            FunctionReport { name: "bf_app_main".into(), calls: 2, cycles: 99, tier: 0, ..Default::default() },
        ];
        let lines = profile_lines("profile:", TIERS, &report);
        // The format the tests read (tests/tests/jit.rs), column for column.
        assert_eq!(
            lines,
            [
                "profile: function                          calls           cycles  tier   t1 compile   t2 compile",
                "profile: fib                               43782           123456    t2       2.0 ms      31.0 ms",
                "profile: bf_app_main                           2               99    t0            -            -",
            ]
        );
        let cols: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!((cols[2], cols[4]), ("2", "t0"));
    }

    #[test]
    fn medians_of_odd_even_and_empty_lists() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn compile_metrics_give_each_promotion_the_medians_and_where_the_time_went() {
        let steps = |parse, optimise, codegen| CompileSteps { parse, shape: 0.0, optimise, codegen, link: 1.0 };
        let promoted = |name: &str, t1: f64, t2: Option<f64>| {
            let mut f = FunctionReport { name: name.into(), calls: 10, ..Default::default() };
            f.compile_ms[1] = Some(t1);
            f.steps[1] = Some(steps(1.0, 1.0, t1 - 3.0));
            f.compile_ms[2] = t2;
            f.steps[2] = t2.map(|ms| steps(2.0, ms - 4.0, 1.0));
            f
        };
        let report = [
            promoted("fib", 5.0, Some(30.0)),
            promoted("sha256::{{closure}}", 7.0, None),
            promoted("main", 9.0, None),
            FunctionReport { name: "cold".into(), ..Default::default() },
        ];
        let lines = compile_metrics("demo", TIERS, &report);
        let has = |line: &str| assert!(lines.iter().any(|l| l == line), "{line} missing from {lines:#?}");
        has("METRIC jit.compile_ms.demo.fib.t1 5.00 ms");
        // A name that is not one METRIC segment is made into one.
        has("METRIC jit.compile_ms.demo.sha256____closure__.t1 7.00 ms");
        has("METRIC jit.promotions.demo.t1 3 promotions");
        has("METRIC jit.promote_ms_median.demo.t1 7.00 ms");
        has("METRIC jit.promote_ms_max.demo.t1 9.00 ms");
        has("METRIC jit.promotions.demo.t2 1 promotions");
        has("METRIC jit.promote_ms_median.demo.t2 30.00 ms");
        // t1: parse 3 ms, optimise 3, codegen 2+4+6 = 12, link 3, of 21 ms.
        has("METRIC jit.promote_share_pct.demo.t1.codegen 57.1 %");
        has("METRIC jit.promote_share_pct.demo.t1.parse 14.3 %");
        // t2: optimise 26 of 30 ms.
        has("METRIC jit.promote_share_pct.demo.t2.optimise 86.7 %");
        // The interpreter's tier makes no code: no lines for it.
        assert!(!lines.iter().any(|l| l.contains(".t0")), "{lines:#?}");
    }

    #[test]
    fn the_summary_gives_each_run_its_speedups() {
        let tiered = TieredFigures { tier_ups: 7, hot_after_run: 2, time_to_hot_ms: 123.456 };
        let lines = summary_lines("fib", &[("aot", 100), ("interp", 3_000), ("t2", 50), ("tiered", 80)], Some(tiered));
        assert_eq!(
            lines,
            [
                "summary: fib",
                "summary:   run                    cycles    vs aot  vs interp",
                "summary:   aot                       100     1.00x     30.00x",
                "summary:   interp                   3000     0.03x      1.00x",
                "summary:   t2                         50     2.00x     60.00x",
                "summary:   tiered (hot)               80     1.25x     37.50x",
                "summary:   7 tier-ups; hot after run 2; time to hot 123.5 ms",
            ]
        );
        let lines = summary_lines("fib", &[("aot", 100), ("t1", 0)], None);
        assert_eq!(lines[3], "summary:   t1                          0         -          -", "no run, no ratio");
    }
}
