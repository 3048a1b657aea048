//! The linker and the image on objects made here with `object::write`.

use super::*;
use boot_protocol::export::{FLAG_TRIMMED, RUNTIME_HEADER_SIZE};
use object::write::{Object as WriteObject, Relocation, SectionId, Symbol, SymbolId, SymbolSection as WSection};
use object::{Architecture, BinaryFormat, Endianness, SymbolFlags, SymbolKind, SymbolScope};

/// A runtime image of 0x400 bytes with a valid `BFRT` header; symbol `i` of
/// `RUNTIME_SYMBOLS` at `LOAD_ADDR + 0x100 + 16 i`.
fn runtime() -> Vec<u8> {
    let mut b = vec![0u8; 0x400];
    b[8..12].copy_from_slice(b"BFRT");
    b[12..16].copy_from_slice(&1u32.to_le_bytes());
    b[0x10..0x18].copy_from_slice(&(LOAD_ADDR + 0x400).to_le_bytes());
    b[0x18..0x20].copy_from_slice(&(LOAD_ADDR + 0x400).to_le_bytes());
    for i in 0..RUNTIME_SYMBOLS.len() {
        b[0x20 + 8 * i..0x28 + 8 * i].copy_from_slice(&runtime_symbol(i).to_le_bytes());
    }
    b
}

fn runtime_symbol(i: usize) -> u64 {
    LOAD_ADDR + 0x100 + 16 * i as u64
}

struct Builder {
    obj: WriteObject<'static>,
}

impl Builder {
    fn new() -> Self {
        Builder { obj: WriteObject::new(BinaryFormat::Elf, Architecture::X86_64, Endianness::Little) }
    }

    fn section(&mut self, name: &str, kind: object::SectionKind, bytes: &[u8], align: u64) -> SectionId {
        let id = self.obj.add_section(Vec::new(), name.as_bytes().to_vec(), kind);
        if kind == object::SectionKind::UninitializedData {
            self.obj.append_section_bss(id, bytes.len() as u64, align);
        } else {
            self.obj.append_section_data(id, bytes, align);
        }
        id
    }

    fn symbol(&mut self, name: &str, section: Option<SectionId>, size: u64, kind: SymbolKind) -> SymbolId {
        self.obj.add_symbol(Symbol {
            name: name.as_bytes().to_vec(),
            value: 0,
            size,
            kind,
            scope: SymbolScope::Linkage,
            weak: false,
            section: section.map_or(WSection::Undefined, WSection::Section),
            flags: SymbolFlags::None,
        })
    }

    fn reloc(&mut self, section: SectionId, offset: u64, symbol: SymbolId, addend: i64, r_type: u32) {
        self.obj
            .add_relocation(section, Relocation { offset, symbol, addend, flags: RelocationFlags::Elf { r_type } })
            .unwrap();
    }

    fn bytes(self) -> Vec<u8> {
        self.obj.write().unwrap()
    }
}

/// The app: `bf_app_main` (32 bytes) calling `bf_print`, loading a string, using a
/// counter through the GOT and the address of `helper`; `helper` (16 bytes); a data
/// pointer to `helper + 2`; a string; an 8-byte counter.
fn app_object() -> Vec<u8> {
    use object::SectionKind as K;
    let mut b = Builder::new();
    let main = b.section(".text.bf_app_main", K::Text, &[0x90; 32], 16);
    let helper = b.section(".text.helper", K::Text, &[0xC3; 16], 16);
    let rodata = b.section(".rodata.str1.1", K::ReadOnlyString, b"hi\0", 1);
    let data = b.section(".data.ptr", K::Data, &[0; 8], 8);
    let bss = b.section(".bss.counter", K::UninitializedData, &[0; 8], 8);
    let main_sym = b.symbol("bf_app_main", Some(main), 32, SymbolKind::Text);
    let _ = main_sym;
    let helper_sym = b.symbol("helper", Some(helper), 16, SymbolKind::Text);
    let msg = b.symbol("msg", Some(rodata), 3, SymbolKind::Data);
    let counter = b.symbol("counter", Some(bss), 8, SymbolKind::Data);
    let print = b.symbol("bf_print", None, 0, SymbolKind::Unknown);
    b.reloc(main, 1, print, -4, r::PLT32);
    b.reloc(main, 6, msg, -4, r::PC32);
    b.reloc(main, 11, counter, -4, r::REX_GOTPCRELX);
    b.reloc(main, 16, helper_sym, 0, r::R32S);
    b.reloc(main, 20, msg, 1, r::R32);
    b.reloc(data, 0, helper_sym, 2, r::R64);
    b.bytes()
}

