//! `make bench`: boots the default image and a 60 MiB-payload image on virtio and IDE
//! (and the file-system self-test on virtio, IDE, AHCI and USB)
//! under every accelerator that can run the kernel here (TCG always, KVM when it is
//! hardware-assisted), collects every METRIC line the kernel prints plus the
//! build-time sizes, prints them as METRIC lines and writes a table to the file given
//! as the first argument (default `docs/benchmarks.md`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use bareflow_tests::plot::{BarChart, Group};
use bareflow_tests::{Accel, DiskInterface, ImageSpec, QemuConfig, build_image, workspace_root};

/// Runs per configuration; the table reports the median.
const RUNS: usize = 3;

/// One `METRIC` line: name, value, unit.
type Metric = (String, f64, String);

/// Boots in the cold/warm table.
const LINEAGE_BOOTS: usize = 5;

/// "Cold and warm boots" (docs/persistence.md): one image booted writable
/// [`LINEAGE_BOOTS`] times with every app through the tiered engine — boot 1 cold,
/// the next ones from the snapshots the previous boot wrote — under each accelerator,
/// and the same runs of the kernel ELF natively with `--snapshot-dir`. Per app: time to
/// hot per boot, LLVM compilations in boots 1 and 2, and cold/warm (boot 1 / boot 2).
fn cold_and_warm(charts: &std::path::Path) -> String {
    let cmdline = "--no-jit --apps=all --tiers=tiered";
    let image = build_image("bench-persist", &ImageSpec { cmdline: cmdline.into(), ..Default::default() });
    let mut lineages: Vec<(String, Vec<Vec<Metric>>)> = Vec::new();
    for accel in Accel::available() {
        let mut boots = Vec::new();
        for boot in 1..=LINEAGE_BOOTS {
            let mut config = QemuConfig::new(&image);
            config.accel = accel;
            config.snapshot = false;
            let outcome = config.run(Duration::from_secs(900)).expect("start QEMU");
            assert_eq!(outcome.kernel_status, Some(0), "boot {boot} of the lineage failed:\n{}", outcome.serial);
            boots.push(runner::parse_metrics(&outcome.serial));
        }
        lineages.push((format!("QEMU {}", accel.name()), boots));
    }
    let dir = bareflow_tests::scratch_dir("bench-persist-native");
    let dir_arg = format!("--snapshot-dir={}", dir.display());
    let args = ["--no-jit", "--apps=all", "--tiers=tiered", dir_arg.as_str()];
    let native =
        (0..LINEAGE_BOOTS).map(|_| runner::parse_metrics(&bareflow_tests::run_kernel_natively(&args).0)).collect();
    lineages.push(("native Linux".into(), native));
    let mut table = String::from(
        "`--apps=all --tiers=tiered` on one image booted writable five times (natively: five runs with \
         `--snapshot-dir`): boot 1 starts cold and writes a snapshot per app, each later boot loads the \
         previous boot's. time to hot: from the start of loading the app into the engine (snapshot \
         included) to the end of its first run at hot speed. compiles: `app.<name>.llvm_compiles`.\n",
    );
    let boot_columns: Vec<String> = (1..=LINEAGE_BOOTS).map(|b| format!("boot {b} ms")).collect();
    for (where_, boots) in &lineages {
        let get = |boot: usize, name: String| boots[boot].iter().find(|m| m.0 == name).map_or(f64::NAN, |m| m.1);
        writeln!(
            table,
            "\n{where_}:\n\n| app | {} | cold/warm | compiles boot 1 | compiles boot 2 | snapshot bytes | load ms | write ms |",
            boot_columns.join(" | ")
        )
        .unwrap();
        writeln!(table, "|---|{}---:|---:|---:|---:|---:|---:|", "---:|".repeat(LINEAGE_BOOTS)).unwrap();
        let slug = where_.replace(' ', "_").to_lowercase();
        let series: Vec<String> = (1..=LINEAGE_BOOTS).map(|b| format!("boot {b}")).collect();
        let series: Vec<&str> = series.iter().map(String::as_str).collect();
        let title = format!("Time to hot per boot, {where_} (boot 1 cold, then from the snapshot)");
        let chart = BarChart {
            title: &title,
            unit: "ms (log scale)",
            series: &series,
            groups: bf_app_list::names()
                .into_iter()
                .map(|app| Group {
                    label: app.to_string(),
                    values: (0..LINEAGE_BOOTS).map(|b| get(b, format!("app.{app}.time_to_hot_ms"))).collect(),
                })
                .collect(),
            log: true,
        };
        write_chart(charts, &format!("time-to-hot-{slug}.svg"), &chart);
        for app in bf_app_list::names() {
            let hot: Vec<f64> = (0..LINEAGE_BOOTS).map(|b| get(b, format!("app.{app}.time_to_hot_ms"))).collect();
            let ratio = hot[0] / hot[1];
            println!("METRIC app.{app}.cold_over_warm.{slug} {ratio:.1} x");
            writeln!(
                table,
                "| {app} | {} | {ratio:.1} | {:.0} | {:.0} | {:.0} | {:.1} | {:.1} |",
                hot.iter().map(|v| format!("{v:.1}")).collect::<Vec<_>>().join(" | "),
                get(0, format!("app.{app}.llvm_compiles")),
                get(1, format!("app.{app}.llvm_compiles")),
                get(1, format!("app.{app}.snapshot_bytes")),
                get(1, format!("app.{app}.snapshot_load_ms")),
                get(1, format!("app.{app}.snapshot_write_ms")),
            )
            .unwrap();
        }
    }
    table
}

