//! A program's runs: what makes each one start from the program's initial state and
//! end, however it ends, with the kernel carrying on (docs/programs.md).
//!
//! While a program is selected ([`select`]), every run the engines make of it goes
//! through [`run`]:
//!
//! * **streams**: glibc's `stdin`, `stdout` and `stderr` are replaced for the run by
//!   streams of the kernel (`fopencookie`): the program's output goes to the console
//!   and is counted and checksummed (its CRC-32 is what tests compare with a native
//!   run); `stdin` is empty. Buffers are flushed when the run ends.
//! * **heap**: `malloc`, `calloc`, `realloc`, `free`, `aligned_alloc`,
//!   `posix_memalign`, `strdup` and `strndup` are the runtime's: glibc's allocator,
//!   with every live block recorded, and whatever the program leaves is freed when the
//!   run ends. Files it leaves open are closed.
//! * **ending**: `main` returning, `exit`, `_exit`, `_Exit`, `abort`, a failed `assert`,
//!   or a CPU fault all end the run through the guard ([`super::guard`]); `atexit`
//!   handlers run (in reverse order) after `main` returns or `exit` is called.
//!
//! The globals are put back by the program's own `bf_app_main` (see [`super`]).

use std::collections::HashMap;
use std::ffi::{CString, c_char, c_int, c_void};
use std::hash::{BuildHasherDefault, DefaultHasher};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::guard::{self, Exit, Fault};
use crate::jit::HostSymbol;

/// How a run ended.
#[derive(Clone, Debug)]
pub enum Ending {
    /// `main` returned.
    Returned,
    /// `exit` (or `_exit`, `_Exit`) was called.
    Exited,
    /// `abort()` was called or an assertion failed.
    Aborted,
    /// A CPU fault stopped it, at this location ([`Fault::location`]).
    Fault(Fault, String),
}

/// What one run did.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// How it ended.
    pub ending: Ending,
    /// Its status: `main`'s value or `exit`'s argument; 134 after `abort`, 139 after a
    /// fault (what a shell reports for SIGABRT and SIGSEGV).
    pub status: i32,
    /// Bytes it wrote to `stdout`.
    pub output_bytes: u64,
    /// CRC-32 of those bytes.
    pub output_crc: u32,
    /// Blocks it allocated.
    pub allocations: u64,
    /// Most bytes it had allocated at once.
    pub peak_heap_bytes: u64,
    /// Blocks (and their bytes) it had not freed when it ended, freed by the runtime.
    pub leaked: (u64, u64),
}

impl RunReport {
    /// One line: `exit status 0, 1234 bytes of output (crc32 0123abcd)`, with the fault,
    /// abort and leaked memory when there are.
    pub fn describe(&self) -> String {
        let how = match &self.ending {
            Ending::Returned => format!("returned {}", self.status),
            Ending::Exited => format!("exit({})", self.status),
            Ending::Aborted => "aborted".to_string(),
            Ending::Fault(f, location) => {
                format!("stopped by a fault: {} {location} (rip {:#x}, address {:#x})", f.what, f.rip, f.address)
            }
        };
        let mut line = format!(
            "{how}, status {}, {} bytes of output (crc32 {:08x}), {} allocations, heap peak {} bytes",
            self.status, self.output_bytes, self.output_crc, self.allocations, self.peak_heap_bytes
        );
        if self.leaked.0 > 0 {
            line += &format!(", {} blocks ({} bytes) left allocated, freed", self.leaked.0, self.leaked.1);
        }
        line
    }
}

/// The selected program: its name and `argv`.
struct Selected {
    name: String,
    _args: Vec<CString>,
    argv: Vec<*const c_char>,
}

// SAFETY: the pointers point into `_args`, owned alongside; the kernel runs programs on
// one thread.
unsafe impl Send for Selected {}

static SELECTED: Mutex<Option<Selected>> = Mutex::new(None);
static REPORTS: Mutex<Vec<RunReport>> = Mutex::new(Vec::new());

/// Selects program `name` with arguments `args` (`argv[1..]`): from now on runs go
/// through [`run`]. `None` deselects it.
pub fn select(program: Option<(&str, &[String])>) {
    *SELECTED.lock().unwrap() = program.map(|(name, args)| {
        let args: Vec<CString> = std::iter::once(name)
            .chain(args.iter().map(String::as_str))
            .map(|a| CString::new(a.replace('\0', "")).unwrap_or_default())
            .collect();
        let mut argv: Vec<*const c_char> = args.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        Selected { name: name.to_string(), _args: args, argv }
    });
    REPORTS.lock().unwrap().clear();
    crate::jit::codemap::enable(SELECTED.lock().unwrap().is_some());
}

