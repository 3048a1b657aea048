//! The snapshots on an image's FAT16 partition, from the host (`mkimage snapshot
//! ls|show`; docs/persistence.md, "Reading snapshots on the host"): every lineage file
//! under [`ROOT`] with its state as [`Snapshot::decode`] finds it, and the description
//! of one file. Read-only: nothing on the image is renamed or written.

use std::fmt;
use std::io::{self, Read};
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use bf_snapshot::lineage::{self, FileKind, ROOT};
use bf_snapshot::{Rejection, Snapshot};
use bf_tiers::TIERS;
use fatfs::{Dir, FileSystem, ReadWriteSeek};

use crate::files::mount;

/// What a valid snapshot holds, in brief.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The boot of the lineage that wrote it.
    pub boot: u32,
    /// How many functions it records.
    pub functions: usize,
    /// How many functions are in each tier, `(tier, count)` by tier, tiers without
    /// functions left out.
    pub per_tier: Vec<(u32, usize)>,
    /// Total bytes of object code.
    pub code_bytes: usize,
}

impl Summary {
    /// The summary of a decoded snapshot.
    pub fn of(snapshot: &Snapshot) -> Summary {
        let mut per_tier: Vec<(u32, usize)> = Vec::new();
        let mut tiers: Vec<u32> = snapshot.functions.iter().map(|f| f.tier).collect();
        tiers.sort_unstable();
        for tier in tiers {
            match per_tier.last_mut() {
                Some((t, n)) if *t == tier => *n += 1,
                _ => per_tier.push((tier, 1)),
            }
        }
        Summary {
            boot: snapshot.boot,
            functions: snapshot.functions.len(),
            per_tier,
            code_bytes: snapshot.code_bytes(),
        }
    }
}

/// `ok boot 2, 3 functions (1 at t0, 2 at t1), 3016 bytes of code`.
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.functions == 1 { "" } else { "s" };
        write!(f, "ok boot {}, {} function{s}", self.boot, self.functions)?;
        if !self.per_tier.is_empty() {
            let tiers: Vec<String> = self.per_tier.iter().map(|(t, n)| format!("{n} at {}", TIERS.name(*t))).collect();
            write!(f, " ({})", tiers.join(", "))?;
        }
        write!(f, ", {} bytes of code", self.code_bytes)
    }
}

/// What a file of a lineage directory is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// A snapshot (`.SNP`) and what decoding it gave.
    Snapshot(Result<Summary, Rejection>),
    /// A snapshot set aside as damaged (`.BAD`) and what decoding it gives now.
    SetAside(Result<Summary, Rejection>),
    /// Anything else: a name that is not a lineage file's, or a directory.
    Other,
}

/// `ok boot …`, `damaged: <rejection>`, `set aside, damaged: <rejection>`, `set aside,
/// ok boot …` or `other`.
impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let decoded = |f: &mut fmt::Formatter<'_>, r: &Result<Summary, Rejection>| match r {
            Ok(summary) => write!(f, "{summary}"),
            Err(rejection) => write!(f, "damaged: {rejection}"),
        };
        match self {
            State::Snapshot(r) => decoded(f, r),
            State::SetAside(r) => {
                write!(f, "set aside, ")?;
                decoded(f, r)
            }
            State::Other => write!(f, "other"),
        }
    }
}

/// One file (or stray directory) under [`ROOT`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its path on the partition: `/SNAPSHOT/fib/B0000002.SNP`.
    pub path: String,
    /// Its size in bytes (0 for a directory).
    pub size: u64,
    /// What it is.
    pub state: State,
}

/// Decodes a snapshot file's bytes into its summary.
pub fn summarize(bytes: &[u8]) -> Result<Summary, Rejection> {
    Snapshot::decode(bytes).map(|s| Summary::of(&s))
}

/// The name of tier `index` in [`TIERS`] (`t0`, `t1`, …).
pub fn tier_name(index: u32) -> String {
    TIERS.name(index).into_owned()
}

