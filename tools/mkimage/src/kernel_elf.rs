//! The kernel ELF → the flat memory image stage2 copies to [`LOAD_ADDR`].
//!
//! The kernel is a static, non-PIE x86-64 executable linked at [`LOAD_ADDR`]; its first
//! `PT_LOAD` segment holds the ELF and program headers there. The flat image holds every
//! segment's file bytes at `p_vaddr - LOAD_ADDR`, gaps zero-filled. The BSS tail past
//! the last file byte is not stored, but counts toward the memory size (the FLUD
//! header's kernel image size), which the kernel zeroes itself. A segment without file
//! bytes inside [`AOT_WINDOW`] (the AOT apps' statics, which the kernel maps on demand)
//! is neither in the image nor in its memory size.

use anyhow::{Context, Result, bail, ensure};
use boot_protocol::{AOT_WINDOW, LOAD_ADDR};
use object::elf::{self, FileHeader64, ProgramHeader64};
use object::read::elf::{FileHeader as _, ProgramHeader as _};
use object::{Endianness, FileKind};

/// Largest kernel memory image accepted (BSS included): anything bigger is a link error,
/// not a kernel (stage2 maps only the first 4 GiB and the modules follow the kernel).
pub const MAX_KERNEL_MEMORY_SIZE: u64 = 3 << 30;

/// One `PT_LOAD` program header, reduced to what the flat layout needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadSegment {
    /// Virtual address of the segment's first byte (`p_vaddr`).
    pub vaddr: u64,
    /// Physical address (`p_paddr`); must equal `vaddr`, as stage2 identity-maps memory.
    pub paddr: u64,
    /// Offset of the segment's bytes in the ELF file (`p_offset`).
    pub file_offset: u64,
    /// Bytes stored in the file (`p_filesz`).
    pub file_size: u64,
    /// Bytes the segment occupies in memory (`p_memsz`), BSS included.
    pub mem_size: u64,
    /// Whether the segment is executable (`PF_X`).
    pub executable: bool,
}

impl LoadSegment {
    /// End of the segment's file-backed bytes in memory (exclusive).
    fn file_end(&self) -> u64 {
        self.vaddr + self.file_size
    }

    /// End of the segment in memory (exclusive), BSS included.
    fn mem_end(&self) -> u64 {
        self.vaddr + self.mem_size
    }

    /// Whether this is the AOT apps' statics: no file bytes, wholly inside
    /// [`AOT_WINDOW`], which the kernel maps itself when an AOT app runs.
    pub fn is_mapped_on_demand(&self) -> bool {
        self.file_size == 0
            && AOT_WINDOW.contains(&self.vaddr)
            && self.vaddr.checked_add(self.mem_size).is_some_and(|end| end <= AOT_WINDOW.end)
    }
}

/// Sizes of the flat kernel image, as checked by [`plan_kernel_layout`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelLayout {
    /// Bytes of the flat image that are stored in the payload (up to the last file byte).
    pub file_image_size: u64,
    /// Bytes of memory from [`LOAD_ADDR`] the kernel occupies, BSS included.
    pub memory_size: u64,
}

/// The kernel as stage2 loads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelImage {
    /// The flat image: segment file bytes at `p_vaddr - LOAD_ADDR`, gaps zero-filled.
    pub file_image: Vec<u8>,
    /// Bytes of memory from [`LOAD_ADDR`] the kernel occupies, BSS included.
    pub memory_size: u64,
    /// Physical (= virtual) address of the kernel's entry point.
    pub entry: u64,
    /// Number of `PT_LOAD` segments the image was built from.
    pub segment_count: usize,
}

/// Parses the kernel ELF and builds its flat image.
pub fn load_kernel_elf(elf_bytes: &[u8]) -> Result<KernelImage> {
    let (segments, entry) = read_load_segments(elf_bytes)?;
    let layout = plan_kernel_layout(&segments, entry)?;
    let file_image = flatten_segments(&segments, elf_bytes, layout)?;
    Ok(KernelImage { file_image, memory_size: layout.memory_size, entry, segment_count: segments.len() })
}

