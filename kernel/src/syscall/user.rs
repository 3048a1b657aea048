//! Checked access to the program's memory.
//!
//! Every pointer a syscall receives is checked against the [`Platform`] (on bare metal:
//! the page tables) before the kernel touches it, so a bad pointer is `-EFAULT`, never
//! a kernel page fault. Kernel and program share one address space, so a checked
//! pointer is used directly.

use bytemuck::Pod;
use linux_abi::errno::{EFAULT, ENAMETOOLONG, Errno};
pub use linux_abi::limits::PATH_MAX;

use super::Platform;

/// The `len` bytes at `addr`, checked readable. Zero length is always fine.
pub fn bytes<'a>(p: &dyn Platform, addr: u64, len: u64) -> Result<&'a [u8], Errno> {
    if len == 0 {
        return Ok(&[]);
    }
    if addr.checked_add(len).is_none() || !p.user_readable(addr, len) {
        return Err(EFAULT);
    }
    // SAFETY: the platform confirmed `len` readable bytes at `addr`; one address space,
    // one thread: nothing unmaps them while the syscall runs.
    Ok(unsafe { core::slice::from_raw_parts(addr as *const u8, len as usize) })
}

/// The `len` bytes at `addr`, checked writable.
pub fn bytes_mut<'a>(p: &dyn Platform, addr: u64, len: u64) -> Result<&'a mut [u8], Errno> {
    if len == 0 {
        return Ok(&mut []);
    }
    if addr.checked_add(len).is_none() || !p.user_writable(addr, len) {
        return Err(EFAULT);
    }
    // SAFETY: as in `bytes`, and the platform confirmed the bytes are writable.
    Ok(unsafe { core::slice::from_raw_parts_mut(addr as *mut u8, len as usize) })
}

/// Reads a plain-old-data value at `addr` (any alignment). `Pod` admits only types
/// for which every bit pattern is a valid value and that have no padding, so nothing
/// the program wrote can make an invalid `T`.
pub fn read<T: Pod>(p: &dyn Platform, addr: u64) -> Result<T, Errno> {
    Ok(bytemuck::pod_read_unaligned(bytes(p, addr, size_of::<T>() as u64)?))
}

/// Writes a plain-old-data value at `addr` (any alignment).
pub fn write<T: Pod>(p: &dyn Platform, addr: u64, value: &T) -> Result<(), Errno> {
    bytes_mut(p, addr, size_of::<T>() as u64)?.copy_from_slice(bytemuck::bytes_of(value));
    Ok(())
}

/// The NUL-terminated string at `addr` (without the NUL), at most `max` bytes long.
pub fn c_string<'a>(p: &dyn Platform, addr: u64, max: u64) -> Result<&'a [u8], Errno> {
    let readable = p.readable_prefix(addr, max + 1);
    let b = bytes(p, addr, readable).map_err(|_| EFAULT)?;
    match b.iter().position(|&c| c == 0) {
        Some(nul) => Ok(&b[..nul]),
        None if readable > max => Err(ENAMETOOLONG),
        None => Err(EFAULT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::testing::MockPlatform;

    #[test]
    fn unmapped_or_overflowing_ranges_are_efault() {
        let p = MockPlatform::new();
        assert_eq!(bytes(&p, 0, 1).unwrap_err(), EFAULT);
        assert_eq!(bytes(&p, u64::MAX - 2, 8).unwrap_err(), EFAULT);
        assert_eq!(bytes(&p, 0xdead_0000, 0).unwrap(), &[] as &[u8]);
        let buf = p.buffer(16);
        assert!(bytes(&p, buf, 16).is_ok());
        assert_eq!(bytes(&p, buf, 17).unwrap_err(), EFAULT);
        assert_eq!(bytes(&p, buf + 8, 9).unwrap_err(), EFAULT);
    }

    #[test]
    fn read_only_buffers_are_not_writable() {
        let p = MockPlatform::new();
        let ro = p.read_only_buffer(b"abc");
        assert!(bytes(&p, ro, 3).is_ok());
        assert_eq!(bytes_mut(&p, ro, 3).unwrap_err(), EFAULT);
        assert_eq!(write(&p, ro, &1u8).unwrap_err(), EFAULT);
    }

    #[test]
    fn strings_stop_at_nul_or_limit_or_unmapped_memory() {
        let p = MockPlatform::new();
        let s = p.read_only_buffer(b"/proc/self/exe\0junk");
        assert_eq!(c_string(&p, s, PATH_MAX).unwrap(), b"/proc/self/exe");
        let unterminated = p.read_only_buffer(b"abcdef");
        assert_eq!(c_string(&p, unterminated, PATH_MAX).unwrap_err(), EFAULT);
        assert_eq!(c_string(&p, s, 4).unwrap_err(), ENAMETOOLONG);
        assert_eq!(c_string(&p, 0, PATH_MAX).unwrap_err(), EFAULT);
    }
}
