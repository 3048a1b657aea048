//! The BIOS fallback: INT 13h extended reads and writes, called from long mode by
//! dropping to real mode for the call and coming back.
//!
//! For disks no driver handles (a USB stick on real hardware, `-device usb-storage` in
//! QEMU), the firmware that booted the machine still can. [`bios_call`] saves the
//! CPU state (GDT, IDT, RSP, FS/GS bases), loads a small GDT in low memory, goes
//! 64-bit → compatibility mode (in kernel text) → paging off, LME off → 16-bit
//! protected mode → real mode (in a blob copied to [`TRAMPOLINE`]), restores the
//! real-mode IVT, runs `int 0x13` with interrupts enabled (the BIOS's USB and timer
//! code may need them), and returns the same way: protected mode, LME on, paging on
//! (the same CR3), 64-bit, the kernel's GDT and IDT. CR3, CR4 and EFER's other bits are
//! never changed, so the call works before glibc and from the program's syscalls alike.
//!
//! Low memory used (the kernel never hands out the first MiB): 0x20000 code, GDT,
//! register block and save area; 0x21000 the disk address packet; up to 0x2FFF0 the
//! real-mode stack; 0x30000–0x3FFFF the transfer buffer (64 sectors per call).
//! A BIOS call cannot be timed out; it blocks until the firmware returns.

use core::sync::atomic::{AtomicBool, Ordering};

use super::{BlockDevice, BlockError, SECTOR_SIZE, check_request, for_each_piece};

/// Where the real-mode part and its data live (segment 0x2000).
pub const TRAMPOLINE: u64 = 0x20000;
const GDT: u64 = TRAMPOLINE + 0x800;
const GDTR: u64 = TRAMPOLINE + 0x840;
const IVTR: u64 = TRAMPOLINE + 0x850;
const REGS: u64 = TRAMPOLINE + 0x900;
const DAP: u64 = TRAMPOLINE + 0x1000;
const PARAMS: u64 = TRAMPOLINE + 0x1100;
/// The transfer buffer (segment 0x3000).
const BUFFER: u64 = 0x30000;
/// Sectors per INT 13h call (32 KiB; some BIOSes take at most 127).
const SECTORS_PER_CALL: usize = 64;

/// Registers in and out of a BIOS call (at [`REGS`]; offsets fixed for the assembly).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BiosRegs {
    /// EAX.
    pub eax: u32,
    /// EBX.
    pub ebx: u32,
    /// ECX.
    pub ecx: u32,
    /// EDX.
    pub edx: u32,
    /// ESI.
    pub esi: u32,
    /// EDI.
    pub edi: u32,
    /// DS (real-mode segment).
    pub ds: u16,
    /// ES (real-mode segment).
    pub es: u16,
    /// FLAGS after the call (bit 0: carry = error).
    pub flags: u16,
    /// Padding.
    pub pad: u16,
}

impl BiosRegs {
    /// Whether the call reported failure through the carry flag.
    pub fn carry(&self) -> bool {
        self.flags & 1 != 0
    }
}

/// The INT 13h disk address packet.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct DiskAddressPacket {
    /// 0x10.
    pub size: u8,
    /// Zero.
    pub reserved: u8,
    /// Sectors to transfer.
    pub count: u16,
    /// Buffer offset.
    pub offset: u16,
    /// Buffer segment.
    pub segment: u16,
    /// First sector.
    pub lba: u64,
}

/// A flat GDT descriptor for `base`, `limit` (byte granular when < 1 MiB) and access/flags.
pub const fn descriptor(base: u32, limit: u32, access: u8, flags: u8) -> u64 {
    (limit as u64 & 0xffff)
        | ((base as u64 & 0xff_ffff) << 16)
        | ((access as u64) << 40)
        | (((limit as u64 >> 16) & 0xf) << 48)
        | (((flags as u64) & 0xf) << 52)
        | (((base as u64) >> 24) << 56)
}

/// The trampoline's GDT: null, 64-bit code (0x08), 32-bit code (0x10), 32-bit data
/// (0x18), 16-bit code at [`TRAMPOLINE`] (0x20), 16-bit data at 0 (0x28).
pub const TRAMPOLINE_GDT: [u64; 6] = [
    0,
    descriptor(0, 0xfffff, 0x9a, 0xa),
    descriptor(0, 0xfffff, 0x9a, 0xc),
    descriptor(0, 0xfffff, 0x92, 0xc),
    descriptor(TRAMPOLINE as u32, 0xffff, 0x9a, 0x0),
    descriptor(0, 0xffff, 0x92, 0x0),
];

