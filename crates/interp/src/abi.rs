//! The border between interpreted and native code: C signatures and the LLVM IR text
//! of the two kinds of glue the JIT compiles for them.
//!
//! * An **entry stub** per interpretable function, `<name>.t0`, with the function's own
//!   signature: it spills its arguments to a `u64` array, calls
//!   `bf_interp_call(id, args, ret)` and returns what the interpreter left in `ret`.
//!   The function's slot holds the stub while it runs in tier 0, so native callers
//!   (and `bf_app_main`'s caller) reach the interpreter without knowing.
//! * An **adapter** per signature, `bf.adapt.<n>`: `void (ptr fn, ptr args, ptr ret)`
//!   loads the arguments from `args`, calls `fn` with the signature, and stores the
//!   result fields at `ret`. The interpreter calls any native code — tier-1/2 code in a
//!   slot, host functions — through these (no libffi).
//!
//! Values cross as `u64`s in the interpreter's representation (crate docs).
//! Pure string generation: unit-tested without LLVM.

use std::fmt::Write;

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

fn ty(s: Scalar) -> String {
    match s {
        Scalar::Int(n) => format!("i{n}"),
        Scalar::F32 => "float".into(),
        Scalar::F64 => "double".into(),
        Scalar::Ptr => "ptr".into(),
    }
}

fn ext(e: Ext) -> &'static str {
    match e {
        Ext::None => "",
        Ext::Zero => "zeroext ",
        Ext::Sign => "signext ",
    }
}

impl Signature {
    /// The calling-convention keyword for `define`/`call` (empty for C).
    pub fn cc_keyword(&self) -> String {
        if self.cc == 0 { String::new() } else { format!("cc {} ", self.cc) }
    }

    /// The type a call names after its return attributes: the return type, or for a
    /// variadic callee the whole function type (`i32 (ptr, ...)`), which LLVM needs to
    /// lower the call as variadic.
    pub fn call_type(&self) -> String {
        match self.variadic {
            None => self.ret_type(),
            Some(fixed) => {
                let mut params: Vec<String> = self.params.iter().take(fixed).map(|&(s, _)| ty(s)).collect();
                params.push("...".into());
                format!("{} ({})", self.ret_type(), params.join(", "))
            }
        }
    }

    /// The IR return type.
    pub fn ret_type(&self) -> String {
        match self.ret.len() {
            0 => "void".into(),
            1 => ty(self.ret[0]),
            _ => format!("{{ {} }}", self.ret.iter().map(|&s| ty(s)).collect::<Vec<_>>().join(", ")),
        }
    }
}

/// Emits `%{out} = <u64 %{w} as scalar s>`.
fn narrow(ir: &mut String, out: &str, w: &str, s: Scalar) {
    match s {
        Scalar::Int(64) => writeln!(ir, "  {out} = add i64 {w}, 0").unwrap(),
        Scalar::Int(n) => writeln!(ir, "  {out} = trunc i64 {w} to i{n}").unwrap(),
        Scalar::F64 => writeln!(ir, "  {out} = bitcast i64 {w} to double").unwrap(),
        Scalar::F32 => {
            writeln!(ir, "  {out}.i = trunc i64 {w} to i32").unwrap();
            writeln!(ir, "  {out} = bitcast i32 {out}.i to float").unwrap();
        }
        Scalar::Ptr => writeln!(ir, "  {out} = inttoptr i64 {w} to ptr").unwrap(),
    }
}

/// Emits `%{out} = <scalar %{v} as zero-extended u64>`.
fn widen(ir: &mut String, out: &str, v: &str, s: Scalar) {
    match s {
        Scalar::Int(64) => writeln!(ir, "  {out} = add i64 {v}, 0").unwrap(),
        Scalar::Int(n) => writeln!(ir, "  {out} = zext i{n} {v} to i64").unwrap(),
        Scalar::F64 => writeln!(ir, "  {out} = bitcast double {v} to i64").unwrap(),
        Scalar::F32 => {
            writeln!(ir, "  {out}.i = bitcast float {v} to i32").unwrap();
            writeln!(ir, "  {out} = zext i32 {out}.i to i64").unwrap();
        }
        Scalar::Ptr => writeln!(ir, "  {out} = ptrtoint ptr {v} to i64").unwrap(),
    }
}

