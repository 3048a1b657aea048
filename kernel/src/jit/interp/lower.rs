//! LLVM IR → the interpreter's lowered form ([`super::exec`]), through the LLVM C API.
//!
//! Each function is lowered once: every SSA value gets a register (struct values one
//! per field), constants become preset registers, phis become moves on the incoming
//! edges (sequenced with [`sequence_moves`]), GEPs become `base + Σ index × scale +
//! offset` with sizes and field offsets from the module's data layout, and addresses
//! of globals become relocations resolved once the JIT has placed them. Anything else
//! is an error naming the function and the instruction: that function then has no
//! tier 0 and starts in tier 1.

use std::collections::HashMap;
use std::ffi::CStr;

use bf_interp::abi::{Ext, Scalar, Signature};
use bf_interp::{Function, MAX_ARGS, MAX_RET, Op, OverflowKind, Reg, SwitchTable, sequence_moves};
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::target::*;
use llvm_sys::{LLVMAtomicRMWBinOp, LLVMIntPredicate, LLVMOpcode, LLVMTypeKind};

use crate::jit::tiered::value_name;

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
    pub errors: Vec<String>,
}

fn text_of(v: LLVMValueRef) -> String {
    // SAFETY: LLVM allocates the string; we copy and free it.
    unsafe {
        let p = LLVMPrintValueToString(v);
        let s = CStr::from_ptr(p).to_string_lossy().split_whitespace().collect::<Vec<_>>().join(" ");
        LLVMDisposeMessage(p);
        let mut s: String = s.split(", !").next().unwrap_or_default().chars().take(160).collect();
        if s.len() >= 160 {
            s.push('…');
        }
        s
    }
}

fn attr_kind(name: &str) -> u32 {
    // SAFETY: LLVM looks the name up in its attribute table.
    unsafe { LLVMGetEnumAttributeKindForName(name.as_ptr().cast(), name.len()) }
}

/// One scalar of the border, from an LLVM type.
fn scalar(t: LLVMTypeRef) -> Result<Scalar, String> {
    // SAFETY: reading a live type.
    unsafe {
        match LLVMGetTypeKind(t) {
            LLVMTypeKind::LLVMIntegerTypeKind => {
                let w = LLVMGetIntTypeWidth(t);
                if w <= 64 { Ok(Scalar::Int(w)) } else { Err(format!("i{w} is wider than 64 bits")) }
            }
            LLVMTypeKind::LLVMFloatTypeKind => Ok(Scalar::F32),
            LLVMTypeKind::LLVMDoubleTypeKind => Ok(Scalar::F64),
            LLVMTypeKind::LLVMPointerTypeKind => Ok(Scalar::Ptr),
            k => Err(format!("values of type kind {k:?} are not supported")),
        }
    }
}

/// The scalars a value of type `t` flattens into (void: none).
fn fields(t: LLVMTypeRef) -> Result<Vec<Scalar>, String> {
    // SAFETY: reading a live type.
    unsafe {
        match LLVMGetTypeKind(t) {
            LLVMTypeKind::LLVMVoidTypeKind => Ok(vec![]),
            // Only moved around (rustc copies 16-byte arrays as `i128` loads and
            // stores): two registers, low half first; arithmetic on it is refused.
            LLVMTypeKind::LLVMIntegerTypeKind if LLVMGetIntTypeWidth(t) == 128 => Ok(vec![Scalar::Int(64); 2]),
            LLVMTypeKind::LLVMStructTypeKind => {
                let mut v = Vec::new();
                for i in 0..LLVMCountStructElementTypes(t) {
                    v.extend(fields(LLVMStructGetTypeAtIndex(t, i))?);
                }
                Ok(v)
            }
            _ => Ok(vec![scalar(t)?]),
        }
    }
}

