//! The program `main` runs: today a demonstration that Rust std works on the kernel's
//! syscall layer; the JIT engine will take its place.
//!
//! Arguments (from the kernel command line, see [`crate::process`]):
//!
//! | argument | effect |
//! |---|---|
//! | `--exit=N` | exit with status N (QEMU reports it through isa-debug-exit) |
//! | `--unknown-syscall` | make a syscall the kernel does not implement (`acct`) and carry on |
//! | `--syscall-bench=N` | time N `getpid` syscalls with rdtsc; prints `METRIC syscall.null_cycles` |
//! | `--apps=all` or `--apps=NAME,…` | run apps natively (AOT), in the interpreter, at t1, at t2 and through the tiered engine |
//! | `--tiers=all\|interp,t1,t2,t2host,profiled,tiered` | which runs `--apps` makes besides AOT (default: all): a tier table row's run (`bf_tiers::TIERS`), `t2host` (t2's level for this machine's CPU), `profiled` or `tiered` |
//! | `--jit-cpu=generic\|host` | the CPU every tier compiles for: generic x86-64 like the AOT build (default), or this machine's CPU with all its features |
//! | `--tiered-selftest` | run `jit-tests/tiered.ll` through the tiered engine |
//! | `--no-jit` | skip the JIT self-test (with the `llvm` feature it runs by default) |
//! | `--jit-trap` | run a JIT-compiled app that executes `ud2`: exception report |
//! | `--interp-trap` | run an interpreted app that reaches `unreachable`: the interpreter names it and traps |
//! | `--interp-trap=recursion` | run an interpreted app that recurses without end: stopped at the interpreter's depth limit |
//! | `--jit-write-code` | JIT-compile `fib`, then write to its code: must fault |
//! | `--cxx-throw` | call a throwing function inside libstdc++: the no-exceptions runtime's fatal diagnostic, status `0x7e` |
//! | `--panic` | panic (the kernel is `panic = "abort"`): the panic message, then glibc's `abort` — `process: killed by SIGABRT (6)…`, status 134 |
//! | `--abort` | call `abort()`: `process: killed by SIGABRT (6)…`, status 134 |
//! | `--mprotect-fault` | map a page, write it, make it read-only with `mprotect`, write again: must fault |
//! | `--fs-big-write=MIB` | check `/EARLY.TXT` from an earlier boot (or write it), then write `/BIG.BIN` of MIB MiB, one line per MiB (the power-cut test kills QEMU in the middle) |
//! | `--fs-selftest` | `std::fs` end to end on the FAT16 volume (a temporary directory natively), the disk filled to ENOSPC, and the `fs.*` benchmark figures |
//! | `--snapshot-dir=DIR` | as a Linux program: keep the tiered engine's snapshots in `DIR` (on bare metal they are in `/SNAPSHOT` on the FAT16 partition) |
//! | `--program=FILE` | run the bitcode in FILE — a C program with `main` or an app of the app ABI — in every tier (docs/programs.md); repeatable; the image's `app` modules run first |
//! | `--program-args=A,B,…` | the arguments every program gets (`argv[1..]`) |
//! | `--snapshot=off\|reset\|slow` | as a Linux program: what `bf.snapshot=` does on bare metal (docs/persistence.md) |
//! | `--export=APP,…[,full]` | as a Linux program: what `bf.export=` does on bare metal — after each named app's tiered run (`all`: every app), write a bootable image of it (docs/shrink.md) |
//! | `--export-dir=DIR` | as a Linux program: where exported images go (default `.`; on bare metal `/EXPORT` on the FAT16 partition) |
//! | `--export-boot=IMAGE` | as a Linux program: the disk image whose stage1 and stage2 exported images reuse (on bare metal: the boot disk's) |
//!
//! On bare metal `main` first mounts the boot disk's FAT16 partition at `/` and counts
//! the boot in `/BOOT.LOG` (`METRIC fs.boot_count`).
//!
//! Every other argument is echoed. The same code runs natively when the kernel ELF is
//! started as a Linux program.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::arch::x86_64::tsc;
use crate::platform::bare_metal;

