//! Persistence (docs/persistence.md): the tiered engine's snapshots on the FAT16
//! partition make the next boot hot — no LLVM compilation, the same answers — and a
//! snapshot that is damaged, cut short by a power cut, made for another kernel, app or
//! CPU, or that cannot be written on a full partition never costs a result: it is
//! rejected with the field named and the previous snapshot (or a cold start) is used.
//!
//! Most cases run the same kernel ELF natively (`--snapshot-dir`, seconds); QEMU boots
//! one image several times for what only a machine shows: the FAT16 partition, a new
//! CPU model, a power cut and a full disk.

use std::path::{Path, PathBuf};

use bareflow_tests::{
    Accel, BOOT_TIMEOUT, DiskInterface, ImageSpec, Outcome, QemuConfig, assert_contains_all, build_image, fat_read,
    fat_write, fsck_complaints, fsck_fat, mkimage, nm_symbols, partition_table, run_kernel_natively, scratch_dir,
};
use bf_snapshot::{Snapshot, lineage};

/// The value of `METRIC <name>` in `text`.
fn metric(text: &str, name: &str) -> Option<f64> {
    runner::parse_metrics(text).into_iter().find(|m| m.0 == name).map(|m| m.1)
}

/// Checks the compile-latency figures of `app`'s tiered run in `text` (docs/engine.md,
/// "Compile latency"): cold, every tier-up compiled once and each promotion has its
/// `jit.compile_ms.<app>.<function>.<tier>`, the promotion counts add up to the
/// tier-ups and each tier's step shares to 100 %; warm, there are none.
fn check_compile_latency(text: &str, app: &str, cold: bool) {
    let metrics = runner::parse_metrics(text);
    let with = |prefix: String| -> Vec<(String, f64)> {
        metrics.iter().filter(|m| m.0.starts_with(&prefix)).map(|m| (m.0.clone(), m.1)).collect()
    };
    let get = |name: String| metrics.iter().find(|m| m.0 == name).map(|m| m.1);
    let promotions = with(format!("jit.promotions.{app}."));
    if !cold {
        assert!(promotions.is_empty(), "{app}: a warm run promotes nothing: {promotions:?}");
        return;
    }
    let tier_ups = get(format!("app.{app}.tier_ups")).expect("tier_ups");
    assert_eq!(promotions.iter().map(|p| p.1).sum::<f64>(), tier_ups, "{app}: promotions by tier {promotions:?}");
    for (name, count) in &promotions {
        let tier = name.rsplit('.').next().unwrap();
        let each: Vec<f64> = metrics
            .iter()
            .filter(|m| {
                m.0.starts_with(&format!("jit.compile_ms.{app}."))
                    && m.0.ends_with(&format!(".{tier}"))
                    && m.0.split('.').count() == 5
            })
            .map(|m| m.1)
            .collect();
        assert_eq!(each.len() as f64, *count, "{app}: one jit.compile_ms line per {tier} promotion");
        assert!(each.iter().all(|ms| *ms > 0.0), "{app} {tier}: {each:?}");
        let median = get(format!("jit.promote_ms_median.{app}.{tier}")).expect("median");
        let max = get(format!("jit.promote_ms_max.{app}.{tier}")).expect("max");
        assert!(each.iter().any(|ms| (ms - max).abs() < 0.01) && median <= max, "{app} {tier}: {median} {max}");
        let shares: f64 = with(format!("jit.promote_share_pct.{app}.{tier}.")).iter().map(|s| s.1).sum();
        assert!((shares - 100.0).abs() < 0.5, "{app} {tier}: the steps' shares add up to {shares} %");
    }
}

/// The app's result lines (`fib: fib(27..=31) = … ok`).
fn results<'a>(text: &'a str, app: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(&format!("{app}: "))).collect()
}

