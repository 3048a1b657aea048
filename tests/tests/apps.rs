//! The grow pipeline on the apps of `apps/`: every app natively compiled into the kernel
//! (AOT), wholly interpreted (tier 0), JIT-compiled at t1 and t2, and run through the
//! tiered engine (which starts in the interpreter), with identical self-checked
//! results — in QEMU and with the same kernel ELF run natively on Linux.

use std::time::Duration;

use bareflow_tests::{
    Accel, DiskInterface, ImageSpec, SMALL_MACHINE_MIB, assert_contains_all, boot_with_memory, build_image,
};

/// Result lines each run of the suite prints (`--tiers=` names the runs besides AOT).
fn result_lines(tier: &str) -> usize {
    match tier {
        "tiered" => 4,
        // Five runs with the profiling fast path, five with the call count alone and five
        // without profiling (`suite::OVERHEAD_RUNS`).
        "profiled" => 15,
        _ => 1,
    }
}

/// Checks the suite's output for the runs `tiers` (AOT always): each app printed the
/// same result line in every run ending in "ok", reported cycles per tier; with
/// `interp`, it ran wholly in the interpreter and its interp → t2 speedup is reported;
/// with `tiered`, it tiered up from tier 0 through tier 1 to tier 2, tinyllama's matmul
/// in the middle of the first tiered run.
fn assert_suite(out: &str, metric: impl Fn(&str) -> Option<f64>, tiers: &[&str]) {
    assert!(out.contains("apps: suite passed"), "suite failed:\n{out}");
    assert!(!out.contains("interp: starts in tier 1"), "every function of every app is interpretable:\n{out}");
    assert!(!out.contains("not interpreted but called"), "the interpreted runs interpret everything they call:\n{out}");
    let expected: usize = 1 + tiers.iter().map(|t| result_lines(t)).sum::<usize>();
    for app in bf_app_list::names() {
        let lines: Vec<&str> = out.lines().filter(|l| l.starts_with(&format!("{app}: "))).collect();
        assert_eq!(lines.len(), expected, "{app}: one result line per run (aot, {tiers:?}):\n{lines:#?}");
        assert!(
            lines.iter().all(|l| *l == lines[0] && l.ends_with(" ok")),
            "{app}: results differ between tiers:\n{lines:#?}"
        );
        for tier in std::iter::once(&"aot").chain(tiers).filter(|t| **t != "profiled") {
            assert!(
                metric(&format!("app.{app}.{tier}_cycles")).is_some_and(|c| c > 0.0),
                "app.{app}.{tier}_cycles missing"
            );
        }
        if tiers.contains(&"interp") {
            // "apps: fib in tier 0: 4 of 4 functions interpreted (…)"
            let t0 = out.lines().find(|l| l.starts_with(&format!("apps: {app} in tier 0: "))).unwrap_or_default();
            let words: Vec<&str> = t0.split_whitespace().collect();
            assert!(words.len() > 7 && words[5] == words[7], "{app}: all functions interpreted: {t0}");
            assert!(
                metric(&format!("app.{app}.interp_to_t2_speedup")).is_some_and(|x| x > 1.0),
                "{app}: interp -> t2 speedup"
            );
        }
        if tiers.contains(&"tiered") {
            assert!(metric(&format!("app.{app}.tier_ups")).is_some_and(|n| n >= 2.0), "{app} never tiered up twice");
        }
        assert_summary(out, &metric, app, tiers);
        if tiers.contains(&"profiled") {
            assert!(metric(&format!("app.{app}.profile_overhead_pct")).is_some(), "{app}: profiling overhead measured");
            assert!(
                metric(&format!("app.{app}.count_overhead_pct")).is_some(),
                "{app}: the call count's own overhead measured"
            );
            assert!(
                metric(&format!("app.{app}.profile_overhead_spread_pct")).is_some_and(|s| s >= 0.0),
                "{app}: the spread of its runs is reported"
            );
        }
    }
    if tiers.contains(&"tiered") {
        // tinyllama's matmul starts interpreted and goes to tier 1, then tier 2, in the
        // middle of the first tiered run: its "tier:" lines come before that run's
        // result line (after those of the runs before it).
        let before = 1 + tiers.iter().take_while(|t| **t != "tiered").map(|t| result_lines(t)).sum::<usize>();
        let llama = out.split("apps: tinyllama (").nth(1).expect("tinyllama section");
        let first_tiered_result =
            llama.match_indices("\ntinyllama: ").nth(before).expect("first tiered run's result").0;
        let to_t1 = llama.find("tier: matmul -> t1 after ").expect("tinyllama's matmul reaches tier 1");
        let to_t2 = llama.find("tier: matmul -> t2 after ").expect("tinyllama's matmul reaches tier 2");
        assert!(to_t1 < to_t2 && to_t2 < first_tiered_result, "matmul goes 0 -> 1 -> 2 during the first tiered run");
    }
}

