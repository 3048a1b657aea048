//! The C++ runtime LLVM needs, as ours: every `operator new`/`delete` variant, with
//! accounting of LLVM's bytes in use and peak, and no exceptions — the `std::__throw_*`
//! family, `__cxa_pure_virtual` and `__cxa_deleted_virtual` print a diagnostic and stop
//! the program, so libstdc++'s throwing versions (and with them `__cxa_throw`) are not
//! linked from `functexcept.o`/`pure.o`.
//!
//! Allocation goes to glibc's `malloc` family, which gets its memory from the kernel
//! through `brk`/`mmap` (the syscall layer).

use std::ffi::{CStr, c_char, c_void};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Bytes currently held through `operator new`.
static IN_USE: AtomicI64 = AtomicI64::new(0);
/// Highest value of `IN_USE` since the last [`reset_peak`].
static PEAK: AtomicI64 = AtomicI64::new(0);
/// Number of `operator new` calls.
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// Bytes LLVM holds through `operator new` right now.
pub fn bytes_in_use() -> i64 {
    IN_USE.load(Ordering::Relaxed)
}

/// Peak of [`bytes_in_use`] since the last [`reset_peak`].
pub fn peak_bytes() -> i64 {
    PEAK.load(Ordering::Relaxed)
}

/// Number of `operator new` calls so far.
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Starts a new peak measurement from the current use.
pub fn reset_peak() {
    PEAK.store(IN_USE.load(Ordering::Relaxed), Ordering::Relaxed);
}

fn account(ptr: *mut c_void, sign: i64) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: `ptr` came from malloc/aligned_alloc and is still allocated.
    let size = unsafe { libc::malloc_usable_size(ptr) } as i64;
    let now = IN_USE.fetch_add(sign * size, Ordering::Relaxed) + sign * size;
    if sign > 0 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        PEAK.fetch_max(now, Ordering::Relaxed);
    }
}

fn fatal(what: &str, detail: *const c_char) -> ! {
    let detail = if detail.is_null() {
        String::new()
    } else {
        // SAFETY: libstdc++ passes NUL-terminated messages.
        format!(": {}", unsafe { CStr::from_ptr(detail) }.to_string_lossy())
    };
    eprintln!("llvm: fatal C++ error {what}{detail} (exceptions are not supported in the kernel)");
    std::process::exit(0x7e)
}

fn allocate(size: usize, align: usize, nothrow: bool) -> *mut c_void {
    let size = size.max(1);
    // SAFETY: plain C allocation calls; `align` is a power of two (C++ guarantees it).
    let ptr = unsafe {
        if align <= 16 { libc::malloc(size) } else { libc::aligned_alloc(align, size.next_multiple_of(align)) }
    };
    if ptr.is_null() && !nothrow {
        fatal("std::bad_alloc", std::ptr::null());
    }
    account(ptr, 1);
    ptr
}

fn release(ptr: *mut c_void) {
    account(ptr, -1);
    // SAFETY: `ptr` came from `allocate` (or is null).
    unsafe { libc::free(ptr) };
}

macro_rules! operator_new {
    ($($name:ident ( $($arg:ident : $ty:ty),* ) => $size:ident, $align:expr, $nothrow:expr;)*) => {$(
        /// A C++ `operator new` variant (mangled name), accounted.
        #[unsafe(no_mangle)]
        pub extern "C" fn $name($($arg: $ty),*) -> *mut c_void {
            allocate($size, $align, $nothrow)
        }
    )*};
}

macro_rules! operator_delete {
    ($($name:ident ( $($arg:ident : $ty:ty),* );)*) => {$(
        /// A C++ `operator delete` variant (mangled name), accounted.
        #[unsafe(no_mangle)]
        pub extern "C" fn $name(ptr: *mut c_void $(, $arg: $ty)*) {
            $(let _ = $arg;)*
            release(ptr)
        }
    )*};
}

operator_new! {
    _Znwm(size: usize) => size, 16, false;
    _Znam(size: usize) => size, 16, false;
    _ZnwmRKSt9nothrow_t(size: usize, _nt: *const c_void) => size, 16, true;
    _ZnamRKSt9nothrow_t(size: usize, _nt: *const c_void) => size, 16, true;
    _ZnwmSt11align_val_t(size: usize, align: usize) => size, align, false;
    _ZnamSt11align_val_t(size: usize, align: usize) => size, align, false;
    _ZnwmSt11align_val_tRKSt9nothrow_t(size: usize, align: usize, _nt: *const c_void) => size, align, true;
    _ZnamSt11align_val_tRKSt9nothrow_t(size: usize, align: usize, _nt: *const c_void) => size, align, true;
}

operator_delete! {
    _ZdlPv();
    _ZdaPv();
    _ZdlPvm(size: usize);
    _ZdaPvm(size: usize);
    _ZdlPvSt11align_val_t(align: usize);
    _ZdaPvSt11align_val_t(align: usize);
    _ZdlPvmSt11align_val_t(size: usize, align: usize);
    _ZdaPvmSt11align_val_t(size: usize, align: usize);
    _ZdlPvRKSt9nothrow_t(nt: *const c_void);
    _ZdaPvRKSt9nothrow_t(nt: *const c_void);
    _ZdlPvSt11align_val_tRKSt9nothrow_t(align: usize, nt: *const c_void);
    _ZdaPvSt11align_val_tRKSt9nothrow_t(align: usize, nt: *const c_void);
}

macro_rules! throw_with_message {
    ($($name:ident => $what:literal;)*) => {$(
        /// libstdc++'s throw helper, made a fatal diagnostic.
        #[unsafe(no_mangle)]
        pub extern "C" fn $name(message: *const c_char) -> ! {
            fatal($what, message)
        }
    )*};
}

macro_rules! throw_without_message {
    ($($name:ident => $what:literal;)*) => {$(
        /// libstdc++'s throw helper, made a fatal diagnostic.
        #[unsafe(no_mangle)]
        pub extern "C" fn $name() -> ! {
            fatal($what, std::ptr::null())
        }
    )*};
}

throw_with_message! {
    _ZSt19__throw_logic_errorPKc => "std::logic_error";
    _ZSt19__throw_range_errorPKc => "std::range_error";
    _ZSt20__throw_domain_errorPKc => "std::domain_error";
    _ZSt20__throw_length_errorPKc => "std::length_error";
    _ZSt20__throw_out_of_rangePKc => "std::out_of_range";
    _ZSt21__throw_runtime_errorPKc => "std::runtime_error";
    _ZSt22__throw_overflow_errorPKc => "std::overflow_error";
    _ZSt23__throw_underflow_errorPKc => "std::underflow_error";
    _ZSt24__throw_invalid_argumentPKc => "std::invalid_argument";
    // Variadic in C++; the extra arguments are never read.
    _ZSt24__throw_out_of_range_fmtPKcz => "std::out_of_range";
}

throw_without_message! {
    _ZSt16__throw_bad_castv => "std::bad_cast";
    _ZSt17__throw_bad_allocv => "std::bad_alloc";
    _ZSt18__throw_bad_typeidv => "std::bad_typeid";
    _ZSt21__throw_bad_exceptionv => "std::bad_exception";
    _ZSt28__throw_bad_array_new_lengthv => "std::bad_array_new_length";
    __cxa_pure_virtual => "pure virtual function called";
    __cxa_deleted_virtual => "deleted virtual function called";
}
