//! Boot-chain integration tests: the disk image's structure, booting it in QEMU on
//! virtio and IDE under KVM (when /dev/kvm opens) and TCG, a ≥ 60 MiB payload, and
//! every kind of bad input stage2 and the kernel must refuse or report.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use bareflow_tests::{
    Accel, Artifacts, BOOT_TIMEOUT, DiskInterface, ImageSpec, QemuConfig, assert_contains_all, boot, build_image,
    corrupted_copy, extract_fat_partition, partition_table,
};
use boot_protocol::flud::FludHeader;
use boot_protocol::{PAYLOAD_LBA, SECTOR_SIZE};

/// The image every plain boot test uses (no command-line options).
fn default_image() -> &'static PathBuf {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE.get_or_init(|| build_image("default", &ImageSpec::default()))
}

/// Everything a successful boot must show on COM1.
fn assert_full_boot(outcome: &bareflow_tests::Outcome) {
    let s = &outcome.serial;
    for needle in [
        "BareFlow stage2",
        "FLUD: header ok",
        "FLUD: payload checksum ok",
        "BareFlow kernel",
        "long mode: verified (EFER.LMA=1, CS=0x0008 L=1)",
        "memory map (",
        "usable",
        "memory: frame allocator self-check ok",
        "boot: machine layer ready",
    ] {
        assert!(s.contains(needle), "COM1 lacks {needle:?}:\n{s}\nstderr: {}", outcome.stderr);
    }
    let to_kernel = outcome.metric("boot.stage1_to_kernel_ms").expect("boot.stage1_to_kernel_ms");
    let load = outcome.metric("boot.load_mib_s").expect("boot.load_mib_s");
    assert!(to_kernel > 0.0 && load > 0.0, "boot figures must be positive: {to_kernel} ms, {load} MiB/s");
    assert!(outcome.metric("boot.payload_bytes").is_some_and(|b| b > 0.0));
    assert_eq!(outcome.kernel_status, Some(0), "kernel exit status (QEMU {:?})", outcome.qemu_status);
}

/// Boots `image` and checks it stops with `message` and stays halted, never reaching
/// the kernel.
fn assert_halts_with(image: &PathBuf, message: &str) {
    let mut config = QemuConfig::new(image);
    config.accel = Accel::Tcg; // start-up in 0.2 s; the check is the same under KVM
    let mut running = config.spawn().expect("start QEMU");
    let seen = running.wait_for(message, BOOT_TIMEOUT);
    // `message` may be the start of a line (e.g. "Disk read error at LBA" + the LBA):
    // let the rest of that line arrive before taking the snapshot.
    let line_complete = |serial: &str| serial.find(message).is_some_and(|at| serial[at..].contains('\n'));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while seen && !line_complete(&running.serial()) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Halted means: still running a second later, with nothing more printed.
    let before = running.serial();
    std::thread::sleep(Duration::from_secs(1));
    let still_running = running.is_running();
    let outcome = running.finish(None);
    println!("--- COM1 ---\n{}", outcome.serial);
    assert!(seen, "expected {message:?} on COM1, got:\n{}", outcome.serial);
    assert!(still_running, "stage2 must halt, not exit or reboot (QEMU {:?})", outcome.qemu_status);
    assert_eq!(before, outcome.serial, "nothing may run after the halt");
    assert!(!outcome.serial.contains("BareFlow kernel"), "the kernel must not be reached");
}

#[test]
fn stage1_and_stage2_sizes_and_partition_table() {
    let a = Artifacts::locate();
    let stage1 = std::fs::read(&a.stage1).unwrap();
    assert_eq!(stage1.len(), 512, "stage1 is one sector");
    assert_eq!(&stage1[510..], &[0x55, 0xAA]);
    let stage2 = std::fs::read(&a.stage2).unwrap();
    assert!(stage2.len() <= 4096, "stage2 is {} bytes, more than 4096", stage2.len());
    assert_eq!(&stage2[2..6], b"BFS2", "stage2 signature stage1 checks");

    let image = std::fs::read(default_image()).unwrap();
    assert_eq!(&image[..440], &stage1[..440], "stage1 code at LBA 0");
    assert_eq!(&image[510..512], &[0x55, 0xAA]);
    assert_eq!(&image[512..512 + stage2.len()], &stage2[..], "stage2 at LBA 1");
    let header = FludHeader::decode(&image[9 * SECTOR_SIZE..10 * SECTOR_SIZE]).expect("FLUD header at LBA 9");
    let payload_start = PAYLOAD_LBA as usize * SECTOR_SIZE;
    header.verify_payload(&image[payload_start..payload_start + header.payload_size as usize]).expect("payload CRC");

    let table = partition_table(&image[..512]);
    let (boot, fat) = (table[0], table[1]);
    assert_eq!(boot.status, 0x80, "entry 1 is active");
    assert_eq!(boot.first_lba, 1, "entry 1 starts at stage2");
    let payload_end_lba = PAYLOAD_LBA as u32 + (header.payload_size as u32).div_ceil(512);
    assert!(boot.first_lba + boot.sectors >= payload_end_lba, "entry 1 covers the payload");
    assert!(fat.kind == 0x06 || fat.kind == 0x04, "entry 2 is FAT16, got {:#x}", fat.kind);
    assert_eq!(fat.status, 0, "only one active entry");
    assert_eq!(fat.first_lba % 2048, 0, "FAT16 partition is 1 MiB aligned");
    assert!(fat.first_lba >= boot.first_lba + boot.sectors, "partitions do not overlap");
    assert_eq!((fat.first_lba as usize + fat.sectors as usize) * 512, image.len(), "image ends with the partition");
    assert_eq!(table[2].kind, 0);
    assert_eq!(table[3].kind, 0);
}

