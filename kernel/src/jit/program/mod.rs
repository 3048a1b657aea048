//! Ordinary C programs (docs/programs.md): bitcode whose entry is `main`, calling the
//! kernel's own C library, run in every tier like an app of the app ABI.
//!
//! [`prepare`] turns a program's bitcode into an app the engines already run:
//!
//! * `llvm.fmuladd` becomes `fmul` + `fadd`, as a generic x86-64 build compiles it, so
//!   no tier fuses a multiply-add another tier or the native reference does not;
//! * `stdin`, `stdout` and `stderr` become variables of the program, set at the start of
//!   each run to the run's streams ([`runtime`]);
//! * `bf_app_main` is added: it puts every written global back to its initial value,
//!   sets the streams, and calls `main(argc, argv)` between the timed-section markers;
//! * every function the program calls but does not define must be in the kernel's
//!   table ([`libc`]), or the program is refused with the names.
//!
//! An app of the app ABI (`bf_app_main`) gets the first and the last step only. Each run
//! goes through [`runtime`]: a fresh heap, captured output, `exit`/`abort`/`atexit`,
//! and CPU faults that stop the run instead of the kernel.

pub mod guard;
pub mod libc;
pub mod runtime;

use std::collections::BTreeSet;

use bf_llvm::{Builder, Linkage, Opcode};

use super::{HostSymbol, Module};

/// How a program is entered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// `int main(void)`, `int main(int, char **)` or `int main(int, char **, char **)`.
    Main,
    /// The app ABI's `int bf_app_main(void)` (apps/README.md).
    AppMain,
}

/// A program ready to run: bitcode the engines take as an app, and the host symbols it
/// links against.
pub struct Program {
    /// Its name: the stem of the source file it was compiled from.
    pub name: String,
    /// How it is entered.
    pub entry: Entry,
    /// The prepared bitcode (an app of the app ABI).
    pub bitcode: Vec<u8>,
    /// The host functions it calls: the app ABI's, the runtime's and the C library's.
    pub symbols: Vec<HostSymbol>,
}

/// C library functions LLVM calls on its own, added to every program's symbols: the
/// code generator's libcalls (for intrinsics and for arithmetic the CPU lacks), and the
/// functions the optimiser rewrites library calls into (`printf("…\n")` → `puts`,
/// `fprintf` → `fwrite`, `sprintf` → `strcpy`, `strchr` → `memchr`, …), which a
/// program built without optimisation does not declare before tier 2 optimises it.
const LIBCALLS: &[&str] = &[
    "puts",
    "putchar",
    "fputs",
    "fputc",
    "fwrite",
    "strlen",
    "strnlen",
    "strchr",
    "strrchr",
    "strcpy",
    "stpcpy",
    "strncpy",
    "stpncpy",
    "strcat",
    "strncat",
    "strcmp",
    "strncmp",
    "strspn",
    "strcspn",
    "strpbrk",
    "strstr",
    "memccpy",
    "snprintf",
    "sprintf",
    "vsnprintf",
    "vsprintf",
    "fabs",
    "fabsf",
    "floor",
    "floorf",
    "ceil",
    "ceilf",
    "trunc",
    "truncf",
    "round",
    "roundf",
    "roundeven",
    "roundevenf",
    "rint",
    "rintf",
    "nearbyint",
    "nearbyintf",
    "lround",
    "lroundf",
    "llround",
    "llroundf",
    "lrint",
    "lrintf",
    "llrint",
    "llrintf",
    "fmod",
    "fmodf",
    "modf",
    "modff",
    "fmin",
    "fminf",
    "fmax",
    "fmaxf",
    "fma",
    "fmaf",
    "copysign",
    "copysignf",
    "ldexp",
    "ldexpf",
    "frexp",
    "frexpf",
    "sqrt",
    "sqrtf",
    "sin",
    "sinf",
    "cos",
    "cosf",
    "sincos",
    "sincosf",
    "tan",
    "tanf",
    "asin",
    "asinf",
    "acos",
    "acosf",
    "atan",
    "atanf",
    "atan2",
    "atan2f",
    "sinh",
    "sinhf",
    "cosh",
    "coshf",
    "tanh",
    "tanhf",
    "exp",
    "expf",
    "exp2",
    "exp2f",
    "exp10",
    "exp10f",
    "log",
    "logf",
    "log2",
    "log2f",
    "log10",
    "log10f",
    "pow",
    "powf",
    "__powidf2",
    "__powisf2",
    "__divti3",
    "__udivti3",
    "__modti3",
    "__umodti3",
    "__multi3",
    "__muldc3",
    "__mulsc3",
    "__divdc3",
    "__divsc3",
    "__fixdfti",
    "__fixunsdfti",
    "__floattidf",
    "__floatuntidf",
    "__popcountdi2",
];

/// The data symbols a program may use: glibc's streams, set per run.
const STREAMS: [&str; 3] = ["stdin", "stdout", "stderr"];

