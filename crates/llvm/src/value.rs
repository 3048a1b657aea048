//! Handles to a module's IR: values, functions, global variables, basic blocks,
//! instructions and attributes.
//!
//! Every handle wraps a non-null pointer to an object of a [`Module`] borrowed for
//! `'m`. Methods that only make sense for some kinds of objects check the kind first
//! (LLVM's C API would cast blindly) and return `None` or panic, as documented.

use std::ffi::{CStr, c_char};
use std::marker::PhantomData;
use std::ops::Deref;

use llvm_sys::core::*;
use llvm_sys::prelude::*;

use crate::module::Module;
use crate::types::{FunctionType, Type};
use crate::{AtomicRmwBinOp, IntPredicate, Linkage, Opcode, RealPredicate};

/// `pub fn <name>(self) -> bool` for each `<name> => <LLVMIsA… function>` pair: whether
/// the value is of that kind.
macro_rules! kind_tests {
    ($($(#[$doc:meta])* $name:ident => $isa:ident;)*) => {$(
        $(#[$doc])*
        pub fn $name(self) -> bool {
            // SAFETY: LLVMIsA* only inspects the kind of a live value and returns it or null.
            unsafe { !$isa(self.raw).is_null() }
        }
    )*};
}

/// The methods every global value (function or global variable) has: whether it is a
/// declaration (documented by the caller), its linkage, and setting it.
macro_rules! global_value_methods {
    ($declaration_doc:literal) => {
        #[doc = $declaration_doc]
        pub fn is_declaration(self) -> bool {
            // SAFETY: `self` is a global value of a live module.
            unsafe { LLVMIsDeclaration(self.raw) != 0 }
        }

        /// Its linkage.
        pub fn linkage(self) -> Linkage {
            // SAFETY: `self` is a global value of a live module.
            unsafe { LLVMGetLinkage(self.raw) }
        }

        /// Sets its linkage.
        pub fn set_linkage(self, linkage: Linkage) {
            // SAFETY: `self` is a global value of a live module.
            unsafe { LLVMSetLinkage(self.raw, linkage) }
        }
    };
}

/// Any value: constant, argument, instruction, global, function, block label.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Value<'m> {
    pub(crate) raw: LLVMValueRef,
    _m: PhantomData<&'m Module>,
}

impl std::fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Value({})", self.print())
    }
}

