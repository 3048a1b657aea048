//! The kernel's first instructions.
//!
//! `bareflow_entry` is the ELF entry point (see `linker.ld`). The same ELF runs in two
//! worlds, told apart by the privilege level in CS:
//!
//! * **Linux program** (CPL 3): jump straight to glibc's `_start`; `main` runs as in any
//!   static Linux executable. This keeps the link line honest (BRIEF §3).
//! * **Bare metal** (CPL 0, entered by stage2 with RDI = boot info): read the TSC,
//!   zero BSS, switch to the boot stack, enable SSE/AVX/XSAVE before any Rust code runs
//!   (Rust for `x86_64-unknown-linux-gnu` uses SSE everywhere), resolve glibc's IFUNC
//!   relocations (Rust calls `memcpy`/`memset` through them), then call the kernel's
//!   `kernel_start` (main.rs) by its `#[no_mangle]` symbol name.

use core::arch::global_asm;

/// Size of the stack `kernel_start` runs on.
pub const BOOT_STACK_SIZE: usize = 256 * 1024;

/// The boot stack. It lives in BSS, which is zeroed before the stack is first used.
#[repr(C, align(16))]
pub struct BootStack(pub [u8; BOOT_STACK_SIZE]);

/// Backing memory of the boot stack; only its address is used (by the entry code).
#[unsafe(no_mangle)]
pub static mut BOOT_STACK: BootStack = BootStack([0; BOOT_STACK_SIZE]);

// XCR0 bits we enable when the CPU supports them: x87, SSE, AVX, and the three AVX-512
// state components (opmask, ZMM_Hi256, Hi16_ZMM).
//
// Not in host unit-test builds: those link dynamically against libc.so, which does not
// export the glibc-internal symbols the IFUNC fix-up below refers to.
#[cfg(not(test))]
global_asm!(
    r#"
    .section .text.bareflow_entry, "ax"
    .global bareflow_entry
    .type bareflow_entry, @function
bareflow_entry:
    mov ax, cs
    test ax, 3
    jnz _start                       # CPL 3: started as a Linux program

    rdtsc                            # TSC at kernel entry, before anything else
    shl rdx, 32
    or rax, rdx
    mov r12, rax
    mov r13, rdi                     # boot-info pointer from stage2
    cld

    lea rdi, [rip + __bss_start]     # zero BSS (no stack needed)
    lea rcx, [rip + _end]
    sub rcx, rdi
    xor eax, eax
    rep stosb

    lea rsp, [rip + BOOT_STACK + {stack_size}]
    xor ebp, ebp

    mov rax, cr0                     # SSE: CR0.EM = 0, CR0.MP = 1, CR0.NE = 1
    and rax, ~(1 << 2)
    or rax, (1 << 1) | (1 << 5)
    mov cr0, rax
    mov rax, cr4                     # CR4.OSFXSR | CR4.OSXMMEXCPT
    or rax, (1 << 9) | (1 << 10)
    mov cr4, rax

    mov eax, 1
    cpuid
    bt ecx, 26                       # XSAVE supported?
    jnc 2f
    mov rax, cr4
    or rax, (1 << 18)                # CR4.OSXSAVE
    mov cr4, rax
    mov eax, 0xd                     # supported XCR0 bits
    xor ecx, ecx
    cpuid
    and eax, 0xe7                    # x87 | SSE | AVX | opmask | ZMM_Hi256 | Hi16_ZMM
    test eax, 0x04
    jnz 1f
    and eax, 0x03                    # no AVX: AVX-512 state may not be enabled either
1:
    xor edx, edx
    xor ecx, ecx
    xsetbv
2:
    fninit
    # MXCSR keeps its reset value 0x1F80 (all SIMD exceptions masked); no LDMXCSR,
    # which KVM's instruction emulator (used for everything under kvm_pvm) lacks.

    # Resolve glibc's IFUNCs (memcpy, memset, strlen, ...): in a static executable the
    # PLT slots stay unrelocated until __libc_start_main applies the IRELATIVE entries,
    # and Rust code calls them from the first line. cpu_features is still zero here, so
    # the resolvers pick the baseline (SSE2) variants, correct on every x86-64 CPU.
    # memmove's size thresholds are BSS that glibc's cache probe would fill; zero sends
    # every copy down the non-temporal path for huge blocks, so give them glibc's own
    # default: 3/4 of the (statically initialised) shared cache size.
    mov rax, [rip + __x86_shared_cache_size]
    lea rax, [rax + rax * 2]
    shr rax, 2
    mov [rip + __x86_shared_non_temporal_threshold], rax
    mov [rip + __x86_rep_movsb_stop_threshold], rax
    lea rbx, [rip + __rela_iplt_start]
3:
    lea rax, [rip + __rela_iplt_end]
    cmp rbx, rax
    jae 4f
    cmp dword ptr [rbx + 8], 37      # ELF64_R_TYPE(r_info) == R_X86_64_IRELATIVE
    jne 5f
    call qword ptr [rbx + 16]        # r_addend: the resolver; returns the implementation
    mov rcx, [rbx]                   # r_offset: the GOT slot
    mov [rcx], rax
5:
    add rbx, 24                      # sizeof(Elf64_Rela)
    jmp 3b
4:
    mov rdi, r13
    mov rsi, r12
    call kernel_start
    ud2
    .size bareflow_entry, . - bareflow_entry
    "#,
    stack_size = const BOOT_STACK_SIZE,
);

// Host unit-test builds link through the same script (cargo passes `-bins` link args to
// a binary's test harness too), so they need the entry symbol: straight to glibc.
#[cfg(test)]
global_asm!(
    r#"
    .section .text.bareflow_entry, "ax"
    .global bareflow_entry
bareflow_entry:
    jmp _start
    "#
);
