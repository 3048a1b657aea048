//! The bare-metal [`Platform`]: what the syscall layer runs on inside the kernel.

use core::sync::atomic::{AtomicU64, Ordering};

use linux_abi::Errno;

use crate::arch::x86_64::tsc;
use crate::drivers::{qemu_exit, rtc};
use crate::mm::{paging, vmem};
use crate::syscall::{self, Platform, ProcessState, fd};
use crate::{console, kprintln};

/// The program's main stack size (reported as RLIMIT_STACK), set by [`stack_bytes_for`].
static STACK_BYTES: AtomicU64 = AtomicU64::new(0);

/// The main stack for `free` bytes of memory: 8 MiB (Linux's default) when memory is
/// plentiful, an eighth of it (a power of two, at least 1 MiB) when it is not — its
/// frames are committed at start, and a 64 MiB machine has about 25 MiB to spare.
pub fn stack_bytes_for(free: u64) -> u64 {
    let eighth = free / 8;
    let bytes = if eighth.is_power_of_two() { eighth } else { eighth.next_power_of_two() / 2 };
    let bytes = bytes.clamp(1 << 20, 8 << 20);
    STACK_BYTES.store(bytes, Ordering::Relaxed);
    bytes
}

/// TSC value that is monotonic time zero.
static CLOCK_BASE_TSC: AtomicU64 = AtomicU64::new(0);
/// Unix time in ns at `CLOCK_BASE_TSC`.
static CLOCK_BASE_UNIX_NS: AtomicU64 = AtomicU64::new(0);
/// State of the random generator used when the CPU has no RDRAND.
static RANDOM_STATE: AtomicU64 = AtomicU64::new(0);

/// The program's process state. One core, interrupts off, and syscalls never nest, so
/// only one `&mut` to it exists at a time (inside one syscall).
static mut PROCESS: ProcessState = ProcessState::new();

/// The program's file system and open descriptors. Touched only inside a file syscall
/// or by `main`'s mount and the exit path, never both at once (one core, syscalls that
/// nest are memory calls, which do not touch it).
static mut FILES: crate::fs::Files = crate::fs::Files::new();

/// The program's descriptor table. Touched only inside a descriptor or path syscall
/// (which never nest), so only one `&mut` to it exists at a time.
static mut DESCRIPTORS: fd::Table = fd::Table::new();

/// The boot disk as a [`BlockDevice`] the file system can own: every call locks the
/// driver (nothing else uses it once the program runs).
struct BootDisk(&'static spin::Mutex<crate::drivers::block::boot_disk::Disk>);

impl crate::drivers::block::BlockDevice for BootDisk {
    fn driver_name(&self) -> &'static str {
        self.0.lock().driver_name()
    }
    fn sector_count(&self) -> u64 {
        self.0.lock().sector_count()
    }
    fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), crate::drivers::block::BlockError> {
        self.0.lock().read_sectors(lba, buf)
    }
    fn write_sectors(&mut self, lba: u64, buf: &[u8]) -> Result<(), crate::drivers::block::BlockError> {
        self.0.lock().write_sectors(lba, buf)
    }
    fn flush(&mut self) -> Result<(), crate::drivers::block::BlockError> {
        self.0.lock().flush()
    }
}

/// The boot disk's first `count` sectors (stage1 and stage2 for an exported image,
/// which reuses them: docs/shrink.md), or why they cannot be read.
pub fn read_boot_sectors(count: usize) -> Result<Vec<u8>, String> {
    use crate::drivers::block::{BlockDevice, SECTOR_SIZE, boot_disk};
    let disk = boot_disk::boot_disk().ok_or("no driver found the boot disk")?;
    let mut bytes = vec![0u8; count * SECTOR_SIZE];
    disk.lock().read_sectors(0, &mut bytes).map_err(|e| format!("reading the boot disk's first sectors: {e:?}"))?;
    Ok(bytes)
}

/// Where the kernel writes its dead-code map on the FAT16 partition.
pub const DEAD_CODE_MAP: &str = "/DEADCODE.BIN";

