//! [`Module`]: an LLVM context with one module, owned together.

use std::ffi::{CString, c_void};
use std::marker::PhantomData;
use std::ptr;

use llvm_sys::analysis::{LLVMVerifierFailureAction, LLVMVerifyModule};
use llvm_sys::bit_reader::{LLVMGetBitcodeModuleInContext2, LLVMParseBitcodeInContext2};
use llvm_sys::core::*;
#[cfg(feature = "text-ir")]
use llvm_sys::ir_reader::LLVMParseIRInContext2;
use llvm_sys::prelude::*;
use llvm_sys::target_machine::LLVMTargetMachineRef;

use crate::types::{Context, DataLayout, FunctionType, Type};
use crate::value::{Function, GlobalVariable, Value};
use crate::{Error, take_message};

/// An optimisation pipeline: an explicit list of passes (`cpp/pipelines.cpp`, issue
/// 16) that follows LLVM's `default<On>` pipeline with `LLVMRunPasses`' default
/// options, without the pipeline-text parser and without the passes that do nothing
/// for BareFlow's modules (docs/llvm-size.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Pipeline {
    /// `default<O0>`: only `always_inline` functions are inlined.
    O0 = 0,
    /// `default<O1>`.
    O1 = 1,
    /// `default<O2>`.
    O2 = 2,
    /// `default<O3>`.
    O3 = 3,
    /// `function(expand-reductions,scalarizer<load-store>)`: every vector operation
    /// becomes scalar operations (the interpreter's tier 0 works on scalars).
    Scalarize = 4,
}

unsafe extern "C" {
    /// Runs pipeline `which` ([`Pipeline`]) over `module`, for `machine` when it is not
    /// null. Returns 0, or 1 for an unknown pipeline (`cpp/pipelines.cpp`).
    fn bf_run_pipeline(module: LLVMModuleRef, machine: LLVMTargetMachineRef, which: u32) -> i32;
    /// Reads the body of `function` of a lazily read module; 0, or 1 with a message
    /// (`cpp/materialize.cpp`).
    pub(crate) fn bf_materialize_function(function: LLVMValueRef, message: *mut *mut std::ffi::c_char) -> i32;
}

/// An LLVM context and the one module in it, owned together (dropped together, or
/// handed to an [`LlJit`](crate::LlJit) together).
pub struct Module {
    pub(crate) context: LLVMContextRef,
    pub(crate) module: LLVMModuleRef,
}

