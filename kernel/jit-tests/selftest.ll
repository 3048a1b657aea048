; The kernel's JIT self-test module: assembled to bitcode at build time
; (kernel/build.rs, llvm-as) and embedded in the kernel image.

@greeting = private unnamed_addr constant [20 x i8] c"hello from JIT code\00"

; Exported by the kernel: prints a message and a number on the console.
declare void @bf_print_i64(ptr, i64)

define i64 @fib(i64 %n) {
entry:
  %small = icmp slt i64 %n, 2
  br i1 %small, label %done, label %recurse
recurse:
  %n1 = sub i64 %n, 1
  %f1 = call i64 @fib(i64 %n1)
  %n2 = sub i64 %n, 2
  %f2 = call i64 @fib(i64 %n2)
  %sum = add i64 %f1, %f2
  ret i64 %sum
done:
  ret i64 %n
}

; sum of a[i] * b[i] over doubles
define double @dot(ptr %a, ptr %b, i64 %n) {
entry:
  br label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %next, %body ]
  %acc = phi double [ 0.0, %entry ], [ %acc2, %body ]
  %more = icmp slt i64 %i, %n
  br i1 %more, label %body, label %exit
body:
  %pa = getelementptr double, ptr %a, i64 %i
  %pb = getelementptr double, ptr %b, i64 %i
  %x = load double, ptr %pa
  %y = load double, ptr %pb
  %m = fmul double %x, %y
  %acc2 = fadd double %acc, %m
  %next = add i64 %i, 1
  br label %loop
exit:
  ret double %acc
}

; doubles in and out through XMM registers
define double @scale(double %x, double %y) {
  %r = fmul double %x, %y
  ret double %r
}

; calls back into the kernel, returns 2x
define i64 @greet(i64 %x) {
  call void @bf_print_i64(ptr @greeting, i64 %x)
  %r = mul i64 %x, 2
  ret i64 %r
}