/// Starts the dead-code map (docs/shrink.md): from now on the page tables record
/// which pages of the kernel's code and read-only data the CPU touches. Bare metal
/// only (a Linux program cannot see its accessed bits).
pub fn start_dead_code_map() {
    for (start, end, _) in bare_metal::tracked_segments() {
        paging::track_accesses(start, end);
    }
}

/// Reads the dead-code map back: prints `METRIC shrink.kernel_text_bytes` /
/// `shrink.kernel_text_touched_bytes` (and the read-only data's) and, when `files`,
/// writes it to [`DEAD_CODE_MAP`] for `mkimage deadcode`.
pub fn finish_dead_code_map(files: bool) {
    use bf_export::deadcode::{Segment, TouchMap};
    let segments = bare_metal::tracked_segments()
        .into_iter()
        .map(|(start, end, code)| Segment { start, end, code, touched: paging::accessed_pages(start, end) })
        .collect();
    let map = TouchMap { build_id: crate::boot::build_id().to_vec(), segments };
    let (text, text_touched) = (map.bytes(true), map.touched_bytes(true));
    kprintln!(
        "shrink: the run touched {} KiB of the kernel's {} KiB of code ({:.1} %) and {} KiB of its {} KiB of read-only data",
        text_touched >> 10,
        text >> 10,
        100.0 * text_touched as f64 / text.max(1) as f64,
        map.touched_bytes(false) >> 10,
        map.bytes(false) >> 10
    );
    kprintln!("METRIC shrink.kernel_text_bytes {} bytes", text);
    kprintln!("METRIC shrink.kernel_text_touched_bytes {} bytes", text_touched);
    kprintln!("METRIC shrink.kernel_rodata_bytes {} bytes", map.bytes(false));
    kprintln!("METRIC shrink.kernel_rodata_touched_bytes {} bytes", map.touched_bytes(false));
    if files {
        match std::fs::write(DEAD_CODE_MAP, map.encode()) {
            Ok(()) => kprintln!("shrink: page map written to {DEAD_CODE_MAP} (read it with `mkimage deadcode`)"),
            Err(e) => kprintln!("shrink: cannot write {DEAD_CODE_MAP}: {e}"),
        }
    }
}

/// Mounts the boot disk's FAT16 partition at `/` for the program and says so on the
/// console: which driver and partition, or why it was refused (the program then runs
/// without files: every path is `ENOENT`, every creation `EROFS`). Call it once from
/// `main`, outside any syscall.
pub fn mount_boot_disk() -> bool {
    use crate::drivers::block::boot_disk;
    let Some(disk) = boot_disk::boot_disk() else {
        kprintln!("fs: no boot disk driver; running without files");
        return false;
    };
    crate::fs::set_now(CLOCK_BASE_UNIX_NS.load(Ordering::Relaxed) / 1_000_000_000);
    // SAFETY: called from `main` outside any syscall (see `files`).
    let files = unsafe { files() };
    match crate::fs::mount_disk(Box::new(BootDisk(disk))) {
        Ok(volume) => {
            let (driver, lba, sectors, dirty) = (volume.driver, volume.first_lba, volume.sectors, volume.was_dirty);
            files.attach(volume);
            let (total, free) = files.space().unwrap_or((0, 0));
            kprintln!(
                "fs: mounted FAT16 at / from {} (partition at LBA {}, {} MiB, {} KiB free of {} KiB){}",
                driver,
                lba,
                sectors / 2048,
                free >> 10,
                total >> 10,
                if dirty { "; it was not cleanly unmounted (dirty flag set), mounting anyway" } else { "" }
            );
            true
        }
        Err(e) => {
            kprintln!("fs: FAT16 partition refused: {}; running without files", e);
            false
        }
    }
}

/// The program's file system, for the mount at start-up (the program's `main`).
///
/// # Safety
/// No other reference to it may be live: call it from `main` outside any syscall.
pub unsafe fn files() -> &'static mut crate::fs::Files {
    let files = &raw mut FILES;
    // SAFETY: the caller promises exclusivity (see `FILES`).
    unsafe { &mut *files }
}

