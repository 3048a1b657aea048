//! Per-function tiered JIT with instrumentation profiling.
//!
//! The tiers are the rows of [`bf_tiers::TIERS`] (docs/engine.md, "Tiers"): tier 0
//! interprets, tier 1 compiles one function at O1, tier 2 one function with its callees
//! at O3. This engine makes each row's code with the row's [`Producer`] ([`produce`])
//! and asks the policy ([`TierPolicy`], whose thresholds are the rows') when to move a
//! function up.
//!
//! The app's module is rewritten before it is compiled:
//!
//! * every call to a function defined in the module goes through a **slot**, a global
//!   `ptr` named `bf.slot.<function>` that holds the function's current code; tiering up
//!   a function makes a new copy and stores its address in the slot, so every later
//!   call — from any caller, while the app runs — reaches the new code, and frames
//!   already running finish in the old one;
//! * every defined function runs the profiling fast path in line on entry
//!   (`rewrite::ProfilePath`; its outermost activations and the policy's checks go
//!   out of line): call counts and (outermost-activation) cycles per function
//!   ([`Counters`]), readable while the app runs;
//! * everything gets a unique external name, so a later module can refer to the
//!   load-time module's globals and slots by name.
//!
//! The load-time module is the whole app compiled for the first compiled tier (tier 1,
//! the bitcode as compiled: `Opt::AsCompiled`), with the functions that start interpreted reduced to trampolines
//! through their slots. A promotion into a compiled tier below the top re-reads the
//! bitcode and compiles the promoted function alone (`<name>.<tier>`, instrumented);
//! into the top tier, the promoted function with uninstrumented copies of everything
//! else (so LLVM may inline its callees). The policy is asked in [`bf_prof_check`], which
//! the fast path calls when a function's counters reach what they were armed with: the
//! app itself triggers its tier-ups, synchronously, and carries on.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bf_tiers::profile::pause;
use bf_tiers::{CompileSteps, Counters, FunctionReport, LivePolicy, MAX_TIERS, Producer, TIERS, Tier, TierPolicy};

use bf_snapshot::{FunctionRecord, Key, Object, Snapshot};

use super::rewrite::{
    COUNTERS_GLOBAL, Profiling, drop_unused_profile_helpers, isolate, owner_of, rewrite, rewrite_with, trampoline,
};
use super::{Compiler, HostSymbol, Jit, JitError, Module, OptLevel, host_module};
use crate::arch::x86_64::tsc;

/// Where the engine's messages go: the host's line-aware log (so a message never
/// splits the app's output line), and whether tier-ups are reported (failures always
/// are).
#[derive(Clone, Copy)]
pub struct Log {
    /// Prints one message on a line of its own.
    pub line: fn(String),
    /// Report each tier-up (`tier: fib -> t2 after 100 calls (…)`).
    pub tier_ups: bool,
}

/// Per-function state of the running app.
pub struct FunctionInfo {
    /// The function's (unique, external) name.
    pub name: String,
    /// Where its slot lives (the JIT's data).
    pub slot: u64,
    /// `code[k]`: its code for tier `k`, 0 until made — the load tier's comes with the
    /// load-time module for functions that start there, the others' on promotion.
    pub code: [u64; MAX_TIERS],
    /// `compile_ms[k]`: milliseconds its own code for tier `k` took, if it was made on
    /// promotion.
    pub compile_ms: [Option<f64>; MAX_TIERS],
    /// `steps[k]`: where `compile_ms[k]` went, step by step (`compile_function`).
    pub steps: [Option<CompileSteps>; MAX_TIERS],
    /// The tier it started in at load.
    pub start_tier: u32,
    /// The tier whose code its slot holds (a failed promotion leaves it below the
    /// counters' tier).
    pub code_tier: u32,
    /// The object holding its code for `code_tier` when that code is its own (made on
    /// promotion, or at load for a function the interpreter could not link); `None`
    /// when it runs its start tier's code.
    pub object: Option<Object>,
    /// Calls and cycles of the boots before this one (from the snapshot it was loaded
    /// from).
    pub past: (u64, u64),
}

impl FunctionInfo {
    /// Makes `addr`, its code for `tier`, what its slot calls from now on; `object` is
    /// the object that code came from when the code is its own (kept for snapshots).
    fn install(&mut self, tier: u32, addr: u64, object: Option<Vec<u8>>) {
        self.code[tier as usize] = addr;
        self.code_tier = tier;
        if let Some(bytes) = object {
            self.object = Some(Object { name: code_symbol(&self.name, &TIERS.name(tier)), bytes });
        }
        // SAFETY: the slot is the load-time module's `ptr` global, live while the app is
        // loaded; one thread (calls that follow, from any caller, run the new code).
        unsafe { (self.slot as *mut u64).write_volatile(addr) };
    }
}