/// Writes `chart` as `dir/name` and says so.
fn write_chart(dir: &std::path::Path, name: &str, chart: &BarChart) {
    let path = dir.join(name);
    std::fs::write(&path, chart.svg()).expect("write a chart");
    println!("bench: wrote {}", path.display());
}

/// The kernel's bytes in its file by family of components: all of LLVM's libraries,
/// libstdc++ (the kernel's no-exceptions build of it too), glibc and the other C
/// libraries (libgcc, zlib, zstd, libffi), Rust std, the kernel's own code,
/// the apps' AOT objects, the other crates — from the linker map of this build
/// (`build/kernel.map`, `bf_export::deadcode`), BSS left out (it takes no file bytes).
fn kernel_size_chart() -> BarChart<'static> {
    let map = std::fs::read_to_string(workspace_root().join("build/kernel.map")).unwrap_or_default();
    let family = |component: &str| -> &'static str {
        match component {
            c if c.starts_with("LLVM ") => "LLVM",
            c if c.starts_with("libstdc++") => "libstdc++",
            "glibc" | "libgcc" | "z" | "zstd" | "ffi" => "glibc and C libs",
            "Rust std" => "Rust std",
            "kernel" => "the kernel",
            c if c.ends_with(".aot.o") => "apps (AOT)",
            c if c.starts_with("crate ") => "other crates",
            _ => "other",
        }
    };
    let mut by_family: BTreeMap<&str, f64> = BTreeMap::new();
    for section in bf_export::deadcode::parse_linker_map(&map) {
        if section.name.starts_with(".bss") || section.name.starts_with(".tbss") {
            continue;
        }
        *by_family.entry(family(&bf_export::deadcode::component_of(&section.file))).or_default() +=
            section.size as f64 / 1e6;
    }
    let mut sizes: Vec<(&str, f64)> = by_family.into_iter().collect();
    sizes.sort_by(|a, b| b.1.total_cmp(&a.1));
    let groups = sizes.into_iter().map(|(name, mb)| Group { label: name.to_string(), values: vec![mb] }).collect();
    BarChart {
        title: "The kernel's bytes by component (build/kernel.map, BSS left out)",
        unit: "MB",
        series: &["MB"],
        groups,
        log: false,
    }
}

/// "Interpreter work": `scripts/interp-instructions.sh` on `build/kernel.elf`, the
/// instructions the interpreter executes per app natively under callgrind (repeatable,
/// unlike its cycles, which move with code layout between builds). Empty with a note when
/// valgrind is missing.
fn interpreter_work() -> String {
    let script = workspace_root().join("scripts/interp-instructions.sh");
    let kernel = workspace_root().join("build/kernel.elf");
    let output = std::process::Command::new(&script).arg(&kernel).output().expect("run interp-instructions.sh");
    if !output.status.success() {
        let why = String::from_utf8_lossy(&output.stderr);
        eprintln!("bench: interp-instructions.sh failed: {why}");
        return format!("Not measured on this machine: `scripts/interp-instructions.sh` failed ({}).\n", why.trim());
    }
    let metrics = runner::parse_metrics(&String::from_utf8_lossy(&output.stdout));
    let mut table = String::from(
        "`scripts/interp-instructions.sh build/kernel.elf`: machine instructions the interpreter executes \
         for each app's suite entry (`--no-jit --apps=<app> --tiers=interp`, natively, counted by valgrind's \
         callgrind from entry into `Machine::call` to its return). Unlike the interpreter's cycles, which move \
         by up to 3x between builds that differ only in code layout, this count is the same on every run of \
         one ELF: compare it to tell whether a change made the interpreter do more or less work \
         (docs/engine.md, \"Measuring the interpreter\").\n\n| app | interp instructions |\n|---|---:|\n",
    );
    for (name, value, _) in &metrics {
        let app = name.trim_start_matches("app.").trim_end_matches(".interp_instructions");
        println!("METRIC {name} {value:.0} instructions");
        writeln!(table, "| {app} | {value:.0} |").unwrap();
    }
    table
}

/// The C programs of `apps/programs` that do real work, and the arguments every program
/// gets (tests/tests/programs.rs runs the same).
const PROGRAMS: [&str; 11] =
    ["floats", "tree", "sorting", "mathlib", "strings", "files", "exitdeep", "args", "leaky", "varfmt", "timing"];
const PROGRAM_ARGS: [&str; 2] = ["8", "queens"];

