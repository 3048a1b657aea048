//! The interpreter's lowered form and its execution loop.
//!
//! Plain Rust without LLVM, so the host unit tests (`cargo test -p kernel`, LLVM off)
//! exercise it on hand-built programs. [`super::lower`] produces these programs from
//! LLVM IR.
//!
//! A function is a flat `Vec<Op>` over numbered 64-bit registers. Registers `0..nparams`
//! are the arguments; constants live in registers too, preset by the function's
//! register template (copied into each new frame), so every operand is a register.
//! Integers are kept zero-extended to their width (ops that produce an `iN` mask their
//! result; signed ops sign-extend their inputs first), `float` is its bit pattern in
//! the low 32 bits, `double` and pointers their 64 bits. A value of struct type (the
//! `{iN, i1}` of `*.with.overflow`, Rust's `{i64, i64}` pairs) occupies consecutive
//! registers, one per field.

use std::cell::{Cell, UnsafeCell};

/// A register index into the current frame.
pub type Reg = u32;

/// A native function the interpreter calls through a JIT-compiled adapter:
/// `adapter(function, args, ret)` loads the arguments from `args` (one `u64` each, in
/// the representation above), calls `function` with the callee's C signature and
/// stores its result (one `u64` per field) at `ret`.
pub type Adapter = unsafe extern "C" fn(function: u64, args: *const u64, ret: *mut u64);

/// Most arguments a call may pass (checked when lowering).
pub const MAX_ARGS: usize = 16;
/// Most registers a returned value may occupy (checked when lowering).
pub const MAX_RET: usize = 4;

