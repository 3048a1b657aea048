/* strings.c: string processing with the C library.
 *
 * Tokenises an embedded text with strtok and strchr, counts word frequencies
 * (case-folded with tolower/isalpha, a small open-addressing table, sorted with
 * strcmp), parses numbers with strtol in several bases, atoi, atol, strtoul and
 * strtod, compares with strcmp/strncmp/strstr/memcmp/strrchr/strspn/strcspn, formats
 * with sprintf/snprintf (including truncation), and classifies characters with the
 * ctype functions. Prints the results.
 *
 * Output is deterministic; exit status 0 when the self-checks pass, 1 (and FAIL)
 * otherwise. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void check(int ok, const char *what) {
    if (!ok) {
        printf("check failed: %s\n", what);
        failures++;
    }
}

static const char text[] =
    "It was the best of times, it was the worst of times, it was the age of wisdom, "
    "it was the age of foolishness, it was the epoch of belief, it was the epoch of "
    "incredulity, it was the season of Light, it was the season of Darkness, it was the "
    "spring of hope, it was the winter of despair, we had everything before us, we had "
    "nothing before us, we were all going direct to Heaven, we were all going direct "
    "the other way - in short, the period was so far like the present period, that some "
    "of its noisiest authorities insisted on its being received, for good or for evil, "
    "in the superlative degree of comparison only.";

static const char records[] =
    "id=17;name=alpha;hex=0x1F;oct=0755;bin=101101;temp=-12.75;ratio=3.5e-2\n"
    "id=42;name=Beta;hex=0xff;oct=0644;bin=111;temp=21.5;ratio=1e3\n"
    "id=-7;name=gamma-ray;hex=0X7fffffff;oct=017;bin=0;temp=0.125;ratio=-2.5E+1\n"
    "id=2024;name=Delta;hex=0xdeadBEEF;oct=0;bin=11111111;temp=99.99;ratio=6.02e23\n";

#define MAXWORDS 128

struct word {
    char text[24];
    int count;
};

static struct word words[MAXWORDS];
static int nwords;

static void count_word(const char *w) {
    for (int i = 0; i < nwords; i++)
        if (strcmp(words[i].text, w) == 0) {
            words[i].count++;
            return;
        }
    if (nwords < MAXWORDS) {
        snprintf(words[nwords].text, sizeof words[nwords].text, "%s", w);
        words[nwords].count = 1;
        nwords++;
    }
}

static int by_count(const void *pa, const void *pb) {
    const struct word *a = pa, *b = pb;
    if (a->count != b->count) return b->count - a->count;
    return strcmp(a->text, b->text);
}

/* Hides a constant string from the optimiser, so the library calls on it stay calls
 * (clang folds strcmp, strstr, strspn, memcmp ... of literals at compile time). */
static const char *opaque(const char *s) {
    const char *volatile v = s;
    return v;
}

static unsigned long hash_str(const char *s) {
    unsigned long h = 5381;
    while (*s) h = h * 33 + (unsigned char)*s++;
    return h;
}

