//! End to end: builds an image from a real static ELF (tests/fixtures/tiny_kernel.S,
//! linked at 0x100000 with gcc), fake stage1/stage2 and two modules, then checks it with
//! the `info` decoder, the `mkimage info` command and `fsck.fat -n`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use boot_protocol::flud::{FludHeader, crc32};
use boot_protocol::{LOAD_ADDR, PAYLOAD_LBA, SECTOR_SIZE, pattern};
use mkimage::inspect::inspect_image;
use mkimage::kernel_elf::read_load_segments;
use mkimage::mbr::read_partition_table;

const MKIMAGE: &str = env!("CARGO_BIN_EXE_mkimage");

/// The test's inputs, made once per test in its own directory.
#[derive(Clone)]
struct Fixture {
    dir: PathBuf,
    stage1: PathBuf,
    stage2: PathBuf,
    kernel: PathBuf,
    module: PathBuf,
}

impl Fixture {
    fn new(label: &str) -> Self {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        // Earlier runs' directories of this test (their images are tens of MiB) go first.
        let prefix = format!("mkimage-{label}-");
        for entry in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let earlier_run =
                name.to_str().and_then(|n| n.strip_prefix(&prefix)).is_some_and(|pid| pid.parse::<u32>().is_ok());
            if earlier_run {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = tmp.join(format!("mkimage-{label}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let kernel = dir.join("tiny_kernel.elf");
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny_kernel.S");
        let gcc = Command::new("gcc")
            .args(["-nostdlib", "-static", "-no-pie", "-Wl,-Ttext-segment=0x100000", "-Wl,--build-id=none", "-o"])
            .arg(&kernel)
            .arg(&source)
            .output()
            .expect("gcc is needed to link the test kernel (it also links the real kernel)");
        assert!(gcc.status.success(), "gcc failed: {}", String::from_utf8_lossy(&gcc.stderr));

        let mut stage1 = vec![0u8; SECTOR_SIZE];
        stage1[..4].copy_from_slice(&[0xFA, 0x31, 0xC0, 0xF4]); // cli; xor ax, ax; hlt
        stage1[510..].copy_from_slice(&[0x55, 0xAA]);
        let mut stage2 = vec![0xEB, 0x04];
        stage2.extend_from_slice(b"BFS2");
        stage2.resize(3000, 0x90);
        let module: Vec<u8> = (0..5000u32).map(|i| (i * 7 + 3) as u8).collect();
        let fixture = Fixture {
            stage1: dir.join("stage1.bin"),
            stage2: dir.join("stage2.bin"),
            module: dir.join("app.bin"),
            kernel,
            dir,
        };
        std::fs::write(&fixture.stage1, stage1).unwrap();
        std::fs::write(&fixture.stage2, stage2).unwrap();
        std::fs::write(&fixture.module, module).unwrap();
        fixture
    }

    /// Runs `mkimage build` with the fixture's inputs plus `extra` arguments.
    fn build(&self, output: &Path, extra: &[&str]) -> Output {
        Command::new(MKIMAGE)
            .arg("build")
            .arg("--stage1")
            .arg(&self.stage1)
            .arg("--stage2")
            .arg(&self.stage2)
            .arg("--kernel")
            .arg(&self.kernel)
            .args(extra)
            .arg("--output")
            .arg(output)
            .output()
            .unwrap()
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn info(image: &Path) -> Output {
    Command::new(MKIMAGE).arg("info").arg(image).output().unwrap()
}

/// Runs `fsck.fat -n` on a copy of the FAT partition; returns false if fsck.fat is missing.
fn fsck_fat_partition(image: &Path, first_lba: u32, sectors: u32) -> bool {
    let bytes = std::fs::read(image).unwrap();
    let start = first_lba as usize * SECTOR_SIZE;
    let partition = image.with_extension("fat16");
    std::fs::write(&partition, &bytes[start..start + sectors as usize * SECTOR_SIZE]).unwrap();
    let Some(fsck) = ["fsck.fat", "/usr/sbin/fsck.fat", "/sbin/fsck.fat"]
        .into_iter()
        .find(|candidate| Command::new(candidate).arg("--help").output().is_ok())
    else {
        eprintln!("\n*** SKIPPING fsck.fat CHECK: fsck.fat not found (apt-get install dosfstools) ***\n");
        return false;
    };
    let result = Command::new(fsck).arg("-n").arg(&partition).output().unwrap();
    assert!(result.status.success(), "fsck.fat -n rejects the FAT partition:\n{}{}", stdout(&result), stderr(&result));
    true
}

#[test]
fn builds_a_valid_image_and_info_decodes_it() {
    let fx = Fixture::new("full");
    let image = fx.dir.join("bareflow.img");
    let app = format!("app={}", fx.module.display());
    let built = fx.build(&image, &["--cmdline", "bf.test=boot app.arg=1", "--pattern-mib", "1", "--module", &app]);
    assert!(built.status.success(), "mkimage build failed:\n{}", stderr(&built));
    let summary = stdout(&built);
    for metric in ["METRIC image.bytes ", "METRIC image.payload_bytes ", "METRIC kernel.image_bytes "] {
        assert!(
            summary.lines().any(|l| l.starts_with(metric) && l.ends_with(" bytes")),
            "{metric} missing:\n{summary}"
        );
    }

    // The decoder used by `mkimage info`.
    let report = inspect_image(&image).unwrap();
    assert!(report.is_ok(), "{report}");
    let header = &report.header;
    let elf = std::fs::read(&fx.kernel).unwrap();
    let (segments, entry) = read_load_segments(&elf).unwrap();
    let memory_end = segments.iter().map(|s| s.vaddr + s.mem_size).max().unwrap();
    assert_eq!(header.entry, entry);
    assert_eq!(header.load_addr, LOAD_ADDR);
    assert_eq!(header.kernel_size, memory_end - LOAD_ADDR);
    assert_eq!(header.cmdline(), "bf.test=boot app.arg=1");
    assert_eq!(header.module_count, 2);
    assert_eq!(report.payload_crc32, header.payload_crc32);

    // The payload itself: ELF headers at offset 0, the modules where the table says.
    let bytes = std::fs::read(&image).unwrap();
    let decoded = FludHeader::decode(&bytes[9 * SECTOR_SIZE..10 * SECTOR_SIZE]).unwrap();
    assert_eq!(&decoded, header);
    let payload_start = PAYLOAD_LBA as usize * SECTOR_SIZE;
    let payload = &bytes[payload_start..payload_start + header.payload_size as usize];
    assert_eq!(crc32(payload), header.payload_crc32);
    assert_eq!(&payload[..64], &elf[..64], "the ELF header must be at the load address");
    let pattern_module = header.module("pattern").unwrap();
    assert_eq!(pattern_module.offset, header.kernel_size.div_ceil(4096) * 4096);
    let mut expected_pattern = vec![0u8; 1 << 20];
    pattern::fill(&mut expected_pattern);
    let at = |m: &boot_protocol::flud::Module| &payload[m.offset as usize..(m.offset + m.size) as usize];
    assert!(at(pattern_module) == expected_pattern.as_slice(), "pattern module content");
    let app_module = header.module("app").unwrap();
    assert_eq!(app_module.offset % 4096, 0);
    assert!(app_module.offset >= pattern_module.offset + pattern_module.size);
    assert_eq!(at(app_module), std::fs::read(&fx.module).unwrap().as_slice());

    // The partition table.
    let table = read_partition_table(bytes[..SECTOR_SIZE].try_into().unwrap()).unwrap();
    assert_ne!(table.disk_signature, 0);
    let [(boot, _, _), (fat, _, _), (third, _, _), (fourth, _, _)] = table.entries;
    assert_eq!((boot.status, boot.kind, boot.first_lba), (0x80, 0xDA, 1));
    assert_eq!(boot.last_lba() + 1, u64::from(fat.first_lba));
    assert!(boot.last_lba() >= PAYLOAD_LBA + header.payload_size.div_ceil(512) - 1);
    assert_eq!((fat.status, fat.kind, fat.first_lba % 2048, fat.sectors), (0, 0x06, 0, 32 * 2048));
    assert_eq!(fat.last_lba() + 1, bytes.len() as u64 / 512, "the image ends where the FAT partition ends");
    assert!(third.is_empty() && fourth.is_empty());
    assert_eq!(&bytes[SECTOR_SIZE + 2..SECTOR_SIZE + 6], b"BFS2");
    let fat_summary = report.fat.as_ref().unwrap();
    assert_eq!(fat_summary.volume_label, "BAREFLOW");
    assert_eq!(fat_summary.hidden_sectors, fat.first_lba);

    // The command-line tool agrees, and so does fsck.fat.
    let shown = info(&image);
    assert!(shown.status.success(), "mkimage info failed:\n{}{}", stdout(&shown), stderr(&shown));
    assert!(stdout(&shown).contains("payload CRC32") && stdout(&shown).contains("image ok"), "{}", stdout(&shown));
    fsck_fat_partition(&image, fat.first_lba, fat.sectors);

    // Same inputs, same image.
    let again = fx.dir.join("again.img");
    assert!(
        fx.build(&again, &["--cmdline", "bf.test=boot app.arg=1", "--pattern-mib", "1", "--module", &app])
            .status
            .success()
    );
    assert!(std::fs::read(&again).unwrap() == bytes, "builds are not reproducible");
}

#[test]
fn kernel_without_modules_keeps_its_bss_out_of_the_payload() {
    let fx = Fixture::new("plain");
    let image = fx.dir.join("plain.img");
    let built = fx.build(&image, &["--fat-mib", "16"]);
    assert!(built.status.success(), "{}", stderr(&built));
    let report = inspect_image(&image).unwrap();
    assert!(report.is_ok(), "{report}");
    assert!(report.header.kernel_size > report.header.payload_size, "the fixture's BSS is not stored");
    let fat = report.partitions.entries[1].0;
    assert_eq!((fat.kind, fat.sectors), (0x04, 16 * 2048));
    fsck_fat_partition(&image, fat.first_lba, fat.sectors);
}

#[test]
fn info_rejects_corrupted_images() {
    let fx = Fixture::new("corrupt");
    let image = fx.dir.join("good.img");
    assert!(fx.build(&image, &[]).status.success());
    let good = std::fs::read(&image).unwrap();
    let corrupt = |label: &str, edit: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = good.clone();
        edit(&mut bytes);
        let path = fx.dir.join(format!("{label}.img"));
        std::fs::write(&path, bytes).unwrap();
        let shown = info(&path);
        assert!(!shown.status.success(), "{label}: mkimage info accepted a corrupted image");
        format!("{}{}", stdout(&shown), stderr(&shown))
    };
    let message = corrupt("payload", &|b| b[PAYLOAD_LBA as usize * SECTOR_SIZE + 100] ^= 0x40);
    assert!(message.contains("payload checksum mismatch"), "{message}");
    let message = corrupt("header", &|b| b[9 * SECTOR_SIZE + 0x101] ^= 1);
    assert!(message.contains("header checksum mismatch"), "{message}");
    let message = corrupt("magic", &|b| b[9 * SECTOR_SIZE] = b'X');
    assert!(message.contains("bad signature"), "{message}");
    let message = corrupt("mbr", &|b| b[510] = 0);
    assert!(message.contains("0x55 0xAA"), "{message}");
    let message = corrupt("stage2", &|b| b[SECTOR_SIZE + 2] = b'X');
    assert!(message.contains("BFS2"), "{message}");
    let message = corrupt("truncated", &|b| b.truncate(b.len() - 4096));
    assert!(message.contains("runs past the end"), "{message}");
}

#[test]
fn build_rejects_bad_inputs_with_clear_messages() {
    let fx = Fixture::new("reject");
    let out = fx.dir.join("never.img");
    let failure =
        |what: &str, stage1: Option<Vec<u8>>, stage2: Option<Vec<u8>>, kernel: Option<&Path>, expected: &str| {
            let mut f = fx.clone();
            if let Some(bytes) = stage1 {
                f.stage1 = fx.dir.join(format!("{what}.stage1"));
                std::fs::write(&f.stage1, bytes).unwrap();
            }
            if let Some(bytes) = stage2 {
                f.stage2 = fx.dir.join(format!("{what}.stage2"));
                std::fs::write(&f.stage2, bytes).unwrap();
            }
            if let Some(kernel) = kernel {
                f.kernel = kernel.to_path_buf();
            }
            let result = f.build(&out, &[]);
            assert!(!result.status.success(), "{what}: accepted");
            assert!(stderr(&result).contains(expected), "{what}: expected `{expected}` in:\n{}", stderr(&result));
            assert!(!out.exists(), "{what}: a failed build left an image behind");
        };
    let mut stage1_with_table = std::fs::read(&fx.stage1).unwrap();
    stage1_with_table[446] = 0x80;
    failure("stage1-table", Some(stage1_with_table), None, None, "byte 446 is not zero");
    failure("stage1-size", Some(vec![0; 1024]), None, None, "exactly 512");
    failure("stage2-size", None, Some(vec![0; 4097]), None, "4097 bytes");
    failure("kernel-not-elf", None, None, Some(&fx.stage2), "not an ELF");
}

#[test]
fn keep_fat_carries_the_partition_over_rebuilds() {
    let fx = Fixture::new("keep");
    let image = fx.dir.join("bareflow.img");
    let _ = std::fs::remove_file(&image);
    let line = |output: &Output| {
        assert!(output.status.success(), "{}", stderr(output));
        stdout(output).lines().find(|l| l.contains("FAT16 partition")).map(str::to_string)
    };
    let first = line(&fx.build(&image, &["--fat-mib", "8", "--keep-fat"])).unwrap();
    assert!(first.starts_with("mkimage: fresh FAT16 partition (") && first.contains("does not exist"), "{first}");
    let put = Command::new(MKIMAGE).args(["fs", "put"]).arg(&image).args(["/BOOT.LOG", "-"]).output().unwrap();
    assert!(put.status.success(), "{}", stderr(&put));
    let log = || Command::new(MKIMAGE).args(["fs", "ls"]).arg(&image).output().unwrap();
    assert!(stdout(&log()).contains("BOOT.LOG"));

    // Rebuilt with another command line: the partition and its file stay.
    let kept = line(&fx.build(&image, &["--fat-mib", "8", "--keep-fat", "--cmdline", "bf.other=1"])).unwrap();
    assert_eq!(kept, format!("mkimage: kept the FAT16 partition of {} (8 MiB)", image.display()));
    assert!(stdout(&log()).contains("BOOT.LOG"));
    let report = inspect_image(&image).unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.header.cmdline(), "bf.other=1");
    let fat = report.partitions.entries[1].0;
    fsck_fat_partition(&image, fat.first_lba, fat.sectors);

    // Without --keep-fat, or with another size, the partition starts empty.
    assert_eq!(line(&fx.build(&image, &["--fat-mib", "8"])), None);
    assert!(!stdout(&log()).contains("BOOT.LOG"));
    assert!(
        Command::new(MKIMAGE)
            .args(["fs", "put"])
            .arg(&image)
            .args(["/BOOT.LOG", "-"])
            .output()
            .unwrap()
            .status
            .success()
    );
    let resized = line(&fx.build(&image, &["--fat-mib", "16", "--keep-fat"])).unwrap();
    assert!(resized.contains("size differs") && resized.contains("is 8 MiB, the new one 16 MiB"), "{resized}");
    assert!(!stdout(&log()).contains("BOOT.LOG"));
}