/// The symbol of a function's own code for a tier: `<name>.<tier name>`.
fn code_symbol(name: &str, tier_name: &str) -> String {
    format!("{name}.{tier_name}")
}

/// The interpreter of a loaded app; `Machine` is only ever used from the app's thread.
struct Interp(Box<super::interp::exec::Machine>);

// SAFETY: BareFlow runs one thread; the machine is created, run and dropped on it (the
// engine's Mutex only guards the bookkeeping).
unsafe impl Send for Interp {}

/// The running app's engine state, reachable from the profiling hooks.
struct Engine {
    jit: Jit,
    /// Compiles every module this engine links, and counts them.
    compiler: Compiler,
    /// The objects linked at load, in order: the host trampolines, the load-time module,
    /// the interpreter's glue (functions' own objects are in [`FunctionInfo::object`]).
    load_objects: Vec<Object>,
    /// How many boots the profile of `FunctionInfo::past` counts.
    past_boots: u32,
    // The profile counters, indexed by function id, are the load-time module's
    // `bf.counters` in `jit`; the hooks reach them through `COUNTERS_PTR`/`COUNTERS_LEN`,
    // which `unload` clears before the JIT is dropped.
    bitcode: Vec<u8>,
    functions: Vec<FunctionInfo>,
    tier_ups: u32,
    log: Log,
    /// The interpreter, when functions start interpreted (dropped after `unload`
    /// uninstalled it).
    _interp: Option<Interp>,
}

/// The loaded app's counters (its JIT's `bf.counters`) as a raw pointer and length, for the
/// hooks' fast path; 0 when no app is loaded.
static COUNTERS_PTR: AtomicU64 = AtomicU64::new(0);
static COUNTERS_LEN: AtomicU64 = AtomicU64::new(0);
static ENGINE: Mutex<Option<Engine>> = Mutex::new(None);
/// The loaded app's policy's thresholds, for the hooks' fast path (atomics: no lock, no
/// allocation); those of [`TierPolicy::NEVER`] when no app is loaded. Written only at
/// load and unload.
static POLICY: LivePolicy = LivePolicy::never();

fn counters() -> &'static [Counters] {
    let (p, n) = (COUNTERS_PTR.load(Ordering::Relaxed), COUNTERS_LEN.load(Ordering::Relaxed));
    if p == 0 {
        return &[];
    }
    // SAFETY: `TieredApp::load` points these at the engine's counters, which live until
    // `TieredApp::unload` has reset the pointer to 0 (one thread: no use in between).
    unsafe { std::slice::from_raw_parts(p as *const Counters, n as usize) }
}

/// The profiling fast path's way out (compiled code calls it from its in-line entry
/// path, `rewrite::ProfilePath`; the interpreter from its own, [`interp_profiling`]): function
/// `id`'s counters reached what they were armed with. Asks the policy, promotes the
/// function if it says so, and re-arms the counters for the tier the function is in
/// now. Kept out of line and cold: calls that promote nothing never get here.
#[cold]
#[inline(never)]
pub extern "C" fn bf_prof_check(id: u32) {
    let Some(c) = counters().get(id as usize) else { return };
    if let Some(to) = POLICY.promotion(c.heat()) {
        // Compiling is not the app's time: stop the clock of every running activation
        // meanwhile (otherwise a slow compile, e.g. under TCG, would push the function
        // straight over the next threshold).
        let started = tsc::rdtsc();
        promote(id, to);
        pause(counters(), tsc::rdtsc().wrapping_sub(started));
    }
    c.arm(POLICY.next_threshold(c.tier.load(Ordering::Relaxed)));
}

/// After a run of the loaded app was left by a jump (`exit`, `abort`, a fault; see
/// `jit::program::guard`; `how` says which): the activations it had are gone — in the
/// profile (no function is running any more) and in the interpreter's stacks.
///
/// The engine's lock is held only inside the engine (a promotion, the policy, a
/// report). A run left while it was held was left inside the engine — a fault or an
/// abort in LLVM during a promotion, not in the program — whose state is then
/// half-changed and whose lock can never be taken again: this says so and stops the
/// kernel, instead of hanging at the next lock.
pub fn recover_from_abandoned_run(how: &str) {
    if let Err(std::sync::TryLockError::WouldBlock) = ENGINE.try_lock() {
        panic!("tiered engine: the program's run ended inside the engine ({how}), which cannot go on");
    }
    for c in counters() {
        c.abandon();
    }
    super::interp::engine::abandon_activations();
}