/// Starts the clocks: monotonic time counts from `boot_tsc`; real time from the RTC.
pub fn init_clocks(boot_tsc: u64) {
    CLOCK_BASE_TSC.store(boot_tsc, Ordering::Relaxed);
    let elapsed = ticks_to_ns(tsc::rdtsc().wrapping_sub(boot_tsc));
    let unix = rtc::unix_seconds().unwrap_or(0) * 1_000_000_000;
    CLOCK_BASE_UNIX_NS.store(unix.saturating_sub(elapsed), Ordering::Relaxed);
    RANDOM_STATE.store(tsc::rdtsc() ^ unix, Ordering::Relaxed);
}

fn ticks_to_ns(ticks: u64) -> u64 {
    (ticks as u128 * 1_000_000_000 / tsc::tsc_hz().max(1) as u128) as u64
}

fn rdrand() -> Option<u64> {
    if !crate::arch::x86_64::cpu::has_rdrand() {
        return None;
    }
    for _ in 0..10 {
        let value: u64;
        let ok: u8;
        // SAFETY: RDRAND exists (CPUID.1:ECX.30); it only writes the two outputs.
        unsafe {
            core::arch::asm!("rdrand {v}", "setc {ok}", v = out(reg) value, ok = out(reg_byte) ok, options(nomem, nostack))
        };
        if ok == 1 {
            return Some(value);
        }
    }
    None
}

