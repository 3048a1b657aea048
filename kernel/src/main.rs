//! The BareFlow kernel.
//!
//! One static x86-64 ELF (Rust std on static glibc, BRIEF §3) with two ways in:
//!
//! * on bare metal, stage2 jumps to `bareflow_entry` ([`arch::x86_64::entry`]), which
//!   calls [`kernel_start`]: the machine layer (console, GDT/IDT, TSC, memory) runs
//!   before glibc and must not allocate or touch thread-locals. It then builds page
//!   tables, enables SYSCALL ([`syscall`] is the Linux ABI the program sees), lays out
//!   a Linux process stack ([`process`]) and jumps to glibc's `_start`, which calls
//!   [`main`];
//! * started as a Linux program, the same entry falls through to glibc and [`main`]
//!   runs under Linux.

pub mod arch;
pub mod boot;
pub mod boot_menu;
pub mod checks;
pub mod console;
pub mod demo;
pub mod drivers;
pub mod fs;
#[cfg(feature = "llvm")]
pub mod jit;
pub mod mm;
pub mod platform;
pub mod process;
pub mod syscall;
pub mod unwind;

use arch::x86_64::{cpu, gdt, idt, tsc};
use boot_protocol::flud::FludHeader;
use core::sync::atomic::Ordering;
use drivers::qemu_exit::{self, EXIT_FAILURE, EXIT_FATAL};
use linux_abi::auxv::{
    AT_CLKTCK, AT_EGID, AT_ENTRY, AT_EUID, AT_GID, AT_HWCAP, AT_PAGESZ, AT_PHDR, AT_PHENT, AT_PHNUM, AT_SECURE, AT_UID,
};
use linux_abi::mman::{PROT_EXEC, PROT_READ, PROT_WRITE};
use mm::paging;
use mm::regions::{PAGE_SIZE, free_regions};

/// Highest physical address the kernel uses: stage2 identity-maps the first 4 GiB.
const ADDRESSABLE_LIMIT: u64 = 1 << 32;

unsafe extern "C" {
    /// End of the kernel's memory image, BSS included (from the link script).
    static _end: u8;
}

/// The program: on bare metal glibc calls this after the kernel started `_start`;
/// started as a Linux program, the same code runs natively.
fn main() {
    std::process::exit(demo::run());
}

