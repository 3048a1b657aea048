//! Per-function tiered JIT with instrumentation profiling.
//!
//! The app's module is rewritten before it is compiled:
//!
//! * every call to a function defined in the module goes through a **slot**, a global
//!   `ptr` named `bf.slot.<function>` that initially holds the tier-1 code; tiering up
//!   a function compiles a new copy and stores its address in the slot, so every later
//!   call — from any caller, while the app runs — reaches the new code, and frames
//!   already running finish in the old one;
//! * every defined function calls `bf_prof_enter(id)` on entry and `bf_prof_exit(id)`
//!   before each return: call counts and (outermost-activation) cycles per function,
//!   readable while the app runs;
//! * everything gets a unique external name, so a tier-2 module can refer to the
//!   tier-1 module's globals and slots by name.
//!
//! Tier 1 is the whole module at `default<O1>`. Tier 2 re-reads the bitcode, keeps only
//! the promoted function (renamed `<name>.t2`; everything else becomes a declaration)
//! and compiles it at `default<O3>`. The policy ([`TierPolicy`]) is checked in
//! `bf_prof_enter`: the app itself triggers its tier-ups, synchronously, and carries on.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use super::rewrite::{isolate_t1, rewrite, trampoline};
use super::{HostSymbol, Jit, JitError, Module, OptLevel};
use crate::arch::x86_64::tsc;

pub use super::policy::{Heat, TierPolicy};

/// Profile counters of one function, updated by the instrumentation. `repr(C)`:
/// tier-2 code increments `calls` in place, at a fixed address.
#[derive(Default)]
#[repr(C)]
pub struct Counters {
    /// Calls so far.
    pub calls: AtomicU64,
    /// Cycles spent in outermost activations (recursion counted once).
    pub cycles: AtomicU64,
    depth: AtomicU64,
    entered_at: AtomicU64,
    /// `cycles` when the function entered its current tier (0 for the tier it
    /// started in): the policy counts tier-1 cycles only toward tier 2.
    cycles_at_tier_entry: AtomicU64,
    /// 0, 1 or 2.
    pub tier: AtomicU32,
}

/// Per-function state of the running app.
pub struct FunctionInfo {
    /// The function's (unique, external) name.
    pub name: String,
    /// Where its slot lives (the JIT's data).
    pub slot: u64,
    /// Its tier-1 code: compiled with the module at load for functions that start in
    /// tier 1, on promotion (0 until then) for those that start in tier 0.
    pub t1_code: u64,
    /// Milliseconds its own tier-1 compile took, if it was compiled on promotion.
    pub t1_compile_ms: Option<f64>,
    /// Milliseconds its tier-2 compile took, if it was promoted.
    pub t2_compile_ms: Option<f64>,
}

/// The interpreter of a loaded app; `Machine` is only ever used from the app's thread.
struct Interp(Box<super::interp::exec::Machine>);

// SAFETY: BareFlow runs one thread; the machine is created, run and dropped on it (the
// engine's Mutex only guards the bookkeeping).
unsafe impl Send for Interp {}

/// The running app's engine state, reachable from the profiling hooks.
struct Engine {
    jit: Jit,
    /// The profile counters, indexed by function id; the hooks reach them through
    /// `COUNTERS_PTR`/`COUNTERS_LEN`, which `unload` clears before this is dropped.
    _counters: Box<[Counters]>,
    bitcode: Vec<u8>,
    functions: Vec<FunctionInfo>,
    tier_ups: u32,
    log: bool,
    /// Tier 0, when the policy interprets (dropped after `unload` uninstalled it).
    _interp: Option<Interp>,
}

/// The loaded app's counters (`Engine::_counters`) as a raw pointer and length, for the
/// hooks' fast path; 0 when no app is loaded.
static COUNTERS_PTR: AtomicU64 = AtomicU64::new(0);
static COUNTERS_LEN: AtomicU64 = AtomicU64::new(0);
static ENGINE: Mutex<Option<Engine>> = Mutex::new(None);
/// The loaded app's policy's thresholds, for the hooks' fast path (those of
/// [`TierPolicy::NEVER`] when no app is loaded); written only by [`install_policy`].
static POLICY_T1_CALLS: AtomicU64 = AtomicU64::new(u64::MAX);
static POLICY_T1_CYCLES: AtomicU64 = AtomicU64::new(u64::MAX);
static POLICY_T2_CALLS: AtomicU64 = AtomicU64::new(u64::MAX);
static POLICY_T2_CYCLES: AtomicU64 = AtomicU64::new(u64::MAX);

