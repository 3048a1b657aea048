//! Shrink (docs/shrink.md), the parts that need no kernel and no LLVM:
//!
//! * [`link`] — links the ELF relocatable object the kernel's LLVM made of an app
//!   behind the export runtime at fixed addresses (no host linker): hot functions
//!   first, then read-only data, data and a GOT stored in the payload, then the BSS,
//!   which the runtime zeroes;
//! * [`raw_image`] — the bootable raw disk image: stage1 and stage2 (read back from the
//!   kernel's boot disk), a FLUD header built with `boot-protocol`, the payload;
//! * [`inspect`] — decodes and checks an exported image;
//! * [`deadcode`] — the format of the kernel's dead-code page map and its mapping back
//!   to the linker map's components;
//! * [`sizes`] — the kernel's bytes per component and object file, from the linker map
//!   (`make size-report`).

pub mod deadcode;
pub mod sizes;

use std::collections::HashMap;

use boot_protocol::export::{AppRecord, RUNTIME_SYMBOLS, RuntimeError, RuntimeHeader};
use boot_protocol::flud::{FludError, FludHeader, crc32};
use boot_protocol::mbr::{
    BOOT_SIGNATURE, BOOT_SIGNATURE_OFFSET, DISK_SIGNATURE_OFFSET, PARTITION_ENTRY_SIZE, PARTITION_TABLE_OFFSET,
    PARTITION_TYPE_BOOT_DATA, PartitionEntry, STATUS_ACTIVE,
};
use boot_protocol::{FLUD_HEADER_LBA, LOAD_ADDR, PAYLOAD_LBA, SECTOR_SIZE, STAGE2_LBA, STAGE2_SECTORS};
use object::{
    Object, ObjectSection, ObjectSymbol, RelocationFlags, RelocationTarget, SectionIndex, SectionKind, SymbolIndex,
    SymbolSection,
};

/// The app to link: its name and what the kernel's export decided.
#[derive(Clone, Debug, Default)]
pub struct AppSpec {
    /// The app's name (the runtime prints it and names its METRIC after it).
    pub name: String,
    /// Function symbols, hottest first: their sections are laid out in this order.
    pub order: Vec<String>,
    /// [`boot_protocol::export::FLAG_TRIMMED`] or 0.
    pub flags: u32,
    /// Functions exported with code.
    pub exported: u32,
    /// Functions replaced by a cold-path stub.
    pub trimmed: u32,
}

/// Bytes of the app's parts in the payload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SectionSizes {
    /// Code.
    pub text: u64,
    /// Read-only data.
    pub rodata: u64,
    /// Writable data.
    pub data: u64,
    /// The GOT the linker made.
    pub got: u64,
    /// Zero-initialised data (not stored: the runtime zeroes it).
    pub bss: u64,
}

/// A function of the linked app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkedFunction {
    /// Its symbol.
    pub name: String,
    /// Its address in the image.
    pub address: u64,
    /// Its size in bytes.
    pub size: u64,
}

/// A linked payload: the runtime followed by the app.
#[derive(Clone, Debug)]
pub struct Linked {
    /// The bytes stage2 loads at [`LOAD_ADDR`].
    pub payload: Vec<u8>,
    /// The entry point (the runtime's start, [`LOAD_ADDR`]).
    pub entry: u64,
    /// Bytes of memory the image occupies from [`LOAD_ADDR`]: the payload, then the
    /// app's BSS, which the runtime zeroes.
    pub memory_size: u64,
    /// Where the app starts.
    pub app_base: u64,
    /// The app's parts.
    pub sizes: SectionSizes,
    /// The app's functions in address order.
    pub functions: Vec<LinkedFunction>,
}

