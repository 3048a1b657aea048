/* files.c: file I/O relative to the current directory.
 *
 * Writes PROGIO.TXT (an 8.3 upper-case name: the kernel's FAT16 driver has short names
 * only) with fopen("w"), fprintf, fputs, fputc and fwrite; closes it; reads it back
 * with fopen("r"), fgets, fgetc, fread, fseek, ftell and rewind; checks every line and
 * byte against what was written; prints what was read and checksums. The file is
 * overwritten on every run ("w"), never removed.
 *
 * Output is deterministic; exit status 0 when the self-checks pass, 1 (and FAIL)
 * otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILE_NAME "PROGIO.TXT"
#define NLINES 40
#define BLOCK 300

static int failures;

static void check(int ok, const char *what) {
    if (!ok) {
        printf("check failed: %s\n", what);
        failures++;
    }
}

static unsigned adler32(const unsigned char *p, size_t n, unsigned start) {
    unsigned a = start & 0xffff, b = start >> 16;
    for (size_t i = 0; i < n; i++) {
        a = (a + p[i]) % 65521;
        b = (b + a) % 65521;
    }
    return (b << 16) | a;
}

/* The block written with fwrite: printable, 60 characters per line. */
static void make_block(char *block) {
    for (int i = 0; i < BLOCK; i++) block[i] = (i % 60 == 59) ? '\n' : (char)('!' + (i * 7 + i / 60) % 94);
}

static const char header[] = "BareFlow file test: header written with fputs\n";

int main(void) {
    static char block[BLOCK];
    make_block(block);

    /* ---- write ---- */
    FILE *f = fopen(FILE_NAME, "w");
    if (!f) {
        printf("files: FAIL (cannot create %s)\n", FILE_NAME);
        return 1;
    }
    long written = 0;
    int r = fputs(header, f);
    check(r >= 0, "fputs");
    written += (long)strlen(header);
    for (int i = 1; i <= NLINES; i++) {
        int n = fprintf(f, "line %02d: value=%d square=%d cube=%ld\n", i, i * 37 - 500, i * i, (long)i * i * i);
        check(n > 0, "fprintf");
        written += n;
    }
    size_t nb = fwrite(block, 1, BLOCK, f);
    check(nb == BLOCK, "fwrite");
    written += (long)nb;
    for (const char *p = "END"; *p; p++) fputc(*p, f);
    fputc('\n', f);
    written += 4;
    long pos = ftell(f);
    check(pos == written, "ftell after writing");
    check(fclose(f) == 0, "fclose after writing");
    printf("wrote %s: %ld bytes (ftell %ld)\n", FILE_NAME, written, pos);

    /* ---- read back line by line ---- */
    f = fopen(FILE_NAME, "r");
    if (!f) {
        printf("files: FAIL (cannot open %s)\n", FILE_NAME);
        return 1;
    }
    char line[128], want[128];
    int lines_ok = 0, nread = 0;
    long value_sum = 0;
    unsigned sum = 1;
    check(fgets(line, sizeof line, f) && strcmp(line, header) == 0, "header line");
    sum = adler32((const unsigned char *)line, strlen(line), sum);
    for (int i = 1; i <= NLINES; i++) {
        if (!fgets(line, sizeof line, f)) break;
        nread++;
        sum = adler32((const unsigned char *)line, strlen(line), sum);
        snprintf(want, sizeof want, "line %02d: value=%d square=%d cube=%ld\n", i, i * 37 - 500, i * i, (long)i * i * i);
        if (strcmp(line, want) == 0) lines_ok++;
        /* Parse the numbers back: every "=" is followed by one. */
        for (const char *eq = strchr(line, '='); eq; eq = strchr(eq + 1, '=')) value_sum += strtol(eq + 1, NULL, 10);
        if (i == 1 || i == 20 || i == NLINES) printf("read: %s", line);
    }
    printf("%d of %d lines read back intact; parsed sum %ld\n", lines_ok, NLINES, value_sum);
    check(nread == NLINES && lines_ok == NLINES, "lines");

    /* ---- the binary block with fread, after an ftell ---- */
    long block_at = ftell(f);
    static char back[BLOCK + 1];
    size_t got = fread(back, 1, BLOCK, f);
    check(got == BLOCK && memcmp(back, block, BLOCK) == 0, "fread block");
    sum = adler32((const unsigned char *)back, got, sum);
    back[59] = '\0';
    printf("block at offset %ld, %zu bytes, first line: %s\n", block_at, got, back);
    char tail[8] = {0};
    check(fgets(tail, sizeof tail, f) && strcmp(tail, "END\n") == 0, "trailer");
    check(fgetc(f) == EOF && feof(f), "end of file");

    /* ---- random access: fseek / ftell / rewind ---- */
    check(fseek(f, 0, SEEK_END) == 0, "fseek end");
    long size = ftell(f);
    check(fseek(f, block_at + 60, SEEK_SET) == 0, "fseek set");
    char second[60];
    got = fread(second, 1, 59, f);
    second[got] = '\0';
    check(got == 59 && memcmp(second, block + 60, 59) == 0, "second block line");
    check(fseek(f, -4, SEEK_END) == 0 && fgetc(f) == 'E', "fseek from end");
    check(fseek(f, 2, SEEK_CUR) == 0 && fgetc(f) == '\n', "fseek cur");
    rewind(f);
    int c, newlines = 0;
    long chars = 0;
    while ((c = fgetc(f)) != EOF) {
        chars++;
        newlines += c == '\n';
    }
    check(fclose(f) == 0, "fclose after reading");
    printf("size %ld (fseek/ftell), %ld chars and %d newlines by fgetc, second block line: %.20s...\n", size, chars,
           newlines, second);
    printf("adler32 of everything read: %08x\n", sum);
    check(size == written && chars == written && newlines == 1 + NLINES + BLOCK / 60 + 1, "sizes");
    check(written == 1958 && value_sum == 704880 && sum == 0x951947ceu, "known values");

    if (failures) {
        printf("files: FAIL (%d checks)\n", failures);
        return 1;
    }
    printf("files: ok\n");
    return 0;
}
