//! `mkimage size-report KERNEL.ELF` (`make size-report`, docs/llvm-size.md): where the
//! kernel's bytes are, per component and, within the largest LLVM libraries, per object
//! file, from the linker map next to the ELF; with `--without` the kernel built with
//! `LLVM=none`, LLVM's share as `METRIC llvm.image_bytes` (the difference of the
//! PT_LOAD segments' file sizes) and `METRIC llvm.text_bytes` (of `.text`).

use std::path::Path;

use anyhow::{Context, Result};
use bf_export::deadcode::parse_linker_map;
use bf_export::sizes::{by_component, by_object, is_llvm_side, largest_first, markdown_table};
use object::elf::PT_LOAD;
use object::read::elf::{ElfFile64, ProgramHeader};
use object::{Object, ObjectSection};

/// An ELF's loaded bytes (the sum of its PT_LOAD segments' file sizes) and the size of
/// its `.text`.
pub fn loaded_and_text_bytes(elf: &Path) -> Result<(u64, u64)> {
    let bytes = std::fs::read(elf).with_context(|| format!("cannot read {}", elf.display()))?;
    let file = ElfFile64::<object::Endianness>::parse(&*bytes)
        .with_context(|| format!("{} is not a 64-bit ELF file", elf.display()))?;
    let endian = file.endian();
    let loaded =
        file.elf_program_headers().iter().filter(|p| p.p_type(endian) == PT_LOAD).map(|p| p.p_filesz(endian)).sum();
    let text = file.section_by_name(".text").map_or(0, |s| s.size());
    Ok((loaded, text))
}

/// The report's lines (Markdown tables and METRIC lines): every component, then the
/// `objects` largest object files of each of the `libraries` largest LLVM libraries.
pub fn report(kernel: &Path, map: &Path, without: Option<&Path>, libraries: usize, objects: usize) -> Result<String> {
    let text = std::fs::read_to_string(map)
        .with_context(|| format!("cannot read the linker map {} (build the kernel with make)", map.display()))?;
    let sections = parse_linker_map(&text);
    let components = largest_first(by_component(&sections));
    let (loaded, text_bytes) = loaded_and_text_bytes(kernel)?;
    let mut out = format!(
        "# Size report of {}\n\n{loaded} loaded bytes (PT_LOAD file sizes), {text_bytes} bytes of `.text`.\n\n",
        kernel.display()
    );
    out.push_str(&format!("METRIC kernel.loaded_bytes {loaded} bytes\n"));
    if let Some(without) = without {
        let (loaded_without, text_without) = loaded_and_text_bytes(without)?;
        out.push_str(&format!(
            "METRIC llvm.image_bytes {} bytes\nMETRIC llvm.text_bytes {} bytes\n",
            loaded.saturating_sub(loaded_without),
            text_bytes.saturating_sub(text_without)
        ));
        out.push_str(&format!(
            "\nWithout LLVM ({}): {loaded_without} loaded bytes, {text_without} bytes of `.text`.\n",
            without.display()
        ));
    }
    let llvm_side: u64 = components.iter().filter(|(c, _)| is_llvm_side(c)).map(|(_, s)| s.loaded_read_only()).sum();
    out.push_str(&format!("METRIC size.llvm_side_bytes {llvm_side} bytes\n"));
    out.push_str(&format!(
        "\n## By component\n\nBytes of the input sections the linker map lists (LLVM's side — LLVM \
         libraries, libstdc++, bf_llvm — is {llvm_side} bytes of code, read-only data and unwind tables).\n\n"
    ));
    out.push_str(&markdown_table("component", &components));
    for (library, _) in components.iter().filter(|(c, _)| c.starts_with("LLVM ")).take(libraries) {
        let rows = largest_first(by_object(&sections, library));
        let shown = rows.len().min(objects);
        out.push_str(&format!("\n## {library}: the {shown} largest of {} object files\n\n", rows.len()));
        out.push_str(&markdown_table("object", &rows[..shown]));
    }
    Ok(out)
}