/// Runs the kernel natively: AOT, then the tiered engine (4 runs) on `apps`, with its
/// snapshots in `dir`.
fn native(apps: &str, dir: &Path, extra: &[&str]) -> String {
    let dir_arg = format!("--snapshot-dir={}", dir.display());
    let apps_arg = format!("--apps={apps}");
    let mut args = vec!["--no-jit", apps_arg.as_str(), "--tiers=tiered", dir_arg.as_str()];
    args.extend_from_slice(extra);
    let (text, status) = run_kernel_natively(&args);
    println!("--- native {args:?} ---\n{text}");
    assert_eq!(status, Some(0), "the kernel failed natively:\n{text}");
    assert!(text.contains("apps: suite passed"), "suite failed:\n{text}");
    text
}

/// The snapshot of boot `boot` of `app`'s lineage under `dir`.
fn snapshot_path(dir: &Path, app: &str, boot: u32) -> PathBuf {
    dir.join(app).join(lineage::file_name(boot))
}

#[test]
fn the_second_run_is_hot_and_compiles_nothing_natively() {
    let dir = scratch_dir("persist-native");
    let cold = native("fib,tinyllama", &dir, &[]);
    let warm = native("fib,tinyllama", &dir, &[]);
    for app in ["fib", "tinyllama"] {
        assert_contains_all(
            &cold,
            [format!("snapshot: {app}: no usable snapshot"), format!("snapshot: {app}: wrote ")],
        );
        assert!(metric(&cold, &format!("app.{app}.llvm_compiles")).is_some_and(|n| n > 2.0), "{app} compiled cold");
        check_compile_latency(&cold, app, true);
        check_compile_latency(&warm, app, false);
        assert_contains_all(
            &warm,
            [format!("snapshot: {app}: loaded "), format!("{}", snapshot_path(&dir, app, 1).display())],
        );
        assert_eq!(metric(&warm, &format!("app.{app}.llvm_compiles")), Some(0.0), "{app}: a warm run compiles nothing");
        assert_eq!(
            metric(&warm, &format!("app.{app}.tier_ups")),
            Some(0.0),
            "{app}: warm functions start in their tier"
        );
        assert!(metric(&warm, &format!("app.{app}.snapshot_functions")).is_some_and(|n| n > 0.0));
        assert_eq!(results(&warm, app), results(&cold, app), "{app}: the same answers warm");
        let (c, w) =
            (metric(&cold, &format!("app.{app}.time_to_hot_ms")), metric(&warm, &format!("app.{app}.time_to_hot_ms")));
        println!("{app}: time to hot cold {c:?} ms, warm {w:?} ms");
        // The second snapshot carries the first one's profile on.
        let first = Snapshot::decode(&std::fs::read(snapshot_path(&dir, app, 1)).unwrap()).unwrap();
        let second = Snapshot::decode(&std::fs::read(snapshot_path(&dir, app, 2)).unwrap()).unwrap();
        assert_eq!((first.boot, first.profiled_boots, second.boot, second.profiled_boots), (1, 1, 2, 2));
        // (Not twice the calls: warm, the top tier's inlined calls are not counted.)
        for (a, b) in first.functions.iter().zip(&second.functions) {
            assert!(b.calls >= a.calls && b.cycles >= a.cycles, "{app}: {}'s profile accumulates", a.name);
        }
        let calls = |s: &Snapshot| s.functions.iter().map(|f| f.calls).sum::<u64>();
        assert!(calls(&second) > calls(&first), "{app}: the warm run's calls are added");
        assert_eq!(
            first.functions.iter().map(|f| f.tier).collect::<Vec<_>>(),
            second.functions.iter().map(|f| f.tier).collect::<Vec<_>>(),
            "{app}: the warm run kept every tier"
        );
    }
    assert!(metric(&warm, "snapshot.functions_loaded").is_some_and(|n| n > 0.0));
    assert!(metric(&warm, "snapshot.bytes").is_some_and(|n| n > 10_000.0));
    top_tier_objects_leave_the_panic_paths_to_the_load_time_module(&dir);
}

