//! The [`Machine`] and its execution loop: a `match` over [`Op`] ([`Op::visit`],
//! generated from [`crate::for_each_op!`]) calling one handler per op.
//!
//! The handlers reach the frame's registers through [`Regs`] (valid for every
//! register of a validated function) and the program's memory through
//! [`crate::mem`]: the `unsafe` left is the program's own loads, stores and calls.

use std::cell::Cell;
use std::ops::ControlFlow;

use bf_tiers::{Activation, Counters};

use crate::function::{Function, MAX_ARGS, MAX_RET};
use crate::mem;
use crate::op::{Op, OpVisitor, OverflowKind, Reg};

/// A native function the interpreter calls through a JIT-compiled adapter:
/// `adapter(function, args, ret)` loads the arguments from `args` (one `u64` each, in
/// the representation of the crate docs), calls `function` with the callee's C
/// signature and stores its result (one `u64` per field) at `ret`.
pub type Adapter = unsafe extern "C" fn(function: u64, args: *const u64, ret: *mut u64);

/// What the machine counts for the tier policy: every interpreted activation goes
/// through the same fast path as compiled code's in-line one, on the same counters
/// (`bf_tiers::Counters`: a call count, and the cycles of timed outermost
/// activations), asking the policy when they reach their threshold.
#[derive(Clone, Copy)]
pub struct Profiling {
    /// The counters, one per profile id (none: nothing is counted).
    counters: *const Counters,
    len: usize,
    /// Asks the policy about a profile id whose counters reached their threshold (cold).
    check: fn(u32),
    /// The clock, read only for timed activations.
    now: fn() -> u64,
}

impl Profiling {
    /// Counting into `counters` (indexed by [`Machine::prof_ids`]), with `check` asked
    /// at thresholds and `now` as the clock.
    ///
    /// # Safety
    /// `counters` must outlive every run of the machine given this, and nothing else
    /// may touch them during one (other than `check`, on the machine's thread).
    pub unsafe fn new(counters: &[Counters], check: fn(u32), now: fn() -> u64) -> Profiling {
        Profiling { counters: counters.as_ptr(), len: counters.len(), check, now }
    }

    /// The counters of profile id `prof`, if counted.
    #[inline(always)]
    fn of(&self, prof: u32) -> Option<&Counters> {
        // SAFETY: `Profiling::new`'s contract: `len` counters live at `counters` while
        // the machine runs.
        (prof < self.len as u32).then(|| unsafe { &*self.counters.add(prof as usize) })
    }

    /// An activation of `prof` begins: counts the call, asks the policy if due, starts
    /// the clock if the activation is timed. Returns what [`Profiling::exit`] gets.
    #[inline(always)]
    fn enter(&self, prof: u32) -> Activation {
        let Some(c) = self.of(prof) else { return Activation::INNER };
        let calls = c.count_call();
        if c.due(calls) {
            (self.check)(prof);
        }
        c.start(calls, self.now)
    }

    /// The activation that [`Profiling::enter`] began (`a`) returns.
    #[inline(always)]
    fn exit(&self, prof: u32, a: Activation) {
        if let Some(c) = self.of(prof) {
            c.stop(a, self.now);
        }
    }
}

/// How function `id` of a [`Machine`] is reached.
#[derive(Clone, Copy, Debug, Default)]
pub struct Linkage {
    /// Address of its slot (a `u64` in memory holding the code callers jump to).
    pub slot: u64,
    /// The address of its tier-0 entry stub: while the slot holds this, calls from
    /// interpreted code interpret the callee directly.
    pub stub: u64,
    /// Index into [`Machine::adapters`] of the adapter for its signature, to call what
    /// the slot holds otherwise.
    pub adapter: u32,
}

/// Registers (`u64`s) of the interpreter's register stack.
const REG_STACK: usize = 1 << 19;
/// 16-byte units of the interpreter's alloca stack (4 MiB).
const MEM_STACK: usize = 1 << 18;
/// Most nested interpreted activations. An interpreted call from interpreted code
/// takes no native stack (the callee runs in its caller's loop), but one through native
/// code nests a new loop, ~400 bytes of the native stack (`run`'s frame), so 10,000
/// stay within 50% of the 8 MiB program stack whatever the mix; deeper recursion is a
/// trap with a message rather than a stack overflow.
pub const MAX_DEPTH: u32 = 10_000;

/// The interpreter: lowered functions, how to reach them, and its two stacks.
pub struct Machine {
    /// Lowered functions by id (`None`: not interpretable, only native code exists).
    /// Validated by [`Machine::new`]; not to be changed afterwards.
    pub functions: Vec<Option<Function>>,
    /// Slot, stub and adapter per function id.
    pub linkage: Vec<Linkage>,
    /// Profile id per function id.
    pub prof_ids: Vec<u32>,
    /// Native-call adapters, referenced by [`Linkage::adapter`] and `CallNative`.
    pub adapters: Vec<Adapter>,
    /// What it counts for the tier policy.
    pub profiling: Profiling,
    /// The register stack: frames are windows `reg_sp..reg_sp + nregs`, strictly nested.
    regs: Box<[Cell<u64>]>,
    reg_sp: Cell<usize>,
    /// The alloca stack, likewise; the program reaches it through addresses.
    mem: Box<[Cell<u128>]>,
    mem_sp: Cell<usize>,
    depth: Cell<u32>,
    /// The innermost running activation's function id ([`NONE`] when none runs).
    current: Cell<u32>,
}

/// No function (see `Machine::current`).
const NONE: u32 = u32::MAX;

/// A zeroed slice of `n` cells, allocated zeroed (untouched pages stay unmapped).
fn zeroed_cells<T: Copy + bytemuck::Zeroable>(n: usize) -> Box<[Cell<T>]> {
    let plain: Box<[T]> = vec![T::zeroed(); n].into_boxed_slice();
    // SAFETY: `Cell<T>` has the same in-memory representation as `T` (documented), so
    // the allocation and its length carry over unchanged.
    unsafe { Box::from_raw(Box::into_raw(plain) as *mut [Cell<T>]) }
}

/// Stops the machine on an interpreted trap: the message, then `ud2`, exactly like a
/// trap in compiled code (the kernel's exception report on bare metal, SIGILL as a
/// Linux program).
#[cold]
#[inline(never)]
fn trap(why: &str) -> ! {
    println!("interp: trap: {why}");
    let _ = std::io::Write::flush(&mut std::io::stdout());
    // SAFETY: `ud2` raises #UD by design; nothing after it runs.
    unsafe { core::arch::asm!("ud2", options(noreturn)) }
}

// The traps the loop raises, out of line: their messages' formatting stays out of the
// loop's stack frame.

#[cold]
#[inline(never)]
fn not_interpretable(id: u32) -> ! {
    trap(&format!("function {id} is not interpretable"))
}

#[cold]
#[inline(never)]
fn division_by_zero(f: &Function) -> ! {
    trap(&format!("division by zero in {}", f.name))
}

#[cold]
#[inline(never)]
fn trap_op(f: &Function, msg: u32) -> ! {
    trap(&format!("{} in {}", f.traps[msg as usize], f.name))
}

#[inline(always)]
fn sext(x: u64, sh: u8) -> i64 {
    ((x << sh) as i64) >> sh
}

#[inline(always)]
fn f32_of(x: u64) -> f32 {
    f32::from_bits(x as u32)
}

#[inline(always)]
fn of_f32(x: f32) -> u64 {
    x.to_bits() as u64
}

#[inline(always)]
fn f64_of(x: u64) -> f64 {
    f64::from_bits(x)
}

/// A float operand as `f64` (`f32` when `single`; exact).
#[inline(always)]
fn float_of(x: u64, single: bool) -> f64 {
    if single { f32_of(x) as f64 } else { f64_of(x) }
}

/// `fcmp` with LLVM's predicate numbering (`LLVMRealPredicate`).
pub fn fcmp(pred: u8, a: f64, b: f64) -> bool {
    let uno = a.is_nan() || b.is_nan();
    match pred {
        0 => false,
        1 => !uno && a == b,
        2 => !uno && a > b,
        3 => !uno && a >= b,
        4 => !uno && a < b,
        5 => !uno && a <= b,
        6 => !uno && a != b,
        7 => !uno,
        8 => uno,
        9 => uno || a == b,
        10 => uno || a > b,
        11 => uno || a >= b,
        12 => uno || a < b,
        13 => uno || a <= b,
        14 => uno || a != b,
        _ => true,
    }
}

