//! LLVM inside the kernel: parse IR or bitcode, verify, optimise with the new pass
//! manager, compile with ORC LLJIT and call the result.
//!
//! Plain Rust std + `llvm-sys`: the same code runs on bare metal (through the syscall
//! layer) and when the kernel ELF runs as a Linux program.
//!
//! Modules, bottom to top (each uses only those below it): [`cxxrt`] (the C++
//! runtime), this JIT core, [`interp`] (tier 0), [`tiered`] (the tiered engine; the
//! tiers themselves are the `bf-tiers` crate's table), [`host`] (the kernel's host
//! functions for apps), [`suite`] (the app suite), [`checks`] (boot-time JIT checks).

pub mod checks;
pub mod cxxrt;
pub mod host;
pub mod interp;
pub mod suite;
pub mod tiered;

use std::ffi::{CStr, CString, c_char};
use std::fmt;
use std::ptr;
use std::time::Instant;

use llvm_sys::analysis::{LLVMVerifierFailureAction, LLVMVerifyModule};
use llvm_sys::bit_reader::LLVMParseBitcodeInContext2;
use llvm_sys::core::*;
use llvm_sys::error::{LLVMDisposeErrorMessage, LLVMErrorRef, LLVMGetErrorMessage};
use llvm_sys::ir_reader::LLVMParseIRInContext2;
use llvm_sys::orc2::lljit::*;
use llvm_sys::orc2::*;
use llvm_sys::prelude::*;
use llvm_sys::transforms::pass_builder::*;

/// An optimisation level of the new pass manager (`default<On>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptLevel {
    /// No optimisation.
    O0,
    /// Light.
    O1,
    /// Standard.
    O2,
    /// Aggressive.
    O3,
}

impl OptLevel {
    /// The tier name used in METRIC lines (`o0` … `o3`).
    pub fn name(self) -> &'static str {
        match self {
            OptLevel::O0 => "o0",
            OptLevel::O1 => "o1",
            OptLevel::O2 => "o2",
            OptLevel::O3 => "o3",
        }
    }

    fn pipeline(self) -> &'static CStr {
        match self {
            OptLevel::O0 => c"default<O0>",
            OptLevel::O1 => c"default<O1>",
            OptLevel::O2 => c"default<O2>",
            OptLevel::O3 => c"default<O3>",
        }
    }
}

/// What can go wrong between input bytes and a callable address.
#[derive(Debug)]
pub enum JitError {
    /// The IR text or bitcode does not parse.
    Parse(String),
    /// The module fails LLVM's verifier.
    Verify(String),
    /// The pass pipeline failed.
    Optimise(String),
    /// LLJIT could not be created, or the module not added.
    Jit(String),
    /// Compiling or looking up the symbol failed.
    Lookup(String),
}

impl fmt::Display for JitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JitError::Parse(m) => write!(f, "cannot parse the module: {m}"),
            JitError::Verify(m) => write!(f, "the module fails verification: {m}"),
            JitError::Optimise(m) => write!(f, "optimisation failed: {m}"),
            JitError::Jit(m) => write!(f, "LLJIT failed: {m}"),
            JitError::Lookup(m) => write!(f, "compiling or finding the function failed: {m}"),
        }
    }
}

fn take_error(err: LLVMErrorRef) -> Option<String> {
    if err.is_null() {
        return None;
    }
    // SAFETY: a non-null LLVMErrorRef is consumed by LLVMGetErrorMessage, whose string
    // we copy and free.
    unsafe {
        let msg = LLVMGetErrorMessage(err);
        let text = CStr::from_ptr(msg).to_string_lossy().into_owned();
        LLVMDisposeErrorMessage(msg);
        Some(text)
    }
}

fn take_message(msg: *mut c_char) -> String {
    if msg.is_null() {
        return String::new();
    }
    // SAFETY: a message LLVM allocated for us; copied, then freed with its disposer.
    unsafe {
        let text = CStr::from_ptr(msg).to_string_lossy().trim_end().to_owned();
        LLVMDisposeMessage(msg);
        text
    }
}

/// Receives LLVM's diagnostics for a context. Without a handler, LLVM prints errors
/// and calls `exit(1)` (e.g. for truncated bitcode); with it, errors come back to us.
/// `sink` is a `*mut String` collecting messages, or null to drop them.
extern "C" fn diagnostic_handler(info: LLVMDiagnosticInfoRef, sink: *mut std::ffi::c_void) {
    // SAFETY: LLVM passes a live diagnostic; the description is ours to free.
    let text = take_message(unsafe { LLVMGetDiagInfoDescription(info) });
    if !sink.is_null() {
        // SAFETY: `sink` is the String `Module::parse` registered for the parse call.
        let sink = unsafe { &mut *(sink as *mut String) };
        if !sink.is_empty() {
            sink.push_str("; ");
        }
        sink.push_str(&text);
    }
}

