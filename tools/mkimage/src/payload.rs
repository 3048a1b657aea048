//! The FLUD payload: the kernel's flat image followed by the modules, and its header.

use anyhow::{Context, Result, ensure};
use boot_protocol::flud::{FludHeader, Module, crc32};
use boot_protocol::pattern::{self, PATTERN_MODULE};

use crate::kernel_elf::KernelImage;

/// Alignment of every module's offset in the payload.
pub const MODULE_ALIGN: u64 = 4096;

/// Bytes in one MiB.
pub const MIB: u64 = 1 << 20;

/// A module to put into the payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleInput {
    /// Name in the FLUD module table (ASCII, 1–16 bytes).
    pub name: String,
    /// Contents.
    pub bytes: Vec<u8>,
}

/// The boot-test pattern module of `mib` MiB (see [`boot_protocol::pattern`]).
pub fn pattern_module(mib: u32) -> ModuleInput {
    let mut bytes = vec![0u8; (u64::from(mib) * MIB) as usize];
    pattern::fill(&mut bytes);
    ModuleInput { name: PATTERN_MODULE.to_string(), bytes }
}

/// Rounds `value` up to a multiple of `align` (a power of two).
pub fn align_up(value: u64, align: u64) -> u64 {
    debug_assert!(align.is_power_of_two());
    value.div_ceil(align) * align
}

/// Offsets of modules of the given sizes: the first at `align_up(kernel_memory_size)`,
/// each next one on the next [`MODULE_ALIGN`] boundary after the previous one's end.
pub fn module_offsets(kernel_memory_size: u64, module_sizes: &[u64]) -> Vec<u64> {
    let mut next = align_up(kernel_memory_size, MODULE_ALIGN);
    module_sizes
        .iter()
        .map(|&size| {
            let offset = next;
            next = align_up(offset + size, MODULE_ALIGN);
            offset
        })
        .collect()
}

/// The payload bytes together with the header that describes them.
#[derive(Clone, Debug)]
pub struct Payload {
    /// The payload as it goes to disk at LBA 10 (not yet padded to a sector).
    pub bytes: Vec<u8>,
    /// The FLUD header, layout-checked.
    pub header: FludHeader,
}

/// Lays out the kernel image and the modules and builds the FLUD header.
///
/// Without modules the payload is just the kernel's file image, so `kernel_size` (BSS
/// included) may exceed `payload_size`; with modules it ends at the last module's end.
pub fn build_payload(kernel: &KernelImage, modules: &[ModuleInput], cmdline: &str) -> Result<Payload> {
    for (i, m) in modules.iter().enumerate() {
        ensure!(!modules[..i].iter().any(|earlier| earlier.name == m.name), "module name `{}` is used twice", m.name);
    }
    let sizes: Vec<u64> = modules.iter().map(|m| m.bytes.len() as u64).collect();
    let offsets = module_offsets(kernel.memory_size, &sizes);
    let payload_size = match (offsets.last(), sizes.last()) {
        (Some(offset), Some(size)) => offset + size,
        _ => kernel.file_image.len() as u64,
    };
    ensure!(payload_size < 1 << 32, "the payload would be {payload_size} bytes; stage2 loads at most 4 GiB");
    let mut bytes = Vec::with_capacity(payload_size as usize);
    bytes.extend_from_slice(&kernel.file_image);
    let mut table = Vec::with_capacity(modules.len());
    for ((module, &offset), &size) in modules.iter().zip(&offsets).zip(&sizes) {
        bytes.resize(offset as usize, 0);
        bytes.extend_from_slice(&module.bytes);
        table.push(
            Module::new(&module.name, offset, size)
                .with_context(|| format!("bad module name `{}`: it must be 1–16 ASCII characters", module.name))?,
        );
    }
    debug_assert_eq!(bytes.len() as u64, payload_size);

    let mut header = FludHeader::new(payload_size, kernel.entry, crc32(&bytes), kernel.memory_size);
    header
        .set_cmdline(cmdline)
        .with_context(|| format!("bad kernel command line ({} bytes): at most 255 ASCII characters", cmdline.len()))?;
    for module in table {
        header.push_module(module).with_context(|| {
            format!(
                "{} modules given; the FLUD header holds at most {}",
                modules.len(),
                boot_protocol::flud::MAX_MODULES
            )
        })?;
    }
    header.check_layout().context("internal error: the payload layout breaks the boot protocol")?;
    Ok(Payload { bytes, header })
}