/// `llvm.fptosi.sat` to `bits` bits (zero-extended result).
pub fn fptosi_sat(x: f64, bits: u8) -> u64 {
    let mask = if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 };
    if bits >= 64 {
        return x as i64 as u64;
    }
    let (min, max) = (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1);
    ((x as i64).clamp(min, max) as u64) & mask
}

/// `llvm.fptoui.sat` to `bits` bits.
pub fn fptoui_sat(x: f64, bits: u8) -> u64 {
    if bits >= 64 { x as u64 } else { (x as u64).min((1u64 << bits) - 1) }
}

/// `*.with.overflow` of width `bits`: (result, overflowed).
pub fn overflow(kind: OverflowKind, a: u64, b: u64, bits: u8) -> (u64, bool) {
    let mask = if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 };
    let sh = 64 - bits;
    let (sa, sb) = (sext(a, sh) as i128, sext(b, sh) as i128);
    let (smin, smax) = (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1);
    let (ua, ub) = (a as u128, b as u128);
    match kind {
        OverflowKind::UAdd => {
            let s = ua + ub;
            (s as u64 & mask, s > mask as u128)
        }
        OverflowKind::USub => (a.wrapping_sub(b) & mask, a < b),
        OverflowKind::UMul => {
            let p = ua * ub;
            (p as u64 & mask, p > mask as u128)
        }
        OverflowKind::SAdd => {
            let s = sa + sb;
            (s as u64 & mask, s < smin || s > smax)
        }
        OverflowKind::SSub => {
            let s = sa - sb;
            (s as u64 & mask, s < smin || s > smax)
        }
        OverflowKind::SMul => {
            let p = sa * sb;
            (p as u64 & mask, p < smin || p > smax)
        }
    }
}

impl Machine {
    /// A machine over `functions` (validated here: a function that fails validation
    /// becomes `None`, with the reason in the returned list).
    pub fn new(
        mut functions: Vec<Option<Function>>,
        linkage: Vec<Linkage>,
        prof_ids: Vec<u32>,
        adapters: Vec<Adapter>,
        profiling: Profiling,
    ) -> (Machine, Vec<String>) {
        assert!(
            linkage.len() == functions.len() && prof_ids.len() == functions.len(),
            "one linkage entry and one profile id per function"
        );
        let params: Vec<Option<u32>> = functions.iter().map(|f| f.as_ref().map(|f| f.nparams)).collect();
        let mut errors = Vec::new();
        for f in functions.iter_mut() {
            let Some(func) = f else { continue };
            if let Err(e) = func.validate() {
                errors.push(e);
                *f = None;
                continue;
            }
            // Calls name function ids and adapters: those must exist too, and a call
            // of an interpretable function passes exactly its parameters.
            let bad = func.code.iter().any(|op| match *op {
                Op::Call { id, nargs, .. } => {
                    linkage.get(id as usize).is_none_or(|l| l.adapter as usize >= adapters.len())
                        || params[id as usize].is_some_and(|n| n != nargs as u32)
                }
                Op::CallNative { adapter, .. } => adapter as usize >= adapters.len(),
                _ => false,
            });
            if bad {
                errors.push(format!(
                    "{}: a call names an unknown function or adapter, or passes a wrong number of arguments",
                    func.name
                ));
                *f = None;
            }
        }
        let machine = Machine {
            functions,
            linkage,
            prof_ids,
            adapters,
            profiling,
            regs: zeroed_cells(REG_STACK),
            reg_sp: Cell::new(0),
            mem: zeroed_cells(MEM_STACK),
            mem_sp: Cell::new(0),
            depth: Cell::new(0),
            current: Cell::new(NONE),
        };
        (machine, errors)
    }

    /// Interprets function `id` with `args` (one `u64` per parameter), writing its
    /// result registers to `ret` (room for [`MAX_RET`]).
    ///
    /// # Safety
    /// `args` must hold the function's parameter count of `u64`s and `ret` room for
    /// [`MAX_RET`]; the function's memory accesses and native calls must be valid (they
    /// run exactly as the compiled code would); [`Machine::functions`] must not have
    /// changed since [`Machine::new`] validated them.
    pub unsafe fn call(&self, id: u32, args: *const u64, ret: *mut u64) {
        let Some(Some(f)) = self.functions.get(id as usize) else { not_interpretable(id) };
        // SAFETY: the caller passes `nparams` arguments and room for MAX_RET results.
        let (args, ret) =
            unsafe { (std::slice::from_raw_parts(args, f.nparams as usize), &mut *ret.cast::<[u64; MAX_RET]>()) };
        let set_args = |params: &[Cell<u64>]| {
            for (p, &a) in params.iter().zip(args) {
                p.set(a);
            }
        };
        // SAFETY: the caller's guarantees are ours.
        unsafe { self.invoke(id, f, set_args, ret) }
    }

    /// Empties both stacks: every activation was abandoned (the run was left by a jump
    /// — `exit`, `abort`, a fault — not by returning). Only valid when no interpreted
    /// activation will return any more.
    pub fn abandon_activations(&self) {
        self.reg_sp.set(0);
        self.mem_sp.set(0);
        self.depth.set(0);
        self.current.set(NONE);
    }

    /// The function of the innermost interpreted activation running, if any: where an
    /// interpreted program was when its run faulted (read before
    /// [`Machine::abandon_activations`]).
    pub fn current_function(&self) -> Option<&str> {
        let f = self.functions.get(self.current.get() as usize)?.as_ref()?;
        Some(&f.name)
    }

    /// [`Machine::call`] of function `id` (which is `f`) from native code: pushes its
    /// frame, lets `set_args` write the arguments into its parameter registers, runs it
    /// (and the interpreted functions it calls, in the same loop) and pops the frame.
    ///
    /// # Safety
    /// As [`Machine::call`]: `f`'s memory accesses and native calls must be valid.
    #[inline(always)]
    unsafe fn invoke(&self, id: u32, f: &Function, set_args: impl FnOnce(&[Cell<u64>]), ret: &mut [u64; MAX_RET]) {
        let (activation, window, frame) = self.push(id, f);
        set_args(&window[..(f.nparams as usize).min(window.len())]);
        // SAFETY: `window` has `f`'s register count, and `f` was validated; the
        // program's accesses are the caller's to vouch for.
        unsafe { self.run(f, Regs::new(window), frame, ret) };
        self.pop(activation);
    }

    /// Starts an activation of function `id` (which is `f`): counts the depth, begins
    /// its profiling, and takes its register window (the template's preset registers
    /// copied in; the parameters are the caller's to write) and its alloca area.
    /// [`Machine::pop`] undoes it; activations are strictly nested.
    #[inline(always)]
    fn push(&self, id: u32, f: &Function) -> (Entered, &[Cell<u64>], u64) {
        // SAFETY: `id` is a function id (a linkage entry: `Machine::new` proved every
        // called one), and there is one profile id per function (asserted there).
        let prof = unsafe { *self.prof_ids.get_unchecked(id as usize) };
        let depth = self.depth.get();
        if depth >= MAX_DEPTH {
            trap(&format!("interpreter call depth limit ({MAX_DEPTH}) reached calling {}", f.name));
        }
        self.depth.set(depth + 1);
        let caller = self.current.replace(id);
        let token = self.profiling.enter(prof);
        // Frames are strictly nested (LIFO): the windows above the stack pointers belong
        // to this activation alone until it returns.
        let reg_base = self.reg_sp.get();
        let mem_base = self.mem_sp.get();
        let mem_units = (f.frame_bytes as usize).div_ceil(16);
        let Some(window) = self.regs.get(reg_base..reg_base + f.template.len()) else {
            trap(&format!("register stack overflow calling {}", f.name));
        };
        let Some(alloca) = self.mem.get(mem_base..mem_base + mem_units) else {
            trap(&format!("alloca stack overflow calling {}", f.name));
        };
        // Only the registers from `preset` on need the template (validation proved
        // `preset` within it); the others are written before they are read.
        let preset = f.preset as usize;
        let (to, from) = (&window[preset..], &f.template[preset..]);
        // SAFETY: `Cell<u64>` has `u64`'s layout and its contents may be written through
        // a shared reference; `to` is `from.len()` cells that no one else reads or
        // writes while we fill them (the frame is this activation's), and the template
        // does not overlap the register stack.
        unsafe { std::ptr::copy_nonoverlapping(from.as_ptr(), to.as_ptr() as *mut u64, to.len()) };
        self.reg_sp.set(reg_base + window.len());
        self.mem_sp.set(mem_base + mem_units);
        (Entered { prof, token, reg_base, mem_base, caller, depth }, window, alloca.as_ptr() as u64)
    }