/// A top-tier object holds the promoted function and copies of what it calls, but not
/// of the functions marked `cold` or `noreturn` (Rust's panic paths): it calls the
/// load-time module's (docs/engine.md, "Compile latency"). Checked with `nm` on
/// tinyllama's top-tier objects in the snapshot under `dir`: `panic_bounds_check` is
/// referred to and never defined, and neither is the integer formatting only the panic
/// message reached.
fn top_tier_objects_leave_the_panic_paths_to_the_load_time_module(dir: &Path) {
    let snapshot = Snapshot::decode(&std::fs::read(snapshot_path(dir, "tinyllama", 1)).unwrap()).unwrap();
    let top = format!(".{}", bf_tiers::TIERS.name(bf_tiers::TIERS.top()));
    let objects: Vec<_> = snapshot.objects.iter().filter(|o| o.name.ends_with(&top)).collect();
    assert!(
        objects.len() >= 3,
        "tinyllama's top-tier objects: {:?}",
        snapshot.objects.iter().map(|o| &o.name).collect::<Vec<_>>()
    );
    let mut calls_a_panic_path = 0;
    for object in objects {
        let path = dir.join("object.o");
        std::fs::write(&path, &object.bytes).unwrap();
        let symbols = nm_symbols(&path);
        let of_kind = |kinds: &[&str]| -> Vec<&str> {
            symbols.iter().filter(|(k, _)| kinds.contains(&k.as_str())).map(|(_, n)| n.as_str()).collect()
        };
        let (defined, needed) = (of_kind(&["t", "T"]), of_kind(&["U"]));
        assert!(defined.iter().any(|d| d.ends_with(&top)), "{}: defines its function:\n{symbols:?}", object.name);
        for cold in ["panic_bounds_check", "panic_fmt", "rust_begin_unwind", "Display3fmt"] {
            assert!(!defined.iter().any(|d| d.contains(cold)), "{}: a copy of {cold}:\n{symbols:?}", object.name);
        }
        calls_a_panic_path += needed.iter().filter(|n| n.contains("panic_bounds_check")).count();
    }
    assert!(calls_a_panic_path > 0, "some top-tier code has a bounds check, and calls the load-time panic path");
}

/// One cold run of fib in a fresh directory: the directory and fib's first snapshot.
fn fib_lineage(label: &str) -> (PathBuf, String) {
    let dir = scratch_dir(label);
    let cold = native("fib", &dir, &[]);
    assert!(snapshot_path(&dir, "fib", 1).exists(), "no snapshot written:\n{cold}");
    (dir, cold)
}

/// A change to a decoded snapshot.
type Edit = fn(&mut Snapshot);

/// Rewrites fib's first snapshot in `dir` through `edit` (re-encoded: a valid file
/// with a changed key or contents).
fn rekey(dir: &Path, edit: impl FnOnce(&mut Snapshot)) {
    let path = snapshot_path(dir, "fib", 1);
    let mut s = Snapshot::decode(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut s);
    std::fs::write(&path, s.encode()).unwrap();
}

/// A run after a rejection: the line naming the field, a cold start, the same answers,
/// a new snapshot.
fn assert_rejected_then_cold(dir: &Path, cold: &str, reason: &str, extra: &[&str]) -> String {
    let out = native("fib", dir, extra);
    assert_contains_all(
        &out,
        [format!("snapshot: fib: rejected: {reason}"), "snapshot: fib: no usable snapshot".into()],
    );
    assert!(metric(&out, "app.fib.llvm_compiles").is_some_and(|n| n > 0.0), "a cold start compiles");
    assert_eq!(results(&out, "fib"), results(cold, "fib"), "the same answers after a rejection");
    assert!(snapshot_path(dir, "fib", 2).exists(), "a fresh snapshot is written");
    out
}

#[test]
fn a_flipped_byte_is_rejected_by_checksum_and_set_aside() {
    let (dir, cold) = fib_lineage("persist-flip");
    let path = snapshot_path(&dir, "fib", 1);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
    assert_rejected_then_cold(&dir, &cold, "checksum differs (stored ", &[]);
    assert!(!path.exists() && dir.join("fib").join(lineage::set_aside_name(1)).exists(), "set aside, not deleted");
}

