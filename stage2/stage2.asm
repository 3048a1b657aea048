; =============================================================================
; BareFlow stage2 — the <= 4 KiB loader (real mode -> unreal mode -> long mode).
;
; stage1 loads this file from LBA 1..8 to 0000:7E00 and jumps to it with
; DL = boot drive, DS = ES = SS = 0, SP = 0x7C00. Bytes 2..5 are "BFS2".
; The contract is docs/boot-protocol.md; every address below comes from it.
;
; Flow:
;   1. Set up segments/stack, clear the boot-info block, initialise COM1
;      (115200 8N1, FIFO on) and print the banner "BareFlow stage2".
;   2. A20: test; else BIOS INT 15h AX=2401h, test; else fast A20 (port 0x92),
;      test; else keyboard controller (8042 command D1h, data DFh), test.
;      The method goes to boot info 0x09. All failed -> "A20: could not enable".
;   3. E820 memory map to 0x9100 (at most 128 entries of 24 bytes).
;   4. Read the FLUD header (LBA 9) to 0xA000 and check it in the order of the
;      table in the docs: magic, version + header size, header CRC32, layout,
;      fit in one usable E820 region. Then "FLUD: header ok".
;   5. Load the payload (LBA 10 ...) to 0x100000: INT 13h AH=42h into the
;      bounce buffer 0x1000:0000 (127 sectors at most, halving the count on an
;      error), then copy each chunk above 1 MiB from unreal mode with
;      `a32 rep movsd`. 40 progress dots regardless of the size.
;   6. CRC32 of the payload in place -> "FLUD: payload checksum ok".
;   7. Fill the boot-info block at 0x9000.
;   8. Identity-map 4 GiB with 2 MiB pages, enter long mode directly from real
;      mode, and jump to the header's entry point with RDI = 0x9000.
; Any failure prints its message (screen and COM1) and halts: cli; hlt loop.
;
; Build: nasm -f bin stage2/stage2.asm -o build/stage2.bin
; =============================================================================

        bits 16
        org 0x7E00

; ---- memory map (docs/boot-protocol.md, "Low memory used while booting") ----
%define HANDOFF_TSC     0x0500      ; u64 TSC stored by stage1's first instruction
%define HANDOFF_DRIVE   0x0508      ; u8 boot drive stored by stage1
%define PML4_ADDR       0x1000      ; page-map level 4
%define PDPT_ADDR       0x2000      ; page-directory-pointer table
%define PD_ADDR         0x3000      ; four page directories, 0x3000..0x6FFF
%define PT_END          0x7000      ; end of the page-table area
%define STACK_TOP       0x7C00      ; real-mode stack grows down from here
%define STAGE2_ADDR     0x7E00      ; where stage1 put us
%define STAGE2_MAX      4096        ; LBA 1..8
%define BOOTINFO        0x9000      ; boot-info block, 64 bytes
%define E820_BUF        0x9100      ; E820 entries
%define E820_MAX        128
%define E820_ENTRY      24          ; bytes per stored entry
%define FLUD_ADDR       0xA000      ; copy of the FLUD header
%define CRC_TABLE       0xB000      ; 256 x u32
%define BOUNCE_SEG      0x1000      ; bounce buffer 0x1000:0000 ...
%define BOUNCE_LINEAR   0x10000     ; ... = linear 0x10000 .. 0x1FDFF
%define LOAD_ADDR       0x100000    ; payload load address (version 1)

; ---- disk layout ------------------------------------------------------------
%define FLUD_LBA        9
%define PAYLOAD_LBA     10
%define SECTOR_SIZE     512
%define MAX_SECTORS     127         ; most sectors per INT 13h read (fits the bounce buffer)

