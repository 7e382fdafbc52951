/* test_cli_args.c - the command line's numbers and shapes (issue 14's argument defects), in
 * the parser (tools/args.c) and through the `safeconv` executable:
 *  - " -1" is not a count of 2^64 - 1; signs, white space, trailing text, inf and nan are
 *    refused with the option's name and exit code 2;
 *  - a shape is integers and commas, nothing after them;
 *  - the error paths of `probe --shape` free what they allocated (the sanitizer build runs
 *    these commands with LeakSanitizer: a leak is exit code 23, not 2);
 *  - one remembered row nobody can probe (dir -1, groups that do not divide) does not block
 *    the other pending probes of `probe --seen`. */
#include "testlib.h"

#include "../../tools/args.h"
#include "safeconv.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

const char *sc_tg_build_dir(void);
bool sc_tg_use_fault_vendor(const char *rules);
void sc_tg_no_vendor(void);
bool sc_tg_tempdir(char *buf, size_t n);
void sc_tg_rmtree(const char *dir);

static int run(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t cap = 1 << 16, n = 0, r;
    *out = calloc(1, cap);
    while (*out && (r = fread(*out + n, 1, cap - 1 - n, p)) > 0) n += r;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

SC_TEST(test_cli_args_numbers)
{
    uint64_t u = 7;
    int i = 7;
    double x = 7;
    /* The parsers print why they refuse: on stderr, as for a user. */
    CHECK(!sc_arg_u64("--count", " -1", &u) && u == 7);
    CHECK(!sc_arg_u64("--count", "-1", &u) && !sc_arg_u64("--count", "+1", &u));
    CHECK(!sc_arg_u64("--count", " 5", &u) && !sc_arg_u64("--count", "5 ", &u));
    CHECK(!sc_arg_u64("--count", "", &u) && !sc_arg_u64("--count", NULL, &u));
    CHECK(!sc_arg_u64("--count", "18446744073709551616", &u)); /* 2^64 */
    CHECK(sc_arg_u64("--count", "18446744073709551615", &u) && u == UINT64_MAX);
    CHECK(sc_arg_u64("--seed", "0x10", &u) && u == 16);
    CHECK(!sc_arg_int("--repeats", " 5", 1, 100, &i) && !sc_arg_int("--repeats", "+5", 1, 100, &i));
    CHECK(!sc_arg_int("--device", "- 1", -1, 9, &i) && i == 7);
    CHECK(sc_arg_int("--device", "-1", -1, 9, &i) && i == -1);
    CHECK(!sc_arg_int("--repeats", "99999999999999999999", 1, 100, &i));
    int dev = 5;
    CHECK(!sc_arg_device(" 1", &dev) && !sc_arg_device("1 ", &dev) && dev == 5);
    CHECK(sc_arg_device("cpu", &dev) && dev == SC_DEVICE_CPU);
    const char *bad_doubles[] = {"inf", "-inf", "nan", "1e300", " 1", "1s", "", "0x", "-1"};
    for (size_t k = 0; k < sizeof bad_doubles / sizeof bad_doubles[0]; k++)
        CHECK_MSG(!sc_arg_double("--watchdog", bad_doubles[k], 0, 1e9, &x) && x == 7, "'%s'",
                  bad_doubles[k]);
    CHECK(sc_arg_double("--watchdog", "3000000", 0, 1e9, &x) && x == 3e6);
    CHECK(sc_arg_double("--min-time", ".5", 0, 60, &x) && x == 0.5);
}

SC_TEST(test_cli_args_shape)
{
    sc_conv2d_desc d;
    CHECK(sc_arg_shape("--shape", "1,3,8,8,4,3,3", &d) && d.k == 4 && d.groups == 1);
    CHECK(sc_arg_shape("--shape", "2,4,9,9,4,3,3,2,1,1,2", &d) && d.stride_h == 2 && d.pad_w == 1 &&
          d.groups == 2);
    const char *bad[] = {"1,3,8,8,4,3,3,junk",
                         "1,3,8,8,4,3,3,",
                         "1,3,8,8,4,3",
                         "1,3,8,8,4,3,3x",
                         "1,3,8,8,4,3,3,1,1,1",
                         "1,3,8,8,4,3,3,1,1,1,1,1",
                         " 1,3,8,8,4,3,3",
                         "1, 3,8,8,4,3,3",
                         "1,,3,8,8,4,3,3",
                         "",
                         "99999999999999999999,3,8,8,4,3,3"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        CHECK_MSG(!sc_arg_shape("--shape", bad[k], &d), "'%s' accepted", bad[k]);
}

SC_TEST(test_cli_args_refused_by_the_command)
{
    char dir[64], csv[128], cmd[2048];
    CHECK(sc_tg_tempdir(dir, sizeof dir));
    snprintf(csv, sizeof csv, "%s/suite.csv", dir);
    FILE *f = fopen(csv, "w");
    CHECK(f);
    fprintf(f, "tiny,1,2,5,5,2,3,3,1,1,1,1,1,1,1\n");
    fclose(f);
    CHECK(sc_tg_use_fault_vendor(NULL));
    const char *b = sc_tg_build_dir();
    /* (command, what must be in its message); all exit 2, at once (timeout: the old parser ran
     * `verify --count " -1"` for 2^64 - 1 configurations). */
    const char *cases[][2] = {
        {"verify --count ' -1' --device cpu", "--count"},
        {"verify --count 1x --device cpu", "--count"},
        {"probe --shape 1,3,8,8,4,3,3,junk --device -1 --cache :memory:", "--shape"},
        {"probe --shape 1,3,8,8,4,3,3,1,1,1,2 --device -1 --cache :memory:", "groups"},
        {"probe --watchdog inf --shape 1,3,8,8,4,3,3 --device -1", "--watchdog"},
        {"probe --watchdog 1e300 --shape 1,3,8,8,4,3,3 --device -1", "--watchdog"},
        {"probe --tolerance nan --shape 1,3,8,8,4,3,3 --device -1", "--tolerance"},
        {"bench --min-time nan --suite SUITE --device cpu", "--min-time"},
        {"bench --min-time junk --suite SUITE --device cpu", "--min-time"},
        {"bench --min-time 1e300 --suite SUITE --device cpu", "--min-time"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char args[512];
        snprintf(args, sizeof args, "%s", cases[k][0]);
        char *s = strstr(args, "SUITE");
        if (s) {
            char rest[512];
            snprintf(rest, sizeof rest, "%s%s", csv, s + 5);
            snprintf(s, sizeof args - (size_t)(s - args), "%s", rest);
        }
        snprintf(cmd, sizeof cmd, "timeout 60 %s/safeconv %s 2>&1", b, args);
        char *out = NULL;
        int rc = run(cmd, &out);
        CHECK_MSG(rc == 2 && out && strstr(out, cases[k][1]), "`%s`: rc %d: %s", args, rc,
                  out ? out : "");
        free(out);
    }
    /* A long watchdog is fine. */
    snprintf(cmd, sizeof cmd,
             "timeout 60 %s/safeconv probe --watchdog 3000000 --shape 1,3,8,8,4,3,3 --dir forward "
             "--device -1 "
             "--repeats 1 --cache :memory: --quiet 2>&1",
             b);
    char *out = NULL;
    int rc = run(cmd, &out);
    CHECK_MSG(rc == 0 && out && strstr(out, "total 1: ok 1"), "rc %d: %s", rc, out ? out : "");
    free(out);
    sc_tg_no_vendor();
    sc_tg_rmtree(dir);
}

/* Two pending rows nobody can probe and one that can: --seen probes that one. */
SC_TEST(test_cli_seen_bad_rows_do_not_block)
{
    char dir[64], path[128], cmd[1024];
    CHECK(sc_tg_tempdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/c.sqlite", dir);
    CHECK(sc_tg_use_fault_vendor(NULL));
    sc_cache *c;
    CHECK_STATUS(sc_cache_open(path, &c), SC_STATUS_OK);
    sc_cache_entry e;
    memset(&e, 0, sizeof e);
    CHECK_STATUS(sc_cache_key_for_device(SC_DEVICE_CPU, &e.key), SC_STATUS_OK);
    e.key.dir = SC_DIR_FORWARD, e.key.deterministic = 1, e.outcome = SC_PROBE_SEEN;
    sc_conv2d_desc_init(&e.key.desc);
    for (int n = 1; n <= 3; n++) {
        sc_conv2d_desc *d = &e.key.desc;
        d->n = n, d->c = 2, d->h = d->w = 6, d->k = 4, d->r = d->s = 3;
        CHECK_STATUS(sc_cache_put(c, &e), SC_STATUS_OK);
    }
    sc_cache_close(c);
    /* As a file from another build (or an attacker) has them: sc_cache_put refuses both. */
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db,
                       "UPDATE selection SET dir = -1 WHERE n = 1;"
                       "UPDATE selection SET groups = 3 WHERE n = 2;",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    snprintf(cmd, sizeof cmd,
             "%s/safeconv probe --seen --device -1 --watchdog 30 --repeats 1 --cache %s 2>&1",
             sc_tg_build_dir(), path);
    char *out = NULL;
    int rc = run(cmd, &out);
    CHECK_MSG(rc == 0 && out && strstr(out, "total 1: ok 1"), "rc %d: %s", rc, out ? out : "");
    free(out);
    sc_tg_no_vendor();
    sc_tg_rmtree(dir);
}
