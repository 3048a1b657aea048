//! The C++ runtime LLVM needs, as ours: every `operator new`/`delete` variant, with
//! LLVM's bytes counted ([`super::llvm_memory`], with its other allocation paths), and no exceptions — the `std::__throw_*`
//! family, `__cxa_pure_virtual` and `__cxa_deleted_virtual` print a diagnostic and stop
//! the program, so libstdc++'s throwing versions are not linked from
//! `functexcept.o`/`pure.o`.
//!
//! The kernel links a no-exceptions copy of libstdc++ (`kernel/build.rs`,
//! `nothrow_libstdcxx`): its exception runtime (`eh_personality.o`, `eh_throw.o`,
//! `eh_catch.o`, `eh_alloc.o`, `eh_call.o`) is left out, and the references the other
//! members make to `__gxx_personality_v0`, `__cxa_throw` and `_Unwind_RaiseException`
//! are renamed to the `bf_nothrow_*` functions below. Everything here that would throw,
//! catch or unwind is a fatal diagnostic; none of it can run, since LLVM is compiled
//! without exceptions and every throw helper is ours. `nm` of the kernel shows none of
//! the three names (`tests/tests/jit.rs`).
//!
//! Allocation goes to glibc's `malloc` family, which gets its memory from the kernel
//! through `brk`/`mmap` (the syscall layer).

use std::ffi::{CStr, c_char, c_void};
use std::sync::atomic::{AtomicU64, Ordering};

/// Number of `operator new` calls.
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// Number of `operator new` calls so far.
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Counts `ptr`'s usable size into LLVM's memory ([`super::llvm_memory`]).
fn account(ptr: *mut c_void, sign: i64) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: `ptr` came from malloc/aligned_alloc and is still allocated.
    let size = unsafe { libc::malloc_usable_size(ptr) } as i64;
    if sign > 0 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
    super::llvm_memory::account(sign * size);
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

/// A `std::type_info`'s mangled name (its second word), for diagnostics.
fn type_name(type_info: *const c_void) -> *const c_char {
    if type_info.is_null() {
        return std::ptr::null();
    }
    // SAFETY: libstdc++ passes a `std::type_info`, whose layout is a vtable pointer
    // followed by `const char *__name`.
    unsafe { *(type_info as *const *const c_char).add(1) }
}

/// What `__cxa_throw` calls become: a fatal diagnostic naming the exception type.
#[unsafe(no_mangle)]
pub extern "C" fn bf_nothrow_cxa_throw(
    _object: *mut c_void,
    type_info: *const c_void,
    _destructor: *const c_void,
) -> ! {
    fatal("throw of a C++ exception of type", type_name(type_info))
}

/// The personality routine `.eh_frame` names for libstdc++'s code: only an unwinder
/// would call it, and none runs.
#[unsafe(no_mangle)]
pub extern "C" fn bf_nothrow_personality() -> ! {
    fatal("C++ personality routine called (unwinding)", std::ptr::null())
}

/// What `_Unwind_RaiseException` calls (from `std::rethrow_exception`) become.
#[unsafe(no_mangle)]
pub extern "C" fn bf_nothrow_raise_exception(_exception: *mut c_void) -> ! {
    fatal("exception raised for unwinding", std::ptr::null())
}

/// `std::uncaught_exceptions()`: no exception is ever in flight (iostream sentries ask).
#[unsafe(no_mangle)]
pub extern "C" fn _ZSt19uncaught_exceptionsv() -> i32 {
    0
}

/// `std::uncaught_exception()`: no exception is ever in flight.
#[unsafe(no_mangle)]
pub extern "C" fn _ZSt18uncaught_exceptionv() -> bool {
    false
}

throw_without_message! {
    // The rest of the C++ ABI's exception entry points that LLVM (`std::make_exception_ptr`
    // inside `std::promise`, header code) or kept libstdc++ members reference.
    __cxa_allocate_exception => "__cxa_allocate_exception (a C++ throw)";
    __cxa_init_primary_exception => "__cxa_init_primary_exception (std::make_exception_ptr)";
    __cxa_free_exception => "__cxa_free_exception";
    __cxa_allocate_dependent_exception => "__cxa_allocate_dependent_exception";
    __cxa_free_dependent_exception => "__cxa_free_dependent_exception";
    __cxa_rethrow => "rethrow of a C++ exception";
    __cxa_begin_catch => "catch of a C++ exception";
    __cxa_end_catch => "end of a C++ catch block";
    __cxa_get_exception_ptr => "__cxa_get_exception_ptr";
    __cxa_call_terminate => "std::terminate from a noexcept region";
    __cxa_call_unexpected => "unexpected exception";
    _Unwind_Resume_or_Rethrow => "_Unwind_Resume_or_Rethrow";
}

unsafe extern "C" {
    /// libstdc++'s `std::__throw_bad_function_call()` (`functional.o`, kept in the
    /// no-exceptions copy): a real `throw bad_function_call()`.
    #[link_name = "_ZSt25__throw_bad_function_callv"]
    fn libstdcxx_throw_bad_function_call() -> !;
}

/// Runs a throw compiled into libstdc++ itself (`--cxx-throw`): it must end in this
/// runtime's fatal diagnostic (exit status `0x7e`), not in an unwinder.
pub fn throw_through_libstdcxx() -> ! {
    println!("cxxrt: calling libstdc++'s std::__throw_bad_function_call()");
    // SAFETY: a plain C++ function without arguments; it never returns (our
    // `__cxa_allocate_exception` stops the program).
    unsafe { libstdcxx_throw_bad_function_call() }
}