/// Runs the program; returns its exit status.
pub fn run() -> i32 {
    let on_metal = bare_metal::ACTIVE.load(Ordering::Relaxed);
    let mut files = false;
    if on_metal {
        let ticks = tsc::rdtsc().wrapping_sub(bare_metal::STAGE1_TSC.load(Ordering::Relaxed));
        let boot_ms = tsc::ticks_to_ms(ticks);
        println!("METRIC boot.to_main_ms {:.1} ms", boot_ms);
        crate::platform::start_dead_code_map();
        crate::checks::dead_code_probe_called();
        files = crate::platform::mount_boot_disk();
        if files {
            match crate::fs::checks::count_boot(boot_ms) {
                Ok(n) => {
                    println!("fs: boot {} logged in {}", n, crate::fs::checks::BOOT_LOG);
                    println!("METRIC fs.boot_count {} boots", n);
                }
                Err(e) => println!("fs: cannot log this boot in {}: {}", crate::fs::checks::BOOT_LOG, e),
            }
        }
    }
    let args: Vec<String> = std::env::args().collect();
    println!("main: Rust std main running {}", if on_metal { "on bare metal" } else { "as a Linux program" });
    println!("main: args {:?}", args);
    for (key, value) in std::env::vars() {
        println!("main: env {}={}", key, value);
    }

    // Heap: a vector, a string and a hash map, checked against known answers.
    let squares: Vec<u64> = (1..=1000u64).map(|i| i * i).collect();
    let sum: u64 = squares.iter().sum();
    let mut words: HashMap<String, usize> = HashMap::new();
    for w in "the quick brown fox jumps over the lazy dog the end".split(' ') {
        *words.entry(w.to_string()).or_default() += 1;
    }
    let text: String = squares.iter().take(5).map(|s| s.to_string()).collect::<Vec<_>>().join(",");
    let big = vec![0xA5u8; 8 << 20]; // 8 MiB: glibc takes this from mmap
    println!(
        "heap: sum of squares 1..1000 = {} ({}), {} distinct words, \"the\" x{}, first squares {}, 8 MiB block ok: {}",
        sum,
        if sum == 333_833_500 { "ok" } else { "WRONG" },
        words.len(),
        words["the"],
        text,
        big.iter().all(|&b| b == 0xA5)
    );
    drop(big);

    // Floats: formatting and maths.
    println!(
        "float: sqrt(2) = {:.6}, pi = {:.5}, 1e-3 * 7 = {}, {:e}",
        2f64.sqrt(),
        std::f64::consts::PI,
        1e-3 * 7.0,
        6.02214076e23
    );

    // Time: Instant must advance; SystemTime comes from the RTC.
    let t0 = Instant::now();
    let mut x = 0u64;
    for i in 0..200_000u64 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
    }
    std::thread::sleep(Duration::from_millis(2));
    let elapsed = t0.elapsed();
    let unix = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    println!(
        "time: Instant advanced {} us (>= 2000: {}), unix time {} s, checksum {:x}",
        elapsed.as_micros(),
        elapsed >= Duration::from_millis(2),
        unix,
        x & 0xffff
    );

    let mut status = 0;
    #[cfg(feature = "llvm")]
    configure_jit_cpu(&args);
    #[cfg(feature = "llvm")]
    configure_snapshots(on_metal, files, &args);
    #[cfg(feature = "llvm")]
    configure_export(on_metal, files, &args);
    #[cfg(feature = "llvm")]
    if !args.iter().any(|a| a == "--no-jit") {
        let mut first = true;
        let passed = crate::jit::checks::run(|| {
            if first && on_metal {
                let ticks = tsc::rdtsc().wrapping_sub(bare_metal::STAGE1_TSC.load(Ordering::Relaxed));
                println!("METRIC boot.to_first_jit_ms {:.1} ms", tsc::ticks_to_ms(ticks));
            }
            first = false;
        });
        if !passed {
            status = 1;
        }
    }
    #[cfg(feature = "llvm")]
    {
        // Programs (docs/programs.md): the image's `app` modules, /PROGRAMS on bare metal,
        // then `--program=FILE`s.
        let program_args: Vec<String> = args
            .iter()
            .rev()
            .find_map(|a| a.strip_prefix("--program-args="))
            .map_or(Vec::new(), |a| a.split(',').filter(|s| !s.is_empty()).map(String::from).collect());
        let modules = bare_metal::app_modules();
        if !modules.is_empty() {
            println!("main: the image carries {} external program(s)", modules.len());
        }
        let mut files = Vec::new();
        // On bare metal, every `*.BC` file of /PROGRAMS on the FAT16 partition, by name.
        let mut listed: Vec<String> = Vec::new();
        if on_metal && let Ok(dir) = std::fs::read_dir("/PROGRAMS") {
            listed = dir
                .filter_map(|e| e.ok())
                .map(|e| e.path().to_string_lossy().into_owned())
                .filter(|p| p.to_ascii_uppercase().ends_with(".BC"))
                .collect();
            listed.sort();
            println!("main: /PROGRAMS holds {} program(s)", listed.len());
        }
        let named = args.iter().filter_map(|a| a.strip_prefix("--program="));
        for path in listed.iter().map(String::as_str).chain(named) {
            match std::fs::read(path) {
                Ok(bytes) => files.push(bytes),
                Err(e) => {
                    println!("main: cannot read the program {path}: {e}");
                    status = 1;
                }
            }
        }
        for bitcode in modules.into_iter().chain(files.iter().map(Vec::as_slice)) {
            if !crate::jit::suite::run_external(bitcode, &program_args) {
                status = 1;
            }
        }
    }
    for arg in args.iter().skip(1) {
        if let Some(n) = arg.strip_prefix("--exit=") {
            status = n.parse().unwrap_or_else(|_| {
                eprintln!("main: --exit needs a number, got {n:?}");
                2
            });
        } else if arg == "--unknown-syscall" {
            // SAFETY: acct(NULL) only turns process accounting off (or fails).
            let r = unsafe { libc::syscall(libc::SYS_acct, 0usize) };
            let errno = std::io::Error::last_os_error();
            println!("main: acct(NULL) returned {} ({}); carrying on", r, errno);
        } else if arg == "--no-jit"
            || arg.starts_with("--tiers=")
            || arg.starts_with("--snapshot-dir=")
            || arg.starts_with("--snapshot=")
            || arg.starts_with("--program=")
            || arg.starts_with("--program-args=")
            || arg.starts_with("--export")
            || arg.starts_with("--jit-cpu=")
        {
        } else if let Some(selection) = arg.strip_prefix("--apps=") {
            #[cfg(feature = "llvm")]
            let tiers = args.iter().rev().find_map(|a| a.strip_prefix("--tiers=")).unwrap_or("all");
            #[cfg(feature = "llvm")]
            if !crate::jit::suite::run_suite(selection, tiers) {
                status = 1;
            }
            #[cfg(not(feature = "llvm"))]
            println!("main: {selection}: this kernel has no LLVM (built with LLVM=none)");
        } else if arg == "--tiered-selftest" {
            #[cfg(feature = "llvm")]
            if !crate::jit::checks::run_tiered() {
                status = 1;
            }
        } else if arg == "--jit-trap" {
            #[cfg(feature = "llvm")]
            crate::jit::checks::trapping_app();
        } else if arg == "--interp-trap" || arg == "--interp-trap=recursion" {
            #[cfg(feature = "llvm")]
            crate::jit::checks::interpreted_trap(arg.ends_with("recursion"));
        } else if arg == "--jit-write-code" {
            #[cfg(feature = "llvm")]
            crate::jit::checks::write_to_code_page();
        } else if arg == "--mprotect-fault" {
            mprotect_fault();
        } else if arg == "--panic" {
            panic!("main: --panic asked for a panic");
        } else if arg == "--abort" {
            println!("main: calling abort()");
            std::process::abort();
        } else if arg == "--cxx-throw" {
            #[cfg(feature = "llvm")]
            crate::jit::cxxrt::throw_through_libstdcxx();
        } else if let Some(mib) = arg.strip_prefix("--fs-big-write=") {
            if !crate::fs::checks::big_write(mib.parse().unwrap_or(16)) {
                status = 1;
            }
        } else if arg == "--fs-selftest" {
            let root = if on_metal {
                std::path::PathBuf::from("/")
            } else {
                std::env::temp_dir().join(format!("bareflow-fs-{}", std::process::id()))
            };
            let _ = std::fs::create_dir_all(&root);
            if on_metal && !files {
                println!("fs-selftest: no file system mounted");
                status = 1;
            } else if !crate::fs::checks::run(&root, on_metal) {
                status = 1;
            }
            if !on_metal {
                let _ = std::fs::remove_dir_all(&root);
            }
        } else if let Some(n) = arg.strip_prefix("--syscall-bench=") {
            syscall_bench(n.parse().unwrap_or(100_000));
        } else {
            println!("main: argument {arg:?}");
        }
    }
    if on_metal {
        crate::platform::finish_dead_code_map(files);
    }
    println!("main: exiting with status {status}");
    status
}

