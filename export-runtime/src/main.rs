//! The export runtime (docs/shrink.md): the tiny `no_std` program an exported BareFlow
//! image runs its app on. The kernel's linker (`crates/export`) places the app's code
//! right behind it and fills in the app fields of its header.
//!
//! **Memory.** stage2 loads the payload at `0x100000` and jumps there in long mode
//! (identity-mapped 4 GiB, interrupts off, RDI = the boot-info block at `0x9000`). The
//! payload starts with the `BFRT` header (`boot-protocol/src/export.rs`; its first
//! bytes jump to `_start`), then this runtime's code, read-only data and data (its own
//! small BSS is stored in the file, so `image_end == memory_end`), then the app; the
//! app's BSS follows the payload and the runtime zeroes it before it calls the app.
//! The stacks are not in the image but in conventional memory that stage2 no longer
//! uses once it has jumped (`0x20000`–`0x7FFFF`, see docs/boot-protocol.md, "Low
//! memory"):
//!
//! | physical | use |
//! |---|---|
//! | `0x20000`–`0x20FFF` | exception stack (TSS IST1, every exception vector) |
//! | `0x21000`–`0x7FFFF` | the stack: top at `0x80000`, growing down (about 380 KiB) |
//! | `0x100000`–`image_end` | the runtime (header, code, data, its BSS) |
//! | `image_end`… | the app, then the app's BSS |
//!
//! **Start.** `_start` takes the stack, clears DF, zeroes the runtime's BSS, enables
//! SSE (CR0.EM off, CR0.MP on, CR4.OSFXSR and CR4.OSXMMEXCPT on, then `fninit`: the app
//! is compiled for x86-64 with SSE2; this runtime itself is built soft-float and uses
//! none), then [`runtime_main`] loads its own GDT with a TSS and an IDT whose 32
//! exception vectors run on the exception stack, report and exit (so even a fault with
//! a broken stack pointer is reported rather than ending in a triple fault), sets up
//! COM1 (115200 8N1), times the TSC against PIT channel 2, and prints:
//!
//! ```text
//! export: <app> (<trimmed|full>, <E> functions exported, <T> trimmed, runtime <N> bytes)
//! METRIC export.tsc_mhz <n> MHz
//! METRIC boot.stage1_to_app_ms <ms> ms
//! <what the app prints>
//! METRIC app.<app>.exported_cycles <n> cycles
//! export: <app> returned <status>
//! ```
//!
//! then leaves QEMU through isa-debug-exit (0 when the app returned 0, else 1) or, on a
//! real machine, prints `export: halted` and halts. Every line also goes to the VGA
//! text screen. A trimmed function calls [`bf_cold_path`]: `cold path <function> was
//! not exported`, exit 1.
#![no_std]
#![no_main]

use core::arch::{asm, global_asm};

use boot_protocol::LOAD_ADDR;
use boot_protocol::bootinfo::BootInfo;
use boot_protocol::export::{APP_NAME_LEN, FLAG_TRIMMED, offsets};

/// Top of the stack (grows down to [`EXCEPTION_STACK_TOP`]), in conventional memory
/// below the EBDA.
const STACK_TOP: u64 = 0x8_0000;
/// Top of the stack every exception handler runs on (TSS IST1; 4 KiB, down to 0x20000).
const EXCEPTION_STACK_TOP: u64 = 0x2_1000;
/// The runtime's code segment selector (its own GDT, [`load_gdt`]).
const CODE_SELECTOR: u16 = 0x08;
/// The runtime's data segment selector.
const DATA_SELECTOR: u16 = 0x10;
/// The TSS selector.
const TSS_SELECTOR: u16 = 0x18;
/// COM1's base port.
const COM1: u16 = 0x3F8;
/// The isa-debug-exit device's port (QEMU exits with `(v << 1) | 1`).
const DEBUG_EXIT_PORT: u16 = 0xF4;
/// Exit status for a CPU exception.
const EXIT_FAULT: u32 = 0x7F;
/// The VGA text buffer: 80 × 25 cells of character and attribute.
const VGA: u64 = 0xB8000;
/// PIT input clock in Hz.
const PIT_HZ: u64 = 1_193_182;
/// PIT ticks of the calibration window (about 20 ms).
const CALIBRATION_TICKS: u64 = 23_864;