#[test]
fn fat16_partition_passes_fsck() {
    let part = extract_fat_partition(default_image());
    let out = std::process::Command::new("fsck.fat").arg("-n").arg(&part).output().expect("run fsck.fat (dosfstools)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{text}");
    assert!(out.status.success(), "fsck.fat -n failed:\n{text}");
    let boot_sector = std::fs::read(&part).unwrap();
    assert_eq!(&boot_sector[54..62], b"FAT16   ", "file-system type in the boot sector");
}

#[test]
fn boots_on_virtio_under_every_accelerator() {
    for accel in Accel::available() {
        assert_full_boot(&boot(default_image(), accel, DiskInterface::Virtio, BOOT_TIMEOUT));
    }
}

#[test]
fn boots_on_ide_under_every_accelerator() {
    for accel in Accel::available() {
        assert_full_boot(&boot(default_image(), accel, DiskInterface::Ide, BOOT_TIMEOUT));
    }
}

#[test]
fn sixty_mib_payload_boots_and_the_kernel_verifies_the_pattern() {
    let image = build_image("pattern60", &ImageSpec { pattern_mib: 60, ..Default::default() });
    let bytes = std::fs::read(&image).unwrap();
    let header = FludHeader::decode(&bytes[9 * SECTOR_SIZE..10 * SECTOR_SIZE]).unwrap();
    assert!(header.payload_size >= 60 << 20, "payload is {} bytes", header.payload_size);
    let outcome = boot(&image, Accel::best(), DiskInterface::Virtio, BOOT_TIMEOUT);
    assert_full_boot(&outcome);
    assert!(
        outcome.serial.contains("pattern: 62914560 bytes (60 MiB) verified in memory"),
        "the kernel must confirm the pattern:\n{}",
        outcome.serial
    );
}

#[test]
fn flipped_payload_byte_is_a_checksum_mismatch() {
    let image = corrupted_copy(default_image(), "flipped", |b| {
        let header = FludHeader::decode(&b[9 * 512..10 * 512]).unwrap();
        let middle = PAYLOAD_LBA as usize * 512 + header.payload_size as usize / 2;
        b[middle] ^= 0x01;
    });
    assert_halts_with(&image, "FLUD: payload checksum mismatch");
}

#[test]
fn wrong_magic_is_a_signature_error() {
    let image = corrupted_copy(default_image(), "magic", |b| b[9 * 512] = b'X');
    assert_halts_with(&image, "FLUD: bad signature");
}

#[test]
fn corrupted_header_field_is_a_header_checksum_error() {
    // Change the command line without fixing the header CRC.
    let image = corrupted_copy(default_image(), "hdrcrc", |b| b[9 * 512 + 0x100] = b'Z');
    assert_halts_with(&image, "FLUD: header checksum mismatch");
}

#[test]
fn truncated_image_is_a_read_error() {
    let image = corrupted_copy(default_image(), "truncated", |b| {
        let header = FludHeader::decode(&b[9 * 512..10 * 512]).unwrap();
        let keep = PAYLOAD_LBA as usize * 512 + ((header.payload_size as usize / 2) & !511);
        b.truncate(keep);
    });
    assert_halts_with(&image, "Disk read error at LBA");
}

fn assert_fault_report(kind: &str, mnemonic_and_vector: &str, extra: &[&str]) {
    let image =
        build_image(&format!("fault-{kind}"), &ImageSpec { cmdline: format!("bf.fault={kind}"), ..Default::default() });
    let outcome = boot(&image, Accel::Tcg, DiskInterface::Virtio, BOOT_TIMEOUT);
    let s = &outcome.serial;
    assert!(s.contains(mnemonic_and_vector), "expected {mnemonic_and_vector:?}:\n{s}");
    assert!(
        s.contains("RIP=0x") && s.contains("CR2=0x") && s.contains("error code="),
        "vector, RIP, error code, CR2:\n{s}"
    );
    assert_contains_all(s, extra);
    assert!(s.contains("kernel halted"));
    assert!(!s.contains("boot: machine layer ready"), "nothing runs after the fault");
    assert_eq!(outcome.kernel_status, Some(0x7f), "fatal status through isa-debug-exit");
}

#[test]
fn deliberate_page_fault_reports_vector_rip_and_cr2() {
    assert_fault_report(
        "page",
        "EXCEPTION #PF page fault (vector 14)",
        &["CR2=0x00000040deadb000", "page fault: read on a non-present page, kernel mode"],
    );
}

#[test]
fn other_exceptions_are_reported() {
    assert_fault_report("ud", "EXCEPTION #UD invalid opcode (vector 6)", &[]);
    assert_fault_report("div", "EXCEPTION #DE divide error (vector 0)", &[]);
    assert_fault_report("gp", "EXCEPTION #GP general protection fault (vector 13)", &[]);
}

#[test]
fn polled_keyboard_reads_keys() {
    let image = build_image("keyboard", &ImageSpec { cmdline: "bf.keyboard=echo".into(), ..Default::default() });
    let mut config = QemuConfig::new(&image);
    config.accel = Accel::Tcg;
    let socket = image.with_extension("monitor");
    config.monitor_socket = Some(socket);
    let mut running = config.spawn().expect("start QEMU");
    assert!(running.wait_for("keyboard: echoing keys until Enter", BOOT_TIMEOUT), "{}", running.serial());
    running.send_keys(&["b", "f", "shift-x", "1", "ret"]).expect("sendkey through the monitor");
    assert!(running.wait_for("keyboard: read \"bfX1\"", Duration::from_secs(120)), "{}", running.serial());
    let status = running.wait_exit(Duration::from_secs(120));
    let outcome = running.finish(status);
    assert_eq!(outcome.kernel_status, Some(0));
}