    /// Ends the activation [`Machine::push`] started: its frame popped, the depth and
    /// the running function restored, its profiling ended.
    #[inline(always)]
    fn pop(&self, a: Entered) {
        self.reg_sp.set(a.reg_base);
        self.mem_sp.set(a.mem_base);
        self.depth.set(a.depth);
        self.current.set(a.caller);
        self.profiling.exit(a.prof, a.token);
    }

    /// The execution loop: fetch, dispatch to the op's handler, until the `Ret` of `f`.
    /// Interpreted callees run in the same loop ([`Exec::call`] suspends the caller,
    /// [`Exec::ret`] resumes it): only calls through native code nest `run`.
    ///
    /// # Safety
    /// As [`Machine::invoke`]; `regs` is the frame of `f` (validated), `frame` its
    /// alloca area.
    #[inline(never)]
    unsafe fn run(&self, f: &Function, regs: Regs<'_>, frame: u64, ret: &mut [u64; MAX_RET]) {
        // Outside `exec`, which then stays in machine registers (a growing `Vec` is
        // passed by address to its allocator).
        let mut callers = Vec::new();
        let mut exec =
            Exec { machine: self, func: f, code: f.code.as_slice(), regs, frame, pc: 0, ret, callers: &mut callers };
        // The inner loop runs one activation (its code and registers stay put, so they
        // stay in machine registers); a call or return that switches activations
        // leaves it, and the outer loop takes up the new one.
        loop {
            let code = exec.code;
            let switch = loop {
                // SAFETY: validation: every jump target is an op index, and the last op
                // does not fall through, so `pc` stays within the running function's
                // code.
                let op = unsafe { *code.get_unchecked(exec.pc) };
                exec.pc += 1;
                if let ControlFlow::Break(switch) = op.visit(&mut exec) {
                    break switch;
                }
            };
            if switch == Switch::Returned {
                return;
            }
        }
    }
}

/// An activation's place on the machine's stacks and in its bookkeeping, from
/// [`Machine::push`] to [`Machine::pop`].
#[derive(Clone, Copy)]
struct Entered {
    /// Its profile id, and how its profiling began.
    prof: u32,
    token: Activation,
    /// The stack pointers before it.
    reg_base: usize,
    mem_base: usize,
    /// The function running before it, and the depth before it.
    caller: u32,
    depth: u32,
}

/// An interpreted caller waiting in [`Machine::run`]'s loop for its interpreted callee.
#[derive(Clone, Copy)]
struct Suspended<'a> {
    func: &'a Function,
    regs: Regs<'a>,
    frame: u64,
    /// The op after the call.
    pc: usize,
    /// Where the callee's results go: `d..d + nret`.
    d: Reg,
    nret: u8,
    /// The callee's activation.
    callee: Entered,
}

/// The registers of one frame of a validated function.
///
/// Indexing is unchecked: [`Function::validate`] proved every register operand of the
/// function below its register count, which is the window's length.
#[derive(Clone, Copy)]
struct Regs<'a>(&'a [Cell<u64>]);

impl<'a> Regs<'a> {
    /// The frame `window`.
    ///
    /// # Safety
    /// Only registers of a validated function whose register count is `window.len()`
    /// may be read and written through it.
    unsafe fn new(window: &'a [Cell<u64>]) -> Self {
        Regs(window)
    }

    #[inline(always)]
    fn cell(self, r: Reg) -> &'a Cell<u64> {
        debug_assert!(r.index() < self.0.len(), "register {r:?} out of the frame");
        // SAFETY: `Regs::new`'s contract: `r` is a register of the validated function.
        unsafe { self.0.get_unchecked(r.index()) }
    }

    #[inline(always)]
    fn get(self, r: Reg) -> u64 {
        self.cell(r).get()
    }

    #[inline(always)]
    fn set(self, r: Reg, v: u64) {
        self.cell(r).set(v)
    }
}

/// What a handler tells the loop: go on with the next op, or leave the running
/// activation's loop (and why).
type Flow = ControlFlow<Switch>;

/// Why a handler leaves the loop of the running activation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Switch {
    /// The outermost activation returned: [`Machine::run`] is done.
    Returned,
    /// Another activation runs now (an interpreted call, or the return to its caller).
    Activation,
}

/// Go on.
const NEXT: Flow = ControlFlow::Continue(());

/// One activation being executed: the handlers' state.
///
/// It only exists inside [`Machine::run`], under [`Machine::call`]'s contract: the
/// program's memory accesses and calls, which the handlers perform, are valid.
struct Exec<'a> {
    machine: &'a Machine,
    /// The running function, its code, its registers and its alloca area's address.
    func: &'a Function,
    code: &'a [Op],
    regs: Regs<'a>,
    frame: u64,
    /// The next op's index.
    pc: usize,
    /// Where the outermost function's results go.
    ret: &'a mut [u64; MAX_RET],
    /// The interpreted callers of the running function in this loop, innermost last.
    callers: &'a mut Vec<Suspended<'a>>,
}

impl<'a> Exec<'a> {
    #[inline(always)]
    fn r(&self, a: Reg) -> u64 {
        self.regs.get(a)
    }

    #[inline(always)]
    fn set(&mut self, d: Reg, v: u64) -> Flow {
        self.regs.set(d, v);
        NEXT
    }

    /// `d = op(a, b)`.
    #[inline(always)]
    fn bin(&mut self, d: Reg, a: Reg, b: Reg, op: impl FnOnce(u64, u64) -> u64) -> Flow {
        let v = op(self.r(a), self.r(b));
        self.set(d, v)
    }

    /// `d = op(a)`.
    #[inline(always)]
    fn un(&mut self, d: Reg, a: Reg, op: impl FnOnce(u64) -> u64) -> Flow {
        let v = op(self.r(a));
        self.set(d, v)
    }

    /// `double` `d = op(a, b)`.
    #[inline(always)]
    fn bin_d(&mut self, d: Reg, a: Reg, b: Reg, op: impl FnOnce(f64, f64) -> f64) -> Flow {
        self.bin(d, a, b, |x, y| op(f64_of(x), f64_of(y)).to_bits())
    }

    /// `float` `d = op(a, b)`.
    #[inline(always)]
    fn bin_s(&mut self, d: Reg, a: Reg, b: Reg, op: impl FnOnce(f32, f32) -> f32) -> Flow {
        self.bin(d, a, b, |x, y| of_f32(op(f32_of(x), f32_of(y))))
    }

    /// Goes to `t` if `cond`, else to `f`.
    #[inline(always)]
    fn branch_if(&mut self, cond: bool, t: u32, f: u32) -> Flow {
        self.pc = if cond { t as usize } else { f as usize };
        NEXT
    }

    /// The address `a + off`.
    #[inline(always)]
    fn addr(&self, a: Reg, off: i32) -> u64 {
        self.r(a).wrapping_add(off as i64 as u64)
    }

    /// `d = zext(*(a + off) as T)`.
    #[inline(always)]
    fn load<T: bytemuck::Pod + Into<u64>>(&mut self, d: Reg, a: Reg, off: i32) -> Flow {
        self.load_at::<T>(d, self.addr(a, off))
    }

    /// The `double` at `m + off` (a load fused into the op that uses it).
    #[inline(always)]
    fn double_at(&self, m: Reg, off: i32) -> f64 {
        // SAFETY: the program's own load, as valid as in compiled code (`Exec`).
        f64::from_bits(unsafe { mem::load::<u64>(self.addr(m, off)) })
    }