/// Makes `policy`'s thresholds the ones the hooks apply.
fn install_policy(policy: &TierPolicy) {
    POLICY_T1_CALLS.store(policy.t1_calls, Ordering::Relaxed);
    POLICY_T1_CYCLES.store(policy.t1_cycles, Ordering::Relaxed);
    POLICY_T2_CALLS.store(policy.t2_calls, Ordering::Relaxed);
    POLICY_T2_CYCLES.store(policy.t2_cycles, Ordering::Relaxed);
}

/// The loaded app's policy, as the hooks see it.
#[inline(always)]
fn loaded_policy() -> TierPolicy {
    TierPolicy {
        interpret: false, // (only read at load)
        t1_calls: POLICY_T1_CALLS.load(Ordering::Relaxed),
        t1_cycles: POLICY_T1_CYCLES.load(Ordering::Relaxed),
        t2_calls: POLICY_T2_CALLS.load(Ordering::Relaxed),
        t2_cycles: POLICY_T2_CYCLES.load(Ordering::Relaxed),
    }
}

fn counters() -> &'static [Counters] {
    let (p, n) = (COUNTERS_PTR.load(Ordering::Relaxed), COUNTERS_LEN.load(Ordering::Relaxed));
    if p == 0 {
        return &[];
    }
    // SAFETY: `TieredApp::load` points these at the engine's counters, which live until
    // `TieredApp::unload` has reset the pointer to 0 (one thread: no use in between).
    unsafe { std::slice::from_raw_parts(p as *const Counters, n as usize) }
}

/// Adds one to a counter without a locked instruction: one thread (and one core on
/// bare metal) updates the counters, so a plain load and store suffice, and they cost
/// a fraction of `lock xadd` on every call of every profiled function.
#[inline(always)]
fn bump(counter: &AtomicU64, by: u64) -> u64 {
    let v = counter.load(Ordering::Relaxed).wrapping_add(by);
    counter.store(v, Ordering::Relaxed);
    v
}

/// Instrumentation hook: function `id` was entered.
pub extern "C" fn bf_prof_enter(id: u32) {
    let Some(c) = counters().get(id as usize) else { return };
    let calls = bump(&c.calls, 1);
    if bump(&c.depth, 1) == 1 {
        c.entered_at.store(tsc::rdtsc(), Ordering::Relaxed);
    }
    let heat = Heat {
        tier: c.tier.load(Ordering::Relaxed),
        calls,
        cycles: c.cycles.load(Ordering::Relaxed),
        cycles_at_tier_entry: c.cycles_at_tier_entry.load(Ordering::Relaxed),
    };
    let promote: Option<fn(u32)> = match loaded_policy().promotion(heat) {
        Some(1) => Some(tier_up_t1),
        Some(_) => Some(tier_up),
        None => None,
    };
    if let Some(promote) = promote {
        // Compiling is not the app's time: stop the clock of every running activation
        // meanwhile (otherwise a slow compile, e.g. under TCG, would push the function
        // straight over the next threshold).
        let started = tsc::rdtsc();
        promote(id);
        let spent = tsc::rdtsc().wrapping_sub(started);
        for c in counters().iter().filter(|c| c.depth.load(Ordering::Relaxed) > 0) {
            c.entered_at.store(c.entered_at.load(Ordering::Relaxed).wrapping_add(spent), Ordering::Relaxed);
        }
    }
}