/// What the interpreter counts: every interpreted activation goes through the same
/// fast path as compiled code's in-line one, on `counters` (`bf_interp::Profiling`).
///
/// # Safety
/// `counters` must outlive every run of the machine given this: the engine's, which
/// `unload` drops with the machine.
unsafe fn interp_profiling(counters: &[Counters]) -> super::interp::exec::Profiling {
    // SAFETY: the caller's guarantee.
    unsafe { super::interp::exec::Profiling::new(counters, |id| bf_prof_check(id), tsc::rdtsc) }
}

/// Moves function `id` up to tier `to`: makes the tier's code ([`produce`]) and stores
/// it in the function's slot. Calls that follow, from native and interpreted callers
/// alike, run the new code; activations already running (interpreted or compiled)
/// finish in the old one. If making the code fails, the function still counts as in
/// tier `to` (no retry on every call) and its slot keeps the old code. Kept out of line
/// and cold, like [`bf_prof_check`] which calls it.
#[cold]
#[inline(never)]
fn promote(id: u32, to: u32) {
    let mut guard = ENGINE.lock().unwrap();
    let Some(engine) = guard.as_mut() else { return };
    let c = &counters()[id as usize];
    c.enter_tier(to);
    let Some(tier) = TIERS.get(to) else { return };
    let started = Instant::now();
    let name = engine.functions[id as usize].name.clone();
    // Top-tier compiles take seconds under TCG: say what is being compiled (on the
    // status screen, and on the console on bare metal; natively they are quick).
    let label = format!("{} -> {}", short_name(&name), tier.name);
    // Code for this tier already made (a snapshot's) is installed, not compiled.
    let made_before = engine.functions[id as usize].code[to as usize];
    let compiles = made_before == 0;
    if compiles {
        super::status::compiling(Some(label.clone()));
        if to == TIERS.top() && engine.log.tier_ups && super::status::shown() {
            (engine.log.line)(format!("tier: compiling {label} ..."));
        }
    }
    let made = match made_before {
        0 => produce(engine, id, to, tier).map(|(addr, object, steps)| (addr, Some(object), Some(steps))),
        code => Ok((code, None, None)),
    };
    let ms = started.elapsed().as_secs_f64() * 1e3;
    if compiles {
        super::status::compiling(None);
    }
    let (addr, object, steps) = match made {
        Ok(made) => made,
        Err(e) => {
            (engine.log.line)(format!("tier: promoting {} to {} failed: {e}", short_name(&name), tier.name));
            return;
        }
    };
    let f = &mut engine.functions[id as usize];
    f.compile_ms[to as usize] = Some(ms);
    f.steps[to as usize] = steps;
    f.install(to, addr, object);
    engine.tier_ups += 1;
    super::status::functions(report_of(engine));
    if engine.log.tier_ups {
        (engine.log.line)(format!(
            "tier: {} -> {} after {} calls ({ms:.1} ms compile)",
            short_name(&name),
            tier.name,
            c.calls.load(Ordering::Relaxed)
        ));
    }
}

/// `engine`'s profile: per function, its counters, tier and compile times.
fn report_of(engine: &Engine) -> Vec<FunctionReport> {
    engine
        .functions
        .iter()
        .zip(counters())
        .map(|(f, c)| FunctionReport {
            name: short_name(&f.name),
            symbol: f.name.clone(),
            calls: c.calls.load(Ordering::Relaxed),
            cycles: c.cycles.load(Ordering::Relaxed),
            tier: c.tier.load(Ordering::Relaxed),
            compile_ms: f.compile_ms,
            steps: f.steps,
        })
        .collect()
}

/// Makes tier `to`'s code of function `id` with the tier's producer and returns its
/// address, its object and where the time went. This is where a new kind of tier
/// ([`Producer`]) gets its producer. (Code kept in a snapshot is not a tier of its own: it is loaded into the
/// tier it was made for, [`TieredApp::load_from`].)
fn produce(engine: &mut Engine, id: u32, to: u32, tier: &Tier) -> Result<(u64, Vec<u8>, CompileSteps), JitError> {
    let name = &engine.functions[id as usize].name;
    let (jit, compiler) = (&mut engine.jit, &mut engine.compiler);
    match tier.producer {
        Producer::Compiled(opt) if to == TIERS.top() => {
            let calls = (id as usize * size_of::<Counters>() + std::mem::offset_of!(Counters, calls)) as u64;
            let shape = top_tier(name, tier.name, calls);
            compile_function(jit, compiler, &engine.bitcode, (name, tier.name), opt, Bodies::All, shape)
        }
        Producer::Compiled(opt) => {
            let shape = alone(name, tier.name);
            compile_function(jit, compiler, &engine.bitcode, (name, tier.name), opt, Bodies::OnlyItsOwn, shape)
        }
        Producer::Interpreted => {
            Err(JitError::Jit(format!("tier {} interprets: there is no code to promote to", tier.name)))
        }
        // The extension point of `bf_tiers::Producer`: the figures issue (host-tuned
        // code) adds its producer here.
        Producer::HostTuned(_) => {
            Err(JitError::Jit(format!("no producer for tier {} ({:?}) in this kernel yet", tier.name, tier.producer)))
        }
    }
}

