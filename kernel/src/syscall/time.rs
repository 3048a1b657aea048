//! Time, waiting and randomness: TSC-backed clocks, busy-wait sleeps, the futex of a
//! single thread, and `getrandom`.

use linux_abi::errno::{EAGAIN, EDEADLK, EINVAL, ENOSYS, ETIMEDOUT};

use super::{Platform, SysResult, user};

/// `struct timespec`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Timespec {
    /// Seconds.
    pub sec: i64,
    /// Nanoseconds, 0..1e9.
    pub nsec: i64,
}

impl Timespec {
    fn from_ns(ns: u64) -> Self {
        Timespec { sec: (ns / 1_000_000_000) as i64, nsec: (ns % 1_000_000_000) as i64 }
    }

    fn to_ns(self) -> Option<u64> {
        if self.sec < 0 || !(0..1_000_000_000).contains(&self.nsec) {
            return None;
        }
        (self.sec as u64).checked_mul(1_000_000_000)?.checked_add(self.nsec as u64)
    }
}

const CLOCK_REALTIME: u64 = 0;
const CLOCK_REALTIME_COARSE: u64 = 5;
const CLOCK_TAI: u64 = 11;
const CLOCK_BOOTTIME_ALARM: u64 = 9;

fn clock_ns(p: &dyn Platform, clock: u64) -> Result<u64, super::Errno> {
    match clock {
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE | CLOCK_TAI => Ok(p.realtime_ns()),
        // MONOTONIC, PROCESS/THREAD_CPUTIME (one thread, never descheduled),
        // MONOTONIC_RAW, MONOTONIC_COARSE, BOOTTIME, REALTIME_ALARM, BOOTTIME_ALARM.
        1..=4 | 6..=8 | CLOCK_BOOTTIME_ALARM => Ok(p.monotonic_ns()),
        _ => Err(EINVAL),
    }
}

/// `clock_gettime(clock, tp)`.
pub fn clock_gettime(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let ns = clock_ns(p, a[0])?;
    user::write(p, a[1], &Timespec::from_ns(ns))?;
    Ok(0)
}

/// `clock_getres(clock, res)`: nanosecond resolution.
pub fn clock_getres(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    clock_ns(p, a[0])?;
    if a[1] != 0 {
        user::write(p, a[1], &Timespec { sec: 0, nsec: 1 })?;
    }
    Ok(0)
}

/// `gettimeofday(tv, tz)`.
pub fn gettimeofday(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    if a[0] != 0 {
        let ns = p.realtime_ns();
        user::write(p, a[0], &[(ns / 1_000_000_000) as i64, (ns % 1_000_000_000 / 1000) as i64])?;
    }
    if a[1] != 0 {
        user::write(p, a[1], &[0i32; 2])?;
    }
    Ok(0)
}

/// `time(tloc)`: seconds of real time, also stored at `tloc` when it is not null
/// (static glibc's `time()` makes this call: there is no vDSO).
pub fn time(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let seconds = (p.realtime_ns() / 1_000_000_000) as i64;
    if a[0] != 0 {
        user::write(p, a[0], &seconds)?;
    }
    Ok(seconds as u64)
}

fn sleep(p: &mut dyn Platform, req: u64, rem: u64) -> SysResult {
    let ts: Timespec = user::read(p, req)?;
    let ns = ts.to_ns().ok_or(EINVAL)?;
    p.sleep_ns(ns);
    if rem != 0 {
        user::write(p, rem, &Timespec { sec: 0, nsec: 0 })?;
    }
    Ok(0)
}

/// `nanosleep(req, rem)`: a busy wait on the TSC.
pub fn nanosleep(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    sleep(p, a[0], a[1])
}

const TIMER_ABSTIME: u64 = 1;

/// `clock_nanosleep(clock, flags, req, rem)`.
pub fn clock_nanosleep(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let now = clock_ns(p, a[0])?;
    if a[1] & TIMER_ABSTIME != 0 {
        let ts: Timespec = user::read(p, a[2])?;
        let until = ts.to_ns().ok_or(EINVAL)?;
        p.sleep_ns(until.saturating_sub(now));
        return Ok(0);
    }
    sleep(p, a[2], a[3])
}

const FUTEX_WAIT: u64 = 0;
const FUTEX_WAKE: u64 = 1;
const FUTEX_WAIT_BITSET: u64 = 9;
const FUTEX_WAKE_BITSET: u64 = 10;
const FUTEX_CMD_MASK: u64 = !(128 | 256); // FUTEX_PRIVATE_FLAG, FUTEX_CLOCK_REALTIME

