//! [`TargetMachine`]: compiling a module to a relocatable object file ourselves, so the
//! object's bytes can be kept (snapshots, docs/persistence.md) and handed to an
//! [`LlJit`](crate::LlJit) again later with [`LlJit::add_object`](crate::LlJit::add_object).

use std::cell::Cell;
use std::ffi::{CStr, CString, c_void};
use std::ptr;

use llvm_sys::core::{LLVMGetTarget, LLVMSetTarget};
use llvm_sys::prelude::LLVMModuleRef;
use llvm_sys::target_machine::*;

use crate::module::Module;
use crate::{Error, initialise_x86_target, take_message};

/// A target machine for the CPU this code runs on, set up as ORC's LLJIT sets up its
/// own on x86-64 (`JITTargetMachineBuilder::detectHost`, then JITLink's requirements):
/// the host's triple, CPU name and features, position-independent code, the small code
/// model, the default (O2) code generator with SelectionDAG unless
/// [`TargetMachine::with_codegen`] makes one with another [`Codegen`].
pub struct TargetMachine {
    pub(crate) raw: LLVMTargetMachineRef,
    triple: String,
    cpu: String,
    features: String,
    reloc: LLVMRelocMode,
    codegen: Codegen,
    /// The code generator's pass pipeline, built at the first object and kept
    /// (`cpp/emitter.cpp`); null until then.
    emitter: Cell<*mut c_void>,
}

unsafe extern "C" {
    /// A new emitter for `machine` (null if it cannot emit objects); `cpp/emitter.cpp`.
    fn bf_emitter_new(machine: LLVMTargetMachineRef) -> *mut c_void;
    /// Compiles `module` to an ELF object: its bytes, valid until the next call, and
    /// their number in `size`.
    fn bf_emitter_run(emitter: *mut c_void, module: LLVMModuleRef, size: *mut usize) -> *const u8;
    /// Frees an emitter.
    fn bf_emitter_dispose(emitter: *mut c_void);
}

/// How hard the code generator works (LLVM's `CodeGenOptLevel`): `None` selects
/// instructions with FastISel and allocates registers with the fast allocator — the
/// quickest compile, what clang's `-O0` uses; `Less` (clang's `-O1`), `Default`
/// (`-O2`) and `Aggressive` (`-O3`) use SelectionDAG and the greedy allocator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodegenLevel {
    /// FastISel, fast register allocation.
    None,
    /// `-O1`'s code generator.
    Less,
    /// `-O2`'s code generator.
    Default,
    /// `-O3`'s code generator.
    Aggressive,
}

/// How instructions are selected: LLVM's SelectionDAG (a DAG per block, combined and
/// legalised: the best code) or FastISel (one IR instruction at a time, straight to
/// machine instructions, falling back to SelectionDAG for what it cannot select:
/// several times quicker, and the rest of the code generator still runs at its level).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isel {
    /// SelectionDAG.
    SelectionDag,
    /// FastISel, with SelectionDAG for what it cannot select.
    FastIsel,
}

/// What a code generator does: its level and its instruction selector. At
/// [`CodegenLevel::None`] LLVM always selects with FastISel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Codegen {
    /// The level (register allocator, machine passes).
    pub level: CodegenLevel,
    /// The instruction selector.
    pub isel: Isel,
}

impl Codegen {
    /// `-O2`'s code generator, SelectionDAG included: what LLJIT and `clang -O2` use.
    pub const DEFAULT: Codegen = Codegen { level: CodegenLevel::Default, isel: Isel::SelectionDag };
}

impl CodegenLevel {
    fn raw(self) -> LLVMCodeGenOptLevel {
        match self {
            CodegenLevel::None => LLVMCodeGenOptLevel::LLVMCodeGenLevelNone,
            CodegenLevel::Less => LLVMCodeGenOptLevel::LLVMCodeGenLevelLess,
            CodegenLevel::Default => LLVMCodeGenOptLevel::LLVMCodeGenLevelDefault,
            CodegenLevel::Aggressive => LLVMCodeGenOptLevel::LLVMCodeGenLevelAggressive,
        }
    }
}

