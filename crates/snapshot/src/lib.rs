//! BareFlow's snapshots (docs/persistence.md): what the tiered engine keeps of an app
//! between boots — per function its tier, its profile and its native code as
//! relocatable objects — and the rules that decide whether a snapshot may be used.
//!
//! * [`Snapshot`] and its binary encoding ([`Snapshot::encode`], [`Snapshot::decode`]):
//!   a magic, a format version, the length, the [`Key`], the functions, the objects
//!   and a CRC-32 over everything before it;
//! * [`Key`]: everything the code depends on — the kernel build, the LLVM version, the
//!   app's bitcode, the tier table, the CPU and its features. [`Key::mismatch`] names
//!   the first field that differs ([`Rejection`]);
//! * [`lineage`]: file names with the boot number, which file to load, which to keep.
//!
//! The kernel writes and loads snapshots through `std::fs` on its FAT16 partition;
//! `mkimage snapshot ls|show` reads them from a disk image with this same code.

pub mod lineage;

mod encoding;
mod key;

pub use encoding::{FORMAT_VERSION, MAGIC};
pub use key::{Key, bitcode_hash, feature_difference};

use std::fmt;

/// One function of the app, as the snapshot keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionRecord {
    /// Its unique external name (the tiered engine's, `bf.slot.<name>`'s).
    pub name: String,
    /// The tier it started in at load (0: interpreted, with a trampoline in the
    /// load-time module; 1: compiled into the load-time module).
    pub start_tier: u32,
    /// The tier it had reached when the snapshot was written.
    pub tier: u32,
    /// Calls over every boot the snapshot's lineage counts.
    pub calls: u64,
    /// Cycles of its outermost activations over those boots.
    pub cycles: u64,
    /// The index in [`Snapshot::objects`] of the object that defines its code for
    /// `tier` (`<name>.<tier name>`), when that code was made by a promotion; `None`
    /// when it runs its start tier's code.
    pub code: Option<u32>,
}

/// A relocatable object file, as LLVM's code generator produced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// What it holds: `host` (the host-function trampolines), `load.<tier>` (the
    /// load-time module), `glue` (the interpreter's stubs and adapters), or
    /// `<function>.<tier>` (one promotion).
    pub name: String,
    /// The ELF bytes.
    pub bytes: Vec<u8>,
}

/// What the tiered engine keeps of one app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// What the code depends on.
    pub key: Key,
    /// The boot of the app's lineage that wrote it (1 for the first).
    pub boot: u32,
    /// How many boots the profile counts.
    pub profiled_boots: u32,
    /// The functions, in function-id order.
    pub functions: Vec<FunctionRecord>,
    /// The objects, in the order they are linked: those the engine makes at load
    /// (`host`, `load.<tier>`, `glue`, …), then the promotions.
    pub objects: Vec<Object>,
}

/// Why a snapshot is not used. The `Display` form is what the kernel prints after
/// `snapshot: <app>: rejected: `.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Shorter than its header says (or than a header).
    Truncated {
        /// Bytes present.
        found: usize,
        /// Bytes the header announces (0 if there is no header).
        expected: usize,
    },
    /// The first bytes are not [`MAGIC`].
    Magic,
    /// Written by another version of the format.
    Version {
        /// The file's version.
        found: u32,
    },
    /// The CRC-32 over the file does not match the one stored at its end.
    Checksum {
        /// Stored in the file.
        stored: u32,
        /// Computed over its bytes.
        computed: u32,
    },
    /// The checksum holds but the content does not decode (a writer bug).
    Malformed(String),
    /// A field of the key differs from this boot's.
    Key {
        /// The field (`kernel build`, `llvm version`, `app bitcode`, `tier table`,
        /// `cpu features`, `cpu`, `app`).
        field: &'static str,
        /// How it differs.
        detail: String,
    },
}

