//! ATA PIO on the legacy IDE ports (primary 0x1F0/0x3F6, secondary 0x170/0x376), in the
//! manner of Theseus' `kernel/ata`: bitflags for the status and error registers,
//! IDENTIFY DEVICE to find LBA48 support and the size, LBA28 commands while the request
//! fits (faster to issue) and LBA48 beyond, FLUSH CACHE (EXT). Every wait has a
//! deadline and ends in [`BlockError::Timeout`] rather than an endless spin.
//!
//! The channel's registers are a struct of typed ports ([`ioport::Register`]), one
//! field per register. PIO moves data through the CPU (`rep insw`/`rep outsw`), so
//! callers' buffers are used directly; no DMA memory is needed.

use bitflags::bitflags;
use zerocopy::IntoBytes;

use super::dma::Deadline;
use super::{BlockDevice, BlockError, SECTOR_SIZE, check_request};
use crate::drivers::ioport;
use crate::drivers::pci::PciFunction;

bitflags! {
    /// The status register (base + 7; the alternate status at control + 0).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Status: u8 {
        /// The previous command failed; see the error register.
        const ERROR = 0x01;
        /// Index mark (obsolete).
        const INDEX = 0x02;
        /// Corrected data (obsolete).
        const CORRECTED = 0x04;
        /// The drive wants to transfer a sector of data.
        const DATA_REQUEST = 0x08;
        /// Overlapped-mode service request / seek complete.
        const SERVICE = 0x10;
        /// Drive fault.
        const DRIVE_FAULT = 0x20;
        /// The drive is spun up and ready.
        const READY = 0x40;
        /// The drive is busy; the other bits are meaningless.
        const BUSY = 0x80;
    }
}

bitflags! {
    /// The error register (base + 1), valid when [`Status::ERROR`] is set.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Error: u8 {
        /// Address mark not found.
        const NO_ADDRESS_MARK = 0x01;
        /// Track 0 not found.
        const NO_TRACK0 = 0x02;
        /// Command aborted (unsupported or bad parameters).
        const ABORTED = 0x04;
        /// Media change request.
        const MEDIA_CHANGE_REQUEST = 0x08;
        /// Sector ID not found (address out of range).
        const NO_ID = 0x10;
        /// Media changed.
        const MEDIA_CHANGED = 0x20;
        /// Uncorrectable data error.
        const UNCORRECTABLE = 0x40;
        /// Bad block.
        const BAD_BLOCK = 0x80;
    }
}

bitflags! {
    /// The device control register (control + 0, write only).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Control: u8 {
        /// Do not raise interrupts (we poll).
        const NO_INTERRUPT = 0x02;
        /// Software reset of both drives on the channel.
        const RESET = 0x04;
        /// Read back the high-order bytes of the LBA48 registers.
        const HIGH_ORDER_BYTE = 0x80;
    }
}

/// ATA command codes.
mod command {
    pub const READ_SECTORS: u8 = 0x20;
    pub const READ_SECTORS_EXT: u8 = 0x24;
    pub const WRITE_SECTORS: u8 = 0x30;
    pub const WRITE_SECTORS_EXT: u8 = 0x34;
    pub const FLUSH_CACHE: u8 = 0xE7;
    pub const FLUSH_CACHE_EXT: u8 = 0xEA;
    pub const IDENTIFY_DEVICE: u8 = 0xEC;
}

/// The legacy channels: (command block base, control block base).
const CHANNELS: [(u16, u16); 2] = [(0x1F0, 0x3F6), (0x170, 0x376)];
/// Sectors per command: 256 fits LBA28's sector-count byte (0 means 256).
const MAX_SECTORS_PER_COMMAND: usize = 256;
/// How long one sector or a command's start may take.
const SECTOR_TIMEOUT_MS: u64 = 5_000;
/// A cache flush may take long on real disks.
const FLUSH_TIMEOUT_MS: u64 = 30_000;
/// IDENTIFY on an absent drive must not hold the boot up.
const IDENTIFY_TIMEOUT_MS: u64 = 1_000;

/// How a command addresses its sectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addressing {
    /// 28-bit LBA, up to 256 sectors per command: the short register sequence.
    Lba28,
    /// 48-bit LBA, up to 65536 sectors per command.
    Lba48,
}

/// Picks LBA28 when `count` sectors from `lba` fit it, LBA48 when the drive has it.
pub fn addressing(lba: u64, count: u64, lba48: bool) -> Result<Addressing, BlockError> {
    let end = lba.checked_add(count).ok_or(BlockError::OutOfRange)?;
    if count == 0 {
        Err(BlockError::BadLength)
    } else if end <= 1 << 28 && count <= 256 {
        Ok(Addressing::Lba28)
    } else if lba48 && end <= 1 << 48 && count <= 65536 {
        Ok(Addressing::Lba48)
    } else {
        Err(BlockError::OutOfRange)
    }
}

