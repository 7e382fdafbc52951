/* test_cpu_suite.c - the public layer suite (bench/suites/public.csv) at batch 1 on the CPU
 * backend against the reference, all directions, both layouts on alternate rows. The largest
 * rows run only without --quick (the sanitizer build). */
#include "../../tools/check.h"
#include "../../tools/suite.h"
#include "testlib.h"

#include <stdlib.h>

SC_TEST(cpu_public_suite_batch1)
{
    sc_suite_row *rows;
    int n = sc_suite_load("bench/suites/public.csv", &rows);
    CHECK_MSG(n >= 30,
              "bench/suites/public.csv: %d rows (run the tests from the repository root) %s", n,
              sc_suite_error());
    sc_context *ctx;
    CHECK_STATUS(sc_context_create(NULL, &ctx), SC_STATUS_OK);
    int failures = 0;
    for (int i = 0; i < n; i++) {
        sc_conv2d_desc d = rows[i].desc;
        d.n = 1;
        d.layout = i % 2 ? SC_NHWC : SC_NCHW;
        double macs = sc_conv2d_flops(&d, SC_DIR_FORWARD) / 2;
        if (sc_test_quick() && macs > 2e7) continue;
        for (int dir = 0; dir < 4; dir++) {
            sc_check_result res;
            sc_status st = sc_check_direction(ctx, SC_DEVICE_CPU, &d, (sc_direction)dir,
                                              sc_test_seed() + (uint64_t)i, &res);
            if (st || !res.pass) {
                sc_test_fail(__FILE__, __LINE__, "%s dir %d: %s", rows[i].name, dir,
                             st ? sc_last_error() : res.message);
                failures++;
            }
        }
    }
    free(rows);
    sc_context_destroy(ctx);
    CHECK(failures == 0);
}
