//! The Linux x86-64 system-call layer (BRIEF §3).
//!
//! glibc, Rust std and (later) LLVM run unchanged on top of the kernel and make ordinary
//! `syscall` instructions; the CPU enters the entry stub in `arch::x86_64::syscall` at
//! CPL 0, which calls the handler the kernel registered there: [`dispatch`] on the
//! bare-metal [`Platform`] (`crate::platform`). Everything here is written against the
//! `Platform` trait, so the dispatch table and every argument check are unit-tested on
//! the host with a mock machine ([`testing`]).
//!
//! One table ([`TABLE`]) maps numbers to handlers; one module per family:
//! [`memory`] (brk, mmap, …), [`descriptor`] (calls on file descriptors: read, write,
//! fstat, close, dup, …) and [`path`] (calls on paths: openat, newfstatat, mkdirat, …)
//! over the descriptor table [`fd`] (the console, files and directories behind one
//! trait), [`process`] (TLS, limits, signals, identity, exit), [`time`] (clocks,
//! sleep, futex, random). Unknown numbers are logged once by number and name and
//! return `-ENOSYS`. Numbers and layouts of the ABI come from the `linux-abi` crate.

pub mod descriptor;
pub mod fd;
pub mod memory;
pub mod names;
pub mod path;
pub mod process;
pub mod time;
pub mod user;

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub use linux_abi::Errno;
use linux_abi::errno::ENOSYS;

/// What a handler returns: the value for RAX, or an errno (returned negated).
pub type SysResult = Result<u64, Errno>;

/// A syscall handler: the six argument registers (RDI, RSI, RDX, R10, R8, R9).
pub type Handler = fn(&mut dyn Platform, [u64; 6]) -> SysResult;

/// The per-process state syscalls keep (one process, one thread).
#[derive(Clone, Debug)]
pub struct ProcessState {
    /// `struct k_sigaction` for signals 1..=64 (handler, flags, restorer, mask).
    pub sigactions: [[u64; 4]; 65],
    /// The blocked-signal mask.
    pub sigmask: u64,
    /// `stack_t` of the alternate signal stack: (sp, flags, size).
    pub altstack: (u64, u32, u64),
    /// The `set_tid_address` pointer.
    pub clear_child_tid: u64,
    /// The `set_robust_list` head.
    pub robust_list: u64,
}

impl ProcessState {
    /// A fresh process: default signal actions, nothing blocked, altstack disabled.
    pub const fn new() -> Self {
        ProcessState {
            sigactions: [[0; 4]; 65],
            sigmask: 0,
            altstack: (0, process::SS_DISABLE, 0),
            clear_child_tid: 0,
            robust_list: 0,
        }
    }
}

impl Default for ProcessState {
    fn default() -> Self {
        Self::new()
    }
}