// SAFETY: a TargetMachine is only used through `&self` for one module at a time and
// LLVM keeps no thread-local state for it; BareFlow runs one thread anyway.
unsafe impl Send for TargetMachine {}

impl Drop for TargetMachine {
    fn drop(&mut self) {
        // SAFETY: we own the emitter (if any) and the target machine; the emitter uses
        // the machine, so it goes first.
        unsafe {
            if !self.emitter.get().is_null() {
                bf_emitter_dispose(self.emitter.get());
            }
            LLVMDisposeTargetMachine(self.raw)
        }
    }
}

/// The host's CPU name as LLVM detects it (`znver3`, `skylake`, `x86-64` under an old
/// QEMU model).
pub fn host_cpu_name() -> String {
    // SAFETY: LLVM returns a message we own.
    take_message(unsafe { LLVMGetHostCPUName() })
}

/// The host's CPU features as LLVM detects them: a comma-separated list of `+name` and
/// `-name` (CPUID, and XGETBV for the state the OS enabled), sorted by name.
pub fn host_cpu_features() -> String {
    // SAFETY: LLVM returns a message we own.
    let text = take_message(unsafe { LLVMGetHostCPUFeatures() });
    let mut features: Vec<&str> = text.split(',').filter(|f| !f.is_empty()).collect();
    features.sort_by_key(|f| &f[1..]);
    features.join(",")
}

/// LLVM's version (`22.1.8`).
pub fn llvm_version() -> String {
    let (mut major, mut minor, mut patch) = (0, 0, 0);
    // SAFETY: LLVM writes three unsigned integers.
    unsafe { llvm_sys::core::LLVMGetVersion(&mut major, &mut minor, &mut patch) };
    format!("{major}.{minor}.{patch}")
}

impl TargetMachine {
    /// The target machine for this host (initialises the X86 target first).
    pub fn host() -> Result<TargetMachine, Error> {
        TargetMachine::create(&host_cpu_name(), &host_cpu_features(), LLVMRelocMode::LLVMRelocPIC, Codegen::DEFAULT)
    }

    /// A target machine for any x86-64 (CPU `x86-64`: SSE2, no later extensions), set
    /// up like [`TargetMachine::host`] otherwise: what rustc and `clang` build for by
    /// default, so JIT code compiled with it is comparable with an AOT build.
    pub fn generic() -> Result<TargetMachine, Error> {
        TargetMachine::create("x86-64", "", LLVMRelocMode::LLVMRelocPIC, Codegen::DEFAULT)
    }

    /// The raw handle, for an llvm-sys call this layer does not wrap (tests compare
    /// with LLVM's own C API through it). It stays owned by `self`.
    pub fn as_raw(&self) -> LLVMTargetMachineRef {
        self.raw
    }

    /// A target machine for any x86-64 (CPU `x86-64`: SSE2, no later extensions) that
    /// makes position-dependent code (static relocation model, small code model: every
    /// address below 2 GiB) — what a fixed-address image such as an exported app needs.
    pub fn generic_static() -> Result<TargetMachine, Error> {
        TargetMachine::create("x86-64", "", LLVMRelocMode::LLVMRelocStatic, Codegen::DEFAULT)
    }

    /// The same machine (triple, CPU, features, relocation model) with the code
    /// generator `codegen`.
    pub fn with_codegen(&self, codegen: Codegen) -> Result<TargetMachine, Error> {
        TargetMachine::create(&self.cpu, &self.features, self.reloc, codegen)
    }

    /// Its code generator.
    pub fn codegen(&self) -> Codegen {
        self.codegen
    }

