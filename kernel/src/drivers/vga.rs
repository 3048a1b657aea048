//! VGA text-mode console (80×25 at 0xB8000), continuing below what the BIOS and stage2
//! printed.

use x86_64::instructions::port::Port;

/// Columns of the text screen.
pub const WIDTH: usize = 80;
/// Rows of the text screen.
pub const HEIGHT: usize = 25;
const BUFFER: *mut u16 = 0xB8000 as *mut u16;
/// Light grey on black.
const ATTRIBUTE: u16 = 0x07 << 8;

/// The text screen and its cursor.
pub struct VgaConsole {
    row: usize,
    column: usize,
    enabled: bool,
    /// A status screen ([`VgaConsole::show`]) replaced the scrolling text.
    showing_status: bool,
}

impl VgaConsole {
    /// A console that ignores output until [`VgaConsole::init`].
    pub const fn new() -> Self {
        Self { row: 0, column: 0, enabled: false, showing_status: false }
    }

    /// Starts writing at the cursor stage2 left (row in the high byte, column in the low).
    pub fn init(&mut self, cursor: u16) {
        self.row = ((cursor >> 8) as usize).min(HEIGHT - 1);
        self.column = ((cursor & 0xff) as usize).min(WIDTH - 1);
        self.enabled = true;
        self.update_cursor();
    }

    fn put(&mut self, row: usize, column: usize, cell: u16) {
        // SAFETY: row < HEIGHT and column < WIDTH, so the cell lies inside the 4000-byte
        // text buffer, which is identity-mapped device memory.
        unsafe { BUFFER.add(row * WIDTH + column).write_volatile(cell) };
    }

    fn scroll(&mut self) {
        for i in 0..(HEIGHT - 1) * WIDTH {
            // SAFETY: both cells lie inside the text buffer (i + WIDTH < WIDTH * HEIGHT).
            unsafe { BUFFER.add(i).write_volatile(BUFFER.add(i + WIDTH).read_volatile()) };
        }
        for column in 0..WIDTH {
            self.put(HEIGHT - 1, column, ATTRIBUTE | b' ' as u16);
        }
    }

    fn newline(&mut self) {
        self.column = 0;
        if self.row + 1 < HEIGHT {
            self.row += 1;
        } else {
            self.scroll();
        }
    }

    /// Shows a whole screen of (glyph, attribute) cells and stops the scrolling console
    /// from writing over it: from now on the screen is a status display (the text keeps
    /// going to COM1).
    pub fn show(&mut self, cells: &[[(u8, u8); WIDTH]; HEIGHT]) {
        if !self.enabled && !self.showing_status {
            return;
        }
        (self.enabled, self.showing_status) = (false, true);
        for (row, line) in cells.iter().enumerate() {
            for (column, &(glyph, attribute)) in line.iter().enumerate() {
                self.put(row, column, (attribute as u16) << 8 | glyph as u16);
            }
        }
    }

    /// Writes bytes; non-printable bytes other than `\n` and `\r` show as `?`.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        if !self.enabled {
            return;
        }
        for &b in bytes {
            match b {
                b'\n' => self.newline(),
                b'\r' => self.column = 0,
                _ => {
                    if self.column >= WIDTH {
                        self.newline();
                    }
                    let glyph = if (0x20..0x7f).contains(&b) { b } else { b'?' };
                    self.put(self.row, self.column, ATTRIBUTE | glyph as u16);
                    self.column += 1;
                }
            }
        }
        self.update_cursor();
    }

    fn update_cursor(&mut self) {
        let position = (self.row * WIDTH + self.column.min(WIDTH - 1)) as u16;
        let mut index: Port<u8> = Port::new(0x3D4);
        let mut data: Port<u8> = Port::new(0x3D5);
        // SAFETY: CRTC index/data ports of the VGA controller; registers 0x0E/0x0F hold
        // the cursor position and writing them has no other effect.
        unsafe {
            index.write(0x0F);
            data.write((position & 0xff) as u8);
            index.write(0x0E);
            data.write((position >> 8) as u8);
        }
    }
}

impl Default for VgaConsole {
    fn default() -> Self {
        Self::new()
    }
}
