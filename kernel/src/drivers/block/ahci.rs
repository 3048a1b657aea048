//! AHCI (SATA) host bus adapters: q35's ICH9 controller and most real machines.
//!
//! The HBA's registers are memory-mapped at BAR 5 (ABAR, identity-mapped below 4 GiB)
//! and described by `#[repr(C)]` structs of volatile fields ([`HbaRegisters`],
//! [`PortRegisters`], offsets and sizes checked at compile time). Each port with a SATA
//! disk gets one DMA page ([`PortMemory`]) holding its command list (only slot 0 is
//! used: one command in flight), its received-FIS area and one command table with a
//! single PRD entry that points at a 64 KiB bounce buffer. Commands are polled: the
//! driver sets PxCI bit 0 and waits until the HBA clears it, or until PxIS.TFES or the
//! deadline says otherwise. READ/WRITE DMA EXT and FLUSH CACHE EXT (48-bit) are used
//! for every request.

use bitflags::bitflags;
use core::mem::{offset_of, size_of};
use core::ptr::NonNull;
use core::sync::atomic::{Ordering, fence};
use volatile::access::ReadOnly;
use volatile::{VolatileFieldAccess, VolatileRef};
use zerocopy::{FromBytes, IntoBytes};

use super::dma::{Deadline, DmaBuffer};
use super::{BlockDevice, BlockError, SECTOR_SIZE, check_request, for_each_piece};
use crate::drivers::pci::{self, Bar, PciFunction};
use crate::kprintln;

bitflags! {
    /// GHC, the HBA's global host control register.
    #[repr(transparent)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct GlobalControl: u32 {
        /// HBA reset.
        const RESET = 1 << 0;
        /// Interrupt enable (left clear: we poll).
        const INTERRUPT_ENABLE = 1 << 1;
        /// AHCI enable: the HBA is driven through these registers, not legacy IDE.
        const AHCI_ENABLE = 1 << 31;
    }
}

bitflags! {
    /// PxCMD, the port's command and status register.
    #[repr(transparent)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct PortCmd: u32 {
        /// Start: the HBA processes the command list.
        const START = 1 << 0;
        /// Spin-up device.
        const SPIN_UP = 1 << 1;
        /// Power on device.
        const POWER_ON = 1 << 2;
        /// FIS receive enable.
        const FIS_RECEIVE = 1 << 4;
        /// FIS receive running.
        const FIS_RUNNING = 1 << 14;
        /// Command list running.
        const LIST_RUNNING = 1 << 15;
    }
}

bitflags! {
    /// PxIS, the port's interrupt status (write 1 to clear).
    #[repr(transparent)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct PortInterrupts: u32 {
        /// Task-file error status: the device reported an error.
        const TASK_FILE_ERROR = 1 << 30;
    }
}

bitflags! {
    /// PxTFD's status byte: a copy of the device's ATA status register (the error
    /// register is in bits 8–15).
    #[repr(transparent)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct TaskStatus: u32 {
        /// The last command failed.
        const ERROR = 0x01;
        /// Data transfer requested.
        const DATA_REQUEST = 0x08;
        /// The device is busy.
        const BUSY = 0x80;
    }
}

/// The HBA's memory-mapped registers at ABAR (AHCI 1.3 §3): the generic host control
/// block, then 32 port blocks of 0x80 bytes at 0x100 (only the implemented ones, PI,
/// are touched).
#[repr(C)]
#[derive(VolatileFieldAccess)]
pub struct HbaRegisters {
    /// CAP: host capabilities.
    #[access(ReadOnly)]
    cap: u32,
    /// GHC: global host control.
    ghc: GlobalControl,
    /// IS: interrupt status, one bit per port.
    is: u32,
    /// PI: ports implemented.
    #[access(ReadOnly)]
    pi: u32,
    /// VS: AHCI version.
    #[access(ReadOnly)]
    vs: u32,
    /// CCC_CTL: command completion coalescing control.
    ccc_ctl: u32,
    /// CCC_PORTS: command completion coalescing ports.
    ccc_ports: u32,
    /// EM_LOC: enclosure management location.
    em_loc: u32,
    /// EM_CTL: enclosure management control.
    em_ctl: u32,
    /// CAP2: extended capabilities.
    #[access(ReadOnly)]
    cap2: u32,
    /// BOHC: BIOS/OS handoff control.
    bohc: u32,
    /// Reserved, then NVMHCI registers (0x2C–0x9F).
    reserved: [u32; 29],
    /// Vendor-specific registers (0xA0–0xFF).
    vendor: [u32; 24],
    /// The port register blocks.
    ports: [PortRegisters; 32],
}

