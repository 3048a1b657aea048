//! The kernel's layer rule, checked from its sources (docs/architecture.md).
//!
//! docs/architecture.md holds the layer order as a fenced block with the info string
//! `layers`: one row per layer, bottom first, each row a list of module paths
//! (`drivers::serial`, `jit::tiered`, `crate` for the crate root). A module belongs to
//! the row of its longest matching path. The check reads every `.rs` file under the
//! kernel's `src/`, finds every `crate::…`, `super::…` and exported-macro path in its
//! code (comments and string literals are skipped), resolves it to the module it names,
//! and reports
//!
//! * a **violation** when a module uses a module of a higher layer, and
//! * a **cycle** when sibling modules import each other, directly or around a ring
//!   (imports between a module and its own submodules are not cycles: a parent
//!   declares and re-exports its children).
//!
//! Pure logic over file contents, so that it is unit-tested here and the integration
//! test (`tests/tests/architecture.rs`) runs it over the real tree.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

/// A module path without the leading `crate` (the root is the empty path).
pub type ModPath = Vec<String>;

/// Formats a module path as Rust writes it (`crate` for the root).
pub fn display(path: &[String]) -> String {
    if path.is_empty() { "crate".into() } else { path.join("::") }
}

/// The layer order: rows bottom first, each a set of module paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layers {
    rows: Vec<Vec<ModPath>>,
}

/// Parses a `::`-separated path; `crate` alone is the root.
fn parse_path(text: &str) -> ModPath {
    let text = text.trim().trim_start_matches("crate::");
    if text == "crate" { Vec::new() } else { text.split("::").map(str::to_string).collect() }
}

impl Layers {
    /// Reads the first ```` ```layers ```` block of `markdown`: one row per line, bottom
    /// first; `#` starts a comment; a leading `N.` or `N` (the layer's number) is ignored.
    pub fn from_markdown(markdown: &str) -> Result<Layers, String> {
        let mut lines = markdown.lines();
        lines.by_ref().find(|l| l.trim() == "```layers").ok_or("no ```layers block")?;
        let mut rows = Vec::new();
        for line in lines.by_ref() {
            if line.trim() == "```" {
                return if rows.is_empty() { Err("the ```layers block is empty".into()) } else { Ok(Layers { rows }) };
            }
            let line = line.split('#').next().unwrap_or("");
            let mut words: Vec<&str> = line.split_whitespace().collect();
            if words.first().is_some_and(|w| w.trim_end_matches('.').parse::<u32>().is_ok()) {
                words.remove(0);
            }
            if !words.is_empty() {
                rows.push(words.iter().map(|w| parse_path(w.trim_end_matches(','))).collect());
            }
        }
        Err("the ```layers block is not closed".into())
    }

    /// The row (0 = bottom) and path of `module`'s longest matching path, if any.
    fn placement(&self, module: &[String]) -> Option<(usize, &ModPath)> {
        self.rows
            .iter()
            .enumerate()
            .flat_map(|(row, paths)| paths.iter().map(move |p| (row, p)))
            .filter(|(_, p)| module.starts_with(p))
            .max_by_key(|(_, p)| p.len())
    }

    /// The row (0 = bottom) of `module`: that of its longest matching path, if any.
    pub fn layer_of(&self, module: &[String]) -> Option<usize> {
        self.placement(module).map(|(row, _)| row)
    }

    /// The longest path of the table that `module` falls under, if any.
    pub fn matching_path(&self, module: &[String]) -> Option<&ModPath> {
        self.placement(module).map(|(_, p)| p)
    }
}

/// One use of another module.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    /// The module whose code uses…
    pub from: ModPath,
    /// …this module.
    pub to: ModPath,
    /// Where: file and line.
    pub at: String,
}

/// What the check found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Uses of a higher layer.
    pub violations: Vec<Edge>,
    /// Rings of sibling modules that import each other (each listed once).
    pub cycles: Vec<Vec<ModPath>>,
    /// Top-level modules the layer table does not name.
    pub unplaced: Vec<ModPath>,
}

