//! x86-64 machine layer: entry, descriptor tables, exceptions, CPU state, TSC.

pub mod cpu;
pub mod entry;
pub mod gdt;
pub mod idt;
pub mod paging;
pub mod syscall;
pub mod tsc;
