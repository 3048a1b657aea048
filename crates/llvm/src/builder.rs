//! [`Builder`]: inserts instructions into a module's functions.

use std::marker::PhantomData;

use llvm_sys::core::*;
use llvm_sys::prelude::*;

use crate::module::Module;
use crate::types::{Context, FunctionType, Type};
use crate::value::{BasicBlock, Instruction, Value};
use crate::{IntPredicate, Opcode};

/// An instruction builder for one module's context. Values it is given must belong to
/// that context (checked: mixing contexts would corrupt LLVM).
pub struct Builder<'m> {
    raw: LLVMBuilderRef,
    context: Context<'m>,
    positioned: bool,
    _m: PhantomData<&'m Module>,
}

impl Drop for Builder<'_> {
    fn drop(&mut self) {
        // SAFETY: we own the builder.
        unsafe { LLVMDisposeBuilder(self.raw) }
    }
}

impl<'m> Builder<'m> {
    /// A builder for `context`'s module, not positioned yet.
    pub fn new(context: Context<'m>) -> Builder<'m> {
        // SAFETY: a live context; the builder is disposed on drop.
        Builder { raw: unsafe { LLVMCreateBuilderInContext(context.raw) }, context, positioned: false, _m: PhantomData }
    }

    fn check(&self, v: Value<'m>) -> LLVMValueRef {
        self.context.check_value(v);
        v.raw
    }

    fn ready(&self) {
        assert!(self.positioned, "an LLVM builder used before it was positioned");
    }

    /// Inserts before `inst` from now on.
    pub fn position_before(&mut self, inst: Instruction<'m>) {
        let raw = self.check(inst.as_value());
        // SAFETY: a live instruction of this context.
        unsafe { LLVMPositionBuilderBefore(self.raw, raw) };
        self.positioned = true;
    }

    /// The block it inserts into.
    ///
    /// # Panics
    /// If it has not been positioned.
    pub fn insert_block(&self) -> BasicBlock<'m> {
        self.ready();
        // SAFETY: a positioned builder has an insertion block.
        BasicBlock::from_raw(unsafe { LLVMGetInsertBlock(self.raw) }).expect("a positioned builder's block")
    }

