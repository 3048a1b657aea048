//! AHCI (SATA) host bus adapters: q35's ICH9 controller and most real machines.
//!
//! The HBA's registers are memory-mapped at BAR 5 (ABAR, identity-mapped below 4 GiB).
//! Each port with a SATA disk gets one DMA page holding its command list (only slot 0
//! is used: one command in flight), its received-FIS area and one command table with a
//! single PRD entry that points at a 64 KiB bounce buffer. Commands are polled: the
//! driver sets PxCI bit 0 and waits until the HBA clears it, or until PxIS.TFES or the
//! deadline says otherwise. READ/WRITE DMA EXT and FLUSH CACHE EXT (48-bit) are used
//! for every request.

use bitflags::bitflags;
use core::sync::atomic::{Ordering, fence};

use super::dma::{Deadline, DmaBuffer};
use super::{BlockDevice, BlockError, SECTOR_SIZE, check_request, for_each_piece};
use crate::drivers::pci::{self, Bar, PciFunction};
use crate::kprintln;

bitflags! {
    /// PxCMD, the port's command and status register.
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
    /// PxTFD's status byte: a copy of the device's ATA status register.
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

// HBA registers.
const GHC: usize = 0x04;
const PI: usize = 0x0c;
const GHC_AHCI_ENABLE: u32 = 1 << 31;
// Port registers (offsets inside a port's 0x80-byte block at 0x100 + 0x80 * port).
const PX_CLB: usize = 0x00;
const PX_CLBU: usize = 0x04;
const PX_FB: usize = 0x08;
const PX_FBU: usize = 0x0c;
const PX_IS: usize = 0x10;
const PX_IE: usize = 0x14;
const PX_CMD: usize = 0x18;
const PX_TFD: usize = 0x20;
const PX_SIG: usize = 0x24;
const PX_SSTS: usize = 0x28;
const PX_SERR: usize = 0x30;
const PX_CI: usize = 0x38;
/// PxIS: task-file error status.
const IS_TASK_FILE_ERROR: u32 = 1 << 30;
/// PxSIG of an ATA disk (ATAPI devices show 0xEB140101).
pub const SIG_ATA: u32 = 0x0000_0101;

// Layout of the per-port DMA page.
const CMD_LIST: usize = 0x000;
const RECEIVED_FIS: usize = 0x400;
const CMD_TABLE: usize = 0x800;
const PRDT: usize = CMD_TABLE + 0x80;

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

/// A SATA disk on one AHCI port.
pub struct AhciDisk {
    function: PciFunction,
    abar: u64,
    port: u8,
    memory: DmaBuffer,
    bounce: DmaBuffer,
    sectors: u64,
}

fn mmio_read(addr: u64) -> u32 {
    // SAFETY: `addr` is a register inside the HBA's ABAR, identity-mapped by the kernel.
    unsafe { (addr as *const u32).read_volatile() }
}

fn mmio_write(addr: u64, value: u32) {
    // SAFETY: `addr` is a register inside the HBA's ABAR, identity-mapped by the kernel.
    unsafe { (addr as *mut u32).write_volatile(value) }
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

    fn reg(&self, offset: usize) -> u64 {
        self.abar + 0x100 + 0x80 * u64::from(self.port) + offset as u64
    }

    fn read(&self, offset: usize) -> u32 {
        mmio_read(self.reg(offset))
    }

    fn write(&self, offset: usize, value: u32) {
        mmio_write(self.reg(offset), value)
    }

    fn cmd(&self) -> PortCmd {
        PortCmd::from_bits_retain(self.read(PX_CMD))
    }

    /// Stops the command engine and FIS receive (AHCI 1.3 §10.1.2).
    fn stop(&self) -> Result<(), BlockError> {
        self.write(PX_CMD, (self.cmd() - PortCmd::START).bits());
        Deadline::after_ms(ENGINE_TIMEOUT_MS).wait(|| !self.cmd().contains(PortCmd::LIST_RUNNING))?;
        self.write(PX_CMD, (self.cmd() - PortCmd::FIS_RECEIVE).bits());
        Deadline::after_ms(ENGINE_TIMEOUT_MS).wait(|| !self.cmd().contains(PortCmd::FIS_RUNNING))
    }

    /// Points the port at our memory, clears its errors and starts it.
    fn start(&self) -> Result<(), BlockError> {
        self.write(PX_CLB, (self.memory.addr() + CMD_LIST as u64) as u32);
        self.write(PX_CLBU, ((self.memory.addr() + CMD_LIST as u64) >> 32) as u32);
        self.write(PX_FB, (self.memory.addr() + RECEIVED_FIS as u64) as u32);
        self.write(PX_FBU, ((self.memory.addr() + RECEIVED_FIS as u64) >> 32) as u32);
        self.write(PX_SERR, u32::MAX);
        self.write(PX_IS, u32::MAX);
        self.write(PX_IE, 0);
        self.write(PX_CMD, (self.cmd() | PortCmd::FIS_RECEIVE | PortCmd::POWER_ON | PortCmd::SPIN_UP).bits());
        Deadline::after_ms(COMMAND_TIMEOUT_MS).wait(|| {
            !TaskStatus::from_bits_retain(self.read(PX_TFD)).intersects(TaskStatus::BUSY | TaskStatus::DATA_REQUEST)
        })?;
        self.write(PX_CMD, (self.cmd() | PortCmd::START).bits());
        Ok(())
    }

    /// Runs one command in slot 0; `data` is (bytes, device writes memory).
    fn run(&mut self, command: u8, lba: u64, count: u16, data: Option<(usize, bool)>) -> Result<(), BlockError> {
        Deadline::after_ms(COMMAND_TIMEOUT_MS).wait(|| {
            !TaskStatus::from_bits_retain(self.read(PX_TFD)).intersects(TaskStatus::BUSY | TaskStatus::DATA_REQUEST)
        })?;
        let table = self.memory.addr() + CMD_TABLE as u64;
        let write = matches!(data, Some((_, false)));
        let prdt_entries = u32::from(data.is_some());
        let header = [header_dw0(5, write, prdt_entries), 0, table as u32, (table >> 32) as u32];
        let fis = h2d_fis(command, lba, count);
        // SAFETY: command header 0, the command table and its PRD entry lie in our DMA
        // page; the HBA reads them only after PxCI is set below.
        unsafe {
            for (i, dw) in header.iter().enumerate() {
                self.memory.ptr::<u32>(CMD_LIST + 4 * i).write_volatile(*dw);
            }
            for (i, byte) in fis.iter().enumerate() {
                self.memory.ptr::<u8>(CMD_TABLE + i).write_volatile(*byte);
            }
            if let Some((bytes, _)) = data {
                let prd = [self.bounce.addr() as u32, (self.bounce.addr() >> 32) as u32, 0, bytes as u32 - 1];
                for (i, dw) in prd.iter().enumerate() {
                    self.memory.ptr::<u32>(PRDT + 4 * i).write_volatile(*dw);
                }
            }
        }
        self.write(PX_IS, u32::MAX);
        fence(Ordering::SeqCst);
        self.write(PX_CI, 1);
        let finished = Deadline::after_ms(COMMAND_TIMEOUT_MS)
            .wait(|| self.read(PX_CI) & 1 == 0 || self.read(PX_IS) & IS_TASK_FILE_ERROR != 0);
        fence(Ordering::SeqCst);
        let tfd = self.read(PX_TFD);
        if finished.is_err() || self.read(PX_IS) & IS_TASK_FILE_ERROR != 0 || tfd & TaskStatus::ERROR.bits() != 0 {
            // Recover the port for the next command: restart its engine.
            let _ = self.stop().and_then(|()| self.start());
            finished?;
            return Err(BlockError::Device(tfd));
        }
        Ok(())
    }

    /// Brings up port `port` of the HBA at `abar` and identifies its disk.
    fn bring_up(function: PciFunction, abar: u64, port: u8) -> Result<AhciDisk, &'static str> {
        let (Some(memory), Some(bounce)) = (DmaBuffer::new(1), DmaBuffer::new(BOUNCE_BYTES / 4096)) else {
            return Err("out of memory for the command list");
        };
        let mut disk = AhciDisk { function, abar, port, memory, bounce, sectors: 0 };
        disk.stop().map_err(|_| "the port's command engine does not stop")?;
        disk.start().map_err(|_| "the port does not start (device busy)")?;
        disk.sectors = 1; // IDENTIFY is not range-checked; any non-zero value
        disk.run(command::IDENTIFY_DEVICE, 0, 0, Some((SECTOR_SIZE, true))).map_err(|_| "IDENTIFY DEVICE failed")?;
        let mut words = [0u16; 256];
        for (i, w) in words.iter_mut().enumerate() {
            *w = u16::from_le_bytes([disk.bounce.bytes()[2 * i], disk.bounce.bytes()[2 * i + 1]]);
        }
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
    let abar = match f.bar(5) {
        Bar::Memory { base, .. } if base != 0 && base < crate::mm::paging::MAPPED_LIMIT => base,
        other => {
            kprintln!("disk: AHCI controller {}: BAR 5 is unusable ({:?})", f.address, other);
            return;
        }
    };
    f.enable(pci::COMMAND_MEMORY | pci::COMMAND_BUS_MASTER);
    mmio_write(abar + GHC as u64, mmio_read(abar + GHC as u64) | GHC_AHCI_ENABLE);
    let implemented = mmio_read(abar + PI as u64);
    for port in 0..32u8 {
        if implemented & (1 << port) == 0 {
            continue;
        }
        let base = abar + 0x100 + 0x80 * u64::from(port);
        if !link_up(mmio_read(base + PX_SSTS as u64)) || mmio_read(base + PX_SIG as u64) != SIG_ATA {
            continue;
        }
        match AhciDisk::bring_up(f, abar, port) {
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
