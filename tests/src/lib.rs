//! Helpers for the QEMU integration tests and `make bench`: locating the build
//! artifacts, building test images with `mkimage`, and reading an image's MBR.

pub mod layers;
pub mod plot;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

pub use runner::{Accel, DiskInterface, KvmStatus, Outcome, QemuConfig, kvm_status, workspace_root};

/// The artifacts `make disk` leaves, which every image is built from.
#[derive(Clone, Debug)]
pub struct Artifacts {
    /// `build/stage1.bin`.
    pub stage1: PathBuf,
    /// `build/stage2.bin`.
    pub stage2: PathBuf,
    /// `build/kernel.elf`.
    pub kernel: PathBuf,
    /// The `mkimage` binary.
    pub mkimage: PathBuf,
}

impl Artifacts {
    /// Finds the artifacts; panics with a hint when `make disk` has not run.
    pub fn locate() -> Self {
        let root = workspace_root();
        let a = Artifacts {
            stage1: root.join("build/stage1.bin"),
            stage2: root.join("build/stage2.bin"),
            kernel: root.join("build/kernel.elf"),
            mkimage: root.join("target/release/mkimage"),
        };
        for p in [&a.stage1, &a.stage2, &a.kernel, &a.mkimage] {
            assert!(
                p.exists(),
                "{} is missing: run the tests through `make test` (it builds the image first)",
                p.display()
            );
        }
        a
    }
}

/// Options of one test image.
#[derive(Clone, Debug, Default)]
pub struct ImageSpec {
    /// Kernel command line.
    pub cmdline: String,
    /// Size of the boot-test pattern module in MiB (0: none).
    pub pattern_mib: u32,
    /// Extra FLUD modules as (name, file), e.g. `("app", bitcode)` as `make disk APP=`.
    pub modules: Vec<(String, PathBuf)>,
    /// Offer the boot menu's countdown; `false` (the default) adds `bf.menu=off`, so
    /// test boots do not wait for a key.
    pub menu: bool,
}

static IMAGE_COUNTER: AtomicUsize = AtomicUsize::new(0);
static SWEEP: std::sync::Once = std::sync::Once::new();

