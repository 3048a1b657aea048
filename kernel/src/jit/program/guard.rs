//! Leaving a program's run early: a guarded call ([`call`]) that `exit`, `abort` and CPU
//! faults return from, whatever the program's code was doing.
//!
//! [`call`] saves the callee-saved registers, the stack pointer, the return address and
//! the floating-point control words (a `setjmp`), then calls the run. [`leave`] restores
//! them (a `longjmp`): the guarded call returns a second time, with the reason. Frames
//! in between — the program's, the interpreter's, the engine's hooks — are abandoned
//! without running any destructor; their owners reset what they keep across calls
//! ([`crate::jit::tiered::recover_from_abandoned_run`]).
//!
//! Faults reach [`leave`] through the CPU: as a Linux program, a signal handler on its
//! own stack rewrites the interrupted context to resume in `bf_guard_jump`; on bare
//! metal, the exception handler does the same to the interrupt frame
//! ([`crate::arch::x86_64::idt::set_recovery`]).

use std::ffi::c_void;
use std::sync::Once;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::arch::x86_64::idt::{self, Redirect};

/// The saved context of a guarded call (layout used by the assembly below).
#[repr(C)]
#[derive(Default)]
pub struct JumpBuffer {
    /// rbx, rbp, r12–r15, the stack pointer after the call returns, the return address.
    regs: [u64; 8],
    /// MXCSR (low half) and the x87 control word (high half).
    fpu: u64,
}

// bf_guard_call(buffer, body, context) -> u64: saves the context into `buffer`, calls
// `body(context)` and returns its i32 result zero-extended; bf_guard_jump(buffer, code)
// returns `code` from that call instead.
core::arch::global_asm!(
    r#"
    .pushsection .text.bf_guard, "ax"
    .global bf_guard_call
bf_guard_call:
    mov [rdi + 0], rbx
    mov [rdi + 8], rbp
    mov [rdi + 16], r12
    mov [rdi + 24], r13
    mov [rdi + 32], r14
    mov [rdi + 40], r15
    lea rax, [rsp + 8]
    mov [rdi + 48], rax
    mov rax, [rsp]
    mov [rdi + 56], rax
    stmxcsr [rdi + 64]
    fnstcw [rdi + 68]
    sub rsp, 8
    mov rax, rsi
    mov rdi, rdx
    call rax
    add rsp, 8
    mov eax, eax
    ret

    .global bf_guard_jump
bf_guard_jump:
    fninit
    fldcw [rdi + 68]
    ldmxcsr [rdi + 64]
    mov rbx, [rdi + 0]
    mov rbp, [rdi + 8]
    mov r12, [rdi + 16]
    mov r13, [rdi + 24]
    mov r14, [rdi + 32]
    mov r15, [rdi + 40]
    mov rsp, [rdi + 48]
    mov rax, rsi
    jmp qword ptr [rdi + 56]
    .popsection
"#
);

unsafe extern "C" {
    fn bf_guard_call(buffer: *mut JumpBuffer, body: extern "C" fn(*mut c_void) -> i32, context: *mut c_void) -> u64;
    fn bf_guard_jump(buffer: *const JumpBuffer, code: u64) -> !;
}

/// Why a guarded call returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The body returned this value.
    Returned(i32),
    /// `exit(status)` (or `_exit`, `_Exit`) was called.
    Exited(i32),
    /// `abort()` was called (or an assertion failed).
    Aborted,
    /// A CPU fault: see [`last_fault`].
    Fault,
}

const KIND_EXIT: u64 = 1;
const KIND_ABORT: u64 = 2;
const KIND_FAULT: u64 = 3;

/// The innermost guarded call's buffer (null: none is running).
static ACTIVE: AtomicPtr<JumpBuffer> = AtomicPtr::new(std::ptr::null_mut());

/// The last fault: what (a signal number natively, a vector on bare metal, with the top
/// bit set), where (RIP) and the faulting address.
static FAULT: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
const VECTOR_BIT: u64 = 1 << 63;

/// A CPU fault that ended a run.
#[derive(Clone, Copy, Debug)]
pub struct Fault {
    /// Where it happened.
    pub rip: u64,
    /// The address it touched (page faults and memory signals), else 0.
    pub address: u64,
    /// What it was, e.g. `page fault`, `divide error`, `SIGSEGV`.
    pub what: &'static str,
}

impl Fault {
    /// Where it happened, as far as the kernel knows: `in main (t1)` for JIT-compiled
    /// code ([`crate::jit::codemap`]), `in main (interpreted)` when an interpreted
    /// function was running (the fault may then be in a native function it called),
    /// `outside the program's code` otherwise.
    pub fn location(&self) -> String {
        if let Some((name, tier)) = crate::jit::codemap::function_at(self.rip) {
            format!("in {} ({tier})", crate::jit::tiered::short_name(&name))
        } else if let Some(name) = crate::jit::interp::engine::current_function() {
            format!("in {} (interpreted)", crate::jit::tiered::short_name(&name))
        } else {
            "outside the program's code".to_string()
        }
    }
}

/// The fault that ended the last run that ended in [`Exit::Fault`].
pub fn last_fault() -> Fault {
    let kind = FAULT[0].load(Ordering::Relaxed);
    let what = if kind & VECTOR_BIT != 0 {
        idt::exception_name(kind & !VECTOR_BIT).1
    } else {
        match kind as i32 {
            libc::SIGSEGV => "segmentation fault (SIGSEGV)",
            libc::SIGBUS => "bus error (SIGBUS)",
            libc::SIGFPE => "arithmetic fault (SIGFPE)",
            libc::SIGILL => "illegal instruction (SIGILL)",
            libc::SIGTRAP => "trap (SIGTRAP)",
            _ => "fault",
        }
    };
    Fault { rip: FAULT[1].load(Ordering::Relaxed), address: FAULT[2].load(Ordering::Relaxed), what }
}