#[cfg(test)]
mod tests {
    use super::*;
    use boot_protocol::LOAD_ADDR;

    fn kernel(file_len: usize, memory_size: u64) -> KernelImage {
        KernelImage { file_image: vec![0xAB; file_len], memory_size, entry: LOAD_ADDR, segment_count: 1 }
    }

    fn module(name: &str, len: usize, fill: u8) -> ModuleInput {
        ModuleInput { name: name.into(), bytes: vec![fill; len] }
    }

    #[test]
    fn offsets_follow_the_bss_on_4k_boundaries() {
        assert_eq!(module_offsets(0x5000, &[]), Vec::<u64>::new());
        assert_eq!(module_offsets(0x5000, &[0x10, 0x1000, 0]), vec![0x5000, 0x6000, 0x7000]);
        assert_eq!(module_offsets(0x5001, &[0x1001, 1]), vec![0x6000, 0x8000]);
    }

    #[test]
    fn payload_without_modules_is_the_file_image() {
        let k = kernel(0x3010, 0x8000);
        let p = build_payload(&k, &[], "bf.test=boot").unwrap();
        assert_eq!(p.bytes, k.file_image);
        assert_eq!(p.header.payload_size, 0x3010);
        assert_eq!(p.header.kernel_size, 0x8000);
        assert_eq!(p.header.payload_crc32, crc32(&p.bytes));
        assert_eq!(p.header.cmdline(), "bf.test=boot");
        assert_eq!(p.header.module_count, 0);
    }

    #[test]
    fn modules_land_after_the_bss_with_zero_padding() {
        let k = kernel(0x3010, 0x8000);
        let p = build_payload(&k, &[module("a", 0x10, 1), module("b", 0x20, 2)], "").unwrap();
        assert_eq!(p.header.payload_size, 0x9020);
        assert_eq!(p.bytes.len(), 0x9020);
        assert!(p.bytes[0x3010..0x8000].iter().all(|&b| b == 0));
        assert!(p.bytes[0x8000..0x8010].iter().all(|&b| b == 1));
        assert!(p.bytes[0x8010..0x9000].iter().all(|&b| b == 0));
        assert!(p.bytes[0x9000..].iter().all(|&b| b == 2));
        let modules = p.header.modules();
        assert_eq!((modules[0].name(), modules[0].offset, modules[0].size), ("a", 0x8000, 0x10));
        assert_eq!((modules[1].name(), modules[1].offset, modules[1].size), ("b", 0x9000, 0x20));
        FludHeader::decode(&p.header.encode()).unwrap();
    }

    #[test]
    fn pattern_module_has_the_pattern() {
        let m = pattern_module(1);
        assert_eq!(m.name, "pattern");
        assert_eq!(m.bytes.len(), 1 << 20);
        let last_word = u64::from_le_bytes(m.bytes[(1 << 20) - 8..].try_into().unwrap());
        assert_eq!(last_word, pattern::pattern_word((1 << 17) - 1));
    }

    #[test]
    fn rejects_bad_module_tables_and_cmdlines() {
        let k = kernel(0x1000, 0x1000);
        let err =
            |modules: &[ModuleInput], cmdline: &str| format!("{:#}", build_payload(&k, modules, cmdline).unwrap_err());
        let seven: Vec<ModuleInput> = (0..7).map(|i| module(&format!("m{i}"), 8, 0)).collect();
        assert!(err(&seven, "").contains("at most 6"));
        assert!(err(&[module("same", 8, 0), module("same", 8, 0)], "").contains("used twice"));
        assert!(err(&[module("a-name-longer-than-16", 8, 0)], "").contains("bad module name"));
        assert!(err(&[module("", 8, 0)], "").contains("bad module name"));
        assert!(err(&[], &"x".repeat(256)).contains("command line"));
        assert!(err(&[], "caf\u{e9}").contains("command line"));
    }
}
