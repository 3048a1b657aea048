//! Module rewriting for the tiered engine (docs/engine.md), through the safe LLVM
//! layer:
//!
//! * [`name_symbols`]: unique external names for globals and defined functions, so
//!   modules compiled later (and the interpreter) can refer to them by name;
//! * [`rewrite`]: the tier-1 module — a **slot** per defined function (a global `ptr`
//!   named `bf.slot.<function>`, initially the function itself), every call to a
//!   defined function through its slot, and `bf_prof_enter(id)`/`bf_prof_exit(id)` on
//!   entry and before each return — or the top-tier module of one function;
//! * [`trampoline`]: a tier-1 function replaced by a jump through its own slot, which
//!   starts at its tier-0 stub;
//! * [`isolate`]: the module that compiles one function alone at a middle tier.

use std::collections::HashMap;

use bf_llvm::{AttributeIndex, Builder, Function, Linkage, Module, Opcode, TypeKind};

/// The functions `m` defines (not declarations or intrinsics), in order: their
/// positions are the function ids.
pub fn defined_functions(m: &Module) -> Vec<Function<'_>> {
    m.functions().into_iter().filter(|&f| defined(f)).collect()
}

/// Whether `f` is defined here (not a declaration or an intrinsic).
fn defined(f: Function<'_>) -> bool {
    !f.is_declaration() && f.intrinsic_id() == 0
}

fn internal_or_private(linkage: Linkage) -> bool {
    matches!(linkage, Linkage::LLVMInternalLinkage | Linkage::LLVMPrivateLinkage)
}

/// Step 1 of [`rewrite`] alone, for the interpreter's copy of the module: unnamed
/// globals get the names `bf.anon.N`, internal and private globals and defined
/// functions become external (the same names as in the tier-1 module).
pub fn name_symbols(m: &Module) {
    let mut anon = 0;
    for g in m.globals() {
        let name = g.name();
        if !name.starts_with("llvm.") {
            if name.is_empty() {
                g.set_name(&format!("bf.anon.{anon}"));
                anon += 1;
            }
            if internal_or_private(g.linkage()) {
                g.set_linkage(Linkage::LLVMExternalLinkage);
            }
        }
    }
    for f in defined_functions(m) {
        if internal_or_private(f.linkage()) {
            f.set_linkage(Linkage::LLVMExternalLinkage);
        }
    }
}

/// Turns every global `m` defines (slots included) into a declaration of the same
/// external name, so a module compiled after tier 1 uses tier 1's copies. `m`'s
/// symbols must have been named by [`name_symbols`].
fn use_tier1_globals(m: &Module) {
    for g in m.globals() {
        if !g.name().starts_with("llvm.") && !g.is_declaration() {
            g.set_initializer(None);
            g.set_linkage(Linkage::LLVMExternalLinkage);
        }
    }
}

/// The load-time module's `ptr` global that the engine points at its profile counters
/// (`bf_tiers::Counters`, one per function id), so top-tier code counts its calls
/// without embedding an address of this boot: its object stays valid in a snapshot.
pub const COUNTERS_GLOBAL: &str = "bf.counters";

/// Rewrites `m` (not yet handed to a JIT) as described in the module docs and returns
/// the defined functions' names, in function-id order. With `keep = Some((name,
/// suffix, offset))`, produces the top-tier module of `name` (renamed
/// `<name>.<suffix>`, its calls counted in the `u64` at byte `offset` from where
/// [`COUNTERS_GLOBAL`] points); with `None`, the load-time module (which defines
/// [`COUNTERS_GLOBAL`], null until the engine sets it).
pub fn rewrite(m: &Module, keep: Option<(&str, &str, u64)>) -> Vec<String> {
    rewrite_with(m, keep, true)
}

/// As [`rewrite`]; with `hooks` false the load-time module gets its slots and names but
/// no `bf_prof_enter`/`bf_prof_exit` calls: the same module without its profiling,
/// which what profiling costs is measured against.
pub fn rewrite_with(m: &Module, keep: Option<(&str, &str, u64)>, hooks: bool) -> Vec<String> {
    let ctx = m.context();
    let ptr_ty = ctx.ptr_type();
    let i32_ty = ctx.i32_type();
    let hook_ty = ctx.function_type(ctx.void_type(), &[i32_ty], false);
    // 1. Unique external names for globals and defined functions.
    name_symbols(m);
    if keep.is_some() {
        use_tier1_globals(m);
    }
    let defs = defined_functions(m);
    let names: Vec<String> = defs.iter().map(|f| f.name()).collect();
    let mut builder = Builder::new(ctx);
    if let Some((keep, suffix, offset)) = keep {
        // The top tier: the promoted function under a new name, counting its calls in
        // place; every other function an internal, uninstrumented copy that O3
        // may inline (the profile said this code is hot: give it everything).
        let i64_ty = ctx.i64_type();
        let counters = m.add_global(ptr_ty, COUNTERS_GLOBAL);
        for (&f, name) in defs.iter().zip(&names) {
            if name == keep {
                f.set_name(&format!("{name}.{suffix}"));
                let first = f.entry_block().and_then(|b| b.first_instruction()).expect("a defined function's entry");
                builder.position_before(first);
                let base = builder.load(ptr_ty, counters.as_value());
                let at = builder.byte_offset(base, ctx.const_int(i64_ty, offset));
                let old = builder.load(i64_ty, at);
                let new = builder.add(old, ctx.const_int(i64_ty, 1));
                builder.store(new, at);
            } else {
                f.set_linkage(Linkage::LLVMInternalLinkage);
            }
        }
        return names;
    }
    // 2. One slot per defined function, and the counters' address.
    m.add_global(ptr_ty, COUNTERS_GLOBAL).set_initializer(Some(ctx.const_null(ptr_ty)));
    let mut slots = HashMap::new();
    for (&f, name) in defs.iter().zip(&names) {
        let slot = m.add_global(ptr_ty, &format!("bf.slot.{name}"));
        slot.set_initializer(Some(f.as_value()));
        slots.insert(f.as_value(), slot);
    }
    // 3. Calls through slots, and the profiling hooks.
    let enter = m.add_function("bf_prof_enter", hook_ty);
    let exit = m.add_function("bf_prof_exit", hook_ty);
    for (id, &f) in defs.iter().enumerate() {
        let idv = ctx.const_int(i32_ty, id as u64);
        for (i, bb) in f.basic_blocks().into_iter().enumerate() {
            let insts: Vec<_> = bb.instructions().collect();
            if i == 0
                && hooks
                && let Some(&first) = insts.first()
            {
                builder.position_before(first);
                builder.call(hook_ty, enter.as_value(), &[idv]);
            }
            for inst in insts {
                match inst.opcode() {
                    Opcode::LLVMCall => {
                        if let Some(&slot) = inst.called_value().and_then(|callee| slots.get(&callee)) {
                            builder.position_before(inst);
                            let target = builder.load(ptr_ty, slot.as_value());
                            inst.set_operand(inst.num_operands() - 1, target);
                        }
                    }
                    Opcode::LLVMRet if hooks => {
                        builder.position_before(inst);
                        builder.call(hook_ty, exit.as_value(), &[idv]);
                    }
                    _ => {}
                }
            }
        }
    }
    names
}

