//! LLVM inside the kernel: parse IR or bitcode, verify, optimise with the new pass
//! manager, compile with ORC LLJIT and call the result.
//!
//! Plain Rust std + the safe LLVM layer (crate `bf-llvm`, the only code that calls
//! LLVM's C API): the same code runs on bare metal (through the syscall layer) and
//! when the kernel ELF runs as a Linux program.
//!
//! Modules, bottom to top (each uses only those below it): [`llvm_memory`] (LLVM's
//! bytes through every allocation path), [`cxxrt`] (the C++ runtime), this JIT core with [`codemap`] and [`debugger`] (GDB's JIT interface),
//! [`status`] (the VGA status screen), [`rewrite`] (module rewriting: slots, names,
//! instrumentation) and [`interp`] (tier 0), [`tiered`] (the tiered engine; the tiers
//! themselves are the `bf-tiers` crate's table), [`persist`] (snapshots of the engine's
//! work on the FAT16 partition), [`host`] (the kernel's host functions for apps),
//! [`program`] (ordinary C programs: their entry, C library and runtime), [`suite`]
//! (the app suite and external programs), [`checks`] (boot-time JIT checks).

pub mod checks;
pub mod codemap;
pub mod cxxrt;
pub mod debugger;
pub mod export;
pub mod host;
pub mod interp;
pub mod llvm_memory;
pub mod persist;
pub mod program;
pub mod rewrite;
pub mod status;
pub mod suite;
pub mod tiered;

use std::fmt;
use std::time::Instant;

use bf_llvm::{AttributeIndex, Builder, Codegen, CodegenLevel, Isel, LlJit, Pipeline, TargetMachine};

/// An optimisation level (`default<On>`, or the bitcode as compiled): the tier table's
/// own type, so a tier's row is what the JIT compiles at.
pub use bf_tiers::Opt as OptLevel;

/// The explicit pass pipeline (`bf_llvm::Pipeline`, issue 16) of an optimisation
/// level: LLVM's `default<On>`, pass by pass; for the bitcode as compiled, the
/// always-inliner alone.
pub fn pipeline(level: OptLevel) -> Pipeline {
    match level {
        // The always-inliner alone, which is what `Pipeline::O0` runs.
        OptLevel::O0 | OptLevel::AsCompiled => Pipeline::O0,
        OptLevel::O1 => Pipeline::O1,
        OptLevel::O2 => Pipeline::O2,
        OptLevel::O3 => Pipeline::O3,
    }
}

/// The code generator for code optimised at `level` (issue 14, compile latency):
///
/// * O0 code is generated with FastISel and the fast register allocator, as clang's
///   `-O0` does — its point is to be made quickly;
/// * code as compiled (tier 1's) with FastISel at `-O2`'s level: FastISel selects
///   instructions several times quicker than SelectionDAG, which was 35 % of a tier-1
///   promotion, and the greedy register allocator and `-O2`'s machine passes still
///   clean its code up, so the apps' tier-1 code runs as fast as with SelectionDAG
///   (docs/engine.md, "Compile latency"). The whole `-O0` code generator for tier 1 made
///   its code 1.2–2.6× slower; `-O1`'s (`Less`) made promotions no quicker;
/// * O1–O3 with `-O2`'s code generator, SelectionDAG included.
pub fn codegen(level: OptLevel) -> Codegen {
    match level {
        OptLevel::O0 => Codegen { level: CodegenLevel::None, isel: Isel::FastIsel },
        OptLevel::AsCompiled => Codegen { level: CodegenLevel::Default, isel: Isel::FastIsel },
        OptLevel::O1 | OptLevel::O2 | OptLevel::O3 => Codegen::DEFAULT,
    }
}

/// What can go wrong between input bytes and a callable address.
#[derive(Debug)]
pub enum JitError {
    /// The IR text or bitcode does not parse.
    Parse(String),
    /// The module fails LLVM's verifier.
    Verify(String),
    /// LLJIT could not be created, or the module not added.
    Jit(String),
    /// Compiling or looking up the symbol failed.
    Lookup(String),
    /// Code generation (module to object) failed.
    Codegen(String),
}

