//! Memory mappings (`<asm-generic/mman-common.h>`, `<linux/mman.h>`): `mmap`,
//! `mprotect`, and the page tables' permissions.

/// Pages may not be accessed.
pub const PROT_NONE: u64 = 0;
/// Pages may be read.
pub const PROT_READ: u64 = 1;
/// Pages may be written.
pub const PROT_WRITE: u64 = 2;
/// Pages may be executed.
pub const PROT_EXEC: u64 = 4;

/// Changes are shared.
pub const MAP_SHARED: u64 = 0x01;
/// Changes are private (copy on write).
pub const MAP_PRIVATE: u64 = 0x02;
/// `MAP_SHARED`, failing on unknown flags.
pub const MAP_SHARED_VALIDATE: u64 = 0x03;
/// Mask of the mapping type (shared, private, shared-validate).
pub const MAP_TYPE: u64 = 0x0f;
/// Map exactly at the address given.
pub const MAP_FIXED: u64 = 0x10;
/// Not backed by a file.
pub const MAP_ANONYMOUS: u64 = 0x20;
/// `MAP_FIXED`, failing instead of replacing an existing mapping.
pub const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_the_c_library() {
        let pairs = [
            (PROT_NONE, libc::PROT_NONE),
            (PROT_READ, libc::PROT_READ),
            (PROT_WRITE, libc::PROT_WRITE),
            (PROT_EXEC, libc::PROT_EXEC),
            (MAP_SHARED, libc::MAP_SHARED),
            (MAP_PRIVATE, libc::MAP_PRIVATE),
            (MAP_SHARED_VALIDATE, libc::MAP_SHARED_VALIDATE),
            (MAP_TYPE, libc::MAP_TYPE),
            (MAP_FIXED, libc::MAP_FIXED),
            (MAP_ANONYMOUS, libc::MAP_ANONYMOUS),
            (MAP_FIXED_NOREPLACE, libc::MAP_FIXED_NOREPLACE),
        ];
        for (ours, theirs) in pairs {
            assert_eq!(ours, theirs as u64);
        }
    }
}
