//! Ordinary C programs (docs/programs.md): the programs of `apps/programs`, compiled to
//! bitcode by `clang-22`, run by the kernel in every tier (t1, t2, wholly interpreted,
//! and four runs through the tiered engine) and compared with the same source built
//! natively on the host — output byte for byte (length and CRC-32) and exit status. The
//! programs that fail on purpose end their runs with a report naming the fault and the
//! function, and the kernel carries on. Natively (fast, every program) and in QEMU
//! (one boot, every program from `/PROGRAMS` on the FAT16 partition).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bareflow_tests::{
    Accel, ImageSpec, QemuConfig, assert_contains_all, build_image, fat_read, fat_write, run_kernel_natively,
    scratch_dir, workspace_root,
};

/// The programs that do real work and must match their native build, with the
/// arguments they get.
const WORKLOADS: [&str; 11] =
    ["floats", "tree", "sorting", "mathlib", "strings", "files", "exitdeep", "args", "leaky", "varfmt", "timing"];

/// The programs that fail on purpose, and how their runs end.
const FAULTS: [(&str, &str); 4] = [
    ("fault_null", "stopped by a fault: "),
    ("fault_div", "stopped by a fault: "),
    ("fault_abort", "aborted"),
    ("fault_recursion", "stopped by a fault: "),
];

/// The arguments every program gets (`args` uses them).
const ARGS: [&str; 2] = ["8", "queens"];

/// Runs in each program's report: t1, t2, interp and four tiered runs.
const RUNS: usize = 7;

/// Builds every program of `apps/programs` into `dir` (bitcode and native reference).
fn build_programs(dir: &Path) {
    let status = Command::new("bash")
        .arg(workspace_root().join("apps/programs/build.sh"))
        .arg(dir)
        .status()
        .expect("run apps/programs/build.sh (needs clang-22)");
    assert!(status.success(), "apps/programs/build.sh failed");
}

/// What a native run of a workload printed: exit status, stdout length and CRC-32.
#[derive(Debug, PartialEq, Eq)]
struct Expected {
    status: i32,
    bytes: usize,
    crc: u32,
    stdout: String,
}

/// Runs each workload's native build in `dir` (its working directory: `files` writes
/// there) with [`ARGS`].
fn native_references(dir: &Path) -> BTreeMap<&'static str, Expected> {
    WORKLOADS
        .iter()
        .map(|&name| {
            let out = Command::new(dir.join(format!("{name}.native")))
                .args(ARGS)
                .current_dir(dir)
                .output()
                .expect("run a native reference");
            let status = out.status.code().expect("a workload exits normally");
            let expected = Expected {
                status,
                bytes: out.stdout.len(),
                crc: crc32fast::hash(&out.stdout),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            };
            (name, expected)
        })
        .collect()
}

/// The lines `program: <name> at <tier>: …` of `log`.
fn run_lines<'a>(log: &'a str, name: &str) -> Vec<&'a str> {
    let prefix = format!("program: {name} at ");
    log.lines().filter(|l| l.starts_with(&prefix)).collect()
}

/// The line that says all [`RUNS`] runs of program `name` agree with its native build.
fn agreement(name: &str, e: &Expected) -> String {
    format!("program: {name}: {RUNS} runs agree: status {}, {} bytes of output, crc32 {:08x}", e.status, e.bytes, e.crc)
}

/// Writes the IR `text` to `<dir>/<stem>.ll` and assembles it with `llvm-as` into
/// `<dir>/<stem>.bc`; returns both paths.
fn assemble(dir: &Path, stem: &str, text: &str) -> (PathBuf, PathBuf) {
    let (ll, bc) = (dir.join(format!("{stem}.ll")), dir.join(format!("{stem}.bc")));
    std::fs::write(&ll, text).unwrap();
    let assembled = Command::new("/usr/lib/llvm-22/bin/llvm-as").arg(&ll).arg("-o").arg(&bc).status();
    assert!(assembled.expect("run llvm-as (llvm-22)").success(), "llvm-as {}", ll.display());
    (ll, bc)
}

