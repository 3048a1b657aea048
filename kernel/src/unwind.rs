//! The kernel has no unwinder.
//!
//! The kernel is built with `panic = "abort"` and LLVM without exceptions, so nothing
//! ever unwinds. Rust's precompiled std still names libgcc's unwinder — landing pads
//! end in `_Unwind_Resume`, its personality routine and backtrace code call the
//! `_Unwind_Get*`/`_Unwind_Set*` accessors, static glibc names `_Unwind_ForcedUnwind`
//! for thread cancellation — and linking those from `libgcc_eh.a` would
//! bring all of `unwind-dw2.o`, `_Unwind_RaiseException` included. These definitions
//! come first on the link line, so that member is never pulled: the accessors and
//! `_Unwind_Resume` are fatal diagnostics (only an unwinder in progress calls them), and
//! `_Unwind_Backtrace` reports an empty stack, so a panic's backtrace is empty instead
//! of walking `.eh_frame`.
//!
//! Host unit tests (`cargo test -p kernel`) unwind on panic, so there the real unwinder
//! stays.

#![cfg(not(test))]

use core::ffi::c_void;

/// `_URC_END_OF_STACK`: what `_Unwind_Backtrace` returns when the walk is over.
const URC_END_OF_STACK: i32 = 5;

fn unreachable_unwind(what: &str) -> ! {
    eprintln!("kernel: {what} called, but the kernel has no unwinder (panic=abort, no C++ exceptions)");
    std::process::exit(0x7e)
}

/// Walks no frames: the backtrace of a panic is empty.
#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_Backtrace(_trace: *const c_void, _argument: *mut c_void) -> i32 {
    URC_END_OF_STACK
}

/// No enclosing function is known (backtrace symbolisation asks).
#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_FindEnclosingFunction(_pc: *mut c_void) -> *mut c_void {
    core::ptr::null_mut()
}

macro_rules! fatal_unwind_entry {
    ($($name:ident ( $($arg:ident : $ty:ty),* );)*) => {$(
        /// Only an unwinder in progress calls this; there is none, so it is fatal.
        #[unsafe(no_mangle)]
        pub extern "C" fn $name($($arg: $ty),*) -> ! {
            $(let _ = $arg;)*
            unreachable_unwind(stringify!($name))
        }
    )*};
}

fatal_unwind_entry! {
    _Unwind_Resume(exception: *mut c_void);
    // glibc's `unwind.o` (thread cancellation and `pthread_exit`; one thread here).
    _Unwind_ForcedUnwind(exception: *mut c_void, stop: *const c_void, argument: *mut c_void);
    _Unwind_DeleteException(exception: *mut c_void);
    _Unwind_GetIP(context: *mut c_void);
    _Unwind_GetIPInfo(context: *mut c_void, before: *mut i32);
    _Unwind_GetCFA(context: *mut c_void);
    _Unwind_GetGR(context: *mut c_void, index: i32);
    _Unwind_SetGR(context: *mut c_void, index: i32, value: usize);
    _Unwind_SetIP(context: *mut c_void, value: usize);
    _Unwind_GetLanguageSpecificData(context: *mut c_void);
    _Unwind_GetRegionStart(context: *mut c_void);
    _Unwind_GetTextRelBase(context: *mut c_void);
    _Unwind_GetDataRelBase(context: *mut c_void);
}