core::arch::global_asm!(
    r#"
    .section .text.bf_bios_call, "ax"
    .global bf_bios_call
    .code64
bf_bios_call:
    push rbx
    push rbp
    push r12
    push r13
    push r14
    push r15
    pushfq
    cli
    # save FS/GS bases (real mode clobbers them), GDTR, IDTR, RSP
    sub rsp, 48
    mov ecx, 0xC0000100
    rdmsr
    mov [rsp + 32], eax
    mov [rsp + 36], edx
    mov ecx, 0xC0000101
    rdmsr
    mov [rsp + 40], eax
    mov [rsp + 44], edx
    sgdt [rsp]
    sidt [rsp + 16]
    mov [{save_rsp}], rsp
    lgdt [{gdtr}]
    push 0x10
    lea rax, [rip + 2f]
    push rax
    retfq
    .code32
2:
    mov ax, 0x18
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov eax, cr0
    and eax, 0x7fffffff
    mov cr0, eax
    mov ecx, 0xC0000080
    rdmsr
    and eax, 0xfffffeff
    wrmsr
    .byte 0xea
    .long bf_bios_pm16 - bf_bios_blob
    .word 0x20

    .section .rodata.bf_bios_blob, "a"
    .code16
    .global bf_bios_blob
bf_bios_blob:
bf_bios_pm16:
    mov ax, 0x28
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov eax, cr0
    and al, 0xfe
    mov cr0, eax
    .byte 0xea
    .word 3f - bf_bios_blob
    .word 0x2000
3:
    mov ax, 0x2000
    mov ds, ax
    mov ss, ax
    mov sp, 0xfff0
    lidt [{ivtr_off}]
    mov eax, [{regs_off} + 0]
    mov ebx, [{regs_off} + 4]
    mov ecx, [{regs_off} + 8]
    mov edx, [{regs_off} + 12]
    mov esi, [{regs_off} + 16]
    mov edi, [{regs_off} + 20]
    push word ptr [{regs_off} + 24]
    mov es, word ptr [{regs_off} + 26]
    pop ds
    sti
    int 0x13
    cli
    push ds
    push ax
    mov ax, 0x2000
    mov ds, ax
    pop ax
    mov [{regs_off} + 0], eax
    mov [{regs_off} + 4], ebx
    mov [{regs_off} + 8], ecx
    mov [{regs_off} + 12], edx
    mov [{regs_off} + 16], esi
    mov [{regs_off} + 20], edi
    pop word ptr [{regs_off} + 24]
    mov word ptr [{regs_off} + 26], es
    pushf
    pop word ptr [{regs_off} + 28]
    lgdt [{gdtr_off}]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    .byte 0x66, 0xea
    .long bf_bios_back32
    .word 0x10
    .global bf_bios_blob_end
bf_bios_blob_end:

    .section .text.bf_bios_call, "ax"
    .code32
bf_bios_back32:
    mov ax, 0x18
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov ecx, 0xC0000080
    rdmsr
    or eax, 0x100
    wrmsr
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    .byte 0xea
    .long 4f
    .word 0x08
    .code64
4:
    mov rsp, [{save_rsp}]
    lgdt [rsp]
    lidt [rsp + 16]
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor eax, eax
    mov fs, ax
    mov gs, ax
    push 0x08
    lea rax, [rip + 5f]
    push rax
    retfq
5:
    mov ecx, 0xC0000100
    mov eax, [rsp + 32]
    mov edx, [rsp + 36]
    wrmsr
    mov ecx, 0xC0000101
    mov eax, [rsp + 40]
    mov edx, [rsp + 44]
    wrmsr
    add rsp, 48
    popfq
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    ret
    .text
"#,
    save_rsp = const TRAMPOLINE + 0x880,
    gdtr = const GDTR,
    gdtr_off = const GDTR - TRAMPOLINE,
    ivtr_off = const IVTR - TRAMPOLINE,
    regs_off = const REGS - TRAMPOLINE,
);

unsafe extern "C" {
    fn bf_bios_call();
    static bf_bios_blob: u8;
    static bf_bios_blob_end: u8;
}

static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Copies the real-mode blob, the GDT and the descriptors to low memory (once).
fn install() {
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return;
    }
    let start = &raw const bf_bios_blob as usize;
    let len = &raw const bf_bios_blob_end as usize - start;
    assert!(len < 0x800, "the real-mode blob must fit below the GDT");
    // SAFETY: 0x20000–0x3FFFF is low memory the kernel never hands out (the frame
    // allocator starts at 1 MiB) and that stage2 no longer uses; it is identity-mapped
    // read-write. The blob is `len` bytes of our own read-only data.
    unsafe {
        core::ptr::copy_nonoverlapping(start as *const u8, TRAMPOLINE as *mut u8, len);
        core::ptr::copy_nonoverlapping(TRAMPOLINE_GDT.as_ptr(), GDT as *mut u64, TRAMPOLINE_GDT.len());
        (GDTR as *mut u16).write_unaligned((TRAMPOLINE_GDT.len() * 8 - 1) as u16);
        ((GDTR + 2) as *mut u64).write_unaligned(GDT);
        (IVTR as *mut u16).write_unaligned(0x3ff);
        ((IVTR + 2) as *mut u64).write_unaligned(0);
    }
}