#[test]
fn a_snapshot_of_another_kernel_build_bitcode_or_cpu_is_rejected_by_that_field() {
    let cases: [(&str, Edit); 4] = [
        ("kernel build differs (build id ", |s| s.key.kernel_build_id[0] ^= 1),
        ("app bitcode differs (sha256 ", |s| s.key.bitcode_sha256[0] ^= 1),
        ("cpu features differ (bf-test-feature missing)", |s| s.key.cpu_features.push_str(",+bf-test-feature")),
        ("llvm version differs (21.1.0, this kernel 22.", |s| s.key.llvm_version = "21.1.0".into()),
    ];
    for (i, (reason, edit)) in cases.into_iter().enumerate() {
        let (dir, cold) = fib_lineage(&format!("persist-key-{i}"));
        rekey(&dir, edit);
        assert_rejected_then_cold(&dir, &cold, reason, &[]);
        assert!(snapshot_path(&dir, "fib", 1).exists(), "a valid snapshot of another key is left in place");
    }
}

#[test]
fn a_function_still_interpreted_warm_gets_the_interpreter_on_first_use() {
    let (dir, cold) = fib_lineage("persist-lazy");
    // Every function back to tier 0 in the snapshot (only the load-time objects kept):
    // the warm load links them and prepares no interpreter until the entry is called.
    rekey(&dir, |s| {
        s.functions.iter_mut().filter(|f| f.start_tier == 0).for_each(|f| (f.tier, f.code) = (0, None));
        s.objects.retain(|o| o.name == "host" || o.name == "glue" || o.name.starts_with("load."));
    });
    let out = native("fib", &dir, &[]);
    assert_contains_all(&out, ["snapshot: fib: loaded ", "interp: prepared on first use ("]);
    assert!(metric(&out, "app.fib.tier_ups").is_some_and(|n| n >= 2.0), "and tiers up again");
    assert_eq!(results(&out, "fib"), results(&cold, "fib"));
}

#[test]
fn snapshots_can_be_turned_off_or_reset_natively() {
    let dir = scratch_dir("persist-off");
    let out = native("fib", &dir, &["--snapshot=off"]);
    assert_contains_all(&out, ["snapshot: fib: off"]);
    assert!(!dir.join("fib").exists(), "nothing written with --snapshot=off");
    let (dir, cold) = fib_lineage("persist-reset");
    let out = native("fib", &dir, &["--snapshot=reset"]);
    assert_contains_all(
        &out,
        ["B0000001.BAD (bf.snapshot=reset)", "snapshot: fib: no usable snapshot", "B0000002.SNP"],
    );
    assert_eq!(results(&out, "fib"), results(&cold, "fib"));
    assert!(dir.join("fib").join(lineage::set_aside_name(1)).exists(), "reset sets aside, never deletes");
}

// ---- QEMU -------------------------------------------------------------------------

/// Boots `image` writable under TCG (optionally on CPU model `cpu`).
fn boot_writable(image: &Path, cpu: Option<&str>, label: &str) -> Outcome {
    let mut config = QemuConfig::new(image);
    config.accel = Accel::Tcg;
    config.disk = DiskInterface::Virtio;
    config.snapshot = false;
    config.cpu = cpu.map(str::to_string);
    let outcome = config.run(BOOT_TIMEOUT * 2).expect("start QEMU");
    println!("--- COM1 ({label}) ---\n{}", outcome.serial);
    assert_eq!(outcome.kernel_status, Some(0), "{label}: the kernel failed");
    assert!(outcome.serial.contains("apps: suite passed"), "{label}: the suite failed");
    outcome
}

/// `mkimage snapshot ls IMAGE`.
fn snapshot_ls(image: &Path) -> String {
    let text = String::from_utf8(mkimage(&["snapshot", "ls", &image.to_string_lossy()])).unwrap();
    println!("--- mkimage snapshot ls ---\n{text}");
    text
}