/// Compiles function `name` at `level` with `compiler` and links it into `jit` under
/// the name `<name>.<suffix>`: the bitcode re-read (`bodies`: every function's, or
/// `name`'s alone), shaped for its tier by `shape` ([`isolate`] for a middle tier,
/// [`rewrite`] of the top tier), optimised, compiled to an object and linked. Returns
/// the code's address, the object and each step's milliseconds.
fn compile_function(
    jit: &mut Jit,
    compiler: &mut Compiler,
    bitcode: &[u8],
    (name, suffix): (&str, &str),
    level: OptLevel,
    bodies: Bodies,
    shape: impl FnOnce(&bf_llvm::Module),
) -> Result<(u64, Vec<u8>, CompileSteps), JitError> {
    let mut clock = Instant::now();
    let mut lap = || {
        let now = Instant::now();
        let ms = now.duration_since(clock).as_secs_f64() * 1e3;
        clock = now;
        ms
    };
    let module_name = format!("tier.{suffix}");
    let mut module = match bodies {
        Bodies::All => Module::parse(&module_name, bitcode)?,
        Bodies::OnlyItsOwn => Module::parse_one_body(&module_name, bitcode, name)?,
    };
    let parse = lap();
    shape(module.ir());
    let shape = lap();
    compiler.optimise(&mut module, level)?;
    let optimise = lap();
    let object = compiler.compile(module, level)?;
    let codegen = lap();
    let (address, object) = link_object(jit, object, &code_symbol(name, suffix))?;
    let link = lap();
    Ok((address, object, CompileSteps { parse, shape, optimise, codegen, link }))
}

/// Which function bodies a promotion reads from the bitcode.
#[derive(Clone, Copy)]
enum Bodies {
    /// All of them: the top tier keeps copies of every function to inline.
    All,
    /// The promoted function's alone: a middle tier keeps only that body ([`alone`]),
    /// so the others are never read (a tenth of a tier-1 promotion was reading them).
    OnlyItsOwn,
}

/// The module of function `name` for the top tier: renamed `<name>.<suffix>` and
/// counting its calls in place, at byte `calls` of the counters [`COUNTERS_GLOBAL`]
/// points at (no hooks: there is no tier above), every other function an internal,
/// uninstrumented copy it may inline (the profile said this code is hot: give it
/// everything) but the `cold` and `noreturn` ones (the panic paths), which stay the
/// load-time module's, every global a reference to the load-time module's.
fn top_tier(name: &str, suffix: &str, calls: u64) -> impl FnOnce(&bf_llvm::Module) {
    move |m| {
        rewrite(m, Some((name, suffix, calls)));
    }
}

/// The module that compiles function `name` alone for a middle tier: rewritten like
/// the load-time module, renamed `<name>.<suffix>`, every other function a declaration
/// (calls go through the slots), every global and slot a reference to the load-time
/// module's.
fn alone(name: &str, suffix: &str) -> impl FnOnce(&bf_llvm::Module) {
    move |m| isolate(m, name, suffix)
}

/// Adds `object` to `jit` and returns the address of `symbol` (which it defines) and
/// the object.
fn link_object(jit: &mut Jit, object: Vec<u8>, symbol: &str) -> Result<(u64, Vec<u8>), JitError> {
    jit.add_object(symbol, &object)?;
    let address = jit.lookup(symbol)?;
    let tier = symbol.rsplit('.').next().unwrap_or_default();
    super::codemap::record_object(jit, &object, tier, |s| {
        let s = owner_of(s);
        short_name(s.rsplit_once('.').map_or(s, |(n, _)| n))
    });
    super::debugger::announce(jit, &object);
    Ok((address, object))
}