// The header (offsets in boot-protocol/src/export.rs) and the start code.
global_asm!(
    ".pushsection .bfrt_header, \"ax\", @progbits",
    ".globl __bfrt_header",
    "__bfrt_header:",
    "    jmp _start",
    "    .balign 8",
    "    .ascii \"BFRT\"",
    "    .long 1",
    "    .quad __image_end",
    "    .quad __image_end",
    "    .quad bf_print, bf_print_u64, bf_cycles, bf_section_begin, bf_section_end, bf_cold_path",
    "    .quad memcpy, memmove, memset, memcmp, bcmp",
    "    .fill 5, 8, 0",
    "    .quad 0",
    "    .fill 32, 1, 0",
    "    .long 0, 0, 0",
    "    .fill 44, 1, 0",
    ".popsection",
    ".pushsection .text._start, \"ax\", @progbits",
    ".globl _start",
    "_start:",
    "    cli",
    "    cld",
    "    mov rsp, {stack}",
    "    mov rdx, rdi",
    "    lea rdi, [rip + __bss_start]",
    "    lea rcx, [rip + __bss_end]",
    "    sub rcx, rdi",
    "    xor eax, eax",
    "    rep stosb",
    "    mov rdi, rdx",
    "    mov rax, cr0",
    "    and rax, -5",
    "    or rax, 2",
    "    mov cr0, rax",
    "    mov rax, cr4",
    "    or rax, 0x600",
    "    mov cr4, rax",
    "    fninit",
    "    call {main}",
    "    ud2",
    ".popsection",
    stack = const STACK_TOP,
    main = sym runtime_main,
);

// One stub per exception vector: push a zero error code where the CPU pushes none,
// then the vector, and report.
global_asm!(
    ".pushsection .text.bf_exceptions, \"ax\", @progbits",
    ".macro stub n, code",
    "bf_exception_\\n:",
    "    .if \\code == 0",
    "    push 0",
    "    .endif",
    "    push \\n",
    "    jmp bf_exception_common",
    ".endm",
    ".irp n, 0,1,2,3,4,5,6,7,9,15,16,18,19,20,22,23,24,25,26,27,28,31",
    "    stub \\n, 0",
    ".endr",
    ".irp n, 8,10,11,12,13,14,17,21,29,30",
    "    stub \\n, 1",
    ".endr",
    "bf_exception_common:",
    "    mov rdi, [rsp]",
    "    mov rsi, [rsp + 16]",
    "    and rsp, -16",
    "    call {report}",
    "    ud2",
    ".popsection",
    ".pushsection .rodata.bf_exception_table, \"a\", @progbits",
    ".balign 8",
    ".globl bf_exception_table",
    "bf_exception_table:",
    ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    "    .quad bf_exception_\\n",
    ".endr",
    ".popsection",
    report = sym exception_report,
);

unsafe extern "C" {
    /// The header's first byte (at [`LOAD_ADDR`]).
    static __bfrt_header: u8;
    /// The addresses of the 32 exception stubs.
    static bf_exception_table: [u64; 32];
}

/// A header field: `N` little-endian bytes at `offset` from the header.
fn header_bytes<const N: usize>(offset: usize) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        // SAFETY: the header is 256 bytes at LOAD_ADDR (the linker script puts it
        // first); the kernel's linker wrote the app fields into the image.
        *b = unsafe { core::ptr::read_volatile((&raw const __bfrt_header).add(offset + i)) };
    }
    out
}

/// A little-endian `u32` header field.
fn header_u32(offset: usize) -> u32 {
    u32::from_le_bytes(header_bytes(offset))
}

