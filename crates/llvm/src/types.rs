//! Types, the context (type and constant factory) and the data layout.

use std::marker::PhantomData;

use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::target::{LLVMABISizeOfType, LLVMOffsetOfElement, LLVMStoreSizeOfType, LLVMTargetDataRef};

use crate::TypeKind;
use crate::module::Module;
use crate::value::{Attribute, Value};

/// A type of a module's context.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Type<'m> {
    pub(crate) raw: LLVMTypeRef,
    pub(crate) _m: PhantomData<&'m Module>,
}

impl std::fmt::Debug for Type<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Type({:?})", self.kind())
    }
}

impl<'m> Type<'m> {
    /// Wraps a non-null type of a live module's context.
    pub(crate) fn from_raw(raw: LLVMTypeRef) -> Option<Type<'m>> {
        (!raw.is_null()).then_some(Type { raw, _m: PhantomData })
    }

    /// Its kind.
    pub fn kind(self) -> TypeKind {
        // SAFETY: a live type.
        unsafe { LLVMGetTypeKind(self.raw) }
    }

    /// The width of an integer type (`None` for other kinds).
    pub fn int_width(self) -> Option<u32> {
        // SAFETY: an integer type (checked).
        (self.kind() == TypeKind::LLVMIntegerTypeKind).then(|| unsafe { LLVMGetIntTypeWidth(self.raw) })
    }

    /// The number of elements of a struct type (`None` for other kinds).
    pub fn struct_element_count(self) -> Option<u32> {
        // SAFETY: a struct type (checked).
        (self.kind() == TypeKind::LLVMStructTypeKind).then(|| unsafe { LLVMCountStructElementTypes(self.raw) })
    }

    /// Element `i` of a struct type (`None` for other kinds or out of range).
    pub fn struct_element(self, i: u32) -> Option<Type<'m>> {
        if i >= self.struct_element_count()? {
            return None;
        }
        // SAFETY: a struct type with more than `i` elements.
        Type::from_raw(unsafe { LLVMStructGetTypeAtIndex(self.raw, i) })
    }

    /// The element types of a struct type, in order (empty for other kinds).
    pub fn struct_elements(self) -> Vec<Type<'m>> {
        (0..self.struct_element_count().unwrap_or(0)).filter_map(|i| self.struct_element(i)).collect()
    }

    /// The element type of an array or vector type (`None` for other kinds).
    pub fn element_type(self) -> Option<Type<'m>> {
        match self.kind() {
            TypeKind::LLVMArrayTypeKind | TypeKind::LLVMVectorTypeKind | TypeKind::LLVMScalableVectorTypeKind => {
                // SAFETY: a sequential type (checked).
                Type::from_raw(unsafe { LLVMGetElementType(self.raw) })
            }
            _ => None,
        }
    }

    /// This type as a function type (`None` for other kinds).
    pub fn as_function_type(self) -> Option<FunctionType<'m>> {
        (self.kind() == TypeKind::LLVMFunctionTypeKind).then_some(FunctionType(self))
    }

    /// The context the type belongs to.
    pub(crate) fn context_raw(self) -> LLVMContextRef {
        // SAFETY: a live type.
        unsafe { LLVMGetTypeContext(self.raw) }
    }
}

/// A function type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FunctionType<'m>(pub(crate) Type<'m>);

impl<'m> FunctionType<'m> {
    /// As a plain type.
    pub fn as_type(self) -> Type<'m> {
        self.0
    }

    /// Whether it takes variable arguments.
    pub fn is_var_arg(self) -> bool {
        // SAFETY: a function type (the wrapper's invariant).
        unsafe { LLVMIsFunctionVarArg(self.0.raw) != 0 }
    }

    /// The return type.
    pub fn return_type(self) -> Type<'m> {
        // SAFETY: a function type; it always has a return type.
        Type::from_raw(unsafe { LLVMGetReturnType(self.0.raw) }).unwrap()
    }

    /// The number of parameters.
    pub fn param_count(self) -> u32 {
        // SAFETY: a function type.
        unsafe { LLVMCountParamTypes(self.0.raw) }
    }

    /// The parameter types.
    pub fn param_types(self) -> Vec<Type<'m>> {
        let n = self.param_count() as usize;
        let mut raw = vec![std::ptr::null_mut(); n];
        // SAFETY: a function type; the buffer has room for every parameter type.
        unsafe { LLVMGetParamTypes(self.0.raw, raw.as_mut_ptr()) };
        raw.into_iter().map(|t| Type::from_raw(t).unwrap()).collect()
    }
}