/// Moves function `id` from tier 0 to tier 1: its slot gets the tier-1 code. Calls
/// that follow, from native and interpreted callers alike, run compiled code;
/// interpreted activations already running finish in the interpreter.
fn tier_up_t1(id: u32) {
    let mut guard = ENGINE.lock().unwrap();
    let Some(engine) = guard.as_mut() else { return };
    let c = &counters()[id as usize];
    c.tier.store(1, Ordering::Relaxed); // also when compiling fails: do not retry forever
    c.cycles_at_tier_entry.store(c.cycles.load(Ordering::Relaxed), Ordering::Relaxed);
    let started = Instant::now();
    let name = engine.functions[id as usize].name.clone();
    if engine.functions[id as usize].t1_code == 0 {
        match compile_t1(&mut engine.jit, &engine.bitcode, &name) {
            Ok(addr) => engine.functions[id as usize].t1_code = addr,
            Err(e) => {
                // It stays interpreted (its slot keeps the stub) until tier 2.
                super::apps::log_line(format!("tier: compiling {} at t1 failed: {e}", short_name(&name)));
                return;
            }
        }
    }
    let ms = started.elapsed().as_secs_f64() * 1e3;
    let f = &mut engine.functions[id as usize];
    f.t1_compile_ms = Some(ms);
    // SAFETY: the slot is the tier-1 module's `ptr` global; one thread.
    unsafe { (f.slot as *mut u64).write_volatile(f.t1_code) };
    engine.tier_ups += 1;
    if engine.log {
        super::apps::log_line(format!(
            "tier: {} -> t1 after {} calls ({ms:.1} ms compile)",
            short_name(&name),
            c.calls.load(Ordering::Relaxed)
        ));
    }
}

fn interp_enter(id: u32) {
    bf_prof_enter(id)
}

fn interp_exit(id: u32) {
    bf_prof_exit(id)
}

/// Instrumentation hook: function `id` returns.
pub extern "C" fn bf_prof_exit(id: u32) {
    let Some(c) = counters().get(id as usize) else { return };
    if bump(&c.depth, u64::MAX) == 0 {
        let spent = tsc::rdtsc().wrapping_sub(c.entered_at.load(Ordering::Relaxed));
        bump(&c.cycles, spent);
    }
}

