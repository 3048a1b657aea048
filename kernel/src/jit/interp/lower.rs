//! LLVM IR → the interpreter's lowered form ([`super::exec`]), through the safe LLVM
//! layer (`bf-llvm`).
//!
//! Each function is lowered once: every SSA value gets a register (struct values one
//! per field), constants become preset registers, phis become moves on the incoming
//! edges (sequenced with [`sequence_moves`]), GEPs become `base + Σ index × scale +
//! offset` with sizes and field offsets from the module's data layout, and addresses
//! of globals become relocations resolved once the JIT has placed them. Anything else
//! is a [`LowerError`] naming the function (and the instruction): that function then
//! has no tier 0 and starts in tier 1.

use std::collections::HashMap;
use std::fmt;

use bf_llvm::{
    AtomicRmwBinOp, AttributeIndex, BasicBlock, DataLayout, FunctionType, Instruction, IntPredicate, Module, Opcode,
    Type, TypeKind, Value,
};

use crate::jit::JitError;
use bf_interp::abi::{Ext, Scalar, Signature};
use bf_interp::{Function, MAX_ARGS, MAX_RET, Op, OverflowKind, Reg, SwitchTable, edge_ops, sequence_moves};

/// Why a function has no tier 0 (it starts in tier 1). Displayed as the message the
/// engine prints after `interp: starts in tier 1: `.
#[derive(Debug)]
pub enum LowerError {
    /// Its signature cannot cross between native code and the interpreter.
    Signature {
        /// The function.
        function: String,
        /// What does not cross.
        reason: String,
    },
    /// It has an instruction the interpreter cannot run.
    Instruction {
        /// The function.
        function: String,
        /// The instruction's IR text (shortened).
        instruction: String,
        /// What is not supported.
        reason: String,
    },
    /// A phi has no value for one of its block's incoming edges.
    PhiEdge {
        /// The function.
        function: String,
        /// The phi's IR text (shortened).
        phi: String,
    },
    /// The interpreter refused the lowered code (the message names the function).
    Interpreter(String),
    /// A symbol the lowered code uses, or its entry stub, is not in the JIT.
    Unresolved {
        /// The function.
        function: String,
        /// The lookup's error.
        error: JitError,
    },
}

impl fmt::Display for LowerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LowerError::Signature { function, reason } => {
                write!(f, "{function}: its signature cannot cross into the interpreter: {reason}")
            }
            LowerError::Instruction { function, instruction, reason } => {
                write!(f, "{function}: cannot interpret `{instruction}`: {reason}")
            }
            LowerError::PhiEdge { function, phi } => write!(f, "{function}: phi `{phi}` has no value for an edge"),
            LowerError::Interpreter(message) => f.write_str(message),
            LowerError::Unresolved { function, error } => write!(f, "{function}: {error}"),
        }
    }
}

/// The value a cast takes over unchanged in the lowered form, if `inst` is such a cast
/// of an argument or of another instruction's result: `zext` (integers are kept
/// zero-extended), `bitcast`, `inttoptr`, `addrspacecast` and `freeze`, with a result
/// of one register (at most 64 bits) or a struct (`freeze`). Its result then shares
/// the source's registers. A constant source, and a GEP (which may have been folded
/// into its uses and have no register), keep a `Move`.
fn no_op_cast_source(inst: Instruction<'_>) -> Option<Value<'_>> {
    use Opcode::*;
    if !matches!(inst.opcode(), LLVMZExt | LLVMBitCast | LLVMIntToPtr | LLVMAddrSpaceCast | LLVMFreeze) {
        return None;
    }
    // An `i128` result takes two registers (and lowering says why it cannot be had).
    if inst.type_of().int_width().is_some_and(|w| w > 64) {
        return None;
    }
    let source = inst.operand(0);
    let register_of_its_own =
        source.is_argument() || source.as_instruction().is_some_and(|i| i.opcode() != LLVMGetElementPtr);
    register_of_its_own.then_some(source)
}

/// A variable GEP index with its scale and its sign-extension shift (64 − its width).
type IndexTerm<'m> = (Value<'m>, i64, u8);

/// A 64-bit GEP index `x + c`, an `add` or an `or disjoint` of a constant: `(x, c)`.
/// The GEP reads `x` and adds `c × scale` to its constant offset (64-bit address
/// arithmetic wraps alike either way), so the sum is computed only if something else
/// uses it.
fn index_sum(idx: Value<'_>) -> Option<(Value<'_>, i64)> {
    let inst = idx.as_instruction()?;
    if !(inst.opcode() == Opcode::LLVMAdd || inst.is_disjoint_or()) || idx.type_of().int_width() != Some(64) {
        return None;
    }
    let c = inst.operand(1);
    if !c.is_constant_int() || inst.operand(0).is_constant() {
        return None;
    }
    Some((inst.operand(0), c.const_int_zext()? as i64))
}

/// The error for `function`'s instruction `inst`.
fn instruction_error(function: &str, inst: Value<'_>, reason: String) -> LowerError {
    LowerError::Instruction { function: function.to_string(), instruction: text_of(inst), reason }
}

/// A register whose preset value is the address of a symbol plus an addend.
#[derive(Clone, Debug, PartialEq)]
pub struct Reloc {
    /// The register.
    pub reg: Reg,
    /// The symbol (a global or function name, as the JIT knows it).
    pub symbol: String,
    /// Added to its address.
    pub addend: i64,
}

/// What lowering a module produced.
#[derive(Default)]
pub struct LoweredModule {
    /// Per defined function (in the order of `names`): the lowered form, or `None`.
    pub functions: Vec<Option<Function>>,
    /// Per defined function: the relocations of its register template.
    pub relocs: Vec<Vec<Reloc>>,
    /// Per defined function: its signature (for its stub and for calling its native
    /// code), or `None` when it cannot cross the border.
    pub signatures: Vec<Option<Signature>>,
    /// Per defined function: the adapter index for its signature.
    pub adapter_of: Vec<u32>,
    /// Adapters needed, by index.
    pub adapters: Vec<Signature>,
    /// Why functions could not be lowered.
    pub errors: Vec<LowerError>,
}

fn text_of(v: Value<'_>) -> String {
    let s = v.print().split_whitespace().collect::<Vec<_>>().join(" ");
    let mut s: String = s.split(", !").next().unwrap_or_default().chars().take(160).collect();
    if s.len() >= 160 {
        s.push('…');
    }
    s
}

fn attr_kind(name: &str) -> u32 {
    bf_llvm::attribute_kind(name)
}

/// One scalar of the border, from an LLVM type.
fn scalar(t: Type<'_>) -> Result<Scalar, String> {
    match t.kind() {
        TypeKind::LLVMIntegerTypeKind => {
            let w = t.int_width().unwrap_or_default();
            if w <= 64 { Ok(Scalar::Int(w)) } else { Err(format!("i{w} is wider than 64 bits")) }
        }
        TypeKind::LLVMFloatTypeKind => Ok(Scalar::F32),
        TypeKind::LLVMDoubleTypeKind => Ok(Scalar::F64),
        TypeKind::LLVMPointerTypeKind => Ok(Scalar::Ptr),
        k => Err(format!("values of type kind {k:?} are not supported")),
    }
}

/// The scalars a value of type `t` flattens into (void: none).
fn fields(t: Type<'_>) -> Result<Vec<Scalar>, String> {
    match t.kind() {
        TypeKind::LLVMVoidTypeKind => Ok(vec![]),
        // Only moved around (rustc copies 16-byte arrays as `i128` loads and
        // stores): two registers, low half first; arithmetic on it is refused.
        TypeKind::LLVMIntegerTypeKind if t.int_width() == Some(128) => Ok(vec![Scalar::Int(64); 2]),
        TypeKind::LLVMStructTypeKind => {
            let mut v = Vec::new();
            for e in t.struct_elements() {
                v.extend(fields(e)?);
            }
            Ok(v)
        }
        _ => Ok(vec![scalar(t)?]),
    }
}

/// Registers before field `index` of struct type `t`, and that field's type.
fn field_offset(t: Type<'_>, index: u32) -> Result<(u32, Type<'_>), String> {
    let Some(field) = t.struct_element(index) else {
        return Err("aggregate index into a non-struct type".into());
    };
    let mut off = 0;
    for e in t.struct_elements().into_iter().take(index as usize) {
        off += fields(e)?.len() as u32;
    }
    Ok((off, field))
}

fn ext_at(has: impl Fn(u32) -> bool) -> Ext {
    if has(attr_kind("zeroext")) {
        Ext::Zero
    } else if has(attr_kind("signext")) {
        Ext::Sign
    } else {
        Ext::None
    }
}

