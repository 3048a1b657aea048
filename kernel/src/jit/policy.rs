//! The tier policy: when a function moves from tier 0 (the interpreter) to tier 1 and
//! from tier 1 to tier 2 (docs/engine.md, "Tier policy"). Pure logic, host-tested;
//! [`super::tiered`]'s profiling hook asks it on every call of a function below tier 2.

/// Where functions start and when they move up a tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TierPolicy {
    /// Start every interpretable function in tier 0 (the interpreter); otherwise
    /// everything starts in tier 1.
    pub interpret: bool,
    /// Tier 0 → 1 after this many calls…
    pub t1_calls: u64,
    /// …or once its outermost activations have used this many cycles.
    pub t1_cycles: u64,
    /// Tier 1 → 2 after this many calls (counted from the first call, in any tier)…
    pub t2_calls: u64,
    /// …or once its outermost activations have used this many cycles *in tier 1*
    /// (interpreted cycles are 7–90× inflated and say little about tier-1 heat).
    pub t2_cycles: u64,
}

/// What the profile knows about one function when the policy is asked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Heat {
    /// The tier it runs in now (0, 1 or 2).
    pub tier: u32,
    /// Calls so far, this one included, in any tier.
    pub calls: u64,
    /// Cycles of its outermost activations so far, in any tier.
    pub cycles: u64,
    /// The value `cycles` had when it entered its current tier (0 for the tier it
    /// started in).
    pub cycles_at_tier_entry: u64,
}

impl TierPolicy {
    /// The default policy (docs/engine.md): start interpreted; tier 1 after 10 calls
    /// or 2 million cycles; tier 2 after 100 calls or 20 million cycles in tier 1.
    pub const DEFAULT: TierPolicy =
        TierPolicy { interpret: true, t1_calls: 10, t1_cycles: 2_000_000, t2_calls: 100, t2_cycles: 20_000_000 };

    /// [`TierPolicy::DEFAULT`]'s call thresholds without its cycle thresholds: tier-ups
    /// at exactly the 10th and the 100th call whatever the machine's speed or load
    /// (the tiered self-test, whose output the tests compare).
    pub const CALLS_ONLY: TierPolicy = TierPolicy { t1_cycles: u64::MAX, t2_cycles: u64::MAX, ..TierPolicy::DEFAULT };

    /// Start in tier 1 and never promote: profiling only (for measuring the
    /// instrumentation's cost).
    pub const NEVER: TierPolicy = TierPolicy {
        interpret: false,
        t1_calls: u64::MAX,
        t1_cycles: u64::MAX,
        t2_calls: u64::MAX,
        t2_cycles: u64::MAX,
    };

    /// Start in tier 0 and stay there: the interpreter alone (`app.<name>.interp_cycles`).
    pub const INTERP_ONLY: TierPolicy = TierPolicy { interpret: true, ..TierPolicy::NEVER };

    /// The tier a function with this profile should move to now, if any.
    pub fn promotion(&self, heat: Heat) -> Option<u32> {
        let cycles_in_tier = heat.cycles.saturating_sub(heat.cycles_at_tier_entry);
        match heat.tier {
            0 if heat.calls >= self.t1_calls || cycles_in_tier >= self.t1_cycles => Some(1),
            1 if heat.calls >= self.t2_calls || cycles_in_tier >= self.t2_cycles => Some(2),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heat(tier: u32, calls: u64, cycles: u64, cycles_at_tier_entry: u64) -> Heat {
        Heat { tier, calls, cycles, cycles_at_tier_entry }
    }

    #[test]
    fn calls_promote_at_the_thresholds_exactly() {
        let p = TierPolicy::DEFAULT;
        assert_eq!(p.promotion(heat(0, 9, 0, 0)), None);
        assert_eq!(p.promotion(heat(0, 10, 0, 0)), Some(1));
        assert_eq!(p.promotion(heat(1, 99, 0, 0)), None);
        assert_eq!(p.promotion(heat(1, 100, 0, 0)), Some(2));
        assert_eq!(p.promotion(heat(2, 1_000_000, u64::MAX, 0)), None, "tier 2 is the top");
    }

    #[test]
    fn cycles_promote_a_function_called_rarely() {
        let p = TierPolicy::DEFAULT;
        assert_eq!(p.promotion(heat(0, 1, 1_999_999, 0)), None);
        assert_eq!(p.promotion(heat(0, 1, 2_000_000, 0)), Some(1));
        assert_eq!(p.promotion(heat(1, 2, 20_000_000, 0)), Some(2));
    }

    #[test]
    fn only_tier_one_cycles_count_toward_tier_two() {
        // 30 M cycles interpreted, then 5 M in tier 1: not hot enough in tier 1 yet.
        let p = TierPolicy::DEFAULT;
        assert_eq!(p.promotion(heat(1, 3, 35_000_000, 30_000_000)), None);
        assert_eq!(p.promotion(heat(1, 3, 50_000_000, 30_000_000)), Some(2));
    }

    #[test]
    fn calls_only_ignores_any_number_of_cycles() {
        let p = TierPolicy::CALLS_ONLY;
        let years = 1 << 62; // ~56 years of cycles at 2.6 GHz
        assert_eq!(p.promotion(heat(0, 9, years, 0)), None);
        assert_eq!(p.promotion(heat(0, 10, 0, 0)), Some(1));
        assert_eq!(p.promotion(heat(1, 99, years, 0)), None);
        assert_eq!(p.promotion(heat(1, 100, 0, 0)), Some(2));
    }

    #[test]
    fn never_and_interp_only_never_promote() {
        for p in [TierPolicy::NEVER, TierPolicy::INTERP_ONLY] {
            for tier in 0..3 {
                assert_eq!(p.promotion(heat(tier, u64::MAX - 1, u64::MAX - 1, 0)), None, "{p:?}");
            }
        }
        assert!(TierPolicy::INTERP_ONLY.interpret && !TierPolicy::NEVER.interpret);
    }
}
