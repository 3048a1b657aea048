//! File-system integration tests: the kernel mounts the image's FAT16 partition at `/`
//! on virtio-blk, IDE (`-machine pc`), AHCI (`-machine q35`) and a USB stick (through
//! the BIOS INT 13h fallback); every boot appends to
//! `/BOOT.LOG` through `std::fs`; `--fs-selftest` checks `std::fs` end to end and fills
//! the disk; the host reads what the kernel wrote (`mkimage fs`, `fsck.fat -n`). A
//! power cut in the middle of a large write and corrupted volumes must not stop the
//! kernel.

use std::path::Path;

use bareflow_tests::{
    Accel, BOOT_TIMEOUT, DiskInterface, ImageSpec, Outcome, QemuConfig, assert_contains_all, boot, build_image,
    corrupted_copy, fat_read, fsck_complaints, fsck_fat, partition_table,
};

/// Boots `image` writable (the disk keeps what the kernel writes) under TCG.
fn boot_writable(image: &Path, disk: DiskInterface) -> Outcome {
    let mut config = QemuConfig::new(image);
    config.accel = Accel::Tcg;
    config.disk = disk;
    config.snapshot = false;
    let outcome = config.run(BOOT_TIMEOUT).expect("start QEMU");
    println!("--- COM1 (tcg on {}, writable) ---\n{}", disk.name(), outcome.serial);
    outcome
}

/// `mkimage fs cat IMAGE PATH` as text.
fn host_cat(image: &Path, path: &str) -> String {
    String::from_utf8(fat_read(image, path)).unwrap()
}

/// Two boots of one writable image running `--fs-selftest`: boot counts 1 and 2, the
/// host reads two lines of `/BOOT.LOG`, and `fsck.fat -n` is clean.
fn two_boots_on(disk: DiskInterface, driver: &str) {
    let image = build_image(
        &format!("fs-{}", disk.name()),
        &ImageSpec { cmdline: "--no-jit --fs-selftest".into(), ..Default::default() },
    );
    for n in 1..=2 {
        let outcome = boot_writable(&image, disk);
        assert_contains_all(
            &outcome.serial,
            [
                format!("fs: mounted FAT16 at / from {driver} (partition at LBA "),
                format!("fs: boot {n} logged in /BOOT.LOG"),
                "fs-selftest: full disk is StorageFull, earlier files intact: ok".into(),
                "fs-selftest: 17 of 17 checks passed".into(),
                "fs: unmounted cleanly".into(),
            ],
        );
        assert!(!outcome.serial.contains("FAILED"), "a self-test check failed");
        assert_eq!(outcome.metric("fs.boot_count"), Some(n as f64), "boot count of boot {n}");
        for m in ["fs.write_mib_s", "fs.read_mib_s", "fs.fsync_ms"] {
            assert!(outcome.metric(m).is_some_and(|v| v > 0.0), "{m} missing or zero");
        }
        assert_eq!(outcome.kernel_status, Some(0), "kernel exit status (QEMU {:?})", outcome.qemu_status);
    }
    let log = host_cat(&image, "/BOOT.LOG");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(lines[0].starts_with("boot 1 ") && lines[0].ends_with(" ms"), "{log}");
    assert!(lines[1].starts_with("boot 2 ") && lines[1].ends_with(" ms"), "{log}");
    let (clean, out) = fsck_fat(&image);
    assert!(clean && !out.contains("Dirty"), "fsck.fat -n:\n{out}");
}

#[test]
fn two_boots_count_and_log_on_virtio() {
    two_boots_on(DiskInterface::Virtio, "virtio-blk");
}

#[test]
fn two_boots_count_and_log_on_ide() {
    two_boots_on(DiskInterface::Ide, "ata-pio");
}

#[test]
fn two_boots_count_and_log_on_ahci() {
    two_boots_on(DiskInterface::Ahci, "ahci");
}

/// A USB stick has no native driver: the BIOS INT 13h fallback carries the file system.
#[test]
fn two_boots_count_and_log_on_usb_through_the_bios() {
    two_boots_on(DiskInterface::Usb, "bios-int13");
}

/// What the kernel writes to `/EARLY.TXT` (`fs::selftest::early_contents`).
fn early_contents() -> String {
    (0..200).map(|i| format!("early line {i}\n")).collect()
}

