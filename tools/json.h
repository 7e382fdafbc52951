/* json.h - a small JSON writer for the `--json` output of the safeconv command: one document,
 * indented, keys in the order written. Strings are escaped (control characters as \u00XX) and
 * made valid UTF-8 (a byte that is not part of a valid sequence becomes U+FFFD), so that any
 * device name or vendor message gives a document every parser accepts; a number that is not
 * finite is written as null. Documented keys: docs/cli.md. */
#ifndef SC_TOOLS_JSON_H
#define SC_TOOLS_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum {
    SC_JSON_MAX_DEPTH = 16
};

typedef struct sc_json {
    FILE *f;
    int depth;
    bool first[SC_JSON_MAX_DEPTH];
    char close[SC_JSON_MAX_DEPTH];
} sc_json;

/* `key` is the member name inside an object, NULL inside an array or for the document. */
void sc_json_start(sc_json *j, FILE *f); /* the document's top-level object */
void sc_json_finish(sc_json *j);         /* closes it and ends the line */
void sc_json_object(sc_json *j, const char *key);
void sc_json_array(sc_json *j, const char *key);
void sc_json_end(sc_json *j); /* closes the innermost object or array */
void sc_json_string(sc_json *j, const char *key, const char *value); /* NULL: null */
void sc_json_int(sc_json *j, const char *key, long long value);
void sc_json_uint(sc_json *j, const char *key, unsigned long long value);
void sc_json_number(sc_json *j, const char *key, double value); /* non-finite: null */
void sc_json_bool(sc_json *j, const char *key, bool value);
void sc_json_null(sc_json *j, const char *key);
/* A 64-bit seed as the string "0x%016llx": JSON numbers above 2^53 lose digits in many parsers;
 * the command accepts this form back (--seed, --replay). */
void sc_json_seed(sc_json *j, const char *key, uint64_t seed);

#endif
