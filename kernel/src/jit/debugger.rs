//! GDB's JIT interface (docs/debugging.md): every object the engine links is announced
//! to a debugger, so that JIT-compiled functions have names and a breakpoint on one
//! (`break fib::fib`) works — on bare metal through QEMU's GDB stub as for the kernel
//! ELF run under gdb on Linux.
//!
//! The interface is GDB's documented protocol ("JIT Compilation Interface"): a global
//! descriptor `__jit_debug_descriptor` heading a list of in-memory object files, and a
//! function `__jit_debug_register_code` the program calls after changing the list, on
//! which the debugger keeps a breakpoint (both defined by LLVM's ORC target-process
//! library, which the kernel links; the list is kept here). Each entry is a copy of an object with its
//! sections' addresses set to where the JIT put them (`bf_llvm::with_section_addresses`);
//! entries live as long as the [`Jit`] that linked the code and leave the list when it
//! is dropped. Without a debugger it costs a copy of each object and a call.
//!
//! LLVM's own support (`LLVMOrcLLJITEnableDebugSupport`) finds its registration
//! function by `dlsym` in the executor, which a static binary cannot answer: the list is
//! small enough to keep ourselves.

use std::ptr::{addr_of_mut, null_mut};

use super::Jit;

/// One object file in the list (GDB's `struct jit_code_entry`).
#[repr(C)]
pub struct JitCodeEntry {
    next: *mut JitCodeEntry,
    prev: *mut JitCodeEntry,
    symfile_addr: *const u8,
    symfile_size: u64,
}

/// The list's head (GDB's `struct jit_descriptor`).
#[repr(C)]
pub struct JitDescriptor {
    version: u32,
    /// What [`__jit_debug_register_code`] is being called for.
    action_flag: u32,
    relevant_entry: *mut JitCodeEntry,
    first_entry: *mut JitCodeEntry,
}

/// `action_flag`: nothing (between calls).
const JIT_NOACTION: u32 = 0;
/// `action_flag`: `relevant_entry` was added.
const JIT_REGISTER: u32 = 1;
/// `action_flag`: `relevant_entry` is being removed.
const JIT_UNREGISTER: u32 = 2;

// The descriptor the debugger reads and the function it keeps a breakpoint on, by
// these names. LLVM's ORC target-process library defines both (`JITLoaderGDB.cpp`,
// linked into the kernel with LLJIT); defining them again would clash, and naming them
// here makes the link fail loudly if that library ever leaves it.
unsafe extern "C" {
    static mut __jit_debug_descriptor: JitDescriptor;
    fn __jit_debug_register_code();
}

/// An object announced to the debugger; leaves the list when dropped.
pub struct Registration {
    entry: Box<JitCodeEntry>,
    /// The object copy `entry` points into.
    _image: Vec<u8>,
}

// SAFETY: BareFlow runs one thread; a registration is made, kept and dropped on it
// (the engine's Mutex only guards the bookkeeping), like the JIT that holds it.
unsafe impl Send for Registration {}

impl Drop for Registration {
    fn drop(&mut self) {
        let entry: *mut JitCodeEntry = &mut *self.entry;
        // SAFETY: one thread; `entry` is in the list (inserted by `announce`) and its
        // neighbours are live registrations; the descriptor (LLVM's, with GDB's layout)
        // is only written here and in `announce`, and the registration function has no
        // effect of its own.
        unsafe {
            let descriptor = &mut *addr_of_mut!(__jit_debug_descriptor);
            let (next, prev) = ((*entry).next, (*entry).prev);
            if prev.is_null() {
                descriptor.first_entry = next;
            } else {
                (*prev).next = next;
            }
            if !next.is_null() {
                (*next).prev = prev;
            }
            descriptor.relevant_entry = entry;
            descriptor.action_flag = JIT_UNREGISTER;
            __jit_debug_register_code();
            descriptor.action_flag = JIT_NOACTION;
        }
    }
}

/// Announces `object`, just linked into `jit`, to a debugger, its code sections where
/// the JIT placed them ([`Jit::placed_sections`]). Does nothing for an object that is
/// not ELF64.
pub fn announce(jit: &mut Jit, object: &[u8]) {
    let Ok(symbols) = bf_llvm::function_symbols(object) else { return };
    let placed = jit.placed_sections(&symbols);
    let Some(image) = bf_llvm::with_section_addresses(object, &placed) else { return };
    let mut entry = Box::new(JitCodeEntry {
        next: null_mut(),
        prev: null_mut(),
        symfile_addr: image.as_ptr(),
        symfile_size: image.len() as u64,
    });
    let raw: *mut JitCodeEntry = &mut *entry;
    // SAFETY: one thread; `entry` and `image` stay at their heap addresses until the
    // registration is dropped, which unlinks the entry first; the descriptor (LLVM's,
    // with GDB's layout) is only written here and in `Registration::drop`.
    unsafe {
        let descriptor = &mut *addr_of_mut!(__jit_debug_descriptor);
        (*raw).next = descriptor.first_entry;
        if !descriptor.first_entry.is_null() {
            (*descriptor.first_entry).prev = raw;
        }
        descriptor.first_entry = raw;
        descriptor.relevant_entry = raw;
        descriptor.action_flag = JIT_REGISTER;
        __jit_debug_register_code();
        descriptor.action_flag = JIT_NOACTION;
    }
    jit.registrations.push(Registration { entry, _image: image });
}
