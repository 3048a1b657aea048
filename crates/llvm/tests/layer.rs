//! The safe LLVM layer against Debian's shared libLLVM: parsing, walking, building,
//! passes and LLJIT.

use bf_llvm::{
    AttributeIndex, Builder, Error, IntPredicate, Linkage, LlJit, Module, Opcode, Pipeline, TypeKind, attribute_kind,
};

const IR: &str = r#"
@counter = internal global i64 0

define internal i32 @twice(i32 %x) {
entry:
  %y = add i32 %x, %x
  ret i32 %y
}

define i32 @pick(i32 %a, i32 %b) {
entry:
  %c = icmp slt i32 %a, %b
  br i1 %c, label %less, label %done
less:
  %t = call i32 @twice(i32 %a)
  br label %done
done:
  %r = phi i32 [ %t, %less ], [ %b, %entry ]
  ret i32 %r
}
"#;

#[test]
fn walks_functions_blocks_and_instructions() {
    let m = Module::parse("walk", IR.as_bytes()).unwrap();
    m.verify().unwrap();
    let names: Vec<String> = m.functions().iter().map(|f| f.name()).collect();
    assert_eq!(names, ["twice", "pick"]);
    let twice = m.function("twice").unwrap();
    assert_eq!(twice.linkage(), Linkage::LLVMInternalLinkage);
    assert_eq!(twice.param_count(), 1);
    assert!(!twice.is_declaration());
    assert_eq!(twice.intrinsic_id(), 0);
    let pick = m.function("pick").unwrap();
    let blocks = pick.basic_blocks();
    assert_eq!(blocks.len(), 3);
    let ops: Vec<Opcode> = blocks[0].instructions().map(|i| i.opcode()).collect();
    assert_eq!(ops, [Opcode::LLVMICmp, Opcode::LLVMBr]);
    let icmp = blocks[0].first_instruction().unwrap();
    assert_eq!(icmp.icmp_predicate(), Some(IntPredicate::LLVMIntSLT));
    assert_eq!(icmp.users().len(), 1);
    let br = icmp.next().unwrap();
    assert_eq!(br.condition(), Some(*icmp));
    assert_eq!(br.successor_count(), 2);
    assert_eq!(br.successor(0), blocks[1]);
    let call = blocks[1].first_instruction().unwrap();
    assert_eq!(call.called_value(), Some(twice.as_value()));
    assert_eq!(call.arg_count(), Some(1));
    assert_eq!(call.called_function_type().unwrap().return_type().int_width(), Some(32));
    let phi = blocks[2].first_instruction().unwrap();
    let incoming = phi.incoming();
    assert_eq!(incoming.len(), 2);
    assert_eq!(incoming[1], (pick.param(1), blocks[0]));
    // Kind-specific accessors refuse other kinds instead of casting blindly.
    assert_eq!(call.icmp_predicate(), None);
    assert_eq!(icmp.called_value(), None);
    assert_eq!(phi.indices(), None);
    assert!(phi.print().contains("phi i32"));
    let g = m.global("counter").unwrap();
    assert!(!g.is_declaration());
    g.set_initializer(None);
    assert!(g.is_declaration());
}

#[test]
fn reports_parse_verify_and_pass_errors() {
    let Err(Error::Parse(msg)) = Module::parse("bad", b"define i32 @f( {") else { panic!("parsed garbage") };
    assert!(msg.contains("expected type"), "{msg}");
    assert!(matches!(Module::parse("bc", b"BC\xC0\xDE\x01"), Err(Error::Parse(_))));
    let m = Module::parse("loop", b"define i32 @f() {\n  %y = add i32 %y, 1\n  ret i32 %y\n}\n").unwrap();
    let Err(Error::Verify(msg)) = m.verify() else { panic!("verified a self-reference") };
    assert!(msg.contains("Only PHI nodes may reference their own value"), "{msg}");
    let mut m = Module::parse("ok", IR.as_bytes()).unwrap();
    m.run_pipeline(Pipeline::O2);
    m.verify().unwrap();
}