impl Report {
    /// True when the sources follow the rule.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty() && self.cycles.is_empty() && self.unplaced.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for m in &self.unplaced {
            writeln!(f, "module {} is in no row of the layer table", display(m))?;
        }
        for e in &self.violations {
            writeln!(f, "{}: {} uses {}, a higher layer", e.at, display(&e.from), display(&e.to))?;
        }
        for c in &self.cycles {
            let names: Vec<String> = c.iter().map(|m| display(m)).collect();
            writeln!(f, "import cycle among: {}", names.join(", "))?;
        }
        Ok(())
    }
}

/// The module a source file defines, from its path relative to `src/`
/// (`main.rs`/`lib.rs` → root, `a/mod.rs` → `a`, `a/b.rs` → `a::b`).
pub fn module_of_file(relative: &Path) -> ModPath {
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let file = parts.pop().unwrap_or_default();
    let stem = file.trim_end_matches(".rs");
    if !(parts.is_empty() && (stem == "main" || stem == "lib")) && stem != "mod" {
        parts.push(stem.to_string());
    }
    parts
}

/// `source` with comments, string literals and character literals blanked out (newlines
/// kept, so line numbers stay right).
pub fn code_only(source: &str) -> String {
    let b = source.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, c: u8| out.push(if c == b'\n' { b'\n' } else { b' ' });
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                out.push(b' ');
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
        } else if c == b'r'
            && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            // A raw string r"…" or r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let close: Vec<u8> = std::iter::once(b'"').chain(std::iter::repeat_n(b'#', hashes)).collect();
            let end =
                b[j + 1..].windows(close.len()).position(|w| w == close).map_or(b.len(), |p| j + 1 + p + close.len());
            for &x in &b[i..end] {
                blank(&mut out, x);
            }
            i = end;
        } else if c == b'"' {
            out.push(b' ');
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    blank(&mut out, b[i]);
                    i += 1;
                }
                if i < b.len() {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
            out.push(b' ');
            i += 1;
        } else if c == b'\'' {
            // A character literal ('x', '\n', '\u{..}') — not a lifetime ('a).
            let rest = &b[i + 1..];
            let len = if rest.first() == Some(&b'\\') {
                rest.iter().skip(1).position(|&x| x == b'\'').map(|p| p + 2)
            } else if rest.get(1) == Some(&b'\'') {
                Some(1)
            } else {
                None
            };
            match len {
                Some(n) => {
                    out.extend(std::iter::repeat_n(b' ', n + 2));
                    i += n + 2;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a `{a, b::{c, d}, e}` group (without the outer braces) into its top-level items.
fn split_group(group: &str) -> Vec<&str> {
    let (mut items, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&group[start..]);
    items.into_iter().map(str::trim).filter(|s| !s.is_empty()).collect()
}

/// Expands a path that may end in a `{…}` group into full paths (`a::{b, c::d}` →
/// `a::b`, `a::c::d`; `self` in a group names the prefix itself).
fn expand(path: &str) -> Vec<Vec<String>> {
    let path = path.trim();
    if let Some(open) = path.find('{') {
        let prefix: Vec<String> =
            path[..open].split("::").map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        let close = path.rfind('}').unwrap_or(path.len());
        let mut all = Vec::new();
        for item in split_group(&path[open + 1..close]) {
            for rest in expand(item) {
                let mut p = prefix.clone();
                if rest.first().map(String::as_str) != Some("self") {
                    p.extend(rest);
                }
                all.push(p);
            }
        }
        all
    } else {
        vec![path.split("::").map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()]
    }
}

/// Every path in `code` (comments already blanked) that starts with `crate`, `super` or
/// a macro name in `macros`, with its line number; `{…}` groups expanded. The module an
/// inline `mod name {` opens is tracked, so that `super` inside it resolves from there.
fn paths_in(code: &str, macros: &BTreeMap<String, ModPath>, file_module: &[String]) -> Vec<(usize, ModPath)> {
    let b = code.as_bytes();
    let mut found = Vec::new();
    // The inline modules open at this point: (their name, the brace depth inside them).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut line = 1;
    let mut i = 0;
    let word_at = |i: usize| -> &str {
        let end = b[i..].iter().position(|c| !(c.is_ascii_alphanumeric() || *c == b'_')).map_or(b.len(), |p| i + p);
        &code[i..end]
    };
    let mut pending_mod: Option<String> = None;
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            line += 1;
        }
        if c == b'{' {
            depth += 1;
            if let Some(name) = pending_mod.take() {
                inline.push((name, depth));
            }
            i += 1;
            continue;
        }
        if c == b'}' {
            if inline.last().is_some_and(|(_, d)| *d == depth) {
                inline.pop();
            }
            depth = depth.saturating_sub(1);
            i += 1;
            continue;
        }
        if c == b';' {
            pending_mod = None;
        }
        let at_word_start = (c.is_ascii_alphabetic() || c == b'_')
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_' || b[i - 1] == b':'));
        if !at_word_start {
            i += 1;
            continue;
        }
        let word = word_at(i);
        if word == "mod" {
            let rest = code[i + 3..].trim_start();
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                pending_mod = Some(name);
            }
            i += 3;
            continue;
        }
        let here: ModPath = file_module.iter().cloned().chain(inline.iter().map(|(n, _)| n.clone())).collect();
        let is_macro = macros.contains_key(word) && code[i + word.len()..].starts_with('!');
        if is_macro {
            found.push((line, macros[word].clone()));
            i += word.len();
            continue;
        }
        if (word == "crate" || word == "super") && code[i + word.len()..].starts_with("::") {
            // The whole path: identifiers, `::`, and a trailing `{…}` group.
            let mut end = i;
            let mut braces = 0;
            while end < b.len() {
                let ch = b[end];
                if ch == b'{' {
                    braces += 1;
                } else if ch == b'}' {
                    if braces == 0 {
                        break;
                    }
                    braces -= 1;
                    if braces == 0 {
                        end += 1;
                        break;
                    }
                } else if braces == 0 {
                    // Outside a group the path is identifiers and `::`, with spaces
                    // only around a `::`.
                    let in_path = ch.is_ascii_alphanumeric() || ch == b'_' || ch == b':';
                    let spaced = ch == b' '
                        && (code[end..].trim_start().starts_with("::") || code[..end].trim_end().ends_with("::"));
                    if !(in_path || spaced) {
                        break;
                    }
                }
                end += 1;
            }
            let text = &code[i..end];
            let newlines = text.matches('\n').count();
            for path in expand(text) {
                let mut resolved = here.clone();
                let mut segs = path.into_iter().peekable();
                if segs.peek().map(String::as_str) == Some("crate") {
                    resolved.clear();
                    segs.next();
                } else {
                    while segs.peek().map(String::as_str) == Some("super") {
                        resolved.pop();
                        segs.next();
                    }
                }
                resolved.extend(segs.filter(|s| s != "self"));
                // `crate::kprintln!`: an exported macro, named at the root.
                if let [name] = resolved.as_slice()
                    && let Some(home) = macros.get(name)
                {
                    resolved = home.clone();
                }
                found.push((line, resolved));
            }
            line += newlines;
            i = end;
            continue;
        }
        i += word.len();
    }
    found
}