/// Checks what every program did in `log` (COM1 or a native run's output) against the
/// native references.
fn assert_programs(log: &str, expected: &BTreeMap<&'static str, Expected>) {
    for (name, e) in expected {
        assert_contains_all(log, [agreement(name, e), format!("program: {name} passed")]);
        let lines = run_lines(log, name);
        assert_eq!(lines.len(), RUNS, "{name}: one report per run:\n{lines:#?}");
        for tier in ["t1", "t2", "interp", "tiered"] {
            assert!(lines.iter().any(|l| l.contains(&format!(" at {tier}: "))), "{name}: no run at {tier}");
        }
        // The output itself reaches the console (the t1 run has no engine messages).
        assert!(log.contains(&e.stdout), "{name}: the native output does not appear in the log");
    }
    let ended = |name: &str, how: &str| run_lines(log, name).iter().filter(|l| l.contains(how)).count();
    assert_eq!(ended("exitdeep", "exit(3), status 3"), RUNS, "exitdeep leaves by exit(3) in every run");
    assert_eq!(
        ended("leaky", "16 blocks (16777216 bytes) left allocated, freed"),
        RUNS,
        "the 16 MiB leaky leaves is freed after every run"
    );
    // tree's heap goes through the runtime (and is all freed by the program itself).
    for line in run_lines(log, "tree") {
        let allocations: u64 = line
            .split(", ")
            .find_map(|part| part.strip_suffix(" allocations"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no allocation count: {line}"));
        assert!(allocations > 1000 && !line.contains("left allocated"), "{line}");
    }
    for (name, how) in FAULTS {
        let lines = run_lines(log, name);
        assert_eq!(lines.len(), RUNS, "{name}: every run ends with a report:\n{lines:#?}");
        assert!(lines.iter().all(|l| l.contains(how)), "{name}: every run ends {how:?}:\n{lines:#?}");
        assert_contains_all(log, [format!("program: {name} passed")]);
    }
    // Faults name the function: compiled, tiered and interpreted alike.
    for line in run_lines(log, "fault_null").iter().chain(&run_lines(log, "fault_div")) {
        assert!(line.contains(" in main ("), "the fault is located in main: {line}");
    }
    for line in run_lines(log, "fault_recursion") {
        assert!(line.contains(" in deep ("), "the fault is located in deep: {line}");
    }
    assert!(log.contains("interp: trap: interpreter call depth limit (10000) reached calling deep"));
    // A program's own variadic function starts in tier 1, the rest is interpreted; its
    // globals (changed by every run) are back to their initial values in every run, and
    // its multiply-adds are rounded as the generic host build rounds them (varfmt checks
    // both itself, and its output equals the host build's).
    assert!(log.contains("interp: starts in tier 1: report: its signature cannot cross into the interpreter"));
    assert_contains_all(log, ["varfmt: (1+2^-30)(1-2^-30) - 1 = 0x0p+0", "varfmt: lines so far 108"]);
    // The line each program printed before failing is there.
    assert_contains_all(log, ["fault_abort: calling abort()", "fault_null: writing through a NULL pointer"]);
}

/// The programs' bitcode files, in [`WORKLOADS`] then [`FAULTS`] order.
fn bitcode_files(dir: &Path) -> Vec<PathBuf> {
    WORKLOADS.iter().chain(FAULTS.iter().map(|(n, _)| n)).map(|n| dir.join(format!("{n}.bc"))).collect()
}

#[test]
fn c_programs_match_their_native_builds_in_every_tier_natively() {
    let dir = scratch_dir("programs-native");
    build_programs(&dir);
    let expected = native_references(&dir);
    let mut args = vec!["--no-jit".to_string(), format!("--program-args={}", ARGS.join(","))];
    args.extend(bitcode_files(&dir).iter().map(|f| format!("--program={}", f.display())));
    // In `dir`: the `files` program writes PROGIO.TXT in its working directory.
    let out = Command::new(bareflow_tests::Artifacts::locate().kernel)
        .args(&args)
        .current_dir(&dir)
        .env_clear()
        .output()
        .expect("run build/kernel.elf");
    let log = String::from_utf8_lossy(&out.stdout);
    println!("{log}");
    assert_programs(&log, &expected);
    assert_eq!(out.status.code(), Some(0), "the kernel carries on after every fault and ends well");

    // Programs built with debug information (`-g`, optimised and not) run as the
    // others do. The minimal LLVM writes no debug information and tracks no variable
    // locations (llvm-min/patches/0009); Debian's writes DWARF into the JIT's objects.
    for opt in ["-O2", "-O0"] {
        let debug_dir = dir.join(format!("debuginfo{opt}"));
        std::fs::create_dir_all(&debug_dir).unwrap();
        let mut args = vec!["--no-jit".to_string()];
        for name in ["tree", "sorting"] {
            let bitcode = debug_dir.join(format!("{name}.bc"));
            let source = workspace_root().join(format!("apps/programs/{name}.c"));
            let built = Command::new("clang-22")
                .args(["-g", opt, "-c", "-emit-llvm", "-o"])
                .arg(&bitcode)
                .arg(&source)
                .status()
                .expect("run clang-22");
            assert!(built.success(), "clang-22 -g {opt} {name}.c");
            args.push(format!("--program={}", bitcode.display()));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (log, status) = run_kernel_natively(&args);
        println!("{log}");
        for name in ["tree", "sorting"] {
            assert_contains_all(&log, [agreement(name, &expected[name]), format!("program: {name} passed")]);
        }
        assert_eq!(status, Some(0), "the programs built with -g {opt} pass");
    }

    // A function outside the table: refused at load, by name; so are bytes that are not
    // bitcode and bitcode without an entry, and the kernel goes on to the next program.
    let junk = dir.join("junk.bc");
    std::fs::write(&junk, b"BC\xC0\xDE and then nothing a bitcode reader can use").unwrap();
    let (no_entry_ll, no_entry) = assemble(&dir, "no_entry", "define i32 @helper(i32 %x) {\n  ret i32 %x\n}\n");
    let unknown = format!("--program={}", dir.join("unknown_symbol.bc").display());
    let junk = format!("--program={}", junk.display());
    let no_entry = format!("--program={}", no_entry.display());
    let leaky = format!("--program={}", dir.join("leaky.bc").display());
    let text = format!("--program={}", no_entry_ll.display());
    let (log, status) = run_kernel_natively(&["--no-jit", &junk, &text, &no_entry, &unknown, &leaky]);
    println!("{log}");
    assert_contains_all(
        &log,
        [
            "program: app: cannot parse the module: ",
            "program: no_entry: defines neither `main` nor `bf_app_main`",
            "program: app: cannot parse the module: not LLVM bitcode (no `BC` magic): IR text is not read here",
            "program: unknown_symbol: refused: it calls fork, which the kernel's C library table (642 functions) lacks",
            "program: leaky passed",
        ],
    );
    assert_eq!(status, Some(1), "a refused program fails the kernel's run");

    // An intrinsic of another target. Debian's LLVM gets as far as instruction
    // selection and aborts ("Cannot select"); the minimal LLVM knows X86's and the
    // generic intrinsics' names only (llvm-min/patches/0007), so the call is to an
    // ordinary unknown function, and the program is refused by name while the kernel
    // carries on.
    let (_, other) = assemble(
        &dir,
        "other_target",
        "declare void @llvm.aarch64.isb(i32)\ndefine i32 @main() {\n  call void @llvm.aarch64.isb(i32 15)\n  ret i32 0\n}\n",
    );
    let other = format!("--program={}", other.display());
    let (log, status) = run_kernel_natively(&["--no-jit", &other, &leaky]);
    println!("{log}");
    if bareflow_tests::kernel_links_minimal_llvm() {
        assert_contains_all(
            &log,
            ["Symbols not found: [ llvm.aarch64.isb ]", "program: other_target FAILED", "program: leaky passed"],
        );
        assert_eq!(status, Some(1), "refused, and the next program runs");
    } else {
        assert_ne!(status, Some(0), "Debian's LLVM cannot select it either:\n{log}");
    }
}

#[test]
fn c_programs_run_from_the_fat16_partition_in_qemu() {
    let dir = scratch_dir("programs-qemu");
    build_programs(&dir);
    let expected = native_references(&dir);
    let image = build_image(
        "programs",
        &ImageSpec { cmdline: format!("--no-jit --program-args={}", ARGS.join(",")), ..Default::default() },
    );
    // `mkimage fs put` as a user would: 8.3 names (the kernel runs them by name order,
    // and names each program after its source file).
    for (i, file) in bitcode_files(&dir).iter().enumerate() {
        fat_write(&image, &format!("/PROGRAMS/P{i:02}.BC"), &std::fs::read(file).unwrap());
    }
    let mut config = QemuConfig::new(&image);
    config.accel = Accel::Tcg;
    config.snapshot = false; // `files` writes PROGIO.TXT on the partition
    let outcome = config.run(Duration::from_secs(600)).expect("start QEMU");
    println!("--- COM1 ---\n{}", outcome.serial);
    let log = outcome.serial.replace("\r\n", "\n");
    assert_contains_all(&log, ["main: /PROGRAMS holds 15 program(s)"]);
    assert_programs(&log, &expected);
    // The file the program wrote is on the partition, as the native run wrote it.
    let native_file = std::fs::read(dir.join("PROGIO.TXT")).expect("the native run wrote PROGIO.TXT");
    assert_eq!(fat_read(&image, "/PROGIO.TXT"), native_file, "PROGIO.TXT as written under BareFlow");
    assert_eq!(outcome.kernel_status, Some(0));
}

#[test]
fn make_disk_takes_several_programs_and_their_arguments() {
    let dry = Command::new("make")
        .args(["-n", "disk", "APP=a.bc,b.bc", "APP_ARGS=8 queens"])
        .current_dir(workspace_root())
        .output()
        .expect("make -n");
    let text = String::from_utf8_lossy(&dry.stdout);
    assert_contains_all(&text, ["--module app=a.bc --module app.2=b.bc", "--program-args=8,queens"]);
}