/// Replaces function `f` of `m` by a fresh function with the same name, type, calling
/// convention and (with `keep_attributes`) attributes, and returns it (empty: the
/// caller gives it a body or leaves it a declaration). Every use of `f` — constants
/// such as vtables included — refers to the new function afterwards.
///
/// # Safety
/// `f` is deleted: no handle to it, its blocks, instructions or arguments, nor to a
/// constant expression that uses it, may be used afterwards.
unsafe fn replace_function<'m>(m: &'m Module, f: Function<'m>, keep_attributes: bool) -> Function<'m> {
    let name = f.name();
    let new = m.add_function("bf.replacement", f.function_type());
    new.set_call_conv(f.call_conv());
    if keep_attributes {
        for idx in attribute_indices(f) {
            for a in f.attributes(idx) {
                new.add_attribute(idx, a);
            }
        }
    }
    // SAFETY: `new` has `f`'s type and context; the caller uses no handle to `f` or to
    // constants using it afterwards, and after the replacement nothing uses `f`.
    unsafe {
        f.replace_all_uses_with(new.as_value());
        f.delete();
    }
    new.set_name(&name);
    new
}

/// The attribute indices of function `f`: return, function, parameters.
fn attribute_indices(f: Function<'_>) -> Vec<AttributeIndex> {
    let mut v = vec![AttributeIndex::Return, AttributeIndex::Function];
    v.extend((0..f.param_count()).map(AttributeIndex::Param));
    v
}

/// In the tier-1 module (after [`rewrite`]), turns function `name` into a trampoline
/// through its own slot — `load` the slot, call what it holds, return the result —
/// and points the slot at the function's tier-0 stub `<name>.t0` (defined in the
/// interpreter's glue module). The function's address (in vtables, function pointers)
/// then always reaches its current tier, and its body is compiled only when it reaches
/// tier 1 ([`isolate`]).
pub fn trampoline(m: &Module, name: &str) {
    let (Some(f), Some(slot)) = (m.function(name), m.global(&format!("bf.slot.{name}"))) else { return };
    let ctx = m.context();
    let fty = f.function_type();
    // SAFETY: `f` is not used after this (the slot, a global variable, survives).
    let new = unsafe { replace_function(m, f, true) };
    let stub = m.add_function(&format!("{name}.t0"), fty);
    stub.set_call_conv(new.call_conv());
    slot.set_initializer(Some(stub.as_value()));
    let mut builder = Builder::new(ctx);
    builder.position_at_end(new.append_basic_block("entry"));
    let target = builder.load(ctx.ptr_type(), slot.as_value());
    let args: Vec<_> = (0..new.param_count()).map(|i| new.param(i)).collect();
    let call = builder.call(fty, target, &args);
    call.set_call_conv(new.call_conv());
    for idx in attribute_indices(new).into_iter().filter(|&i| i != AttributeIndex::Function) {
        for a in new.attributes(idx) {
            call.add_call_site_attribute(idx, a);
        }
    }
    if fty.return_type().kind() == TypeKind::LLVMVoidTypeKind {
        builder.ret_void();
    } else {
        builder.ret(call.as_value());
    }
}

/// Makes `m` (a fresh copy of the app's bitcode) the module that compiles function
/// `name` alone: rewritten like the load-time module, the function renamed
/// `<name>.<suffix>`, every other function a declaration (calls go through the slots),
/// every global and slot a reference to the load-time module's.
pub fn isolate(m: &Module, name: &str, suffix: &str) {
    rewrite(m, None);
    use_tier1_globals(m);
    for f in defined_functions(m) {
        if f.name() == name {
            f.set_name(&format!("{name}.{suffix}"));
        } else {
            // SAFETY: `f` is not used after this.
            unsafe { replace_function(m, f, false) };
        }
    }
}