/// Whether a program is selected.
pub fn selected() -> bool {
    SELECTED.lock().unwrap().is_some()
}

/// The reports of the runs since the last call (or since [`select`]).
pub fn take_reports() -> Vec<RunReport> {
    std::mem::take(&mut *REPORTS.lock().unwrap())
}

/// Runs `body` (one run of the selected program: it calls `bf_app_main`) as described
/// in the module's documentation; returns its status and records its [`RunReport`].
pub fn run(body: impl FnOnce() -> i32) -> i32 {
    let mut body = Some(body);
    begin();
    let exit = guard::call(|| body.take().map_or(0, |b| b()));
    let (ending, status) = match exit {
        Exit::Returned(s) => (Ending::Returned, s),
        Exit::Exited(s) => (Ending::Exited, s),
        Exit::Aborted => (Ending::Aborted, 134),
        Exit::Fault => {
            // Named before the engines forget where they were.
            let fault = guard::last_fault();
            (Ending::Fault(fault, fault.location()), 139)
        }
    };
    if matches!(exit, Exit::Aborted | Exit::Fault | Exit::Exited(_)) {
        // Frames were abandoned: the engines' per-activation state is stale.
        let how = match &ending {
            Ending::Fault(fault, _) => format!("{} at {:#x}", fault.what, fault.rip),
            Ending::Aborted => "abort()".to_string(),
            _ => format!("exit({status})"),
        };
        crate::jit::tiered::recover_from_abandoned_run(&how);
    }
    if matches!(ending, Ending::Returned | Ending::Exited) && !SKIP_AT_EXIT.load(Ordering::Relaxed) {
        run_at_exit_handlers();
    }
    let report = end(ending, status);
    REPORTS.lock().unwrap().push(report);
    status
}

// ----- streams -----

#[repr(C)]
struct CookieFunctions {
    read: Option<extern "C" fn(*mut c_void, *mut c_char, usize) -> isize>,
    write: Option<extern "C" fn(*mut c_void, *const c_char, usize) -> isize>,
    seek: Option<extern "C" fn(*mut c_void, *mut i64, c_int) -> c_int>,
    close: Option<extern "C" fn(*mut c_void) -> c_int>,
}

// `srand` is also declared (with a placeholder signature) by the C library table.
#[allow(clashing_extern_declarations)]
unsafe extern "C" {
    fn fopencookie(cookie: *mut c_void, mode: *const c_char, functions: CookieFunctions) -> *mut libc::FILE;
    #[link_name = "stdin"]
    static mut GLIBC_STDIN: *mut libc::FILE;
    #[link_name = "stdout"]
    static mut GLIBC_STDOUT: *mut libc::FILE;
    #[link_name = "stderr"]
    static mut GLIBC_STDERR: *mut libc::FILE;
    fn srand(seed: std::ffi::c_uint);
}

/// The output of the current run on `stdout`: bytes and CRC.
static OUTPUT: Mutex<(u64, Option<crc32fast::Hasher>)> = Mutex::new((0, None));

extern "C" fn read_nothing(_: *mut c_void, _: *mut c_char, _: usize) -> isize {
    0
}

/// Writes a run's `stdout` bytes: counted, checksummed, to the console.
extern "C" fn write_stdout(_: *mut c_void, buf: *const c_char, len: usize) -> isize {
    // SAFETY: glibc passes `len` readable bytes.
    let bytes = unsafe { std::slice::from_raw_parts(buf as *const u8, len) };
    {
        let mut out = OUTPUT.lock().unwrap();
        out.0 += len as u64;
        out.1.get_or_insert_with(crc32fast::Hasher::new).update(bytes);
    }
    // SAFETY: `bytes` is readable.
    unsafe { crate::jit::host::bf_print(bytes.as_ptr(), bytes.len()) };
    len as isize
}

/// The app ABI's `bf_print` in a program's run: counted with `stdout`'s bytes.
extern "C" fn bf_program_print(ptr: *const u8, len: usize) {
    if !ptr.is_null() && len > 0 {
        write_stdout(std::ptr::null_mut(), ptr.cast(), len);
    }
}

/// The app ABI's `bf_print_u64` in a program's run: counted with `stdout`'s bytes.
extern "C" fn bf_program_print_u64(value: u64) {
    let text = value.to_string();
    write_stdout(std::ptr::null_mut(), text.as_ptr().cast(), text.len());
}

