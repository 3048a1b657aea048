//! [`LlJit`]: ORC's LLJIT.

use std::ffi::{CString, c_void};
use std::ptr;
use std::sync::Mutex;

use llvm_sys::error::LLVMErrorRef;
use llvm_sys::orc2::lljit::*;
use llvm_sys::orc2::*;

use crate::module::Module;
use crate::{Error, initialise_x86_target, take_error};

/// ORC's error reporter: collects the message in the session's own buffer (`ctx`, an
/// [`LlJit`]'s `errors`) for [`LlJit::lookup`] instead of printing "JIT session error"
/// to stderr. Each JIT has its own buffer, so JITs used at the same time (the host
/// tests run in parallel) never take or clear each other's errors.
extern "C" fn report_session_error(ctx: *mut c_void, err: LLVMErrorRef) {
    if let Some(text) = take_error(err) {
        // SAFETY: `ctx` is the `errors` box of the LlJit whose session reports; the box
        // outlives the LLJIT (it is dropped after `LLVMOrcDisposeLLJIT`).
        let errors = unsafe { &*(ctx as *const Mutex<String>) };
        let mut errors = errors.lock().unwrap();
        if !errors.is_empty() {
            errors.push_str("; ");
        }
        errors.push_str(&text);
    }
}

/// One LLJIT for the host (X86), with its main JIT dylib.
pub struct LlJit {
    raw: LLVMOrcLLJITRef,
    /// Errors ORC reported to this JIT's session since its last lookup started
    /// (boxed: the session's reporter holds its address).
    errors: Box<Mutex<String>>,
}

// SAFETY: an LLJIT may be used from any thread (ORC's ExecutionSession locks itself);
// every method takes `&mut self`.
unsafe impl Send for LlJit {}

impl Drop for LlJit {
    fn drop(&mut self) {
        // SAFETY: we own the LLJIT; disposing frees its code and modules.
        if let Some(e) = take_error(unsafe { LLVMOrcDisposeLLJIT(self.raw) }) {
            eprintln!("jit: disposing LLJIT failed: {e}");
        }
    }
}

impl LlJit {
    /// A new LLJIT for the host (initialises the X86 target first). Errors its session
    /// reports are collected for [`LlJit::lookup`].
    pub fn new() -> Result<LlJit, Error> {
        initialise_x86_target();
        let mut raw = ptr::null_mut();
        // SAFETY: a null builder asks for the defaults; on success we own the LLJIT.
        if let Some(e) = take_error(unsafe { LLVMOrcCreateLLJIT(&mut raw, ptr::null_mut()) }) {
            return Err(Error::Jit(e));
        }
        let errors = Box::new(Mutex::new(String::new()));
        // SAFETY: a live LLJIT's session; the context is the errors box, which lives at
        // a fixed address as long as the LlJit, past the LLJIT's disposal.
        unsafe {
            LLVMOrcExecutionSessionSetErrorReporter(
                LLVMOrcLLJITGetExecutionSession(raw),
                report_session_error,
                &*errors as *const Mutex<String> as *mut c_void,
            )
        };
        Ok(LlJit { raw, errors })
    }

    /// Hands `module` (and its context) to the JIT; it is compiled at the first lookup
    /// of one of its symbols.
    pub fn add_module(&mut self, mut module: Module) -> Result<(), Error> {
        // SAFETY: the module and its context move into a ThreadSafeModule the JIT owns
        // (LLVMOrcLLJITAddLLVMIRModule takes it over even when it fails, so it is never
        // disposed here); `module` gives them up (null pointers make its Drop a no-op).
        unsafe {
            let tsc = LLVMOrcCreateNewThreadSafeContextFromLLVMContext(module.context);
            let tsm = LLVMOrcCreateNewThreadSafeModule(module.module, tsc);
            LLVMOrcDisposeThreadSafeContext(tsc);
            module.module = ptr::null_mut();
            module.context = ptr::null_mut();
            let dylib = LLVMOrcLLJITGetMainJITDylib(self.raw);
            if let Some(e) = take_error(LLVMOrcLLJITAddLLVMIRModule(self.raw, dylib, tsm)) {
                return Err(Error::Jit(e));
            }
        }
        Ok(())
    }

