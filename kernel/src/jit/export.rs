//! Export (docs/shrink.md): after the tiered engine has run an app, the kernel compiles
//! it once more from its bitcode with the profile — the functions the run executed at
//! O3 for any x86-64, laid out hot first; the others replaced by a stub that prints
//! `cold path <function> was not exported` (**trimmed**, the default) or kept with
//! `minsize` (**full**) — links the object itself behind the export runtime
//! (`export-runtime/`, embedded in the kernel) with `bf-export`, and writes a complete
//! bootable raw image: stage1 and stage2 read back from its own boot disk, a FLUD
//! header, the payload.
//!
//! Asked for with `bf.export=<app>[,<app>…][,full]` (`all`: every app the suite runs)
//! on bare metal, where the image goes to `/EXPORT/<APP>.IMG` on the FAT16 partition
//! (the name cut to 8 characters); as a Linux program with `--export=…`,
//! `--export-dir=DIR` and `--export-boot=IMAGE` (the image whose stage1 and stage2
//! are reused).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use bf_export::{AppSpec, image_file_name, link, raw_image};
use bf_llvm::{Builder, Linkage, TargetMachine};
use bf_tiers::FunctionReport;

use super::{JitError, Module};

/// The export runtime the build embedded (`make export-runtime`); empty when the
/// kernel was built outside `make`.
static RUNTIME: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/export-runtime.bin"));

/// The directory of exported images on the FAT16 partition.
pub const EXPORT_DIR: &str = "/EXPORT";

/// What `bf.export=` (or `--export=`) asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// The apps to export (`all`: every app).
    pub apps: Vec<String>,
    /// Keep never-executed functions (at `minsize`) instead of trimming them.
    pub full: bool,
}

impl Request {
    /// Parses `fib,tinyllama,full`; `None` for an empty value.
    pub fn parse(value: &str) -> Option<Request> {
        let mut request = Request::default();
        for word in value.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word {
                "full" => request.full = true,
                "trimmed" => request.full = false,
                app => request.apps.push(app.to_string()),
            }
        }
        (!request.apps.is_empty()).then_some(request)
    }

    /// Whether `app` is to be exported.
    pub fn wants(&self, app: &str) -> bool {
        self.apps.iter().any(|a| a == app || a == "all")
    }
}

/// Where exported images go and where stage1 and stage2 come from.
#[derive(Clone, Debug)]
pub struct Settings {
    /// What to export.
    pub request: Request,
    /// The directory the images are written to.
    pub dir: PathBuf,
    /// Where stage1 and stage2 are read: `None` for the boot disk (bare metal), or an
    /// image file (as a Linux program).
    pub boot_image: Option<PathBuf>,
}

static SETTINGS: Mutex<Option<Settings>> = Mutex::new(None);

/// Sets what to export (once, before the suite runs).
pub fn configure(settings: Settings) {
    println!(
        "export: {} ({}) to {}",
        settings.request.apps.join(", "),
        if settings.request.full { "full" } else { "trimmed" },
        settings.dir.display()
    );
    *SETTINGS.lock().unwrap() = Some(settings);
}

/// Whether `app` is to be exported after its tiered run.
pub fn wanted(app: &str) -> bool {
    SETTINGS.lock().unwrap().as_ref().is_some_and(|s| s.request.wants(app))
}

/// Whether `app` was named on its own (not only through `all`).
pub fn named(app: &str) -> bool {
    SETTINGS.lock().unwrap().as_ref().is_some_and(|s| s.request.apps.iter().any(|a| a == app))
}

/// What one export made.
#[derive(Clone, Debug)]
pub struct Exported {
    /// The image file written.
    pub path: PathBuf,
    /// Bytes of the raw image that carry something (stage1 to the payload's last
    /// sector; the file is padded with zeros to one BIOS cylinder,
    /// [`bf_export::MIN_DISK_SECTORS`]).
    pub image_bytes: usize,
    /// Bytes of the FLUD payload (runtime and app).
    pub payload_bytes: usize,
    /// Functions exported with code.
    pub functions: u32,
    /// Functions trimmed to a cold-path stub.
    pub trimmed: u32,
}

/// Exports `name` from `bitcode` with the tiered run's `profile`, as configured, and
/// reports it (`export: …` and `METRIC export.*` lines). Returns false if it failed;
/// a failure never stops the suite.
pub fn export_app(name: &str, bitcode: &[u8], profile: &[FunctionReport]) -> bool {
    let Some(settings) = SETTINGS.lock().unwrap().clone() else { return true };
    let started = Instant::now();
    match export(name, bitcode, profile, &settings) {
        Ok(done) => {
            let ms = started.elapsed().as_secs_f64() * 1e3;
            println!(
                "export: {name}: wrote {} ({} bytes, payload {} bytes; {} functions exported, {} trimmed) in {ms:.1} ms",
                done.path.display(),
                done.image_bytes,
                done.payload_bytes,
                done.functions,
                done.trimmed
            );
            println!("METRIC export.image_bytes.{name} {} bytes", done.image_bytes);
            println!("METRIC export.payload_bytes.{name} {} bytes", done.payload_bytes);
            println!("METRIC export.functions.{name} {} functions", done.functions);
            println!("METRIC export.trimmed_functions.{name} {} functions", done.trimmed);
            println!("METRIC export.ms.{name} {ms:.1} ms");
            true
        }
        Err(e) => {
            println!("export: {name}: not exported: {e}");
            false
        }
    }
}