/// Writes a run's `stderr` bytes to the console.
extern "C" fn write_stderr(_: *mut c_void, buf: *const c_char, len: usize) -> isize {
    // SAFETY: glibc passes `len` readable bytes.
    unsafe { crate::jit::host::bf_print(buf as *const u8, len) };
    len as isize
}

/// The runtime's three streams (made once) and glibc's, saved during a run.
struct Streams {
    ours: [usize; 3],
    saved: [usize; 3],
}

static STREAMS: Mutex<Streams> = Mutex::new(Streams { ours: [0; 3], saved: [0; 3] });

/// The run's stream `which` (0 stdin, 1 stdout, 2 stderr): the program's `bf_app_main`
/// stores it in its own `stdin`/`stdout`/`stderr`.
extern "C" fn bf_program_stream(which: i32) -> *mut libc::FILE {
    STREAMS.lock().unwrap().ours.get(which as usize).copied().unwrap_or(0) as *mut libc::FILE
}

/// `argc` of the selected program.
extern "C" fn bf_program_argc() -> i32 {
    SELECTED.lock().unwrap().as_ref().map_or(0, |s| s.argv.len() as i32 - 1)
}

/// `argv` of the selected program (valid while it is selected).
extern "C" fn bf_program_argv() -> *const *const c_char {
    SELECTED.lock().unwrap().as_ref().map_or(std::ptr::null(), |s| s.argv.as_ptr())
}

fn open_streams(streams: &mut Streams) {
    if streams.ours[0] != 0 {
        return;
    }
    let make = |mode: &std::ffi::CStr, functions: CookieFunctions, buffering: c_int| {
        // SAFETY: the cookie functions ignore their cookie; the stream lives for the
        // rest of the boot.
        unsafe {
            let f = fopencookie(std::ptr::null_mut(), mode.as_ptr(), functions);
            if !f.is_null() {
                libc::setvbuf(f, std::ptr::null_mut(), buffering, 0);
            }
            f as usize
        }
    };
    let none = || CookieFunctions { read: None, write: None, seek: None, close: None };
    streams.ours = [
        make(c"r", CookieFunctions { read: Some(read_nothing), ..none() }, libc::_IOFBF),
        make(c"w", CookieFunctions { write: Some(write_stdout), ..none() }, libc::_IOLBF),
        make(c"w", CookieFunctions { write: Some(write_stderr), ..none() }, libc::_IONBF),
    ];
}

// ----- a run's beginning and end -----

static SKIP_AT_EXIT: AtomicBool = AtomicBool::new(false);

fn begin() {
    *OUTPUT.lock().unwrap() = (0, Some(crc32fast::Hasher::new()));
    *HEAP.lock().unwrap() = Heap::default();
    SKIP_AT_EXIT.store(false, Ordering::Relaxed);
    AT_EXIT.lock().unwrap().clear();
    let mut streams = STREAMS.lock().unwrap();
    open_streams(&mut streams);
    // SAFETY: glibc's stream variables, read and replaced on the only thread; our
    // streams are valid FILEs (or null if fopencookie failed, which glibc's functions
    // would then be given — it does not fail short of memory).
    unsafe {
        for f in streams.ours {
            libc::clearerr(f as *mut libc::FILE);
        }
        streams.saved = [GLIBC_STDIN as usize, GLIBC_STDOUT as usize, GLIBC_STDERR as usize];
        GLIBC_STDIN = streams.ours[0] as *mut libc::FILE;
        GLIBC_STDOUT = streams.ours[1] as *mut libc::FILE;
        GLIBC_STDERR = streams.ours[2] as *mut libc::FILE;
        // `rand` starts where a new process starts.
        srand(1);
    }
}

fn end(ending: Ending, status: i32) -> RunReport {
    let streams = STREAMS.lock().unwrap();
    // SAFETY: our streams (valid FILEs); glibc's variables restored on the only thread.
    unsafe {
        libc::fflush(streams.ours[1] as *mut libc::FILE);
        libc::fflush(streams.ours[2] as *mut libc::FILE);
        GLIBC_STDIN = streams.saved[0] as *mut libc::FILE;
        GLIBC_STDOUT = streams.saved[1] as *mut libc::FILE;
        GLIBC_STDERR = streams.saved[2] as *mut libc::FILE;
    }
    drop(streams);
    for f in std::mem::take(&mut *OPEN_FILES.lock().unwrap()) {
        // SAFETY: a FILE the program opened and did not close.
        unsafe { libc::fclose(f as *mut libc::FILE) };
    }
    let heap = std::mem::take(&mut *HEAP.lock().unwrap());
    let leaked = (heap.blocks.len() as u64, heap.bytes as u64);
    for (&p, _) in heap.blocks.iter() {
        // SAFETY: a block glibc's allocator gave the program, still allocated.
        unsafe { libc::free(p as *mut c_void) };
    }
    let (output_bytes, hasher) = std::mem::take(&mut *OUTPUT.lock().unwrap());
    crate::jit::host::flush_log();
    RunReport {
        ending,
        status,
        output_bytes,
        output_crc: hasher.map_or(0, |h| h.finalize()),
        allocations: heap.allocations,
        peak_heap_bytes: heap.peak as u64,
        leaked,
    }
}