impl<'m> Value<'m> {
    /// Wraps a value of a live module (`None` for null).
    pub(crate) fn from_raw(raw: LLVMValueRef) -> Option<Value<'m>> {
        (!raw.is_null()).then_some(Value { raw, _m: PhantomData })
    }

    /// Its type.
    pub fn type_of(self) -> Type<'m> {
        // SAFETY: every value has a type.
        Type::from_raw(unsafe { LLVMTypeOf(self.raw) }).unwrap()
    }

    /// Its name (empty for unnamed values).
    pub fn name(self) -> String {
        let mut len = 0;
        // SAFETY: LLVM returns a pointer/length pair valid while the value lives and
        // is not renamed; we copy it at once.
        unsafe {
            let p = LLVMGetValueName2(self.raw, &mut len);
            if p.is_null() {
                String::new()
            } else {
                String::from_utf8_lossy(std::slice::from_raw_parts(p as *const u8, len)).into_owned()
            }
        }
    }

    /// Renames it (LLVM may add a suffix to keep names unique in a module).
    pub fn set_name(self, name: &str) {
        // SAFETY: LLVM copies `name.len()` bytes.
        unsafe { LLVMSetValueName2(self.raw, name.as_ptr() as *const c_char, name.len()) };
    }

    /// Its IR text (an instruction's line, a constant's `type value`).
    pub fn print(self) -> String {
        // SAFETY: LLVM allocates the string; we copy and free it.
        unsafe {
            let p = LLVMPrintValueToString(self.raw);
            let s = CStr::from_ptr(p).to_string_lossy().into_owned();
            LLVMDisposeMessage(p);
            s
        }
    }

    /// This value as an instruction, if it is one.
    pub fn as_instruction(self) -> Option<Instruction<'m>> {
        // SAFETY: LLVMIsA* only inspects the value's kind.
        Value::from_raw(unsafe { LLVMIsAInstruction(self.raw) }).map(Instruction)
    }

    /// This value as a function, if it is one.
    pub fn as_function(self) -> Option<Function<'m>> {
        // SAFETY: kind test.
        Value::from_raw(unsafe { LLVMIsAFunction(self.raw) }).map(Function)
    }

    /// This value as a global variable, if it is one.
    pub fn as_global_variable(self) -> Option<GlobalVariable<'m>> {
        // SAFETY: kind test.
        Value::from_raw(unsafe { LLVMIsAGlobalVariable(self.raw) }).map(GlobalVariable)
    }

    kind_tests! {
        /// Whether it is a function argument.
        is_argument => LLVMIsAArgument;
        /// Whether it is a basic block (a branch's label operand).
        is_basic_block => LLVMIsABasicBlock;
        /// Whether it is a constant (globals and functions included).
        is_constant => LLVMIsAConstant;
        /// Whether it is a global value (function, variable, alias).
        is_global_value => LLVMIsAGlobalValue;
        /// Whether it is an integer constant.
        is_constant_int => LLVMIsAConstantInt;
        /// Whether it is `null` of a pointer type.
        is_null_pointer => LLVMIsAConstantPointerNull;
        /// Whether it is `undef` (or `poison`, a kind of undef).
        is_undef => LLVMIsAUndefValue;
        /// Whether it is `zeroinitializer`.
        is_aggregate_zero => LLVMIsAConstantAggregateZero;
    }

    /// Whether it is a constant whose every bit is zero (`0`, `0.0`, `null`,
    /// `zeroinitializer`).
    pub fn is_zero_constant(self) -> bool {
        // SAFETY: a live value; LLVMIsNull only inspects constants (false otherwise).
        self.is_constant() && unsafe { LLVMIsNull(self.raw) != 0 }
    }

    /// An integer constant's value, zero-extended (`None` for other values and for
    /// constants wider than 64 bits).
    pub fn const_int_zext(self) -> Option<u64> {
        if !self.is_constant_int() || self.type_of().int_width()? > 64 {
            return None;
        }
        // SAFETY: a ConstantInt of at most 64 bits (checked).
        Some(unsafe { LLVMConstIntGetZExtValue(self.raw) })
    }

    /// A floating-point constant's value as a double (`None` for other values).
    pub fn const_real(self) -> Option<f64> {
        // SAFETY: kind test.
        if unsafe { LLVMIsAConstantFP(self.raw).is_null() } {
            return None;
        }
        let mut lossy = 0;
        // SAFETY: a ConstantFP (checked).
        Some(unsafe { LLVMConstRealGetDouble(self.raw, &mut lossy) })
    }

    /// A constant expression's opcode (`None` for other values).
    pub fn const_opcode(self) -> Option<Opcode> {
        // SAFETY: kind test, then a ConstantExpr (checked).
        unsafe { (!LLVMIsAConstantExpr(self.raw).is_null()).then(|| LLVMGetConstOpcode(self.raw)) }
    }

    /// The source element type of a GEP, instruction or constant expression (`None`
    /// for other values).
    pub fn gep_source_element_type(self) -> Option<Type<'m>> {
        // SAFETY: kind test.
        let is_gep = unsafe { !LLVMIsAGetElementPtrInst(self.raw).is_null() }
            || self.const_opcode() == Some(Opcode::LLVMGetElementPtr);
        // SAFETY: a GEP operator (checked).
        if is_gep { Type::from_raw(unsafe { LLVMGetGEPSourceElementType(self.raw) }) } else { None }
    }

    /// The number of operands (0 for values that have none).
    pub fn num_operands(self) -> u32 {
        // SAFETY: kind test, then a User (checked).
        unsafe {
            if LLVMIsAUser(self.raw).is_null() {
                return 0;
            }
            LLVMGetNumOperands(self.raw) as u32
        }
    }

    /// Operand `i`.
    ///
    /// # Panics
    /// If it has no operand `i`.
    pub fn operand(self, i: u32) -> Value<'m> {
        assert!(i < self.num_operands(), "operand {i} of a value with {} operands", self.num_operands());
        // SAFETY: a User with more than `i` operands.
        Value::from_raw(unsafe { LLVMGetOperand(self.raw, i) }).expect("a null operand")
    }

    /// The users of this value, one per use (a user that uses it twice comes twice).
    pub fn users(self) -> Vec<Value<'m>> {
        let mut v = Vec::new();
        // SAFETY: walking a live value's use list; each use names its user.
        unsafe {
            let mut u = LLVMGetFirstUse(self.raw);
            while !u.is_null() {
                v.extend(Value::from_raw(LLVMGetUser(u)));
                u = LLVMGetNextUse(u);
            }
        }
        v
    }

    /// Makes every use of this value use `new` instead.
    ///
    /// # Safety
    /// Constants that use this value may be replaced by new constants and freed: no
    /// handle to such a constant may be used afterwards. `new` must have this value's
    /// type and belong to the same context.
    pub unsafe fn replace_all_uses_with(self, new: Value<'m>) {
        // SAFETY: the caller's contract.
        unsafe { LLVMReplaceAllUsesWith(self.raw, new.raw) };
    }
}