/// The bare-metal entry, called by `bareflow_entry` on the boot stack with SSE enabled.
///
/// `boot_info_addr` is stage2's RDI; `entry_tsc` the TSC at the kernel's first instruction.
#[unsafe(no_mangle)]
pub extern "C" fn kernel_start(boot_info_addr: u64, entry_tsc: u64) -> ! {
    // SAFETY: RDI as stage2 passed it; `boot_info` validates before trusting it.
    let info = unsafe { boot::boot_info(boot_info_addr) };
    let serial_ok = console::init(info.map_or(0, |i| i.vga_cursor));
    kprintln!("BareFlow kernel {}", env!("CARGO_PKG_VERSION"));
    let Some(info) = info else {
        kprintln!("boot: no valid boot-info block at {:#x}; the kernel must be started by stage2", boot_info_addr);
        qemu_exit::exit(EXIT_FATAL);
    };
    if !serial_ok {
        kprintln!("console: no UART on COM1, VGA only");
    }

    gdt::init();
    idt::init();
    kprintln!("cpu: GDT, TSS and IDT loaded; exceptions on IST stacks");

    let long_mode = cpu::long_mode_state();
    kprintln!(
        "long mode: {} (EFER.LMA={}, CS={:#06x} L={})",
        if long_mode.verified() { "verified" } else { "NOT ACTIVE" },
        long_mode.efer_lma as u8,
        long_mode.cs,
        long_mode.cs_long as u8
    );
    if !long_mode.verified() {
        qemu_exit::exit(EXIT_FATAL);
    }
    let simd = cpu::simd_state();
    let mut brand = [0u8; 48];
    kprintln!(
        "cpu: {}; SSE {}, XSAVE {}, AVX {}, AVX-512 {} (XCR0={:#x}, save area {} bytes)",
        cpu::brand_string(&mut brand),
        on_off(simd.sse),
        on_off(simd.xsave),
        on_off(simd.avx),
        on_off(simd.avx512),
        simd.xcr0,
        simd.xsave_area_bytes
    );

    let (hz, source) = tsc::calibrate();
    kprintln!("tsc: {:.1} MHz ({:?})", hz as f64 / 1e6, source);

    // SAFETY: `info` was validated by `boot_info`.
    let header = match unsafe { boot::flud_header(&info) } {
        Ok(h) => h,
        Err(e) => {
            kprintln!("boot: the FLUD header copy in low memory is unreadable: {}", e);
            qemu_exit::exit(EXIT_FATAL);
        }
    };
    kprintln!(
        "boot: drive {:#04x}, A20 {}, {} sectors per read, payload {} bytes, CRC32 {:#010x}",
        info.boot_drive,
        info.a20().map_or("unknown", |m| m.describe()),
        info.sectors_per_read,
        header.payload_size,
        header.payload_crc32
    );
    kprintln!("boot: command line \"{}\"", header.cmdline());
    for m in header.modules() {
        kprintln!("boot: module {:<16} {:>10} bytes at {:#x}", m.name(), m.size, header.load_addr + m.offset);
    }

    // SAFETY: `info` was validated by `boot_info`.
    let map = unsafe { boot::e820_map(&info) };
    kprintln!("memory map ({} entries):", map.len());
    for e in map {
        kprintln!("  {:#014x}-{:#014x} {}", e.base, e.base.saturating_add(e.length), e.kind_name());
    }
    let kernel_end = &raw const _end as u64;
    let image_end = kernel_end.max(header.load_addr + header.payload_size);
    // RAM under the AOT window (only a machine with over 1.75 GiB has any) stays unused:
    // the window's pages are mapped to other frames while an AOT app runs.
    let free =
        free_regions(map, &[0..0x10_0000, header.load_addr..image_end, boot_protocol::AOT_WINDOW], ADDRESSABLE_LIMIT);
    // SAFETY: the regions are usable RAM below the 4 GiB stage2 identity-mapped, outside
    // low memory and the kernel image; nothing else owns them. Called once.
    let managed = unsafe { mm::frames::init(&free) };
    kprintln!(
        "memory: kernel image {:#x}-{:#x}, {} MiB free in {} regions, frame allocator manages {} MiB",
        header.load_addr,
        image_end,
        free.total_bytes() >> 20,
        free.as_slice().len(),
        managed >> 20
    );
    if !frame_allocator_self_check() {
        qemu_exit::exit(EXIT_FAILURE);
    }

    match checks::check_pattern(&header) {
        checks::PatternCheck::Absent => {}
        checks::PatternCheck::Verified { bytes } => {
            kprintln!("pattern: {} bytes ({} MiB) verified in memory", bytes, bytes >> 20)
        }
        checks::PatternCheck::Mismatch { offset } => {
            kprintln!("pattern: MISMATCH at module offset {:#x}", offset);
            qemu_exit::exit(EXIT_FAILURE);
        }
    }

    let figures = boot::figures(&info, entry_tsc, header.payload_size);
    kprintln!("METRIC boot.stage1_to_kernel_ms {:.1} ms", figures.stage1_to_kernel_ms);
    kprintln!("METRIC boot.load_ms {:.1} ms", figures.load_ms);
    kprintln!("METRIC boot.load_mib_s {:.1} MiB/s", figures.load_mib_s);
    kprintln!("METRIC boot.crc_ms {:.1} ms", figures.crc_ms);
    kprintln!("METRIC boot.payload_bytes {} bytes", header.payload_size);
    kprintln!("METRIC boot.kernel_init_ms {:.1} ms", tsc::ticks_to_ms(tsc::rdtsc() - entry_tsc));

    // SAFETY: `info` was validated by `boot_info`; stage2 copied the 512-byte header to
    // `flud_header_addr` in low memory, which the kernel keeps reserved.
    let header_sector =
        unsafe { core::slice::from_raw_parts(info.flud_header_addr as usize as *const u8, boot_protocol::SECTOR_SIZE) };
    let disk_options = boot::kernel_option(header.cmdline(), "disk").unwrap_or("");
    let no_bios = disk_options.split(',').any(|o| o == "nobios");
    let probe_start = tsc::rdtsc();
    drivers::block::boot_disk::probe(header_sector, info.boot_drive, no_bios);
    kprintln!("METRIC disk.probe_ms {:.1} ms", tsc::ticks_to_ms(tsc::rdtsc() - probe_start));
    // The status screen's header (docs/console.md): the machine in one line.
    use drivers::block::BlockDevice as _;
    let disk = drivers::block::boot_disk::boot_disk().map(|d| {
        let d = d.lock();
        (d.driver_name(), d.sector_count() >> 11)
    });
    let (disk_name, disk_mib) = disk.unwrap_or(("no disk", 0));
    console::set_machine_line(format_args!(
        "{} | {} MiB | {disk_name} {disk_mib} MiB",
        cpu::brand_string(&mut brand),
        free.total_bytes() >> 20
    ));

    if let Some(kind) = boot::kernel_option(header.cmdline(), "fault") {
        checks::raise_fault(kind);
    }
    if boot::kernel_option(header.cmdline(), "keyboard") == Some("echo") {
        keyboard_echo();
    }
    kprintln!("boot: machine layer ready");
    // The boot menu may change this boot's command line (docs/console.md).
    let mut chosen = [0u8; 512];
    let mut cmdline = header.cmdline();
    if boot::kernel_option(cmdline, "menu") != Some("off")
        && let Some(len) = boot_menu::offer(cmdline, &mut chosen)
        && let Ok(line) = core::str::from_utf8(&chosen[..len])
    {
        kprintln!("boot: command line from the menu \"{}\"", line);
        cmdline = line;
    }
    start_program(&info, &header, cmdline, entry_tsc, simd.xsave)
}

