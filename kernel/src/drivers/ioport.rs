//! Typed I/O-port registers: one value per device register, its width in the type and
//! its direction in the access marker, so that drivers describe a register block as a
//! struct (ATA's task file, virtio's legacy header) instead of `inb(base + 7)`.
//!
//! The `unsafe` is in one place, [`Register::new`]: a driver claims a register there,
//! and from then on reading and writing it is safe. The `x86_64` crate's
//! [`PortGeneric`] does the port I/O.

use core::marker::PhantomData;

use x86_64::instructions::port::{
    PortGeneric, PortRead, PortReadAccess, PortWrite, PortWriteAccess, ReadOnlyAccess, ReadWriteAccess, WriteOnlyAccess,
};

/// An I/O-port register of width `T` (`u8`, `u16`, `u32`) and access `A`.
pub struct Register<T, A> {
    port: u16,
    width: PhantomData<(T, A)>,
}

/// A register that is read and written.
pub type ReadWrite<T> = Register<T, ReadWriteAccess>;
/// A register that is only read (e.g. ATA status, whose port takes commands when written).
pub type ReadOnly<T> = Register<T, ReadOnlyAccess>;
/// A register that is only written.
pub type WriteOnly<T> = Register<T, WriteOnlyAccess>;

impl<T, A> Register<T, A> {
    /// The register at I/O port `port`.
    ///
    /// # Safety
    ///
    /// `port` must be the register the driver means, on a device the driver drives, and
    /// the driver must make sure that nothing it writes there, nor any read's side
    /// effect, makes the device touch memory the driver does not own (DMA addresses it
    /// hands the device point into its own buffers, which outlive the device's use).
    pub const unsafe fn new(port: u16) -> Self {
        Register { port, width: PhantomData }
    }

    /// The port number (for string I/O and messages).
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl<T: PortRead, A: PortReadAccess> Register<T, A> {
    /// Reads the register.
    pub fn read(&mut self) -> T {
        // SAFETY: the register was claimed with `Register::new`, whose contract makes
        // reading it harmless to memory safety.
        unsafe { PortGeneric::<T, A>::new(self.port).read() }
    }
}

impl<T: PortWrite, A: PortWriteAccess> Register<T, A> {
    /// Writes the register.
    pub fn write(&mut self, value: T) {
        // SAFETY: as in `read`; `Register::new`'s contract covers the values a driver
        // writes.
        unsafe { PortGeneric::<T, A>::new(self.port).write(value) }
    }
}

impl<A: PortReadAccess> Register<u16, A> {
    /// Reads `dst.len() / 2` words into `dst` with `rep insw` (an ATA PIO sector).
    ///
    /// Panics if `dst` has an odd length.
    pub fn read_words(&mut self, dst: &mut [u8]) {
        assert!(dst.len().is_multiple_of(2), "word string I/O needs an even number of bytes");
        // SAFETY: `rep insw` stores exactly `dst.len() / 2` words at `dst`, which is
        // ours to write; the port is a claimed register (`Register::new`). DF is clear
        // (System V ABI), so the string moves forward.
        unsafe {
            core::arch::asm!("rep insw", in("dx") self.port, inout("rdi") dst.as_mut_ptr() => _,
                inout("rcx") dst.len() / 2 => _, options(nostack, preserves_flags));
        }
    }
}

impl<A: PortWriteAccess> Register<u16, A> {
    /// Writes `src.len() / 2` words from `src` with `rep outsw`.
    ///
    /// Panics if `src` has an odd length.
    pub fn write_words(&mut self, src: &[u8]) {
        assert!(src.len().is_multiple_of(2), "word string I/O needs an even number of bytes");
        // SAFETY: `rep outsw` loads exactly `src.len() / 2` words from `src`, which we
        // may read; the port is a claimed register. DF is clear (System V ABI).
        unsafe {
            core::arch::asm!("rep outsw", in("dx") self.port, inout("rsi") src.as_ptr() => _,
                inout("rcx") src.len() / 2 => _, options(nostack, preserves_flags, readonly));
        }
    }
}

impl<T, A> core::fmt::Debug for Register<T, A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Register({:#x})", self.port)
    }
}