/// Why an app does not link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkError {
    /// The runtime image is not usable.
    Runtime(RuntimeError),
    /// The object is not an ELF64 x86-64 relocatable file.
    NotAnObject(String),
    /// A section the export cannot support (constructors, thread-locals).
    Unsupported(String),
    /// A symbol neither the app nor the runtime defines.
    Undefined(String),
    /// A relocation of an unsupported type, out of range or outside its section.
    Relocation(String),
    /// The app has no `bf_app_main`.
    NoEntry,
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::Runtime(e) => write!(f, "{e}"),
            LinkError::NotAnObject(why) => write!(f, "not an ELF64 x86-64 relocatable object: {why}"),
            LinkError::Unsupported(what) => write!(f, "{what}"),
            LinkError::Undefined(name) => write!(
                f,
                "the app uses `{name}`, which the export runtime does not define (it defines {})",
                RUNTIME_SYMBOLS.join(", ")
            ),
            LinkError::Relocation(what) => write!(f, "relocation: {what}"),
            LinkError::NoEntry => write!(f, "the app defines no `bf_app_main`"),
        }
    }
}

impl std::error::Error for LinkError {}

/// x86-64 ELF relocation types the linker applies (`R_X86_64_*`).
mod r {
    pub const NONE: u32 = 0;
    pub const R64: u32 = 1;
    pub const PC32: u32 = 2;
    pub const PLT32: u32 = 4;
    pub const GOTPCREL: u32 = 9;
    pub const R32: u32 = 10;
    pub const R32S: u32 = 11;
    pub const PC64: u32 = 24;
    pub const GOTPCRELX: u32 = 41;
    pub const REX_GOTPCRELX: u32 = 42;
}

const SHF_WRITE: u64 = 0x1;
const SHF_ALLOC: u64 = 0x2;
const SHF_EXECINSTR: u64 = 0x4;

/// The app's sections by kind, in layout order.
#[derive(Default)]
struct Groups {
    text: Vec<SectionIndex>,
    rodata: Vec<SectionIndex>,
    data: Vec<SectionIndex>,
    bss: Vec<SectionIndex>,
}

fn align_up(value: u64, align: u64) -> u64 {
    let align = align.max(1);
    value.div_ceil(align) * align
}

fn is_got_type(r_type: u32) -> bool {
    matches!(r_type, r::GOTPCREL | r::GOTPCRELX | r::REX_GOTPCRELX)
}

