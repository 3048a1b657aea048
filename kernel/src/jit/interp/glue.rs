//! The glue between interpreted and native code, built with LLVM's IR builder (no IR
//! text, so the kernel links no IR parser — issue 16).
//!
//! * An **entry stub** per interpretable function, `<name>.t0`, with the function's own
//!   signature: it spills its arguments to a `u64` array, calls
//!   `bf_interp_call(id, args, ret)` and returns what the interpreter left in `ret`.
//!   The function's slot holds the stub while it runs in tier 0, so native callers
//!   (and `bf_app_main`'s caller) reach the interpreter without knowing.
//! * An **adapter** per signature, `bf.adapt.<n>`: `void (ptr fn, ptr args, ptr ret)`
//!   loads the arguments from `args`, calls `fn` with the signature, and stores the
//!   result fields at `ret`. The interpreter calls any native code — tier-1/2 code in a
//!   slot, host functions — through these (no libffi).
//!
//! Values cross as `u64`s in the interpreter's representation: integers zero-extended,
//! `float` in the low 32 bits, `double` and pointers as their bits.
//!
//! Every interpreted run goes through this glue, so the interpreter's tests exercise it
//! all: `jit-tests/interp.ll` (narrow, signed and zero-extended integers, floats,
//! struct returns, indirect and host calls) prints the same line compiled and
//! interpreted, and every app and C program (variadic `printf` through an adapter)
//! gives its native output wholly interpreted (docs/testing.md).

use bf_interp::abi::{Ext, Scalar, Signature};
use bf_llvm::{AttributeIndex, Builder, Context, Function, FunctionType, Instruction, Module, Opcode, Type, Value};

/// One entry stub to build: the function's name, its id, its signature.
pub type StubSpec = (String, u32, Signature);

/// The glue module `bf.tier0-glue`: one entry stub per entry of `stubs`, one adapter
/// per entry of `adapters` (`bf.adapt.<index>`), and `bf_interp_call` declared.
pub fn glue_module(stubs: &[StubSpec], adapters: &[Signature]) -> Module {
    let module = Module::new("bf.tier0-glue");
    {
        let cx = module.context();
        let (i32t, ptr, void) = (cx.i32_type(), cx.ptr_type(), cx.void_type());
        let entry_ty = cx.function_type(void, &[i32t, ptr, ptr], false);
        let entry = module.add_function("bf_interp_call", entry_ty);
        let mut b = Builder::new(cx);
        for (index, sig) in adapters.iter().enumerate() {
            build_adapter(&module, &mut b, index, sig);
        }
        for (name, id, sig) in stubs {
            build_stub(&module, &mut b, (entry, entry_ty), name, *id, sig);
        }
    }
    module
}

/// The IR type of a scalar.
fn scalar_type<'m>(cx: Context<'m>, s: Scalar) -> Type<'m> {
    match s {
        Scalar::Int(n) => cx.int_type(n),
        Scalar::F32 => cx.f32_type(),
        Scalar::F64 => cx.f64_type(),
        Scalar::Ptr => cx.ptr_type(),
    }
}

/// The return type: `void`, the one field, or a literal struct of the fields.
fn return_type<'m>(cx: Context<'m>, sig: &Signature) -> Type<'m> {
    match sig.ret.as_slice() {
        [] => cx.void_type(),
        [one] => scalar_type(cx, *one),
        fields => cx.struct_type(&fields.iter().map(|&s| scalar_type(cx, s)).collect::<Vec<_>>()),
    }
}

/// The attribute kind of an extension, if any.
fn ext_kind(e: Ext) -> Option<u32> {
    match e {
        Ext::None => None,
        Ext::Zero => Some(bf_llvm::attribute_kind("zeroext")),
        Ext::Sign => Some(bf_llvm::attribute_kind("signext")),
    }
}

/// Where `sig` puts an extension attribute, and its kind: on the return value, then on
/// each parameter that has one. The same for a function and for a call through it.
fn ext_attributes(sig: &Signature) -> impl Iterator<Item = (AttributeIndex, u32)> + '_ {
    let ret = ext_kind(sig.ret_ext).map(|kind| (AttributeIndex::Return, kind));
    let params =
        sig.params.iter().enumerate().filter_map(|(i, &(_, e))| Some((AttributeIndex::Param(i as u32), ext_kind(e)?)));
    ret.into_iter().chain(params)
}

/// The interpreter's `u64` `w` as scalar `s`.
fn narrow<'m>(b: &mut Builder<'m>, cx: Context<'m>, w: Value<'m>, s: Scalar) -> Value<'m> {
    match s {
        Scalar::Int(64) => w,
        Scalar::Int(n) => b.cast(Opcode::LLVMTrunc, w, cx.int_type(n)),
        Scalar::F64 => b.cast(Opcode::LLVMBitCast, w, cx.f64_type()),
        Scalar::F32 => {
            let low = b.cast(Opcode::LLVMTrunc, w, cx.i32_type());
            b.cast(Opcode::LLVMBitCast, low, cx.f32_type())
        }
        Scalar::Ptr => b.cast(Opcode::LLVMIntToPtr, w, cx.ptr_type()),
    }
}

