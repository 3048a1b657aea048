//! The tier table: every tier the engine knows, one row each, bottom to top.
//!
//! A function starts in a low tier and moves up, one row at a time, when its profile
//! crosses the next row's [`Threshold`]. The top row is the engine's final code: it is
//! compiled without the profiling hooks (it has nowhere further to go) and only counts
//! its calls.

use crate::profile::Heat;

/// How many rows a table may have: the capacity of the profiling hooks' threshold
/// atomics ([`crate::LivePolicy`]) and of the per-function compile times
/// ([`crate::FunctionReport::compile_ms`]).
pub const MAX_TIERS: usize = 8;

/// An optimisation level: LLVM's `default<On>` pipeline, or the bitcode as compiled;
/// what a compiled tier's row names, and what the kernel's JIT compiles at
/// (`jit::Module::optimise`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opt {
    /// `default<O0>`.
    O0,
    /// The bitcode as its compiler optimised it (the apps' is rustc's and clang's
    /// `-O2`): only the always-inliner runs (the profiling fast path's helpers), no
    /// optimisation pipeline over code that has had one; the code generator is
    /// `-O2`'s. Tier 1's level: LLVM's `default<O1>` over such bitcode made no
    /// measurable difference to the code and took a third of a promotion.
    AsCompiled,
    /// `default<O1>`.
    O1,
    /// `default<O2>`.
    O2,
    /// `default<O3>`.
    O3,
}

impl Opt {
    /// The level's name in METRIC lines and messages (`o0` … `o3`).
    pub const fn name(self) -> &'static str {
        match self {
            Opt::O0 => "o0",
            Opt::AsCompiled => "as-compiled",
            Opt::O1 => "o1",
            Opt::O2 => "o2",
            Opt::O3 => "o3",
        }
    }

    /// The new pass manager's pipeline text for this level.
    pub const fn pipeline(self) -> &'static str {
        match self {
            Opt::O0 => "default<O0>",
            Opt::AsCompiled => "always-inline",
            Opt::O1 => "default<O1>",
            Opt::O2 => "default<O2>",
            Opt::O3 => "default<O3>",
        }
    }
}

/// How a tier's code is produced. Each variant has one producer in the kernel: the
/// tiered engine's promotion into a tier of that kind and the suite's whole-app run in
/// it both `match` on this enum, so a new variant is refused by the compiler until
/// both places handle it.
///
/// The last variant is the **extension point** of a planned tier. No row of [`TIERS`]
/// uses it yet; the kernel answers it with "no producer for this tier yet" until its
/// issue adds the producer (see [`TIERS`] for its row). Code kept in a snapshot is not
/// a producer of its own: a warm boot loads each function's object into the tier it was
/// compiled for (docs/persistence.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Producer {
    /// Lowered to the interpreter's form (bf-interp) and interpreted: nothing is
    /// compiled, the app starts at once (tier 0).
    Interpreted,
    /// Compiled by LLVM's `default<On>` pipeline for baseline x86-64: the function
    /// alone, instrumented and calling through the slots — or, in the top row, with
    /// every other function as an uninstrumented copy it may inline.
    Compiled(Opt),
    /// Extension point — **the figures issue** (issue 14): compiled at this level for
    /// the CPU the kernel runs on (its own features: AVX2, FMA, AVX-512 where present)
    /// instead of baseline x86-64, and reported as its own column.
    HostTuned(Opt),
}

impl Producer {
    /// What making code for this tier is called in the profile's column headers:
    /// `compile` (`None`: interpreted code has no column).
    pub const fn verb(self) -> Option<&'static str> {
        match self {
            Producer::Interpreted => None,
            Producer::Compiled(_) | Producer::HostTuned(_) => Some("compile"),
        }
    }
}

/// What promotes a function into a tier: whichever comes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Threshold {
    /// This many calls, counted from the function's first call in any tier…
    pub calls: u64,
    /// …or this many cycles of its outermost activations *in the tier below* (cycles
    /// in lower tiers say little: interpreted cycles are 7–90× inflated).
    pub cycles: u64,
}

