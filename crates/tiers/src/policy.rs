//! The tier policy: where functions start and when they move up a tier
//! (docs/engine.md, "Tier policy"). The thresholds come from the tier table's rows;
//! the profiling fast path asks the policy when a function's counters reach what the
//! policy armed them with (`Counters::arm`).

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::profile::Heat;
use crate::table::{MAX_TIERS, TIERS, Table, Threshold};

/// Where functions start and when they move up a tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TierPolicy {
    /// The tier every function starts in (an index into the table; a function the
    /// interpreter cannot take starts in the first compiled tier above).
    pub start: u32,
    /// The top tier: nothing moves above it.
    pub top: u32,
    /// `promote[k]`: what moves a function from tier `k - 1` into tier `k`
    /// (`promote[0]` and the entries above `top` are [`Threshold::NEVER`]).
    pub promote: [Threshold; MAX_TIERS],
}

impl TierPolicy {
    /// The policy of `table`: start in its bottom row, move up at each row's
    /// thresholds.
    pub const fn of(table: Table) -> TierPolicy {
        let mut promote = [Threshold::NEVER; MAX_TIERS];
        let mut i = 1;
        while i < table.len() {
            promote[i] = table.rows()[i].promote;
            i += 1;
        }
        TierPolicy { start: 0, top: table.top(), promote }
    }

    /// The default policy (docs/engine.md), [`TIERS`]' thresholds: start interpreted;
    /// tier 1 after 10 calls or 2 million cycles; tier 2 after 100 calls or 20 million
    /// cycles in tier 1.
    pub const DEFAULT: TierPolicy = TierPolicy::of(TIERS);

    /// [`TierPolicy::DEFAULT`]'s call thresholds without its cycle thresholds: tier-ups
    /// at exactly the 10th and the 100th call whatever the machine's speed or load
    /// (the tiered self-test, whose output the tests compare).
    pub const CALLS_ONLY: TierPolicy = TierPolicy::DEFAULT.calls_only();

    /// Start in tier 1 (the first compiled tier) and never promote: profiling only
    /// (for measuring the instrumentation's cost).
    pub const NEVER: TierPolicy = TierPolicy::DEFAULT.never_promoting().starting_in(TIERS.first_native_from(0));

    /// Start in tier 0 and stay there: the interpreter alone (`app.<name>.interp_cycles`).
    pub const INTERP_ONLY: TierPolicy = TierPolicy::DEFAULT.never_promoting();

    /// This policy with its cycle thresholds removed.
    pub const fn calls_only(mut self) -> TierPolicy {
        let mut i = 0;
        while i < MAX_TIERS {
            self.promote[i].cycles = u64::MAX;
            i += 1;
        }
        self
    }

    /// This policy without any promotion.
    pub const fn never_promoting(mut self) -> TierPolicy {
        self.promote = [Threshold::NEVER; MAX_TIERS];
        self
    }

    /// This policy with functions starting in `tier`.
    pub const fn starting_in(mut self, tier: u32) -> TierPolicy {
        self.start = tier;
        self
    }

    /// The tier a function with this profile should move to now, if any.
    pub fn promotion(&self, heat: Heat) -> Option<u32> {
        let next = heat.tier + 1;
        (heat.tier < self.top && self.promote[next as usize].reached(&heat)).then_some(next)
    }
}

/// A [`TierPolicy`]'s thresholds in atomics: what the profiling hook reads on every
/// call, with no lock and no allocation (two loads for the thresholds of the next
/// tier, one for the top). Written only when an app is loaded or unloaded.
pub struct LivePolicy {
    top: AtomicU32,
    calls: [AtomicU64; MAX_TIERS],
    cycles: [AtomicU64; MAX_TIERS],
}

impl LivePolicy {
    /// A policy that never promotes (no app loaded).
    pub const fn never() -> LivePolicy {
        LivePolicy {
            top: AtomicU32::new(0),
            calls: [const { AtomicU64::new(u64::MAX) }; MAX_TIERS],
            cycles: [const { AtomicU64::new(u64::MAX) }; MAX_TIERS],
        }
    }

    /// Makes `policy`'s thresholds the ones [`LivePolicy::promotion`] applies.
    pub fn install(&self, policy: &TierPolicy) {
        for (i, t) in policy.promote.iter().enumerate() {
            self.calls[i].store(t.calls, Ordering::Relaxed);
            self.cycles[i].store(t.cycles, Ordering::Relaxed);
        }
        self.top.store(policy.top, Ordering::Relaxed);
    }