; ---- FLUD header fields (offsets from FLUD_ADDR) ----------------------------
%define FH_MAGIC        0x000       ; "FLUD"
%define FH_VERSION      0x004       ; u16, 1
%define FH_HDR_SIZE     0x006       ; u16, 512
%define FH_HDR_CRC      0x00C       ; u32
%define FH_PAYLOAD_SIZE 0x010       ; u64
%define FH_LOAD_ADDR    0x018       ; u64
%define FH_ENTRY        0x020       ; u64
%define FH_PAYLOAD_CRC  0x028       ; u32
%define FH_MODULES      0x02C       ; u32 module count
%define FLUD_MAGIC      'FLUD'
%define FLUD_VERSION    1
%define FLUD_HDR_SIZE   512
%define FLUD_MAX_MODS   6

; ---- boot-info block fields (offsets from BOOTINFO) -------------------------
%define BI_MAGIC        0x00        ; u32 'BFBI'
%define BI_VERSION      0x04        ; u16 1
%define BI_SIZE         0x06        ; u16 64
%define BI_DRIVE        0x08        ; u8
%define BI_A20          0x09        ; u8: 0 already, 1 BIOS, 2 fast, 3 KBC
%define BI_E820_COUNT   0x0A        ; u16
%define BI_E820_ADDR    0x0C        ; u32
%define BI_TSC_STAGE1   0x10        ; u64
%define BI_TSC_LOAD0    0x18        ; u64 before the first payload read
%define BI_TSC_LOAD1    0x20        ; u64 after the last chunk is in place
%define BI_TSC_CRC      0x28        ; u64 after the payload CRC
%define BI_TSC_EXIT     0x30        ; u64 just before the jump to the kernel
%define BI_FLUD_ADDR    0x38        ; u32
%define BI_SPR          0x3C        ; u16 sectors per INT 13h read
%define BI_CURSOR       0x3E        ; u16 row << 8 | column
%define BI_MAGIC_VALUE  0x49424642  ; "BFBI"
%define BI_VERSION_VAL  1
%define BI_SIZE_VALUE   64

; ---- hardware -----------------------------------------------------------------
%define COM1            0x3F8
%define COM1_IER        COM1 + 1
%define COM1_FCR        COM1 + 2
%define COM1_LCR        COM1 + 3
%define COM1_MCR        COM1 + 4
%define COM1_LSR        COM1 + 5
%define LSR_THRE        0x20        ; transmit holding register empty
%define PORT_A20_FAST   0x92        ; system control port A
%define KBC_DATA        0x60
%define KBC_CMD         0x64        ; status register when read
%define A20_TEST_LOW    0x0510      ; 0000:0510 (just past the stage1 hand-off)
%define A20_TEST_HIGH   0x0520      ; FFFF:0520 = 0x100510, aliases 0x0510 without A20
%define SMAP            0x534D4150  ; 'SMAP'
%define E820_USABLE     1
%define CRC_POLY        0xEDB88320
%define PROGRESS_DOTS   40
%define EFER_MSR        0xC0000080
%define EFER_LME        (1 << 8)
%define CR4_PAE         (1 << 5)
%define CR0_PE          1
%define CR0_PG          0x80000000
%define CR0_CD_NW       0x60000000
%define PAGE_PRESENT_RW 0x03
%define PAGE_2M_FLAGS   0x83        ; present | write | page size
%define PAGE_SIZE_2M    0x200000
%define PD_ENTRIES      2048        ; 4 PDs x 512 entries x 2 MiB = 4 GiB
%define A20_ALREADY     0           ; boot-info A20 method codes
%define A20_BIOS        1
%define A20_FAST        2
%define A20_KBC         3
%define SEL_CODE64      0x08
%define SEL_DATA        0x10

; =============================================================================
start:
        jmp short main
        db 'BFS2'                       ; signature checked by stage1

main:
        cli
        xor ax, ax
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, STACK_TOP
        sti
        cld
        mov [boot_drive], dl

        mov di, BOOTINFO                ; clear the boot-info block
        xor eax, eax
        mov cx, BI_SIZE_VALUE / 4
        rep stosd

        call serial_init
        mov si, msg_banner
        call puts

        call enable_a20
        call read_e820
        call load_header
        call load_payload
        call check_payload
        call fill_boot_info
        call build_page_tables
        jmp enter_long_mode

