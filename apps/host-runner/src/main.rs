//! `host-runner [--repeat N] [APP...]`: runs the apps natively (all of them by default),
//! N times each (default 5), prints their output and a table of timed-section cycles
//! (minimum and median over the runs). Exits with status 1 if any run failed its check
//! or did not call each section marker exactly once.

use host_runner::{APPS, App, find, run_app, tsc_hz};
use std::process::ExitCode;
use std::time::Duration;

host_runner::define_host_functions!();

fn main() -> ExitCode {
    let mut repeat = 5usize;
    let mut selected: Vec<&'static App> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--repeat" {
            repeat = args.next().and_then(|n| n.parse().ok()).filter(|&n| n > 0).expect("--repeat N (N >= 1)");
        } else if let Some(app) = find(&arg) {
            selected.push(app);
        } else {
            eprintln!("usage: host-runner [--repeat N] [APP...]; apps: {}", names());
            return ExitCode::from(2);
        }
    }
    if selected.is_empty() {
        selected = APPS.iter().collect();
    }
    let hz = tsc_hz(Duration::from_millis(50));
    let mut failed = false;
    let mut rows = Vec::new();
    for app in selected {
        let mut cycles = Vec::new();
        let mut wall = Duration::ZERO;
        for _ in 0..repeat {
            let o = run_app(app);
            if o.status != 0 || o.begins != 1 || o.ends != 1 {
                eprintln!("{}: status {}, section begin x{}, end x{}", app.name, o.status, o.begins, o.ends);
                failed = true;
            }
            cycles.push(o.section_cycles);
            wall = wall.max(o.wall);
        }
        cycles.sort_unstable();
        rows.push((app.name, cycles[0], cycles[cycles.len() / 2], wall));
    }
    println!();
    println!("TSC {:.3} GHz, {repeat} run(s) per app", hz / 1e9);
    println!("{:<10} {:>14} {:>14} {:>10} {:>12}", "app", "min cycles", "median cycles", "min ms", "max run ms");
    for (name, min, median, wall) in rows {
        println!(
            "{:<10} {:>14} {:>14} {:>10.2} {:>12.2}",
            name,
            min,
            median,
            min as f64 / hz * 1e3,
            wall.as_secs_f64() * 1e3
        );
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

fn names() -> String {
    APPS.iter().map(|a| a.name).collect::<Vec<_>>().join(", ")
}
