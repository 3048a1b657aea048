//! Tier 0 of BareFlow's engine: an interpreter over a lowered form of an app's LLVM IR,
//! mixed freely with the JIT-compiled tiers (docs/engine.md, "Tier 0").
//!
//! This crate is the interpreter's core and knows neither LLVM nor the kernel: the
//! kernel's `jit::interp` lowers LLVM IR to [`Function`]s, builds and compiles the glue
//! for the [`abi`] signatures and hands the [`Machine`] its [`Profiling`] (the tier policy's counters).
//!
//! * [`for_each_op!`]: the one list of operations, from which [`Op`], the operand walk
//!   ([`Op::operands`], [`Op::regs_mut`], [`Op::targets_mut`]) and the dispatch
//!   ([`OpVisitor`], [`Op::visit`]) are generated;
//! * [`function`]: a lowered function and its validation;
//! * [`exec`]: the [`Machine`] and its execution loop (one handler per op);
//! * [`mem`]: the program's memory, read and written as plain-old-data only;
//! * [`abi`]: the signatures of the entry stubs (native → interpreter) and adapters
//!   (interpreter → native).
//!
//! # The lowered form
//!
//! A function is a flat `Vec<Op>` over numbered 64-bit registers ([`Reg`]). Registers
//! `0..nparams` are the arguments; constants live in registers too, preset by the
//! function's register template (copied into each new frame), so every operand is a
//! register. Integers are kept zero-extended to their width (ops that produce an `iN`
//! mask their result; signed ops sign-extend their inputs first), `float` is its bit
//! pattern in the low 32 bits, `double` and pointers their 64 bits. A value of struct
//! type (the `{iN, i1}` of `*.with.overflow`, Rust's `{i64, i64}` pairs) occupies
//! consecutive registers, one per field.

pub mod abi;
pub mod exec;
pub mod function;
pub mod mem;
pub mod op;

pub use exec::{Adapter, Linkage, MAX_DEPTH, Machine, Profiling};
pub use function::{Function, MAX_ARGS, MAX_RET, SwitchTable, edge_ops, sequence_moves};
pub use op::{Op, OpVisitor, Operand, OverflowKind, Reg};

