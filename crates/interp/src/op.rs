//! The operations of the lowered form, generated from [`for_each_op!`]: the [`Op`]
//! type, the operand walk and the dispatch to an [`OpVisitor`].

use core::fmt;
use core::ops::{Add, Sub};

/// A register index into the current frame (typed, so it cannot be mixed up with a
/// jump target, a table index or an immediate).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct Reg(pub u32);

impl Reg {
    /// The register's index into its frame.
    #[inline(always)]
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Debug for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// `r + n`: the `n`-th register after `r` (the fields of a struct value).
impl Add<u32> for Reg {
    type Output = Reg;
    #[inline(always)]
    fn add(self, n: u32) -> Reg {
        Reg(self.0 + n)
    }
}

/// `r - s`: how many registers `r` lies after `s`.
impl Sub<Reg> for Reg {
    type Output = u32;
    fn sub(self, s: Reg) -> u32 {
        self.0 - s.0
    }
}

/// The arithmetic of a `*.with.overflow` intrinsic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverflowKind {
    /// `uadd`.
    UAdd,
    /// `sadd`.
    SAdd,
    /// `usub`.
    USub,
    /// `ssub`.
    SSub,
    /// `umul`.
    UMul,
    /// `smul`.
    SMul,
}

/// One operand of an [`Op`] that refers to something outside the op itself, as the
/// operand walk ([`Op::operands`]) reports it. Immediates are not reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand {
    /// `n` consecutive registers from the first, written.
    Def(Reg, u32),
    /// `n` consecutive registers from the first, read.
    Use(Reg, u32),
    /// Argument registers (read): `n` entries of the function's `call_args` from `start`.
    Args {
        /// The first entry.
        start: u32,
        /// How many.
        n: u32,
    },
    /// A jump target (op index).
    Target(u32),
    /// A switch table index.
    Table(u32),
    /// A trap message index.
    Message(u32),
    /// A byte offset into the frame's alloca area.
    FrameOffset(u32),
    /// A function id of the machine.
    Callee(u32),
    /// An adapter index of the machine.
    AdapterIndex(u32),
}

/// The Rust type of a field of kind `$kind` (see [`for_each_op!`]).
#[rustfmt::skip]
macro_rules! field_type {
    (Def) => { Reg };
    (Use) => { Reg };
    (Defs) => { Reg };
    (Uses) => { Reg };
    (Args) => { u32 };
    (Target) => { u32 };
    (Table) => { u32 };
    (Message) => { u32 };
    (FrameOffset) => { u32 };
    (Callee) => { u32 };
    (AdapterIndex) => { u32 };
    ($ty:ident) => { $ty };
}

/// The [`Operand`] a field of kind `$kind` reports, or nothing for an immediate.
#[rustfmt::skip]
macro_rules! field_operand {
    ($v:ident, Def, $x:ident) => { $v(Operand::Def($x, 1)) };
    ($v:ident, Use, $x:ident) => { $v(Operand::Use($x, 1)) };
    ($v:ident, Defs, $x:ident, $n:expr) => { $v(Operand::Def($x, $n as u32)) };
    ($v:ident, Uses, $x:ident, $n:expr) => { $v(Operand::Use($x, $n as u32)) };
    ($v:ident, Args, $x:ident, $n:expr) => { $v(Operand::Args { start: $x, n: $n as u32 }) };
    ($v:ident, Target, $x:ident) => { $v(Operand::Target($x)) };
    ($v:ident, Table, $x:ident) => { $v(Operand::Table($x)) };
    ($v:ident, Message, $x:ident) => { $v(Operand::Message($x)) };
    ($v:ident, FrameOffset, $x:ident) => { $v(Operand::FrameOffset($x)) };
    ($v:ident, Callee, $x:ident) => { $v(Operand::Callee($x)) };
    ($v:ident, AdapterIndex, $x:ident) => { $v(Operand::AdapterIndex($x)) };
    ($v:ident, $ty:ident, $x:ident) => { let _ = $x; };
}

/// Applies `$v` to a register field (`&mut Reg`), nothing for other kinds.
#[rustfmt::skip]
macro_rules! field_reg_mut {
    ($v:ident, Def, $x:ident) => { $v($x) };
    ($v:ident, Use, $x:ident) => { $v($x) };
    ($v:ident, Defs, $x:ident) => { $v($x) };
    ($v:ident, Uses, $x:ident) => { $v($x) };
    ($v:ident, $kind:ident, $x:ident) => { let _ = $x; };
}

/// Applies `$v` to a jump-target field (`&mut u32`), nothing for other kinds.
#[rustfmt::skip]
macro_rules! field_target_mut {
    ($v:ident, Target, $x:ident) => { $v($x) };
    ($v:ident, $kind:ident, $x:ident) => { let _ = $x; };
}

/// `true` for the ops marked `ends`.
#[rustfmt::skip]
macro_rules! ends_block {
    () => { false };
    (ends) => { true };
}