; =============================================================================
; enable_a20: make sure the A20 line is on, trying BIOS, fast A20 and the
; keyboard controller in turn; records the method in boot info and prints it.
; =============================================================================
enable_a20:
        xor bx, bx                      ; BL = method (A20_ALREADY)
        call a20_test
        jnc .on

        mov bl, A20_BIOS                ; BIOS INT 15h AX=2401h
        pushad
        mov ax, 0x2401
        int 0x15
        popad
        call a20_wait
        jnc .on

        mov bl, A20_FAST                ; fast A20: bit 1 of port 0x92
        in al, PORT_A20_FAST
        test al, 0x02
        jnz .fast_done
        or al, 0x02
        and al, 0xFE                    ; never write bit 0 (it resets the CPU)
        out PORT_A20_FAST, al
.fast_done:
        call a20_wait
        jnc .on

        mov bl, A20_KBC                 ; 8042: write output port = DFh
        call kbc_wait
        mov al, 0xD1
        out KBC_CMD, al
        call kbc_wait
        mov al, 0xDF
        out KBC_DATA, al
        call kbc_wait
        call a20_wait
        jnc .on

        mov si, msg_a20_fail
        jmp fatal

.on:
        mov [BOOTINFO + BI_A20], bl
        mov si, msg_a20
        call puts
        shl bx, 1
        mov si, [a20_names + bx]
        call puts
        mov si, msg_close_crlf
        jmp puts

; a20_test: CF clear if A20 is on. Writes different bytes to 0000:0510 and
; FFFF:0520 (= 0x100510) and sees whether they alias; restores both bytes.
a20_test:
        push ds
        push es
        push ax
        xor ax, ax
        mov ds, ax
        dec ax
        mov es, ax                      ; ES = FFFFh
        mov al, [A20_TEST_LOW]
        mov ah, [es:A20_TEST_HIGH]
        push ax
        mov byte [A20_TEST_LOW], 0x00
        mov byte [es:A20_TEST_HIGH], 0xFF
        cmp byte [A20_TEST_LOW], 0xFF   ; ZF = wrapped = A20 off
        pop ax
        mov [es:A20_TEST_HIGH], ah      ; restore (high first: it may alias)
        mov [A20_TEST_LOW], al
        stc
        je .done
        clc
.done:
        pop ax
        pop es
        pop ds
        ret

; a20_wait: test A20 repeatedly for a while (the switch may take time).
; CF clear if A20 came on.
a20_wait:
        push cx
        mov cx, 0xFFFF
.again:
        call a20_test
        jnc .done
        in al, 0x80                     ; ~1 us I/O delay
        loop .again
        stc
.done:
        pop cx
        ret

; kbc_wait: wait (bounded) until the 8042 input buffer is empty.
kbc_wait:
        push cx
        mov cx, 0xFFFF
.again:
        in al, KBC_CMD
        test al, 0x02
        jz .done
        in al, 0x80
        loop .again
.done:
        pop cx
        ret

; =============================================================================
; read_e820: INT 15h EAX=E820h into E820_BUF; skips empty and short entries;
; stores the count in boot info and prints "E820: N entries".
; =============================================================================
read_e820:
        xor ebx, ebx                    ; continuation value
        xor bp, bp                      ; entries kept
        mov di, E820_BUF
.next:
        mov dword [di + 20], 1          ; ACPI 3 attributes: valid unless the BIOS says otherwise
        mov eax, 0xE820
        mov edx, SMAP
        mov ecx, E820_ENTRY
        push bp
        push di
        int 0x15
        pop di
        pop bp
        jc .end                         ; CF: end of list (or failure if none yet)
        cmp eax, SMAP
        jne .end
        cmp ecx, 20
        jb .skip
        mov eax, [di + 8]               ; skip zero-length entries
        or eax, [di + 12]
        jz .skip
        inc bp
        add di, E820_ENTRY
        cmp bp, E820_MAX
        jae .end