fn splitmix() -> u64 {
    let mut z = RANDOM_STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Whether `bf.trace=mm` asked for a log line per memory syscall.
pub static TRACE_MEMORY: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

fn trace_memory(args: core::fmt::Arguments<'_>) {
    if TRACE_MEMORY.load(Ordering::Relaxed) {
        kprintln!("mm: {}", args);
    }
}

/// The kernel as seen by the syscall layer.
pub struct BareMetal;

/// The syscall handler the kernel registers with the `SYSCALL` entry stub
/// (`arch::x86_64::syscall::init`): the Linux syscall layer on the bare-metal platform.
pub fn handle_syscall(nr: u64, args: [u64; 6]) -> i64 {
    syscall::dispatch(&mut BareMetal, nr, args)
}

impl Platform for BareMetal {
    fn user_readable(&self, addr: u64, len: u64) -> bool {
        paging::accessible(addr, len, false)
    }
    fn user_writable(&self, addr: u64, len: u64) -> bool {
        paging::accessible(addr, len, true)
    }
    fn readable_prefix(&self, addr: u64, max: u64) -> u64 {
        paging::readable_prefix(addr, max)
    }
    fn console_write(&mut self, _fd: u64, bytes: &[u8]) {
        console::write_bytes(bytes);
    }
    fn console_read(&mut self, buf: &mut [u8]) -> usize {
        console::read_input(buf)
    }
    fn log(&mut self, args: core::fmt::Arguments<'_>) {
        kprintln!("{}", args);
    }
    fn monotonic_ns(&self) -> u64 {
        ticks_to_ns(tsc::rdtsc().wrapping_sub(CLOCK_BASE_TSC.load(Ordering::Relaxed)))
    }
    fn realtime_ns(&self) -> u64 {
        CLOCK_BASE_UNIX_NS.load(Ordering::Relaxed) + self.monotonic_ns()
    }
    fn sleep_ns(&mut self, ns: u64) {
        let until = self.monotonic_ns().saturating_add(ns);
        while self.monotonic_ns() < until {
            core::hint::spin_loop();
        }
    }
    fn fill_random(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = rdrand().unwrap_or_else(splitmix).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
    fn set_fs_base(&mut self, base: u64) {
        x86_64::registers::model_specific::FsBase::write(x86_64::VirtAddr::new_truncate(base));
    }
    fn fs_base(&self) -> u64 {
        x86_64::registers::model_specific::FsBase::read().as_u64()
    }
    fn memory_totals(&self) -> (u64, u64) {
        let (total, used) = crate::mm::frames::stats();
        (total, total - used)
    }
    fn stack_size(&self) -> u64 {
        STACK_BYTES.load(Ordering::Relaxed)
    }
    fn brk(&mut self, addr: u64) -> u64 {
        vmem::brk(addr)
    }
    fn map_anonymous(&mut self, len: u64, prot: u64) -> Result<u64, Errno> {
        let r = vmem::map(len, prot);
        trace_memory(format_args!("mmap({len:#x}, prot {prot}) = {r:x?}"));
        r
    }
    fn map_fixed(&mut self, addr: u64, len: u64, prot: u64) -> Result<u64, Errno> {
        let r = vmem::map_fixed(addr, len, prot);
        trace_memory(format_args!("mmap(fixed {addr:#x}, {len:#x}, prot {prot}) = {r:x?}"));
        r
    }
    fn unmap(&mut self, addr: u64, len: u64) -> Result<(), Errno> {
        let r = vmem::unmap(addr, len);
        trace_memory(format_args!("munmap({addr:#x}, {len:#x}) = {r:?}"));
        r
    }
    fn protect(&mut self, addr: u64, len: u64, prot: u64) -> Result<(), Errno> {
        let r = vmem::protect(addr, len, prot);
        trace_memory(format_args!("mprotect({addr:#x}, {len:#x}, prot {prot}) = {r:?}"));
        r
    }
    fn process(&mut self) -> &mut ProcessState {
        let process = &raw mut PROCESS;
        // SAFETY: see `PROCESS`: the only reference, for the duration of one syscall.
        unsafe { &mut *process }
    }
    fn files(&mut self) -> &mut crate::fs::Files {
        let files = &raw mut FILES;
        // SAFETY: see `FILES`: the only reference, for the duration of one syscall.
        unsafe { &mut *files }
    }
    fn descriptors(&mut self) -> &mut fd::Table {
        let descriptors = &raw mut DESCRIPTORS;
        // SAFETY: see `DESCRIPTORS`: the only reference, for the duration of one syscall.
        unsafe { &mut *descriptors }
    }
    fn exit(&mut self, status: u8) {
        report_and_exit(status)
    }
}

/// Prints the program's exit, its syscall counts and memory use, and stops the machine
/// with `status` (QEMU: isa-debug-exit).
pub fn report_and_exit(status: u8) -> ! {
    kprintln!("program: exited with status {}", status);
    // SAFETY: called from the exit syscall (or the kernel's own fatal paths), when no
    // file syscall is running.
    let files = unsafe { files() };
    if files.volume().is_some() {
        let stats = files.io_stats().unwrap_or_default();
        let clean = files.unmount();
        kprintln!(
            "fs: unmounted {} ({} sectors read, {} written, {} flushes)",
            if clean { "cleanly" } else { "WITH ERRORS" },
            stats.sectors_read,
            stats.sectors_written,
            stats.flushes
        );
    }
    let mut total = 0;
    for (nr, count) in syscall::counts() {
        total += count;
        kprintln!("METRIC syscall.count.{} {} calls", syscall::names::name(nr).unwrap_or("unknown"), count);
    }
    kprintln!("METRIC syscall.total {} calls", total);
    let (mapped, heap) = vmem::usage();
    kprintln!("METRIC program.mmap_bytes {} bytes", mapped);
    kprintln!("METRIC program.brk_bytes {} bytes", heap);
    kprintln!("METRIC program.mem_peak_bytes {} bytes", vmem::peak_bytes());
    qemu_exit::exit(status as u32)
}

/// Bare-metal facts `main` can read (same binary, same memory).
pub mod bare_metal {
    use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

    /// Set before glibc starts on bare metal; false when running as a Linux program.
    pub static ACTIVE: AtomicBool = AtomicBool::new(false);
    /// TSC at stage1's start, for `boot.to_main_ms`.
    pub static STAGE1_TSC: AtomicU64 = AtomicU64::new(0);
    /// Most FLUD modules named `app` or `app.N` the kernel runs.
    pub const MAX_APP_MODULES: usize = 16;

    /// Address and size of each FLUD module named `app` or `app.N` (external bitcode
    /// from `make disk APP=…`), in image order; 0 after the last.
    pub static APP_MODULES: [(AtomicU64, AtomicU64); MAX_APP_MODULES] =
        [const { (AtomicU64::new(0), AtomicU64::new(0)) }; MAX_APP_MODULES];

    /// `bf.snapshot=` from the command line, as an index into [`SNAPSHOT_OPTIONS`]
    /// (0: not given).
    pub static SNAPSHOT_OPTION: AtomicU8 = AtomicU8::new(0);

    /// The values `bf.snapshot=` takes (docs/persistence.md); index 0 is "not given".
    pub const SNAPSHOT_OPTIONS: [&str; 4] = ["", "off", "reset", "slow"];

    /// Records `bf.snapshot=<value>` (before glibc starts: no allocation); an unknown
    /// value is kept as such (`u8::MAX`) for the program to report.
    pub fn set_snapshot_option(value: &str) {
        let index = SNAPSHOT_OPTIONS.iter().position(|o| *o == value).map_or(u8::MAX, |i| i as u8);
        SNAPSHOT_OPTION.store(index, Ordering::Relaxed);
    }

    /// `bf.snapshot=`'s value: `None` when not given, `Some("?")` when unknown.
    pub fn snapshot_option() -> Option<&'static str> {
        match SNAPSHOT_OPTION.load(Ordering::Relaxed) {
            0 => None,
            i => Some(SNAPSHOT_OPTIONS.get(i as usize).copied().unwrap_or("?")),
        }
    }

    /// The kernel's read-only segments the dead-code map covers (docs/shrink.md):
    /// start, end, and whether it is code; 0..0 after the last.
    pub static TRACKED_SEGMENTS: [(AtomicU64, AtomicU64, AtomicBool); 4] =
        [const { (AtomicU64::new(0), AtomicU64::new(0), AtomicBool::new(false)) }; 4];

    /// The tracked segments as (page-aligned start, page-aligned end, is code).
    pub fn tracked_segments() -> Vec<(u64, u64, bool)> {
        TRACKED_SEGMENTS
            .iter()
            .map(|(s, e, x)| (s.load(Ordering::Relaxed), e.load(Ordering::Relaxed), x.load(Ordering::Relaxed)))
            .take_while(|&(s, e, _)| e > s)
            .map(|(s, e, x)| (s & !4095, e.next_multiple_of(4096), x))
            .collect()
    }

    /// Longest `bf.export=` value kept.
    pub const EXPORT_OPTION_MAX: usize = 96;
    /// `bf.export=`'s value, kept before glibc starts (no allocation): its bytes and
    /// length.
    static EXPORT_OPTION: [AtomicU8; EXPORT_OPTION_MAX] = [const { AtomicU8::new(0) }; EXPORT_OPTION_MAX];
    static EXPORT_OPTION_LEN: AtomicU8 = AtomicU8::new(0);

    /// Records `bf.export=<value>` (cut at [`EXPORT_OPTION_MAX`] bytes).
    pub fn set_export_option(value: &str) {
        let bytes = &value.as_bytes()[..value.len().min(EXPORT_OPTION_MAX)];
        for (slot, b) in EXPORT_OPTION.iter().zip(bytes) {
            slot.store(*b, Ordering::Relaxed);
        }
        EXPORT_OPTION_LEN.store(bytes.len() as u8, Ordering::Relaxed);
    }

    /// `bf.export=`'s value, if it was given.
    pub fn export_option() -> Option<String> {
        let len = EXPORT_OPTION_LEN.load(Ordering::Relaxed) as usize;
        (len > 0).then(|| EXPORT_OPTION[..len].iter().map(|b| b.load(Ordering::Relaxed) as char).collect())
    }

    /// The `app` and `app.N` modules' bytes, in image order.
    pub fn app_modules() -> Vec<&'static [u8]> {
        APP_MODULES
            .iter()
            .map(|(a, l)| (a.load(Ordering::Relaxed), l.load(Ordering::Relaxed)))
            .take_while(|&(addr, _)| addr != 0)
            // SAFETY: stage2 loaded the module there; the kernel keeps the payload
            // reserved (it is excluded from the frame allocator) and never writes it.
            .map(|(addr, len)| unsafe { core::slice::from_raw_parts(addr as *const u8, len as usize) })
            .collect()
    }
}