/// Checks `files` (paths relative to the kernel's `src/`, with their contents) against
/// `layers`.
pub fn check(layers: &Layers, files: &[(std::path::PathBuf, String)]) -> Report {
    let modules: BTreeSet<ModPath> = files.iter().map(|(p, _)| module_of_file(p)).collect();
    // Exported macros live at the root by name but are defined in a module.
    let mut macros = BTreeMap::new();
    for (path, text) in files {
        let lines: Vec<&str> = text.lines().collect();
        for (n, l) in lines.iter().enumerate() {
            if let Some(rest) = l.trim().strip_prefix("macro_rules!")
                && n > 0
                && lines[n - 1].contains("#[macro_export]")
            {
                let name: String = rest.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                macros.insert(name, module_of_file(path));
            }
        }
    }
    // The longest prefix of `p` that is a module with a file of its own.
    let owner = |p: &[String]| -> ModPath {
        (0..=p.len()).rev().map(|n| p[..n].to_vec()).find(|m| modules.contains(m)).unwrap_or_default()
    };
    let mut report = Report::default();
    for m in modules.iter().filter(|m| !m.is_empty()) {
        if layers.matching_path(m).is_none_or(|p| p.is_empty()) {
            report.unplaced.push(m.clone());
        }
    }
    let mut edges: BTreeSet<Edge> = BTreeSet::new();
    for (path, text) in files {
        let from = module_of_file(path);
        for (line, target) in paths_in(&code_only(text), &macros, &from) {
            let to = owner(&target);
            if to != from {
                edges.insert(Edge { from: from.clone(), to, at: format!("{}:{line}", path.display()) });
            }
        }
    }
    let mut seen = BTreeSet::new();
    for e in &edges {
        let (Some(lf), Some(lt)) = (layers.layer_of(&e.from), layers.layer_of(&e.to)) else { continue };
        if lt > lf && seen.insert((e.from.clone(), e.to.clone())) {
            report.violations.push(e.clone());
        }
    }
    // Cycles among siblings: lift each edge to the two children of the modules' lowest
    // common ancestor; a module and its own submodules do not form cycles.
    let mut graph: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for e in &edges {
        let common = e.from.iter().zip(&e.to).take_while(|(a, b)| a == b).count();
        if common == e.from.len() || common == e.to.len() {
            continue;
        }
        // A module the table places below its sibling's level (`drivers::serial` beside
        // `drivers`) is a node of its own.
        let node = |m: &ModPath| -> ModPath {
            let placed = layers.matching_path(m).map_or(0, Vec::len);
            m[..=common.max(placed.saturating_sub(1)).min(m.len() - 1)].to_vec()
        };
        graph.entry(node(&e.from)).or_default().insert(node(&e.to));
    }
    report.cycles = cycles(&graph);
    report
}