impl fmt::Display for JitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JitError::Parse(m) => write!(f, "cannot parse the module: {m}"),
            JitError::Verify(m) => write!(f, "the module fails verification: {m}"),
            JitError::Jit(m) => write!(f, "LLJIT failed: {m}"),
            JitError::Lookup(m) => write!(f, "compiling or finding the function failed: {m}"),
            JitError::Codegen(m) => write!(f, "code generation failed: {m}"),
        }
    }
}

impl From<bf_llvm::Error> for JitError {
    fn from(e: bf_llvm::Error) -> JitError {
        match e {
            bf_llvm::Error::Parse(m) => JitError::Parse(m),
            bf_llvm::Error::Verify(m) => JitError::Verify(m),
            bf_llvm::Error::Jit(m) => JitError::Jit(m),
            bf_llvm::Error::Lookup(m) => JitError::Lookup(m),
            bf_llvm::Error::Codegen(m) => JitError::Codegen(m),
        }
    }
}

/// Removes `nonlazybind` from every function (rustc puts it on all of them). With it,
/// calls to host functions become `call *sym@GOTPCREL`, which JITLink relaxes into a
/// direct `call` even when the host function is more than 2 GiB away from the JIT's
/// memory (as in a Linux process), jumping into nowhere. Without it they are plain
/// calls that JITLink routes through a stub when needed.
fn strip_nonlazybind(module: &bf_llvm::Module) {
    let kind = bf_llvm::attribute_kind("nonlazybind");
    for f in module.functions() {
        f.remove_enum_attribute(AttributeIndex::Function, kind);
    }
}

/// Sets the module flag `RtLibUseGOT` (rustc sets it) to 0, so library calls the code
/// generator emits (`memset`, `memcpy`, …) are plain calls, not `call *sym@GOTPCREL`.
/// JITLink relaxes such GOT calls into direct calls with a wrong displacement when the
/// target's address fits in 32 bits (seen on bare metal: the call landed at
/// `target + return address`), and out of range when it does not (Linux). With plain
/// calls JITLink inserts stubs where needed.
fn disable_rtlib_got(module: &bf_llvm::Module) {
    module.set_module_flag_i32("RtLibUseGOT", 0);
}

/// The module of jump trampolines, one per host function: each compiles to
/// `movabs $addr, %r11; jmp *%r11`.
///
/// Host functions are not given to LLJIT as absolute symbols because JIT code often
/// reaches them through the GOT (rustc's `nonlazybind` and `RtLibUseGOT` for
/// `memcpy`/`memset`), and JITLink relaxes such a GOT call into a direct `call` even
/// when the target is more than 2 GiB away — true of every host function when the
/// kernel runs as a Linux process, where JIT memory is mapped near the top of the
/// address space. The trampolines live in JIT memory, within reach, and jump anywhere.
///
/// Each is `define void @name(...) { musttail call void (...) inttoptr (i64 addr to
/// ptr)(...); ret void }`: a variadic `musttail` call forwards every argument register
/// (and `%al`) untouched and leaves the return registers to the callee, so the IR
/// signature does not matter, and no inline assembly (which would need LLVM's X86
/// assembly parser, not linked: issue 16) is involved. Built with the IR builder: the
/// kernel has no textual IR parser.
pub fn host_module(symbols: &[HostSymbol]) -> Result<Module, JitError> {
    let module = bf_llvm::Module::new("bf.host-trampolines");
    {
        let cx = module.context();
        let forward = cx.function_type(cx.void_type(), &[], true);
        let nounwind = bf_llvm::attribute_kind("nounwind");
        let mut builder = Builder::new(cx);
        for s in symbols {
            let trampoline = module.add_function(s.name, forward);
            trampoline.add_enum_attribute(nounwind);
            builder.position_at_end(trampoline.append_basic_block("entry"));
            let target = cx.const_int_to_ptr(cx.const_int(cx.i64_type(), s.address), cx.ptr_type());
            builder.call(forward, target, &[]).set_musttail();
            builder.ret_void();
        }
    }
    Module::from_ir(module)
}

/// The CPU JIT-compiled code is optimised and compiled for.
///
/// By default every tier compiles for [`CpuTarget::Generic`], the CPU the AOT build
/// (rustc's default target CPU) and `clang-22` target, so the tiers compare with AOT on
/// equal terms; `--jit-cpu=host` makes [`CpuTarget::Host`] the default, and the suite's
/// `t2host` run always uses it — what a JIT can do that a generic binary cannot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuTarget {
    /// Any x86-64: CPU `x86-64`, SSE2 and nothing later.
    Generic,
    /// This machine's CPU and all its features (AVX2, FMA, AVX-512 where present).
    Host,
}

