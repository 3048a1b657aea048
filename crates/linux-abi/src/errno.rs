//! Error numbers (`<asm-generic/errno-base.h>`, `<asm-generic/errno.h>`): a syscall
//! returns `-errno` in RAX.

/// A Linux errno value (positive); the kernel's syscall handlers return `Err(Errno)`
/// and the dispatcher hands `-errno` back to the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

/// Operation not permitted.
pub const EPERM: Errno = Errno(1);
/// No such file or directory.
pub const ENOENT: Errno = Errno(2);
/// No such process.
pub const ESRCH: Errno = Errno(3);
/// Input/output error.
pub const EIO: Errno = Errno(5);
/// Bad file descriptor.
pub const EBADF: Errno = Errno(9);
/// Try again (futex value changed).
pub const EAGAIN: Errno = Errno(11);
/// Out of memory.
pub const ENOMEM: Errno = Errno(12);
/// Bad address.
pub const EFAULT: Errno = Errno(14);
/// Device or resource busy (removing or renaming an open file).
pub const EBUSY: Errno = Errno(16);
/// File exists.
pub const EEXIST: Errno = Errno(17);
/// No such device (file mappings: there are none).
pub const ENODEV: Errno = Errno(19);
/// Not a directory.
pub const ENOTDIR: Errno = Errno(20);
/// Is a directory.
pub const EISDIR: Errno = Errno(21);
/// Invalid argument.
pub const EINVAL: Errno = Errno(22);
/// Too many open files.
pub const EMFILE: Errno = Errno(24);
/// Not a terminal.
pub const ENOTTY: Errno = Errno(25);
/// File too large.
pub const EFBIG: Errno = Errno(27);
/// No space left on device.
pub const ENOSPC: Errno = Errno(28);
/// Illegal seek.
pub const ESPIPE: Errno = Errno(29);
/// Read-only file system (no volume is mounted).
pub const EROFS: Errno = Errno(30);
/// Result too large (a buffer too small).
pub const ERANGE: Errno = Errno(34);
/// Deadlock would occur (a futex wait nobody can wake).
pub const EDEADLK: Errno = Errno(35);
/// Name too long.
pub const ENAMETOOLONG: Errno = Errno(36);
/// Function not implemented.
pub const ENOSYS: Errno = Errno(38);
/// Directory not empty.
pub const ENOTEMPTY: Errno = Errno(39);
/// Operation not supported.
pub const EOPNOTSUPP: Errno = Errno(95);
/// Timed out.
pub const ETIMEDOUT: Errno = Errno(110);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_the_c_library() {
        let pairs = [
            (EPERM, libc::EPERM),
            (ENOENT, libc::ENOENT),
            (ESRCH, libc::ESRCH),
            (EIO, libc::EIO),
            (EBADF, libc::EBADF),
            (EAGAIN, libc::EAGAIN),
            (ENOMEM, libc::ENOMEM),
            (EFAULT, libc::EFAULT),
            (EBUSY, libc::EBUSY),
            (EEXIST, libc::EEXIST),
            (ENODEV, libc::ENODEV),
            (ENOTDIR, libc::ENOTDIR),
            (EISDIR, libc::EISDIR),
            (EINVAL, libc::EINVAL),
            (EMFILE, libc::EMFILE),
            (ENOTTY, libc::ENOTTY),
            (EFBIG, libc::EFBIG),
            (ENOSPC, libc::ENOSPC),
            (ESPIPE, libc::ESPIPE),
            (EROFS, libc::EROFS),
            (ERANGE, libc::ERANGE),
            (EDEADLK, libc::EDEADLK),
            (ENAMETOOLONG, libc::ENAMETOOLONG),
            (ENOSYS, libc::ENOSYS),
            (ENOTEMPTY, libc::ENOTEMPTY),
            (EOPNOTSUPP, libc::EOPNOTSUPP),
            (ETIMEDOUT, libc::ETIMEDOUT),
        ];
        for (ours, theirs) in pairs {
            assert_eq!(ours.0, theirs);
        }
    }
}
