//! The kernel's dead-code map (docs/shrink.md): which 4 KiB pages of its own code and
//! read-only data a run touched, from the page tables' accessed bits. The kernel
//! writes it to `/DEADCODE.BIN` on the FAT16 partition; `mkimage deadcode` maps the
//! pages back to the linker map's input sections and sums them per component (each
//! LLVM library, libstdc++, glibc, Rust std, the kernel's own crates).
//!
//! File layout (little-endian): magic `BFDC`, u32 version 1, u32 build-id length, u32
//! segment count, the build id, then per segment u64 start, u64 end (both
//! page-aligned), u32 flags (bit 0: code), u32 page count and the page bitmap (bit
//! `i % 8` of byte `i / 8` set: page `i` was touched).

use std::collections::BTreeMap;

/// Bytes per tracked page.
pub const PAGE: u64 = 4096;
const MAGIC: [u8; 4] = *b"BFDC";
const VERSION: u32 = 1;

/// One tracked segment of the kernel image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// First byte (page-aligned).
    pub start: u64,
    /// One past the last byte (page-aligned).
    pub end: u64,
    /// Whether it holds code (otherwise read-only data).
    pub code: bool,
    /// Per page from `start`: whether the run touched it.
    pub touched: Vec<bool>,
}

/// The touched pages of one run.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TouchMap {
    /// The kernel's GNU build id (which ELF the addresses belong to).
    pub build_id: Vec<u8>,
    /// The tracked segments.
    pub segments: Vec<Segment>,
}

/// Why a `/DEADCODE.BIN` file does not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not a dead-code map: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

impl TouchMap {
    /// Bytes of the tracked segments (code only if `code`, otherwise data only).
    pub fn bytes(&self, code: bool) -> u64 {
        self.segments.iter().filter(|s| s.code == code).map(|s| s.end - s.start).sum()
    }

    /// Bytes of the touched pages (code only if `code`, otherwise data only).
    pub fn touched_bytes(&self, code: bool) -> u64 {
        self.segments
            .iter()
            .filter(|s| s.code == code)
            .map(|s| s.touched.iter().filter(|t| **t).count() as u64 * PAGE)
            .sum()
    }

    /// Whether the page holding `addr` was touched; `None` outside every segment.
    pub fn is_touched(&self, addr: u64) -> Option<bool> {
        let s = self.segments.iter().find(|s| (s.start..s.end).contains(&addr))?;
        s.touched.get(((addr - s.start) / PAGE) as usize).copied()
    }

    /// Bytes of `[start, start + size)` that lie on touched pages.
    pub fn touched_in(&self, start: u64, size: u64) -> u64 {
        let end = start.saturating_add(size);
        let mut at = start;
        let mut touched = 0;
        while at < end {
            let page_end = (at / PAGE + 1) * PAGE;
            let chunk = page_end.min(end) - at;
            if self.is_touched(at) == Some(true) {
                touched += chunk;
            }
            at += chunk;
        }
        touched
    }

    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(self.build_id.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.segments.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.build_id);
        for s in &self.segments {
            out.extend_from_slice(&s.start.to_le_bytes());
            out.extend_from_slice(&s.end.to_le_bytes());
            out.extend_from_slice(&u32::from(s.code).to_le_bytes());
            out.extend_from_slice(&(s.touched.len() as u32).to_le_bytes());
            let mut bitmap = vec![0u8; s.touched.len().div_ceil(8)];
            for (i, _) in s.touched.iter().enumerate().filter(|(_, t)| **t) {
                bitmap[i / 8] |= 1 << (i % 8);
            }
            out.extend_from_slice(&bitmap);
        }
        out
    }

    /// Decodes and checks a file.
    pub fn decode(bytes: &[u8]) -> Result<TouchMap, DecodeError> {
        let mut at = 0usize;
        let mut take = |n: usize| -> Result<&[u8], DecodeError> {
            let slice = bytes.get(at..at + n).ok_or_else(|| DecodeError("truncated".into()))?;
            at += n;
            Ok(slice)
        };
        if take(4)? != MAGIC {
            return Err(DecodeError("no BFDC magic".into()));
        }
        let u32_of = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap());
        let u64_of = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap());
        let version = u32_of(take(4)?);
        if version != VERSION {
            return Err(DecodeError(format!("version {version}, not {VERSION}")));
        }
        let id_len = u32_of(take(4)?) as usize;
        let count = u32_of(take(4)?) as usize;
        if id_len > 64 || count > 64 {
            return Err(DecodeError("implausible header".into()));
        }
        let build_id = take(id_len)?.to_vec();
        let mut segments = Vec::new();
        for _ in 0..count {
            let (start, end) = (u64_of(take(8)?), u64_of(take(8)?));
            let code = u32_of(take(4)?) & 1 != 0;
            let pages = u32_of(take(4)?) as usize;
            if end < start || !start.is_multiple_of(PAGE) || (end - start) / PAGE != pages as u64 {
                return Err(DecodeError(format!("segment {start:#x}-{end:#x} does not match {pages} pages")));
            }
            let bitmap = take(pages.div_ceil(8))?;
            let touched = (0..pages).map(|i| bitmap[i / 8] & (1 << (i % 8)) != 0).collect();
            segments.push(Segment { start, end, code, touched });
        }
        Ok(TouchMap { build_id, segments })
    }
}