/// Whether `--jit-cpu=host` made [`CpuTarget::Host`] the default.
static HOST_BY_DEFAULT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl CpuTarget {
    /// The CPU the tiers compile for unless told otherwise ([`CpuTarget::set_default`]).
    pub fn default_target() -> CpuTarget {
        if HOST_BY_DEFAULT.load(std::sync::atomic::Ordering::Relaxed) { CpuTarget::Host } else { CpuTarget::Generic }
    }

    /// Makes `target` the default of every tier (`--jit-cpu=`).
    pub fn set_default(target: CpuTarget) {
        HOST_BY_DEFAULT.store(target == CpuTarget::Host, std::sync::atomic::Ordering::Relaxed);
    }

    /// A target machine for this CPU.
    pub fn machine(self) -> Result<TargetMachine, JitError> {
        Ok(match self {
            CpuTarget::Generic => TargetMachine::generic()?,
            CpuTarget::Host => TargetMachine::host()?,
        })
    }

    /// The CPU and the vector and arithmetic features its code may use, for reports:
    /// `x86-64 (sse2)`, `znver3 (sse2 sse4.2 avx avx2 fma)`.
    pub fn describe(self) -> String {
        match self {
            CpuTarget::Generic => "x86-64 (sse2)".into(),
            CpuTarget::Host => {
                let (cpu, features) = host_target();
                let notable = ["sse2", "sse4.2", "avx", "avx2", "fma", "avx512f", "avx512vl", "avx512bw"];
                let enabled: Vec<&str> =
                    notable.into_iter().filter(|f| features.split(',').any(|x| x == format!("+{f}"))).collect();
                format!("{cpu} ({})", enabled.join(" "))
            }
        }
    }
}

/// Compiles optimised modules to relocatable objects for one [`CpuTarget`], as LLJIT
/// would compile them itself (same target machine settings but the CPU), so the tiered
/// engine keeps the bytes (snapshots) and links them with [`Jit::add_object`]. The
/// target machine is made at the first compilation: a warm load, which compiles
/// nothing, never makes one. One machine per code generator ([`codegen`]).
pub struct Compiler {
    cpu: CpuTarget,
    /// The machine for the optimiser's cost model, which also generates code with
    /// `Codegen::DEFAULT`.
    machine: Option<TargetMachine>,
    /// The machines that generate code with the other code generators used so far.
    generators: Vec<TargetMachine>,
    /// The code generators [`Compiler::prepare`] has warmed up.
    warmed: Vec<Codegen>,
    /// How many modules it compiled.
    pub compiles: u32,
}

/// The CPU name and features this host's code is compiled for (what
/// [`bf_llvm::TargetMachine::host`] uses), detected once per boot.
pub fn host_target() -> &'static (String, String) {
    static TARGET: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    TARGET.get_or_init(|| (bf_llvm::host_cpu_name(), bf_llvm::host_cpu_features()))
}

impl Default for Compiler {
    fn default() -> Compiler {
        Compiler::new()
    }
}

impl Compiler {
    /// A compiler for the default CPU target ([`CpuTarget::default_target`]).
    pub fn new() -> Compiler {
        Compiler::for_cpu(CpuTarget::default_target())
    }

    /// A compiler for `cpu`.
    pub fn for_cpu(cpu: CpuTarget) -> Compiler {
        Compiler { cpu, machine: None, generators: Vec::new(), warmed: Vec::new(), compiles: 0 }
    }

    /// Its target machine, made on first use.
    fn machine(&mut self) -> Result<&TargetMachine, JitError> {
        Ok(match &mut self.machine {
            Some(machine) => machine,
            empty => empty.insert(self.cpu.machine()?),
        })
    }

    /// Runs level `level`'s pipeline over `module` with this CPU's cost model.
    pub fn optimise(&mut self, module: &mut Module, level: OptLevel) -> Result<(), JitError> {
        let machine = self.machine()?;
        module.ir.run_pipeline_for(pipeline(level), machine);
        Ok(())
    }

