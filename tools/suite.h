/* suite.h - layer suites: CSV files of convolution shapes (bench/suites/public.csv).
 *
 * Format: '#' starts a comment line; each other non-empty line is
 *   name,n,c,h,w,k,r,s,stride_h,stride_w,pad_h,pad_w,dil_h,dil_w,groups
 */
#ifndef SC_TOOLS_SUITE_H
#define SC_TOOLS_SUITE_H

#include "safeconv.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct sc_suite_row {
    char name[64];
    sc_conv2d_desc desc; /* fp32 NCHW as read; callers change dtype/layout as they need */
} sc_suite_row;

/* Read a suite. On error returns -1 with "FILE:LINE: why" in sc_suite_error(); else the number
 * of rows, with *rows malloc'ed (free it). Every row is validated with sc_conv2d_validate. */
int sc_suite_load(const char *path, sc_suite_row **rows);

/* The file of `--suite ARG`: ARG itself when it names a file (or has a '/'), else the suite
 * ARG (or ARG.csv) of an installed copy (<bin>/../share/safeconv/suites) or of the build tree
 * (<build>/../bench/suites). false with the places tried in sc_suite_error(). */
bool sc_suite_find(const char *arg, char *path, size_t size);

/* Why the last sc_suite_load or sc_suite_find failed. */
const char *sc_suite_error(void);

#endif