/// fib and tinyllama through the tiered engine on one image, booted three times: cold
/// (QEMU's `-cpu max`), warm, then with tinyllama's newest snapshot damaged on a CPU
/// model without AVX2 — the host reads the lineage with `mkimage snapshot` between.
#[test]
fn the_second_boot_is_hot_and_a_new_cpu_or_a_damaged_snapshot_starts_cold_in_qemu() {
    let image = build_image(
        "persist-qemu",
        &ImageSpec { cmdline: "--no-jit --apps=fib,tinyllama --tiers=tiered".into(), ..Default::default() },
    );
    let cold = boot_writable(&image, None, "boot 1: cold");
    let warm = boot_writable(&image, None, "boot 2: warm");
    for app in ["fib", "tinyllama"] {
        assert_contains_all(&cold.serial, [format!("snapshot: {app}: wrote /SNAPSHOT/{app}/B0000001.SNP")]);
        assert_contains_all(&warm.serial, [format!("snapshot: {app}: loaded /SNAPSHOT/{app}/B0000001.SNP")]);
        assert_eq!(
            warm.metric(&format!("app.{app}.llvm_compiles")),
            Some(0.0),
            "{app}: the warm boot compiles nothing"
        );
        assert_eq!(results(&warm.serial, app), results(&cold.serial, app), "{app}: the same answers warm");
        check_compile_latency(&cold.serial, app, true);
        check_compile_latency(&warm.serial, app, false);
        let (c, w) =
            (cold.metric(&format!("app.{app}.time_to_hot_ms")), warm.metric(&format!("app.{app}.time_to_hot_ms")));
        // A figure for the log (make bench measures it), not an assertion on time.
        println!("{app}: time to hot cold {c:?} ms, warm {w:?} ms: {:.1}x", c.unwrap_or(0.0) / w.unwrap_or(1.0));
    }
    let ls = snapshot_ls(&image);
    for app in ["fib", "tinyllama"] {
        for boot in [1, 2] {
            let line =
                ls.lines().find(|l| l.starts_with(&format!("/SNAPSHOT/{app}/B000000{boot}.SNP"))).unwrap_or_default();
            assert!(line.contains(&format!(" ok boot {boot}, ")), "{app} boot {boot}: {line:?}\n{ls}");
        }
    }
    let show =
        String::from_utf8(mkimage(&["snapshot", "show", &image.to_string_lossy(), "/SNAPSHOT/tinyllama/B0000002.SNP"]))
            .unwrap();
    println!("--- mkimage snapshot show ---\n{show}");
    assert_contains_all(&show, ["app          tinyllama", "boot         2 (profile of 2 boots)", "matmul", " t2 "]);

    // Boot 3: tinyllama's newest snapshot has a flipped byte, and the CPU has no AVX2.
    let newest = "/SNAPSHOT/tinyllama/B0000002.SNP";
    let mut bytes = fat_read(&image, newest);
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    fat_write(&image, newest, &bytes);
    let other_cpu = boot_writable(&image, Some("SandyBridge"), "boot 3: damaged, SandyBridge");
    assert_contains_all(
        &other_cpu.serial,
        [
            "snapshot: tinyllama: rejected: checksum differs (stored ",
            "[/SNAPSHOT/tinyllama/B0000002.SNP, set aside]",
            "snapshot: tinyllama: rejected: cpu features differ (",
            "[/SNAPSHOT/tinyllama/B0000001.SNP, left in place]",
            "snapshot: fib: rejected: cpu features differ (",
            "snapshot: tinyllama: wrote /SNAPSHOT/tinyllama/B0000003.SNP",
        ],
    );
    let cpu_line = other_cpu.serial.lines().find(|l| l.contains("tinyllama: rejected: cpu features")).unwrap();
    assert!(cpu_line.contains("avx2") && cpu_line.contains("missing"), "the code needs AVX2: {cpu_line}");
    for app in ["fib", "tinyllama"] {
        assert!(other_cpu.metric(&format!("app.{app}.llvm_compiles")).is_some_and(|n| n > 0.0), "{app} starts cold");
        assert_eq!(results(&other_cpu.serial, app), results(&cold.serial, app), "{app}: the same answers");
    }
    let ls = snapshot_ls(&image);
    assert!(ls.lines().any(|l| l.starts_with("/SNAPSHOT/tinyllama/B0000002.BAD") && l.contains("set aside")), "{ls}");
    assert!(ls.lines().any(|l| l.starts_with("/SNAPSHOT/tinyllama/B0000003.SNP") && l.contains(" ok boot 3")), "{ls}");
}