    /// The machine that generates code optimised at `level`, made on first use.
    fn generator(&mut self, level: OptLevel) -> Result<&TargetMachine, JitError> {
        let wanted = codegen(level);
        if wanted == Codegen::DEFAULT {
            // The cost model's machine generates at this level already.
            return self.machine();
        }
        let index = match self.generators.iter().position(|m| m.codegen() == wanted) {
            Some(i) => i,
            None => {
                let machine = self.machine()?.with_codegen(wanted)?;
                self.generators.push(machine);
                self.generators.len() - 1
            }
        };
        Ok(&self.generators[index])
    }

    /// Makes the target machines for `level` now and warms them up with an empty
    /// function, optimised and compiled (its first use builds the subtarget's tables: about 1 ms
    /// natively), so that timing a compilation at that level measures the compilation,
    /// not the per-boot set-up.
    pub fn prepare(&mut self, level: OptLevel) -> Result<(), JitError> {
        self.machine()?;
        if self.warmed.contains(&codegen(level)) {
            // Another level with the same code generator warmed both machines already.
            return Ok(());
        }
        let mut warm = bf_llvm::Module::new("bf.warm-up");
        {
            let cx = warm.context();
            let f = warm.add_function("bf.warm_up", cx.function_type(cx.void_type(), &[], false));
            let mut builder = Builder::new(cx);
            builder.position_at_end(f.append_basic_block("entry"));
            builder.ret_void();
        }
        // The pipeline builds the cost model's subtarget, code generation the
        // generator's: both for functions without target attributes, like the apps'.
        warm.run_pipeline_for(pipeline(level), self.machine()?);
        self.generator(level)?.emit_object(warm)?;
        self.warmed.push(codegen(level));
        Ok(())
    }

    /// Compiles `module`, already optimised at `level`, to an object with that level's
    /// code generator ([`codegen`]).
    pub fn compile(&mut self, module: Module, level: OptLevel) -> Result<Vec<u8>, JitError> {
        let object = self.generator(level)?.emit_object(module.ir)?;
        self.compiles += 1;
        Ok(object)
    }
}

/// A function the kernel exports to JIT-compiled code.
#[derive(Clone, Copy)]
pub struct HostSymbol {
    /// The name JIT code uses.
    pub name: &'static str,
    /// Its address.
    pub address: u64,
}

/// The C memory functions JIT code may call: the code generator lowers `llvm.memcpy`
/// and friends to them, and a static glibc binary has no `dlsym` to find them.
pub fn memory_symbols() -> [HostSymbol; 5] {
    [
        HostSymbol { name: "memcpy", address: libc::memcpy as *const () as u64 },
        HostSymbol { name: "memset", address: libc::memset as *const () as u64 },
        HostSymbol { name: "memmove", address: libc::memmove as *const () as u64 },
        HostSymbol { name: "memcmp", address: libc::memcmp as *const () as u64 },
        HostSymbol { name: "bcmp", address: libc::memcmp as *const () as u64 },
    ]
}

/// One LLJIT instance with its own context and modules.
pub struct Jit {
    /// Its objects as announced to a debugger ([`debugger::announce`]); declared first,
    /// so they leave the debugger's list before the code is freed.
    registrations: Vec<debugger::Registration>,
    jit: LlJit,
}

/// A parsed, verified and optimised module, ready to be added to a [`Jit`].
pub struct Module {
    ir: bf_llvm::Module,
}

impl Module {
    /// Parses LLVM bitcode (the kernel reads no IR text: [`bf_llvm::NOT_BITCODE`]) and
    /// verifies it.
    pub fn parse(name: &str, bytes: &[u8]) -> Result<Module, JitError> {
        Module::from_ir(bf_llvm::Module::parse(name, bytes)?)
    }

    /// Reads bitcode `bytes` with the body of function `function` alone: every other
    /// function's body stays in the bitcode, unread (`bf_llvm::Module::parse_lazy`),
    /// for a module that keeps only that function's (a tier-1 compile).
    pub fn parse_one_body(name: &str, bytes: &[u8], function: &str) -> Result<Module, JitError> {
        let ir = bf_llvm::Module::parse_lazy(name, bytes)?;
        let f = ir.function(function).ok_or_else(|| JitError::Jit(format!("no function {function} in {name}")))?;
        f.materialize()?;
        Module::from_ir(ir)
    }