/// Checks app `app`'s console summary (`summary: …` lines, bf_tiers::summary_lines)
/// against the same run's METRIC lines: one line per run with its cycles, its speed-up
/// against AOT and against the interpreter (`-` without an interpreted run), and with
/// `tiered` the tier-ups and time to hot.
fn assert_summary(out: &str, metric: &impl Fn(&str) -> Option<f64>, app: &str, tiers: &[&str]) {
    let block: Vec<&str> = out
        .lines()
        .skip_while(|l| *l != format!("summary: {app}"))
        .skip(2)
        .take_while(|l| l.starts_with("summary:   "))
        .collect();
    let runs: Vec<&str> = std::iter::once("aot").chain(tiers.iter().copied().filter(|t| *t != "profiled")).collect();
    let cycles = |run: &str| metric(&format!("app.{app}.{run}_cycles")).unwrap_or_else(|| panic!("{app}.{run}_cycles"));
    let speedup = |base: Option<f64>, c: f64| base.map_or("-".to_string(), |b| format!("{:.2}x", b / c));
    for run in &runs {
        let label = if *run == "tiered" { "tiered (hot)" } else { run };
        let line = block
            .iter()
            .find(|l| l.strip_prefix("summary:   ").is_some_and(|r| r.starts_with(&format!("{label} "))))
            .unwrap_or_else(|| panic!("{app}: no summary line for {run}:\n{block:#?}"));
        let words: Vec<&str> = line.split_whitespace().rev().take(3).collect();
        let c = cycles(run);
        let interp = tiers.contains(&"interp").then(|| cycles("interp"));
        assert_eq!(
            words[..3],
            [speedup(interp, c), speedup(Some(cycles("aot")), c), format!("{c}")],
            "{app}: the summary's {run} line against its METRIC lines: {line}"
        );
    }
    if tiers.contains(&"tiered") {
        let tier_ups = metric(&format!("app.{app}.tier_ups")).unwrap_or_default();
        let to_hot = metric(&format!("app.{app}.time_to_hot_ms")).unwrap_or_default();
        let last = block.last().copied().unwrap_or_default();
        assert!(
            last.starts_with(&format!("summary:   {tier_ups} tier-ups; hot after run "))
                && last.ends_with(&format!("; time to hot {to_hot:.1} ms")),
            "{app}: the summary's tiered line against its METRIC lines: {last}"
        );
    }
}

