//! `SYSCALL` at CPL 0: the MSRs and the entry stub.
//!
//! The program runs in ring 0, so `SYSCALL` only swaps CS/SS (from STAR), saves RIP in
//! RCX and RFLAGS in R11, and masks RFLAGS (FMASK); the stack is still the program's,
//! whose 128-byte red zone below RSP may be live. The stub therefore switches to its
//! own stack before pushing anything, saves every register Linux preserves (all but
//! RAX, RCX, R11) plus the full SIMD state (XSAVE, or FXSAVE without it: Rust code in
//! the handler uses SSE, and Linux preserves vector registers across syscalls), calls
//! [`syscall_from_program`], restores, and returns with a jump instead of `SYSRET`
//! (which would drop to ring 3). Syscalls may nest once: a file syscall allocates
//! through glibc's malloc, which may call `brk` or `mmap`; the nested entry stays on
//! the syscall stack ([`SYSCALL_DEPTH`]). Handlers of `brk`/`mmap`/`munmap` must never
//! allocate (that would re-enter malloc while it holds its lock).
//!
//! What a syscall does is not the CPU's business: [`init`] takes the [`Handler`] the
//! stub calls with the number and the six arguments (the kernel passes the Linux
//! syscall layer's dispatcher), so this module imports nothing above `arch`.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU8, Ordering};
use x86_64::VirtAddr;
use x86_64::registers::model_specific::{Efer, EferFlags, LStar, SFMask, Star};
use x86_64::registers::rflags::RFlags;

use super::gdt;

/// Size of the stack syscall handlers run on.
pub const SYSCALL_STACK_SIZE: usize = 256 * 1024;

/// The syscall handlers' stack (BSS).
#[repr(C, align(64))]
pub struct SyscallStack(pub [u8; SYSCALL_STACK_SIZE]);

/// Backing memory of the syscall stack; only its address is used (by the stub).
#[unsafe(no_mangle)]
pub static mut SYSCALL_STACK: SyscallStack = SyscallStack([0; SYSCALL_STACK_SIZE]);

/// Scratch slot for the caller's RSP while the stub switches stacks (the value that
/// counts is the copy the stub pushes on the new stack).
#[unsafe(no_mangle)]
pub static mut SYSCALL_PROGRAM_RSP: u64 = 0;

/// How many syscalls are in progress: 0 in the program, 1 inside a handler, 2 when a
/// handler's own code made a syscall (a file syscall's allocation reaching glibc's
/// `brk`/`mmap`). A nested entry stays on the syscall stack, below the caller's red zone.
#[unsafe(no_mangle)]
pub static SYSCALL_DEPTH: AtomicU8 = AtomicU8::new(0);

/// 1 when XSAVE is enabled (the stub uses XSAVE/XRSTOR), 0 for FXSAVE/FXRSTOR.
#[unsafe(no_mangle)]
pub static SYSCALL_USE_XSAVE: AtomicU8 = AtomicU8::new(0);

/// Registers of the program at the `syscall` instruction, as the stub pushed them.
#[repr(C)]
#[derive(Debug)]
pub struct SyscallFrame {
    /// Arguments 6, 5, 4 (R9, R8, R10), 3, 2, 1 (RDX, RSI, RDI).
    pub r9: u64,
    /// Argument 5.
    pub r8: u64,
    /// Argument 4.
    pub r10: u64,
    /// Argument 3.
    pub rdx: u64,
    /// Argument 2.
    pub rsi: u64,
    /// Argument 1.
    pub rdi: u64,
    /// Syscall number in, result out.
    pub rax: u64,
    /// The program's RFLAGS.
    pub r11: u64,
    /// The program's return address.
    pub rcx: u64,
}