/// Removes `nonlazybind` from every function (rustc puts it on all of them). With it,
/// calls to host functions become `call *sym@GOTPCREL`, which JITLink relaxes into a
/// direct `call` even when the host function is more than 2 GiB away from the JIT's
/// memory (as in a Linux process), jumping into nowhere. Without it they are plain
/// calls that JITLink routes through a stub when needed.
fn strip_nonlazybind(module: LLVMModuleRef) {
    const NAME: &str = "nonlazybind";
    // SAFETY: iterating the functions of a live module and editing their attributes.
    unsafe {
        let kind = LLVMGetEnumAttributeKindForName(NAME.as_ptr().cast(), NAME.len());
        let mut f = LLVMGetFirstFunction(module);
        while !f.is_null() {
            LLVMRemoveEnumAttributeAtIndex(f, llvm_sys::LLVMAttributeFunctionIndex, kind);
            f = LLVMGetNextFunction(f);
        }
    }
}

/// Sets the module flag `RtLibUseGOT` (rustc sets it) to 0, so library calls the code
/// generator emits (`memset`, `memcpy`, …) are plain calls, not `call *sym@GOTPCREL`.
/// JITLink relaxes such GOT calls into direct calls with a wrong displacement when the
/// target's address fits in 32 bits (seen on bare metal: the call landed at
/// `target + return address`), and out of range when it does not (Linux). With plain
/// calls JITLink inserts stubs where needed.
fn disable_rtlib_got(context: LLVMContextRef, module: LLVMModuleRef) {
    let name = c"llvm.module.flags";
    // SAFETY: reading the module's flag nodes and replacing one constant operand.
    unsafe {
        let n = LLVMGetNamedMetadataNumOperands(module, name.as_ptr());
        let mut flags = vec![ptr::null_mut(); n as usize];
        LLVMGetNamedMetadataOperands(module, name.as_ptr(), flags.as_mut_ptr());
        for flag in flags {
            if LLVMGetMDNodeNumOperands(flag) != 3 {
                continue;
            }
            let mut ops = [ptr::null_mut(); 3];
            LLVMGetMDNodeOperands(flag, ops.as_mut_ptr());
            let mut len = 0;
            let key = LLVMGetMDString(ops[1], &mut len);
            if !key.is_null() && std::slice::from_raw_parts(key as *const u8, len as usize) == b"RtLibUseGOT" {
                let zero = LLVMConstInt(LLVMInt32TypeInContext(context), 0, 0);
                LLVMReplaceMDNodeOperandWith(flag, 2, LLVMValueAsMetadata(zero));
            }
        }
    }
}

/// Makes the X86 target available to LLVM (once; later calls do nothing).
pub fn initialise_target() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: LLVM's target registration functions, called once before any JIT.
        unsafe {
            llvm_sys::target::LLVMInitializeX86TargetInfo();
            llvm_sys::target::LLVMInitializeX86Target();
            llvm_sys::target::LLVMInitializeX86TargetMC();
            llvm_sys::target::LLVMInitializeX86AsmPrinter();
            llvm_sys::target::LLVMInitializeX86AsmParser();
        }
    });
}

/// IR for a module of jump trampolines, one per host function: `movabs $addr, %r11;
/// jmp *%r11`.
///
/// Host functions are not given to LLJIT as absolute symbols because JIT code often
/// reaches them through the GOT (rustc's `nonlazybind` and `RtLibUseGOT` for
/// `memcpy`/`memset`), and JITLink relaxes such a GOT call into a direct `call` even
/// when the target is more than 2 GiB away — true of every host function when the
/// kernel runs as a Linux process, where JIT memory is mapped near the top of the
/// address space. The trampolines live in JIT memory, within reach, and jump anywhere.
fn host_trampolines(symbols: &[HostSymbol]) -> String {
    // Naked IR functions (not module-level asm: ORC only materializes symbols it sees
    // as IR globals). The IR signature is irrelevant: callers only need the symbol.
    let mut ir = String::new();
    for s in symbols {
        ir.push_str(&format!(
            "define void @{}() naked nounwind {{\n  call void asm sideeffect \"movabsq $${:#x}, %r11\\0Ajmpq *%r11\", \"\"()\n  unreachable\n}}\n",
            s.name, s.address
        ));
    }
    ir
}