/// Registers before field `index` of struct type `t`, and that field's type.
fn field_offset(t: LLVMTypeRef, index: u32) -> Result<(u32, LLVMTypeRef), String> {
    // SAFETY: reading a live struct type.
    unsafe {
        if LLVMGetTypeKind(t) != LLVMTypeKind::LLVMStructTypeKind || index >= LLVMCountStructElementTypes(t) {
            return Err("aggregate index into a non-struct type".into());
        }
        let mut off = 0;
        for i in 0..index {
            off += fields(LLVMStructGetTypeAtIndex(t, i))?.len() as u32;
        }
        Ok((off, LLVMStructGetTypeAtIndex(t, index)))
    }
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

/// The signature of function type `fty` in calling convention `cc`, with extension
/// attributes from `attrs(index, kind)` (index 0 = return, 1.. = parameters).
fn signature(fty: LLVMTypeRef, cc: u32, attrs: impl Fn(u32, u32) -> bool) -> Result<Signature, String> {
    // SAFETY: reading a live function type.
    unsafe {
        if LLVMIsFunctionVarArg(fty) != 0 {
            return Err("variadic functions are not supported".into());
        }
        for bad in ["byval", "inalloca", "preallocated", "inreg"] {
            let k = attr_kind(bad);
            if (0..=LLVMCountParamTypes(fty)).any(|i| attrs(i, k)) {
                return Err(format!("`{bad}` parameters are not supported"));
            }
        }
        let ret = fields(LLVMGetReturnType(fty))?;
        if ret.len() > MAX_RET {
            return Err("returns more than 4 registers".into());
        }
        let n = LLVMCountParamTypes(fty) as usize;
        if n > MAX_ARGS {
            return Err(format!("{n} parameters (at most {MAX_ARGS})"));
        }
        let mut types = vec![std::ptr::null_mut(); n];
        LLVMGetParamTypes(fty, types.as_mut_ptr());
        let mut params = Vec::new();
        for (i, &t) in types.iter().enumerate() {
            params.push((scalar(t)?, ext_at(|k| attrs(i as u32 + 1, k))));
        }
        Ok(Signature { cc, ret, ret_ext: ext_at(|k| attrs(0, k)), params })
    }
}

/// The signature of a defined or declared function.
pub fn function_signature(f: LLVMValueRef) -> Result<Signature, String> {
    // SAFETY: reading a live function and its attributes.
    unsafe {
        signature(LLVMGlobalGetValueType(f), LLVMGetFunctionCallConv(f), |i, k| {
            let idx = if i == 0 { llvm_sys::LLVMAttributeReturnIndex } else { i };
            !LLVMGetEnumAttributeAtIndex(f, idx, k).is_null()
        })
    }
}

/// The signature of a call site (its attributes, and the callee's if known).
fn call_signature(call: LLVMValueRef, callee: Option<LLVMValueRef>) -> Result<Signature, String> {
    // SAFETY: reading a live call instruction and function.
    unsafe {
        signature(LLVMGetCalledFunctionType(call), LLVMGetInstructionCallConv(call), |i, k| {
            let idx = if i == 0 { llvm_sys::LLVMAttributeReturnIndex } else { i };
            !LLVMGetCallSiteEnumAttribute(call, idx, k).is_null()
                || callee.is_some_and(|f| !LLVMGetEnumAttributeAtIndex(f, idx, k).is_null())
        })
    }
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
///
/// # Safety
/// `m` must be a live module and `defs` its defined functions.
pub unsafe fn lower_module(m: LLVMModuleRef, defs: &[LLVMValueRef]) -> LoweredModule {
    let mut out = LoweredModule::default();
    let mut adapters = Adapters::default();
    let ids: HashMap<usize, u32> = defs.iter().enumerate().map(|(i, &f)| (f as usize, i as u32)).collect();
    // SAFETY: a live module's data layout.
    let td = unsafe { LLVMGetModuleDataLayout(m) };
    for &f in defs {
        let sig = function_signature(f);
        out.adapter_of.push(match &sig {
            Ok(s) => adapters.get(s),
            Err(_) => 0,
        });
        let result = match &sig {
            Ok(_) => {
                let mut l = Lowerer::new(td, &ids, &mut adapters);
                // SAFETY: `f` is a defined function of the live module.
                unsafe { l.function(f) }.map(|func| (func, l.relocs))
            }
            Err(e) => Err(format!("{}: its signature cannot cross into the interpreter: {e}", value_name(f))),
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

struct Lowerer<'a> {
    td: LLVMTargetDataRef,
    ids: &'a HashMap<usize, u32>,
    adapters: &'a mut Adapters,
    values: HashMap<usize, Reg>,
    consts: HashMap<u64, Reg>,
    template: Vec<u64>,
    relocs: Vec<Reloc>,
    reloc_regs: HashMap<(String, i64), Reg>,
    code: Vec<Op>,
    call_args: Vec<Reg>,
    switches: Vec<SwitchTable>,
    traps: Vec<String>,
    blocks: HashMap<usize, u32>,
    edges: Vec<(LLVMBasicBlockRef, LLVMBasicBlockRef)>,
    frame_bytes: u32,
    /// An `icmp` whose only use is the `br` right after it: (icmp, predicate, a, b, sh).
    fused: Option<(LLVMValueRef, LLVMIntPredicate, Reg, Reg, u8)>,
    /// GEPs with constant offsets folded into the loads and stores that use them:
    /// GEP → (base value, offset), and whether the GEP itself still needs computing.
    folded: HashMap<usize, (LLVMValueRef, i32, bool)>,
}

impl<'a> Lowerer<'a> {
    fn new(td: LLVMTargetDataRef, ids: &'a HashMap<usize, u32>, adapters: &'a mut Adapters) -> Self {
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
        }
    }
}

fn mask(bits: u32) -> u64 {
    if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 }
}

impl Lowerer<'_> {
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
    unsafe fn const_value(&mut self, v: LLVMValueRef) -> Result<(Option<String>, u64), String> {
        // SAFETY (whole body): reading live constants.
        unsafe {
            let t = LLVMTypeOf(v);
            if !LLVMIsAConstantInt(v).is_null() {
                let w = LLVMGetIntTypeWidth(t);
                if w > 64 {
                    return Err(format!("i{w} constant"));
                }
                return Ok((None, LLVMConstIntGetZExtValue(v) & mask(w)));
            }
            if !LLVMIsAConstantFP(v).is_null() {
                let mut lossy = 0;
                let d = LLVMConstRealGetDouble(v, &mut lossy);
                return match LLVMGetTypeKind(t) {
                    LLVMTypeKind::LLVMFloatTypeKind => Ok((None, (d as f32).to_bits() as u64)),
                    LLVMTypeKind::LLVMDoubleTypeKind => Ok((None, d.to_bits())),
                    k => Err(format!("floating-point constant of kind {k:?}")),
                };
            }
            if !LLVMIsAConstantPointerNull(v).is_null()
                || !LLVMIsAUndefValue(v).is_null()
                || !LLVMIsAConstantAggregateZero(v).is_null()
            {
                return Ok((None, 0));
            }
            if !LLVMIsAGlobalValue(v).is_null() {
                return Ok((Some(value_name(v)), 0));
            }
            if !LLVMIsAConstantExpr(v).is_null() {
                return match LLVMGetConstOpcode(v) {
                    LLVMOpcode::LLVMGetElementPtr => {
                        let (sym, base) = self.const_value(LLVMGetOperand(v, 0))?;
                        let n = LLVMGetNumOperands(v) as u32;
                        let mut off = 0i64;
                        let mut t = LLVMGetGEPSourceElementType(v);
                        for i in 1..n {
                            let idx = LLVMGetOperand(v, i);
                            let (s, x) = self.const_value(idx)?;
                            if s.is_some() {
                                return Err("symbolic GEP index".into());
                            }
                            let w = LLVMGetIntTypeWidth(LLVMTypeOf(idx));
                            let x = ((x << (64 - w)) as i64) >> (64 - w);
                            let (scale, field_off, next) = self.step(t, i == 1, x)?;
                            off = off.wrapping_add(x.wrapping_mul(scale)).wrapping_add(field_off);
                            t = next;
                        }
                        Ok((sym, base.wrapping_add(off as u64)))
                    }
                    LLVMOpcode::LLVMPtrToInt | LLVMOpcode::LLVMIntToPtr | LLVMOpcode::LLVMBitCast => {
                        self.const_value(LLVMGetOperand(v, 0))
                    }
                    LLVMOpcode::LLVMAdd | LLVMOpcode::LLVMSub => {
                        let (s1, a) = self.const_value(LLVMGetOperand(v, 0))?;
                        let (s2, b) = self.const_value(LLVMGetOperand(v, 1))?;
                        if s2.is_some() {
                            return Err("symbolic right operand in a constant expression".into());
                        }
                        let sub = LLVMGetConstOpcode(v) == LLVMOpcode::LLVMSub;
                        Ok((s1, if sub { a.wrapping_sub(b) } else { a.wrapping_add(b) }))
                    }
                    op => Err(format!("constant expression {op:?}")),
                };
            }
            Err(format!("constant `{}`", text_of(v)))
        }
    }

    /// One GEP step into type `t` with index `x`: (scale, extra offset, next type).
    /// The first index scales by `t` itself.
    unsafe fn step(&self, t: LLVMTypeRef, first: bool, x: i64) -> Result<(i64, i64, LLVMTypeRef), String> {
        // SAFETY: reading live types and the data layout.
        unsafe {
            if first {
                return Ok((LLVMABISizeOfType(self.td, t) as i64, 0, t));
            }
            match LLVMGetTypeKind(t) {
                LLVMTypeKind::LLVMStructTypeKind => {
                    let off = LLVMOffsetOfElement(self.td, t, x as u32) as i64;
                    Ok((0, off, LLVMStructGetTypeAtIndex(t, x as u32)))
                }
                LLVMTypeKind::LLVMArrayTypeKind | LLVMTypeKind::LLVMVectorTypeKind => {
                    let e = LLVMGetElementType(t);
                    Ok((LLVMABISizeOfType(self.td, e) as i64, 0, e))
                }
                k => Err(format!("GEP into type kind {k:?}")),
            }
        }
    }

    /// The first register of operand `v` (n registers for a struct).
    unsafe fn operand(&mut self, v: LLVMValueRef) -> Result<Reg, String> {
        if let Some(&r) = self.values.get(&(v as usize)) {
            return Ok(r);
        }
        // SAFETY: reading a live value.
        unsafe {
            if !LLVMIsAInstruction(v).is_null() || !LLVMIsAArgument(v).is_null() {
                return Err(format!("operand `{}` has no register", text_of(v)));
            }
            let t = LLVMTypeOf(v);
            if LLVMGetTypeKind(t) == LLVMTypeKind::LLVMIntegerTypeKind && LLVMGetIntTypeWidth(t) == 128 {
                // Two registers, low half first. The C API reads constants only up to
                // 64 bits; the printed form (`i128 <decimal>`) has all of it.
                let value: u128 = if !LLVMIsAConstantInt(v).is_null() {
                    let text = text_of(v);
                    let digits = text.rsplit(' ').next().unwrap_or_default();
                    digits
                        .parse::<u128>()
                        .or_else(|_| digits.parse::<i128>().map(|x| x as u128))
                        .map_err(|_| format!("i128 constant `{text}`"))?
                } else if !LLVMIsAUndefValue(v).is_null() || !LLVMIsAConstantAggregateZero(v).is_null() {
                    0
                } else {
                    return Err(format!("i128 constant `{}`", text_of(v)));
                };
                let r = self.fresh(2);
                self.template[r.index()] = value as u64;
                self.template[r.index() + 1] = (value >> 64) as u64;
                return Ok(r);
            }
            if LLVMGetTypeKind(t) == LLVMTypeKind::LLVMStructTypeKind {
                // Only all-zero/undef aggregates appear as operands (insertvalue chains).
                if LLVMIsAUndefValue(v).is_null() && LLVMIsAConstantAggregateZero(v).is_null() {
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
    }

    fn target(&mut self, from: LLVMBasicBlockRef, to: LLVMBasicBlockRef) -> Label {
        // SAFETY: reading a live block's first instruction.
        let has_phi = unsafe {
            let first = LLVMGetFirstInstruction(to);
            !first.is_null() && LLVMGetInstructionOpcode(first) == LLVMOpcode::LLVMPHI
        };
        if has_phi {
            self.edges.push((from, to));
            Label::Edge(self.edges.len() as u32 - 1)
        } else {
            Label::Block(self.blocks[&(to as usize)])
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

    unsafe fn function(&mut self, f: LLVMValueRef) -> Result<Function, String> {
        let fname = value_name(f);
        // SAFETY (whole body): walking a live function's blocks and instructions.
        unsafe {
            let nparams = LLVMCountParams(f);
            for i in 0..nparams {
                let p = LLVMGetParam(f, i);
                let r = self.fresh(1);
                self.values.insert(p as usize, r);
            }
            // Registers for every instruction result, and block numbers.
            let mut blocks = Vec::new();
            let mut bb = LLVMGetFirstBasicBlock(f);
            while !bb.is_null() {
                self.blocks.insert(bb as usize, blocks.len() as u32);
                blocks.push(bb);
                let mut inst = LLVMGetFirstInstruction(bb);
                while !inst.is_null() {
                    let n = fields(LLVMTypeOf(inst))
                        .map_err(|e| format!("{fname}: cannot interpret `{}`: {e}", text_of(inst)))?
                        .len() as u32;
                    if n > 0 {
                        let r = self.fresh(n);
                        self.values.insert(inst as usize, r);
                    }
                    inst = LLVMGetNextInstruction(inst);
                }
                bb = LLVMGetNextBasicBlock(bb);
            }
            for &bb in &blocks {
                let mut inst = LLVMGetFirstInstruction(bb);
                while !inst.is_null() {
                    if LLVMGetInstructionOpcode(inst) == LLVMOpcode::LLVMGetElementPtr
                        && let Ok(Some(off)) = self.constant_gep_offset(inst)
                    {
                        // Needed as a value unless every use is the address of a load
                        // or store, or the base of another constant-offset GEP (whose
                        // uses then fold the whole chain).
                        let mut needed = false;
                        let mut u = LLVMGetFirstUse(inst);
                        while !u.is_null() {
                            let user = LLVMGetUser(u);
                            let op = if LLVMIsAInstruction(user).is_null() {
                                None
                            } else {
                                Some(LLVMGetInstructionOpcode(user))
                            };
                            needed |= match op {
                                Some(LLVMOpcode::LLVMLoad) => false,
                                Some(LLVMOpcode::LLVMStore) => LLVMGetOperand(user, 0) == inst,
                                Some(LLVMOpcode::LLVMGetElementPtr) => {
                                    LLVMGetOperand(user, 0) != inst
                                        || !matches!(self.constant_gep_offset(user), Ok(Some(_)))
                                }
                                _ => true,
                            };
                            u = LLVMGetNextUse(u);
                        }
                        self.folded.insert(inst as usize, (LLVMGetOperand(inst, 0), off, needed));
                    }
                    inst = LLVMGetNextInstruction(inst);
                }
            }
            let mut block_pc = Vec::new();
            let mut edge_pc = Vec::new();
            for (bi, &bb) in blocks.iter().enumerate() {
                block_pc.push(self.code.len() as u32);
                let mut inst = LLVMGetFirstInstruction(bb);
                while !inst.is_null() {
                    self.instruction(inst, bi == 0)
                        .map_err(|e| format!("{fname}: cannot interpret `{}`: {e}", text_of(inst)))?;
                    inst = LLVMGetNextInstruction(inst);
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
                let mut inst = LLVMGetFirstInstruction(to);
                while !inst.is_null() && LLVMGetInstructionOpcode(inst) == LLVMOpcode::LLVMPHI {
                    let d = self.values[&(inst as usize)];
                    let n = fields(LLVMTypeOf(inst))?.len() as u32;
                    let mut found = false;
                    for k in 0..LLVMCountIncoming(inst) {
                        if LLVMGetIncomingBlock(inst, k) == from {
                            let s = self
                                .operand(LLVMGetIncomingValue(inst, k))
                                .map_err(|e| format!("{fname}: cannot interpret `{}`: {e}", text_of(inst)))?;
                            for j in 0..n {
                                moves.push((d + j, s + j));
                            }
                            found = true;
                            break;
                        }
                    }
                    if !found {
                        return Err(format!("{fname}: phi `{}` has no value for an edge", text_of(inst)));
                    }
                    inst = LLVMGetNextInstruction(inst);
                }
                let mut next_temp = TEMP_BASE;
                for (d, s) in sequence_moves(&moves, &mut next_temp) {
                    self.emit(Op::Move { d, a: s });
                }
                temps_needed = temps_needed.max(next_temp - TEMP_BASE);
                self.emit(Op::Jump { t: encode(Label::Block(self.blocks[&(to as usize)])) });
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
            // Resolve labels.
            let resolve =
                |t: u32| if t & EDGE_BIT != 0 { edge_pc[(t & !EDGE_BIT) as usize] } else { block_pc[t as usize] };
            for op in self.code.iter_mut() {
                op.targets_mut(|t| *t = resolve(*t));
            }
            for s in self.switches.iter_mut() {
                for c in s.cases.iter_mut() {
                    c.1 = resolve(c.1);
                }
                s.default = resolve(s.default);
            }
            let func = Function {
                name: fname,
                code: std::mem::take(&mut self.code),
                template: std::mem::take(&mut self.template),
                nparams,
                frame_bytes: self.frame_bytes,
                call_args: std::mem::take(&mut self.call_args),
                switches: std::mem::take(&mut self.switches),
                traps: std::mem::take(&mut self.traps),
            };
            func.validate()?;
            if std::env::var("BF_INTERP_DUMP").is_ok_and(|v| func.name.contains(&v)) {
                eprintln!("== {} ({} regs)", func.name, func.template.len());
                for (i, op) in func.code.iter().enumerate() {
                    eprintln!("{i:4} {op:?}");
                }
            }
            Ok(func)
        }
    }

    unsafe fn int_width(&self, v: LLVMValueRef) -> Result<u32, String> {
        // SAFETY: reading a live value's type.
        unsafe {
            let t = LLVMTypeOf(v);
            match LLVMGetTypeKind(t) {
                LLVMTypeKind::LLVMIntegerTypeKind => {
                    let w = LLVMGetIntTypeWidth(t);
                    if w <= 64 { Ok(w) } else { Err(format!("i{w} is wider than 64 bits")) }
                }
                LLVMTypeKind::LLVMPointerTypeKind => Ok(64),
                k => Err(format!("expected an integer, found type kind {k:?}")),
            }
        }
    }

    unsafe fn is_f32(&self, v: LLVMValueRef) -> Result<bool, String> {
        // SAFETY: reading a live value's type.
        unsafe {
            match LLVMGetTypeKind(LLVMTypeOf(v)) {
                LLVMTypeKind::LLVMFloatTypeKind => Ok(true),
                LLVMTypeKind::LLVMDoubleTypeKind => Ok(false),
                k => Err(format!("expected float or double, found type kind {k:?}")),
            }
        }
    }

    unsafe fn mem_size(&self, t: LLVMTypeRef) -> Result<u32, String> {
        // SAFETY: reading a live type.
        unsafe {
            fields(t)?;
            if LLVMGetTypeKind(t) == LLVMTypeKind::LLVMStructTypeKind {
                return Err("first-class aggregate loads and stores are not supported".into());
            }
            let size = LLVMStoreSizeOfType(self.td, t) as u32;
            if matches!(size, 1 | 2 | 4 | 8 | 16) { Ok(size) } else { Err(format!("{size}-byte memory access")) }
        }
    }

    unsafe fn instruction(&mut self, inst: LLVMValueRef, entry: bool) -> Result<(), String> {
        use LLVMOpcode::*;
        // SAFETY (whole body): reading a live instruction.
        unsafe {
            let op = LLVMGetInstructionOpcode(inst);
            let d = self.values.get(&(inst as usize)).copied().unwrap_or(Reg(0));
            let opnd = |i: u32| LLVMGetOperand(inst, i);
            // `icmp eq/ne` of i128 (rustc compares 16-byte arrays that way): both halves.
            if op == LLVMICmp
                && LLVMGetTypeKind(LLVMTypeOf(opnd(0))) == LLVMTypeKind::LLVMIntegerTypeKind
                && LLVMGetIntTypeWidth(LLVMTypeOf(opnd(0))) == 128
            {
                let pred = LLVMGetICmpPredicate(inst);
                if !matches!(pred, LLVMIntPredicate::LLVMIntEQ | LLVMIntPredicate::LLVMIntNE) {
                    return Err("i128 comparisons other than eq/ne".into());
                }
                let (x, y) = (self.operand(opnd(0))?, self.operand(opnd(1))?);
                let t = self.fresh(2);
                if pred == LLVMIntPredicate::LLVMIntEQ {
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
                let mut values = vec![inst];
                values
                    .extend((0..LLVMGetNumOperands(inst) as u32).map(opnd).filter(|&v| LLVMIsABasicBlock(v).is_null()));
                for v in values {
                    if LLVMGetTypeKind(LLVMTypeOf(v)) != LLVMTypeKind::LLVMLabelTypeKind
                        && fields(LLVMTypeOf(v))?.len() > 1
                    {
                        return Err(
                            "integers wider than 64 bits and aggregates are only moved, loaded and stored".into()
                        );
                    }
                }
            }
            match op {
                LLVMPHI => {}
                LLVMRet => {
                    if LLVMGetNumOperands(inst) == 0 {
                        self.emit(Op::Ret { a: Reg(0), n: 0 });
                    } else {
                        let v = opnd(0);
                        let n = fields(LLVMTypeOf(v))?.len() as u8;
                        let a = self.operand(v)?;
                        self.emit(Op::Ret { a, n });
                    }
                }
                LLVMBr => {
                    let bb = LLVMGetInstructionParent(inst);
                    if LLVMIsConditional(inst) != 0 {
                        let cond = LLVMGetCondition(inst);
                        let t = encode(self.target(bb, LLVMGetSuccessor(inst, 0)));
                        let f = encode(self.target(bb, LLVMGetSuccessor(inst, 1)));
                        match self.fused.take() {
                            Some((cmp, pred, x, y, sh)) if cmp == cond => {
                                use LLVMIntPredicate::*;
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
                        let t = self.target(bb, LLVMGetSuccessor(inst, 0));
                        self.emit(Op::Jump { t: encode(t) });
                    }
                }
                LLVMSwitch => {
                    let bb = LLVMGetInstructionParent(inst);
                    let a = self.operand(opnd(0))?;
                    let default = encode(self.target(bb, LLVMGetSwitchDefaultDest(inst)));
                    let mut cases = Vec::new();
                    for k in 1..LLVMGetNumSuccessors(inst) {
                        let (_, v) = self.const_value(LLVMGetSwitchCaseValue(inst, k))?;
                        let t = encode(self.target(bb, LLVMGetSuccessor(inst, k)));
                        cases.push((v, t));
                    }
                    self.switches.push(SwitchTable { cases, default });
                    let table = self.switches.len() as u32 - 1;
                    self.emit(Op::Switch { a, table });
                }
                LLVMUnreachable => self.trap("unreachable executed".into()),
                LLVMAdd | LLVMSub | LLVMMul | LLVMUDiv | LLVMSDiv | LLVMURem | LLVMSRem | LLVMShl | LLVMLShr
                | LLVMAShr | LLVMAnd | LLVMOr | LLVMXor => {
                    let w = self.int_width(inst)?;
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
                    let single = self.is_f32(inst)?;
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
                    self.emit(if self.is_f32(inst)? { Op::FNegS { d, a } } else { Op::FNegD { d, a } });
                }
                LLVMICmp => {
                    let w = self.int_width(opnd(0))?;
                    let sh = (64 - w) as u8;
                    let (x, y) = (self.operand(opnd(0))?, self.operand(opnd(1))?);
                    use LLVMIntPredicate::*;
                    let next = LLVMGetNextInstruction(inst);
                    let first_use = LLVMGetFirstUse(inst);
                    if !next.is_null()
                        && LLVMGetInstructionOpcode(next) == LLVMBr
                        && LLVMIsConditional(next) != 0
                        && LLVMGetCondition(next) == inst
                        && !first_use.is_null()
                        && LLVMGetNextUse(first_use).is_null()
                    {
                        self.fused = Some((inst, LLVMGetICmpPredicate(inst), x, y, sh));
                        return Ok(());
                    }
                    self.emit(match LLVMGetICmpPredicate(inst) {
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
                    let pred = LLVMGetFCmpPredicate(inst) as u8;
                    self.emit(Op::FCmp { d, a, b, pred, single });
                }
                LLVMSelect => {
                    let n = fields(LLVMTypeOf(inst))?.len() as u32;
                    let c = self.operand(opnd(0))?;
                    let (a, b) = (self.operand(opnd(1))?, self.operand(opnd(2))?);
                    for j in 0..n {
                        self.emit(Op::Select { d: d + j, c, a: a + j, b: b + j });
                    }
                }
                LLVMTrunc => {
                    let a = self.operand(opnd(0))?;
                    let mask = mask(self.int_width(inst)?);
                    self.emit(Op::Trunc { d, a, mask });
                }
                LLVMZExt | LLVMBitCast | LLVMIntToPtr | LLVMAddrSpaceCast => {
                    let a = self.operand(opnd(0))?;
                    self.emit(Op::Move { d, a });
                }
                LLVMPtrToInt => {
                    let a = self.operand(opnd(0))?;
                    let mask = mask(self.int_width(inst)?);
                    self.emit(Op::Trunc { d, a, mask });
                }
                LLVMFreeze => {
                    let n = fields(LLVMTypeOf(inst))?.len() as u32;
                    let a = self.operand(opnd(0))?;
                    for j in 0..n {
                        self.emit(Op::Move { d: d + j, a: a + j });
                    }
                }
                LLVMSExt => {
                    let a = self.operand(opnd(0))?;
                    let sh = (64 - self.int_width(opnd(0))?) as u8;
                    let mask = mask(self.int_width(inst)?);
                    self.emit(Op::SExt { d, a, sh, mask });
                }
                LLVMSIToFP => {
                    let a = self.operand(opnd(0))?;
                    let sh = (64 - self.int_width(opnd(0))?) as u8;
                    let single = self.is_f32(inst)?;
                    self.emit(Op::SIToFP { d, a, sh, single });
                }
                LLVMUIToFP => {
                    let a = self.operand(opnd(0))?;
                    let single = self.is_f32(inst)?;
                    self.emit(Op::UIToFP { d, a, single });
                }
                LLVMFPToSI | LLVMFPToUI => {
                    let a = self.operand(opnd(0))?;
                    let single = self.is_f32(opnd(0))?;
                    let mask = mask(self.int_width(inst)?);
                    self.emit(if op == LLVMFPToSI {
                        Op::FPToSI { d, a, single, mask }
                    } else {
                        Op::FPToUI { d, a, single, mask }
                    });
                }
                LLVMFPExt => {
                    if !self.is_f32(opnd(0))? || self.is_f32(inst)? {
                        return Err("only float → double extension".into());
                    }
                    let a = self.operand(opnd(0))?;
                    self.emit(Op::FPExt { d, a });
                }
                LLVMFPTrunc => {
                    if self.is_f32(opnd(0))? || !self.is_f32(inst)? {
                        return Err("only double → float truncation".into());
                    }
                    let a = self.operand(opnd(0))?;
                    self.emit(Op::FPTrunc { d, a });
                }
                LLVMLoad => {
                    let size = self.mem_size(LLVMTypeOf(inst))?;
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
                    let size = self.mem_size(LLVMTypeOf(opnd(0)))?;
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
                    let size = self.mem_size(LLVMTypeOf(inst))? as u8;
                    if size > 8 {
                        return Err("16-byte atomics".into());
                    }
                    let a = self.operand(opnd(0))?;
                    let v = self.operand(opnd(1))?;
                    match LLVMGetAtomicRMWBinOp(inst) {
                        LLVMAtomicRMWBinOp::LLVMAtomicRMWBinOpXchg => self.emit(Op::AtomicXchg { d, a, v, size }),
                        LLVMAtomicRMWBinOp::LLVMAtomicRMWBinOpAdd => self.emit(Op::AtomicAdd { d, a, v, size }),
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
                    let size = LLVMABISizeOfType(self.td, LLVMGetAllocatedType(inst)) * count;
                    let align = LLVMGetAlignment(inst).max(1);
                    if align > 16 {
                        return Err(format!("alloca aligned to {align} bytes (at most 16)"));
                    }
                    let off = self.frame_bytes.div_ceil(align) * align;
                    self.frame_bytes = off + size as u32;
                    self.emit(Op::FrameAddr { d, off });
                }
                LLVMExtractValue => {
                    let agg = opnd(0);
                    let (off, t) = self.agg_path(inst, LLVMTypeOf(agg))?;
                    let n = fields(t)?.len() as u32;
                    let a = self.operand(agg)?;
                    for j in 0..n {
                        self.emit(Op::Move { d: d + j, a: a + off + j });
                    }
                }
                LLVMInsertValue => {
                    let agg = opnd(0);
                    let total = fields(LLVMTypeOf(agg))?.len() as u32;
                    let (off, t) = self.agg_path(inst, LLVMTypeOf(agg))?;
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
    }

    /// Register offset and type of an extractvalue/insertvalue index path.
    unsafe fn agg_path(&self, inst: LLVMValueRef, mut t: LLVMTypeRef) -> Result<(u32, LLVMTypeRef), String> {
        // SAFETY: reading a live instruction's indices.
        unsafe {
            let n = LLVMGetNumIndices(inst) as usize;
            let idx = std::slice::from_raw_parts(LLVMGetIndices(inst), n);
            let mut off = 0;
            for &i in idx {
                let (o, next) = field_offset(t, i)?;
                off += o;
                t = next;
            }
            Ok((off, t))
        }
    }

    /// The offset of a GEP whose indices are all constants, if it fits an `i32`.
    unsafe fn constant_gep_offset(&mut self, inst: LLVMValueRef) -> Result<Option<i32>, String> {
        // SAFETY: reading a live GEP.
        unsafe {
            let n = LLVMGetNumOperands(inst) as u32;
            let mut t = LLVMGetGEPSourceElementType(inst);
            let mut off = 0i64;
            for i in 1..n {
                let idx = LLVMGetOperand(inst, i);
                if LLVMIsAConstantInt(idx).is_null() {
                    return Ok(None);
                }
                let w = self.int_width(idx)?;
                let x = LLVMConstIntGetZExtValue(idx);
                let x = ((x << (64 - w)) as i64) >> (64 - w);
                let (scale, field, next) = self.step(t, i == 1, x)?;
                off = off.wrapping_add(x.wrapping_mul(scale)).wrapping_add(field);
                t = next;
            }
            Ok(i32::try_from(off).ok())
        }
    }

    /// A chain of constant-offset GEPs ending at `p`: its root (the first base that is
    /// not such a GEP) and the total offset, if `p` is one.
    fn fold_chain(&self, mut p: LLVMValueRef) -> Option<(LLVMValueRef, i64)> {
        let mut total = 0i64;
        let mut found = false;
        while let Some(&(base, off, _)) = self.folded.get(&(p as usize)) {
            total = total.wrapping_add(off as i64);
            p = base;
            found = true;
        }
        found.then_some((p, total))
    }

    /// The register and offset of a load's or store's address.
    unsafe fn address(&mut self, p: LLVMValueRef) -> Result<(Reg, i32), String> {
        let Some((root, total)) = self.fold_chain(p) else {
            // SAFETY: a live operand.
            return Ok((unsafe { self.operand(p) }?, 0));
        };
        // SAFETY: the root of a chain of live GEPs.
        let base = unsafe { self.operand(root) }?;
        match i32::try_from(total) {
            Ok(off) => Ok((base, off)),
            Err(_) => {
                let r = self.fresh(1);
                self.emit(Op::AddImm { d: r, a: base, imm: total as u64 });
                Ok((r, 0))
            }
        }
    }

    unsafe fn gep(&mut self, inst: LLVMValueRef, d: Reg) -> Result<(), String> {
        if let Some(&(_, _, needed)) = self.folded.get(&(inst as usize)) {
            // Folded into its users; computed only when also needed as a value, from
            // the chain's root (its base may itself be folded away).
            if needed && let Some((root, total)) = self.fold_chain(inst) {
                // SAFETY: the root of a chain of live GEPs.
                let a = unsafe { self.operand(root) }?;
                self.emit(Op::AddImm { d, a, imm: total as u64 });
            }
            return Ok(());
        }
        // SAFETY: reading a live GEP.
        unsafe {
            let base = self.operand(LLVMGetOperand(inst, 0))?;
            let n = LLVMGetNumOperands(inst) as u32;
            let mut t = LLVMGetGEPSourceElementType(inst);
            let mut off = 0i64;
            let mut cur = base;
            for i in 1..n {
                let idx = LLVMGetOperand(inst, i);
                if !LLVMIsAConstant(idx).is_null() {
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
                    if LLVMGetTypeKind(t) == LLVMTypeKind::LLVMStructTypeKind && i > 1 {
                        return Err("variable struct index".into());
                    }
                    let b = self.operand(idx)?;
                    self.emit(Op::AddScaled { d, a: cur, b, scale, sh: (64 - w) as u8 });
                    cur = d;
                    t = next;
                }
            }
            if off != 0 || cur != d {
                self.emit(Op::AddImm { d, a: cur, imm: off as u64 });
            }
            Ok(())
        }
    }

    unsafe fn call(&mut self, inst: LLVMValueRef, d: Reg) -> Result<(), String> {
        // SAFETY: reading a live call.
        unsafe {
            let callee = LLVMGetCalledValue(inst);
            let nargs = LLVMGetNumArgOperands(inst);
            let arg = |i: u32| LLVMGetOperand(inst, i);
            let is_fn = !LLVMIsAFunction(callee).is_null();
            if is_fn && LLVMGetIntrinsicID(callee) != 0 {
                return self.intrinsic(inst, &value_name(callee), d);
            }
            let nret = fields(LLVMGetReturnType(LLVMGetCalledFunctionType(inst)))?.len();
            if nret > MAX_RET {
                return Err("the call returns more than 4 registers".into());
            }
            if nargs as usize > MAX_ARGS {
                return Err(format!("{nargs} arguments (at most {MAX_ARGS})"));
            }
            let start = self.call_args.len() as u32;
            let mut regs = Vec::new();
            for i in 0..nargs {
                let v = arg(i);
                if fields(LLVMTypeOf(v))?.len() != 1 {
                    return Err("aggregate arguments are not supported".into());
                }
                regs.push(self.operand(v)?);
            }
            self.call_args.extend(regs);
            if is_fn && let Some(&id) = self.ids.get(&(callee as usize)) {
                self.emit(Op::Call { d, id, args: start, nargs: nargs as u8, nret: nret as u8 });
                return Ok(());
            }
            let sig = call_signature(inst, is_fn.then_some(callee))?;
            let adapter = self.adapters.get(&sig);
            let f = self.operand(callee)?;
            self.emit(Op::CallNative { d, f, adapter, args: start, nargs: nargs as u8, nret: nret as u8 });
            Ok(())
        }
    }

    unsafe fn intrinsic(&mut self, inst: LLVMValueRef, name: &str, d: Reg) -> Result<(), String> {
        // SAFETY: reading a live intrinsic call.
        unsafe {
            let arg = |i: u32| LLVMGetOperand(inst, i);
            let base = name.strip_prefix("llvm.").unwrap_or(name);
            let family = base.split('.').next().unwrap_or("");
            let noop = ["lifetime", "assume", "dbg", "donothing", "sideeffect", "invariant", "pseudoprobe"];
            if noop.contains(&family) || base.starts_with("experimental.noalias.scope.decl") {
                return Ok(());
            }
            let width = |s: &Self| s.int_width(inst);
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
                    self.emit(if family == "fshl" {
                        Op::Fshl { d, a, b, c, bits }
                    } else {
                        Op::Fshr { d, a, b, c, bits }
                    });
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
                    let single = self.is_f32(inst)?;
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
}