/// The CPU the JIT tiers compile for: `--jit-cpu=host` (this machine's) or `generic`
/// (the default, x86-64 like the AOT build).
#[cfg(feature = "llvm")]
fn configure_jit_cpu(args: &[String]) {
    use crate::jit::CpuTarget;
    match args.iter().rev().find_map(|a| a.strip_prefix("--jit-cpu=")) {
        None | Some("generic") => {}
        Some("host") => CpuTarget::set_default(CpuTarget::Host),
        Some(other) => println!("main: --jit-cpu={other}: not generic or host; the tiers compile for generic x86-64"),
    }
}

/// Where the tiered engine keeps its snapshots (docs/persistence.md): on bare metal
/// `/SNAPSHOT` on the FAT16 partition when it is mounted, with `bf.snapshot=`; as a
/// Linux program only with `--snapshot-dir=DIR`, with `--snapshot=`.
#[cfg(feature = "llvm")]
fn configure_snapshots(on_metal: bool, files: bool, args: &[String]) {
    use crate::jit::persist::{Mode, Settings, configure};
    let last = |prefix: &str| args.iter().rev().find_map(|a| a.strip_prefix(prefix).map(str::to_string));
    let (root, option) = if on_metal {
        let root = files.then(|| std::path::PathBuf::from(bf_snapshot::lineage::ROOT));
        (root, bare_metal::snapshot_option().map(str::to_string))
    } else {
        (last("--snapshot-dir=").map(std::path::PathBuf::from), last("--snapshot="))
    };
    let mode = match option.as_deref().map(Mode::parse) {
        None => Mode::On,
        Some(Some(mode)) => mode,
        Some(None) => {
            println!("snapshot: unknown option {option:?} (off, reset, slow): snapshots off");
            Mode::Off
        }
    };
    configure(Settings { root, mode });
}