/// A program's name from its module's source file name (`dir/word_freq.c` →
/// `word_freq`): letters, digits, `_` and `-`, at most 24 characters; `fallback` when
/// nothing is left.
pub fn program_name(source_file: &str, fallback: &str) -> String {
    let file = source_file.rsplit('/').next().unwrap_or_default();
    let stem = file.split('.').next().unwrap_or_default();
    let name: String = stem.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').take(24).collect();
    if name.is_empty() { fallback.to_string() } else { name }
}

/// Prepares `bitcode` (a C program with `main`, or an app with `bf_app_main`) to run in
/// the kernel; `fallback_name` names it when its module does not. The error says why it
/// is refused (bad bitcode, no entry, functions outside the table).
pub fn prepare(fallback_name: &str, bitcode: &[u8]) -> Result<Program, String> {
    let module = Module::parse(fallback_name, bitcode).map_err(|e| format!("{fallback_name}: {e}"))?;
    let m = module.ir();
    let name = program_name(&m.source_file_name(), fallback_name);
    let defines = |f: &str| m.function(f).is_some_and(|f| !f.is_declaration());
    let entry = if defines("bf_app_main") {
        Entry::AppMain
    } else if defines("main") {
        Entry::Main
    } else {
        return Err(format!("{name}: defines neither `main` nor `bf_app_main`"));
    };
    // The engine's code carries no debug information: the minimal LLVM writes none
    // (llvm-min/patches/0009), and with it the promotions of a `-g -O2` program made
    // Debian's LLVM fault in its assignment-tracking analysis. A program built with
    // `-g` runs as one built without.
    m.strip_debug_info();
    split_fmuladd(m);
    if entry == Entry::Main {
        add_entry(m).map_err(|e| format!("{name}: {e}"))?;
    }
    let symbols = resolve(m).map_err(|e| format!("{name}: {e}"))?;
    m.verify().map_err(|e| format!("{name}: the prepared module fails verification: {e}"))?;
    Ok(Program { name, entry, bitcode: m.write_bitcode(), symbols })
}

/// Replaces every `llvm.fmuladd` call by an `fmul` and an `fadd` (what a target without
/// FMA does; LLVM may fuse them only where the call allows it).
fn split_fmuladd(m: &bf_llvm::Module) {
    let calls: Vec<_> = m
        .functions()
        .into_iter()
        .flat_map(|f| f.basic_blocks())
        .flat_map(|b| b.instructions().collect::<Vec<_>>())
        .filter(|i| {
            i.opcode() == Opcode::LLVMCall && i.called_value().is_some_and(|c| c.name().starts_with("llvm.fmuladd."))
        })
        .collect();
    let mut b = Builder::new(m.context());
    for call in calls {
        b.position_before(call);
        let product = b.fmul(call.operand(0), call.operand(1));
        let sum = b.fadd(product, call.operand(2));
        // SAFETY: `sum` has the call's type and context; the call is erased right after
        // its uses moved, and no handle to it is kept.
        unsafe {
            call.replace_all_uses_with(sum);
            call.erase();
        }
    }
}

