//! Which function a code address belongs to: a map of the JIT-compiled code of the
//! program being run, filled from the symbol tables of the objects the engines link,
//! so a fault report can name the function (docs/programs.md).
//!
//! Recording is off unless a C program is running ([`enable`]): the app suite's runs
//! pay nothing for it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::Jit;

/// One function's code: `[start, end)`, its name and the tier it was compiled for.
struct Range {
    start: u64,
    end: u64,
    name: String,
    tier: String,
}

static ENABLED: AtomicBool = AtomicBool::new(false);
static RANGES: Mutex<Vec<Range>> = Mutex::new(Vec::new());

/// Starts (`true`) or stops recording, forgetting what was recorded.
pub fn enable(on: bool) {
    RANGES.lock().unwrap().clear();
    ENABLED.store(on, Ordering::Relaxed);
}

/// Records the functions of `object` (linked, or about to be linked, into `jit`) as
/// code of `tier`. `display` turns a symbol into the name to show.
pub fn record_object(jit: &mut Jit, object: &[u8], tier: &str, display: impl Fn(&str) -> String) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let Ok(symbols) = bf_llvm::function_symbols(object) else { return };
    let placed = jit.placed_sections(&symbols);
    let mut ranges = RANGES.lock().unwrap();
    for s in &symbols {
        if let Some((_, base)) = placed.iter().find(|(section, _)| *section == s.section) {
            let start = base + s.offset;
            ranges.push(Range { start, end: start + s.size, name: display(&s.name), tier: tier.to_string() });
        }
    }
}

/// The function (and its tier) whose code holds `address`, if recorded.
pub fn function_at(address: u64) -> Option<(String, String)> {
    let ranges = RANGES.lock().unwrap();
    ranges.iter().rev().find(|r| (r.start..r.end).contains(&address)).map(|r| (r.name.clone(), r.tier.clone()))
}