unsafe extern "C" {
    /// The ELF header at the start of the image (GNU ld provides the symbol).
    static __ehdr_start: [u8; 64];
    /// glibc's entry point.
    fn _start();
}

/// The kernel's PT_LOAD segments as (start, end, access), read from its own program
/// headers, which stage2 loaded at 0x100000 with the rest of the image.
fn kernel_segments(out: &mut [(u64, u64, paging::Access); 16]) -> (usize, u64, u64) {
    let ehdr = &raw const __ehdr_start;
    // SAFETY: the linker places the ELF header at `__ehdr_start`, inside the loaded
    // image; the program headers follow at e_phoff (mkimage checked they are loaded).
    let ehdr = unsafe { &*ehdr };
    let phoff = u64::from_le_bytes(ehdr[32..40].try_into().unwrap());
    let phnum = u16::from_le_bytes(ehdr[56..58].try_into().unwrap()) as u64;
    let phdrs = ehdr.as_ptr() as u64 + phoff;
    let mut n = 0;
    for i in 0..phnum {
        // SAFETY: program header i of the loaded image (56 bytes each).
        let ph = unsafe { core::slice::from_raw_parts((phdrs + i * 56) as *const u8, 56) };
        let kind = u32::from_le_bytes(ph[0..4].try_into().unwrap());
        let flags = u32::from_le_bytes(ph[4..8].try_into().unwrap());
        let vaddr = u64::from_le_bytes(ph[16..24].try_into().unwrap());
        let memsz = u64::from_le_bytes(ph[40..48].try_into().unwrap());
        // The AOT window is mapped on demand (mm::vmem::map_aot_statics), not here.
        if kind != 1 || n == out.len() || boot_protocol::AOT_WINDOW.contains(&vaddr) {
            continue;
        }
        // ELF p_flags: PF_X = 1, PF_W = 2; loaded segments are always readable.
        let writable = if flags & 2 != 0 { PROT_WRITE } else { 0 };
        let executable = if flags & 1 != 0 { PROT_EXEC } else { 0 };
        out[n] = (vaddr, vaddr + memsz, paging::Access::from_prot(PROT_READ | writable | executable));
        n += 1;
    }
    (n, phdrs, phnum)
}

