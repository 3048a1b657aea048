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
//! register block and save area; 0x21000 the disk address packet, 0x21100 the drive
//! parameters (all laid out by [`LowMemory`], whose offsets the assembly uses); up to
//! 0x2FFF0 the real-mode stack; 0x30000–0x3FFFF the transfer buffer (64 sectors per call).
//! A BIOS call cannot be timed out; it blocks until the firmware returns.

use core::mem::{offset_of, size_of, size_of_val};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};
use volatile::{VolatileFieldAccess, VolatilePtr};
use x86_64::VirtAddr;
use x86_64::structures::DescriptorTablePointer;

use super::{BlockDevice, BlockError, SECTOR_SIZE, check_request, for_each_piece};

/// Where the real-mode part and its data live (segment 0x2000): a [`LowMemory`].
pub const TRAMPOLINE: u64 = 0x20000;
/// The transfer buffer (segment 0x3000).
const BUFFER: u64 = 0x30000;
/// Sectors per INT 13h call (32 KiB; some BIOSes take at most 127).
const SECTORS_PER_CALL: usize = 64;

/// Registers in and out of a BIOS call (in [`LowMemory`]; the assembly takes the
/// fields' offsets from this struct).
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

/// The INT 13h AH=48h result buffer (EDD 2.0 size; the call is asked for 0x1A bytes).
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, Default)]
pub struct DriveParameters {
    /// Size of the buffer the caller offers; the BIOS sets what it filled.
    pub size: u16,
    /// Information flags.
    pub flags: u16,
    /// Physical cylinders.
    pub cylinders: u32,
    /// Physical heads.
    pub heads: u32,
    /// Physical sectors per track.
    pub sectors_per_track: u32,
    /// Total sectors.
    pub sectors: u64,
    /// Bytes per sector.
    pub bytes_per_sector: u16,
    /// EDD configuration parameters (far pointer; EDD 2.0).
    pub edd: u32,
}

/// Low memory at [`TRAMPOLINE`] as the trampoline uses it: the real-mode code, its GDT
/// and descriptor-table pointers, the saved RSP, the register block, the disk address
/// packet and the drive-parameter buffer. The assembly takes its offsets from here;
/// the real-mode stack grows down from 0x2FFF0, above all of it.
#[repr(C)]
#[derive(VolatileFieldAccess)]
pub struct LowMemory {
    /// The real-mode part (`bf_bios_blob`), at offset 0: its far jumps assume so.
    code: [u8; 0x800],
    /// [`TRAMPOLINE_GDT`].
    gdt: [u64; 6],
    /// Free.
    free0: [u8; 0x10],
    /// The GDT pointer both directions load.
    gdtr: DescriptorTablePointer,
    /// Free.
    free1: [u8; 6],
    /// The real-mode IVT's pointer (limit 0x3FF at 0).
    ivtr: DescriptorTablePointer,
    /// Free.
    free2: [u8; 0x26],
    /// The kernel's RSP while the CPU is in real mode.
    saved_rsp: u64,
    /// Free.
    free3: [u8; 0x78],
    /// Registers in and out of the call.
    regs: BiosRegs,
    /// Free.
    free4: [u8; 0x6e0],
    /// The disk address packet of AH=42h/43h.
    dap: DiskAddressPacket,
    /// Free.
    free5: [u8; 0xf0],
    /// The AH=48h result buffer.
    params: DriveParameters,
}

const _: () = {
    assert!(offset_of!(LowMemory, code) == 0);
    assert!(offset_of!(LowMemory, gdt) == 0x800);
    assert!(offset_of!(LowMemory, gdtr) == 0x840);
    assert!(offset_of!(LowMemory, ivtr) == 0x850);
    assert!(offset_of!(LowMemory, saved_rsp) == 0x880);
    assert!(offset_of!(LowMemory, regs) == 0x900);
    assert!(offset_of!(LowMemory, dap) == 0x1000);
    assert!(offset_of!(LowMemory, params) == 0x1100);
    assert!(size_of::<DriveParameters>() == 0x1e);
    // Everything lies below the real-mode stack and the transfer buffer.
    assert!(TRAMPOLINE + (size_of::<LowMemory>() as u64) < 0x2_f000);
};

/// Offset of the register block in segment 0x2000, for the assembly.
const REGS: usize = offset_of!(LowMemory, regs);

