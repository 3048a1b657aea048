//! The status screen: what a machine without a serial console shows on its 80×25 text
//! screen while the apps run — a header (the machine, LLVM), the app and what it is
//! doing, its hottest functions with calls, cycles and tier (coloured by tier), and the
//! last app's summary ([`crate::summary_lines`]). Rendered here as cells (a glyph and a
//! VGA attribute each); the kernel copies them to the text buffer at `0xB8000`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::report::FunctionReport;
use crate::table::Table;

/// Columns of the text screen.
pub const COLUMNS: usize = 80;
/// Rows of the text screen.
pub const ROWS: usize = 25;

/// VGA text attributes (background in the high nibble, foreground in the low).
pub mod colour {
    /// Light grey on black: plain text.
    pub const TEXT: u8 = 0x07;
    /// White on blue: the header bar.
    pub const HEADER: u8 = 0x1F;
    /// Black on light grey: a table's column titles.
    pub const TITLES: u8 = 0x70;
    /// Bright white on black: the summary.
    pub const SUMMARY: u8 = 0x0F;
    /// Per tier, bottom to top: yellow (interpreted), light cyan, light green, then
    /// light magenta for any row above.
    pub const TIERS: [u8; 4] = [0x0E, 0x0B, 0x0A, 0x0D];
}

/// One character cell: its glyph (printable ASCII) and attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cell {
    /// The character.
    pub glyph: u8,
    /// Its colours ([`colour`]).
    pub attribute: u8,
}

/// What the screen shows.
#[derive(Clone, Debug, Default)]
pub struct Status<'a> {
    /// The machine: CPU, memory, disk (the kernel's boot facts).
    pub machine: &'a str,
    /// The LLVM the kernel links.
    pub llvm: &'a str,
    /// The app running, with what it does now (`tinyllama: tiered run 2 of 4`).
    pub activity: &'a str,
    /// Its functions' profile (the hottest, by cycles, are shown).
    pub functions: &'a [FunctionReport],
    /// The last finished app's summary lines (`summary: …`).
    pub summary: &'a [String],
}

/// The rows of the function table.
const TABLE_ROWS: usize = 10;
/// Where the summary starts.
const SUMMARY_ROW: usize = 4 + TABLE_ROWS + 1;

/// The whole screen for `status`, the tiers named after `table`.
pub fn render(status: &Status, table: Table) -> [[Cell; COLUMNS]; ROWS] {
    let mut screen = [[Cell { glyph: b' ', attribute: colour::TEXT }; COLUMNS]; ROWS];
    let mut put = |row: usize, text: &str, attribute: u8, fill: bool| {
        let cells = &mut screen[row];
        let bytes = text.bytes().map(|b| if (0x20..0x7f).contains(&b) { b } else { b'?' });
        for (cell, glyph) in cells.iter_mut().zip(bytes.chain(core::iter::repeat(b' '))).take(COLUMNS) {
            if glyph != b' ' || fill {
                *cell = Cell { glyph, attribute };
            }
        }
    };
    // The header fits the row: the machine's line gives way, LLVM's version stays.
    let llvm = format!(" | LLVM {}", status.llvm);
    let room = COLUMNS.saturating_sub(" BareFlow | ".len() + llvm.len());
    let machine: String = status.machine.chars().take(room).collect();
    put(0, &format!(" BareFlow | {}{llvm}", machine.trim_end()), colour::HEADER, true);
    put(2, status.activity, colour::TEXT, false);
    put(
        3,
        &format!(" {:<30} {:>10} {:>18} {:>5}", "hottest functions", "calls", "cycles", "tier"),
        colour::TITLES,
        true,
    );
    let mut hottest: Vec<&FunctionReport> = status.functions.iter().filter(|f| f.calls > 0).collect();
    hottest.sort_by_key(|f| core::cmp::Reverse(f.cycles));
    for (i, f) in hottest.iter().take(TABLE_ROWS).enumerate() {
        let name: String = f.name.chars().take(30).collect();
        let attribute = colour::TIERS[(f.tier as usize).min(colour::TIERS.len() - 1)];
        put(
            4 + i,
            &format!(" {name:<30} {:>10} {:>18} {:>5}", f.calls, f.cycles, table.name(f.tier)),
            attribute,
            false,
        );
    }
    for (i, line) in status.summary.iter().take(ROWS - SUMMARY_ROW).enumerate() {
        put(SUMMARY_ROW + i, line.strip_prefix("summary: ").unwrap_or(line), colour::SUMMARY, false);
    }
    screen
}

/// The screen's text, one `String` per row without trailing spaces (what a test reads
/// back from the text buffer).
pub fn text(screen: &[[Cell; COLUMNS]; ROWS]) -> Vec<String> {
    screen.iter().map(|row| String::from_utf8_lossy(&row.map(|c| c.glyph)).trim_end().into()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TIERS;
    use alloc::string::ToString;
    use alloc::vec;

    fn function(name: &str, calls: u64, cycles: u64, tier: u32) -> FunctionReport {
        FunctionReport { name: name.into(), calls, cycles, tier, ..Default::default() }
    }

    #[test]
    fn the_screen_shows_header_activity_hottest_functions_and_summary() {
        let functions = [function("cold", 0, 0, 0), function("fib", 100, 500, 2), function("main", 1, 900, 0)];
        let summary = ["summary: fib".to_string(), "summary:   aot 100".to_string()];
        let status = Status {
            machine: "QEMU CPU | 963 MiB",
            llvm: "22.1.8",
            activity: "fib: tiered run 2 of 4",
            functions: &functions,
            summary: &summary,
        };
        let screen = render(&status, TIERS);
        let rows = text(&screen);
        assert_eq!(rows[0], " BareFlow | QEMU CPU | 963 MiB | LLVM 22.1.8");
        assert_eq!(screen[0][79].attribute, colour::HEADER, "the header bar spans the row");
        assert_eq!(rows[2], "fib: tiered run 2 of 4");
        assert!(rows[3].starts_with(" hottest functions"));
        assert_eq!(rows[4], format!(" {:<30} {:>10} {:>18} {:>5}", "main", 1, 900, "t0"), "hottest first");
        assert_eq!(rows[5], format!(" {:<30} {:>10} {:>18} {:>5}", "fib", 100, 500, "t2"));
        assert_eq!(rows[6], "", "functions never called are left out");
        assert_eq!((screen[4][1].attribute, screen[5][1].attribute), (colour::TIERS[0], colour::TIERS[2]));
        assert_eq!(rows[SUMMARY_ROW..SUMMARY_ROW + 2], ["fib".to_string(), "  aot 100".to_string()]);
        assert_eq!(screen[SUMMARY_ROW][0].attribute, colour::SUMMARY);
    }

    #[test]
    fn long_text_is_cut_and_odd_bytes_shown_as_question_marks() {
        let long = "x".repeat(200);
        let functions = vec![function(&long, 1, 1, 1)];
        let machine = "m".repeat(100);
        let status = Status {
            machine: &machine,
            llvm: "22.1.8",
            activity: "caf\u{e9}",
            functions: &functions,
            ..Default::default()
        };
        let rows = text(&render(&status, TIERS));
        assert!(
            rows[0].ends_with("mmm | LLVM 22.1.8") && rows[0].len() == COLUMNS,
            "the machine gives way: {}",
            rows[0]
        );
        assert_eq!(rows[2], "caf??", "UTF-8 bytes beyond ASCII are not VGA glyphs");
        assert!(rows[4].starts_with(&format!(" {}", "x".repeat(30))) && rows[4].len() <= COLUMNS);
    }
}