/// Runs `int 0x13` in real mode with `regs` and returns the registers after it.
pub fn bios_call(regs: BiosRegs) -> BiosRegs {
    install();
    // SAFETY: REGS lies in the trampoline's low-memory area (see `install`).
    unsafe { (REGS as *mut BiosRegs).write_volatile(regs) };
    // SAFETY: the trampoline was installed; `bf_bios_call` saves and restores every
    // callee-saved register, RFLAGS, GDTR, IDTR and the FS/GS bases, and leaves CR3,
    // CR4 and the rest of EFER alone. The caller-saved registers are declared clobbered.
    // The call's return address must not land in this function's red zone.
    unsafe { core::arch::asm!("sub rsp, 128", "call {f}", "add rsp, 128", f = sym bf_bios_call, clobber_abi("C")) };
    // SAFETY: as above; the assembly stored the registers after the call there.
    unsafe { (REGS as *const BiosRegs).read_volatile() }
}

/// A disk reached through the BIOS's INT 13h extensions.
pub struct BiosDisk {
    drive: u8,
    sectors: u64,
}

impl BiosDisk {
    /// Checks the INT 13h extensions (AH=41h) and reads the size (AH=48h) of `drive`.
    pub fn new(drive: u8) -> Result<Self, &'static str> {
        let r = bios_call(BiosRegs { eax: 0x4100, ebx: 0x55aa, edx: u32::from(drive), ..Default::default() });
        if r.carry() || r.ebx & 0xffff != 0xaa55 || r.ecx & 1 == 0 {
            return Err("the BIOS lacks INT 13h extended disk access for the boot drive");
        }
        // SAFETY: PARAMS lies in the trampoline's low-memory area.
        unsafe {
            core::ptr::write_bytes(PARAMS as *mut u8, 0, 0x1e);
            (PARAMS as *mut u16).write_volatile(0x1a);
        }
        let r = bios_call(BiosRegs {
            eax: 0x4800,
            edx: u32::from(drive),
            esi: (PARAMS - TRAMPOLINE) as u32,
            ds: (TRAMPOLINE >> 4) as u16,
            ..Default::default()
        });
        // SAFETY: as above; the BIOS filled the result buffer.
        let sectors = unsafe { ((PARAMS + 0x10) as *const u64).read_unaligned() };
        if r.carry() || sectors == 0 {
            return Err("INT 13h AH=48h (drive parameters) failed");
        }
        Ok(BiosDisk { drive, sectors })
    }

    /// The BIOS drive number.
    pub fn drive(&self) -> u8 {
        self.drive
    }

    fn transfer(&mut self, function: u8, lba: u64, count: usize) -> Result<(), BlockError> {
        let dap = DiskAddressPacket {
            size: 0x10,
            reserved: 0,
            count: count as u16,
            offset: 0,
            segment: (BUFFER >> 4) as u16,
            lba,
        };
        // SAFETY: DAP lies in the trampoline's low-memory area.
        unsafe { (DAP as *mut DiskAddressPacket).write_unaligned(dap) };
        let r = bios_call(BiosRegs {
            eax: u32::from(function) << 8,
            edx: u32::from(self.drive),
            esi: (DAP - TRAMPOLINE) as u32,
            ds: (TRAMPOLINE >> 4) as u16,
            ..Default::default()
        });
        if r.carry() { Err(BlockError::Device((r.eax >> 8) & 0xff)) } else { Ok(()) }
    }

    fn buffer(len: usize) -> &'static mut [u8] {
        // SAFETY: the transfer buffer is 64 KiB of reserved low memory used only here,
        // under the boot disk's lock; `len` ≤ 32 KiB.
        unsafe { core::slice::from_raw_parts_mut(BUFFER as *mut u8, len) }
    }
}

impl BlockDevice for BiosDisk {
    fn driver_name(&self) -> &'static str {
        "bios-int13"
    }

    fn sector_count(&self) -> u64 {
        self.sectors
    }

    fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_request(self.sectors, lba, buf.len())?;
        for_each_piece(lba, buf.len(), SECTORS_PER_CALL * SECTOR_SIZE, |sector, range| {
            self.transfer(0x42, sector, range.len() / SECTOR_SIZE)?;
            buf[range.clone()].copy_from_slice(Self::buffer(range.len()));
            Ok(())
        })
    }

    fn write_sectors(&mut self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        check_request(self.sectors, lba, buf.len())?;
        for_each_piece(lba, buf.len(), SECTORS_PER_CALL * SECTOR_SIZE, |sector, range| {
            Self::buffer(range.len()).copy_from_slice(&buf[range.clone()]);
            self.transfer(0x43, sector, range.len() / SECTOR_SIZE)
        })
    }

    /// INT 13h writes are complete when the call returns; there is no flush call.
    fn flush(&mut self) -> Result<(), BlockError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trampoline_descriptors() {
        // The classic flat descriptors.
        assert_eq!(TRAMPOLINE_GDT[1], 0x00af_9a00_0000_ffff);
        assert_eq!(TRAMPOLINE_GDT[2], 0x00cf_9a00_0000_ffff);
        assert_eq!(TRAMPOLINE_GDT[3], 0x00cf_9200_0000_ffff);
        assert_eq!(TRAMPOLINE_GDT[4], 0x0000_9a02_0000_ffff);
        assert_eq!(core::mem::size_of::<DiskAddressPacket>(), 16);
        assert_eq!(core::mem::size_of::<BiosRegs>(), 32);
    }
}
