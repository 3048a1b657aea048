//! The border between interpreted and native code: the machine-level signatures of the
//! functions that cross it. The kernel builds the glue for them — an entry stub per
//! interpretable function (`<name>.t0`, reaching `bf_interp_call`) and an adapter per
//! signature (`bf.adapt.<n>`, through which the interpreter calls native code) — with
//! LLVM's IR builder (`kernel/src/jit/interp/glue.rs`).
//!
//! Values cross as `u64`s in the interpreter's representation (crate docs).

/// A scalar type that crosses the border.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scalar {
    /// `iN`, 1 ≤ N ≤ 64.
    Int(u32),
    /// `float`.
    F32,
    /// `double`.
    F64,
    /// `ptr`.
    Ptr,
}

/// An argument or return extension attribute (it changes the x86-64 ABI).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Ext {
    /// None.
    #[default]
    None,
    /// `zeroext`.
    Zero,
    /// `signext`.
    Sign,
}

/// A function signature at the machine level: calling convention, return fields
/// (empty: `void`; several: a literal struct), the return's extension, and the
/// parameters with theirs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Signature {
    /// LLVM calling convention number (0 = C, 8 = `fastcc`, which rustc uses for most
    /// internal functions).
    pub cc: u32,
    /// Return fields.
    pub ret: Vec<Scalar>,
    /// Return extension.
    pub ret_ext: Ext,
    /// Parameters.
    pub params: Vec<(Scalar, Ext)>,
    /// For a call to a variadic function (`printf`): how many of `params` are its fixed
    /// parameters; the others are passed as its `...`. The call then sets `%al` to the
    /// number of vector registers used, as the x86-64 ABI asks.
    pub variadic: Option<usize>,
}