/// Sets up page tables, SYSCALL and the program's memory, builds the initial process
/// stack from the command line and jumps to glibc's `_start`.
/// `cmdline` is the image's command line or the one the boot menu made.
fn start_program(
    info: &boot_protocol::bootinfo::BootInfo,
    header: &FludHeader,
    cmdline: &str,
    entry_tsc: u64,
    xsave: bool,
) -> ! {
    platform::init_clocks(entry_tsc);
    if boot::kernel_option(cmdline, "trace") == Some("mm") {
        platform::TRACE_MEMORY.store(true, Ordering::Relaxed);
    }
    platform::bare_metal::STAGE1_TSC.store(info.tsc_stage1, Ordering::Relaxed);
    if let Some(value) = boot::kernel_option(cmdline, "snapshot") {
        platform::bare_metal::set_snapshot_option(value);
    }
    if let Some(value) = boot::kernel_option(cmdline, "export") {
        platform::bare_metal::set_export_option(value);
    }
    // `make disk APP=a.bc,b.bc` names them `app`, `app.2`, … (module names are unique).
    let apps = header.modules().iter().filter(|m| m.name() == "app" || m.name().starts_with("app."));
    for (slot, m) in platform::bare_metal::APP_MODULES.iter().zip(apps) {
        slot.0.store(header.load_addr + m.offset, Ordering::Relaxed);
        slot.1.store(m.size, Ordering::Relaxed);
    }
    let mut segments = [(0, 0, paging::Access::None); 16];
    let (count, phdr, phnum) = kernel_segments(&mut segments);
    paging::init(&segments[..count]);
    // The AOT apps' statics have no frames until an AOT app runs.
    let statics = mm::vmem::aot_statics();
    if !statics.is_empty() {
        paging::set_range(statics.start, statics.end, paging::Access::None);
    }
    // The dead-code map covers the kernel's code and read-only data (docs/shrink.md).
    let read_only =
        segments[..count].iter().filter(|s| matches!(s.2, paging::Access::ReadExecute | paging::Access::Read));
    for (slot, (start, end, access)) in platform::bare_metal::TRACKED_SEGMENTS.iter().zip(read_only) {
        slot.0.store(*start, Ordering::Relaxed);
        slot.1.store(*end, Ordering::Relaxed);
        slot.2.store(*access == paging::Access::ReadExecute, Ordering::Relaxed);
    }
    arch::x86_64::syscall::init(xsave, platform::handle_syscall);
    // On the kernel's own page tables, as the file system will use the disk.
    if boot::kernel_option(cmdline, "disk").is_some_and(|o| o.split(',').any(|o| o == "selftest")) {
        checks::disk_selftest(header);
    }

    let (free, _) = mm::frames::stats();
    let stack_bytes = platform::stack_bytes_for(free);
    let image_end = &raw const _end as u64;
    let Some(stack) = mm::vmem::init(stack_bytes, header.load_addr..image_end) else {
        kprintln!("program: not enough memory for the stack ({} MiB free)", free >> 20);
        qemu_exit::exit(EXIT_FATAL);
    };
    kprintln!(
        "program: page tables with W^X loaded; SYSCALL at CPL 0; stack {} MiB at {:#x}; heap and mappings from {} MiB free",
        stack_bytes >> 20,
        stack.start,
        free >> 20
    );

    let mut argv: [&[u8]; 64] = [&[]; 64];
    let argc =
        process::fill_slots(&mut argv, core::iter::once(process::PROGRAM_NAME).chain(process::arguments(cmdline)));
    let mut envp: [&[u8]; 64] = [&[]; 64];
    let envc = process::fill_slots(&mut envp, process::environment(cmdline));
    let mut random = [0u8; 16];
    syscall::Platform::fill_random(&mut platform::BareMetal, &mut random);
    let auxv = [
        (AT_PHDR, phdr),
        (AT_PHENT, 56),
        (AT_PHNUM, phnum),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_ENTRY, _start as *const () as u64),
        (AT_UID, 0),
        (AT_EUID, 0),
        (AT_GID, 0),
        (AT_EGID, 0),
        (AT_HWCAP, cpu::hwcap()),
        (AT_CLKTCK, 100),
        (AT_SECURE, 0),
    ];
    const ARGS_AREA: u64 = 64 * 1024;
    // SAFETY: the top 64 KiB of the stack vmem::init just mapped read-write for us.
    let memory = unsafe { core::slice::from_raw_parts_mut((stack.end - ARGS_AREA) as *mut u8, ARGS_AREA as usize) };
    let Ok(rsp) = process::build_stack(memory, stack.end, &argv[..argc], &envp[..envc], &auxv, random) else {
        kprintln!("program: the command line does not fit on the initial stack");
        qemu_exit::exit(EXIT_FATAL);
    };
    kprintln!("program: entering glibc _start with {} arguments, {} environment variables", argc, envc);
    platform::bare_metal::ACTIVE.store(true, Ordering::Relaxed);
    // SAFETY: the stack was just built on mapped memory; descriptor tables, SYSCALL,
    // page tables and the program's memory are set up.
    unsafe { process::enter_program(rsp) }
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