fn spec(order: &[&str]) -> AppSpec {
    AppSpec {
        name: "demo".into(),
        order: order.iter().map(|s| s.to_string()).collect(),
        flags: FLAG_TRIMMED,
        exported: 2,
        trimmed: 1,
    }
}

fn i32_at(payload: &[u8], address: u64) -> i64 {
    let at = (address - LOAD_ADDR) as usize;
    i64::from(i32::from_le_bytes(payload[at..at + 4].try_into().unwrap()))
}

fn u64_at(payload: &[u8], address: u64) -> u64 {
    let at = (address - LOAD_ADDR) as usize;
    u64::from_le_bytes(payload[at..at + 8].try_into().unwrap())
}

#[test]
fn links_hot_first_and_applies_every_relocation() {
    let linked = link(&runtime(), &app_object(), &spec(&["helper", "bf_app_main"])).unwrap();
    let address = |name: &str| linked.functions.iter().find(|f| f.name == name).unwrap().address;
    let (helper, main) = (address("helper"), address("bf_app_main"));
    assert_eq!(linked.app_base, LOAD_ADDR + 0x400);
    assert_eq!((helper, main), (LOAD_ADDR + 0x400, LOAD_ADDR + 0x410), "hot first: helper, then bf_app_main");
    // text 0x100400..0x100430, rodata at 0x100430 (3 bytes), data at 0x100438, GOT at
    // 0x100440 (one slot), BSS at 0x100448.
    let (msg, data, got, counter) = (LOAD_ADDR + 0x430, LOAD_ADDR + 0x438, LOAD_ADDR + 0x440, LOAD_ADDR + 0x448);
    assert_eq!(linked.sizes, SectionSizes { text: 0x30, rodata: 3, data: 8, got: 8, bss: 8 });
    let p = &linked.payload;
    assert_eq!(&p[(msg - LOAD_ADDR) as usize..][..3], b"hi\0");
    assert_eq!(i32_at(p, main + 1), runtime_symbol(0) as i64 - 4 - (main + 1) as i64, "PLT32 to bf_print");
    assert_eq!(i32_at(p, main + 6), msg as i64 - 4 - (main + 6) as i64, "PC32 to the string");
    assert_eq!(i32_at(p, main + 11), got as i64 - 4 - (main + 11) as i64, "GOTPCRELX to the slot");
    assert_eq!(u64_at(p, got), counter, "the slot holds the counter's address");
    assert_eq!(i32_at(p, main + 16), helper as i64, "32S");
    assert_eq!(i32_at(p, main + 20) as u64, msg + 1, "32");
    assert_eq!(u64_at(p, data), helper + 2, "64");
    assert_eq!(p.len() as u64, counter - LOAD_ADDR, "the BSS is not stored");
    assert_eq!(linked.memory_size, counter + 8 - LOAD_ADDR, "but it is memory");
    let record = AppRecord::read_from(p).unwrap();
    let expected = AppRecord {
        entry: main,
        name: "demo",
        flags: FLAG_TRIMMED,
        exported: 2,
        trimmed: 1,
        bss_start: counter,
        bss_end: counter + 8,
    };
    assert_eq!(record, expected);
    // The runtime's bytes are untouched but for the app record.
    assert_eq!(p[..0xA0], runtime()[..0xA0]);
    assert_eq!(p[RUNTIME_HEADER_SIZE..0x400], runtime()[RUNTIME_HEADER_SIZE..]);
    // Without an order the file's order stands.
    let plain = link(&runtime(), &app_object(), &spec(&[])).unwrap();
    assert_eq!(plain.functions[0].name, "bf_app_main");
}

