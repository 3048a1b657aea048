//! Tier 0: an interpreter over a lowered form of the app's IR, mixed freely with the
//! JIT-compiled tiers (docs/engine.md, "Tier 0").
//!
//! * [`exec`]: the lowered form (a flat `Vec<Op>` per function over numbered 64-bit
//!   registers) and the execution loop — no LLVM, unit-tested on the host;
//! * [`abi`]: signatures and the IR text of the entry stubs (native → interpreter) and
//!   adapters (interpreter → native) — no LLVM, unit-tested on the host;
//! * `lower`: LLVM IR → lowered form, through the LLVM C API;
//! * `engine`: preparing a module for tier 0 and linking it against the JIT's code and
//!   data (`bf_interp_call`, the interpreter's entry from stubs).

pub mod abi;
#[cfg(feature = "llvm")]
pub mod engine;
pub mod exec;
#[cfg(feature = "llvm")]
pub mod lower;