/// Allocates, writes and frees a few blocks; the allocator must end where it started.
fn frame_allocator_self_check() -> bool {
    let before = mm::frames::stats();
    let mut blocks = [(0u64, 0usize); 4];
    for (i, pages) in [1usize, 3, 16, 256].into_iter().enumerate() {
        let Some(addr) = mm::frames::alloc_pages(pages) else {
            kprintln!("memory: frame allocation of {} pages failed", pages);
            return false;
        };
        let bytes = pages.next_power_of_two() as u64 * PAGE_SIZE;
        if addr % bytes != 0 {
            kprintln!("memory: block {:#x} of {} bytes is misaligned", addr, bytes);
            return false;
        }
        // SAFETY: the allocator just handed out this block of `bytes` identity-mapped bytes.
        unsafe { core::ptr::write_bytes(addr as *mut u8, 0xA5, bytes as usize) };
        blocks[i] = (addr, pages);
    }
    for (addr, pages) in blocks {
        // SAFETY: each block came from `alloc_pages` with the same page count and is no
        // longer used.
        unsafe { mm::frames::free_pages(addr, pages) };
    }
    let after = mm::frames::stats();
    let ok = before == after;
    kprintln!("memory: frame allocator self-check {}", if ok { "ok" } else { "FAILED (leak)" });
    ok
}

/// Echoes keys from the polled PS/2 keyboard until Enter, or for at most 60 seconds.
fn keyboard_echo() {
    kprintln!("keyboard: echoing keys until Enter");
    let mut keyboard = drivers::keyboard::Keyboard::new();
    let deadline = tsc::rdtsc() + tsc::tsc_hz() * 60;
    let mut line = [0u8; 64];
    let mut len = 0;
    while tsc::rdtsc() < deadline {
        match keyboard.poll() {
            Some(pc_keyboard::DecodedKey::Unicode('\n')) => break,
            Some(pc_keyboard::DecodedKey::Unicode(c)) if c.is_ascii() && len < line.len() => {
                line[len] = c as u8;
                len += 1;
            }
            _ => core::hint::spin_loop(),
        }
    }
    kprintln!("keyboard: read \"{}\"", core::str::from_utf8(&line[..len]).unwrap_or(""));
}
