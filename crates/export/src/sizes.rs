//! Where the kernel's bytes are (issue 16, `make size-report`): the linker map's input
//! sections summed per component — each LLVM library, libstdc++, glibc, Rust std, our
//! crates ([`component_of`]) — and, within a component, per object file, split into
//! code, read-only data, unwind tables and writable data.

use std::collections::BTreeMap;

use crate::deadcode::{InputSection, component_of};

/// What part of the image an input section goes to, by its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// `.text*`, `.init`, `.fini`, `.plt`: code.
    Text,
    /// `.rodata*`, `.data.rel.ro*`: read-only data.
    ReadOnly,
    /// `.eh_frame*`, `.gcc_except_table*`: unwind tables.
    Unwind,
    /// `.data*`, `.tdata*`, `.got*` (in the file) and `.bss*`, `.tbss*` (zeroed
    /// memory, not in the file).
    Data,
}

impl Part {
    /// The part of an input section called `name`; `None` for sections that are not
    /// loaded (debug information, notes, comments).
    pub fn of(name: &str) -> Option<Part> {
        let starts = |prefixes: &[&str]| prefixes.iter().any(|p| name == *p || name.starts_with(&format!("{p}.")));
        if starts(&[".text", ".init", ".fini", ".plt", ".iplt", "__libc_freeres_fn"]) {
            Some(Part::Text)
        } else if starts(&[".rodata", ".data.rel.ro", ".rodata1"]) {
            Some(Part::ReadOnly)
        } else if starts(&[".eh_frame", ".gcc_except_table", ".eh_frame_hdr"]) {
            Some(Part::Unwind)
        } else if starts(&[".data", ".tdata", ".got", ".bss", ".tbss", "COMMON", ".init_array", ".fini_array"])
            || name.starts_with("__libc_")
        {
            Some(Part::Data)
        } else {
            None
        }
    }
}

/// Bytes per [`Part`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sizes {
    /// Code.
    pub text: u64,
    /// Read-only data.
    pub read_only: u64,
    /// Unwind tables.
    pub unwind: u64,
    /// Writable data, zeroed or not.
    pub data: u64,
}

impl Sizes {
    /// Adds `bytes` to `part`.
    pub fn add(&mut self, part: Part, bytes: u64) {
        match part {
            Part::Text => self.text += bytes,
            Part::ReadOnly => self.read_only += bytes,
            Part::Unwind => self.unwind += bytes,
            Part::Data => self.data += bytes,
        }
    }

    /// Code, read-only data and unwind tables: what the component adds to the image
    /// besides its writable data.
    pub fn loaded_read_only(&self) -> u64 {
        self.text + self.read_only + self.unwind
    }

    /// Every part.
    pub fn total(&self) -> u64 {
        self.loaded_read_only() + self.data
    }
}

/// The sections' sizes per component ([`component_of`]).
pub fn by_component(sections: &[InputSection]) -> BTreeMap<String, Sizes> {
    let mut out: BTreeMap<String, Sizes> = BTreeMap::new();
    for s in sections {
        if let Some(part) = Part::of(&s.name) {
            out.entry(component_of(&s.file)).or_default().add(part, s.size);
        }
    }
    out
}

/// The object file of an input file: the member of `archive.a(member.o)`, or the file
/// name.
pub fn object_of(file: &str) -> String {
    let name = file.rsplit('/').next().unwrap_or(file);
    match name.split_once('(') {
        Some((_, member)) => member.trim_end_matches(')').to_string(),
        None => name.to_string(),
    }
}

/// The sizes of `component`'s object files.
pub fn by_object(sections: &[InputSection], component: &str) -> BTreeMap<String, Sizes> {
    let mut out: BTreeMap<String, Sizes> = BTreeMap::new();
    for s in sections.iter().filter(|s| component_of(&s.file) == component) {
        if let Some(part) = Part::of(&s.name) {
            out.entry(object_of(&s.file)).or_default().add(part, s.size);
        }
    }
    out
}

/// Rows sorted by their code plus read-only data plus unwind tables, largest first
/// (name order among equals).
pub fn largest_first(rows: BTreeMap<String, Sizes>) -> Vec<(String, Sizes)> {
    let mut rows: Vec<(String, Sizes)> = rows.into_iter().collect();
    rows.sort_by(|a, b| b.1.loaded_read_only().cmp(&a.1.loaded_read_only()).then(a.0.cmp(&b.0)));
    rows
}