.skip:
        test ebx, ebx
        jnz .next
.end:
        test bp, bp
        jnz .ok
        mov si, msg_e820_fail
        jmp fatal
.ok:
        mov [BOOTINFO + BI_E820_COUNT], bp
        mov si, msg_e820
        call puts
        movzx eax, bp
        call print_dec
        mov si, msg_entries
        jmp puts

; =============================================================================
; load_header: read the FLUD header to FLUD_ADDR and check it in the order of
; docs/boot-protocol.md. Halts with the matching message on any mismatch.
; =============================================================================
load_header:
        mov eax, FLUD_LBA
        mov cx, 1
        mov bx, FLUD_ADDR >> 4
        call disk_read
        jnc .read_ok
        jmp disk_error
.read_ok:
        mov si, msg_bad_sig
        cmp dword [FLUD_ADDR + FH_MAGIC], FLUD_MAGIC
        jne fatal

        mov si, msg_bad_version
        cmp word [FLUD_ADDR + FH_VERSION], FLUD_VERSION
        jne fatal
        cmp word [FLUD_ADDR + FH_HDR_SIZE], FLUD_HDR_SIZE
        jne fatal

        call crc_make_table             ; header CRC with the CRC field as zero
        mov edx, [FLUD_ADDR + FH_HDR_CRC]
        mov dword [FLUD_ADDR + FH_HDR_CRC], 0
        mov esi, FLUD_ADDR
        mov ecx, FLUD_HDR_SIZE
        call crc32
        mov [FLUD_ADDR + FH_HDR_CRC], edx
        mov si, msg_bad_hdr_crc
        cmp eax, edx
        jne fatal

        mov si, msg_bad_layout
        cmp dword [FLUD_ADDR + FH_LOAD_ADDR], LOAD_ADDR
        jne fatal
        cmp dword [FLUD_ADDR + FH_LOAD_ADDR + 4], 0
        jne fatal
        cmp dword [FLUD_ADDR + FH_PAYLOAD_SIZE + 4], 0  ; < 4 GiB
        jne fatal
        mov ecx, [FLUD_ADDR + FH_PAYLOAD_SIZE]
        test ecx, ecx                                   ; > 0
        jz fatal
        cmp dword [FLUD_ADDR + FH_ENTRY + 4], 0         ; entry below 4 GiB (mapped)
        jne fatal
        mov eax, [FLUD_ADDR + FH_ENTRY]
        sub eax, LOAD_ADDR                              ; entry >= load_addr
        jb fatal
        cmp eax, ecx                                    ; entry < load_addr + size
        jae fatal
        cmp dword [FLUD_ADDR + FH_MODULES], FLUD_MAX_MODS
        ja fatal

        ; The payload [LOAD_ADDR, LOAD_ADDR + size) must lie below 4 GiB (32-bit
        ; copies, the identity map) and inside one usable E820 region.
        mov si, msg_no_fit
        mov eax, ecx
        xor edx, edx
        add eax, LOAD_ADDR              ; EDX:EAX = end of the payload
        adc edx, 0
        jz .below_4g
        test eax, eax                   ; exactly 4 GiB is still fine
        jnz fatal
.below_4g:
        mov [load_end], eax
        mov [load_end + 4], edx
        mov di, E820_BUF
        mov cx, [BOOTINFO + BI_E820_COUNT]
.region:
        cmp dword [di + 16], E820_USABLE
        jne .next_region
        test byte [di + 20], 1          ; ACPI 3: bit 0 clear = ignore entry
        jz .next_region
        cmp dword [di + 4], 0           ; base <= LOAD_ADDR
        jne .next_region
        cmp dword [di], LOAD_ADDR
        ja .next_region
        mov eax, [di]                   ; EDX:EAX = base + length
        mov edx, [di + 4]
        add eax, [di + 8]
        adc edx, [di + 12]
        cmp edx, [load_end + 4]
        ja .fits
        jb .next_region
        cmp eax, [load_end]
        jae .fits