/// A readable form of a (possibly Rust-mangled) function name: the last path segment.
pub fn short_name(name: &str) -> String {
    if !name.starts_with("_ZN") {
        return name.to_string();
    }
    // _ZN <len><seg> ... 17h<hash>E
    let mut rest = &name[3..];
    let mut segments = Vec::new();
    while let Some(digits) = rest.find(|c: char| !c.is_ascii_digit()).filter(|&d| d > 0) {
        let Ok(len) = rest[..digits].parse::<usize>() else { break };
        let Some(seg) = rest.get(digits..digits + len) else { break };
        segments.push(seg);
        rest = &rest[digits + len..];
    }
    segments.retain(|s| !(s.len() == 17 && s.starts_with('h')));
    segments.last().map_or(name.to_string(), |s| s.to_string())
}

/// Prepares and installs the interpreter of a warm-loaded app, at the first call of a
/// function that is still interpreted (`bf_interp_call` finds no machine): the bitcode
/// lowered again and linked against the JIT's code and data, as a cold load does
/// up front. The time it takes is not the app's (the clocks of running activations
/// stop meanwhile). Returns whether a machine is installed.
fn prepare_interpreter() -> bool {
    let started = tsc::rdtsc();
    let timer = Instant::now();
    let mut guard = ENGINE.lock().unwrap();
    let Some(engine) = guard.as_mut() else { return false };
    let names: Vec<String> = engine.functions.iter().map(|f| f.name.clone()).collect();
    let slots: Vec<u64> = engine.functions.iter().map(|f| f.slot).collect();
    // SAFETY: the loaded app's counters, which live until `unload` drops the engine
    // and with it this machine.
    let profiling = unsafe { interp_profiling(counters()) };
    let linked = super::interp::engine::prepare(&engine.bitcode)
        .and_then(|p| super::interp::engine::link(p, &mut engine.jit, &names, &slots, profiling));
    let machine = match linked {
        Ok((machine, errors)) => {
            for e in &errors {
                println!("interp: {e}");
            }
            Box::new(machine)
        }
        Err(e) => {
            (engine.log.line)(format!("interp: cannot prepare the interpreter: {e}"));
            return false;
        }
    };
    super::interp::engine::install(Some(&machine));
    engine._interp = Some(Interp(machine));
    (engine.log.line)(format!("interp: prepared on first use ({:.1} ms)", timer.elapsed().as_secs_f64() * 1e3));
    drop(guard);
    pause(counters(), tsc::rdtsc().wrapping_sub(started));
    true
}

/// The level of the load-time module for `policy`: its first compiled tier's.
fn load_level(policy: TierPolicy) -> Result<OptLevel, JitError> {
    let load_tier = TIERS.first_native_from(policy.start);
    match TIERS.get(load_tier).map(|t| t.producer) {
        Some(Producer::Compiled(opt)) => Ok(opt),
        other => Err(JitError::Jit(format!(
            "the load-time module cannot be made for tier {} ({other:?})",
            TIERS.name(load_tier)
        ))),
    }
}

/// An app loaded into the tiered engine.
pub struct TieredApp {
    /// Address of bf_app_main's slot.
    entry: u64,
    /// The tier the load-time module was compiled for (tier 1): where functions start
    /// that are not interpreted.
    pub load_tier: u32,
    /// Compile time of the load-time module (with the interpreter's glue), ms.
    pub module_compile_ms: f64,
    /// Time to parse, scalarise and lower the interpreter's copy, ms (0 when nothing
    /// starts interpreted).
    pub interp_prepare_ms: f64,
    /// How many functions start interpreted.
    pub interpreted: usize,
}

impl TieredApp {
    /// Loads `bitcode` with profiling: its functions start in the policy's start tier —
    /// interpreted when that tier interprets (those the interpreter cannot lower start
    /// in the first compiled tier above, with a message) — and the load-time module is
    /// compiled for the first compiled tier at or above it. `symbols` are the host
    /// functions, `log` where the engine's messages go. Only one tiered app can be
    /// loaded at a time.
    pub fn load(
        name: &str,
        bitcode: &[u8],
        symbols: &[HostSymbol],
        policy: TierPolicy,
        log: Log,
    ) -> Result<TieredApp, JitError> {
        let level = load_level(policy)?;
        Self::load_inner(name, bitcode, symbols, policy, log, level, None, Profiling::Full)
    }

    /// As [`TieredApp::load`], with the whole rewritten module compiled at `level` and
    /// profiled as `profiling` says: O3 with [`TierPolicy::NEVER`] each way measures
    /// what profiling costs compiled code.
    pub fn load_at(
        name: &str,
        bitcode: &[u8],
        symbols: &[HostSymbol],
        policy: TierPolicy,
        log: Log,
        level: OptLevel,
        profiling: Profiling,
    ) -> Result<TieredApp, JitError> {
        Self::load_inner(name, bitcode, symbols, policy, log, level, None, profiling)
    }

