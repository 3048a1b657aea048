//! Linux error numbers the syscall layer returns (negated in RAX, as Linux does).

/// A Linux errno value (positive); handlers return `Err(Errno)` and the dispatcher
/// hands `-errno` back to the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

/// Operation not permitted.
pub const EPERM: Errno = Errno(1);
/// No such file or directory.
pub const ENOENT: Errno = Errno(2);
/// Bad file descriptor.
pub const EBADF: Errno = Errno(9);
/// Try again (futex value changed).
pub const EAGAIN: Errno = Errno(11);
/// Out of memory.
pub const ENOMEM: Errno = Errno(12);
/// Bad address.
pub const EFAULT: Errno = Errno(14);
/// Invalid argument.
pub const EINVAL: Errno = Errno(22);
/// Not a terminal.
pub const ENOTTY: Errno = Errno(25);
/// Illegal seek.
pub const ESPIPE: Errno = Errno(29);
/// Name too long.
pub const ENAMETOOLONG: Errno = Errno(36);
/// Function not implemented.
pub const ENOSYS: Errno = Errno(38);
/// No such device (file mappings before a file system exists).
pub const ENODEV: Errno = Errno(19);
/// Timed out.
pub const ETIMEDOUT: Errno = Errno(110);
/// Deadlock would occur (a futex wait nobody can wake).
pub const EDEADLK: Errno = Errno(35);
/// Operation not supported.
pub const EOPNOTSUPP: Errno = Errno(95);
/// Input/output error.
pub const EIO: Errno = Errno(5);
/// Device or resource busy (removing or renaming an open file).
pub const EBUSY: Errno = Errno(16);
/// File exists.
pub const EEXIST: Errno = Errno(17);
/// Not a directory.
pub const ENOTDIR: Errno = Errno(20);
/// Is a directory.
pub const EISDIR: Errno = Errno(21);
/// Too many open files.
pub const EMFILE: Errno = Errno(24);
/// File too large.
pub const EFBIG: Errno = Errno(27);
/// No space left on device.
pub const ENOSPC: Errno = Errno(28);
/// Read-only file system (no volume is mounted).
pub const EROFS: Errno = Errno(30);
/// Result too large (a buffer too small).
pub const ERANGE: Errno = Errno(34);
/// Directory not empty.
pub const ENOTEMPTY: Errno = Errno(39);
