//! Lineage: where an app's snapshots live, what their files are called, which one a
//! boot loads and which ones it keeps (docs/persistence.md, "Lineage" and "Crash
//! safety").
//!
//! Every snapshot goes to a file of its own, `B<boot, 7 digits>.SNP` in the app's
//! directory under [`ROOT`]; no file is ever written in place. A boot loads the newest
//! file that validates. A file that is damaged (a write cut short, a flipped byte) is
//! renamed to `.BAD` — set aside, never deleted — and the next older one is tried.
//! After a new snapshot is written, synced and read back, [`to_delete`] names the
//! files it makes unnecessary: all but the newest and the milestones.

/// The directory of all lineages on the FAT16 partition.
pub const ROOT: &str = "/SNAPSHOT";

/// The boots whose snapshots are kept for good: 1, 10, 100, 1000, … (the "10× after
/// 100 boots" story stays readable on the disk).
pub fn is_milestone(boot: u32) -> bool {
    let mut m = 1;
    loop {
        if boot == m {
            return true;
        }
        match m.checked_mul(10) {
            Some(next) if next <= boot => m = next,
            _ => return false,
        }
    }
}

/// The kind of a file in a lineage directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A snapshot (`.SNP`).
    Snapshot,
    /// A snapshot set aside as damaged (`.BAD`).
    SetAside,
}

/// The file name of boot `boot`'s snapshot: `B0000001.SNP` (an 8.3 name).
pub fn file_name(boot: u32) -> String {
    format!("B{boot:07}.SNP")
}

/// The name a damaged snapshot is set aside under: `B0000001.BAD`.
pub fn set_aside_name(boot: u32) -> String {
    format!("B{boot:07}.BAD")
}

/// The boot number and kind of a lineage file name (case-insensitive, as FAT is);
/// `None` for any other name.
pub fn parse_file_name(name: &str) -> Option<(u32, FileKind)> {
    let upper = name.to_ascii_uppercase();
    let (stem, ext) = upper.split_once('.')?;
    let kind = match ext {
        "SNP" => FileKind::Snapshot,
        "BAD" => FileKind::SetAside,
        _ => return None,
    };
    let digits = stem.strip_prefix('B')?;
    if digits.len() != 7 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((digits.parse().ok()?, kind))
}

/// The directory name of an app's lineage: its name in lower case with anything but
/// letters, digits, `-` and `_` replaced by `_`; an external app (`make disk APP=…`)
/// is named after its bitcode (`app-1a2b3c4d`).
pub fn app_directory(app: &str, bitcode_sha256: &[u8; 32], external: bool) -> String {
    if external {
        return format!("app-{}", crate::hex(&bitcode_sha256[..4]));
    }
    app.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c.to_ascii_lowercase() } else { '_' })
        .collect()
}

/// The snapshots to try, newest first, from a directory's file names.
pub fn candidates<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<u32> {
    let mut boots: Vec<u32> = names
        .into_iter()
        .filter_map(parse_file_name)
        .filter(|(_, kind)| *kind == FileKind::Snapshot)
        .map(|(boot, _)| boot)
        .collect();
    boots.sort_unstable_by(|a, b| b.cmp(a));
    boots.dedup();
    boots
}

/// The boot number the next snapshot gets: one above every file of the lineage,
/// set-aside ones included (a name is never reused).
pub fn next_boot<'a>(names: impl IntoIterator<Item = &'a str>) -> u32 {
    names.into_iter().filter_map(parse_file_name).map(|(boot, _)| boot).max().unwrap_or(0).saturating_add(1)
}

/// The snapshots to delete once `newest` has been written and checked: every other
/// snapshot that is not a milestone. `boots` are the lineage's snapshot files (not the
/// set-aside ones, which stay for a human to look at).
pub fn to_delete(boots: &[u32], newest: u32) -> Vec<u32> {
    let mut v: Vec<u32> = boots.iter().copied().filter(|&b| b != newest && !is_milestone(b)).collect();
    v.sort_unstable();
    v.dedup();
    v
}
