/* error.c - the calling thread's last-error message (sc_last_error), set by every layer. */
#include "common/error.h"

#include <stdio.h>

static _Thread_local char last_error[512];

sc_status sc__fail(sc_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return st;
}

void sc__clear_error(void) { last_error[0] = '\0'; }

const char *sc_last_error(void) { return last_error; }