// Bytes reserved for the XSAVE area (AVX-512 state needs 2,688; rounded up).
global_asm!(
    r#"
    .section .text.syscall_entry, "ax"
    .global syscall_entry
    .type syscall_entry, @function
syscall_entry:
    mov [rip + SYSCALL_PROGRAM_RSP], rsp
    cmp byte ptr [rip + SYSCALL_DEPTH], 0  # RFLAGS is already saved in R11
    jne 6f
    lea rsp, [rip + SYSCALL_STACK + {stack_size}]
    jmp 7f
6:  sub rsp, 128                        # nested: keep the handler's red zone
    and rsp, -16
7:  push qword ptr [rip + SYSCALL_PROGRAM_RSP]
    inc byte ptr [rip + SYSCALL_DEPTH]
    push rcx
    push r11
    push rax
    push rdi
    push rsi
    push rdx
    push r10
    push r8
    push r9
    mov rdi, rsp                        # &SyscallFrame
    push rbp
    mov rbp, rsp
    sub rsp, {xsave_bytes}
    and rsp, -64
    cmp byte ptr [rip + SYSCALL_USE_XSAVE], 0
    je 1f
    xor eax, eax                        # XRSTOR needs a clean XSAVE header
    mov ecx, 8
    lea rdx, [rsp + 512]
2:  mov [rdx], rax
    add rdx, 8
    dec ecx
    jnz 2b
    mov eax, -1
    mov edx, -1
    xsave64 [rsp]                       # RDI (&SyscallFrame) survives
    jmp 3f
1:  fxsave64 [rsp]
3:
    call syscall_from_program           # RSP is 64-byte aligned here
    mov [rbp + 8 + 6 * 8], rax          # result into the frame's RAX slot
    cmp byte ptr [rip + SYSCALL_USE_XSAVE], 0
    je 4f
    mov eax, -1
    mov edx, -1
    xrstor64 [rsp]
    jmp 5f
4:  fxrstor64 [rsp]
5:
    dec byte ptr [rip + SYSCALL_DEPTH]
    mov rsp, rbp
    pop rbp
    pop r9
    pop r8
    pop r10
    pop rdx
    pop rsi
    pop rdi
    pop rax
    pop r11
    pop rcx
    push r11                            # RFLAGS, restored on our stack, not the red zone
    popfq
    mov rsp, [rsp]                      # the program's RSP
    jmp rcx
    .size syscall_entry, . - syscall_entry
    "#,
    stack_size = const SYSCALL_STACK_SIZE,
    xsave_bytes = const 4096,
);

unsafe extern "C" {
    fn syscall_entry();
}

/// What the stub calls: syscall number (RAX) and arguments (RDI, RSI, RDX, R10, R8,
/// R9) in, the value for RAX out.
pub type Handler = fn(u64, [u64; 6]) -> i64;

/// The handler [`init`] registered.
static HANDLER: spin::Once<Handler> = spin::Once::new();

/// Enables `SYSCALL`, points it at the stub and makes `handler` what the stub calls.
/// Call it once.
pub fn init(xsave_enabled: bool, handler: Handler) {
    HANDLER.call_once(|| handler);
    SYSCALL_USE_XSAVE.store(xsave_enabled as u8, Ordering::Relaxed);
    // SAFETY: the GDT holds kernel code at 0x08 and data at 0x10, which STAR names for
    // SYSCALL (CS = STAR[47:32], SS = +8); the stub at LSTAR is written for CPL-0
    // entry. FMASK clears IF, TF, DF and AC on entry.
    unsafe {
        Star::write_raw(gdt::KERNEL_CODE_SELECTOR, gdt::KERNEL_CODE_SELECTOR);
        LStar::write(VirtAddr::new(syscall_entry as *const () as u64));
        SFMask::write(RFlags::INTERRUPT_FLAG | RFlags::TRAP_FLAG | RFlags::DIRECTION_FLAG | RFlags::ALIGNMENT_CHECK);
        Efer::update(|f| f.insert(EferFlags::SYSTEM_CALL_EXTENSIONS));
    }
}

/// Called by the stub on the syscall stack: hands the call to the registered handler.
#[unsafe(no_mangle)]
extern "C" fn syscall_from_program(frame: &mut SyscallFrame) -> i64 {
    let args = [frame.rdi, frame.rsi, frame.rdx, frame.r10, frame.r8, frame.r9];
    // `init` registers the handler before it writes LSTAR, so no syscall reaches the
    // stub before there is one.
    let handler = HANDLER.get().expect("syscall::init registered a handler");
    handler(frame.rax, args)
}
