//! The MBR sector: stage1's code, the disk signature and the partition table.

use anyhow::{Result, bail, ensure};
use boot_protocol::SECTOR_SIZE;

pub use boot_protocol::mbr::*;

/// Checks that `stage1` is a blank MBR template: exactly 512 bytes, ending `0x55 0xAA`,
/// with the disk signature and partition table area (bytes 440–509) zero.
pub fn check_stage1(stage1: &[u8]) -> Result<()> {
    ensure!(stage1.len() == SECTOR_SIZE, "stage1 is {} bytes; it must be exactly {SECTOR_SIZE}", stage1.len());
    ensure!(
        stage1[BOOT_SIGNATURE_OFFSET..] == BOOT_SIGNATURE,
        "stage1 does not end with the boot signature 0x55 0xAA (found {:#04x} {:#04x})",
        stage1[510],
        stage1[511]
    );
    if let Some(i) = stage1[DISK_SIGNATURE_OFFSET..BOOT_SIGNATURE_OFFSET].iter().position(|&b| b != 0) {
        bail!(
            "stage1 byte {} is not zero: bytes 440–509 (disk signature and partition table) are \
             written by mkimage, so stage1's code must end before byte 440",
            DISK_SIGNATURE_OFFSET + i
        );
    }
    Ok(())
}

/// stage1 with the disk signature and the partition table filled in.
pub fn patch_mbr(stage1: &[u8], disk_signature: u32, entries: &[PartitionEntry; 4]) -> Result<[u8; SECTOR_SIZE]> {
    check_stage1(stage1)?;
    let mut mbr = [0u8; SECTOR_SIZE];
    mbr.copy_from_slice(stage1);
    mbr[DISK_SIGNATURE_OFFSET..DISK_SIGNATURE_OFFSET + 4].copy_from_slice(&disk_signature.to_le_bytes());
    for (i, entry) in entries.iter().enumerate() {
        let offset = PARTITION_TABLE_OFFSET + i * PARTITION_ENTRY_SIZE;
        mbr[offset..offset + PARTITION_ENTRY_SIZE].copy_from_slice(&entry.encode());
    }
    Ok(mbr)
}

/// The decoded partition table of an MBR sector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionTable {
    /// The disk signature at byte 440.
    pub disk_signature: u32,
    /// The four entries with their start and end CHS addresses.
    pub entries: [(PartitionEntry, Chs, Chs); 4],
}

