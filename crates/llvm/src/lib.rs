//! BareFlow's safe LLVM layer: the only crate that calls LLVM's C API (`llvm-sys`).
//!
//! * [`Module`] owns an LLVM context and one module: parse bitcode or IR text, verify,
//!   print, run a new-pass-manager pipeline ([`Module::run_pipeline`]);
//! * IR walking and editing through handles borrowed from the module — [`Function`],
//!   [`GlobalVariable`], [`BasicBlock`], [`Instruction`], [`Value`], [`Type`],
//!   [`FunctionType`] — and a [`Builder`];
//! * [`LlJit`]: ORC's LLJIT (add a module, define absolute symbols, look a symbol up;
//!   errors the session reports come back with the lookup's);
//! * [`TargetMachine`]: a module compiled to a relocatable object whose bytes we keep
//!   ([`LlJit::add_object`] links one), the host CPU's name and features,
//!   [`llvm_version`];
//! * [`initialise_x86_target`].
//!
//! Handles are `Copy` and live as long as the `&Module` they came from; operations
//! that invalidate the whole module (running passes, handing it to the JIT) take the
//! module by `&mut` or by value, so no handle outlives them. The two operations that
//! free single IR objects while handles to them may still exist —
//! [`Function::delete`] and [`Value::replace_all_uses_with`] — are `unsafe`.
//!
//! The crate does not link LLVM (`no-llvm-linking`): the kernel's build script puts
//! LLVM's static libraries on the link line; this crate's own tests link Debian's
//! shared libLLVM (build.rs).

mod builder;
mod jit;
mod module;
mod object;
mod target;
mod types;
mod value;

use std::ffi::{CStr, c_char};
use std::fmt;

pub use builder::Builder;
pub use jit::LlJit;
pub use llvm_sys::{
    LLVMAtomicRMWBinOp as AtomicRmwBinOp, LLVMIntPredicate as IntPredicate, LLVMLinkage as Linkage,
    LLVMOpcode as Opcode, LLVMRealPredicate as RealPredicate, LLVMTypeKind as TypeKind,
};
pub use module::{Module, NOT_BITCODE, Pipeline};
pub use object::{FunctionSymbol, function_symbols, with_section_addresses};
pub use target::{Codegen, CodegenLevel, Isel, TargetMachine, host_cpu_features, host_cpu_name, llvm_version};
pub use types::{Context, DataLayout, FunctionType, Type};
pub use value::{Attribute, AttributeIndex, BasicBlock, Function, GlobalVariable, Instruction, Value};

/// What can go wrong in LLVM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// IR text or bitcode does not parse (LLVM's diagnostic).
    Parse(String),
    /// The module fails LLVM's verifier (its report).
    Verify(String),
    /// LLJIT could not be created, or a module or symbols not added.
    Jit(String),
    /// Compiling or looking up a symbol failed (with the errors the session reported).
    Lookup(String),
    /// A target machine could not be made, or code generation failed.
    Codegen(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Parse(m) => write!(f, "cannot parse: {m}"),
            Error::Verify(m) => write!(f, "verification failed: {m}"),
            Error::Jit(m) => write!(f, "LLJIT failed: {m}"),
            Error::Lookup(m) => write!(f, "lookup failed: {m}"),
            Error::Codegen(m) => write!(f, "code generation failed: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// Makes the X86 target available to LLVM (once; later calls do nothing).
pub fn initialise_x86_target() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: LLVM's target registration functions take no arguments and are
        // called once (the `Once`), before any JIT is created.
        unsafe {
            llvm_sys::target::LLVMInitializeX86TargetInfo();
            llvm_sys::target::LLVMInitializeX86Target();
            llvm_sys::target::LLVMInitializeX86TargetMC();
            llvm_sys::target::LLVMInitializeX86AsmPrinter();
        }
    });
}

/// The kind id of the enum attribute `name` (0 if LLVM knows no such attribute).
pub fn attribute_kind(name: &str) -> u32 {
    // SAFETY: LLVM reads `name.len()` bytes of the name to look it up in its table.
    unsafe { llvm_sys::core::LLVMGetEnumAttributeKindForName(name.as_ptr().cast(), name.len()) }
}

/// Copies and frees an `LLVMErrorRef`: `None` for success (null).
pub(crate) fn take_error(err: llvm_sys::error::LLVMErrorRef) -> Option<String> {
    if err.is_null() {
        return None;
    }
    // SAFETY: a non-null LLVMErrorRef is ours; LLVMGetErrorMessage consumes it and
    // returns a string we copy and free with its disposer.
    unsafe {
        let msg = llvm_sys::error::LLVMGetErrorMessage(err);
        let text = CStr::from_ptr(msg).to_string_lossy().into_owned();
        llvm_sys::error::LLVMDisposeErrorMessage(msg);
        Some(text)
    }
}

/// Copies and frees a message LLVM allocated for us (empty for null), trailing
/// whitespace removed.
pub(crate) fn take_message(msg: *mut c_char) -> String {
    if msg.is_null() {
        return String::new();
    }
    // SAFETY: a NUL-terminated message LLVM allocated for the caller; copied, then
    // freed with its disposer, once.
    unsafe {
        let text = CStr::from_ptr(msg).to_string_lossy().trim_end().to_owned();
        llvm_sys::core::LLVMDisposeMessage(msg);
        text
    }
}