/// `futex(uaddr, op, val, timeout, uaddr2, val3)` for one thread: a wake finds no
/// waiter; a wait returns `EAGAIN` if the word changed, `ETIMEDOUT` after its timeout,
/// and otherwise `EDEADLK` (logged): no other thread could ever wake it.
pub fn futex(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    let [uaddr, op, val, timeout, ..] = a;
    if uaddr % 4 != 0 {
        return Err(EINVAL);
    }
    match op & FUTEX_CMD_MASK {
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            user::bytes(p, uaddr, 4)?;
            Ok(0)
        }
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            let word: u32 = user::read(p, uaddr)?;
            if word != val as u32 {
                return Err(EAGAIN);
            }
            if timeout != 0 {
                let ts: Timespec = user::read(p, timeout)?;
                let ns = ts.to_ns().ok_or(EINVAL)?;
                let ns = if op & FUTEX_CMD_MASK == FUTEX_WAIT { ns } else { ns.saturating_sub(p.monotonic_ns()) };
                p.sleep_ns(ns);
                return Err(ETIMEDOUT);
            }
            p.log(format_args!("syscall: futex wait on {:#x} with one thread would never return: -EDEADLK", uaddr));
            Err(EDEADLK)
        }
        _ => Err(ENOSYS),
    }
}

const GRND_NONBLOCK: u64 = 1;
const GRND_RANDOM: u64 = 2;
const GRND_INSECURE: u64 = 4;

/// `getrandom(buf, len, flags)`.
pub fn getrandom(p: &mut dyn Platform, a: [u64; 6]) -> SysResult {
    if a[2] & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0 {
        return Err(EINVAL);
    }
    let len = a[1].min(i32::MAX as u64);
    let buf = user::bytes_mut(p, a[0], len)?;
    p.fill_random(buf);
    Ok(len)
}

#[cfg(test)]
mod tests {
    use crate::syscall::dispatch;
    use crate::syscall::testing::MockPlatform;

    #[test]
    fn clocks() {
        let mut p = MockPlatform::new();
        let ts = p.buffer(16);
        assert_eq!(dispatch(&mut p, 228, [1, ts, 0, 0, 0, 0]), 0);
        assert_eq!(p.peek(ts, 16)[..8], 1i64.to_le_bytes());
        assert_eq!(p.peek(ts, 16)[8..], 500_000_000i64.to_le_bytes());
        assert_eq!(dispatch(&mut p, 228, [0, ts, 0, 0, 0, 0]), 0);
        assert!(i64::from_le_bytes(p.peek(ts, 8).try_into().unwrap()) > 1_600_000_000);
        assert_eq!(dispatch(&mut p, 228, [42, ts, 0, 0, 0, 0]), -22);
        assert_eq!(dispatch(&mut p, 228, [1, 0x10, 0, 0, 0, 0]), -14);
        assert_eq!(dispatch(&mut p, 229, [1, ts, 0, 0, 0, 0]), 0);
    }

    #[test]
    fn sleeping_advances_the_clock_and_checks_the_request() {
        let mut p = MockPlatform::new();
        let req = p.read_only_buffer(&[0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x42, 0x0f, 0, 0, 0, 0, 0]); // 1 ms
        let before = p.now_ns;
        assert_eq!(dispatch(&mut p, 35, [req, 0, 0, 0, 0, 0]), 0);
        assert_eq!(p.now_ns - before, 1_000_000);
        let bad = p.read_only_buffer(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0xca, 0x9a, 0x3b, 0, 0, 0, 0]); // nsec = 1e9
        assert_eq!(dispatch(&mut p, 35, [bad, 0, 0, 0, 0, 0]), -22);
        assert_eq!(dispatch(&mut p, 35, [0x10, 0, 0, 0, 0, 0]), -14);
    }

    #[test]
    fn futex_of_one_thread() {
        let mut p = MockPlatform::new();
        let word = p.writable_copy(&7u32.to_le_bytes());
        assert_eq!(dispatch(&mut p, 202, [word, 1 | 128, 1, 0, 0, 0]), 0, "wake: no waiters");
        assert_eq!(
            dispatch(&mut p, 202, [word, 128 /* FUTEX_WAIT | FUTEX_PRIVATE_FLAG */, 3, 0, 0, 0]),
            -11,
            "value changed: EAGAIN"
        );
        assert_eq!(dispatch(&mut p, 202, [word, 0, 7, 0, 0, 0]), -35, "would wait forever");
        assert!(p.logs.iter().any(|l| l.contains("futex wait")));
        let timeout = p.read_only_buffer(&[0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(dispatch(&mut p, 202, [word, 0, 7, timeout, 0, 0]), -110);
        assert_eq!(dispatch(&mut p, 202, [word + 2, 0, 7, 0, 0, 0]), -22, "unaligned");
        assert_eq!(dispatch(&mut p, 202, [0x40, 1, 1, 0, 0, 0]), -14);
        assert_eq!(dispatch(&mut p, 202, [word, 5, 1, 0, 0, 0]), -38, "FUTEX_WAKE_OP");
    }

    #[test]
    fn getrandom_fills_and_checks() {
        let mut p = MockPlatform::new();
        let buf = p.buffer(16);
        assert_eq!(dispatch(&mut p, 318, [buf, 16, 0, 0, 0, 0]), 16);
        assert_ne!(p.peek(buf, 16), [0u8; 16]);
        assert_eq!(dispatch(&mut p, 318, [buf, 16, 8, 0, 0, 0]), -22);
        assert_eq!(dispatch(&mut p, 318, [buf, 17, 0, 0, 0, 0]), -14);
    }
}