/// One port's registers (AHCI 1.3 §3.3), at ABAR + 0x100 + 0x80 × port.
#[repr(C)]
#[derive(VolatileFieldAccess)]
pub struct PortRegisters {
    /// PxCLB: command list base address, bits 0–31 (1 KiB aligned).
    clb: u32,
    /// PxCLBU: command list base address, bits 32–63.
    clbu: u32,
    /// PxFB: received-FIS base address, bits 0–31 (256-byte aligned).
    fb: u32,
    /// PxFBU: received-FIS base address, bits 32–63.
    fbu: u32,
    /// PxIS: interrupt status.
    is: PortInterrupts,
    /// PxIE: interrupt enable.
    ie: u32,
    /// PxCMD: command and status.
    cmd: PortCmd,
    /// Reserved.
    reserved0: u32,
    /// PxTFD: task-file data (the device's status and error registers).
    #[access(ReadOnly)]
    tfd: TaskStatus,
    /// PxSIG: the device's signature.
    #[access(ReadOnly)]
    sig: u32,
    /// PxSSTS: SATA status (link state).
    #[access(ReadOnly)]
    ssts: u32,
    /// PxSCTL: SATA control.
    sctl: u32,
    /// PxSERR: SATA error (write 1 to clear).
    serr: u32,
    /// PxSACT: SATA active (native command queuing).
    sact: u32,
    /// PxCI: command issue, one bit per command slot.
    ci: u32,
    /// PxSNTF: SATA notification.
    sntf: u32,
    /// PxFBS: FIS-based switching control.
    fbs: u32,
    /// PxDEVSLP: device sleep.
    devslp: u32,
    /// Reserved (0x48–0x6F).
    reserved1: [u32; 10],
    /// Vendor-specific (0x70–0x7F).
    vendor: [u32; 4],
}

const _: () = {
    assert!(offset_of!(HbaRegisters, pi) == 0x0c);
    assert!(offset_of!(HbaRegisters, bohc) == 0x28);
    assert!(offset_of!(HbaRegisters, vendor) == 0xa0);
    assert!(offset_of!(HbaRegisters, ports) == 0x100);
    assert!(size_of::<HbaRegisters>() == 0x1100);
    assert!(offset_of!(PortRegisters, cmd) == 0x18);
    assert!(offset_of!(PortRegisters, tfd) == 0x20);
    assert!(offset_of!(PortRegisters, ssts) == 0x28);
    assert!(offset_of!(PortRegisters, serr) == 0x30);
    assert!(offset_of!(PortRegisters, ci) == 0x38);
    assert!(offset_of!(PortRegisters, devslp) == 0x44);
    assert!(size_of::<PortRegisters>() == 0x80);
};

/// PxSIG of an ATA disk (ATAPI devices show 0xEB140101).
pub const SIG_ATA: u32 = 0x0000_0101;

/// A command header (AHCI 1.3 §4.2.2): one slot of the command list.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes)]
pub struct CommandHeader {
    /// Dword 0: [`header_dw0`] (FIS length, write bit, PRD entries).
    pub flags: u32,
    /// Bytes transferred (the HBA writes it).
    pub prd_byte_count: u32,
    /// Command table address, bits 0–31 (128-byte aligned).
    pub table: u32,
    /// Command table address, bits 32–63.
    pub table_upper: u32,
    /// Reserved.
    pub reserved: [u32; 4],
}

/// A physical region descriptor (AHCI 1.3 §4.2.3.3): one DMA buffer of a command.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes)]
pub struct PrdEntry {
    /// Buffer address, bits 0–31.
    pub base: u32,
    /// Buffer address, bits 32–63.
    pub base_upper: u32,
    /// Reserved.
    pub reserved: u32,
    /// Byte count minus one (bit 31 would ask for an interrupt).
    pub byte_count_minus_one: u32,
}

/// A command table (AHCI 1.3 §4.2.3) with a single PRD entry.
#[repr(C)]
#[derive(FromBytes, IntoBytes, VolatileFieldAccess)]
pub struct CommandTable {
    /// The command FIS ([`h2d_fis`]).
    fis: [u8; 20],
    /// The rest of the 64-byte command FIS area.
    fis_rest: [u8; 44],
    /// ATAPI command (unused).
    atapi_command: [u8; 16],
    /// Reserved.
    reserved: [u8; 48],
    /// The PRD table: one entry.
    prdt: PrdEntry,
}

