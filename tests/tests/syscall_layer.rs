//! Syscall-layer integration tests: the kernel runs glibc's `_start` and an ordinary
//! Rust std `main` on bare metal; everything it does reaches the kernel as Linux
//! syscalls. Booted in QEMU (virtio and IDE, every usable accelerator) and, for the
//! link line, run natively as a Linux program.

use std::path::PathBuf;
use std::sync::OnceLock;

use bareflow_tests::{
    Accel, Artifacts, BOOT_TIMEOUT, DiskInterface, ImageSpec, assert_contains_all, boot, build_image,
};

/// Arguments, an environment variable and an exit status the test chooses.
const DEMO_CMDLINE: &str = "hello --exit=42 GREETING=bonjour world";

fn demo_image() -> &'static PathBuf {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE.get_or_init(|| build_image("rust-main", &ImageSpec { cmdline: DEMO_CMDLINE.into(), ..Default::default() }))
}

/// What `main` must print when started with [`DEMO_CMDLINE`].
fn assert_demo_output(outcome: &bareflow_tests::Outcome) {
    let s = &outcome.serial;
    assert_contains_all(
        s,
        [
            "program: entering glibc _start with 4 arguments, 1 environment variables",
            "main: Rust std main running on bare metal",
            r#"main: args ["bareflow", "hello", "--exit=42", "world"]"#,
            "main: env GREETING=bonjour",
            "heap: sum of squares 1..1000 = 333833500 (ok), 9 distinct words, \"the\" x3, first squares 1,4,9,16,25, 8 MiB block ok: true",
            "float: sqrt(2) = 1.414214, pi = 3.14159, 1e-3 * 7 = 0.007, 6.02214076e23",
            "(>= 2000: true)",
            "main: exiting with status 42",
            "program: exited with status 42",
        ],
    );
    // Instant advanced by a plausible amount (a 2 ms sleep plus some work, < 10 s).
    let micros: u64 = s
        .split("time: Instant advanced ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("time line");
    assert!((2_000..10_000_000).contains(&micros), "Instant advanced {micros} us");
    // Real time from the RTC: after 2024-01-01.
    let unix: u64 =
        s.split("unix time ").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse().ok()).unwrap();
    assert!(unix > 1_704_067_200, "unix time {unix}");
    assert!(outcome.metric("boot.to_main_ms").is_some_and(|ms| ms > 0.0), "boot.to_main_ms");
    for name in ["syscall.count.write", "syscall.count.brk", "syscall.count.arch_prctl", "syscall.count.exit_group"] {
        assert!(outcome.metric(name).is_some_and(|n| n >= 1.0), "{name} missing:\n{s}");
    }
    assert!(outcome.metric("syscall.total").is_some_and(|n| n >= 10.0));
    assert!(!s.contains("is not implemented"), "start-up needs no unimplemented syscall:\n{s}");
    assert_eq!(outcome.kernel_status, Some(42), "the exit status main chose (QEMU {:?})", outcome.qemu_status);
}

#[test]
fn rust_main_runs_on_virtio_under_every_accelerator() {
    for accel in Accel::available() {
        assert_demo_output(&boot(demo_image(), accel, DiskInterface::Virtio, BOOT_TIMEOUT));
    }
}

#[test]
fn rust_main_runs_on_ide_under_every_accelerator() {
    for accel in Accel::available() {
        assert_demo_output(&boot(demo_image(), accel, DiskInterface::Ide, BOOT_TIMEOUT));
    }
}

#[test]
fn unknown_syscall_is_enosys_logged_by_name_and_the_program_carries_on() {
    let image = build_image("enosys", &ImageSpec { cmdline: "--unknown-syscall after".into(), ..Default::default() });
    let outcome = boot(&image, Accel::Tcg, DiskInterface::Virtio, BOOT_TIMEOUT);
    let s = &outcome.serial;
    assert_contains_all(
        s,
        [
            "syscall: 163 (acct) is not implemented: -ENOSYS",
            "main: acct(NULL) returned -1 (Function not implemented (os error 38)); carrying on",
            "main: argument \"after\"",
            "main: exiting with status 0",
        ],
    );
    assert_eq!(s.matches("(acct) is not implemented").count(), 1, "logged once");
    assert_eq!(outcome.metric("syscall.count.acct"), Some(1.0));
    assert_eq!(outcome.kernel_status, Some(0));
}

#[test]
fn mprotect_changes_real_page_tables() {
    let image = build_image("mprotect", &ImageSpec { cmdline: "--mprotect-fault".into(), ..Default::default() });
    let outcome = boot(&image, Accel::Tcg, DiskInterface::Virtio, BOOT_TIMEOUT);
    let s = &outcome.serial;
    assert_contains_all(
        s,
        [
            "mprotect: read back 0x1234; writing again must fault",
            "EXCEPTION #PF page fault (vector 14)",
            "page fault: write on a present (protection violation) page",
        ],
    );
    let page = s.split("to 0x").nth(1).and_then(|r| r.split(';').next()).expect("mapped address");
    assert!(s.contains(&format!("CR2=0x{:016x}", u64::from_str_radix(page, 16).unwrap())), "CR2 is the page:\n{s}");
    assert!(!s.contains("did NOT fault"));
    assert_eq!(outcome.kernel_status, Some(0x7f));
}

#[test]
fn the_same_elf_runs_as_a_linux_program() {
    let kernel = Artifacts::locate().kernel;
    let out = std::process::Command::new(&kernel)
        .args(["hello", "--exit=42"])
        .env_clear()
        .env("GREETING", "bonjour")
        .output()
        .expect("run build/kernel.elf");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_contains_all(
        &stdout,
        [
            "main: Rust std main running as a Linux program",
            "main: env GREETING=bonjour",
            "heap: sum of squares 1..1000 = 333833500 (ok)",
            "float: sqrt(2) = 1.414214",
            "(>= 2000: true)",
        ],
    );
    assert_eq!(out.status.code(), Some(42));
}

/// `abort()` and a Rust panic (the kernel is `panic = "abort"`) end the program with a
/// message and status 134 (128 + SIGABRT) — on bare metal through the syscall layer's
/// `tgkill`, natively through Linux's SIGABRT — instead of halting silently.
#[test]
fn an_abort_and_a_panic_end_the_program_with_a_message_and_status_134() {
    use std::os::unix::process::ExitStatusExt;
    let killed = "process: killed by SIGABRT (6), sent by the program itself; exit status 134";
    for (arg, message) in [("--abort", "main: calling abort()"), ("--panic", "main: --panic asked for a panic")] {
        let out = std::process::Command::new(Artifacts::locate().kernel)
            .args(["--no-jit", arg])
            .env_clear()
            .output()
            .expect("run build/kernel.elf");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(text.contains(message), "natively {arg}:\n{text}");
        assert_eq!(out.status.signal(), Some(6), "natively {arg}: SIGABRT\n{text}");
        let image = build_image("abort", &ImageSpec { cmdline: format!("--no-jit {arg}"), ..Default::default() });
        let outcome = boot(&image, Accel::Tcg, DiskInterface::Virtio, BOOT_TIMEOUT);
        assert_contains_all(&outcome.serial, [message, killed, "bareflow: exit status 134"]);
        // QEMU's exit code is (status << 1) | 1 in 8 bits: the harness sees 7 of them.
        assert_eq!(outcome.kernel_status, Some(134 & 0x7f), "{arg} in QEMU");
    }
}
