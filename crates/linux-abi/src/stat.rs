//! File status (`<asm/stat.h>`, `<linux/stat.h>`): `struct stat` as `fstat` and
//! `newfstatat` fill it on x86-64, `struct statx`, and the file-type bits of `st_mode`.

/// Linux's `struct stat` on x86-64 (144 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Stat {
    /// Device.
    pub st_dev: u64,
    /// Inode.
    pub st_ino: u64,
    /// Link count.
    pub st_nlink: u64,
    /// Type and permissions.
    pub st_mode: u32,
    /// Owner.
    pub st_uid: u32,
    /// Group.
    pub st_gid: u32,
    /// Padding.
    pub pad0: u32,
    /// Device number of a device file.
    pub st_rdev: u64,
    /// Size in bytes.
    pub st_size: i64,
    /// Preferred I/O size.
    pub st_blksize: i64,
    /// 512-byte blocks.
    pub st_blocks: i64,
    /// Access, modification and change times as (seconds, nanoseconds) pairs.
    pub st_times: [i64; 6],
    /// Reserved.
    pub reserved: [i64; 3],
}

/// Mask of the file type in `st_mode`.
pub const S_IFMT: u32 = 0o170000;
/// A directory.
pub const S_IFDIR: u32 = 0o040000;
/// A character device.
pub const S_IFCHR: u32 = 0o020000;
/// A regular file.
pub const S_IFREG: u32 = 0o100000;

/// A time stamp in `struct statx`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct StatxTimestamp {
    /// Seconds since the epoch.
    pub tv_sec: i64,
    /// Nanoseconds.
    pub tv_nsec: u32,
    /// Reserved.
    pub reserved: i32,
}

/// Linux's `struct statx` (256 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Statx {
    /// Which fields are filled (`STATX_*`).
    pub stx_mask: u32,
    /// Preferred I/O size.
    pub stx_blksize: u32,
    /// File attributes (`STATX_ATTR_*`).
    pub stx_attributes: u64,
    /// Link count.
    pub stx_nlink: u32,
    /// Owner.
    pub stx_uid: u32,
    /// Group.
    pub stx_gid: u32,
    /// Type and permissions.
    pub stx_mode: u16,
    /// Reserved.
    pub spare0: u16,
    /// Inode.
    pub stx_ino: u64,
    /// Size in bytes.
    pub stx_size: u64,
    /// 512-byte blocks.
    pub stx_blocks: u64,
    /// Which attributes the file system supports.
    pub stx_attributes_mask: u64,
    /// Last access.
    pub stx_atime: StatxTimestamp,
    /// Creation.
    pub stx_btime: StatxTimestamp,
    /// Last status change.
    pub stx_ctime: StatxTimestamp,
    /// Last modification.
    pub stx_mtime: StatxTimestamp,
    /// Device number of a device file: major.
    pub stx_rdev_major: u32,
    /// Device number of a device file: minor.
    pub stx_rdev_minor: u32,
    /// Device: major.
    pub stx_dev_major: u32,
    /// Device: minor.
    pub stx_dev_minor: u32,
    /// Reserved (mount ID, direct-I/O alignment and spare words).
    pub spare: [u64; 14],
}

