//! Directory entries (`<linux/dirent.h>`): `getdents64` fills `struct linux_dirent64`
//! records — `d_ino` (u64), `d_off` (i64), `d_reclen` (u16), `d_type` (u8), then the
//! NUL-terminated name, padded to 8 bytes.

/// Offset of `d_name` in `struct linux_dirent64`.
pub const DIRENT64_NAME_OFFSET: usize = 19;
/// `d_type` of a directory.
pub const DT_DIR: u8 = 4;
/// `d_type` of a regular file.
pub const DT_REG: u8 = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_the_c_library() {
        assert_eq!(DT_DIR, libc::DT_DIR);
        assert_eq!(DT_REG, libc::DT_REG);
        assert_eq!(DIRENT64_NAME_OFFSET, core::mem::offset_of!(libc::dirent64, d_name));
    }
}
