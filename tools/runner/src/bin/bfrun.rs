//! `bfrun` — boot a BareFlow disk image in QEMU with COM1 on the terminal.
//!
//! ```text
//! bfrun [--tcg | --kvm] [--cpu MODEL] [--disk virtio|ide|usb|ahci] [--memory MIB] [--display] [--snapshot]
//!       [--metrics] [--timeout SECONDS] [--gdb PORT] IMAGE
//! bfrun --probe
//! ```
//! KVM is used when it is hardware-assisted ([`runner::kvm_status`]); `--probe` says
//! what this machine offers. `--cpu` picks QEMU's CPU model (e.g. `Nehalem`; default
//! `max` under TCG, `host,-arch-capabilities` under KVM). `--disk ahci` boots `-machine q35` with the disk on its
//! AHCI controller. The disk is writable (the image keeps what the kernel wrote) unless
//! `--snapshot` is given. COM1's `METRIC` lines (the figures tests and benches read)
//! are hidden from the terminal, and repeated lines folded into a count, unless
//! `--metrics` is given, which shows COM1 as it is ([`runner::MetricFilter`],
//! [`runner::RepeatFilter`]).
//! `--gdb PORT` opens QEMU's GDB stub on localhost:PORT and starts the machine halted
//! until a debugger continues it (`make debug`, docs/debugging.md).
//! The exit status is the kernel's (isa-debug-exit);
//! 124 on timeout, 125 if QEMU failed on its own.

use std::io::{Read, Write};
use std::process::Stdio;

use runner::{Accel, DiskInterface, MetricFilter, QemuConfig, RepeatFilter, kernel_status};
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn usage() -> ExitCode {
    eprintln!(
        "usage: bfrun [--tcg|--kvm] [--cpu MODEL] [--disk virtio|ide|usb|ahci] [--memory MIB] [--display] [--snapshot] [--metrics] [--timeout SECONDS] [--gdb PORT] IMAGE"
    );
    eprintln!("       bfrun --probe");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut image = None;
    let mut accel = Accel::best();
    let mut disk = DiskInterface::Virtio;
    let mut memory = 1024;
    let mut display = false;
    let mut snapshot = false;
    let mut timeout = None;
    let mut cpu = None;
    let mut metrics = false;
    let mut gdb_port = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tcg" => accel = Accel::Tcg,
            "--kvm" => accel = Accel::Kvm,
            "--probe" => {
                println!("bfrun: {}", runner::kvm_status().describe());
                return ExitCode::SUCCESS;
            }
            "--display" => display = true,
            "--snapshot" => snapshot = true,
            "--metrics" => metrics = true,
            "--disk" => match args.next().as_deref().and_then(DiskInterface::parse) {
                Some(d) => disk = d,
                None => return usage(),
            },
            "--cpu" => match args.next() {
                Some(model) if !model.is_empty() && !model.starts_with('-') => cpu = Some(model),
                _ => return usage(),
            },
            "--memory" => match args.next().and_then(|m| m.parse().ok()) {
                Some(m) => memory = m,
                None => return usage(),
            },
            "--gdb" => match args.next().and_then(|p| p.parse().ok()) {
                Some(p) => gdb_port = Some(p),
                None => return usage(),
            },
            "--timeout" => match args.next().and_then(|t| t.parse().ok()) {
                Some(t) => timeout = Some(Duration::from_secs(t)),
                None => return usage(),
            },
            a if a.starts_with('-') => return usage(),
            a => image = Some(a.to_string()),
        }
    }
    let Some(image) = image else { return usage() };
    if accel == Accel::Kvm {
        match runner::kvm_status() {
            runner::KvmStatus::Absent => {
                eprintln!("bfrun: /dev/kvm does not open; use --tcg");
                return ExitCode::from(2);
            }
            runner::KvmStatus::EmulatedOnly => {
                eprintln!(
                    "bfrun: warning: {}; the kernel will stop at its first SSE instruction",
                    runner::kvm_status().describe()
                )
            }
            runner::KvmStatus::Hardware => {}
        }
    }
    let mut config = QemuConfig::new(image);
    config.accel = accel;
    config.disk = disk;
    config.memory_mib = memory;
    config.display = display;
    config.cpu = cpu;
    config.gdb_port = gdb_port;
    // `make run` keeps what the kernel writes to its disk unless --snapshot.
    config.snapshot = snapshot;
    eprintln!(
        "bfrun: booting {} on {} under {}{}",
        config.image.display(),
        disk.name(),
        accel.name(),
        config.cpu.as_deref().map(|m| format!(" (-cpu {m})")).unwrap_or_default()
    );
    if let Some(port) = gdb_port {
        eprintln!(
            "bfrun: halted with the GDB stub on localhost:{port}; attach from another terminal with\n  \
             gdb -x scripts/bareflow.gdb -ex 'bf-attach {port}' -ex 'hbreak kernel_start' -ex continue"
        );
    }
    let mut command = config.command();
    if !metrics {
        command.stdout(Stdio::piped());
    }
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bfrun: cannot start qemu-system-x86_64: {e}");
            return ExitCode::from(125);
        }
    };
    // COM1 to the terminal, METRIC lines held back and repeats folded (QEMU's own
    // stdout is the serial port).
    let relay = child.stdout.take().map(|mut serial| {
        std::thread::spawn(move || {
            let (mut filter, mut repeats) = (MetricFilter::default(), RepeatFilter::default());
            let mut buf = [0u8; 4096];
            while let Ok(n) = serial.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(&repeats.feed(&filter.feed(&buf[..n])));
                let _ = out.flush();
            }
            let _ = std::io::stdout().lock().write_all(&repeats.finish());
            filter.hidden
        })
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => {
                eprintln!("bfrun: waiting for QEMU failed: {e}");
                return ExitCode::from(125);
            }
        }
        if timeout.is_some_and(|t| started.elapsed() > t) {
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("bfrun: timed out after {:?}", timeout.unwrap());
            return ExitCode::from(124);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if let Some(hidden) = relay.and_then(|r| r.join().ok()).filter(|&n| n > 0) {
        eprintln!("bfrun: {hidden} METRIC lines hidden (--metrics, or make run METRICS=1, shows them)");
    }
    match kernel_status(status) {
        Some(s) => {
            eprintln!("bfrun: kernel exited with status {s} after {:.1} s", started.elapsed().as_secs_f64());
            ExitCode::from(s.min(255) as u8)
        }
        None => {
            eprintln!("bfrun: QEMU ended without the kernel's exit status ({status})");
            ExitCode::from(125)
        }
    }
}