/// Every entry under [`ROOT`] of a mounted FAT file system: the app directories in
/// name order, in each the lineage files (`.SNP` and `.BAD`) by boot number, then the
/// other entries by name; entries directly in [`ROOT`] that are not directories come
/// last, as [`State::Other`]. Empty when there is no [`ROOT`].
pub fn list_fs<T: ReadWriteSeek>(fs: &FileSystem<T>) -> Result<Vec<Entry>> {
    let root = match fs.root_dir().open_dir(ROOT.trim_start_matches('/')) {
        Ok(dir) => dir,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot open {ROOT}")),
    };
    let mut apps = Vec::new();
    let mut stray = Vec::new();
    for e in root.iter() {
        let e = e.with_context(|| format!("cannot read {ROOT}"))?;
        let name = e.file_name();
        if name == "." || name == ".." {
            continue;
        }
        if e.is_dir() {
            apps.push((name, e.to_dir()));
        } else {
            stray.push(Entry { path: format!("{ROOT}/{name}"), size: e.len(), state: State::Other });
        }
    }
    apps.sort_by(|a, b| a.0.cmp(&b.0));
    stray.sort_by(|a, b| a.path.cmp(&b.path));
    let mut out = Vec::new();
    for (name, dir) in apps {
        out.extend(list_app(&format!("{ROOT}/{name}"), &dir)?);
    }
    out.extend(stray);
    Ok(out)
}

/// The entries of one app directory, `path` being its path on the partition.
fn list_app<T: ReadWriteSeek>(path: &str, dir: &Dir<'_, T>) -> Result<Vec<Entry>> {
    let mut lineage = Vec::new();
    let mut others = Vec::new();
    for e in dir.iter() {
        let e = e.with_context(|| format!("cannot read {path}"))?;
        let name = e.file_name();
        if name == "." || name == ".." {
            continue;
        }
        let file_path = format!("{path}/{name}");
        let parsed = if e.is_dir() { None } else { lineage::parse_file_name(&name) };
        let Some((boot, kind)) = parsed else {
            others.push(Entry { path: file_path, size: if e.is_dir() { 0 } else { e.len() }, state: State::Other });
            continue;
        };
        let mut bytes = Vec::new();
        e.to_file().read_to_end(&mut bytes).with_context(|| format!("cannot read {file_path}"))?;
        let decoded = summarize(&bytes);
        let state = match kind {
            FileKind::Snapshot => State::Snapshot(decoded),
            FileKind::SetAside => State::SetAside(decoded),
        };
        lineage.push((boot, kind == FileKind::SetAside, Entry { path: file_path, size: bytes.len() as u64, state }));
    }
    lineage.sort_by(|a, b| (a.0, a.1, &a.2.path).cmp(&(b.0, b.1, &b.2.path)));
    others.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(lineage.into_iter().map(|(_, _, e)| e).chain(others).collect())
}

/// Every entry under [`ROOT`] on the FAT16 partition of `image` ([`list_fs`]).
pub fn list(image: &Path) -> Result<Vec<Entry>> {
    let fs = mount(image, false)?;
    list_fs(&fs)
}

/// The lines `mkimage snapshot ls` prints: path (padded to the longest), size, state;
/// `no snapshots` when there are none.
pub fn listing_lines(entries: &[Entry]) -> Vec<String> {
    if entries.is_empty() {
        return vec!["no snapshots".into()];
    }
    let width = entries.iter().map(|e| e.path.len()).max().unwrap_or(0);
    entries.iter().map(|e| format!("{:<width$} {:>10} {}", e.path, e.size, e.state)).collect()
}

/// The description ([`Snapshot::describe`]) of a snapshot file's bytes, or why it
/// does not decode.
pub fn describe(bytes: &[u8]) -> Result<Vec<String>, Rejection> {
    Snapshot::decode(bytes).map(|s| s.describe(tier_name))
}

