//! The status screen on VGA (docs/console.md): on bare metal, the text screen shows the
//! machine, the app and what it is doing, its hottest functions with their tiers, and
//! the last app's summary — what a machine booted from a USB stick, with no serial
//! console, has to show. It is redrawn only when something changes tier or a run
//! starts or ends, never per call. Rendering is `bf_tiers::screen` (host-tested); here
//! is only its state and the copy to the screen. Natively (a Linux program) it does
//! nothing.

use std::sync::Mutex;
use std::sync::atomic::Ordering;

use bf_tiers::screen::{self, Status};
use bf_tiers::{FunctionReport, TIERS};

use crate::drivers::vga::{HEIGHT, WIDTH};
use crate::platform::bare_metal;

/// What the screen shows now.
#[derive(Default)]
struct State {
    llvm: String,
    activity: String,
    /// The promotion being compiled now, shown after the activity.
    compiling: Option<String>,
    functions: Vec<FunctionReport>,
    summary: Vec<String>,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

/// Applies `change` to the state and redraws the screen (on bare metal only).
fn update(change: impl FnOnce(&mut State)) {
    if !shown() {
        return;
    }
    let mut guard = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let state = guard.get_or_insert_with(|| State { llvm: bf_llvm::llvm_version(), ..Default::default() });
    change(state);
    let machine = crate::console::machine_line();
    let activity = match &state.compiling {
        Some(what) => format!("{} | compiling {what} ...", state.activity),
        None => state.activity.clone(),
    };
    let status = Status {
        machine: &machine,
        llvm: &state.llvm,
        activity: &activity,
        functions: &state.functions,
        summary: &state.summary,
    };
    let cells = screen::render(&status, TIERS);
    let mut raw = [[(b' ', 0u8); WIDTH]; HEIGHT];
    for (row, line) in raw.iter_mut().zip(cells.iter()) {
        for (cell, c) in row.iter_mut().zip(line.iter()) {
            *cell = (c.glyph, c.attribute);
        }
    }
    crate::console::show_screen(&raw);
}

/// What the app is doing now (`tinyllama: tiered run 2 of 4`); a new app's first
/// activity also clears the function table.
pub fn activity(text: String, new_app: bool) {
    update(|s| {
        s.activity = text;
        if new_app {
            s.functions.clear();
        }
    });
}

/// A promotion (`matmul -> t2`) is being compiled (`None`: it is done). Compiles of the
/// top tier take seconds under TCG: the screen says what the machine is doing.
pub fn compiling(what: Option<String>) {
    update(|s| s.compiling = what);
}

/// Whether the status screen is drawn (bare metal).
pub fn shown() -> bool {
    bare_metal::ACTIVE.load(Ordering::Relaxed)
}

/// The running app's profile (after a tier-up or a run).
pub fn functions(report: Vec<FunctionReport>) {
    update(|s| s.functions = report);
}

/// The summary of the app that just finished (`bf_tiers::summary_lines`).
pub fn summary(lines: Vec<String>) {
    update(|s| s.summary = lines);
}
