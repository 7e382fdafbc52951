/* error.h - error reporting shared by every layer: a failing function records a message for the
 * calling thread (sc_last_error) and returns its status. */
#ifndef SC_COMMON_ERROR_H
#define SC_COMMON_ERROR_H

#include "safeconv.h"

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Record `fmt` as the calling thread's last error and return `st`. */
sc_status sc__fail(sc_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sc__clear_error(void);

#ifdef __cplusplus
}
#endif

#endif /* SC_COMMON_ERROR_H */
