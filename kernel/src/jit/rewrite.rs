//! Module rewriting for the tiered engine (docs/engine.md), through the safe LLVM
//! layer:
//!
//! * [`name_symbols`]: unique external names for globals and defined functions, so
//!   modules compiled later (and the interpreter) can refer to them by name;
//! * [`rewrite`]: the tier-1 module — a **slot** per defined function (a global `ptr`
//!   named `bf.slot.<function>`, initially the function itself), every call to a
//!   defined function through its slot, and the profiling fast path ([`ProfilePath`])
//!   in line on entry — or the top-tier module of one function. A function that calls
//!   itself counts those calls in a register in a body of its own
//!   ([`split_recursive`]);
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
    rewrite_with(m, keep, Profiling::Full)
}

/// What the load-time module's functions do for the profile ([`rewrite_with`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profiling {
    /// The profiling fast path ([`ProfilePath`]): what code in a tier below the top runs.
    Full,
    /// Only `calls += 1` on entry: what top-tier code runs (there is no tier above it to
    /// ask the policy about).
    CallsOnly,
    /// Nothing: the same module without its profiling, which what profiling costs is
    /// measured against.
    Off,
}

/// As [`rewrite`], with the load-time module's functions profiled as `profiling` says
/// (slots and names alike in every case).
pub fn rewrite_with(m: &Module, keep: Option<(&str, &str, u64)>, profiling: Profiling) -> Vec<String> {
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
        let counters = m.add_global(ptr_ty, COUNTERS_GLOBAL);
        let rare = [bf_llvm::attribute_kind("cold"), bf_llvm::attribute_kind("noreturn")];
        for (&f, name) in defs.iter().zip(&names) {
            if name == keep {
                f.set_name(&format!("{name}.{suffix}"));
                count_calls(&mut builder, m, f, counters.as_value(), offset, None);
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
    for &f in &defs {
        for bb in f.basic_blocks() {
            for inst in bb.instructions() {
                if inst.opcode() == Opcode::LLVMCall
                    && let Some(&slot) = inst.called_value().and_then(|callee| slots.get(&callee))
                {
                    builder.position_before(inst);
                    let target = builder.load(ptr_ty, slot.as_value());
                    inst.set_operand(inst.num_operands() - 1, target);
                }
            }
        }
    }
    match profiling {
        Profiling::Full => {
            let profile = ProfilePath::new(m, counters);
            for (id, &f) in defs.iter().enumerate() {
                profile.instrument(f, id as u32, slots[&f.as_value()]);
            }
        }
        Profiling::CallsOnly => {
            for (id, &f) in defs.iter().enumerate() {
                let offset = (id * bf_tiers::profile::layout::SIZE + bf_tiers::profile::layout::CALLS) as u64;
                count_calls(&mut builder, m, f, counters.as_value(), offset, Some(slots[&f.as_value()]));
            }
        }
        Profiling::Off => {}
    }
    names
}

/// `calls += 1` on entry to `f`, for the `u64` at byte `offset` of the counters at
/// `counters`: what top-tier code does for the profile. A function that calls itself
/// (through `slot`, or directly where there is no slot: the top tier) counts the calls
/// it makes of itself in a register instead ([`split_recursive`]), adding them up as it
/// returns.
fn count_calls<'m>(
    b: &mut Builder<'m>,
    m: &'m Module,
    f: Function<'m>,
    counters: bf_llvm::Value<'m>,
    offset: u64,
    slot: Option<bf_llvm::GlobalVariable<'m>>,
) {
    let ctx = m.context();
    let i64_ty = ctx.i64_type();
    let bump = |b: &mut Builder<'m>, by: bf_llvm::Value<'m>| {
        let at = b.byte_offset(counters, ctx.const_int(i64_ty, offset));
        let old = b.load(i64_ty, at);
        let new = b.add(old, by);
        b.store(new, at);
    };
    writes_counters(f);
    match split_recursive(m, f, slot, &bump) {
        Some(body) => {
            b.position_at_end(f.append_basic_block("bf.count"));
            bump(b, ctx.const_int(i64_ty, 1));
            forward(b, f, f, body.as_value(), true);
        }
        None => {
            b.position_before(f.entry_block().and_then(|b| b.first_instruction()).expect("a defined function's entry"));
            bump(b, ctx.const_int(i64_ty, 1));
        }
    }
}

/// The calls `f` makes of itself: calls through a load of `slot` (the load-time and
/// isolated modules), or direct calls of `f` where there is no slot (the top tier).
fn self_calls<'m>(f: Function<'m>, slot: Option<bf_llvm::GlobalVariable<'m>>) -> Vec<bf_llvm::Instruction<'m>> {
    let calls_itself = |callee: bf_llvm::Value<'m>| match slot {
        Some(slot) => callee
            .as_instruction()
            .is_some_and(|load| load.opcode() == Opcode::LLVMLoad && load.operand(0) == slot.as_value()),
        None => callee == f.as_value(),
    };
    let mut calls = Vec::new();
    for bb in f.basic_blocks() {
        calls.extend(
            bb.instructions().filter(|i| i.opcode() == Opcode::LLVMCall && i.called_value().is_some_and(calls_itself)),
        );
    }
    calls
}

