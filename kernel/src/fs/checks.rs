//! Program-side checks of the file system through `std::fs` only (`--fs-selftest`), and
//! the boot counter. This is ordinary Rust std code: on bare metal every call below
//! reaches the kernel as a Linux syscall; started as a Linux program it runs against a
//! temporary directory of the host (without the fill-the-disk check).

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The boot log: one line per boot, `boot <n> <ms> ms`.
pub const BOOT_LOG: &str = "/BOOT.LOG";

/// Counts this boot: reads `/BOOT.LOG`, appends `boot <n> <boot_ms> ms` and fsyncs it.
/// Returns the boot number (1 on a fresh disk).
pub fn count_boot(boot_ms: f64) -> std::io::Result<u64> {
    let log = match fs::read_to_string(BOOT_LOG) {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let n = log.lines().filter(|l| l.starts_with("boot ")).count() as u64 + 1;
    let mut f = OpenOptions::new().create(true).append(true).open(BOOT_LOG)?;
    // A line cut short by a power failure is closed first, so this one stands alone.
    let sep = if log.is_empty() || log.ends_with('\n') { "" } else { "\n" };
    writeln!(f, "{sep}boot {n} {boot_ms:.1} ms")?;
    f.sync_all()?;
    Ok(n)
}

struct Checks {
    passed: usize,
    failed: usize,
}

impl Checks {
    fn check(&mut self, name: &str, result: Result<String, String>) {
        match result {
            Ok(detail) => {
                self.passed += 1;
                println!(
                    "fs-selftest: {name}: ok{}",
                    if detail.is_empty() { String::new() } else { format!(" ({detail})") }
                );
            }
            Err(why) => {
                self.failed += 1;
                println!("fs-selftest: {name}: FAILED: {why}");
            }
        }
    }
}

fn e(err: std::io::Error) -> String {
    format!("{err} (kind {:?})", err.kind())
}

fn expect_kind<T: std::fmt::Debug>(r: std::io::Result<T>, kind: ErrorKind) -> Result<String, String> {
    match r {
        Err(err) if err.kind() == kind => Ok(format!("{kind:?}, os error {}", err.raw_os_error().unwrap_or(0))),
        Err(err) => Err(format!("expected {kind:?}, got {}", e(err))),
        Ok(v) => Err(format!("expected {kind:?}, got Ok({v:?})")),
    }
}

/// Runs every check under `root` (`/` on bare metal); `fill` also fills the disk to
/// ENOSPC. Prints one line per check and the benchmark figures; returns whether all
/// passed.
pub fn run(root: &Path, fill: bool) -> bool {
    let mut c = Checks { passed: 0, failed: 0 };
    let dir = root.join("selftest");
    let _ = fs::remove_dir_all(&dir);
    let p = |s: &str| -> PathBuf { dir.join(s) };

    c.check(
        "create_dir_all",
        fs::create_dir_all(p("a/b/c")).map_err(e).and_then(|()| {
            fs::create_dir_all(p("a/b")).map_err(e)?; // exists: still Ok
            if fs::metadata(p("a/b/c")).map_err(e)?.is_dir() { Ok(String::new()) } else { Err("not a dir".into()) }
        }),
    );
    let text = "Hello from BareFlow's FAT16!\n".repeat(100);
    c.check("write", fs::write(p("hello.txt"), &text).map_err(e).map(|()| format!("{} bytes", text.len())));
    c.check(
        "read back",
        fs::read_to_string(p("hello.txt"))
            .map_err(e)
            .and_then(|s| if s == text { Ok(String::new()) } else { Err(format!("{} bytes differ", s.len())) }),
    );
    c.check(
        "append",
        (|| {
            let mut f = OpenOptions::new().append(true).open(p("hello.txt")).map_err(e)?;
            f.write_all(b"appended\n").map_err(e)?;
            drop(f);
            let s = fs::read_to_string(p("hello.txt")).map_err(e)?;
            if s == format!("{text}appended\n") { Ok(String::new()) } else { Err(format!("got {} bytes", s.len())) }
        })(),
    );
    c.check(
        "seek and partial read",
        (|| {
            let mut f = File::open(p("hello.txt")).map_err(e)?;
            f.seek(SeekFrom::End(-9)).map_err(e)?;
            let mut tail = [0u8; 8];
            f.read_exact(&mut tail).map_err(e)?;
            if &tail == b"appended" { Ok(String::new()) } else { Err(format!("{tail:?}")) }
        })(),
    );
    c.check(
        "metadata",
        fs::metadata(p("hello.txt")).map_err(e).and_then(|m| {
            let want = text.len() as u64 + 9;
            if m.is_file() && m.len() == want { Ok(format!("{} bytes", m.len())) } else { Err(format!("{m:?}")) }
        }),
    );
    c.check(
        "rename",
        (|| {
            fs::rename(p("hello.txt"), p("a/renamed.txt")).map_err(e)?;
            expect_kind(fs::metadata(p("hello.txt")), ErrorKind::NotFound)?;
            fs::write(p("other.txt"), "other").map_err(e)?;
            fs::rename(p("other.txt"), p("a/renamed.txt")).map_err(e)?; // replaces
            let s = fs::read_to_string(p("a/renamed.txt")).map_err(e)?;
            if s == "other" { Ok("replaces the target too".into()) } else { Err(s) }
        })(),
    );
    c.check(
        "read_dir",
        (|| {
            fs::write(p("a/b/one"), "1").map_err(e)?;
            fs::write(p("a/b/two"), "2").map_err(e)?;
            let mut names: Vec<String> = fs::read_dir(p("a/b"))
                .map_err(e)?
                .map(|d| d.map(|d| d.file_name().to_string_lossy().into_owned()))
                .collect::<Result<_, _>>()
                .map_err(e)?;
            names.sort();
            if names == ["c", "one", "two"] { Ok(names.join(",")) } else { Err(format!("{names:?}")) }
        })(),
    );
    c.check(
        "canonicalize",
        fs::canonicalize(p("a/b/../b/./one")).map_err(e).and_then(|c| {
            if c == p("a/b/one") { Ok(c.display().to_string()) } else { Err(format!("{}", c.display())) }
        }),
    );
    c.check("missing file is NotFound", expect_kind(fs::read(p("no/such/file")), ErrorKind::NotFound));
    c.check(
        "create_new on an existing file is AlreadyExists",
        expect_kind(OpenOptions::new().write(true).create_new(true).open(p("a/b/one")), ErrorKind::AlreadyExists),
    );
    c.check(
        "remove_dir of a non-empty directory fails",
        expect_kind(fs::remove_dir(p("a/b")), ErrorKind::DirectoryNotEmpty),
    );
    c.check(
        "set_len",
        (|| {
            let f = OpenOptions::new().write(true).open(p("a/renamed.txt")).map_err(e)?;
            f.set_len(2).map_err(e)?;
            drop(f);
            let s = fs::read_to_string(p("a/renamed.txt")).map_err(e)?;
            if s == "ot" { Ok(String::new()) } else { Err(s) }
        })(),
    );
    c.check(
        "remove_file and remove_dir",
        (|| {
            fs::remove_file(p("a/b/one")).map_err(e)?;
            fs::remove_file(p("a/b/two")).map_err(e)?;
            fs::remove_dir(p("a/b/c")).map_err(e)?;
            fs::remove_dir(p("a/b")).map_err(e)?;
            expect_kind(fs::remove_file(p("a/b/one")), ErrorKind::NotFound)?;
            expect_kind(fs::metadata(p("a/b")), ErrorKind::NotFound)?;
            Ok(String::new())
        })(),
    );
    c.check("benchmark", bench(&p("bench.bin")));
    if fill {
        c.check("full disk is StorageFull, earlier files intact", fill_disk(&dir));
    }
    c.check("remove_dir_all", fs::remove_dir_all(&dir).map_err(e).map(|()| String::new()));
    println!("fs-selftest: {} of {} checks passed", c.passed, c.passed + c.failed);
    c.failed == 0
}

/// 16 MiB written in 1 MiB writes, fsynced, read back and compared; then 16 small
/// appends each followed by an fsync. Prints `fs.write_mib_s`, `fs.read_mib_s`,
/// `fs.fsync_ms`.
fn bench(path: &Path) -> Result<String, String> {
    const MIB: usize = 1 << 20;
    const TOTAL_MIB: usize = 16;
    let block: Vec<u8> = (0..MIB).map(|i| (i % 251) as u8).collect();
    let t = Instant::now();
    let mut f = File::create(path).map_err(e)?;
    for _ in 0..TOTAL_MIB {
        f.write_all(&block).map_err(e)?;
    }
    f.sync_all().map_err(e)?;
    drop(f);
    let write_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut f = File::open(path).map_err(e)?;
    let mut buf = vec![0u8; MIB];
    for i in 0..TOTAL_MIB {
        f.read_exact(&mut buf).map_err(e)?;
        if buf != block {
            return Err(format!("MiB {i} reads back wrong"));
        }
    }
    let read_s = t.elapsed().as_secs_f64();
    drop(f);
    let mut f = OpenOptions::new().append(true).open(path).map_err(e)?;
    let rounds = 16;
    let t = Instant::now();
    for i in 0..rounds {
        writeln!(f, "record {i}").map_err(e)?;
        f.sync_all().map_err(e)?;
    }
    let fsync_ms = t.elapsed().as_secs_f64() * 1000.0 / rounds as f64;
    drop(f);
    fs::remove_file(path).map_err(e)?;
    println!("METRIC fs.write_mib_s {:.1} MiB/s", TOTAL_MIB as f64 / write_s);
    println!("METRIC fs.read_mib_s {:.1} MiB/s", TOTAL_MIB as f64 / read_s);
    println!("METRIC fs.fsync_ms {:.2} ms", fsync_ms);
    Ok(format!("{TOTAL_MIB} MiB written in {:.0} ms, read in {:.0} ms", write_s * 1e3, read_s * 1e3))
}

/// Fills the disk with one file until a write fails; the failure must be StorageFull
/// (ENOSPC), a file written before must read back intact, and deleting the big file
/// must give the space back.
fn fill_disk(dir: &Path) -> Result<String, String> {
    let keep: Vec<u8> = (0..100_000u32).map(|i| (i * 13 + 7) as u8).collect();
    fs::write(dir.join("keep.bin"), &keep).map_err(e)?;
    let chunk = vec![0xC3u8; 256 * 1024];
    let mut f = File::create(dir.join("fill.bin")).map_err(e)?;
    let mut written = 0u64;
    let err = loop {
        match f.write(&chunk) {
            Ok(0) => break std::io::Error::from(ErrorKind::WriteZero),
            Ok(n) => written += n as u64,
            Err(err) => break err,
        }
        if written > 4 << 30 {
            return Err("the disk never filled".into());
        }
    };
    drop(f);
    if err.kind() != ErrorKind::StorageFull {
        return Err(format!("after {written} bytes: expected StorageFull, got {}", e(err)));
    }
    if fs::read(dir.join("keep.bin")).map_err(e)? != keep {
        return Err("keep.bin changed".into());
    }
    let len = fs::metadata(dir.join("fill.bin")).map_err(e)?.len();
    if len != written {
        return Err(format!("fill.bin is {len} bytes, {written} were written"));
    }
    fs::remove_file(dir.join("fill.bin")).map_err(e)?;
    fs::write(dir.join("after.bin"), &chunk).map_err(e)?;
    fs::remove_file(dir.join("after.bin")).map_err(e)?;
    fs::remove_file(dir.join("keep.bin")).map_err(e)?;
    Ok(format!("{} KiB fit, then {} (os error {})", written >> 10, err.kind(), err.raw_os_error().unwrap_or(0)))
}

/// The file `--fs-big-write` writes completely (and fsyncs) before the big one.
pub const EARLY_FILE: &str = "/EARLY.TXT";

/// What [`EARLY_FILE`] holds.
pub fn early_contents() -> String {
    (0..200).map(|i| format!("early line {i}\n")).collect()
}

/// `--fs-big-write=MIB`: checks [`EARLY_FILE`] from an earlier boot (or writes and
/// fsyncs it), then writes `/BIG.BIN` of `mib` MiB, printing `fs-big-write: <n> MiB`
/// after each MiB and pausing 20 ms, so a test can kill the machine in the middle.
/// Returns success.
pub fn big_write(mib: usize) -> bool {
    match fs::read_to_string(EARLY_FILE) {
        Ok(s) if s == early_contents() => println!("fs-big-write: {EARLY_FILE} from an earlier boot is intact"),
        Ok(s) => {
            println!("fs-big-write: {EARLY_FILE} is DAMAGED ({} bytes)", s.len());
            return false;
        }
        Err(err) if err.kind() == ErrorKind::NotFound => {
            let r = File::create(EARLY_FILE).and_then(|mut f| {
                f.write_all(early_contents().as_bytes())?;
                f.sync_all()
            });
            if let Err(err) = r {
                println!("fs-big-write: cannot write {EARLY_FILE}: {err}");
                return false;
            }
            println!("fs-big-write: wrote {EARLY_FILE}");
        }
        Err(err) => {
            println!("fs-big-write: cannot read {EARLY_FILE}: {err}");
            return false;
        }
    }
    let block = vec![0x6Bu8; 1 << 20];
    let r = File::create("/BIG.BIN").and_then(|mut f| {
        for i in 1..=mib {
            f.write_all(&block)?;
            println!("fs-big-write: {i} MiB");
            // Paced, so a test that kills the machine after a few MiB lands well before
            // the end, whatever the disk's speed.
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        f.sync_all()
    });
    match r {
        Ok(()) => {
            println!("fs-big-write: /BIG.BIN complete ({mib} MiB)");
            true
        }
        Err(err) => {
            println!("fs-big-write: /BIG.BIN failed: {err}");
            false
        }
    }
}
