//! The IDT and CPU exception handling.
//!
//! Every exception vector (0–31) has a small assembly stub that pushes a uniform frame
//! (error code or 0, vector, all general registers) and calls [`exception_dispatch`],
//! which prints the vector, its name, RIP, the error code, CR2 and the registers, then
//! stops the machine. All stubs run on an IST stack (double fault on its own), so a
//! broken kernel stack still gets a report. Interrupts stay off.
//!
//! One exception to stopping: a recovery hook ([`set_recovery`]) may take the fault
//! and name where execution resumes instead ([`Redirect`]) — the program runtime does so
//! while a C program runs (`jit::program::guard`), so a program's NULL dereference ends
//! its run rather than the kernel.

use core::arch::global_asm;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use spin::Once;
use x86_64::VirtAddr;
use x86_64::registers::control::Cr2;
use x86_64::structures::idt::InterruptDescriptorTable;

use super::gdt::{DOUBLE_FAULT_IST_INDEX, EXCEPTION_IST_INDEX};

/// Register state saved by the exception stubs, lowest address first.
#[derive(Debug)]
#[repr(C)]
pub struct TrapFrame {
    /// R15 at the fault (pushed by the stub).
    pub r15: u64,
    /// R14 at the fault (pushed by the stub).
    pub r14: u64,
    /// R13 at the fault (pushed by the stub).
    pub r13: u64,
    /// R12 at the fault (pushed by the stub).
    pub r12: u64,
    /// R11 at the fault (pushed by the stub).
    pub r11: u64,
    /// R10 at the fault (pushed by the stub).
    pub r10: u64,
    /// R9 at the fault (pushed by the stub).
    pub r9: u64,
    /// R8 at the fault (pushed by the stub).
    pub r8: u64,
    /// RBP at the fault (pushed by the stub).
    pub rbp: u64,
    /// RDI at the fault (pushed by the stub).
    pub rdi: u64,
    /// RSI at the fault (pushed by the stub).
    pub rsi: u64,
    /// RDX at the fault (pushed by the stub).
    pub rdx: u64,
    /// RCX at the fault (pushed by the stub).
    pub rcx: u64,
    /// RBX at the fault (pushed by the stub).
    pub rbx: u64,
    /// RAX at the fault (pushed by the stub).
    pub rax: u64,
    /// Exception vector (0–31).
    pub vector: u64,
    /// The CPU's error code, or 0 for vectors without one.
    pub error_code: u64,
    /// Where the fault happened (pushed by the CPU).
    pub rip: u64,
    /// Code segment at the fault (pushed by the CPU).
    pub cs: u64,
    /// RFLAGS at the fault (pushed by the CPU).
    pub rflags: u64,
    /// Stack pointer at the fault (pushed by the CPU).
    pub rsp: u64,
    /// Stack segment at the fault (pushed by the CPU).
    pub ss: u64,
}

// Vectors for which the CPU pushes an error code: 8, 10–14, 17, 21, 29, 30.
global_asm!(
    r#"
    .macro EXC_STUB vec, has_error
    .section .text.exception_stubs, "ax"
    exception_stub_\vec:
    .if \has_error == 0
        push 0
    .endif
        push \vec
        jmp exception_common
    .section .data.rel.ro.exception_stubs, "aw"
        .quad exception_stub_\vec
    .endm

    .section .data.rel.ro.exception_stubs, "aw"
    .balign 8
    .global EXCEPTION_STUBS
EXCEPTION_STUBS:
    EXC_STUB 0, 0
    EXC_STUB 1, 0
    EXC_STUB 2, 0
    EXC_STUB 3, 0
    EXC_STUB 4, 0
    EXC_STUB 5, 0
    EXC_STUB 6, 0
    EXC_STUB 7, 0
    EXC_STUB 8, 1
    EXC_STUB 9, 0
    EXC_STUB 10, 1
    EXC_STUB 11, 1
    EXC_STUB 12, 1
    EXC_STUB 13, 1
    EXC_STUB 14, 1
    EXC_STUB 15, 0
    EXC_STUB 16, 0
    EXC_STUB 17, 1
    EXC_STUB 18, 0
    EXC_STUB 19, 0
    EXC_STUB 20, 0
    EXC_STUB 21, 1
    EXC_STUB 22, 0
    EXC_STUB 23, 0
    EXC_STUB 24, 0
    EXC_STUB 25, 0
    EXC_STUB 26, 0
    EXC_STUB 27, 0
    EXC_STUB 28, 0
    EXC_STUB 29, 1
    EXC_STUB 30, 1
    EXC_STUB 31, 0

    .section .text.exception_stubs, "ax"
exception_common:
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    cld
    mov rdi, rsp
    call exception_dispatch
    # Returned: the recovery hook rewrote the frame; resume where it says.
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 16
    iretq
    "#
);