.next_region:
        add di, E820_ENTRY
        loop .region
        jmp fatal                       ; SI = msg_no_fit
.fits:
        mov si, msg_header_ok
        jmp puts

; =============================================================================
; load_payload: read ceil(payload_size / 512) sectors from PAYLOAD_LBA through
; the bounce buffer and copy them to LOAD_ADDR from unreal mode.
; Sectors per call start at 127; a failing read is retried at the same LBA
; with about half the count, and the smaller count is kept from then on; a
; failure at one sector is fatal ("Disk read error at LBA <hex>").
; =============================================================================
load_payload:
        mov eax, [FLUD_ADDR + FH_PAYLOAD_SIZE]
        mov si, msg_loading
        call puts
        call print_dec
        mov si, msg_bytes
        call puts

        test ax, SECTOR_SIZE - 1        ; sectors = ceil(size / 512)
        pushf
        shr eax, 9
        popf
        jz .whole
        inc eax
.whole:
        mov [total_sectors], eax
        mov [remaining], eax
        mov dword [cur_lba], PAYLOAD_LBA
        mov dword [dest], LOAD_ADDR
        mov dword [done_sectors], 0
        mov byte [loading], 1

        rdtsc
        mov [BOOTINFO + BI_TSC_LOAD0], eax
        mov [BOOTINFO + BI_TSC_LOAD0 + 4], edx

.chunk:
        mov eax, [remaining]
        test eax, eax
        jz .finished
        movzx ecx, word [per_call]      ; ECX = min(per_call, remaining)
        cmp eax, ecx
        jae .try
        mov ecx, eax
.try:
        mov eax, [cur_lba]
        mov bx, BOUNCE_SEG
        call disk_read
        jnc .read_ok
        cmp cx, 1
        je disk_error                   ; EAX = the LBA that cannot be read
        pushad
        mov ah, 0x00                    ; reset the controller before retrying
        mov dl, [boot_drive]
        int 0x13
        popad
        inc cx                          ; 127 -> 64 -> 32 -> ... -> 1
        shr cx, 1
        mov [per_call], cx
        jmp .try

.read_ok:
        push ecx
        shl ecx, 7                      ; sectors -> dwords
        mov esi, BOUNCE_LINEAR
        mov edi, [dest]
        cli                             ; no BIOS code may run while limits are 4 GiB
        call enter_unreal
        a32 rep movsd
        sti
        pop ecx

        add [cur_lba], ecx
        sub [remaining], ecx
        add [done_sectors], ecx
        shl ecx, 9
        add [dest], ecx
        call progress
        jmp .chunk

.finished:
        rdtsc
        mov [BOOTINFO + BI_TSC_LOAD1], eax
        mov [BOOTINFO + BI_TSC_LOAD1 + 4], edx
        mov byte [loading], 0
        mov ax, [per_call]
        mov [BOOTINFO + BI_SPR], ax
        mov si, msg_crlf
        jmp puts

; progress: print dots until PROGRESS_DOTS * done / total have been printed.
progress:
        mov eax, [done_sectors]
        mov ecx, PROGRESS_DOTS
        mul ecx
        div dword [total_sectors]
.more:
        cmp al, [dots]
        jbe .done
        push ax
        mov al, '.'
        call putc
        pop ax
        inc byte [dots]
        jmp .more
.done:
        ret

; =============================================================================
; check_payload: CRC32 of payload_size bytes at LOAD_ADDR against the header.
; =============================================================================
check_payload:
        mov esi, LOAD_ADDR
        mov ecx, [FLUD_ADDR + FH_PAYLOAD_SIZE]
        cli
        call enter_unreal
        call crc32
        sti
        mov si, msg_bad_crc
        cmp eax, [FLUD_ADDR + FH_PAYLOAD_CRC]
        jne fatal
        rdtsc
        mov [BOOTINFO + BI_TSC_CRC], eax
        mov [BOOTINFO + BI_TSC_CRC + 4], edx
        mov si, msg_crc_ok
        jmp puts