/// Emits, at the builder's position, adding `made` (an `i64`) to a recursive
/// function's count — and, below the top tier, asking the policy if the count is due —
/// and leaves the builder at the end of an open block (no terminator) to go on from.
type Settle<'a, 'm> = &'a dyn Fn(&mut Builder<'m>, bf_llvm::Value<'m>);

/// For a function `f` that calls itself: moves its body into a new internal function
/// `bf.prof.body.<f's name>` ([`BODY_PREFIX`]) of `f`'s type (returned) and leaves `f` empty, for the
/// caller to give it the entry that counts its callers' calls and then jumps to the
/// body (`musttail`).
///
/// A call `f` makes of itself (through `slot`, or directly where there is no slot: the
/// top tier) becomes a direct call of the body — past the entry's count, and past the
/// slot: a recursion runs on in the code it started in, while new calls from elsewhere
/// reach a promotion — and is counted in a register; a return adds that count to the
/// profile (`settle`) if it is not 0. LLVM often turns the register count into a
/// closed form of the loop's trip count. The count is exact whenever none of `f`'s
/// activations is running, and behind by the calls the running ones made meanwhile.
///
/// `None` (and `f` unchanged) if `f` does not call itself, is variadic, or has a
/// `musttail` call (nothing may come between it and its `ret`).
fn split_recursive<'m>(
    m: &'m Module,
    f: Function<'m>,
    slot: Option<bf_llvm::GlobalVariable<'m>>,
    settle: Settle<'_, 'm>,
) -> Option<Function<'m>> {
    let calls = self_calls(f, slot);
    let instructions = || f.basic_blocks().into_iter().flat_map(|bb| bb.instructions());
    if calls.is_empty() || f.function_type().is_var_arg() || instructions().any(|i| i.is_musttail()) {
        return None;
    }
    let ctx = m.context();
    let i64_ty = ctx.i64_type();
    let body = internal_like(m, f, &format!("{BODY_PREFIX}{}", f.name()), true);
    for kind in ["alwaysinline", "memory"] {
        body.remove_enum_attribute(AttributeIndex::Function, bf_llvm::attribute_kind(kind));
    }
    if let Some(personality) = f.personality() {
        body.set_personality(personality);
    }
    let returns: Vec<_> = instructions().filter(|i| i.opcode() == Opcode::LLVMRet).collect();
    f.move_body_to(body);
    let mut b = Builder::new(ctx);
    b.position_before(body.entry_block().and_then(|bb| bb.first_instruction()).expect("a defined function's entry"));
    let pending = b.alloca(i64_ty);
    b.store(ctx.const_int(i64_ty, 0), pending);
    for call in calls {
        call.set_operand(call.num_operands() - 1, body.as_value());
        b.position_before(call);
        let before = b.load(i64_ty, pending);
        let after = b.add(before, ctx.const_int(i64_ty, 1));
        // Kept a plain count: LLVM would otherwise replace it by a closed form of the
        // loop's trip count, which holds one more register across the calls (fib: two
        // more saved registers per call, about 10 % of its time).
        let after = b.opaque(after);
        b.store(after, pending);
    }
    for ret in returns {
        b.position_before(ret);
        let made = b.load(i64_ty, pending);
        let any = b.icmp(bf_llvm::IntPredicate::LLVMIntNE, made, ctx.const_int(i64_ty, 0));
        let (add_up, done) = (body.append_basic_block("bf.settle"), body.append_basic_block("bf.return"));
        b.cond_br(any, add_up, done);
        b.position_at_end(done);
        b.move_here(ret);
        b.position_at_end(add_up);
        settle(&mut b, made);
        b.br(done);
    }
    Some(body)
}