/// A little-endian `u64` header field.
fn header_u64(offset: usize) -> u64 {
    u64::from_le_bytes(header_bytes(offset))
}

/// Writes `value` to I/O port `port`.
fn outb(port: u16, value: u8) {
    // SAFETY: the runtime owns the machine; the ports it uses are COM1, the PIT, port
    // 0x61 and the VGA CRTC's index/data ports (cursor registers only).
    unsafe { asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack)) }
}

/// Reads I/O port `port`.
fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: as in `outb`.
    unsafe { asm!("in al, dx", in("dx") port, out("al") value, options(nomem, nostack)) }
    value
}

/// The time-stamp counter.
fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: RDTSC has no side effects and is allowed at CPL 0.
    unsafe { asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack)) }
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Where the next character goes on the VGA screen (and so whether the output is at
/// the start of a line: COM1 gets the same bytes).
struct Console {
    /// Row of the next character, 0–24.
    row: usize,
    /// Column of the next character, 0–79.
    column: usize,
}

/// The console's cursor; only [`put`] and [`runtime_main`]'s start row touch it.
static mut CONSOLE: Console = Console { row: 0, column: 0 };

/// Programs COM1 for 115200 8N1, FIFOs on, as the kernel does.
fn serial_init() {
    outb(COM1 + 1, 0x00); // no interrupts
    outb(COM1 + 3, 0x80); // divisor latch
    outb(COM1, 0x01); // 115200 baud
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03); // 8N1
    outb(COM1 + 2, 0xC7); // FIFOs on and cleared
    outb(COM1 + 4, 0x0B);
}

/// Sends one byte to COM1 once its transmitter is empty (or after a bounded wait, so a
/// missing UART cannot hang the machine).
fn serial_byte(b: u8) {
    let mut spins = 0u32;
    while inb(COM1 + 5) & 0x20 == 0 && spins < 1_000_000 {
        spins += 1;
    }
    outb(COM1, b);
}

/// Writes one byte to COM1 (`\n` as `\r\n`, as the kernel's serial driver does) and
/// the VGA text screen (as the kernel's VGA console: `\r` returns, a full line wraps,
/// the screen scrolls, bytes that are not printable ASCII show as `?`, and the
/// hardware cursor follows at each line end).
fn put(b: u8) {
    if b == b'\n' {
        serial_byte(b'\r');
    }
    serial_byte(b);
    let console = &raw mut CONSOLE;
    // SAFETY: one core, interrupts off: the only reference to the console state while
    // it lives.
    let console = unsafe { &mut *console };
    match b {
        b'\n' => newline(console),
        b'\r' => console.column = 0,
        _ => {
            if console.column >= 80 {
                newline(console);
            }
            let glyph = if (0x20..0x7F).contains(&b) { b } else { b'?' };
            let cell = VGA + 2 * (console.row * 80 + console.column) as u64;
            // SAFETY: the cell is inside the 80 × 25 text buffer (row < 25, column < 80).
            unsafe { core::ptr::write_volatile(cell as *mut u16, 0x0F00 | u16::from(glyph)) };
            console.column += 1;
        }
    }
}

/// Moves the console to the next line, scrolling at the bottom, and puts the hardware
/// cursor there.
fn newline(console: &mut Console) {
    console.column = 0;
    if console.row < 24 {
        console.row += 1;
    } else {
        // SAFETY: both ranges lie in the text buffer; `copy` allows the overlap.
        unsafe {
            core::ptr::copy((VGA + 160) as *const u16, VGA as *mut u16, 80 * 24);
            for column in 0..80 {
                core::ptr::write_volatile((VGA + 2 * (24 * 80 + column)) as *mut u16, 0x0F20);
            }
        }
    }
    let position = (console.row * 80) as u16;
    outb(0x3D4, 0x0F);
    outb(0x3D5, position as u8);
    outb(0x3D4, 0x0E);
    outb(0x3D5, (position >> 8) as u8);
}

/// Writes `text` to COM1 and the screen.
fn print(text: &str) {
    text.bytes().for_each(put);
}

