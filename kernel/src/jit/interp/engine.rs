//! Preparing an app for tier 0 and linking the interpreter to the JIT.
//!
//! [`prepare`] parses a tier-0 copy of the bitcode, gives its symbols the same unique
//! names the tiered engine gives the tier-1 module, runs `expand-reductions` and
//! `scalarizer<load-store>` on it (so the interpreter sees scalar code only: the apps'
//! O2 output has `<2 x i64>`, `<4 x float>` and `vector.reduce.*`), lowers every
//! function and lists the glue module's entry stubs ([`Prepared::glue`] builds it). The caller adds
//! the glue to the JIT beside the tier-1 module; [`link`] then resolves the lowered
//! code's global addresses in the JIT — the interpreter uses the compiled tiers' data,
//! so a function changes tier without copying state — and builds the [`Machine`].

use std::sync::atomic::{AtomicPtr, Ordering};

use bf_interp::{Adapter, Linkage, Machine, Profiling};

use super::glue::{StubSpec, glue_module};
use super::lower::{LowerError, LoweredModule, lower_module};
use crate::jit::rewrite::{defined_functions, name_symbols};
use crate::jit::{Jit, JitError, Module};

/// A module lowered for tier 0, before linking.
pub struct Prepared {
    /// The defined functions' names, in function-id order.
    pub names: Vec<String>,
    /// The lowered functions.
    pub lowered: LoweredModule,
    /// The entry stubs the glue module defines (the adapters are `lowered.adapters`).
    pub stubs: Vec<StubSpec>,
}

impl Prepared {
    /// The glue module (entry stubs and adapters), to compile and add to the JIT.
    pub fn glue(&self) -> Result<Module, JitError> {
        Module::from_ir(glue_module(&self.stubs, &self.lowered.adapters))
    }
}

/// Parses and lowers `bitcode` for tier 0.
pub fn prepare(bitcode: &[u8]) -> Result<Prepared, JitError> {
    let mut module = Module::parse("tier0", bitcode)?;
    name_symbols(module.ir());
    // Vectors become scalars.
    module.run_pipeline(bf_llvm::Pipeline::Scalarize);
    let defs = defined_functions(module.ir());
    let names: Vec<String> = defs.iter().map(|f| f.name()).collect();
    let lowered = lower_module(module.ir(), &defs);
    let stubs: Vec<_> = names
        .iter()
        .enumerate()
        .filter_map(|(id, n)| match (&lowered.functions[id], &lowered.signatures[id]) {
            (Some(_), Some(sig)) => Some((n.clone(), id as u32, sig.clone())),
            _ => None,
        })
        .collect();
    Ok(Prepared { names, lowered, stubs })
}

/// The machine `bf_interp_call` runs (null: none loaded).
static MACHINE: AtomicPtr<Machine> = AtomicPtr::new(std::ptr::null_mut());

/// What `bf_interp_call` calls when no machine is installed yet (null: nothing): a
/// `fn() -> bool` that installs one and says whether it did — the tiered engine
/// prepares the interpreter only when a warm-loaded app first needs it.
static ON_FIRST_CALL: AtomicPtr<()> = AtomicPtr::new(std::ptr::null_mut());

/// Sets (or clears) what `bf_interp_call` calls to get a machine installed when there
/// is none.
pub fn install_on_first_call(prepare: Option<fn() -> bool>) {
    ON_FIRST_CALL.store(prepare.map_or(std::ptr::null_mut(), |f| f as *mut ()), Ordering::Relaxed);
}