/// Reads the `PT_LOAD` program headers and the entry point of an ELF64 x86-64
/// executable (static, non-PIE). Rejects any other kind of file.
pub fn read_load_segments(elf_bytes: &[u8]) -> Result<(Vec<LoadSegment>, u64)> {
    match FileKind::parse(elf_bytes) {
        Ok(FileKind::Elf64) => {}
        Ok(FileKind::Elf32) => bail!("the kernel is a 32-bit ELF (ELFCLASS32); it must be ELF64 for x86-64"),
        Ok(other) => bail!("the kernel is not an ELF file (looks like {other:?})"),
        Err(_) => bail!("the kernel is not an ELF file (no ELF magic)"),
    }
    let header = FileHeader64::<Endianness>::parse(elf_bytes).context("the kernel's ELF header is malformed")?;
    let endian = header.endian().context("the kernel's ELF header has an unknown byte order")?;
    ensure!(endian == Endianness::Little, "the kernel is a big-endian ELF; x86-64 is little-endian");
    let machine = header.e_machine(endian);
    ensure!(machine == elf::EM_X86_64, "the kernel ELF is for machine {machine:#x}, not x86-64 (EM_X86_64 = 0x3e)");
    match header.e_type(endian) {
        elf::ET_EXEC => {}
        elf::ET_DYN => bail!(
            "the kernel ELF is position-independent (ET_DYN); link it static and non-PIE \
             (-C relocation-model=static, -no-pie)"
        ),
        other => bail!("the kernel ELF is not an executable (e_type {other:#x}, expected ET_EXEC)"),
    }
    let program_headers: &[ProgramHeader64<Endianness>] =
        header.program_headers(endian, elf_bytes).context("the kernel's program headers are malformed")?;
    let segments = program_headers
        .iter()
        .filter(|ph| ph.p_type(endian) == elf::PT_LOAD)
        .map(|ph| LoadSegment {
            vaddr: ph.p_vaddr(endian),
            paddr: ph.p_paddr(endian),
            file_offset: ph.p_offset(endian),
            file_size: ph.p_filesz(endian),
            mem_size: ph.p_memsz(endian),
            executable: ph.p_flags(endian) & elf::PF_X != 0,
        })
        .collect();
    Ok((segments, header.e_entry(endian)))
}

/// Checks the segments against the rules of the flat layout and computes its sizes.
///
/// `segments` may be in any order; empty segments (`mem_size == 0`) are ignored.
pub fn plan_kernel_layout(segments: &[LoadSegment], entry: u64) -> Result<KernelLayout> {
    let segments = sorted_nonempty(segments);
    let Some(first) = segments.first() else {
        bail!("the kernel ELF has no PT_LOAD segment");
    };
    for s in &segments {
        ensure!(
            s.vaddr >= LOAD_ADDR,
            "a PT_LOAD segment starts at {:#x}, below the load address {LOAD_ADDR:#x}",
            s.vaddr
        );
        ensure!(
            s.file_size <= s.mem_size,
            "the PT_LOAD segment at {:#x} stores more bytes ({:#x}) than it occupies in memory ({:#x})",
            s.vaddr,
            s.file_size,
            s.mem_size
        );
        ensure!(
            s.paddr == s.vaddr,
            "the PT_LOAD segment at {:#x} has physical address {:#x}; stage2 identity-maps memory, \
             so p_paddr must equal p_vaddr",
            s.vaddr,
            s.paddr
        );
        ensure!(
            s.vaddr.checked_add(s.mem_size).is_some_and(|end| end - LOAD_ADDR <= MAX_KERNEL_MEMORY_SIZE),
            "the PT_LOAD segment at {:#x} is absurdly large ({:#x} bytes); the kernel must fit in {} GiB",
            s.vaddr,
            s.mem_size,
            MAX_KERNEL_MEMORY_SIZE >> 30
        );
    }
    ensure!(
        first.vaddr == LOAD_ADDR,
        "the first PT_LOAD segment starts at {:#x}, not at the load address {LOAD_ADDR:#x}; \
         link the kernel with its image starting at {LOAD_ADDR:#x}",
        first.vaddr
    );
    ensure!(
        first.file_offset == 0,
        "the first PT_LOAD segment starts at file offset {:#x}, not 0, so the ELF headers are not \
         loaded at {LOAD_ADDR:#x} (the kernel hands them to glibc as AT_PHDR)",
        first.file_offset
    );
    for pair in segments.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        ensure!(
            b.vaddr >= a.mem_end(),
            "PT_LOAD segments {:#x}..{:#x} and {:#x}..{:#x} overlap",
            a.vaddr,
            a.mem_end(),
            b.vaddr,
            b.mem_end()
        );
    }
    ensure!(
        segments.iter().any(|s| s.executable && (s.vaddr..s.file_end()).contains(&entry)),
        "the entry point {entry:#x} is not inside the file-backed part of an executable PT_LOAD segment"
    );
    let memory_end = segments.iter().map(LoadSegment::mem_end).max().unwrap_or(LOAD_ADDR);
    let file_end = segments.iter().map(LoadSegment::file_end).max().unwrap_or(LOAD_ADDR);
    Ok(KernelLayout { file_image_size: file_end - LOAD_ADDR, memory_size: memory_end - LOAD_ADDR })
}