// ----- exit, atexit, abort -----

/// The program's `atexit` handlers, in registration order.
static AT_EXIT: Mutex<Vec<extern "C" fn()>> = Mutex::new(Vec::new());

/// `atexit` limit (POSIX asks for at least 32).
const MAX_AT_EXIT: usize = 32;

extern "C" fn bf_program_atexit(handler: extern "C" fn()) -> c_int {
    let mut handlers = AT_EXIT.lock().unwrap();
    if handlers.len() >= MAX_AT_EXIT {
        return -1;
    }
    handlers.push(handler);
    0
}

fn run_at_exit_handlers() {
    while let Some(handler) = AT_EXIT.lock().unwrap().pop() {
        // Each in its own guarded call: one that faults or exits does not stop the rest.
        guard::call(|| {
            handler();
            0
        });
    }
}

extern "C" fn bf_program_exit(status: c_int) -> ! {
    crate::jit::host::bf_section_end();
    guard::leave(Some(status));
    std::process::exit(status)
}

extern "C" fn bf_program_quick_exit(status: c_int) -> ! {
    SKIP_AT_EXIT.store(true, Ordering::Relaxed);
    bf_program_exit(status)
}

extern "C" fn bf_program_abort() -> ! {
    guard::leave(None);
    std::process::abort()
}

extern "C" fn bf_program_assert_fail(
    assertion: *const c_char,
    file: *const c_char,
    line: u32,
    function: *const c_char,
) -> ! {
    // SAFETY: the program passes NUL-terminated strings (glibc's `assert` contract).
    let text = |p: *const c_char| unsafe {
        if p.is_null() { String::new() } else { std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned() }
    };
    let name = SELECTED.lock().unwrap().as_ref().map_or(String::new(), |s| s.name.clone());
    let message =
        format!("{name}: {}:{line}: {}: Assertion `{}' failed.\n", text(file), text(function), text(assertion));
    write_stderr(std::ptr::null_mut(), message.as_ptr().cast(), message.len());
    bf_program_abort()
}

// ----- heap and files -----

/// The current run's allocations: block address → size.
#[derive(Default)]
struct Heap {
    blocks: HashMap<usize, usize, BuildHasherDefault<DefaultHasher>>,
    bytes: usize,
    peak: usize,
    allocations: u64,
}

static HEAP: Mutex<Heap> =
    Mutex::new(Heap { blocks: HashMap::with_hasher(BuildHasherDefault::new()), bytes: 0, peak: 0, allocations: 0 });

fn record(p: *mut c_void, size: usize) -> *mut c_void {
    if !p.is_null() {
        let mut heap = HEAP.lock().unwrap();
        heap.blocks.insert(p as usize, size);
        heap.bytes += size;
        heap.peak = heap.peak.max(heap.bytes);
        heap.allocations += 1;
    }
    p
}

/// Forgets block `p`; whether it was the program's.
fn forget(p: *mut c_void) -> bool {
    let mut heap = HEAP.lock().unwrap();
    match heap.blocks.remove(&(p as usize)) {
        Some(size) => {
            heap.bytes -= size;
            true
        }
        None => false,
    }
}

extern "C" fn bf_program_malloc(size: usize) -> *mut c_void {
    // SAFETY: glibc's allocator.
    record(unsafe { libc::malloc(size) }, size)
}

extern "C" fn bf_program_calloc(n: usize, size: usize) -> *mut c_void {
    // SAFETY: glibc's allocator (it checks the product for overflow).
    record(unsafe { libc::calloc(n, size) }, n.saturating_mul(size))
}

extern "C" fn bf_program_realloc(p: *mut c_void, size: usize) -> *mut c_void {
    forget(p);
    // SAFETY: `p` is null or a block of glibc's allocator the program owns.
    record(unsafe { libc::realloc(p, size) }, size)
}

extern "C" fn bf_program_free(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    // Blocks glibc allocated itself (getline, asprintf) are the program's to free too.
    forget(p);
    // SAFETY: a block of glibc's allocator the program owns.
    unsafe { libc::free(p) }
}

