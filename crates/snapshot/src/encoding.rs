//! The binary encoding (docs/persistence.md, "Format"): little-endian integers,
//! strings and byte strings as a `u32` length then the bytes.
//!
//! ```text
//! magic "BFSNAP\r\n" · version u32 · length u64 (the whole file)
//! key: build id · llvm version · app · bitcode sha256 (32 bytes) · tiers · cpu · features
//! boot u32 · profiled boots u32
//! functions u32, each: name · start tier u32 · tier u32 · calls u64 · cycles u64 · code u32 (0xffffffff: none)
//! objects u32, each: name · bytes
//! crc32 u32 (over every byte before it)
//! ```

use crate::{FunctionRecord, Key, Object, Rejection, Snapshot};

/// The first bytes of every snapshot file.
pub const MAGIC: [u8; 8] = *b"BFSNAP\r\n";

/// The version of the encoding this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Magic, version and length.
const HEADER: usize = 8 + 4 + 8;
/// `code` of a function without an object of its own.
const NO_OBJECT: u32 = u32::MAX;

struct Writer(Vec<u8>);

impl Writer {
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], Rejection> {
        if self.rest.len() < n {
            return Err(Rejection::Malformed(format!("{what} runs past the end")));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    fn u32(&mut self, what: &str) -> Result<u32, Rejection> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }
    fn u64(&mut self, what: &str) -> Result<u64, Rejection> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().unwrap()))
    }
    fn bytes(&mut self, what: &str) -> Result<&'a [u8], Rejection> {
        let n = self.u32(what)? as usize;
        self.take(n, what)
    }
    fn string(&mut self, what: &str) -> Result<String, Rejection> {
        String::from_utf8(self.bytes(what)?.to_vec()).map_err(|_| Rejection::Malformed(format!("{what} is not UTF-8")))
    }
}

impl Snapshot {
    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(HEADER + 4096 + self.code_bytes()));
        w.0.extend_from_slice(&MAGIC);
        w.u32(FORMAT_VERSION);
        w.u64(0); // the length, filled in below
        let k = &self.key;
        w.bytes(&k.kernel_build_id);
        w.str(&k.llvm_version);
        w.str(&k.app);
        w.0.extend_from_slice(&k.bitcode_sha256);
        w.str(&k.tiers);
        w.str(&k.cpu);
        w.str(&k.cpu_features);
        w.u32(self.boot);
        w.u32(self.profiled_boots);
        w.u32(self.functions.len() as u32);
        for f in &self.functions {
            w.str(&f.name);
            w.u32(f.start_tier);
            w.u32(f.tier);
            w.u64(f.calls);
            w.u64(f.cycles);
            w.u32(f.code.unwrap_or(NO_OBJECT));
        }
        w.u32(self.objects.len() as u32);
        for o in &self.objects {
            w.str(&o.name);
            w.bytes(&o.bytes);
        }
        let length = (w.0.len() + 4) as u64;
        w.0[12..20].copy_from_slice(&length.to_le_bytes());
        let crc = crc32fast::hash(&w.0);
        w.u32(crc);
        w.0
    }

    /// Decodes a file, checking its integrity: length, magic, version, checksum, then
    /// that the contents decode and every function's object exists. The key is not
    /// compared ([`Snapshot::validate`] does).
    pub fn decode(bytes: &[u8]) -> Result<Snapshot, Rejection> {
        if bytes.len() < HEADER + 4 {
            if bytes.len() >= 8 && bytes[..8] != MAGIC {
                return Err(Rejection::Magic);
            }
            return Err(Rejection::Truncated { found: bytes.len(), expected: 0 });
        }
        if bytes[..8] != MAGIC {
            return Err(Rejection::Magic);
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
        if version != FORMAT_VERSION {
            return Err(Rejection::Version { found: version });
        }
        let length = u64::from_le_bytes(bytes[12..20].try_into().unwrap());
        if length != bytes.len() as u64 {
            if length > bytes.len() as u64 {
                return Err(Rejection::Truncated { found: bytes.len(), expected: length as usize });
            }
            return Err(Rejection::Malformed(format!("{} bytes after the announced end", bytes.len() as u64 - length)));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        let stored = u32::from_le_bytes(crc.try_into().unwrap());
        let computed = crc32fast::hash(body);
        if stored != computed {
            return Err(Rejection::Checksum { stored, computed });
        }
        let mut r = Reader { rest: &body[HEADER..] };
        let key = Key {
            kernel_build_id: r.bytes("build id")?.to_vec(),
            llvm_version: r.string("llvm version")?,
            app: r.string("app")?,
            bitcode_sha256: r.take(32, "bitcode hash")?.try_into().unwrap(),
            tiers: r.string("tiers")?,
            cpu: r.string("cpu")?,
            cpu_features: r.string("cpu features")?,
        };
        let boot = r.u32("boot")?;
        let profiled_boots = r.u32("profiled boots")?;
        let n = r.u32("function count")?;
        let mut functions = Vec::new();
        for _ in 0..n {
            let name = r.string("function name")?;
            let start_tier = r.u32("start tier")?;
            let tier = r.u32("tier")?;
            let calls = r.u64("calls")?;
            let cycles = r.u64("cycles")?;
            let code = Some(r.u32("code")?).filter(|&c| c != NO_OBJECT);
            functions.push(FunctionRecord { name, start_tier, tier, calls, cycles, code });
        }
        let n = r.u32("object count")?;
        let mut objects = Vec::new();
        for _ in 0..n {
            let name = r.string("object name")?;
            objects.push(Object { name, bytes: r.bytes("object")?.to_vec() });
        }
        if !r.rest.is_empty() {
            return Err(Rejection::Malformed(format!("{} unread bytes", r.rest.len())));
        }
        if let Some(f) = functions.iter().find(|f| f.code.is_some_and(|c| c as usize >= objects.len())) {
            return Err(Rejection::Malformed(format!("{}'s code is object {:?} of {}", f.name, f.code, objects.len())));
        }
        Ok(Snapshot { key, boot, profiled_boots, functions, objects })
    }
}