    /// `*(m + off) = x` (a store fused into the op that computes it).
    #[inline(always)]
    fn store_double(&mut self, m: Reg, off: i32, x: f64) -> Flow {
        // SAFETY: the program's own store, as valid as in compiled code (`Exec`).
        unsafe { mem::store::<u64>(self.addr(m, off), x.to_bits()) };
        NEXT
    }

    /// The address `a + sext(b) * scale + off`.
    #[inline(always)]
    fn indexed(&self, a: Reg, b: Reg, scale: i32, sh: u8, off: i32) -> u64 {
        let index = sext(self.r(b), sh).wrapping_mul(scale as i64);
        self.r(a).wrapping_add(index as u64).wrapping_add(off as i64 as u64)
    }

    /// `d = zext(*address as T)`.
    #[inline(always)]
    fn load_at<T: bytemuck::Pod + Into<u64>>(&mut self, d: Reg, address: u64) -> Flow {
        // SAFETY: the program's own load, as valid as in compiled code (`Exec`).
        let v = unsafe { mem::load::<T>(address) };
        self.set(d, v.into())
    }

    /// `*address = v as T`.
    #[inline(always)]
    fn store_at<T: bytemuck::Pod>(&mut self, v: Reg, address: u64, narrow: impl FnOnce(u64) -> T) -> Flow {
        let value = narrow(self.r(v));
        // SAFETY: the program's own store, as valid as in compiled code (`Exec`).
        unsafe { mem::store::<T>(address, value) };
        NEXT
    }

    /// `*(a + off) = v as T`.
    #[inline(always)]
    fn store<T: bytemuck::Pod>(&mut self, v: Reg, a: Reg, off: i32, narrow: impl FnOnce(u64) -> T) -> Flow {
        self.store_at(v, self.addr(a, off), narrow)
    }

    /// `atomicrmw` of `size` bytes (one thread: a load and a store): `d = old`,
    /// `*a = op(old, v)`.
    #[inline(always)]
    fn rmw(&mut self, d: Reg, a: Reg, v: Reg, size: u8, op: impl FnOnce(u64, u64) -> u64) -> Flow {
        let p = self.r(a);
        // SAFETY: the program's own read-modify-write, as valid as in compiled code.
        let old = unsafe {
            match size {
                1 => mem::load::<u8>(p) as u64,
                2 => mem::load::<u16>(p) as u64,
                4 => mem::load::<u32>(p) as u64,
                _ => mem::load::<u64>(p),
            }
        };
        let new = op(old, self.r(v));
        // SAFETY: as above.
        unsafe {
            match size {
                1 => mem::store(p, new as u8),
                2 => mem::store(p, new as u16),
                4 => mem::store(p, new as u32),
                _ => mem::store(p, new),
            }
        }
        self.set(d, old)
    }

    /// Traps on a zero divisor.
    #[inline(always)]
    fn divisor<T: PartialEq + Default>(&self, y: T) -> T {
        if y == T::default() {
            division_by_zero(self.func);
        }
        y
    }

    /// The registers holding a call's arguments, `call_args[args..args + nargs]`.
    #[inline(always)]
    fn argument_list(&self, args: u32, nargs: u8) -> &'a [Reg] {
        debug_assert!(args as usize + nargs as usize <= self.func.call_args.len());
        // SAFETY: validation proved every call's argument list within `call_args`
        // (`Operand::Args`).
        unsafe { self.func.call_args.get_unchecked(args as usize..args as usize + nargs as usize) }
    }

    /// Reads the arguments of a call, `call_args[args..args + nargs]`'s registers,
    /// into `argv`.
    #[inline(always)]
    fn arguments(&self, args: u32, nargs: u8, argv: &mut [u64; MAX_ARGS]) {
        for (v, &r) in argv.iter_mut().zip(self.argument_list(args, nargs)) {
            *v = self.r(r);
        }
    }

    /// `d..d + nret = results`.
    #[inline(always)]
    fn results(&mut self, d: Reg, nret: u8, results: &[u64; MAX_RET]) -> Flow {
        for (i, &v) in results.iter().enumerate().take(nret as usize) {
            self.regs.set(d + i as u32, v);
        }
        NEXT
    }
}