    /// As [`TieredApp::load`], warm: the objects come from `snapshot` (an earlier boot's
    /// work on the same bitcode, validated against this boot's key by the caller) —
    /// the host trampolines, the load-time module and the glue, then each function's
    /// code for the tier it had reached, linked and put in its slot. Nothing the
    /// snapshot holds is compiled; the profile keeps counting and functions may still
    /// tier up. Fails (and the caller starts cold) if the snapshot does not fit this
    /// app: functions that differ, or a policy that does not start interpreted.
    pub fn load_from(
        name: &str,
        bitcode: &[u8],
        symbols: &[HostSymbol],
        policy: TierPolicy,
        log: Log,
        snapshot: &Snapshot,
    ) -> Result<TieredApp, JitError> {
        let level = load_level(policy)?;
        Self::load_inner(name, bitcode, symbols, policy, log, level, Some(snapshot), Profiling::Full)
    }

    /// Loads the app; `profiling`: what the load-time module does for the profile.
    #[allow(clippy::too_many_arguments)]
    fn load_inner(
        name: &str,
        bitcode: &[u8],
        symbols: &[HostSymbol],
        policy: TierPolicy,
        log: Log,
        level: OptLevel,
        warm: Option<&Snapshot>,
        profiling: Profiling,
    ) -> Result<TieredApp, JitError> {
        let start = policy.start;
        let load_tier = TIERS.first_native_from(start);
        let load_suffix = TIERS.name(load_tier);
        let interprets = TIERS.get(start).is_some_and(|t| t.producer == Producer::Interpreted);
        let started = Instant::now();
        // Warm, the interpreter is prepared only if a function still interpreted is
        // called ([`prepare_interpreter`]): most of a warm load's time otherwise.
        let prepared = match warm {
            None if interprets => Some(super::interp::engine::prepare(bitcode)?),
            _ => None,
        };
        let interp_prepare_ms = started.elapsed().as_secs_f64() * 1e3;
        let mut all = symbols.to_vec();
        all.push(HostSymbol { name: "bf_prof_check", address: bf_prof_check as *const () as u64 });
        all.push(HostSymbol {
            name: "bf_interp_call",
            address: super::interp::engine::bf_interp_call as *const () as u64,
        });
        let mut compiler = Compiler::new();
        let (names, starts_interpreted, load_objects) = match warm {
            None => {
                let host = compiler.compile(host_module(&all)?, OptLevel::O2)?;
                let mut module = Module::parse(name, bitcode)?;
                let names = rewrite_with(module.ir(), None, profiling);
                // Whether function `id` starts interpreted: a trampoline through its slot
                // in the load-time module, its body compiled when it is promoted.
                let starts_interpreted: Vec<bool> = match &prepared {
                    Some(p) if p.names == names => (0..names.len())
                        .map(|id| p.lowered.functions[id].is_some() && p.lowered.signatures[id].is_some())
                        .collect(),
                    _ => vec![false; names.len()],
                };
                for (n, _) in names.iter().zip(&starts_interpreted).filter(|(_, t)| **t) {
                    // (The glue module defines the stub.)
                    trampoline(module.ir(), n);
                }
                drop_unused_profile_helpers(module.ir());
                compiler.optimise(&mut module, level)?;
                let mut objects = vec![
                    Object { name: "host".into(), bytes: host },
                    Object { name: format!("load.{load_suffix}"), bytes: compiler.compile(module, level)? },
                ];
                if let Some(p) = &prepared {
                    let glue = compiler.compile(p.glue()?, OptLevel::O2)?;
                    objects.push(Object { name: "glue".into(), bytes: glue });
                }
                // The machines every compiled tier needs, made and warmed up now (part of
                // the load), so that a promotion's time is its compilation's (issue 14).
                for tier in TIERS.rows() {
                    if let Producer::Compiled(opt) = tier.producer {
                        compiler.prepare(opt)?;
                    }
                }
                (names, starts_interpreted, objects)
            }
            Some(snapshot) => {
                if !interprets {
                    return Err(JitError::Jit("a snapshot loads only into an engine that starts interpreted".into()));
                }
                let names: Vec<String> = snapshot.functions.iter().map(|f| f.name.clone()).collect();
                if let Some(f) = snapshot.functions.iter().find(|f| f.start_tier != start && f.start_tier != load_tier)
                {
                    return Err(JitError::Jit(format!("{} starts in tier {}", f.name, f.start_tier)));
                }
                let starts_interpreted = snapshot.functions.iter().map(|f| f.start_tier == start).collect();
                let own: Vec<u32> = snapshot.functions.iter().filter_map(|f| f.code).collect();
                let objects = (0..snapshot.objects.len() as u32)
                    .filter(|i| !own.contains(i))
                    .map(|i| snapshot.objects[i as usize].clone())
                    .collect();
                (names, starts_interpreted, objects)
            }
        };
        let mut jit = Jit::bare()?;
        for o in &load_objects {
            jit.add_object(&o.name, &o.bytes)?;
        }
        jit.lookup("bf_app_main")?;
        for o in load_objects.iter().filter(|o| o.name.starts_with("load.")) {
            super::codemap::record_object(&mut jit, &o.bytes, &load_suffix, |s| short_name(owner_of(s)));
            super::debugger::announce(&mut jit, &o.bytes);
        }
        let counters_global = jit.lookup(COUNTERS_GLOBAL)?;
        // SAFETY: `bf.counters` is the load-time module's zeroed, 8-byte aligned array of
        // one `Counters` per function id (all-zero `Counters` are valid: atomics), in
        // the JIT's writable memory, which lives until `unload` drops the engine (after
        // clearing `COUNTERS_PTR`); compiled code reaches the counters only through
        // plain loads and stores on this one thread.
        let counters: &[Counters] =
            unsafe { std::slice::from_raw_parts(counters_global as *const Counters, names.len()) };
        for c in counters {
            c.tier.store(load_tier, Ordering::Relaxed);
        }
        let mut functions = Vec::new();
        for (id, n) in names.iter().enumerate() {
            let slot = jit.lookup(&format!("bf.slot.{n}"))?;
            let mut code = [0; MAX_TIERS];
            if !starts_interpreted[id] {
                // SAFETY: the slot is a `ptr` global of the module just linked, holding
                // the function's code for the load tier.
                code[load_tier as usize] = unsafe { (slot as *const u64).read() };
            }
            let past = warm.map_or((0, 0), |s| (s.functions[id].calls, s.functions[id].cycles));
            functions.push(FunctionInfo {
                name: n.clone(),
                slot,
                code,
                compile_ms: [None; MAX_TIERS],
                steps: [None; MAX_TIERS],
                start_tier: if starts_interpreted[id] { start } else { load_tier },
                code_tier: if starts_interpreted[id] { start } else { load_tier },
                object: None,
                past,
            });
        }
        // The app is entered through bf_app_main's slot, so it too starts interpreted.
        let entry = names
            .iter()
            .position(|n| n == "bf_app_main")
            .map(|i| functions[i].slot)
            .ok_or_else(|| JitError::Lookup("bf_app_main is not defined".into()))?;
        let module_compile_ms = started.elapsed().as_secs_f64() * 1e3 - interp_prepare_ms;
        // A function's own code from the snapshot: (its tier, the object).
        let saved = |id: usize| -> Option<(u32, &Object)> {
            let f = &warm?.functions[id];
            Some((f.tier, warm?.objects.get(f.code? as usize)?))
        };
        let mut interp = None;
        let mut interpreted = 0;
        if let Some(p) = prepared {
            let slots: Vec<u64> = functions.iter().map(|f| f.slot).collect();
            // SAFETY: `counters` live in the JIT, which the engine drops only after the
            // machine (`unload`).
            let profiling = unsafe { interp_profiling(counters) };
            let (machine, errors) = super::interp::engine::link(p, &mut jit, &names, &slots, profiling)?;
            for e in &errors {
                println!("interp: starts in tier {load_tier}: {e}");
            }
            for (id, f) in machine.functions.iter().enumerate() {
                if f.is_none() && starts_interpreted[id] {
                    // Lowered, but not linkable after all: its code for the load tier,
                    // kept in the snapshot or compiled now.
                    let (addr, bytes) = match saved(id) {
                        Some((tier, o)) if tier == load_tier => {
                            link_object(&mut jit, o.bytes.clone(), &code_symbol(&names[id], &load_suffix))?
                        }
                        _ => {
                            let (name, suffix) = (names[id].as_str(), &*load_suffix);
                            compile_function(
                                &mut jit,
                                &mut compiler,
                                bitcode,
                                (name, suffix),
                                level,
                                Bodies::OnlyItsOwn,
                                alone(name, suffix),
                            )
                            .map(|(addr, object, _)| (addr, object))?
                        }
                    };
                    functions[id].start_tier = load_tier;
                    functions[id].install(load_tier, addr, Some(bytes));
                }
                if f.is_some() {
                    // SAFETY: the slot is a `ptr` global of the load-time module; the app
                    // is not running yet.
                    unsafe { (functions[id].slot as *mut u64).write_volatile(machine.linkage[id].stub) };
                    counters[id].tier.store(start, Ordering::Relaxed);
                    interpreted += 1;
                }
            }
            interp = Some(Interp(Box::new(machine)));
        } else if warm.is_some() {
            for (id, _) in starts_interpreted.iter().enumerate().filter(|(_, t)| **t) {
                counters[id].tier.store(start, Ordering::Relaxed);
                interpreted += 1;
            }
            super::interp::engine::install_on_first_call(Some(prepare_interpreter));
        }
        // Warm: each function straight into the tier it had reached.
        for (id, info) in functions.iter_mut().enumerate() {
            let Some((tier, o)) = saved(id).filter(|(tier, _)| *tier > info.code_tier) else { continue };
            let (addr, bytes) = link_object(&mut jit, o.bytes.clone(), &code_symbol(&info.name, &TIERS.name(tier)))?;
            info.install(tier, addr, Some(bytes));
            counters[id].enter_tier(tier);
        }
        COUNTERS_PTR.store(counters.as_ptr() as u64, Ordering::Relaxed);
        COUNTERS_LEN.store(counters.len() as u64, Ordering::Relaxed);
        POLICY.install(&policy);
        super::interp::engine::install(interp.as_ref().map(|i| &*i.0));
        *ENGINE.lock().unwrap() = Some(Engine {
            jit,
            compiler,
            load_objects,
            past_boots: warm.map_or(0, |s| s.profiled_boots),
            bitcode: bitcode.to_vec(),
            functions,
            tier_ups: 0,
            log,
            _interp: interp,
        });
        Ok(TieredApp { entry, load_tier, module_compile_ms, interp_prepare_ms, interpreted })
    }