/// The name prefix of the bodies [`split_recursive`] makes: `bf.prof.body.<name>` is
/// the code of function `<name>` (with the tier suffix its name had, e.g. `.t1`).
pub const BODY_PREFIX: &str = "bf.prof.body.";

/// The function whose code the symbol `symbol` of a compiled module is: itself, or for
/// a body of [`split_recursive`], the function it is the body of (what a fault report
/// names).
pub fn owner_of(symbol: &str) -> &str {
    symbol.strip_prefix(BODY_PREFIX).unwrap_or(symbol)
}

/// Drops `f`'s `memory` attribute (e.g. `memory(none)` on a pure function): profiling
/// makes it write the counters, which LLVM must not assume it leaves alone.
fn writes_counters(f: Function<'_>) {
    f.remove_enum_attribute(AttributeIndex::Function, bf_llvm::attribute_kind("memory"));
}

/// Deletes the profiling fast path's helper functions ([`PROFILE_HELPER_PREFIX`]) that
/// nothing else calls any more (the body [`split_recursive`] makes calls itself), and
/// then those that only deleted ones called: the helpers of functions [`trampoline`]
/// replaced.
pub fn drop_unused_profile_helpers(m: &Module) {
    loop {
        let unused = m.functions().into_iter().find(|&f| {
            f.name().starts_with(PROFILE_HELPER_PREFIX)
                && f.as_value().users().iter().all(|u| u.as_instruction().is_some_and(|i| i.parent().function() == f))
        });
        let Some(f) = unused else { return };
        // SAFETY: only `f`'s own instructions use it (a call of itself), and they go
        // with it: they are pointed at poison, then nothing uses `f`, of which no
        // handle is kept.
        unsafe {
            f.replace_all_uses_with(m.context().poison(m.context().ptr_type()));
            f.delete();
        }
    }
}

/// The name prefix of the profiling fast path's out-of-line parts ([`ProfilePath`]):
/// internal functions, not functions of the app (they have no id and no slot).
pub const PROFILE_HELPER_PREFIX: &str = "bf.prof.";

/// The profiling fast path: what `bf_tiers::Counters::{count_call, due, start, stop}` do,
/// on function `id`'s counters (`bf.counters` + id × `layout::SIZE`: the symbol, through
/// the GOT, plus a constant offset). In line, a new entry block of the function:
///
/// ```text
/// calls += 1
/// if calls >= check_at_calls or running == 0: musttail bf.prof.slow.<id>(args…)
/// …the function's own body, unchanged…
/// ```
///
/// Everything else is out of line, in one internal function of the function's own
/// type that the entry block jumps to (`musttail`: the arguments are passed on as they
/// came, and the function's own frame is not set up first), `bf.prof.slow.<id>`:
///
/// * if the count is due, it calls the kernel's `bf_prof_check(id)` (the policy, a
///   promotion, re-arming). If the count is still due afterwards (`bf_prof_check`
///   re-arms above the count unless it promoted, or has no counters for `id`), the
///   next call asks again instead of this one: the call always goes on;
/// * it takes the call back out of the count (the call it makes counts itself again);
/// * for an inner activation (the count was due), it calls the function again through
///   its slot (`musttail`) — so the call that promotes already runs in the new tier;
/// * for the outermost activation (no other of the function running), it marks the
///   function running, starts the clock when the activation is timed
///   (`bf_tiers::Activation::of_call`, `llvm.readcyclecounter`), calls the function
///   again through its slot (where it is an inner activation and runs its body), then
///   marks it idle and, if timed, adds its cycles times its weight and, when the
///   cycles reached `check_at_calls`, has the next call ask the policy.
///
/// (One function, not one per case: each is compiled with every promotion, and a
/// second one made tier-1 promotions about 0.5 ms slower, docs/engine.md.)
///
/// An inner activation therefore costs the count, two compares and nothing at its
/// returns: no register holds an activation across the body, and a path through the
/// function that calls nothing needs no stack frame (measured: fib's leaves). A
/// variadic function (`musttail` cannot pass its arguments on) counts and asks the
/// policy in line and is never timed.
struct ProfilePath<'m> {
    module: &'m Module,
    counters: bf_llvm::GlobalVariable<'m>,
    check: Function<'m>,
    clock: Function<'m>,
}

