//! Snapshots of the tiered engine's work (docs/persistence.md): after the engine has
//! run an app, its functions' tiers, profile and native code go to a new file of the
//! app's lineage on the FAT16 partition (`/SNAPSHOT/<app>/B<boot>.SNP`); at the next
//! load the newest file that validates against this boot's [`Key`] is linked instead of
//! compiled.
//!
//! The format, the key, the lineage names and the retention rule are the `bf-snapshot`
//! crate's (shared with `mkimage snapshot`); this module does the file work through
//! `std::fs` and reports every decision in one line: `snapshot: fib: loaded …`,
//! `snapshot: fib: rejected: cpu features differ (avx2 missing) […]`,
//! `snapshot: fib: wrote …`, `snapshot: fib: not written: … ; … kept`.
//!
//! Where snapshots go: on bare metal `/SNAPSHOT` on the boot disk's FAT16 partition
//! (when it is mounted), with `bf.snapshot=off|reset|slow` on the kernel command line;
//! as a Linux program, only with `--snapshot-dir=DIR` (and `--snapshot=off|reset|slow`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use std::time::{Duration, Instant};

use bf_snapshot::lineage::{self, FileKind};
use bf_snapshot::{Key, Snapshot, bitcode_hash};
use bf_tiers::{Producer, TIERS};

use super::tiered::TieredApp;

/// What `bf.snapshot=` (or `--snapshot=`) asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Load the newest valid snapshot, write a new one after each tiered run (default).
    On,
    /// Neither load nor write.
    Off,
    /// Set the existing snapshots aside (renamed `.BAD`), then as [`Mode::On`].
    Reset,
    /// As [`Mode::On`], but write in 4 KiB pieces with a line and a pause after each:
    /// lets the power-cut test kill the machine in the middle of a write.
    Slow,
}

impl Mode {
    /// The mode an option value names (`""` is the default, [`Mode::On`]).
    pub fn parse(value: &str) -> Option<Mode> {
        match value {
            "" | "on" => Some(Mode::On),
            "off" => Some(Mode::Off),
            "reset" => Some(Mode::Reset),
            "slow" => Some(Mode::Slow),
            _ => None,
        }
    }
}

/// Where snapshots live and what to do with them.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The directory of all lineages (`/SNAPSHOT`); `None`: no snapshots.
    pub root: Option<PathBuf>,
    /// What to do.
    pub mode: Mode,
}

static SETTINGS: Mutex<Settings> = Mutex::new(Settings { root: None, mode: Mode::Off });

/// This boot's snapshot figures summed over every app.
struct Totals {
    write_us: AtomicU64,
    bytes: AtomicU64,
    load_us: AtomicU64,
    functions_loaded: AtomicU64,
}

static TOTALS: Totals = Totals {
    write_us: AtomicU64::new(0),
    bytes: AtomicU64::new(0),
    load_us: AtomicU64::new(0),
    functions_loaded: AtomicU64::new(0),
};

/// Records that app `app` was loaded warm in `ms` (reading, checking and linking its
/// snapshot) with `functions` functions in a compiled tier: its METRIC lines.
pub fn record_load(app: &str, ms: f64, functions: usize) {
    println!("METRIC app.{app}.snapshot_load_ms {ms:.2} ms");
    println!("METRIC app.{app}.snapshot_functions {functions} functions");
    TOTALS.load_us.fetch_add((ms * 1e3) as u64, Ordering::Relaxed);
    TOTALS.functions_loaded.fetch_add(functions as u64, Ordering::Relaxed);
}

/// Prints this boot's snapshot totals (`snapshot.write_ms`, `snapshot.bytes`,
/// `snapshot.load_ms`, `snapshot.functions_loaded`), if snapshots are on.
pub fn print_totals() {
    if SETTINGS.lock().unwrap().root.is_none() {
        return;
    }
    let t = |total: &AtomicU64| total.load(Ordering::Relaxed);
    println!("METRIC snapshot.write_ms {:.1} ms", t(&TOTALS.write_us) as f64 / 1e3);
    println!("METRIC snapshot.bytes {} bytes", t(&TOTALS.bytes));
    println!("METRIC snapshot.load_ms {:.1} ms", t(&TOTALS.load_us) as f64 / 1e3);
    println!("METRIC snapshot.functions_loaded {} functions", t(&TOTALS.functions_loaded));
}