impl OpVisitor for Exec<'_> {
    type Return = Flow;

    fn mov(&mut self, d: Reg, a: Reg) -> Flow {
        self.un(d, a, |x| x)
    }
    fn mov2(&mut self, d: Reg, a: Reg, d2: Reg, a2: Reg) -> Flow {
        let _ = self.mov(d, a);
        self.mov(d2, a2)
    }
    fn add(&mut self, d: Reg, a: Reg, b: Reg, mask: u64) -> Flow {
        self.bin(d, a, b, |x, y| x.wrapping_add(y) & mask)
    }
    fn sub(&mut self, d: Reg, a: Reg, b: Reg, mask: u64) -> Flow {
        self.bin(d, a, b, |x, y| x.wrapping_sub(y) & mask)
    }
    fn mul(&mut self, d: Reg, a: Reg, b: Reg, mask: u64) -> Flow {
        self.bin(d, a, b, |x, y| x.wrapping_mul(y) & mask)
    }
    fn udiv(&mut self, d: Reg, a: Reg, b: Reg) -> Flow {
        let y = self.divisor(self.r(b));
        self.set(d, self.r(a) / y)
    }
    fn urem(&mut self, d: Reg, a: Reg, b: Reg) -> Flow {
        let y = self.divisor(self.r(b));
        self.set(d, self.r(a) % y)
    }
    fn sdiv(&mut self, d: Reg, a: Reg, b: Reg, sh: u8, mask: u64) -> Flow {
        let y = self.divisor(sext(self.r(b), sh));
        self.set(d, (sext(self.r(a), sh).wrapping_div(y) as u64) & mask)
    }
    fn srem(&mut self, d: Reg, a: Reg, b: Reg, sh: u8, mask: u64) -> Flow {
        let y = self.divisor(sext(self.r(b), sh));
        self.set(d, (sext(self.r(a), sh).wrapping_rem(y) as u64) & mask)
    }
    fn shl(&mut self, d: Reg, a: Reg, b: Reg, mask: u64) -> Flow {
        self.bin(d, a, b, |x, y| x.wrapping_shl(y as u32) & mask)
    }
    fn lshr(&mut self, d: Reg, a: Reg, b: Reg) -> Flow {
        self.bin(d, a, b, |x, y| x.wrapping_shr(y as u32))
    }
    fn ashr(&mut self, d: Reg, a: Reg, b: Reg, sh: u8, mask: u64) -> Flow {
        self.bin(d, a, b, |x, y| (sext(x, sh).wrapping_shr(y as u32) as u64) & mask)
    }
    fn and(&mut self, d: Reg, a: Reg, b: Reg) -> Flow {
        self.bin(d, a, b, |x, y| x & y)
    }
    fn or(&mut self, d: Reg, a: Reg, b: Reg) -> Flow {
        self.bin(d, a, b, |x, y| x | y)
    }
    fn xor(&mut self, d: Reg, a: Reg, b: Reg) -> Flow {
        self.bin(d, a, b, |x, y| x ^ y)
    }
    fn add_imm(&mut self, d: Reg, a: Reg, imm: u64) -> Flow {
        self.un(d, a, |x| x.wrapping_add(imm))
    }
    fn add_scaled(&mut self, d: Reg, a: Reg, b: Reg, scale: i64, sh: u8) -> Flow {
        self.bin(d, a, b, |x, y| x.wrapping_add(sext(y, sh).wrapping_mul(scale) as u64))
    }
    fn trunc(&mut self, d: Reg, a: Reg, mask: u64) -> Flow {
        self.un(d, a, |x| x & mask)
    }
    fn sext(&mut self, d: Reg, a: Reg, sh: u8, mask: u64) -> Flow {
        self.un(d, a, |x| sext(x, sh) as u64 & mask)
    }
    fn eq(&mut self, d: Reg, a: Reg, b: Reg) -> Flow {
        self.bin(d, a, b, |x, y| (x == y) as u64)
    }
    fn ne(&mut self, d: Reg, a: Reg, b: Reg) -> Flow {
        self.bin(d, a, b, |x, y| (x != y) as u64)
    }
    fn ult(&mut self, d: Reg, a: Reg, b: Reg) -> Flow {
        self.bin(d, a, b, |x, y| (x < y) as u64)
    }
    fn ule(&mut self, d: Reg, a: Reg, b: Reg) -> Flow {
        self.bin(d, a, b, |x, y| (x <= y) as u64)
    }
    fn slt(&mut self, d: Reg, a: Reg, b: Reg, sh: u8) -> Flow {
        self.bin(d, a, b, |x, y| (sext(x, sh) < sext(y, sh)) as u64)
    }
    fn sle(&mut self, d: Reg, a: Reg, b: Reg, sh: u8) -> Flow {
        self.bin(d, a, b, |x, y| (sext(x, sh) <= sext(y, sh)) as u64)
    }
    fn select(&mut self, d: Reg, c: Reg, a: Reg, b: Reg) -> Flow {
        let v = if self.r(c) & 1 != 0 { self.r(a) } else { self.r(b) };
        self.set(d, v)
    }
    fn fadd_d(&mut self, d: Reg, a: Reg, b: Reg) -> Flow {
        self.bin_d(d, a, b, |x, y| x + y)
    }
    fn fsub_d(&mut self, d: Reg, a: Reg, b: Reg) -> Flow {
        self.bin_d(d, a, b, |x, y| x - y)
    }
    fn fmul_d(&mut self, d: Reg, a: Reg, b: Reg) -> Flow {
        self.bin_d(d, a, b, |x, y| x * y)
    }
    fn fadd_d_m(&mut self, d: Reg, a: Reg, m: Reg, off: i32) -> Flow {
        let y = self.double_at(m, off);
        self.un(d, a, |x| (f64_of(x) + y).to_bits())
    }
    fn fsub_d_m(&mut self, d: Reg, a: Reg, m: Reg, off: i32) -> Flow {
        let y = self.double_at(m, off);
        self.un(d, a, |x| (f64_of(x) - y).to_bits())
    }
    fn fsub_m_d(&mut self, d: Reg, m: Reg, off: i32, b: Reg) -> Flow {
        let x = self.double_at(m, off);
        self.un(d, b, |y| (x - f64_of(y)).to_bits())
    }
    fn fmul_d_m(&mut self, d: Reg, a: Reg, m: Reg, off: i32) -> Flow {
        let y = self.double_at(m, off);
        self.un(d, a, |x| (f64_of(x) * y).to_bits())
    }
    fn fmul_add_d_m(&mut self, d: Reg, a: Reg, b: Reg, m: Reg, off: i32) -> Flow {
        let (product, c) = (f64_of(self.r(a)) * f64_of(self.r(b)), self.double_at(m, off));
        self.set(d, (product + c).to_bits())
    }
    fn fsub_m_m(&mut self, d: Reg, m: Reg, off: i32, m2: Reg, off2: i32) -> Flow {
        let (x, y) = (self.double_at(m, off), self.double_at(m2, off2));
        self.set(d, (x - y).to_bits())
    }
    fn fadd_to_m(&mut self, m: Reg, off: i32, a: Reg) -> Flow {
        let x = f64_of(self.r(a)) + self.double_at(m, off);
        self.store_double(m, off, x)
    }
    fn fsub_to_m(&mut self, m: Reg, off: i32, b: Reg) -> Flow {
        let x = self.double_at(m, off) - f64_of(self.r(b));
        self.store_double(m, off, x)
    }
    fn fmul_add_to_m(&mut self, m: Reg, off: i32, a: Reg, b: Reg) -> Flow {
        let product = f64_of(self.r(a)) * f64_of(self.r(b));
        let x = product + self.double_at(m, off);
        self.store_double(m, off, x)
    }
    fn fdot_s(&mut self, d: Reg, c: Reg, x: Reg, y: Reg, i: Reg, off: i16) -> Flow {
        let (p, q) = (self.indexed(x, i, 4, 0, off as i32), self.indexed(y, i, 4, 0, off as i32));
        // SAFETY: the program's own loads, as valid as in compiled code (`Exec`).
        let (a, b) = unsafe { (mem::load::<u32>(p), mem::load::<u32>(q)) };
        let product = f32::from_bits(a) * f32::from_bits(b);
        self.un(d, c, |acc| of_f32(product + f32_of(acc)))
    }
    fn fmul_add_d(&mut self, d: Reg, a: Reg, b: Reg, c: Reg) -> Flow {
        let product = f64_of(self.r(a)) * f64_of(self.r(b));
        self.un(d, c, |x| (product + f64_of(x)).to_bits())
    }
    fn fdiv_d(&mut self, d: Reg, a: Reg, b: Reg) -> Flow {
        self.bin_d(d, a, b, |x, y| x / y)
    }
    fn frem_d(&mut self, d: Reg, a: Reg, b: Reg) -> Flow {
        self.bin_d(d, a, b, |x, y| x % y)
    }
    fn fneg_d(&mut self, d: Reg, a: Reg) -> Flow {
        self.un(d, a, |x| x ^ (1 << 63))
    }
    fn fadd_s(&mut self, d: Reg, a: Reg, b: Reg) -> Flow {
        self.bin_s(d, a, b, |x, y| x + y)
    }
    fn fsub_s(&mut self, d: Reg, a: Reg, b: Reg) -> Flow {
        self.bin_s(d, a, b, |x, y| x - y)
    }
    fn fmul_s(&mut self, d: Reg, a: Reg, b: Reg) -> Flow {
        self.bin_s(d, a, b, |x, y| x * y)
    }
    fn fmul_add_s(&mut self, d: Reg, a: Reg, b: Reg, c: Reg) -> Flow {
        let product = f32_of(self.r(a)) * f32_of(self.r(b));
        self.un(d, c, |x| of_f32(product + f32_of(x)))
    }
    fn fdiv_s(&mut self, d: Reg, a: Reg, b: Reg) -> Flow {
        self.bin_s(d, a, b, |x, y| x / y)
    }
    fn frem_s(&mut self, d: Reg, a: Reg, b: Reg) -> Flow {
        self.bin_s(d, a, b, |x, y| x % y)
    }
    fn fneg_s(&mut self, d: Reg, a: Reg) -> Flow {
        self.un(d, a, |x| x ^ (1 << 31))
    }
    fn fcmp(&mut self, d: Reg, a: Reg, b: Reg, pred: u8, single: bool) -> Flow {
        self.bin(d, a, b, |x, y| fcmp(pred, float_of(x, single), float_of(y, single)) as u64)
    }
    fn sitofp(&mut self, d: Reg, a: Reg, sh: u8, single: bool) -> Flow {
        self.un(d, a, |x| {
            let v = sext(x, sh);
            if single { of_f32(v as f32) } else { (v as f64).to_bits() }
        })
    }
    fn uitofp(&mut self, d: Reg, a: Reg, single: bool) -> Flow {
        self.un(d, a, |v| if single { of_f32(v as f32) } else { (v as f64).to_bits() })
    }
    fn fptosi(&mut self, d: Reg, a: Reg, single: bool, mask: u64) -> Flow {
        self.un(d, a, |x| (if single { f32_of(x) as i64 } else { f64_of(x) as i64 }) as u64 & mask)
    }
    fn fptoui(&mut self, d: Reg, a: Reg, single: bool, mask: u64) -> Flow {
        self.un(d, a, |x| (if single { f32_of(x) as u64 } else { f64_of(x) as u64 }) & mask)
    }
    fn fptosi_sat(&mut self, d: Reg, a: Reg, single: bool, bits: u8) -> Flow {
        self.un(d, a, |x| fptosi_sat(float_of(x, single), bits))
    }
    fn fptoui_sat(&mut self, d: Reg, a: Reg, single: bool, bits: u8) -> Flow {
        self.un(d, a, |x| fptoui_sat(float_of(x, single), bits))
    }
    fn fpext(&mut self, d: Reg, a: Reg) -> Flow {
        self.un(d, a, |x| (f32_of(x) as f64).to_bits())
    }
    fn fptrunc(&mut self, d: Reg, a: Reg) -> Flow {
        self.un(d, a, |x| of_f32(f64_of(x) as f32))
    }
    fn sqrt_d(&mut self, d: Reg, a: Reg) -> Flow {
        self.un(d, a, |x| f64_of(x).sqrt().to_bits())
    }
    fn sqrt_s(&mut self, d: Reg, a: Reg) -> Flow {
        self.un(d, a, |x| of_f32(f32_of(x).sqrt()))
    }
    fn fabs_d(&mut self, d: Reg, a: Reg) -> Flow {
        self.un(d, a, |x| x & !(1 << 63))
    }
    fn fabs_s(&mut self, d: Reg, a: Reg) -> Flow {
        self.un(d, a, |x| x & !(1 << 31))
    }
    fn load8(&mut self, d: Reg, a: Reg, off: i32) -> Flow {
        self.load::<u8>(d, a, off)
    }
    fn load16(&mut self, d: Reg, a: Reg, off: i32) -> Flow {
        self.load::<u16>(d, a, off)
    }
    fn load32(&mut self, d: Reg, a: Reg, off: i32) -> Flow {
        self.load::<u32>(d, a, off)
    }
    fn load64(&mut self, d: Reg, a: Reg, off: i32) -> Flow {
        self.load::<u64>(d, a, off)
    }
    fn store8(&mut self, v: Reg, a: Reg, off: i32) -> Flow {
        self.store(v, a, off, |x| x as u8)
    }
    fn store16(&mut self, v: Reg, a: Reg, off: i32) -> Flow {
        self.store(v, a, off, |x| x as u16)
    }
    fn store32(&mut self, v: Reg, a: Reg, off: i32) -> Flow {
        self.store(v, a, off, |x| x as u32)
    }
    fn store64(&mut self, v: Reg, a: Reg, off: i32) -> Flow {
        self.store(v, a, off, |x| x)
    }
    fn load8_idx(&mut self, d: Reg, a: Reg, b: Reg, scale: i32, sh: u8, off: i32) -> Flow {
        self.load_at::<u8>(d, self.indexed(a, b, scale, sh, off))
    }
    fn load16_idx(&mut self, d: Reg, a: Reg, b: Reg, scale: i32, sh: u8, off: i32) -> Flow {
        self.load_at::<u16>(d, self.indexed(a, b, scale, sh, off))
    }
    fn load32_idx(&mut self, d: Reg, a: Reg, b: Reg, scale: i32, sh: u8, off: i32) -> Flow {
        self.load_at::<u32>(d, self.indexed(a, b, scale, sh, off))
    }
    fn load64_idx(&mut self, d: Reg, a: Reg, b: Reg, scale: i32, sh: u8, off: i32) -> Flow {
        self.load_at::<u64>(d, self.indexed(a, b, scale, sh, off))
    }
    fn store8_idx(&mut self, v: Reg, a: Reg, b: Reg, scale: i32, sh: u8, off: i32) -> Flow {
        self.store_at(v, self.indexed(a, b, scale, sh, off), |x| x as u8)
    }
    fn store16_idx(&mut self, v: Reg, a: Reg, b: Reg, scale: i32, sh: u8, off: i32) -> Flow {
        self.store_at(v, self.indexed(a, b, scale, sh, off), |x| x as u16)
    }
    fn store32_idx(&mut self, v: Reg, a: Reg, b: Reg, scale: i32, sh: u8, off: i32) -> Flow {
        self.store_at(v, self.indexed(a, b, scale, sh, off), |x| x as u32)
    }
    fn store64_idx(&mut self, v: Reg, a: Reg, b: Reg, scale: i32, sh: u8, off: i32) -> Flow {
        self.store_at(v, self.indexed(a, b, scale, sh, off), |x| x)
    }
    fn atomic_xchg(&mut self, d: Reg, a: Reg, v: Reg, size: u8) -> Flow {
        self.rmw(d, a, v, size, |_, new| new)
    }
    fn atomic_add(&mut self, d: Reg, a: Reg, v: Reg, size: u8) -> Flow {
        self.rmw(d, a, v, size, u64::wrapping_add)
    }
    fn frame_addr(&mut self, d: Reg, off: u32) -> Flow {
        self.set(d, self.frame + off as u64)
    }
    fn mem_move(&mut self, a: Reg, b: Reg, c: Reg) -> Flow {
        // SAFETY: the program's own `memmove`, as valid as in compiled code (`Exec`).
        unsafe { mem::copy(self.r(a), self.r(b), self.r(c)) };
        NEXT
    }
    fn mem_set(&mut self, a: Reg, b: Reg, c: Reg) -> Flow {
        // SAFETY: the program's own `memset`, as valid as in compiled code (`Exec`).
        unsafe { mem::fill(self.r(a), self.r(b) as u8, self.r(c)) };
        NEXT
    }
    fn umin(&mut self, d: Reg, a: Reg, b: Reg) -> Flow {
        self.bin(d, a, b, u64::min)
    }
    fn umax(&mut self, d: Reg, a: Reg, b: Reg) -> Flow {
        self.bin(d, a, b, u64::max)
    }
    fn smin(&mut self, d: Reg, a: Reg, b: Reg, sh: u8) -> Flow {
        self.bin(d, a, b, |x, y| if sext(x, sh) <= sext(y, sh) { x } else { y })
    }
    fn smax(&mut self, d: Reg, a: Reg, b: Reg, sh: u8) -> Flow {
        self.bin(d, a, b, |x, y| if sext(x, sh) >= sext(y, sh) { x } else { y })
    }
    fn fshl(&mut self, d: Reg, a: Reg, b: Reg, c: Reg, bits: u8) -> Flow {
        let (x, y, w) = (self.r(a), self.r(b), bits as u64);
        let mask = if w >= 64 { u64::MAX } else { (1 << w) - 1 };
        let s = self.r(c) % w;
        self.set(d, if s == 0 { x } else { ((x << s) | (y >> (w - s))) & mask })
    }
    fn fshr(&mut self, d: Reg, a: Reg, b: Reg, c: Reg, bits: u8) -> Flow {
        let (x, y, w) = (self.r(a), self.r(b), bits as u64);
        let mask = if w >= 64 { u64::MAX } else { (1 << w) - 1 };
        let s = self.r(c) % w;
        self.set(d, if s == 0 { y } else { ((y >> s) | (x << (w - s))) & mask })
    }
    fn bswap(&mut self, d: Reg, a: Reg, bits: u8) -> Flow {
        self.un(d, a, |x| x.swap_bytes() >> (64 - bits as u32))
    }
    fn ctpop(&mut self, d: Reg, a: Reg) -> Flow {
        self.un(d, a, |x| x.count_ones() as u64)
    }
    fn ctlz(&mut self, d: Reg, a: Reg, bits: u8) -> Flow {
        self.un(d, a, |x| if x == 0 { bits as u64 } else { (x.leading_zeros() - (64 - bits as u32)) as u64 })
    }
    fn cttz(&mut self, d: Reg, a: Reg, bits: u8) -> Flow {
        self.un(d, a, |x| if x == 0 { bits as u64 } else { x.trailing_zeros() as u64 })
    }
    fn overflow(&mut self, d: Reg, a: Reg, b: Reg, kind: OverflowKind, bits: u8) -> Flow {
        let (v, o) = overflow(kind, self.r(a), self.r(b), bits);
        self.regs.set(d, v);
        self.set(d + 1, o as u64)
    }
    fn jump(&mut self, t: u32) -> Flow {
        self.pc = t as usize;
        NEXT
    }
    fn move_jump(&mut self, d: Reg, a: Reg, t: u32) -> Flow {
        let _ = self.mov(d, a);
        self.jump(t)
    }
    fn move2_jump(&mut self, d: Reg, a: Reg, d2: Reg, a2: Reg, t: u32) -> Flow {
        let _ = self.mov2(d, a, d2, a2);
        self.jump(t)
    }
    fn branch(&mut self, c: Reg, t: u32, f: u32) -> Flow {
        self.branch_if(self.r(c) & 1 != 0, t, f)
    }
    fn br_eq(&mut self, a: Reg, b: Reg, t: u32, f: u32) -> Flow {
        self.branch_if(self.r(a) == self.r(b), t, f)
    }
    fn br_ne(&mut self, a: Reg, b: Reg, t: u32, f: u32) -> Flow {
        self.branch_if(self.r(a) != self.r(b), t, f)
    }
    fn br_ult(&mut self, a: Reg, b: Reg, t: u32, f: u32) -> Flow {
        self.branch_if(self.r(a) < self.r(b), t, f)
    }
    fn br_ule(&mut self, a: Reg, b: Reg, t: u32, f: u32) -> Flow {
        self.branch_if(self.r(a) <= self.r(b), t, f)
    }
    fn br_slt(&mut self, a: Reg, b: Reg, t: u32, f: u32, sh: u8) -> Flow {
        self.branch_if(sext(self.r(a), sh) < sext(self.r(b), sh), t, f)
    }
    fn br_sle(&mut self, a: Reg, b: Reg, t: u32, f: u32, sh: u8) -> Flow {
        self.branch_if(sext(self.r(a), sh) <= sext(self.r(b), sh), t, f)
    }
    fn switch(&mut self, a: Reg, table: u32) -> Flow {
        let tab = &self.func.switches[table as usize];
        let v = self.r(a);
        self.pc = tab.cases.iter().find(|c| c.0 == v).map_or(tab.default, |c| c.1) as usize;
        NEXT
    }
    // Inline, like the calls: the loop's state never escapes to a call.
    #[inline(always)]
    fn ret(&mut self, a: Reg, n: u8) -> Flow {
        let Some(caller) = self.callers.pop() else {
            for i in 0..n as usize {
                self.ret[i] = self.r(a + i as u32);
            }
            return ControlFlow::Break(Switch::Returned);
        };
        // The results, straight into the caller's registers (its window lies below
        // ours), as many as it expects (zeros past what we return).
        for i in 0..caller.nret as u32 {
            let v = if i < n as u32 { self.r(a + i) } else { 0 };
            caller.regs.set(caller.d + i, v);
        }
        self.machine.pop(caller.callee);
        self.func = caller.func;
        self.code = caller.func.code.as_slice();
        self.regs = caller.regs;
        self.frame = caller.frame;
        self.pc = caller.pc;
        ControlFlow::Break(Switch::Activation)
    }
    // The calls inline into the loop. An interpreted callee runs in this loop: its
    // caller is suspended (`callers`) until its `Ret`, so it costs no native stack.
    #[inline(always)]
    fn call(&mut self, d: Reg, id: u32, args: u32, nargs: u8, nret: u8) -> Flow {
        // SAFETY: `Machine::new` proved every called id a linkage entry.
        let link = unsafe { self.machine.linkage.get_unchecked(id as usize) };
        // SAFETY: the slot is the tiered engine's `u64`, live while the app is loaded
        // (`Linkage::slot`); other threads may replace it, hence volatile.
        let target = unsafe { (link.slot as *const u64).read_volatile() };
        if target == link.stub {
            // SAFETY: a linkage entry, so a function id (one entry per function).
            let callee = unsafe { self.machine.functions.get_unchecked(id as usize) };
            let Some(callee) = callee else { not_interpretable(id) };
            let (activation, window, frame) = self.machine.push(id, callee);
            // The callee's parameters, straight from our registers.
            let list = self.argument_list(args, nargs);
            for (i, &r) in list.iter().enumerate() {
                // SAFETY: `Machine::new` proved `nargs` the callee's parameter count,
                // which validation proved within its register count, `window`'s length.
                unsafe { window.get_unchecked(i) }.set(self.r(r));
            }
            self.callers.push(Suspended {
                func: self.func,
                regs: self.regs,
                frame: self.frame,
                pc: self.pc,
                d,
                nret,
                callee: activation,
            });
            self.func = callee;
            self.code = callee.code.as_slice();
            // SAFETY: `window` has the validated callee's register count.
            self.regs = unsafe { Regs::new(window) };
            self.frame = frame;
            self.pc = 0;
            ControlFlow::Break(Switch::Activation)
        } else {
            let mut retv = [0u64; MAX_RET];
            let mut argv = [0u64; MAX_ARGS];
            self.arguments(args, nargs, &mut argv);
            // SAFETY: `Machine::new` proved every linkage's adapter index in range.
            let adapter = unsafe { *self.machine.adapters.get_unchecked(link.adapter as usize) };
            // SAFETY: the program's own call of the code in the slot, through the
            // adapter of the callee's signature.
            unsafe { adapter(target, argv.as_ptr(), retv.as_mut_ptr()) };
            self.results(d, nret, &retv)
        }
    }
    #[inline(always)]
    fn call_native(&mut self, d: Reg, f: Reg, adapter: u32, args: u32, nargs: u8, nret: u8) -> Flow {
        let mut argv = [0u64; MAX_ARGS];
        self.arguments(args, nargs, &mut argv);
        let mut retv = [0u64; MAX_RET];
        let adapter = self.machine.adapters[adapter as usize];
        // SAFETY: the program's own call of native code, through the adapter of the
        // call's signature.
        unsafe { adapter(self.r(f), argv.as_ptr(), retv.as_mut_ptr()) };
        self.results(d, nret, &retv)
    }
    // Inline, so that the loop's state never escapes to a call (it stays in registers).
    #[inline(always)]
    fn trap(&mut self, msg: u32) -> Flow {
        trap_op(self.func, msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SwitchTable;
    use std::sync::atomic::Ordering;

    /// A native "callee" reached through the adapter: returns args[0] * 3.
    unsafe extern "C" fn triple_adapter(_f: u64, args: *const u64, ret: *mut u64) {
        // SAFETY: the machine passes MAX_ARGS/MAX_RET-sized buffers.
        unsafe { *ret = *args * 3 };
    }

    /// fib(n) over the lowered form: n < 2 ? n : fib(n-1) + fib(n-2), calling itself
    /// through function id 0's slot.
    fn fib_function() -> Function {
        // r0 = n, r1 = 2, r2 = 1, r3 = cond, r4 = n-1, r5 = fib(n-1), r6 = n-2, r7 = fib, r8 = sum
        Function {
            name: "fib".into(),
            code: vec![
                Op::Slt { d: Reg(3), a: Reg(0), b: Reg(1), sh: 0 },
                Op::Branch { c: Reg(3), t: 2, f: 3 },
                Op::Ret { a: Reg(0), n: 1 },
                Op::Sub { d: Reg(4), a: Reg(0), b: Reg(2), mask: u64::MAX },
                Op::Call { d: Reg(5), id: 0, args: 0, nargs: 1, nret: 1 },
                Op::Sub { d: Reg(6), a: Reg(0), b: Reg(1), mask: u64::MAX },
                Op::Call { d: Reg(7), id: 0, args: 1, nargs: 1, nret: 1 },
                Op::Add { d: Reg(8), a: Reg(5), b: Reg(7), mask: u64::MAX },
                Op::Ret { a: Reg(8), n: 1 },
            ],
            template: vec![0, 2, 1, 0, 0, 0, 0, 0, 0],
            nparams: 1,
            preset: 0,
            call_args: vec![Reg(4), Reg(6)],
            ..Default::default()
        }
    }

    /// A machine over `functions` whose calls all go through `slot` (interpreted while
    /// it holds `stub`), counting into `counters` (one per function: profile id = id).
    fn machine(functions: Vec<Option<Function>>, slot: &u64, stub: u64, counters: &[Counters]) -> Machine {
        let n = functions.len();
        // SAFETY: every test's counters outlive its machine's runs.
        let profiling = unsafe { Profiling::new(counters, |_| {}, || 0) };
        let (m, errors) = Machine::new(
            functions,
            vec![Linkage { slot: slot as *const u64 as u64, stub, adapter: 0 }; n],
            (0..n as u32).collect(),
            vec![triple_adapter],
            profiling,
        );
        assert!(errors.is_empty(), "{errors:?}");
        m
    }

    #[test]
    fn recursive_fib_with_exact_call_counts() {
        let slot = 0x1000u64; // holds the stub address: interpret
        let counters = [Counters::default()];
        let m = machine(vec![Some(fib_function())], &slot, 0x1000, &counters);
        let mut ret = [0u64; MAX_RET];
        // SAFETY: a validated function without memory accesses.
        unsafe { m.call(0, [20u64].as_ptr(), ret.as_mut_ptr()) };
        assert_eq!(ret[0], 6765);
        // fib(20) makes 2 fib(21) - 1 calls, each counted once.
        assert_eq!(counters[0].calls.load(Ordering::Relaxed), 21891);
    }

    #[test]
    fn a_slot_that_no_longer_holds_the_stub_calls_native_code() {
        // The slot holds "native code": the call goes through the adapter (x * 3).
        let slot = 0x2000u64;
        let caller = Function {
            name: "caller".into(),
            code: vec![Op::Call { d: Reg(1), id: 1, args: 0, nargs: 1, nret: 1 }, Op::Ret { a: Reg(1), n: 1 }],
            template: vec![0, 0],
            nparams: 1,
            preset: 0,
            call_args: vec![Reg(0)],
            ..Default::default()
        };
        let m = machine(vec![Some(caller), Some(fib_function())], &slot, 0x1000, &[]);
        let mut ret = [0u64; MAX_RET];
        // SAFETY: as above.
        unsafe { m.call(0, [14u64].as_ptr(), ret.as_mut_ptr()) };
        assert_eq!(ret[0], 42);
    }

    #[test]
    fn loops_memory_and_switch() {
        // Sum of a[i] for i in 0..n (i32 elements), then switch on the sum's low bit.
        // r0 = ptr, r1 = n, r2 = i, r3 = acc, r4 = 1, r5 = cond, r6 = p, r7 = x, r8 = 4,
        // r9 = low bit, r10 = 100, r11 = result
        let f = Function {
            name: "sum".into(),
            code: vec![
                Op::Ult { d: Reg(5), a: Reg(2), b: Reg(1) },                        // 0
                Op::Branch { c: Reg(5), t: 2, f: 7 },                               // 1
                Op::AddScaled { d: Reg(6), a: Reg(0), b: Reg(2), scale: 4, sh: 0 }, // 2
                Op::Load32 { d: Reg(7), a: Reg(6), off: 0 },                        // 3
                Op::Add { d: Reg(3), a: Reg(3), b: Reg(7), mask: 0xffff_ffff },     // 4
                Op::Add { d: Reg(2), a: Reg(2), b: Reg(4), mask: u64::MAX },        // 5
                Op::Jump { t: 0 },                                                  // 6
                Op::And { d: Reg(9), a: Reg(3), b: Reg(4) },                        // 7
                Op::Switch { a: Reg(9), table: 0 },                                 // 8
                Op::Add { d: Reg(11), a: Reg(3), b: Reg(10), mask: 0xffff_ffff },   // 9
                Op::Ret { a: Reg(11), n: 1 },                                       // 10
                Op::Ret { a: Reg(3), n: 1 },                                        // 11
            ],
            template: vec![0, 0, 0, 0, 1, 0, 0, 0, 4, 0, 100, 0],
            nparams: 2,
            preset: 0,
            switches: vec![SwitchTable { cases: vec![(1, 9)], default: 11 }],
            ..Default::default()
        };
        // The same function with its AddScaled fused into the load: the jump back to
        // 0 and the switch's targets after it are renumbered.
        let mut fused = f.clone();
        fused.fuse_single_uses();
        assert_eq!(fused.code.len(), f.code.len() - 1);
        assert!(matches!(fused.code[2], Op::Load32Idx { .. }));
        assert_eq!(fused.switches[0], SwitchTable { cases: vec![(1, 8)], default: 10 });
        for f in [f, fused] {
            sum_loop_and_switch(f);
        }
    }

    fn sum_loop_and_switch(f: Function) {
        let data: [u32; 5] = [1, 2, 3, 4, 0xffff_fff6];
        let slot = 0u64;
        let m = machine(vec![Some(f)], &slot, 1, &[]);
        let mut ret = [0u64; MAX_RET];
        // SAFETY: the function reads `data` within bounds.
        unsafe { m.call(0, [data.as_ptr() as u64, 5].as_ptr(), ret.as_mut_ptr()) };
        // 10 + 0xffff_fff6 wraps to 0 (i32): even, the default case.
        assert_eq!(ret[0], 0);
        // SAFETY: as above.
        unsafe { m.call(0, [data.as_ptr() as u64, 3].as_ptr(), ret.as_mut_ptr()) };
        assert_eq!(ret[0], 6, "1 + 2 + 3 is even: the default case");
        // SAFETY: as above.
        unsafe { m.call(0, [data.as_ptr() as u64, 1].as_ptr(), ret.as_mut_ptr()) };
        assert_eq!(ret[0], 101, "1 is odd: the case adds 100");
    }

    #[test]
    fn fused_edge_moves_and_threaded_jumps_run_a_loop() {
        // a, b = 0, 1; for i in 0..n { a, b = b, a + b }; return a. The loop's latch
        // jumps to the edge block, whose two phi moves and jump are one op, which
        // jump threading copies into the latch.
        // r0 = n, r1 = a, r2 = b, r3 = i, r4 = a + b, r5 = 1
        let latch = 4;
        let mut code = vec![
            Op::BrUlt { a: Reg(3), b: Reg(0), t: 2, f: 1 },              // 0
            Op::Ret { a: Reg(1), n: 1 },                                 // 1
            Op::Add { d: Reg(4), a: Reg(1), b: Reg(2), mask: u64::MAX }, // 2
            Op::Add { d: Reg(3), a: Reg(3), b: Reg(5), mask: u64::MAX }, // 3
            Op::Jump { t: 5 },                                           // 4: to the edge
        ];
        code.extend(crate::edge_ops(&[(Reg(1), Reg(2)), (Reg(2), Reg(4))], 0)); // 5
        let mut f = Function {
            name: "fib_iter".into(),
            code,
            template: vec![0, 0, 1, 0, 0, 1],
            nparams: 1,
            preset: 0,
            ..Default::default()
        };
        f.thread_jumps();
        assert_eq!(f.code[latch], Op::Move2Jump { d: Reg(1), a: Reg(2), d2: Reg(2), a2: Reg(4), t: 0 });
        let slot = 0u64;
        let m = machine(vec![Some(f)], &slot, 1, &[]);
        let mut ret = [0u64; MAX_RET];
        for (n, fib) in [(0, 0), (1, 1), (10, 55), (50, 12_586_269_025)] {
            // SAFETY: a validated function without memory accesses.
            unsafe { m.call(0, [n].as_ptr(), ret.as_mut_ptr()) };
            assert_eq!(ret[0], fib, "fib({n})");
        }
    }

    #[test]
    fn validation_rejects_out_of_range_registers_and_targets() {
        let mut f = fib_function();
        f.code[1] = Op::Branch { c: Reg(3), t: 99, f: 3 };
        assert!(f.validate().unwrap_err().contains("jump target"));
        let mut f = fib_function();
        f.code[0] = Op::Slt { d: Reg(300), a: Reg(0), b: Reg(1), sh: 0 };
        assert!(f.validate().unwrap_err().contains("register"));
        let mut f = fib_function();
        f.code.pop();
        f.code.pop();
        assert!(f.validate().unwrap_err().contains("terminator"));
    }

    #[test]
    fn integer_semantics() {
        assert_eq!(fptosi_sat(1e20, 32), 0x7fff_ffff);
        assert_eq!(fptosi_sat(-1e20, 32), 0x8000_0000);
        assert_eq!(fptosi_sat(f64::NAN, 64), 0);
        assert_eq!(fptosi_sat(-3.7, 64), (-3i64) as u64);
        assert_eq!(fptoui_sat(300.0, 8), 255);
        assert_eq!(fptoui_sat(-5.0, 8), 0);
        assert_eq!(overflow(OverflowKind::UAdd, 0xff, 1, 8), (0, true));
        assert_eq!(overflow(OverflowKind::SAdd, 0x7f, 1, 8), (0x80, true));
        assert_eq!(overflow(OverflowKind::USub, 1, 2, 64), (u64::MAX, true));
        assert_eq!(overflow(OverflowKind::UMul, u64::MAX, 2, 64), (u64::MAX - 1, true));
        assert_eq!(overflow(OverflowKind::SMul, (-2i64) as u64, 3, 64), ((-6i64) as u64, false));
        assert!(fcmp(12, f64::NAN, 1.0) && !fcmp(4, f64::NAN, 1.0));
    }
}
