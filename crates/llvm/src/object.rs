//! Reading relocatable objects (what [`crate::TargetMachine::emit_object`] produced):
//! their function symbols, to tell which function an address of JIT code is in.

use std::ffi::CStr;

use llvm_sys::core::{LLVMCreateMemoryBufferWithMemoryRangeCopy, LLVMDisposeMemoryBuffer};
use llvm_sys::object::*;

use crate::{Error, take_message};

/// A function defined in an object: its name, section, offset and size in bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionSymbol {
    /// The symbol's name.
    pub name: String,
    /// The section it is in (`.text`, or `.text.<name>` with function sections).
    pub section: String,
    /// Its offset in that section.
    pub offset: u64,
    /// Its code's size in bytes (from the symbol table).
    pub size: u64,
}

/// The functions `bytes` (an object file) defines: its named symbols of non-zero size
/// in a `.text` section.
pub fn function_symbols(bytes: &[u8]) -> Result<Vec<FunctionSymbol>, Error> {
    let mut out = Vec::new();
    // SAFETY: the buffer is a copy LLVM owns until disposed below; the binary borrows
    // it and is disposed first; the iterators belong to the binary and are disposed
    // before it; names are copied out while the binary lives.
    unsafe {
        let buf = LLVMCreateMemoryBufferWithMemoryRangeCopy(bytes.as_ptr().cast(), bytes.len(), c"object".as_ptr());
        let mut msg = std::ptr::null_mut();
        let binary = LLVMCreateBinary(buf, std::ptr::null_mut(), &mut msg);
        if binary.is_null() {
            LLVMDisposeMemoryBuffer(buf);
            return Err(Error::Codegen(format!("not an object file: {}", take_message(msg))));
        }
        let symbols = LLVMObjectFileCopySymbolIterator(binary);
        let section = LLVMObjectFileCopySectionIterator(binary);
        while LLVMObjectFileIsSymbolIteratorAtEnd(binary, symbols) == 0 {
            let size = LLVMGetSymbolSize(symbols);
            let name = LLVMGetSymbolName(symbols);
            if size > 0 && !name.is_null() {
                LLVMMoveToContainingSection(section, symbols);
                let section_name = if LLVMObjectFileIsSectionIteratorAtEnd(binary, section) == 0 {
                    let s = LLVMGetSectionName(section);
                    if s.is_null() { String::new() } else { CStr::from_ptr(s).to_string_lossy().into_owned() }
                } else {
                    String::new()
                };
                let name = CStr::from_ptr(name).to_string_lossy().into_owned();
                if section_name.starts_with(".text") && !name.is_empty() {
                    let offset = LLVMGetSymbolAddress(symbols);
                    out.push(FunctionSymbol { name, section: section_name, offset, size });
                }
            }
            LLVMMoveToNextSymbol(symbols);
        }
        LLVMDisposeSectionIterator(section);
        LLVMDisposeSymbolIterator(symbols);
        LLVMDisposeBinary(binary);
        LLVMDisposeMemoryBuffer(buf);
    }
    Ok(out)
}