    /// How many modules LLVM compiled for this app so far (the load-time module, the
    /// host trampolines and the glue included): 0 on a warm load that needed nothing
    /// new.
    pub fn llvm_compiles(&self) -> u32 {
        ENGINE.lock().unwrap().as_ref().map_or(0, |e| e.compiler.compiles)
    }

    /// The engine's work so far as a snapshot for `key` (this boot's), numbered `boot`:
    /// the objects linked at load, each function's own code for the tier it reached, and
    /// the profile of the earlier boots plus this one's.
    pub fn snapshot(&self, key: Key, boot: u32) -> Option<Snapshot> {
        let guard = ENGINE.lock().unwrap();
        let engine = guard.as_ref()?;
        let mut objects = engine.load_objects.clone();
        let mut records = Vec::new();
        for (f, c) in engine.functions.iter().zip(counters()) {
            let code = f.object.as_ref().map(|o| {
                objects.push(o.clone());
                objects.len() as u32 - 1
            });
            records.push(FunctionRecord {
                name: f.name.clone(),
                start_tier: f.start_tier,
                tier: f.code_tier,
                calls: f.past.0 + c.calls.load(Ordering::Relaxed),
                cycles: f.past.1 + c.cycles.load(Ordering::Relaxed),
                code,
            });
        }
        Some(Snapshot { key, boot, profiled_boots: engine.past_boots + 1, functions: records, objects })
    }