/// What IDENTIFY DEVICE tells us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Whether the drive takes the 48-bit commands (word 83 bit 10).
    pub lba48: bool,
    /// Addressable sectors (words 100–103 with LBA48, else 60–61).
    pub sectors: u64,
}

/// Decodes the 256 words of IDENTIFY DEVICE data.
pub fn parse_identify(words: &[u16; 256]) -> Identity {
    let lba48 = words[83] & (1 << 10) != 0;
    let lba28_sectors = u64::from(words[60]) | (u64::from(words[61]) << 16);
    let lba48_sectors = (0..4).fold(0u64, |acc, i| acc | (u64::from(words[100 + i]) << (16 * i)));
    Identity { lba48, sectors: if lba48 && lba48_sectors != 0 { lba48_sectors } else { lba28_sectors } }
}

/// Whether a PCI function is an IDE controller (class 01h, subclass 01h).
pub fn matches(f: &PciFunction) -> bool {
    f.class == 0x01 && f.subclass == 0x01
}

/// Whether both channels of an IDE controller use the legacy ports (prog-if bits 0, 2 clear).
pub fn compatibility_mode(f: &PciFunction) -> bool {
    f.prog_if & 0x05 == 0
}

bitflags! {
    /// The drive/head register (base + 6): which drive, LBA mode, LBA bits 24–27.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct DriveHead: u8 {
        /// Bits 7 and 5, set by convention (obsolete "always one" bits).
        const LEGACY = 0xA0;
        /// The address is an LBA, not a cylinder/head/sector triple.
        const LBA = 0x40;
        /// Device 1 (the slave) rather than device 0.
        const DEVICE1 = 0x10;
        /// LBA28 bits 24–27 (the low nibble).
        const LBA_24_27 = 0x0F;
    }
}

/// One channel's registers: the command block (the task file, base + 0..7) and the
/// control block (control + 0), one typed port per register as ATA/ATAPI-8 names them.
#[derive(Debug)]
struct Registers {
    /// Data (base + 0): 16-bit PIO data.
    data: ioport::ReadWrite<u16>,
    /// Error (base + 1, read).
    error: ioport::ReadOnly<u8>,
    /// Features (base + 1, write); the commands used here take none.
    _features: ioport::WriteOnly<u8>,
    /// Sector count (base + 2).
    sector_count: ioport::WriteOnly<u8>,
    /// LBA bits 0–7 (base + 3); with LBA48 also bits 24–31, written first.
    lba_low: ioport::WriteOnly<u8>,
    /// LBA bits 8–15 (base + 4); also 32–39. After IDENTIFY: the signature's low byte.
    lba_mid: ioport::ReadWrite<u8>,
    /// LBA bits 16–23 (base + 5); also 40–47. After IDENTIFY: the signature's high byte.
    lba_high: ioport::ReadWrite<u8>,
    /// Drive/head (base + 6).
    drive_head: ioport::WriteOnly<u8>,
    /// Status (base + 7, read).
    status: ioport::ReadOnly<u8>,
    /// Command (base + 7, write).
    command: ioport::WriteOnly<u8>,
    /// Alternate status (control + 0, read): the status without side effects.
    alt_status: ioport::ReadOnly<u8>,
    /// Device control (control + 0, write).
    device_control: ioport::WriteOnly<u8>,
}

impl Registers {
    /// The registers of legacy channel `channel` (0 primary, 1 secondary).
    fn legacy(channel: u8) -> Self {
        let (base, control) = CHANNELS[usize::from(channel)];
        // SAFETY: these are the ISA-compatible task-file and control ports of a legacy
        // IDE channel, which only this driver touches. ATA PIO never makes the drive
        // access memory: data moves through the data register.
        unsafe {
            Registers {
                data: ioport::Register::new(base),
                error: ioport::Register::new(base + 1),
                _features: ioport::Register::new(base + 1),
                sector_count: ioport::Register::new(base + 2),
                lba_low: ioport::Register::new(base + 3),
                lba_mid: ioport::Register::new(base + 4),
                lba_high: ioport::Register::new(base + 5),
                drive_head: ioport::Register::new(base + 6),
                status: ioport::Register::new(base + 7),
                command: ioport::Register::new(base + 7),
                alt_status: ioport::Register::new(control),
                device_control: ioport::Register::new(control),
            }
        }
    }

    /// Writes the sector count and the three LBA bytes, in that order.
    fn task_file(&mut self, count: u8, lba: [u8; 3]) {
        self.sector_count.write(count);
        self.lba_low.write(lba[0]);
        self.lba_mid.write(lba[1]);
        self.lba_high.write(lba[2]);
    }
}

