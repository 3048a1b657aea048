//! `mkimage deadcode IMAGE KERNEL.ELF`: the kernel's dead-code map (docs/shrink.md)
//! read from `/DEADCODE.BIN` on the image's FAT16 partition and mapped back to the
//! kernel: touched and untouched bytes per component (from the linker map next to the
//! ELF, `build/kernel.map`), and per symbol on request.

use std::path::Path;

use anyhow::{Context, Result, bail};
use bf_export::deadcode::{PAGE, TouchMap, parse_linker_map, usage_by_component};
use object::{Object, ObjectSymbol};

use crate::files;

/// The file the kernel writes on the FAT16 partition.
pub const MAP_FILE: &str = "/DEADCODE.BIN";

/// The report's lines: totals, the component table (when the linker map `map` is
/// there), and one line per symbol of `symbols` (an exact name, or else the first
/// symbol whose name contains it).
pub fn report(image: &Path, elf: &Path, map: &Path, symbols: &[String]) -> Result<Vec<String>> {
    let pages = TouchMap::decode(&files::cat(image, MAP_FILE).with_context(|| {
        format!(
            "{MAP_FILE} is not on the image: boot it first (the kernel writes it at the end of every bare-metal run)"
        )
    })?)?;
    let bytes = std::fs::read(elf).with_context(|| format!("cannot read {}", elf.display()))?;
    let kernel = object::File::parse(&*bytes).with_context(|| format!("{} is not an ELF file", elf.display()))?;
    let build_id = kernel.build_id().ok().flatten().unwrap_or_default();
    if build_id != pages.build_id.as_slice() {
        bail!(
            "the map is of another kernel build (build id {} on the image, {} in {})",
            hex(&pages.build_id),
            hex(build_id),
            elf.display()
        );
    }
    let percent = |part: u64, whole: u64| 100.0 * part as f64 / whole.max(1) as f64;
    let (text, touched) = (pages.bytes(true), pages.touched_bytes(true));
    let mut lines = vec![
        format!(
            "deadcode: the run touched {} of {} bytes of kernel code ({:.1} %), {} of {} bytes of read-only data ({:.1} %)",
            touched,
            text,
            percent(touched, text),
            pages.touched_bytes(false),
            pages.bytes(false),
            percent(pages.touched_bytes(false), pages.bytes(false))
        ),
        format!("METRIC shrink.kernel_text_bytes {text} bytes"),
        format!("METRIC shrink.kernel_text_touched_bytes {touched} bytes"),
    ];
    match std::fs::read_to_string(map) {
        Ok(text) => {
            let usage = usage_by_component(&parse_linker_map(&text), &pages);
            let mut rows: Vec<_> = usage.into_iter().collect();
            rows.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then(a.0.cmp(&b.0)));
            lines.push(format!("deadcode: {:<28} {:>12} {:>12} {:>7}", "component", "bytes", "touched", "%"));
            for (component, u) in rows {
                lines.push(format!(
                    "deadcode: {:<28} {:>12} {:>12} {:>6.1}%",
                    component,
                    u.bytes,
                    u.touched,
                    percent(u.touched, u.bytes)
                ));
            }
        }
        Err(e) => lines.push(format!("deadcode: no components: cannot read the linker map {} ({e})", map.display())),
    }
    for wanted in symbols {
        let all: Vec<_> = kernel.symbols().filter(|s| s.size() > 0).collect();
        let symbol = all
            .iter()
            .find(|s| s.name() == Ok(wanted.as_str()))
            .or_else(|| all.iter().find(|s| s.name().is_ok_and(|n| n.contains(wanted.as_str()))));
        let Some(symbol) = symbol else {
            lines.push(format!("symbol {wanted}: not in {}", elf.display()));
            continue;
        };
        let (start, end) = (symbol.address(), symbol.address() + symbol.size());
        let flags: Vec<&str> = (start / PAGE..end.div_ceil(PAGE))
            .map(|p| match pages.is_touched(p * PAGE) {
                Some(true) => "touched",
                Some(false) => "untouched",
                None => "untracked",
            })
            .collect();
        lines.push(format!(
            "symbol {} {:#x} {} bytes: pages {}",
            symbol.name().unwrap_or("?"),
            start,
            symbol.size(),
            flags.join(" ")
        ));
    }
    Ok(lines)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
