//! Export (docs/shrink.md): after an app's tiered run the kernel compiles it once more
//! with the profile, links it behind the export runtime and writes a bootable raw
//! image. These tests let the kernel export every app of `apps/` and an external C app
//! on bare metal to its FAT16 partition, take each image from there with `mkimage fs
//! cat`, boot it in QEMU and compare its output with the grow run's, in the same boot
//! as the dead-code map; check the same exports' figures natively; check trimmed
//! against full on an app with a path the grow run never took; and check that stage2
//! refuses a corrupted exported image.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bareflow_tests::{
    Accel, DiskInterface, ImageSpec, Outcome, QemuConfig, assert_contains_all, build_image, fat_read, mkimage,
    run_kernel_natively, scratch_dir, workspace_root,
};
use boot_protocol::flud::{FludHeader, crc32};
use boot_protocol::{FLUD_HEADER_LBA, PAYLOAD_LBA, SECTOR_SIZE};

/// An exported image boots in well under a second of guest time; TCG and a loaded
/// machine make it seconds.
const EXPORTED_BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// The image whose stage1 and stage2 a native export reuses (`make disk` made it).
fn boot_image() -> PathBuf {
    let image = workspace_root().join("build/bareflow.img");
    assert!(image.is_file(), "{} is missing: run `make disk`", image.display());
    image
}

/// Compiles a C app of the app ABI to bitcode in `dir` with clang-22.
fn clang_bitcode(source: &Path, dir: &Path) -> PathBuf {
    let stem = source.file_stem().unwrap().to_string_lossy();
    let bitcode = dir.join(format!("{stem}.bc"));
    let status = Command::new("clang-22")
        .args(["-O2", "-c", "-emit-llvm", "-o"])
        .arg(&bitcode)
        .arg(source)
        .status()
        .expect("run clang-22 (Debian package clang-22)");
    assert!(status.success(), "clang-22 failed on {}", source.display());
    bitcode
}

/// Runs the kernel natively with `args` plus the export options (images into `dir`);
/// asserts it succeeded and returns its output.
fn native_export(dir: &Path, args: &[&str]) -> String {
    let dir_arg = format!("--export-dir={}", dir.display());
    let boot_arg = format!("--export-boot={}", boot_image().display());
    let mut all: Vec<&str> = vec!["--no-jit", &dir_arg, &boot_arg];
    all.extend_from_slice(args);
    let (text, status) = run_kernel_natively(&all);
    println!("--- native {all:?} ---\n{text}");
    assert_eq!(status, Some(0), "the kernel failed natively");
    text
}

/// The distinct lines `app` printed itself (`fib: fib(27..=31) = … ok`).
fn app_lines(text: &str, app: &str) -> BTreeSet<String> {
    text.lines().filter(|l| l.starts_with(&format!("{app}: "))).map(str::to_string).collect()
}

/// Boots an exported image under TCG on `disk` (in snapshot mode: it is not changed).
fn boot_exported(image: &Path, disk: DiskInterface) -> Outcome {
    let mut config = QemuConfig::new(image);
    config.accel = Accel::Tcg;
    config.disk = disk;
    config.memory_mib = 64;
    let outcome = config.run(EXPORTED_BOOT_TIMEOUT).expect("start QEMU");
    println!("--- COM1 of {} on {} ---\n{}", image.display(), disk.name(), outcome.serial);
    outcome
}

/// Checks one exported image: it boots on `disk`, prints the banner and exactly the
/// lines `app` printed in the grow run, times its section and exits with status 0.
fn check_exported(image: &Path, app: &str, grow: &str, disk: DiskInterface, mode: &str) {
    let expected = app_lines(grow, app);
    assert!(!expected.is_empty(), "{app} printed nothing in the grow run");
    let outcome = boot_exported(image, disk);
    assert_contains_all(&outcome.serial, [format!("export: {app} ({mode}, ")]);
    assert_eq!(app_lines(&outcome.serial, app), expected, "{app}: the exported image prints the grow run's lines");
    let cycles = outcome.metric(&format!("app.{app}.exported_cycles")).expect("exported_cycles");
    assert!(cycles > 0.0, "{app}: its section was timed");
    assert!(outcome.metric("boot.stage1_to_app_ms").is_some_and(|ms| ms > 0.0), "{app}: stage1 to app");
    assert_eq!(outcome.kernel_status, Some(0), "{app}: the exported image exits with status 0");
}