/// Sets where snapshots live for the rest of the program (the program's `main` does,
/// once it knows whether a file system is mounted).
pub fn configure(settings: Settings) {
    if let Some(root) = &settings.root {
        println!("snapshot: lineages in {} ({:?})", root.display(), settings.mode);
    }
    *SETTINGS.lock().unwrap() = settings;
}

/// The tier table as the key records it: `name=how` per row (`t0=interp;t1=always-inline;…`).
fn tiers_key() -> String {
    TIERS
        .rows()
        .iter()
        .map(|t| match t.producer {
            Producer::Interpreted => format!("{}=interp", t.name),
            Producer::Compiled(opt) => format!("{}={}", t.name, opt.pipeline()),
            Producer::HostTuned(opt) => format!("{}=host:{}", t.name, opt.pipeline()),
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// This boot's key for an app: the kernel build, LLVM, the app and its bitcode, the
/// tier table, and the CPU and features the engine compiles for.
pub fn key(app: &str, bitcode: &[u8]) -> Key {
    let (cpu, cpu_features) = super::host_target().clone();
    Key {
        kernel_build_id: crate::boot::build_id().to_vec(),
        llvm_version: bf_llvm::llvm_version(),
        app: app.to_string(),
        bitcode_sha256: bitcode_hash(bitcode),
        tiers: tiers_key(),
        cpu,
        cpu_features,
    }
}

/// One app's lineage: its directory and this boot's key.
pub struct Lineage {
    app: String,
    dir: PathBuf,
    key: Key,
    mode: Mode,
    /// The file this boot loaded, if any.
    loaded: Option<PathBuf>,
}

/// The names of the files in `dir` (none if it does not exist).
fn file_names(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    entries.filter_map(|e| e.ok()).filter_map(|e| e.file_name().into_string().ok()).collect()
}

impl Lineage {
    /// The lineage of app `app` (an external app — `external` — is named after its
    /// bitcode), or `None` when snapshots are off or have no place.
    pub fn open(app: &str, bitcode: &[u8], external: bool) -> Option<Lineage> {
        let settings = SETTINGS.lock().unwrap().clone();
        let root = settings.root?;
        if settings.mode == Mode::Off {
            println!("snapshot: {app}: off");
            return None;
        }
        let key = key(app, bitcode);
        let dir = root.join(lineage::app_directory(app, &key.bitcode_sha256, external));
        let this = Lineage { app: app.to_string(), dir, key, mode: settings.mode, loaded: None };
        if settings.mode == Mode::Reset {
            this.reset();
        }
        Some(this)
    }

    /// `bf.snapshot=reset`: every snapshot of the lineage renamed `.BAD` (set aside,
    /// not deleted).
    fn reset(&self) {
        for name in file_names(&self.dir) {
            if let Some((boot, FileKind::Snapshot)) = lineage::parse_file_name(&name) {
                self.set_aside(boot, "bf.snapshot=reset");
            }
        }
    }

    /// Renames boot `boot`'s snapshot to its `.BAD` name and says so.
    fn set_aside(&self, boot: u32, why: &str) {
        let (from, to) = (self.dir.join(lineage::file_name(boot)), self.dir.join(lineage::set_aside_name(boot)));
        match fs::rename(&from, &to) {
            Ok(()) => println!("snapshot: {}: set aside {} as {} ({why})", self.app, from.display(), to.display()),
            Err(e) => println!("snapshot: {}: cannot set aside {}: {e}", self.app, from.display()),
        }
    }

    /// The newest snapshot of the lineage that validates against this boot's key.
    /// Damaged files on the way are set aside; files made for another kernel, app or
    /// CPU are left in place. Each rejection is one line naming the field.
    pub fn load(&mut self) -> Option<Snapshot> {
        let started = Instant::now();
        let names = file_names(&self.dir);
        for boot in lineage::candidates(names.iter().map(String::as_str)) {
            let path = self.dir.join(lineage::file_name(boot));
            let bytes = match fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) => {
                    println!("snapshot: {}: cannot read {}: {e}", self.app, path.display());
                    continue;
                }
            };
            match Snapshot::validate(&bytes, &self.key) {
                Ok(snapshot) => {
                    println!(
                        "snapshot: {}: loaded {} (boot {}, {} functions, {} bytes of code, {:.1} ms to read and check)",
                        self.app,
                        path.display(),
                        snapshot.boot,
                        snapshot.functions.len(),
                        snapshot.code_bytes(),
                        started.elapsed().as_secs_f64() * 1e3
                    );
                    self.loaded = Some(path);
                    return Some(snapshot);
                }
                Err(rejection) => {
                    let what = if rejection.is_damage() { "set aside" } else { "left in place" };
                    println!("snapshot: {}: rejected: {rejection} [{}, {what}]", self.app, path.display());
                    if rejection.is_damage() {
                        self.set_aside(boot, "damaged");
                    }
                }
            }
        }
        println!("snapshot: {}: no usable snapshot in {}: starting cold", self.app, self.dir.display());
        None
    }

    /// Writes the engine's work on `app` as the lineage's next snapshot: a new file,
    /// synced, read back and validated; then the older files the retention rule does
    /// not keep are removed. A failure (a full partition) removes the partial new file
    /// and leaves every earlier one as it was. Returns the bytes written (0: none).
    pub fn save(&self, app: &TieredApp) -> usize {
        let started = Instant::now();
        let names = file_names(&self.dir);
        let boot = lineage::next_boot(names.iter().map(String::as_str));
        let earlier = lineage::candidates(names.iter().map(String::as_str));
        let Some(snapshot) = app.snapshot(self.key.clone(), boot) else { return 0 };
        let bytes = snapshot.encode();
        let path = self.dir.join(lineage::file_name(boot));
        if let Err(e) = self.write(&path, &bytes) {
            let _ = fs::remove_file(&path);
            let previous =
                self.loaded.clone().or_else(|| earlier.first().map(|&b| self.dir.join(lineage::file_name(b))));
            let kept = previous.map_or("no earlier snapshot".to_string(), |p| format!("{} kept", p.display()));
            println!("snapshot: {}: not written ({} bytes): {e}; {kept}", self.app, bytes.len());
            return 0;
        }
        // Read back: only a snapshot that validates may replace the older ones.
        match fs::read(&path).map(|b| Snapshot::validate(&b, &self.key)) {
            Ok(Ok(_)) => {}
            Ok(Err(rejection)) => {
                println!("snapshot: {}: {} does not read back: {rejection}", self.app, path.display());
                self.set_aside(boot, "damaged on write");
                return 0;
            }
            Err(e) => {
                println!("snapshot: {}: cannot read back {}: {e}", self.app, path.display());
                return 0;
            }
        }
        let ms = started.elapsed().as_secs_f64() * 1e3;
        let mut boots = earlier;
        boots.push(boot);
        let mut removed = Vec::new();
        for old in lineage::to_delete(&boots, boot) {
            let name = lineage::file_name(old);
            match fs::remove_file(self.dir.join(&name)) {
                Ok(()) => removed.push(name),
                Err(e) => println!("snapshot: {}: cannot remove {name}: {e}", self.app),
            }
        }
        let functions = snapshot.compiled_functions();
        println!(
            "snapshot: {}: wrote {} (boot {boot}, {} bytes, {functions} of {} functions compiled, profile of {} boots, {ms:.1} ms){}",
            self.app,
            path.display(),
            bytes.len(),
            snapshot.functions.len(),
            snapshot.profiled_boots,
            if removed.is_empty() { String::new() } else { format!("; removed {}", removed.join(" ")) }
        );
        println!("METRIC app.{}.snapshot_write_ms {ms:.1} ms", self.app);
        println!("METRIC app.{}.snapshot_bytes {} bytes", self.app, bytes.len());
        TOTALS.write_us.fetch_add((ms * 1e3) as u64, Ordering::Relaxed);
        TOTALS.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        bytes.len()
    }

    /// Creates `path` with `bytes` and syncs it (in [`Mode::Slow`], 4 KiB at a time
    /// with a line and a pause after each).
    fn write(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let mut file = fs::File::create(path)?;
        if self.mode == Mode::Slow {
            let mut done = 0;
            for chunk in bytes.chunks(4096) {
                file.write_all(chunk)?;
                file.sync_data()?;
                done += chunk.len();
                println!("snapshot: {}: writing {} ({done} of {} bytes)", self.app, path.display(), bytes.len());
                std::thread::sleep(Duration::from_millis(200));
            }
        } else {
            file.write_all(bytes)?;
        }
        file.sync_all()
    }
}