#[test]
fn builds_instructions_and_edits_attributes() {
    let m = Module::parse("build", IR.as_bytes()).unwrap();
    let ctx = m.context();
    let i32_ty = ctx.i32_type();
    let fty = ctx.function_type(i32_ty, &[i32_ty], false);
    let f = m.add_function("inc", fty);
    let mut b = Builder::new(ctx);
    b.position_at_end(f.append_basic_block("entry"));
    let sum = b.add(f.param(0), ctx.const_int(i32_ty, 1));
    b.ret(sum);
    let slot = m.add_global(ctx.ptr_type(), "slot");
    slot.set_initializer(Some(f.as_value()));
    let kind = attribute_kind("noinline");
    assert_ne!(kind, 0);
    assert!(!f.has_enum_attribute(AttributeIndex::Function, kind));
    let twice = m.function("twice").unwrap();
    assert!(twice.attributes(AttributeIndex::Function).is_empty());
    m.verify().unwrap();
    let text = m.print();
    assert!(text.contains("define i32 @inc(i32 %0)"), "{text}");
    assert!(text.contains("@slot = global ptr @inc"), "{text}");
    assert_eq!(fty.return_type().kind(), TypeKind::LLVMIntegerTypeKind);
    assert_eq!(m.data_layout().store_size(i32_ty), 4);
}

#[test]
#[should_panic(expected = "another context")]
fn refuses_values_of_another_context() {
    let a = Module::parse("a", IR.as_bytes()).unwrap();
    let b = Module::parse("b", IR.as_bytes()).unwrap();
    a.global("counter").unwrap().set_initializer(Some(b.context().const_int(b.context().i64_type(), 1)));
}

extern "C" fn host_add(a: i32, b: i32) -> i32 {
    a + b
}

#[test]
fn compiles_and_calls_with_lljit() {
    let mut jit = LlJit::new().unwrap();
    jit.define_absolute_symbols(&[("host_add", host_add as *const () as u64)]).unwrap();
    let ir = "declare i32 @host_add(i32, i32)\ndefine i32 @answer() {\n  %r = call i32 @host_add(i32 40, i32 2)\n  ret i32 %r\n}\n";
    jit.add_module(Module::parse("answer", ir.as_bytes()).unwrap()).unwrap();
    let addr = jit.lookup("answer").unwrap();
    // SAFETY: `answer` was just compiled as `i32 ()` and the JIT lives on.
    let answer: extern "C" fn() -> i32 = unsafe { std::mem::transmute(addr as usize) };
    assert_eq!(answer(), 42);
    let Err(Error::Lookup(msg)) = jit.lookup("missing") else { panic!("found a missing symbol") };
    assert!(msg.contains("Symbols not found"), "{msg}");
    let undefined = "declare void @nowhere()\ndefine void @calls() {\n  call void @nowhere()\n  ret void\n}\n";
    jit.add_module(Module::parse("calls", undefined.as_bytes()).unwrap()).unwrap();
    let Err(Error::Lookup(msg)) = jit.lookup("calls") else { panic!("linked an undefined symbol") };
    assert!(msg.contains("nowhere") && msg.contains("Failed to materialize"), "{msg}");
}

#[test]
fn an_object_compiled_once_links_into_another_jit() {
    let tm = bf_llvm::TargetMachine::host().unwrap();
    assert!(tm.features().contains("+sse2"), "x86-64 has SSE2: {}", tm.features());
    assert!(!tm.cpu().is_empty() && tm.triple().starts_with("x86_64"), "{} {}", tm.cpu(), tm.triple());
    assert!(bf_llvm::llvm_version().starts_with("22."), "{}", bf_llvm::llvm_version());
    // A global the object defines, a host function it calls, a data symbol it reads
    // through its address (resolved at link time, in each JIT anew).
    let ir = "@base = global i32 40\ndeclare i32 @host_add(i32, i32)\n\
              define i32 @answer() {\n  %b = load i32, ptr @base\n  %r = call i32 @host_add(i32 %b, i32 2)\n  ret i32 %r\n}\n";
    let object = tm.emit_object(Module::parse("answer", ir.as_bytes()).unwrap()).unwrap();
    assert_eq!(&object[..4], b"\x7fELF", "an ELF relocatable object");
    for _ in 0..2 {
        let mut jit = LlJit::new().unwrap();
        jit.define_absolute_symbols(&[("host_add", host_add as *const () as u64)]).unwrap();
        jit.add_object("answer.o", &object).unwrap();
        let addr = jit.lookup("answer").unwrap();
        // SAFETY: `answer` is `i32 ()` in the object just linked; the JIT lives on.
        let answer: extern "C" fn() -> i32 = unsafe { std::mem::transmute(addr as usize) };
        assert_eq!(answer(), 42);
    }
    let mut jit = LlJit::new().unwrap();
    let Err(Error::Jit(msg)) = jit.add_object("garbage.o", b"not an object") else { panic!("added garbage") };
    assert!(!msg.is_empty());
}

