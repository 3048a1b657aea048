//! The profile table: one line per function that ran — calls, cycles, tier and the
//! time each tier's code took to make (`profile: …` lines; the tests read them).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::table::{MAX_TIERS, Table};

/// What the engine reports per function.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FunctionReport {
    /// Readable name.
    pub name: String,
    /// Calls.
    pub calls: u64,
    /// Outermost-activation cycles.
    pub cycles: u64,
    /// Current tier (an index into the tier table).
    pub tier: u32,
    /// `compile_ms[k]`: milliseconds its own code for tier `k` took to make, if it was
    /// made for this function alone (on promotion).
    pub compile_ms: [Option<f64>; MAX_TIERS],
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TIERS;

    #[test]
    fn the_table_reads_as_before_tiers_were_data() {
        let mut compile_ms = [None; MAX_TIERS];
        (compile_ms[1], compile_ms[2]) = (Some(2.04), Some(31.0));
        let report = [
            FunctionReport { name: "fib".into(), calls: 43782, cycles: 123456, tier: 2, compile_ms },
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
}