/// What the suite exports (docs/shrink.md): on bare metal `bf.export=` to `/EXPORT` on
/// the FAT16 partition, stage1 and stage2 from the boot disk; as a Linux program
/// `--export=` to `--export-dir=DIR` (default `.`), stage1 and stage2 from
/// `--export-boot=IMAGE`.
#[cfg(feature = "llvm")]
fn configure_export(on_metal: bool, files: bool, args: &[String]) {
    use crate::jit::export::{EXPORT_DIR, Request, Settings, configure};
    let last = |prefix: &str| args.iter().rev().find_map(|a| a.strip_prefix(prefix).map(str::to_string));
    let option = if on_metal { bare_metal::export_option() } else { last("--export=") };
    let Some(request) = option.as_deref().and_then(Request::parse) else { return };
    let settings = if on_metal {
        if !files {
            println!("export: no FAT16 partition to write {EXPORT_DIR} to: nothing is exported");
            return;
        }
        Settings { request, dir: EXPORT_DIR.into(), boot_image: None }
    } else {
        let Some(boot_image) = last("--export-boot=") else {
            println!(
                "export: --export needs --export-boot=IMAGE (its stage1 and stage2 are reused): nothing is exported"
            );
            return;
        };
        let dir = last("--export-dir=").unwrap_or_else(|| ".".into());
        Settings { request, dir: dir.into(), boot_image: Some(boot_image.into()) }
    };
    configure(settings);
}

/// Times `n` null syscalls (`getpid`) and prints the average in TSC cycles.
fn syscall_bench(n: u64) {
    let n = n.max(1);
    let start = tsc::rdtsc();
    for _ in 0..n {
        // SAFETY: getpid has no arguments and no side effects.
        unsafe { libc::syscall(libc::SYS_getpid) };
    }
    let cycles = tsc::rdtsc() - start;
    println!("METRIC syscall.null_cycles {:.0} cycles", cycles as f64 / n as f64);
}

/// Writes a fresh anonymous page, write-protects it and writes again: the second write
/// must fault (a page fault report on bare metal, SIGSEGV on Linux).
fn mprotect_fault() {
    // SAFETY: a fresh private anonymous mapping, used only here.
    unsafe {
        let page = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(page, libc::MAP_FAILED, "mmap failed");
        let p = page as *mut u64;
        p.write_volatile(0x1234);
        println!("mprotect: wrote {:#x} to {:p}; making it read-only", p.read_volatile(), p);
        assert_eq!(libc::mprotect(page, 4096, libc::PROT_READ), 0, "mprotect failed");
        println!("mprotect: read back {:#x}; writing again must fault", p.read_volatile());
        p.write_volatile(0x5678);
        println!("mprotect: the write to a read-only page did NOT fault");
    }
}