/// A metric of a native run's output.
fn metric(text: &str, name: &str) -> Option<f64> {
    runner::parse_metrics(text).into_iter().find(|m| m.0 == name).map(|m| m.1)
}

/// Reads the FLUD header and payload of a raw image.
fn header_and_payload(image: &[u8]) -> (FludHeader, Vec<u8>) {
    let at = FLUD_HEADER_LBA as usize * SECTOR_SIZE;
    let header = FludHeader::decode(&image[at..at + SECTOR_SIZE]).expect("a FLUD header at LBA 9");
    let start = PAYLOAD_LBA as usize * SECTOR_SIZE;
    let payload = image[start..start + header.payload_size as usize].to_vec();
    (header, payload)
}

/// Writes `payload` back into `image` with a header whose checksums match it.
fn replace_payload(image: &mut [u8], mut header: FludHeader, payload: &[u8]) {
    header.payload_crc32 = crc32(payload);
    let start = PAYLOAD_LBA as usize * SECTOR_SIZE;
    image[start..start + payload.len()].copy_from_slice(payload);
    let at = FLUD_HEADER_LBA as usize * SECTOR_SIZE;
    image[at..at + SECTOR_SIZE].copy_from_slice(&header.encode());
}

/// Every app of `apps/apps.list`, then the external C app.
fn exported_apps() -> Vec<String> {
    let mut apps: Vec<String> = bf_app_list::apps().iter().map(|a| a.name.to_string()).collect();
    apps.push("collatz".into());
    apps
}

/// Checks an export's figures in the grow run's output against the image file itself:
/// the counts of the profile, the file padded to one BIOS cylinder, `image_bytes` as
/// `bf_export::inspect` measures it, the exported and trimmed counts in its header.
fn check_export_figures(grow: &str, app: &str, image: &[u8], mode: &str) {
    let figure =
        |name: &str| metric(grow, &format!("{name}.{app}")).unwrap_or_else(|| panic!("no METRIC {name}.{app}"));
    let (functions, executed) = (figure("shrink.app_functions"), figure("shrink.app_functions_executed"));
    assert!(executed >= 1.0 && executed <= functions, "{app}: {executed} of {functions} functions ran");
    assert_eq!(image.len(), 16 * 63 * 512, "{app}: the file is padded to one BIOS cylinder");
    let summary = bf_export::inspect(image).expect("the image checks");
    assert_eq!(summary.app, app);
    assert_eq!(summary.image_bytes as f64, figure("export.image_bytes"), "{app}: image_bytes up to the payload's end");
    assert_eq!(summary.payload_bytes as f64, figure("export.payload_bytes"), "{app}: payload_bytes");
    assert!(summary.payload_bytes < summary.image_bytes, "{app}: the payload is part of the image");
    assert_eq!(f64::from(summary.exported), figure("export.functions"), "{app}: exported functions");
    assert_eq!(f64::from(summary.trimmed), figure("export.trimmed_functions"), "{app}: trimmed functions");
    assert_eq!(summary.flags & boot_protocol::export::FLAG_TRIMMED != 0, mode == "trimmed", "{app}: {mode}");
    assert!(figure("export.ms") > 0.0, "{app}: export.ms");
}

#[test]
fn every_app_and_a_c_app_export_natively_with_their_figures() {
    let dir = scratch_dir("export-apps");
    let collatz = clang_bitcode(&workspace_root().join("apps/c-example/collatz.c"), &dir);
    let program = format!("--program={}", collatz.display());
    let grow = native_export(&dir, &["--apps=all", "--tiers=tiered", "--export=all", &program]);
    for app in exported_apps() {
        let file = dir.join(bf_export::image_file_name(&app));
        assert_contains_all(&grow, [format!("export: {app}: wrote {}", file.display())]);
        check_export_figures(&grow, &app, &std::fs::read(&file).unwrap(), "trimmed");
    }
}