/// A lazily read module has every function, and reads a body only when asked.
#[test]
fn a_lazily_read_module_reads_only_the_bodies_it_is_asked_for() {
    let bitcode = Module::parse("m", IR.as_bytes()).unwrap().write_bitcode();
    let m = Module::parse_lazy("m", &bitcode).unwrap();
    let (pick, twice) = (m.function("pick").unwrap(), m.function("twice").unwrap());
    for f in [pick, twice] {
        assert!(!f.is_declaration(), "a body not read yet is still a definition");
        assert!(f.basic_blocks().is_empty(), "no body read yet");
    }
    pick.materialize().unwrap();
    assert_eq!(pick.basic_blocks().len(), 3);
    assert!(twice.basic_blocks().is_empty(), "the other body stays in the bitcode");
    pick.materialize().unwrap();
    assert_eq!(pick.basic_blocks().len(), 3, "materializing again reads nothing");
    let Err(Error::Parse(_)) = Module::parse_lazy("bad", b"BC\xC0\xDEnot really") else { panic!("broken bitcode") };
    let Err(Error::Parse(_)) = Module::parse_lazy("text", IR.as_bytes()) else { panic!("IR text is not bitcode") };
}

/// A machine keeps its code generator's pipeline from one object to the next
/// (`cpp/emitter.cpp`): each object is what a fresh pipeline makes of the module, byte
/// for byte, whatever the machine compiled before, and it links and runs.
#[test]
fn a_reused_code_generator_makes_the_same_objects_as_a_fresh_one() {
    let answer = "@base = global i32 40\ndefine i32 @answer() {\n  %b = load i32, ptr @base\n  %r = add i32 %b, 2\n  ret i32 %r\n}\n";
    let other = "define double @half(double %x) {\n  %r = fmul double %x, 0.5\n  ret double %r\n}\n\
                 define i64 @sum(ptr %p, i64 %n) {\nentry:\n  br label %loop\nloop:\n  %i = phi i64 [ 0, %entry ], [ %i1, %loop ]\n  %s = phi i64 [ 0, %entry ], [ %s1, %loop ]\n  %q = getelementptr i64, ptr %p, i64 %i\n  %v = load i64, ptr %q\n  %s1 = add i64 %s, %v\n  %i1 = add i64 %i, 1\n  %c = icmp ult i64 %i1, %n\n  br i1 %c, label %loop, label %done\ndone:\n  ret i64 %s1\n}\n";
    let parse = |name: &str, ir: &str| Module::parse(name, ir.as_bytes()).unwrap();
    let tm = bf_llvm::TargetMachine::host().unwrap();
    let first = tm.emit_object(parse("answer", answer)).unwrap();
    let between = tm.emit_object(parse("other", other)).unwrap();
    let again = tm.emit_object(parse("answer", answer)).unwrap();
    assert_eq!(first, again, "the same module gives the same object after another one");
    assert_ne!(first, between);
    let fresh = bf_llvm::TargetMachine::host().unwrap().emit_object(parse("answer", answer)).unwrap();
    assert_eq!(first, fresh, "a machine's first object and a reused pipeline's agree");
    let other_fresh = bf_llvm::TargetMachine::host().unwrap().emit_object(parse("other", other)).unwrap();
    assert_eq!(between, other_fresh);
    let mut jit = LlJit::new().unwrap();
    jit.add_object("answer.o", &again).unwrap();
    jit.add_object("other.o", &between).unwrap();
    type Answer = extern "C" fn() -> i32;
    type Sum = extern "C" fn(*const i64, i64) -> i64;
    // SAFETY: the signatures of the functions just linked; the JIT lives on.
    let (answer, sum) = unsafe {
        (
            std::mem::transmute::<usize, Answer>(jit.lookup("answer").unwrap() as usize),
            std::mem::transmute::<usize, Sum>(jit.lookup("sum").unwrap() as usize),
        )
    };
    assert_eq!(answer(), 42);
    assert_eq!(sum([1i64, 2, 3, 4].as_ptr(), 4), 10);
}