/// What the syscall layer needs from the machine. The bare-metal kernel implements it
/// over page tables, the console and the TSC; host tests implement it over a few
/// registered buffers.
pub trait Platform {
    /// Whether `len` bytes at `addr` are mapped and readable (`len` > 0, no overflow).
    fn user_readable(&self, addr: u64, len: u64) -> bool;
    /// Whether `len` bytes at `addr` are mapped and writable (`len` > 0, no overflow).
    fn user_writable(&self, addr: u64, len: u64) -> bool;
    /// How many bytes from `addr` on (at most `max`) are readable without a gap.
    fn readable_prefix(&self, addr: u64, max: u64) -> u64;
    /// Writes program output for file descriptor 1 or 2 (or 0) to the console.
    fn console_write(&mut self, fd: u64, bytes: &[u8]);
    /// Reads console input for fd 0 without blocking; 0 means end of input.
    fn console_read(&mut self, buf: &mut [u8]) -> usize;
    /// Writes one line of the kernel's own log (e.g. an unknown syscall).
    fn log(&mut self, args: core::fmt::Arguments<'_>);
    /// Nanoseconds since boot (monotonic).
    fn monotonic_ns(&self) -> u64;
    /// Nanoseconds since the Unix epoch.
    fn realtime_ns(&self) -> u64;
    /// Waits at least `ns` nanoseconds.
    fn sleep_ns(&mut self, ns: u64);
    /// Fills `buf` with random bytes.
    fn fill_random(&mut self, buf: &mut [u8]);
    /// Sets the FS base (thread pointer).
    fn set_fs_base(&mut self, base: u64);
    /// The FS base.
    fn fs_base(&self) -> u64;
    /// (total, free) bytes of RAM, for `sysinfo`.
    fn memory_totals(&self) -> (u64, u64);
    /// Size of the program's stack, reported as RLIMIT_STACK.
    fn stack_size(&self) -> u64;
    /// Moves the program break to `addr` if it can (0 queries); returns the break.
    fn brk(&mut self, addr: u64) -> u64;
    /// Maps `len` (page-multiple) bytes of zeroed anonymous memory with `prot`.
    fn map_anonymous(&mut self, len: u64, prot: u64) -> Result<u64, Errno>;
    /// Re-maps `[addr, addr+len)` (page-aligned, inside earlier mappings) as zeroed
    /// memory with `prot` (`MAP_FIXED` over our own mapping).
    fn map_fixed(&mut self, addr: u64, len: u64, prot: u64) -> Result<u64, Errno>;
    /// Unmaps page-aligned `[addr, addr+len)`; pages not mapped are ignored.
    fn unmap(&mut self, addr: u64, len: u64) -> Result<(), Errno>;
    /// Changes the protection of page-aligned `[addr, addr+len)`, all of it mapped.
    fn protect(&mut self, addr: u64, len: u64, prot: u64) -> Result<(), Errno>;
    /// The process state (signals, TID address, …).
    fn process(&mut self) -> &mut ProcessState;
    /// The file system: the volume at `/`, its open files and directories, the working
    /// directory.
    fn files(&mut self) -> &mut crate::fs::Files;
    /// The program's descriptor table.
    fn descriptors(&mut self) -> &mut fd::Table;
    /// Ends the program with `status`. The bare-metal kernel never returns; a test
    /// platform records the status and returns.
    fn exit(&mut self, status: u8);
}

/// Number of entries in [`TABLE`]: every Linux x86-64 syscall number has a slot.
pub const TABLE_SIZE: usize = 451;

const fn build_table() -> [Option<Handler>; TABLE_SIZE] {
    let mut t: [Option<Handler>; TABLE_SIZE] = [None; TABLE_SIZE];
    // descriptor calls
    t[0] = Some(descriptor::read);
    t[1] = Some(descriptor::write);
    t[3] = Some(descriptor::close);
    t[5] = Some(descriptor::fstat);
    t[7] = Some(descriptor::poll);
    t[8] = Some(descriptor::lseek);
    t[16] = Some(descriptor::ioctl);
    t[17] = Some(descriptor::pread64);
    t[18] = Some(descriptor::pwrite64);
    t[19] = Some(descriptor::readv);
    t[20] = Some(descriptor::writev);
    t[32] = Some(descriptor::dup);
    t[33] = Some(descriptor::dup2);
    t[72] = Some(descriptor::fcntl);
    t[74] = Some(descriptor::fsync);
    t[75] = Some(descriptor::fsync);
    t[77] = Some(descriptor::ftruncate);
    t[81] = Some(descriptor::fchdir);
    t[217] = Some(descriptor::getdents64);
    t[292] = Some(descriptor::dup3);
    // path calls
    t[2] = Some(path::open);
    t[4] = Some(path::stat);
    t[6] = Some(path::stat);
    t[21] = Some(path::access);
    t[76] = Some(path::truncate);
    t[79] = Some(path::getcwd);
    t[80] = Some(path::chdir);
    t[82] = Some(path::rename);
    t[83] = Some(path::mkdir);
    t[84] = Some(path::rmdir);
    t[87] = Some(path::unlink);
    t[89] = Some(path::readlink);
    t[257] = Some(path::openat);
    t[258] = Some(path::mkdirat);
    t[262] = Some(path::newfstatat);
    t[263] = Some(path::unlinkat);
    t[264] = Some(path::renameat);
    t[269] = Some(path::faccessat);
    t[316] = Some(path::renameat2);
    t[332] = Some(path::statx);
    t[439] = Some(path::faccessat);
    // memory
    t[9] = Some(memory::mmap);
    t[10] = Some(memory::mprotect);
    t[11] = Some(memory::munmap);
    t[12] = Some(memory::brk);
    t[25] = Some(memory::mremap);
    t[28] = Some(memory::madvise);
    // process
    t[13] = Some(process::rt_sigaction);
    t[14] = Some(process::rt_sigprocmask);
    t[24] = Some(process::sched_yield);
    t[39] = Some(process::getpid);
    t[60] = Some(process::exit);
    t[62] = Some(process::kill);
    t[200] = Some(process::tkill);
    t[234] = Some(process::tgkill);
    t[63] = Some(process::uname);
    t[102] = Some(process::getuid);
    t[104] = Some(process::getuid);
    t[107] = Some(process::getuid);
    t[108] = Some(process::getuid);
    t[110] = Some(process::getppid);
    t[131] = Some(process::sigaltstack);
    t[158] = Some(process::arch_prctl);
    t[186] = Some(process::getpid);
    t[204] = Some(process::sched_getaffinity);
    t[218] = Some(process::set_tid_address);
    t[231] = Some(process::exit);
    t[273] = Some(process::set_robust_list);
    t[302] = Some(process::prlimit64);
    t[334] = Some(process::rseq);
    // time
    t[35] = Some(time::nanosleep);
    t[96] = Some(time::gettimeofday);
    t[99] = Some(process::sysinfo);
    t[201] = Some(time::time);
    t[202] = Some(time::futex);
    t[228] = Some(time::clock_gettime);
    t[229] = Some(time::clock_getres);
    t[230] = Some(time::clock_nanosleep);
    t[318] = Some(time::getrandom);
    t
}

/// The dispatch table: syscall number → handler; `None` is "not implemented".
pub static TABLE: [Option<Handler>; TABLE_SIZE] = build_table();

/// How many times each syscall number was made (index `TABLE_SIZE` counts numbers
/// beyond the table).
pub static COUNTS: [AtomicU64; TABLE_SIZE + 1] = [const { AtomicU64::new(0) }; TABLE_SIZE + 1];

/// Which unimplemented numbers were already logged (index `TABLE_SIZE` for numbers
/// beyond the table, logged every time since they are never legitimate).
static LOGGED: [AtomicBool; TABLE_SIZE] = [const { AtomicBool::new(false) }; TABLE_SIZE];

/// Runs syscall `nr` with `args`; returns the RAX value (`-errno` on failure).
pub fn dispatch(platform: &mut dyn Platform, nr: u64, args: [u64; 6]) -> i64 {
    let slot = usize::try_from(nr).ok().filter(|&n| n < TABLE_SIZE);
    COUNTS[slot.unwrap_or(TABLE_SIZE)].fetch_add(1, Ordering::Relaxed);
    let result = match slot.and_then(|n| TABLE[n]) {
        Some(handler) => handler(platform, args),
        None => {
            let first = slot.is_none_or(|n| !LOGGED[n].swap(true, Ordering::Relaxed));
            if first {
                platform.log(format_args!(
                    "syscall: {} ({}) is not implemented: -ENOSYS",
                    nr,
                    names::name(nr).unwrap_or("unknown")
                ));
            }
            Err(ENOSYS)
        }
    };
    match result {
        Ok(v) => v as i64,
        Err(Errno(e)) => -(e as i64),
    }
}

/// Syscalls made so far, as (number, count), for the METRIC lines at exit.
pub fn counts() -> impl Iterator<Item = (u64, u64)> {
    COUNTS.iter().enumerate().filter_map(|(nr, c)| {
        let n = c.load(Ordering::Relaxed);
        (n > 0).then_some((nr as u64, n))
    })
}

#[cfg(test)]
pub mod testing;

#[cfg(test)]
mod tests {
    use super::testing::MockPlatform;
    use super::*;

