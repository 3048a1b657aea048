//! Memory management.
//!
//! [`regions`] turns the E820 map into free ranges; [`frames`] hands those out as
//! page-aligned blocks; [`paging`] builds the kernel's page tables and keeps every
//! page's permissions (`PROT_*` from `linux-abi`); [`vmem`] is the program's memory
//! (brk heap, anonymous mappings, stack) on top of them, behind the syscall layer's
//! `brk`/`mmap`; [`rangeset`] tracks its mappings. [`blocktable`] remembers LLVM's
//! `malloc` blocks for `jit::llvm_memory` (it runs inside `malloc`, so it cannot
//! allocate).

pub mod blocktable;
pub mod frames;
pub mod paging;
pub mod rangeset;
pub mod regions;
pub mod vmem;