/// Errors ORC reported to the execution session since the last lookup started.
static SESSION_ERRORS: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// ORC's error reporter: collects the message for [`Jit::lookup`] instead of printing
/// "JIT session error" to stderr.
extern "C" fn report_session_error(_ctx: *mut std::ffi::c_void, err: LLVMErrorRef) {
    if let Some(text) = take_error(err) {
        let mut errors = SESSION_ERRORS.lock().unwrap();
        if !errors.is_empty() {
            errors.push_str("; ");
        }
        errors.push_str(&text);
    }
}

/// A function the kernel exports to JIT-compiled code.
#[derive(Clone, Copy)]
pub struct HostSymbol {
    /// The name JIT code uses.
    pub name: &'static str,
    /// Its address.
    pub address: u64,
}

/// The C memory functions JIT code may call: the code generator lowers `llvm.memcpy`
/// and friends to them, and a static glibc binary has no `dlsym` to find them.
pub fn memory_symbols() -> [HostSymbol; 5] {
    [
        HostSymbol { name: "memcpy", address: libc::memcpy as *const () as u64 },
        HostSymbol { name: "memset", address: libc::memset as *const () as u64 },
        HostSymbol { name: "memmove", address: libc::memmove as *const () as u64 },
        HostSymbol { name: "memcmp", address: libc::memcmp as *const () as u64 },
        HostSymbol { name: "bcmp", address: libc::memcmp as *const () as u64 },
    ]
}

/// One LLJIT instance with its own context and modules.
pub struct Jit {
    jit: LLVMOrcLLJITRef,
}

// SAFETY: an LLJIT may be used from any thread (ORC's ExecutionSession locks itself);
// BareFlow has one thread anyway, and `Jit` is only ever behind `&mut` or a Mutex.
unsafe impl Send for Jit {}

/// A parsed, verified and optimised module, ready to be added to a [`Jit`].
pub struct Module {
    context: LLVMContextRef,
    module: LLVMModuleRef,
}

impl Drop for Module {
    fn drop(&mut self) {
        // SAFETY: we own both; the module belongs to the context and goes first.
        unsafe {
            if !self.module.is_null() {
                LLVMDisposeModule(self.module);
            }
            if !self.context.is_null() {
                LLVMContextDispose(self.context);
            }
        }
    }
}

impl Module {
    /// Parses LLVM IR text or bitcode (detected by the `BC` magic) and verifies it.
    pub fn parse(name: &str, bytes: &[u8]) -> Result<Module, JitError> {
        let cname = CString::new(name).unwrap_or_default();
        // SAFETY: standard LLVM C API use; every object created here is owned by the
        // returned Module or disposed on the error paths.
        unsafe {
            let context = LLVMContextCreate();
            let mut diagnostics = String::new();
            LLVMContextSetDiagnosticHandler(context, Some(diagnostic_handler), (&raw mut diagnostics).cast());
            let mut m = Module { context, module: ptr::null_mut() };
            let is_bitcode = bytes.starts_with(b"BC\xC0\xDE");
            let mut module = ptr::null_mut();
            if is_bitcode {
                let buf = LLVMCreateMemoryBufferWithMemoryRangeCopy(bytes.as_ptr().cast(), bytes.len(), cname.as_ptr());
                let failed = LLVMParseBitcodeInContext2(context, buf, &mut module);
                LLVMDisposeMemoryBuffer(buf);
                LLVMContextSetDiagnosticHandler(context, Some(diagnostic_handler), ptr::null_mut());
                if failed != 0 {
                    let why = if diagnostics.is_empty() { "invalid bitcode".into() } else { diagnostics };
                    return Err(JitError::Parse(why));
                }
            } else {
                // The IR parser needs a NUL-terminated buffer (LLVMParseIRInContext2 does
                // not take ownership of it).
                let mut text = bytes.to_vec();
                text.push(0);
                let buf = LLVMCreateMemoryBufferWithMemoryRangeCopy(text.as_ptr().cast(), bytes.len(), cname.as_ptr());
                let mut msg = ptr::null_mut();
                let failed = LLVMParseIRInContext2(context, buf, &mut module, &mut msg);
                LLVMDisposeMemoryBuffer(buf);
                LLVMContextSetDiagnosticHandler(context, Some(diagnostic_handler), ptr::null_mut());
                if failed != 0 {
                    return Err(JitError::Parse(take_message(msg)));
                }
            }
            m.module = module;
            strip_nonlazybind(module);
            disable_rtlib_got(context, module);
            let mut msg = ptr::null_mut();
            if LLVMVerifyModule(module, LLVMVerifierFailureAction::LLVMReturnStatusAction, &mut msg) != 0 {
                return Err(JitError::Verify(take_message(msg)));
            }
            take_message(msg);
            Ok(m)
        }
    }