#[test]
fn a_trimmed_export_stops_on_a_cold_path_that_a_full_export_runs() {
    let dir = scratch_dir("export-coldpath");
    let bitcode = clang_bitcode(&workspace_root().join("tests/fixtures/coldpath.c"), &dir);
    let program = format!("--program={}", bitcode.display());
    let (trimmed_dir, full_dir) = (dir.join("trimmed"), dir.join("full"));
    std::fs::create_dir_all(&trimmed_dir).unwrap();
    std::fs::create_dir_all(&full_dir).unwrap();
    let grow = native_export(&trimmed_dir, &["--export=coldpath", &program]);
    let grow_full = native_export(&full_dir, &["--export=coldpath,full", &program]);
    assert_contains_all(&grow, ["coldpath: result 332833500"]);
    assert!(metric(&grow, "export.trimmed_functions.coldpath").is_some_and(|n| n >= 1.0), "rare_path is trimmed");
    assert_eq!(metric(&grow_full, "export.trimmed_functions.coldpath"), Some(0.0), "a full export trims nothing");
    let (trimmed, full) = (trimmed_dir.join("COLDPATH.IMG"), full_dir.join("COLDPATH.IMG"));
    assert!(
        std::fs::metadata(&trimmed).unwrap().len() <= std::fs::metadata(&full).unwrap().len(),
        "a trimmed image is no larger than a full one"
    );

    // As exported: the path the grow run took.
    check_exported(&trimmed, "coldpath", &grow, DiskInterface::Virtio, "trimmed");
    check_exported(&full, "coldpath", &grow_full, DiskInterface::Virtio, "full");

    // The input changed so that the rare path runs.
    let take_rare_path = |path: &Path| -> PathBuf {
        let mut image = std::fs::read(path).unwrap();
        let (header, mut payload) = header_and_payload(&image);
        let at = payload.windows(8).position(|w| w == b"SELECT!\0").expect("the selector is in the payload");
        payload[at + 7] = 1;
        replace_payload(&mut image, header, &payload);
        let out = path.with_extension("RARE");
        std::fs::write(&out, image).unwrap();
        out
    };
    let outcome = boot_exported(&take_rare_path(&trimmed), DiskInterface::Virtio);
    assert_contains_all(&outcome.serial, ["cold path rare_path was not exported"]);
    assert!(!outcome.serial.contains("coldpath: result"), "the trimmed image stops at the cold path");
    assert_eq!(outcome.kernel_status, Some(1), "a cold path ends the run with status 1");
    let outcome = boot_exported(&take_rare_path(&full), DiskInterface::Virtio);
    assert_contains_all(&outcome.serial, ["coldpath: the rare path ran", "coldpath: result 3001"]);
    assert_eq!(outcome.kernel_status, Some(0));
}

#[test]
fn stage2_refuses_a_corrupted_exported_image() {
    let dir = scratch_dir("export-corrupt");
    native_export(&dir, &["--apps=fib", "--tiers=tiered", "--export=fib"]);
    let mut image = std::fs::read(dir.join("FIB.IMG")).unwrap();
    let (header, _) = header_and_payload(&image);
    // One bit of the app's code, past the runtime: the header still matches.
    let at = PAYLOAD_LBA as usize * SECTOR_SIZE + header.payload_size as usize - 1;
    image[at] ^= 0x10;
    let corrupt = dir.join("CORRUPT.IMG");
    std::fs::write(&corrupt, &image).unwrap();
    // Stage2 halts on a bad checksum: wait for its message, not for the timeout.
    let mut config = QemuConfig::new(&corrupt);
    config.accel = Accel::Tcg;
    config.memory_mib = 64;
    let mut running = config.spawn().expect("start QEMU");
    let refused = running.wait_for("FLUD: payload checksum mismatch", EXPORTED_BOOT_TIMEOUT);
    // Give a runtime that (wrongly) started the time to say so.
    std::thread::sleep(Duration::from_secs(1));
    let serial = running.finish(None).serial;
    println!("--- COM1 of {} ---\n{serial}", corrupt.display());
    assert!(refused, "stage2 reports the mismatch");
    assert!(!serial.contains("export: fib"), "the runtime never started");
}