/// The one DMA page a port uses: its command list (only slot 0 is used: one command
/// in flight), its received-FIS area and the command table of slot 0.
#[repr(C)]
#[derive(FromBytes, IntoBytes, VolatileFieldAccess)]
pub struct PortMemory {
    /// Command slot 0.
    command: CommandHeader,
    /// Command slots 1–31 (unused).
    unused_slots: [CommandHeader; 31],
    /// The received-FIS area.
    received_fis: [u8; 0x100],
    /// Free.
    reserved: [u8; 0x300],
    /// The command table of slot 0.
    table: CommandTable,
}

const _: () = {
    assert!(size_of::<CommandHeader>() == 0x20);
    assert!(size_of::<PrdEntry>() == 0x10);
    assert!(offset_of!(CommandTable, prdt) == 0x80);
    assert!(offset_of!(PortMemory, command) == 0x000);
    assert!(offset_of!(PortMemory, received_fis) == 0x400);
    assert!(offset_of!(PortMemory, table) == 0x800);
    assert!(size_of::<PortMemory>() <= 4096);
};

const BOUNCE_BYTES: usize = 64 * 1024;
const COMMAND_TIMEOUT_MS: u64 = 10_000;
const ENGINE_TIMEOUT_MS: u64 = 500;

mod command {
    pub const READ_DMA_EXT: u8 = 0x25;
    pub const WRITE_DMA_EXT: u8 = 0x35;
    pub const FLUSH_CACHE_EXT: u8 = 0xEA;
    pub const IDENTIFY_DEVICE: u8 = 0xEC;
}

/// Whether a PCI function is an AHCI controller (class 01h, subclass 06h, prog-if 01h).
pub fn matches(f: &PciFunction) -> bool {
    f.class == 0x01 && f.subclass == 0x06 && f.prog_if == 0x01
}

/// Whether PxSSTS says a device is present with communication established (DET = 3)
/// and active (IPM = 1).
pub fn link_up(ssts: u32) -> bool {
    ssts & 0xf == 3 && (ssts >> 8) & 0xf == 1
}

/// The 20-byte register host-to-device FIS of an ATA command (48-bit addressing).
pub fn h2d_fis(command: u8, lba: u64, count: u16) -> [u8; 20] {
    let b = lba.to_le_bytes();
    let n = count.to_le_bytes();
    let mut fis = [0u8; 20];
    fis[0] = 0x27; // FIS type: register, host to device
    fis[1] = 0x80; // C: this is a command
    fis[2] = command;
    fis[4..7].copy_from_slice(&b[0..3]);
    fis[7] = 0x40; // device: LBA mode
    fis[8..11].copy_from_slice(&b[3..6]);
    fis[12] = n[0];
    fis[13] = n[1];
    fis
}

/// Dword 0 of a command header: FIS length in dwords, the write bit, PRDT entries.
pub fn header_dw0(fis_dwords: u32, write: bool, prdt_entries: u32) -> u32 {
    fis_dwords | if write { 1 << 6 } else { 0 } | (prdt_entries << 16)
}

/// The low and high dwords of a 64-bit physical address, as the HBA's register pairs
/// and structures take it.
fn split(addr: u64) -> (u32, u32) {
    (addr as u32, (addr >> 32) as u32)
}

/// A SATA disk on one AHCI port.
pub struct AhciDisk {
    function: PciFunction,
    port: u8,
    regs: VolatileRef<'static, PortRegisters>,
    memory: DmaBuffer,
    bounce: DmaBuffer,
    sectors: u64,
}