/// Links `object` (an ELF relocatable) behind `runtime` (an export runtime image with
/// its `BFRT` header) for `app`.
pub fn link(runtime: &[u8], object: &[u8], app: &AppSpec) -> Result<Linked, LinkError> {
    let header = RuntimeHeader::decode(runtime).map_err(LinkError::Runtime)?;
    let file = object::File::parse(object).map_err(|e| LinkError::NotAnObject(e.to_string()))?;
    if file.format() != object::BinaryFormat::Elf
        || file.architecture() != object::Architecture::X86_64
        || !file.is_64()
        || file.kind() != object::ObjectKind::Relocatable
    {
        return Err(LinkError::NotAnObject(format!("{:?} {:?} {:?}", file.format(), file.architecture(), file.kind())));
    }

    // Which sections go into the image, and as what.
    let mut groups = Groups::default();
    for section in file.sections() {
        let object::SectionFlags::Elf { sh_flags } = section.flags() else { continue };
        if sh_flags & SHF_ALLOC == 0 {
            continue;
        }
        let name = section.name().unwrap_or("?");
        if name.starts_with(".eh_frame") {
            continue;
        }
        if name.starts_with(".init_array")
            || name.starts_with(".fini_array")
            || name.starts_with(".ctors")
            || name.starts_with(".dtors")
        {
            return Err(LinkError::Unsupported(format!(
                "the app has constructors or destructors ({name}), which an exported image does not run"
            )));
        }
        if name.starts_with(".tbss") || name.starts_with(".tdata") {
            return Err(LinkError::Unsupported(format!(
                "the app has thread-local data ({name}), which an exported image does not support"
            )));
        }
        let group = if sh_flags & SHF_EXECINSTR != 0 {
            &mut groups.text
        } else if section.kind() == SectionKind::UninitializedData {
            &mut groups.bss
        } else if sh_flags & SHF_WRITE != 0 {
            &mut groups.data
        } else {
            &mut groups.rodata
        };
        group.push(section.index());
    }

    // Hot first: the sections defining the functions of `order`, in that order.
    let defined: HashMap<&str, SectionIndex> =
        file.symbols().filter_map(|s| Some((s.name().ok()?, s.section_index()?))).collect();
    let mut text: Vec<SectionIndex> = Vec::new();
    for name in &app.order {
        if let Some(index) = defined.get(name.as_str()).filter(|i| groups.text.contains(i))
            && !text.contains(index)
        {
            text.push(*index);
        }
    }
    text.extend(groups.text.iter().filter(|i| !text.contains(i)).copied().collect::<Vec<_>>());

    // Layout.
    let app_base = align_up(header.memory_end, 16);
    let mut cursor = app_base;
    let mut address: HashMap<SectionIndex, u64> = HashMap::new();
    let mut sizes = SectionSizes::default();
    let place = |list: &[SectionIndex], cursor: &mut u64, address: &mut HashMap<SectionIndex, u64>| -> u64 {
        let mut bytes = 0;
        for &index in list {
            let section = file.section_by_index(index).expect("listed above");
            *cursor = align_up(*cursor, section.align());
            address.insert(index, *cursor);
            *cursor += section.size();
            bytes += section.size();
        }
        bytes
    };
    sizes.text = place(&text, &mut cursor, &mut address);
    sizes.rodata = place(&groups.rodata, &mut cursor, &mut address);
    sizes.data = place(&groups.data, &mut cursor, &mut address);
    // The GOT: one slot per symbol a GOT relocation names.
    let mut got: Vec<SymbolIndex> = Vec::new();
    for &index in text.iter().chain(&groups.rodata).chain(&groups.data) {
        let section = file.section_by_index(index).expect("listed above");
        for (_, rel) in section.relocations() {
            if let (RelocationFlags::Elf { r_type }, RelocationTarget::Symbol(symbol)) = (rel.flags(), rel.target())
                && is_got_type(r_type)
                && !got.contains(&symbol)
            {
                got.push(symbol);
            }
        }
    }
    cursor = align_up(cursor, 8);
    let got_base = cursor;
    cursor += 8 * got.len() as u64;
    sizes.got = 8 * got.len() as u64;
    let bss_start = cursor;
    place(&groups.bss, &mut cursor, &mut address);
    let mut common: HashMap<SymbolIndex, u64> = HashMap::new();
    for symbol in file.symbols().filter(|s| s.section() == SymbolSection::Common) {
        // A COMMON symbol's value is its alignment.
        cursor = align_up(cursor, symbol.address());
        common.insert(symbol.index(), cursor);
        cursor += symbol.size();
    }
    sizes.bss = cursor - bss_start;

    let symbol_address = |index: SymbolIndex| -> Result<u64, LinkError> {
        let symbol =
            file.symbol_by_index(index).map_err(|e| LinkError::Relocation(format!("bad symbol index: {e}")))?;
        let name = symbol.name().unwrap_or("?");
        match symbol.section() {
            SymbolSection::Section(section) => address
                .get(&section)
                .map(|base| base + symbol.address())
                .ok_or_else(|| LinkError::Unsupported(format!("`{name}` is in a section the export drops"))),
            SymbolSection::Common => Ok(common[&index]),
            SymbolSection::Absolute => Ok(symbol.address()),
            _ => header.symbol(name).ok_or_else(|| LinkError::Undefined(name.to_string())),
        }
    };

    // The bytes: the runtime, zeros up to the app, the app's sections; the BSS after
    // them is memory, not payload.
    let mut payload = runtime.to_vec();
    payload.resize((bss_start - LOAD_ADDR) as usize, 0);
    for (&index, &at) in &address {
        let section = file.section_by_index(index).expect("placed");
        if section.kind() == SectionKind::UninitializedData {
            continue;
        }
        let data = section.data().map_err(|e| LinkError::NotAnObject(e.to_string()))?;
        let offset = (at - LOAD_ADDR) as usize;
        payload[offset..offset + data.len()].copy_from_slice(data);
    }
    for (slot, &symbol) in got.iter().enumerate() {
        let offset = (got_base - LOAD_ADDR) as usize + 8 * slot;
        payload[offset..offset + 8].copy_from_slice(&symbol_address(symbol)?.to_le_bytes());
    }

    // Relocations.
    for (&index, &base) in &address {
        let section = file.section_by_index(index).expect("placed");
        let name = section.name().unwrap_or("?");
        for (offset, rel) in section.relocations() {
            let RelocationFlags::Elf { r_type } = rel.flags() else {
                return Err(LinkError::Relocation(format!("not an ELF relocation in {name}")));
            };
            if r_type == r::NONE {
                continue;
            }
            let target = match rel.target() {
                RelocationTarget::Symbol(symbol) => symbol_address(symbol)?,
                RelocationTarget::Section(section) => *address
                    .get(&section)
                    .ok_or_else(|| LinkError::Relocation(format!("{name}+{offset:#x} refers to a dropped section")))?,
                RelocationTarget::Absolute => 0,
                _ => return Err(LinkError::Relocation(format!("{name}+{offset:#x}: unknown target"))),
            };
            let place = base + offset;
            let value = target.wrapping_add_signed(rel.addend());
            let (bytes, width): ([u8; 8], usize) = match r_type {
                r::R64 => (value.to_le_bytes(), 8),
                r::PC64 => (value.wrapping_sub(place).to_le_bytes(), 8),
                r::PC32 | r::PLT32 => (fit_i32(value.wrapping_sub(place) as i64, name, offset)?, 4),
                r::R32S => (fit_i32(value as i64, name, offset)?, 4),
                r::R32 => {
                    let v = u32::try_from(value).map_err(|_| overflow(name, offset))?;
                    (u64::from(v).to_le_bytes(), 4)
                }
                r::GOTPCREL | r::GOTPCRELX | r::REX_GOTPCRELX => {
                    let RelocationTarget::Symbol(symbol) = rel.target() else {
                        return Err(LinkError::Relocation(format!(
                            "{name}+{offset:#x}: a GOT relocation without a symbol"
                        )));
                    };
                    let slot = got_base + 8 * got.iter().position(|s| *s == symbol).expect("collected") as u64;
                    (fit_i32(slot.wrapping_add_signed(rel.addend()).wrapping_sub(place) as i64, name, offset)?, 4)
                }
                other => {
                    return Err(LinkError::Relocation(format!(
                        "type {other} at {name}+{offset:#x} is not supported (supported: 64, PC64, PC32, PLT32, 32, 32S, GOTPCREL, GOTPCRELX, REX_GOTPCRELX)"
                    )));
                }
            };
            if offset + width as u64 > section.size() || section.kind() == SectionKind::UninitializedData {
                return Err(LinkError::Relocation(format!("{name}+{offset:#x} lies outside its section")));
            }
            let at = (place - LOAD_ADDR) as usize;
            payload[at..at + width].copy_from_slice(&bytes[..width]);
        }
    }

    let entry_index = file.symbol_by_name("bf_app_main").filter(|s| s.is_definition()).ok_or(LinkError::NoEntry)?;
    let app_entry = symbol_address(entry_index.index())?;
    AppRecord {
        entry: app_entry,
        name: &app.name,
        flags: app.flags,
        exported: app.exported,
        trimmed: app.trimmed,
        bss_start,
        bss_end: cursor,
    }
    .write_to(&mut payload)
    .map_err(LinkError::Runtime)?;

    let mut functions: Vec<LinkedFunction> = file
        .symbols()
        .filter(|s| s.kind() == object::SymbolKind::Text && s.is_definition())
        .filter_map(|s| {
            let address = address.get(&s.section_index()?)? + s.address();
            Some(LinkedFunction { name: s.name().ok()?.to_string(), address, size: s.size() })
        })
        .collect();
    functions.sort_by_key(|f| f.address);
    let memory_size = cursor - LOAD_ADDR;
    Ok(Linked { payload, entry: LOAD_ADDR, memory_size, app_base, sizes, functions })
}