/// Fills the image's FAT16 partition to the last cluster with `/FILL.BIN`.
fn fill_partition(image: &Path) {
    use std::io::Write;
    let mut bytes = std::fs::read(image).unwrap();
    let fat = partition_table(&bytes[..512])[1];
    let (start, end) = (fat.first_lba as usize * 512, (fat.first_lba + fat.sectors) as usize * 512);
    {
        let fs = fatfs::FileSystem::new(std::io::Cursor::new(&mut bytes[start..end]), fatfs::FsOptions::new()).unwrap();
        let mut file = fs.root_dir().create_file("FILL.BIN").unwrap();
        let block = [0xffu8; 512];
        while file.write(&block).is_ok_and(|n| n > 0) {}
        drop(file);
        let free = fs.stats().unwrap().free_clusters();
        assert_eq!(free, 0, "the partition is full");
    }
    std::fs::write(image, bytes).unwrap();
}

/// fib on one image with `bf.snapshot=slow` (the write in 4 KiB pieces): boot 1 cold;
/// boot 2 warm, killed in the middle of writing its snapshot; boot 3 sets the partial
/// file aside and loads boot 1's, and `fsck.fat -n` finds the volume clean; then the
/// partition is filled and boot 4 cannot write: a message, boot 3's snapshot intact.
#[test]
fn a_power_cut_or_a_full_partition_keeps_the_previous_snapshot_in_qemu() {
    let image = build_image(
        "persist-cut",
        &ImageSpec { cmdline: "--no-jit --apps=fib --tiers=tiered bf.snapshot=slow".into(), ..Default::default() },
    );
    boot_writable(&image, None, "boot 1: cold, slow write");
    let mut config = QemuConfig::new(&image);
    config.accel = Accel::Tcg;
    config.snapshot = false;
    let mut running = config.spawn().expect("start QEMU");
    let needle = "snapshot: fib: writing /SNAPSHOT/fib/B0000002.SNP (4096 of ";
    assert!(running.wait_for(needle, BOOT_TIMEOUT), "boot 2 never wrote its snapshot:\n{}", running.serial());
    let cut = running.finish(None); // killed: the power goes
    println!("--- COM1 (boot 2, killed) ---\n{}", cut.serial);
    assert!(!cut.serial.contains("snapshot: fib: wrote"), "the write finished before the kill");

    let after = boot_writable(&image, None, "boot 3: after the power cut");
    assert_contains_all(
        &after.serial,
        [
            "snapshot: fib: rejected: length: truncated (",
            "[/SNAPSHOT/fib/B0000002.SNP, set aside]",
            "snapshot: fib: loaded /SNAPSHOT/fib/B0000001.SNP",
            "snapshot: fib: wrote /SNAPSHOT/fib/B0000003.SNP",
        ],
    );
    assert_eq!(after.metric("app.fib.llvm_compiles"), Some(0.0), "the previous snapshot is used");
    let (_, out) = fsck_fat(&image);
    println!("fsck.fat -n:\n{out}");
    assert!(fsck_complaints(&out).is_empty(), "fsck.fat -n complains:\n{out}");

    fill_partition(&image);
    let full = boot_writable(&image, None, "boot 4: full partition");
    assert_contains_all(
        &full.serial,
        [
            "snapshot: fib: loaded /SNAPSHOT/fib/B0000003.SNP",
            "snapshot: fib: not written (",
            "/SNAPSHOT/fib/B0000003.SNP kept",
        ],
    );
    let line = full.serial.lines().find(|l| l.contains("snapshot: fib: not written")).unwrap();
    assert!(line.to_lowercase().contains("no space"), "the message says why: {line}");
    let ls = snapshot_ls(&image);
    assert!(ls.lines().any(|l| l.starts_with("/SNAPSHOT/fib/B0000003.SNP") && l.contains(" ok boot 3")), "{ls}");
    assert!(!ls.contains("B0000004.SNP"), "no partial snapshot left behind:\n{ls}");
}