/// A fresh directory for one test's files under `target/test-images`,
/// named `LABEL-PID-N`.
///
/// The first call in a process removes the directories of processes that are
/// no longer running, so the images of earlier runs (tens of MiB each) do not
/// pile up, while the files of a run stay readable until the next run starts.
pub fn scratch_dir(label: &str) -> PathBuf {
    let root = workspace_root().join("target/test-images");
    SWEEP.call_once(|| remove_dead_scratch_dirs(&root));
    let n = IMAGE_COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = root.join(format!("{}-{}-{}", label, std::process::id(), n));
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// The process id in a scratch directory's name `LABEL-PID-N`.
fn scratch_owner(name: &str) -> Option<u32> {
    let mut parts = name.rsplitn(3, '-');
    let _counter: usize = parts.next()?.parse().ok()?;
    parts.next()?.parse().ok()
}

/// Removes the scratch directories under `root` whose process has ended.
fn remove_dead_scratch_dirs(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(scratch_owner) else { continue };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            // Another run may be sweeping at the same time; a failure here only
            // leaves files behind.
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Builds an image with `mkimage` and returns its path.
pub fn build_image(label: &str, spec: &ImageSpec) -> PathBuf {
    let a = Artifacts::locate();
    let out = scratch_dir(label).join("bareflow.img");
    let mut cmd = Command::new(&a.mkimage);
    cmd.arg("build")
        .arg("--stage1")
        .arg(&a.stage1)
        .arg("--stage2")
        .arg(&a.stage2)
        .arg("--kernel")
        .arg(&a.kernel)
        .arg(format!(
            "--cmdline={}",
            if spec.menu { spec.cmdline.clone() } else { format!("{} bf.menu=off", spec.cmdline) }.trim()
        ))
        .arg("--output")
        .arg(&out);
    if spec.pattern_mib > 0 {
        cmd.arg("--pattern-mib").arg(spec.pattern_mib.to_string());
    }
    for (name, file) in &spec.modules {
        cmd.arg("--module").arg(format!("{name}={}", file.display()));
    }
    let result = cmd.output().expect("run mkimage");
    assert!(
        result.status.success(),
        "mkimage failed: {}\n{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    out
}

/// One MBR partition-table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionEntry {
    /// 0x80 for the active (boot) entry.
    pub status: u8,
    /// Partition type byte.
    pub kind: u8,
    /// First sector.
    pub first_lba: u32,
    /// Number of sectors.
    pub sectors: u32,
}

/// Reads the four partition-table entries of an MBR sector.
pub fn partition_table(mbr: &[u8]) -> [PartitionEntry; 4] {
    std::array::from_fn(|i| {
        let e = &mbr[446 + 16 * i..446 + 16 * (i + 1)];
        PartitionEntry {
            status: e[0],
            kind: e[4],
            first_lba: u32::from_le_bytes(e[8..12].try_into().unwrap()),
            sectors: u32::from_le_bytes(e[12..16].try_into().unwrap()),
        }
    })
}

/// Copies the FAT16 partition (entry 2) of `image` to its own file, for `fsck.fat`.
pub fn extract_fat_partition(image: &Path) -> PathBuf {
    let bytes = std::fs::read(image).expect("read image");
    let fat = partition_table(&bytes[..512])[1];
    let start = fat.first_lba as usize * 512;
    let end = start + fat.sectors as usize * 512;
    assert!(end <= bytes.len(), "FAT partition runs past the image end");
    let out = image.with_extension("fat16");
    std::fs::write(&out, &bytes[start..end]).expect("write partition");
    out
}

/// Copies `image` and lets `edit` change the bytes (for corruption tests).
pub fn corrupted_copy(image: &Path, label: &str, edit: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let mut bytes = std::fs::read(image).expect("read image");
    edit(&mut bytes);
    let out = scratch_dir(label).join("corrupt.img");
    std::fs::write(&out, bytes).expect("write corrupted image");
    out
}

/// How long a test waits for one QEMU boot to finish: a hang guard, not a speed check
/// (a boot that succeeds returns as soon as QEMU exits). Generous because TCG on a
/// loaded 2-core machine is slow: an IDE (PIO) load of the ~48 MB Debian-LLVM image
/// took over 90 s there (7 s when idle), and LLVM's start-up takes seconds.
pub const BOOT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Boots `image` once on `disk` under `accel`, waits up to `timeout` for the machine to
/// stop, and prints COM1 into the test log.
pub fn boot(image: &Path, accel: Accel, disk: DiskInterface, timeout: std::time::Duration) -> Outcome {
    boot_with_memory(image, accel, disk, timeout, QemuConfig::new(image).memory_mib)
}

/// [`boot`] with `memory_mib` MiB of guest RAM (QEMU's `-m`).
pub fn boot_with_memory(
    image: &Path,
    accel: Accel,
    disk: DiskInterface,
    timeout: std::time::Duration,
    memory_mib: u32,
) -> Outcome {
    let mut config = QemuConfig::new(image);
    config.accel = accel;
    config.disk = disk;
    config.memory_mib = memory_mib;
    let outcome = config.run(timeout).expect("start QEMU");
    println!("--- COM1 ({} on {}, {memory_mib} MiB) ---\n{}", accel.name(), disk.name(), outcome.serial);
    outcome
}

/// The guest RAM of the small-machine tests (issue 14): 64 MiB. The kernel image ends
/// at about 26 MiB with the minimal LLVM and 38 MiB with Debian's `llvm-22-dev` (the
/// AOT apps' statics are mapped only while they run), leaving 38 or 26 MiB for the
/// program.
pub const SMALL_MACHINE_MIB: u32 = 64;

/// Asserts that `text` (COM1 or a program's output) contains every needle; on failure
/// the message names the missing one and shows the whole text.
pub fn assert_contains_all<S: AsRef<str>>(text: &str, needles: impl IntoIterator<Item = S>) {
    for needle in needles {
        let needle = needle.as_ref();
        assert!(text.contains(needle), "output lacks {needle:?}:\n{text}");
    }
}

/// Runs `build/kernel.elf` as a Linux program with `args` and an empty environment;
/// returns its stdout and exit code (its stderr goes to this process's stderr).
pub fn run_kernel_natively(args: &[&str]) -> (String, Option<i32>) {
    let out = std::process::Command::new(Artifacts::locate().kernel)
        .args(args)
        .env_clear()
        .output()
        .expect("run build/kernel.elf");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code())
}

/// Every symbol `nm` lists for the ELF file at `path`, as (type letter, name): `U` for
/// one it needs, `T`/`t` for code it defines, and so on.
pub fn nm_symbols(path: &Path) -> Vec<(String, String)> {
    let nm = Command::new("nm").arg(path).output().expect("run nm");
    assert!(nm.status.success(), "nm {}: {}", path.display(), String::from_utf8_lossy(&nm.stderr));
    String::from_utf8_lossy(&nm.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace().rev();
            let name = f.next()?.to_string();
            Some((f.next()?.to_string(), name))
        })
        .collect()
}