/// The stub a trimmed function becomes: `bf_cold_path("<name>")`, then `unreachable`.
/// The function keeps its name, type and linkage; its old body goes.
fn trim(module: &bf_llvm::Module, name: &str) -> Result<(), JitError> {
    let old = module.function(name).ok_or_else(|| JitError::Jit(format!("no function {name}")))?;
    let ctx = module.context();
    let cold_type = ctx.function_type(ctx.void_type(), &[ctx.ptr_type()], false);
    let cold = module.function("bf_cold_path").unwrap_or_else(|| {
        let f = module.add_function("bf_cold_path", cold_type);
        f.add_enum_attribute(bf_llvm::attribute_kind("noreturn"));
        f.add_enum_attribute(bf_llvm::attribute_kind("cold"));
        f
    });
    let stub = module.add_function(&format!("{name}.bf.stub"), old.function_type());
    stub.set_linkage(old.linkage());
    stub.set_call_conv(old.call_conv());
    // SAFETY: every use of `old` now uses `stub`, which has the same type; nothing
    // holds a handle to `old` or its body afterwards.
    unsafe {
        old.as_value().replace_all_uses_with(stub.as_value());
        old.delete();
    }
    stub.as_value().set_name(name);
    let mut b = Builder::new(ctx);
    b.position_at_end(stub.append_basic_block("cold"));
    let text = b.global_string(name, &format!(".bf.cold.{name}"));
    b.call(cold_type, cold.as_value(), &[text]);
    b.unreachable();
    Ok(())
}

/// The defined functions of `module`, by name.
fn defined_functions(module: &bf_llvm::Module) -> Vec<String> {
    module.functions().into_iter().filter(|f| !f.is_declaration()).map(|f| f.as_value().name()).collect()
}

fn export(name: &str, bitcode: &[u8], profile: &[FunctionReport], settings: &Settings) -> Result<Exported, String> {
    if RUNTIME.is_empty() {
        return Err("this kernel was built without the export runtime (build it with `make`)".into());
    }
    let executed: HashSet<&str> = profile.iter().filter(|f| f.calls > 0).map(|f| f.symbol.as_str()).collect();
    let mut module = Module::parse(name, bitcode).map_err(|e| format!("the bitcode does not parse: {e}"))?;
    let defined = defined_functions(module.ir());
    let ran: Vec<&String> = defined.iter().filter(|f| executed.contains(f.as_str())).collect();
    println!("METRIC shrink.app_functions.{name} {} functions", defined.len());
    println!("METRIC shrink.app_functions_executed.{name} {} functions", ran.len());
    if !executed.contains("bf_app_main") {
        return Err("the profile does not show bf_app_main running: run the app in the tiered engine first".into());
    }
    let full = settings.request.full;
    let mut trimmed = 0u32;
    for f in defined.iter().filter(|f| !executed.contains(f.as_str())) {
        if full {
            let function = module.ir().function(f).expect("defined above");
            function.add_enum_attribute(bf_llvm::attribute_kind("minsize"));
            function.add_enum_attribute(bf_llvm::attribute_kind("optsize"));
        } else {
            trim(module.ir(), f).map_err(|e| format!("trimming {f}: {e}"))?;
            trimmed += 1;
        }
    }
    module.ir().verify().map_err(|e| format!("the trimmed module does not verify: {e}"))?;
    // O3 for the CPU the image is compiled for (its cost model), as rustc would.
    let machine = TargetMachine::generic_static().map_err(|e| e.to_string())?;
    module.ir.run_pipeline_for(super::pipeline(super::OptLevel::O3), &machine);
    // One section per function, so the linker can lay them out hot first.
    for f in module.ir().functions().into_iter().filter(|f| !f.is_declaration()) {
        if f.linkage() != Linkage::LLVMAvailableExternallyLinkage {
            f.set_section(&format!(".text.{}", f.as_value().name()));
        }
    }
    let functions = if full { defined.len() } else { ran.len() } as u32;
    let object = machine.emit_object(module.ir).map_err(|e| format!("code generation: {e}"))?;
    let mut hot: Vec<&FunctionReport> = profile.iter().filter(|f| f.calls > 0).collect();
    hot.sort_by(|a, b| b.cycles.cmp(&a.cycles).then(b.calls.cmp(&a.calls)));
    let spec = AppSpec {
        name: name.to_string(),
        order: hot.iter().map(|f| f.symbol.clone()).collect(),
        flags: if full { 0 } else { boot_protocol::export::FLAG_TRIMMED },
        exported: functions,
        trimmed,
    };
    let linked = link(RUNTIME, &object, &spec).map_err(|e| format!("linking: {e}"))?;
    let boot = boot_sectors(settings.boot_image.as_deref())?;
    let (stage1, stage2) = boot.split_at(boot_protocol::SECTOR_SIZE);
    let image = raw_image(stage1, stage2, &linked, "").map_err(|e| format!("the image: {e}"))?;
    std::fs::create_dir_all(&settings.dir).map_err(|e| format!("{}: {e}", settings.dir.display()))?;
    let path = settings.dir.join(image_file_name(name));
    std::fs::write(&path, &image).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(Exported {
        path,
        image_bytes: bf_export::used_bytes(&linked),
        payload_bytes: linked.payload.len(),
        functions,
        trimmed,
    })
}

/// Stage1 and stage2 (LBA 0–8) of the boot disk, or of `image` as a Linux program.
fn boot_sectors(image: Option<&Path>) -> Result<Vec<u8>, String> {
    let count = (boot_protocol::STAGE2_LBA + boot_protocol::STAGE2_SECTORS) as usize;
    match image {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| format!("--export-boot={}: {e}", path.display()))?;
            let needed = count * boot_protocol::SECTOR_SIZE;
            bytes
                .get(..needed)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| format!("--export-boot={}: shorter than stage1 and stage2", path.display()))
        }
        None => crate::platform::read_boot_sectors(count),
    }
}