/// Writes `value` in decimal.
fn print_u64(mut value: u64) {
    let mut digits = [0u8; 20];
    let mut n = 0;
    loop {
        digits[n] = b'0' + (value % 10) as u8;
        n += 1;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    digits[..n].iter().rev().copied().for_each(put);
}

/// Writes `value` as `0x` and 16 hexadecimal digits.
fn print_hex(value: u64) {
    print("0x");
    for shift in (0..16).rev() {
        put(b"0123456789abcdef"[((value >> (shift * 4)) & 0xF) as usize]);
    }
}

/// `value / 100` with two decimals.
fn print_hundredths(value: u64) {
    print_u64(value / 100);
    put(b'.');
    put(b'0' + (value / 10 % 10) as u8);
    put(b'0' + (value % 10) as u8);
}

/// The app's name from the header.
fn app_name() -> ([u8; APP_NAME_LEN], usize) {
    let name: [u8; APP_NAME_LEN] = header_bytes(offsets::APP_NAME);
    let len = name.iter().position(|&b| b == 0).unwrap_or(APP_NAME_LEN);
    (name, len)
}

/// Writes the app's name.
fn print_app_name() {
    let (name, len) = app_name();
    name[..len].iter().copied().for_each(put);
}

/// Leaves QEMU with `status`; on a real machine, prints `export: halted` and halts
/// for good.
fn exit(status: u32) -> ! {
    debug_exit(status);
    print("export: halted\n");
    halt()
}

/// Like [`exit`], without printing: for a machine whose console may be broken.
fn exit_silently(status: u32) -> ! {
    debug_exit(status);
    halt()
}

/// Writes `status` to isa-debug-exit: QEMU exits with `(status << 1) | 1`.
fn debug_exit(status: u32) {
    // SAFETY: isa-debug-exit under QEMU; on a PC nothing answers at 0xF4.
    unsafe { asm!("out dx, eax", in("dx") DEBUG_EXIT_PORT, in("eax") status, options(nomem, nostack)) }
}

/// Stops the CPU for good.
fn halt() -> ! {
    loop {
        // SAFETY: halting with interrupts off stops the CPU, which is the point.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) }
    }
}

/// Moves to the start of a line if the output is not there already.
fn fresh_line() {
    let console = &raw const CONSOLE;
    // SAFETY: one core, interrupts off: a plain read of the cursor.
    if unsafe { (*console).column } != 0 {
        put(b'\n');
    }
}

/// The runtime's GDT: null, 64-bit code (0x08), data (0x10), the TSS (0x18, two slots).
static mut GDT: [u64; 5] = [0, 0x00AF_9A00_0000_FFFF, 0x00CF_9200_0000_FFFF, 0, 0];

/// The 64-bit TSS (104 bytes): only IST1 (at byte 0x24) is set; the I/O map base
/// (byte 0x66) points past the end, so there is no I/O permission map.
static mut TSS: [u32; 26] = [0; 26];

/// Loads the runtime's GDT and TSS (IST1 = [`EXCEPTION_STACK_TOP`]) and reloads the
/// segment registers, so the exception gates do not depend on stage2's GDT.
fn load_gdt() {
    // SAFETY: one core, interrupts off; GDT and TSS are the runtime's own statics,
    // which live for the whole run. The new code and data descriptors are the flat
    // long-mode ones stage2 uses, so reloading CS/SS/DS/ES changes nothing else.
    unsafe {
        let (gdt, tss) = (&raw mut GDT, &raw mut TSS);
        (*tss)[9] = EXCEPTION_STACK_TOP as u32;
        (*tss)[10] = (EXCEPTION_STACK_TOP >> 32) as u32;
        (*tss)[25] = 104 << 16;
        let base = tss as u64;
        let limit = 104 - 1;
        (*gdt)[3] = limit | ((base & 0xFF_FFFF) << 16) | (0x89 << 40) | (((base >> 24) & 0xFF) << 56);
        (*gdt)[4] = base >> 32;
        let pointer: [u16; 5] = [
            (5 * 8 - 1) as u16,
            gdt as u64 as u16,
            (gdt as u64 >> 16) as u16,
            (gdt as u64 >> 32) as u16,
            (gdt as u64 >> 48) as u16,
        ];
        asm!(
            "lgdt [{pointer}]",
            "push {code}",
            "lea {scratch}, [rip + 2f]",
            "push {scratch}",
            "retfq",
            "2:",
            "mov {scratch:e}, {data}",
            "mov ss, {scratch:e}",
            "mov ds, {scratch:e}",
            "mov es, {scratch:e}",
            "mov {scratch:e}, {tss}",
            "ltr {scratch:x}",
            pointer = in(reg) pointer.as_ptr(),
            code = const CODE_SELECTOR,
            data = const DATA_SELECTOR,
            tss = const TSS_SELECTOR,
            scratch = out(reg) _,
        );
    }
}

/// One IDT gate: handler address, the runtime's code segment, IST1, present interrupt
/// gate.
fn gate(handler: u64) -> [u64; 2] {
    let low = (handler & 0xFFFF)
        | (u64::from(CODE_SELECTOR) << 16)
        | (1 << 32)
        | (0x8E_u64 << 40)
        | (((handler >> 16) & 0xFFFF) << 48);
    [low, handler >> 32]
}

/// The IDT: the 32 exception vectors (no interrupts are ever enabled).
static mut IDT: [[u64; 2]; 32] = [[0; 2]; 32];

/// Loads an IDT whose 32 exception vectors go to [`exception_report`].
fn load_idt() {
    // SAFETY: one core, interrupts off; the table of stub addresses is in rodata.
    unsafe {
        let (idt, table) = (&raw mut IDT, &raw const bf_exception_table);
        for (entry, handler) in (*idt).iter_mut().zip((*table).iter()) {
            *entry = gate(*handler);
        }
        let pointer: [u16; 5] = {
            let base = (&raw const IDT) as u64;
            [(32 * 16 - 1) as u16, base as u16, (base >> 16) as u16, (base >> 32) as u16, (base >> 48) as u16]
        };
        asm!("lidt [{0}]", in(reg) pointer.as_ptr(), options(nostack));
    }
}

/// Names of the exception vectors.
const EXCEPTIONS: [&str; 32] = [
    "divide error",
    "debug",
    "NMI",
    "breakpoint",
    "overflow",
    "bound range",
    "invalid opcode",
    "device not available",
    "double fault",
    "coprocessor overrun",
    "invalid TSS",
    "segment not present",
    "stack fault",
    "general protection",
    "page fault",
    "reserved",
    "x87 floating point",
    "alignment check",
    "machine check",
    "SIMD floating point",
    "virtualization",
    "control protection",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "hypervisor injection",
    "VMM communication",
    "security",
    "reserved",
];

/// Set once an exception is being reported: a second one (a fault inside the report)
/// exits at once instead of reporting again on the same exception stack.
static mut IN_EXCEPTION: bool = false;

/// Reports a CPU exception and exits with status 0x7f.
extern "C" fn exception_report(vector: u64, rip: u64) -> ! {
    // SAFETY: one core, interrupts off; exception handlers are the only users.
    unsafe {
        let nested = &raw mut IN_EXCEPTION;
        if *nested {
            exit_silently(EXIT_FAULT);
        }
        *nested = true;
    }
    fresh_line();
    print("export: CPU exception ");
    print_u64(vector);
    print(" (");
    print(EXCEPTIONS.get(vector as usize).copied().unwrap_or("reserved"));
    print(") at rip ");
    print_hex(rip);
    put(b'\n');
    exit(EXIT_FAULT)
}

/// The TSC rate in Hz, counted against PIT channel 2 (about 20 ms); CPUID leaf 0x16
/// (or 1 GHz) if the PIT never reaches its count.
fn tsc_hz() -> u64 {
    let old = inb(0x61);
    outb(0x61, (old & !0x02) | 0x01); // speaker off, gate on
    outb(0x43, 0b1011_0000); // channel 2, lobyte/hibyte, mode 0
    outb(0x42, (CALIBRATION_TICKS & 0xFF) as u8);
    outb(0x42, (CALIBRATION_TICKS >> 8) as u8);
    let start = rdtsc();
    let mut spins = 0u64;
    while inb(0x61) & 0x20 == 0 && spins < 200_000_000 {
        spins += 1;
    }
    let end = rdtsc();
    outb(0x61, old);
    if spins < 200_000_000 && end > start {
        return (end - start) * PIT_HZ / CALIBRATION_TICKS;
    }
    let mhz = u64::from(core::arch::x86_64::__cpuid(0x16).eax);
    if mhz == 0 { 1_000_000_000 } else { mhz * 1_000_000 }
}

/// TSC at `bf_section_begin` and `bf_section_end`.
static mut SECTION: (u64, u64) = (0, 0);

/// The runtime's main: see the crate documentation.
extern "C" fn runtime_main(boot_info: u64) -> ! {
    load_gdt();
    load_idt();
    serial_init();
    // SAFETY: stage2 leaves the boot-info block at RDI; only plain integers are read.
    let info = unsafe { core::ptr::read_unaligned(boot_info as *const BootInfo) };
    let console = &raw mut CONSOLE;
    // SAFETY: one core, nothing else holds the console state; the console goes on at
    // the cursor stage2 left (row in the high byte, column in the low), as the kernel's.
    unsafe {
        (*console).row = usize::from(info.vga_cursor >> 8).min(24);
        (*console).column = usize::from(info.vga_cursor & 0xFF).min(79);
    }
    let entry = header_u64(offsets::APP_ENTRY);
    if entry == 0 {
        print("export: no app in this image\n");
        exit(1);
    }
    print("export: ");
    print_app_name();
    print(if header_u32(offsets::FLAGS) & FLAG_TRIMMED != 0 { " (trimmed, " } else { " (full, " });
    print_u64(u64::from(header_u32(offsets::EXPORTED)));
    print(" functions exported, ");
    print_u64(u64::from(header_u32(offsets::TRIMMED)));
    print(" trimmed, runtime ");
    print_u64(header_u64(offsets::IMAGE_END) - LOAD_ADDR);
    print(" bytes)\n");
    let hz = tsc_hz();
    print("METRIC export.tsc_mhz ");
    print_u64(hz / 1_000_000);
    print(" MHz\nMETRIC boot.stage1_to_app_ms ");
    print_hundredths(rdtsc().wrapping_sub(info.tsc_stage1) * 100_000 / hz.max(1));
    print(" ms\n");
    let (bss_start, bss_end) = (header_u64(offsets::BSS_START), header_u64(offsets::BSS_END));
    if bss_end > bss_start {
        // SAFETY: the linker placed the app's BSS there, past the payload; stage2
        // loaded nothing there and nothing else uses that memory.
        unsafe { memset(bss_start as *mut u8, 0, (bss_end - bss_start) as usize) };
    }
    // SAFETY: the kernel's linker wrote the address of the app's `bf_app_main`, an
    // `extern "C" fn() -> i32` of the app ABI, into the header.
    let app: extern "C" fn() -> i32 = unsafe { core::mem::transmute(entry as usize) };
    let status = app();
    // SAFETY: one core; the app has returned.
    let section = &raw const SECTION;
    // SAFETY: (as above) the section markers are done writing.
    let (begin, end) = unsafe { *section };
    print("METRIC app.");
    print_app_name();
    print(".exported_cycles ");
    print_u64(end.wrapping_sub(begin));
    print(" cycles\nexport: ");
    print_app_name();
    print(" returned ");
    if status < 0 {
        put(b'-');
    }
    print_u64(u64::from(status.unsigned_abs()));
    put(b'\n');
    exit(if status == 0 { 0 } else { 1 })
}

/// The app ABI: writes `len` bytes from `ptr`.
///
/// # Safety
/// `ptr..ptr+len` must be readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bf_print(ptr: *const u8, len: usize) {
    // SAFETY: the caller's contract.
    let bytes = unsafe { core::slice::from_raw_parts(ptr, len) };
    bytes.iter().copied().for_each(put);
}