/// `make run`'s terminal (bfrun without `--metrics`): the story without the figures —
/// no METRIC lines (bfrun counts them), an app's repeated result lines folded into a
/// count, a long (top-tier) compile announced before it starts, and the app's summary
/// table at the end.
#[test]
fn the_terminal_shows_the_summary_without_metric_lines() {
    let image = build_image(
        "terminal",
        &ImageSpec { cmdline: "--no-jit --apps=fib --tiers=t1,tiered".into(), ..Default::default() },
    );
    let bfrun = bareflow_tests::workspace_root().join("target/release/bfrun");
    let run = std::process::Command::new(&bfrun)
        .args(["--tcg", "--snapshot", "--timeout", "600"])
        .arg(&image)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run bfrun (make test builds it)");
    let (terminal, notes) = (String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert_eq!(run.status.code(), Some(0), "{terminal}{notes}");
    assert!(!terminal.lines().any(|l| l.starts_with("METRIC ")), "METRIC lines reach the terminal:\n{terminal}");
    assert!(notes.contains(" METRIC lines hidden (--metrics"), "bfrun counts what it hid: {notes}");
    let results: Vec<&str> = terminal.lines().filter(|l| l.starts_with("fib: ")).collect();
    assert!(results.len() < 6, "fib's six identical result lines are folded:\n{terminal}");
    assert!(terminal.contains("\r\n(the line above "), "the fold says how many lines it hides:\n{terminal}");
    // A top-tier compile (seconds under TCG) says it has begun.
    let compiling = terminal.find("tier: compiling fib -> t2 ...").expect("the t2 compile is announced");
    assert!(compiling < terminal.find("tier: fib -> t2 after ").unwrap_or(0), "before its result:\n{terminal}");
    assert_contains_all(
        &terminal,
        [
            "summary: fib\r\n",
            "summary:   aot ",
            "summary:   t1 ",
            "summary:   tiered (hot) ",
            " tier-ups; hot after run ",
        ],
    );
}

/// The status screen a machine without a serial console shows: booted without QEMU's
/// exit device, the kernel halts at its end as on a PC, and the VGA text buffer
/// (`0xB8000`, read through the monitor's `pmemsave`) holds the header, the end of the
/// suite, fib's functions with their tier in its colour, and fib's summary with the
/// same figures as the run's METRIC lines.
#[test]
fn the_vga_screen_holds_the_status_and_summary_after_a_run() {
    let cmdline = "--no-jit --apps=fib --tiers=t1,tiered".to_string();
    let image = build_image("vga-status", &ImageSpec { cmdline, ..Default::default() });
    let dir = bareflow_tests::scratch_dir("vga-status-run");
    let mut config = bareflow_tests::QemuConfig::new(&image);
    (config.accel, config.debug_exit, config.monitor_socket) = (Accel::Tcg, false, Some(dir.join("monitor.sock")));
    let mut running = config.spawn().expect("start QEMU");
    let ended = running.wait_for("bareflow: exit status 0", Duration::from_secs(300));
    let screen = running.save_memory(0xB8000, 4000, &dir.join("vga.bin"));
    let outcome = running.finish(None);
    assert!(ended, "the run did not end:\n{}", outcome.serial);
    let screen = screen.expect("pmemsave of the text buffer");
    let rows: Vec<String> = screen
        .chunks(160)
        .map(|row| row.chunks(2).map(|c| c[0] as char).collect::<String>().trim_end().into())
        .collect();
    let attribute = |row: usize, column: usize| screen[row * 160 + column * 2 + 1];
    let shown = rows.join("\n");
    assert!(
        rows[0].starts_with(" BareFlow | ")
            && rows[0].contains(" MiB | virtio-blk ")
            && rows[0].contains(" | LLVM 22."),
        "header:\n{shown}"
    );
    assert_eq!(attribute(0, 79), 0x1F, "the header bar is white on blue");
    assert_eq!(rows[2], "apps: suite passed", "{shown}");
    let fib_row =
        rows.iter().position(|r| r.starts_with(" fib ") && r.ends_with(" t2")).expect("fib in t2 in the table");
    assert_eq!(attribute(fib_row, 1), 0x0A, "a t2 function is light green");
    let metric = |name: &str| outcome.metric(name).unwrap_or_else(|| panic!("METRIC {name}"));
    let aot = rows.iter().find(|r| r.starts_with("  aot ")).expect("fib's summary on the screen");
    assert!(aot.contains(&format!(" {} ", metric("app.fib.aot_cycles"))), "{aot}");
    let tier_ups = format!("  {} tier-ups; hot after run ", metric("app.fib.tier_ups"));
    assert!(rows.iter().any(|r| r.starts_with(&tier_ups)), "{tier_ups:?} on the screen:\n{shown}");
}

/// The boot menu, driven as a user would with the keyboard (QEMU's `sendkey`): during
/// the countdown a key opens it, `2` picks the list's second app, Enter boots, and the
/// suite runs that app instead of the image's.
#[test]
fn the_boot_menu_picks_another_app_with_the_keyboard() {
    let cmdline = "--no-jit --apps=fib --tiers=t1".to_string();
    let image = build_image("menu", &ImageSpec { cmdline, menu: true, ..Default::default() });
    let dir = bareflow_tests::scratch_dir("menu-run");
    let mut config = bareflow_tests::QemuConfig::new(&image);
    (config.accel, config.monitor_socket) = (Accel::Tcg, Some(dir.join("monitor.sock")));
    let mut running = config.spawn().expect("start QEMU");
    assert!(running.wait_for("boot menu: press a key within ", Duration::from_secs(120)), "{}", running.serial());
    running.send_keys(&["spc"]).expect("a key through the monitor");
    assert!(running.wait_for("boot menu: apps fib (", Duration::from_secs(30)), "{}", running.serial());
    running.send_keys(&["2", "ret"]).expect("keys through the monitor");
    let status = running.wait_exit(Duration::from_secs(300));
    let outcome = running.finish(status);
    let second = bf_app_list::names()[1];
    assert_contains_all(
        &outcome.serial,
        [
            format!("boot menu: apps {second} ("),
            format!("boot: command line from the menu \"--no-jit --tiers=t1 --apps={second}\""),
            format!("apps: {second} ("),
            "apps: suite passed".to_string(),
        ],
    );
    assert!(!outcome.serial.contains("apps: fib ("), "the image's app did not run:\n{}", outcome.serial);
    assert_eq!(outcome.kernel_status, Some(0));
}

/// Every run of the suite besides AOT (the kernel's `suite::suite_runs()`: the tier
/// table's runs, then `t2host`, `profiled` and `tiered`).
const ALL_TIERS: [&str; 6] = ["interp", "t1", "t2", "t2host", "profiled", "tiered"];

/// Under TCG one boot with every run takes too long (~160 s on this machine), so QEMU
/// checks the JIT tiers and the tiered engine in one boot…
#[test]
fn every_app_gives_the_same_answer_in_every_tier_in_qemu() {
    suite_in_qemu("apps", &["t1", "t2", "profiled", "tiered"]);
}

/// …and every app wholly interpreted (with t2 for the speedup) in another.
#[test]
fn every_app_interpreted_gives_the_aot_answer_in_qemu() {
    suite_in_qemu("apps-interp", &["interp", "t2"]);
}

/// Boots `--apps=all --tiers=<tiers>` under TCG on a small machine (64 MiB,
/// `SMALL_MACHINE_MIB`) and checks the whole suite's output and that the
/// program's memory peak was reported and fit.
fn suite_in_qemu(label: &str, tiers: &[&str]) {
    let cmdline = format!("--no-jit --apps=all --tiers={}", tiers.join(","));
    let image = build_image(label, &ImageSpec { cmdline, ..Default::default() });
    let mib = SMALL_MACHINE_MIB;
    let outcome = boot_with_memory(&image, Accel::Tcg, DiskInterface::Virtio, Duration::from_secs(600), mib);
    assert_suite(&outcome.serial, |name| outcome.metric(name), tiers);
    assert_memory_fits(&outcome, mib);
    assert_eq!(outcome.kernel_status, Some(0));
}

/// The program's memory on a small machine: the stack shrank to fit
/// (`platform::stack_bytes_for`: an eighth of free memory, under Linux's 8 MiB), and
/// the peak of the frames it held (heap, stack, mappings, the AOT apps' statics while
/// they ran: `program.mem_peak_bytes`) was reported and is below the guest's RAM.
fn assert_memory_fits(outcome: &bareflow_tests::Outcome, mib: u32) {
    let s = &outcome.serial;
    let stack_mib = s
        .lines()
        .find_map(|l| l.strip_prefix("program: page tables with W^X loaded; SYSCALL at CPL 0; stack "))
        .and_then(|rest| rest.split(' ').next()?.parse::<u32>().ok())
        .unwrap_or_else(|| panic!("the stack line:\n{s}"));
    assert!((1..8).contains(&stack_mib), "a {stack_mib} MiB stack on a {mib} MiB machine");
    let peak = outcome.metric("program.mem_peak_bytes").expect("program.mem_peak_bytes reported");
    assert!(peak > (4 << 20) as f64 && peak < (u64::from(mib) << 20) as f64, "program peak {peak} bytes");
    // LLVM's memory (every path) is part of what the program held.
    let llvm = outcome.metric("llvm.suite_mem_peak_bytes").expect("llvm.suite_mem_peak_bytes reported");
    assert!(llvm > 0.0 && llvm < peak, "LLVM's peak {llvm} within the program's {peak}");
}

/// `make run`'s default demo (the Makefile's `CMDLINE`: the JIT self-test, then
/// tinyllama in every run) boots and passes on a small machine (64 MiB).
#[test]
fn the_default_demo_runs_on_a_small_machine() {
    let makefile = std::fs::read_to_string(bareflow_tests::workspace_root().join("Makefile")).expect("Makefile");
    let cmdline = makefile
        .lines()
        .find_map(|l| l.strip_prefix("CMDLINE ?= "))
        .expect("the Makefile's default CMDLINE")
        .to_string();
    let image = build_image("small-demo", &ImageSpec { cmdline, ..Default::default() });
    let mib = SMALL_MACHINE_MIB;
    let outcome = boot_with_memory(&image, Accel::Tcg, DiskInterface::Virtio, Duration::from_secs(600), mib);
    assert_contains_all(
        &outcome.serial,
        ["jit: self-test passed", "apps: suite passed", "main: exiting with status 0"],
    );
    assert_memory_fits(&outcome, mib);
    assert_eq!(outcome.kernel_status, Some(0));
}

#[test]
fn every_app_gives_the_same_answer_in_every_tier_natively() {
    let (text, status) = bareflow_tests::run_kernel_natively(&["--no-jit", "--apps=all"]);
    println!("{text}");
    let metrics = runner::parse_metrics(&text);
    assert_suite(&text, |name| metrics.iter().find(|m| m.0 == name).map(|m| m.1), &ALL_TIERS);
    assert_eq!(status, Some(0));
    // The tiers compile for generic x86-64 like the AOT build; t2host for this CPU.
    assert_contains_all(
        &text,
        ["apps: t1, t2 and the tiered engine compile for x86-64 (sse2), t2host for ", "; aot is rustc's build for"],
    );
    // `--jit-cpu=host` moves every tier to this CPU.
    let (host, status) =
        bareflow_tests::run_kernel_natively(&["--no-jit", "--apps=fib", "--tiers=t2", "--jit-cpu=host"]);
    assert_eq!(status, Some(0), "{host}");
    let line = host.lines().find(|l| l.starts_with("apps: t1, t2 and the tiered engine compile for ")).unwrap_or("");
    assert!(!line.contains("compile for x86-64 (sse2)"), "--jit-cpu=host: {line}");
    assert!(host.contains("fib: fib(27..=31) = ") && host.contains("apps: suite passed"), "{host}");
}

#[test]
fn an_external_c_app_built_with_clang_runs_from_the_image() {
    let dir = bareflow_tests::scratch_dir("c-app");
    let bitcode = dir.join("collatz.bc");
    let source = bareflow_tests::workspace_root().join("apps/c-example/collatz.c");
    let clang = std::process::Command::new("clang-22")
        .args(["-O2", "-c", "-emit-llvm", "-o"])
        .arg(&bitcode)
        .arg(&source)
        .status()
        .expect("run clang-22 (Debian package clang-22)");
    assert!(clang.success(), "clang-22 failed");
    // `make disk APP=…` passes the file to mkimage as the FLUD module "app".
    let dry = std::process::Command::new("make")
        .args(["-n", "disk", "APP=some/app.bc"])
        .current_dir(bareflow_tests::workspace_root())
        .output()
        .expect("make -n");
    assert!(
        String::from_utf8_lossy(&dry.stdout).contains("--module app=some/app.bc"),
        "make disk APP= adds the module"
    );

    let image = build_image(
        "c-app",
        &ImageSpec { cmdline: "--no-jit".into(), modules: vec![("app".into(), bitcode.clone())], ..Default::default() },
    );
    // Writable: the second boot is warm from the snapshot the first one wrote, in a
    // lineage named after the bitcode (docs/persistence.md).
    let writable_boot = |label: &str| {
        let mut config = bareflow_tests::QemuConfig::new(&image);
        config.accel = Accel::Tcg;
        config.snapshot = false;
        let outcome = config.run(Duration::from_secs(300)).expect("start QEMU");
        println!("--- COM1 ({label}) ---\n{}", outcome.serial);
        outcome
    };
    let outcome = writable_boot("boot 1");
    let s = &outcome.serial;
    let results =
        s.lines().filter(|l| *l == "collatz: longest chain below 300000 starts at 230631, 443 steps ok").count();
    assert_eq!(results, 7, "t1, t2, interpreted and four tiered runs all print the right answer:\n{s}");
    let hash = bf_snapshot::bitcode_hash(&std::fs::read(&bitcode).unwrap());
    // An external program is named after its source file (docs/programs.md).
    let lineage = format!("/SNAPSHOT/{}/B0000001.SNP", bf_snapshot::lineage::app_directory("collatz", &hash, true));
    assert_contains_all(s, [format!("snapshot: collatz: wrote {lineage}")]);
    let warm = writable_boot("boot 2: warm");
    assert_contains_all(&warm.serial, [format!("snapshot: collatz: loaded {lineage}")]);
    assert_eq!(
        warm.metric("app.collatz.llvm_compiles"),
        Some(0.0),
        "the external app's tiered runs compile nothing warm"
    );
    let warm_results = warm
        .serial
        .lines()
        .filter(|l| *l == "collatz: longest chain below 300000 starts at 230631, 443 steps ok")
        .count();
    assert_eq!(warm_results, 7, "the same answers warm");
    assert_eq!(warm.kernel_status, Some(0));
    assert_contains_all(
        s,
        [
            "main: the image carries 1 external program(s)",
            "program: collatz: entry bf_app_main",
            "apps: collatz in tier 0: 2 of 2 functions interpreted",
            "program: collatz at interp: returned 0, status 0",
            "program: collatz: 7 runs agree: status 0",
            "tier: chain_length -> t1 after",
            "tier: chain_length -> t2 after",
            "program: collatz passed",
        ],
    );
    assert_eq!(outcome.kernel_status, Some(0));
}
