//! LLVM's memory, through every path it allocates by (issue 14): `operator new`
//! (`cxxrt`), the C `malloc` family its own code calls (`SmallVector` growth, …) and
//! the `mmap`s of its JIT memory manager (code and data of compiled objects).
//!
//! The kernel links with `--wrap` for `malloc`, `calloc`, `realloc`, `free`, `mmap` and
//! `munmap` (`kernel/build.rs`), so every call of those goes through the `__wrap_*`
//! stubs here. A stub notes its caller's return address and jumps to the counting
//! function, which calls the real function and counts the call as LLVM's when the
//! caller's code lies in LLVM's text (`linker.ld` groups LLVM's archives' `.text`
//! between `__bf_llvm_text_start` and `__bf_llvm_text_end`). A block `malloc`ed by LLVM
//! is remembered with its size in a fixed table (no allocation: this runs inside
//! `malloc`), so its `free` is counted whoever frees it, and a `free` of a block LLVM did
//! not allocate (a message `strdup` made) is not (`mm::blocktable`). Mappings are counted by caller on
//! both ends: LLVM unmaps what it mapped.

use std::ffi::c_void;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

use crate::mm::blocktable::BlockTable;

/// Bytes LLVM holds now, by every path.
static IN_USE: AtomicI64 = AtomicI64::new(0);
/// Highest value of `IN_USE` since the last [`reset_peak`].
static PEAK: AtomicI64 = AtomicI64::new(0);
/// Bytes LLVM holds now through `malloc`/`calloc`/`realloc`.
static MALLOC_IN_USE: AtomicI64 = AtomicI64::new(0);
/// Bytes LLVM has mapped now (`mmap` minus `munmap`).
static MAPPED: AtomicI64 = AtomicI64::new(0);
/// `malloc`-family calls made by LLVM's code.
static MALLOC_CALLS: AtomicU64 = AtomicU64::new(0);
/// LLVM blocks the table had no room for (their `free` is not counted).
static UNTRACKED: AtomicU64 = AtomicU64::new(0);
/// The return address of the wrapped call being handled (one thread).
static CALLER: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" {
    static __bf_llvm_text_start: u8;
    static __bf_llvm_text_end: u8;
    fn __real_malloc(size: usize) -> *mut c_void;
    fn __real_calloc(count: usize, size: usize) -> *mut c_void;
    fn __real_realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
    fn __real_free(ptr: *mut c_void);
    fn __real_mmap(addr: *mut c_void, len: usize, prot: i32, flags: i32, fd: i32, offset: i64) -> *mut c_void;
    fn __real_munmap(addr: *mut c_void, len: usize) -> i32;
}

/// Adds `delta` bytes to LLVM's use (through `operator new` when called from `cxxrt`).
pub fn account(delta: i64) {
    let now = IN_USE.fetch_add(delta, Ordering::Relaxed) + delta;
    if delta > 0 {
        PEAK.fetch_max(now, Ordering::Relaxed);
    }
}

/// Bytes LLVM holds right now, by every path.
pub fn bytes_in_use() -> i64 {
    IN_USE.load(Ordering::Relaxed)
}

/// Peak of [`bytes_in_use`] since the last [`reset_peak`].
pub fn peak_bytes() -> i64 {
    PEAK.load(Ordering::Relaxed)
}

/// Starts a new peak measurement from the current use.
pub fn reset_peak() {
    PEAK.store(IN_USE.load(Ordering::Relaxed), Ordering::Relaxed);
}

/// (bytes held through the `malloc` family, bytes mapped, `malloc`-family calls, blocks
/// not tracked) — the paths besides `operator new`, for the self-test's report.
pub fn other_paths() -> (i64, i64, u64, u64) {
    (
        MALLOC_IN_USE.load(Ordering::Relaxed),
        MAPPED.load(Ordering::Relaxed),
        MALLOC_CALLS.load(Ordering::Relaxed),
        UNTRACKED.load(Ordering::Relaxed),
    )
}

/// Whether the wrapped call being handled came from LLVM's code.
fn from_llvm() -> bool {
    let caller = CALLER.load(Ordering::Relaxed);
    let text = (&raw const __bf_llvm_text_start as usize)..(&raw const __bf_llvm_text_end as usize);
    text.contains(&caller)
}

/// LLVM's live `malloc` blocks and their sizes.
static BLOCKS: spin::Mutex<BlockTable> = spin::Mutex::new(BlockTable::new());

fn usable(ptr: *mut c_void) -> usize {
    // SAFETY: `ptr` is a live block from glibc's malloc (checked non-null by callers).
    unsafe { libc::malloc_usable_size(ptr) }
}