    #[test]
    fn implemented_syscalls_have_linux_names() {
        for (nr, h) in TABLE.iter().enumerate() {
            if h.is_some() {
                assert!(names::name(nr as u64).is_some(), "handler at {nr} has no Linux name");
            }
        }
    }

    #[test]
    fn unknown_syscall_is_enosys_and_logged_once_by_name() {
        let mut p = MockPlatform::new();
        assert_eq!(dispatch(&mut p, 163, [0; 6]), -38); // acct
        assert_eq!(dispatch(&mut p, 163, [0; 6]), -38);
        let logs: Vec<_> = p.logs.iter().filter(|l| l.contains("acct")).collect();
        assert_eq!(logs.len(), 1, "{:?}", p.logs);
        assert!(logs[0].contains("163 (acct)"));
        assert_eq!(dispatch(&mut p, 100_000, [0; 6]), -38);
        assert!(p.logs.iter().any(|l| l.contains("100000 (unknown)")));
        assert_eq!(dispatch(&mut p, u64::MAX, [0; 6]), -38);
    }

    #[test]
    fn counts_are_kept() {
        let mut p = MockPlatform::new();
        let before = COUNTS[39].load(Ordering::Relaxed);
        dispatch(&mut p, 39, [0; 6]);
        assert!(COUNTS[39].load(Ordering::Relaxed) > before);
    }
}
