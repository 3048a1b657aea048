//! Auxiliary-vector keys (`<linux/auxvec.h>`, `<asm/auxvec.h>`): the `(key, value)`
//! pairs after envp on a new process's stack.

/// End of the vector.
pub const AT_NULL: u64 = 0;
/// Program headers.
pub const AT_PHDR: u64 = 3;
/// Size of one program header.
pub const AT_PHENT: u64 = 4;
/// Number of program headers.
pub const AT_PHNUM: u64 = 5;
/// Page size.
pub const AT_PAGESZ: u64 = 6;
/// Entry point.
pub const AT_ENTRY: u64 = 9;
/// Real user ID.
pub const AT_UID: u64 = 11;
/// Effective user ID.
pub const AT_EUID: u64 = 12;
/// Real group ID.
pub const AT_GID: u64 = 13;
/// Effective group ID.
pub const AT_EGID: u64 = 14;
/// Platform string.
pub const AT_PLATFORM: u64 = 15;
/// CPUID.1:EDX.
pub const AT_HWCAP: u64 = 16;
/// Clock ticks per second.
pub const AT_CLKTCK: u64 = 17;
/// Secure mode (setuid).
pub const AT_SECURE: u64 = 23;
/// 16 random bytes (stack canary, pointer guard).
pub const AT_RANDOM: u64 = 25;
/// File name of the program.
pub const AT_EXECFN: u64 = 31;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_the_c_library() {
        let pairs = [
            (AT_NULL, libc::AT_NULL),
            (AT_PHDR, libc::AT_PHDR),
            (AT_PHENT, libc::AT_PHENT),
            (AT_PHNUM, libc::AT_PHNUM),
            (AT_PAGESZ, libc::AT_PAGESZ),
            (AT_ENTRY, libc::AT_ENTRY),
            (AT_UID, libc::AT_UID),
            (AT_EUID, libc::AT_EUID),
            (AT_GID, libc::AT_GID),
            (AT_EGID, libc::AT_EGID),
            (AT_PLATFORM, libc::AT_PLATFORM),
            (AT_HWCAP, libc::AT_HWCAP),
            (AT_CLKTCK, libc::AT_CLKTCK),
            (AT_SECURE, libc::AT_SECURE),
            (AT_RANDOM, libc::AT_RANDOM),
            (AT_EXECFN, libc::AT_EXECFN),
        ];
        for (ours, theirs) in pairs {
            assert_eq!(ours, theirs);
        }
    }
}