    /// Runs `bf_app_main` once (tier-ups happen inside, as the policy says) and returns
    /// its status; the host times it (`jit::host::measure`).
    pub fn run(&mut self) -> i32 {
        // SAFETY: the app ABI's entry as its slot holds it now (interpreter stub or
        // compiled code of any tier), made by the engine's JIT (alive until `unload`).
        let main: extern "C" fn() -> i32 =
            unsafe { std::mem::transmute((self.entry as *const u64).read_volatile() as usize) };
        main()
    }

    /// The profile so far.
    pub fn report(&self) -> Vec<FunctionReport> {
        let guard = ENGINE.lock().unwrap();
        guard.as_ref().map(report_of).unwrap_or_default()
    }

    /// Number of tier-ups so far.
    pub fn tier_ups(&self) -> u32 {
        ENGINE.lock().unwrap().as_ref().map_or(0, |e| e.tier_ups)
    }

    /// Frees the JIT and the counters' registration.
    pub fn unload(self) {
        super::interp::engine::install_on_first_call(None);
        super::interp::engine::install(None);
        POLICY.install(&TierPolicy::NEVER);
        COUNTERS_PTR.store(0, Ordering::Relaxed);
        COUNTERS_LEN.store(0, Ordering::Relaxed);
        *ENGINE.lock().unwrap() = None;
    }
}
