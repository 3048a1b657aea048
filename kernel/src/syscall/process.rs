//! Process syscalls: one process with one thread (PID = TID = 1), its thread pointer,
//! limits, identity, signal bookkeeping (handlers are stored, never delivered: CPU
//! faults go to the kernel's exception handlers), signals the program sends itself
//! (`kill`/`tkill`/`tgkill`: glibc's `abort` and `raise`) and exit.

use linux_abi::errno::{EINVAL, ENOMEM, ENOSYS, EPERM, ESRCH};

use super::{Platform, SysResult, user};

/// `ss_flags` value of a disabled alternate stack.
pub const SS_DISABLE: u32 = 2;

const ARCH_SET_FS: u64 = 0x1002;
const ARCH_GET_FS: u64 = 0x1003;

/// The only process and thread ID.
pub const PID: u64 = 1;

/// `arch_prctl(code, addr)`: the FS base (glibc's thread pointer).
pub fn arch_prctl(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    match a[0] {
        ARCH_SET_FS => {
            // A non-canonical base would fault on the next WRMSR or %fs access.
            if !is_canonical(a[1]) {
                return Err(EPERM);
            }
            p.set_fs_base(a[1]);
            Ok(0)
        }
        ARCH_GET_FS => {
            let fs = p.fs_base();
            user::write(p, a[1], &fs)?;
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}

fn is_canonical(addr: u64) -> bool {
    let top = addr >> 47;
    top == 0 || top == 0x1ffff
}

/// `set_tid_address(tidptr)`: remembered; returns the TID.
pub fn set_tid_address(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    p.process().clear_child_tid = a[0];
    Ok(PID)
}

/// `set_robust_list(head, len)`: `len` must be `sizeof(struct robust_list_head)`.
pub fn set_robust_list(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    if a[1] != 24 {
        return Err(EINVAL);
    }
    p.process().robust_list = a[0];
    Ok(0)
}

/// `rseq(...)`: restartable sequences need preemption, which one thread without
/// interrupts never has. `-ENOSYS` (not logged: declining is the implementation)
/// makes glibc run without rseq.
pub fn rseq(_p: &mut dyn Platform, _a: [u64; 6]) -> SysResult {
    Err(ENOSYS)
}

/// `struct rlimit64`.
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Rlimit {
    cur: u64,
    max: u64,
}

const RLIM_INFINITY: u64 = u64::MAX;
const RLIMIT_STACK: u64 = 3;
const RLIMIT_NOFILE: u64 = 7;
const RLIMIT_NLIMITS: u64 = 16;

/// `prlimit64(pid, resource, new, old)`: the stack limit is the real stack size, the
/// descriptor limit 1024, everything else unlimited; new limits are accepted and not
/// enforced.
pub fn prlimit64(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let [pid, resource, new, old, ..] = a;
    if pid != 0 && pid != PID {
        return Err(ESRCH);
    }
    if resource >= RLIMIT_NLIMITS {
        return Err(EINVAL);
    }
    if new != 0 {
        let limit: Rlimit = user::read(p, new)?;
        if limit.cur > limit.max {
            return Err(EINVAL);
        }
    }
    if old != 0 {
        let value = match resource {
            RLIMIT_STACK => p.stack_size(),
            RLIMIT_NOFILE => super::fd::MAX_DESCRIPTORS as u64,
            _ => RLIM_INFINITY,
        };
        user::write(p, old, &Rlimit { cur: value, max: value })?;
    }
    Ok(0)
}

/// `getpid()` / `gettid()`.
pub fn getpid(_p: &mut dyn Platform, _a: [u64; 6]) -> SysResult {
    Ok(PID)
}

/// `getppid()`: no parent.
pub fn getppid(_p: &mut dyn Platform, _a: [u64; 6]) -> SysResult {
    Ok(0)
}

/// `getuid()`, `getgid()`, `geteuid()`, `getegid()`: root.
pub fn getuid(_p: &mut dyn Platform, _a: [u64; 6]) -> SysResult {
    Ok(0)
}

/// `sched_yield()`: nothing else to run.
pub fn sched_yield(_p: &mut dyn Platform, _a: [u64; 6]) -> SysResult {
    Ok(0)
}

/// `exit(status)` and `exit_group(status)`: the program ends, and with it the machine.
pub fn exit(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    p.exit(a[0] as u8);
    Ok(0)
}

/// The `uname` fields: sysname, nodename, release, version, machine, domainname.
pub const UTSNAME: [&str; 6] = ["BareFlow", "bareflow", "6.1.0-bareflow", "#1 BareFlow unikernel", "x86_64", "(none)"];

/// `uname(buf)`: six 65-byte NUL-padded fields.
pub fn uname(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let buf = user::bytes_mut(p, a[0], 6 * 65)?;
    buf.fill(0);
    for (field, text) in buf.chunks_exact_mut(65).zip(UTSNAME) {
        field[..text.len()].copy_from_slice(text.as_bytes());
    }
    Ok(0)
}

/// `sched_getaffinity(pid, size, mask)`: CPU 0 only; returns the bytes written.
pub fn sched_getaffinity(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    if a[1] < 8 || !a[1].is_multiple_of(8) {
        return Err(EINVAL);
    }
    let mask = user::bytes_mut(p, a[2], 8)?;
    mask.copy_from_slice(&1u64.to_le_bytes());
    Ok(8)
}

/// Linux's `struct sysinfo` (112 bytes on x86-64).
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Sysinfo {
    uptime: i64,
    loads: [u64; 3],
    totalram: u64,
    freeram: u64,
    sharedram: u64,
    bufferram: u64,
    totalswap: u64,
    freeswap: u64,
    procs: u16,
    pad: u16,
    pad2: u32,
    totalhigh: u64,
    freehigh: u64,
    mem_unit: u32,
    reserved: [u8; 4],
}

/// `sysinfo(info)`: uptime, the frame allocator's RAM totals (glibc's
/// `sysconf(_SC_PHYS_PAGES)` asks), one process, no swap.
pub fn sysinfo(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let (total, free) = p.memory_totals();
    let info = Sysinfo {
        uptime: (p.monotonic_ns() / 1_000_000_000) as i64,
        totalram: total,
        freeram: free,
        procs: 1,
        mem_unit: 1,
        ..Default::default()
    };
    user::write(p, a[0], &info)?;
    Ok(0)
}

const SIGKILL: u64 = 9;
const SIGSTOP: u64 = 19;

/// Signal names by number (1–31), for the report of a signal that ends the program.
const SIGNAL_NAMES: [&str; 32] = [
    "",
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

/// Signals whose default action is to do nothing (Linux's `signal(7)`).
const IGNORED_BY_DEFAULT: [u64; 4] = [17, 18, 23, 28]; // SIGCHLD, SIGCONT, SIGURG, SIGWINCH

/// `SIG_IGN` as `sa_handler`.
const SIG_IGN: u64 = 1;

/// The status a program killed by signal `sig` exits with: `128 + sig`, as a shell
/// reports it (134 for `SIGABRT`) — what QEMU's exit device and the tests see.
pub fn killed_status(sig: u64) -> u8 {
    (128 + sig) as u8
}

/// Sends `sig` to this process: nothing for signal 0 (the existence check) or one the
/// program ignores (`SIG_IGN`, or ignored by default); otherwise the program ends, as
/// Linux would end it, with a report and status [`killed_status`]. A handler the
/// program installed is not run (BareFlow delivers no signals; the report says so).
fn signal_self(p: &mut dyn Platform, sig: u64) -> SysResult {
    if sig == 0 {
        return Ok(0);
    }
    if !(1..=64).contains(&sig) {
        return Err(EINVAL);
    }
    let handler = p.process().sigactions[sig as usize][0];
    if handler == SIG_IGN || (handler == 0 && IGNORED_BY_DEFAULT.contains(&sig)) {
        return Ok(0);
    }
    let name = SIGNAL_NAMES.get(sig as usize).copied().unwrap_or("a real-time signal");
    let note = if handler == 0 { "" } else { " (its handler is not run: BareFlow delivers no signals)" };
    p.log(format_args!(
        "process: killed by {name} ({sig}), sent by the program itself{note}; exit status {}",
        killed_status(sig)
    ));
    p.exit(killed_status(sig));
    Ok(0)
}

/// `kill(pid, sig)`: only this process (PID 1, or 0 / -1 for "my group" and "every
/// process I may signal", which is only this one) exists.
pub fn kill(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    match a[0] as i64 {
        -1..=1 => signal_self(p, a[1]),
        _ => Err(ESRCH),
    }
}

/// `tkill(tid, sig)`: the one thread.
pub fn tkill(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    if a[0] != PID {
        return Err(ESRCH);
    }
    signal_self(p, a[1])
}

/// `tgkill(tgid, tid, sig)`: the one thread of the one process (glibc's `raise`,
/// hence `abort`).
pub fn tgkill(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    if a[0] != PID || a[1] != PID {
        return Err(ESRCH);
    }
    signal_self(p, a[2])
}

/// `rt_sigaction(sig, act, oldact, sigsetsize)`: handlers are recorded and reported
/// back; no signal is ever delivered.
pub fn rt_sigaction(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let [sig, act, oldact, size, ..] = a;
    if size != 8 || !(1..=64).contains(&sig) {
        return Err(EINVAL);
    }
    let new: Option<[u64; 4]> = if act != 0 { Some(user::read(p, act)?) } else { None };
    if new.is_some() && (sig == SIGKILL || sig == SIGSTOP) {
        return Err(EINVAL);
    }
    if oldact != 0 {
        let old = p.process().sigactions[sig as usize];
        user::write(p, oldact, &old)?;
    }
    if let Some(new) = new {
        p.process().sigactions[sig as usize] = new;
    }
    Ok(0)
}

/// `rt_sigprocmask(how, set, oldset, sigsetsize)`.
pub fn rt_sigprocmask(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let [how, set, oldset, size, ..] = a;
    if size != 8 {
        return Err(EINVAL);
    }
    let new: Option<u64> = if set != 0 { Some(user::read(p, set)?) } else { None };
    if new.is_some() && how > 2 {
        return Err(EINVAL);
    }
    if oldset != 0 {
        let old = p.process().sigmask;
        user::write(p, oldset, &old)?;
    }
    if let Some(new) = new {
        let unblockable = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1));
        let state = p.process();
        state.sigmask = match how {
            0 => state.sigmask | new,
            1 => state.sigmask & !new,
            _ => new,
        } & !unblockable;
    }
    Ok(0)
}

/// `stack_t`.
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct StackT {
    sp: u64,
    flags: u32,
    pad: u32,
    size: u64,
}

const MINSIGSTKSZ: u64 = 2048;

/// `sigaltstack(ss, old_ss)`: recorded and reported back.
pub fn sigaltstack(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let new: Option<StackT> = if a[0] != 0 { Some(user::read(p, a[0])?) } else { None };
    if let Some(s) = new
        && s.flags & !SS_DISABLE != 0
    {
        return Err(EINVAL);
    }
    if let Some(s) = new
        && s.flags & SS_DISABLE == 0
        && s.size < MINSIGSTKSZ
    {
        return Err(ENOMEM); // as Linux
    }
    if a[1] != 0 {
        let (sp, flags, size) = p.process().altstack;
        user::write(p, a[1], &StackT { sp, flags, pad: 0, size })?;
    }
    if let Some(s) = new {
        p.process().altstack = (s.sp, s.flags, s.size);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::dispatch;
    use crate::syscall::testing::MockPlatform;

    #[test]
    fn arch_prctl_sets_and_reads_fs() {
        let mut p = MockPlatform::new();
        assert_eq!(dispatch(&mut p, 158, [ARCH_SET_FS, 0x7000_1000, 0, 0, 0, 0]), 0);
        assert_eq!(p.fs, 0x7000_1000);
        let out = p.buffer(8);
        assert_eq!(dispatch(&mut p, 158, [ARCH_GET_FS, out, 0, 0, 0, 0]), 0);
        assert_eq!(p.peek(out, 8), 0x7000_1000u64.to_le_bytes());
        assert_eq!(dispatch(&mut p, 158, [ARCH_GET_FS, 0x18, 0, 0, 0, 0]), -14);
        assert_eq!(dispatch(&mut p, 158, [ARCH_SET_FS, 0x8000_0000_0000, 0, 0, 0, 0]), -1, "non-canonical");
        assert_eq!(dispatch(&mut p, 158, [0x9999, 0, 0, 0, 0, 0]), -22);
    }

    #[test]
    fn limits_identity_and_uname() {
        let mut p = MockPlatform::new();
        let rl = p.buffer(16);
        assert_eq!(dispatch(&mut p, 302, [0, RLIMIT_STACK, 0, rl, 0, 0]), 0);
        assert_eq!(p.peek(rl, 8), (8u64 << 20).to_le_bytes());
        assert_eq!(dispatch(&mut p, 302, [0, 99, 0, rl, 0, 0]), -22);
        assert_eq!(dispatch(&mut p, 302, [42, RLIMIT_STACK, 0, rl, 0, 0]), -3);
        assert_eq!(dispatch(&mut p, 302, [0, RLIMIT_STACK, 0, 0x40, 0, 0]), -14);
        assert_eq!(dispatch(&mut p, 39, [0; 6]), 1);
        assert_eq!(dispatch(&mut p, 218, [0x1234, 0, 0, 0, 0, 0]), 1);
        assert_eq!(dispatch(&mut p, 273, [0x1234, 23, 0, 0, 0, 0]), -22);
        assert_eq!(dispatch(&mut p, 334, [0; 6]), -38);
        assert!(p.logs.is_empty(), "rseq is declined, not logged: {:?}", p.logs);
        let uts = p.buffer(390);
        assert_eq!(dispatch(&mut p, 63, [uts, 0, 0, 0, 0, 0]), 0);
        assert_eq!(&p.peek(uts, 9), b"BareFlow\0");
        assert_eq!(&p.peek(uts + 4 * 65, 7), b"x86_64\0");
        let mask = p.buffer(16);
        assert_eq!(dispatch(&mut p, 204, [0, 16, mask, 0, 0, 0]), 8);
        assert_eq!(dispatch(&mut p, 204, [0, 4, mask, 0, 0, 0]), -22);
    }

    #[test]
    fn signal_bookkeeping() {
        let mut p = MockPlatform::new();
        let act = p.read_only_buffer(&[0x11u8; 32]);
        let old = p.buffer(32);
        assert_eq!(dispatch(&mut p, 13, [11, act, old, 8, 0, 0]), 0);
        assert_eq!(p.peek(old, 32), [0u8; 32], "default action before");
        assert_eq!(dispatch(&mut p, 13, [11, 0, old, 8, 0, 0]), 0);
        assert_eq!(p.peek(old, 32), [0x11u8; 32]);
        assert_eq!(dispatch(&mut p, 13, [9, act, 0, 8, 0, 0]), -22, "SIGKILL");
        assert_eq!(dispatch(&mut p, 13, [65, 0, old, 8, 0, 0]), -22);
        assert_eq!(dispatch(&mut p, 13, [11, act, old, 4, 0, 0]), -22, "sigsetsize");
        assert_eq!(dispatch(&mut p, 13, [11, 0x77, 0, 8, 0, 0]), -14);
        let set = p.read_only_buffer(&u64::MAX.to_le_bytes());
        assert_eq!(dispatch(&mut p, 14, [2, set, 0, 8, 0, 0]), 0);
        assert_eq!(p.state.sigmask & (1 << 8), 0, "SIGKILL stays unblocked");
        assert_eq!(dispatch(&mut p, 14, [7, set, 0, 8, 0, 0]), -22);
        let ss = p.buffer(24);
        assert_eq!(dispatch(&mut p, 131, [0, ss, 0, 0, 0, 0]), 0);
        assert_eq!(u32::from_le_bytes(p.peek(ss + 8, 4).try_into().unwrap()), SS_DISABLE);
        let small =
            p.read_only_buffer(&[0x00, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(dispatch(&mut p, 131, [small, 0, 0, 0, 0, 0]), -12);
    }

    #[test]
    fn sysinfo_reports_memory() {
        let mut p = MockPlatform::new();
        let buf = p.buffer(112);
        assert_eq!(dispatch(&mut p, 99, [buf, 0, 0, 0, 0, 0]), 0);
        assert_eq!(p.peek(buf + 32, 8), (1u64 << 30).to_le_bytes(), "totalram");
        assert_eq!(p.peek(buf + 104, 4), 1u32.to_le_bytes(), "mem_unit");
        assert_eq!(dispatch(&mut p, 99, [0x20, 0, 0, 0, 0, 0]), -14);
    }

    #[test]
    fn a_signal_the_program_sends_itself_ends_it_unless_ignored() {
        let mut p = MockPlatform::new();
        assert_eq!(dispatch(&mut p, 234, [1, 1, 0, 0, 0, 0]), 0, "signal 0: the existence check");
        assert_eq!(dispatch(&mut p, 234, [1, 1, 17, 0, 0, 0]), 0, "SIGCHLD is ignored by default");
        assert_eq!(dispatch(&mut p, 234, [7, 1, 6, 0, 0, 0]), -3, "ESRCH: no other process");
        assert_eq!(dispatch(&mut p, 62, [2, 15, 0, 0, 0, 0]), -3, "ESRCH");
        assert_eq!(p.exited, None);
        p.process().sigactions[10][0] = SIG_IGN;
        assert_eq!(dispatch(&mut p, 200, [1, 10, 0, 0, 0, 0]), 0, "SIGUSR1 ignored by the program");
        assert_eq!(p.exited, None);
        dispatch(&mut p, 234, [1, 1, 6, 0, 0, 0]);
        assert_eq!(p.exited, Some(134), "abort: SIGABRT ends the program with 128 + 6");
        assert!(p.logs.iter().any(|l| l.contains("killed by SIGABRT (6)")), "{:?}", p.logs);
        let mut p = MockPlatform::new();
        dispatch(&mut p, 62, [0, 15, 0, 0, 0, 0]);
        assert_eq!(p.exited, Some(143), "kill(0, SIGTERM)");
    }

    #[test]
    fn exit_group_reports_the_status() {
        let mut p = MockPlatform::new();
        dispatch(&mut p, 231, [0x1_2a, 0, 0, 0, 0, 0]);
        assert_eq!(p.exited, Some(0x2a), "only the low byte is the status");
    }
}