/// An ATA disk on a legacy IDE channel.
pub struct AtaDisk {
    channel: u8,
    slave: bool,
    regs: Registers,
    identity: Identity,
}

impl AtaDisk {
    /// 0 for the primary channel, 1 for the secondary.
    pub fn channel(&self) -> u8 {
        self.channel
    }

    /// Whether this is the slave drive.
    pub fn slave(&self) -> bool {
        self.slave
    }

    /// What IDENTIFY DEVICE reported.
    pub fn identity(&self) -> Identity {
        self.identity
    }

    fn status(&mut self) -> Status {
        Status::from_bits_retain(self.regs.status.read())
    }

    /// Reads the alternate status four times: the 400 ns the drive needs after a select.
    fn delay_400ns(&mut self) {
        for _ in 0..4 {
            self.regs.alt_status.read();
        }
    }

    fn select(&mut self, drive_head: DriveHead) {
        let device = if self.slave { DriveHead::DEVICE1 } else { DriveHead::empty() };
        self.regs.drive_head.write((drive_head | device).bits());
        self.delay_400ns();
    }

    /// Waits until BSY clears; then the status must not show ERR or DF.
    fn wait_not_busy(&mut self, ms: u64) -> Result<Status, BlockError> {
        Deadline::after_ms(ms).wait(|| !self.status().contains(Status::BUSY))?;
        let status = self.status();
        if status.intersects(Status::ERROR | Status::DRIVE_FAULT) {
            let error = self.regs.error.read();
            return Err(BlockError::Device(u32::from(status.bits()) << 8 | u32::from(error)));
        }
        Ok(status)
    }

    /// Waits for the drive to ask for (or offer) one sector of data.
    fn wait_data(&mut self) -> Result<(), BlockError> {
        let status = self.wait_not_busy(SECTOR_TIMEOUT_MS)?;
        if status.contains(Status::DATA_REQUEST) {
            Ok(())
        } else {
            Err(BlockError::Device(u32::from(status.bits()) << 8))
        }
    }

    /// Probes one drive position with IDENTIFY DEVICE; `None` if no ATA disk is there.
    fn identify(channel: u8, slave: bool) -> Option<AtaDisk> {
        let regs = Registers::legacy(channel);
        let mut disk = AtaDisk { channel, slave, regs, identity: Identity { lba48: false, sectors: 0 } };
        disk.regs.device_control.write(Control::NO_INTERRUPT.bits());
        if disk.regs.status.read() == 0xff {
            return None; // floating bus: no drive on the channel
        }
        disk.select(DriveHead::LEGACY);
        disk.regs.task_file(0, [0; 3]);
        disk.regs.command.write(command::IDENTIFY_DEVICE);
        if disk.regs.status.read() == 0 {
            return None;
        }
        Deadline::after_ms(IDENTIFY_TIMEOUT_MS).wait(|| !disk.status().contains(Status::BUSY)).ok()?;
        if disk.regs.lba_mid.read() != 0 || disk.regs.lba_high.read() != 0 {
            return None; // ATAPI or SATA signature: not an ATA disk
        }
        Deadline::after_ms(IDENTIFY_TIMEOUT_MS)
            .wait(|| disk.status().intersects(Status::DATA_REQUEST | Status::ERROR))
            .ok()?;
        if disk.status().contains(Status::ERROR) {
            return None;
        }
        let mut words = [0u16; 256];
        disk.regs.data.read_words(words.as_mut_bytes());
        disk.identity = parse_identify(&words);
        (disk.identity.sectors > 0).then_some(disk)
    }

    /// Programs the task file for `count` sectors from `lba` and issues the command.
    fn issue(&mut self, lba: u64, count: usize, read: bool) -> Result<(), BlockError> {
        let mode = addressing(lba, count as u64, self.identity.lba48)?;
        self.wait_not_busy(SECTOR_TIMEOUT_MS)?;
        let b = lba.to_le_bytes();
        let n = (count as u16).to_le_bytes(); // 256 → 0x0100: LBA28 takes the low byte 0 as 256
        let cmd = match mode {
            Addressing::Lba28 => {
                self.select(
                    DriveHead::LEGACY | DriveHead::LBA | (DriveHead::from_bits_retain(b[3]) & DriveHead::LBA_24_27),
                );
                self.regs.task_file(n[0], [b[0], b[1], b[2]]);
                if read { command::READ_SECTORS } else { command::WRITE_SECTORS }
            }
            Addressing::Lba48 => {
                self.select(DriveHead::LBA);
                self.regs.task_file(n[1], [b[3], b[4], b[5]]);
                self.regs.task_file(n[0], [b[0], b[1], b[2]]);
                if read { command::READ_SECTORS_EXT } else { command::WRITE_SECTORS_EXT }
            }
        };
        self.regs.command.write(cmd);
        self.delay_400ns();
        Ok(())
    }
}

