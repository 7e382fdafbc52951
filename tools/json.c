/* json.c - see json.h. */
#include "json.h"

#include <math.h>
#include <string.h>

/* Comma and indentation before a value or member; then the member's name. */
static void member(sc_json *j, const char *key)
{
    if (j->depth > 0) {
        if (!j->first[j->depth]) fputc(',', j->f);
        j->first[j->depth] = false;
        fprintf(j->f, "\n%*s", 2 * j->depth, "");
    }
    if (key) {
        fputc('"', j->f);
        for (const char *p = key; *p; p++) fputc(*p, j->f); /* keys are ours: plain ASCII */
        fputs("\": ", j->f);
    }
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if it is not one. */
static int utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    int n = c < 0x80             ? 1
            : (c & 0xe0) == 0xc0 ? 2
            : (c & 0xf0) == 0xe0 ? 3
            : (c & 0xf8) == 0xf0 ? 4
                                 : 0;
    if (n == 0 || (n == 2 && c < 0xc2) || (n == 4 && c > 0xf4)) return 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if (n == 3 && ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0))) return 0;
    if (n == 4 && ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))) return 0;
    return n;
}

static void put_string(FILE *f, const char *v)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)v; *p;) {
        unsigned c = *p;
        if (c == '"' || c == '\\') {
            fputc('\\', f), fputc((int)c, f), p++;
        } else if (c < 0x20) {
            fprintf(f, "\\u%04x", c), p++;
        } else {
            int n = utf8_len(p);
            if (n == 0) {
                fputs("\\ufffd", f), p++;
            } else {
                fwrite(p, 1, (size_t)n, f), p += n;
            }
        }
    }
    fputc('"', f);
}

void sc_json_start(sc_json *j, FILE *f)
{
    memset(j, 0, sizeof *j);
    j->f = f;
    sc_json_object(j, NULL);
}

void sc_json_finish(sc_json *j)
{
    while (j->depth > 0) sc_json_end(j);
    fputc('\n', j->f);
    fflush(j->f);
}

static void open_(sc_json *j, const char *key, char open, char close)
{
    member(j, key);
    fputc(open, j->f);
    if (j->depth + 1 < SC_JSON_MAX_DEPTH) j->depth++;
    j->first[j->depth] = true;
    j->close[j->depth] = close;
}

void sc_json_object(sc_json *j, const char *key) { open_(j, key, '{', '}'); }
void sc_json_array(sc_json *j, const char *key) { open_(j, key, '[', ']'); }

void sc_json_end(sc_json *j)
{
    if (j->depth <= 0) return;
    bool empty = j->first[j->depth];
    char c = j->close[j->depth];
    j->depth--;
    if (!empty) fprintf(j->f, "\n%*s", 2 * j->depth, "");
    fputc(c, j->f);
}

void sc_json_string(sc_json *j, const char *key, const char *value)
{
    member(j, key);
    if (value)
        put_string(j->f, value);
    else
        fputs("null", j->f);
}

void sc_json_int(sc_json *j, const char *key, long long value)
{
    member(j, key);
    fprintf(j->f, "%lld", value);
}

void sc_json_uint(sc_json *j, const char *key, unsigned long long value)
{
    member(j, key);
    fprintf(j->f, "%llu", value);
}

void sc_json_number(sc_json *j, const char *key, double value)
{
    member(j, key);
    if (isfinite(value))
        fprintf(j->f, "%.10g", value);
    else
        fputs("null", j->f);
}

void sc_json_bool(sc_json *j, const char *key, bool value)
{
    member(j, key);
    fputs(value ? "true" : "false", j->f);
}

void sc_json_null(sc_json *j, const char *key)
{
    member(j, key);
    fputs("null", j->f);
}

void sc_json_seed(sc_json *j, const char *key, uint64_t seed)
{
    char buf[24];
    snprintf(buf, sizeof buf, "0x%016llx", (unsigned long long)seed);
    sc_json_string(j, key, buf);
}
