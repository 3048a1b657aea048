//! BareFlow's tiers as data (docs/engine.md, "Tiers").
//!
//! A tier is a row of one table ([`TIERS`]): its name, how its code is produced
//! ([`Producer`]: interpreted, compiled at an LLVM pipeline, and later loaded from a
//! snapshot or compiled for the host CPU) and the thresholds that promote a function
//! into it ([`Threshold`]). The kernel's tiered engine, the app suite (`--tiers=`, its
//! runs and columns), the profile report and the policy all read the table, so adding
//! a tier is adding a row — plus, for a new kind of [`Producer`], its producer in the
//! kernel (`kernel/src/jit/tiered.rs` promotes into it, `kernel/src/jit/suite.rs` runs
//! a whole app in it).
//!
//! * [`table`]: the rows ([`Tier`], [`Producer`], [`Table`], [`TIERS`]);
//! * [`policy`]: when a function moves up ([`TierPolicy`], and [`LivePolicy`], the
//!   same thresholds in atomics for the profiling hooks' lock-free fast path);
//! * [`profile`]: what the hooks count per function ([`Counters`]) and what the
//!   policy is asked with ([`Heat`]);
//! * [`report`]: the profile table the suite and the self-test print;
//! * [`screen`]: the status screen (80×25 text cells) the kernel shows on VGA.
//!
//! No LLVM and no kernel: everything here is unit-tested on the host
//! (`cargo test -p bf-tiers`).
#![no_std]

extern crate alloc;

pub mod policy;
pub mod profile;
pub mod report;
pub mod screen;
pub mod table;

pub use policy::{LivePolicy, TierPolicy};
pub use profile::{Activation, Counters, Heat};
pub use report::{CompileSteps, FunctionReport, TieredFigures, compile_metrics, summary_lines};
pub use table::{MAX_TIERS, Opt, Producer, TIERS, Table, Threshold, Tier};