/// Generates [`Op`], [`OpVisitor`] and the walks from the list.
macro_rules! define_ops {
    (
        $(
            $( #[$attr:meta] )*
            $snake:ident = $name:ident {
                $( $field:ident : $kind:ident $( ( $count:expr ) )? ),* $(,)?
            } $( $ends:ident )? ;
        )*
    ) => {
        /// One operation of the lowered form (the list and its field kinds:
        /// [`for_each_op!`]).
        #[derive(Clone, Copy, Debug, PartialEq)]
        #[allow(missing_docs)] // the fields: the variants' docs and for_each_op! say what they are
        pub enum Op {
            $(
                $( #[$attr] )*
                $name { $( $field: field_type!($kind) ),* },
            )*
        }

        /// One method per [`Op`], with the op's fields as arguments: what
        /// [`Op::visit`] dispatches to (the interpreter's handlers implement it).
        pub trait OpVisitor {
            /// What each method returns.
            type Return;
            $(
                $( #[$attr] )*
                fn $snake(&mut self $( , $field: field_type!($kind) )*) -> Self::Return;
            )*
        }

        impl Op {
            /// Calls `visitor`'s method for this op with its fields: a `match` that
            /// inlines into the caller (the interpreter's dispatch).
            #[inline(always)]
            pub fn visit<V: OpVisitor>(self, visitor: &mut V) -> V::Return {
                match self {
                    $( Op::$name { $( $field ),* } => visitor.$snake($( $field ),*), )*
                }
            }

            /// Reports every operand that is not an immediate, in field order.
            pub fn operands(&self, mut visit: impl FnMut(Operand)) {
                match *self {
                    $(
                        Op::$name { $( $field ),* } => {
                            $( field_operand!(visit, $kind, $field $( , $count )?); )*
                        }
                    )*
                }
            }

            /// Applies `f` to every register field (for a group of consecutive
            /// registers, its first): renumbering registers.
            pub fn regs_mut(&mut self, mut f: impl FnMut(&mut Reg)) {
                match self {
                    $(
                        Op::$name { $( $field ),* } => {
                            $( field_reg_mut!(f, $kind, $field); )*
                        }
                    )*
                }
            }

            /// Applies `f` to every jump target: resolving labels.
            pub fn targets_mut(&mut self, mut f: impl FnMut(&mut u32)) {
                match self {
                    $(
                        Op::$name { $( $field ),* } => {
                            $( field_target_mut!(f, $kind, $field); )*
                        }
                    )*
                }
            }

            /// Whether control never falls through this op (a jump, a branch, a
            /// switch, a return or a trap): a function's code ends in one.
            pub fn ends_block(&self) -> bool {
                match self {
                    $( Op::$name { .. } => ends_block!($( $ends )?), )*
                }
            }

            /// The op's name, as in the list.
            pub fn name(&self) -> &'static str {
                match self {
                    $( Op::$name { .. } => stringify!($name), )*
                }
            }
        }
    };
}

crate::for_each_op!(define_ops);

// An op is fetched by value on every dispatch: 24 bytes (the tag and at most five
// registers and an `i16`, or four registers and an `i32`). A wider op slows them all.
const _: () = assert!(std::mem::size_of::<Op>() == 24);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_reports_defs_uses_and_the_rest() {
        let mut seen = Vec::new();
        Op::Call { d: Reg(7), id: 3, args: 2, nargs: 4, nret: 2 }.operands(|o| seen.push(o));
        assert_eq!(
            seen,
            [Operand::Def(Reg(7), 2), Operand::Callee(3), Operand::Args { start: 2, n: 4 }],
            "immediates (nargs, nret) are not operands"
        );
        seen.clear();
        Op::Store32 { v: Reg(1), a: Reg(2), off: -4 }.operands(|o| seen.push(o));
        assert_eq!(seen, [Operand::Use(Reg(1), 1), Operand::Use(Reg(2), 1)]);
        seen.clear();
        Op::Ret { a: Reg(5), n: 3 }.operands(|o| seen.push(o));
        assert_eq!(seen, [Operand::Use(Reg(5), 3)]);
    }

    #[test]
    fn registers_and_targets_are_rewritten_in_place() {
        let mut op = Op::BrSlt { a: Reg(1), b: Reg(2), t: 10, f: 20, sh: 32 };
        op.regs_mut(|r| *r = *r + 100);
        op.targets_mut(|t| *t += 1);
        assert_eq!(op, Op::BrSlt { a: Reg(101), b: Reg(102), t: 11, f: 21, sh: 32 });
        assert!(op.ends_block() && !Op::Move { d: Reg(0), a: Reg(1) }.ends_block());
        assert_eq!(op.name(), "BrSlt");
    }

    /// A visitor that names what it was called with: the dispatch passes the fields.
    struct Names;
    macro_rules! names_visitor {
        ($( $( #[$attr:meta] )* $snake:ident = $name:ident { $( $field:ident : $kind:ident $( ( $count:expr ) )? ),* $(,)? } $( $ends:ident )? ; )*) => {
            impl OpVisitor for Names {
                type Return = String;
                $(
                    fn $snake(&mut self $( , $field: field_type!($kind) )*) -> String {
                        let mut s = String::from(stringify!($snake));
                        $( s += &format!(" {:?}", $field); )*
                        s
                    }
                )*
            }
        };
    }
    crate::for_each_op!(names_visitor);

    #[test]
    fn dispatch_calls_the_op_s_method_with_its_fields() {
        assert_eq!(Op::Add { d: Reg(1), a: Reg(2), b: Reg(3), mask: 255 }.visit(&mut Names), "add r1 r2 r3 255");
        assert_eq!(Op::Jump { t: 4 }.visit(&mut Names), "jump 4");
    }
}