/// `statx` mask: the fields of `struct stat` (type, mode, links, owner, times, inode,
/// size, blocks).
pub const STATX_BASIC_STATS: u32 = 0x7ff;
/// `statx` mask: the creation time.
pub const STATX_BTIME: u32 = 0x800;

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn stat_layout_matches_the_c_library() {
        assert_eq!(size_of::<Stat>(), 144);
        assert_eq!(size_of::<Stat>(), size_of::<libc::stat>());
        assert_eq!(offset_of!(Stat, st_ino), offset_of!(libc::stat, st_ino));
        assert_eq!(offset_of!(Stat, st_nlink), offset_of!(libc::stat, st_nlink));
        assert_eq!(offset_of!(Stat, st_mode), offset_of!(libc::stat, st_mode));
        assert_eq!(offset_of!(Stat, st_uid), offset_of!(libc::stat, st_uid));
        assert_eq!(offset_of!(Stat, st_gid), offset_of!(libc::stat, st_gid));
        assert_eq!(offset_of!(Stat, st_rdev), offset_of!(libc::stat, st_rdev));
        assert_eq!(offset_of!(Stat, st_size), offset_of!(libc::stat, st_size));
        assert_eq!(offset_of!(Stat, st_blksize), offset_of!(libc::stat, st_blksize));
        assert_eq!(offset_of!(Stat, st_blocks), offset_of!(libc::stat, st_blocks));
        assert_eq!(offset_of!(Stat, st_times), offset_of!(libc::stat, st_atime));
        assert_eq!(offset_of!(Stat, st_times) + 16, offset_of!(libc::stat, st_mtime));
        assert_eq!(offset_of!(Stat, st_times) + 32, offset_of!(libc::stat, st_ctime));
    }

    #[test]
    fn statx_layout_matches_the_c_library() {
        assert_eq!(size_of::<Statx>(), 256);
        assert_eq!(size_of::<Statx>(), size_of::<libc::statx>());
        assert_eq!(size_of::<StatxTimestamp>(), size_of::<libc::statx_timestamp>());
        assert_eq!(offset_of!(Statx, stx_blksize), offset_of!(libc::statx, stx_blksize));
        assert_eq!(offset_of!(Statx, stx_attributes), offset_of!(libc::statx, stx_attributes));
        assert_eq!(offset_of!(Statx, stx_nlink), offset_of!(libc::statx, stx_nlink));
        assert_eq!(offset_of!(Statx, stx_uid), offset_of!(libc::statx, stx_uid));
        assert_eq!(offset_of!(Statx, stx_gid), offset_of!(libc::statx, stx_gid));
        assert_eq!(offset_of!(Statx, stx_mode), offset_of!(libc::statx, stx_mode));
        assert_eq!(offset_of!(Statx, stx_ino), offset_of!(libc::statx, stx_ino));
        assert_eq!(offset_of!(Statx, stx_size), offset_of!(libc::statx, stx_size));
        assert_eq!(offset_of!(Statx, stx_blocks), offset_of!(libc::statx, stx_blocks));
        assert_eq!(offset_of!(Statx, stx_attributes_mask), offset_of!(libc::statx, stx_attributes_mask));
        assert_eq!(offset_of!(Statx, stx_atime), offset_of!(libc::statx, stx_atime));
        assert_eq!(offset_of!(Statx, stx_btime), offset_of!(libc::statx, stx_btime));
        assert_eq!(offset_of!(Statx, stx_ctime), offset_of!(libc::statx, stx_ctime));
        assert_eq!(offset_of!(Statx, stx_mtime), offset_of!(libc::statx, stx_mtime));
        assert_eq!(offset_of!(Statx, stx_rdev_major), offset_of!(libc::statx, stx_rdev_major));
        assert_eq!(offset_of!(Statx, stx_rdev_minor), offset_of!(libc::statx, stx_rdev_minor));
        assert_eq!(offset_of!(Statx, stx_dev_major), offset_of!(libc::statx, stx_dev_major));
        assert_eq!(offset_of!(Statx, stx_dev_minor), offset_of!(libc::statx, stx_dev_minor));
        assert_eq!(offset_of!(Statx, spare), offset_of!(libc::statx, stx_mnt_id));
    }

    #[test]
    fn mode_bits_match_the_c_library() {
        assert_eq!(S_IFMT, libc::S_IFMT);
        assert_eq!(S_IFDIR, libc::S_IFDIR);
        assert_eq!(S_IFCHR, libc::S_IFCHR);
        assert_eq!(S_IFREG, libc::S_IFREG);
        assert_eq!(STATX_BASIC_STATS, libc::STATX_BASIC_STATS);
        assert_eq!(STATX_BTIME, libc::STATX_BTIME);
    }
}