/// Reads the disk signature and partition table of an MBR; fails without `0x55 0xAA`.
pub fn read_partition_table(mbr: &[u8; SECTOR_SIZE]) -> Result<PartitionTable> {
    ensure!(
        mbr[BOOT_SIGNATURE_OFFSET..] == BOOT_SIGNATURE,
        "LBA 0 has no MBR boot signature 0x55 0xAA: not a BareFlow disk image"
    );
    let disk_signature = u32::from_le_bytes(mbr[DISK_SIGNATURE_OFFSET..DISK_SIGNATURE_OFFSET + 4].try_into().unwrap());
    let entries = core::array::from_fn(|i| {
        let offset = PARTITION_TABLE_OFFSET + i * PARTITION_ENTRY_SIZE;
        PartitionEntry::decode(mbr[offset..offset + PARTITION_ENTRY_SIZE].try_into().unwrap())
    });
    Ok(PartitionTable { disk_signature, entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank_stage1() -> Vec<u8> {
        let mut s = vec![0x90u8; 440];
        s.resize(510, 0);
        s.extend_from_slice(&BOOT_SIGNATURE);
        s
    }

    #[test]
    fn chs_of_known_lbas() {
        assert_eq!(Chs::from_lba(0), Chs { cylinder: 0, head: 0, sector: 1 });
        assert_eq!(Chs::from_lba(1), Chs { cylinder: 0, head: 0, sector: 2 });
        assert_eq!(Chs::from_lba(62), Chs { cylinder: 0, head: 0, sector: 63 });
        assert_eq!(Chs::from_lba(63), Chs { cylinder: 0, head: 1, sector: 1 });
        // The classic first partition at 1 MiB: 0/32/33.
        assert_eq!(Chs::from_lba(2048), Chs { cylinder: 0, head: 32, sector: 33 });
        assert_eq!(Chs::from_lba(16065), Chs { cylinder: 1, head: 0, sector: 1 });
        // Last addressable sector, then saturation.
        let last = 1024 * 16065 - 1;
        assert_eq!(Chs::from_lba(last), Chs { cylinder: 1023, head: 254, sector: 63 });
        assert_eq!(Chs::from_lba(last + 1), Chs { cylinder: 1023, head: 254, sector: 63 });
        assert_eq!(Chs::from_lba(u64::from(u32::MAX)), Chs { cylinder: 1023, head: 254, sector: 63 });
    }

    #[test]
    fn chs_byte_encoding() {
        assert_eq!(Chs::from_lba(2048).encode(), [0x20, 0x21, 0x00]);
        // Cylinder 1023 = 0x3FF: bits 8–9 go to the top of the sector byte.
        assert_eq!(Chs { cylinder: 1023, head: 254, sector: 63 }.encode(), [0xFE, 0xFF, 0xFF]);
        assert_eq!(Chs { cylinder: 0x1A5, head: 7, sector: 9 }.encode(), [7, 0x49, 0xA5]);
        for lba in [0, 1, 2047, 2048, 16064, 16065, 1_000_000, 16_450_559, 16_450_560] {
            let chs = Chs::from_lba(lba);
            assert_eq!(Chs::decode(chs.encode()), chs);
        }
    }

    #[test]
    fn partition_entry_round_trip() {
        let entry =
            PartitionEntry { status: STATUS_ACTIVE, kind: PARTITION_TYPE_BOOT_DATA, first_lba: 1, sectors: 2047 };
        let bytes = entry.encode();
        assert_eq!(bytes[0], 0x80);
        assert_eq!(&bytes[1..4], &[0, 2, 0]); // LBA 1 = 0/0/2
        assert_eq!(bytes[4], 0xDA);
        assert_eq!(&bytes[5..8], &Chs::from_lba(2047).encode());
        assert_eq!(&bytes[8..16], &[1, 0, 0, 0, 0xFF, 7, 0, 0]);
        assert_eq!(PartitionEntry::decode(&bytes), (entry, Chs::from_lba(1), Chs::from_lba(2047)));
        assert_eq!(PartitionEntry::default().encode(), [0; 16]);
    }

    #[test]
    fn fat16_type_depends_on_size() {
        assert_eq!(fat16_partition_type(65535), PARTITION_TYPE_FAT16_SMALL);
        assert_eq!(fat16_partition_type(65536), PARTITION_TYPE_FAT16);
    }

    #[test]
    fn stage1_is_checked() {
        assert!(check_stage1(&blank_stage1()).is_ok());
        assert!(check_stage1(&blank_stage1()[..511]).unwrap_err().to_string().contains("exactly 512"));
        let mut no_signature = blank_stage1();
        no_signature[511] = 0;
        assert!(check_stage1(&no_signature).unwrap_err().to_string().contains("0x55 0xAA"));
        let mut code_in_table = blank_stage1();
        code_in_table[450] = 1;
        assert!(check_stage1(&code_in_table).unwrap_err().to_string().contains("byte 450"));
    }

    #[test]
    fn patch_and_read_back() {
        let entries = [
            PartitionEntry { status: STATUS_ACTIVE, kind: PARTITION_TYPE_BOOT_DATA, first_lba: 1, sectors: 4095 },
            PartitionEntry { status: 0, kind: PARTITION_TYPE_FAT16, first_lba: 4096, sectors: 65536 },
            PartitionEntry::default(),
            PartitionEntry::default(),
        ];
        let mbr = patch_mbr(&blank_stage1(), 0xCAFE_F00D, &entries).unwrap();
        assert_eq!(&mbr[..440], &blank_stage1()[..440]);
        assert_eq!(&mbr[510..], &BOOT_SIGNATURE);
        let table = read_partition_table(&mbr).unwrap();
        assert_eq!(table.disk_signature, 0xCAFE_F00D);
        assert_eq!(table.entries.map(|(e, _, _)| e), entries);
        let mut broken = mbr;
        broken[510] = 0;
        assert!(read_partition_table(&broken).is_err());
    }
}
