//! The program's memory as the interpreter reads and writes it: plain-old-data values
//! only ([`bytemuck::Pod`]: integers and floats, arrays of them), at any alignment.
//!
//! The addresses are the program's own — what its loads, stores and intrinsics compute —
//! so these are `unsafe`: they are exactly as valid as the same access in compiled code.

use bytemuck::Pod;

/// Reads a `T` at `addr` (unaligned).
///
/// # Safety
/// `addr..addr + size_of::<T>()` must be readable memory of the program (any bit
/// pattern is a valid `T`, so its contents need not be).
#[inline(always)]
pub unsafe fn load<T: Pod>(addr: u64) -> T {
    // SAFETY: the caller guarantees the bytes are readable; `T: Pod` admits any bytes.
    unsafe { (addr as *const T).read_unaligned() }
}

/// Writes `value` at `addr` (unaligned).
///
/// # Safety
/// `addr..addr + size_of::<T>()` must be writable memory of the program that no live
/// Rust reference covers.
#[inline(always)]
pub unsafe fn store<T: Pod>(addr: u64, value: T) {
    // SAFETY: the caller guarantees the bytes are writable and not borrowed.
    unsafe { (addr as *mut T).write_unaligned(value) }
}

/// `memmove(dst, src, n)`.
///
/// # Safety
/// `src..src + n` must be readable and `dst..dst + n` writable memory of the program.
#[inline(always)]
pub unsafe fn copy(dst: u64, src: u64, n: u64) {
    // SAFETY: as the caller guarantees; `ptr::copy` allows overlap.
    unsafe { core::ptr::copy(src as *const u8, dst as *mut u8, n as usize) }
}

/// `memset(dst, byte, n)`.
///
/// # Safety
/// `dst..dst + n` must be writable memory of the program.
#[inline(always)]
pub unsafe fn fill(dst: u64, byte: u8, n: u64) {
    // SAFETY: as the caller guarantees.
    unsafe { core::ptr::write_bytes(dst as *mut u8, byte, n as usize) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unaligned_round_trips() {
        let mut buf = [0u8; 16];
        let p = buf.as_mut_ptr() as u64 + 1;
        // SAFETY: `p..p + 8` lies inside `buf`.
        unsafe {
            store::<u64>(p, 0x0102_0304_0506_0708);
            assert_eq!(load::<u16>(p), 0x0708);
            assert_eq!(load::<f64>(p).to_bits(), 0x0102_0304_0506_0708);
            copy(p + 8, p, 4);
            fill(p, 0xff, 2);
        }
        assert_eq!(buf[1..3], [0xff, 0xff]);
        assert_eq!(buf[9..13], [8, 7, 6, 5]);
    }
}