fn overflow(section: &str, offset: u64) -> LinkError {
    LinkError::Relocation(format!("the value at {section}+{offset:#x} does not fit its field"))
}

fn fit_i32(value: i64, section: &str, offset: u64) -> Result<[u8; 8], LinkError> {
    let v = i32::try_from(value).map_err(|_| overflow(section, offset))?;
    Ok(i64::from(v).to_le_bytes())
}

/// Why an image cannot be made or read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// stage1 is not a 512-byte MBR ending `0x55 0xAA`.
    BadStage1,
    /// stage2 is empty, longer than 4096 bytes or lacks `BFS2` at bytes 2–5.
    BadStage2,
    /// The FLUD header cannot be made or does not decode or check.
    Flud(FludError),
    /// The image is shorter than its header says.
    Truncated,
    /// The payload does not start with an export runtime.
    NotExported,
}

impl std::fmt::Display for ImageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImageError::BadStage1 => write!(f, "stage1 is not a 512-byte MBR ending 0x55 0xAA"),
            ImageError::BadStage2 => write!(f, "stage2 must be 1 to 4096 bytes with `BFS2` at bytes 2-5"),
            ImageError::Flud(e) => write!(f, "FLUD header: {e:?}"),
            ImageError::Truncated => write!(f, "the image is shorter than its FLUD header says"),
            ImageError::NotExported => write!(f, "the payload does not start with the export runtime (BFRT)"),
        }
    }
}

