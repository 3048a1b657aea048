//! Memory syscalls: argument checks here, the work in the platform (on bare metal,
//! [`crate::mm::vmem`]: frames from the buddy allocator, permissions in real page
//! tables).

use linux_abi::errno::{EINVAL, ENODEV, ENOMEM, Errno};
use linux_abi::mman::{
    MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_PRIVATE, MAP_SHARED, MAP_SHARED_VALIDATE, MAP_TYPE, PROT_EXEC,
    PROT_READ, PROT_WRITE,
};

use super::{Platform, SysResult};

/// Page size of every mapping.
pub const PAGE: u64 = 4096;

/// Rounds `len` up to whole pages; `None` on overflow.
fn page_round(len: u64) -> Option<u64> {
    len.checked_add(PAGE - 1).map(|l| l & !(PAGE - 1))
}

fn check_prot(p: u64) -> Result<u64, Errno> {
    if p & !(PROT_READ | PROT_WRITE | PROT_EXEC) != 0 { Err(EINVAL) } else { Ok(p) }
}

/// `brk(addr)`: Linux semantics — returns the new break, or the old one on failure.
pub fn brk(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    Ok(p.brk(a[0]))
}

/// `mmap(addr, len, prot, flags, fd, offset)`: anonymous private or shared mappings;
/// the address hint is ignored; `MAP_FIXED` only over memory mapped earlier. File
/// mappings are `ENODEV` until a file system exists.
pub fn mmap(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let [addr, len, prot, flags, _fd, offset] = a;
    let prot = check_prot(prot)?;
    if len == 0 {
        return Err(EINVAL);
    }
    let len = page_round(len).ok_or(ENOMEM)?;
    if !matches!(flags & MAP_TYPE, MAP_SHARED | MAP_PRIVATE | MAP_SHARED_VALIDATE) {
        return Err(EINVAL);
    }
    if flags & MAP_ANONYMOUS == 0 {
        return Err(ENODEV);
    }
    if offset % PAGE != 0 {
        return Err(EINVAL);
    }
    if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0 {
        if addr % PAGE != 0 || addr.checked_add(len).is_none() {
            return Err(EINVAL);
        }
        return p.map_fixed(addr, len, prot);
    }
    p.map_anonymous(len, prot)
}

/// `munmap(addr, len)`.
pub fn munmap(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let [addr, len, ..] = a;
    if addr % PAGE != 0 || len == 0 {
        return Err(EINVAL);
    }
    let len = page_round(len).ok_or(EINVAL)?;
    addr.checked_add(len).ok_or(EINVAL)?;
    p.unmap(addr, len).map(|_| 0)
}

/// `mprotect(addr, len, prot)`: `ENOMEM` if any page is not mapped.
pub fn mprotect(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let [addr, len, prot, ..] = a;
    let prot = check_prot(prot)?;
    if addr % PAGE != 0 {
        return Err(EINVAL);
    }
    let len = page_round(len).ok_or(ENOMEM)?;
    if len == 0 {
        return Ok(0);
    }
    addr.checked_add(len).ok_or(ENOMEM)?;
    p.protect(addr, len, prot).map(|_| 0)
}

/// `mremap(...)`: never moves or grows mappings here; `ENOMEM` is a valid answer that
/// glibc's `realloc` handles by allocating, copying and freeing.
pub fn mremap(_p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    if !a[0].is_multiple_of(PAGE) {
        return Err(EINVAL);
    }
    Err(ENOMEM)
}

/// `madvise(addr, len, advice)`: advice is only advice; alignment is checked.
pub fn madvise(_p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    if !a[0].is_multiple_of(PAGE) { Err(EINVAL) } else { Ok(0) }
}

#[cfg(test)]
mod tests {
    use crate::syscall::dispatch;
    use crate::syscall::testing::MockPlatform;

    const RW: u64 = 3;
    const PRIV_ANON: u64 = 0x22;

    #[test]
    fn mmap_rounds_to_pages_and_checks_flags() {
        let mut p = MockPlatform::new();
        let addr = dispatch(&mut p, 9, [0, 5000, RW, PRIV_ANON, u64::MAX, 0]);
        assert_eq!(addr, 0x7000_0000);
        assert_eq!(p.memory_calls.last().unwrap(), &("map", 0x7000_0000, 8192, RW));
        assert_eq!(dispatch(&mut p, 9, [0, 0, RW, PRIV_ANON, 0, 0]), -22, "zero length");
        assert_eq!(dispatch(&mut p, 9, [0, u64::MAX, RW, PRIV_ANON, 0, 0]), -12, "length overflow");
        assert_eq!(dispatch(&mut p, 9, [0, 4096, 8, PRIV_ANON, 0, 0]), -22, "unknown prot bit");
        assert_eq!(dispatch(&mut p, 9, [0, 4096, RW, 0x20, 0, 0]), -22, "neither private nor shared");
        assert_eq!(dispatch(&mut p, 9, [0, 4096, 1, 0x02, 3, 0]), -19, "file mapping: ENODEV");
        assert_eq!(dispatch(&mut p, 9, [0x1001, 4096, RW, PRIV_ANON | 0x10, 0, 0]), -22, "unaligned MAP_FIXED");
        assert_eq!(dispatch(&mut p, 9, [0x7000_0000, 4096, 1, PRIV_ANON | 0x10, 0, 0]), 0x7000_0000);
        assert_eq!(p.memory_calls.last().unwrap().0, "fixed");
    }

    #[test]
    fn munmap_and_mprotect_check_alignment() {
        let mut p = MockPlatform::new();
        assert_eq!(dispatch(&mut p, 11, [0x7000_0001, 4096, 0, 0, 0, 0]), -22);
        assert_eq!(dispatch(&mut p, 11, [0x7000_0000, 0, 0, 0, 0, 0]), -22);
        assert_eq!(dispatch(&mut p, 11, [0x7000_0000, 100, 0, 0, 0, 0]), 0);
        assert_eq!(p.memory_calls.last().unwrap(), &("unmap", 0x7000_0000, 4096, 0));
        assert_eq!(dispatch(&mut p, 11, [!4095, 8192, 0, 0, 0, 0]), -22, "wraps around");
        assert_eq!(dispatch(&mut p, 10, [0x7000_0800, 4096, 1, 0, 0, 0]), -22);
        assert_eq!(dispatch(&mut p, 10, [0x7000_0000, 4096, 0x10, 0, 0, 0]), -22);
        assert_eq!(dispatch(&mut p, 10, [0x7000_0000, 0, 1, 0, 0, 0]), 0, "empty range");
        assert_eq!(dispatch(&mut p, 10, [0x7000_0000, 1, 5, 0, 0, 0]), 0);
        assert_eq!(p.memory_calls.last().unwrap(), &("protect", 0x7000_0000, 4096, 5));
    }

    #[test]
    fn brk_and_mremap() {
        let mut p = MockPlatform::new();
        assert_eq!(dispatch(&mut p, 12, [0, 0, 0, 0, 0, 0]), 0x4000_0000);
        assert_eq!(dispatch(&mut p, 12, [0x4000_2000, 0, 0, 0, 0, 0]), 0x4000_2000);
        assert_eq!(dispatch(&mut p, 12, [0x9000_0000, 0, 0, 0, 0, 0]), 0x4000_2000, "refused: old break");
        assert_eq!(dispatch(&mut p, 25, [0x7000_0000, 4096, 8192, 1, 0, 0]), -12);
    }
}