/// Whether `build/kernel.elf` links the minimal LLVM (`scripts/build-llvm.sh`, with
/// `llvm-min/patches/`) rather than Debian's `llvm-22-dev`: its linker map
/// (`build/kernel.map`) names the archives it took.
pub fn kernel_links_minimal_llvm() -> bool {
    let map =
        std::fs::read_to_string(Artifacts::locate().kernel.with_file_name("kernel.map")).expect("build/kernel.map");
    map.contains("/llvm-min/")
}

/// Runs `mkimage ARGS…` and returns its stdout; panics with its stderr if it fails.
pub fn mkimage(args: &[&str]) -> Vec<u8> {
    let out = Command::new(Artifacts::locate().mkimage).args(args).output().expect("run mkimage");
    assert!(out.status.success(), "mkimage {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// `mkimage fs cat IMAGE PATH`: a file of the image's FAT16 partition.
pub fn fat_read(image: &Path, path: &str) -> Vec<u8> {
    mkimage(&["fs", "cat", &image.to_string_lossy(), path])
}

/// `mkimage fs put IMAGE PATH -`: writes (replaces) a file on the image's FAT16
/// partition.
pub fn fat_write(image: &Path, path: &str, bytes: &[u8]) {
    use std::io::Write;
    let mut child = Command::new(Artifacts::locate().mkimage)
        .args(["fs", "put"])
        .arg(image)
        .arg(path)
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run mkimage fs put");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "mkimage fs put {path}: {}", String::from_utf8_lossy(&out.stderr));
}

/// `fsck.fat -n` on the image's FAT16 partition: (exit status 0, output).
pub fn fsck_fat(image: &Path) -> (bool, String) {
    let part = extract_fat_partition(image);
    let out = Command::new("fsck.fat").arg("-n").arg(&part).output().expect("run fsck.fat");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// What `fsck.fat -n` complains about besides the dirty bit (which stays set after a
/// crash until fsck repairs the volume, docs/fs.md) and its summary lines.
pub fn fsck_complaints(output: &str) -> Vec<&str> {
    output
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("fsck.fat") && !l.contains("Leaving filesystem unchanged"))
        .filter(|l| !l.contains(" files, ") && !l.contains("Dirty bit") && !l.contains("removing dirty bit"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_owner_reads_the_pid_from_a_scratch_name() {
        assert_eq!(scratch_owner("pattern60-13220-8"), Some(13220));
        assert_eq!(scratch_owner("blk-multi-boot-77-0"), Some(77));
        assert_eq!(scratch_owner("notes"), None);
        assert_eq!(scratch_owner("fault-x-1"), None);
    }

    #[test]
    fn dead_scratch_dirs_are_swept_and_live_ones_kept() {
        let root = workspace_root().join("target/test-images-sweep-check");
        let _ = std::fs::remove_dir_all(&root);
        let live = root.join(format!("live-{}-0", std::process::id()));
        // PIDs are below 2^22 on Linux, so this one never runs.
        let dead = root.join("dead-4294967-0");
        let other = root.join("README");
        for dir in [&live, &dead, &other] {
            std::fs::create_dir_all(dir).unwrap();
        }
        remove_dead_scratch_dirs(&root);
        assert!(live.exists() && other.exists());
        assert!(!dead.exists());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
