/* testlib.h - a minimal self-registering C test runner.
 *
 *   SC_TEST(name) { CHECK(x == 1); CHECK_STATUS(sc_call(...), SC_STATUS_OK); }
 *
 * Every SC_TEST in any C file under tests/c registers itself at start-up; the runner
 * (tests/c/main.c) runs them in name order, or those matching a filter, and ends with the line
 * "N passed, N failed". A test fails at its first failed CHECK (it returns). Tests that are
 * slow can check sc_test_quick() and do less under --quick (the sanitizer build). */
#ifndef SC_TESTLIB_H
#define SC_TESTLIB_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef void (*sc_test_fn)(void);
void sc_test_register(const char *name, sc_test_fn fn);
void sc_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool sc_test_failed(void);
bool sc_test_quick(void);
uint64_t sc_test_seed(void); /* --seed S, else from the clock; printed at start */
int sc_test_count(int dflt); /* --count N overrides a property test's default count */

#define SC_TEST(name)                                                                              \
    static void name(void);                                                                        \
    __attribute__((constructor)) static void sc_reg_##name(void)                                   \
    {                                                                                              \
        sc_test_register(#name, name);                                                             \
    }                                                                                              \
    static void name(void)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            sc_test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                                  \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            sc_test_fail(__FILE__, __LINE__, __VA_ARGS__);                                         \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* Status equality, printing both names and the library's last error on mismatch. */
#define CHECK_STATUS(expr, want)                                                                   \
    do {                                                                                           \
        sc_status got_ = (expr);                                                                   \
        if (got_ != (want)) {                                                                      \
            sc_test_fail(__FILE__, __LINE__, "%s: got %s, want %s (%s)", #expr,                    \
                         sc_status_string(got_), sc_status_string(want), sc_last_error());         \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* The last error message contains `needle`. */
#define CHECK_ERROR_MENTIONS(needle)                                                               \
    CHECK_MSG(strstr(sc_last_error(), (needle)) != NULL, "message '%s' does not mention '%s'",     \
              sc_last_error(), (needle))

#endif