/// A module's context: makes types and constants.
#[derive(Clone, Copy)]
pub struct Context<'m> {
    pub(crate) raw: LLVMContextRef,
    pub(crate) _m: PhantomData<&'m Module>,
}

impl<'m> Context<'m> {
    /// Panics unless `t` belongs to this context (mixing contexts corrupts LLVM).
    pub(crate) fn check_type(self, t: Type<'m>) {
        assert!(t.context_raw() == self.raw, "an LLVM type of another context");
    }

    /// Panics unless `v` belongs to this context.
    pub(crate) fn check_value(self, v: Value<'m>) {
        self.check_type(v.type_of());
    }

    /// The raw handles of `types`, each checked to belong to this context.
    fn raw_types(self, types: &[Type<'m>]) -> Vec<LLVMTypeRef> {
        types
            .iter()
            .map(|&t| {
                self.check_type(t);
                t.raw
            })
            .collect()
    }

    /// `i1` (a condition).
    pub fn i1_type(self) -> Type<'m> {
        // SAFETY: a live context.
        Type::from_raw(unsafe { LLVMInt1TypeInContext(self.raw) }).unwrap()
    }

    /// `i8`.
    pub fn i8_type(self) -> Type<'m> {
        // SAFETY: a live context.
        Type::from_raw(unsafe { LLVMInt8TypeInContext(self.raw) }).unwrap()
    }

    /// `i32`.
    pub fn i32_type(self) -> Type<'m> {
        // SAFETY: a live context.
        Type::from_raw(unsafe { LLVMInt32TypeInContext(self.raw) }).unwrap()
    }

    /// `i64`.
    pub fn i64_type(self) -> Type<'m> {
        // SAFETY: a live context.
        Type::from_raw(unsafe { LLVMInt64TypeInContext(self.raw) }).unwrap()
    }

    /// `iN`.
    pub fn int_type(self, bits: u32) -> Type<'m> {
        // SAFETY: a live context.
        Type::from_raw(unsafe { LLVMIntTypeInContext(self.raw, bits) }).unwrap()
    }

    /// `float`.
    pub fn f32_type(self) -> Type<'m> {
        // SAFETY: a live context.
        Type::from_raw(unsafe { LLVMFloatTypeInContext(self.raw) }).unwrap()
    }

    /// `double`.
    pub fn f64_type(self) -> Type<'m> {
        // SAFETY: a live context.
        Type::from_raw(unsafe { LLVMDoubleTypeInContext(self.raw) }).unwrap()
    }

    /// The literal struct type `{ fields… }` (not packed).
    ///
    /// # Panics
    /// If a field type belongs to another context.
    pub fn struct_type(self, fields: &[Type<'m>]) -> Type<'m> {
        let mut raw = self.raw_types(fields);
        // SAFETY: types of this context; LLVM copies the field array.
        Type::from_raw(unsafe { LLVMStructTypeInContext(self.raw, raw.as_mut_ptr(), raw.len() as u32, 0) }).unwrap()
    }

    /// The `poison` value of `ty`.
    pub fn poison(self, ty: Type<'m>) -> Value<'m> {
        self.check_type(ty);
        // SAFETY: a type of this context.
        Value::from_raw(unsafe { LLVMGetPoison(ty.raw) }).unwrap()
    }

    /// The enum attribute of kind `kind` ([`crate::attribute_kind`], e.g. `zeroext`)
    /// without an argument, for a function's or a call site's parameter or return.
    pub fn enum_attribute(self, kind: u32) -> Attribute<'m> {
        // SAFETY: a live context; attributes are owned by it.
        Attribute::from_raw(unsafe { LLVMCreateEnumAttribute(self.raw, kind, 0) })
    }

    /// `[len x element]`.
    ///
    /// # Panics
    /// If `element` belongs to another context.
    pub fn array_type(self, element: Type<'m>, len: u64) -> Type<'m> {
        self.check_type(element);
        // SAFETY: a type of this context.
        Type::from_raw(unsafe { LLVMArrayType2(element.raw, len) }).unwrap()
    }

    /// `void`.
    pub fn void_type(self) -> Type<'m> {
        // SAFETY: a live context.
        Type::from_raw(unsafe { LLVMVoidTypeInContext(self.raw) }).unwrap()
    }

    /// `ptr` (address space 0).
    pub fn ptr_type(self) -> Type<'m> {
        // SAFETY: a live context.
        Type::from_raw(unsafe { LLVMPointerTypeInContext(self.raw, 0) }).unwrap()
    }

    /// The function type `ret (params…)`.
    ///
    /// # Panics
    /// If a type belongs to another context.
    pub fn function_type(self, ret: Type<'m>, params: &[Type<'m>], var_arg: bool) -> FunctionType<'m> {
        self.check_type(ret);
        let mut raw = self.raw_types(params);
        // SAFETY: types of this context; LLVM copies the parameter array.
        let t = unsafe { LLVMFunctionType(ret.raw, raw.as_mut_ptr(), raw.len() as u32, var_arg as i32) };
        FunctionType(Type::from_raw(t).unwrap())
    }

    /// The integer constant `value` of integer type `ty` (truncated to its width).
    ///
    /// # Panics
    /// If `ty` is not an integer type of this context.
    pub fn const_int(self, ty: Type<'m>, value: u64) -> Value<'m> {
        self.check_type(ty);
        assert!(ty.int_width().is_some(), "const_int of a non-integer type");
        // SAFETY: an integer type of this context.
        Value::from_raw(unsafe { LLVMConstInt(ty.raw, value, 0) }).unwrap()
    }

    /// The null (zero) constant of `ty`.
    pub fn const_null(self, ty: Type<'m>) -> Value<'m> {
        self.check_type(ty);
        // SAFETY: a type of this context.
        Value::from_raw(unsafe { LLVMConstNull(ty.raw) }).unwrap()
    }

    /// The constant expression `inttoptr value to ty`.
    ///
    /// # Panics
    /// If `value` is not an integer constant or `ty` not a pointer type of this context.
    pub fn const_int_to_ptr(self, value: Value<'m>, ty: Type<'m>) -> Value<'m> {
        self.check_value(value);
        self.check_type(ty);
        assert!(value.is_constant() && value.type_of().int_width().is_some(), "inttoptr of a non-integer constant");
        assert!(ty.kind() == TypeKind::LLVMPointerTypeKind, "inttoptr to a non-pointer type");
        // SAFETY: an integer constant and a pointer type of this context.
        Value::from_raw(unsafe { LLVMConstIntToPtr(value.raw, ty.raw) }).unwrap()
    }
}

/// A module's data layout.
#[derive(Clone, Copy)]
pub struct DataLayout<'m> {
    pub(crate) raw: LLVMTargetDataRef,
    pub(crate) _m: PhantomData<&'m Module>,
}

impl<'m> DataLayout<'m> {
    /// The ABI size of `t` in bytes (array stride).
    pub fn abi_size(self, t: Type<'m>) -> u64 {
        // SAFETY: a live data layout and type.
        unsafe { LLVMABISizeOfType(self.raw, t.raw) }
    }

    /// The number of bytes a store of `t` writes.
    pub fn store_size(self, t: Type<'m>) -> u64 {
        // SAFETY: a live data layout and type.
        unsafe { LLVMStoreSizeOfType(self.raw, t.raw) }
    }

    /// The byte offset of element `i` of struct type `t` (`None` for other kinds or
    /// out of range).
    pub fn offset_of_element(self, t: Type<'m>, i: u32) -> Option<u64> {
        if i >= t.struct_element_count()? {
            return None;
        }
        // SAFETY: a struct type with more than `i` elements.
        Some(unsafe { LLVMOffsetOfElement(self.raw, t.raw, i) })
    }
}
