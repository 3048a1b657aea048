; =============================================================================
; BareFlow stage1 — the 512-byte MBR boot sector.
;
; The BIOS loads this sector to 0000:7C00 and jumps to it with DL = boot drive.
; Flow (see docs/boot-protocol.md, "stage1 -> stage2"):
;   1. Copy DX to CX (rdtsc overwrites EDX, and DL holds the boot drive),
;      then rdtsc; store EDX:EAX at 0x0500 (u64). The copy is the only
;      instruction before rdtsc (one cycle).
;   2. cli, DS = ES = SS = 0, SP = 0x7C00, far jump to normalise CS:IP to
;      0000:7Cxx, store the boot drive (saved DL) at 0x0508, sti.
;   3. Check the INT 13h extensions (AH=41h, BX=55AAh): carry clear, BX = AA55h
;      and CX bit 0 (packet access) set.                      else fail 'X'
;   4. Read LBA 1..8 (stage2, 4 KiB) to 0000:7E00 with AH=42h. else fail 'R'
;   5. Check bytes 2..5 of stage2 are ASCII "BFS2".          else fail 'S'
;   6. Jump to 0000:7E00 with DL = boot drive.
; A failure prints "BF1:<code>" on the screen (INT 10h teletype) and on COM1,
; then halts (cli; hlt loop) — it never reboots or jumps into garbage.
;
; Bytes 0..439 hold code and data; 440..509 (disk signature and partition
; table) are left zero for the image tool to fill in; 510..511 are 55h AAh.
; Build: nasm -f bin stage1/stage1.asm -o build/stage1.bin
; =============================================================================

        bits 16
        org 0x7C00

; ---- addresses and constants from docs/boot-protocol.md ---------------------
%define STAGE1_BASE     0x7C00      ; where the BIOS loads us; also initial SP
%define HANDOFF_TSC     0x0500      ; u64: TSC at stage1's first instruction
%define HANDOFF_DRIVE   0x0508      ; u8:  BIOS boot drive
%define STAGE2_ADDR     0x7E00      ; stage2 load address (segment 0)
%define STAGE2_LBA      1           ; first sector of stage2
%define STAGE2_SECTORS  8           ; 4096 bytes
%define STAGE2_SIG      'BFS2'      ; at stage2 bytes 2..5
%define COM1            0x3F8       ; serial port data register
%define CODE_LIMIT      440         ; code must end before the disk signature

start:
        mov cx, dx                      ; keep DL: rdtsc overwrites EDX
        rdtsc                           ; boot timestamp (second instruction)
        xor bx, bx
        mov ds, bx
        mov [HANDOFF_TSC], eax
        mov [HANDOFF_TSC + 4], edx
        cli
        mov es, bx
        mov ss, bx
        mov sp, STAGE1_BASE
        jmp 0x0000:normalized           ; CS:IP = 0000:7Cxx from here on
normalized:
        mov [HANDOFF_DRIVE], cl         ; boot drive from the BIOS
        sti
        cld

; ---- INT 13h extensions present? --------------------------------------------
        mov dl, cl                      ; DL = boot drive
        mov ah, 0x41
        mov bx, 0x55AA
        int 0x13
        mov al, 'X'
        jc fail
        cmp bx, 0xAA55
        jne fail
        test cl, 1                      ; bit 0: fixed disk access (AH=42h) ok
        jz fail

; ---- read stage2 (LBA 1..8) to 0000:7E00 ------------------------------------
        mov si, dap
        mov dl, [HANDOFF_DRIVE]
        mov ah, 0x42
        int 0x13
        mov al, 'R'
        jc fail

        mov al, 'S'
        cmp dword [STAGE2_ADDR + 2], STAGE2_SIG
        jne fail

        mov dl, [HANDOFF_DRIVE]
        jmp 0x0000:STAGE2_ADDR

; -----------------------------------------------------------------------------
; fail: print "BF1:" then the code in AL, on screen and COM1, then halt.
; -----------------------------------------------------------------------------
fail:
        push ax
        mov si, msg_fail
.next:
        lodsb
        call putc
        cmp si, msg_fail_end
        jb .next
        pop ax
        call putc
        mov al, 13
        call putc
        mov al, 10
        call putc
.halt:
        cli
        hlt
        jmp .halt

; -----------------------------------------------------------------------------
; putc: write AL to COM1 (a plain OUT; the BIOS/QEMU leaves the UART usable)
; and to the screen with INT 10h AH=0Eh. Preserves AL and SI.
; -----------------------------------------------------------------------------
putc:
        mov dx, COM1
        out dx, al
        mov ah, 0x0E
        mov bx, 0x0007                  ; page 0, light grey
        int 0x10
        ret

msg_fail:       db 'BF1:'
msg_fail_end:

; Disk address packet for INT 13h AH=42h: 8 sectors from LBA 1 to 0000:7E00.
        align 4
dap:
        db 0x10                         ; packet size
        db 0                            ; reserved
        dw STAGE2_SECTORS               ; sector count
        dw STAGE2_ADDR, 0x0000          ; buffer offset, segment
        dq STAGE2_LBA                   ; starting LBA

code_end:
%if code_end - start > CODE_LIMIT
%error "stage1 code exceeds 440 bytes"
%endif
        times 510 - ($ - $$) db 0       ; 440..509 stay zero for the image tool
        db 0x55, 0xAA
