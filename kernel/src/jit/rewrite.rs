//! Module rewriting for the tiered engine (docs/engine.md), through the safe LLVM
//! layer:
//!
//! * [`name_symbols`]: unique external names for globals and defined functions, so
//!   modules compiled later (and the interpreter) can refer to them by name;
//! * [`rewrite`]: the tier-1 module — a **slot** per defined function (a global `ptr`
//!   named `bf.slot.<function>`, initially the function itself), every call to a
//!   defined function through its slot, and the profiling fast path ([`ProfilePath`])
//!   in line on entry and before each return — or the top-tier module of one function;
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

/// The load-time module's global that holds the profile counters
/// (`bf_tiers::Counters`, one per function id, zeroed: `[n × layout::SIZE / 8 x i64]`),
/// which the engine uses in place. Compiled code addresses a function's counters as
/// this symbol (through the GOT) plus a constant, and its objects stay valid in a
/// snapshot: the symbol is resolved when they are linked. (Measured natively: with the
/// symbol hidden, and so addressed RIP-relative, fib's profiling cost doubled — each
/// call's counter update waits on the last one's store, which this machine forwards
/// faster through a base register.)
pub const COUNTERS_GLOBAL: &str = "bf.counters";

/// Rewrites `m` (not yet handed to a JIT) as described in the module docs and returns
/// the defined functions' names, in function-id order. With `keep = Some((name,
/// suffix, offset))`, produces the top-tier module of `name` (renamed
/// `<name>.<suffix>`, its calls counted in the `u64` at byte `offset` of
/// [`COUNTERS_GLOBAL`]); with `None`, the load-time module (which defines
/// [`COUNTERS_GLOBAL`]).
pub fn rewrite(m: &Module, keep: Option<(&str, &str, u64)>) -> Vec<String> {
    rewrite_with(m, keep, true)
}