/// The app ABI: writes `value` in decimal.
#[unsafe(no_mangle)]
pub extern "C" fn bf_print_u64(value: u64) {
    print_u64(value);
}

/// The app ABI: the cycle counter.
#[unsafe(no_mangle)]
pub extern "C" fn bf_cycles() -> u64 {
    rdtsc()
}

/// The app ABI: its timed section starts.
#[unsafe(no_mangle)]
pub extern "C" fn bf_section_begin() {
    // SAFETY: one core.
    let section = &raw mut SECTION;
    // SAFETY: (as above) a plain store.
    unsafe { (*section).0 = rdtsc() };
}

/// The app ABI: its timed section ends.
#[unsafe(no_mangle)]
pub extern "C" fn bf_section_end() {
    // SAFETY: one core.
    let section = &raw mut SECTION;
    // SAFETY: (as above) a plain store.
    unsafe { (*section).1 = rdtsc() };
}

/// What a trimmed function calls: names it and stops (status 1).
///
/// # Safety
/// `name` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bf_cold_path(name: *const u8) -> ! {
    fresh_line();
    print("cold path ");
    let mut at = name;
    // SAFETY: the caller's contract: bytes up to the NUL are readable.
    unsafe {
        while *at != 0 {
            put(*at);
            at = at.add(1);
        }
    }
    print(" was not exported\n");
    exit(1)
}

