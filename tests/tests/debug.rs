//! `make debug` (docs/debugging.md): QEMU halted with its GDB stub open, and
//! `scripts/bareflow.gdb` attaching GDB with the kernel's symbols. A scripted
//! `gdb -batch` run must stop at a hardware breakpoint in `kernel_start`.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bareflow_tests::{Accel, ImageSpec, QemuConfig, build_image, workspace_root};

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

    let image = build_image("debug", &ImageSpec { cmdline: "--no-jit".into(), ..Default::default() });
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
        .args(["-ex", "info symbol $pc", "-ex", "kill"])
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
    // Stage2 ran (it loaded the kernel); the kernel had not printed yet.
    assert!(serial.contains("FLUD: payload checksum ok"), "{serial}");
    assert!(!serial.contains("BareFlow kernel"), "stopped before the kernel's first line: {serial}");
}
