//! Polled device drivers (interrupts stay off, BRIEF §3).

pub mod block;
pub mod keyboard;
pub mod pci;
pub mod qemu_exit;
pub mod rtc;
pub mod serial;
pub mod vga;