    /// Runs `default<On>` over the module.
    pub fn optimise(&mut self, level: OptLevel) -> Result<(), JitError> {
        self.run_pipeline(level.pipeline().to_str().unwrap_or_default())
    }

    /// Runs a new-pass-manager pipeline (`LLVMRunPasses` syntax) over the module.
    pub fn run_pipeline(&mut self, pipeline: &str) -> Result<(), JitError> {
        let pipeline = CString::new(pipeline).map_err(|_| JitError::Optimise("NUL in the pipeline".into()))?;
        // SAFETY: valid module; the options object is created and disposed here.
        unsafe {
            let options = LLVMCreatePassBuilderOptions();
            let err = LLVMRunPasses(self.module, pipeline.as_ptr(), ptr::null_mut(), options);
            LLVMDisposePassBuilderOptions(options);
            take_error(err).map_or(Ok(()), |e| Err(JitError::Optimise(e)))
        }
    }
}

impl Jit {
    /// A new LLJIT for the host, with `symbols` defined for JIT code to call.
    pub fn new(symbols: &[HostSymbol]) -> Result<Jit, JitError> {
        initialise_target();
        // SAFETY: LLVM C API; the builder is consumed by LLVMOrcCreateLLJIT.
        unsafe {
            let mut jit = ptr::null_mut();
            if let Some(e) = take_error(LLVMOrcCreateLLJIT(&mut jit, ptr::null_mut())) {
                return Err(JitError::Jit(e));
            }
            LLVMOrcExecutionSessionSetErrorReporter(
                LLVMOrcLLJITGetExecutionSession(jit),
                report_session_error,
                ptr::null_mut(),
            );
            let mut this = Jit { jit };
            if !symbols.is_empty() {
                this.add(Module::parse("bf.host-trampolines", host_trampolines(symbols).as_bytes())?)?;
            }
            Ok(this)
        }
    }

    /// Hands `module` to the JIT (compilation happens at the first lookup).
    pub fn add(&mut self, mut module: Module) -> Result<(), JitError> {
        // SAFETY: the module and its context move into a ThreadSafeModule owned by the
        // JIT; `module` gives them up (null pointers make its Drop a no-op).
        unsafe {
            let tsc = LLVMOrcCreateNewThreadSafeContextFromLLVMContext(module.context);
            let tsm = LLVMOrcCreateNewThreadSafeModule(module.module, tsc);
            LLVMOrcDisposeThreadSafeContext(tsc);
            module.module = ptr::null_mut();
            module.context = ptr::null_mut();
            let dylib = LLVMOrcLLJITGetMainJITDylib(self.jit);
            if let Some(e) = take_error(LLVMOrcLLJITAddLLVMIRModule(self.jit, dylib, tsm)) {
                LLVMOrcDisposeThreadSafeModule(tsm);
                return Err(JitError::Jit(e));
            }
        }
        Ok(())
    }

    /// Compiles (on first use) and returns the address of `name`.
    pub fn lookup(&mut self, name: &str) -> Result<u64, JitError> {
        let cname = CString::new(name).map_err(|_| JitError::Lookup("bad name".into()))?;
        let mut addr = 0;
        // SAFETY: valid JIT; LLVM writes the address.
        SESSION_ERRORS.lock().unwrap().clear();
        let err = unsafe { LLVMOrcLLJITLookup(self.jit, &mut addr, cname.as_ptr()) };
        match take_error(err) {
            None => Ok(addr),
            Some(e) => {
                // The cause (e.g. an undefined symbol) reaches the session's reporter;
                // the lookup itself only says that materialization failed.
                let cause = std::mem::take(&mut *SESSION_ERRORS.lock().unwrap());
                Err(JitError::Lookup(if cause.is_empty() { e } else { format!("{cause} ({e})") }))
            }
        }
    }
}

impl Drop for Jit {
    fn drop(&mut self) {
        // SAFETY: we own the LLJIT; disposing frees its code and modules.
        if let Some(e) = take_error(unsafe { LLVMOrcDisposeLLJIT(self.jit) }) {
            eprintln!("jit: disposing LLJIT failed: {e}");
        }
    }
}

/// Parses, optimises and compiles `source`, then returns `name`'s address and the
/// milliseconds it took (parse to address, lookup included).
pub fn compile(
    jit: &mut Jit,
    module_name: &str,
    source: &[u8],
    level: OptLevel,
    name: &str,
) -> Result<(u64, f64), JitError> {
    let start = Instant::now();
    let mut module = Module::parse(module_name, source)?;
    module.optimise(level)?;
    jit.add(module)?;
    let addr = jit.lookup(name)?;
    Ok((addr, start.elapsed().as_secs_f64() * 1e3))
}