/// The trampoline's low memory.
fn low_memory() -> VolatilePtr<'static, LowMemory> {
    let at = NonNull::new(TRAMPOLINE as *mut LowMemory).expect("TRAMPOLINE is not 0");
    // SAFETY: 0x20000–0x3FFFF is low memory the kernel never hands out (the frame
    // allocator starts at 1 MiB) and that stage2 no longer uses; it is identity-mapped
    // read-write and only the BIOS fallback touches it, one call at a time (the boot
    // disk's lock, or the single-threaded probe).
    unsafe { VolatilePtr::new(at) }
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
    mov [{saved_rsp}], rsp
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
    mov eax, [{r_eax}]
    mov ebx, [{r_ebx}]
    mov ecx, [{r_ecx}]
    mov edx, [{r_edx}]
    mov esi, [{r_esi}]
    mov edi, [{r_edi}]
    push word ptr [{r_ds}]
    mov es, word ptr [{r_es}]
    pop ds
    sti
    int 0x13
    cli
    push ds
    push ax
    mov ax, 0x2000
    mov ds, ax
    pop ax
    mov [{r_eax}], eax
    mov [{r_ebx}], ebx
    mov [{r_ecx}], ecx
    mov [{r_edx}], edx
    mov [{r_esi}], esi
    mov [{r_edi}], edi
    pop word ptr [{r_ds}]
    mov word ptr [{r_es}], es
    pushf
    pop word ptr [{r_flags}]
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
    mov rsp, [{saved_rsp}]
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
    saved_rsp = const TRAMPOLINE + offset_of!(LowMemory, saved_rsp) as u64,
    gdtr = const TRAMPOLINE + offset_of!(LowMemory, gdtr) as u64,
    gdtr_off = const offset_of!(LowMemory, gdtr),
    ivtr_off = const offset_of!(LowMemory, ivtr),
    r_eax = const REGS + offset_of!(BiosRegs, eax),
    r_ebx = const REGS + offset_of!(BiosRegs, ebx),
    r_ecx = const REGS + offset_of!(BiosRegs, ecx),
    r_edx = const REGS + offset_of!(BiosRegs, edx),
    r_esi = const REGS + offset_of!(BiosRegs, esi),
    r_edi = const REGS + offset_of!(BiosRegs, edi),
    r_ds = const REGS + offset_of!(BiosRegs, ds),
    r_es = const REGS + offset_of!(BiosRegs, es),
    r_flags = const REGS + offset_of!(BiosRegs, flags),
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
    let start = &raw const bf_bios_blob;
    let len = &raw const bf_bios_blob_end as usize - start as usize;
    // SAFETY: the assembly above puts the blob's `len` bytes between the two symbols,
    // in read-only data of the kernel image.
    let blob = unsafe { core::slice::from_raw_parts(start, len) };
    let mut code = [0u8; 0x800];
    assert!(len <= code.len(), "the real-mode blob must fit below the GDT");
    code[..len].copy_from_slice(blob);
    let low = low_memory();
    low.code().write(code);
    low.gdt().write(TRAMPOLINE_GDT);
    let gdt = VirtAddr::new(TRAMPOLINE + offset_of!(LowMemory, gdt) as u64);
    low.gdtr().write(DescriptorTablePointer { limit: (size_of_val(&TRAMPOLINE_GDT) - 1) as u16, base: gdt });
    low.ivtr().write(DescriptorTablePointer { limit: 0x3ff, base: VirtAddr::zero() });
}

/// Runs `int 0x13` in real mode with `regs` and returns the registers after it.
pub fn bios_call(regs: BiosRegs) -> BiosRegs {
    install();
    low_memory().regs().write(regs);
    // SAFETY: the trampoline was installed; `bf_bios_call` saves and restores every
    // callee-saved register, RFLAGS, GDTR, IDTR and the FS/GS bases, and leaves CR3,
    // CR4 and the rest of EFER alone. The caller-saved registers are declared clobbered.
    // The call's return address must not land in this function's red zone.
    unsafe { core::arch::asm!("sub rsp, 128", "call {f}", "add rsp, 128", f = sym bf_bios_call, clobber_abi("C")) };
    // The assembly stored the registers after the call there.
    low_memory().regs().read()
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
        low_memory().params().write(DriveParameters { size: 0x1a, ..Default::default() });
        let r = bios_call(BiosRegs {
            eax: 0x4800,
            edx: u32::from(drive),
            esi: offset_of!(LowMemory, params) as u32,
            ds: (TRAMPOLINE >> 4) as u16,
            ..Default::default()
        });
        // The BIOS filled the result buffer.
        let sectors = low_memory().params().read().sectors;
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
        low_memory().dap().write(dap);
        let r = bios_call(BiosRegs {
            eax: u32::from(function) << 8,
            edx: u32::from(self.drive),
            esi: offset_of!(LowMemory, dap) as u32,
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