/// A function (definition or declaration).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Function<'m>(pub(crate) Value<'m>);

impl<'m> Deref for Function<'m> {
    type Target = Value<'m>;
    fn deref(&self) -> &Value<'m> {
        &self.0
    }
}

/// Where an attribute sits: on the return value, the function, or a parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttributeIndex {
    /// The return value.
    Return,
    /// The function itself.
    Function,
    /// Parameter `n` (from 0).
    Param(u32),
}

impl AttributeIndex {
    fn raw(self) -> u32 {
        match self {
            AttributeIndex::Return => llvm_sys::LLVMAttributeReturnIndex,
            AttributeIndex::Function => llvm_sys::LLVMAttributeFunctionIndex,
            AttributeIndex::Param(n) => n + 1,
        }
    }
}

/// An attribute (of a function or a call site).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attribute<'m> {
    raw: LLVMAttributeRef,
    _m: PhantomData<&'m Module>,
}

impl<'m> Attribute<'m> {
    pub(crate) fn from_raw(raw: LLVMAttributeRef) -> Attribute<'m> {
        Attribute { raw, _m: PhantomData }
    }
}

impl<'m> Function<'m> {
    /// Reads its body from the bitcode, if its module was read with
    /// [`Module::parse_lazy`](crate::Module::parse_lazy) and the body is not read yet
    /// (otherwise nothing happens). A broken body is the error.
    pub fn materialize(self) -> Result<(), crate::Error> {
        let mut message = std::ptr::null_mut();
        // SAFETY: a function of a live module; the message is ours to free.
        if unsafe { crate::module::bf_materialize_function(self.0.raw, &mut message) } != 0 {
            return Err(crate::Error::Parse(crate::take_message(message)));
        }
        Ok(())
    }

