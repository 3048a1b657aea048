//! COM1, the console tests read: a 16550 UART at port 0x3F8, 115200 8N1, polled.

use uart_16550::{Config, Uart16550, backend::PioBackend};

/// I/O port base of COM1.
pub const COM1: u16 = 0x3F8;

/// The COM1 port, initialised once by [`SerialPort::init`].
pub struct SerialPort {
    uart: Option<Uart16550<PioBackend>>,
}

impl SerialPort {
    /// A port that drops output until [`SerialPort::init`] succeeds.
    pub const fn new() -> Self {
        Self { uart: None }
    }

    /// Programs the UART; returns false if no UART answers at COM1.
    pub fn init(&mut self) -> bool {
        // SAFETY: COM1's eight registers at 0x3F8 belong to this driver alone.
        let Ok(mut uart) = (unsafe { Uart16550::new_port(COM1) }) else { return false };
        if uart.init(Config::default()).is_err() {
            return false;
        }
        self.uart = Some(uart);
        true
    }

    /// Reads the bytes that have arrived, without waiting; returns how many.
    pub fn read_available(&mut self, buf: &mut [u8]) -> usize {
        let Some(uart) = self.uart.as_mut() else { return 0 };
        let mut n = 0;
        while n < buf.len() {
            match uart.try_receive_byte() {
                Ok(b) => {
                    buf[n] = b;
                    n += 1;
                }
                Err(_) => break,
            }
        }
        n
    }

    /// Writes bytes, turning `\n` into `\r\n`.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        let Some(uart) = self.uart.as_mut() else { return };
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            match line.split_last() {
                Some((b'\n', body)) => {
                    uart.send_bytes_exact(body);
                    uart.send_bytes_exact(b"\r\n");
                }
                _ => uart.send_bytes_exact(line),
            }
        }
    }
}

impl Default for SerialPort {
    fn default() -> Self {
        Self::new()
    }
}

/// Writes straight to COM1's data register without any lock or set-up: for the
/// last words of a machine that is stopping.
pub fn emergency_write(bytes: &[u8]) {
    let mut data = x86_64::instructions::port::Port::<u8>::new(COM1);
    let mut status = x86_64::instructions::port::PortReadOnly::<u8>::new(COM1 + 5);
    for &b in bytes {
        // SAFETY: COM1's data and line-status registers; writing a byte is harmless even
        // if the UART is in an unexpected state.
        unsafe {
            let mut spins = 0;
            while status.read() & 0x20 == 0 && spins < 100_000 {
                spins += 1;
            }
            data.write(b);
        }
    }
}
