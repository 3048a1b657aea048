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

/// A copy of the ELF64 relocatable object `bytes` whose sections named in `placed` have
/// their address (`sh_addr`) set to where the JIT put them: the form of an object a
/// debugger reads through GDB's JIT interface, which places each section at its
/// `sh_addr`. Sections not in `placed` keep address 0. `None` if `bytes` is not an
/// ELF64 little-endian object or its section headers lie outside it.
pub fn with_section_addresses(bytes: &[u8], placed: &[(&str, u64)]) -> Option<Vec<u8>> {
    let u16_at = |b: &[u8], at: usize| Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |b: &[u8], at: usize| Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |b: &[u8], at: usize| Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?));
    // e_ident: magic, ELFCLASS64, ELFDATA2LSB.
    if bytes.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let shoff = usize::try_from(u64_at(bytes, 0x28)?).ok()?;
    let (shentsize, shnum, shstrndx) =
        (u16_at(bytes, 0x3a)? as usize, u16_at(bytes, 0x3c)? as usize, u16_at(bytes, 0x3e)? as usize);
    if shentsize < 64 {
        return None;
    }
    let header = |i: usize| shoff.checked_add(i.checked_mul(shentsize)?);
    let strtab = usize::try_from(u64_at(bytes, header(shstrndx)? + 0x18)?).ok()?;
    let mut copy = bytes.to_vec();
    for i in 0..shnum {
        let at = header(i)?;
        let name_at = strtab.checked_add(u32_at(bytes, at)? as usize)?;
        let name = bytes.get(name_at..)?.split(|&b| b == 0).next()?;
        if let Some(&(_, address)) = placed.iter().find(|(n, _)| n.as_bytes() == name) {
            copy.get_mut(at + 0x10..at + 0x18)?.copy_from_slice(&address.to_le_bytes());
        }
    }
    Some(copy)
}