; =============================================================================
; fill_boot_info: the fixed fields of the boot-info block, the stage1 TSC and
; the VGA cursor (read last, after the final message).
; =============================================================================
fill_boot_info:
        mov dword [BOOTINFO + BI_MAGIC], BI_MAGIC_VALUE
        mov word [BOOTINFO + BI_VERSION], BI_VERSION_VAL
        mov word [BOOTINFO + BI_SIZE], BI_SIZE_VALUE
        mov al, [boot_drive]
        mov [BOOTINFO + BI_DRIVE], al
        mov dword [BOOTINFO + BI_E820_ADDR], E820_BUF
        mov eax, [HANDOFF_TSC]
        mov [BOOTINFO + BI_TSC_STAGE1], eax
        mov eax, [HANDOFF_TSC + 4]
        mov [BOOTINFO + BI_TSC_STAGE1 + 4], eax
        mov dword [BOOTINFO + BI_FLUD_ADDR], FLUD_ADDR
        mov ah, 0x03                    ; DH = row, DL = column
        xor bh, bh
        int 0x10
        mov [BOOTINFO + BI_CURSOR], dx
        ret

; =============================================================================
; build_page_tables: PML4[0] -> PDPT, PDPT[0..3] -> four PDs, 2048 PD entries
; identity-mapping 0..4 GiB with 2 MiB pages.
; =============================================================================
build_page_tables:
        xor eax, eax
        mov di, PML4_ADDR
        mov cx, (PT_END - PML4_ADDR) / 4
        rep stosd
        mov dword [PML4_ADDR], PDPT_ADDR | PAGE_PRESENT_RW
        mov di, PDPT_ADDR
        mov eax, PD_ADDR | PAGE_PRESENT_RW
        mov cx, 4
.pdpt:
        mov [di], eax
        add eax, 0x1000                 ; next PD
        add di, 8
        loop .pdpt
        mov di, PD_ADDR
        mov eax, PAGE_2M_FLAGS
        mov cx, PD_ENTRIES
.pd:
        mov [di], eax                   ; high dword already zero
        add eax, PAGE_SIZE_2M
        add di, 8
        loop .pd
        ret

; =============================================================================
; enter_long_mode: real mode -> long mode in one step (PAE, CR3, EFER.LME,
; then CR0.PG|PE together), far jump into 64-bit code.
; =============================================================================
enter_long_mode:
        cli
        o32 lgdt [gdt_desc]
        mov eax, cr4
        or eax, CR4_PAE
        mov cr4, eax
        mov eax, PML4_ADDR
        mov cr3, eax
        mov ecx, EFER_MSR
        rdmsr
        or eax, EFER_LME
        wrmsr
        mov eax, cr0
        and eax, ~CR0_CD_NW             ; caches on
        or eax, CR0_PG | CR0_PE
        mov cr0, eax
        jmp SEL_CODE64:long_mode

        bits 64
long_mode:
        mov ax, SEL_DATA
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov fs, ax
        mov gs, ax
        cld
        mov rsp, STACK_TOP
        rdtsc
        mov [abs BOOTINFO + BI_TSC_EXIT], eax
        mov [abs BOOTINFO + BI_TSC_EXIT + 4], edx
        mov rax, [abs FLUD_ADDR + FH_ENTRY]
        mov edi, BOOTINFO               ; RDI = boot info (upper half zeroed)
        jmp rax
        bits 16

; =============================================================================
; enter_unreal: load DS and ES with 4 GiB limits and base 0, back in real mode.
; Call with interrupts disabled; a BIOS call may reset the limits, so call it
; again before every access above 1 MiB.
; =============================================================================
enter_unreal:
        push ds
        push es
        push eax
        push bx
        o32 lgdt [gdt_desc]
        mov eax, cr0
        or al, CR0_PE
        mov cr0, eax
        jmp short .pm                   ; flush the prefetch queue