/// Calls `$m!` with the list of every operation of the lowered form: one entry per op,
///
/// ```text
/// /// doc
/// snake_name = CamelName { field: Kind, … } [ends];
/// ```
///
/// `CamelName` is the [`Op`] variant, `snake_name` its [`OpVisitor`] method (the
/// interpreter's handler). A field's kind says what the field is, and so how the
/// operand walk treats it:
///
/// | kind | field type | meaning |
/// |---|---|---|
/// | `Def` / `Use` | [`Reg`] | a register written / read |
/// | `Defs(n)` / `Uses(n)` | [`Reg`] | `n` consecutive registers (an expression over the other fields), at most [`MAX_RET`] |
/// | `Args(n)` | `u32` | `n` argument registers listed in [`Function::call_args`] from this index |
/// | `Target` | `u32` | a jump target (op index) |
/// | `Table` | `u32` | an index into [`Function::switches`] |
/// | `Message` | `u32` | an index into [`Function::traps`] |
/// | `FrameOffset` | `u32` | a byte offset into the frame's alloca area |
/// | `Callee` | `u32` | a function id of the [`Machine`] |
/// | `AdapterIndex` | `u32` | an index into [`Machine::adapters`] |
/// | any other type | itself | an immediate |
///
/// `ends` marks the ops that end a block (control never falls through them).
///
/// Integer widths: `mask` keeps a result to its width (`u64::MAX` for 64 bits); `sh` is
/// `64 - width`, for sign-extending an operand (`((x << sh) as i64) >> sh`); `bits` is
/// the width itself. `single` selects `f32` over `f64`.
#[macro_export]
macro_rules! for_each_op {
    ($m:ident) => {
        $m! {
            /// `d = a`.
            mov = Move { d: Def, a: Use };
            /// `d = a`, then `d2 = a2` (two of an edge's sequenced phi moves).
            mov2 = Move2 { d: Def, a: Use, d2: Def, a2: Use };
            /// `d = (a + b) & mask`.
            add = Add { d: Def, a: Use, b: Use, mask: u64 };
            /// `d = (a - b) & mask`.
            sub = Sub { d: Def, a: Use, b: Use, mask: u64 };
            /// `d = (a * b) & mask`.
            mul = Mul { d: Def, a: Use, b: Use, mask: u64 };
            /// `d = a / b` (unsigned; traps on division by zero).
            udiv = UDiv { d: Def, a: Use, b: Use };
            /// `d = a % b` (unsigned; traps on division by zero).
            urem = URem { d: Def, a: Use, b: Use };
            /// `d = (sext(a) / sext(b)) & mask` (traps on division by zero).
            sdiv = SDiv { d: Def, a: Use, b: Use, sh: u8, mask: u64 };
            /// `d = (sext(a) % sext(b)) & mask` (traps on division by zero).
            srem = SRem { d: Def, a: Use, b: Use, sh: u8, mask: u64 };
            /// `d = (a << b) & mask`.
            shl = Shl { d: Def, a: Use, b: Use, mask: u64 };
            /// `d = a >> b` (logical).
            lshr = LShr { d: Def, a: Use, b: Use };
            /// `d = (sext(a) >> b) & mask` (arithmetic).
            ashr = AShr { d: Def, a: Use, b: Use, sh: u8, mask: u64 };
            /// `d = a & b`.
            and = And { d: Def, a: Use, b: Use };
            /// `d = a | b`.
            or = Or { d: Def, a: Use, b: Use };
            /// `d = a ^ b`.
            xor = Xor { d: Def, a: Use, b: Use };
            /// `d = a + imm` (a GEP with constant offset).
            add_imm = AddImm { d: Def, a: Use, imm: u64 };
            /// `d = a + sext(b) * scale` (a GEP's variable index).
            add_scaled = AddScaled { d: Def, a: Use, b: Use, scale: i64, sh: u8 };
            /// `d = a & mask` (`trunc`).
            trunc = Trunc { d: Def, a: Use, mask: u64 };
            /// `d = sext(a) & mask`.
            sext = SExt { d: Def, a: Use, sh: u8, mask: u64 };
            /// `d = a == b`.
            eq = Eq { d: Def, a: Use, b: Use };
            /// `d = a != b`.
            ne = Ne { d: Def, a: Use, b: Use };
            /// `d = a < b` (unsigned).
            ult = Ult { d: Def, a: Use, b: Use };
            /// `d = a <= b` (unsigned).
            ule = Ule { d: Def, a: Use, b: Use };
            /// `d = sext(a) < sext(b)`.
            slt = Slt { d: Def, a: Use, b: Use, sh: u8 };
            /// `d = sext(a) <= sext(b)`.
            sle = Sle { d: Def, a: Use, b: Use, sh: u8 };
            /// `d = c & 1 ? a : b`.
            select = Select { d: Def, c: Use, a: Use, b: Use };
            /// `double` `d = a + b`.
            fadd_d = FAddD { d: Def, a: Use, b: Use };
            /// `double` `d = a - b`.
            fsub_d = FSubD { d: Def, a: Use, b: Use };
            /// `double` `d = a * b`.
            fmul_d = FMulD { d: Def, a: Use, b: Use };
            /// `double` `d = a * b + c`, rounded after the multiply and after the add
            /// (an `FMulD` fused into the one `FAddD` that uses it, not an FMA:
            /// [`Function::fuse_single_uses`]).
            fmul_add_d = FMulAddD { d: Def, a: Use, b: Use, c: Use };
            /// `double` `d = a + *(m + off)` (a `Load64` fused into the one op that uses
            /// it, with no store, call or trapping op between them:
            /// [`Function::fuse_single_uses`]).
            fadd_d_m = FAddDM { d: Def, a: Use, m: Use, off: i32 };
            /// `double` `d = a - *(m + off)` (a fused `Load64`, as `FAddDM`).
            fsub_d_m = FSubDM { d: Def, a: Use, m: Use, off: i32 };
            /// `double` `d = *(m + off) - b` (a fused `Load64`, as `FAddDM`).
            fsub_m_d = FSubMD { d: Def, m: Use, off: i32, b: Use };
            /// `double` `d = a * *(m + off)` (a fused `Load64`, as `FAddDM`).
            fmul_d_m = FMulDM { d: Def, a: Use, m: Use, off: i32 };
            /// `double` `d = a * b + *(m + off)`, rounded as `FMulAddD` (a fused
            /// `Load64`, as `FAddDM`).
            fmul_add_d_m = FMulAddDM { d: Def, a: Use, b: Use, m: Use, off: i32 };
            /// `double` `d = *(m + off) - *(m2 + off2)` (two fused `Load64`, as
            /// `FAddDM`).
            fsub_m_m = FSubMM { d: Def, m: Use, off: i32, m2: Use, off2: i32 };
            /// `double` `*(m + off) = a + *(m + off)` (an `FAddDM` whose result is only
            /// stored back where it was loaded from, by the next op:
            /// [`Function::fuse_stores_back`]).
            fadd_to_m = FAddToM { m: Use, off: i32, a: Use };
            /// `double` `*(m + off) = *(m + off) - b` (an `FSubMD` stored back, as
            /// `FAddToM`).
            fsub_to_m = FSubToM { m: Use, off: i32, b: Use };
            /// `double` `*(m + off) = a * b + *(m + off)`, rounded as `FMulAddD` (an
            /// `FMulAddDM` stored back, as `FAddToM`).
            fmul_add_to_m = FMulAddToM { m: Use, off: i32, a: Use, b: Use };
            /// `float` `d = c + x[i] × y[i]`, the two `float`s at `x + 4i + off` and
            /// `y + 4i + off`, rounded as `FMulAddS` (a dot product's step: two
            /// `Load32Idx` fused into the `FMulAddS` that multiplies them,
            /// [`Function::fuse_dot_products`]).
            fdot_s = FDotS { d: Def, c: Use, x: Use, y: Use, i: Use, off: i16 };
            /// `double` `d = a / b`.
            fdiv_d = FDivD { d: Def, a: Use, b: Use };
            /// `double` `d = a % b`.
            frem_d = FRemD { d: Def, a: Use, b: Use };
            /// `double` `d = -a`.
            fneg_d = FNegD { d: Def, a: Use };
            /// `float` `d = a + b`.
            fadd_s = FAddS { d: Def, a: Use, b: Use };
            /// `float` `d = a - b`.
            fsub_s = FSubS { d: Def, a: Use, b: Use };
            /// `float` `d = a * b`.
            fmul_s = FMulS { d: Def, a: Use, b: Use };
            /// `float` `d = a * b + c`, rounded twice (as `FMulAddD`).
            fmul_add_s = FMulAddS { d: Def, a: Use, b: Use, c: Use };
            /// `float` `d = a / b`.
            fdiv_s = FDivS { d: Def, a: Use, b: Use };
            /// `float` `d = a % b`.
            frem_s = FRemS { d: Def, a: Use, b: Use };
            /// `float` `d = -a`.
            fneg_s = FNegS { d: Def, a: Use };
            /// `fcmp` with LLVM's `LLVMRealPredicate` numbering.
            fcmp = FCmp { d: Def, a: Use, b: Use, pred: u8, single: bool };
            /// Signed integer (sign-extended with `sh`) to `f32` or `f64`.
            sitofp = SIToFP { d: Def, a: Use, sh: u8, single: bool };
            /// Unsigned integer to `f32` or `f64`.
            uitofp = UIToFP { d: Def, a: Use, single: bool };
            /// Float to signed integer, masked to the result width.
            fptosi = FPToSI { d: Def, a: Use, single: bool, mask: u64 };
            /// Float to unsigned integer, masked to the result width.
            fptoui = FPToUI { d: Def, a: Use, single: bool, mask: u64 };
            /// `llvm.fptosi.sat` to `bits` bits.
            fptosi_sat = FPToSISat { d: Def, a: Use, single: bool, bits: u8 };
            /// `llvm.fptoui.sat` to `bits` bits.
            fptoui_sat = FPToUISat { d: Def, a: Use, single: bool, bits: u8 };
            /// `float` to `double`.
            fpext = FPExt { d: Def, a: Use };
            /// `double` to `float`.
            fptrunc = FPTrunc { d: Def, a: Use };
            /// `double` square root.
            sqrt_d = SqrtD { d: Def, a: Use };
            /// `float` square root.
            sqrt_s = SqrtS { d: Def, a: Use };
            /// `double` absolute value.
            fabs_d = FAbsD { d: Def, a: Use };
            /// `float` absolute value.
            fabs_s = FAbsS { d: Def, a: Use };
            /// Load of 1 byte from `a + off` (zero-extended).
            load8 = Load8 { d: Def, a: Use, off: i32 };
            /// Load of 2 bytes from `a + off` (zero-extended).
            load16 = Load16 { d: Def, a: Use, off: i32 };
            /// Load of 4 bytes from `a + off` (zero-extended).
            load32 = Load32 { d: Def, a: Use, off: i32 };
            /// Load of 8 bytes from `a + off`.
            load64 = Load64 { d: Def, a: Use, off: i32 };
            /// Store of register `v`'s low byte at `a + off`.
            store8 = Store8 { v: Use, a: Use, off: i32 };
            /// Store of register `v`'s low 2 bytes at `a + off`.
            store16 = Store16 { v: Use, a: Use, off: i32 };
            /// Store of register `v`'s low 4 bytes at `a + off`.
            store32 = Store32 { v: Use, a: Use, off: i32 };
            /// Store of register `v` at `a + off`.
            store64 = Store64 { v: Use, a: Use, off: i32 };
            /// Load of 1 byte from `a + sext(b) * scale + off` (zero-extended): an
            /// `AddScaled` fused into the one load that uses it
            /// ([`Function::fuse_single_uses`]).
            load8_idx = Load8Idx { d: Def, a: Use, b: Use, scale: i32, sh: u8, off: i32 };
            /// Load of 2 bytes from `a + sext(b) * scale + off` (zero-extended).
            load16_idx = Load16Idx { d: Def, a: Use, b: Use, scale: i32, sh: u8, off: i32 };
            /// Load of 4 bytes from `a + sext(b) * scale + off` (zero-extended).
            load32_idx = Load32Idx { d: Def, a: Use, b: Use, scale: i32, sh: u8, off: i32 };
            /// Load of 8 bytes from `a + sext(b) * scale + off`.
            load64_idx = Load64Idx { d: Def, a: Use, b: Use, scale: i32, sh: u8, off: i32 };
            /// Store of register `v`'s low byte at `a + sext(b) * scale + off`.
            store8_idx = Store8Idx { v: Use, a: Use, b: Use, scale: i32, sh: u8, off: i32 };
            /// Store of register `v`'s low 2 bytes at `a + sext(b) * scale + off`.
            store16_idx = Store16Idx { v: Use, a: Use, b: Use, scale: i32, sh: u8, off: i32 };
            /// Store of register `v`'s low 4 bytes at `a + sext(b) * scale + off`.
            store32_idx = Store32Idx { v: Use, a: Use, b: Use, scale: i32, sh: u8, off: i32 };
            /// Store of register `v` at `a + sext(b) * scale + off`.
            store64_idx = Store64Idx { v: Use, a: Use, b: Use, scale: i32, sh: u8, off: i32 };
            /// `atomicrmw xchg` of `size` bytes (one thread: a load and a store).
            atomic_xchg = AtomicXchg { d: Def, a: Use, v: Use, size: u8 };
            /// `atomicrmw add` of `size` bytes.
            atomic_add = AtomicAdd { d: Def, a: Use, v: Use, size: u8 };
            /// `d = frame's alloca area + off`.
            frame_addr = FrameAddr { d: Def, off: FrameOffset };
            /// `memmove(a, b, c)` (also `memcpy`: same result when they do not overlap).
            mem_move = MemMove { a: Use, b: Use, c: Use };
            /// `memset(a, b as u8, c)`.
            mem_set = MemSet { a: Use, b: Use, c: Use };
            /// `d = min(a, b)` (unsigned).
            umin = UMin { d: Def, a: Use, b: Use };
            /// `d = max(a, b)` (unsigned).
            umax = UMax { d: Def, a: Use, b: Use };
            /// `d = min(a, b)` (signed).
            smin = SMin { d: Def, a: Use, b: Use, sh: u8 };
            /// `d = max(a, b)` (signed).
            smax = SMax { d: Def, a: Use, b: Use, sh: u8 };
            /// `llvm.fshl` of width `bits`.
            fshl = Fshl { d: Def, a: Use, b: Use, c: Use, bits: u8 };
            /// `llvm.fshr` of width `bits`.
            fshr = Fshr { d: Def, a: Use, b: Use, c: Use, bits: u8 };
            /// `llvm.bswap` of width `bits`.
            bswap = Bswap { d: Def, a: Use, bits: u8 };
            /// `llvm.ctpop`.
            ctpop = Ctpop { d: Def, a: Use };
            /// `llvm.ctlz` of width `bits`.
            ctlz = Ctlz { d: Def, a: Use, bits: u8 };
            /// `llvm.cttz` of width `bits`.
            cttz = Cttz { d: Def, a: Use, bits: u8 };
            /// `*.with.overflow`: `d` = the result, `d + 1` = the overflow bit.
            overflow = Overflow { d: Defs(2), a: Use, b: Use, kind: OverflowKind, bits: u8 };
            /// Unconditional jump to op index `t`.
            jump = Jump { t: Target } ends;
            /// `d = a`, then a jump to `t` (an edge's last phi move and its jump).
            move_jump = MoveJump { d: Def, a: Use, t: Target } ends;
            /// `d = a`, `d2 = a2`, then a jump to `t` (an edge's last two phi moves and
            /// its jump).
            move2_jump = Move2Jump { d: Def, a: Use, d2: Def, a2: Use, t: Target } ends;
            /// `if c & 1 { goto t } else { goto f }`.
            branch = Branch { c: Use, t: Target, f: Target } ends;
            /// Fused `icmp eq` + `br`.
            br_eq = BrEq { a: Use, b: Use, t: Target, f: Target } ends;
            /// Fused `icmp ne` + `br`.
            br_ne = BrNe { a: Use, b: Use, t: Target, f: Target } ends;
            /// Fused `icmp ult` + `br`.
            br_ult = BrUlt { a: Use, b: Use, t: Target, f: Target } ends;
            /// Fused `icmp ule` + `br`.
            br_ule = BrUle { a: Use, b: Use, t: Target, f: Target } ends;
            /// Fused `icmp slt` + `br`.
            br_slt = BrSlt { a: Use, b: Use, t: Target, f: Target, sh: u8 } ends;
            /// Fused `icmp sle` + `br`.
            br_sle = BrSle { a: Use, b: Use, t: Target, f: Target, sh: u8 } ends;
            /// `switch a` with the function's switch table `table`.
            switch = Switch { a: Use, table: Table } ends;
            /// Return `n` registers from `a` (0: `ret void`).
            ret = Ret { a: Uses(n), n: u8 } ends;
            /// Call function `id` of the machine through its slot (interpreted while the
            /// slot holds its tier-0 stub, natively otherwise); arguments are
            /// `call_args[args..args + nargs]` of the function, the result goes to
            /// `d..d + nret`.
            call = Call { d: Defs(nret), id: Callee, args: Args(nargs), nargs: u8, nret: u8 };
            /// Call native code at the address in register `f` through adapter `adapter`.
            call_native = CallNative {
                d: Defs(nret), f: Use, adapter: AdapterIndex, args: Args(nargs), nargs: u8, nret: u8
            };
            /// Executing this is a trap (`unreachable`, `llvm.trap`): message `msg`.
            trap = Trap { msg: Message } ends;
        }
    };
}