/// The registers of port `port` (< 32) of the HBA whose registers are `hba`.
fn port_registers(hba: &mut VolatileRef<'static, HbaRegisters>, port: u8) -> VolatileRef<'static, PortRegisters> {
    assert!(port < 32);
    let first = hba.as_mut_ptr().ports().as_raw_ptr().cast::<PortRegisters>();
    let at = NonNull::new(first.as_ptr().wrapping_add(usize::from(port))).expect("MMIO is never at address 0");
    // SAFETY: `at` is `ports[port]` (port < 32) inside the HBA's register block, valid
    // for as long as `hba` is ('static: identity-mapped device memory). Each port's
    // registers go to the one `AhciDisk` that drives the port.
    unsafe { VolatileRef::new(at) }
}

impl AhciDisk {
    /// Where the controller sits on PCI.
    pub fn pci_address(&self) -> pci::PciAddress {
        self.function.address
    }

    /// The port number.
    pub fn port(&self) -> u8 {
        self.port
    }

    fn cmd(&self) -> PortCmd {
        self.regs.as_ptr().cmd().read()
    }

    /// Waits until the device is neither busy nor asking for data.
    fn wait_idle(&self) -> Result<(), BlockError> {
        Deadline::after_ms(COMMAND_TIMEOUT_MS)
            .wait(|| !self.regs.as_ptr().tfd().read().intersects(TaskStatus::BUSY | TaskStatus::DATA_REQUEST))
    }

    /// Stops the command engine and FIS receive (AHCI 1.3 §10.1.2).
    fn stop(&mut self) -> Result<(), BlockError> {
        self.regs.as_mut_ptr().cmd().update(|c| c - PortCmd::START);
        Deadline::after_ms(ENGINE_TIMEOUT_MS).wait(|| !self.cmd().contains(PortCmd::LIST_RUNNING))?;
        self.regs.as_mut_ptr().cmd().update(|c| c - PortCmd::FIS_RECEIVE);
        Deadline::after_ms(ENGINE_TIMEOUT_MS).wait(|| !self.cmd().contains(PortCmd::FIS_RUNNING))
    }

    /// Points the port at our memory, clears its errors and starts it.
    fn start(&mut self) -> Result<(), BlockError> {
        let (list, list_upper) = split(self.memory.addr() + offset_of!(PortMemory, command) as u64);
        let (fis, fis_upper) = split(self.memory.addr() + offset_of!(PortMemory, received_fis) as u64);
        let regs = self.regs.as_mut_ptr();
        regs.clb().write(list);
        regs.clbu().write(list_upper);
        regs.fb().write(fis);
        regs.fbu().write(fis_upper);
        regs.serr().write(u32::MAX);
        regs.is().write(PortInterrupts::from_bits_retain(u32::MAX));
        regs.ie().write(0);
        regs.cmd().update(|c| c | PortCmd::FIS_RECEIVE | PortCmd::POWER_ON | PortCmd::SPIN_UP);
        self.wait_idle()?;
        self.regs.as_mut_ptr().cmd().update(|c| c | PortCmd::START);
        Ok(())
    }

    /// Runs one command in slot 0; `data` is (bytes, device writes memory).
    fn run(&mut self, command: u8, lba: u64, count: u16, data: Option<(usize, bool)>) -> Result<(), BlockError> {
        self.wait_idle()?;
        let (table, table_upper) = split(self.memory.addr() + offset_of!(PortMemory, table) as u64);
        let write = matches!(data, Some((_, false)));
        let flags = header_dw0(5, write, u32::from(data.is_some()));
        let (buffer, buffer_upper) = split(self.bounce.addr());
        // The HBA reads these only after PxCI is set below.
        let memory = self.memory.at::<PortMemory>(0);
        memory.command().write(CommandHeader { flags, table, table_upper, ..Default::default() });
        memory.table().fis().write(h2d_fis(command, lba, count));
        if let Some((bytes, _)) = data {
            let prd = PrdEntry {
                base: buffer,
                base_upper: buffer_upper,
                reserved: 0,
                byte_count_minus_one: bytes as u32 - 1,
            };
            memory.table().prdt().write(prd);
        }
        self.regs.as_mut_ptr().is().write(PortInterrupts::from_bits_retain(u32::MAX));
        fence(Ordering::SeqCst);
        self.regs.as_mut_ptr().ci().write(1);
        let failed = |regs: &VolatileRef<'static, PortRegisters>| {
            regs.as_ptr().is().read().contains(PortInterrupts::TASK_FILE_ERROR)
        };
        let finished = Deadline::after_ms(COMMAND_TIMEOUT_MS)
            .wait(|| self.regs.as_ptr().ci().read() & 1 == 0 || failed(&self.regs));
        fence(Ordering::SeqCst);
        let tfd = self.regs.as_ptr().tfd().read();
        if finished.is_err() || failed(&self.regs) || tfd.contains(TaskStatus::ERROR) {
            // Recover the port for the next command: restart its engine.
            let _ = self.stop().and_then(|()| self.start());
            finished?;
            return Err(BlockError::Device(tfd.bits()));
        }
        Ok(())
    }

    /// Brings up port `port`, whose registers are `regs`, and identifies its disk.
    fn bring_up(
        function: PciFunction,
        port: u8,
        regs: VolatileRef<'static, PortRegisters>,
    ) -> Result<AhciDisk, &'static str> {
        let (Some(memory), Some(bounce)) = (DmaBuffer::new(1), DmaBuffer::new(BOUNCE_BYTES / 4096)) else {
            return Err("out of memory for the command list");
        };
        let mut disk = AhciDisk { function, port, regs, memory, bounce, sectors: 0 };
        disk.stop().map_err(|_| "the port's command engine does not stop")?;
        disk.start().map_err(|_| "the port does not start (device busy)")?;
        disk.sectors = 1; // IDENTIFY is not range-checked; any non-zero value
        disk.run(command::IDENTIFY_DEVICE, 0, 0, Some((SECTOR_SIZE, true))).map_err(|_| "IDENTIFY DEVICE failed")?;
        let mut words = [0u16; 256];
        words.as_mut_bytes().copy_from_slice(&disk.bounce.bytes()[..SECTOR_SIZE]);
        let identity = super::ata::parse_identify(&words);
        if !identity.lba48 {
            return Err("the disk lacks 48-bit addressing");
        }
        disk.sectors = identity.sectors;
        Ok(disk)
    }
}

