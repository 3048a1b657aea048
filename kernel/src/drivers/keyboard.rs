//! Polled PS/2 keyboard on the 8042 controller, decoded with `pc-keyboard` (scan-code
//! set 1, US layout).

use pc_keyboard::{DecodedKey, HandleControl, PS2Keyboard, ScancodeSet1, layouts::Us104Key};
use x86_64::instructions::port::{Port, PortReadOnly};

/// 8042 status register bit: output buffer full.
const STATUS_OUTPUT_FULL: u8 = 0x01;
/// 8042 status register bit: the byte comes from the auxiliary (mouse) port.
const STATUS_AUX_DATA: u8 = 0x20;

/// The keyboard and its decoder state.
pub struct Keyboard {
    decoder: PS2Keyboard<Us104Key, ScancodeSet1>,
    status: PortReadOnly<u8>,
    data: Port<u8>,
}

impl Keyboard {
    /// A keyboard on the standard 8042 ports (0x60 data, 0x64 status).
    pub const fn new() -> Self {
        Self {
            decoder: PS2Keyboard::new(ScancodeSet1::new(), Us104Key, HandleControl::Ignore),
            status: PortReadOnly::new(0x64),
            data: Port::new(0x60),
        }
    }

    /// Returns the next decoded key if a scan code is waiting; never blocks.
    pub fn poll(&mut self) -> Option<DecodedKey> {
        // SAFETY: reading the 8042 status port has no side effect; reading the data port
        // only when the output buffer is full consumes exactly that byte.
        let byte = unsafe {
            let status = self.status.read();
            if status & STATUS_OUTPUT_FULL == 0 {
                return None;
            }
            let byte = self.data.read();
            if status & STATUS_AUX_DATA != 0 {
                return None;
            }
            byte
        };
        let event = self.decoder.add_byte(byte).ok().flatten()?;
        self.decoder.process_keyevent(event)
    }
}

impl Default for Keyboard {
    fn default() -> Self {
        Self::new()
    }
}