impl Threshold {
    /// Never reached: nothing promotes into the bottom row, and a policy that must not
    /// promote uses it everywhere.
    pub const NEVER: Threshold = Threshold { calls: u64::MAX, cycles: u64::MAX };

    /// Whether a function with this profile has crossed the threshold.
    #[inline(always)]
    pub fn reached(&self, heat: &Heat) -> bool {
        heat.calls >= self.calls || heat.cycles_in_tier() >= self.cycles
    }
}

/// One tier: a row of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tier {
    /// Its name in the engine's messages and the profile (`tier: fib -> t1 after …`,
    /// the `tier` column): `t0`, `t1`, `t2`. Compiled code of a function in it is named
    /// `<function>.<name>` in the JIT.
    pub name: &'static str,
    /// The name of the suite's whole-app run in this tier: what `--tiers=` selects, the
    /// suite's column and `METRIC app.<app>.<run>_cycles` (`interp`, `t1`, `t2`).
    pub run: &'static str,
    /// How its code is produced.
    pub producer: Producer,
    /// What moves a function from the row below into this one ([`Threshold::NEVER`]
    /// in the bottom row).
    pub promote: Threshold,
}

/// An ordered list of tiers, bottom (where functions start) to top.
#[derive(Clone, Copy, Debug)]
pub struct Table {
    rows: &'static [Tier],
}

impl Table {
    /// A table of `rows`, bottom first. Fails to compile (as a constant) or panics if
    /// there are no rows or more than [`MAX_TIERS`].
    pub const fn new(rows: &'static [Tier]) -> Table {
        assert!(!rows.is_empty() && rows.len() <= MAX_TIERS, "a tier table has 1 to MAX_TIERS rows");
        Table { rows }
    }

    /// The rows, bottom first.
    pub const fn rows(&self) -> &'static [Tier] {
        self.rows
    }

    /// The number of rows.
    pub const fn len(&self) -> usize {
        self.rows.len()
    }

    /// Always false: a table has at least one row.
    pub const fn is_empty(&self) -> bool {
        false
    }

    /// The index of the top row.
    pub const fn top(&self) -> u32 {
        self.rows.len() as u32 - 1
    }

    /// Row `index`, if there is one.
    pub fn get(&self, index: u32) -> Option<&'static Tier> {
        self.rows.get(index as usize)
    }

    /// The name of row `index` (`t<index>` for an index past the table).
    pub fn name(&self, index: u32) -> alloc::borrow::Cow<'static, str> {
        match self.get(index) {
            Some(t) => t.name.into(),
            None => alloc::format!("t{index}").into(),
        }
    }

    /// The row whose suite run is called `run`, with its index.
    pub fn by_run(&self, run: &str) -> Option<(u32, &'static Tier)> {
        self.rows.iter().enumerate().find(|(_, t)| t.run == run).map(|(i, t)| (i as u32, t))
    }

    /// The first row at or above `index` whose code is not interpreted (the top row if
    /// none is): the tier the engine's load-time module is compiled for when functions
    /// start in `index`, and where functions the interpreter cannot take start.
    pub const fn first_native_from(&self, index: u32) -> u32 {
        let mut i = index as usize;
        while i < self.rows.len() {
            if !matches!(self.rows[i].producer, Producer::Interpreted) {
                return i as u32;
            }
            i += 1;
        }
        self.top()
    }
}