/// "C programs" (docs/programs.md): the cycles of each program's `main` in every tier —
/// natively (one run of the kernel ELF) and in QEMU (one boot per accelerator, the
/// programs in /PROGRAMS) — beside the same source built natively by `clang-22 -O2`
/// (median of [`RUNS`] runs of `apps/programs/harness/timed.c` around its `main`).
fn c_programs() -> String {
    let dir = bareflow_tests::scratch_dir("bench-programs");
    let built = std::process::Command::new("bash")
        .arg(workspace_root().join("apps/programs/build.sh"))
        .arg(&dir)
        .args(PROGRAMS)
        .status()
        .expect("run apps/programs/build.sh");
    assert!(built.success(), "apps/programs/build.sh failed");
    let host: Vec<f64> = PROGRAMS
        .iter()
        .map(|name| {
            let runs = (0..RUNS).filter_map(|_| {
                let out = std::process::Command::new(dir.join(format!("{name}.timed")))
                    .args(PROGRAM_ARGS)
                    .current_dir(&dir)
                    .output()
                    .expect("run a timed native program");
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .find_map(|l| l.strip_prefix("cycles ").and_then(|n| n.trim().parse().ok()))
            });
            let runs: Vec<f64> = runs.collect();
            if runs.is_empty() { f64::NAN } else { median(runs) }
        })
        .collect();
    let args = format!("--program-args={}", PROGRAM_ARGS.join(","));
    let files: Vec<String> =
        PROGRAMS.iter().map(|n| format!("--program={}", dir.join(format!("{n}.bc")).display())).collect();
    let mut native_args = vec!["--no-jit".to_string(), args.clone()];
    native_args.extend(files);
    let native = std::process::Command::new(workspace_root().join("build/kernel.elf"))
        .args(&native_args)
        .current_dir(&dir)
        .env_clear()
        .output()
        .expect("run build/kernel.elf");
    let mut runs: Vec<(String, Vec<Metric>)> =
        vec![("native Linux".into(), runner::parse_metrics(&String::from_utf8_lossy(&native.stdout)))];
    let image = build_image("bench-programs", &ImageSpec { cmdline: format!("--no-jit {args}"), ..Default::default() });
    for (i, name) in PROGRAMS.iter().enumerate() {
        let bytes = std::fs::read(dir.join(format!("{name}.bc"))).expect("read bitcode");
        bareflow_tests::fat_write(&image, &format!("/PROGRAMS/P{i:02}.BC"), &bytes);
    }
    for accel in Accel::available() {
        let mut config = QemuConfig::new(&image);
        config.accel = accel;
        let outcome = config.run(Duration::from_secs(900)).expect("start QEMU");
        assert_eq!(outcome.kernel_status, Some(0), "the programs failed:\n{}", outcome.serial);
        runs.push((format!("QEMU {}", accel.name()), runner::parse_metrics(&outcome.serial)));
    }
    let mut table = String::from(
        "Each program of `apps/programs` (`apps/programs/build.sh`, arguments `8 queens`): TSC cycles of its \
         `main` — natively on the host as built by `clang-22 -O2` (generic x86-64, median of the runs), and \
         under BareFlow JIT-compiled whole at t1 and t2, wholly interpreted, and the fourth run through \
         the tiered engine. The host column is always the host CPU running natively, so t2/host is given \
         for the native Linux table only (under QEMU it would compare emulated with real cycles). \
         `exitdeep` leaves by `exit` from deep inside, so the host harness cannot time it (–); under \
         BareFlow its cycles end at the `exit` call. Each cell is one run: the tiered column is the \
         fourth run, which includes any promotion compiled during it (`main` itself may reach a tier \
         there), and `leaky`'s cycles are mostly page faults on fresh memory (the host's and the first \
         run's). Every run's output equals the host build's byte for byte (`make test`, \
         tests/tests/programs.rs).\n",
    );
    for (where_, metrics) in &runs {
        let get = |name: String| metrics.iter().find(|m| m.0 == name).map_or(f64::NAN, |m| m.1);
        let slug = where_.replace(' ', "_").to_lowercase();
        writeln!(
            table,
            "\n{where_}:\n\n| program | host clang -O2 | t1 | t2 | interp | tiered (hot) | t2/host | interp/t2 |\n|---|---:|---:|---:|---:|---:|---:|---:|"
        )
        .unwrap();
        for (name, host) in PROGRAMS.iter().zip(&host) {
            let c = |t: &str| get(format!("app.{name}.{t}_cycles"));
            for t in ["t1", "t2", "interp", "tiered"] {
                println!("METRIC program.{name}.{t}_cycles.{slug} {:.0} cycles", c(t));
            }
            let cell = |v: f64| if v.is_nan() { "–".to_string() } else { format!("{v:.0}") };
            let ratio =
                |a: f64, b: f64| if a.is_nan() || b.is_nan() { "–".to_string() } else { format!("{:.2}", a / b) };
            writeln!(
                table,
                "| {name} | {} | {} | {} | {} | {} | {} | {} |",
                cell(*host),
                cell(c("t1")),
                cell(c("t2")),
                cell(c("interp")),
                cell(c("tiered")),
                if where_ == "native Linux" { ratio(c("t2"), *host) } else { "–".into() },
                ratio(c("interp"), c("t2")),
            )
            .unwrap();
        }
    }
    for (name, host) in PROGRAMS.iter().zip(&host) {
        println!("METRIC program.{name}.host_cycles {host:.0} cycles");
    }
    table
}