/// The description of the snapshot file `path` on the FAT16 partition of `image`; an
/// error naming the rejection when the file does not decode.
pub fn show(image: &Path, path: &str) -> Result<Vec<String>> {
    let fs = mount(image, false)?;
    let mut bytes = Vec::new();
    fs.root_dir()
        .open_file(path.trim_matches('/'))
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .with_context(|| path.to_string())?;
    describe(&bytes).map_err(|rejection| anyhow!("{path}: damaged: {rejection}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    use bf_snapshot::{FunctionRecord, Key, Object};
    use fatfs::FsOptions;

    use crate::fat::format_fat16;

    fn snapshot(boot: u32) -> Snapshot {
        let f = |name: &str, tier, code| FunctionRecord {
            name: name.into(),
            start_tier: 0,
            tier,
            calls: 10 * u64::from(boot),
            cycles: 1000,
            code,
        };
        Snapshot {
            key: Key { app: "fib".into(), llvm_version: "22.1.8".into(), ..Key::default() },
            boot,
            profiled_boots: boot,
            functions: vec![f("main", 1, Some(0)), f("fib", 2, Some(1)), f("cold", 0, None)],
            objects: vec![
                Object { name: "main.t1".into(), bytes: vec![0x90; 100] },
                Object { name: "fib.t2".into(), bytes: vec![0x90; 250] },
            ],
        }
    }

    /// An 8 MiB FAT16 partition in memory.
    fn partition() -> Cursor<Vec<u8>> {
        let mut bytes = format_fat16(8 * 2048, 2048, 1).unwrap();
        bytes.resize(8 << 20, 0);
        Cursor::new(bytes)
    }

    fn write(fs: &FileSystem<Cursor<Vec<u8>>>, path: &str, bytes: &[u8]) {
        let mut f = fs.root_dir().create_file(path).unwrap();
        f.truncate().unwrap();
        f.write_all(bytes).unwrap();
    }

    /// `/SNAPSHOT/fib` with boots 1 and 2 valid, 3 cut short, 4 set aside (a flipped
    /// byte), a stray file; `/SNAPSHOT/add` with a set-aside file that still decodes.
    fn populated() -> FileSystem<Cursor<Vec<u8>>> {
        let fs = FileSystem::new(partition(), FsOptions::new()).unwrap();
        fs.root_dir().create_dir("SNAPSHOT").unwrap();
        fs.root_dir().create_dir("SNAPSHOT/fib").unwrap();
        fs.root_dir().create_dir("SNAPSHOT/add").unwrap();
        // Written out of order: the listing sorts by boot number.
        write(&fs, "SNAPSHOT/fib/B0000002.SNP", &snapshot(2).encode());
        write(&fs, "SNAPSHOT/fib/B0000001.SNP", &snapshot(1).encode());
        let whole = snapshot(3).encode();
        write(&fs, "SNAPSHOT/fib/B0000003.SNP", &whole[..whole.len() / 2]);
        let mut flipped = snapshot(4).encode();
        flipped[40] ^= 0x40;
        write(&fs, "SNAPSHOT/fib/B0000004.BAD", &flipped);
        write(&fs, "SNAPSHOT/fib/NOTES.TXT", b"hello");
        write(&fs, "SNAPSHOT/add/B0000001.BAD", &snapshot(1).encode());
        fs
    }

    #[test]
    fn lists_every_lineage_file_with_its_state() {
        let fs = populated();
        let entries = list_fs(&fs).unwrap();
        let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/SNAPSHOT/add/B0000001.BAD",
                "/SNAPSHOT/fib/B0000001.SNP",
                "/SNAPSHOT/fib/B0000002.SNP",
                "/SNAPSHOT/fib/B0000003.SNP",
                "/SNAPSHOT/fib/B0000004.BAD",
                "/SNAPSHOT/fib/NOTES.TXT",
            ]
        );
        let size = snapshot(1).encode().len() as u64;
        assert_eq!(entries[1].size, size);
        assert_eq!(entries[3].size, snapshot(3).encode().len() as u64 / 2);
        assert_eq!(entries[5].size, 5);

        let ok = Summary { boot: 2, functions: 3, per_tier: vec![(0, 1), (1, 1), (2, 1)], code_bytes: 350 };
        assert_eq!(entries[2].state, State::Snapshot(Ok(ok)));
        assert_eq!(
            entries[2].state.to_string(),
            "ok boot 2, 3 functions (1 at t0, 1 at t1, 1 at t2), 350 bytes of code"
        );
        assert!(matches!(entries[3].state, State::Snapshot(Err(Rejection::Truncated { .. }))));
        assert!(entries[3].state.to_string().starts_with("damaged: length: truncated ("), "{}", entries[3].state);
        assert!(matches!(entries[4].state, State::SetAside(Err(Rejection::Checksum { .. }))));
        assert!(entries[4].state.to_string().starts_with("set aside, damaged: checksum differs"));
        assert!(entries[0].state.to_string().starts_with("set aside, ok boot 1, 3 functions"));
        assert_eq!(entries[5].state, State::Other);

        let lines = listing_lines(&entries);
        assert_eq!(
            lines[2],
            format!(
                "/SNAPSHOT/fib/B0000002.SNP {size:>10} ok boot 2, 3 functions (1 at t0, 1 at t1, 1 at t2), 350 bytes of code"
            )
        );
        assert_eq!(lines[5], "/SNAPSHOT/fib/NOTES.TXT             5 other");
    }

    #[test]
    fn no_snapshot_directory_means_no_snapshots() {
        let fs = FileSystem::new(partition(), FsOptions::new()).unwrap();
        assert!(list_fs(&fs).unwrap().is_empty());
        fs.root_dir().create_dir("SNAPSHOT").unwrap();
        assert!(list_fs(&fs).unwrap().is_empty());
        assert_eq!(listing_lines(&[]), ["no snapshots"]);
    }

    #[test]
    fn stray_entries_are_other() {
        let fs = populated();
        write(&fs, "SNAPSHOT/README", b"x");
        fs.root_dir().create_dir("SNAPSHOT/fib/B0000009.SNP").unwrap(); // a directory, not a snapshot
        let entries = list_fs(&fs).unwrap();
        let last = entries.last().unwrap();
        assert_eq!((last.path.as_str(), last.size, &last.state), ("/SNAPSHOT/README", 1, &State::Other));
        let dir = entries.iter().find(|e| e.path == "/SNAPSHOT/fib/B0000009.SNP").unwrap();
        assert_eq!((dir.size, &dir.state), (0, &State::Other));
    }

    #[test]
    fn describes_a_valid_file_and_rejects_a_damaged_one() {
        let lines = describe(&snapshot(2).encode()).unwrap();
        assert_eq!(lines, snapshot(2).describe(tier_name));
        assert!(lines.iter().any(|l| l.starts_with("fib ") && l.contains(" t2 ")), "{lines:#?}");
        let bytes = snapshot(2).encode();
        assert!(matches!(describe(&bytes[..30]), Err(Rejection::Truncated { .. })));
        assert_eq!(describe(b"not a snapshot at all, clearly"), Err(Rejection::Magic));
    }

    #[test]
    fn reads_the_partition_of_an_image_file() {
        let img = crate::files::tests::image("snapshots");
        let bytes = snapshot(1).encode();
        assert_eq!(listing_lines(&list(&img).unwrap()), ["no snapshots"]);
        let fs = mount(&img, true).unwrap();
        fs.root_dir().create_dir("SNAPSHOT").unwrap().create_dir("fib").unwrap();
        fs.unmount().unwrap();
        crate::files::put(&img, "/SNAPSHOT/fib/B0000001.SNP", &bytes).unwrap();
        crate::files::put(&img, "/SNAPSHOT/fib/B0000002.SNP", &bytes[..bytes.len() - 1]).unwrap();
        let entries = list(&img).unwrap();
        assert_eq!(entries.len(), 2);
        assert!(matches!(entries[0].state, State::Snapshot(Ok(Summary { boot: 1, .. }))));
        assert_eq!(show(&img, "/SNAPSHOT/fib/B0000001.SNP").unwrap(), snapshot(1).describe(tier_name));
        let error = show(&img, "/SNAPSHOT/fib/B0000002.SNP").unwrap_err().to_string();
        assert!(error.starts_with("/SNAPSHOT/fib/B0000002.SNP: damaged: length: truncated"), "{error}");
        assert!(show(&img, "/SNAPSHOT/fib/B0000003.SNP").is_err());
        let _ = std::fs::remove_file(img);
    }
}