extern "C" fn call_body<F: FnMut() -> i32>(context: *mut c_void) -> i32 {
    // SAFETY: `call` passes a pointer to its `F`, alive for the whole guarded call.
    let body = unsafe { &mut *(context as *mut F) };
    body()
}

/// Runs `body` so that [`leave`] and CPU faults end it early; says how it ended. Guarded
/// calls nest (an `atexit` handler runs in its own).
pub fn call<F: FnMut() -> i32>(mut body: F) -> Exit {
    install_fault_handlers();
    let mut buffer = JumpBuffer::default();
    let outer = ACTIVE.swap(&mut buffer, Ordering::SeqCst);
    // SAFETY: the buffer and the closure outlive the call; `call_body::<F>` matches the
    // closure's type; the assembly follows the C ABI and returns through the saved
    // context either way.
    let code = unsafe { bf_guard_call(&mut buffer, call_body::<F>, (&raw mut body).cast()) };
    ACTIVE.store(outer, Ordering::SeqCst);
    match code >> 32 {
        0 => Exit::Returned(code as u32 as i32),
        KIND_EXIT => Exit::Exited(code as u32 as i32),
        KIND_ABORT => Exit::Aborted,
        _ => Exit::Fault,
    }
}

/// Whether a guarded call is running.
pub fn active() -> bool {
    !ACTIVE.load(Ordering::SeqCst).is_null()
}

/// Ends the innermost guarded call with `exit` (`Some(status)`) or `abort` (`None`).
/// Returns only when no guarded call is running.
pub fn leave(exit: Option<i32>) {
    let buffer = ACTIVE.load(Ordering::SeqCst);
    if buffer.is_null() {
        return;
    }
    let code = match exit {
        Some(status) => KIND_EXIT << 32 | status as u32 as u64,
        None => KIND_ABORT << 32,
    };
    // SAFETY: the buffer belongs to a guarded call still running further up this stack.
    unsafe { bf_guard_jump(buffer, code) }
}

/// Where a fault resumes: `bf_guard_jump(buffer, fault)`, on a stack just below the
/// guarded call's (which it switches to at once).
fn redirect(kind: u64, rip: u64, address: u64) -> Option<Redirect> {
    let buffer = ACTIVE.load(Ordering::SeqCst);
    if buffer.is_null() {
        return None;
    }
    FAULT[0].store(kind, Ordering::Relaxed);
    FAULT[1].store(rip, Ordering::Relaxed);
    FAULT[2].store(address, Ordering::Relaxed);
    // SAFETY: the buffer belongs to a guarded call still running on this stack.
    let sp = unsafe { (*buffer).regs[6] };
    Some(Redirect {
        rip: bf_guard_jump as *const () as u64,
        rsp: (sp - 512) & !15,
        rdi: buffer as u64,
        rsi: KIND_FAULT << 32,
    })
}

/// On bare metal: the exception handler's recovery hook.
fn on_exception(vector: u64, rip: u64, address: u64) -> Option<Redirect> {
    // Double faults and machine checks are not the program's.
    if matches!(vector, 2 | 8 | 18) {
        return None;
    }
    redirect(vector | VECTOR_BIT, rip, address)
}

/// As a Linux program: the handler of SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGTRAP, on its
/// own stack. Outside a guarded call it restores the default action and returns, so
/// the fault repeats and ends the process as it would have.
extern "C" fn on_signal(signal: i32, info: *mut libc::siginfo_t, context: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo and ucontext for an SA_SIGINFO handler.
    unsafe {
        let uc = &mut *(context as *mut libc::ucontext_t);
        let gregs = &mut uc.uc_mcontext.gregs;
        let rip = gregs[libc::REG_RIP as usize] as u64;
        let address = (*info).si_addr() as u64;
        match redirect(signal as u64, rip, address) {
            Some(r) => {
                gregs[libc::REG_RIP as usize] = r.rip as i64;
                gregs[libc::REG_RSP as usize] = r.rsp as i64;
                gregs[libc::REG_RDI as usize] = r.rdi as i64;
                gregs[libc::REG_RSI as usize] = r.rsi as i64;
            }
            None => {
                libc::signal(signal, libc::SIG_DFL);
            }
        }
    }
}

/// Installs the fault handlers once: the exception hook on bare metal, the signal
/// handlers (on an alternate stack) as a Linux program.
fn install_fault_handlers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if crate::platform::bare_metal::ACTIVE.load(Ordering::Relaxed) {
            idt::set_recovery(Some(on_exception));
            return;
        }
        const ALT_STACK: usize = 64 * 1024;
        let stack: &'static mut [u8] = Box::leak(vec![0u8; ALT_STACK].into_boxed_slice());
        // SAFETY: the alternate stack is leaked (lives forever); the handler is an
        // `extern "C"` function with the SA_SIGINFO signature.
        unsafe {
            let ss = libc::stack_t { ss_sp: stack.as_mut_ptr().cast(), ss_flags: 0, ss_size: ALT_STACK };
            libc::sigaltstack(&ss, std::ptr::null_mut());
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            for signal in [libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL, libc::SIGTRAP] {
                libc::sigaction(signal, &action, std::ptr::null_mut());
            }
        }
    });
}