    /// As a plain value.
    pub fn as_value(self) -> Value<'m> {
        self.0
    }

    /// Its type.
    pub fn function_type(self) -> FunctionType<'m> {
        // SAFETY: a function, a global value; its value type is its function type.
        FunctionType(Type::from_raw(unsafe { LLVMGlobalGetValueType(self.raw) }).unwrap())
    }

    /// The number of parameters.
    pub fn param_count(self) -> u32 {
        // SAFETY: a function.
        unsafe { LLVMCountParams(self.raw) }
    }

    /// Parameter `i`.
    ///
    /// # Panics
    /// If `i` is out of range.
    pub fn param(self, i: u32) -> Value<'m> {
        assert!(i < self.param_count(), "parameter {i} out of range");
        // SAFETY: a function with more than `i` parameters.
        Value::from_raw(unsafe { LLVMGetParam(self.raw, i) }).unwrap()
    }

    /// Its basic blocks, in order (none for a declaration).
    pub fn basic_blocks(self) -> Vec<BasicBlock<'m>> {
        let mut v = Vec::new();
        // SAFETY: a function; walking its block list.
        let mut bb = BasicBlock::from_raw(unsafe { LLVMGetFirstBasicBlock(self.raw) });
        while let Some(b) = bb {
            v.push(b);
            bb = b.next();
        }
        v
    }

    /// Its entry block (`None` for a declaration).
    pub fn entry_block(self) -> Option<BasicBlock<'m>> {
        // SAFETY: a function.
        BasicBlock::from_raw(unsafe { LLVMGetFirstBasicBlock(self.raw) })
    }

    /// Appends an empty basic block.
    pub fn append_basic_block(self, name: &str) -> BasicBlock<'m> {
        let name = std::ffi::CString::new(name).unwrap_or_default();
        // SAFETY: a function; its context is the one the block is created in.
        unsafe {
            let ctx = LLVMGetTypeContext(LLVMTypeOf(self.raw));
            BasicBlock::from_raw(LLVMAppendBasicBlockInContext(ctx, self.raw, name.as_ptr())).unwrap()
        }
    }

    /// Inserts an empty basic block before its entry block, which it becomes (the old
    /// entry then is an ordinary block). `None` for a declaration (no entry block).
    pub fn prepend_basic_block(self, name: &str) -> Option<BasicBlock<'m>> {
        let entry = self.entry_block()?;
        let name = std::ffi::CString::new(name).unwrap_or_default();
        // SAFETY: a function's live entry block; the new block is created in its context.
        unsafe {
            let ctx = LLVMGetTypeContext(LLVMTypeOf(self.raw));
            BasicBlock::from_raw(LLVMInsertBasicBlockInContext(ctx, entry.raw, name.as_ptr()))
        }
    }

    /// Moves its whole body — every block, in order — to the end of `to`, a function
    /// with the same parameter types, whose parameters then stand wherever this
    /// function's did. Its debug information (its `DISubprogram`, which the body's
    /// locations refer to) goes with it. This function is left without blocks (a
    /// declaration, until it is given new ones).
    ///
    /// # Panics
    /// If `to` has other parameter types.
    pub fn move_body_to(self, to: Function<'m>) {
        let params = |f: Function<'m>| f.function_type().param_types();
        assert!(params(self) == params(to), "moving a body to a function with other parameters");
        for i in 0..self.param_count() {
            // SAFETY: parameters are not constants; `to`'s parameter `i` has the same
            // type (the function types are equal) and context.
            unsafe { self.param(i).replace_all_uses_with(to.param(i)) };
        }
        for block in self.basic_blocks() {
            // SAFETY: a live block of this function, unlinked and then appended to `to`
            // (same context): it stays alive throughout.
            unsafe {
                LLVMRemoveBasicBlockFromParent(block.raw);
                LLVMAppendExistingBasicBlock(to.raw, block.raw);
            }
        }
        // SAFETY: two functions; a subprogram may be attached to one function only, so
        // it is detached (null) from this one as it is attached to `to`.
        unsafe {
            let subprogram = llvm_sys::debuginfo::LLVMGetSubprogram(self.raw);
            if !subprogram.is_null() {
                llvm_sys::debuginfo::LLVMSetSubprogram(self.raw, std::ptr::null_mut());
                llvm_sys::debuginfo::LLVMSetSubprogram(to.raw, subprogram);
            }
        }
    }

    /// Its personality function (what unwinding through it calls), if it has one.
    pub fn personality(self) -> Option<Value<'m>> {
        // SAFETY: a function.
        unsafe {
            (LLVMHasPersonalityFn(self.raw) != 0).then(|| Value::from_raw(LLVMGetPersonalityFn(self.raw))).flatten()
        }
    }

    /// Sets its personality function.
    pub fn set_personality(self, personality: Value<'m>) {
        // SAFETY: a function and a live value (a function) of the same context.
        unsafe { LLVMSetPersonalityFn(self.raw, personality.raw) }
    }

    /// Its calling convention.
    pub fn call_conv(self) -> u32 {
        // SAFETY: a function.
        unsafe { LLVMGetFunctionCallConv(self.raw) }
    }

    /// Sets its calling convention.
    pub fn set_call_conv(self, cc: u32) {
        // SAFETY: a function.
        unsafe { LLVMSetFunctionCallConv(self.raw, cc) }
    }

    /// Its intrinsic id (0: not an intrinsic).
    pub fn intrinsic_id(self) -> u32 {
        // SAFETY: a function.
        unsafe { LLVMGetIntrinsicID(self.raw) }
    }

    global_value_methods!("Whether it is only declared here (no body).");

    /// Its attributes at `idx`.
    pub fn attributes(self, idx: AttributeIndex) -> Vec<Attribute<'m>> {
        // SAFETY: a function's attribute list read into a buffer of its size.
        unsafe {
            let n = LLVMGetAttributeCountAtIndex(self.raw, idx.raw());
            let mut v = vec![std::ptr::null_mut(); n as usize];
            if n > 0 {
                LLVMGetAttributesAtIndex(self.raw, idx.raw(), v.as_mut_ptr());
            }
            v.into_iter().map(|raw| Attribute { raw, _m: PhantomData }).collect()
        }
    }

    /// Adds `attr` at `idx`.
    pub fn add_attribute(self, idx: AttributeIndex, attr: Attribute<'m>) {
        // SAFETY: a function; attributes are context-owned and immutable.
        unsafe { LLVMAddAttributeAtIndex(self.raw, idx.raw(), attr.raw) }
    }

    /// Whether it has the enum attribute of kind `kind` ([`crate::attribute_kind`]) at
    /// `idx`.
    pub fn has_enum_attribute(self, idx: AttributeIndex, kind: u32) -> bool {
        // SAFETY: a function.
        unsafe { !LLVMGetEnumAttributeAtIndex(self.raw, idx.raw(), kind).is_null() }
    }

    /// Removes the enum attribute of kind `kind` at `idx` (if there).
    pub fn remove_enum_attribute(self, idx: AttributeIndex, kind: u32) {
        // SAFETY: a function.
        unsafe { LLVMRemoveEnumAttributeAtIndex(self.raw, idx.raw(), kind) }
    }

    /// Puts the function's code into the object file section `name` (e.g.
    /// `.text.<function>`, so a linker can place each function on its own).
    pub fn set_section(self, name: &str) {
        let name = std::ffi::CString::new(name).unwrap_or_default();
        // SAFETY: a function (a global value); LLVM copies the name.
        unsafe { LLVMSetSection(self.raw, name.as_ptr()) }
    }

    /// Adds the enum attribute of kind `kind` ([`crate::attribute_kind`], e.g.
    /// `minsize`, `noreturn`) to the function itself.
    pub fn add_enum_attribute(self, kind: u32) {
        // SAFETY: a function; the attribute is created in its context.
        unsafe {
            let ctx = LLVMGetTypeContext(LLVMTypeOf(self.raw));
            let attr = LLVMCreateEnumAttribute(ctx, kind, 0);
            LLVMAddAttributeAtIndex(self.raw, AttributeIndex::Function.raw(), attr);
        }
    }

    /// Deletes the function from its module.
    ///
    /// # Safety
    /// Nothing may use it any more (no instruction or constant, see
    /// [`Value::replace_all_uses_with`]), and no handle to it, its blocks,
    /// instructions or arguments may be used afterwards.
    pub unsafe fn delete(self) {
        // SAFETY: the caller's contract.
        unsafe { LLVMDeleteFunction(self.raw) }
    }
}