#[test]
fn refuses_what_it_cannot_link() {
    use object::SectionKind as K;
    let err = |b: Builder| link(&runtime(), &b.bytes(), &spec(&[])).unwrap_err().to_string();
    // A symbol nobody defines.
    let mut b = Builder::new();
    let main = b.section(".text", K::Text, &[0x90; 8], 16);
    b.symbol("bf_app_main", Some(main), 8, SymbolKind::Text);
    let printf = b.symbol("printf", None, 0, SymbolKind::Unknown);
    b.reloc(main, 1, printf, -4, r::PLT32);
    assert!(err(b).contains("the app uses `printf`, which the export runtime does not define"));
    // An unsupported relocation type (R_X86_64_TPOFF32 = 23).
    let mut b = Builder::new();
    let main = b.section(".text", K::Text, &[0x90; 8], 16);
    let s = b.symbol("bf_app_main", Some(main), 8, SymbolKind::Text);
    b.reloc(main, 1, s, 0, 23);
    assert!(err(b).contains("type 23 at .text+0x1 is not supported"));
    // Constructors.
    let mut b = Builder::new();
    let main = b.section(".text", K::Text, &[0x90; 8], 16);
    b.symbol("bf_app_main", Some(main), 8, SymbolKind::Text);
    b.section(".init_array", K::Data, &[0; 8], 8);
    assert!(err(b).contains(".init_array"));
    // No entry.
    let mut b = Builder::new();
    let main = b.section(".text", K::Text, &[0x90; 8], 16);
    b.symbol("other", Some(main), 8, SymbolKind::Text);
    assert_eq!(err(b), "the app defines no `bf_app_main`");
    // A PC32 that cannot reach.
    let mut b = Builder::new();
    let main = b.section(".text", K::Text, &[0x90; 8], 16);
    b.symbol("bf_app_main", Some(main), 8, SymbolKind::Text);
    let far = b.obj.add_symbol(Symbol {
        name: b"far".to_vec(),
        value: 0x2_0000_0000,
        size: 0,
        kind: SymbolKind::Data,
        scope: SymbolScope::Linkage,
        weak: false,
        section: WSection::Absolute,
        flags: SymbolFlags::None,
    });
    b.reloc(main, 1, far, -4, r::PC32);
    assert!(err(b).contains("does not fit its field"));
    // Not an object at all; a bad runtime.
    assert!(link(&runtime(), b"garbage bytes", &spec(&[])).unwrap_err().to_string().starts_with("not an ELF64"));
    assert!(matches!(link(&[0u8; 16], &app_object(), &spec(&[])), Err(LinkError::Runtime(_))));
}

fn stage1() -> Vec<u8> {
    let mut s = vec![0x90u8; 440];
    s.resize(510, 0);
    s.extend_from_slice(&[0x55, 0xAA]);
    s
}

fn stage2() -> Vec<u8> {
    let mut s = vec![0xEB, 0x04];
    s.extend_from_slice(b"BFS2");
    s.resize(3000, 0x90);
    s
}

#[test]
fn the_raw_image_boots_the_payload_and_is_checked() {
    let linked = link(&runtime(), &app_object(), &spec(&["bf_app_main"])).unwrap();
    let image = raw_image(&stage1(), &stage2(), &linked, "").unwrap();
    let used = 10 + linked.payload.len().div_ceil(512);
    assert_eq!(used_bytes(&linked), used * 512);
    let sectors = 16 * 63;
    assert_eq!(image.len(), sectors * 512, "padded to one BIOS cylinder");
    assert!(image[used * 512..].iter().all(|b| *b == 0), "the padding is zeros");
    assert_eq!(image[..440], stage1()[..440], "stage1's code");
    assert_eq!(image[512..512 + 3000], stage2()[..], "stage2");
    let entry: &[u8; 16] = image[446..462].try_into().unwrap();
    let (partition, _, _) = PartitionEntry::decode(entry);
    assert_eq!(
        partition,
        PartitionEntry { status: 0x80, kind: 0xDA, first_lba: 1, sectors: sectors as u32 - 1 },
        "one active partition from stage2 to the end"
    );
    assert!(image[462..510].iter().all(|b| *b == 0), "no other partition");
    let summary = inspect(&image).unwrap();
    assert_eq!((summary.app.as_str(), summary.exported, summary.trimmed), ("demo", 2, 1));
    assert_eq!(summary.header.entry, LOAD_ADDR);
    assert_eq!(summary.payload_bytes, linked.payload.len() as u64);
    assert_eq!((summary.image_bytes, summary.file_bytes), (used as u64 * 512, image.len() as u64));
    // One flipped payload bit: the checksum stage2 checks no longer matches.
    let mut bad = image.clone();
    bad[10 * 512 + 0x410] ^= 1;
    assert_eq!(inspect(&bad), Err(ImageError::Flud(FludError::PayloadChecksum)));
    // Bad boot stages are refused.
    assert_eq!(raw_image(&stage1()[..511], &stage2(), &linked, ""), Err(ImageError::BadStage1));
    assert_eq!(raw_image(&stage1(), &[0u8; 10], &linked, ""), Err(ImageError::BadStage2));
}

#[test]
fn image_file_names_are_8_3() {
    assert_eq!(image_file_name("tinyllama"), "TINYLLAM.IMG");
    assert_eq!(image_file_name("fib"), "FIB.IMG");
    assert_eq!(image_file_name("my-app_2.x"), "MYAPP_2X.IMG");
    assert_eq!(image_file_name("--"), "APP.IMG");
}