/// One exported image's figures, booted under the apps boot's accelerator.
struct ExportedRun {
    /// `app.<app>.exported_cycles`.
    cycles: f64,
    /// `boot.stage1_to_app_ms`.
    stage1_to_app_ms: f64,
}

/// Takes every app's exported image from the apps boot's FAT16 partition (`apps_image`)
/// and boots it under `accel`, the accelerator of the boot that exported it.
fn boot_exported_images(apps_image: &std::path::Path, accel: Accel) -> BTreeMap<String, ExportedRun> {
    let dir = apps_image.parent().unwrap();
    let mut runs = BTreeMap::new();
    for app in bf_app_list::names() {
        let file = bf_export::image_file_name(app);
        let image = dir.join(&file);
        std::fs::write(&image, bareflow_tests::fat_read(apps_image, &format!("/EXPORT/{file}"))).unwrap();
        let mut config = QemuConfig::new(&image);
        config.accel = accel;
        config.memory_mib = 64;
        let booted = config.run(Duration::from_secs(300)).expect("start QEMU");
        assert_eq!(booted.kernel_status, Some(0), "exported {app}:\n{}", booted.serial);
        let run = ExportedRun {
            cycles: booted.metric(&format!("app.{app}.exported_cycles")).unwrap_or(f64::NAN),
            stage1_to_app_ms: booted.metric("boot.stage1_to_app_ms").unwrap_or(f64::NAN),
        };
        println!("METRIC app.{app}.exported_cycles {:.0} cycles", run.cycles);
        println!("METRIC export.stage1_to_app_ms.{app} {:.2} ms", run.stage1_to_app_ms);
        runs.insert(app.to_string(), run);
    }
    runs
}

/// "Shrink" (docs/shrink.md): the export figures of the apps boot (`grow`, under
/// `accel`) and its exported images' runs, against the same boot's tier-2 and AOT
/// cycles; and the kernel's dead-code map of that boot, per component (`mkimage
/// deadcode`).
fn shrink_figures(
    apps_image: &std::path::Path,
    grow: &[Metric],
    accel: Accel,
    exported: &BTreeMap<String, ExportedRun>,
) -> String {
    let get = |name: String| grow.iter().find(|m| m.0 == name).map_or(f64::NAN, |m| m.1);
    let mut out = format!(
        "Every app exported by the QEMU {} apps boot above (`bf.export=all`, trimmed: only the functions \
         the tiered run executed, at O3 for generic x86-64), then each image taken from the FAT16 \
         partition and booted under the same accelerator: `exported` is its timed section, the same one \
         as the other columns; `stage1→app` is stage1's first instruction to the app's call; `image \
         bytes` are the bytes up to the payload's end (the file is padded to 516096 bytes, one BIOS \
         cylinder).\n\n\
         | app | functions | executed | payload bytes | image bytes | export ms | aot cycles | t2 cycles | exported cycles | exported/t2 | stage1→app ms |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        accel.name()
    );
    for app in bf_app_list::names() {
        let run = &exported[app];
        let t2 = get(format!("app.{app}.t2_cycles"));
        writeln!(
            out,
            "| {app} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1} | {:.0} | {t2:.0} | {:.0} | {:.2} | {:.2} |",
            get(format!("shrink.app_functions.{app}")),
            get(format!("shrink.app_functions_executed.{app}")),
            get(format!("export.payload_bytes.{app}")),
            get(format!("export.image_bytes.{app}")),
            get(format!("export.ms.{app}")),
            get(format!("app.{app}.aot_cycles")),
            run.cycles,
            run.cycles / t2,
            run.stage1_to_app_ms,
        )
        .unwrap();
    }
    let (text, touched) = (get("shrink.kernel_text_bytes".into()), get("shrink.kernel_text_touched_bytes".into()));
    writeln!(
        out,
        "\nThe kernel's dead-code map of the same boot: it touched {touched:.0} of {text:.0} bytes of kernel code \
         ({:.1} %; 4 KiB pages, `shrink.kernel_text_touched_bytes` / `shrink.kernel_text_bytes`). \
         By component (`mkimage deadcode`, the 15 largest):\n\n| component | bytes | touched | % |\n|---|---:|---:|---:|",
        100.0 * touched / text
    )
    .unwrap();
    let kernel = workspace_root().join("build/kernel.elf");
    let report = bareflow_tests::mkimage(&["deadcode", &apps_image.to_string_lossy(), &kernel.to_string_lossy()]);
    let rows = String::from_utf8_lossy(&report)
        .lines()
        .filter_map(|l| l.strip_prefix("deadcode: "))
        .skip(2)
        .take(15)
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let n = w.len();
            format!("| {} | {} | {} | {} |", w[..n - 3].join(" "), w[n - 3], w[n - 2], w[n - 1])
        })
        .collect::<Vec<_>>()
        .join("\n");
    writeln!(out, "{rows}").unwrap();
    out
}