impl Drop for Module {
    fn drop(&mut self) {
        // SAFETY: we own both (a module given to a JIT has null pointers here); the
        // module belongs to the context and goes first.
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

/// Receives LLVM's diagnostics for a context. Without a handler, LLVM prints errors
/// and calls `exit(1)` (e.g. for truncated bitcode); with it, errors come back to us.
/// `sink` is a `*mut String` collecting messages, or null to drop them.
extern "C" fn diagnostic_handler(info: LLVMDiagnosticInfoRef, sink: *mut c_void) {
    // SAFETY: LLVM passes a live diagnostic; the description is ours to free.
    let text = take_message(unsafe { LLVMGetDiagInfoDescription(info) });
    if !sink.is_null() {
        // SAFETY: `sink` is the String `Module::parse` registered for the duration of
        // the parse call, and nothing else uses it meanwhile.
        let sink = unsafe { &mut *(sink as *mut String) };
        if !sink.is_empty() {
            sink.push_str("; ");
        }
        sink.push_str(&text);
    }
}

/// The first bytes of LLVM bitcode.
const BITCODE_MAGIC: &[u8] = b"BC\xC0\xDE";

/// Why bytes without the bitcode magic are refused when the `text-ir` feature is off
/// (and by [`Module::parse_lazy`] always).
pub const NOT_BITCODE: &str =
    "not LLVM bitcode (no `BC` magic): IR text is not read here; assemble it with `llvm-as` first";

/// Parses IR text into `context` (the `text-ir` feature: LLVM's IR parser, `LLParser`,
/// is linked only with it).
///
/// # Safety
/// `context` is a live context.
#[cfg(feature = "text-ir")]
unsafe fn parse_text(context: LLVMContextRef, bytes: &[u8], name: &CString) -> Result<LLVMModuleRef, Error> {
    // The IR parser needs a NUL-terminated buffer (LLVMParseIRInContext2 does not take
    // ownership of it).
    let mut text = bytes.to_vec();
    text.push(0);
    let mut module = ptr::null_mut();
    let mut msg = ptr::null_mut();
    // SAFETY: a live context (the caller's); the buffer is a copy LLVM owns until it is
    // disposed here; the message, if any, is ours to take.
    unsafe {
        let buf = LLVMCreateMemoryBufferWithMemoryRangeCopy(text.as_ptr().cast(), bytes.len(), name.as_ptr());
        let failed = LLVMParseIRInContext2(context, buf, &mut module, &mut msg);
        LLVMDisposeMemoryBuffer(buf);
        if failed != 0 {
            return Err(Error::Parse(take_message(msg)));
        }
    }
    Ok(module)
}

/// Without the `text-ir` feature: every non-bitcode input is refused.
///
/// # Safety
/// None needed (the signature is the `text-ir` variant's).
#[cfg(not(feature = "text-ir"))]
unsafe fn parse_text(_context: LLVMContextRef, _bytes: &[u8], _name: &CString) -> Result<LLVMModuleRef, Error> {
    Err(Error::Parse(NOT_BITCODE.into()))
}

impl Module {
    /// A new, empty module `name` in a new context, for code built with a
    /// [`Builder`](crate::Builder). Diagnostics of the context are dropped, as for a
    /// parsed module.
    pub fn new(name: &str) -> Module {
        let cname = CString::new(name).unwrap_or_default();
        // SAFETY: both objects are owned by the returned Module; LLVM copies the name.
        unsafe {
            let context = LLVMContextCreate();
            LLVMContextSetDiagnosticHandler(context, Some(diagnostic_handler), ptr::null_mut());
            let module = LLVMModuleCreateWithNameInContext(cname.as_ptr(), context);
            Module { context, module }
        }
    }

    /// Parses LLVM bitcode — or, with the `text-ir` feature, IR text (told apart by the
    /// `BC` magic) — into a new context. Without `text-ir` (the kernel), anything but
    /// bitcode is refused with [`NOT_BITCODE`]. The module is not verified
    /// ([`Module::verify`]). Diagnostics LLVM reports later in this context are dropped
    /// (without a handler LLVM would `exit(1)`).
    pub fn parse(name: &str, bytes: &[u8]) -> Result<Module, Error> {
        if bytes.starts_with(BITCODE_MAGIC) {
            return Module::read_bitcode(name, bytes, false);
        }
        let cname = CString::new(name).unwrap_or_default();
        // SAFETY: the context is owned by the returned Module at once, so the error
        // path disposes it.
        unsafe {
            let context = LLVMContextCreate();
            LLVMContextSetDiagnosticHandler(context, Some(diagnostic_handler), ptr::null_mut());
            let mut m = Module { context, module: ptr::null_mut() };
            m.module = parse_text(context, bytes, &cname)?;
            Ok(m)
        }
    }

    /// Reads bitcode `bytes` lazily into a fresh context: the module's globals and
    /// declarations now, each function's body only when
    /// [`Function::materialize`] asks for it (or code generation needs it). A tier-1
    /// compile of one function reads one body instead of the whole app. Bitcode only.
    pub fn parse_lazy(name: &str, bytes: &[u8]) -> Result<Module, Error> {
        if !bytes.starts_with(BITCODE_MAGIC) {
            return Err(Error::Parse(NOT_BITCODE.into()));
        }
        Module::read_bitcode(name, bytes, true)
    }

    /// Reads bitcode `bytes` into a fresh context, whole or (`lazy`) leaving the
    /// function bodies in the bitcode; what LLVM reports while reading is the error.
    fn read_bitcode(name: &str, bytes: &[u8], lazy: bool) -> Result<Module, Error> {
        let cname = CString::new(name).unwrap_or_default();
        // SAFETY: the context is owned by the returned Module at once (so the error
        // path disposes it); the memory buffer is disposed here, except when the lazy
        // reader made a module, which then owns it and reads bodies from it until it
        // is disposed; the diagnostics sink outlives the read, after which the
        // handler is re-registered without it.
        unsafe {
            let context = LLVMContextCreate();
            let mut diagnostics = String::new();
            LLVMContextSetDiagnosticHandler(context, Some(diagnostic_handler), (&raw mut diagnostics).cast());
            let mut m = Module { context, module: ptr::null_mut() };
            let buf = LLVMCreateMemoryBufferWithMemoryRangeCopy(bytes.as_ptr().cast(), bytes.len(), cname.as_ptr());
            let mut module = ptr::null_mut();
            let failed = if lazy {
                LLVMGetBitcodeModuleInContext2(context, buf, &mut module)
            } else {
                LLVMParseBitcodeInContext2(context, buf, &mut module)
            };
            if failed != 0 || !lazy {
                LLVMDisposeMemoryBuffer(buf);
            }
            LLVMContextSetDiagnosticHandler(context, Some(diagnostic_handler), ptr::null_mut());
            if failed != 0 {
                let why = if diagnostics.is_empty() { "invalid bitcode".into() } else { diagnostics };
                return Err(Error::Parse(why));
            }
            m.module = module;
            Ok(m)
        }
    }

    /// Runs LLVM's verifier; its report is the error.
    pub fn verify(&self) -> Result<(), Error> {
        let mut msg = ptr::null_mut();
        // SAFETY: a live module; LLVM allocates the report, which we free.
        let failed =
            unsafe { LLVMVerifyModule(self.module, LLVMVerifierFailureAction::LLVMReturnStatusAction, &mut msg) };
        let report = take_message(msg);
        if failed != 0 { Err(Error::Verify(report)) } else { Ok(()) }
    }

    /// Removes the module's debug information (compile units, subprograms, variable
    /// records, `!dbg` locations and the debug-info module flags); returns whether it
    /// had any. The code it compiles to is the same.
    pub fn strip_debug_info(&self) -> bool {
        // SAFETY: a live module; no handle to its debug metadata is kept across the call.
        unsafe { llvm_sys::debuginfo::LLVMStripModuleDebugInfo(self.module) != 0 }
    }

    /// The module as IR text.
    pub fn print(&self) -> String {
        // SAFETY: a live module; LLVM allocates the text, which we copy and free.
        take_message(unsafe { LLVMPrintModuleToString(self.module) })
    }

    /// The raw module handle, for an llvm-sys call this layer does not wrap (tests
    /// compare with LLVM's own C API through it). It stays owned by `self`.
    pub fn as_raw(&self) -> LLVMModuleRef {
        self.module
    }

    /// Runs `pipeline` over the module, with no target machine: the passes see LLVM's
    /// target-independent cost model.
    pub fn run_pipeline(&mut self, pipeline: Pipeline) {
        self.run_pipeline_on(pipeline, None)
    }

    /// Runs `pipeline` for `machine`'s CPU: the passes see its cost model (vector
    /// widths, instruction costs), as `rustc` and `clang` optimise.
    pub fn run_pipeline_for(&mut self, pipeline: Pipeline, machine: &crate::TargetMachine) {
        self.run_pipeline_on(pipeline, Some(machine))
    }

    /// Runs `pipeline`, for `machine` when there is one.
    fn run_pipeline_on(&mut self, pipeline: Pipeline, machine: Option<&crate::TargetMachine>) {
        let machine = machine.map_or(ptr::null_mut(), |m| m.raw);
        // SAFETY: a live module we hold exclusively (no handle survives the passes); a
        // live target machine (borrowed for the call) or null; every `Pipeline` is one
        // bf_run_pipeline knows, so it returns 0.
        let status = unsafe { bf_run_pipeline(self.module, machine, pipeline as u32) };
        debug_assert_eq!(status, 0, "bf_run_pipeline does not know {pipeline:?}");
    }

    /// The module as bitcode (what [`Module::parse`] reads back).
    pub fn write_bitcode(&self) -> Vec<u8> {
        // SAFETY: a live module; LLVM allocates the buffer, which we copy and dispose.
        unsafe {
            let buf = llvm_sys::bit_writer::LLVMWriteBitcodeToMemoryBuffer(self.module);
            let start = LLVMGetBufferStart(buf) as *const u8;
            let bytes = std::slice::from_raw_parts(start, LLVMGetBufferSize(buf)).to_vec();
            LLVMDisposeMemoryBuffer(buf);
            bytes
        }
    }

    /// The source file the module was compiled from (`source_filename`), as recorded.
    pub fn source_file_name(&self) -> String {
        let mut len = 0;
        // SAFETY: a live module; the name is valid while it lives and `len` bytes long.
        unsafe {
            let p = LLVMGetSourceFileName(self.module, &mut len);
            if p.is_null() {
                return String::new();
            }
            String::from_utf8_lossy(std::slice::from_raw_parts(p as *const u8, len)).into_owned()
        }
    }

    /// The module's context: types and constants.
    pub fn context(&self) -> Context<'_> {
        Context { raw: self.context, _m: PhantomData }
    }

    /// The module's data layout: sizes and offsets.
    pub fn data_layout(&self) -> DataLayout<'_> {
        // SAFETY: a live module's data layout, valid while the module lives.
        DataLayout { raw: unsafe { llvm_sys::target::LLVMGetModuleDataLayout(self.module) }, _m: PhantomData }
    }