/// A block the real allocator just returned to LLVM.
fn allocated(ptr: *mut c_void) {
    if ptr.is_null() {
        return;
    }
    MALLOC_CALLS.fetch_add(1, Ordering::Relaxed);
    let size = usable(ptr);
    if BLOCKS.lock().insert(ptr as usize, size) {
        MALLOC_IN_USE.fetch_add(size as i64, Ordering::Relaxed);
        account(size as i64);
    } else {
        UNTRACKED.fetch_add(1, Ordering::Relaxed);
    }
}

/// A block about to go back to the allocator (by `free` or `realloc`), whoever's.
fn released(ptr: *mut c_void) {
    if ptr.is_null() {
        return;
    }
    if let Some(size) = BLOCKS.lock().remove(ptr as usize) {
        MALLOC_IN_USE.fetch_sub(size as i64, Ordering::Relaxed);
        account(-(size as i64));
    }
}

extern "C" fn counted_malloc(size: usize) -> *mut c_void {
    let llvm = from_llvm();
    // SAFETY: the real allocator, with the caller's arguments.
    let ptr = unsafe { __real_malloc(size) };
    if llvm {
        allocated(ptr);
    }
    ptr
}

extern "C" fn counted_calloc(count: usize, size: usize) -> *mut c_void {
    let llvm = from_llvm();
    // SAFETY: the real allocator, with the caller's arguments.
    let ptr = unsafe { __real_calloc(count, size) };
    if llvm {
        allocated(ptr);
    }
    ptr
}

extern "C" fn counted_realloc(old: *mut c_void, size: usize) -> *mut c_void {
    let llvm = from_llvm();
    released(old);
    // SAFETY: the real allocator, with the caller's arguments.
    let ptr = unsafe { __real_realloc(old, size) };
    if ptr.is_null() && size != 0 && !old.is_null() {
        // The old block is still there, and still whoever's it was: LLVM's if LLVM
        // grows it (the common case), so count it again.
        if llvm {
            allocated(old);
        }
        return ptr;
    }
    if llvm {
        allocated(ptr);
    }
    ptr
}

extern "C" fn counted_free(ptr: *mut c_void) {
    released(ptr);
    // SAFETY: the real allocator, with the caller's argument.
    unsafe { __real_free(ptr) }
}

extern "C" fn counted_mmap(addr: *mut c_void, len: usize, prot: i32, flags: i32, fd: i32, offset: i64) -> *mut c_void {
    let llvm = from_llvm();
    // SAFETY: the real call, with the caller's arguments.
    let ptr = unsafe { __real_mmap(addr, len, prot, flags, fd, offset) };
    if llvm && ptr != libc::MAP_FAILED {
        let bytes = len.next_multiple_of(4096) as i64;
        MAPPED.fetch_add(bytes, Ordering::Relaxed);
        account(bytes);
    }
    ptr
}

extern "C" fn counted_munmap(addr: *mut c_void, len: usize) -> i32 {
    let llvm = from_llvm();
    // SAFETY: the real call, with the caller's arguments.
    let result = unsafe { __real_munmap(addr, len) };
    if llvm && result == 0 {
        let bytes = len.next_multiple_of(4096) as i64;
        MAPPED.fetch_sub(bytes, Ordering::Relaxed);
        account(-bytes);
    }
    result
}

/// The `__wrap_<name>` entry of a wrapped C function: stores the return address (the
/// caller's code) in `CALLER` and jumps to `counted_<name>` with the argument registers
/// untouched, so it returns straight to the caller.
macro_rules! wrapper {
    ($($wrap:ident => $counted:ident ( $($arg:ident : $ty:ty),* ) $(-> $ret:ty)?;)*) => {$(
        /// A wrapped C function (`--wrap`): counts LLVM's calls, then does the real one.
        #[unsafe(naked)]
        #[unsafe(no_mangle)]
        pub extern "C" fn $wrap($($arg: $ty),*) $(-> $ret)? {
            core::arch::naked_asm!(
                "mov rax, [rsp]",
                "mov [rip + {caller}], rax",
                "jmp {counted}",
                caller = sym CALLER,
                counted = sym $counted,
            )
        }
    )*};
}

wrapper! {
    __wrap_malloc => counted_malloc(size: usize) -> *mut c_void;
    __wrap_calloc => counted_calloc(count: usize, size: usize) -> *mut c_void;
    __wrap_realloc => counted_realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
    __wrap_free => counted_free(ptr: *mut c_void);
    __wrap_mmap => counted_mmap(addr: *mut c_void, len: usize, prot: i32, flags: i32, fd: i32, offset: i64) -> *mut c_void;
    __wrap_munmap => counted_munmap(addr: *mut c_void, len: usize) -> i32;
}