int main(void) {
    /* 1. Words: strtok over a copy, case folding, frequencies. */
    char buf[sizeof text];
    memcpy(buf, text, sizeof text);
    int ntokens = 0, letters = 0, upper = 0;
    for (char *tok = strtok(buf, " ,.-"); tok; tok = strtok(NULL, " ,.-")) {
        char w[24];
        size_t n = 0;
        for (const char *p = tok; *p && n + 1 < sizeof w; p++) {
            if (isalpha((unsigned char)*p)) {
                letters++;
                if (isupper((unsigned char)*p)) upper++;
                w[n++] = (char)tolower((unsigned char)*p);
            }
        }
        w[n] = '\0';
        if (n) {
            count_word(w);
            ntokens++;
        }
    }
    qsort(words, (size_t)nwords, sizeof words[0], by_count);
    printf("tokens %d, distinct words %d, letters %d (upper case %d)\n", ntokens, nwords, letters, upper);
    printf("top words:");
    for (int i = 0; i < 8 && i < nwords; i++) printf(" %s=%d", words[i].text, words[i].count);
    printf("\n");
    unsigned long whash = 0;
    for (int i = 0; i < nwords; i++) whash = whash * 31 + hash_str(words[i].text) + (unsigned long)words[i].count;
    printf("word table hash %lu, last word %s\n", whash, words[nwords - 1].text);
    check(ntokens == 119 && nwords == 58 && letters == 475 && upper == 4 && words[0].count == 14 &&
              strcmp(words[0].text, "the") == 0 && whash == 14759309529627659798UL,
          "word counts");

    /* 2. Sentences and punctuation with strchr / strrchr / strspn / strcspn. */
    const char *t = opaque(text);
    int commas = 0;
    for (const char *p = strchr(t, ','); p; p = strchr(p + 1, ',')) commas++;
    const char *last_space = strrchr(t, ' ');
    size_t lead = strspn(t, opaque("ITtiaws ")), first_punct = strcspn(t, opaque(",.;"));
    size_t tlen = strlen(t);
    printf("commas %d, last word '%s', strspn %zu, strcspn %zu, length %zu\n", commas, last_space + 1, lead,
           first_punct, tlen);
    check(commas == 17 && lead == 8 && first_punct == 24 && tlen == 613, "strchr family");

    /* 3. Searching and comparing. */
    const char *season = strstr(t, opaque("season"));
    const char *missing = strstr(t, opaque("seasons"));
    int n1 = strncmp(t + 7, opaque("the best"), 8), n2 = strncmp(t, opaque("It was thE"), 10);
    printf("strstr 'season' at %ld, 'seasons' %s; strncmp(text+7,'the best',8)=%d, strncmp sign %d\n",
           (long)(season - t), missing ? "found" : "absent", n1, (n2 > 0) - (n2 < 0));
    int c1 = strcmp(opaque("apple"), opaque("apricot")), c2 = strcmp(opaque("zebra"), opaque("apple"));
    int c3 = strcmp(opaque("same"), opaque("same"));
    int m1 = memcmp(opaque("abc\0x"), opaque("abc\0y"), 5), m2 = memcmp(opaque("abc\0x"), opaque("abc\0y"), 4);
    printf("strcmp signs %d %d %d, memcmp signs %d %d\n", (c1 > 0) - (c1 < 0), (c2 > 0) - (c2 < 0), c3,
           (m1 > 0) - (m1 < 0), m2);
    check(season && season - t == 182 && !missing && n1 == 0 && n2 > 0 && c1 < 0 && c2 > 0 && c3 == 0 && m1 < 0 && m2 == 0,
          "compare");

    /* 4. Records: split lines with strchr, fields with strtok, numbers with strtol /
     *    strtoul / atoi / atol / strtod. */
    char rec[sizeof records];
    memcpy(rec, records, sizeof records);
    long id_sum = 0, hex_sum = 0, oct_sum = 0, bin_sum = 0;
    double temp_sum = 0, ratio_sum = 0;
    int nrec = 0;
    char line_summary[256];
    size_t used = 0;
    for (char *line = rec; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        char name[32] = "?";
        for (char *field = strtok(line, ";"); field; field = strtok(NULL, ";")) {
            char *eq = strchr(field, '=');
            if (!eq) continue;
            *eq = '\0';
            const char *key = field, *val = eq + 1;
            char *end;
            if (strcmp(key, "id") == 0) {
                id_sum += atoi(val) + atol(val);
            } else if (strcmp(key, "name") == 0) {
                snprintf(name, sizeof name, "%s", val);
                name[0] = (char)toupper((unsigned char)name[0]);
            } else if (strcmp(key, "hex") == 0) {
                hex_sum += (long)strtoul(val, &end, 16);
                check(*end == '\0', "hex end");
            } else if (strcmp(key, "oct") == 0) {
                oct_sum += strtol(val, &end, 0); /* base 0: the leading 0 means octal */
                check(*end == '\0', "oct end");
            } else if (strncmp(key, "bin", 3) == 0) {
                bin_sum += strtol(val, &end, 2);
                check(*end == '\0', "bin end");
            } else if (strcmp(key, "temp") == 0) {
                temp_sum += strtod(val, &end);
            } else if (strcmp(key, "ratio") == 0) {
                ratio_sum += strtod(val, NULL);
            }
        }
        int w = snprintf(line_summary + used, sizeof line_summary - used, "%s%s", nrec ? "," : "", name);
        if (w > 0) used += (size_t)w;
        nrec++;
        line = nl ? nl + 1 : NULL;
    }
    printf("records %d: %s\n", nrec, line_summary);
    printf("ids %ld hex %ld oct %ld bin %ld temp %.3f ratio %.6g\n", id_sum, hex_sum, oct_sum, bin_sum, temp_sum,
           ratio_sum);
    check(nrec == 4 && id_sum == 2 * 2076 && hex_sum == 31 + 255 + 2147483647L + 3735928559L, "record ints");
    check(oct_sum == 0755 + 0644 + 017 && bin_sum == 45 + 7 + 255, "record bases");
    check(temp_sum > 108.86499 && temp_sum < 108.86501 && ratio_sum > 6.0199e23 && ratio_sum < 6.0201e23, "record floats");

    /* 5. strtol corner cases: base 36, sign, whitespace, end pointer, overflow clamp. */
    char *end;
    long b36 = strtol(opaque("  -zz9!"), &end, 36);
    long over = strtol(opaque("99999999999999999999"), NULL, 10);
    unsigned long ul = strtoul(opaque("4294967296"), NULL, 10);
    char stop = *end;
    double d = strtod(opaque("  -1.5e-3xyz"), &end);
    printf("strtol base36 %ld (stopped at '%c'), overflow clamps to max %s, strtoul %lu, strtod %g rest '%s'\n",
           b36, stop, over == 9223372036854775807L ? "yes" : "no", ul, d, end);
    check(b36 == -(35 * 36 * 36 + 35 * 36 + 9) && stop == '!' && ul == 4294967296UL && d == -1.5e-3 && strcmp(end, "xyz") == 0,
          "strtol corners");

    /* 6. Formatting into buffers. */
    char out[64];
    int len = sprintf(out, "%05d|%-6s|%x|%o|%+d|%c%c", 42, "ab", 255, 8, 7, 'Z', '!');
    printf("sprintf -> \"%s\" (%d chars)\n", out, len);
    char small[10];
    int want = snprintf(small, sizeof small, "%s-%d", "truncated", 12345);
    printf("snprintf -> \"%s\" wanted %d chars, kept %zu\n", small, want, strlen(small));
    check(len == 24 && strcmp(out, "00042|ab    |ff|10|+7|Z!") == 0, "sprintf");
    check(want == 15 && strcmp(small, "truncated") == 0, "snprintf truncation");

    /* 7. ctype over the text, and case conversion of a copy. */
    int nalpha = 0, ndigit = 0, nspace = 0, npunct = 0;
    for (const char *p = opaque(records); *p; p++) {
        unsigned char ch = (unsigned char)*p;
        nalpha += isalpha(ch) != 0;
        ndigit += isdigit(ch) != 0;
        nspace += isspace(ch) != 0;
        npunct += ispunct(ch) != 0;
    }
    char shout[48];
    snprintf(shout, sizeof shout, "%.40s", t);
    for (char *p = shout; *p; p++) *p = (char)toupper((unsigned char)*p);
    printf("records ctype: alpha %d digit %d space %d punct %d; xdigit('f') %d alnum('_') %d\n", nalpha, ndigit,
           nspace, npunct, isxdigit(*opaque("f")) != 0, isalnum(*opaque("_")) != 0);
    printf("upper: %s\n", shout);
    check(strcmp(shout, "IT WAS THE BEST OF TIMES, IT WAS THE WOR") == 0, "toupper");
    check(nalpha == 144 && ndigit == 73 && nspace == 4 && npunct == 65, "ctype counts");

    if (failures) {
        printf("strings: FAIL (%d checks)\n", failures);
        return 1;
    }
    printf("strings: ok\n");
    return 0;
}
