//! The kernel's C library as JIT symbols: the functions named in `libc.symbols`
//! (stdio, stdlib, string, ctype, time, all of libm, libgcc's builtins), taken from the
//! static glibc, libm and libgcc the kernel is linked with. `kernel/build.rs` generates
//! the table; declaring a function there is also what links it into the kernel.

use crate::jit::HostSymbol;

include!(concat!(env!("OUT_DIR"), "/libc_table.rs"));

/// The table's entry for `name`, if the kernel offers that function.
pub fn lookup(name: &str) -> Option<HostSymbol> {
    let i = LIBC_SYMBOLS.binary_search_by(|(n, _)| (*n).cmp(name)).ok()?;
    let (name, f) = LIBC_SYMBOLS[i];
    Some(HostSymbol { name, address: f as usize as u64 })
}

/// How many functions the table has.
pub fn len() -> usize {
    LIBC_SYMBOLS.len()
}