/// A machine with FastISel at `-O2`'s level (tier 1's code generator): its objects are
/// its own (FastISel selected them, not SelectionDAG), the instructions FastISel cannot
/// select (a vector add) fall back to SelectionDAG, and everything runs right.
#[test]
fn fast_isel_at_the_default_level_selects_and_falls_back() {
    use bf_llvm::{Codegen, CodegenLevel, Isel};
    let ir = "define i64 @pick(i64 %a, i64 %b, i1 %c) {\n  %m = mul i64 %a, %b\n  %s = select i1 %c, i64 %m, i64 %b\n  %r = udiv i64 %s, 3\n  ret i64 %r\n}\n\
              define i64 @sum(ptr %p, i64 %n) {\nentry:\n  br label %loop\nloop:\n  %i = phi i64 [ 0, %entry ], [ %i1, %loop ]\n  %s = phi i64 [ 0, %entry ], [ %s1, %loop ]\n  %q = getelementptr i64, ptr %p, i64 %i\n  %v = load i64, ptr %q\n  %s1 = add i64 %s, %v\n  %i1 = add i64 %i, 1\n  %c = icmp ult i64 %i1, %n\n  br i1 %c, label %loop, label %done\ndone:\n  ret i64 %s1\n}\n\
              define void @add4(ptr %d, ptr %a, ptr %b) {\n  %x = load <4 x i32>, ptr %a\n  %y = load <4 x i32>, ptr %b\n  %z = add <4 x i32> %x, %y\n  store <4 x i32> %z, ptr %d\n  ret void\n}\n";
    let parse = || Module::parse("fast", ir.as_bytes()).unwrap();
    let dag = bf_llvm::TargetMachine::generic().unwrap();
    let fast = dag.with_codegen(Codegen { level: CodegenLevel::Default, isel: Isel::FastIsel }).unwrap();
    assert_eq!(fast.codegen().isel, Isel::FastIsel);
    assert_eq!(dag.codegen(), Codegen::DEFAULT);
    let (by_dag, by_fast) = (dag.emit_object(parse()).unwrap(), fast.emit_object(parse()).unwrap());
    assert_ne!(by_dag, by_fast, "FastISel selected the code, not SelectionDAG");
    assert_eq!(by_fast, fast.emit_object(parse()).unwrap(), "and does so every time");
    let mut jit = LlJit::new().unwrap();
    jit.add_object("fast.o", &by_fast).unwrap();
    type Pick = extern "C" fn(i64, i64, bool) -> i64;
    type Sum = extern "C" fn(*const i64, i64) -> i64;
    type Add4 = extern "C" fn(*mut [i32; 4], *const [i32; 4], *const [i32; 4]);
    // SAFETY: the signatures of the functions just linked; the JIT lives on.
    let (pick, sum, add4) = unsafe {
        (
            std::mem::transmute::<usize, Pick>(jit.lookup("pick").unwrap() as usize),
            std::mem::transmute::<usize, Sum>(jit.lookup("sum").unwrap() as usize),
            std::mem::transmute::<usize, Add4>(jit.lookup("add4").unwrap() as usize),
        )
    };
    assert_eq!(pick(6, 7, true), 14);
    assert_eq!(pick(6, 7, false), 2);
    assert_eq!(sum([1i64, 2, 3, 4].as_ptr(), 4), 10);
    let mut d = [0i32; 4];
    add4(&mut d, &[1, 2, 3, 4], &[10, 20, 30, -40]);
    assert_eq!(d, [11, 22, 33, -36]);
}

/// The copy of an object for GDB's JIT interface: the placed sections get their JIT
/// addresses, the rest keeps 0, and the symbols still read back.
#[test]
fn an_object_copy_carries_its_sections_jit_addresses() {
    use object::{Object, ObjectSection};
    let tm = bf_llvm::TargetMachine::host().unwrap();
    let ir = "@n = global i32 1\ndefine i32 @one() {\n  %v = load i32, ptr @n\n  ret i32 %v\n}\n";
    let object = tm.emit_object(Module::parse("one", ir.as_bytes()).unwrap()).unwrap();
    let symbols = bf_llvm::function_symbols(&object).unwrap();
    let one = symbols.iter().find(|s| s.name == "one").expect("the function symbol");
    let copy = bf_llvm::with_section_addresses(&object, &[(&one.section, 0x7f00_1000)]).expect("an ELF64 object");
    let file = object::File::parse(&*copy).unwrap();
    for section in file.sections() {
        let expected = if section.name() == Ok(one.section.as_str()) { 0x7f00_1000 } else { 0 };
        assert_eq!(section.address(), expected, "{:?}", section.name());
    }
    let moved = bf_llvm::function_symbols(&copy).unwrap();
    let one_moved = moved.iter().find(|s| s.name == "one").unwrap();
    assert_eq!(one_moved.offset, 0x7f00_1000 + one.offset, "the symbol now reads at its JIT address");
    assert_eq!((moved.len(), one_moved.size), (symbols.len(), one.size), "the same object otherwise");
    assert_eq!(bf_llvm::with_section_addresses(b"not an object", &[]), None);
    assert_eq!(bf_llvm::with_section_addresses(&object[..0x30], &[]), None, "section headers cut off");
}

