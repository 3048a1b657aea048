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
    /// The first register a new frame takes from the template: those below it (the
    /// parameters, and registers every path writes before reading) start with whatever
    /// the register stack held. 0: the whole template.
    pub preset: u32,
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
        if (self.preset as u64) > nregs {
            return Err(format!("{}: preset from register {} of {}", self.name, self.preset, nregs));
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

impl Function {
    /// Jump threading, in place (op indices do not change): a `Jump` to an op that
    /// ends a block becomes a copy of that op (an edge block of one `MoveJump`, a
    /// `Ret`: one dispatch instead of two), and a jump target that is a `Jump` becomes
    /// that jump's target. Run after labels are resolved, before [`Function::validate`].
    pub fn thread_jumps(&mut self) {
        // A chain of jumps is followed at most `code.len()` steps (a loop of jumps
        // stays a loop).
        let code = self.code.clone();
        let last = |mut t: u32| {
            for _ in 0..code.len() {
                match code.get(t as usize) {
                    Some(&Op::Jump { t: next }) if next != t => t = next,
                    _ => break,
                }
            }
            t
        };
        for op in self.code.iter_mut() {
            if let Op::Jump { t } = *op
                && let Some(&target) = code.get(last(t) as usize)
                && target.ends_block()
                && !matches!(target, Op::Jump { .. })
            {
                *op = target;
            }
        }
        self.retarget(last);
    }

    /// Tail duplication for returns: an edge block of one op (`MoveJump`,
    /// `Move2Jump`) into a block of at most two plain ops and a `Ret` gets its own copy
    /// of that block, reading the moves' sources in place of their destinations, so a
    /// path into a function's return through phis (a leaf's early return, a loop's
    /// exit) dispatches no move. The copies go at the end of the code and the branches
    /// to the edge block go to its copy (the edge block is left unreached). Run after
    /// [`Function::thread_jumps`].
    pub fn duplicate_return_tails(&mut self) {
        let mut copies: Vec<(u32, Vec<Op>)> = Vec::new();
        for (i, &op) in self.code.iter().enumerate() {
            let (moves, t) = match op {
                Op::MoveJump { d, a, t } => (vec![(d, a)], t),
                Op::Move2Jump { d, a, d2, a2, t } => (vec![(d, a), (d2, a2)], t),
                _ => continue,
            };
            let Some(tail) = self.return_tail(t as usize) else { continue };
            // The copy reads sources where the block reads destinations: no op of it
            // may write a source or destination, nor read one within a wider operand.
            let moved: Vec<Reg> = moves.iter().flat_map(|&(d, a)| [d, a]).collect();
            let mut plain = true;
            for &op in &tail {
                plain &= !writes_any(op, &moved);
                op.operands(|operand| {
                    if let Operand::Use(r, n) = operand
                        && n > 1
                    {
                        plain &= !moves.iter().any(|&(d, _)| (r.0..r.0 + n).contains(&d.0));
                    }
                });
            }
            if !plain {
                continue;
            }
            let copy = tail
                .into_iter()
                .map(|mut op| {
                    op.regs_mut(|r| {
                        if let Some(&(_, a)) = moves.iter().find(|(d, _)| d == r) {
                            *r = a;
                        }
                    });
                    op
                })
                .collect();
            copies.push((i as u32, copy));
        }
        for (edge, copy) in copies {
            let start = self.code.len() as u32;
            self.code.extend(copy);
            self.retarget(|t| if t == edge { start } else { t });
        }
    }

    /// The ops from `t` if they are at most two ops that neither end a block nor call,
    /// then a `Ret`.
    fn return_tail(&self, t: usize) -> Option<Vec<Op>> {
        let mut ops = Vec::new();
        for &op in self.code.get(t..)?.iter().take(3) {
            ops.push(op);
            if let Op::Ret { .. } = op {
                return Some(ops);
            }
            let mut plain = !op.ends_block();
            op.operands(|operand| {
                plain &= !matches!(operand, Operand::Args { .. } | Operand::Callee(_) | Operand::AdapterIndex(_))
            });
            if !plain {
                return None;
            }
        }
        None
    }

    /// Applies `f` to every jump target: the ops' and the switch tables'.
    pub fn retarget(&mut self, mut f: impl FnMut(u32) -> u32) {
        for op in self.code.iter_mut() {
            op.targets_mut(|t| *t = f(*t));
        }
        for s in self.switches.iter_mut() {
            for c in s.cases.iter_mut() {
                c.1 = f(c.1);
            }
            s.default = f(s.default);
        }
    }
}

impl Function {
    /// Fuses an op whose result is used exactly once, later in the same block, into
    /// that use, and drops it (one dispatch instead of two):
    ///
    /// * an `AddScaled` (a GEP's variable index) used as a load's or store's address
    ///   becomes that access's `LoadNIdx`/`StoreNIdx`;
    /// * an `FMulD`/`FMulS` used by an `FAddD`/`FAddS` becomes `FMulAddD`/`FMulAddS`
    ///   (still two roundings).
    ///
    /// The use must come before anything redefines the first op's inputs, so it reads
    /// the same values. Run after labels are resolved, before [`Function::validate`];
    /// op indices change (targets are renumbered).
    pub fn fuse_single_uses(&mut self) {
        let (uses, defs, block_start) = self.use_def_counts();
        let mut removed = vec![false; self.code.len()];
        for (i, gone) in removed.iter_mut().enumerate() {
            let Some((t, inputs)) = fusable_result(self.code[i]) else { continue };
            if uses[t.index()] != 1 || defs[t.index()] != 1 || inputs.contains(&t) {
                continue;
            }
            if let Some((j, fused)) = self.fusion_site(i, t, inputs, &block_start) {
                self.code[j] = fused;
                *gone = true;
            }
        }
        self.remove_ops(&removed);
    }

    /// Fuses the two `float` loads at one index that a `FMulAddS` multiplies (a dot
    /// product's step, `acc + x[i] × y[i]`, as an unrolled loop has it) into that op:
    /// `FDotS`, which loads both itself. Each load's result must have that one use, the
    /// loads must be `Load32Idx` of scale 4 at the same index register and offset (an
    /// `i16`), in the op's block, with nothing between them and the op that writes
    /// memory, calls or can trap, or changes their bases or index. Run after
    /// [`Function::fuse_single_uses`] (which makes the `Load32Idx` and `FMulAddS`);
    /// op indices change (targets are renumbered).
    pub fn fuse_dot_products(&mut self) {
        let (uses, defs, block_start) = self.use_def_counts();
        let mut removed = vec![false; self.code.len()];
        for j in 0..self.code.len() {
            let Op::FMulAddS { d, a, b, c } = self.code[j] else { continue };
            if a == b || [a, b].iter().any(|r| uses[r.index()] != 1 || defs[r.index()] != 1) {
                continue;
            }
            // The ops defining `a` and `b`, found going back through `j`'s block.
            let (mut at_a, mut at_b) = (None, None);
            for k in (0..j).rev() {
                if at_a.is_none() && writes_any(self.code[k], &[a]) {
                    at_a = Some(k);
                }
                if at_b.is_none() && writes_any(self.code[k], &[b]) {
                    at_b = Some(k);
                }
                if (at_a.is_some() && at_b.is_some()) || block_start[k] {
                    break;
                }
            }
            let (Some(ka), Some(kb)) = (at_a, at_b) else { continue };
            let (
                Op::Load32Idx { a: x, b: i, scale: 4, sh: 0, off, .. },
                Op::Load32Idx { a: y, b: i2, scale: 4, sh: 0, off: off2, .. },
            ) = (self.code[ka], self.code[kb])
            else {
                continue;
            };
            let Ok(off) = i16::try_from(off) else { continue };
            if i != i2 || off as i32 != off2 || removed[ka] || removed[kb] {
                continue;
            }
            // Nothing between the first load and the op may order the loads or change
            // what they read from.
            let first = ka.min(kb);
            let clear = (first + 1..j)
                .filter(|&k| k != ka && k != kb)
                .all(|k| !writes_any(self.code[k], &[x, y, i]) && !orders_loads(self.code[k]) && !block_start[k]);
            if clear {
                self.code[j] = Op::FDotS { d, c, x, y, i, off };
                removed[ka] = true;
                removed[kb] = true;
            }
        }
        self.remove_ops(&removed);
    }

    /// Fuses a `double` op that loads an operand from `m + off` (`FAddDM`, `FSubMD`,
    /// `FMulAddDM`) and whose result's one use is the next op, a `Store64` of it back
    /// to `m + off`, into one read-modify-write op (`FAddToM`, `FSubToM`,
    /// `FMulAddToM`: a struct field's or an array element's `+=`). Run after
    /// [`Function::fuse_single_uses`]; op indices change (targets are renumbered).
    pub fn fuse_stores_back(&mut self) {
        let (uses, defs, block_start) = self.use_def_counts();
        let mut removed = vec![false; self.code.len()];
        for i in 0..self.code.len().saturating_sub(1) {
            let Op::Store64 { v, a: at, off: to } = self.code[i + 1] else { continue };
            if block_start[i + 1] || removed[i] || uses[v.index()] != 1 || defs[v.index()] != 1 {
                continue;
            }
            let fused = match self.code[i] {
                Op::FAddDM { d, a, m, off } if d == v && (m, off) == (at, to) && a != v => Op::FAddToM { m, off, a },
                Op::FSubMD { d, m, off, b } if d == v && (m, off) == (at, to) && b != v => Op::FSubToM { m, off, b },
                Op::FMulAddDM { d, a, b, m, off } if d == v && (m, off) == (at, to) && a != v && b != v => {
                    Op::FMulAddToM { m, off, a, b }
                }
                _ => continue,
            };
            self.code[i] = fused;
            removed[i + 1] = true;
        }
        self.remove_ops(&removed);
    }

    /// How many times each register is read and written, and where blocks start (op
    /// indices, and one past the end).
    fn use_def_counts(&self) -> (Vec<u32>, Vec<u32>, Vec<bool>) {
        let nregs = self.template.len();
        let (mut uses, mut defs) = (vec![0u32; nregs], vec![0u32; nregs]);
        let mut block_start = vec![false; self.code.len() + 1];
        block_start[0] = true;
        for (i, op) in self.code.iter().enumerate() {
            op.operands(|operand| match operand {
                Operand::Use(r, n) => (r.0..r.0 + n).for_each(|r| uses[r as usize] += 1),
                Operand::Def(r, n) => (r.0..r.0 + n).for_each(|r| defs[r as usize] += 1),
                Operand::Args { start, n } => {
                    for r in &self.call_args[start as usize..(start + n) as usize] {
                        uses[r.index()] += 1;
                    }
                }
                Operand::Target(t) => block_start[t as usize] = true,
                Operand::Table(t) => {
                    let table = &self.switches[t as usize];
                    for t in table.cases.iter().map(|c| c.1).chain([table.default]) {
                        block_start[t as usize] = true;
                    }
                }
                _ => {}
            });
            block_start[i + 1] |= op.ends_block();
        }
        (uses, defs, block_start)
    }

    /// Drops the ops marked `removed`; a removed op's index becomes its next kept op's.
    fn remove_ops(&mut self, removed: &[bool]) {
        let mut new_index = Vec::with_capacity(self.code.len() + 1);
        let mut kept = 0u32;
        for &r in removed {
            new_index.push(kept);
            kept += u32::from(!r);
        }
        new_index.push(kept);
        let code = std::mem::take(&mut self.code);
        self.code = code.into_iter().zip(removed).filter(|(_, r)| !**r).map(|(op, _)| op).collect();
        self.retarget(|t| new_index[t as usize]);
    }
}

impl Function {
    /// Where op `i` (result `t`, read from `inputs`) fuses, for
    /// [`Function::fuse_single_uses`]: the index of its use later in the same block
    /// and the fused op, if that use is one it fuses into and comes before anything
    /// redefines an input.
    fn fusion_site(&self, i: usize, t: Reg, inputs: [Reg; 2], block_start: &[bool]) -> Option<(usize, Op)> {
        // A load moves to its use: nothing it must stay before may lie between.
        let load = matches!(self.code[i], Op::Load64 { .. });
        for (j, &op) in self.code.iter().enumerate().skip(i + 1) {
            if block_start[j] {
                return None;
            }
            if let Some(fused) = fuse(self.code[i], op) {
                return Some((j, fused));
            }
            // Not the use it fuses into: stop at any use of `t`, at a redefinition of
            // an input and at the end of the block.
            let mut blocked = op.ends_block() || (load && orders_loads(op)) || writes_any(op, &inputs);
            op.operands(|operand| {
                if let Operand::Use(r, n) = operand {
                    blocked |= (r.0..r.0 + n).contains(&t.0);
                }
            });
            if blocked {
                return None;
            }
        }
        None
    }
}

/// For an op [`Function::fuse_single_uses`] can fuse into a later use: its result
/// register and its inputs.
fn fusable_result(op: Op) -> Option<(Reg, [Reg; 2])> {
    match op {
        Op::AddScaled { d, a, b, .. } => Some((d, [a, b])),
        Op::FMulD { d, a, b } | Op::FMulS { d, a, b } => Some((d, [a, b])),
        Op::Load64 { d, a, .. } => Some((d, [a, a])),
        _ => None,
    }
}

/// Whether `op` writes any of `regs` (a register of a wider definition included).
fn writes_any(op: Op, regs: &[Reg]) -> bool {
    let mut hit = false;
    op.operands(|operand| {
        if let Operand::Def(r, n) = operand {
            hit |= regs.iter().any(|x| (r.0..r.0 + n).contains(&x.0));
        }
    });
    hit
}

/// Whether a load may not move past `op`: it may write memory (a store, a call), or
/// trap (a fault must stay where the program had it).
fn orders_loads(op: Op) -> bool {
    let mut calls = false;
    op.operands(|operand| calls |= matches!(operand, Operand::Args { .. } | Operand::Message(_)));
    calls
        || matches!(
            op,
            Op::Store8 { .. }
                | Op::Store16 { .. }
                | Op::Store32 { .. }
                | Op::Store64 { .. }
                | Op::Store8Idx { .. }
                | Op::Store16Idx { .. }
                | Op::Store32Idx { .. }
                | Op::Store64Idx { .. }
                | Op::AtomicXchg { .. }
                | Op::AtomicAdd { .. }
                | Op::MemMove { .. }
                | Op::MemSet { .. }
                | Op::UDiv { .. }
                | Op::URem { .. }
                | Op::SDiv { .. }
                | Op::SRem { .. }
        )
}

/// `first` (a [`fusable_result`] op) fused into `then`, if `then` is the use it fuses
/// into: reads `first`'s result once, as the operand the fused op replaces.
fn fuse(first: Op, then: Op) -> Option<Op> {
    match (first, then) {
        (Op::AddScaled { d: t, a, b, scale, sh }, access) => {
            let scale = i32::try_from(scale).ok()?;
            match access {
                Op::Load8 { d, a: p, off } if p == t => Some(Op::Load8Idx { d, a, b, scale, sh, off }),
                Op::Load16 { d, a: p, off } if p == t => Some(Op::Load16Idx { d, a, b, scale, sh, off }),
                Op::Load32 { d, a: p, off } if p == t => Some(Op::Load32Idx { d, a, b, scale, sh, off }),
                Op::Load64 { d, a: p, off } if p == t => Some(Op::Load64Idx { d, a, b, scale, sh, off }),
                Op::Store8 { v, a: p, off } if p == t && v != t => Some(Op::Store8Idx { v, a, b, scale, sh, off }),
                Op::Store16 { v, a: p, off } if p == t && v != t => Some(Op::Store16Idx { v, a, b, scale, sh, off }),
                Op::Store32 { v, a: p, off } if p == t && v != t => Some(Op::Store32Idx { v, a, b, scale, sh, off }),
                Op::Store64 { v, a: p, off } if p == t && v != t => Some(Op::Store64Idx { v, a, b, scale, sh, off }),
                _ => None,
            }
        }
        (Op::FMulD { d: t, a, b }, Op::FAddD { d, a: x, b: y }) if (x == t) != (y == t) => {
            Some(Op::FMulAddD { d, a, b, c: if x == t { y } else { x } })
        }
        (Op::FMulS { d: t, a, b }, Op::FAddS { d, a: x, b: y }) if (x == t) != (y == t) => {
            Some(Op::FMulAddS { d, a, b, c: if x == t { y } else { x } })
        }
        (Op::FMulD { d: t, a, b }, Op::FAddDM { d, a: x, m, off }) if x == t && a != t && b != t => {
            Some(Op::FMulAddDM { d, a, b, m, off })
        }
        // A `double` loaded for one arithmetic op: the op reads it from memory.
        (Op::Load64 { d: t, a: m, off }, then) => match then {
            Op::FAddD { d, a: x, b: y } | Op::FMulD { d, a: x, b: y } if (x == t) != (y == t) => {
                let a = if x == t { y } else { x };
                Some(match then {
                    Op::FAddD { .. } => Op::FAddDM { d, a, m, off },
                    _ => Op::FMulDM { d, a, m, off },
                })
            }
            Op::FSubD { d, a: x, b: y } if y == t && x != t => Some(Op::FSubDM { d, a: x, m, off }),
            Op::FSubD { d, a: x, b: y } if x == t && y != t => Some(Op::FSubMD { d, m, off, b: y }),
            Op::FMulAddD { d, a, b, c } if c == t && a != t && b != t => Some(Op::FMulAddDM { d, a, b, m, off }),
            // A second load into one already fused: both operands from memory.
            Op::FSubMD { d, m: m1, off: off1, b } if b == t && m1 != t => {
                Some(Op::FSubMM { d, m: m1, off: off1, m2: m, off2: off })
            }
            Op::FSubDM { d, a, m: m2, off: off2 } if a == t && m2 != t => Some(Op::FSubMM { d, m, off, m2, off2 }),
            _ => None,
        },
        _ => None,
    }
}

/// The ops of a control-flow edge: its sequenced moves (from [`sequence_moves`]) two
/// at a time, the last one or two fused with the jump to `target`.
pub fn edge_ops(moves: &[(Reg, Reg)], target: u32) -> Vec<Op> {
    let tail_len = if moves.len() % 2 == 1 { 1 } else { moves.len().min(2) };
    let (pairs, tail) = moves.split_at(moves.len() - tail_len);
    let mut ops: Vec<Op> =
        pairs.chunks(2).map(|p| Op::Move2 { d: p[0].0, a: p[0].1, d2: p[1].0, a2: p[1].1 }).collect();
    ops.push(match *tail {
        [] => Op::Jump { t: target },
        [(d, a)] => Op::MoveJump { d, a, t: target },
        [(d, a), (d2, a2)] => Op::Move2Jump { d, a, d2, a2, t: target },
        _ => unreachable!("the tail is at most two moves"),
    });
    ops
}

/// Orders the parallel moves of a control-flow edge (phi `dst ← src`, all at once;
/// destinations distinct) into sequential `(dst, src)` moves.
///
/// A move goes as soon as no move still to come reads its destination, so chains (a
/// rotation of registers, `d ← c ← b ← a`) need no temporary; only a cycle (a swap)
/// does: one of its destinations is saved in a `temp` register (from `next_temp`,
/// counting up) and read from there.
pub fn sequence_moves(moves: &[(Reg, Reg)], next_temp: &mut Reg) -> Vec<(Reg, Reg)> {
    let mut pending: Vec<(Reg, Reg)> = moves.iter().copied().filter(|(d, s)| d != s).collect();
    let mut out = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let free = |d: Reg, pending: &[(Reg, Reg)]| !pending.iter().any(|&(_, s)| s == d);
        if let Some(i) = pending.iter().position(|&(d, _)| free(d, &pending)) {
            out.push(pending.remove(i));
            continue;
        }
        // Every destination left is still to be read: they form cycles. Save one.
        let (d, _) = pending[0];
        let t = *next_temp;
        *next_temp = t + 1;
        out.push((t, d));
        for (_, s) in pending.iter_mut().filter(|(_, s)| *s == d) {
            *s = t;
        }
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
        // A chain (a rotation of registers with a new value at one end: 2 <- 1 <- 0,
        // 3 <- 2) needs no temporary, in any order given.
        let mut t = Reg(100);
        let seq = sequence_moves(&[(Reg(1), Reg(0)), (Reg(2), Reg(1)), (Reg(3), Reg(2))], &mut t);
        assert_eq!(seq, vec![(Reg(3), Reg(2)), (Reg(2), Reg(1)), (Reg(1), Reg(0))]);
        assert_eq!(t, Reg(100));
        // A three-cycle takes one temporary and one move more.
        let mut t = Reg(100);
        let seq = sequence_moves(&[(Reg(1), Reg(2)), (Reg(2), Reg(3)), (Reg(3), Reg(1)), (Reg(4), Reg(1))], &mut t);
        assert_eq!((seq.len(), t), (5, Reg(101)));
        let mut regs: Vec<u64> = (0..110).collect();
        for (d, s) in &seq {
            regs[d.index()] = regs[s.index()];
        }
        assert_eq!(regs[1..5], [2, 3, 1, 1]);
    }

    /// Runs straight-line ops of the move kinds over `regs`; returns the final jump's
    /// target, if any.
    fn run_moves(ops: &[Op], regs: &mut [u64]) -> Option<u32> {
        let mut target = None;
        for op in ops {
            match *op {
                Op::Move2 { d, a, d2, a2 } => {
                    regs[d.index()] = regs[a.index()];
                    regs[d2.index()] = regs[a2.index()];
                }
                Op::MoveJump { d, a, t } => {
                    regs[d.index()] = regs[a.index()];
                    target = Some(t);
                }
                Op::Move2Jump { d, a, d2, a2, t } => {
                    regs[d.index()] = regs[a.index()];
                    regs[d2.index()] = regs[a2.index()];
                    target = Some(t);
                }
                Op::Jump { t } => target = Some(t),
                other => panic!("not an edge op: {other:?}"),
            }
        }
        target
    }

    #[test]
    fn edge_ops_pair_the_moves_and_fuse_the_last_with_the_jump() {
        for n in 0..7u32 {
            // A rotation of n registers (d_i <- s_{i+1}), sequenced through temps.
            let moves: Vec<(Reg, Reg)> = (0..n).map(|i| (Reg(i), Reg((i + 1) % n))).collect();
            let mut next_temp = Reg(50);
            let seq = sequence_moves(&moves, &mut next_temp);
            let ops = edge_ops(&seq, 7);
            assert_eq!(ops.len(), seq.len().div_ceil(2).max(1), "{n} moves: {ops:?}");
            assert!(ops.last().unwrap().ends_block() && ops[..ops.len() - 1].iter().all(|op| !op.ends_block()));
            let mut regs: Vec<u64> = (0..60).map(|i| i * 10).collect();
            assert_eq!(run_moves(&ops, &mut regs), Some(7));
            for (i, &value) in regs.iter().enumerate().take(n as usize) {
                let from = if n == 1 { i } else { (i + 1) % n as usize };
                assert_eq!(value, from as u64 * 10, "{n} moves: register {i}");
            }
        }
    }

    #[test]
    fn jump_threading_copies_block_enders_and_skips_jump_chains() {
        let mut f = Function {
            code: vec![
                Op::Branch { c: Reg(0), t: 3, f: 1 }, // 0: both targets end at the Ret
                Op::Jump { t: 5 },                    // 1: to a Ret: copied
                Op::Jump { t: 6 },                    // 2: to a plain op: kept
                Op::Jump { t: 4 },                    // 3
                Op::Jump { t: 5 },                    // 4
                Op::Ret { a: Reg(1), n: 1 },          // 5
                Op::Move { d: Reg(1), a: Reg(0) },    // 6
                Op::Jump { t: 7 },                    // 7: a loop of one jump stays
                Op::Switch { a: Reg(0), table: 0 },   // 8
            ],
            template: vec![0, 0],
            switches: vec![SwitchTable { cases: vec![(1, 4)], default: 3 }],
            ..Default::default()
        };
        f.thread_jumps();
        assert_eq!(f.code[0], Op::Branch { c: Reg(0), t: 5, f: 5 });
        assert_eq!(f.code[1], Op::Ret { a: Reg(1), n: 1 });
        assert_eq!(f.code[2], Op::Jump { t: 6 });
        assert_eq!(f.code[7], Op::Jump { t: 7 });
        assert_eq!(f.switches[0], SwitchTable { cases: vec![(1, 5)], default: 5 });
        f.validate().unwrap();
    }

    #[test]
    fn return_tails_are_copied_into_edges_reading_the_moves_sources() {
        let add = |d: u32, a: u32, b: u32| Op::Add { d: Reg(d), a: Reg(a), b: Reg(b), mask: u64::MAX };
        let mut f = Function {
            code: vec![
                Op::BrUlt { a: Reg(0), b: Reg(1), t: 3, f: 4 },                       // 0
                add(5, 3, 4),                                                         // 1: the tail
                Op::Ret { a: Reg(5), n: 1 },                                          // 2
                Op::Move2Jump { d: Reg(3), a: Reg(0), d2: Reg(4), a2: Reg(1), t: 1 }, // 3: copied
                Op::MoveJump { d: Reg(3), a: Reg(5), t: 1 },                          // 4: the tail writes r5
            ],
            template: vec![0; 6],
            ..Default::default()
        };
        f.duplicate_return_tails();
        f.validate().unwrap();
        assert_eq!(f.code[0], Op::BrUlt { a: Reg(0), b: Reg(1), t: 5, f: 4 });
        assert_eq!(f.code[5..], [add(5, 0, 1), Op::Ret { a: Reg(5), n: 1 }]);
        assert_eq!(f.code.len(), 7, "one copy: {:?}", f.code);
    }

    #[test]
    fn dot_product_steps_fuse_their_two_loads_unless_memory_changes_between() {
        let load = |d: u32, a: u32, off: i32| Op::Load32Idx { d: Reg(d), a: Reg(a), b: Reg(3), scale: 4, sh: 0, off };
        let fma = |d: u32, a: u32, b: u32, c: u32| Op::FMulAddS { d: Reg(d), a: Reg(a), b: Reg(b), c: Reg(c) };
        let mut f = Function {
            code: vec![
                load(10, 1, 0),                                // 0: fused
                load(11, 2, 0),                                // 1: fused
                fma(12, 10, 11, 4),                            // 2: FDotS
                load(13, 1, 4),                                // 3
                load(14, 2, 4),                                // 4
                Op::Store32 { v: Reg(12), a: Reg(1), off: 4 }, // 5: between: no fusion
                fma(15, 13, 14, 12),                           // 6
                load(16, 1, 8),                                // 7
                load(17, 2, 12),                               // 8: another offset: no fusion
                fma(18, 16, 17, 15),                           // 9
                Op::Ret { a: Reg(18), n: 1 },                  // 10
            ],
            template: vec![0; 20],
            ..Default::default()
        };
        f.fuse_dot_products();
        f.validate().unwrap();
        assert_eq!(f.code[0], Op::FDotS { d: Reg(12), c: Reg(4), x: Reg(1), y: Reg(2), i: Reg(3), off: 0 });
        assert_eq!(f.code.len(), 9, "only the first step fused: {:?}", f.code);
        assert_eq!(f.code[4], fma(15, 13, 14, 12));
    }

    #[test]
    fn results_stored_back_where_they_were_loaded_from_become_one_op() {
        let mut f = Function {
            code: vec![
                Op::FSubMD { d: Reg(5), m: Reg(1), off: 8, b: Reg(2) }, // 0
                Op::Store64 { v: Reg(5), a: Reg(1), off: 8 },           // 1: fused into 0
                Op::FAddDM { d: Reg(6), a: Reg(2), m: Reg(1), off: 0 }, // 2
                Op::Store64 { v: Reg(6), a: Reg(1), off: 16 },          // 3: elsewhere: kept
                Op::FMulAddDM { d: Reg(7), a: Reg(2), b: Reg(3), m: Reg(1), off: 24 },
                Op::Store64 { v: Reg(7), a: Reg(1), off: 24 }, // 5: fused into 4
                Op::Ret { a: Reg(6), n: 1 },
            ],
            template: vec![0; 8],
            ..Default::default()
        };
        f.fuse_stores_back();
        f.validate().unwrap();
        assert_eq!(
            f.code,
            [
                Op::FSubToM { m: Reg(1), off: 8, b: Reg(2) },
                Op::FAddDM { d: Reg(6), a: Reg(2), m: Reg(1), off: 0 },
                Op::Store64 { v: Reg(6), a: Reg(1), off: 16 },
                Op::FMulAddToM { m: Reg(1), off: 24, a: Reg(2), b: Reg(3) },
                Op::Ret { a: Reg(6), n: 1 },
            ]
        );
    }

    #[test]
    fn single_uses_are_fused_only_where_they_read_the_same_values() {
        let scaled = |d: u32, b: u32| Op::AddScaled { d: Reg(d), a: Reg(0), b: Reg(b), scale: 4, sh: 0 };
        let mut f = Function {
            code: vec![
                scaled(10, 1),                                                // 0: fused into 2
                Op::Add { d: Reg(20), a: Reg(1), b: Reg(1), mask: u64::MAX }, // 1
                Op::Load32 { d: Reg(21), a: Reg(10), off: -4 },               // 2
                scaled(11, 1),                                                // 3: used twice
                Op::Load32 { d: Reg(22), a: Reg(11), off: 0 },                // 4
                Op::Store32 { v: Reg(22), a: Reg(11), off: 0 },               // 5
                scaled(12, 2),                                                // 6: input redefined first
                Op::Move { d: Reg(2), a: Reg(1) },                            // 7
                Op::Store64 { v: Reg(1), a: Reg(12), off: 0 },                // 8
                scaled(13, 1),                                                // 9: access in the next block
                Op::Jump { t: 11 },                                           // 10
                Op::Load8 { d: Reg(23), a: Reg(13), off: 0 },                 // 11
                scaled(14, 1),                                                // 12: fused into 13
                Op::Store8 { v: Reg(23), a: Reg(14), off: 1 },                // 13
                Op::Branch { c: Reg(23), t: 12, f: 15 },                      // 14: 12 is removed
                Op::Ret { a: Reg(0), n: 0 },                                  // 15
            ],
            template: vec![0; 30],
            ..Default::default()
        };
        f.fuse_single_uses();
        f.validate().unwrap();
        let idx = |b: u32, off: i32| (Reg(0), Reg(b), 4, 0, off);
        // Ops 0 and 12 are gone: everything after them moves up.
        assert!(matches!(f.code[0], Op::Add { .. }));
        assert_eq!(f.code[1], {
            let (a, b, scale, sh, off) = idx(1, -4);
            Op::Load32Idx { d: Reg(21), a, b, scale, sh, off }
        });
        assert_eq!(f.code[2], scaled(11, 1));
        assert_eq!(f.code[5], scaled(12, 2));
        assert_eq!(f.code[8], scaled(13, 1));
        assert_eq!(f.code[9], Op::Jump { t: 10 });
        assert_eq!(f.code[11], {
            let (a, b, scale, sh, off) = idx(1, 1);
            Op::Store8Idx { v: Reg(23), a, b, scale, sh, off }
        });
        assert_eq!(f.code[12], Op::Branch { c: Reg(23), t: 11, f: 13 });
        assert_eq!(f.code.len(), 14);
    }

    #[test]
    fn a_multiply_used_once_by_an_add_becomes_one_op() {
        let mut f = Function {
            code: vec![
                Op::FMulD { d: Reg(5), a: Reg(1), b: Reg(2) },
                Op::FMulS { d: Reg(6), a: Reg(1), b: Reg(2) }, // used twice: kept
                Op::FAddD { d: Reg(7), a: Reg(3), b: Reg(5) },
                Op::FAddS { d: Reg(8), a: Reg(6), b: Reg(6) },
                Op::Ret { a: Reg(7), n: 1 },
            ],
            template: vec![0; 10],
            ..Default::default()
        };
        f.fuse_single_uses();
        assert_eq!(
            f.code,
            [
                Op::FMulS { d: Reg(6), a: Reg(1), b: Reg(2) },
                Op::FMulAddD { d: Reg(7), a: Reg(1), b: Reg(2), c: Reg(3) },
                Op::FAddS { d: Reg(8), a: Reg(6), b: Reg(6) },
                Op::Ret { a: Reg(7), n: 1 },
            ]
        );
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
