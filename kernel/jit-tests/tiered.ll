; Tiered-engine self-test app (app ABI, apps/README.md): a hot leaf function called
; 2000 times and a recursive one; bf_app_main returns 0 when both answers are right.

declare void @bf_section_begin()
declare void @bf_section_end()

; sum of i*i for i in 0..n
define internal i64 @square_sum(i64 %n) {
entry:
  br label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %i1, %loop ]
  %acc = phi i64 [ 0, %entry ], [ %acc1, %loop ]
  %sq = mul i64 %i, %i
  %acc1 = add i64 %acc, %sq
  %i1 = add i64 %i, 1
  %more = icmp slt i64 %i1, %n
  br i1 %more, label %loop, label %done
done:
  ret i64 %acc1
}

define internal i64 @fib(i64 %n) {
entry:
  %small = icmp slt i64 %n, 2
  br i1 %small, label %base, label %rec
rec:
  %a = sub i64 %n, 1
  %fa = call i64 @fib(i64 %a)
  %b = sub i64 %n, 2
  %fb = call i64 @fib(i64 %b)
  %s = add i64 %fa, %fb
  ret i64 %s
base:
  ret i64 %n
}

define i32 @bf_app_main() {
entry:
  call void @bf_section_begin()
  br label %loop
loop:
  %k = phi i64 [ 0, %entry ], [ %k1, %loop ]
  %acc = phi i64 [ 0, %entry ], [ %acc1, %loop ]
  %s = call i64 @square_sum(i64 1000)
  %acc1 = add i64 %acc, %s
  %k1 = add i64 %k, 1
  %more = icmp slt i64 %k1, 2000
  br i1 %more, label %loop, label %after
after:
  %f = call i64 @fib(i64 20)
  call void @bf_section_end()
  %ok1 = icmp eq i64 %acc1, 665667000000
  %ok2 = icmp eq i64 %f, 6765
  %ok = and i1 %ok1, %ok2
  %r = select i1 %ok, i32 0, i32 1
  ret i32 %r
}