unsafe extern "C" {
    /// Addresses of the 32 exception stubs, in vector order.
    static EXCEPTION_STUBS: [u64; 32];
}

static IDT: Once<InterruptDescriptorTable> = Once::new();

/// Builds and loads the IDT: every exception vector points at its stub, on an IST stack.
pub fn init() {
    let idt = IDT.call_once(|| {
        let mut idt = InterruptDescriptorTable::new();
        for vector in 0u8..32 {
            // Vectors 9, 15 and 22–27, 31 are reserved: the crate does not expose them.
            if matches!(vector, 9 | 15 | 22..=27 | 31) {
                continue;
            }
            // SAFETY: reading a table of addresses the assembler laid out above.
            let stub = unsafe { EXCEPTION_STUBS[vector as usize] };
            let ist = if vector == 8 { DOUBLE_FAULT_IST_INDEX } else { EXCEPTION_IST_INDEX };
            // SAFETY: each stub is a valid handler entry for its vector: it builds a
            // `TrapFrame` and never returns; the IST index names a stack set up in the TSS.
            unsafe {
                set_vector(&mut idt, vector, VirtAddr::new(stub), ist);
            }
        }
        idt
    });
    idt.load();
}

/// Points IDT entry `vector` at `handler` and selects IST slot `ist`.
///
/// # Safety
/// `handler` must be the address of a valid exception entry for this vector and `ist`
/// a valid TSS IST index.
unsafe fn set_vector(idt: &mut InterruptDescriptorTable, vector: u8, handler: VirtAddr, ist: u16) {
    // SAFETY: forwarded from the caller's contract.
    unsafe {
        let options = match vector {
            8 => idt.double_fault.set_handler_addr(handler),
            10 => idt.invalid_tss.set_handler_addr(handler),
            11 => idt.segment_not_present.set_handler_addr(handler),
            12 => idt.stack_segment_fault.set_handler_addr(handler),
            13 => idt.general_protection_fault.set_handler_addr(handler),
            14 => idt.page_fault.set_handler_addr(handler),
            17 => idt.alignment_check.set_handler_addr(handler),
            18 => idt.machine_check.set_handler_addr(handler),
            21 => idt.cp_protection_exception.set_handler_addr(handler),
            29 => idt.vmm_communication_exception.set_handler_addr(handler),
            30 => idt.security_exception.set_handler_addr(handler),
            0 => idt.divide_error.set_handler_addr(handler),
            1 => idt.debug.set_handler_addr(handler),
            2 => idt.non_maskable_interrupt.set_handler_addr(handler),
            3 => idt.breakpoint.set_handler_addr(handler),
            4 => idt.overflow.set_handler_addr(handler),
            5 => idt.bound_range_exceeded.set_handler_addr(handler),
            6 => idt.invalid_opcode.set_handler_addr(handler),
            7 => idt.device_not_available.set_handler_addr(handler),
            16 => idt.x87_floating_point.set_handler_addr(handler),
            19 => idt.simd_floating_point.set_handler_addr(handler),
            20 => idt.virtualization.set_handler_addr(handler),
            28 => idt.hv_injection_exception.set_handler_addr(handler),
            _ => return,
        };
        options.set_stack_index(ist);
    }
}

/// Mnemonic and name of an exception vector.
pub fn exception_name(vector: u64) -> (&'static str, &'static str) {
    match vector {
        0 => ("#DE", "divide error"),
        1 => ("#DB", "debug"),
        2 => ("NMI", "non-maskable interrupt"),
        3 => ("#BP", "breakpoint"),
        4 => ("#OF", "overflow"),
        5 => ("#BR", "bound range exceeded"),
        6 => ("#UD", "invalid opcode"),
        7 => ("#NM", "device not available"),
        8 => ("#DF", "double fault"),
        10 => ("#TS", "invalid TSS"),
        11 => ("#NP", "segment not present"),
        12 => ("#SS", "stack-segment fault"),
        13 => ("#GP", "general protection fault"),
        14 => ("#PF", "page fault"),
        16 => ("#MF", "x87 floating-point error"),
        17 => ("#AC", "alignment check"),
        18 => ("#MC", "machine check"),
        19 => ("#XM", "SIMD floating-point exception"),
        20 => ("#VE", "virtualization exception"),
        21 => ("#CP", "control protection"),
        28 => ("#HV", "hypervisor injection"),
        29 => ("#VC", "VMM communication"),
        30 => ("#SX", "security exception"),
        _ => ("#??", "reserved vector"),
    }
}