/// The signature of a function of type `fty` in calling convention `cc`, taking values
/// of the types `args` — its parameters, or for a variadic function those a call site
/// passes ([`Signature::variadic`] then counts the fixed ones) — with extension
/// attributes from `attrs(index, kind)` (index 0 = return, 1.. = parameters).
fn signature(
    fty: FunctionType<'_>,
    args: Vec<Type<'_>>,
    cc: u32,
    attrs: impl Fn(u32, u32) -> bool,
) -> Result<Signature, String> {
    for bad in ["byval", "inalloca", "preallocated", "inreg"] {
        let k = attr_kind(bad);
        if (0..=args.len() as u32).any(|i| attrs(i, k)) {
            return Err(format!("`{bad}` parameters are not supported"));
        }
    }
    let ret = fields(fty.return_type())?;
    if ret.len() > MAX_RET {
        return Err("returns more than 4 registers".into());
    }
    let n = args.len();
    if n > MAX_ARGS {
        return Err(format!("{n} parameters (at most {MAX_ARGS})"));
    }
    let mut params = Vec::new();
    for (i, t) in args.into_iter().enumerate() {
        params.push((scalar(t)?, ext_at(|k| attrs(i as u32 + 1, k))));
    }
    let variadic = fty.is_var_arg().then(|| fty.param_count() as usize);
    Ok(Signature { cc, ret, ret_ext: ext_at(|k| attrs(0, k)), params, variadic })
}

/// The attribute index of `signature`'s index `i` (0 = return, 1.. = parameters).
fn attribute_index(i: u32) -> AttributeIndex {
    if i == 0 { AttributeIndex::Return } else { AttributeIndex::Param(i - 1) }
}

/// The signature of a defined or declared function (a variadic one has none: the
/// interpreter does not run it).
pub fn function_signature(f: bf_llvm::Function<'_>) -> Result<Signature, String> {
    let fty = f.function_type();
    if fty.is_var_arg() {
        return Err("variadic functions are not supported".into());
    }
    signature(fty, fty.param_types(), f.call_conv(), |i, k| f.has_enum_attribute(attribute_index(i), k))
}

/// The signature of a call site (its attributes, and the callee's if known). A call to
/// a variadic function (`printf`) gets the types of the arguments it passes, and the
/// number of fixed parameters ([`Signature::variadic`]).
fn call_signature(call: Instruction<'_>, callee: Option<bf_llvm::Function<'_>>) -> Result<Signature, String> {
    let fty = call.called_function_type().ok_or("not a call")?;
    let args = if fty.is_var_arg() {
        (0..call.arg_count().unwrap_or_default()).map(|i| call.operand(i).type_of()).collect()
    } else {
        fty.param_types()
    };
    signature(fty, args, call.call_conv().unwrap_or_default(), |i, k| {
        call.has_call_site_enum_attribute(attribute_index(i), k)
            || callee.is_some_and(|f| f.has_enum_attribute(attribute_index(i), k))
    })
}

/// Adapter indices by signature.
#[derive(Default)]
struct Adapters {
    list: Vec<Signature>,
    index: HashMap<Signature, u32>,
}

impl Adapters {
    fn get(&mut self, sig: &Signature) -> u32 {
        if let Some(&i) = self.index.get(sig) {
            return i;
        }
        let i = self.list.len() as u32;
        self.list.push(sig.clone());
        self.index.insert(sig.clone(), i);
        i
    }
}

/// Lowers every defined function of `m` (`defs`, in function-id order).
pub fn lower_module<'m>(m: &'m Module, defs: &[bf_llvm::Function<'m>]) -> LoweredModule {
    let mut out = LoweredModule::default();
    let mut adapters = Adapters::default();
    let ids: HashMap<Value<'m>, u32> = defs.iter().enumerate().map(|(i, &f)| (f.as_value(), i as u32)).collect();
    let td = m.data_layout();
    for &f in defs {
        let sig = function_signature(f);
        out.adapter_of.push(match &sig {
            Ok(s) => adapters.get(s),
            Err(_) => 0,
        });
        let result = match &sig {
            Ok(_) => {
                let mut l = Lowerer::new(td, &ids, &mut adapters);
                l.function(f).map(|func| (func, l.relocs))
            }
            Err(e) => Err(LowerError::Signature { function: f.name(), reason: e.clone() }),
        };
        match result {
            Ok((func, relocs)) => {
                out.functions.push(Some(func));
                out.relocs.push(relocs);
            }
            Err(e) => {
                out.errors.push(e);
                out.functions.push(None);
                out.relocs.push(Vec::new());
            }
        }
        out.signatures.push(sig.ok());
    }
    if adapters.list.is_empty() {
        adapters.get(&Signature::default());
    }
    out.adapters = adapters.list;
    out
}

/// The C library function (double version; `f` appended for float) an LLVM math
/// intrinsic family computes, for the ones the interpreter calls natively. Every name
/// here is in `jit::program::LIBCALLS` (both versions).
pub fn libm_function(family: &str) -> Option<&'static str> {
    Some(match family {
        "floor" => "floor",
        "ceil" => "ceil",
        "trunc" => "trunc",
        "round" => "round",
        "roundeven" => "roundeven",
        "rint" => "rint",
        "nearbyint" => "nearbyint",
        "minnum" => "fmin",
        "maxnum" => "fmax",
        "copysign" => "copysign",
        "fma" => "fma",
        "pow" => "pow",
        "sin" => "sin",
        "cos" => "cos",
        "tan" => "tan",
        "asin" => "asin",
        "acos" => "acos",
        "atan" => "atan",
        "atan2" => "atan2",
        "sinh" => "sinh",
        "cosh" => "cosh",
        "tanh" => "tanh",
        "exp" => "exp",
        "exp2" => "exp2",
        "exp10" => "exp10",
        "log" => "log",
        "log2" => "log2",
        "log10" => "log10",
        _ => return None,
    })
}

/// A jump target before layout: a block, or the phi moves of an edge.
#[derive(Clone, Copy)]
enum Label {
    Block(u32),
    Edge(u32),
}

const EDGE_BIT: u32 = 1 << 31;

fn encode(l: Label) -> u32 {
    match l {
        Label::Block(b) => b,
        Label::Edge(e) => e | EDGE_BIT,
    }
}

struct Lowerer<'a, 'm> {
    td: DataLayout<'m>,
    ids: &'a HashMap<Value<'m>, u32>,
    adapters: &'a mut Adapters,
    values: HashMap<Value<'m>, Reg>,
    consts: HashMap<u64, Reg>,
    template: Vec<u64>,
    relocs: Vec<Reloc>,
    reloc_regs: HashMap<(String, i64), Reg>,
    code: Vec<Op>,
    call_args: Vec<Reg>,
    switches: Vec<SwitchTable>,
    traps: Vec<String>,
    blocks: HashMap<BasicBlock<'m>, u32>,
    edges: Vec<(BasicBlock<'m>, BasicBlock<'m>)>,
    frame_bytes: u32,
    /// An `icmp` whose only use is the `br` right after it: (icmp, predicate, a, b, sh).
    fused: Option<(Value<'m>, IntPredicate, Reg, Reg, u8)>,
    /// GEPs with constant offsets folded into the loads and stores that use them:
    /// GEP → (base value, offset), and whether the GEP itself still needs computing.
    folded: HashMap<Value<'m>, (Value<'m>, i32, bool)>,
    /// GEPs with variable indices whose constant offset is left to the loads and
    /// stores that use them (their only users): GEP → offset.
    offset_in_users: HashMap<Value<'m>, i32>,
    /// Instructions lowered later than their place, just before another one
    /// ([`Lowerer::coalesce_loop_phis`]): that one → them, in order.
    sunk_before: HashMap<Value<'m>, Vec<Instruction<'m>>>,
    /// The instructions in `sunk_before`'s lists.
    sunk: Vec<Value<'m>>,
}

impl<'a, 'm> Lowerer<'a, 'm> {
    fn new(td: DataLayout<'m>, ids: &'a HashMap<Value<'m>, u32>, adapters: &'a mut Adapters) -> Self {
        Lowerer {
            td,
            ids,
            adapters,
            values: HashMap::new(),
            consts: HashMap::new(),
            template: Vec::new(),
            relocs: Vec::new(),
            reloc_regs: HashMap::new(),
            code: Vec::new(),
            call_args: Vec::new(),
            switches: Vec::new(),
            traps: Vec::new(),
            blocks: HashMap::new(),
            edges: Vec::new(),
            frame_bytes: 0,
            fused: None,
            folded: HashMap::new(),
            offset_in_users: HashMap::new(),
            sunk_before: HashMap::new(),
            sunk: Vec::new(),
        }
    }
}