/// One input section of the kernel's linker map: where it is and which file it came
/// from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputSection {
    /// Its name (`.text.foo`, `.rodata.bar`, `.bss.baz`).
    pub name: String,
    /// Its address in the image.
    pub address: u64,
    /// Its size in bytes.
    pub size: u64,
    /// The object or `archive(member)` it came from (`<internal>` for what the linker
    /// made itself: the PLT, the GOT, merged strings, the unwind-table index).
    pub file: String,
}

/// The input sections of LLD's map file (`-Wl,-Map=…`) that take addresses and bytes.
///
/// Each line of LLD's map starts with four columns (VMA, LMA and size in hex, alignment
/// in decimal) and then names an output section (no indentation), an input section
/// (indented by 8: `file:(section)`) or a symbol (indented by 16). Sections that
/// identical-code folding merged into another are not listed.
pub fn parse_linker_map(text: &str) -> Vec<InputSection> {
    text.lines().filter_map(parse_map_line).collect()
}

/// One line of LLD's map, if it is an allocated input section with bytes.
fn parse_map_line(line: &str) -> Option<InputSection> {
    // The four columns, each right-aligned and followed by one space.
    let mut rest = line;
    let mut column = || {
        let trimmed = rest.trim_start();
        let end = trimmed.find(' ')?;
        rest = &trimmed[end..];
        Some(&trimmed[..end])
    };
    let address = u64::from_str_radix(column()?, 16).ok()?;
    let _load_address = column()?;
    let size = u64::from_str_radix(column()?, 16).ok()?;
    let _alignment = column()?;
    // One space separates the columns; input sections are indented by 8 more.
    let entry = rest.strip_prefix(' ')?.strip_prefix("        ")?;
    if entry.starts_with(' ') || address == 0 || size == 0 {
        return None;
    }
    let (file, section) = entry.rsplit_once(":(")?;
    Some(InputSection { name: section.strip_suffix(')')?.to_string(), address, size, file: file.to_string() })
}

/// The component an input file belongs to: `LLVM <library>`, `libstdc++`, `glibc`,
/// `libgcc`, `Rust std`, `kernel`, `crate <name>`, what the linker made itself, or the
/// file's own name.
pub fn component_of(file: &str) -> String {
    if file == "<internal>" {
        return "linker-made (merged strings, unwind tables, GOT, PLT)".into();
    }
    let name = file.rsplit('/').next().unwrap_or(file);
    let archive = name.split('(').next().unwrap_or(name);
    if let Some(lib) = archive.strip_prefix("libLLVM").and_then(|l| l.strip_suffix(".a")) {
        return format!("LLVM {lib}");
    }
    match archive {
        // (The kernel links a copy without the exception machinery, libstdc++-nothrow.a.)
        "libstdc++.a" | "libstdc++-nothrow.a" | "libsupc++.a" => return "libstdc++".into(),
        "libc.a" | "libm.a" | "libm-2.36.a" | "libmvec.a" | "libpthread.a" => return "glibc".into(),
        "libgcc.a" | "libgcc_eh.a" => return "libgcc".into(),
        "libz.a" | "libzstd.a" | "libffi.a" => return archive.trim_end_matches(".a").trim_start_matches("lib").into(),
        _ => {}
    }
    if archive.starts_with("crt") && archive.ends_with(".o") {
        return "glibc".into();
    }
    if let Some(rlib) = archive.strip_suffix(".rlib").and_then(|r| r.strip_prefix("lib")) {
        let krate = rlib.rsplit_once('-').map_or(rlib, |(k, _)| k);
        const STD: [&str; 12] = [
            "std",
            "core",
            "alloc",
            "compiler_builtins",
            "hashbrown",
            "gimli",
            "addr2line",
            "rustc_demangle",
            "miniz_oxide",
            "std_detect",
            "panic_abort",
            "object",
        ];
        if STD.contains(&krate) {
            return "Rust std".into();
        }
        return format!("crate {krate}");
    }
    if archive.starts_with("kernel-") && archive.ends_with(".o") {
        return "kernel".into();
    }
    archive.to_string()
}