/// Set once the first exception is being reported; a second one only halts.
static IN_EXCEPTION: AtomicBool = AtomicBool::new(false);

/// Where a recovered exception resumes: the instruction and stack pointers, and the
/// first two argument registers (the code there is entered like a function).
#[derive(Clone, Copy, Debug)]
pub struct Redirect {
    /// The new RIP.
    pub rip: u64,
    /// The new RSP (mapped and writable).
    pub rsp: u64,
    /// The new RDI.
    pub rdi: u64,
    /// The new RSI.
    pub rsi: u64,
}

/// A recovery hook: given the vector, RIP and CR2 of an exception, where to resume, or
/// `None` to report it and stop as usual.
pub type RecoveryHook = fn(vector: u64, rip: u64, cr2: u64) -> Option<Redirect>;

/// The installed recovery hook (null: none).
static RECOVERY: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// Installs (or with `None` removes) the recovery hook consulted before an exception is
/// reported.
pub fn set_recovery(hook: Option<RecoveryHook>) {
    RECOVERY.store(hook.map_or(core::ptr::null_mut(), |h| h as *mut ()), Ordering::SeqCst);
}

/// Called by `exception_common` with the saved frame. Returns only when the recovery
/// hook took the exception (the frame then says where to resume); otherwise reports it
/// and stops the machine.
#[unsafe(no_mangle)]
extern "C" fn exception_dispatch(frame: &mut TrapFrame) {
    let hook = RECOVERY.load(Ordering::SeqCst);
    if !hook.is_null() && !IN_EXCEPTION.load(Ordering::SeqCst) {
        // SAFETY: only `set_recovery` stores here, and it stores a `RecoveryHook`.
        let hook: RecoveryHook = unsafe { core::mem::transmute(hook) };
        if let Some(r) = hook(frame.vector, frame.rip, Cr2::read_raw()) {
            frame.rip = r.rip;
            frame.rsp = r.rsp;
            frame.rdi = r.rdi;
            frame.rsi = r.rsi;
            return;
        }
    }
    if IN_EXCEPTION.swap(true, Ordering::SeqCst) {
        // A fault while reporting a fault: say the least possible and stop.
        crate::drivers::serial::emergency_write(b"\r\nEXCEPTION while handling an exception; halting\r\n");
        crate::drivers::qemu_exit::exit_silently(crate::drivers::qemu_exit::EXIT_FATAL);
    }
    // SAFETY: this CPU is stopping; nobody else can hold the console (single core,
    // interrupts off), so breaking a lock held by the interrupted code is sound.
    unsafe { crate::console::force_unlock() };
    let (mnemonic, name) = exception_name(frame.vector);
    let cr2 = Cr2::read_raw();
    crate::kprintln!();
    crate::kprintln!("EXCEPTION {} {} (vector {})", mnemonic, name, frame.vector);
    crate::kprintln!(
        "  RIP={:#018x} CS={:#06x} RFLAGS={:#010x} error code={:#x}",
        frame.rip,
        frame.cs,
        frame.rflags,
        frame.error_code
    );
    crate::kprintln!("  CR2={:#018x} RSP={:#018x} SS={:#06x}", cr2, frame.rsp, frame.ss);
    if frame.vector == 14 {
        let e = frame.error_code;
        crate::kprintln!(
            "  page fault: {} on a {} page, {} mode{}",
            if e & 2 != 0 {
                "write"
            } else if e & 16 != 0 {
                "instruction fetch"
            } else {
                "read"
            },
            if e & 1 != 0 { "present (protection violation)" } else { "non-present" },
            if e & 4 != 0 { "user" } else { "kernel" },
            if e & 8 != 0 { ", reserved bit set" } else { "" },
        );
    }
    crate::kprintln!(
        "  RAX={:#018x} RBX={:#018x} RCX={:#018x} RDX={:#018x}",
        frame.rax,
        frame.rbx,
        frame.rcx,
        frame.rdx
    );
    crate::kprintln!(
        "  RSI={:#018x} RDI={:#018x} RBP={:#018x} R8 ={:#018x}",
        frame.rsi,
        frame.rdi,
        frame.rbp,
        frame.r8
    );
    crate::kprintln!(
        "  R9 ={:#018x} R10={:#018x} R11={:#018x} R12={:#018x}",
        frame.r9,
        frame.r10,
        frame.r11,
        frame.r12
    );
    crate::kprintln!("  R13={:#018x} R14={:#018x} R15={:#018x}", frame.r13, frame.r14, frame.r15);
    crate::kprintln!("kernel halted");
    crate::drivers::qemu_exit::exit(crate::drivers::qemu_exit::EXIT_FATAL);
}