/// The adapter `@bf.adapt.<index>` for `sig`.
pub fn adapter_ir(index: usize, sig: &Signature) -> String {
    let mut ir = format!("define void @bf.adapt.{index}(ptr %f, ptr %a, ptr %r) {{\n");
    let mut args = Vec::new();
    for (i, &(s, e)) in sig.params.iter().enumerate() {
        writeln!(ir, "  %p{i} = getelementptr i64, ptr %a, i64 {i}").unwrap();
        writeln!(ir, "  %w{i} = load i64, ptr %p{i}").unwrap();
        narrow(&mut ir, &format!("%v{i}"), &format!("%w{i}"), s);
        args.push(format!("{} {}%v{i}", ty(s), ext(e)));
    }
    let call = format!("call {}{}{} %f({})", sig.cc_keyword(), ext(sig.ret_ext), sig.call_type(), args.join(", "));
    if sig.ret.is_empty() {
        writeln!(ir, "  {call}").unwrap();
    } else {
        writeln!(ir, "  %x = {call}").unwrap();
        for (k, &s) in sig.ret.iter().enumerate() {
            let field = if sig.ret.len() == 1 {
                "%x".to_string()
            } else {
                writeln!(ir, "  %x{k} = extractvalue {} %x, {k}", sig.ret_type()).unwrap();
                format!("%x{k}")
            };
            widen(&mut ir, &format!("%y{k}"), &field, s);
            writeln!(ir, "  %q{k} = getelementptr i64, ptr %r, i64 {k}").unwrap();
            writeln!(ir, "  store i64 %y{k}, ptr %q{k}").unwrap();
        }
    }
    ir.push_str("  ret void\n}\n");
    ir
}

/// The entry stub `@"<name>.t0"` of function `id` with signature `sig`.
pub fn stub_ir(name: &str, id: u32, sig: &Signature) -> String {
    let params: Vec<String> =
        sig.params.iter().enumerate().map(|(i, &(s, e))| format!("{} {}%v{i}", ty(s), ext(e))).collect();
    let mut ir = format!(
        "define {}{}{} @\"{name}.t0\"({}) {{\n",
        sig.cc_keyword(),
        ext(sig.ret_ext),
        sig.ret_type(),
        params.join(", ")
    );
    writeln!(ir, "  %a = alloca [{} x i64], align 8", sig.params.len().max(1)).unwrap();
    writeln!(ir, "  %r = alloca [{} x i64], align 8", crate::MAX_RET).unwrap();
    for (i, &(s, _)) in sig.params.iter().enumerate() {
        widen(&mut ir, &format!("%w{i}"), &format!("%v{i}"), s);
        writeln!(ir, "  %p{i} = getelementptr i64, ptr %a, i64 {i}").unwrap();
        writeln!(ir, "  store i64 %w{i}, ptr %p{i}").unwrap();
    }
    writeln!(ir, "  call void @bf_interp_call(i32 {id}, ptr %a, ptr %r)").unwrap();
    match sig.ret.len() {
        0 => ir.push_str("  ret void\n"),
        n => {
            let rt = sig.ret_type();
            let mut agg = "poison".to_string();
            for (k, &s) in sig.ret.iter().enumerate() {
                writeln!(ir, "  %q{k} = getelementptr i64, ptr %r, i64 {k}").unwrap();
                writeln!(ir, "  %y{k} = load i64, ptr %q{k}").unwrap();
                narrow(&mut ir, &format!("%x{k}"), &format!("%y{k}"), s);
                if n > 1 {
                    writeln!(ir, "  %s{k} = insertvalue {rt} {agg}, {} %x{k}, {k}", ty(s)).unwrap();
                    agg = format!("%s{k}");
                }
            }
            let v = if n > 1 { agg } else { "%x0".to_string() };
            writeln!(ir, "  ret {rt} {v}").unwrap();
        }
    }
    ir.push_str("}\n");
    ir
}