/// The strongly connected components with more than one node (Tarjan).
fn cycles(graph: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    struct State<'g> {
        graph: &'g BTreeMap<ModPath, BTreeSet<ModPath>>,
        index: BTreeMap<&'g ModPath, usize>,
        low: BTreeMap<&'g ModPath, usize>,
        stack: Vec<&'g ModPath>,
        on_stack: BTreeSet<&'g ModPath>,
        out: Vec<Vec<ModPath>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g ModPath) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.reverse();
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const TABLE: &str =
        "text\n```layers\n1. console   # early output\n2. arch\n3. mm, fs\n4. jit::host\n5. jit\n6. crate\n```\n";

    fn files(list: &[(&str, &str)]) -> Vec<(PathBuf, String)> {
        list.iter().map(|(p, t)| (PathBuf::from(p), t.to_string())).collect()
    }

    #[test]
    fn the_table_is_read_bottom_first_and_longest_paths_win() {
        let l = Layers::from_markdown(TABLE).unwrap();
        assert_eq!(l.layer_of(&parse_path("console")), Some(0));
        assert_eq!(l.layer_of(&parse_path("fs::cache")), Some(2));
        assert_eq!(l.layer_of(&parse_path("jit::host::x")), Some(3));
        assert_eq!(l.layer_of(&parse_path("jit::tiered")), Some(4));
        assert_eq!(l.layer_of(&[]), Some(5));
        assert!(Layers::from_markdown("no table").is_err());
    }

    #[test]
    fn files_map_to_modules() {
        assert_eq!(module_of_file(Path::new("main.rs")), Vec::<String>::new());
        assert_eq!(module_of_file(Path::new("fs/mod.rs")), vec!["fs"]);
        assert_eq!(module_of_file(Path::new("jit/interp/lower.rs")), vec!["jit", "interp", "lower"]);
    }

    #[test]
    fn comments_and_strings_hide_paths() {
        let code = code_only("// crate::jit\nlet s = \"crate::jit\"; /* crate::jit */ let c = '{'; fn f<'a>() {}\n");
        assert!(!code.contains("crate"), "{code}");
        assert!(code.contains("'a"), "lifetimes stay: {code}");
        assert_eq!(code.lines().count(), 2, "newlines are kept");
    }

    #[test]
    fn an_upward_use_is_a_violation_with_its_line() {
        let l = Layers::from_markdown(TABLE).unwrap();
        let f = files(&[
            ("main.rs", "mod arch; mod fs; mod jit;"),
            ("arch/mod.rs", "//! CPU\n\nuse crate::{console, fs::flags::O_RDONLY};\n"),
            ("console.rs", ""),
            ("fs/mod.rs", "pub mod flags;"),
            ("fs/flags.rs", ""),
            ("jit/mod.rs", ""),
        ]);
        let r = check(&l, &f);
        assert_eq!(r.violations.len(), 1, "{r}");
        assert_eq!(r.violations[0].to, vec!["fs", "flags"]);
        assert_eq!(r.violations[0].at, "arch/mod.rs:3");
        assert!(r.to_string().contains("arch uses fs::flags, a higher layer"));
    }

    #[test]
    fn super_and_inline_modules_and_macros_resolve() {
        let l = Layers::from_markdown(TABLE).unwrap();
        let f = files(&[
            ("main.rs", ""),
            ("console.rs", "#[macro_export]\nmacro_rules! kprintln { () => {} }\n"),
            ("jit/mod.rs", ""),
            (
                "jit/host.rs",
                "mod inner { fn f() { super::super::tiered::go(); } }\nfn g() { kprintln!(); crate::kprintln!(); }\n",
            ),
            ("jit/tiered.rs", ""),
        ]);
        let r = check(&l, &f);
        assert_eq!(r.violations.len(), 1, "{r}");
        assert_eq!(
            (r.violations[0].from.clone(), r.violations[0].to.clone()),
            (parse_path("jit::host"), parse_path("jit::tiered"))
        );
        assert_eq!(r.violations[0].at, "jit/host.rs:1");
    }

    #[test]
    fn sibling_cycles_are_found_but_parent_and_child_are_not_a_cycle() {
        let l = Layers::from_markdown(TABLE).unwrap();
        let f = files(&[
            ("main.rs", ""),
            ("fs/mod.rs", "use crate::fs::cache::Cache; use super::mm;"),
            ("fs/cache.rs", "use super::Error;"),
            ("mm.rs", "fn f() { crate::fs::cache::x(); }"),
        ]);
        let r = check(&l, &f);
        assert!(r.violations.is_empty(), "{r}");
        assert_eq!(r.cycles, vec![vec![parse_path("fs"), parse_path("mm")]], "{r}");
    }

    #[test]
    fn a_module_split_by_the_table_is_one_node_per_row() {
        let l = Layers::from_markdown("```layers\ndrivers::serial console\narch\ndrivers\ncrate\n```").unwrap();
        let f = files(&[
            ("main.rs", ""),
            ("console.rs", "use crate::drivers::serial;"),
            ("arch.rs", "use crate::console;"),
            ("drivers/mod.rs", ""),
            ("drivers/serial.rs", ""),
            ("drivers/block.rs", "use crate::arch;"),
        ]);
        let r = check(&l, &f);
        assert!(r.is_clean(), "{r}");
        let f = files(&[
            ("main.rs", ""),
            ("console.rs", "use crate::drivers::block;"),
            ("drivers/mod.rs", ""),
            ("drivers/block.rs", "use crate::console;"),
        ]);
        let r = check(&l, &f);
        assert_eq!(r.violations.len(), 1, "{r}");
        assert_eq!(r.cycles.len(), 1, "{r}");
    }

    #[test]
    fn a_top_level_module_must_be_placed() {
        let l = Layers::from_markdown(TABLE).unwrap();
        let r = check(&l, &files(&[("main.rs", ""), ("newthing.rs", "")]));
        assert_eq!(r.unplaced, vec![parse_path("newthing")]);
        assert!(!r.is_clean());
    }
}