/// One operation of the lowered form. `d` is the destination register; `a`, `b`, `c`
/// are operands; `mask` keeps a result to its integer width (`u64::MAX` for 64 bits);
/// `sh` is `64 - width`, for sign-extending an operand (`((x << sh) as i64) >> sh`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[allow(missing_docs)] // the variants are named after the LLVM instructions they execute
pub enum Op {
    /// `d = a`.
    Move {
        d: Reg,
        a: Reg,
    },
    Add {
        d: Reg,
        a: Reg,
        b: Reg,
        mask: u64,
    },
    Sub {
        d: Reg,
        a: Reg,
        b: Reg,
        mask: u64,
    },
    Mul {
        d: Reg,
        a: Reg,
        b: Reg,
        mask: u64,
    },
    UDiv {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    URem {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    SDiv {
        d: Reg,
        a: Reg,
        b: Reg,
        sh: u8,
        mask: u64,
    },
    SRem {
        d: Reg,
        a: Reg,
        b: Reg,
        sh: u8,
        mask: u64,
    },
    Shl {
        d: Reg,
        a: Reg,
        b: Reg,
        mask: u64,
    },
    LShr {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    AShr {
        d: Reg,
        a: Reg,
        b: Reg,
        sh: u8,
        mask: u64,
    },
    And {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    Or {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    Xor {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    /// `d = a + imm` (a GEP with constant offset).
    AddImm {
        d: Reg,
        a: Reg,
        imm: u64,
    },
    /// `d = a + sext(b) * scale` (a GEP's variable index; `sh` sign-extends `b`).
    AddScaled {
        d: Reg,
        a: Reg,
        b: Reg,
        scale: i64,
        sh: u8,
    },
    /// `d = a & mask` (`trunc`).
    Trunc {
        d: Reg,
        a: Reg,
        mask: u64,
    },
    /// `d = sext(a) & mask`.
    SExt {
        d: Reg,
        a: Reg,
        sh: u8,
        mask: u64,
    },
    Eq {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    Ne {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    Ult {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    Ule {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    Slt {
        d: Reg,
        a: Reg,
        b: Reg,
        sh: u8,
    },
    Sle {
        d: Reg,
        a: Reg,
        b: Reg,
        sh: u8,
    },
    /// `d = c & 1 ? a : b`.
    Select {
        d: Reg,
        c: Reg,
        a: Reg,
        b: Reg,
    },
    FAddD {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    FSubD {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    FMulD {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    FDivD {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    FRemD {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    FNegD {
        d: Reg,
        a: Reg,
    },
    FAddS {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    FSubS {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    FMulS {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    FDivS {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    FRemS {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    FNegS {
        d: Reg,
        a: Reg,
    },
    /// `fcmp` with LLVM's `LLVMRealPredicate` numbering; `f32` operands when `single`.
    FCmp {
        d: Reg,
        a: Reg,
        b: Reg,
        pred: u8,
        single: bool,
    },
    /// Signed integer (sign-extended with `sh`) to `f32` (`single`) or `f64`.
    SIToFP {
        d: Reg,
        a: Reg,
        sh: u8,
        single: bool,
    },
    UIToFP {
        d: Reg,
        a: Reg,
        single: bool,
    },
    /// Float (`f32` when `single`) to integer, masked to the result width.
    FPToSI {
        d: Reg,
        a: Reg,
        single: bool,
        mask: u64,
    },
    FPToUI {
        d: Reg,
        a: Reg,
        single: bool,
        mask: u64,
    },
    /// `llvm.fptosi.sat` / `llvm.fptoui.sat` to `bits` bits.
    FPToSISat {
        d: Reg,
        a: Reg,
        single: bool,
        bits: u8,
    },
    FPToUISat {
        d: Reg,
        a: Reg,
        single: bool,
        bits: u8,
    },
    FPExt {
        d: Reg,
        a: Reg,
    },
    FPTrunc {
        d: Reg,
        a: Reg,
    },
    SqrtD {
        d: Reg,
        a: Reg,
    },
    SqrtS {
        d: Reg,
        a: Reg,
    },
    FAbsD {
        d: Reg,
        a: Reg,
    },
    FAbsS {
        d: Reg,
        a: Reg,
    },
    /// Loads of 1, 2, 4 and 8 bytes from `a + off` (zero-extended).
    Load8 {
        d: Reg,
        a: Reg,
        off: i32,
    },
    Load16 {
        d: Reg,
        a: Reg,
        off: i32,
    },
    Load32 {
        d: Reg,
        a: Reg,
        off: i32,
    },
    Load64 {
        d: Reg,
        a: Reg,
        off: i32,
    },
    /// Stores of register `v`'s low 1, 2, 4, 8 bytes at `a + off`.
    Store8 {
        v: Reg,
        a: Reg,
        off: i32,
    },
    Store16 {
        v: Reg,
        a: Reg,
        off: i32,
    },
    Store32 {
        v: Reg,
        a: Reg,
        off: i32,
    },
    Store64 {
        v: Reg,
        a: Reg,
        off: i32,
    },
    /// `atomicrmw xchg` (one thread: a load and a store) of `size` bytes.
    AtomicXchg {
        d: Reg,
        a: Reg,
        v: Reg,
        size: u8,
    },
    /// `atomicrmw add`.
    AtomicAdd {
        d: Reg,
        a: Reg,
        v: Reg,
        size: u8,
    },
    /// `d = frame's alloca area + off`.
    FrameAddr {
        d: Reg,
        off: u32,
    },
    /// `memmove(a, b, c)` (also `memcpy`: same result when they do not overlap).
    MemMove {
        a: Reg,
        b: Reg,
        c: Reg,
    },
    /// `memset(a, b as u8, c)`.
    MemSet {
        a: Reg,
        b: Reg,
        c: Reg,
    },
    UMin {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    UMax {
        d: Reg,
        a: Reg,
        b: Reg,
    },
    SMin {
        d: Reg,
        a: Reg,
        b: Reg,
        sh: u8,
    },
    SMax {
        d: Reg,
        a: Reg,
        b: Reg,
        sh: u8,
    },
    /// `llvm.fshl` / `llvm.fshr` of width `bits`.
    Fshl {
        d: Reg,
        a: Reg,
        b: Reg,
        c: Reg,
        bits: u8,
    },
    Fshr {
        d: Reg,
        a: Reg,
        b: Reg,
        c: Reg,
        bits: u8,
    },
    Bswap {
        d: Reg,
        a: Reg,
        bits: u8,
    },
    Ctpop {
        d: Reg,
        a: Reg,
    },
    Ctlz {
        d: Reg,
        a: Reg,
        bits: u8,
    },
    Cttz {
        d: Reg,
        a: Reg,
        bits: u8,
    },
    /// `*.with.overflow`: `d` = the result, `d + 1` = the overflow bit.
    Overflow {
        d: Reg,
        a: Reg,
        b: Reg,
        kind: OverflowKind,
        bits: u8,
    },
    /// Unconditional jump to op index `t`.
    Jump {
        t: u32,
    },
    /// `if c & 1 { goto t } else { goto f }`.
    Branch {
        c: Reg,
        t: u32,
        f: u32,
    },
    /// Fused `icmp` + `br`: `if a <cmp> b { goto t } else { goto f }`.
    BrEq {
        a: Reg,
        b: Reg,
        t: u32,
        f: u32,
    },
    BrNe {
        a: Reg,
        b: Reg,
        t: u32,
        f: u32,
    },
    BrUlt {
        a: Reg,
        b: Reg,
        t: u32,
        f: u32,
    },
    BrUle {
        a: Reg,
        b: Reg,
        t: u32,
        f: u32,
    },
    BrSlt {
        a: Reg,
        b: Reg,
        t: u32,
        f: u32,
        sh: u8,
    },
    BrSle {
        a: Reg,
        b: Reg,
        t: u32,
        f: u32,
        sh: u8,
    },
    /// `switch a` with the function's switch table `table`.
    Switch {
        a: Reg,
        table: u32,
    },
    /// Return `n` registers from `a` (0: `ret void`).
    Ret {
        a: Reg,
        n: u8,
    },
    /// Call function `id` of the machine through its slot (interpreted while the slot
    /// holds its tier-0 stub, natively otherwise); arguments are `args[args..args+nargs]`
    /// of the function, the result goes to `d..d+nret`.
    Call {
        d: Reg,
        id: u32,
        args: u32,
        nargs: u8,
        nret: u8,
    },
    /// Call native code at the address in register `f` through adapter `adapter`.
    CallNative {
        d: Reg,
        f: Reg,
        adapter: u32,
        args: u32,
        nargs: u8,
        nret: u8,
    },
    /// Executing this is a trap (`unreachable`, `llvm.trap`): message `msg`.
    Trap {
        msg: u32,
    },
}

/// The arithmetic of a `*.with.overflow` intrinsic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverflowKind {
    /// `uadd`.
    UAdd,
    /// `sadd`.
    SAdd,
    /// `usub`.
    USub,
    /// `ssub`.
    SSub,
    /// `umul`.
    UMul,
    /// `smul`.
    SMul,
}

/// A `switch`'s cases: values (zero-extended) and op indices, and the default target.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SwitchTable {
    /// `(value, target)` pairs.
    pub cases: Vec<(u64, u32)>,
    /// Where other values go.
    pub default: u32,
}

/// One lowered function.
#[derive(Clone, Debug, Default)]
pub struct Function {
    /// Its (unique) name, for messages.
    pub name: String,
    /// The ops; execution starts at index 0.
    pub code: Vec<Op>,
    /// The initial register file: constants preset, everything else 0. Its length is
    /// the frame's register count.
    pub template: Vec<u64>,
    /// Number of argument registers (`0..nparams`).
    pub nparams: u32,
    /// Bytes of the frame's static allocas.
    pub frame_bytes: u32,
    /// Argument registers of the calls, referenced by `Call::args`.
    pub call_args: Vec<Reg>,
    /// Switch tables, referenced by `Switch::table`.
    pub switches: Vec<SwitchTable>,
    /// Trap messages, referenced by `Trap::msg`.
    pub traps: Vec<String>,
}

impl Function {
    /// Checks that every register, jump target and table index is in range, so the
    /// execution loop can index without bounds checks.
    pub fn validate(&self) -> Result<(), String> {
        let nregs = self.template.len() as u64;
        let ncode = self.code.len() as u64;
        if (self.nparams as u64) > nregs {
            return Err(format!("{}: {} parameters, {} registers", self.name, self.nparams, nregs));
        }
        for (i, op) in self.code.iter().enumerate() {
            let bad = |what: &str| Err(format!("{}: op {i} ({op:?}): {what} out of range", self.name));
            let (regs, targets, calls): (Vec<(Reg, u64)>, Vec<u32>, Option<(u32, u8)>) = match *op {
                Op::Move { d, a }
                | Op::Trunc { d, a, .. }
                | Op::SExt { d, a, .. }
                | Op::FNegD { d, a }
                | Op::FNegS { d, a }
                | Op::SIToFP { d, a, .. }
                | Op::UIToFP { d, a, .. }
                | Op::FPToSI { d, a, .. }
                | Op::FPToUI { d, a, .. }
                | Op::FPToSISat { d, a, .. }
                | Op::FPToUISat { d, a, .. }
                | Op::FPExt { d, a }
                | Op::FPTrunc { d, a }
                | Op::SqrtD { d, a }
                | Op::SqrtS { d, a }
                | Op::FAbsD { d, a }
                | Op::FAbsS { d, a }
                | Op::Load8 { d, a, .. }
                | Op::Load16 { d, a, .. }
                | Op::Load32 { d, a, .. }
                | Op::Load64 { d, a, .. }
                | Op::AddImm { d, a, .. }
                | Op::Bswap { d, a, .. }
                | Op::Ctpop { d, a }
                | Op::Ctlz { d, a, .. }
                | Op::Cttz { d, a, .. } => (vec![(d, 1), (a, 1)], vec![], None),
                Op::Add { d, a, b, .. }
                | Op::Sub { d, a, b, .. }
                | Op::Mul { d, a, b, .. }
                | Op::UDiv { d, a, b }
                | Op::URem { d, a, b }
                | Op::SDiv { d, a, b, .. }
                | Op::SRem { d, a, b, .. }
                | Op::Shl { d, a, b, .. }
                | Op::LShr { d, a, b }
                | Op::AShr { d, a, b, .. }
                | Op::And { d, a, b }
                | Op::Or { d, a, b }
                | Op::Xor { d, a, b }
                | Op::AddScaled { d, a, b, .. }
                | Op::Eq { d, a, b }
                | Op::Ne { d, a, b }
                | Op::Ult { d, a, b }
                | Op::Ule { d, a, b }
                | Op::Slt { d, a, b, .. }
                | Op::Sle { d, a, b, .. }
                | Op::FAddD { d, a, b }
                | Op::FSubD { d, a, b }
                | Op::FMulD { d, a, b }
                | Op::FDivD { d, a, b }
                | Op::FRemD { d, a, b }
                | Op::FAddS { d, a, b }
                | Op::FSubS { d, a, b }
                | Op::FMulS { d, a, b }
                | Op::FDivS { d, a, b }
                | Op::FRemS { d, a, b }
                | Op::FCmp { d, a, b, .. }
                | Op::UMin { d, a, b }
                | Op::UMax { d, a, b }
                | Op::SMin { d, a, b, .. }
                | Op::SMax { d, a, b, .. } => (vec![(d, 1), (a, 1), (b, 1)], vec![], None),
                Op::Overflow { d, a, b, .. } => (vec![(d, 2), (a, 1), (b, 1)], vec![], None),
                Op::AtomicXchg { d, a, v, .. } | Op::AtomicAdd { d, a, v, .. } => {
                    (vec![(d, 1), (a, 1), (v, 1)], vec![], None)
                }
                Op::Select { d, c, a, b } | Op::Fshl { d, a, b, c, .. } | Op::Fshr { d, a, b, c, .. } => {
                    (vec![(d, 1), (a, 1), (b, 1), (c, 1)], vec![], None)
                }
                Op::Store8 { v, a, .. }
                | Op::Store16 { v, a, .. }
                | Op::Store32 { v, a, .. }
                | Op::Store64 { v, a, .. } => (vec![(v, 1), (a, 1)], vec![], None),
                Op::FrameAddr { d, off } => {
                    if off > self.frame_bytes {
                        return bad("frame offset");
                    }
                    (vec![(d, 1)], vec![], None)
                }
                Op::MemMove { a, b, c } | Op::MemSet { a, b, c } => (vec![(a, 1), (b, 1), (c, 1)], vec![], None),
                Op::Jump { t } => (vec![], vec![t], None),
                Op::Branch { c, t, f } => (vec![(c, 1)], vec![t, f], None),
                Op::BrEq { a, b, t, f }
                | Op::BrNe { a, b, t, f }
                | Op::BrUlt { a, b, t, f }
                | Op::BrUle { a, b, t, f }
                | Op::BrSlt { a, b, t, f, .. }
                | Op::BrSle { a, b, t, f, .. } => (vec![(a, 1), (b, 1)], vec![t, f], None),
                Op::Switch { a, table } => {
                    let Some(tab) = self.switches.get(table as usize) else { return bad("switch table") };
                    let mut t: Vec<u32> = tab.cases.iter().map(|c| c.1).collect();
                    t.push(tab.default);
                    (vec![(a, 1)], t, None)
                }
                Op::Ret { a, n } => {
                    if n as usize > MAX_RET {
                        return bad("returned registers");
                    }
                    (vec![(a, n as u64)], vec![], None)
                }
                Op::Call { d, args, nargs, nret, .. } => (vec![(d, nret as u64)], vec![], Some((args, nargs))),
                Op::CallNative { d, f, args, nargs, nret, .. } => {
                    (vec![(d, nret as u64), (f, 1)], vec![], Some((args, nargs)))
                }
                Op::Trap { msg } => {
                    if msg as usize >= self.traps.len() {
                        return bad("trap message");
                    }
                    (vec![], vec![], None)
                }
            };
            if regs.iter().any(|&(r, n)| r as u64 + n > nregs) {
                return bad("register");
            }
            if targets.iter().any(|&t| t as u64 >= ncode) {
                return bad("jump target");
            }
            if let Some((args, nargs)) = calls {
                if nargs as usize > MAX_ARGS {
                    return bad("argument count");
                }
                let Some(list) = self.call_args.get(args as usize..args as usize + nargs as usize) else {
                    return bad("argument list");
                };
                if list.iter().any(|&r| r as u64 >= nregs) {
                    return bad("argument register");
                }
            }
            if let Op::Call { nret, .. } | Op::CallNative { nret, .. } = *op
                && nret as usize > MAX_RET
            {
                return bad("returned registers");
            }
        }
        if !matches!(
            self.code.last(),
            Some(
                Op::Jump { .. }
                    | Op::Ret { .. }
                    | Op::Trap { .. }
                    | Op::Switch { .. }
                    | Op::Branch { .. }
                    | Op::BrEq { .. }
                    | Op::BrNe { .. }
                    | Op::BrUlt { .. }
                    | Op::BrUle { .. }
                    | Op::BrSlt { .. }
                    | Op::BrSle { .. }
            )
        ) {
            return Err(format!("{}: the code does not end in a terminator", self.name));
        }
        Ok(())
    }
}

/// Profiling hooks called on every interpreted activation (the tiered engine's
/// `bf_prof_enter`/`bf_prof_exit`, with the function's profile id).
#[derive(Clone, Copy)]
pub struct Hooks {
    /// Called on entry.
    pub enter: fn(u32),
    /// Called before returning.
    pub exit: fn(u32),
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
/// Most nested interpreted activations. Each takes ~420 bytes of the native stack
/// (`run` and `call` frames), so 10,000 stay within half of the 8 MiB program stack;
/// deeper recursion is a trap with a message rather than a stack overflow.
pub const MAX_DEPTH: u32 = 10_000;

/// The interpreter: lowered functions, how to reach them, and its two stacks.
pub struct Machine {
    /// Lowered functions by id (`None`: not interpretable, only native code exists).
    pub functions: Vec<Option<Function>>,
    /// Slot, stub and adapter per function id.
    pub linkage: Vec<Linkage>,
    /// Profile id per function id.
    pub prof_ids: Vec<u32>,
    /// Native-call adapters, referenced by [`Linkage::adapter`] and `CallNative`.
    pub adapters: Vec<Adapter>,
    /// The profiling hooks.
    pub hooks: Hooks,
    regs: UnsafeCell<Box<[u64]>>,
    reg_sp: Cell<usize>,
    mem: UnsafeCell<Box<[u128]>>,
    mem_sp: Cell<usize>,
    depth: Cell<u32>,
}

/// Stops the machine on an interpreted trap: the message, then `ud2`, exactly like a
/// trap in compiled code (the kernel's exception report on bare metal, SIGILL as a
/// Linux program).
#[cold]
fn trap(why: &str) -> ! {
    println!("interp: trap: {why}");
    let _ = std::io::Write::flush(&mut std::io::stdout());
    // SAFETY: `ud2` raises #UD by design; nothing after it runs.
    unsafe { core::arch::asm!("ud2", options(noreturn)) }
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
        hooks: Hooks,
    ) -> (Machine, Vec<String>) {
        let mut errors = Vec::new();
        for f in functions.iter_mut() {
            if let Some(func) = f
                && let Err(e) = func.validate()
            {
                errors.push(e);
                *f = None;
            }
        }
        // Calls name function ids and adapters: those must exist too.
        let n = functions.len();
        for f in functions.iter_mut() {
            let Some(func) = f else { continue };
            let bad = func.code.iter().any(|op| match *op {
                Op::Call { id, .. } => id as usize >= n || linkage[id as usize].adapter as usize >= adapters.len(),
                Op::CallNative { adapter, .. } => adapter as usize >= adapters.len(),
                _ => false,
            });
            if bad {
                errors.push(format!("{}: a call names an unknown function or adapter", func.name));
                *f = None;
            }
        }
        let machine = Machine {
            functions,
            linkage,
            prof_ids,
            adapters,
            hooks,
            regs: UnsafeCell::new(vec![0u64; REG_STACK].into_boxed_slice()),
            reg_sp: Cell::new(0),
            mem: UnsafeCell::new(vec![0u128; MEM_STACK].into_boxed_slice()),
            mem_sp: Cell::new(0),
            depth: Cell::new(0),
        };
        (machine, errors)
    }

    /// Interprets function `id` with `args` (one `u64` per parameter), writing its
    /// result registers to `ret` (room for [`MAX_RET`]).
    ///
    /// # Safety
    /// `id` must name an interpretable function, `args` must hold its parameter count,
    /// and the function's memory accesses and native calls must be valid (they run
    /// exactly as the compiled code would).
    pub unsafe fn call(&self, id: u32, args: *const u64, ret: *mut u64) {
        let Some(Some(f)) = self.functions.get(id as usize) else {
            trap(&format!("function {id} is not interpretable"));
        };
        let prof = self.prof_ids[id as usize];
        let depth = self.depth.get();
        if depth >= MAX_DEPTH {
            trap(&format!("interpreter call depth limit ({MAX_DEPTH}) reached calling {}", f.name));
        }
        self.depth.set(depth + 1);
        (self.hooks.enter)(prof);
        let base = self.reg_sp.get();
        let nregs = f.template.len();
        let mem_base = self.mem_sp.get();
        let mem_units = (f.frame_bytes as usize).div_ceil(16);
        // SAFETY: one thread; frames are strictly nested (LIFO), so the region
        // `base..base+nregs` belongs to this activation alone until it returns.
        unsafe {
            let regs_all = &mut *self.regs.get();
            let mem_all = &mut *self.mem.get();
            if base + nregs > regs_all.len() {
                trap(&format!("register stack overflow calling {}", f.name));
            }
            if mem_base + mem_units > mem_all.len() {
                trap(&format!("alloca stack overflow calling {}", f.name));
            }
            let regs = regs_all.as_mut_ptr().add(base);
            std::ptr::copy_nonoverlapping(f.template.as_ptr(), regs, nregs);
            std::ptr::copy_nonoverlapping(args, regs, f.nparams as usize);
            self.reg_sp.set(base + nregs);
            self.mem_sp.set(mem_base + mem_units);
            let frame = mem_all.as_mut_ptr().add(mem_base) as u64;
            self.run(f, regs, frame, ret);
        }
        self.reg_sp.set(base);
        self.mem_sp.set(mem_base);
        self.depth.set(depth);
        (self.hooks.exit)(prof);
    }

    /// The execution loop.
    ///
    /// # Safety
    /// As [`Machine::call`]; `regs` is the frame (validated register indices), `frame`
    /// its alloca area.
    #[inline(never)]
    unsafe fn run(&self, f: &Function, regs: *mut u64, frame: u64, ret: *mut u64) {
        // SAFETY (whole body): `Function::validate` checked every register index, jump
        // target and table index against this function's sizes; memory accesses are
        // the program's own, as in compiled code.
        unsafe {
            macro_rules! r {
                ($i:expr) => {
                    *regs.add($i as usize)
                };
            }
            let code = f.code.as_ptr();
            let mut pc = 0usize;
            loop {
                let op = *code.add(pc);
                pc += 1;
                match op {
                    Op::Move { d, a } => r!(d) = r!(a),
                    Op::Add { d, a, b, mask } => r!(d) = r!(a).wrapping_add(r!(b)) & mask,
                    Op::Sub { d, a, b, mask } => r!(d) = r!(a).wrapping_sub(r!(b)) & mask,
                    Op::Mul { d, a, b, mask } => r!(d) = r!(a).wrapping_mul(r!(b)) & mask,
                    Op::UDiv { d, a, b } => {
                        let y = r!(b);
                        if y == 0 {
                            trap(&format!("division by zero in {}", f.name));
                        }
                        r!(d) = r!(a) / y;
                    }
                    Op::URem { d, a, b } => {
                        let y = r!(b);
                        if y == 0 {
                            trap(&format!("division by zero in {}", f.name));
                        }
                        r!(d) = r!(a) % y;
                    }
                    Op::SDiv { d, a, b, sh, mask } => {
                        let y = sext(r!(b), sh);
                        if y == 0 {
                            trap(&format!("division by zero in {}", f.name));
                        }
                        r!(d) = (sext(r!(a), sh).wrapping_div(y) as u64) & mask;
                    }
                    Op::SRem { d, a, b, sh, mask } => {
                        let y = sext(r!(b), sh);
                        if y == 0 {
                            trap(&format!("division by zero in {}", f.name));
                        }
                        r!(d) = (sext(r!(a), sh).wrapping_rem(y) as u64) & mask;
                    }
                    Op::Shl { d, a, b, mask } => r!(d) = r!(a).wrapping_shl(r!(b) as u32) & mask,
                    Op::LShr { d, a, b } => r!(d) = r!(a).wrapping_shr(r!(b) as u32),
                    Op::AShr { d, a, b, sh, mask } => {
                        r!(d) = (sext(r!(a), sh).wrapping_shr(r!(b) as u32) as u64) & mask
                    }
                    Op::And { d, a, b } => r!(d) = r!(a) & r!(b),
                    Op::Or { d, a, b } => r!(d) = r!(a) | r!(b),
                    Op::Xor { d, a, b } => r!(d) = r!(a) ^ r!(b),
                    Op::AddImm { d, a, imm } => r!(d) = r!(a).wrapping_add(imm),
                    Op::AddScaled { d, a, b, scale, sh } => {
                        r!(d) = r!(a).wrapping_add(sext(r!(b), sh).wrapping_mul(scale) as u64)
                    }
                    Op::Trunc { d, a, mask } => r!(d) = r!(a) & mask,
                    Op::SExt { d, a, sh, mask } => r!(d) = sext(r!(a), sh) as u64 & mask,
                    Op::Eq { d, a, b } => r!(d) = (r!(a) == r!(b)) as u64,
                    Op::Ne { d, a, b } => r!(d) = (r!(a) != r!(b)) as u64,
                    Op::Ult { d, a, b } => r!(d) = (r!(a) < r!(b)) as u64,
                    Op::Ule { d, a, b } => r!(d) = (r!(a) <= r!(b)) as u64,
                    Op::Slt { d, a, b, sh } => r!(d) = (sext(r!(a), sh) < sext(r!(b), sh)) as u64,
                    Op::Sle { d, a, b, sh } => r!(d) = (sext(r!(a), sh) <= sext(r!(b), sh)) as u64,
                    Op::Select { d, c, a, b } => r!(d) = if r!(c) & 1 != 0 { r!(a) } else { r!(b) },
                    Op::FAddD { d, a, b } => r!(d) = (f64::from_bits(r!(a)) + f64::from_bits(r!(b))).to_bits(),
                    Op::FSubD { d, a, b } => r!(d) = (f64::from_bits(r!(a)) - f64::from_bits(r!(b))).to_bits(),
                    Op::FMulD { d, a, b } => r!(d) = (f64::from_bits(r!(a)) * f64::from_bits(r!(b))).to_bits(),
                    Op::FDivD { d, a, b } => r!(d) = (f64::from_bits(r!(a)) / f64::from_bits(r!(b))).to_bits(),
                    Op::FRemD { d, a, b } => r!(d) = (f64::from_bits(r!(a)) % f64::from_bits(r!(b))).to_bits(),
                    Op::FNegD { d, a } => r!(d) = r!(a) ^ (1 << 63),
                    Op::FAddS { d, a, b } => r!(d) = of_f32(f32_of(r!(a)) + f32_of(r!(b))),
                    Op::FSubS { d, a, b } => r!(d) = of_f32(f32_of(r!(a)) - f32_of(r!(b))),
                    Op::FMulS { d, a, b } => r!(d) = of_f32(f32_of(r!(a)) * f32_of(r!(b))),
                    Op::FDivS { d, a, b } => r!(d) = of_f32(f32_of(r!(a)) / f32_of(r!(b))),
                    Op::FRemS { d, a, b } => r!(d) = of_f32(f32_of(r!(a)) % f32_of(r!(b))),
                    Op::FNegS { d, a } => r!(d) = r!(a) ^ (1 << 31),
                    Op::FCmp { d, a, b, pred, single } => {
                        let (x, y) = if single {
                            (f32_of(r!(a)) as f64, f32_of(r!(b)) as f64)
                        } else {
                            (f64::from_bits(r!(a)), f64::from_bits(r!(b)))
                        };
                        r!(d) = fcmp(pred, x, y) as u64;
                    }
                    Op::SIToFP { d, a, sh, single } => {
                        let v = sext(r!(a), sh);
                        r!(d) = if single { of_f32(v as f32) } else { (v as f64).to_bits() };
                    }
                    Op::UIToFP { d, a, single } => {
                        let v = r!(a);
                        r!(d) = if single { of_f32(v as f32) } else { (v as f64).to_bits() };
                    }
                    Op::FPToSI { d, a, single, mask } => {
                        let v = if single { f32_of(r!(a)) as i64 } else { f64::from_bits(r!(a)) as i64 };
                        r!(d) = v as u64 & mask;
                    }
                    Op::FPToUI { d, a, single, mask } => {
                        let v = if single { f32_of(r!(a)) as u64 } else { f64::from_bits(r!(a)) as u64 };
                        r!(d) = v & mask;
                    }
                    Op::FPToSISat { d, a, single, bits } => {
                        let x = if single { f32_of(r!(a)) as f64 } else { f64::from_bits(r!(a)) };
                        r!(d) = fptosi_sat(x, bits);
                    }
                    Op::FPToUISat { d, a, single, bits } => {
                        let x = if single { f32_of(r!(a)) as f64 } else { f64::from_bits(r!(a)) };
                        r!(d) = fptoui_sat(x, bits);
                    }
                    Op::FPExt { d, a } => r!(d) = (f32_of(r!(a)) as f64).to_bits(),
                    Op::FPTrunc { d, a } => r!(d) = of_f32(f64::from_bits(r!(a)) as f32),
                    Op::SqrtD { d, a } => r!(d) = f64::from_bits(r!(a)).sqrt().to_bits(),
                    Op::SqrtS { d, a } => r!(d) = of_f32(f32_of(r!(a)).sqrt()),
                    Op::FAbsD { d, a } => r!(d) = r!(a) & !(1 << 63),
                    Op::FAbsS { d, a } => r!(d) = r!(a) & !(1 << 31),
                    Op::Load8 { d, a, off } => r!(d) = *((r!(a) as i64 + off as i64) as *const u8) as u64,
                    Op::Load16 { d, a, off } => {
                        r!(d) = ((r!(a) as i64 + off as i64) as *const u16).read_unaligned() as u64
                    }
                    Op::Load32 { d, a, off } => {
                        r!(d) = ((r!(a) as i64 + off as i64) as *const u32).read_unaligned() as u64
                    }
                    Op::Load64 { d, a, off } => r!(d) = ((r!(a) as i64 + off as i64) as *const u64).read_unaligned(),
                    Op::Store8 { v, a, off } => *((r!(a) as i64 + off as i64) as *mut u8) = r!(v) as u8,
                    Op::Store16 { v, a, off } => {
                        ((r!(a) as i64 + off as i64) as *mut u16).write_unaligned(r!(v) as u16)
                    }
                    Op::Store32 { v, a, off } => {
                        ((r!(a) as i64 + off as i64) as *mut u32).write_unaligned(r!(v) as u32)
                    }
                    Op::Store64 { v, a, off } => ((r!(a) as i64 + off as i64) as *mut u64).write_unaligned(r!(v)),
                    Op::AtomicXchg { d, a, v, size } | Op::AtomicAdd { d, a, v, size } => {
                        let p = r!(a);
                        let old = match size {
                            1 => *(p as *const u8) as u64,
                            2 => (p as *const u16).read_unaligned() as u64,
                            4 => (p as *const u32).read_unaligned() as u64,
                            _ => (p as *const u64).read_unaligned(),
                        };
                        let new = if matches!(op, Op::AtomicAdd { .. }) { old.wrapping_add(r!(v)) } else { r!(v) };
                        match size {
                            1 => *(p as *mut u8) = new as u8,
                            2 => (p as *mut u16).write_unaligned(new as u16),
                            4 => (p as *mut u32).write_unaligned(new as u32),
                            _ => (p as *mut u64).write_unaligned(new),
                        }
                        r!(d) = old;
                    }
                    Op::FrameAddr { d, off } => r!(d) = frame + off as u64,
                    Op::MemMove { a, b, c } => std::ptr::copy(r!(b) as *const u8, r!(a) as *mut u8, r!(c) as usize),
                    Op::MemSet { a, b, c } => std::ptr::write_bytes(r!(a) as *mut u8, r!(b) as u8, r!(c) as usize),
                    Op::UMin { d, a, b } => r!(d) = r!(a).min(r!(b)),
                    Op::UMax { d, a, b } => r!(d) = r!(a).max(r!(b)),
                    Op::SMin { d, a, b, sh } => r!(d) = if sext(r!(a), sh) <= sext(r!(b), sh) { r!(a) } else { r!(b) },
                    Op::SMax { d, a, b, sh } => r!(d) = if sext(r!(a), sh) >= sext(r!(b), sh) { r!(a) } else { r!(b) },
                    Op::Fshl { d, a, b, c, bits } => {
                        let w = bits as u64;
                        let mask = if w >= 64 { u64::MAX } else { (1 << w) - 1 };
                        let s = r!(c) % w;
                        r!(d) = if s == 0 { r!(a) } else { ((r!(a) << s) | (r!(b) >> (w - s))) & mask };
                    }
                    Op::Fshr { d, a, b, c, bits } => {
                        let w = bits as u64;
                        let mask = if w >= 64 { u64::MAX } else { (1 << w) - 1 };
                        let s = r!(c) % w;
                        r!(d) = if s == 0 { r!(b) } else { ((r!(b) >> s) | (r!(a) << (w - s))) & mask };
                    }
                    Op::Bswap { d, a, bits } => r!(d) = r!(a).swap_bytes() >> (64 - bits as u32),
                    Op::Ctpop { d, a } => r!(d) = r!(a).count_ones() as u64,
                    Op::Ctlz { d, a, bits } => {
                        let x = r!(a);
                        r!(d) = if x == 0 { bits as u64 } else { (x.leading_zeros() - (64 - bits as u32)) as u64 };
                    }
                    Op::Cttz { d, a, bits } => {
                        let x = r!(a);
                        r!(d) = if x == 0 { bits as u64 } else { x.trailing_zeros() as u64 };
                    }
                    Op::Overflow { d, a, b, kind, bits } => {
                        let (v, o) = overflow(kind, r!(a), r!(b), bits);
                        r!(d) = v;
                        r!(d + 1) = o as u64;
                    }
                    Op::Jump { t } => pc = t as usize,
                    Op::Branch { c, t, f } => pc = if r!(c) & 1 != 0 { t as usize } else { f as usize },
                    Op::BrEq { a, b, t, f } => pc = if r!(a) == r!(b) { t as usize } else { f as usize },
                    Op::BrNe { a, b, t, f } => pc = if r!(a) != r!(b) { t as usize } else { f as usize },
                    Op::BrUlt { a, b, t, f } => pc = if r!(a) < r!(b) { t as usize } else { f as usize },
                    Op::BrUle { a, b, t, f } => pc = if r!(a) <= r!(b) { t as usize } else { f as usize },
                    Op::BrSlt { a, b, t, f, sh } => {
                        pc = if sext(r!(a), sh) < sext(r!(b), sh) { t as usize } else { f as usize }
                    }
                    Op::BrSle { a, b, t, f, sh } => {
                        pc = if sext(r!(a), sh) <= sext(r!(b), sh) { t as usize } else { f as usize }
                    }
                    Op::Switch { a, table } => {
                        let tab = f.switches.get_unchecked(table as usize);
                        let v = r!(a);
                        pc = tab.cases.iter().find(|c| c.0 == v).map_or(tab.default, |c| c.1) as usize;
                    }
                    Op::Ret { a, n } => {
                        for i in 0..n as usize {
                            *ret.add(i) = r!(a as usize + i);
                        }
                        return;
                    }
                    Op::Call { d, id, args, nargs, nret } => {
                        let mut argv = [0u64; MAX_ARGS];
                        for i in 0..nargs as usize {
                            argv[i] = r!(*f.call_args.get_unchecked(args as usize + i));
                        }
                        let mut retv = [0u64; MAX_RET];
                        let link = self.linkage.get_unchecked(id as usize);
                        let target = (link.slot as *const u64).read_volatile();
                        if target == link.stub {
                            self.call(id, argv.as_ptr(), retv.as_mut_ptr());
                        } else {
                            (self.adapters.get_unchecked(link.adapter as usize))(
                                target,
                                argv.as_ptr(),
                                retv.as_mut_ptr(),
                            );
                        }
                        for i in 0..nret as usize {
                            r!(d as usize + i) = retv[i];
                        }
                    }
                    Op::CallNative { d, f: target, adapter, args, nargs, nret } => {
                        let mut argv = [0u64; MAX_ARGS];
                        for i in 0..nargs as usize {
                            argv[i] = r!(*f.call_args.get_unchecked(args as usize + i));
                        }
                        let mut retv = [0u64; MAX_RET];
                        (self.adapters.get_unchecked(adapter as usize))(r!(target), argv.as_ptr(), retv.as_mut_ptr());
                        for i in 0..nret as usize {
                            r!(d as usize + i) = retv[i];
                        }
                    }
                    Op::Trap { msg } => trap(&format!("{} in {}", f.traps[msg as usize], f.name)),
                }
            }
        }
    }
}

/// Orders the parallel moves of a control-flow edge (phi `dst ← src`, all at once)
/// into sequential `(dst, src)` moves, going through `temp` registers (from
/// `next_temp`, counting up) where a destination is also a source of a later move.
pub fn sequence_moves(moves: &[(Reg, Reg)], next_temp: &mut Reg) -> Vec<(Reg, Reg)> {
    let moves: Vec<(Reg, Reg)> = moves.iter().copied().filter(|(d, s)| d != s).collect();
    let conflict = moves.iter().enumerate().any(|(i, (d, _))| moves.iter().skip(i + 1).any(|(_, s)| s == d));
    if !conflict {
        return moves;
    }
    // Read every source into a fresh temporary first, then write the destinations.
    let mut out = Vec::new();
    let temps: Vec<Reg> = moves
        .iter()
        .map(|_| {
            let t = *next_temp;
            *next_temp += 1;
            t
        })
        .collect();
    for (&(_, s), &t) in moves.iter().zip(&temps) {
        out.push((t, s));
    }
    for (&(d, _), &t) in moves.iter().zip(&temps) {
        out.push((d, t));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    static ENTERS: AtomicU64 = AtomicU64::new(0);
    static EXITS: AtomicU64 = AtomicU64::new(0);

    fn enter(_: u32) {
        ENTERS.fetch_add(1, Ordering::Relaxed);
    }
    fn exit(_: u32) {
        EXITS.fetch_add(1, Ordering::Relaxed);
    }

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
                Op::Slt { d: 3, a: 0, b: 1, sh: 0 },
                Op::Branch { c: 3, t: 2, f: 3 },
                Op::Ret { a: 0, n: 1 },
                Op::Sub { d: 4, a: 0, b: 2, mask: u64::MAX },
                Op::Call { d: 5, id: 0, args: 0, nargs: 1, nret: 1 },
                Op::Sub { d: 6, a: 0, b: 1, mask: u64::MAX },
                Op::Call { d: 7, id: 0, args: 1, nargs: 1, nret: 1 },
                Op::Add { d: 8, a: 5, b: 7, mask: u64::MAX },
                Op::Ret { a: 8, n: 1 },
            ],
            template: vec![0, 2, 1, 0, 0, 0, 0, 0, 0],
            nparams: 1,
            call_args: vec![4, 6],
            ..Default::default()
        }
    }

    fn machine(functions: Vec<Option<Function>>, slot: &u64, stub: u64) -> Machine {
        let n = functions.len();
        let (m, errors) = Machine::new(
            functions,
            vec![Linkage { slot: slot as *const u64 as u64, stub, adapter: 0 }; n],
            vec![0; n],
            vec![triple_adapter],
            Hooks { enter, exit },
        );
        assert!(errors.is_empty(), "{errors:?}");
        m
    }

    #[test]
    fn recursive_fib_with_exact_call_counts() {
        let slot = 0x1000u64; // holds the stub address: interpret
        let m = machine(vec![Some(fib_function())], &slot, 0x1000);
        let before = ENTERS.load(Ordering::Relaxed);
        let mut ret = [0u64; MAX_RET];
        // SAFETY: a validated function without memory accesses.
        unsafe { m.call(0, [20u64].as_ptr(), ret.as_mut_ptr()) };
        assert_eq!(ret[0], 6765);
        // Hooks run concurrently in other tests; fib(20) makes 2 fib(21) - 1 calls.
        assert!(ENTERS.load(Ordering::Relaxed) - before >= 21891);
        assert!(EXITS.load(Ordering::Relaxed) >= 21891);
    }

    #[test]
    fn a_slot_that_no_longer_holds_the_stub_calls_native_code() {
        // The slot holds "native code": the call goes through the adapter (x * 3).
        let slot = 0x2000u64;
        let caller = Function {
            name: "caller".into(),
            code: vec![Op::Call { d: 1, id: 1, args: 0, nargs: 1, nret: 1 }, Op::Ret { a: 1, n: 1 }],
            template: vec![0, 0],
            nparams: 1,
            call_args: vec![0],
            ..Default::default()
        };
        let m = machine(vec![Some(caller), Some(fib_function())], &slot, 0x1000);
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
                Op::Ult { d: 5, a: 2, b: 1 },                        // 0
                Op::Branch { c: 5, t: 2, f: 7 },                     // 1
                Op::AddScaled { d: 6, a: 0, b: 2, scale: 4, sh: 0 }, // 2
                Op::Load32 { d: 7, a: 6, off: 0 },                   // 3
                Op::Add { d: 3, a: 3, b: 7, mask: 0xffff_ffff },     // 4
                Op::Add { d: 2, a: 2, b: 4, mask: u64::MAX },        // 5
                Op::Jump { t: 0 },                                   // 6
                Op::And { d: 9, a: 3, b: 4 },                        // 7
                Op::Switch { a: 9, table: 0 },                       // 8
                Op::Add { d: 11, a: 3, b: 10, mask: 0xffff_ffff },   // 9
                Op::Ret { a: 11, n: 1 },                             // 10
                Op::Ret { a: 3, n: 1 },                              // 11
            ],
            template: vec![0, 0, 0, 0, 1, 0, 0, 0, 4, 0, 100, 0],
            nparams: 2,
            switches: vec![SwitchTable { cases: vec![(1, 9)], default: 11 }],
            ..Default::default()
        };
        let data: [u32; 5] = [1, 2, 3, 4, 0xffff_fff6];
        let slot = 0u64;
        let m = machine(vec![Some(f)], &slot, 1);
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
    fn validation_rejects_out_of_range_registers_and_targets() {
        let mut f = fib_function();
        f.code[1] = Op::Branch { c: 3, t: 99, f: 3 };
        assert!(f.validate().unwrap_err().contains("jump target"));
        let mut f = fib_function();
        f.code[0] = Op::Slt { d: 300, a: 0, b: 1, sh: 0 };
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

    #[test]
    fn parallel_moves_are_sequenced_without_clobbering() {
        let mut t = 100;
        // A swap needs temporaries.
        let seq = sequence_moves(&[(1, 2), (2, 1)], &mut t);
        let mut regs = [0u64; 110];
        regs[1] = 10;
        regs[2] = 20;
        for (d, s) in &seq {
            regs[*d as usize] = regs[*s as usize];
        }
        assert_eq!((regs[1], regs[2]), (20, 10));
        // Independent moves stay direct; self-moves vanish.
        let mut t = 100;
        assert_eq!(sequence_moves(&[(1, 5), (2, 6), (3, 3)], &mut t), vec![(1, 5), (2, 6)]);
        assert_eq!(t, 100);
    }
}