impl std::error::Error for ImageError {}

/// The 8.3 file name of `app`'s exported image on the FAT16 partition: its letters,
/// digits and underscores, the first eight, upper-cased, with `.IMG` (`TINYLLAM.IMG`;
/// `APP.IMG` if nothing is left). The kernel writes it, the host tools look it up.
pub fn image_file_name(app: &str) -> String {
    let stem: String = app
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(8)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    format!("{}.IMG", if stem.is_empty() { "APP" } else { &stem })
}

/// The smallest disk the BIOS boots from every interface: one cylinder of the
/// 16-head, 63-sector geometry. SeaBIOS refuses a virtio or USB disk smaller than that
/// (it boots nothing and prints nothing), so [`raw_image`] pads the file with zeros to
/// this size; the bytes that carry something are [`used_bytes`].
pub const MIN_DISK_SECTORS: usize = 16 * 63;

/// Bytes of an image of `linked` that carry something: stage1, stage2, the FLUD header
/// and the payload, to the end of its last sector. Writing these to a USB stick is
/// enough; the rest of [`raw_image`]'s file is padding.
pub fn used_bytes(linked: &Linked) -> usize {
    used_bytes_for(linked.payload.len())
}

/// Bytes from LBA 0 to the end of the last sector of a `payload_len`-byte payload.
fn used_bytes_for(payload_len: usize) -> usize {
    (PAYLOAD_LBA as usize + payload_len.div_ceil(SECTOR_SIZE)) * SECTOR_SIZE
}