/// A global variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GlobalVariable<'m>(pub(crate) Value<'m>);

impl<'m> Deref for GlobalVariable<'m> {
    type Target = Value<'m>;
    fn deref(&self) -> &Value<'m> {
        &self.0
    }
}

impl<'m> GlobalVariable<'m> {
    /// As a plain value.
    pub fn as_value(self) -> Value<'m> {
        self.0
    }

    global_value_methods!("Whether it is only declared here (no initialiser).");

    /// Its initialiser (`None` for a declaration).
    pub fn initializer(self) -> Option<Value<'m>> {
        // SAFETY: a global variable of a live module.
        Value::from_raw(unsafe { LLVMGetInitializer(self.raw) })
    }

    /// The type of the value it holds (its own type is `ptr`).
    pub fn value_type(self) -> Type<'m> {
        // SAFETY: a global value of a live module.
        Type::from_raw(unsafe { LLVMGlobalGetValueType(self.raw) }).expect("a global has a value type")
    }

    /// Whether it is `constant` (never written).
    pub fn is_global_constant(self) -> bool {
        // SAFETY: a global variable of a live module.
        unsafe { LLVMIsGlobalConstant(self.raw) != 0 }
    }

    /// Marks it `constant` or not.
    pub fn set_global_constant(self, constant: bool) {
        // SAFETY: a global variable of a live module.
        unsafe { LLVMSetGlobalConstant(self.raw, constant as i32) }
    }

    /// Whether it is `thread_local`.
    pub fn is_thread_local(self) -> bool {
        // SAFETY: a global variable of a live module.
        unsafe { LLVMIsThreadLocal(self.raw) != 0 }
    }

    /// Sets its initialiser (`None`: it becomes a declaration).
    ///
    /// # Panics
    /// If `init` is not a constant of the variable's context.
    pub fn set_initializer(self, init: Option<Value<'m>>) {
        let raw = match init {
            Some(v) => {
                assert!(v.is_constant(), "a global's initialiser must be a constant");
                // SAFETY: live types.
                let same = unsafe { LLVMGetTypeContext(LLVMTypeOf(v.raw)) == LLVMGetTypeContext(LLVMTypeOf(self.raw)) };
                assert!(same, "an initialiser of another context");
                v.raw
            }
            None => std::ptr::null_mut(),
        };
        // SAFETY: a global variable and a constant of its context, or null.
        unsafe { LLVMSetInitializer(self.raw, raw) }
    }
}

/// A basic block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BasicBlock<'m> {
    pub(crate) raw: LLVMBasicBlockRef,
    _m: PhantomData<&'m Module>,
}

