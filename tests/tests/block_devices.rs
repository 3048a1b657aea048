//! Block-driver integration tests: booting on virtio-blk and IDE (`-machine pc`) and on
//! AHCI (`-machine q35`), the kernel must pick the boot disk with the right driver, pass
//! `bf.disk=selftest` (LBA 0 signature, scratch write/read-back, flush, 8 MiB read
//! throughput), and the write must reach the host's image file when the disk is
//! attached writable. On USB, which no driver handles, the BIOS INT 13h fallback must
//! do the same; without it (`bf.disk=nobios`) the kernel says so and runs on.

use std::path::Path;

use bareflow_tests::{
    Accel, BOOT_TIMEOUT, DiskInterface, ImageSpec, Outcome, QemuConfig, assert_contains_all, boot, build_image,
    partition_table,
};
use boot_protocol::{SCRATCH_SECTORS, SECTOR_SIZE, scratch_byte};

/// The scratch area's bytes in an image file on the host.
fn scratch_bytes(image: &Path) -> Vec<u8> {
    let bytes = std::fs::read(image).expect("read image");
    let fat_first = u64::from(partition_table(&bytes[..SECTOR_SIZE])[1].first_lba);
    let start = ((fat_first - SCRATCH_SECTORS) as usize) * SECTOR_SIZE;
    bytes[start..start + SCRATCH_SECTORS as usize * SECTOR_SIZE].to_vec()
}

fn expected_scratch() -> Vec<u8> {
    (0..SCRATCH_SECTORS as usize * SECTOR_SIZE)
        .map(|i| scratch_byte((i / SECTOR_SIZE) as u64, i % SECTOR_SIZE))
        .collect()
}

/// Boots a fresh self-test image writable on `disk` and checks driver, self-test,
/// throughput metric and the bytes on the host.
fn selftest_on(disk: DiskInterface, driver: &str, location: &str) -> Outcome {
    let image = build_image(
        &format!("blk-{}", disk.name()),
        &ImageSpec { cmdline: "bf.disk=selftest".into(), ..Default::default() },
    );
    assert!(scratch_bytes(&image).iter().all(|&b| b == 0), "mkimage leaves the scratch area zero");
    let mut config = QemuConfig::new(&image);
    config.accel = Accel::Tcg;
    config.disk = disk;
    config.snapshot = false;
    let outcome = config.run(BOOT_TIMEOUT).expect("start QEMU");
    println!("--- COM1 (tcg on {}, writable) ---\n{}", disk.name(), outcome.serial);
    assert_contains_all(
        &outcome.serial,
        [
            format!("disk: boot disk is {driver} {location}, "),
            "(FLUD header at LBA 9 matches".to_string(),
            format!("disk: selftest on {driver}: LBA 0 ends in 0x55aa"),
            format!("disk: selftest wrote {SCRATCH_SECTORS} sectors at LBA "),
            "disk: selftest flush ok".to_string(),
            "disk: selftest read past the last sector refused: request past the end of the device".to_string(),
            "disk: selftest passed".to_string(),
        ],
    );
    let mib_s = outcome.metric(&format!("disk.read_mib_s.{driver}")).expect("read throughput metric");
    assert!(mib_s > 0.0, "read throughput must be positive: {mib_s}");
    assert_eq!(outcome.kernel_status, Some(0), "kernel exit status (QEMU {:?})", outcome.qemu_status);
    assert!(scratch_bytes(&image) == expected_scratch(), "the self-test's write is not on the host image file");
    outcome
}

#[test]
fn virtio_blk_is_the_boot_disk_and_writes_reach_the_image() {
    selftest_on(DiskInterface::Virtio, "virtio-blk", "0:4.0");
}

#[test]
fn ata_pio_is_the_boot_disk_on_ide_and_writes_reach_the_image() {
    selftest_on(DiskInterface::Ide, "ata-pio", "primary master");
}

#[test]
fn ahci_is_the_boot_disk_on_q35_and_writes_reach_the_image() {
    selftest_on(DiskInterface::Ahci, "ahci", "0:31.2 port 0");
}

#[test]
fn a_snapshot_boot_leaves_the_image_unchanged() {
    let image = build_image("blk-snapshot", &ImageSpec { cmdline: "bf.disk=selftest".into(), ..Default::default() });
    let outcome = boot(&image, Accel::Tcg, DiskInterface::Virtio, BOOT_TIMEOUT);
    assert_contains_all(&outcome.serial, ["disk: selftest passed"]);
    assert!(scratch_bytes(&image).iter().all(|&b| b == 0), "snapshot=on must not write the image");
}

#[test]
fn usb_boot_falls_back_to_bios_int13_and_writes_reach_the_image() {
    let outcome = selftest_on(DiskInterface::Usb, "bios-int13", "drive 0x80");
    assert_contains_all(&outcome.serial, ["disk: no driver found the boot disk; trying BIOS INT 13h on drive 0x80"]);
}

#[test]
fn usb_boot_without_the_bios_fallback_has_no_disk_and_the_kernel_carries_on() {
    let image = build_image("blk-usb", &ImageSpec { cmdline: "bf.disk=selftest,nobios".into(), ..Default::default() });
    let outcome = boot(&image, Accel::Tcg, DiskInterface::Usb, BOOT_TIMEOUT);
    assert_contains_all(
        &outcome.serial,
        ["disk: no boot disk found (BIOS drive 0x80", "running without a disk", "disk: selftest FAILED: no boot disk"],
    );
    assert!(!outcome.serial.contains("panicked"), "no panic");
    assert_eq!(outcome.kernel_status, Some(0), "the kernel runs on to main and exits 0");
}

#[test]
fn the_boot_disk_is_picked_among_several_by_its_flud_header() {
    let boot_image =
        build_image("blk-multi-boot", &ImageSpec { cmdline: "bf.disk=selftest".into(), ..Default::default() });
    // Another BareFlow image (other command line, so another FLUD header) and a blank disk.
    let other = build_image("blk-multi-other", &ImageSpec { cmdline: "something else".into(), ..Default::default() });
    let blank = other.with_file_name("blank.img");
    std::fs::write(&blank, vec![0u8; 1 << 20]).unwrap();
    let mut config = QemuConfig::new(&boot_image);
    config.accel = Accel::Tcg;
    config.disk = DiskInterface::Ide;
    config.extra_disks = vec![other, blank];
    let outcome = config.run(BOOT_TIMEOUT).expect("start QEMU");
    println!("--- COM1 (tcg on ide + two virtio disks) ---\n{}", outcome.serial);
    assert_contains_all(
        &outcome.serial,
        [
            ": another FLUD header at LBA 9, not the boot disk",
            ": no MBR boot signature, not the boot disk",
            "disk: boot disk is ata-pio primary master, ",
            "disk: selftest passed",
        ],
    );
    assert_eq!(outcome.kernel_status, Some(0));
}
