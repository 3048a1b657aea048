//! Polled device drivers (interrupts stay off, BRIEF §3).
//!
//! Two layers live here (docs/architecture.md): [`serial`], [`vga`] and [`qemu_exit`]
//! sit at the bottom with `console` and import nothing else of the kernel; the rest
//! (PCI, RTC, keyboard, block devices) may use `arch`, `mm`, `boot` and `console`.

pub mod block;
pub mod ioport;
pub mod keyboard;
pub mod pci;
pub mod qemu_exit;
pub mod rtc;
pub mod serial;
pub mod vga;
