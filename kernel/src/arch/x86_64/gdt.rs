//! The kernel's GDT and TSS, with interrupt-stack-table (IST) stacks for exceptions.
//!
//! Selectors: `0x08` 64-bit kernel code, `0x10` kernel data, `0x18` TSS — the same code
//! and data selectors stage2 used, so `SYSCALL` (STAR) can rely on them later.

/// The 64-bit kernel code selector (SYSCALL's CS; SS is the next entry, 0x10).
pub const KERNEL_CODE_SELECTOR: u16 = 0x08;

use spin::Once;
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;

/// IST slot (0-based, as in the TSS) used by every exception except double fault.
pub const EXCEPTION_IST_INDEX: u16 = 0;
/// IST slot used by the double-fault handler, so a stack overflow still reports.
pub const DOUBLE_FAULT_IST_INDEX: u16 = 1;

const IST_STACK_SIZE: usize = 32 * 1024;

#[repr(C, align(16))]
struct IstStack([u8; IST_STACK_SIZE]);

static mut EXCEPTION_STACK: IstStack = IstStack([0; IST_STACK_SIZE]);
static mut DOUBLE_FAULT_STACK: IstStack = IstStack([0; IST_STACK_SIZE]);

struct Tables {
    gdt: GlobalDescriptorTable,
    code: SegmentSelector,
    data: SegmentSelector,
    tss: SegmentSelector,
}

static TSS: Once<TaskStateSegment> = Once::new();
static TABLES: Once<Tables> = Once::new();

fn stack_top(stack: *mut IstStack) -> VirtAddr {
    VirtAddr::from_ptr(stack) + IST_STACK_SIZE as u64
}

/// Builds and loads the GDT and TSS and reloads every segment register.
pub fn init() {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        tss.interrupt_stack_table[EXCEPTION_IST_INDEX as usize] = stack_top(&raw mut EXCEPTION_STACK);
        tss.interrupt_stack_table[DOUBLE_FAULT_IST_INDEX as usize] = stack_top(&raw mut DOUBLE_FAULT_STACK);
        tss
    });
    let tables = TABLES.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let code = gdt.append(Descriptor::kernel_code_segment());
        let data = gdt.append(Descriptor::kernel_data_segment());
        let tss = gdt.append(Descriptor::tss_segment(tss));
        Tables { gdt, code, data, tss }
    });
    tables.gdt.load();
    // SAFETY: the selectors index descriptors of the GDT just loaded, which lives in a
    // `static` and so outlives every use; the code selector is a 64-bit code segment.
    unsafe {
        CS::set_reg(tables.code);
        DS::set_reg(tables.data);
        ES::set_reg(tables.data);
        SS::set_reg(tables.data);
        load_tss(tables.tss);
    }
}