extern "C" fn bf_program_aligned_alloc(align: usize, size: usize) -> *mut c_void {
    // SAFETY: glibc's allocator (it validates the alignment).
    record(unsafe { libc::aligned_alloc(align, size) }, size)
}

extern "C" fn bf_program_posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    // SAFETY: `out` is the program's pointer to write; glibc validates the alignment.
    unsafe {
        let r = libc::posix_memalign(out, align, size);
        if r == 0 {
            record(*out, size);
        }
        r
    }
}

extern "C" fn bf_program_strndup(s: *const c_char, n: usize) -> *mut c_char {
    // SAFETY: `s` is a string of at least min(strlen, n) readable bytes (strndup's
    // contract); the copy gets that many bytes and a NUL.
    unsafe {
        let len = libc::strnlen(s, n);
        let p = bf_program_malloc(len + 1) as *mut c_char;
        if !p.is_null() {
            std::ptr::copy_nonoverlapping(s, p, len);
            *p.add(len) = 0;
        }
        p
    }
}

extern "C" fn bf_program_strdup(s: *const c_char) -> *mut c_char {
    bf_program_strndup(s, usize::MAX)
}

/// FILEs the program opened and has not closed.
static OPEN_FILES: Mutex<Vec<usize>> = Mutex::new(Vec::new());

extern "C" fn bf_program_fopen(path: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    // SAFETY: the program passes NUL-terminated strings (fopen's contract).
    let f = unsafe { libc::fopen(path, mode) };
    if !f.is_null() {
        OPEN_FILES.lock().unwrap().push(f as usize);
    }
    f
}

extern "C" fn bf_program_fclose(f: *mut libc::FILE) -> c_int {
    OPEN_FILES.lock().unwrap().retain(|&o| o != f as usize);
    // SAFETY: a FILE the program opened (fclose's contract).
    unsafe { libc::fclose(f) }
}

/// The glue's functions (`bf_app_main` calls them) as JIT symbols.
pub fn symbols() -> Vec<HostSymbol> {
    let s = |name: &'static str, address: usize| HostSymbol { name, address: address as u64 };
    vec![
        s("bf_program_stream", bf_program_stream as *const () as usize),
        s("bf_program_argc", bf_program_argc as *const () as usize),
        s("bf_program_argv", bf_program_argv as *const () as usize),
    ]
}

/// The C library functions (and the app ABI's output functions) the runtime replaces:
/// (the name a program calls, the runtime's function).
/// A program's declarations of them are renamed to the runtime's names (LLJIT itself
/// defines `atexit` for JIT code; the names must not meet).
pub fn replacements() -> Vec<(&'static str, HostSymbol)> {
    let r = |c: &'static str, name: &'static str, address: usize| (c, HostSymbol { name, address: address as u64 });
    vec![
        r("bf_print", "bf_program_print", bf_program_print as *const () as usize),
        r("bf_print_u64", "bf_program_print_u64", bf_program_print_u64 as *const () as usize),
        r("exit", "bf_program_exit", bf_program_exit as *const () as usize),
        r("_exit", "bf_program_quick_exit", bf_program_quick_exit as *const () as usize),
        r("_Exit", "bf_program_quick_exit", bf_program_quick_exit as *const () as usize),
        r("quick_exit", "bf_program_quick_exit", bf_program_quick_exit as *const () as usize),
        r("atexit", "bf_program_atexit", bf_program_atexit as *const () as usize),
        r("abort", "bf_program_abort", bf_program_abort as *const () as usize),
        r("__assert_fail", "bf_program_assert_fail", bf_program_assert_fail as *const () as usize),
        r("malloc", "bf_program_malloc", bf_program_malloc as *const () as usize),
        r("calloc", "bf_program_calloc", bf_program_calloc as *const () as usize),
        r("realloc", "bf_program_realloc", bf_program_realloc as *const () as usize),
        r("free", "bf_program_free", bf_program_free as *const () as usize),
        r("aligned_alloc", "bf_program_aligned_alloc", bf_program_aligned_alloc as *const () as usize),
        r("posix_memalign", "bf_program_posix_memalign", bf_program_posix_memalign as *const () as usize),
        r("strdup", "bf_program_strdup", bf_program_strdup as *const () as usize),
        r("strndup", "bf_program_strndup", bf_program_strndup as *const () as usize),
        r("fopen", "bf_program_fopen", bf_program_fopen as *const () as usize),
        r("fclose", "bf_program_fclose", bf_program_fclose as *const () as usize),
    ]
}