    /// A target machine for the host's triple with `cpu`, `features`, `reloc` and
    /// `codegen`.
    fn create(cpu: &str, features: &str, reloc: LLVMRelocMode, codegen: Codegen) -> Result<TargetMachine, Error> {
        initialise_x86_target();
        // SAFETY: LLVM returns messages we own.
        let triple = take_message(unsafe { LLVMNormalizeTargetTriple(LLVMGetDefaultTargetTriple()) });
        let (cpu, features) = (cpu.to_string(), features.to_string());
        let c = |s: &str| CString::new(s).map_err(|_| Error::Codegen(format!("NUL in {s:?}")));
        let (ctriple, ccpu, cfeatures) = (c(&triple)?, c(&cpu)?, c(&features)?);
        let mut target = ptr::null_mut();
        let mut message = ptr::null_mut();
        // SAFETY: a NUL-terminated triple; LLVM writes the target or an error message
        // we own.
        if unsafe { LLVMGetTargetFromTriple(ctriple.as_ptr(), &mut target, &mut message) } != 0 {
            return Err(Error::Codegen(format!("no target for {triple}: {}", take_message(message))));
        }
        // SAFETY: a registered target and NUL-terminated strings LLVM copies; we own the
        // machine it returns.
        let raw = unsafe {
            LLVMCreateTargetMachine(
                target,
                ctriple.as_ptr(),
                ccpu.as_ptr(),
                cfeatures.as_ptr(),
                codegen.level.raw(),
                reloc,
                LLVMCodeModel::LLVMCodeModelSmall,
            )
        };
        if raw.is_null() {
            return Err(Error::Codegen(format!("cannot create a target machine for {triple} ({cpu})")));
        }
        if codegen.isel == Isel::FastIsel {
            // SAFETY: a live machine we own. Building its code generator's pipeline
            // (`addPassesToEmitFile`) keeps this choice at every level: it only turns
            // FastISel on itself, at `None`.
            unsafe { LLVMSetTargetMachineFastISel(raw, 1) };
        }
        Ok(TargetMachine { raw, triple, cpu, features, reloc, codegen, emitter: Cell::new(ptr::null_mut()) })
    }

    /// The target triple.
    pub fn triple(&self) -> &str {
        &self.triple
    }

    /// The CPU name code is scheduled for.
    pub fn cpu(&self) -> &str {
        &self.cpu
    }

    /// The CPU features code may use (`+avx2,-avx512f,…`, sorted).
    pub fn features(&self) -> &str {
        &self.features
    }

    /// Compiles `module` to an ELF relocatable object. A module without a target triple
    /// (IR text written by hand) gets this machine's, as LLJIT gives it; every module
    /// gets this machine's data layout, as `LLVMTargetMachineEmit` gave it. The code generator's pass pipeline is built at the first object and
    /// reused for the next ones (`cpp/emitter.cpp`): the same objects, without
    /// scheduling about a hundred passes per module.
    pub fn emit_object(&self, module: Module) -> Result<Vec<u8>, Error> {
        // SAFETY: the module is live (owned by `module`) and this machine is live; the
        // emitter is this machine's (made for it here, freed before it in `drop`), and
        // the bytes it returns stay valid until its next run, after our copy.
        unsafe {
            if CStr::from_ptr(LLVMGetTarget(module.module)).is_empty() {
                let triple = CString::new(self.triple.as_str()).expect("checked at creation");
                LLVMSetTarget(module.module, triple.as_ptr());
            }
            if self.emitter.get().is_null() {
                let emitter = bf_emitter_new(self.raw);
                if emitter.is_null() {
                    return Err(Error::Codegen("this target machine cannot emit objects".into()));
                }
                self.emitter.set(emitter);
            }
            let mut size = 0;
            let start = bf_emitter_run(self.emitter.get(), module.module, &mut size);
            let bytes = std::slice::from_raw_parts(start, size).to_vec();
            Ok(bytes)
        }
    }
}