/// What `jit::rewrite::split_recursive` does with a function that calls itself: its
/// body moved whole to another function (parameters, blocks, the self-call pointed at
/// the new function), the old one given a new body that jumps there, a count kept
/// through an opaque copy — and the result still computes the same.
#[test]
fn a_body_moves_to_another_function_and_an_opaque_copy_keeps_its_value() {
    let ir = "define i64 @sum(i64 %n) {\nentry:\n  %z = icmp eq i64 %n, 0\n  br i1 %z, label %done, label %more\nmore:\n  %m = sub i64 %n, 1\n  %s = call i64 @sum(i64 %m)\n  %r = add i64 %s, %n\n  ret i64 %r\ndone:\n  ret i64 0\n}\n";
    let m = Module::parse("split", ir.as_bytes()).unwrap();
    let ctx = m.context();
    let sum = m.function("sum").unwrap();
    let body = m.add_function("sum.body", sum.function_type());
    let blocks = sum.basic_blocks().len();
    sum.move_body_to(body);
    assert!(sum.basic_blocks().is_empty() && sum.is_declaration());
    assert_eq!(body.basic_blocks().len(), blocks);
    assert!(body.basic_blocks().iter().all(|bb| bb.function() == body));
    let call =
        body.basic_blocks().iter().flat_map(|bb| bb.instructions()).find(|i| i.opcode() == Opcode::LLVMCall).unwrap();
    assert!(!call.is_musttail());
    call.set_operand(call.num_operands() - 1, body.as_value());
    let mut b = Builder::new(ctx);
    b.position_at_end(sum.append_basic_block("entry"));
    let hidden = b.opaque(sum.param(0));
    let result = b.call(body.function_type(), body.as_value(), &[hidden]);
    result.set_musttail();
    assert!(result.is_musttail());
    assert_eq!(b.insert_block().function(), sum);
    b.ret(result.as_value());
    drop(b);
    m.verify().unwrap();
    let text = m.print();
    assert!(text.contains("call i64 asm \"\", \"=r,0\"(i64 %n)"), "{text}");
    assert!(text.contains("%m = sub i64 %0, 1"), "the body uses its own parameter: {text}");
    assert!(text.contains("call i64 @sum.body(i64 %m)"), "{text}");
    let mut jit = LlJit::new().unwrap();
    jit.add_module(m).unwrap();
    let addr = jit.lookup("sum").unwrap();
    // SAFETY: `sum` was just compiled as `i64 (i64)` and the JIT lives on.
    let sum: extern "C" fn(i64) -> i64 = unsafe { std::mem::transmute(addr as usize) };
    assert_eq!(sum(100), 5050);
}

/// A body with debug locations takes its function's `DISubprogram` along (the
/// verifier refuses locations of a subprogram attached to another function).
#[test]
fn a_moved_body_takes_its_debug_information_along() {
    let ir = r#"
define i32 @id(i32 %x) !dbg !4 {
entry:
  ret i32 %x, !dbg !7
}
!llvm.dbg.cu = !{!0}
!llvm.module.flags = !{!2, !3}
!0 = distinct !DICompileUnit(language: DW_LANG_C99, file: !1, producer: "test", isOptimized: true, runtimeVersion: 0, emissionKind: FullDebug)
!1 = !DIFile(filename: "id.c", directory: "/")
!2 = !{i32 2, !"Debug Info Version", i32 3}
!3 = !{i32 7, !"Dwarf Version", i32 5}
!4 = distinct !DISubprogram(name: "id", scope: !1, file: !1, line: 1, type: !5, unit: !0, spFlags: DISPFlagDefinition)
!5 = !DISubroutineType(types: !6)
!6 = !{null}
!7 = !DILocation(line: 1, scope: !4)
"#;
    let m = Module::parse("debug", ir.as_bytes()).unwrap();
    let id = m.function("id").unwrap();
    let body = m.add_function("id.body", id.function_type());
    id.move_body_to(body);
    let mut b = Builder::new(m.context());
    b.position_at_end(id.append_basic_block("entry"));
    let call = b.call(body.function_type(), body.as_value(), &[id.param(0)]);
    b.ret(call.as_value());
    drop(b);
    m.verify().unwrap();
    let text = m.print();
    assert!(text.contains("define i32 @id.body(i32 %0) !dbg"), "{text}");
    assert!(text.contains("define i32 @id(i32 %x) {"), "{text}");
}
