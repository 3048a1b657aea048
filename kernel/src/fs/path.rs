//! Path resolution: a byte path from the program → the list of components below `/`.
//!
//! `.` and empty components vanish, `..` goes up (never above `/`), as Linux resolves
//! them (there are no symbolic links on FAT).

use linux_abi::errno::{EINVAL, ENAMETOOLONG, ENOENT, Errno};

/// `AT_FDCWD` (Linux's `int` -100) as the file system takes a base: relative paths
/// start at the working directory.
pub const AT_FDCWD: i64 = linux_abi::fcntl::AT_FDCWD as i64;

/// Longest name FAT's long file names allow (Linux's `NAME_MAX`, too).
pub const NAME_MAX: usize = linux_abi::limits::NAME_MAX;

/// A resolved path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// Components below `/` (empty: `/` itself).
    pub comps: Vec<String>,
    /// The path ended in `/` (it must then name a directory).
    pub trailing_slash: bool,
}

/// Resolves `path` against `base` (the components of the starting directory).
pub fn resolve(base: &[String], path: &[u8]) -> Result<Resolved, Errno> {
    if path.is_empty() {
        return Err(ENOENT);
    }
    let text = core::str::from_utf8(path).map_err(|_| EINVAL)?;
    let mut comps: Vec<String> = if text.starts_with('/') { Vec::new() } else { base.to_vec() };
    for c in text.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                comps.pop();
            }
            name if name.len() > NAME_MAX => return Err(ENAMETOOLONG),
            name => comps.push(name.to_string()),
        }
    }
    let last = text.rsplit('/').next().unwrap_or("");
    let trailing_slash = text.len() > 1 && (text.ends_with('/') || last == "." || last == "..");
    Ok(Resolved { comps, trailing_slash })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(base: &[&str], p: &str) -> Vec<String> {
        let base: Vec<String> = base.iter().map(|s| s.to_string()).collect();
        resolve(&base, p.as_bytes()).unwrap().comps
    }

    #[test]
    fn dots_slashes_and_bases() {
        assert_eq!(r(&[], "/"), Vec::<String>::new());
        assert_eq!(r(&["a"], "b/./c//d"), ["a", "b", "c", "d"]);
        assert_eq!(r(&["a", "b"], "../c"), ["a", "c"]);
        assert_eq!(r(&["a"], "/../../x"), ["x"]);
        assert_eq!(r(&["a"], "."), ["a"]);
        assert!(resolve(&[], b"dir/").unwrap().trailing_slash);
        assert!(!resolve(&[], b"/").unwrap().trailing_slash);
        assert_eq!(resolve(&[], b"").unwrap_err(), ENOENT);
        assert_eq!(resolve(&[], &[0xff]).unwrap_err(), EINVAL);
        assert_eq!(resolve(&[], "x".repeat(256).as_bytes()).unwrap_err(), ENAMETOOLONG);
    }
}
