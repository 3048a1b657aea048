//! The Linux x86-64 ABI the BareFlow kernel speaks, in one leaf crate.
//!
//! Values and layouts only, no behaviour: what glibc and Rust std pass in registers and
//! memory when they make a syscall, and what the kernel hands back. Every layer of the
//! kernel may use it (the page tables read [`mman`]'s `PROT_*`, the file system
//! [`errno`] and [`fcntl`]'s `O_*`, the syscall layer all of it) without importing the
//! syscall layer. The host tests compare every value and layout with the C library's
//! (the `libc` crate), so a typo cannot survive `cargo test -p linux-abi`.
//!
//! Modules follow the Linux headers the names come from.
#![no_std]

pub mod auxv;
pub mod dirent;
pub mod errno;
pub mod fcntl;
pub mod limits;
pub mod mman;
pub mod poll;
pub mod stat;

pub use errno::Errno;
