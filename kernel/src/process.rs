//! Starting the program: glibc's `_start` on a normal Linux initial process stack.
//!
//! The FLUD command line becomes argv and envp: words starting with `bf.` are the
//! kernel's own options and are left out, `NAME=value` words (NAME made of letters,
//! digits and `_`, not starting with a digit) become environment variables, everything
//! else is an argument after `argv[0] = "bareflow"`.

use linux_abi::auxv::{AT_EXECFN, AT_NULL, AT_PLATFORM, AT_RANDOM};

/// `argv[0]` of the program.
pub const PROGRAM_NAME: &str = "bareflow";

fn is_env_word(word: &str) -> bool {
    let Some((name, _)) = word.split_once('=') else { return false };
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The program's arguments after `argv[0]`, from the command line.
pub fn arguments(cmdline: &str) -> impl Iterator<Item = &str> {
    cmdline.split_ascii_whitespace().filter(|w| !w.starts_with("bf.") && !is_env_word(w))
}

/// The program's environment, from the command line.
pub fn environment(cmdline: &str) -> impl Iterator<Item = &str> {
    cmdline.split_ascii_whitespace().filter(|w| !w.starts_with("bf.") && is_env_word(w))
}

/// Puts `words` into `slots` as byte strings, as many as fit; returns how many.
pub fn fill_slots<'a>(slots: &mut [&'a [u8]], words: impl Iterator<Item = &'a str>) -> usize {
    let mut n = 0;
    for (slot, word) in slots.iter_mut().zip(words) {
        *slot = word.as_bytes();
        n += 1;
    }
    n
}

/// The stack did not fit in the memory given.
#[derive(Debug, PartialEq, Eq)]
pub struct StackTooSmall;

/// Lays out a Linux initial process stack in `memory`, which is the bytes just below
/// address `top`. Returns the RSP for `_start` (16-byte aligned, pointing at argc).
///
/// From RSP up: argc, argv pointers, NULL, envp pointers, NULL, auxv pairs (`auxv`
/// plus AT_RANDOM, AT_EXECFN, AT_PLATFORM, AT_NULL); above them the strings and the 16
/// random bytes.
pub fn build_stack(
    memory: &mut [u8],
    top: u64,
    argv: &[&[u8]],
    envp: &[&[u8]],
    auxv: &[(u64, u64)],
    random: [u8; 16],
) -> Result<u64, StackTooSmall> {
    let base = top - memory.len() as u64;
    let mut sp = top;
    let mut put = |bytes: &[u8], sp: &mut u64| -> Result<u64, StackTooSmall> {
        *sp = sp.checked_sub(bytes.len() as u64).filter(|&s| s >= base).ok_or(StackTooSmall)?;
        let off = (*sp - base) as usize;
        memory[off..off + bytes.len()].copy_from_slice(bytes);
        Ok(*sp)
    };
    let random_at = put(&random, &mut sp)?;
    let platform_at = put(b"x86_64\0", &mut sp)?;
    let mut string = |s: &[u8], sp: &mut u64| -> Result<u64, StackTooSmall> {
        put(&[0], sp)?;
        put(s, sp)
    };
    let mut argv_at = [0u64; 256];
    let mut envp_at = [0u64; 256];
    if argv.len() > argv_at.len() || envp.len() > envp_at.len() {
        return Err(StackTooSmall);
    }
    for (i, a) in argv.iter().enumerate() {
        argv_at[i] = string(a, &mut sp)?;
    }
    for (i, e) in envp.iter().enumerate() {
        envp_at[i] = string(e, &mut sp)?;
    }
    let execfn = if argv.is_empty() { 0 } else { argv_at[0] };
    let extra = [(AT_RANDOM, random_at), (AT_EXECFN, execfn), (AT_PLATFORM, platform_at), (AT_NULL, 0)];
    let words = 1 + argv.len() + 1 + envp.len() + 1 + 2 * (auxv.len() + extra.len());
    sp = (sp & !15).checked_sub(words as u64 * 8).ok_or(StackTooSmall)? & !15;
    if sp < base {
        return Err(StackTooSmall);
    }
    let mut at = sp;
    let mut word = |v: u64| {
        let off = (at - base) as usize;
        memory[off..off + 8].copy_from_slice(&v.to_le_bytes());
        at += 8;
    };
    word(argv.len() as u64);
    argv_at[..argv.len()].iter().for_each(|&p| word(p));
    word(0);
    envp_at[..envp.len()].iter().for_each(|&p| word(p));
    word(0);
    for &(k, v) in auxv.iter().chain(extra.iter()) {
        word(k);
        word(v);
    }
    Ok(sp)
}

