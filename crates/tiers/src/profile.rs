//! The profile: what the profiling hooks count per function, and the heat the policy
//! is asked with.
//!
//! One thread (and one core on bare metal) updates the counters, so they are atomics
//! only to be readable at any time and to sit at fixed addresses; each update is a
//! plain load and store, not a locked instruction (which would cost a fraction of
//! every call of every profiled function).

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::table::Threshold;

/// What the profile knows about one function when the policy is asked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Heat {
    /// The tier it runs in now (an index into the tier table).
    pub tier: u32,
    /// Calls so far, this one included, in any tier.
    pub calls: u64,
    /// Cycles of its outermost activations so far, in any tier.
    pub cycles: u64,
    /// The value `cycles` had when it entered its current tier (0 for the tier it
    /// started in).
    pub cycles_at_tier_entry: u64,
}

impl Heat {
    /// Cycles of its outermost activations since it entered its current tier.
    #[inline(always)]
    pub fn cycles_in_tier(&self) -> u64 {
        self.cycles.saturating_sub(self.cycles_at_tier_entry)
    }
}

/// Profile counters of one function, updated by the profiling fast path: in line in
/// compiled code (the instructions `jit::rewrite` emits mirror [`Counters::count_call`],
/// [`Counters::start`] and [`Counters::stop`] field for field, at the offsets of
/// [`layout`]) and through the interpreter's hooks, which call these methods.
///
/// Per call the fast path counts the call, compares the count with
/// `check_at_calls` and starts the clock only if no activation of the function is
/// running (recursion is timed once); the activation that started it stops it on
/// return (in compiled code the outermost activation runs out of line, in a wrapper
/// that starts and stops the clock around the call: `jit::rewrite`). The policy is asked
/// only when `check_at_calls` is reached: at the first call, at the call count that
/// crosses the next threshold, and after an outermost activation pushed `cycles` over
/// `check_at_cycles` (which sets `check_at_calls` to 0). Asking re-arms both
/// ([`Counters::arm`]).
#[derive(Debug, Default)]
#[repr(C)]
pub struct Counters {
    /// Calls so far.
    pub calls: AtomicU64,
    /// Cycles spent in outermost activations (recursion counted once).
    pub cycles: AtomicU64,
    /// 1 while an activation's clock runs (the outermost one), else 0.
    running: AtomicU64,
    entered_at: AtomicU64,
    /// `cycles` when the function entered its current tier (0 for the tier it
    /// started in): the policy counts only cycles in the current tier.
    cycles_at_tier_entry: AtomicU64,
    /// The call count at which the policy must be asked (0: at the next call).
    check_at_calls: AtomicU64,
    /// Once `cycles` reaches this, the policy is asked at the next call.
    check_at_cycles: AtomicU64,
    /// The tier it runs in (an index into the tier table).
    pub tier: AtomicU32,
}

/// Byte offsets of [`Counters`]' fields and its size: what compiled code's in-line
/// fast path addresses (`bf.counters` + id × [`SIZE`](layout::SIZE) + offset).
pub mod layout {
    use super::Counters;
    use core::mem::{offset_of, size_of};

    /// `calls`.
    pub const CALLS: usize = offset_of!(Counters, calls);
    /// `cycles`.
    pub const CYCLES: usize = offset_of!(Counters, cycles);
    /// `running` (1 while the outermost activation's clock runs).
    pub const RUNNING: usize = offset_of!(Counters, running);
    /// `entered_at` (the clock's start).
    pub const ENTERED_AT: usize = offset_of!(Counters, entered_at);
    /// `check_at_calls`.
    pub const CHECK_AT_CALLS: usize = offset_of!(Counters, check_at_calls);
    /// `check_at_cycles`.
    pub const CHECK_AT_CYCLES: usize = offset_of!(Counters, check_at_cycles);
    /// The size of one function's counters (the stride of the array).
    pub const SIZE: usize = size_of::<Counters>();

    // The array is a global of `i64`s: whole words, and no stricter alignment.
    const _: () = assert!(SIZE.is_multiple_of(8) && core::mem::align_of::<Counters>() <= 8);
}

