//! `make debug` (docs/debugging.md): QEMU halted with its GDB stub open, and
//! `scripts/bareflow.gdb` attaching GDB with the kernel's symbols. A scripted
//! `gdb -batch` run must stop at a hardware breakpoint in `kernel_start`, then at a
//! breakpoint in a JIT-compiled function of the fib app (GDB's JIT interface,
//! `kernel/src/jit/debugger.rs`).

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bareflow_tests::{Accel, ImageSpec, QemuConfig, build_image, nm_symbols, workspace_root};

/// A TCP port of localhost that nothing listens on (the OS picks it).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("bind a local port").port()
}

#[test]
fn make_debug_halts_qemu_and_the_gdb_script_stops_in_kernel_start() {
    // `make debug` boots the image through bfrun's --gdb.
    let dry = Command::new("make").args(["-n", "debug"]).current_dir(workspace_root()).output().expect("make -n");
    let dry = String::from_utf8_lossy(&dry.stdout);
    assert!(dry.contains("--gdb 1234") && dry.contains("build/bareflow.img"), "make debug runs bfrun --gdb:\n{dry}");

    // fib's `fib` function: the same symbol in the kernel's AOT copy and in the code the
    // JIT compiles at t1 (the app's bitcode names it so).
    let fib = nm_symbols(&workspace_root().join("build/kernel.elf"))
        .into_iter()
        .map(|(_, name)| name)
        .find(|w| w.starts_with("_ZN3fib3fib17h") && w.ends_with('E'))
        .expect("fib::fib in the kernel's AOT copy");
    let cmdline = "--no-jit --apps=fib --tiers=t1".to_string();
    let image = build_image("debug", &ImageSpec { cmdline, ..Default::default() });
    let port = free_port();
    let mut config = QemuConfig::new(&image);
    config.accel = Accel::Tcg;
    config.gdb_port = Some(port);
    let mut qemu = config.spawn().expect("start QEMU");
    // Halted: nothing on COM1 until the debugger continues.
    std::thread::sleep(Duration::from_millis(500));
    assert!(qemu.is_running() && qemu.serial().is_empty(), "QEMU waits for the debugger: {}", qemu.serial());

    let mut gdb = Command::new("gdb")
        .args(["-batch", "-nx", "-x", "scripts/bareflow.gdb"])
        .args(["-ex", &format!("bf-attach {port}"), "-ex", "hbreak kernel_start", "-ex", "continue"])
        .args(["-ex", "info symbol $pc"])
        // Past the AOT run, once the JIT has announced fib's t1 code: a breakpoint on
        // `fib` (its AOT copy and its JIT copy) stops in the JIT's.
        .args(["-ex", "tbreak kernel::jit::debugger::announce", "-ex", "continue", "-ex", "finish"])
        .args(["-ex", &format!("break {fib}"), "-ex", "continue", "-ex", "info symbol $pc", "-ex", "kill"])
        .current_dir(workspace_root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run gdb (Debian package gdb)");
    let deadline = Instant::now() + bareflow_tests::BOOT_TIMEOUT;
    let status = loop {
        if let Some(status) = gdb.try_wait().expect("wait for gdb") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = gdb.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut out = String::new();
    gdb.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    gdb.stderr.take().unwrap().read_to_string(&mut out).unwrap();
    let serial = qemu.serial();
    let _ = qemu.finish(None);
    println!("--- gdb ---\n{out}\n--- COM1 ---\n{serial}");
    assert!(status.is_some(), "gdb did not finish");
    assert!(out.contains("Hardware assisted breakpoint 1 at "), "the script loaded the kernel's symbols:\n{out}");
    // `info symbol $pc`: `kernel_start + 32 in section .text` (past its prologue).
    assert!(
        out.lines().any(|l| l.starts_with("kernel_start") && l.ends_with(" in section .text")),
        "stopped in kernel_start:\n{out}"
    );
    // The JIT's code, from an object GDB read out of the guest's memory.
    assert!(
        out.lines().any(|l| l.starts_with("fib::fib::h") && l.contains(" in section .text of <in-memory@")),
        "stopped in fib's JIT-compiled code:\n{out}"
    );
    // Stage2 ran (it loaded the kernel); the JIT compiled fib at t1 after the AOT run.
    assert!(serial.contains("FLUD: payload checksum ok"), "{serial}");
    assert!(serial.contains("apps: fib (") && !serial.contains("apps: suite passed"), "stopped in the suite: {serial}");
}