/// The complete raw disk image for `linked`: LBA 0 `stage1` with a fresh disk signature
/// and one active boot-data partition over the rest, LBA 1–8 `stage2`, LBA 9 the FLUD
/// header (with `cmdline`), LBA 10… the payload, then zeros up to
/// [`MIN_DISK_SECTORS`]. No FAT16 partition.
pub fn raw_image(stage1: &[u8], stage2: &[u8], linked: &Linked, cmdline: &str) -> Result<Vec<u8>, ImageError> {
    if stage1.len() != SECTOR_SIZE || stage1[BOOT_SIGNATURE_OFFSET..] != BOOT_SIGNATURE {
        return Err(ImageError::BadStage1);
    }
    let stage2_max = STAGE2_SECTORS as usize * SECTOR_SIZE;
    if stage2.is_empty() || stage2.len() > stage2_max || stage2.get(2..6) != Some(b"BFS2".as_slice()) {
        return Err(ImageError::BadStage2);
    }
    let payload = &linked.payload;
    let mut header = FludHeader::new(payload.len() as u64, linked.entry, crc32(payload), linked.memory_size);
    header.set_cmdline(cmdline).map_err(ImageError::Flud)?;
    header.check_layout().map_err(ImageError::Flud)?;
    let header = header.encode();
    let total_sectors = (used_bytes(linked) / SECTOR_SIZE).max(MIN_DISK_SECTORS);
    let mut image = vec![0u8; total_sectors * SECTOR_SIZE];
    // The MBR: stage1's code, a disk signature derived from the header (as mkimage's),
    // one partition from stage2 to the end.
    image[..SECTOR_SIZE].copy_from_slice(stage1);
    let signature = crc32(&header).max(1);
    image[DISK_SIGNATURE_OFFSET..DISK_SIGNATURE_OFFSET + 4].copy_from_slice(&signature.to_le_bytes());
    image[DISK_SIGNATURE_OFFSET + 4..PARTITION_TABLE_OFFSET].fill(0);
    let boot = PartitionEntry {
        status: STATUS_ACTIVE,
        kind: PARTITION_TYPE_BOOT_DATA,
        first_lba: STAGE2_LBA as u32,
        sectors: (total_sectors - STAGE2_LBA as usize) as u32,
    };
    let table = PARTITION_TABLE_OFFSET..PARTITION_TABLE_OFFSET + 4 * PARTITION_ENTRY_SIZE;
    image[table.clone()].fill(0);
    image[table.start..table.start + PARTITION_ENTRY_SIZE].copy_from_slice(&boot.encode());
    let stage2_at = STAGE2_LBA as usize * SECTOR_SIZE;
    image[stage2_at..stage2_at + stage2.len()].copy_from_slice(stage2);
    let header_at = FLUD_HEADER_LBA as usize * SECTOR_SIZE;
    image[header_at..header_at + SECTOR_SIZE].copy_from_slice(&header);
    let payload_at = PAYLOAD_LBA as usize * SECTOR_SIZE;
    image[payload_at..payload_at + payload.len()].copy_from_slice(payload);
    Ok(image)
}

/// What [`inspect`] found in an exported image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSummary {
    /// The decoded FLUD header.
    pub header: FludHeader,
    /// The app's name.
    pub app: String,
    /// The app's entry.
    pub app_entry: u64,
    /// Header flags ([`boot_protocol::export::FLAG_TRIMMED`]).
    pub flags: u32,
    /// Functions exported.
    pub exported: u32,
    /// Functions trimmed.
    pub trimmed: u32,
    /// Bytes of the payload.
    pub payload_bytes: u64,
    /// Bytes of the image that carry something (up to the payload's last sector).
    pub image_bytes: u64,
    /// Bytes of the file, padding included.
    pub file_bytes: u64,
}

/// Decodes and checks an exported raw image: MBR signature, FLUD header, payload
/// checksum and the runtime's header.
pub fn inspect(image: &[u8]) -> Result<ImageSummary, ImageError> {
    if image.len() < (PAYLOAD_LBA as usize) * SECTOR_SIZE || image[BOOT_SIGNATURE_OFFSET..SECTOR_SIZE] != BOOT_SIGNATURE
    {
        return Err(ImageError::BadStage1);
    }
    let at = FLUD_HEADER_LBA as usize * SECTOR_SIZE;
    let header = FludHeader::decode(&image[at..at + SECTOR_SIZE]).map_err(ImageError::Flud)?;
    let start = PAYLOAD_LBA as usize * SECTOR_SIZE;
    let payload = image.get(start..start + header.payload_size as usize).ok_or(ImageError::Truncated)?;
    header.verify_payload(payload).map_err(ImageError::Flud)?;
    let record = AppRecord::read_from(payload).ok_or(ImageError::NotExported)?;
    Ok(ImageSummary {
        app: record.name.to_string(),
        app_entry: record.entry,
        flags: record.flags,
        exported: record.exported,
        trimmed: record.trimmed,
        payload_bytes: payload.len() as u64,
        image_bytes: used_bytes_for(payload.len()) as u64,
        file_bytes: image.len() as u64,
        header,
    })
}

#[cfg(test)]
mod tests;