/// The median of `v`.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let out = std::env::args().skip(1).find(|a| !a.starts_with("--")).unwrap_or_else(|| "docs/benchmarks.md".into());
    // The charts go beside the tables: docs/charts/*.svg.
    let charts = std::path::Path::new(&out).parent().unwrap_or(std::path::Path::new(".")).join("charts");
    std::fs::create_dir_all(&charts).expect("create the charts directory");
    if std::env::args().any(|a| a == "--size-chart") {
        // Only the size chart, from the current build (no boot).
        write_chart(&charts, "kernel-size.svg", &kernel_size_chart());
        return;
    }
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
    let program =
        build_image("bench-syscall", &ImageSpec { cmdline: "--syscall-bench=100000".into(), ..Default::default() });
    let mut syscalls = String::new();
    writeln!(
        syscalls,
        "| disk | accel | boot.to_main_ms | syscall.null_cycles | syscall.total |\n|---|---|---:|---:|---:|"
    )
    .unwrap();
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

    // LLVM: compile times, memory, and its share of the kernel's text.
    let mut llvm = String::new();
    let kind = std::env::var("BAREFLOW_LLVM_KIND").unwrap_or_else(|_| "unknown".into());
    let jit_image = build_image("bench-jit", &ImageSpec::default());
    let names = ["jit.compile_ms.fib.o0", "jit.compile_ms.fib.o3", "llvm.mem_peak_bytes", "boot.to_first_jit_ms"];
    writeln!(llvm, "| LLVM | accel | {} |\n|---|---|{}", names.join(" | "), "---:|".repeat(names.len())).unwrap();
    for accel in Accel::available() {
        let mut values: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
        for _ in 0..RUNS {
            let mut config = QemuConfig::new(&jit_image);
            config.accel = accel;
            let outcome = config.run(Duration::from_secs(300)).expect("start QEMU");
            assert_eq!(outcome.kernel_status, Some(0), "JIT self-test failed:\n{}", outcome.serial);
            for (i, name) in names.iter().enumerate() {
                values[i].push(outcome.metric(name).unwrap_or_else(|| panic!("{name} missing")));
            }
        }
        let medians: Vec<f64> = values.into_iter().map(median).collect();
        for (name, v) in names.iter().zip(&medians) {
            println!("METRIC {name}.{} {v:.2} {}", accel.name(), if name.ends_with("bytes") { "bytes" } else { "ms" });
        }
        let cells: Vec<String> = medians.iter().map(|v| format!("{v:.1}")).collect();
        writeln!(llvm, "| {kind} | {} | {} |", accel.name(), cells.join(" | ")).unwrap();
    }
    // The same ELF as a Linux program: the JIT on the real CPU.
    let mut native: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for _ in 0..RUNS {
        let metrics = runner::parse_metrics(&bareflow_tests::run_kernel_natively(&[]).0);
        for (i, name) in names.iter().enumerate() {
            native[i].push(metrics.iter().find(|m| m.0 == *name).map_or(f64::NAN, |m| m.1));
        }
    }
    let cells: Vec<String> =
        native.into_iter().map(median).map(|v| if v.is_nan() { "–".into() } else { format!("{v:.1}") }).collect();
    writeln!(llvm, "| {kind} | native Linux | {} |", cells.join(" | ")).unwrap();
    let text_of = |path: &std::path::Path| -> u64 {
        let size = std::process::Command::new("size").arg("-A").arg(path).output().expect("run size");
        String::from_utf8_lossy(&size.stdout)
            .lines()
            .find_map(|l| {
                l.strip_prefix(".text").and_then(|r| r.split_whitespace().next().and_then(|n| n.parse().ok()))
            })
            .unwrap_or(0)
    };
    let with = text_of(&workspace_root().join("build/kernel.elf"));
    let without = text_of(&workspace_root().join("build/kernel-nollvm.elf"));
    let share = if with > 0 { 100.0 * (with.saturating_sub(without)) as f64 / with as f64 } else { 0.0 };
    println!("METRIC kernel.text_bytes_without_llvm {without} bytes");
    println!("METRIC kernel.llvm_text_share_pct {share:.1} %");
    writeln!(
        llvm,
        "\nKernel `.text`: {with} bytes with LLVM ({kind}), {without} bytes without (`LLVM=none`): \
         LLVM and the C++ library it pulls in are {share:.1} % of the kernel's text."
    )
    .unwrap();
    // LLVM's share of the loaded image (`mkimage size-report`, docs/llvm-size.md) and
    // what the minimal LLVM's build took (its build-info.txt).
    let report = std::process::Command::new(workspace_root().join("target/release/mkimage"))
        .arg("size-report")
        .arg(workspace_root().join("build/kernel.elf"))
        .arg("--without")
        .arg(workspace_root().join("build/kernel-nollvm.elf"))
        .output()
        .expect("run mkimage size-report");
    let sizes = runner::parse_metrics(&String::from_utf8_lossy(&report.stdout));
    let size = |name: &str| sizes.iter().find(|m| m.0 == name).map(|m| m.1);
    let mut build_s = None;
    let mut ccache = None;
    if kind == "min" {
        let prefix = std::process::Command::new(workspace_root().join("scripts/build-llvm.sh"))
            .arg("--print-prefix")
            .output()
            .expect("run scripts/build-llvm.sh --print-prefix");
        let info = std::path::Path::new(String::from_utf8_lossy(&prefix.stdout).trim()).join("build-info.txt");
        let info = std::fs::read_to_string(info).unwrap_or_default();
        build_s = info.lines().find_map(|l| l.strip_prefix("wall_seconds=")?.trim().parse::<f64>().ok());
        // A build that took most objects from ccache (a reconfiguration) is not a
        // build from scratch: say so beside the time.
        ccache = info.lines().find_map(|l| l.strip_prefix("ccache=")).map(|c| c.trim().to_string());
    }
    if let (Some(image), Some(text)) = (size("llvm.image_bytes"), size("llvm.text_bytes")) {
        println!("METRIC llvm.image_bytes {image} bytes");
        println!("METRIC llvm.text_bytes {text} bytes");
        if let Some(s) = build_s {
            println!("METRIC llvm.build_s {s} s");
        }
        writeln!(
            llvm,
            "\nLLVM's share of the kernel ({kind}; `make size-report` breaks it down): \
             `llvm.image_bytes` {image} loaded bytes (PT_LOAD file sizes, with LLVM minus `LLVM=none`), \
             `llvm.text_bytes` {text} bytes of `.text`{}.",
            build_s.map_or(String::new(), |s| format!(
                "; the minimal LLVM's build took `llvm.build_s` {s} s (ccache: {})",
                ccache.as_deref().unwrap_or("not recorded")
            ))
        )
        .unwrap();
    }

    // The grow pipeline: every app in every tier, in QEMU (one boot) and natively.
    // The same boot exports every app (docs/shrink.md): the images go to /EXPORT.
    let apps_image = build_image(
        "bench-apps",
        &ImageSpec { cmdline: "--no-jit --apps=all bf.export=all".into(), ..Default::default() },
    );
    let mut apps = String::new();
    let mut suites: Vec<(String, Vec<Metric>)> = Vec::new();
    // Per suite, the kernel's line saying which CPU each column was compiled for.
    let mut targets: BTreeMap<String, String> = BTreeMap::new();
    let target_line = |out: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix("apps: t1, t2 and the tiered engine compile for "))
            .map_or("(not reported)".to_string(), |l| format!("t1, t2 and the tiered engine compile for {l}"))
    };
    for accel in Accel::available() {
        let mut config = QemuConfig::new(&apps_image);
        config.accel = accel;
        config.snapshot = false;
        let outcome = config.run(Duration::from_secs(900)).expect("start QEMU");
        assert_eq!(outcome.kernel_status, Some(0), "app suite failed:\n{}", outcome.serial);
        targets.insert(format!("QEMU {}", accel.name()), target_line(&outcome.serial));
        suites.push((format!("QEMU {}", accel.name()), runner::parse_metrics(&outcome.serial)));
    }
    // The exported images of the last QEMU boot, booted under its accelerator.
    let export_accel = *Accel::available().last().expect("an accelerator");
    let exported = boot_exported_images(&apps_image, export_accel);
    let export_suite = format!("QEMU {}", export_accel.name());
    let native = bareflow_tests::run_kernel_natively(&["--no-jit", "--apps=all"]).0;
    targets.insert("native Linux".into(), target_line(&native));
    suites.push(("native Linux".into(), runner::parse_metrics(&native)));
    for (where_, metrics) in &suites {
        let get = |name: String| metrics.iter().find(|m| m.0 == name).map_or(f64::NAN, |m| m.1);
        writeln!(apps, "\n{where_} ({}):\n\n| app | aot cycles | interp cycles | t1 cycles | t2 cycles | t2host cycles | tiered (hot) cycles | exported cycles | t2/aot | t2host/t2 | interp/aot | interp→t2 speedup | tier-ups | t1 compile ms | t2 compile ms | time to hot ms | profiling overhead % | overhead spread % | count-only overhead % |", targets[where_]).unwrap();
        writeln!(
            apps,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        )
        .unwrap();
        let slug = where_.replace(' ', "_").to_lowercase();
        let runs = ["aot", "interp", "t1", "t2", "t2host", "tiered"];
        let title = format!("Cycles per tier, {where_} (lower is faster)");
        let chart = BarChart {
            title: &title,
            unit: "cycles (log scale)",
            series: &["aot", "interp", "t1", "t2", "t2host", "tiered (hot)"],
            groups: bf_app_list::names()
                .into_iter()
                .map(|app| Group {
                    label: app.to_string(),
                    values: runs.iter().map(|t| get(format!("app.{app}.{t}_cycles"))).collect(),
                })
                .collect(),
            log: true,
        };
        write_chart(&charts, &format!("apps-{slug}.svg"), &chart);
        for app in bf_app_list::names() {
            let c = |t: &str| get(format!("app.{app}.{t}_cycles"));
            for t in ["aot", "interp", "t1", "t2", "t2host", "tiered"] {
                println!("METRIC app.{app}.{t}_cycles.{slug} {:.0} cycles", c(t));
            }
            writeln!(
                apps,
                "| {app} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {:.2} | {:.2} | {:.1} | {:.1} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
                c("aot"),
                c("interp"),
                c("t1"),
                c("t2"),
                c("t2host"),
                c("tiered"),
                if *where_ == export_suite { format!("{:.0}", exported[app].cycles) } else { "—".into() },
                c("t2") / c("aot"),
                c("t2host") / c("t2"),
                c("interp") / c("aot"),
                c("interp") / c("t2"),
                get(format!("app.{app}.tier_ups")),
                get(format!("jit.compile_ms.{app}.t1")),
                get(format!("jit.compile_ms.{app}.t2")),
                get(format!("app.{app}.time_to_hot_ms")),
                get(format!("app.{app}.profile_overhead_pct")),
                get(format!("app.{app}.profile_overhead_spread_pct")),
                get(format!("app.{app}.count_overhead_pct")),
            )
            .unwrap();
        }
        writeln!(
            apps,
            "\nMedian profiling overhead over the apps (`profile.overhead_pct`; per app: the rewritten module \
             with its profiling fast path against the same module without profiling, median of 5 runs each; \
             spread: (slowest - fastest run) / median of the noisiest build): {:.1} %. With the call count \
             alone, what top-tier code keeps (`profile.count_overhead_pct`, `app.<name>.count_overhead_pct`): \
             {:.1} %",
            get("profile.overhead_pct".into()),
            get("profile.count_overhead_pct".into())
        )
        .unwrap();
        let program_peak = get("program.mem_peak_bytes".into());
        writeln!(
            apps,
            "\nMemory: LLVM's bytes (`operator new`, its own `malloc`-family calls and its JIT mappings: \
             `jit::llvm_memory`) at their highest during the suite, \
             `llvm.suite_mem_peak_bytes` {:.0} bytes; everything the program held at once (heap, stack, \
             every mapping: `program.mem_peak_bytes`, bare metal only) {}.",
            get("llvm.suite_mem_peak_bytes".into()),
            if program_peak.is_nan() {
                "— (not measured natively)".to_string()
            } else {
                format!("{program_peak:.0} bytes")
            }
        )
        .unwrap();
    }

    // The images on the partition are the last QEMU boot's (the suite before `native`).
    let shrink = shrink_figures(&apps_image, &suites[suites.len() - 2].1, export_accel, &exported);

    // Compile latency: the tiered runs' promotions (the same suite runs as above).
    let mut latency = String::from(
        "Each promotion of the tiered runs above compiles one function: the bitcode read into a fresh \
         module, the function isolated (t1) or rewritten for the top tier (t2), the tier's pipeline, \
         code generation to an object, and the JIT link. Median and largest promotion per tier \
         (`jit.promote_ms_median.<app>.<tier>`, `…_max…`), and each step's share of all the tier's \
         promotions (`jit.promote_share_pct.<app>.<tier>.<step>`: parse / shape / optimise / codegen / link).\n",
    );
    for (where_, metrics) in &suites {
        let get = |name: String| metrics.iter().find(|m| m.0 == name).map_or(f64::NAN, |m| m.1);
        writeln!(latency, "\n{where_}:\n\n| app | t1 promotions | t1 median ms | t1 max ms | t1 steps % | t2 promotions | t2 median ms | t2 max ms | t2 steps % |").unwrap();
        writeln!(latency, "|---|---:|---:|---:|---|---:|---:|---:|---|").unwrap();
        for app in bf_app_list::names() {
            let mut cells = Vec::new();
            for tier in ["t1", "t2"] {
                let shares: Vec<String> = bf_tiers::CompileSteps::NAMES
                    .iter()
                    .map(|step| format!("{:.0}", get(format!("jit.promote_share_pct.{app}.{tier}.{step}"))))
                    .collect();
                cells.push(format!(
                    "{:.0} | {:.1} | {:.1} | {}",
                    get(format!("jit.promotions.{app}.{tier}")),
                    get(format!("jit.promote_ms_median.{app}.{tier}")),
                    get(format!("jit.promote_ms_max.{app}.{tier}")),
                    shares.join(" / ")
                ));
            }
            writeln!(latency, "| {app} | {} |", cells.join(" | ")).unwrap();
        }
        // Every promotion of every app: the figures issue's goals are about these medians.
        let all = |tier: &str| -> Vec<f64> {
            metrics
                .iter()
                .filter(|m| {
                    m.0.starts_with("jit.compile_ms.")
                        && m.0.split('.').count() == 5
                        && m.0.ends_with(&format!(".{tier}"))
                })
                .map(|m| m.1)
                .collect()
        };
        let (t1, t2) = (all("t1"), all("t2"));
        if t1.is_empty() || t2.is_empty() {
            continue;
        }
        writeln!(
            latency,
            "| all apps | {} | {:.1} | | | {} | {:.1} | | |",
            t1.len(),
            median(t1.clone()),
            t2.len(),
            median(t2.clone())
        )
        .unwrap();
        let slug = where_.replace(' ', "_").to_lowercase();
        println!("METRIC jit.promote_ms_median.all.t1.{slug} {:.2} ms", median(t1));
        println!("METRIC jit.promote_ms_median.all.t2.{slug} {:.2} ms", median(t2));
    }

    let persistence = cold_and_warm(&charts);
    let interpreter = interpreter_work();
    let programs = c_programs();

    // Files: `--fs-selftest`'s 16 MiB sequential write/read and fsync cost per driver.
    let fs_image =
        build_image("bench-fs", &ImageSpec { cmdline: "--no-jit --fs-selftest".into(), ..Default::default() });
    let fs_names = ["fs.write_mib_s", "fs.read_mib_s", "fs.fsync_ms"];
    let mut files = String::new();
    writeln!(files, "| disk | accel | {} |\n|---|---|{}", fs_names.join(" | "), "---:|".repeat(fs_names.len()))
        .unwrap();
    for (disk, accel) in [DiskInterface::Virtio, DiskInterface::Ide, DiskInterface::Ahci, DiskInterface::Usb]
        .into_iter()
        .flat_map(|d| Accel::available().into_iter().map(move |a| (d, a)))
    {
        let mut values: Vec<Vec<f64>> = vec![Vec::new(); fs_names.len()];
        for _ in 0..RUNS {
            let mut config = QemuConfig::new(&fs_image);
            config.accel = accel;
            config.disk = disk;
            let outcome = config.run(Duration::from_secs(300)).expect("start QEMU");
            assert_eq!(outcome.kernel_status, Some(0), "fs self-test failed:\n{}", outcome.serial);
            for (i, name) in fs_names.iter().enumerate() {
                values[i].push(outcome.metric(name).unwrap_or_else(|| panic!("{name} missing")));
            }
        }
        let medians: Vec<f64> = values.into_iter().map(median).collect();
        for (name, v) in fs_names.iter().zip(&medians) {
            let unit = if name.ends_with("_s") { "MiB/s" } else { "ms" };
            println!("METRIC {name}.{}.{} {v:.2} {unit}", disk.name(), accel.name());
        }
        let cells: Vec<String> = medians.iter().map(|v| format!("{v:.2}")).collect();
        writeln!(files, "| {} | {} | {} |", disk.name(), accel.name(), cells.join(" | ")).unwrap();
    }

    let kernel = workspace_root().join("build/kernel.elf");
    let size = std::process::Command::new("size").arg("-A").arg(&kernel).output().expect("run size");
    let text_bytes = String::from_utf8_lossy(&size.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(".text").and_then(|r| r.split_whitespace().next().map(str::to_string)))
        .unwrap_or_default();
    println!("METRIC kernel.text_bytes {text_bytes} bytes");
    write_chart(&charts, "kernel-size.svg", &kernel_size_chart());
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
         SYSCALL path, so this is QEMU's cost, not hardware's).\n\n{syscalls}\n## LLVM\n\n\
         JIT self-test (`kernel/jit-tests/selftest.ll`): `jit.compile_ms.<fn>.<tier>` is bitcode in → \
         callable address out (parse, verify, `default<On>`, ORC lookup). Under TCG this is emulated \
         CPU time; the same ELF run natively on Linux prints the hardware figure.\n\n{llvm}\n## Apps in every tier\n\n\
         `--apps=all`: each app's timed section (`bf_section_begin`..`end`, TSC cycles) as rustc's object \
         code of the bitcode's own LTO module linked into the kernel (aot), wholly interpreted (interp, \
         tier 0), JIT-compiled whole as rustc optimised the bitcode (t1: no pipeline but the \
         always-inliner) and at O3 (t2) for generic x86-64 like aot, at O3 for this \
         machine's CPU (t2host), and in the fourth run through the tiered engine, which starts in the \
         interpreter (docs/engine.md, \"The AOT baseline\"); each table's heading says which CPU each column \
         was compiled for. The exported column is the image `bf.export` wrote in the same boot, booted under \
         the same accelerator (\"Shrink\" below). One boot per accelerator; natively, one run of the same ELF. \
         time to hot: from the start of loading into the tiered engine to the end of its first run \
         at hot speed (docs/persistence.md, \"Figures\").\n{apps}\n## Compile latency\n\n{latency}\n## Interpreter work\n\n{interpreter}\n## Cold and warm boots\n\n{persistence}\n## C programs\n\n{programs}\n## Shrink\n\n{shrink}\n## Files\n\n\
         `--fs-selftest` on the FAT16 partition (docs/fs.md): a 16 MiB file written in 1 MiB writes \
         and fsynced, read back, and the mean of 16 append + `sync_all` rounds.\n\n{files}\n## Sizes\n\n{sizes}",
        kvm.describe()
    );
    std::fs::write(&out, doc).expect("write the benchmark table");
    eprintln!("bench: wrote {out}");
}