/// A Markdown table of `rows` (`first` names the first column), with a line summing
/// them.
pub fn markdown_table(first: &str, rows: &[(String, Sizes)]) -> String {
    let mut out =
        format!("| {first} | text | read-only data | unwind tables | data and bss |\n|---|---:|---:|---:|---:|\n");
    let mut sum = Sizes::default();
    for (name, s) in rows {
        out.push_str(&format!("| {name} | {} | {} | {} | {} |\n", s.text, s.read_only, s.unwind, s.data));
        sum.text += s.text;
        sum.read_only += s.read_only;
        sum.unwind += s.unwind;
        sum.data += s.data;
    }
    out.push_str(&format!(
        "| **sum** | **{}** | **{}** | **{}** | **{}** |\n",
        sum.text, sum.read_only, sum.unwind, sum.data
    ));
    out
}

/// Whether a component is LLVM or what LLVM alone pulls into the kernel (libstdc++).
pub fn is_llvm_side(component: &str) -> bool {
    component.starts_with("LLVM ") || component == "libstdc++" || component == "crate bf_llvm"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(name: &str, size: u64, file: &str) -> InputSection {
        InputSection { name: name.into(), address: 0x1000, size, file: file.into() }
    }

    #[test]
    fn parts_follow_the_section_names() {
        assert_eq!(Part::of(".text._ZN4llvm3foo"), Some(Part::Text));
        assert_eq!(Part::of(".text"), Some(Part::Text));
        assert_eq!(Part::of(".rodata.str1.1"), Some(Part::ReadOnly));
        assert_eq!(Part::of(".data.rel.ro._ZTVN4llvm4PassE"), Some(Part::ReadOnly));
        assert_eq!(Part::of(".eh_frame"), Some(Part::Unwind));
        assert_eq!(Part::of(".gcc_except_table._Z1fv"), Some(Part::Unwind));
        assert_eq!(Part::of(".data.rel.local.x"), Some(Part::Data));
        assert_eq!(Part::of(".bss.y"), Some(Part::Data));
        assert_eq!(Part::of(".textual"), None);
        assert_eq!(Part::of(".debug_info"), None);
        assert_eq!(Part::of(".comment"), None);
    }

    #[test]
    fn components_and_objects_are_summed_by_part() {
        let lib = "/p/lib/libLLVMCore.a(Function.cpp.o)";
        let sections = [
            section(".text._ZN4llvm8Function5eraseEv", 100, lib),
            section(".text._ZN4llvm8Function4dumpEv", 20, lib),
            section(".rodata._ZN4llvm1xE", 7, lib),
            section(".text.a", 50, "/p/lib/libLLVMCore.a(Value.cpp.o)"),
            section(".eh_frame", 9, "/usr/lib/gcc/x86_64-linux-gnu/12/libstdc++-nothrow.a(new_op.o)"),
            section(".debug_info", 1000, lib),
            section(".bss.z", 4, "/t/kernel-0123.kernel.abc-cgu.01.rcgu.o"),
        ];
        let components = by_component(&sections);
        assert_eq!(components["LLVM Core"], Sizes { text: 170, read_only: 7, unwind: 0, data: 0 });
        assert_eq!(components["libstdc++"], Sizes { unwind: 9, ..Sizes::default() });
        assert_eq!(components["kernel"].data, 4);
        let objects = largest_first(by_object(&sections, "LLVM Core"));
        assert_eq!(objects[0], ("Function.cpp.o".to_string(), Sizes { text: 120, read_only: 7, unwind: 0, data: 0 }));
        assert_eq!(objects[1].0, "Value.cpp.o");
        let table = markdown_table("object", &objects);
        assert!(table.contains("| Function.cpp.o | 120 | 7 | 0 | 0 |"), "{table}");
        assert!(table.contains("| **sum** | **170** | **7** | **0** | **0** |"), "{table}");
        assert!(is_llvm_side("LLVM Core") && is_llvm_side("libstdc++") && !is_llvm_side("glibc"));
    }
}