/// Probes the four legacy positions and hands every ATA disk to `found`.
pub fn probe_legacy(mut found: impl FnMut(AtaDisk)) {
    for channel in 0..2 {
        for slave in [false, true] {
            if let Some(disk) = AtaDisk::identify(channel, slave) {
                found(disk);
            }
        }
    }
}

impl BlockDevice for AtaDisk {
    fn driver_name(&self) -> &'static str {
        "ata-pio"
    }

    fn sector_count(&self) -> u64 {
        self.identity.sectors
    }

    fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_request(self.identity.sectors, lba, buf.len())?;
        for (i, chunk) in buf.chunks_mut(MAX_SECTORS_PER_COMMAND * SECTOR_SIZE).enumerate() {
            self.issue(lba + (i * MAX_SECTORS_PER_COMMAND) as u64, chunk.len() / SECTOR_SIZE, true)?;
            for sector in chunk.chunks_exact_mut(SECTOR_SIZE) {
                self.wait_data()?;
                self.regs.data.read_words(sector);
            }
            self.delay_400ns();
        }
        Ok(())
    }

    fn write_sectors(&mut self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        check_request(self.identity.sectors, lba, buf.len())?;
        for (i, chunk) in buf.chunks(MAX_SECTORS_PER_COMMAND * SECTOR_SIZE).enumerate() {
            self.issue(lba + (i * MAX_SECTORS_PER_COMMAND) as u64, chunk.len() / SECTOR_SIZE, false)?;
            for sector in chunk.chunks_exact(SECTOR_SIZE) {
                self.wait_data()?;
                self.regs.data.write_words(sector);
            }
            self.delay_400ns();
            self.wait_not_busy(SECTOR_TIMEOUT_MS)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        self.wait_not_busy(SECTOR_TIMEOUT_MS)?;
        self.select(DriveHead::LEGACY | DriveHead::LBA);
        let cmd = if self.identity.lba48 { command::FLUSH_CACHE_EXT } else { command::FLUSH_CACHE };
        self.regs.command.write(cmd);
        self.delay_400ns();
        self.wait_not_busy(FLUSH_TIMEOUT_MS).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lba28_while_it_fits_then_lba48() {
        assert_eq!(addressing(0, 1, false), Ok(Addressing::Lba28));
        assert_eq!(addressing((1 << 28) - 256, 256, false), Ok(Addressing::Lba28));
        assert_eq!(addressing((1 << 28) - 1, 2, true), Ok(Addressing::Lba48));
        assert_eq!(addressing((1 << 28) - 1, 2, false), Err(BlockError::OutOfRange));
        assert_eq!(addressing(0, 257, true), Ok(Addressing::Lba48));
        assert_eq!(addressing(0, 65537, true), Err(BlockError::OutOfRange));
        assert_eq!(addressing(1 << 48, 1, true), Err(BlockError::OutOfRange));
        assert_eq!(addressing(u64::MAX, 1, true), Err(BlockError::OutOfRange));
        assert_eq!(addressing(5, 0, true), Err(BlockError::BadLength));
    }

    #[test]
    fn identify_data_gives_size_and_lba48() {
        let mut w = [0u16; 256];
        w[60] = 0x2000;
        w[61] = 0x0001; // 0x12000 sectors through LBA28
        assert_eq!(parse_identify(&w), Identity { lba48: false, sectors: 0x12000 });
        w[83] = 1 << 10;
        w[100] = 0x0000;
        w[101] = 0x0000;
        w[102] = 0x0001; // 2^32 sectors
        assert_eq!(parse_identify(&w), Identity { lba48: true, sectors: 1 << 32 });
    }

    #[test]
    fn drive_head_values_are_the_classic_ones() {
        let lba28 =
            DriveHead::LEGACY | DriveHead::LBA | (DriveHead::from_bits_retain(0x0f_u8 | 0xa0) & DriveHead::LBA_24_27);
        assert_eq!(lba28.bits(), 0xEF);
        assert_eq!((DriveHead::LEGACY | DriveHead::DEVICE1).bits(), 0xB0); // IDENTIFY, slave
        assert_eq!(DriveHead::LBA.bits(), 0x40); // LBA48
    }

    #[test]
    fn status_bits_follow_the_ata_register() {
        let s = Status::from_bits_retain(0x58);
        assert!(s.contains(Status::READY | Status::DATA_REQUEST | Status::SERVICE));
        assert!(!s.contains(Status::BUSY));
    }
}