    /// The context it builds in.
    pub fn context(&self) -> Context<'m> {
        self.context
    }

    /// Appends to `block` from now on.
    pub fn position_at_end(&mut self, block: BasicBlock<'m>) {
        // SAFETY: a live block (of this context: blocks are made through its functions).
        unsafe { LLVMPositionBuilderAtEnd(self.raw, block.raw) };
        self.positioned = true;
    }

    /// Moves `inst` from where it is to the builder's position (within its function:
    /// what it uses must still come before it, which the verifier checks).
    pub fn move_here(&mut self, inst: Instruction<'m>) {
        self.ready();
        let raw = self.check(inst.as_value());
        // SAFETY: a live instruction of this context and a positioned builder; the
        // instruction is unlinked from its block (not deleted) and linked in again here.
        unsafe {
            LLVMInstructionRemoveFromParent(raw);
            LLVMInsertIntoBuilder(self.raw, raw);
        }
    }

    /// `load ty, ptr p`.
    pub fn load(&mut self, ty: Type<'m>, p: Value<'m>) -> Value<'m> {
        self.ready();
        self.context.check_type(ty);
        let p = self.check(p);
        // SAFETY: a positioned builder, a type and a value of its context.
        Value::from_raw(unsafe { LLVMBuildLoad2(self.raw, ty.raw, p, c"".as_ptr()) }).unwrap()
    }

    /// `store v, ptr p`.
    pub fn store(&mut self, v: Value<'m>, p: Value<'m>) -> Instruction<'m> {
        self.ready();
        let (v, p) = (self.check(v), self.check(p));
        // SAFETY: a positioned builder and values of its context.
        Instruction(Value::from_raw(unsafe { LLVMBuildStore(self.raw, v, p) }).unwrap())
    }

    /// `add a, b`.
    pub fn add(&mut self, a: Value<'m>, b: Value<'m>) -> Value<'m> {
        self.ready();
        let (a, b) = (self.check(a), self.check(b));
        // SAFETY: a positioned builder and values of its context.
        Value::from_raw(unsafe { LLVMBuildAdd(self.raw, a, b, c"".as_ptr()) }).unwrap()
    }

    /// `sub a, b`.
    pub fn sub(&mut self, a: Value<'m>, b: Value<'m>) -> Value<'m> {
        self.ready();
        let (a, b) = (self.check(a), self.check(b));
        // SAFETY: a positioned builder and values of its context.
        Value::from_raw(unsafe { LLVMBuildSub(self.raw, a, b, c"".as_ptr()) }).unwrap()
    }

    /// `mul a, b`.
    pub fn mul(&mut self, a: Value<'m>, b: Value<'m>) -> Value<'m> {
        self.ready();
        let (a, b) = (self.check(a), self.check(b));
        // SAFETY: a positioned builder and values of its context.
        Value::from_raw(unsafe { LLVMBuildMul(self.raw, a, b, c"".as_ptr()) }).unwrap()
    }

    /// `lshr a, b`.
    pub fn lshr(&mut self, a: Value<'m>, b: Value<'m>) -> Value<'m> {
        self.ready();
        let (a, b) = (self.check(a), self.check(b));
        // SAFETY: a positioned builder and values of its context.
        Value::from_raw(unsafe { LLVMBuildLShr(self.raw, a, b, c"".as_ptr()) }).unwrap()
    }

    /// `phi ty [value, block]…`: `incoming` gives the value arriving from each
    /// predecessor block.
    pub fn phi(&mut self, ty: Type<'m>, incoming: &[(Value<'m>, BasicBlock<'m>)]) -> Value<'m> {
        self.ready();
        self.context.check_type(ty);
        let mut values: Vec<LLVMValueRef> = incoming.iter().map(|&(v, _)| self.check(v)).collect();
        let mut blocks: Vec<LLVMBasicBlockRef> = incoming.iter().map(|&(_, b)| b.raw).collect();
        // SAFETY: a positioned builder, a type, values and blocks of its context; LLVM
        // copies both arrays, which have the same length.
        unsafe {
            let phi = LLVMBuildPhi(self.raw, ty.raw, c"".as_ptr());
            LLVMAddIncoming(phi, values.as_mut_ptr(), blocks.as_mut_ptr(), values.len() as u32);
            Value::from_raw(phi).unwrap()
        }
    }

    /// `and a, b`.
    pub fn and(&mut self, a: Value<'m>, b: Value<'m>) -> Value<'m> {
        self.ready();
        let (a, b) = (self.check(a), self.check(b));
        // SAFETY: a positioned builder and values of its context.
        Value::from_raw(unsafe { LLVMBuildAnd(self.raw, a, b, c"".as_ptr()) }).unwrap()
    }

    /// `select i1 condition, then, otherwise`.
    pub fn select(&mut self, condition: Value<'m>, then: Value<'m>, otherwise: Value<'m>) -> Value<'m> {
        self.ready();
        let (c, t, e) = (self.check(condition), self.check(then), self.check(otherwise));
        // SAFETY: a positioned builder and values of its context.
        Value::from_raw(unsafe { LLVMBuildSelect(self.raw, c, t, e, c"".as_ptr()) }).unwrap()
    }

    /// `icmp predicate a, b` (an `i1`).
    pub fn icmp(&mut self, predicate: IntPredicate, a: Value<'m>, b: Value<'m>) -> Value<'m> {
        self.ready();
        let (a, b) = (self.check(a), self.check(b));
        // SAFETY: a positioned builder and values of its context.
        Value::from_raw(unsafe { LLVMBuildICmp(self.raw, predicate, a, b, c"".as_ptr()) }).unwrap()
    }

    /// `br label to`: ends the current block.
    pub fn br(&mut self, to: BasicBlock<'m>) -> Instruction<'m> {
        self.ready();
        // SAFETY: a positioned builder and a block of its context.
        Instruction(Value::from_raw(unsafe { LLVMBuildBr(self.raw, to.raw) }).unwrap())
    }

    /// `br i1 condition, label then, label otherwise`: ends the current block.
    pub fn cond_br(
        &mut self,
        condition: Value<'m>,
        then: BasicBlock<'m>,
        otherwise: BasicBlock<'m>,
    ) -> Instruction<'m> {
        self.ready();
        let condition = self.check(condition);
        // SAFETY: a positioned builder, an `i1` and blocks of its context.
        Instruction(Value::from_raw(unsafe { LLVMBuildCondBr(self.raw, condition, then.raw, otherwise.raw) }).unwrap())
    }

    /// `fmul a, b` (no fast-math flags).
    pub fn fmul(&mut self, a: Value<'m>, b: Value<'m>) -> Value<'m> {
        self.ready();
        let (a, b) = (self.check(a), self.check(b));
        // SAFETY: a positioned builder and values of its context.
        Value::from_raw(unsafe { LLVMBuildFMul(self.raw, a, b, c"".as_ptr()) }).unwrap()
    }

    /// `fadd a, b` (no fast-math flags).
    pub fn fadd(&mut self, a: Value<'m>, b: Value<'m>) -> Value<'m> {
        self.ready();
        let (a, b) = (self.check(a), self.check(b));
        // SAFETY: a positioned builder and values of its context.
        Value::from_raw(unsafe { LLVMBuildFAdd(self.raw, a, b, c"".as_ptr()) }).unwrap()
    }

    /// `llvm.memcpy(dst, src, size)` with alignment 1 on both sides.
    pub fn memcpy(&mut self, dst: Value<'m>, src: Value<'m>, size: Value<'m>) -> Value<'m> {
        self.ready();
        let (dst, src, size) = (self.check(dst), self.check(src), self.check(size));
        // SAFETY: a positioned builder and values of its context (pointers and an integer).
        Value::from_raw(unsafe { LLVMBuildMemCpy(self.raw, dst, 1, src, 1, size) }).unwrap()
    }

    /// `llvm.memset(dst, byte, size)` with alignment 1.
    pub fn memset(&mut self, dst: Value<'m>, byte: Value<'m>, size: Value<'m>) -> Value<'m> {
        self.ready();
        let (dst, byte, size) = (self.check(dst), self.check(byte), self.check(size));
        // SAFETY: a positioned builder and values of its context (a pointer, an i8, an integer).
        Value::from_raw(unsafe { LLVMBuildMemSet(self.raw, dst, byte, size, 1) }).unwrap()
    }

    /// `getelementptr inbounds i8, ptr p, i64 offset`: `p` plus `offset` bytes.
    pub fn byte_offset(&mut self, p: Value<'m>, offset: Value<'m>) -> Value<'m> {
        self.ready();
        let (p, mut offset) = (self.check(p), self.check(offset));
        let i8_ty = self.context.i8_type();
        // SAFETY: a positioned builder, a type and values of its context; one index.
        Value::from_raw(unsafe { LLVMBuildInBoundsGEP2(self.raw, i8_ty.raw, p, &mut offset, 1, c"".as_ptr()) }).unwrap()
    }

    /// `v` passed through an empty inline `asm` that returns it in the same register:
    /// the same value at run time, which LLVM's optimiser cannot see through (it does
    /// not replace a count made with it by a closed form, for instance). `v` must be an
    /// integer.
    pub fn opaque(&mut self, v: Value<'m>) -> Value<'m> {
        self.ready();
        let ty = v.type_of();
        let fty = self.context.function_type(ty, &[ty], false);
        let constraints = "=r,0";
        // SAFETY: an empty asm string and a constraint string of the lengths given; a
        // function type of this context. The asm has no side effects and cannot throw.
        let asm = unsafe {
            LLVMGetInlineAsm(
                fty.as_type().raw,
                c"".as_ptr().cast_mut(),
                0,
                constraints.as_ptr().cast_mut().cast(),
                constraints.len(),
                0,
                0,
                llvm_sys::LLVMInlineAsmDialect::LLVMInlineAsmDialectATT,
                0,
            )
        };
        let asm = Value::from_raw(asm).expect("an inline asm value");
        self.call(fty, asm, &[v]).as_value()
    }

    /// `call fty callee(args…)`.
    pub fn call(&mut self, fty: FunctionType<'m>, callee: Value<'m>, args: &[Value<'m>]) -> Instruction<'m> {
        self.ready();
        self.context.check_type(fty.as_type());
        let callee = self.check(callee);
        let mut raw: Vec<LLVMValueRef> = args.iter().map(|&a| self.check(a)).collect();
        // SAFETY: a positioned builder, a function type and values of its context;
        // LLVM copies the argument array.
        let call = unsafe {
            LLVMBuildCall2(self.raw, fty.as_type().raw, callee, raw.as_mut_ptr(), raw.len() as u32, c"".as_ptr())
        };
        Instruction(Value::from_raw(call).unwrap())
    }

    /// `alloca ty` in the current block (the ABI alignment of `ty`).
    pub fn alloca(&mut self, ty: Type<'m>) -> Value<'m> {
        self.ready();
        self.context.check_type(ty);
        // SAFETY: a positioned builder and a type of its context.
        Value::from_raw(unsafe { LLVMBuildAlloca(self.raw, ty.raw, c"".as_ptr()) }).unwrap()
    }

    /// `getelementptr element, ptr p, i64 index`: the address of element `index` of an
    /// array of `element`s at `p`.
    pub fn element_ptr(&mut self, element: Type<'m>, p: Value<'m>, index: u64) -> Value<'m> {
        self.ready();
        self.context.check_type(element);
        let p = self.check(p);
        let mut index = self.context.const_int(self.context.i64_type(), index).raw;
        // SAFETY: a positioned builder, a type and values of its context; one index.
        Value::from_raw(unsafe { LLVMBuildGEP2(self.raw, element.raw, p, &mut index, 1, c"".as_ptr()) }).unwrap()
    }

    /// The cast `op v to ty` (`trunc`, `zext`, `bitcast`, `inttoptr`, `ptrtoint`, …).
    ///
    /// # Panics
    /// If `op` is not a cast opcode.
    pub fn cast(&mut self, op: Opcode, v: Value<'m>, ty: Type<'m>) -> Value<'m> {
        self.ready();
        use Opcode::*;
        assert!(
            matches!(
                op,
                LLVMTrunc
                    | LLVMZExt
                    | LLVMSExt
                    | LLVMFPToUI
                    | LLVMFPToSI
                    | LLVMUIToFP
                    | LLVMSIToFP
                    | LLVMFPTrunc
                    | LLVMFPExt
                    | LLVMPtrToInt
                    | LLVMIntToPtr
                    | LLVMBitCast
                    | LLVMAddrSpaceCast
            ),
            "{op:?} is not a cast"
        );
        self.context.check_type(ty);
        let v = self.check(v);
        // SAFETY: a positioned builder, a cast opcode (checked), a value and a type of
        // its context.
        Value::from_raw(unsafe { LLVMBuildCast(self.raw, op, v, ty.raw, c"".as_ptr()) }).unwrap()
    }

    /// `extractvalue agg, index`.
    pub fn extract_value(&mut self, agg: Value<'m>, index: u32) -> Value<'m> {
        self.ready();
        let agg = self.check(agg);
        // SAFETY: a positioned builder and a value of its context.
        Value::from_raw(unsafe { LLVMBuildExtractValue(self.raw, agg, index, c"".as_ptr()) }).unwrap()
    }

    /// `insertvalue agg, v, index`.
    pub fn insert_value(&mut self, agg: Value<'m>, v: Value<'m>, index: u32) -> Value<'m> {
        self.ready();
        let (agg, v) = (self.check(agg), self.check(v));
        // SAFETY: a positioned builder and values of its context.
        Value::from_raw(unsafe { LLVMBuildInsertValue(self.raw, agg, v, index, c"".as_ptr()) }).unwrap()
    }

    /// `ret v`.
    pub fn ret(&mut self, v: Value<'m>) -> Instruction<'m> {
        self.ready();
        let v = self.check(v);
        // SAFETY: a positioned builder and a value of its context.
        Instruction(Value::from_raw(unsafe { LLVMBuildRet(self.raw, v) }).unwrap())
    }

    /// `unreachable`.
    pub fn unreachable(&mut self) -> Instruction<'m> {
        self.ready();
        // SAFETY: a positioned builder.
        Instruction(Value::from_raw(unsafe { LLVMBuildUnreachable(self.raw) }).unwrap())
    }

    /// A private constant global holding `text` and a NUL, as a pointer (a C string).
    pub fn global_string(&mut self, text: &str, name: &str) -> Value<'m> {
        self.ready();
        let text = std::ffi::CString::new(text).unwrap_or_default();
        let name = std::ffi::CString::new(name).unwrap_or_default();
        // SAFETY: a positioned builder (the global goes into its block's module); LLVM
        // copies both strings.
        Value::from_raw(unsafe { LLVMBuildGlobalString(self.raw, text.as_ptr(), name.as_ptr()) }).unwrap()
    }

    /// `ret void`.
    pub fn ret_void(&mut self) -> Instruction<'m> {
        self.ready();
        // SAFETY: a positioned builder.
        Instruction(Value::from_raw(unsafe { LLVMBuildRetVoid(self.raw) }).unwrap())
    }
}