/// Builds the flat image: each segment's file bytes at `vaddr - LOAD_ADDR`, gaps zeroed.
/// `layout` must come from [`plan_kernel_layout`] on the same segments.
pub fn flatten_segments(segments: &[LoadSegment], elf_bytes: &[u8], layout: KernelLayout) -> Result<Vec<u8>> {
    let image_len = usize::try_from(layout.file_image_size).context("kernel image too large for this host")?;
    let mut image = vec![0u8; image_len];
    for s in sorted_nonempty(segments) {
        let source = usize::try_from(s.file_offset)
            .ok()
            .zip(usize::try_from(s.file_size).ok())
            .and_then(|(start, len)| elf_bytes.get(start..start.checked_add(len)?))
            .with_context(|| {
                format!(
                    "the PT_LOAD segment at {:#x} refers to file bytes {:#x}..{:#x}, past the end of the \
                     {}-byte kernel ELF (truncated file?)",
                    s.vaddr,
                    s.file_offset,
                    s.file_offset.saturating_add(s.file_size),
                    elf_bytes.len()
                )
            })?;
        let start = (s.vaddr - LOAD_ADDR) as usize;
        image[start..start + source.len()].copy_from_slice(source);
    }
    Ok(image)
}

/// The segments that occupy memory in the flat image, sorted by address (the on-demand
/// window left out).
fn sorted_nonempty(segments: &[LoadSegment]) -> Vec<LoadSegment> {
    let mut sorted: Vec<LoadSegment> =
        segments.iter().copied().filter(|s| s.mem_size > 0 && !s.is_mapped_on_demand()).collect();
    sorted.sort_by_key(|s| s.vaddr);
    sorted
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use object::write::elf::{FileHeader, ProgramHeader, Writer};

    fn segment(vaddr: u64, file_offset: u64, file_size: u64, mem_size: u64, executable: bool) -> LoadSegment {
        LoadSegment { vaddr, paddr: vaddr, file_offset, file_size, mem_size, executable }
    }

    /// A typical GNU ld layout: headers (R), text (RX), data + BSS (RW).
    fn typical() -> Vec<LoadSegment> {
        vec![
            segment(LOAD_ADDR, 0, 0x200, 0x200, false),
            segment(LOAD_ADDR + 0x1000, 0x1000, 0x80, 0x80, true),
            segment(LOAD_ADDR + 0x3000, 0x2000, 0x10, 0x5000, false),
        ]
    }

    fn error_of(segments: &[LoadSegment], entry: u64) -> String {
        plan_kernel_layout(segments, entry).unwrap_err().to_string()
    }

    #[test]
    fn layout_counts_bss_in_memory_size_only() {
        let layout = plan_kernel_layout(&typical(), LOAD_ADDR + 0x1010).unwrap();
        assert_eq!(layout, KernelLayout { file_image_size: 0x3010, memory_size: 0x8000 });
    }

    #[test]
    fn the_aot_window_is_left_out_of_the_image_and_its_memory_size() {
        let mut segments = typical();
        segments.push(segment(AOT_WINDOW.start, 0x2010, 0, 0xb0_0000, false));
        let layout = plan_kernel_layout(&segments, LOAD_ADDR + 0x1010).unwrap();
        assert_eq!(layout, KernelLayout { file_image_size: 0x3010, memory_size: 0x8000 });
        // A segment with file bytes there, or one that runs past the window, is not the
        // window: it counts, and here makes the kernel absurdly large.
        let past = segment(AOT_WINDOW.start, 0x2010, 0, AOT_WINDOW.end - AOT_WINDOW.start + 1, false);
        assert!(!past.is_mapped_on_demand());
        assert!(!segment(AOT_WINDOW.start, 0x2010, 0x10, 0x1000, false).is_mapped_on_demand());
    }

    #[test]
    fn segment_order_does_not_matter() {
        let mut reversed = typical();
        reversed.reverse();
        assert_eq!(
            plan_kernel_layout(&reversed, LOAD_ADDR + 0x1000).unwrap(),
            plan_kernel_layout(&typical(), LOAD_ADDR + 0x1000).unwrap()
        );
    }

    #[test]
    fn flatten_places_bytes_and_zero_fills_gaps() {
        let mut elf = vec![0u8; 0x2010];
        elf[..0x200].fill(0x11);
        elf[0x1000..0x1080].fill(0x22);
        elf[0x2000..0x2010].fill(0x33);
        elf[0x200..0x1000].fill(0xEE); // file bytes no segment covers must not leak in
        let segments = typical();
        let layout = plan_kernel_layout(&segments, LOAD_ADDR + 0x1000).unwrap();
        let image = flatten_segments(&segments, &elf, layout).unwrap();
        assert_eq!(image.len(), 0x3010);
        assert!(image[..0x200].iter().all(|&b| b == 0x11));
        assert!(image[0x200..0x1000].iter().all(|&b| b == 0));
        assert!(image[0x1000..0x1080].iter().all(|&b| b == 0x22));
        assert!(image[0x1080..0x3000].iter().all(|&b| b == 0));
        assert!(image[0x3000..].iter().all(|&b| b == 0x33));
    }

    #[test]
    fn flatten_rejects_truncated_file() {
        let segments = typical();
        let layout = plan_kernel_layout(&segments, LOAD_ADDR + 0x1000).unwrap();
        let err = flatten_segments(&segments, &[0u8; 0x1000], layout).unwrap_err().to_string();
        assert!(err.contains("past the end"), "{err}");
    }

    #[test]
    fn rejects_missing_segments() {
        assert!(error_of(&[], LOAD_ADDR).contains("no PT_LOAD"));
        let empty_only = [segment(LOAD_ADDR, 0, 0, 0, true)];
        assert!(error_of(&empty_only, LOAD_ADDR).contains("no PT_LOAD"));
    }

    #[test]
    fn rejects_segment_below_load_addr() {
        let mut s = typical();
        s.push(segment(0x8000, 0x3000, 0x10, 0x10, false));
        assert!(error_of(&s, LOAD_ADDR + 0x1000).contains("below the load address"));
    }

    #[test]
    fn rejects_image_not_starting_at_load_addr() {
        let mut s = typical();
        s.remove(0);
        assert!(error_of(&s, LOAD_ADDR + 0x1000).contains("not at the load address"));
    }

    #[test]
    fn rejects_headers_not_loaded() {
        let mut s = typical();
        s[0].file_offset = 0x1000;
        assert!(error_of(&s, LOAD_ADDR + 0x1000).contains("ELF headers"));
    }

    #[test]
    fn rejects_overlap() {
        let mut s = typical();
        s[1].mem_size = 0x2001; // runs one byte into the data segment
        assert!(error_of(&s, LOAD_ADDR + 0x1000).contains("overlap"));
    }

    #[test]
    fn rejects_entry_outside_code() {
        let s = typical();
        assert!(error_of(&s, LOAD_ADDR + 0x1080).contains("entry point")); // just past the text
        assert!(error_of(&s, LOAD_ADDR + 0x10).contains("entry point")); // in the headers (not executable)
        assert!(error_of(&s, 0x7C00).contains("entry point"));
    }

    #[test]
    fn rejects_absurd_size_and_inconsistent_segments() {
        let mut s = typical();
        s[2].mem_size = 3 << 30;
        assert!(error_of(&s, LOAD_ADDR + 0x1000).contains("absurdly large"));
        let mut s = typical();
        s[2].mem_size = u64::MAX;
        assert!(error_of(&s, LOAD_ADDR + 0x1000).contains("absurdly large"));
        let mut s = typical();
        s[1].file_size = 0x100;
        assert!(error_of(&s, LOAD_ADDR + 0x1000).contains("stores more bytes"));
        let mut s = typical();
        s[1].paddr = 0x4000_0000;
        assert!(error_of(&s, LOAD_ADDR + 0x1000).contains("p_paddr"));
    }

    /// Writes a minimal ELF64 with the given header fields and one RX `PT_LOAD` at
    /// `LOAD_ADDR` covering the whole file.
    pub(crate) fn tiny_elf(e_machine: u16, e_type: u16, is_64: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = Writer::new(Endianness::Little, is_64, &mut out);
        w.reserve_file_header();
        w.reserve_program_headers(1);
        let code_offset = w.reserve(16, 16);
        let file_len = w.reserved_len() as u64;
        w.write_file_header(&FileHeader {
            os_abi: 0,
            abi_version: 0,
            e_type,
            e_machine,
            e_entry: LOAD_ADDR + code_offset as u64,
            e_flags: 0,
        })
        .unwrap();
        w.write_align_program_headers();
        w.write_program_header(&ProgramHeader {
            p_type: elf::PT_LOAD,
            p_flags: elf::PF_R | elf::PF_X,
            p_offset: 0,
            p_vaddr: LOAD_ADDR,
            p_paddr: LOAD_ADDR,
            p_filesz: file_len,
            p_memsz: file_len + 0x100,
            p_align: 0x1000,
        });
        w.write_align(16);
        w.write(&[0xF4; 16]); // hlt
        out
    }

    #[test]
    fn loads_a_minimal_executable() {
        let elf_bytes = tiny_elf(elf::EM_X86_64, elf::ET_EXEC, true);
        let kernel = load_kernel_elf(&elf_bytes).unwrap();
        assert_eq!(kernel.file_image, elf_bytes);
        assert_eq!(kernel.memory_size, elf_bytes.len() as u64 + 0x100);
        assert_eq!(kernel.segment_count, 1);
        assert_eq!(kernel.file_image[(kernel.entry - LOAD_ADDR) as usize], 0xF4);
    }

    #[test]
    fn rejects_wrong_kinds_of_file() {
        let err = |bytes: &[u8]| load_kernel_elf(bytes).unwrap_err().to_string();
        assert!(err(b"MZ\x90\x00 not an elf at all").contains("not an ELF"));
        assert!(err(&tiny_elf(elf::EM_386, elf::ET_EXEC, false)).contains("32-bit"));
        assert!(err(&tiny_elf(elf::EM_AARCH64, elf::ET_EXEC, true)).contains("not x86-64"));
        assert!(err(&tiny_elf(elf::EM_X86_64, elf::ET_DYN, true)).contains("position-independent"));
        assert!(err(&tiny_elf(elf::EM_X86_64, elf::ET_REL, true)).contains("not an executable"));
    }
}