fn mask(bits: u32) -> u64 {
    if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 }
}

impl<'m> Lowerer<'_, 'm> {
    fn fresh(&mut self, n: u32) -> Reg {
        let r = Reg(self.template.len() as u32);
        self.template.extend(std::iter::repeat_n(0, n as usize));
        r
    }

    fn constant(&mut self, bits: u64) -> Reg {
        if let Some(&r) = self.consts.get(&bits) {
            return r;
        }
        let r = self.fresh(1);
        self.template[r.index()] = bits;
        self.consts.insert(bits, r);
        r
    }

    fn reloc(&mut self, symbol: String, addend: i64) -> Reg {
        if let Some(&r) = self.reloc_regs.get(&(symbol.clone(), addend)) {
            return r;
        }
        let r = self.fresh(1);
        self.relocs.push(Reloc { reg: r, symbol: symbol.clone(), addend });
        self.reloc_regs.insert((symbol, addend), r);
        r
    }

    /// A constant's value: a symbol (if any) plus bits.
    fn const_value(&mut self, v: Value<'m>) -> Result<(Option<String>, u64), String> {
        let t = v.type_of();
        if v.is_constant_int() {
            let w = t.int_width().unwrap_or_default();
            if w > 64 {
                return Err(format!("i{w} constant"));
            }
            return Ok((None, v.const_int_zext().unwrap_or_default() & mask(w)));
        }
        if let Some(d) = v.const_real() {
            return match t.kind() {
                TypeKind::LLVMFloatTypeKind => Ok((None, (d as f32).to_bits() as u64)),
                TypeKind::LLVMDoubleTypeKind => Ok((None, d.to_bits())),
                k => Err(format!("floating-point constant of kind {k:?}")),
            };
        }
        if v.is_null_pointer() || v.is_undef() || v.is_aggregate_zero() {
            return Ok((None, 0));
        }
        if v.is_global_value() {
            return Ok((Some(v.name()), 0));
        }
        if let Some(op) = v.const_opcode() {
            return match op {
                Opcode::LLVMGetElementPtr => {
                    let (sym, base) = self.const_value(v.operand(0))?;
                    let n = v.num_operands();
                    let mut off = 0i64;
                    let mut t = v.gep_source_element_type().ok_or("a GEP without a source type")?;
                    for i in 1..n {
                        let idx = v.operand(i);
                        let (s, x) = self.const_value(idx)?;
                        if s.is_some() {
                            return Err("symbolic GEP index".into());
                        }
                        let w = idx.type_of().int_width().ok_or("a non-integer GEP index")?;
                        let x = ((x << (64 - w)) as i64) >> (64 - w);
                        let (scale, field_off, next) = self.step(t, i == 1, x)?;
                        off = off.wrapping_add(x.wrapping_mul(scale)).wrapping_add(field_off);
                        t = next;
                    }
                    Ok((sym, base.wrapping_add(off as u64)))
                }
                Opcode::LLVMPtrToInt | Opcode::LLVMIntToPtr | Opcode::LLVMBitCast => self.const_value(v.operand(0)),
                Opcode::LLVMAdd | Opcode::LLVMSub => {
                    let (s1, a) = self.const_value(v.operand(0))?;
                    let (s2, b) = self.const_value(v.operand(1))?;
                    if s2.is_some() {
                        return Err("symbolic right operand in a constant expression".into());
                    }
                    let sub = op == Opcode::LLVMSub;
                    Ok((s1, if sub { a.wrapping_sub(b) } else { a.wrapping_add(b) }))
                }
                op => Err(format!("constant expression {op:?}")),
            };
        }
        Err(format!("constant `{}`", text_of(v)))
    }

    /// One GEP step into type `t` with index `x`: (scale, extra offset, next type).
    /// The first index scales by `t` itself.
    fn step(&self, t: Type<'m>, first: bool, x: i64) -> Result<(i64, i64, Type<'m>), String> {
        if first {
            return Ok((self.td.abi_size(t) as i64, 0, t));
        }
        match t.kind() {
            TypeKind::LLVMStructTypeKind => {
                let off = self.td.offset_of_element(t, x as u32).ok_or("a struct index out of range")? as i64;
                Ok((0, off, t.struct_element(x as u32).ok_or("a struct index out of range")?))
            }
            TypeKind::LLVMArrayTypeKind | TypeKind::LLVMVectorTypeKind => {
                let e = t.element_type().ok_or("a sequential type without an element type")?;
                Ok((self.td.abi_size(e) as i64, 0, e))
            }
            k => Err(format!("GEP into type kind {k:?}")),
        }
    }

    /// The first register of operand `v` (n registers for a struct).
    fn operand(&mut self, v: Value<'m>) -> Result<Reg, String> {
        if let Some(&r) = self.values.get(&v) {
            return Ok(r);
        }
        if v.as_instruction().is_some() || v.is_argument() {
            return Err(format!("operand `{}` has no register", text_of(v)));
        }
        let t = v.type_of();
        if t.int_width() == Some(128) {
            // Two registers, low half first. The C API reads constants only up to
            // 64 bits; the printed form (`i128 <decimal>`) has all of it.
            let value: u128 = if v.is_constant_int() {
                let text = text_of(v);
                let digits = text.rsplit(' ').next().unwrap_or_default();
                digits
                    .parse::<u128>()
                    .or_else(|_| digits.parse::<i128>().map(|x| x as u128))
                    .map_err(|_| format!("i128 constant `{text}`"))?
            } else if v.is_undef() || v.is_aggregate_zero() {
                0
            } else {
                return Err(format!("i128 constant `{}`", text_of(v)));
            };
            let r = self.fresh(2);
            self.template[r.index()] = value as u64;
            self.template[r.index() + 1] = (value >> 64) as u64;
            return Ok(r);
        }
        if t.kind() == TypeKind::LLVMStructTypeKind {
            // Only all-zero/undef aggregates appear as operands (insertvalue chains).
            if !v.is_undef() && !v.is_aggregate_zero() {
                return Err(format!("aggregate constant `{}`", text_of(v)));
            }
            let n = fields(t)?.len() as u32;
            return Ok(self.fresh(n.max(1)));
        }
        match self.const_value(v)? {
            (None, bits) => Ok(self.constant(bits)),
            (Some(sym), off) => Ok(self.reloc(sym, off as i64)),
        }
    }

    fn target(&mut self, from: BasicBlock<'m>, to: BasicBlock<'m>) -> Label {
        // An edge block only if some phi of `to` takes a value from `from` that is
        // not already in its register (a loop's coalesced back edge moves nothing).
        let moves = to.instructions().take_while(|i| i.opcode() == Opcode::LLVMPHI).any(|phi| {
            let incoming = phi.incoming().into_iter().find(|(_, block)| *block == from).map(|(v, _)| v);
            incoming.is_none_or(|v| self.values.get(&v).is_none_or(|r| Some(r) != self.values.get(&*phi)))
        });
        if moves {
            self.edges.push((from, to));
            Label::Edge(self.edges.len() as u32 - 1)
        } else {
            Label::Block(self.blocks[&to])
        }
    }

    fn emit(&mut self, op: Op) {
        self.code.push(op);
    }

    fn trap(&mut self, why: String) {
        self.traps.push(why);
        let msg = self.traps.len() as u32 - 1;
        self.emit(Op::Trap { msg });
    }

    fn function(&mut self, f: bf_llvm::Function<'m>) -> Result<Function, LowerError> {
        let fname = f.name();
        let nparams = f.param_count();
        for i in 0..nparams {
            let p = f.param(i);
            let r = self.fresh(1);
            self.values.insert(p, r);
        }
        // Registers for every instruction result, and block numbers.
        let blocks = f.basic_blocks();
        for (bi, &bb) in blocks.iter().enumerate() {
            self.blocks.insert(bb, bi as u32);
            for inst in bb.instructions() {
                let n = fields(inst.type_of()).map_err(|e| instruction_error(&fname, *inst, e))?.len() as u32;
                if n > 0 && no_op_cast_source(inst).is_none() {
                    let r = self.fresh(n);
                    self.values.insert(*inst, r);
                }
            }
        }
        // Parameters and instruction results are written before they are read (SSA:
        // a definition dominates its uses; a phi's register is written on every edge
        // into its block): a frame presets only the registers made from here on —
        // constants, relocations, and the temporaries, which need no preset either.
        let preset = self.template.len() as u32;
        // A cast that changes no bits of the lowered value shares its source's
        // registers: no move, no dispatch (SSA: the source's registers hold its value
        // wherever the cast's value is live, phi registers included, since the moves
        // on an edge into the phi's block never reach a use of this cast without
        // passing the cast again).
        for &bb in &blocks {
            for inst in bb.instructions() {
                let mut chain = vec![*inst];
                while let Some(source) = chain.last().and_then(|v| v.as_instruction()).and_then(no_op_cast_source) {
                    chain.push(source);
                }
                let source = chain.pop().expect("the chain starts with the instruction");
                if let Some(&r) = self.values.get(&source) {
                    for v in chain {
                        self.values.insert(v, r);
                    }
                }
            }
        }
        for &bb in &blocks {
            for inst in bb.instructions() {
                if inst.opcode() == Opcode::LLVMGetElementPtr
                    && let Ok(Some(off)) = self.constant_gep_offset(*inst)
                {
                    // Needed as a value unless every use is the address of a load
                    // or store, or the base of another constant-offset GEP (whose
                    // uses then fold the whole chain).
                    let mut needed = false;
                    for user in inst.users() {
                        needed |= match user.as_instruction().map(|u| u.opcode()) {
                            Some(Opcode::LLVMLoad) => false,
                            Some(Opcode::LLVMStore) => user.operand(0) == *inst,
                            Some(Opcode::LLVMGetElementPtr) => {
                                user.operand(0) != *inst || !matches!(self.constant_gep_offset(user), Ok(Some(_)))
                            }
                            _ => true,
                        };
                    }
                    self.folded.insert(*inst, (inst.operand(0), off, needed));
                }
            }
        }
        // GEPs with variable indices used only as addresses: their constant offset
        // goes into the loads and stores.
        for &bb in &blocks {
            for inst in bb.instructions() {
                if inst.opcode() != Opcode::LLVMGetElementPtr || self.folded.contains_key(&*inst) {
                    continue;
                }
                let only_addresses = inst.users().iter().all(|user| match user.as_instruction().map(|u| u.opcode()) {
                    Some(Opcode::LLVMLoad) => true,
                    Some(Opcode::LLVMStore) => user.operand(0) != *inst,
                    _ => false,
                });
                if only_addresses
                    && let Ok((terms, off)) = self.gep_terms(*inst)
                    && !terms.is_empty()
                    && let Ok(off) = i32::try_from(off)
                {
                    self.offset_in_users.insert(*inst, off);
                }
            }
        }
        self.coalesce_loop_phis(&blocks);
        let mut block_pc = Vec::new();
        let mut edge_pc = Vec::new();
        for (bi, &bb) in blocks.iter().enumerate() {
            block_pc.push(self.code.len() as u32);
            for inst in bb.instructions() {
                for sunk in self.sunk_before.remove(&*inst).unwrap_or_default() {
                    self.instruction(sunk, bi == 0).map_err(|e| instruction_error(&fname, *sunk, e))?;
                }
                if !self.sunk.contains(&*inst) {
                    self.instruction(inst, bi == 0).map_err(|e| instruction_error(&fname, *inst, e))?;
                }
            }
        }
        // Edge blocks: the phi moves, then a jump to the block. Temporaries for
        // the moves are numbered from TEMP_BASE and renumbered once every other
        // register (constants included) exists.
        const TEMP_BASE: Reg = Reg(1 << 30);
        let mut temps_needed = 0;
        let edges = std::mem::take(&mut self.edges);
        for &(from, to) in &edges {
            edge_pc.push(self.code.len() as u32);
            let mut moves = Vec::new();
            for inst in to.instructions().take_while(|i| i.opcode() == Opcode::LLVMPHI) {
                let d = self.values[&*inst];
                let n = fields(inst.type_of()).map_err(|e| instruction_error(&fname, *inst, e))?.len() as u32;
                let Some(&(value, _)) = inst.incoming().iter().find(|(_, block)| *block == from) else {
                    return Err(LowerError::PhiEdge { function: fname, phi: text_of(*inst) });
                };
                let s = self.operand(value).map_err(|e| instruction_error(&fname, *inst, e))?;
                for j in 0..n {
                    moves.push((d + j, s + j));
                }
            }
            let mut next_temp = TEMP_BASE;
            let moves = sequence_moves(&moves, &mut next_temp);
            temps_needed = temps_needed.max(next_temp - TEMP_BASE);
            for op in edge_ops(&moves, encode(Label::Block(self.blocks[&to]))) {
                self.emit(op);
            }
        }
        if temps_needed > 0 {
            let first = self.fresh(temps_needed);
            for op in self.code.iter_mut() {
                op.regs_mut(|r| {
                    if *r >= TEMP_BASE {
                        *r = first + (*r - TEMP_BASE);
                    }
                });
            }
        }
        let mut func = Function {
            name: fname,
            code: std::mem::take(&mut self.code),
            template: std::mem::take(&mut self.template),
            nparams,
            preset,
            frame_bytes: self.frame_bytes,
            call_args: std::mem::take(&mut self.call_args),
            switches: std::mem::take(&mut self.switches),
            traps: std::mem::take(&mut self.traps),
        };
        // Resolve labels.
        func.retarget(|t| if t & EDGE_BIT != 0 { edge_pc[(t & !EDGE_BIT) as usize] } else { block_pc[t as usize] });
        // Validated before the two passes (they index registers and targets) and after
        // (they must keep it valid).
        func.validate().map_err(LowerError::Interpreter)?;
        func.fuse_single_uses();
        func.fuse_dot_products();
        func.fuse_stores_back();
        func.thread_jumps();
        func.duplicate_return_tails();
        func.validate().map_err(LowerError::Interpreter)?;
        if std::env::var("BF_INTERP_DUMP").is_ok_and(|v| func.name.contains(&v)) {
            eprintln!("== {} ({} regs)", func.name, func.template.len());
            for (i, op) in func.code.iter().enumerate() {
                eprintln!("{i:4} {op:?}");
            }
        }
        Ok(func)
    }

    /// Gives the phis of single-block loops their back edge's value's register, where
    /// that is safe, so that the back edge moves nothing (one dispatch less per
    /// iteration: the loop's branch goes straight back to its first op).
    ///
    /// A phi `p` of block `B` whose value on the edge `B → B` is `v`, computed in `B`
    /// by one op that reads its operands before writing (a binary operation, or a GEP
    /// of constant offsets from `p` itself, which is then computed as a value rather
    /// than folded into its users), shares `v`'s register — unless a user of `v` would
    /// read what `v` was computed from instead (a GEP folding an index sum `v = x + c`
    /// reads `x`). `v` is lowered as late as it can
    /// be — just before its first use in `B`, or before the branch that ends `B` (and
    /// the compare fused into it) — and then every read of `p` must come before that
    /// place, `v`'s own excepted, and no phi may read `p`. `v` is sunk only past
    /// instructions that change none of its operands: those are constants, `p`, or
    /// values that are not phis of `B` (whose registers only `B`'s back-edge values
    /// change). The entry edges into `B` still move their values into the shared
    /// register; `v` is not live there (its uses are dominated by `B`, which defines it
    /// again before any of them). Only one-register values, each phi and each `v` once.
    fn coalesce_loop_phis(&mut self, blocks: &[BasicBlock<'m>]) {
        use Opcode::*;
        let mut taken: Vec<Value<'m>> = Vec::new();
        for &bb in blocks {
            let insts: Vec<Instruction<'m>> = bb.instructions().collect();
            let position: HashMap<Value<'m>, usize> = insts.iter().enumerate().map(|(i, inst)| (**inst, i)).collect();
            let phis: Vec<Value<'m>> = insts.iter().take_while(|i| i.opcode() == LLVMPHI).map(|i| **i).collect();
            // The latest place to lower a value used only by phis: before the branch,
            // or before the compare fused into it.
            let last = insts.len() - 1;
            let end = match insts.get(last.wrapping_sub(1)) {
                Some(cmp) if cmp.opcode() == LLVMICmp && insts[last].condition() == Some(**cmp) => last - 1,
                _ => last,
            };
            for &phi in &phis {
                let incoming: Vec<Value<'m>> = phi
                    .as_instruction()
                    .map(|i| i.incoming())
                    .unwrap_or_default()
                    .iter()
                    .filter(|(_, from)| *from == bb)
                    .map(|(v, _)| *v)
                    .collect();
                // One value on the back edge (a switch may reach `B` twice: the same value).
                let Some(&v) = incoming.first() else { continue };
                if incoming.iter().any(|&w| w != v) || taken.contains(&v) || taken.contains(&phi) {
                    continue;
                }
                let (Some(&at), Some(def)) = (position.get(&v), v.as_instruction()) else { continue };
                let folded_gep = def.opcode() == LLVMGetElementPtr && self.folded.contains_key(&v);
                let one_op = folded_gep
                    || matches!(
                        def.opcode(),
                        LLVMAdd
                            | LLVMSub
                            | LLVMMul
                            | LLVMAnd
                            | LLVMOr
                            | LLVMXor
                            | LLVMShl
                            | LLVMLShr
                            | LLVMAShr
                            | LLVMFAdd
                            | LLVMFSub
                            | LLVMFMul
                            | LLVMFDiv
                    );
                let one_register = |x: Value<'m>| fields(x.type_of()).is_ok_and(|f| f.len() == 1);
                if !one_op || !one_register(phi) || !one_register(v) {
                    continue;
                }
                let (Some(&p_reg), Some(&v_reg)) = (self.values.get(&phi), self.values.get(&v)) else { continue };
                if p_reg == v_reg {
                    continue;
                }
                // `v`'s users must read `v`'s register, not what it was computed from:
                // a constant-offset GEP folds into its users as its root plus an offset,
                // so it is coalesced only as a step from the phi itself (`p + c`), and
                // then computed as a value (unfolded); an index sum `x + c` folds into
                // the GEPs that use it, which then read `x`.
                if folded_gep && def.operand(0) != phi {
                    continue;
                }
                let gep_users =
                    v.users().iter().any(|u| u.as_instruction().is_some_and(|u| u.opcode() == LLVMGetElementPtr));
                if index_sum(v).is_some() && gep_users {
                    continue;
                }
                // What `v`'s op reads, and where it can go.
                let read: Vec<Value<'m>> = (0..def.num_operands()).map(|i| def.operand(i)).collect();
                let sinkable = read.iter().all(|x| *x == phi || !phis.contains(x));
                let first_use = v.users().iter().filter_map(|u| position.get(u).copied()).filter(|&i| i > at).min();
                let place = if sinkable { first_use.unwrap_or(end).min(end) } else { at };
                if !self.read_before(phi, &position, place, v) {
                    continue;
                }
                for r in self.values.values_mut().filter(|r| **r == v_reg) {
                    *r = p_reg;
                }
                if folded_gep {
                    self.folded.remove(&v);
                }
                if place > at {
                    self.sunk.push(v);
                    self.sunk_before.entry(*insts[place]).or_default().push(def);
                }
                taken.extend([phi, v]);
            }
        }
    }

    /// Whether every read of `x` — by its users, and by the users of the no-op casts,
    /// GEPs, index sums ([`index_sum`]) and fused compares that read it later than
    /// their own place (a shared register, a folded offset or index, a compare fused
    /// into its branch) — is by `own` or by an instruction of the block `position`
    /// indexes, before instruction `before`; and no phi reads it.
    fn read_before(&self, x: Value<'m>, position: &HashMap<Value<'m>, usize>, before: usize, own: Value<'m>) -> bool {
        let mut work = vec![x];
        let mut seen = vec![x];
        while let Some(x) = work.pop() {
            for user in x.users() {
                if user == own {
                    continue;
                }
                let (Some(u), Some(&i)) = (user.as_instruction(), position.get(&user)) else { return false };
                if u.opcode() == Opcode::LLVMPHI || i >= before {
                    return false;
                }
                let fused_compare = u.opcode() == Opcode::LLVMICmp
                    && u.next().is_some_and(|next| next.condition() == Some(user))
                    && user.users().len() == 1;
                let deferred = no_op_cast_source(u).is_some()
                    || u.opcode() == Opcode::LLVMGetElementPtr
                    || index_sum(user).is_some()
                    || fused_compare;
                if deferred && !seen.contains(&user) {
                    seen.push(user);
                    work.push(user);
                }
            }
        }
        true
    }

    fn int_width(&self, v: Value<'m>) -> Result<u32, String> {
        let t = v.type_of();
        match t.kind() {
            TypeKind::LLVMIntegerTypeKind => {
                let w = t.int_width().unwrap_or_default();
                if w <= 64 { Ok(w) } else { Err(format!("i{w} is wider than 64 bits")) }
            }
            TypeKind::LLVMPointerTypeKind => Ok(64),
            k => Err(format!("expected an integer, found type kind {k:?}")),
        }
    }

    fn is_f32(&self, v: Value<'m>) -> Result<bool, String> {
        match v.type_of().kind() {
            TypeKind::LLVMFloatTypeKind => Ok(true),
            TypeKind::LLVMDoubleTypeKind => Ok(false),
            k => Err(format!("expected float or double, found type kind {k:?}")),
        }
    }

    fn mem_size(&self, t: Type<'m>) -> Result<u32, String> {
        fields(t)?;
        if t.kind() == TypeKind::LLVMStructTypeKind {
            return Err("first-class aggregate loads and stores are not supported".into());
        }
        let size = self.td.store_size(t) as u32;
        if matches!(size, 1 | 2 | 4 | 8 | 16) { Ok(size) } else { Err(format!("{size}-byte memory access")) }
    }

    fn instruction(&mut self, inst: Instruction<'m>, entry: bool) -> Result<(), String> {
        use Opcode::*;
        if no_op_cast_source(inst).is_some() {
            return Ok(()); // shares its source's registers
        }
        let op = inst.opcode();
        let d = self.values.get(&*inst).copied().unwrap_or(Reg(0));
        let opnd = |i: u32| inst.operand(i);
        // `icmp eq/ne` of i128 (rustc compares 16-byte arrays that way): both halves.
        if op == LLVMICmp && opnd(0).type_of().int_width() == Some(128) {
            let pred = inst.icmp_predicate().ok_or("an icmp without a predicate")?;
            if !matches!(pred, IntPredicate::LLVMIntEQ | IntPredicate::LLVMIntNE) {
                return Err("i128 comparisons other than eq/ne".into());
            }
            let (x, y) = (self.operand(opnd(0))?, self.operand(opnd(1))?);
            let t = self.fresh(2);
            if pred == IntPredicate::LLVMIntEQ {
                self.emit(Op::Eq { d: t, a: x, b: y });
                self.emit(Op::Eq { d: t + 1, a: x + 1, b: y + 1 });
                self.emit(Op::And { d, a: t, b: t + 1 });
            } else {
                self.emit(Op::Ne { d: t, a: x, b: y });
                self.emit(Op::Ne { d: t + 1, a: x + 1, b: y + 1 });
                self.emit(Op::Or { d, a: t, b: t + 1 });
            }
            return Ok(());
        }
        // Multi-register values (structs, i128) are only moved, loaded and stored.
        let moves_only = matches!(
            op,
            LLVMPHI
                | LLVMLoad
                | LLVMStore
                | LLVMSelect
                | LLVMFreeze
                | LLVMExtractValue
                | LLVMInsertValue
                | LLVMCall
                | LLVMRet
        );
        if !moves_only {
            let mut values = vec![*inst];
            values.extend((0..inst.num_operands()).map(opnd).filter(|v| !v.is_basic_block()));
            for v in values {
                if v.type_of().kind() != TypeKind::LLVMLabelTypeKind && fields(v.type_of())?.len() > 1 {
                    return Err("integers wider than 64 bits and aggregates are only moved, loaded and stored".into());
                }
            }
        }
        match op {
            LLVMPHI => {}
            LLVMRet => {
                if inst.num_operands() == 0 {
                    self.emit(Op::Ret { a: Reg(0), n: 0 });
                } else {
                    let v = opnd(0);
                    let n = fields(v.type_of())?.len() as u8;
                    let a = self.operand(v)?;
                    self.emit(Op::Ret { a, n });
                }
            }
            LLVMBr => {
                let bb = inst.parent();
                if let Some(cond) = inst.condition() {
                    let t = encode(self.target(bb, inst.successor(0)));
                    let f = encode(self.target(bb, inst.successor(1)));
                    match self.fused.take() {
                        Some((cmp, pred, x, y, sh)) if cmp == cond => {
                            use IntPredicate::*;
                            self.emit(match pred {
                                LLVMIntEQ => Op::BrEq { a: x, b: y, t, f },
                                LLVMIntNE => Op::BrNe { a: x, b: y, t, f },
                                LLVMIntULT => Op::BrUlt { a: x, b: y, t, f },
                                LLVMIntULE => Op::BrUle { a: x, b: y, t, f },
                                LLVMIntUGT => Op::BrUlt { a: y, b: x, t, f },
                                LLVMIntUGE => Op::BrUle { a: y, b: x, t, f },
                                LLVMIntSLT => Op::BrSlt { a: x, b: y, t, f, sh },
                                LLVMIntSLE => Op::BrSle { a: x, b: y, t, f, sh },
                                LLVMIntSGT => Op::BrSlt { a: y, b: x, t, f, sh },
                                LLVMIntSGE => Op::BrSle { a: y, b: x, t, f, sh },
                            });
                        }
                        _ => {
                            let c = self.operand(cond)?;
                            self.emit(Op::Branch { c, t, f });
                        }
                    }
                } else {
                    let t = self.target(bb, inst.successor(0));
                    self.emit(Op::Jump { t: encode(t) });
                }
            }
            LLVMSwitch => {
                let bb = inst.parent();
                let a = self.operand(opnd(0))?;
                let default = encode(self.target(bb, inst.switch_default_dest().ok_or("a switch without a default")?));
                let mut cases = Vec::new();
                for k in 1..inst.successor_count() {
                    let (_, v) = self.const_value(inst.switch_case_value(k).ok_or("a switch case without a value")?)?;
                    let t = encode(self.target(bb, inst.successor(k)));
                    cases.push((v, t));
                }
                self.switches.push(SwitchTable { cases, default });
                let table = self.switches.len() as u32 - 1;
                self.emit(Op::Switch { a, table });
            }
            LLVMUnreachable => self.trap("unreachable executed".into()),
            // An index sum only GEPs use: they read its `x` and fold its constant.
            LLVMAdd | LLVMOr
                if index_sum(*inst).is_some()
                    && inst.users().iter().all(|u| {
                        u.as_instruction().is_some_and(|g| g.opcode() == LLVMGetElementPtr) && u.operand(0) != *inst
                    }) => {}
            LLVMAdd | LLVMSub | LLVMMul | LLVMUDiv | LLVMSDiv | LLVMURem | LLVMSRem | LLVMShl | LLVMLShr | LLVMAShr
            | LLVMAnd | LLVMOr | LLVMXor => {
                let w = self.int_width(*inst)?;
                let (a, b) = (self.operand(opnd(0))?, self.operand(opnd(1))?);
                let (mask, sh) = (mask(w), (64 - w) as u8);
                self.emit(match op {
                    LLVMAdd => Op::Add { d, a, b, mask },
                    LLVMSub => Op::Sub { d, a, b, mask },
                    LLVMMul => Op::Mul { d, a, b, mask },
                    LLVMUDiv => Op::UDiv { d, a, b },
                    LLVMURem => Op::URem { d, a, b },
                    LLVMSDiv => Op::SDiv { d, a, b, sh, mask },
                    LLVMSRem => Op::SRem { d, a, b, sh, mask },
                    LLVMShl => Op::Shl { d, a, b, mask },
                    LLVMLShr => Op::LShr { d, a, b },
                    LLVMAShr => Op::AShr { d, a, b, sh, mask },
                    LLVMAnd => Op::And { d, a, b },
                    LLVMOr => Op::Or { d, a, b },
                    _ => Op::Xor { d, a, b },
                });
            }
            LLVMFAdd | LLVMFSub | LLVMFMul | LLVMFDiv | LLVMFRem => {
                let single = self.is_f32(*inst)?;
                let (a, b) = (self.operand(opnd(0))?, self.operand(opnd(1))?);
                self.emit(match (op, single) {
                    (LLVMFAdd, false) => Op::FAddD { d, a, b },
                    (LLVMFSub, false) => Op::FSubD { d, a, b },
                    (LLVMFMul, false) => Op::FMulD { d, a, b },
                    (LLVMFDiv, false) => Op::FDivD { d, a, b },
                    (LLVMFRem, false) => Op::FRemD { d, a, b },
                    (LLVMFAdd, true) => Op::FAddS { d, a, b },
                    (LLVMFSub, true) => Op::FSubS { d, a, b },
                    (LLVMFMul, true) => Op::FMulS { d, a, b },
                    (LLVMFDiv, true) => Op::FDivS { d, a, b },
                    _ => Op::FRemS { d, a, b },
                });
            }
            LLVMFNeg => {
                let a = self.operand(opnd(0))?;
                self.emit(if self.is_f32(*inst)? { Op::FNegS { d, a } } else { Op::FNegD { d, a } });
            }
            LLVMICmp => {
                let w = self.int_width(opnd(0))?;
                let sh = (64 - w) as u8;
                let (x, y) = (self.operand(opnd(0))?, self.operand(opnd(1))?);
                use IntPredicate::*;
                let pred = inst.icmp_predicate().ok_or("an icmp without a predicate")?;
                if inst.next().is_some_and(|next| next.condition() == Some(*inst)) && inst.users().len() == 1 {
                    self.fused = Some((*inst, pred, x, y, sh));
                    return Ok(());
                }
                self.emit(match pred {
                    LLVMIntEQ => Op::Eq { d, a: x, b: y },
                    LLVMIntNE => Op::Ne { d, a: x, b: y },
                    LLVMIntULT => Op::Ult { d, a: x, b: y },
                    LLVMIntULE => Op::Ule { d, a: x, b: y },
                    LLVMIntUGT => Op::Ult { d, a: y, b: x },
                    LLVMIntUGE => Op::Ule { d, a: y, b: x },
                    LLVMIntSLT => Op::Slt { d, a: x, b: y, sh },
                    LLVMIntSLE => Op::Sle { d, a: x, b: y, sh },
                    LLVMIntSGT => Op::Slt { d, a: y, b: x, sh },
                    LLVMIntSGE => Op::Sle { d, a: y, b: x, sh },
                });
            }
            LLVMFCmp => {
                let single = self.is_f32(opnd(0))?;
                let (a, b) = (self.operand(opnd(0))?, self.operand(opnd(1))?);
                let pred = inst.fcmp_predicate().ok_or("an fcmp without a predicate")? as u8;
                self.emit(Op::FCmp { d, a, b, pred, single });
            }
            LLVMSelect => {
                let n = fields(inst.type_of())?.len() as u32;
                let c = self.operand(opnd(0))?;
                let (a, b) = (self.operand(opnd(1))?, self.operand(opnd(2))?);
                for j in 0..n {
                    self.emit(Op::Select { d: d + j, c, a: a + j, b: b + j });
                }
            }
            LLVMTrunc => {
                let a = self.operand(opnd(0))?;
                let mask = mask(self.int_width(*inst)?);
                self.emit(Op::Trunc { d, a, mask });
            }
            // Only where the source is a constant (else `no_op_cast_source`).
            LLVMZExt | LLVMBitCast | LLVMIntToPtr | LLVMAddrSpaceCast => {
                let a = self.operand(opnd(0))?;
                self.emit(Op::Move { d, a });
            }
            LLVMPtrToInt => {
                let a = self.operand(opnd(0))?;
                let mask = mask(self.int_width(*inst)?);
                self.emit(Op::Trunc { d, a, mask });
            }
            // Only where the source is a constant (else `no_op_cast_source`).
            LLVMFreeze => {
                let n = fields(inst.type_of())?.len() as u32;
                let a = self.operand(opnd(0))?;
                for j in 0..n {
                    self.emit(Op::Move { d: d + j, a: a + j });
                }
            }
            LLVMSExt => {
                let a = self.operand(opnd(0))?;
                let sh = (64 - self.int_width(opnd(0))?) as u8;
                let mask = mask(self.int_width(*inst)?);
                self.emit(Op::SExt { d, a, sh, mask });
            }
            LLVMSIToFP => {
                let a = self.operand(opnd(0))?;
                let sh = (64 - self.int_width(opnd(0))?) as u8;
                let single = self.is_f32(*inst)?;
                self.emit(Op::SIToFP { d, a, sh, single });
            }
            LLVMUIToFP => {
                let a = self.operand(opnd(0))?;
                let single = self.is_f32(*inst)?;
                self.emit(Op::UIToFP { d, a, single });
            }
            LLVMFPToSI | LLVMFPToUI => {
                let a = self.operand(opnd(0))?;
                let single = self.is_f32(opnd(0))?;
                let mask = mask(self.int_width(*inst)?);
                self.emit(if op == LLVMFPToSI {
                    Op::FPToSI { d, a, single, mask }
                } else {
                    Op::FPToUI { d, a, single, mask }
                });
            }
            LLVMFPExt => {
                if !self.is_f32(opnd(0))? || self.is_f32(*inst)? {
                    return Err("only float → double extension".into());
                }
                let a = self.operand(opnd(0))?;
                self.emit(Op::FPExt { d, a });
            }
            LLVMFPTrunc => {
                if self.is_f32(opnd(0))? || !self.is_f32(*inst)? {
                    return Err("only double → float truncation".into());
                }
                let a = self.operand(opnd(0))?;
                self.emit(Op::FPTrunc { d, a });
            }
            LLVMLoad => {
                let size = self.mem_size(inst.type_of())?;
                let (a, off) = self.address(opnd(0))?;
                if size == 16 {
                    let hi = off.checked_add(8).ok_or("offset out of range")?;
                    self.emit(Op::Load64 { d, a, off });
                    self.emit(Op::Load64 { d: d + 1, a, off: hi });
                    return Ok(());
                }
                self.emit(match size {
                    1 => Op::Load8 { d, a, off },
                    2 => Op::Load16 { d, a, off },
                    4 => Op::Load32 { d, a, off },
                    _ => Op::Load64 { d, a, off },
                });
            }
            LLVMStore => {
                let size = self.mem_size(opnd(0).type_of())?;
                let v = self.operand(opnd(0))?;
                let (a, off) = self.address(opnd(1))?;
                if size == 16 {
                    let hi = off.checked_add(8).ok_or("offset out of range")?;
                    self.emit(Op::Store64 { v, a, off });
                    self.emit(Op::Store64 { v: v + 1, a, off: hi });
                    return Ok(());
                }
                self.emit(match size {
                    1 => Op::Store8 { v, a, off },
                    2 => Op::Store16 { v, a, off },
                    4 => Op::Store32 { v, a, off },
                    _ => Op::Store64 { v, a, off },
                });
            }
            LLVMAtomicRMW => {
                let size = self.mem_size(inst.type_of())? as u8;
                if size > 8 {
                    return Err("16-byte atomics".into());
                }
                let a = self.operand(opnd(0))?;
                let v = self.operand(opnd(1))?;
                match inst.atomic_rmw_bin_op().ok_or("an atomicrmw without an operation")? {
                    AtomicRmwBinOp::LLVMAtomicRMWBinOpXchg => self.emit(Op::AtomicXchg { d, a, v, size }),
                    AtomicRmwBinOp::LLVMAtomicRMWBinOpAdd => self.emit(Op::AtomicAdd { d, a, v, size }),
                    other => return Err(format!("atomicrmw {other:?}")),
                }
            }
            LLVMFence => {}
            LLVMGetElementPtr => self.gep(inst, d)?,
            LLVMAlloca => {
                if !entry {
                    return Err("alloca outside the entry block".into());
                }
                let (sym, count) = self.const_value(opnd(0)).map_err(|_| "dynamic alloca".to_string())?;
                if sym.is_some() {
                    return Err("dynamic alloca".into());
                }
                let size = self.td.abi_size(inst.allocated_type().ok_or("an alloca without a type")?) * count;
                let align = inst.alignment().unwrap_or_default().max(1);
                if align > 16 {
                    return Err(format!("alloca aligned to {align} bytes (at most 16)"));
                }
                let off = self.frame_bytes.div_ceil(align) * align;
                self.frame_bytes = off + size as u32;
                self.emit(Op::FrameAddr { d, off });
            }
            LLVMExtractValue => {
                let agg = opnd(0);
                let (off, t) = self.agg_path(inst, agg.type_of())?;
                let n = fields(t)?.len() as u32;
                let a = self.operand(agg)?;
                for j in 0..n {
                    self.emit(Op::Move { d: d + j, a: a + off + j });
                }
            }
            LLVMInsertValue => {
                let agg = opnd(0);
                let total = fields(agg.type_of())?.len() as u32;
                let (off, t) = self.agg_path(inst, agg.type_of())?;
                let n = fields(t)?.len() as u32;
                let a = self.operand(agg)?;
                let v = self.operand(opnd(1))?;
                for j in 0..total {
                    self.emit(Op::Move { d: d + j, a: a + j });
                }
                for j in 0..n {
                    self.emit(Op::Move { d: d + off + j, a: v + j });
                }
            }
            LLVMCall => self.call(inst, d)?,
            other => return Err(format!("the {other:?} instruction is not supported")),
        }
        Ok(())
    }

    /// Register offset and type of an extractvalue/insertvalue index path.
    fn agg_path(&self, inst: Instruction<'m>, mut t: Type<'m>) -> Result<(u32, Type<'m>), String> {
        let mut off = 0;
        for i in inst.indices().unwrap_or_default() {
            let (o, next) = field_offset(t, i)?;
            off += o;
            t = next;
        }
        Ok((off, t))
    }

    /// The offset of a GEP whose indices are all constants, if it fits an `i32`.
    fn constant_gep_offset(&mut self, inst: Value<'m>) -> Result<Option<i32>, String> {
        let n = inst.num_operands();
        let mut t = inst.gep_source_element_type().ok_or("not a GEP")?;
        let mut off = 0i64;
        for i in 1..n {
            let idx = inst.operand(i);
            if !idx.is_constant_int() {
                return Ok(None);
            }
            let w = self.int_width(idx)?;
            let x = idx.const_int_zext().unwrap_or_default();
            let x = ((x << (64 - w)) as i64) >> (64 - w);
            let (scale, field, next) = self.step(t, i == 1, x)?;
            off = off.wrapping_add(x.wrapping_mul(scale)).wrapping_add(field);
            t = next;
        }
        Ok(i32::try_from(off).ok())
    }

    /// A chain of constant-offset GEPs ending at `p`: its root (the first base that is
    /// not such a GEP) and the total offset, if `p` is one.
    fn fold_chain(&self, mut p: Value<'m>) -> Option<(Value<'m>, i64)> {
        let mut total = 0i64;
        let mut found = false;
        while let Some(&(base, off, _)) = self.folded.get(&p) {
            total = total.wrapping_add(off as i64);
            p = base;
            found = true;
        }
        found.then_some((p, total))
    }

    /// The register and offset of a load's or store's address.
    fn address(&mut self, p: Value<'m>) -> Result<(Reg, i32), String> {
        let Some((root, total)) = self.fold_chain(p) else {
            let off = self.offset_in_users.get(&p).copied().unwrap_or(0);
            return Ok((self.operand(p)?, off));
        };
        let base = self.operand(root)?;
        match i32::try_from(total) {
            Ok(off) => Ok((base, off)),
            Err(_) => {
                let r = self.fresh(1);
                self.emit(Op::AddImm { d: r, a: base, imm: total as u64 });
                Ok((r, 0))
            }
        }
    }

    /// A GEP with variable indices as `base + Σ index × scale + offset`: each variable
    /// index with its scale and sign-extension shift, and the constant offset (the
    /// constant indices', and the `c × scale` of each index that is an [`index_sum`]
    /// `x + c`, whose `x` is then the index).
    fn gep_terms(&mut self, inst: Value<'m>) -> Result<(Vec<IndexTerm<'m>>, i64), String> {
        let n = inst.num_operands();
        let mut t = inst.gep_source_element_type().ok_or("not a GEP")?;
        let mut off = 0i64;
        let mut terms = Vec::new();
        for i in 1..n {
            let idx = inst.operand(i);
            if idx.is_constant() {
                let (sym, x) = self.const_value(idx)?;
                if sym.is_some() {
                    return Err("symbolic GEP index".into());
                }
                let w = self.int_width(idx)?;
                let x = ((x << (64 - w)) as i64) >> (64 - w);
                let (scale, field, next) = self.step(t, i == 1, x)?;
                off = off.wrapping_add(x.wrapping_mul(scale)).wrapping_add(field);
                t = next;
            } else {
                let w = self.int_width(idx)?;
                let (scale, _, next) = self.step(t, i == 1, 0)?;
                if t.kind() == TypeKind::LLVMStructTypeKind && i > 1 {
                    return Err("variable struct index".into());
                }
                let (idx, c) = index_sum(idx).unwrap_or((idx, 0));
                off = off.wrapping_add(c.wrapping_mul(scale));
                terms.push((idx, scale, (64 - w) as u8));
                t = next;
            }
        }
        Ok((terms, off))
    }

    fn gep(&mut self, inst: Instruction<'m>, d: Reg) -> Result<(), String> {
        if let Some(&(_, _, needed)) = self.folded.get(&*inst) {
            // Folded into its users; computed only when also needed as a value, from
            // the chain's root (its base may itself be folded away).
            if needed && let Some((root, total)) = self.fold_chain(*inst) {
                let a = self.operand(root)?;
                self.emit(Op::AddImm { d, a, imm: total as u64 });
            }
            return Ok(());
        }
        let base = self.operand(inst.operand(0))?;
        let (terms, off) = self.gep_terms(*inst)?;
        // The loads and stores using it add the constant offset themselves.
        let off = if self.offset_in_users.contains_key(&*inst) { 0 } else { off };
        let mut cur = base;
        for (idx, scale, sh) in terms {
            let b = self.operand(idx)?;
            self.emit(Op::AddScaled { d, a: cur, b, scale, sh });
            cur = d;
        }
        if off != 0 || cur != d {
            self.emit(Op::AddImm { d, a: cur, imm: off as u64 });
        }
        Ok(())
    }

    fn call(&mut self, inst: Instruction<'m>, d: Reg) -> Result<(), String> {
        let callee = inst.called_value().ok_or("not a call")?;
        let nargs = inst.arg_count().unwrap_or_default();
        let callee_fn = callee.as_function();
        if let Some(f) = callee_fn
            && f.intrinsic_id() != 0
        {
            return self.intrinsic(inst, &callee.name(), d);
        }
        let fty = inst.called_function_type().ok_or("not a call")?;
        let nret = fields(fty.return_type())?.len();
        if nret > MAX_RET {
            return Err("the call returns more than 4 registers".into());
        }
        if nargs as usize > MAX_ARGS {
            return Err(format!("{nargs} arguments (at most {MAX_ARGS})"));
        }
        let start = self.call_arguments(inst)?;
        // A variadic function of the program is never interpreted: it is called like
        // native code, through an adapter for this call site's arguments.
        if callee_fn.is_some()
            && !fty.is_var_arg()
            && let Some(&id) = self.ids.get(&callee)
        {
            self.emit(Op::Call { d, id, args: start, nargs: nargs as u8, nret: nret as u8 });
            return Ok(());
        }
        let sig = call_signature(inst, callee_fn)?;
        let adapter = self.adapters.get(&sig);
        let f = self.operand(callee)?;
        self.emit(Op::CallNative { d, f, adapter, args: start, nargs: nargs as u8, nret: nret as u8 });
        Ok(())
    }

    /// Appends the registers of `call`'s arguments to the call-argument list; returns
    /// where they start.
    fn call_arguments(&mut self, call: Instruction<'m>) -> Result<u32, String> {
        let start = self.call_args.len() as u32;
        let mut regs = Vec::new();
        for i in 0..call.arg_count().unwrap_or_default() {
            let v = call.operand(i);
            if fields(v.type_of())?.len() != 1 {
                return Err("aggregate arguments are not supported".into());
            }
            regs.push(self.operand(v)?);
        }
        self.call_args.extend(regs);
        Ok(start)
    }

    /// A math intrinsic `inst` with a C library twin `libm`: a
    /// native call to `libm` (`libm` + `f` for `float`).
    fn libm_call(&mut self, inst: Instruction<'m>, libm: &str, d: Reg) -> Result<(), String> {
        let single = self.is_f32(*inst)?;
        let nargs = inst.arg_count().unwrap_or_default();
        let start = self.call_arguments(inst)?;
        let scalar = if single { Scalar::F32 } else { Scalar::F64 };
        let sig = Signature {
            cc: 0,
            ret: vec![scalar],
            ret_ext: Ext::None,
            params: vec![(scalar, Ext::None); nargs as usize],
            variadic: None,
        };
        let adapter = self.adapters.get(&sig);
        let f = self.reloc(format!("{libm}{}", if single { "f" } else { "" }), 0);
        self.emit(Op::CallNative { d, f, adapter, args: start, nargs: nargs as u8, nret: 1 });
        Ok(())
    }

    fn intrinsic(&mut self, inst: Instruction<'m>, name: &str, d: Reg) -> Result<(), String> {
        let arg = |i: u32| inst.operand(i);
        let base = name.strip_prefix("llvm.").unwrap_or(name);
        let family = base.split('.').next().unwrap_or("");
        let noop = ["lifetime", "assume", "dbg", "donothing", "sideeffect", "invariant", "pseudoprobe"];
        if noop.contains(&family) || base.starts_with("experimental.noalias.scope.decl") {
            return Ok(());
        }
        let width = |s: &Self| s.int_width(*inst);
        match family {
            "memcpy" | "memmove" | "memset" => {
                let (a, b, c) = (self.operand(arg(0))?, self.operand(arg(1))?, self.operand(arg(2))?);
                self.emit(if family == "memset" { Op::MemSet { a, b, c } } else { Op::MemMove { a, b, c } });
            }
            "umin" | "umax" | "smin" | "smax" => {
                let sh = (64 - width(self)?) as u8;
                let (a, b) = (self.operand(arg(0))?, self.operand(arg(1))?);
                self.emit(match family {
                    "umin" => Op::UMin { d, a, b },
                    "umax" => Op::UMax { d, a, b },
                    "smin" => Op::SMin { d, a, b, sh },
                    _ => Op::SMax { d, a, b, sh },
                });
            }
            "fshl" | "fshr" => {
                let bits = width(self)? as u8;
                let (a, b, c) = (self.operand(arg(0))?, self.operand(arg(1))?, self.operand(arg(2))?);
                self.emit(if family == "fshl" { Op::Fshl { d, a, b, c, bits } } else { Op::Fshr { d, a, b, c, bits } });
            }
            "bswap" | "ctpop" | "ctlz" | "cttz" => {
                let bits = width(self)? as u8;
                let a = self.operand(arg(0))?;
                self.emit(match family {
                    "bswap" => Op::Bswap { d, a, bits },
                    "ctpop" => Op::Ctpop { d, a },
                    "ctlz" => Op::Ctlz { d, a, bits },
                    _ => Op::Cttz { d, a, bits },
                });
            }
            "abs" => {
                let w = width(self)?;
                let (sh, m) = ((64 - w) as u8, mask(w));
                let a = self.operand(arg(0))?;
                let zero = self.constant(0);
                let neg = self.fresh(2);
                self.emit(Op::Sub { d: neg, a: zero, b: a, mask: m });
                self.emit(Op::Slt { d: neg + 1, a, b: zero, sh });
                self.emit(Op::Select { d, c: neg + 1, a: neg, b: a });
            }
            "sqrt" | "fabs" => {
                let single = self.is_f32(*inst)?;
                let a = self.operand(arg(0))?;
                self.emit(match (family, single) {
                    ("sqrt", false) => Op::SqrtD { d, a },
                    ("sqrt", true) => Op::SqrtS { d, a },
                    (_, false) => Op::FAbsD { d, a },
                    _ => Op::FAbsS { d, a },
                });
            }
            "fptosi" | "fptoui" if base.contains(".sat.") => {
                let bits = width(self)? as u8;
                let single = self.is_f32(arg(0))?;
                let a = self.operand(arg(0))?;
                self.emit(if family == "fptosi" {
                    Op::FPToSISat { d, a, single, bits }
                } else {
                    Op::FPToUISat { d, a, single, bits }
                });
            }
            "uadd" | "sadd" | "usub" | "ssub" | "umul" | "smul" if base.contains("with.overflow") => {
                let bits = self.int_width(arg(0))? as u8;
                let kind = match family {
                    "uadd" => OverflowKind::UAdd,
                    "sadd" => OverflowKind::SAdd,
                    "usub" => OverflowKind::USub,
                    "ssub" => OverflowKind::SSub,
                    "umul" => OverflowKind::UMul,
                    _ => OverflowKind::SMul,
                };
                let (a, b) = (self.operand(arg(0))?, self.operand(arg(1))?);
                self.emit(Op::Overflow { d, a, b, kind, bits });
            }
            _ if let Some(libm) = libm_function(family)
                && inst.type_of().kind() != TypeKind::LLVMVectorTypeKind =>
            {
                self.libm_call(inst, libm, d)?;
            }
            "scmp" | "ucmp" => {
                // (b < a) - (a < b), at the result's width.
                let sh = (64 - self.int_width(arg(0))?) as u8;
                let m = mask(width(self)?);
                let (a, b) = (self.operand(arg(0))?, self.operand(arg(1))?);
                let less = self.fresh(2);
                let greater = less + 1;
                if family == "scmp" {
                    self.emit(Op::Slt { d: less, a, b, sh });
                    self.emit(Op::Slt { d: greater, a: b, b: a, sh });
                } else {
                    self.emit(Op::Ult { d: less, a, b });
                    self.emit(Op::Ult { d: greater, a: b, b: a });
                }
                self.emit(Op::Sub { d, a: greater, b: less, mask: m });
            }
            "expect" => {
                let a = self.operand(arg(0))?;
                self.emit(Op::Move { d, a });
            }
            "trap" | "ubsantrap" => self.trap(format!("{name} executed")),
            _ => return Err(format!("the intrinsic {name} is not supported")),
        }
        Ok(())
    }
}