.pm:
        mov bx, SEL_DATA
        mov ds, bx
        mov es, bx
        and al, ~CR0_PE
        mov cr0, eax
        jmp short .rm
.rm:
        pop bx
        pop eax
        pop es                          ; back to segment 0, the limit stays
        pop ds
        ret

; =============================================================================
; disk_read: INT 13h AH=42h, CX sectors from LBA EAX to BX:0000.
; CF set on error. Preserves all registers.
; =============================================================================
disk_read:
        pushad
        mov [dap_count], cx
        mov word [dap_offset], 0
        mov [dap_segment], bx
        mov [dap_lba], eax
        mov dword [dap_lba + 4], 0
        mov si, dap
        mov dl, [boot_drive]
        mov ah, 0x42
        int 0x13
        popad                           ; keeps CF
        ret

; disk_error: "Disk read error at LBA 0x<EAX>" and halt.
disk_error:
        cmp byte [loading], 0           ; end the line of progress dots
        je .msg
        mov si, msg_crlf
        call puts
.msg:
        mov si, msg_disk_error
        call puts
        call print_hex32
        mov si, msg_crlf
        ; fall through to fatal

; =============================================================================
; fatal: print the message at SI and halt for good.
; =============================================================================
fatal:
        call puts
.halt:
        cli
        hlt
        jmp .halt

; =============================================================================
; crc_make_table: the 256-entry CRC-32/IEEE table (reflected) at CRC_TABLE.
; =============================================================================
crc_make_table:
        mov di, CRC_TABLE
        xor ecx, ecx
.entry:
        mov eax, ecx
        mov dl, 8
.bit:
        shr eax, 1
        jnc .no_xor
        xor eax, CRC_POLY
.no_xor:
        dec dl
        jnz .bit
        stosd
        inc cx
        cmp cx, 256
        jb .entry
        ret

; =============================================================================
; crc32: CRC-32/IEEE of ECX bytes at linear ESI (DS base 0; above 64 KiB the
; caller must be in unreal mode with interrupts off). Result in EAX.
; Clobbers EBX, ECX, ESI.
; =============================================================================
crc32:
        mov eax, 0xFFFFFFFF
        test ecx, ecx
        jz .done
.byte:
        movzx ebx, byte [esi]
        xor bl, al
        shr eax, 8
        xor eax, [CRC_TABLE + ebx * 4]
        inc esi
        dec ecx
        jnz .byte
.done:
        not eax
        ret

; =============================================================================
; serial_init: COM1 at 115200 baud, 8N1, FIFOs on and cleared, no interrupts.
; =============================================================================
serial_init:
        mov dx, COM1_IER
        xor al, al
        out dx, al                      ; no UART interrupts
        mov dx, COM1_LCR
        mov al, 0x80
        out dx, al                      ; DLAB on
        mov dx, COM1
        mov al, 1
        out dx, al                      ; divisor 1 = 115200 baud
        mov dx, COM1_IER
        xor al, al
        out dx, al
        mov dx, COM1_LCR
        mov al, 0x03
        out dx, al                      ; 8N1, DLAB off
        mov dx, COM1_FCR
        mov al, 0xC7
        out dx, al                      ; FIFO on, clear, 14-byte threshold
        mov dx, COM1_MCR
        mov al, 0x03
        out dx, al                      ; DTR, RTS
        ret

; =============================================================================
; puts: print the NUL-terminated string at SI. Preserves all but SI.
; putc: print AL on COM1 (waiting for THRE) and the screen. Preserves all.
; =============================================================================
puts:
        push ax
.next:
        lodsb
        test al, al
        jz .done
        call putc
        jmp .next
.done:
        pop ax
        ret