impl<'m> BasicBlock<'m> {
    pub(crate) fn from_raw(raw: LLVMBasicBlockRef) -> Option<BasicBlock<'m>> {
        (!raw.is_null()).then_some(BasicBlock { raw, _m: PhantomData })
    }

    /// The next block of its function.
    pub fn next(self) -> Option<BasicBlock<'m>> {
        // SAFETY: a live block.
        BasicBlock::from_raw(unsafe { LLVMGetNextBasicBlock(self.raw) })
    }

    /// The function it belongs to.
    pub fn function(self) -> Function<'m> {
        // SAFETY: a live block, which this layer only creates inside a function.
        Function(Value::from_raw(unsafe { LLVMGetBasicBlockParent(self.raw) }).expect("a block outside a function"))
    }

    /// Its first instruction (`None` if empty).
    pub fn first_instruction(self) -> Option<Instruction<'m>> {
        // SAFETY: a live block.
        Value::from_raw(unsafe { LLVMGetFirstInstruction(self.raw) }).map(Instruction)
    }

    /// Its instructions, in order. Each instruction's successor is read when the
    /// instruction is yielded, so inserting before the yielded one is fine.
    pub fn instructions(self) -> impl Iterator<Item = Instruction<'m>> {
        std::iter::successors(self.first_instruction(), |i| i.next())
    }
}

/// An instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Instruction<'m>(pub(crate) Value<'m>);

impl<'m> Deref for Instruction<'m> {
    type Target = Value<'m>;
    fn deref(&self) -> &Value<'m> {
        &self.0
    }
}