/// The interpreter's entry, called by the tier-0 stubs: interprets function `id` with
/// the arguments at `args`, leaving the result at `ret`.
///
/// # Safety
/// As [`bf_interp::Machine::call`]: `args` holds the function's arguments, `ret` has
/// room for [`bf_interp::MAX_RET`] results — what the stubs, its only callers, pass.
pub unsafe extern "C" fn bf_interp_call(id: u32, args: *const u64, ret: *mut u64) {
    let mut m = MACHINE.load(Ordering::Relaxed);
    if m.is_null() {
        let prepare = ON_FIRST_CALL.load(Ordering::Relaxed);
        if !prepare.is_null() {
            // SAFETY: only `install_on_first_call` stores here, and only a `fn() -> bool`.
            let prepare: fn() -> bool = unsafe { std::mem::transmute(prepare) };
            if prepare() {
                m = MACHINE.load(Ordering::Relaxed);
            }
        }
    }
    if m.is_null() {
        println!("interp: bf_interp_call({id}) with no app loaded");
        std::process::exit(0x7f);
    }
    // SAFETY: `install` registered a machine that stays alive until it is uninstalled;
    // the stub passes its argument and result arrays, sized for the signature.
    unsafe { (*m).call(id, args, ret) }
}

/// Makes `machine` the one `bf_interp_call` runs (`None`: none).
pub fn install(machine: Option<&Machine>) {
    MACHINE.store(machine.map_or(std::ptr::null_mut(), |m| m as *const Machine as *mut Machine), Ordering::Relaxed);
}

/// After a run was left by a jump: the installed machine's activations are gone
/// ([`Machine::abandon_activations`]).
pub fn abandon_activations() {
    let machine = MACHINE.load(Ordering::Relaxed);
    if !machine.is_null() {
        // SAFETY: an installed machine stays alive until `install(None)`; no activation
        // of it is running (the run that had them was abandoned).
        unsafe { (*machine).abandon_activations() };
    }
}

/// The function of the installed machine's innermost running activation, if any.
pub fn current_function() -> Option<String> {
    let machine = MACHINE.load(Ordering::Relaxed);
    // SAFETY: an installed machine stays alive until `install(None)`.
    (!machine.is_null()).then(|| unsafe { (*machine).current_function().map(str::to_string) }).flatten()
}

/// Resolves the prepared module against `jit` (which holds the tier-1 module and the
/// glue) and builds the machine. `names` are the tier-1 module's function names (ids
/// must agree), `slots` their slot addresses. Returns the machine and why functions
/// stay out of tier 0.
pub fn link(
    prepared: Prepared,
    jit: &mut Jit,
    names: &[String],
    slots: &[u64],
    profiling: Profiling,
) -> Result<(Machine, Vec<LowerError>), JitError> {
    if prepared.names != names {
        return Err(JitError::Jit("the tier-0 copy's functions differ from tier 1's".into()));
    }
    let Prepared { lowered, .. } = prepared;
    let mut errors = lowered.errors;
    let mut adapters: Vec<Adapter> = Vec::new();
    for i in 0..lowered.adapters.len() {
        let addr = jit.lookup(&format!("bf.adapt.{i}"))?;
        // SAFETY: the glue module defines `bf.adapt.<i>` as `void (ptr, ptr, ptr)`.
        adapters.push(unsafe { std::mem::transmute::<usize, Adapter>(addr as usize) });
    }
    let mut functions = lowered.functions;
    let mut linkage = Vec::new();
    for (id, f) in functions.iter_mut().enumerate() {
        let mut link = Linkage { slot: slots[id], stub: 0, adapter: lowered.adapter_of[id] };
        if let Some(func) = f {
            let resolved = (|| -> Result<(), JitError> {
                link.stub = jit.lookup(&format!("{}.t0", names[id]))?;
                for r in &lowered.relocs[id] {
                    let addr = jit.lookup(&r.symbol)?;
                    func.template[r.reg.index()] = addr.wrapping_add(r.addend as u64);
                }
                Ok(())
            })();
            if let Err(e) = resolved {
                errors.push(LowerError::Unresolved { function: names[id].clone(), error: e });
                *f = None;
                link.stub = 0;
            }
        }
        linkage.push(link);
    }
    let prof_ids = (0..functions.len() as u32).collect();
    let (machine, more) = Machine::new(functions, linkage, prof_ids, adapters, profiling);
    errors.extend(more.into_iter().map(LowerError::Interpreter));
    Ok((machine, errors))
}
