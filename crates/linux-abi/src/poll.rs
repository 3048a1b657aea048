//! `poll` (`<asm-generic/poll.h>`): `struct pollfd` is `{ int fd; short events; short
//! revents; }`, 8 bytes.

/// There is data to read.
pub const POLLIN: u16 = 0x1;
/// Writing will not block.
pub const POLLOUT: u16 = 0x4;
/// The descriptor is not open.
pub const POLLNVAL: u16 = 0x20;
/// Size of `struct pollfd`.
pub const POLLFD_SIZE: u64 = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_the_c_library() {
        assert_eq!(POLLIN, libc::POLLIN as u16);
        assert_eq!(POLLOUT, libc::POLLOUT as u16);
        assert_eq!(POLLNVAL, libc::POLLNVAL as u16);
        assert_eq!(POLLFD_SIZE, size_of::<libc::pollfd>() as u64);
    }
}