/// C `memcpy`.
///
/// # Safety
/// Both ranges must be valid for `n` bytes and must not overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller's contract; `rep movsb` copies forwards (DF is clear).
    unsafe { asm!("rep movsb", inout("rcx") n => _, inout("rdi") dest => _, inout("rsi") src => _, options(nostack)) };
    dest
}

/// C `memmove`.
///
/// # Safety
/// Both ranges must be valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dest as usize) <= (src as usize) || (dest as usize) >= (src as usize).wrapping_add(n) {
        // SAFETY: the caller's contract; a forward copy is safe for this overlap.
        unsafe { memcpy(dest, src, n) };
    } else if n > 0 {
        // SAFETY: the caller's contract; copying backwards from the last byte, then
        // clearing DF again as the ABI requires.
        unsafe {
            asm!(
                "std",
                "rep movsb",
                "cld",
                inout("rcx") n => _,
                inout("rdi") dest.add(n - 1) => _,
                inout("rsi") src.add(n - 1) => _,
                options(nostack)
            )
        };
    }
    dest
}

/// C `memset`.
///
/// # Safety
/// `dest` must be valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(dest: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: the caller's contract.
    unsafe { asm!("rep stosb", inout("rcx") n => _, inout("rdi") dest => _, in("al") c as u8, options(nostack)) };
    dest
}

/// C `memcmp`: the difference of the first differing bytes, as unsigned chars.
///
/// # Safety
/// Both ranges must be valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    if n == 0 {
        return 0;
    }
    let (left, right): (*const u8, *const u8);
    // SAFETY: the caller's contract; `repe cmpsb` stops one past the first difference.
    unsafe {
        asm!(
            "repe cmpsb",
            inout("rcx") n => _,
            inout("rsi") a => left,
            inout("rdi") b => right,
            options(nostack, readonly)
        );
        let (x, y) = (*left.sub(1), *right.sub(1));
        i32::from(x) - i32::from(y)
    }
}

/// C `bcmp`: zero when equal.
///
/// # Safety
/// Both ranges must be valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the caller's contract.
    unsafe { memcmp(a, b, n) }
}

/// A panic of the runtime itself (none is expected): report and exit with 0x7f.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    fresh_line();
    print("export: runtime panic\n");
    exit(EXIT_FAULT)
}
