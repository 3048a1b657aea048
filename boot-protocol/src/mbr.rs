//! The MBR sector's partition table: entries, CHS addresses and the offsets of the
//! sector's parts (shared by `mkimage` and the kernel's exported images).

/// Offset of the 4-byte disk signature.
pub const DISK_SIGNATURE_OFFSET: usize = 440;
/// Offset of the partition table (four 16-byte entries).
pub const PARTITION_TABLE_OFFSET: usize = 446;
/// Size of one partition-table entry.
pub const PARTITION_ENTRY_SIZE: usize = 16;
/// Offset of the `0x55 0xAA` boot signature.
pub const BOOT_SIGNATURE_OFFSET: usize = 510;
/// The boot signature.
pub const BOOT_SIGNATURE: [u8; 2] = [0x55, 0xAA];

/// Partition type of the boot partition (stage2, header, payload): non-file-system data.
pub const PARTITION_TYPE_BOOT_DATA: u8 = 0xDA;
/// Partition type of a FAT16 partition of at least 65536 sectors (32 MiB).
pub const PARTITION_TYPE_FAT16: u8 = 0x06;
/// Partition type of a FAT16 partition of fewer than 65536 sectors.
pub const PARTITION_TYPE_FAT16_SMALL: u8 = 0x04;
/// Status byte of the active (boot) partition.
pub const STATUS_ACTIVE: u8 = 0x80;

/// Heads per cylinder of the CHS geometry written to the partition table.
pub const CHS_HEADS: u64 = 255;
/// Sectors per track of the CHS geometry written to the partition table.
pub const CHS_SECTORS_PER_TRACK: u64 = 63;
/// Highest cylinder a CHS address can hold; larger addresses saturate to it.
pub const CHS_MAX_CYLINDER: u64 = 1023;

/// The partition type for a FAT16 partition of `sectors` sectors.
pub fn fat16_partition_type(sectors: u32) -> u8 {
    if sectors < 65536 { PARTITION_TYPE_FAT16_SMALL } else { PARTITION_TYPE_FAT16 }
}

/// A cylinder/head/sector address (sector counts from 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chs {
    /// Cylinder, 0–1023.
    pub cylinder: u16,
    /// Head, 0–254.
    pub head: u8,
    /// Sector, 1–63.
    pub sector: u8,
}

impl Chs {
    /// The CHS address of `lba` in the 255-head/63-sector geometry; addresses past
    /// cylinder 1023 saturate to 1023/254/63, as partitioning tools do.
    pub fn from_lba(lba: u64) -> Self {
        let cylinder = lba / (CHS_HEADS * CHS_SECTORS_PER_TRACK);
        if cylinder > CHS_MAX_CYLINDER {
            return Chs {
                cylinder: CHS_MAX_CYLINDER as u16,
                head: (CHS_HEADS - 1) as u8,
                sector: CHS_SECTORS_PER_TRACK as u8,
            };
        }
        Chs {
            cylinder: cylinder as u16,
            head: ((lba / CHS_SECTORS_PER_TRACK) % CHS_HEADS) as u8,
            sector: (lba % CHS_SECTORS_PER_TRACK + 1) as u8,
        }
    }

    /// The three bytes of a partition-table entry: head, sector with cylinder bits 8–9
    /// in its top two bits, cylinder bits 0–7.
    pub fn encode(self) -> [u8; 3] {
        [self.head, self.sector | ((self.cylinder >> 2) as u8 & 0xC0), self.cylinder as u8]
    }

    /// Reads the three bytes written by [`Chs::encode`].
    pub fn decode(bytes: [u8; 3]) -> Self {
        Chs { cylinder: u16::from(bytes[1] & 0xC0) << 2 | u16::from(bytes[2]), head: bytes[0], sector: bytes[1] & 0x3F }
    }
}

impl core::fmt::Display for Chs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}/{}/{}", self.cylinder, self.head, self.sector)
    }
}

/// One partition-table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PartitionEntry {
    /// Status byte: [`STATUS_ACTIVE`] or 0.
    pub status: u8,
    /// Partition type byte.
    pub kind: u8,
    /// First sector (LBA).
    pub first_lba: u32,
    /// Number of sectors.
    pub sectors: u32,
}

impl PartitionEntry {
    /// Whether the entry is unused (type 0).
    pub fn is_empty(&self) -> bool {
        self.kind == 0
    }

    /// Last sector of the partition (inclusive); for a zero-length entry, the one before
    /// its first sector (0 at worst).
    pub fn last_lba(&self) -> u64 {
        (u64::from(self.first_lba) + u64::from(self.sectors)).saturating_sub(1)
    }

    /// The 16 bytes of the entry, CHS fields computed from the LBA fields.
    pub fn encode(&self) -> [u8; PARTITION_ENTRY_SIZE] {
        let mut bytes = [0u8; PARTITION_ENTRY_SIZE];
        if self.is_empty() {
            return bytes;
        }
        bytes[0] = self.status;
        bytes[1..4].copy_from_slice(&Chs::from_lba(self.first_lba.into()).encode());
        bytes[4] = self.kind;
        bytes[5..8].copy_from_slice(&Chs::from_lba(self.last_lba()).encode());
        bytes[8..12].copy_from_slice(&self.first_lba.to_le_bytes());
        bytes[12..16].copy_from_slice(&self.sectors.to_le_bytes());
        bytes
    }

    /// Reads an entry; returns it with its start and end CHS addresses.
    pub fn decode(bytes: &[u8; PARTITION_ENTRY_SIZE]) -> (Self, Chs, Chs) {
        let entry = PartitionEntry {
            status: bytes[0],
            kind: bytes[4],
            first_lba: u32::from_le_bytes(bytes[8..12].try_into().unwrap()),
            sectors: u32::from_le_bytes(bytes[12..16].try_into().unwrap()),
        };
        (entry, Chs::decode([bytes[1], bytes[2], bytes[3]]), Chs::decode([bytes[5], bytes[6], bytes[7]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_round_trips_with_its_chs() {
        let e = PartitionEntry { status: STATUS_ACTIVE, kind: PARTITION_TYPE_BOOT_DATA, first_lba: 1, sectors: 100 };
        let (d, start, end) = PartitionEntry::decode(&e.encode());
        assert_eq!(d, e);
        assert_eq!((start, end), (Chs::from_lba(1), Chs::from_lba(100)));
        assert_eq!(PartitionEntry::default().encode(), [0; PARTITION_ENTRY_SIZE]);
    }
}