/// Outermost activations are all timed up to this call count; after it, one in this
/// many (the calls whose count is a multiple of it), each counting this many times.
/// A function called often reaches its call threshold long before the cycle one, so
/// sampling its clock loses the policy nothing, and it spares short functions two
/// `rdtsc` per call; a function called fewer times is timed exactly.
pub const TIMED_EVERY: u64 = 64;

// Compiled code finds the sampled calls with `calls & (TIMED_EVERY - 1)`.
const _: () = assert!(TIMED_EVERY.is_power_of_two());

/// What one activation of a function passes from [`Counters::start`] to
/// [`Counters::stop`] (a `u64` in compiled code and in the interpreter's hooks): 0 for
/// an inner activation (recursion: nothing to do on return), otherwise
/// `weight << 1 | 1` for the outermost one, where `weight` is how many times its
/// cycles count (0: not timed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct Activation(pub u64);

impl Activation {
    /// An activation below a running one of the same function.
    pub const INNER: Activation = Activation(0);

    /// The outermost activation that is call number `calls`: timed with weight 1 up to
    /// [`TIMED_EVERY`] calls, then with weight [`TIMED_EVERY`] on every multiple of it,
    /// else untimed.
    #[inline(always)]
    pub const fn of_call(calls: u64) -> Activation {
        let weight = if calls <= TIMED_EVERY {
            1
        } else if calls.is_multiple_of(TIMED_EVERY) {
            TIMED_EVERY
        } else {
            0
        };
        Activation(weight << 1 | 1)
    }

    /// How many times its cycles count (0: not timed, or not the outermost).
    #[inline(always)]
    pub const fn weight(self) -> u64 {
        self.0 >> 1
    }
}

/// Adds `by` to a counter without a locked instruction (one thread updates the
/// counters) and returns the new value.
#[inline(always)]
fn bump(counter: &AtomicU64, by: u64) -> u64 {
    let v = counter.load(Ordering::Relaxed).wrapping_add(by);
    counter.store(v, Ordering::Relaxed);
    v
}

impl Counters {
    /// Counters of a function that starts in `tier`.
    pub fn starting_in(tier: u32) -> Counters {
        Counters { tier: AtomicU32::new(tier), ..Default::default() }
    }

    /// Counts a call; returns the call count, this call included (what
    /// [`Counters::due`] and [`Counters::start`] are given).
    #[inline(always)]
    pub fn count_call(&self) -> u64 {
        bump(&self.calls, 1)
    }

    /// Whether the call that brought the count to `calls` must ask the policy.
    #[inline(always)]
    pub fn due(&self, calls: u64) -> bool {
        calls >= self.check_at_calls.load(Ordering::Relaxed)
    }

    /// Activation number `calls` begins. The outermost activation (no other of this
    /// function running) marks the function running and, if it is timed
    /// ([`Activation::of_call`]), starts the clock (`now` is read only then). Returns
    /// what the activation passes to [`Counters::stop`].
    #[inline(always)]
    pub fn start(&self, calls: u64, now: impl FnOnce() -> u64) -> Activation {
        if self.running.load(Ordering::Relaxed) != 0 {
            return Activation::INNER;
        }
        self.running.store(1, Ordering::Relaxed);
        let a = Activation::of_call(calls);
        if a.weight() != 0 {
            self.entered_at.store(now(), Ordering::Relaxed);
        }
        a
    }

    /// Activation `a` returns. The outermost one marks the function idle; a timed one
    /// adds its cycles times its weight (`now` is read only then) and, when the cycles
    /// reach `check_at_cycles`, has the next call ask the policy.
    #[inline(always)]
    pub fn stop(&self, a: Activation, now: impl FnOnce() -> u64) {
        if a == Activation::INNER {
            return;
        }
        self.running.store(0, Ordering::Relaxed);
        if a.weight() != 0 {
            let spent = now().wrapping_sub(self.entered_at.load(Ordering::Relaxed));
            let cycles = bump(&self.cycles, spent.wrapping_mul(a.weight()));
            if cycles >= self.check_at_cycles.load(Ordering::Relaxed) {
                self.check_at_calls.store(0, Ordering::Relaxed);
            }
        }
    }

