//! Limits (`<linux/limits.h>`, `<linux/uio.h>`).

/// Longest path, the terminating NUL included.
pub const PATH_MAX: u64 = 4096;
/// Longest file name (one path component).
pub const NAME_MAX: usize = 255;
/// Most iovecs `readv`/`writev` take.
pub const IOV_MAX: u64 = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_the_c_library() {
        assert_eq!(PATH_MAX, libc::PATH_MAX as u64);
        assert_eq!(NAME_MAX, 255); // libc has no NAME_MAX constant; <linux/limits.h> says 255
        assert_eq!(IOV_MAX, 1024); // UIO_MAXIOV
    }
}
