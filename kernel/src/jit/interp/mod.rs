//! Tier 0: an interpreter over a lowered form of the app's IR, mixed freely with the
//! JIT-compiled tiers (docs/engine.md, "Tier 0").
//!
//! The interpreter's core — the lowered form, its validation and execution loop, and
//! the signatures at the native border — is the workspace crate `bf-interp` (no LLVM,
//! host-tested), re-exported here as [`exec`] and [`abi`]. On top of it:
//!
//! * `glue`: the entry stubs and adapters between interpreted and native code, built
//!   with the IR builder;
//! * `lower`: LLVM IR → lowered form, through the LLVM C API;
//! * `engine`: preparing a module for tier 0 and linking it against the JIT's code and
//!   data (`bf_interp_call`, the interpreter's entry from stubs).

pub use bf_interp as exec;
pub use bf_interp::abi;
pub mod engine;
pub mod glue;
pub mod lower;