impl<'m> Instruction<'m> {
    /// As a plain value.
    pub fn as_value(self) -> Value<'m> {
        self.0
    }

    /// Its opcode.
    pub fn opcode(self) -> Opcode {
        // SAFETY: an instruction (the wrapper's invariant).
        unsafe { LLVMGetInstructionOpcode(self.raw) }
    }

    /// The next instruction of its block.
    pub fn next(self) -> Option<Instruction<'m>> {
        // SAFETY: an instruction.
        Value::from_raw(unsafe { LLVMGetNextInstruction(self.raw) }).map(Instruction)
    }

    /// Its block.
    pub fn parent(self) -> BasicBlock<'m> {
        // SAFETY: an instruction of a function's block.
        BasicBlock::from_raw(unsafe { LLVMGetInstructionParent(self.raw) }).expect("an instruction outside a block")
    }

    /// Makes this load or store volatile: LLVM keeps it where it is (it is not
    /// speculated into an earlier block, nor merged or removed).
    ///
    /// # Panics
    /// If it is neither a load nor a store.
    pub fn set_volatile(self) {
        // SAFETY: LLVMIsALoadInst/LLVMIsAStoreInst only inspect the kind of a live value.
        let memory = unsafe { !LLVMIsALoadInst(self.raw).is_null() || !LLVMIsAStoreInst(self.raw).is_null() };
        assert!(memory, "volatile on an instruction that is neither a load nor a store");
        // SAFETY: a load or a store.
        unsafe { LLVMSetVolatile(self.raw, 1) }
    }

    /// Marks a call `musttail`: code generation must make it a jump, and the caller's
    /// arguments (variadic ones included) reach the callee as they came.
    ///
    /// # Panics
    /// If it is not a call.
    pub fn set_musttail(self) {
        // SAFETY: LLVMIsACallInst only inspects the kind of a live value.
        assert!(unsafe { !LLVMIsACallInst(self.raw).is_null() }, "musttail on an instruction that is not a call");
        // SAFETY: a call instruction.
        unsafe { LLVMSetTailCallKind(self.raw, llvm_sys::LLVMTailCallKind::LLVMTailCallKindMustTail) }
    }

    /// Whether it is a call marked `musttail`.
    pub fn is_musttail(self) -> bool {
        // SAFETY: LLVMIsACallInst only inspects the kind of a live value; then a call.
        unsafe {
            !LLVMIsACallInst(self.raw).is_null()
                && LLVMGetTailCallKind(self.raw) == llvm_sys::LLVMTailCallKind::LLVMTailCallKindMustTail
        }
    }

    /// Replaces operand `i`.
    ///
    /// # Panics
    /// If it has no operand `i` or `v` belongs to another context.
    pub fn set_operand(self, i: u32, v: Value<'m>) {
        assert!(i < self.num_operands(), "operand {i} out of range");
        // SAFETY: live types.
        let same = unsafe { LLVMGetTypeContext(LLVMTypeOf(v.raw)) == LLVMGetTypeContext(LLVMTypeOf(self.raw)) };
        assert!(same, "an operand of another context");
        // SAFETY: an instruction (not a constant, whose operands are uniqued) with
        // more than `i` operands.
        unsafe { LLVMSetOperand(self.raw, i, v.raw) }
    }

    /// Removes it from its block and deletes it.
    ///
    /// # Safety
    /// Nothing may use it any more (see [`Value::replace_all_uses_with`]) and no handle
    /// to it may be used afterwards.
    pub unsafe fn erase(self) {
        // SAFETY: the caller's contract.
        unsafe { LLVMInstructionEraseFromParent(self.raw) }
    }

    fn is_call_base(self) -> bool {
        matches!(self.opcode(), Opcode::LLVMCall | Opcode::LLVMInvoke | Opcode::LLVMCallBr)
    }

    /// A call's callee (`None` unless a call, invoke or callbr).
    pub fn called_value(self) -> Option<Value<'m>> {
        // SAFETY: a call base (checked).
        if self.is_call_base() { Value::from_raw(unsafe { LLVMGetCalledValue(self.raw) }) } else { None }
    }

    /// A call's function type (`None` unless a call base).
    pub fn called_function_type(self) -> Option<FunctionType<'m>> {
        // SAFETY: a call base (checked).
        let t = if self.is_call_base() { Type::from_raw(unsafe { LLVMGetCalledFunctionType(self.raw) }) } else { None };
        t.map(FunctionType)
    }

    /// A call's number of arguments (`None` unless a call base).
    pub fn arg_count(self) -> Option<u32> {
        // SAFETY: a call base (checked).
        self.is_call_base().then(|| unsafe { LLVMGetNumArgOperands(self.raw) })
    }

    /// A call's calling convention (`None` unless a call base).
    pub fn call_conv(self) -> Option<u32> {
        // SAFETY: a call base (checked).
        self.is_call_base().then(|| unsafe { LLVMGetInstructionCallConv(self.raw) })
    }

    /// Sets a call's calling convention.
    ///
    /// # Panics
    /// Unless a call base.
    pub fn set_call_conv(self, cc: u32) {
        assert!(self.is_call_base(), "set_call_conv on a non-call");
        // SAFETY: a call base (checked).
        unsafe { LLVMSetInstructionCallConv(self.raw, cc) }
    }

    /// Whether a call site has the enum attribute `kind` at `idx` (false unless a call
    /// base).
    pub fn has_call_site_enum_attribute(self, idx: AttributeIndex, kind: u32) -> bool {
        // SAFETY: a call base (checked).
        self.is_call_base() && unsafe { !LLVMGetCallSiteEnumAttribute(self.raw, idx.raw(), kind).is_null() }
    }

    /// Adds `attr` to a call site at `idx`.
    ///
    /// # Panics
    /// Unless a call base.
    pub fn add_call_site_attribute(self, idx: AttributeIndex, attr: Attribute<'m>) {
        assert!(self.is_call_base(), "add_call_site_attribute on a non-call");
        // SAFETY: a call base (checked); attributes are context-owned and immutable.
        unsafe { LLVMAddCallSiteAttribute(self.raw, idx.raw(), attr.raw) }
    }

    /// Whether it is an `or disjoint` (no bit set in both operands, so it is also
    /// their sum).
    pub fn is_disjoint_or(self) -> bool {
        // SAFETY: an `or` instruction (checked), the kind LLVMGetIsDisjoint reads.
        self.opcode() == Opcode::LLVMOr && unsafe { LLVMGetIsDisjoint(self.raw) != 0 }
    }

    /// An `icmp`'s predicate (`None` for other instructions).
    pub fn icmp_predicate(self) -> Option<IntPredicate> {
        // SAFETY: an icmp (checked).
        (self.opcode() == Opcode::LLVMICmp).then(|| unsafe { LLVMGetICmpPredicate(self.raw) })
    }

    /// An `fcmp`'s predicate (`None` for other instructions).
    pub fn fcmp_predicate(self) -> Option<RealPredicate> {
        // SAFETY: an fcmp (checked).
        (self.opcode() == Opcode::LLVMFCmp).then(|| unsafe { LLVMGetFCmpPredicate(self.raw) })
    }

    /// Whether it is a conditional `br`.
    pub fn is_conditional(self) -> bool {
        // SAFETY: a br (checked).
        self.opcode() == Opcode::LLVMBr && unsafe { LLVMIsConditional(self.raw) != 0 }
    }

    /// A conditional `br`'s condition (`None` for other instructions).
    pub fn condition(self) -> Option<Value<'m>> {
        // SAFETY: a conditional br (checked).
        if self.is_conditional() { Value::from_raw(unsafe { LLVMGetCondition(self.raw) }) } else { None }
    }

    /// A terminator's number of successors (0 for other instructions).
    pub fn successor_count(self) -> u32 {
        // SAFETY: kind test, then a terminator (checked).
        unsafe { if LLVMIsATerminatorInst(self.raw).is_null() { 0 } else { LLVMGetNumSuccessors(self.raw) } }
    }

    /// A terminator's successor `i`.
    ///
    /// # Panics
    /// If it has no successor `i`.
    pub fn successor(self, i: u32) -> BasicBlock<'m> {
        assert!(i < self.successor_count(), "successor {i} out of range");
        // SAFETY: a terminator with more than `i` successors.
        BasicBlock::from_raw(unsafe { LLVMGetSuccessor(self.raw, i) }).unwrap()
    }

    /// A `switch`'s default destination (`None` for other instructions).
    pub fn switch_default_dest(self) -> Option<BasicBlock<'m>> {
        if self.opcode() == Opcode::LLVMSwitch {
            // SAFETY: a switch (checked).
            BasicBlock::from_raw(unsafe { LLVMGetSwitchDefaultDest(self.raw) })
        } else {
            None
        }
    }

    /// The value of a `switch`'s successor `i` (from 1; 0 is the default), `None` for
    /// other instructions or out of range.
    pub fn switch_case_value(self, i: u32) -> Option<Value<'m>> {
        if self.opcode() != Opcode::LLVMSwitch || i == 0 || i >= self.successor_count() {
            return None;
        }
        // SAFETY: a switch with case `i`.
        Value::from_raw(unsafe { LLVMGetSwitchCaseValue(self.raw, i) })
    }

    /// A `phi`'s incoming (value, block) pairs (empty for other instructions).
    pub fn incoming(self) -> Vec<(Value<'m>, BasicBlock<'m>)> {
        if self.opcode() != Opcode::LLVMPHI {
            return Vec::new();
        }
        // SAFETY: a phi (checked), read within its incoming count.
        unsafe {
            (0..LLVMCountIncoming(self.raw))
                .filter_map(|k| {
                    Some((
                        Value::from_raw(LLVMGetIncomingValue(self.raw, k))?,
                        BasicBlock::from_raw(LLVMGetIncomingBlock(self.raw, k))?,
                    ))
                })
                .collect()
        }
    }

    /// An `alloca`'s allocated type (`None` for other instructions).
    pub fn allocated_type(self) -> Option<Type<'m>> {
        if self.opcode() == Opcode::LLVMAlloca {
            // SAFETY: an alloca (checked).
            Type::from_raw(unsafe { LLVMGetAllocatedType(self.raw) })
        } else {
            None
        }
    }

    /// The alignment of an `alloca`, `load`, `store`, `atomicrmw` or `cmpxchg` (`None`
    /// for other instructions).
    pub fn alignment(self) -> Option<u32> {
        use Opcode::*;
        let ok = matches!(self.opcode(), LLVMAlloca | LLVMLoad | LLVMStore | LLVMAtomicRMW | LLVMAtomicCmpXchg);
        // SAFETY: an instruction with an alignment (checked).
        ok.then(|| unsafe { LLVMGetAlignment(self.raw) })
    }

    /// The index path of an `extractvalue` or `insertvalue` (`None` for other
    /// instructions).
    pub fn indices(self) -> Option<Vec<u32>> {
        if !matches!(self.opcode(), Opcode::LLVMExtractValue | Opcode::LLVMInsertValue) {
            return None;
        }
        // SAFETY: an extractvalue/insertvalue (checked): LLVM returns its index array
        // of `LLVMGetNumIndices` entries, valid while the instruction lives; copied.
        unsafe {
            let n = LLVMGetNumIndices(self.raw) as usize;
            let p = LLVMGetIndices(self.raw);
            Some(if n == 0 || p.is_null() { Vec::new() } else { std::slice::from_raw_parts(p, n).to_vec() })
        }
    }

    /// An `atomicrmw`'s operation (`None` for other instructions).
    pub fn atomic_rmw_bin_op(self) -> Option<AtomicRmwBinOp> {
        // SAFETY: an atomicrmw (checked).
        (self.opcode() == Opcode::LLVMAtomicRMW).then(|| unsafe { LLVMGetAtomicRMWBinOp(self.raw) })
    }
}