impl Rejection {
    /// The field the rejection names: `length`, `magic`, `format version`,
    /// `checksum`, `contents`, or the key's field.
    pub fn field(&self) -> &'static str {
        match self {
            Rejection::Truncated { .. } => "length",
            Rejection::Magic => "magic",
            Rejection::Version { .. } => "format version",
            Rejection::Checksum { .. } => "checksum",
            Rejection::Malformed(_) => "contents",
            Rejection::Key { field, .. } => field,
        }
    }

    /// Whether the file itself is damaged (as opposed to valid but made for another
    /// kernel, app or CPU): damaged files are set aside.
    pub fn is_damage(&self) -> bool {
        !matches!(self, Rejection::Key { .. })
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Truncated { found, expected: 0 } => write!(f, "length: truncated ({found} bytes, no header)"),
            Rejection::Truncated { found, expected } => {
                write!(f, "length: truncated ({found} of {expected} bytes)")
            }
            Rejection::Magic => write!(f, "magic: not a BareFlow snapshot"),
            Rejection::Version { found } => {
                write!(f, "format version differs ({found}, this kernel reads {FORMAT_VERSION})")
            }
            Rejection::Checksum { stored, computed } => {
                write!(f, "checksum differs (stored {stored:08x}, computed {computed:08x})")
            }
            Rejection::Malformed(what) => write!(f, "contents: {what}"),
            // "cpu features differ", "kernel build differs".
            Rejection::Key { field, detail } if field.ends_with('s') => write!(f, "{field} differ ({detail})"),
            Rejection::Key { field, detail } => write!(f, "{field} differs ({detail})"),
        }
    }
}

impl Snapshot {
    /// Decodes and checks `bytes` against `expected` (this boot's key): integrity
    /// first (length, magic, version, checksum), then the key field by field.
    pub fn validate(bytes: &[u8], expected: &Key) -> Result<Snapshot, Rejection> {
        let snapshot = Snapshot::decode(bytes)?;
        match snapshot.key.mismatch(expected) {
            Some(rejection) => Err(rejection),
            None => Ok(snapshot),
        }
    }

    /// How many functions it holds in a compiled tier (above tier 0).
    pub fn compiled_functions(&self) -> usize {
        self.functions.iter().filter(|f| f.tier > 0).count()
    }

    /// Total bytes of object code.
    pub fn code_bytes(&self) -> usize {
        self.objects.iter().map(|o| o.bytes.len()).sum()
    }

    /// A readable description: the key, then one line per function (calls, cycles,
    /// tier, the object holding its code and its size), then the objects. `tier_name`
    /// names a tier index (`t0`, `t1`, …).
    pub fn describe(&self, tier_name: impl Fn(u32) -> String) -> Vec<String> {
        let k = &self.key;
        let mut lines = vec![
            format!("app          {}", k.app),
            format!("boot         {} (profile of {} boots)", self.boot, self.profiled_boots),
            format!("format       {FORMAT_VERSION}"),
            format!("kernel build {}", hex(&k.kernel_build_id)),
            format!("llvm         {}", k.llvm_version),
            format!("bitcode      sha256 {}", hex(&k.bitcode_sha256)),
            format!("tiers        {}", k.tiers),
            format!("cpu          {}", k.cpu),
            format!("features     {}", k.cpu_features.split(',').filter(|f| f.starts_with('+')).count()),
            format!("code         {} bytes in {} objects", self.code_bytes(), self.objects.len()),
            format!("{:<32} {:>12} {:>16} {:>5} {:>9}", "function", "calls", "cycles", "tier", "code"),
        ];
        for f in &self.functions {
            let code = match f.code.and_then(|i| self.objects.get(i as usize)) {
                Some(o) => format!("{} B", o.bytes.len()),
                None if f.tier == f.start_tier && f.start_tier > 0 => "load".into(),
                None => "-".into(),
            };
            lines.push(format!("{:<32} {:>12} {:>16} {:>5} {:>9}", f.name, f.calls, f.cycles, tier_name(f.tier), code));
        }
        for o in &self.objects {
            lines.push(format!("object {:<40} {:>9} B", o.name, o.bytes.len()));
        }
        lines
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
pub(crate) mod tests;
