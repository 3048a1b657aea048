//! Leaving QEMU through the isa-debug-exit device (`-device isa-debug-exit,iobase=0xf4,iosize=0x04`).
//!
//! Writing `v` makes QEMU exit with status `(v << 1) | 1`. On real hardware nothing
//! answers at port 0xF4, and [`exit`] falls through to a halt.

/// Status for a run that did everything asked of it (QEMU exits with 1).
pub const EXIT_SUCCESS: u32 = 0;
/// Status for a self-test that failed (QEMU exits with 3).
pub const EXIT_FAILURE: u32 = 1;
/// Status for a fatal kernel error: exception, bad boot info (QEMU exits with 255).
pub const EXIT_FATAL: u32 = 0x7f;

/// I/O port of the isa-debug-exit device.
pub const DEBUG_EXIT_PORT: u16 = 0xf4;

/// The exit status QEMU reports for a kernel status.
pub const fn qemu_status(status: u32) -> i32 {
    (((status << 1) | 1) & 0xff) as i32
}

/// Ends the run with `status`: QEMU exits; on real hardware the CPU halts.
pub fn exit(status: u32) -> ! {
    crate::kprintln!("bareflow: exit status {}", status);
    exit_silently(status)
}

/// Like [`exit`], without printing: for a machine whose console may be broken.
pub fn exit_silently(status: u32) -> ! {
    // SAFETY: port 0xF4 is the isa-debug-exit device under QEMU and unused on PCs.
    unsafe { x86_64::instructions::port::Port::<u32>::new(DEBUG_EXIT_PORT).write(status) };
    // Halt with the `x86_64` crate directly: this module sits below `arch` (it may be
    // called from fault handlers) and imports nothing but the console.
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}