impl<'m> ProfilePath<'m> {
    /// Declares what the fast path calls in `m`, whose `bf.counters` global is `counters`.
    fn new(m: &'m Module, counters: bf_llvm::GlobalVariable<'m>) -> ProfilePath<'m> {
        let ctx = m.context();
        let clock_ty = ctx.function_type(ctx.i64_type(), &[], false);
        let clock =
            m.function("llvm.readcyclecounter").unwrap_or_else(|| m.add_function("llvm.readcyclecounter", clock_ty));
        let check_ty = ctx.function_type(ctx.void_type(), &[ctx.i32_type()], false);
        let check = m.function("bf_prof_check").unwrap_or_else(|| m.add_function("bf_prof_check", check_ty));
        check.add_enum_attribute(bf_llvm::attribute_kind("cold"));
        ProfilePath { module: m, counters, check, clock }
    }

    /// The address of field `offset` (`bf_tiers::profile::layout`) of function `id`'s
    /// counters.
    fn field(&self, b: &mut Builder<'m>, id: u32, offset: usize) -> bf_llvm::Value<'m> {
        let ctx = self.module.context();
        let at = id as u64 * bf_tiers::profile::layout::SIZE as u64 + offset as u64;
        b.byte_offset(self.counters.as_value(), ctx.const_int(ctx.i64_type(), at))
    }

    /// `counter += by` for function `id`; returns the new value.
    fn bump(&self, b: &mut Builder<'m>, id: u32, counter: usize, by: bf_llvm::Value<'m>) -> bf_llvm::Value<'m> {
        let i64_ty = self.module.context().i64_type();
        let at = self.field(b, id, counter);
        let old = b.load(i64_ty, at);
        let new = b.add(old, by);
        b.store(new, at);
        new
    }

    /// Whether function `id`'s count `calls` is due: `calls >= check_at_calls`.
    fn is_due(&self, b: &mut Builder<'m>, id: u32, calls: bf_llvm::Value<'m>) -> bf_llvm::Value<'m> {
        let limit = self.field(b, id, bf_tiers::profile::layout::CHECK_AT_CALLS);
        let limit = b.load(self.module.context().i64_type(), limit);
        b.icmp(bf_llvm::IntPredicate::LLVMIntUGE, calls, limit)
    }

    /// Asks the policy about function `id`, whose count is `calls`: calls
    /// `bf_prof_check(id)`, and if the count is still due afterwards (`bf_prof_check`
    /// re-arms above the count unless it promoted, or has no counters for `id`), has
    /// the next call ask again rather than this one ask forever.
    fn ask(&self, b: &mut Builder<'m>, id: u32, calls: bf_llvm::Value<'m>) {
        let ctx = self.module.context();
        let i64_ty = ctx.i64_type();
        b.call(self.check.function_type(), self.check.as_value(), &[ctx.const_int(ctx.i32_type(), id as u64)]);
        let limit_at = self.field(b, id, bf_tiers::profile::layout::CHECK_AT_CALLS);
        let limit = b.load(i64_ty, limit_at);
        let still_due = b.icmp(bf_llvm::IntPredicate::LLVMIntUGE, calls, limit);
        let next_call = b.add(calls, ctx.const_int(i64_ty, 1));
        let limit = b.select(still_due, next_call, limit);
        b.store(limit, limit_at);
    }

    /// `bf.prof.ask.<id>(calls)`: [`ask`](Self::ask), out of line (internal, cold).
    fn asker(&self, id: u32) -> Function<'m> {
        let ctx = self.module.context();
        let ty = ctx.function_type(ctx.void_type(), &[ctx.i64_type()], false);
        let asker = self.module.add_function(&format!("{PROFILE_HELPER_PREFIX}ask.{id}"), ty);
        asker.set_linkage(Linkage::LLVMInternalLinkage);
        for kind in ["noinline", "cold"] {
            asker.add_enum_attribute(bf_llvm::attribute_kind(kind));
        }
        let mut b = Builder::new(ctx);
        b.position_at_end(asker.append_basic_block("entry"));
        self.ask(&mut b, id, asker.param(0));
        b.ret_void();
        asker
    }

    /// Gives `f` (function `id`, called through `slot`) the fast path.
    fn instrument(&self, f: Function<'m>, id: u32, slot: bf_llvm::GlobalVariable<'m>) {
        use bf_llvm::IntPredicate::LLVMIntEQ;
        use bf_tiers::profile::layout;
        let ctx = self.module.context();
        let (i64_ty, i32_ty) = (ctx.i64_type(), ctx.i32_type());
        if f.entry_block().is_none() {
            return;
        }
        let mut b = Builder::new(ctx);
        let asker = std::cell::OnceCell::new();
        let settle = |b: &mut Builder<'m>, made: bf_llvm::Value<'m>| {
            let calls = self.bump(b, id, layout::CALLS, made);
            let due = self.is_due(b, id, calls);
            let here = b.insert_block().function();
            let (ask, asked) = (here.append_basic_block("bf.ask"), here.append_basic_block("bf.asked"));
            b.cond_br(due, ask, asked);
            b.position_at_end(ask);
            // Out of line: in line, the counters' address and the count, kept across
            // the policy's call, cost the body two saved registers. (One per function,
            // whatever number of returns settle.)
            let asker = *asker.get_or_init(|| self.asker(id));
            b.call(asker.function_type(), asker.as_value(), &[calls]);
            b.br(asked);
            b.position_at_end(asked);
        };
        writes_counters(f);
        let (entry, body) = match split_recursive(self.module, f, Some(slot), &settle) {
            Some(inner) => {
                let (entry, body) = (f.append_basic_block("bf.count"), f.append_basic_block("bf.body"));
                b.position_at_end(body);
                forward(&mut b, f, f, inner.as_value(), true);
                (entry, body)
            }
            None => {
                let body = f.entry_block().expect("checked above");
                let entry = f.prepend_basic_block("bf.count").expect("a defined function has an entry block");
                b.position_at_end(entry);
                // The body's fixed-size allocas stay in the entry block (static stack slots).
                for inst in body.instructions().collect::<Vec<_>>() {
                    if inst.opcode() == Opcode::LLVMAlloca && inst.operand(0).const_int_zext().is_some() {
                        b.move_here(inst);
                    }
                }
                (entry, body)
            }
        };
        b.position_at_end(entry);
        let calls = self.bump(&mut b, id, layout::CALLS, ctx.const_int(i64_ty, 1));
        let due = self.is_due(&mut b, id, calls);
        let ask = f.append_basic_block("bf.ask");
        if f.function_type().is_var_arg() {
            b.cond_br(due, ask, body);
            b.position_at_end(ask);
            b.call(self.check.function_type(), self.check.as_value(), &[ctx.const_int(i32_ty, id as u64)]);
            b.br(body);
            return;
        }
        let idle_check = f.append_basic_block("bf.running");
        b.cond_br(due, ask, idle_check);
        b.position_at_end(idle_check);
        let running = self.field(&mut b, id, layout::RUNNING);
        let running = b.load(i64_ty, running);
        // Volatile, so that LLVM does not speculate it above the count's store (both
        // branches going to one block invite that): read first, it made fib's calls
        // cost 57-61 % instead of about 30 % (`--tiers=profiled`, natively).
        running.as_instruction().expect("a load").set_volatile();
        let idle = b.icmp(LLVMIntEQ, running, ctx.const_int(i64_ty, 0));
        b.cond_br(idle, ask, body);
        b.position_at_end(ask);
        let slow = self.slow(f, id, slot);
        forward(&mut b, f, f, slow.as_value(), true);
    }

    /// A new internal `noinline` function like `f` ([`internal_like`], without `f`'s
    /// function attributes), named `bf.prof.<kind>.<id>`, with its entry block.
    fn thunk(&self, f: Function<'m>, kind: &str, id: u32) -> Function<'m> {
        let t = internal_like(self.module, f, &format!("{PROFILE_HELPER_PREFIX}{kind}.{id}"), false);
        t.append_basic_block("entry");
        t
    }

    /// `bf.prof.slow.<id>` (see [`ProfilePath`]).
    fn slow(&self, f: Function<'m>, id: u32, slot: bf_llvm::GlobalVariable<'m>) -> Function<'m> {
        use bf_llvm::IntPredicate::{LLVMIntEQ, LLVMIntNE, LLVMIntUGE, LLVMIntUGT, LLVMIntULE};
        use bf_tiers::profile::{Activation, TIMED_EVERY, layout};
        let ctx = self.module.context();
        let i64_ty = ctx.i64_type();
        let int = |v: u64| ctx.const_int(i64_ty, v);
        let t = self.thunk(f, "slow", id);
        let [ask, counted, inner, outermost, start, call, stop, flag, done] =
            ["ask", "counted", "inner", "outermost", "start", "call", "stop", "flag", "done"]
                .map(|n| t.append_basic_block(n));
        let mut b = Builder::new(ctx);
        b.position_at_end(t.entry_block().expect("the thunk's entry"));
        let calls_at = self.field(&mut b, id, layout::CALLS);
        let calls = b.load(i64_ty, calls_at);
        let due = self.is_due(&mut b, id, calls);
        b.cond_br(due, ask, counted);
        // The policy. Where `bf_prof_check` leaves the count due (no counters registered
        // for `id`, or a promotion whose next threshold the count has already reached),
        // the policy is asked again at the next call rather than by the call it runs now.
        b.position_at_end(ask);
        self.ask(&mut b, id, calls);
        b.br(counted);
        // The call through the slot counts itself again.
        b.position_at_end(counted);
        let uncounted = b.sub(calls, int(1));
        b.store(uncounted, calls_at);
        let running_at = self.field(&mut b, id, layout::RUNNING);
        let running = b.load(i64_ty, running_at);
        let is_inner = b.icmp(LLVMIntNE, running, int(0));
        b.cond_br(is_inner, inner, outermost);
        b.position_at_end(inner);
        let target = b.load(ctx.ptr_type(), slot.as_value());
        forward(&mut b, f, t, target, true);
        // The outermost activation: timed around the call.
        b.position_at_end(outermost);
        b.store(int(1), running_at);
        // Activation::of_call(calls), for an outermost activation.
        let early = b.icmp(LLVMIntULE, calls, int(TIMED_EVERY));
        let phase = b.and(calls, int(TIMED_EVERY - 1));
        let sampled = b.icmp(LLVMIntEQ, phase, int(0));
        let later =
            b.select(sampled, int(Activation::of_call(TIMED_EVERY * 2).0), int(Activation::of_call(TIMED_EVERY + 1).0));
        let activation = b.select(early, int(Activation::of_call(1).0), later);
        let timed = b.icmp(LLVMIntUGT, activation, int(1));
        b.cond_br(timed, start, call);
        b.position_at_end(start);
        let clock_ty = self.clock.function_type();
        let now = b.call(clock_ty, self.clock.as_value(), &[]);
        let entered_at = self.field(&mut b, id, layout::ENTERED_AT);
        b.store(now.as_value(), entered_at);
        b.br(call);
        b.position_at_end(call);
        let target = b.load(ctx.ptr_type(), slot.as_value());
        let result = forward_call(&mut b, f, t, target);
        b.store(int(0), running_at);
        b.cond_br(timed, stop, done);
        b.position_at_end(stop);
        let now = b.call(clock_ty, self.clock.as_value(), &[]);
        let entered_at = self.field(&mut b, id, layout::ENTERED_AT);
        let entered_at = b.load(i64_ty, entered_at);
        let spent = b.sub(now.as_value(), entered_at);
        let weight = b.lshr(activation, int(1));
        let spent = b.mul(spent, weight);
        let cycles = self.bump(&mut b, id, layout::CYCLES, spent);
        let limit = self.field(&mut b, id, layout::CHECK_AT_CYCLES);
        let limit = b.load(i64_ty, limit);
        let over = b.icmp(LLVMIntUGE, cycles, limit);
        b.cond_br(over, flag, done);
        b.position_at_end(flag);
        let limit_at = self.field(&mut b, id, layout::CHECK_AT_CALLS);
        b.store(int(0), limit_at);
        b.br(done);
        b.position_at_end(done);
        return_result(&mut b, f, result);
        t
    }
}