/// As [`rewrite`]; with `hooks` false the load-time module gets its slots and names but
/// no profiling fast path ([`ProfilePath`]): the same module without its profiling,
/// which what profiling costs is measured against.
pub fn rewrite_with(m: &Module, keep: Option<(&str, &str, u64)>, hooks: bool) -> Vec<String> {
    let ctx = m.context();
    let ptr_ty = ctx.ptr_type();
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
        // may inline (the profile said this code is hot: give it everything) —
        // except those marked `cold` or `noreturn` (the panic paths): a call to one
        // is rare by its own declaration, so it is a declaration of the load-time
        // module's function instead, with the same attributes, and neither it nor
        // what only it reaches (the formatting code behind a bounds check) is
        // optimised and compiled again. That code was most of a small function's
        // promotion.
        let i64_ty = ctx.i64_type();
        let counters = m.add_global(ptr_ty, COUNTERS_GLOBAL);
        let rare = [bf_llvm::attribute_kind("cold"), bf_llvm::attribute_kind("noreturn")];
        for (&f, name) in defs.iter().zip(&names) {
            if name == keep {
                f.set_name(&format!("{name}.{suffix}"));
                let first = f.entry_block().and_then(|b| b.first_instruction()).expect("a defined function's entry");
                builder.position_before(first);
                let at = builder.byte_offset(counters.as_value(), ctx.const_int(i64_ty, offset));
                let old = builder.load(i64_ty, at);
                let new = builder.add(old, ctx.const_int(i64_ty, 1));
                builder.store(new, at);
            } else if rare.iter().any(|&kind| f.has_enum_attribute(AttributeIndex::Function, kind)) {
                // SAFETY: `f` is not used after this (`defs` is not read again).
                unsafe { replace_function(m, f, true) };
            } else {
                f.set_linkage(Linkage::LLVMInternalLinkage);
            }
        }
        return names;
    }
    // 2. One slot per defined function, and the counters' address.
    let words = defs.len() as u64 * bf_tiers::profile::layout::SIZE as u64 / 8;
    let counters_ty = ctx.array_type(ctx.i64_type(), words);
    let counters = m.add_global(counters_ty, COUNTERS_GLOBAL);
    counters.set_initializer(Some(ctx.const_null(counters_ty)));
    let mut slots = HashMap::new();
    for (&f, name) in defs.iter().zip(&names) {
        let slot = m.add_global(ptr_ty, &format!("bf.slot.{name}"));
        slot.set_initializer(Some(f.as_value()));
        slots.insert(f.as_value(), slot);
    }
    // 3. Calls through slots, and the profiling fast path in line.
    let profile = hooks.then(|| ProfilePath::build(m, counters));
    for (id, &f) in defs.iter().enumerate() {
        let mut entry = None;
        for (i, bb) in f.basic_blocks().into_iter().enumerate() {
            let insts: Vec<_> = bb.instructions().collect();
            if i == 0
                && let (Some(profile), Some(&first)) = (&profile, insts.first())
            {
                builder.position_before(first);
                entry = Some(profile.enter(&mut builder, id as u32));
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
                    Opcode::LLVMRet => {
                        if let (Some(profile), Some(entry)) = (&profile, entry) {
                            builder.position_before(inst);
                            profile.exit(&mut builder, entry);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    names
}

/// The name prefix of the profiling fast path's helper functions ([`ProfilePath`]):
/// internal, always inlined, not functions of the app (they have no id and no slot).
pub const PROFILE_HELPER_PREFIX: &str = "bf.prof.";

/// The profiling fast path, emitted in line in every profiled function: two internal
/// `alwaysinline` helpers the rewritten functions call on entry and before each
/// return, which do what `bf_tiers::Counters::{count_call, due, start, stop}` do, on
/// the function's counters (`bf.counters` + id × `layout::SIZE`: the symbol, through the
/// GOT, plus a constant offset):
///
/// * `bf.prof.enter(ptr c, i32 id) -> i64`: counts the call; if the count reached
///   `check_at_calls`, calls the kernel's `bf_prof_check(id)` (cold: the policy, a
///   promotion, re-arming); if no activation of the function is running, marks it
///   running and, when the activation is timed (`bf_tiers::Activation::of_call`),
///   starts the clock (`llvm.readcyclecounter`, i.e. `rdtsc`). Returns the
///   activation (`bf_tiers::Activation`: 0 inner, else `weight << 1 | 1`);
/// * `bf.prof.exit(ptr c, i64 activation)`: for the outermost activation, marks the
///   function idle; for a timed one, adds its cycles times its weight and, if the
///   cycles reached `check_at_cycles`, has the next call ask the policy.
///
/// A call that promotes nothing costs a few loads and stores and well-predicted
/// branches; `rdtsc` runs only in timed outermost activations.
struct ProfilePath<'m> {
    context: bf_llvm::Context<'m>,
    counters: bf_llvm::GlobalVariable<'m>,
    enter: Function<'m>,
    exit: Function<'m>,
}

/// What [`ProfilePath::enter`] left for the function's returns: its counters' address
/// and its activation.
#[derive(Clone, Copy)]
struct Entered<'m> {
    counters: bf_llvm::Value<'m>,
    activation: bf_llvm::Value<'m>,
}

impl<'m> ProfilePath<'m> {
    /// Adds the helpers to `m`, over its `bf.counters` global `counters`.
    fn build(m: &'m Module, counters: bf_llvm::GlobalVariable<'m>) -> ProfilePath<'m> {
        use bf_llvm::IntPredicate::{LLVMIntEQ, LLVMIntNE, LLVMIntUGE, LLVMIntUGT, LLVMIntULE};
        use bf_tiers::profile::{Activation, TIMED_EVERY, layout};
        let ctx = m.context();
        let (ptr_ty, i64_ty, i32_ty, void_ty) = (ctx.ptr_type(), ctx.i64_type(), ctx.i32_type(), ctx.void_type());
        let int = |v: u64| ctx.const_int(i64_ty, v);
        let clock_ty = ctx.function_type(i64_ty, &[], false);
        let clock =
            m.function("llvm.readcyclecounter").unwrap_or_else(|| m.add_function("llvm.readcyclecounter", clock_ty));
        let check_ty = ctx.function_type(void_ty, &[i32_ty], false);
        let check = m.add_function("bf_prof_check", check_ty);
        check.add_enum_attribute(bf_llvm::attribute_kind("cold"));
        let helper = |name: &str, ret, params: &[bf_llvm::Type<'m>]| {
            let f = m.add_function(&format!("{PROFILE_HELPER_PREFIX}{name}"), ctx.function_type(ret, params, false));
            f.set_linkage(Linkage::LLVMInternalLinkage);
            f.add_enum_attribute(bf_llvm::attribute_kind("alwaysinline"));
            f
        };
        let mut b = Builder::new(ctx);
        let field = |b: &mut Builder<'m>, c, offset: usize| b.byte_offset(c, int(offset as u64));
        // `counter += by` at its offset in the counters `c`, and whether the new value
        // reached the limit at `limit` (what `Counters::count_call`/`due` and the
        // cycle check of `Counters::stop` do).
        let bump_and_check = |b: &mut Builder<'m>, c, (counter, by): (usize, bf_llvm::Value<'m>), limit: usize| {
            let at = field(b, c, counter);
            let old = b.load(i64_ty, at);
            let new = b.add(old, by);
            b.store(new, at);
            let limit = field(b, c, limit);
            let limit = b.load(i64_ty, limit);
            (new, b.icmp(LLVMIntUGE, new, limit))
        };

        let enter = helper("enter", i64_ty, &[ptr_ty, i32_ty]);
        let (c, id) = (enter.param(0), enter.param(1));
        let [entry, ask, clock_block, start, time, done] =
            ["entry", "ask", "clock", "start", "time", "done"].map(|n| enter.append_basic_block(n));
        b.position_at_end(entry);
        let (calls, due) = bump_and_check(&mut b, c, (layout::CALLS, int(1)), layout::CHECK_AT_CALLS);
        b.cond_br(due, ask, clock_block);
        b.position_at_end(ask);
        b.call(check_ty, check.as_value(), &[id]);
        b.br(clock_block);
        b.position_at_end(clock_block);
        let running_at = field(&mut b, c, layout::RUNNING);
        let running = b.load(i64_ty, running_at);
        let outer = b.icmp(LLVMIntEQ, running, int(0));
        b.cond_br(outer, start, done);
        b.position_at_end(start);
        b.store(int(1), running_at);
        // Activation::of_call(calls), for an outermost activation.
        let early = b.icmp(LLVMIntULE, calls, int(TIMED_EVERY));
        let phase = b.and(calls, int(TIMED_EVERY - 1));
        let sampled = b.icmp(LLVMIntEQ, phase, int(0));
        let later =
            b.select(sampled, int(Activation::of_call(TIMED_EVERY * 2).0), int(Activation::of_call(TIMED_EVERY + 1).0));
        let outermost = b.select(early, int(Activation::of_call(1).0), later);
        let timed = b.icmp(LLVMIntUGT, outermost, int(1));
        b.cond_br(timed, time, done);
        b.position_at_end(time);
        let now = b.call(clock_ty, clock.as_value(), &[]);
        let entered_at = field(&mut b, c, layout::ENTERED_AT);
        b.store(now.as_value(), entered_at);
        b.br(done);
        b.position_at_end(done);
        let activation =
            b.phi(i64_ty, &[(int(Activation::INNER.0), clock_block), (outermost, start), (outermost, time)]);
        b.ret(activation);

        let exit = helper("exit", void_ty, &[ptr_ty, i64_ty]);
        let (c, activation) = (exit.param(0), exit.param(1));
        let [entry, outer_block, stop, flag, done] =
            ["entry", "outer", "stop", "flag", "done"].map(|n| exit.append_basic_block(n));
        b.position_at_end(entry);
        let outer = b.icmp(LLVMIntNE, activation, int(Activation::INNER.0));
        b.cond_br(outer, outer_block, done);
        b.position_at_end(outer_block);
        let running_at = field(&mut b, c, layout::RUNNING);
        b.store(int(0), running_at);
        let timed = b.icmp(LLVMIntUGT, activation, int(1));
        b.cond_br(timed, stop, done);
        b.position_at_end(stop);
        let now = b.call(clock_ty, clock.as_value(), &[]);
        let entered_at = field(&mut b, c, layout::ENTERED_AT);
        let entered_at = b.load(i64_ty, entered_at);
        let spent = b.sub(now.as_value(), entered_at);
        let weight = b.lshr(activation, int(1));
        let spent = b.mul(spent, weight);
        let (_, over) = bump_and_check(&mut b, c, (layout::CYCLES, spent), layout::CHECK_AT_CYCLES);
        b.cond_br(over, flag, done);
        b.position_at_end(flag);
        let check_calls_at = field(&mut b, c, layout::CHECK_AT_CALLS);
        b.store(int(0), check_calls_at);
        b.br(done);
        b.position_at_end(done);
        b.ret_void();

        ProfilePath { context: ctx, counters, enter, exit }
    }

    /// At the builder's position (a profiled function's first instruction): the call of
    /// function `id`'s entry helper.
    fn enter(&self, b: &mut Builder<'m>, id: u32) -> Entered<'m> {
        let ctx = self.context;
        let offset = id as u64 * bf_tiers::profile::layout::SIZE as u64;
        let counters = b.byte_offset(self.counters.as_value(), ctx.const_int(ctx.i64_type(), offset));
        let id = ctx.const_int(ctx.i32_type(), id as u64);
        let activation = b.call(self.enter.function_type(), self.enter.as_value(), &[counters, id]).as_value();
        Entered { counters, activation }
    }

    /// At the builder's position (before a `ret`): the call of the exit helper.
    fn exit(&self, b: &mut Builder<'m>, entered: Entered<'m>) {
        b.call(self.exit.function_type(), self.exit.as_value(), &[entered.counters, entered.activation]);
    }
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
        let fname = f.name();
        if fname == name {
            f.set_name(&format!("{name}.{suffix}"));
        } else if !fname.starts_with(PROFILE_HELPER_PREFIX) {
            // SAFETY: `f` is not used after this.
            unsafe { replace_function(m, f, false) };
        }
    }
}
