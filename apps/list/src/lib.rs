//! The one list of BareFlow apps, `apps/apps.list` (apps/README.md, "Adding an app").
//!
//! Format: one app per line, in the order the suite runs them; the line is the app's
//! crate name, which is also its directory `apps/<name>`, its bitcode file `<name>.bc`
//! and (with `-` read as `_`) its native entry `<name>::run`. `#` starts a comment;
//! blank lines are ignored.
//!
//! Readers: the kernel's build script (it generates the kernel's app table), host-runner's
//! build script (its app table and one test per app), the tests and the benchmark
//! (`bareflow-tests`), and, with the same rules in shell and Python,
//! `apps/build-bitcode.sh`, `apps/run-lli.sh` and `apps/reference/expected.py`.
//! Cargo cannot take dependencies from a file, so the kernel's and host-runner's
//! manifests still name every app; `tests/cargo.rs` fails, naming the app and the line
//! to add, when they and the list disagree.

use std::path::{Path, PathBuf};

/// The text of `apps/apps.list`, embedded at compile time: a change to the list
/// rebuilds this crate and everything that reads the list through it.
pub const LIST: &str = include_str!("../../apps.list");

/// The path of `apps/apps.list` (for a build script's `cargo:rerun-if-changed`).
pub fn list_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../apps.list")
}

/// The names of [`LIST`], in its order, without allocating and without checking them
/// (for the kernel's boot menu, which runs before the kernel has a heap; [`apps`]
/// checks the same list).
pub fn names_in_list() -> impl Iterator<Item = &'static str> {
    LIST.lines().map(|l| l.split('#').next().unwrap_or_default().trim()).filter(|l| !l.is_empty())
}

/// One app of the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct App<'a> {
    /// The crate's name (= its directory under `apps/` and its bitcode's file stem).
    pub name: &'a str,
}

impl App<'_> {
    /// The crate's name in Rust paths (`-` becomes `_`).
    pub fn ident(&self) -> String {
        self.name.replace('-', "_")
    }

    /// The crate's directory relative to the workspace root: `apps/<name>`.
    pub fn dir(&self) -> String {
        format!("apps/{}", self.name)
    }

    /// The bitcode file `apps/build-bitcode.sh` writes: `<name>.bc`.
    pub fn bitcode_file(&self) -> String {
        format!("{}.bc", self.name)
    }

    /// The natively compiled entry point: `<ident>::run`.
    pub fn native_entry(&self) -> String {
        format!("{}::run", self.ident())
    }
}

/// Whether `name` can be an app: a crate name of ASCII lower-case letters, digits, `_`
/// and `-`, starting with a letter.
fn valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Parses a list in the format of `apps/apps.list`. Errors name the line: a line with
/// more than one word, a name that cannot be a crate's, an app listed twice, or no app
/// at all.
pub fn parse(text: &str) -> Result<Vec<App<'_>>, String> {
    let mut apps: Vec<App<'_>> = Vec::new();
    for (number, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l)) {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        if line.split_whitespace().count() != 1 {
            return Err(format!("line {number}: one app name per line, found {line:?}"));
        }
        if !valid_name(line) {
            return Err(format!(
                "line {number}: {line:?} is not a crate name (lower-case letters, digits, `_`, `-`; a letter first)"
            ));
        }
        if apps.iter().any(|a| a.name == line) {
            return Err(format!("line {number}: {line} is listed twice"));
        }
        apps.push(App { name: line });
    }
    if apps.is_empty() {
        return Err("the list names no app".into());
    }
    Ok(apps)
}

/// Every app of `apps/apps.list`, in its order.
///
/// # Panics
/// If the list does not parse (the message names the line; this crate's tests check
/// the real list).
pub fn apps() -> Vec<App<'static>> {
    parse(LIST).unwrap_or_else(|e| panic!("{}: {e}", list_path().display()))
}

/// The names of every app of `apps/apps.list`, in its order.
pub fn names() -> Vec<&'static str> {
    apps().into_iter().map(|a| a.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unchecked_names_are_the_checked_ones() {
        assert_eq!(names_in_list().collect::<Vec<_>>(), names());
    }

    #[test]
    fn the_real_list_parses() {
        let names = names();
        assert!(names.contains(&"tinyllama"), "{names:?}");
    }

    #[test]
    fn comments_and_blank_lines_are_ignored() {
        let apps = parse("# apps\n\nfib  # the first\n  bit-count\n").unwrap();
        assert_eq!(apps, [App { name: "fib" }, App { name: "bit-count" }]);
        assert_eq!(apps[1].ident(), "bit_count");
        assert_eq!(apps[1].native_entry(), "bit_count::run");
        assert_eq!(apps[1].bitcode_file(), "bit-count.bc");
        assert_eq!(apps[1].dir(), "apps/bit-count");
    }

    #[test]
    fn bad_lists_are_refused_with_the_line() {
        assert_eq!(parse("fib\nsieve matmul\n").unwrap_err(), "line 2: one app name per line, found \"sieve matmul\"");
        assert!(parse("Fib\n").unwrap_err().starts_with("line 1: \"Fib\" is not a crate name"));
        assert!(parse("1fib\n").unwrap_err().starts_with("line 1: \"1fib\" is not a crate name"));
        assert!(parse("fib.rs\n").unwrap_err().starts_with("line 1: \"fib.rs\" is not a crate name"));
        assert_eq!(parse("fib\n# x\nfib\n").unwrap_err(), "line 3: fib is listed twice");
        assert_eq!(parse("# none\n\n").unwrap_err(), "the list names no app");
    }
}