/// Adds `bf_app_main` to a program with `main`: resets the written globals, sets the
/// streams, and calls `main` with the run's arguments between the section markers.
fn add_entry(m: &bf_llvm::Module) -> Result<(), String> {
    let ctx = m.context();
    let (i32_t, i64_t, ptr_t, void_t) = (ctx.i32_type(), ctx.i64_type(), ctx.ptr_type(), ctx.void_type());
    let main = m.function("main").ok_or("no main")?;
    let main_ty = main.function_type();
    let params = main_ty.param_types();
    let takes_args = match params.len() {
        0 => false,
        2 | 3 => true,
        n => return Err(format!("`main` takes {n} parameters (0, 2 or 3 are allowed)")),
    };
    if main_ty.return_type().int_width() != Some(32) {
        return Err("`main` does not return int".into());
    }
    // `main` stays a function of its own in every tier: a fault report names it, and
    // its cycles are its own (the inliner would otherwise fold it into the entry).
    main.add_enum_attribute(bf_llvm::attribute_kind("noinline"));
    let td = m.data_layout();
    // What to reset: (global, its initial bytes as a private constant, or None: zeros).
    let mut resets = Vec::new();
    let mut streams = Vec::new();
    for g in m.globals() {
        let gname = g.name();
        if g.is_declaration() {
            if let Some(i) = STREAMS.iter().position(|s| *s == gname) {
                g.set_initializer(Some(ctx.const_null(ptr_t)));
                g.set_linkage(Linkage::LLVMInternalLinkage);
                streams.push((g, i));
            }
            continue;
        }
        if g.is_thread_local() {
            return Err(format!("`{gname}` is thread-local (not supported)"));
        }
        if g.is_global_constant() || gname.starts_with("llvm.") {
            continue;
        }
        let init = g.initializer().ok_or("a defined global without an initialiser")?;
        let copy = if init.is_zero_constant() {
            None
        } else {
            let copy = m.add_global(g.value_type(), &format!("{gname}.bf.initial"));
            copy.set_initializer(Some(init));
            copy.set_global_constant(true);
            copy.set_linkage(Linkage::LLVMPrivateLinkage);
            Some(copy)
        };
        resets.push((g, copy, td.abi_size(g.value_type())));
    }
    let (stream_ty, argc_ty) = (ctx.function_type(ptr_t, &[i32_t], false), ctx.function_type(i32_t, &[], false));
    let (argv_ty, marker_ty) = (ctx.function_type(ptr_t, &[], false), ctx.function_type(void_t, &[], false));
    let stream_fn = declare(m, "bf_program_stream", stream_ty);
    let argc_fn = declare(m, "bf_program_argc", argc_ty);
    let argv_fn = declare(m, "bf_program_argv", argv_ty);
    let begin_fn = declare(m, "bf_section_begin", marker_ty);
    let end_fn = declare(m, "bf_section_end", marker_ty);
    let entry = m.add_function("bf_app_main", ctx.function_type(i32_t, &[], false));
    let mut b = Builder::new(ctx);
    b.position_at_end(entry.append_basic_block("entry"));
    let zero = ctx.const_int(ctx.i8_type(), 0);
    for (g, copy, size) in resets {
        let size = ctx.const_int(i64_t, size);
        match copy {
            Some(copy) => b.memcpy(g.as_value(), copy.as_value(), size),
            None => b.memset(g.as_value(), zero, size),
        };
    }
    for (g, i) in streams {
        let stream = b.call(stream_ty, stream_fn.as_value(), &[ctx.const_int(i32_t, i as u64)]);
        b.store(stream.as_value(), g.as_value());
    }
    let mut args = Vec::new();
    if takes_args {
        args.push(b.call(argc_ty, argc_fn.as_value(), &[]).as_value());
        args.push(b.call(argv_ty, argv_fn.as_value(), &[]).as_value());
        if params.len() == 3 {
            args.push(ctx.const_null(ptr_t));
        }
    }
    b.call(marker_ty, begin_fn.as_value(), &[]);
    let status = b.call(main_ty, main.as_value(), &args);
    b.call(marker_ty, end_fn.as_value(), &[]);
    b.ret(status.as_value());
    Ok(())
}

/// Function `name` of `m`, declared with type `ty` if it is not there yet.
fn declare<'m>(m: &'m bf_llvm::Module, name: &str, ty: bf_llvm::FunctionType<'m>) -> bf_llvm::Function<'m> {
    m.function(name).unwrap_or_else(|| m.add_function(name, ty))
}

/// The host symbols `m` needs: the app ABI's, and each function it declares (intrinsics
/// aside) from the runtime (renamed to the runtime's name when the runtime replaces a C
/// library function) or the C library table. Declared variables other than the
/// streams, and functions in none of them, refuse the program.
fn resolve(m: &bf_llvm::Module) -> Result<Vec<HostSymbol>, String> {
    let mut symbols = super::host::abi_symbols();
    let glue = runtime::symbols();
    let replacements = runtime::replacements();
    let mut unknown = BTreeSet::new();
    for f in m.functions().into_iter().filter(|f| f.is_declaration()) {
        let name = f.name();
        if name.starts_with("llvm.") {
            continue;
        }
        if let Some((_, s)) = replacements.iter().find(|(c, _)| *c == name) {
            f.set_name(s.name);
            if !symbols.iter().any(|k| k.name == s.name) {
                symbols.push(*s);
            }
            continue;
        }
        if symbols.iter().any(|s| s.name == name) {
            continue;
        }
        match glue.iter().copied().find(|s| s.name == name).or_else(|| libc::lookup(&name)) {
            Some(s) => symbols.push(s),
            None => {
                unknown.insert(name);
            }
        }
    }
    // What the code generator may call for intrinsics and wide arithmetic (`llvm.rint`
    // without SSE4.1, `i128` division, complex multiplication): not declared in the
    // bitcode, needed at link time.
    for name in LIBCALLS {
        if let Some(s) = libc::lookup(name).filter(|s| !symbols.iter().any(|k| k.name == s.name)) {
            symbols.push(s);
        }
    }
    let variables: Vec<String> = m.globals().into_iter().filter(|g| g.is_declaration()).map(|g| g.name()).collect();
    if !unknown.is_empty() || !variables.is_empty() {
        let mut why = Vec::new();
        if !unknown.is_empty() {
            let names: Vec<String> = unknown.into_iter().collect();
            why.push(format!(
                "calls {}, which the kernel's C library table ({} functions) lacks",
                names.join(", "),
                libc::len()
            ));
        }
        if !variables.is_empty() {
            why.push(format!("uses the variable(s) {}, which the kernel does not provide", variables.join(", ")));
        }
        return Err(format!("refused: it {} (docs/programs.md)", why.join("; and ")));
    }
    Ok(symbols)
}
