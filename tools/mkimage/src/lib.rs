//! The BareFlow disk-image builder, as a library (the `mkimage` binary is a thin CLI).
//!
//! An image is, by LBA (see `docs/boot-protocol.md`): 0 stage1 with the partition
//! table, 1–8 stage2, 9 the FLUD header, 10… the payload (the kernel ELF flattened at
//! `0x100000`, then the modules), and a FAT16 partition on the next 1 MiB boundary.
//!
//! * [`kernel_elf`] — kernel ELF → flat memory image;
//! * [`payload`] — module placement, payload bytes and the FLUD header;
//! * [`mbr`] — partition entries, CHS encoding, patching stage1;
//! * [`fat`] — formatting and reading the FAT16 partition;
//! * [`files`] — listing, reading and writing files on it (`mkimage fs`);
//! * [`snapshots`] — the snapshots the kernel wrote on it (`mkimage snapshot`);
//! * [`image`] — the disk layout, assembling and writing an image;
//! * [`keep_fat`] — carrying the previous image's FAT16 partition over (`--keep-fat`);
//! * [`inspect`] — decoding and checking an image (`mkimage info`);
//! * [`deadcode`] — the kernel's dead-code map mapped back to components and symbols
//!   (`mkimage deadcode`);
//! * [`size_report`] — the kernel's bytes per component and object file, and LLVM's
//!   share (`mkimage size-report`, `make size-report`).

pub mod deadcode;
pub mod fat;
pub mod files;
pub mod image;
pub mod inspect;
pub mod keep_fat;
pub mod kernel_elf;
pub mod mbr;
pub mod payload;
pub mod size_report;
pub mod snapshots;