    /// Prepares and verifies a module built in memory (or just parsed).
    pub fn from_ir(ir: bf_llvm::Module) -> Result<Module, JitError> {
        strip_nonlazybind(&ir);
        disable_rtlib_got(&ir);
        ir.verify()?;
        Ok(Module { ir })
    }

    /// The module's IR, to walk or rewrite before it is optimised.
    pub fn ir(&self) -> &bf_llvm::Module {
        &self.ir
    }

    /// Runs level `level`'s pipeline over the module (LLVM's target-independent cost
    /// model).
    pub fn optimise(&mut self, level: OptLevel) {
        self.run_pipeline(pipeline(level))
    }

    /// Runs `pipeline` over the module.
    pub fn run_pipeline(&mut self, pipeline: Pipeline) {
        self.ir.run_pipeline(pipeline)
    }
}

impl Jit {
    /// A new LLJIT for the host, with `symbols` defined for JIT code to call: their
    /// trampolines ([`host_module`]) are compiled here, with the quickest code
    /// generator, not by LLJIT at the first lookup — that lookup would otherwise pay
    /// for them, which was most of fib's O0 compile time (issue 14).
    pub fn new(symbols: &[HostSymbol]) -> Result<Jit, JitError> {
        let mut this = Jit::bare()?;
        if !symbols.is_empty() {
            let object = Compiler::new().compile(host_module(symbols)?, OptLevel::O0)?;
            this.add_object("host", &object)?;
        }
        Ok(this)
    }

    /// A new LLJIT for the host with nothing in it: the host functions come as an
    /// object ([`host_module`] compiled by a [`Compiler`], or kept in a snapshot).
    pub fn bare() -> Result<Jit, JitError> {
        Ok(Jit { registrations: Vec::new(), jit: LlJit::new()? })
    }

    /// Hands the relocatable object `bytes` to the JIT (linked at the first lookup of
    /// one of its symbols; no LLVM compilation). `name` names it in errors.
    pub fn add_object(&mut self, name: &str, bytes: &[u8]) -> Result<(), JitError> {
        Ok(self.jit.add_object(name, bytes)?)
    }

    /// Hands `module` to the JIT (compilation happens at the first lookup).
    pub fn add(&mut self, module: Module) -> Result<(), JitError> {
        Ok(self.jit.add_module(module.ir)?)
    }

    /// Where the JIT placed each code section of an object it linked, as (section,
    /// address), found from the first function of `symbols` (the object's,
    /// `bf_llvm::function_symbols`) in that section it can look up: local (`static`)
    /// functions cannot be looked up, but share a section with one that can, unless the
    /// object has a section per function.
    pub fn placed_sections<'s>(&mut self, symbols: &'s [bf_llvm::FunctionSymbol]) -> Vec<(&'s str, u64)> {
        let mut placed: Vec<(&str, u64)> = Vec::new();
        for s in symbols {
            if !placed.iter().any(|(section, _)| *section == s.section)
                && let Ok(address) = self.lookup(&s.name)
            {
                placed.push((&s.section, address - s.offset));
            }
        }
        placed
    }

    /// Compiles (on first use) and returns the address of `name`.
    pub fn lookup(&mut self, name: &str) -> Result<u64, JitError> {
        Ok(self.jit.lookup(name)?)
    }
}

/// Parses, optimises and compiles `source`, then returns `name`'s address and the
/// milliseconds it took (parse to address, lookup included).
pub fn compile(
    jit: &mut Jit,
    module_name: &str,
    source: &[u8],
    level: OptLevel,
    name: &str,
) -> Result<(u64, f64), JitError> {
    // The compiler's machines are made and warmed up before the clock starts: per-boot
    // set-up, not this compilation. It is dropped at the end, so a destroyed JIT leaves
    // no LLVM state behind (the self-test checks that LLVM's memory goes back down).
    let mut compiler = Compiler::for_cpu(CpuTarget::Host);
    compiler.prepare(level)?;
    let start = Instant::now();
    let mut module = Module::parse(module_name, source)?;
    compiler.optimise(&mut module, level)?;
    let object = compiler.compile(module, level)?;
    jit.add_object(name, &object)?;
    let addr = jit.lookup(name)?;
    Ok((addr, start.elapsed().as_secs_f64() * 1e3))
}