    /// The functions (definitions and declarations), in order.
    pub fn functions(&self) -> Vec<Function<'_>> {
        let mut v = Vec::new();
        // SAFETY: iterating a live module's function list.
        let mut f = unsafe { LLVMGetFirstFunction(self.module) };
        while let Some(func) = Value::from_raw(f) {
            v.push(Function(func));
            // SAFETY: `f` is a function of the live module.
            f = unsafe { LLVMGetNextFunction(f) };
        }
        v
    }

    /// The global variables, in order.
    pub fn globals(&self) -> Vec<GlobalVariable<'_>> {
        let mut v = Vec::new();
        // SAFETY: iterating a live module's global list.
        let mut g = unsafe { LLVMGetFirstGlobal(self.module) };
        while let Some(global) = Value::from_raw(g) {
            v.push(GlobalVariable(global));
            // SAFETY: `g` is a global variable of the live module.
            g = unsafe { LLVMGetNextGlobal(g) };
        }
        v
    }

    /// The function named `name`, if any.
    pub fn function(&self, name: &str) -> Option<Function<'_>> {
        let name = CString::new(name).ok()?;
        // SAFETY: a live module; LLVM copies nothing and returns null if absent.
        Value::from_raw(unsafe { LLVMGetNamedFunction(self.module, name.as_ptr()) }).map(Function)
    }

    /// The global variable named `name`, if any.
    pub fn global(&self, name: &str) -> Option<GlobalVariable<'_>> {
        let name = CString::new(name).ok()?;
        // SAFETY: a live module; returns null if absent.
        Value::from_raw(unsafe { LLVMGetNamedGlobal(self.module, name.as_ptr()) }).map(GlobalVariable)
    }

    /// Adds a function (a declaration until it gets blocks).
    ///
    /// # Panics
    /// If `ty` belongs to another context.
    pub fn add_function<'m>(&'m self, name: &str, ty: FunctionType<'m>) -> Function<'m> {
        self.context().check_type(ty.as_type());
        let name = CString::new(name).unwrap_or_default();
        // SAFETY: a live module and a function type of its context; LLVM copies the name.
        Function(Value::from_raw(unsafe { LLVMAddFunction(self.module, name.as_ptr(), ty.as_type().raw) }).unwrap())
    }

    /// Adds a global variable of type `ty` (a declaration until it gets an initialiser).
    ///
    /// # Panics
    /// If `ty` belongs to another context.
    pub fn add_global<'m>(&'m self, ty: Type<'m>, name: &str) -> GlobalVariable<'m> {
        self.context().check_type(ty);
        let name = CString::new(name).unwrap_or_default();
        // SAFETY: a live module and a type of its context; LLVM copies the name.
        GlobalVariable(Value::from_raw(unsafe { LLVMAddGlobal(self.module, ty.raw, name.as_ptr()) }).unwrap())
    }

    /// Sets the value of the module flag `key` (an entry of `llvm.module.flags` of the
    /// form `!{behaviour, !"key", value}`) to the `i32` constant `value`. Returns
    /// whether the flag was there.
    pub fn set_module_flag_i32(&self, key: &str, value: u32) -> bool {
        let name = c"llvm.module.flags";
        let mut found = false;
        // SAFETY: the operands of a named metadata node are MDNodes (as values); each
        // is read into a buffer of its operand count; an MDString operand's bytes are
        // valid while the context lives; the replacement is a constant of this context.
        unsafe {
            let n = LLVMGetNamedMetadataNumOperands(self.module, name.as_ptr());
            let mut flags = vec![ptr::null_mut(); n as usize];
            LLVMGetNamedMetadataOperands(self.module, name.as_ptr(), flags.as_mut_ptr());
            for flag in flags {
                if LLVMGetMDNodeNumOperands(flag) != 3 {
                    continue;
                }
                let mut ops = [ptr::null_mut(); 3];
                LLVMGetMDNodeOperands(flag, ops.as_mut_ptr());
                if ops[1].is_null() {
                    continue;
                }
                let mut len = 0;
                let k = LLVMGetMDString(ops[1], &mut len);
                if !k.is_null() && std::slice::from_raw_parts(k as *const u8, len as usize) == key.as_bytes() {
                    let v = LLVMConstInt(LLVMInt32TypeInContext(self.context), value as u64, 0);
                    LLVMReplaceMDNodeOperandWith(flag, 2, LLVMValueAsMetadata(v));
                    found = true;
                }
            }
        }
        found
    }
}
