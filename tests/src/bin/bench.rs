//! `make bench`: boots the default image and a 60 MiB-payload image on virtio and IDE
//! under every accelerator that can run the kernel here (TCG always, KVM when it is
//! hardware-assisted), collects every METRIC line the kernel prints plus the
//! build-time sizes, prints them as METRIC lines and writes a table to the file given
//! as the first argument (default `docs/benchmarks.md`).

use std::fmt::Write as _;
use std::time::Duration;

use bareflow_tests::{Accel, DiskInterface, ImageSpec, QemuConfig, build_image, workspace_root};

/// Runs per configuration; the table reports the median.
const RUNS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let out = std::env::args().nth(1).unwrap_or_else(|| "docs/benchmarks.md".into());
    let kvm = bareflow_tests::kvm_status();
    let images = [
        ("default", build_image("bench-default", &ImageSpec::default())),
        ("60MiB", build_image("bench-60mib", &ImageSpec { pattern_mib: 60, ..Default::default() })),
    ];
    let names = ["boot.stage1_to_kernel_ms", "boot.load_ms", "boot.load_mib_s", "boot.crc_ms", "boot.kernel_init_ms"];
    let mut table = String::new();
    writeln!(table, "| image | payload bytes | disk | accel | {} | QEMU wall s |", names.join(" | ")).unwrap();
    writeln!(table, "|---|---:|---|---|{}---:|", "---:|".repeat(names.len())).unwrap();
    for (label, image) in &images {
        for (disk, accel) in [DiskInterface::Virtio, DiskInterface::Ide]
            .into_iter()
            .flat_map(|d| Accel::available().into_iter().map(move |a| (d, a)))
        {
            let mut values: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
            let mut walls = Vec::new();
            let mut payload = 0.0;
            for _ in 0..RUNS {
                let mut config = QemuConfig::new(image);
                config.accel = accel;
                config.disk = disk;
                let outcome = config.run(Duration::from_secs(180)).expect("start QEMU");
                assert_eq!(outcome.kernel_status, Some(0), "boot failed:\n{}", outcome.serial);
                for (i, name) in names.iter().enumerate() {
                    values[i].push(outcome.metric(name).unwrap_or_else(|| panic!("{name} missing")));
                }
                payload = outcome.metric("boot.payload_bytes").unwrap_or(0.0);
                walls.push(outcome.elapsed.as_secs_f64());
            }
            let medians: Vec<f64> = values.into_iter().map(median).collect();
            for (name, v) in names.iter().zip(&medians) {
                let unit = if name.ends_with("_s") { "MiB/s" } else { "ms" };
                println!("METRIC {name}.{label}.{}.{} {v:.1} {unit}", disk.name(), accel.name());
            }
            let cells: Vec<String> = medians.iter().map(|v| format!("{v:.1}")).collect();
            writeln!(
                table,
                "| {label} | {payload:.0} | {} | {} | {} | {:.1} |",
                disk.name(),
                accel.name(),
                cells.join(" | "),
                median(walls)
            )
            .unwrap();
        }
    }
    // The syscall layer: time to Rust `main`, and a null syscall (getpid) round trip.
    let program = build_image("bench-syscall", &ImageSpec { cmdline: "--syscall-bench=100000".into(), ..Default::default() });
    let mut syscalls = String::new();
    writeln!(syscalls, "| disk | accel | boot.to_main_ms | syscall.null_cycles | syscall.total |\n|---|---|---:|---:|---:|").unwrap();
    for accel in Accel::available() {
        let (mut to_main, mut null, mut total) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..RUNS {
            let mut config = QemuConfig::new(&program);
            config.accel = accel;
            let outcome = config.run(Duration::from_secs(180)).expect("start QEMU");
            assert_eq!(outcome.kernel_status, Some(0), "program failed:\n{}", outcome.serial);
            to_main.push(outcome.metric("boot.to_main_ms").expect("boot.to_main_ms"));
            null.push(outcome.metric("syscall.null_cycles").expect("syscall.null_cycles"));
            total.push(outcome.metric("syscall.total").expect("syscall.total"));
        }
        let (to_main, null, total) = (median(to_main), median(null), median(total));
        println!("METRIC boot.to_main_ms.virtio.{} {to_main:.1} ms", accel.name());
        println!("METRIC syscall.null_cycles.{} {null:.0} cycles", accel.name());
        writeln!(syscalls, "| virtio | {} | {to_main:.1} | {null:.0} | {total:.0} |", accel.name()).unwrap();
    }

    let kernel = workspace_root().join("build/kernel.elf");
    let size = std::process::Command::new("size").arg("-A").arg(&kernel).output().expect("run size");
    let text_bytes = String::from_utf8_lossy(&size.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(".text").and_then(|r| r.split_whitespace().next().map(str::to_string)))
        .unwrap_or_default();
    println!("METRIC kernel.text_bytes {text_bytes} bytes");
    let mut sizes = String::new();
    writeln!(sizes, "| figure | value |\n|---|---:|\n| `kernel.text_bytes` | {text_bytes} |").unwrap();
    for (label, image) in &images {
        let bytes = std::fs::metadata(image).map(|m| m.len()).unwrap_or(0);
        println!("METRIC image.bytes.{label} {bytes} bytes");
        writeln!(sizes, "| `image.bytes.{label}` | {bytes} |").unwrap();
    }
    let doc = format!(
        "# Benchmarks\n\nGenerated by `make bench` (`tests/src/bin/bench.rs`); do not edit by hand.\n\
         Boot figures are measured inside the guest with rdtsc (TSC calibrated against the PIT),\n\
         median of {RUNS} boots per row; QEMU wall time includes QEMU's own start-up.\n\
         Under TCG the guest's TSC follows the host clock, so in-guest times are the real\n\
         elapsed time of emulated execution: slower CPU work than hardware, comparable rows.\n\n\
         KVM on the machine that wrote this file: {}.\n\n\
         ## Boot\n\n{table}\n## Syscall layer\n\n`boot.to_main_ms`: stage1's start → first line of Rust `main`; \
         `syscall.null_cycles`: TSC cycles per `getpid` (average of 100,000; TCG emulates the \
         SYSCALL path, so this is QEMU's cost, not hardware's).\n\n{syscalls}\n## Sizes\n\n{sizes}",
        kvm.describe()
    );
    std::fs::write(&out, doc).expect("write the benchmark table");
    eprintln!("bench: wrote {out}");
}