    /// After the policy was asked: the next call to ask it again is the one that
    /// reaches `next`'s call count, or the one after the outermost activation that
    /// brings the cycles in the current tier to `next`'s cycles.
    pub fn arm(&self, next: Threshold) {
        let tier_entry = self.cycles_at_tier_entry.load(Ordering::Relaxed);
        self.check_at_calls.store(next.calls, Ordering::Relaxed);
        self.check_at_cycles.store(tier_entry.saturating_add(next.cycles), Ordering::Relaxed);
    }

    /// The function moves to `tier`: from now on only its cycles there count toward
    /// the next tier, and the next call asks the policy (which re-arms the checks).
    pub fn enter_tier(&self, tier: u32) {
        self.tier.store(tier, Ordering::Relaxed);
        self.cycles_at_tier_entry.store(self.cycles.load(Ordering::Relaxed), Ordering::Relaxed);
        self.check_at_calls.store(0, Ordering::Relaxed);
    }

    /// Its activations were abandoned (the run they belonged to was left by a jump, not
    /// by returning): none is running any more, and their cycles are not counted.
    pub fn abandon(&self) {
        self.running.store(0, Ordering::Relaxed);
    }

    /// Its heat now: what the policy is asked with.
    pub fn heat(&self) -> Heat {
        Heat {
            tier: self.tier.load(Ordering::Relaxed),
            calls: self.calls.load(Ordering::Relaxed),
            cycles: self.cycles.load(Ordering::Relaxed),
            cycles_at_tier_entry: self.cycles_at_tier_entry.load(Ordering::Relaxed),
        }
    }
}