/// Brings up every port of controller `f` that has a SATA disk and hands each to `found`.
pub fn probe(f: PciFunction, mut found: impl FnMut(AhciDisk)) {
    let limit = crate::mm::paging::MAPPED_LIMIT;
    let abar = match f.bar(5) {
        Bar::Memory { base, .. }
            if base != 0 && base.checked_add(size_of::<HbaRegisters>() as u64).is_some_and(|end| end <= limit) =>
        {
            base
        }
        other => {
            kprintln!("disk: AHCI controller {}: BAR 5 is unusable ({:?})", f.address, other);
            return;
        }
    };
    f.enable(pci::Command::MEMORY | pci::Command::BUS_MASTER);
    let abar = NonNull::new(abar as *mut HbaRegisters).expect("checked non-zero above");
    // SAFETY: BAR 5 of an AHCI controller is its register block (ABAR); it lies below
    // MAPPED_LIMIT (checked), where the kernel identity-maps everything, and nothing
    // else in the kernel touches it. The driver hands the HBA only addresses of its
    // own DMA buffers, which outlive the port's use of them (`Drop` stops the port).
    let mut hba = unsafe { VolatileRef::<HbaRegisters>::new(abar) };
    hba.as_mut_ptr().ghc().update(|g| g | GlobalControl::AHCI_ENABLE);
    let implemented = hba.as_ptr().pi().read();
    for port in 0..32u8 {
        if implemented & (1 << port) == 0 {
            continue;
        }
        let regs = port_registers(&mut hba, port);
        if !link_up(regs.as_ptr().ssts().read()) || regs.as_ptr().sig().read() != SIG_ATA {
            continue;
        }
        match AhciDisk::bring_up(f, port, regs) {
            Ok(disk) => found(disk),
            Err(e) => kprintln!("disk: ahci {} port {}: {}", f.address, port, e),
        }
    }
}

impl BlockDevice for AhciDisk {
    fn driver_name(&self) -> &'static str {
        "ahci"
    }

    fn sector_count(&self) -> u64 {
        self.sectors
    }

    fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_request(self.sectors, lba, buf.len())?;
        for_each_piece(lba, buf.len(), BOUNCE_BYTES, |sector, range| {
            let n = range.len();
            self.run(command::READ_DMA_EXT, sector, (n / SECTOR_SIZE) as u16, Some((n, true)))?;
            buf[range].copy_from_slice(&self.bounce.bytes()[..n]);
            Ok(())
        })
    }

    fn write_sectors(&mut self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        check_request(self.sectors, lba, buf.len())?;
        for_each_piece(lba, buf.len(), BOUNCE_BYTES, |sector, range| {
            let n = range.len();
            self.bounce.bytes()[..n].copy_from_slice(&buf[range]);
            self.run(command::WRITE_DMA_EXT, sector, (n / SECTOR_SIZE) as u16, Some((n, false)))
        })
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        self.run(command::FLUSH_CACHE_EXT, 0, 0, None)
    }
}

impl Drop for AhciDisk {
    fn drop(&mut self) {
        // The port must stop using the command list and FIS area before they are freed.
        let _ = self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_fis_carries_command_lba48_and_count() {
        let fis = h2d_fis(command::READ_DMA_EXT, 0x0605_0403_0201, 0x0180);
        assert_eq!(&fis[..4], &[0x27, 0x80, 0x25, 0]);
        assert_eq!(&fis[4..8], &[0x01, 0x02, 0x03, 0x40]);
        assert_eq!(&fis[8..11], &[0x04, 0x05, 0x06]);
        assert_eq!(&fis[12..14], &[0x80, 0x01]);
    }

    #[test]
    fn command_header_and_link_state() {
        assert_eq!(header_dw0(5, false, 1), 0x0001_0005);
        assert_eq!(header_dw0(5, true, 1), 0x0001_0045);
        assert_eq!(header_dw0(5, false, 0), 5);
        assert!(link_up(0x123));
        assert!(!link_up(0x101)); // device detected, no communication
        assert!(!link_up(0x0));
    }
}