/// Scalar `v` of kind `s` as the interpreter's zero-extended `u64`.
fn widen<'m>(b: &mut Builder<'m>, cx: Context<'m>, v: Value<'m>, s: Scalar) -> Value<'m> {
    let i64t = cx.i64_type();
    match s {
        Scalar::Int(64) => v,
        Scalar::Int(_) => b.cast(Opcode::LLVMZExt, v, i64t),
        Scalar::F64 => b.cast(Opcode::LLVMBitCast, v, i64t),
        Scalar::F32 => {
            let bits = b.cast(Opcode::LLVMBitCast, v, cx.i32_type());
            b.cast(Opcode::LLVMZExt, bits, i64t)
        }
        Scalar::Ptr => b.cast(Opcode::LLVMPtrToInt, v, i64t),
    }
}

/// The type a call through `sig` names: the whole signature, or for a variadic callee
/// its fixed parameters and `...` (LLVM then lowers the call as variadic, setting `%al`).
fn call_type<'m>(cx: Context<'m>, sig: &Signature) -> FunctionType<'m> {
    let fixed = sig.variadic.unwrap_or(sig.params.len());
    let params: Vec<Type<'m>> = sig.params.iter().take(fixed).map(|&(s, _)| scalar_type(cx, s)).collect();
    cx.function_type(return_type(cx, sig), &params, sig.variadic.is_some())
}

/// `bf.adapt.<index>(ptr f, ptr args, ptr ret)`: calls `f` with `sig`.
fn build_adapter<'m>(module: &'m Module, b: &mut Builder<'m>, index: usize, sig: &Signature) {
    let cx = module.context();
    let (ptr, i64t) = (cx.ptr_type(), cx.i64_type());
    let f = module.add_function(&format!("bf.adapt.{index}"), cx.function_type(cx.void_type(), &[ptr; 3], false));
    b.position_at_end(f.append_basic_block("entry"));
    let (callee, args, ret) = (f.param(0), f.param(1), f.param(2));
    let values: Vec<Value<'m>> = sig
        .params
        .iter()
        .enumerate()
        .map(|(i, &(s, _))| {
            let slot = b.element_ptr(i64t, args, i as u64);
            let w = b.load(i64t, slot);
            narrow(b, cx, w, s)
        })
        .collect();
    let call = b.call(call_type(cx, sig), callee, &values);
    set_call_attributes(cx, call, sig);
    let result = call.as_value();
    for (k, &s) in sig.ret.iter().enumerate() {
        let field = if sig.ret.len() == 1 { result } else { b.extract_value(result, k as u32) };
        let w = widen(b, cx, field, s);
        let slot = b.element_ptr(i64t, ret, k as u64);
        b.store(w, slot);
    }
    b.ret_void();
}

/// The calling convention and the extension attributes of `sig` on `call`.
fn set_call_attributes<'m>(cx: Context<'m>, call: Instruction<'m>, sig: &Signature) {
    call.set_call_conv(sig.cc);
    for (index, kind) in ext_attributes(sig) {
        call.add_call_site_attribute(index, cx.enum_attribute(kind));
    }
}

/// `<name>.t0`, with `sig`: interprets function `id` through `entry`.
fn build_stub<'m>(
    module: &'m Module,
    b: &mut Builder<'m>,
    (entry, entry_ty): (Function<'m>, FunctionType<'m>),
    name: &str,
    id: u32,
    sig: &Signature,
) {
    let cx = module.context();
    let i64t = cx.i64_type();
    let params: Vec<Type<'m>> = sig.params.iter().map(|&(s, _)| scalar_type(cx, s)).collect();
    let ret_ty = return_type(cx, sig);
    let f = module.add_function(&format!("{name}.t0"), cx.function_type(ret_ty, &params, false));
    f.set_call_conv(sig.cc);
    for (index, kind) in ext_attributes(sig) {
        f.add_attribute(index, cx.enum_attribute(kind));
    }
    b.position_at_end(f.append_basic_block("entry"));
    let args = b.alloca(cx.array_type(i64t, sig.params.len().max(1) as u64));
    let results = b.alloca(cx.array_type(i64t, bf_interp::MAX_RET as u64));
    for (i, &(s, _)) in sig.params.iter().enumerate() {
        let w = widen(b, cx, f.param(i as u32), s);
        let slot = b.element_ptr(i64t, args, i as u64);
        b.store(w, slot);
    }
    let id = cx.const_int(cx.i32_type(), id as u64);
    b.call(entry_ty, entry.as_value(), &[id, args, results]);
    let mut fields = Vec::new();
    for (k, &s) in sig.ret.iter().enumerate() {
        let slot = b.element_ptr(i64t, results, k as u64);
        let w = b.load(i64t, slot);
        fields.push(narrow(b, cx, w, s));
    }
    match fields.as_slice() {
        [] => b.ret_void(),
        [one] => b.ret(*one),
        _ => {
            let mut agg = cx.poison(ret_ty);
            for (k, &v) in fields.iter().enumerate() {
                agg = b.insert_value(agg, v, k as u32);
            }
            b.ret(agg)
        }
    };
}