/// Stops the clock of every running activation in `counters` for `spent` cycles: time
/// the engine spent (compiling a tier-up) is not the app's time, and counting it would
/// push a function straight over its next threshold (a slow compile under TCG).
pub fn pause(counters: &[Counters], spent: u64) {
    for c in counters.iter().filter(|c| c.running.load(Ordering::Relaxed) != 0) {
        c.entered_at.store(c.entered_at.load(Ordering::Relaxed).wrapping_add(spent), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::Cell;

    /// A clock that advances 100 cycles per reading and counts its readings.
    struct Clock {
        now: Cell<u64>,
        reads: Cell<u32>,
    }

    impl Clock {
        fn new() -> Clock {
            Clock { now: Cell::new(1_000), reads: Cell::new(0) }
        }
        fn read(&self) -> u64 {
            self.reads.set(self.reads.get() + 1);
            self.now.set(self.now.get() + 100);
            self.now.get()
        }
    }

    /// One activation as the fast path runs it: count, ask if due, start the clock.
    fn enter(c: &Counters, clock: &Clock) -> (bool, Activation) {
        let calls = c.count_call();
        (c.due(calls), c.start(calls, || clock.read()))
    }

    #[test]
    fn calls_are_exact_and_recursion_is_timed_once() {
        let (c, clock) = (Counters::starting_in(0), Clock::new());
        let (ask, outer) = enter(&c, &clock);
        assert!(ask, "an unarmed function asks the policy at its first call");
        assert_eq!(outer, Activation(3), "outermost, timed, weight 1");
        c.arm(Threshold { calls: 10, cycles: u64::MAX });
        let (ask, inner) = enter(&c, &clock); // a recursive call
        assert!(!ask);
        assert_eq!(inner, Activation::INNER);
        c.stop(inner, || clock.read());
        assert_eq!(c.cycles.load(Ordering::Relaxed), 0, "an inner return adds nothing");
        c.stop(outer, || clock.read());
        assert_eq!(clock.reads.get(), 2, "the clock is read at the outermost entry and exit only");
        assert_eq!(c.cycles.load(Ordering::Relaxed), 100);
        assert_eq!(c.heat(), Heat { tier: 0, calls: 2, cycles: 100, cycles_at_tier_entry: 0 });
    }

    #[test]
    fn the_policy_is_asked_at_the_armed_call_count() {
        let (c, clock) = (Counters::starting_in(0), Clock::new());
        enter(&c, &clock);
        c.arm(Threshold { calls: 10, cycles: u64::MAX });
        let asked: alloc::vec::Vec<u64> = (2..=12).filter(|_| enter(&c, &clock).0).map(|_| c.heat().calls).collect();
        assert_eq!(asked, [10, 11, 12], "from the 10th call on, until re-armed");
    }

    #[test]
    fn cycles_over_the_threshold_make_the_next_call_ask() {
        let (c, clock) = (Counters::starting_in(0), Clock::new());
        let (_, outer) = enter(&c, &clock);
        c.arm(Threshold { calls: u64::MAX, cycles: 150 });
        c.stop(outer, || clock.read()); // 100 cycles: below
        let (ask, outer) = enter(&c, &clock);
        assert!(!ask);
        c.stop(outer, || clock.read()); // 200 cycles: over
        assert!(enter(&c, &clock).0, "the call after the activation that crossed asks");
    }

    #[test]
    fn a_new_tier_counts_its_own_cycles_and_asks_again() {
        let (c, clock) = (Counters::starting_in(0), Clock::new());
        let (_, outer) = enter(&c, &clock);
        c.arm(Threshold { calls: 10, cycles: 1_000 });
        c.stop(outer, || clock.read());
        c.enter_tier(1);
        let heat = c.heat();
        assert_eq!((heat.tier, heat.cycles, heat.cycles_at_tier_entry, heat.cycles_in_tier()), (1, 100, 100, 0));
        assert!(enter(&c, &clock).0, "the first call in a new tier asks the policy");
        c.arm(Threshold { calls: 100, cycles: 1_000 });
        assert_eq!(c.check_at_cycles.load(Ordering::Relaxed), 1_100, "cycles count from the tier's entry");
    }

    #[test]
    fn frequent_callers_are_timed_one_in_timed_every() {
        let (c, clock) = (Counters::starting_in(0), Clock::new());
        let (_, mut a) = enter(&c, &clock);
        c.arm(Threshold::NEVER);
        for calls in 1..=TIMED_EVERY * 3 {
            if calls > 1 {
                a = enter(&c, &clock).1;
            }
            c.stop(a, || clock.read());
        }
        assert_eq!(clock.reads.get() as u64, 2 * (TIMED_EVERY + 2), "all of the first 64, then calls 128 and 192");
        assert_eq!(
            c.cycles.load(Ordering::Relaxed),
            100 * (TIMED_EVERY + 2 * TIMED_EVERY),
            "each sample counts 64 times"
        );
        assert_eq!(c.heat().calls, TIMED_EVERY * 3, "every call is counted");
    }

    #[test]
    fn pausing_stops_only_running_clocks() {
        let both = [Counters::default(), Counters::default()];
        let outer = both[0].start(1, || 1_000);
        pause(&both, 5_000);
        both[0].stop(outer, || 7_000);
        assert_eq!(both[0].cycles.load(Ordering::Relaxed), 1_000, "6000 cycles minus the 5000 paused");
        assert_eq!(both[1].entered_at.load(Ordering::Relaxed), 0, "an idle function's clock is untouched");
    }

    #[test]
    fn abandoned_activations_stop_running() {
        let c = Counters::default();
        assert_ne!(c.start(1, || 1), Activation::INNER);
        c.abandon();
        assert_ne!(
            c.start(2, || 2),
            Activation::INNER,
            "after a run was abandoned, the next activation is outermost again"
        );
    }

    #[test]
    fn counters_are_c_layout_with_calls_first() {
        let c = Counters::default();
        assert_eq!(&c.calls as *const AtomicU64 as usize, &c as *const Counters as usize);
        assert_eq!(layout::CALLS, 0);
        assert_eq!(layout::SIZE, 64);
    }
}