#[test]
fn a_power_cut_in_a_large_write_keeps_earlier_files_and_the_count() {
    let image =
        build_image("fs-power-cut", &ImageSpec { cmdline: "--no-jit --fs-big-write=28".into(), ..Default::default() });
    let mut config = QemuConfig::new(&image);
    config.accel = Accel::Tcg;
    config.snapshot = false;
    let mut running = config.spawn().expect("start QEMU");
    assert!(
        running.wait_for("fs-big-write: 4 MiB", BOOT_TIMEOUT),
        "the big write never started:\n{}",
        running.serial()
    );
    let cut = running.finish(None); // killed: the power goes
    println!("--- COM1 (first boot, killed) ---\n{}", cut.serial);
    assert_contains_all(&cut.serial, ["fs: boot 1 logged", "fs-big-write: wrote /EARLY.TXT"]);
    assert!(
        !cut.serial.contains("/BIG.BIN complete"),
        "the write finished before the kill; the test needs a bigger one"
    );

    let outcome = boot_writable(&image, DiskInterface::Virtio);
    assert_contains_all(
        &outcome.serial,
        [
            "it was not cleanly unmounted (dirty flag set), mounting anyway",
            "fs: boot 2 logged in /BOOT.LOG",
            "fs-big-write: /EARLY.TXT from an earlier boot is intact",
            "fs-big-write: /BIG.BIN complete (28 MiB)",
        ],
    );
    assert_eq!(outcome.metric("fs.boot_count"), Some(2.0));
    assert_eq!(outcome.kernel_status, Some(0));
    assert_eq!(host_cat(&image, "/EARLY.TXT"), early_contents());
    assert_eq!(host_cat(&image, "/BOOT.LOG").lines().count(), 2);
    // fsck finds nothing but the dirty bit, which stays set after a crash until fsck
    // repairs the volume (docs/fs.md).
    let (_, out) = fsck_fat(&image);
    println!("fsck.fat -n:\n{out}");
    let complaints = fsck_complaints(&out);
    assert!(complaints.is_empty(), "fsck.fat -n complains:\n{out}");
}

/// The FAT16 partition's byte range in an image.
fn fat_start(image_bytes: &[u8]) -> usize {
    partition_table(&image_bytes[..512])[1].first_lba as usize * 512
}

fn refused_boot(label: &str, edit: impl FnOnce(&mut Vec<u8>), reason: &str) {
    let image = build_image(label, &ImageSpec { cmdline: "--no-jit".into(), ..Default::default() });
    let bad = corrupted_copy(&image, label, edit);
    let outcome = boot(&bad, Accel::Tcg, DiskInterface::Virtio, BOOT_TIMEOUT);
    assert_contains_all(
        &outcome.serial,
        [
            format!("fs: FAT16 partition refused: {reason}"),
            "; running without files".into(),
            "main: exiting with status 0".into(),
        ],
    );
    assert!(!outcome.serial.contains("fs.boot_count"), "no boot count without files");
    assert!(!outcome.serial.contains("panicked"), "no panic");
    assert_eq!(outcome.kernel_status, Some(0));
}

#[test]
fn a_corrupted_boot_sector_is_refused_and_the_kernel_runs_on() {
    refused_boot(
        "fs-bad-boot-sector",
        |b| {
            let at = fat_start(b);
            b[at + 510] = 0;
            b[at + 511] = 0;
        },
        "boot sector signature 0x55AA missing",
    );
}

#[test]
fn a_bad_bios_parameter_block_is_refused() {
    refused_boot(
        "fs-bad-bpb",
        |b| {
            let at = fat_start(b);
            b[at + 0x0D] = 3; // sectors per cluster: not a power of two
        },
        "bad BIOS parameter block",
    );
}

#[test]
fn a_corrupted_fat_is_refused_and_the_kernel_runs_on() {
    refused_boot(
        "fs-bad-fat",
        |b| {
            let at = fat_start(b);
            let reserved = u16::from_le_bytes([b[at + 0x0E], b[at + 0x0F]]) as usize;
            b[at + reserved * 512..at + reserved * 512 + 4].copy_from_slice(&[0x12, 0x34, 0x56, 0x78]);
        },
        "the FAT is corrupted",
    );
}

/// The same `--fs-selftest` program, started as a Linux program against a temporary
/// directory of the host: the expectations it checks on bare metal are Linux's.
#[test]
fn the_fs_selftest_expectations_hold_on_linux() {
    let (stdout, status) = bareflow_tests::run_kernel_natively(&["--no-jit", "--fs-selftest"]);
    println!("{stdout}");
    assert_contains_all(&stdout, ["fs-selftest: read_dir: ok", "fs-selftest: 16 of 16 checks passed"]);
    assert!(!stdout.contains("FAILED"));
    assert_eq!(status, Some(0));
}