/// At the builder's position: a call of `callee` (of `f`'s type, calling convention and
/// parameter and return attributes) with `from`'s parameters.
fn forward_call<'m>(
    b: &mut Builder<'m>,
    f: Function<'m>,
    from: Function<'m>,
    callee: bf_llvm::Value<'m>,
) -> bf_llvm::Instruction<'m> {
    let args: Vec<_> = (0..from.param_count()).map(|i| from.param(i)).collect();
    let call = b.call(f.function_type(), callee, &args);
    call.set_call_conv(f.call_conv());
    for idx in attribute_indices(f).into_iter().filter(|&i| i != AttributeIndex::Function) {
        for a in f.attributes(idx) {
            call.add_call_site_attribute(idx, a);
        }
    }
    call
}

/// At the builder's position: `return callee(from's parameters…)`, the call as
/// [`forward_call`] makes it, `musttail` if asked.
fn forward<'m>(b: &mut Builder<'m>, f: Function<'m>, from: Function<'m>, callee: bf_llvm::Value<'m>, musttail: bool) {
    let call = forward_call(b, f, from, callee);
    if musttail {
        call.set_musttail();
    }
    return_result(b, f, call);
}

/// At the builder's position: `ret` of `result` (a call's), or `ret void` if `f`
/// returns nothing.
fn return_result<'m>(b: &mut Builder<'m>, f: Function<'m>, result: bf_llvm::Instruction<'m>) {
    if f.function_type().return_type().kind() == TypeKind::LLVMVoidTypeKind {
        b.ret_void();
    } else {
        b.ret(result.as_value());
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
        copy_attributes(f, new, attribute_indices(f));
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

/// Copies function `from`'s attributes at `indices` onto function `to`.
fn copy_attributes<'m>(from: Function<'m>, to: Function<'m>, indices: impl IntoIterator<Item = AttributeIndex>) {
    for idx in indices {
        for a in from.attributes(idx) {
            to.add_attribute(idx, a);
        }
    }
}

/// A new internal, `noinline` function of `m` named `name`, of `f`'s type and calling
/// convention, with its parameter and return attributes and, with
/// `function_attributes`, its function attributes too (no body).
fn internal_like<'m>(m: &'m Module, f: Function<'m>, name: &str, function_attributes: bool) -> Function<'m> {
    let new = m.add_function(name, f.function_type());
    new.set_linkage(Linkage::LLVMInternalLinkage);
    new.set_call_conv(f.call_conv());
    let indices = attribute_indices(f).into_iter().filter(|&i| function_attributes || i != AttributeIndex::Function);
    copy_attributes(f, new, indices);
    new.add_enum_attribute(bf_llvm::attribute_kind("noinline"));
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
    forward(&mut builder, new, new, target, false);
}

/// Makes `m` (a fresh copy of the app's bitcode) the module that compiles function
/// `name` alone: rewritten like the load-time module, the function renamed
/// `<name>.<suffix>`, every other function a declaration (calls go through the slots),
/// every global and slot a reference to the load-time module's.
pub fn isolate(m: &Module, name: &str, suffix: &str) {
    // Slots and names for every function, the fast path for this one alone: the others
    // become declarations, so their fast path would only be built to be deleted.
    let names = rewrite_with(m, None, Profiling::Off);
    use_tier1_globals(m);
    for f in defined_functions(m) {
        if f.name() == name {
            f.set_name(&format!("{name}.{suffix}"));
            let id = names.iter().position(|n| n == name).expect("the function is one of the rewritten ones");
            let slot = m.global(&format!("bf.slot.{name}")).expect("rewrite gives every function a slot");
            let counters = m.global(COUNTERS_GLOBAL).expect("rewrite adds the counters");
            ProfilePath::new(m, counters).instrument(f, id as u32, slot);
        } else {
            // SAFETY: `f` is not used after this.
            unsafe { replace_function(m, f, false) };
        }
    }
}