/// Compiles function `id` at tier 2 and patches its slot.
fn tier_up(id: u32) {
    let mut guard = ENGINE.lock().unwrap();
    let Some(engine) = guard.as_mut() else { return };
    let c = &counters()[id as usize];
    c.tier.store(2, Ordering::Relaxed); // also when compiling fails: do not retry forever
    let name = engine.functions[id as usize].name.clone();
    let started = Instant::now();
    let result = (|| -> Result<u64, JitError> {
        let mut module = Module::parse("tier2", &engine.bitcode)?;
        let calls_counter = &counters()[id as usize].calls as *const AtomicU64 as u64;
        rewrite(module.ir(), Some((&name, calls_counter)));
        module.optimise(OptLevel::O3)?;
        engine.jit.add(module)?;
        engine.jit.lookup(&format!("{name}.t2"))
    })();
    let ms = started.elapsed().as_secs_f64() * 1e3;
    match result {
        Ok(addr) => {
            let slot = engine.functions[id as usize].slot as *mut u64;
            // SAFETY: the slot is the tier-1 module's `ptr` global; one thread.
            unsafe { slot.write_volatile(addr) };
            engine.functions[id as usize].t2_compile_ms = Some(ms);
            engine.tier_ups += 1;
            if engine.log {
                super::apps::log_line(format!(
                    "tier: {} -> t2 after {} calls ({:.1} ms compile)",
                    short_name(&name),
                    c.calls.load(Ordering::Relaxed),
                    ms
                ));
            }
        }
        Err(e) => super::apps::log_line(format!("tier: promoting {} failed: {e}", short_name(&name))),
    }
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

/// Compiles function `name` alone at tier 1 (O1) into `jit`: the bitcode re-read and
/// rewritten like the tier-1 module, the function renamed `<name>.t1`, every other
/// function a declaration (calls go through the slots), every global and slot a
/// reference to the tier-1 module's. Returns the code's address.
fn compile_t1(jit: &mut Jit, bitcode: &[u8], name: &str) -> Result<u64, JitError> {
    let mut module = Module::parse("tier1", bitcode)?;
    isolate_t1(module.ir(), name);
    module.optimise(OptLevel::O1)?;
    jit.add(module)?;
    jit.lookup(&format!("{name}.t1"))
}

/// An app loaded into the tiered engine.
pub struct TieredApp {
    /// Address of bf_app_main's slot.
    entry: u64,
    /// Tier-1 compile time of the whole module (with the tier-0 glue), ms.
    pub t1_compile_ms: f64,
    /// Time to parse, scalarise and lower the tier-0 copy, ms (0 without tier 0).
    pub t0_prepare_ms: f64,
    /// How many functions start in tier 0.
    pub interpreted: usize,
}

/// What the engine reports per function.
pub struct FunctionReport {
    /// Readable name.
    pub name: String,
    /// Calls.
    pub calls: u64,
    /// Outermost-activation cycles.
    pub cycles: u64,
    /// Current tier.
    pub tier: u32,
    /// Its own tier-1 compile time (functions that started in tier 0).
    pub t1_compile_ms: Option<f64>,
    /// Tier-2 compile time.
    pub t2_compile_ms: Option<f64>,
}

impl TieredApp {
    /// Loads `bitcode` with profiling, its functions in tier 0 when the policy
    /// interprets (those the interpreter cannot lower start in tier 1, with a message),
    /// in tier 1 otherwise; `symbols` are the host functions. Only one tiered app can
    /// be loaded at a time.
    pub fn load(
        name: &str,
        bitcode: &[u8],
        symbols: &[HostSymbol],
        policy: TierPolicy,
        log: bool,
    ) -> Result<TieredApp, JitError> {
        Self::load_at(name, bitcode, symbols, policy, log, OptLevel::O1)
    }

    /// As [`TieredApp::load`], with the whole instrumented module compiled at `level`
    /// (O3 with [`TierPolicy::NEVER`] measures what profiling costs tier-2 code).
    pub fn load_at(
        name: &str,
        bitcode: &[u8],
        symbols: &[HostSymbol],
        policy: TierPolicy,
        log: bool,
        level: OptLevel,
    ) -> Result<TieredApp, JitError> {
        let started = Instant::now();
        let prepared = if policy.interpret { Some(super::interp::engine::prepare(bitcode)?) } else { None };
        let t0_prepare_ms = started.elapsed().as_secs_f64() * 1e3;
        let mut module = Module::parse(name, bitcode)?;
        let names = rewrite(module.ir(), None);
        // Functions that start in tier 0 keep only a trampoline through their slot in
        // this module; their bodies are compiled when they reach tier 1.
        let trampolined: Vec<bool> = match &prepared {
            Some(p) if p.names == names => (0..names.len())
                .map(|id| p.lowered.functions[id].is_some() && p.lowered.signatures[id].is_some())
                .collect(),
            _ => vec![false; names.len()],
        };
        for (n, _) in names.iter().zip(&trampolined).filter(|(_, t)| **t) {
            // (The glue module defines the stub.)
            trampoline(module.ir(), n);
        }
        module.optimise(level)?;
        let mut all = symbols.to_vec();
        all.push(HostSymbol { name: "bf_prof_enter", address: bf_prof_enter as *const () as u64 });
        all.push(HostSymbol { name: "bf_prof_exit", address: bf_prof_exit as *const () as u64 });
        all.push(HostSymbol {
            name: "bf_interp_call",
            address: super::interp::engine::bf_interp_call as *const () as u64,
        });
        let mut jit = Jit::new(&all)?;
        jit.add(module)?;
        if let Some(p) = &prepared {
            jit.add(Module::parse("bf.tier0-glue", p.glue.as_bytes())?)?;
        }
        jit.lookup("bf_app_main")?;
        let mut functions = Vec::new();
        for n in &names {
            let slot = jit.lookup(&format!("bf.slot.{n}"))?;
            // SAFETY: the slot is a `ptr` global of the module just compiled, holding
            // the function's tier-1 code (or its stub, if trampolined).
            let t1_code = if trampolined[functions.len()] { 0 } else { unsafe { (slot as *const u64).read() } };
            functions.push(FunctionInfo { name: n.clone(), slot, t1_code, t1_compile_ms: None, t2_compile_ms: None });
        }
        // The app is entered through bf_app_main's slot, so it too starts in tier 0.
        let entry = names
            .iter()
            .position(|n| n == "bf_app_main")
            .map(|i| functions[i].slot)
            .ok_or_else(|| JitError::Lookup("bf_app_main is not defined".into()))?;
        let t1_compile_ms = started.elapsed().as_secs_f64() * 1e3 - t0_prepare_ms;
        let counters: Box<[Counters]> =
            names.iter().map(|_| Counters { tier: AtomicU32::new(1), ..Default::default() }).collect();
        let mut interp = None;
        let mut interpreted = 0;
        if let Some(p) = prepared {
            let slots: Vec<u64> = functions.iter().map(|f| f.slot).collect();
            let hooks = super::interp::exec::Hooks { enter: interp_enter, exit: interp_exit };
            let (machine, errors) = super::interp::engine::link(p, &mut jit, &names, &slots, hooks)?;
            for e in &errors {
                println!("interp: starts in tier 1: {e}");
            }
            for (id, f) in machine.functions.iter().enumerate() {
                if f.is_none() && trampolined[id] {
                    // Lowered, but not linkable after all: compile it at tier 1 now.
                    let addr = compile_t1(&mut jit, bitcode, &names[id])?;
                    functions[id].t1_code = addr;
                    // SAFETY: as below.
                    unsafe { (functions[id].slot as *mut u64).write_volatile(addr) };
                }
                if f.is_some() {
                    // SAFETY: the slot is a `ptr` global of the tier-1 module; the app
                    // is not running yet.
                    unsafe { (functions[id].slot as *mut u64).write_volatile(machine.linkage[id].stub) };
                    counters[id].tier.store(0, Ordering::Relaxed);
                    interpreted += 1;
                }
            }
            interp = Some(Interp(Box::new(machine)));
        }
        COUNTERS_PTR.store(counters.as_ptr() as u64, Ordering::Relaxed);
        COUNTERS_LEN.store(counters.len() as u64, Ordering::Relaxed);
        install_policy(&policy);
        super::interp::engine::install(interp.as_ref().map(|i| &*i.0));
        *ENGINE.lock().unwrap() = Some(Engine {
            jit,
            _counters: counters,
            bitcode: bitcode.to_vec(),
            functions,
            tier_ups: 0,
            log,
            _interp: interp,
        });
        Ok(TieredApp { entry, t1_compile_ms, t0_prepare_ms, interpreted })
    }

    /// Runs `bf_app_main` once (tier-ups happen inside, as the policy says).
    pub fn run(&mut self) -> super::apps::AppRun {
        let entry = self.entry;
        super::apps::measure(|| {
            // SAFETY: the app ABI's entry as its slot holds it now (tier-0 stub, tier-1
            // or tier-2 code), compiled by the engine's JIT (alive until `unload`).
            let main: extern "C" fn() -> i32 =
                unsafe { std::mem::transmute((entry as *const u64).read_volatile() as usize) };
            main()
        })
    }

    /// The profile so far.
    pub fn report(&self) -> Vec<FunctionReport> {
        let guard = ENGINE.lock().unwrap();
        let Some(engine) = guard.as_ref() else { return Vec::new() };
        engine
            .functions
            .iter()
            .zip(counters())
            .map(|(f, c)| FunctionReport {
                name: short_name(&f.name),
                calls: c.calls.load(Ordering::Relaxed),
                cycles: c.cycles.load(Ordering::Relaxed),
                tier: c.tier.load(Ordering::Relaxed),
                t1_compile_ms: f.t1_compile_ms,
                t2_compile_ms: f.t2_compile_ms,
            })
            .collect()
    }

    /// Number of tier-ups so far.
    pub fn tier_ups(&self) -> u32 {
        ENGINE.lock().unwrap().as_ref().map_or(0, |e| e.tier_ups)
    }

    /// Frees the JIT and the counters' registration.
    pub fn unload(self) {
        super::interp::engine::install(None);
        install_policy(&TierPolicy::NEVER);
        COUNTERS_PTR.store(0, Ordering::Relaxed);
        COUNTERS_LEN.store(0, Ordering::Relaxed);
        *ENGINE.lock().unwrap() = None;
    }
}
