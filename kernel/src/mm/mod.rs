//! Physical memory management.
//!
//! [`regions`] turns the E820 map into free ranges; [`frames`] hands those out as
//! page-aligned blocks. Later layers (the syscall layer's `brk`/`mmap`, the JIT's code
//! pages) build on frames and the kernel's page tables.

pub mod frames;
pub mod rangeset;
pub mod regions;
pub mod vmem;