putc:
        pushad
        mov bl, al
        mov dx, COM1_LSR
        mov cx, 0xFFFF                  ; bounded wait
.wait:
        in al, dx
        test al, LSR_THRE
        loopz .wait
        mov al, bl
        mov dx, COM1
        out dx, al
        mov ah, 0x0E
        mov bx, 0x0007                  ; page 0, light grey
        int 0x10
        popad
        ret

; print_dec: EAX as an unsigned decimal number. Preserves all.
print_dec:
        pushad
        mov ebx, 10
        xor cx, cx
.div:
        xor edx, edx
        div ebx
        push dx
        inc cx
        test eax, eax
        jnz .div
.out:
        pop ax
        add al, '0'
        call putc
        loop .out
        popad
        ret

; print_hex32: EAX as 8 upper-case hex digits. Preserves all.
print_hex32:
        pushad
        mov edx, eax
        mov cx, 8
.digit:
        rol edx, 4
        mov al, dl
        and al, 0x0F
        add al, '0'
        cmp al, '9'
        jbe .put
        add al, 'A' - '9' - 1
.put:
        call putc
        loop .digit
        popad
        ret

; =============================================================================
; data
; =============================================================================
        align 8
gdt:
        dq 0                            ; null
        dq 0x00AF9A000000FFFF           ; 0x08: 64-bit code, L=1, DPL 0
        dq 0x00CF92000000FFFF           ; 0x10: flat 4 GiB data (also unreal mode)
gdt_end:
gdt_desc:
        dw gdt_end - gdt - 1
        dd gdt

        align 4
dap:                                    ; INT 13h AH=42h disk address packet
        db 0x10, 0
dap_count:      dw 0
dap_offset:     dw 0
dap_segment:    dw 0
dap_lba:        dq 0

load_end:       dq 0                    ; LOAD_ADDR + payload_size
total_sectors:  dd 0
remaining:      dd 0                    ; sectors still to read
cur_lba:        dd 0                    ; next LBA to read
dest:           dd 0                    ; next linear destination
done_sectors:   dd 0
per_call:       dw MAX_SECTORS          ; sectors per read the BIOS accepts
boot_drive:     db 0
dots:           db 0                    ; progress dots printed so far
loading:        db 0                    ; 1 while the dot line is open

a20_names:      dw a20_already, a20_bios, a20_fast, a20_kbc
a20_already:    db 'already', 0
a20_bios:       db 'BIOS', 0
a20_fast:       db 'fast A20', 0
a20_kbc:        db 'keyboard controller', 0

msg_banner:     db 'BareFlow stage2', 13, 10, 0
msg_a20:        db 'A20: on (', 0
msg_close_crlf: db ')'
msg_crlf:       db 13, 10, 0
msg_a20_fail:   db 'A20: could not enable', 13, 10, 0
msg_e820:       db 'E820: ', 0
msg_entries:    db ' entries', 13, 10, 0
msg_e820_fail:  db 'E820: no memory map', 13, 10, 0
msg_bad_sig:    db 'FLUD: bad signature', 13, 10, 0
msg_bad_version: db 'FLUD: unsupported header version', 13, 10, 0
msg_bad_hdr_crc: db 'FLUD: header checksum mismatch', 13, 10, 0
msg_bad_layout: db 'FLUD: bad image layout', 13, 10, 0
msg_no_fit:     db 'FLUD: image does not fit in memory', 13, 10, 0
msg_header_ok:  db 'FLUD: header ok', 13, 10, 0
msg_loading:    db 'Loading ', 0
msg_bytes:      db ' bytes ', 0
msg_bad_crc:    db 'FLUD: payload checksum mismatch', 13, 10, 0
msg_crc_ok:     db 'FLUD: payload checksum ok', 13, 10, 0
msg_disk_error: db 'Disk read error at LBA 0x', 0

stage2_end:
%if stage2_end - start > STAGE2_MAX
%error "stage2 exceeds 4096 bytes"
%endif
