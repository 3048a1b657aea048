//! [`Key`]: what a snapshot's code depends on, and which field differs.

use sha2::{Digest, Sha256};

use crate::{Rejection, hex};

/// Everything a snapshot's code depends on. A snapshot is used only when every field
/// equals this boot's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Key {
    /// The kernel's GNU build id (the host functions' addresses, the engine's
    /// rewriting and the interpreter all come with the kernel build).
    pub kernel_build_id: Vec<u8>,
    /// The LLVM version the code was compiled with (`22.1.8`).
    pub llvm_version: String,
    /// The app's name (the directory the lineage lives in).
    pub app: String,
    /// SHA-256 of the app's bitcode ([`bitcode_hash`]).
    pub bitcode_sha256: [u8; 32],
    /// The tier table: `name=pipeline` per compiled tier (`t1=default<O1>;…`).
    pub tiers: String,
    /// The CPU LLVM scheduled the code for (`znver3`).
    pub cpu: String,
    /// The CPU features LLVM's target machine used (`+avx2,-avx512f,…`, sorted).
    pub cpu_features: String,
}

/// SHA-256 of an app's bitcode.
pub fn bitcode_hash(bitcode: &[u8]) -> [u8; 32] {
    Sha256::digest(bitcode).into()
}

/// The features enabled (`+name`) in a feature string.
fn enabled(features: &str) -> Vec<&str> {
    features.split(',').filter_map(|f| f.strip_prefix('+')).collect()
}

/// How two feature strings differ, from the point of view of code compiled for
/// `compiled_for` running on `host`: features the code may use that the host lacks
/// (`avx2 missing`), then features the host has that the code was not compiled for
/// (`avx512f added`); at most four names each. Empty when they agree.
pub fn feature_difference(compiled_for: &str, host: &str) -> String {
    let (code, here) = (enabled(compiled_for), enabled(host));
    let missing: Vec<&str> = code.iter().copied().filter(|f| !here.contains(f)).collect();
    let added: Vec<&str> = here.iter().copied().filter(|f| !code.contains(f)).collect();
    let list = |v: &[&str], what: &str| {
        let mut s = v.iter().take(4).copied().collect::<Vec<_>>().join(" ");
        if v.len() > 4 {
            s += &format!(" and {} more", v.len() - 4);
        }
        format!("{s} {what}")
    };
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(list(&missing, "missing"));
    }
    if !added.is_empty() {
        parts.push(list(&added, "added"));
    }
    parts.join("; ")
}

/// The first 16 hex digits of a digest, enough to tell two apart in a message.
fn short(bytes: &[u8]) -> String {
    hex(&bytes[..bytes.len().min(8)])
}

impl Key {
    /// The first field in which this key (a snapshot's) differs from `current` (this
    /// boot's), as a [`Rejection::Key`]; `None` when they are equal. Checked in the
    /// order a reader would ask: the app, the kernel, LLVM, the bitcode, the tiers,
    /// the CPU features, the CPU.
    pub fn mismatch(&self, current: &Key) -> Option<Rejection> {
        let differs = |field: &'static str, detail: String| Some(Rejection::Key { field, detail });
        if self.app != current.app {
            return differs("app", format!("{}, this app {}", self.app, current.app));
        }
        if self.kernel_build_id != current.kernel_build_id {
            return differs(
                "kernel build",
                format!("build id {}, this kernel {}", short(&self.kernel_build_id), short(&current.kernel_build_id)),
            );
        }
        if self.llvm_version != current.llvm_version {
            return differs("llvm version", format!("{}, this kernel {}", self.llvm_version, current.llvm_version));
        }
        if self.bitcode_sha256 != current.bitcode_sha256 {
            return differs(
                "app bitcode",
                format!("sha256 {}, this app {}", short(&self.bitcode_sha256), short(&current.bitcode_sha256)),
            );
        }
        if self.tiers != current.tiers {
            return differs("tier table", format!("{}, this kernel {}", self.tiers, current.tiers));
        }
        if self.cpu_features != current.cpu_features {
            let mut detail = feature_difference(&self.cpu_features, &current.cpu_features);
            if detail.is_empty() {
                detail = "disabled features differ".into();
            }
            return differs("cpu features", detail);
        }
        if self.cpu != current.cpu {
            return differs("cpu", format!("{}, this CPU {}", self.cpu, current.cpu));
        }
        None
    }
}