/// Bytes and touched bytes of one component.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes of its input sections inside the tracked segments.
    pub bytes: u64,
    /// Of those, the bytes on touched pages.
    pub touched: u64,
}

/// Sums the map's input sections per component over the tracked segments.
pub fn usage_by_component(sections: &[InputSection], map: &TouchMap) -> BTreeMap<String, Usage> {
    let mut out: BTreeMap<String, Usage> = BTreeMap::new();
    for s in sections.iter().filter(|s| map.is_touched(s.address).is_some()) {
        let usage = out.entry(component_of(&s.file)).or_default();
        usage.bytes += s.size;
        usage.touched += map.touched_in(s.address, s.size);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TouchMap {
        TouchMap {
            build_id: vec![1, 2, 3],
            segments: vec![
                Segment { start: 0x101000, end: 0x10b000, code: true, touched: (0..10).map(|i| i % 3 == 0).collect() },
                Segment { start: 0x200000, end: 0x202000, code: false, touched: vec![false, true] },
            ],
        }
    }

    #[test]
    fn a_map_round_trips_and_counts() {
        let map = sample();
        assert_eq!(TouchMap::decode(&map.encode()).unwrap(), map);
        assert_eq!(map.bytes(true), 10 * PAGE);
        assert_eq!(map.touched_bytes(true), 4 * PAGE);
        assert_eq!(map.touched_bytes(false), PAGE);
        assert_eq!(map.is_touched(0x101000), Some(true));
        assert_eq!(map.is_touched(0x102fff), Some(false));
        assert_eq!(map.is_touched(0x300000), None);
        // 0x101800..0x102800: half of page 0 (touched), half of page 1 (not).
        assert_eq!(map.touched_in(0x101800, 0x1000), 0x800);
    }

    #[test]
    fn bad_files_are_refused() {
        let bytes = sample().encode();
        assert!(TouchMap::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(TouchMap::decode(b"XXXX").is_err());
        let mut wrong = bytes.clone();
        wrong[4] = 9;
        assert!(TouchMap::decode(&wrong).unwrap_err().0.contains("version 9"));
    }

    #[test]
    fn linker_map_lines_and_components() {
        let text = "             VMA              LMA     Size Align Out     In      Symbol\n\
            \x20              0                0   1002a8     1 . = SEGMENT_START(\"text-segment\", 0x100000) + SIZEOF_HEADERS\n\
            \x20         101000           101000   500000  4096 .text\n\
            \x20         101000           101000       20    16         /usr/lib/x86_64-linux-gnu/crt1.o:(.text)\n\
            \x20         101000           101000        0     1                 _start\n\
            \x20         101020           101020      100    16         /opt/llvm/lib/libLLVMCore.a(Core.cpp.o):(.text._ZN4llvm3fooEv)\n\
            \x20         102000           102000       40    16         /x/libstd-0123abcd.rlib(std-0123abcd.std.1-cgu.0.rcgu.o):(.text._ZN3std2io5stdio)\n\
            \x20         102040           102040       10    16         /t/kernel-99.kernel.abc-cgu.0.rcgu.o:(.text)\n\
            \x20         102050           102050        0     1         /t/empty.o:(.text.empty)\n\
            \x20              0                0     1234     1         /t/kernel-99.kernel.abc-cgu.0.rcgu.o:(.debug_info)\n";
        let sections = parse_linker_map(text);
        assert_eq!(sections.len(), 4, "{sections:?}");
        assert_eq!(
            sections[1],
            InputSection {
                name: ".text._ZN4llvm3fooEv".into(),
                address: 0x101020,
                size: 0x100,
                file: "/opt/llvm/lib/libLLVMCore.a(Core.cpp.o)".into()
            }
        );
        let names: Vec<String> = sections.iter().map(|s| component_of(&s.file)).collect();
        assert_eq!(names, ["glibc", "LLVM Core", "Rust std", "kernel"]);
        assert_eq!(component_of("/r/libspin-1234.rlib(spin.o)"), "crate spin");
        assert_eq!(component_of("/usr/lib/gcc/x86_64-linux-gnu/12/libstdc++.a(string-inst.o)"), "libstdc++");
        assert!(component_of("<internal>").starts_with("linker-made"));
        let usage = usage_by_component(&sections, &sample());
        // The first page (0x101000) is touched: crt1's 0x20 bytes and LLVM's 0x100.
        assert_eq!(usage["LLVM Core"], Usage { bytes: 0x100, touched: 0x100 });
        assert_eq!(usage["Rust std"], Usage { bytes: 0x40, touched: 0 });
    }
}
