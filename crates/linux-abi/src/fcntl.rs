//! Opening files, descriptor commands and the `*at` calls (`<asm-generic/fcntl.h>`,
//! `<linux/fcntl.h>`, `<linux/fs.h>`): `O_*`, `F_*`, `AT_*`, `SEEK_*`, `RENAME_*`.

/// Access mode mask.
pub const O_ACCMODE: u64 = 3;
/// Read only.
pub const O_RDONLY: u64 = 0;
/// Write only.
pub const O_WRONLY: u64 = 1;
/// Read and write.
pub const O_RDWR: u64 = 2;
/// Create when missing.
pub const O_CREAT: u64 = 0o100;
/// With `O_CREAT`: fail when it exists.
pub const O_EXCL: u64 = 0o200;
/// Truncate to 0 bytes.
pub const O_TRUNC: u64 = 0o1000;
/// Every write goes to the end.
pub const O_APPEND: u64 = 0o2000;
/// Must be a directory.
pub const O_DIRECTORY: u64 = 0o200000;
/// Close on exec.
pub const O_CLOEXEC: u64 = 0o2000000;

/// Duplicate the descriptor onto the lowest free number ≥ the argument.
pub const F_DUPFD: u64 = 0;
/// Get the descriptor flags (`FD_CLOEXEC`).
pub const F_GETFD: u64 = 1;
/// Set the descriptor flags.
pub const F_SETFD: u64 = 2;
/// Get the status flags (access mode, `O_APPEND`, …).
pub const F_GETFL: u64 = 3;
/// Set the status flags.
pub const F_SETFL: u64 = 4;
/// `F_DUPFD` with `FD_CLOEXEC` set on the new descriptor.
pub const F_DUPFD_CLOEXEC: u64 = 1030;

/// Relative paths start at the working directory (the `dirfd`, an `int`).
pub const AT_FDCWD: i32 = -100;
/// Do not follow a final symbolic link.
pub const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
/// `unlinkat` removes a directory.
pub const AT_REMOVEDIR: u64 = 0x200;
/// An empty path names the descriptor itself.
pub const AT_EMPTY_PATH: u64 = 0x1000;

/// `renameat2`: fail if the destination exists.
pub const RENAME_NOREPLACE: u64 = 1;
/// `renameat2`: swap source and destination.
pub const RENAME_EXCHANGE: u64 = 2;

/// `lseek` from the start.
pub const SEEK_SET: u64 = 0;
/// `lseek` from the current position.
pub const SEEK_CUR: u64 = 1;
/// `lseek` from the end.
pub const SEEK_END: u64 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_the_c_library() {
        let pairs = [
            (O_ACCMODE, libc::O_ACCMODE),
            (O_RDONLY, libc::O_RDONLY),
            (O_WRONLY, libc::O_WRONLY),
            (O_RDWR, libc::O_RDWR),
            (O_CREAT, libc::O_CREAT),
            (O_EXCL, libc::O_EXCL),
            (O_TRUNC, libc::O_TRUNC),
            (O_APPEND, libc::O_APPEND),
            (O_DIRECTORY, libc::O_DIRECTORY),
            (O_CLOEXEC, libc::O_CLOEXEC),
            (F_DUPFD, libc::F_DUPFD),
            (F_GETFD, libc::F_GETFD),
            (F_SETFD, libc::F_SETFD),
            (F_GETFL, libc::F_GETFL),
            (F_SETFL, libc::F_SETFL),
            (F_DUPFD_CLOEXEC, libc::F_DUPFD_CLOEXEC),
            (AT_SYMLINK_NOFOLLOW, libc::AT_SYMLINK_NOFOLLOW),
            (AT_REMOVEDIR, libc::AT_REMOVEDIR),
            (AT_EMPTY_PATH, libc::AT_EMPTY_PATH),
            (RENAME_NOREPLACE, libc::RENAME_NOREPLACE as i32),
            (RENAME_EXCHANGE, libc::RENAME_EXCHANGE as i32),
            (SEEK_SET, libc::SEEK_SET),
            (SEEK_CUR, libc::SEEK_CUR),
            (SEEK_END, libc::SEEK_END),
        ];
        for (ours, theirs) in pairs {
            assert_eq!(ours, theirs as u64);
        }
        assert_eq!(AT_FDCWD, libc::AT_FDCWD);
    }
}