#[test]
fn the_kernel_exports_every_app_to_its_fat16_partition_and_maps_its_dead_code_in_qemu() {
    let dir = scratch_dir("export-grow-c");
    let collatz = clang_bitcode(&workspace_root().join("apps/c-example/collatz.c"), &dir);
    let image = build_image(
        "export-grow",
        &ImageSpec {
            cmdline: "--no-jit --apps=all --tiers=tiered bf.export=all".into(),
            modules: vec![("app".into(), collatz)],
            ..Default::default()
        },
    );
    let mut config = QemuConfig::new(&image);
    config.accel = Accel::Tcg;
    config.snapshot = false; // the kernel writes /EXPORT/*.IMG
    let outcome = config.run(bareflow_tests::BOOT_TIMEOUT).expect("start QEMU");
    println!("--- COM1 (grow image) ---\n{}", outcome.serial);
    assert_eq!(outcome.kernel_status, Some(0));
    assert_contains_all(&outcome.serial, ["export: all (trimmed) to /EXPORT"]);
    let grow_disk = std::fs::read(&image).unwrap();
    // Each exported image, taken from the FAT16 partition with `mkimage fs cat`, boots
    // on virtio and on IDE (the first one also as a USB stick) and prints exactly the
    // lines its app printed in the grow run.
    for (i, app) in exported_apps().iter().enumerate() {
        let name = bf_export::image_file_name(app);
        assert_contains_all(&outcome.serial, [format!("export: {app}: wrote /EXPORT/{name} (")]);
        let exported = image.with_file_name(&name);
        let bytes = fat_read(&image, &format!("/EXPORT/{name}"));
        std::fs::write(&exported, &bytes).unwrap();
        check_export_figures(&outcome.serial, app, &bytes, "trimmed");
        // Its stage1 and stage2 are the boot disk's own.
        assert_eq!(bytes[..440], grow_disk[..440], "stage1's code");
        assert_eq!(bytes[512..512 * 9], grow_disk[512..512 * 9], "stage2");
        let usb = (i == 0).then_some(DiskInterface::Usb);
        for disk in [DiskInterface::Virtio, DiskInterface::Ide].into_iter().chain(usb) {
            check_exported(&exported, app, &outcome.serial, disk, "trimmed");
        }
    }
    // `mkimage info` knows an exported image: no file system expected, the app named.
    let info = String::from_utf8(mkimage(&["info", &image.with_file_name("FIB.IMG").to_string_lossy()])).unwrap();
    assert_contains_all(&info, ["FAT partition: none (an exported image)", "exported app: fib (trimmed, ", "image ok"]);

    // The same boot's dead-code map, mapped back to the kernel on the host.
    let kernel = workspace_root().join("build/kernel.elf");
    let probes = "bf_dead_code_probe_called,bf_dead_code_probe_uncalled,run_suite";
    let report = String::from_utf8(mkimage(&[
        "deadcode",
        &image.to_string_lossy(),
        &kernel.to_string_lossy(),
        "--symbols",
        probes,
    ]))
    .unwrap();
    println!("--- mkimage deadcode ---\n{report}");
    let line = |prefix: &str| -> String {
        report.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix:?} line")).to_string()
    };
    // The probe called right after recording started: its first page is touched; the
    // probe never called: neither of its pages.
    assert!(line("symbol bf_dead_code_probe_called ").contains(" 8192 bytes: pages touched"), "{report}");
    assert!(line("symbol bf_dead_code_probe_uncalled ").ends_with("8192 bytes: pages untouched untouched"), "{report}");
    // The suite ran: its code was touched.
    let suite = report.lines().find(|l| l.starts_with("symbol ") && l.contains("run_suite")).expect("run_suite's line");
    assert!(suite.contains(" touched"), "{report}");
    // The host's totals are the kernel's own figures.
    for name in ["shrink.kernel_text_bytes", "shrink.kernel_text_touched_bytes"] {
        let host = runner::parse_metrics(&report).into_iter().find(|m| m.0 == name).map(|m| m.1);
        assert_eq!(host, outcome.metric(name), "{name}");
    }
    let (text, touched) = (
        outcome.metric("shrink.kernel_text_bytes").unwrap(),
        outcome.metric("shrink.kernel_text_touched_bytes").unwrap(),
    );
    assert!(touched > 0.0 && touched < text, "some, not all, of the kernel's code ran: {touched} of {text}");
    // Components from the linker map: LLVM's libraries, glibc, Rust std, the kernel.
    for component in ["deadcode: LLVM Core ", "deadcode: glibc ", "deadcode: Rust std ", "deadcode: kernel "] {
        line(component);
    }
}