    /// What moves a function in `tier` up next under the installed policy
    /// ([`Threshold::NEVER`] at the top): what [`crate::Counters::arm`] is given after
    /// the policy was asked.
    pub fn next_threshold(&self, tier: u32) -> Threshold {
        if tier >= self.top.load(Ordering::Relaxed) {
            return Threshold::NEVER;
        }
        let next = tier as usize + 1;
        Threshold { calls: self.calls[next].load(Ordering::Relaxed), cycles: self.cycles[next].load(Ordering::Relaxed) }
    }

    /// As [`TierPolicy::promotion`], for the installed policy.
    #[inline(always)]
    pub fn promotion(&self, heat: Heat) -> Option<u32> {
        (heat.tier < self.top.load(Ordering::Relaxed) && self.next_threshold(heat.tier).reached(&heat))
            .then_some(heat.tier + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Opt, Producer, Tier};

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
        assert_eq!((TierPolicy::INTERP_ONLY.start, TierPolicy::NEVER.start), (0, 1));
        assert_eq!(TierPolicy::DEFAULT.start, 0, "the default starts interpreted");
    }

    #[test]
    fn the_live_policy_answers_as_the_policy_it_holds() {
        let live = LivePolicy::never();
        let grid = || {
            (0..4).flat_map(|tier| {
                [0, 9, 10, 99, 100, u64::MAX - 1].into_iter().flat_map(move |calls| {
                    [(0, 0), (1_999_999, 0), (2_000_000, 0), (35_000_000, 30_000_000), (50_000_000, 30_000_000)]
                        .into_iter()
                        .map(move |(cycles, entry)| heat(tier, calls, cycles, entry))
                })
            })
        };
        assert!(grid().all(|h| live.promotion(h).is_none()), "nothing installed: nothing promotes");
        for p in [TierPolicy::DEFAULT, TierPolicy::CALLS_ONLY, TierPolicy::NEVER, TierPolicy::INTERP_ONLY] {
            live.install(&p);
            for h in grid() {
                assert_eq!(live.promotion(h), p.promotion(h), "{p:?} {h:?}");
            }
        }
        live.install(&TierPolicy::NEVER);
        assert!(grid().all(|h| live.promotion(h).is_none()), "unloading installs NEVER");
    }

    /// Adding a tier is adding a row: a fourth, host-tuned row above t2 gets its own
    /// threshold, counted in tier-2 cycles, and t2 stops being the top.
    #[test]
    fn a_new_row_is_a_new_promotion() {
        const ROWS: &[Tier] = &[
            TIERS.rows()[0],
            TIERS.rows()[1],
            TIERS.rows()[2],
            Tier {
                name: "t3",
                run: "t3",
                producer: Producer::HostTuned(Opt::O3),
                promote: Threshold { calls: 1_000, cycles: 200_000_000 },
            },
        ];
        const TABLE: Table = Table::new(ROWS);
        let p = TierPolicy::of(TABLE);
        assert_eq!(p.top, 3);
        assert_eq!(p.promotion(heat(1, 100, 0, 0)), Some(2), "the rows below are unchanged");
        assert_eq!(p.promotion(heat(2, 999, 0, 0)), None);
        assert_eq!(p.promotion(heat(2, 1_000, 0, 0)), Some(3));
        assert_eq!(p.promotion(heat(2, 200, 250_000_000, 100_000_000)), None, "150 M cycles in tier 2");
        assert_eq!(p.promotion(heat(2, 200, 300_000_000, 100_000_000)), Some(3));
        assert_eq!(p.promotion(heat(3, u64::MAX - 1, u64::MAX, 0)), None, "the new top");
        let live = LivePolicy::never();
        live.install(&p);
        assert_eq!(live.promotion(heat(2, 1_000, 0, 0)), Some(3));
    }

    /// The fast path (count, ask when armed, re-arm) promotes at the same calls as
    /// asking the policy on every call would.
    #[test]
    fn armed_counters_promote_where_the_policy_says() {
        use crate::Counters;
        let live = LivePolicy::never();
        live.install(&TierPolicy::CALLS_ONLY);
        let c = Counters::starting_in(0);
        let mut promoted_at = alloc::vec::Vec::new();
        for _ in 0..150 {
            let calls = c.count_call();
            if c.due(calls) {
                if let Some(to) = live.promotion(c.heat()) {
                    promoted_at.push((c.heat().calls, to));
                    c.enter_tier(to);
                }
                c.arm(live.next_threshold(c.heat().tier));
            }
        }
        assert_eq!(promoted_at, [(10, 1), (100, 2)]);
    }
}