    /// Hands the relocatable object `bytes` (from [`TargetMachine::emit_object`](crate::TargetMachine::emit_object),
    /// in this boot or an earlier one) to the JIT, which links it at the first lookup
    /// of one of its symbols: its undefined symbols are resolved then, against
    /// everything the JIT holds. No LLVM compilation happens.
    pub fn add_object(&mut self, name: &str, bytes: &[u8]) -> Result<(), Error> {
        let cname = CString::new(name).map_err(|_| Error::Jit(format!("NUL in the object name {name:?}")))?;
        // SAFETY: LLVM copies `bytes` into a buffer whose ownership
        // LLVMOrcLLJITAddObjectFile takes, success or not.
        unsafe {
            let buffer = llvm_sys::core::LLVMCreateMemoryBufferWithMemoryRangeCopy(
                bytes.as_ptr().cast(),
                bytes.len(),
                cname.as_ptr(),
            );
            let dylib = LLVMOrcLLJITGetMainJITDylib(self.raw);
            if let Some(e) = take_error(LLVMOrcLLJITAddObjectFile(self.raw, dylib, buffer)) {
                return Err(Error::Jit(e));
            }
        }
        Ok(())
    }

    /// Defines `symbols` (name, address) in the main JIT dylib as absolute, exported,
    /// callable symbols. (JIT code reaching them through the GOT gets direct calls
    /// JITLink may relax out of range; the kernel uses trampoline modules instead.)
    pub fn define_absolute_symbols(&mut self, symbols: &[(&str, u64)]) -> Result<(), Error> {
        let names: Vec<CString> = symbols
            .iter()
            .map(|(n, _)| CString::new(*n).map_err(|_| Error::Jit(format!("NUL in the symbol name {n:?}"))))
            .collect::<Result<_, _>>()?;
        let flags = LLVMJITSymbolGenericFlags::LLVMJITSymbolGenericFlagsExported as u8
            | LLVMJITSymbolGenericFlags::LLVMJITSymbolGenericFlagsCallable as u8;
        // SAFETY: each name is interned (retained) for the pairs, whose ownership
        // LLVMOrcAbsoluteSymbols takes; the materialisation unit goes to the dylib, or
        // is disposed if defining fails.
        unsafe {
            let mut pairs: Vec<LLVMOrcCSymbolMapPair> = names
                .iter()
                .zip(symbols)
                .map(|(n, &(_, address))| LLVMOrcCSymbolMapPair {
                    Name: LLVMOrcLLJITMangleAndIntern(self.raw, n.as_ptr()),
                    Sym: LLVMJITEvaluatedSymbol {
                        Address: address,
                        Flags: LLVMJITSymbolFlags { GenericFlags: flags, TargetFlags: 0 },
                    },
                })
                .collect();
            let unit = LLVMOrcAbsoluteSymbols(pairs.as_mut_ptr(), pairs.len());
            let dylib = LLVMOrcLLJITGetMainJITDylib(self.raw);
            if let Some(e) = take_error(LLVMOrcJITDylibDefine(dylib, unit)) {
                LLVMOrcDisposeMaterializationUnit(unit);
                return Err(Error::Jit(e));
            }
        }
        Ok(())
    }

    /// Compiles (on first use) and returns the address of `name`. A failure's message
    /// starts with the causes the session reported (e.g. undefined symbols), the
    /// lookup's own message in parentheses.
    pub fn lookup(&mut self, name: &str) -> Result<u64, Error> {
        let cname = CString::new(name).map_err(|_| Error::Lookup("bad name".into()))?;
        let mut addr = 0;
        self.errors.lock().unwrap().clear();
        // SAFETY: a live JIT; LLVM writes the address.
        let err = unsafe { LLVMOrcLLJITLookup(self.raw, &mut addr, cname.as_ptr()) };
        match take_error(err) {
            None => Ok(addr),
            Some(e) => {
                let cause = std::mem::take(&mut *self.errors.lock().unwrap());
                Err(Error::Lookup(if cause.is_empty() { e } else { format!("{cause} ({e})") }))
            }
        }
    }
}