/// BareFlow's tiers (docs/engine.md, "Tiers"): the interpreter, then tier 1 (one
/// function at O1, instrumented) and tier 2 (the function with its callees at O3).
///
/// Adding a tier is adding a row here; a new kind of code also needs its
/// [`Producer`] variant handled in the kernel. The planned host-tuned tier is one row:
///
/// ```
/// # use bf_tiers::{Opt, Producer, Table, Threshold, Tier, TIERS};
/// // The figures issue: t2's pipeline for this CPU's own features, above t2.
/// const HOST_TUNED: Tier = Tier {
///     name: "t3",
///     run: "t3",
///     producer: Producer::HostTuned(Opt::O3),
///     promote: Threshold { calls: 1_000, cycles: 200_000_000 },
/// };
/// const ROWS: &[Tier] = &[TIERS.rows()[0], TIERS.rows()[1], TIERS.rows()[2], HOST_TUNED];
/// const WITH_HOST_TUNED: Table = Table::new(ROWS);
/// assert_eq!(WITH_HOST_TUNED.top(), 3);
/// ```
pub const TIERS: Table = Table::new(&[
    Tier { name: "t0", run: "interp", producer: Producer::Interpreted, promote: Threshold::NEVER },
    // Low: the interpreter is 8–34× slower than tier 1, and a compile of one
    // function as compiled takes milliseconds.
    Tier {
        name: "t1",
        run: "t1",
        producer: Producer::Compiled(Opt::AsCompiled),
        promote: Threshold { calls: 10, cycles: 2_000_000 },
    },
    // 20 M cycles ≈ 8 ms at a 2.6 GHz TSC.
    Tier {
        name: "t2",
        run: "t2",
        producer: Producer::Compiled(Opt::O3),
        promote: Threshold { calls: 100, cycles: 20_000_000 },
    },
]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bareflow_tiers_are_interp_t1_t2() {
        let names: alloc::vec::Vec<_> = TIERS.rows().iter().map(|t| (t.name, t.run)).collect();
        assert_eq!(names, [("t0", "interp"), ("t1", "t1"), ("t2", "t2")]);
        assert_eq!(TIERS.top(), 2);
        assert_eq!(TIERS.rows()[0].promote, Threshold::NEVER, "nothing promotes into the bottom row");
    }

    #[test]
    fn rows_are_found_by_run_and_named_by_index() {
        assert_eq!(TIERS.by_run("interp").map(|(i, _)| i), Some(0));
        assert_eq!(TIERS.by_run("t2").map(|(i, t)| (i, t.producer)), Some((2, Producer::Compiled(Opt::O3))));
        assert!(TIERS.by_run("tiered").is_none());
        assert_eq!(TIERS.name(1), "t1");
        assert_eq!(TIERS.name(9), "t9");
    }

    #[test]
    fn native_code_starts_at_the_first_compiled_row() {
        assert_eq!(TIERS.first_native_from(0), 1);
        assert_eq!(TIERS.first_native_from(1), 1);
        assert_eq!(TIERS.first_native_from(2), 2);
        const ROWS: &[Tier] = &[TIERS.rows()[0]];
        const ONLY_INTERP: Table = Table::new(ROWS);
        assert_eq!(ONLY_INTERP.first_native_from(0), 0);
    }

    #[test]
    fn thresholds_count_calls_overall_and_cycles_in_the_tier_below() {
        let t = Threshold { calls: 10, cycles: 1_000 };
        let heat = |calls, cycles, cycles_at_tier_entry| Heat { tier: 0, calls, cycles, cycles_at_tier_entry };
        assert!(!t.reached(&heat(9, 999, 0)));
        assert!(t.reached(&heat(10, 0, 0)));
        assert!(t.reached(&heat(1, 1_000, 0)));
        assert!(!t.reached(&heat(1, 5_000, 4_500)), "cycles before the current tier do not count");
        assert!(!Threshold::NEVER.reached(&heat(u64::MAX - 1, u64::MAX - 1, 0)));
    }

    #[test]
    fn producers_name_their_profile_column() {
        assert_eq!(Producer::Interpreted.verb(), None);
        assert_eq!(Producer::Compiled(Opt::AsCompiled).verb(), Some("compile"));
        assert_eq!(Producer::HostTuned(Opt::O3).verb(), Some("compile"));
    }
}