/// The whole glue module: `stubs` as `(name, id, signature)`, one adapter per entry
/// of `adapters` (by index), and the interpreter's entry declared.
pub fn glue_module(stubs: &[(String, u32, Signature)], adapters: &[Signature]) -> String {
    let mut ir = String::from("declare void @bf_interp_call(i32, ptr, ptr)\n\n");
    for (i, sig) in adapters.iter().enumerate() {
        ir.push_str(&adapter_ir(i, sig));
    }
    for (name, id, sig) in stubs {
        ir.push_str(&stub_ir(name, *id, sig));
    }
    ir
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adapter_converts_each_kind_and_keeps_extensions() {
        let sig = Signature {
            cc: 0,
            ret: vec![Scalar::Int(1)],
            ret_ext: Ext::Zero,
            params: vec![(Scalar::Ptr, Ext::None), (Scalar::F32, Ext::None), (Scalar::Int(8), Ext::Sign)],
            variadic: None,
        };
        let ir = adapter_ir(3, &sig);
        assert!(ir.starts_with("define void @bf.adapt.3(ptr %f, ptr %a, ptr %r) {"), "{ir}");
        assert!(ir.contains("%v0 = inttoptr i64 %w0 to ptr"), "{ir}");
        assert!(ir.contains("%v1 = bitcast i32 %v1.i to float"), "{ir}");
        assert!(ir.contains("%v2 = trunc i64 %w2 to i8"), "{ir}");
        assert!(ir.contains("%x = call zeroext i1 %f(ptr %v0, float %v1, i8 signext %v2)"), "{ir}");
        let fast = adapter_ir(0, &Signature { cc: 8, ..Signature::default() });
        assert!(fast.contains("call cc 8 void %f()"), "{fast}");
        assert!(ir.contains("%y0 = zext i1 %x to i64"), "{ir}");
    }

    #[test]
    fn variadic_calls_name_the_function_type() {
        let sig = Signature {
            ret: vec![Scalar::Int(32)],
            params: vec![(Scalar::Ptr, Ext::None), (Scalar::F64, Ext::None), (Scalar::Int(32), Ext::None)],
            variadic: Some(1),
            ..Signature::default()
        };
        let ir = adapter_ir(0, &sig);
        assert!(ir.contains("%x = call i32 (ptr, ...) %f(ptr %v0, double %v1, i32 %v2)"), "{ir}");
        let plain = Signature { variadic: None, ..sig.clone() };
        assert_ne!(plain, sig, "a variadic call needs its own adapter");
    }

    #[test]
    fn stub_rebuilds_struct_returns() {
        let sig = Signature {
            cc: 8,
            ret: vec![Scalar::Int(64), Scalar::F64],
            ret_ext: Ext::None,
            params: vec![(Scalar::Int(64), Ext::None)],
            variadic: None,
        };
        let ir = stub_ir("_ZN3app3foo17h0123456789abcdefE", 7, &sig);
        assert!(
            ir.starts_with("define cc 8 { i64, double } @\"_ZN3app3foo17h0123456789abcdefE.t0\"(i64 %v0) {"),
            "{ir}"
        );
        assert!(ir.contains("call void @bf_interp_call(i32 7, ptr %a, ptr %r)"), "{ir}");
        assert!(ir.contains("%s1 = insertvalue { i64, double } %s0, double %x1, 1"), "{ir}");
        assert!(ir.contains("ret { i64, double } %s1"), "{ir}");
        let void = stub_ir("f", 0, &Signature::default());
        assert!(void.contains("alloca [1 x i64]") && void.contains("ret void"), "{void}");
    }

    #[test]
    fn glue_module_declares_the_interpreter_entry_once() {
        let ir = glue_module(&[("f".into(), 0, Signature::default())], &[Signature::default(), Signature::default()]);
        assert_eq!(ir.matches("declare void @bf_interp_call").count(), 1);
        assert!(ir.contains("@bf.adapt.0(") && ir.contains("@bf.adapt.1(") && ir.contains("@\"f.t0\"()"));
    }
}
