//! The kernel console: every line goes to COM1 (what tests read) and the VGA screen.

use core::fmt::{self, Write};
use spin::Mutex;

use crate::drivers::{serial::SerialPort, vga::VgaConsole};

/// Both output devices behind one lock.
pub struct Console {
    serial: SerialPort,
    vga: VgaConsole,
}

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.serial.write_bytes(s.as_bytes());
        self.vga.write_bytes(s.as_bytes());
        Ok(())
    }
}

static CONSOLE: Mutex<Console> = Mutex::new(Console { serial: SerialPort::new(), vga: VgaConsole::new() });

/// Initialises COM1 and the VGA console; `vga_cursor` is where stage2 stopped writing.
/// Returns whether a UART answered on COM1.
pub fn init(vga_cursor: u16) -> bool {
    let mut console = CONSOLE.lock();
    console.vga.init(vga_cursor);
    console.serial.init()
}

/// Writes raw bytes to both devices.
pub fn write_bytes(bytes: &[u8]) {
    let mut console = CONSOLE.lock();
    console.serial.write_bytes(bytes);
    console.vga.write_bytes(bytes);
}

/// Replaces the VGA console's scrolling text by a status screen of (glyph, attribute)
/// cells; later output goes to COM1 only (and later screens replace this one).
pub fn show_screen(cells: &[[(u8, u8); crate::drivers::vga::WIDTH]; crate::drivers::vga::HEIGHT]) {
    CONSOLE.lock().vga.show(cells);
}

/// The machine in one line (CPU, memory, disk), for the status screen's header: set
/// once at boot, before the program starts.
static MACHINE_LINE: Mutex<([u8; 80], usize)> = Mutex::new(([0; 80], 0));

/// Records the machine line (cut to 80 bytes).
pub fn set_machine_line(args: fmt::Arguments) {
    struct Fixed<'a>(&'a mut ([u8; 80], usize));
    impl Write for Fixed<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            for &b in s.as_bytes() {
                let (buf, len) = &mut *self.0;
                if *len < buf.len() {
                    buf[*len] = b;
                    *len += 1;
                }
            }
            Ok(())
        }
    }
    let mut line = MACHINE_LINE.lock();
    line.1 = 0;
    let _ = Fixed(&mut line).write_fmt(args);
}

/// The machine line [`set_machine_line`] recorded (empty before).
pub fn machine_line() -> String {
    let line = MACHINE_LINE.lock();
    String::from_utf8_lossy(&line.0[..line.1]).into_owned()
}

/// Reads console input that has arrived on COM1, without waiting.
pub fn read_input(buf: &mut [u8]) -> usize {
    CONSOLE.lock().serial.read_available(buf)
}

/// Breaks the console lock.
///
/// # Safety
/// Only for a CPU that is stopping (exception report): single core, interrupts off, so
/// the holder, if any, was the interrupted code and will never run again.
pub unsafe fn force_unlock() {
    // SAFETY: forwarded from the caller's contract.
    unsafe { CONSOLE.force_unlock() };
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments) {
    // Writing to the console cannot fail.
    let _ = CONSOLE.lock().write_fmt(args);
}

/// Prints to the kernel console (COM1 and VGA).
#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => ($crate::console::_print(format_args!($($arg)*)));
}

/// Prints a line to the kernel console (COM1 and VGA).
#[macro_export]
macro_rules! kprintln {
    () => ($crate::kprint!("\n"));
    ($($arg:tt)*) => ($crate::console::_print(format_args!("{}\n", format_args!($($arg)*))));
}
