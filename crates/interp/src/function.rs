//! A lowered function and its validation.

use crate::op::{Op, Operand, Reg};

/// Most arguments a call may pass (checked when lowering and by validation).
pub const MAX_ARGS: usize = 16;
/// Most registers a returned value (any register group) may occupy.
pub const MAX_RET: usize = 4;

/// A `switch`'s cases: values (zero-extended) and op indices, and the default target.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SwitchTable {
    /// `(value, target)` pairs.
    pub cases: Vec<(u64, u32)>,
    /// Where other values go.
    pub default: u32,
}

/// One lowered function.
#[derive(Clone, Debug, Default)]
pub struct Function {
    /// Its (unique) name, for messages.
    pub name: String,
    /// The ops; execution starts at index 0.
    pub code: Vec<Op>,
    /// The initial register file: constants preset, everything else 0. Its length is
    /// the frame's register count.
    pub template: Vec<u64>,
    /// Number of argument registers (`0..nparams`).
    pub nparams: u32,
    /// Bytes of the frame's static allocas.
    pub frame_bytes: u32,
    /// Argument registers of the calls, referenced by `Call::args`.
    pub call_args: Vec<Reg>,
    /// Switch tables, referenced by `Switch::table`.
    pub switches: Vec<SwitchTable>,
    /// Trap messages, referenced by `Trap::msg`.
    pub traps: Vec<String>,
}

impl Function {
    /// Checks that every register, jump target and table index is in range and that
    /// the code ends in an op that does not fall through, so the execution loop can
    /// index registers and fetch ops without bounds checks. Function ids and adapter
    /// indices are the machine's, checked by [`crate::Machine::new`].
    pub fn validate(&self) -> Result<(), String> {
        let nregs = self.template.len() as u64;
        let ncode = self.code.len() as u64;
        if (self.nparams as u64) > nregs {
            return Err(format!("{}: {} parameters, {} registers", self.name, self.nparams, nregs));
        }
        for (i, op) in self.code.iter().enumerate() {
            let mut bad = None;
            op.operands(|operand| {
                if bad.is_none() {
                    bad = self.check(operand, nregs, ncode);
                }
            });
            if let Some(what) = bad {
                return Err(format!("{}: op {i} ({op:?}): {what} out of range", self.name));
            }
        }
        if !self.code.last().is_some_and(Op::ends_block) {
            return Err(format!("{}: the code does not end in a terminator", self.name));
        }
        Ok(())
    }

    /// What is out of range in `operand`, if anything.
    fn check(&self, operand: Operand, nregs: u64, ncode: u64) -> Option<&'static str> {
        let regs_ok = |r: Reg, n: u32| r.0 as u64 + n as u64 <= nregs;
        let target_ok = |t: u32| (t as u64) < ncode;
        match operand {
            Operand::Def(_, n) | Operand::Use(_, n) if n as usize > MAX_RET => Some("returned registers"),
            Operand::Def(r, n) | Operand::Use(r, n) => (!regs_ok(r, n)).then_some("register"),
            Operand::Args { start, n } => {
                if n as usize > MAX_ARGS {
                    return Some("argument count");
                }
                let Some(list) = self.call_args.get(start as usize..start as usize + n as usize) else {
                    return Some("argument list");
                };
                list.iter().any(|&r| !regs_ok(r, 1)).then_some("argument register")
            }
            Operand::Target(t) => (!target_ok(t)).then_some("jump target"),
            Operand::Table(t) => match self.switches.get(t as usize) {
                None => Some("switch table"),
                Some(tab) => {
                    let mut targets = tab.cases.iter().map(|c| c.1).chain([tab.default]);
                    targets.any(|t| !target_ok(t)).then_some("jump target")
                }
            },
            Operand::Message(m) => (m as usize >= self.traps.len()).then_some("trap message"),
            Operand::FrameOffset(off) => (off > self.frame_bytes).then_some("frame offset"),
            Operand::Callee(_) | Operand::AdapterIndex(_) => None,
        }
    }

    /// Renumbers every register operand of the code and of the call argument lists
    /// with `f` (for a group of consecutive registers, its first).
    pub fn rename_regs(&mut self, mut f: impl FnMut(Reg) -> Reg) {
        for op in self.code.iter_mut() {
            op.regs_mut(|r| *r = f(*r));
        }
        for r in self.call_args.iter_mut() {
            *r = f(*r);
        }
    }
}

/// Orders the parallel moves of a control-flow edge (phi `dst ← src`, all at once)
/// into sequential `(dst, src)` moves, going through `temp` registers (from
/// `next_temp`, counting up) where a destination is also a source of a later move.
pub fn sequence_moves(moves: &[(Reg, Reg)], next_temp: &mut Reg) -> Vec<(Reg, Reg)> {
    let moves: Vec<(Reg, Reg)> = moves.iter().copied().filter(|(d, s)| d != s).collect();
    let conflict = moves.iter().enumerate().any(|(i, (d, _))| moves.iter().skip(i + 1).any(|(_, s)| s == d));
    if !conflict {
        return moves;
    }
    // Read every source into a fresh temporary first, then write the destinations.
    let mut out = Vec::new();
    let temps: Vec<Reg> = moves
        .iter()
        .map(|_| {
            let t = *next_temp;
            *next_temp = t + 1;
            t
        })
        .collect();
    for (&(_, s), &t) in moves.iter().zip(&temps) {
        out.push((t, s));
    }
    for (&(d, _), &t) in moves.iter().zip(&temps) {
        out.push((d, t));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_moves_are_sequenced_without_clobbering() {
        let mut t = Reg(100);
        // A swap needs temporaries.
        let seq = sequence_moves(&[(Reg(1), Reg(2)), (Reg(2), Reg(1))], &mut t);
        let mut regs = [0u64; 110];
        regs[1] = 10;
        regs[2] = 20;
        for (d, s) in &seq {
            regs[d.index()] = regs[s.index()];
        }
        assert_eq!((regs[1], regs[2]), (20, 10));
        // Independent moves stay direct; self-moves vanish.
        let mut t = Reg(100);
        assert_eq!(
            sequence_moves(&[(Reg(1), Reg(5)), (Reg(2), Reg(6)), (Reg(3), Reg(3))], &mut t),
            vec![(Reg(1), Reg(5)), (Reg(2), Reg(6))]
        );
        assert_eq!(t, Reg(100));
    }

    #[test]
    fn renaming_reaches_every_register_operand() {
        let mut f = Function {
            code: vec![
                Op::Select { d: Reg(1), c: Reg(2), a: Reg(3), b: Reg(4) },
                Op::Call { d: Reg(5), id: 0, args: 0, nargs: 1, nret: 1 },
                Op::Ret { a: Reg(5), n: 1 },
            ],
            call_args: vec![Reg(6)],
            ..Default::default()
        };
        f.rename_regs(|r| r + 10);
        assert_eq!(f.code[0], Op::Select { d: Reg(11), c: Reg(12), a: Reg(13), b: Reg(14) });
        assert_eq!(f.code[1], Op::Call { d: Reg(15), id: 0, args: 0, nargs: 1, nret: 1 });
        assert_eq!(f.code[2], Op::Ret { a: Reg(15), n: 1 });
        assert_eq!(f.call_args, [Reg(16)]);
    }
}
