//! x86-64 machine layer: entry, descriptor tables, exceptions, CPU state, TSC, and the
//! `SYSCALL` entry stub. Page tables are memory management ([`crate::mm::paging`]).

pub mod cpu;
pub mod entry;
pub mod gdt;
pub mod idt;
pub mod syscall;
pub mod tsc;