/// Switches to `rsp` and jumps to glibc's `_start`, as a Linux kernel starts a static
/// program (RDX = 0: no dynamic-linker finaliser).
///
/// # Safety
/// `rsp` must come from [`build_stack`] on mapped stack memory, and the machine layer
/// (descriptor tables, SYSCALL, page tables, memory) must be up.
pub unsafe fn enter_program(rsp: u64) -> ! {
    // SAFETY: forwarded from the caller's contract; `_start` never returns.
    unsafe {
        core::arch::asm!(
            "mov rsp, {rsp}",
            "xor edx, edx",
            "xor ebp, ebp",
            "jmp _start",
            rsp = in(reg) rsp,
            options(noreturn)
        )
    }
}

#[cfg(test)]
mod tests {
    use linux_abi::auxv::AT_PAGESZ;

    use super::*;

    #[test]
    fn command_line_splits_into_kernel_options_args_and_env() {
        let cmd = "bf.fault=page --exit=3 RUST_BACKTRACE=1 hello a=b=c 9X=1 x";
        assert_eq!(arguments(cmd).collect::<Vec<_>>(), ["--exit=3", "hello", "9X=1", "x"]);
        assert_eq!(environment(cmd).collect::<Vec<_>>(), ["RUST_BACKTRACE=1", "a=b=c"]);
        assert_eq!(arguments("").count(), 0);
    }

    fn read_u64(mem: &[u8], base: u64, addr: u64) -> u64 {
        let off = (addr - base) as usize;
        u64::from_le_bytes(mem[off..off + 8].try_into().unwrap())
    }

    fn read_str(mem: &[u8], base: u64, addr: u64) -> String {
        let off = (addr - base) as usize;
        let end = mem[off..].iter().position(|&b| b == 0).unwrap();
        String::from_utf8(mem[off..off + end].to_vec()).unwrap()
    }

    #[test]
    fn stack_follows_the_linux_layout() {
        let mut mem = vec![0u8; 4096];
        let top = 0x8000_0000u64;
        let base = top - 4096;
        let rsp =
            build_stack(&mut mem, top, &[b"bareflow", b"--exit=3"], &[b"A=1"], &[(AT_PAGESZ, 4096)], [7; 16]).unwrap();
        assert_eq!(rsp % 16, 0);
        assert_eq!(read_u64(&mem, base, rsp), 2, "argc");
        assert_eq!(read_str(&mem, base, read_u64(&mem, base, rsp + 8)), "bareflow");
        assert_eq!(read_str(&mem, base, read_u64(&mem, base, rsp + 16)), "--exit=3");
        assert_eq!(read_u64(&mem, base, rsp + 24), 0);
        assert_eq!(read_str(&mem, base, read_u64(&mem, base, rsp + 32)), "A=1");
        assert_eq!(read_u64(&mem, base, rsp + 40), 0);
        let mut aux = std::collections::HashMap::new();
        let mut at_ = rsp + 48;
        loop {
            let (k, v) = (read_u64(&mem, base, at_), read_u64(&mem, base, at_ + 8));
            at_ += 16;
            if k == AT_NULL {
                break;
            }
            aux.insert(k, v);
        }
        assert_eq!(aux[&AT_PAGESZ], 4096);
        let random = aux[&AT_RANDOM];
        assert_eq!(&mem[(random - base) as usize..(random - base) as usize + 16], &[7; 16]);
        assert_eq!(read_str(&mem, base, aux[&AT_EXECFN]), "bareflow");
        assert_eq!(read_str(&mem, base, aux[&AT_PLATFORM]), "x86_64");
    }

    #[test]
    fn too_small_a_stack_is_an_error() {
        let mut mem = vec![0u8; 64];
        assert_eq!(build_stack(&mut mem, 0x1000, &[b"bareflow".as_slice(); 4], &[], &[], [0; 16]), Err(StackTooSmall));
    }
}
