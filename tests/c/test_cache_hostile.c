/* test_cache_hostile.c - the selection cache against hostile or careless input (docs/guard.md,
 * "What the probe and the cache promise"):
 *  - a detail[] filled to the brim without a NUL is stored bounded (no read past the entry);
 *  - a file whose `selection` is a recursive view, or has a trigger, a generated column or
 *    other columns, is refused before any statement reads it: memory, one warning, no hang;
 *  - every statement is bounded (a tiny $SAFECONV_CACHE_MAX_VM_STEPS cuts a listing short and
 *    the cache falls back to memory with one warning);
 *  - clearing a cache whose file is not in use fails and removes nothing;
 *  - rows with outcome codes nobody knows are shown and counted as unknown, never as crashes,
 *    and never answer a probe. */
#include "testlib.h"

#include "safeconv.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

bool sc_tg_use_fault_vendor(const char *rules);
void sc_tg_no_vendor(void);
bool sc_tg_tempdir(char *buf, size_t n);
void sc_tg_rmtree(const char *dir);
const char *sc_tg_build_dir(void);
int sc_tc_degraded_run(const char *path);
int sc_tc_run_captured(int (*body)(const char *), const char *path, const char *errfile,
                       int *warnings);

static void entry(sc_cache_entry *e, int64_t n, sc_probe_outcome o)
{
    memset(e, 0, sizeof *e);
    snprintf(e->key.device, sizeof e->key.device, "dev");
    snprintf(e->key.vendor, sizeof e->key.vendor, "fault");
    e->key.kernel_set = SC_KERNEL_SET_VERSION;
    sc_conv2d_desc_init(&e->key.desc);
    sc_conv2d_desc *d = &e->key.desc;
    d->n = n, d->c = 3, d->h = d->w = 8, d->k = 4, d->r = d->s = 3;
    e->key.deterministic = 1;
    e->outcome = o;
}

/* Run SQL on a new file (sqlite3 directly, as an attacker would). */
static bool make_file(const char *path, const char *sql)
{
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK) return false;
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc) fprintf(stderr, "    sql: %s\n", err ? err : "?");
    sqlite3_free(err);
    sqlite3_close(db);
    return rc == SQLITE_OK;
}

/* Run a shell command, stdout+stderr into *out (malloc'ed); the exit code. */
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

/* ---- detail[] without a NUL, the entry ending at a page nobody may read ---- */
static int put_unterminated(const char *path)
{
    long page = sysconf(_SC_PAGESIZE);
    char *m =
        mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED || mprotect(m + page, (size_t)page, PROT_NONE)) return 40;
    sc_cache_entry *e = (sc_cache_entry *)(m + page - sizeof(sc_cache_entry));
    entry(e, 1, SC_PROBE_ERROR);
    /* detail, the padding after it and `updated`: no zero byte up to the guard page. */
    char *from = e->detail, *end = m + page;
    memset(from, 'x', (size_t)(end - from));
    double when = e->updated; /* bytes 0x78...: about 1.5e195, some far future */
    sc_cache *c;
    if (sc_cache_open(path, &c)) return 41;
    if (sc_cache_put(c, e)) return 42;
    sc_cache_entry got;
    int found = 0;
    if (sc_cache_get(c, &e->key, &got, &found) || !found) return 43;
    if (strlen(got.detail) != sizeof got.detail - 1 || got.detail[0] != 'x') return 44;
    if (got.updated != when) return 45;
    sc_cache_close(c);
    return 0;
}

SC_TEST(test_cache_detail_without_nul)
{
    char dir[64], path[128], errf[128];
    CHECK(sc_tg_tempdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/c.sqlite", dir);
    snprintf(errf, sizeof errf, "%s/stderr", dir);
    int warnings;
    int code = sc_tc_run_captured(put_unterminated, path, errf, &warnings);
    CHECK_MSG(code == 0, "step %d (%d: %s)", code, code > 100 ? code - 100 : 0,
              code > 100 ? strsignal(code - 100) : "");
    sc_tg_rmtree(dir);
}

/* Unwritable even for root (ext4 and friends); false where that is not possible. */
static bool make_immutable(const char *path, bool on)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "chattr %ci '%s' 2>/dev/null", on ? '+' : '-', path);
    return geteuid() == 0 && system(cmd) == 0;
}

/* ---- hostile schemas ---- */
#define VIEW_COLUMNS                                                                               \
    "'d' AS device, 'a' AS arch, 0 AS sms, 0 AS driver, 0 AS runtime, 'v' AS vendor, "             \
    "'1' AS vendor_version, 0 AS kernels, 0 AS dir, 0 AS dtype, 0 AS layout, i AS n, 1 AS c, "     \
    "1 AS h, 1 AS w, 1 AS k, 1 AS r, 1 AS s, 0 AS pad_h, 0 AS pad_w, 1 AS stride_h, "              \
    "1 AS stride_w, 1 AS dil_h, 1 AS dil_w, 1 AS groups, 1 AS det, 1 AS outcome, 0 AS algo, "      \
    "0.0 AS vendor_ms, 0.0 AS safeconv_ms, 0 AS workspace, '' AS detail, 0.0 AS updated"
#define FOREVER "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) "
#define TABLE                                                                                      \
    "CREATE TABLE selection (device TEXT NOT NULL, arch TEXT NOT NULL, sms INTEGER NOT NULL,"      \
    " driver INTEGER NOT NULL, runtime INTEGER NOT NULL, vendor TEXT NOT NULL,"                    \
    " vendor_version TEXT NOT NULL, kernels INTEGER NOT NULL, dir INTEGER NOT NULL,"               \
    " dtype INTEGER NOT NULL, layout INTEGER NOT NULL, n INTEGER NOT NULL, c INTEGER NOT NULL,"    \
    " h INTEGER NOT NULL, w INTEGER NOT NULL, k INTEGER NOT NULL, r INTEGER NOT NULL,"             \
    " s INTEGER NOT NULL, pad_h INTEGER NOT NULL, pad_w INTEGER NOT NULL,"                         \
    " stride_h INTEGER NOT NULL, stride_w INTEGER NOT NULL, dil_h INTEGER NOT NULL,"               \
    " dil_w INTEGER NOT NULL, groups INTEGER NOT NULL, det INTEGER NOT NULL,"                      \
    " outcome INTEGER NOT NULL, algo INTEGER, vendor_ms REAL, safeconv_ms REAL,"                   \
    " workspace INTEGER, detail TEXT, updated REAL %s,"                                            \
    " PRIMARY KEY (device, arch, sms, driver, runtime, vendor, vendor_version, kernels, dir,"      \
    " dtype, layout, n, c, h, w, k, r, s, pad_h, pad_w, stride_h, stride_w, dil_h, dil_w,"         \
    " groups, det)) WITHOUT ROWID;"

SC_TEST(test_cache_hostile_schemas_refused)
{
    char table[4096], trigger[8192], generated[4096];
    snprintf(table, sizeof table, TABLE, "");
    snprintf(trigger, sizeof trigger,
             "PRAGMA user_version = 1; %s CREATE TRIGGER t AFTER INSERT ON selection BEGIN "
             "SELECT count(*) FROM (" FOREVER "SELECT i FROM r); END;",
             table);
    snprintf(generated, sizeof generated, "PRAGMA user_version = 1; " TABLE,
             ", spare INTEGER GENERATED ALWAYS AS (n * 2)");
    const struct {
        const char *what, *sql;
    } cases[] = {
        {"recursive view, version 1", "PRAGMA user_version = 1; CREATE VIEW selection AS " FOREVER
                                      "SELECT " VIEW_COLUMNS " FROM r;"},
        {"recursive view, version 0 (a new file as far as the version says)",
         "CREATE VIEW selection AS " FOREVER "SELECT " VIEW_COLUMNS " FROM r;"},
        {"endless trigger on insert", trigger},
        {"a generated column", generated},
        {"other columns", "PRAGMA user_version = 1; CREATE TABLE selection (a, b, c);"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dir[64], path[128], errf[128], cmd[1024];
        CHECK(sc_tg_tempdir(dir, sizeof dir));
        snprintf(path, sizeof path, "%s/c.sqlite", dir);
        snprintf(errf, sizeof errf, "%s/stderr", dir);
        CHECK_MSG(make_file(path, cases[i].sql), "%s: cannot build the file", cases[i].what);
        /* Open, put, get, a second open, then a context under auto: no hang (the child has an
         * alarm), one warning, conv results right. */
        int warnings;
        int code = sc_tc_run_captured(sc_tc_degraded_run, path, errf, &warnings);
        CHECK_MSG(code == 0, "%s: step %d%s", cases[i].what, code,
                  code == 100 + SIGALRM ? " (hung: killed by the alarm)" : "");
        CHECK_MSG(warnings == 1, "%s: %d warnings", cases[i].what, warnings);
        /* `safeconv cache show` answers too, and says the file is unusable. */
        char *out = NULL;
        snprintf(cmd, sizeof cmd, "timeout 60 %s/safeconv cache show --cache %s --device -1 2>&1",
                 sc_tg_build_dir(), path);
        int rc = run(cmd, &out);
        CHECK_MSG(rc == 0 && out && strstr(out, "unusable") && strstr(out, "0 rows"),
                  "%s: cache show: rc %d: %s", cases[i].what, rc, out ? out : "");
        free(out);
        /* Read-only, the file's rows are copied into memory: the same check comes first. */
        if (i == 0 && make_immutable(path, true)) {
            code = sc_tc_run_captured(sc_tc_degraded_run, path, errf, &warnings);
            make_immutable(path, false);
            CHECK_MSG(code == 0 && warnings == 1, "%s, read-only: step %d%s, %d warnings",
                      cases[i].what, code,
                      code == 100 + SIGALRM ? " (hung: killed by the alarm)" : "", warnings);
        }
        sc_tg_rmtree(dir);
    }
    sc_tg_no_vendor();
}

static int count_row(const sc_cache_entry *e, void *user)
{
    (void)e;
    ++*(int *)user;
    return 0;
}

/* A listing that runs past the step bound: the cache falls back to memory, one warning. */
static int over_the_bound(const char *path)
{
    setenv("SAFECONV_CACHE_MAX_VM_STEPS", "20000", 1);
    sc_cache *c;
    if (sc_cache_open(path, &c) || !sc_cache_is_persistent(c)) return 50;
    sc_cache_entry e, got;
    entry(&e, 7, SC_PROBE_OK);
    int found = 0;
    if (sc_cache_get(c, &e.key, &got, &found) || !found) return 51; /* a lookup is cheap */
    int rows = 0;
    if (sc_cache_foreach(c, count_row, &rows)) return 53;
    if (sc_cache_is_persistent(c)) return 54; /* cut short: memory from now on */
    if (rows >= 3000) return 55;
    sc_cache_close(c);
    return 0;
}

SC_TEST(test_cache_every_statement_bounded)
{
    char dir[64], path[128], errf[128];
    CHECK(sc_tg_tempdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/c.sqlite", dir);
    snprintf(errf, sizeof errf, "%s/stderr", dir);
    sc_cache *c;
    CHECK_STATUS(sc_cache_open(path, &c), SC_STATUS_OK);
    for (int i = 1; i <= 3000; i++) {
        sc_cache_entry e;
        entry(&e, i, SC_PROBE_OK);
        CHECK_STATUS(sc_cache_put(c, &e), SC_STATUS_OK);
    }
    sc_cache_close(c);
    int warnings;
    int code = sc_tc_run_captured(over_the_bound, path, errf, &warnings);
    CHECK_MSG(code == 0, "step %d", code);
    CHECK_MSG(warnings == 1, "%d warnings", warnings);
    sc_tg_rmtree(dir);
}

/* ---- clear on a file that is not in use ---- */
static int count_file_rows(const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int n = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT count(*) FROM selection", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return n;
}

SC_TEST(test_cache_clear_unusable_file_fails)
{
    char dir[64], path[128], cmd[1024];
    CHECK(sc_tg_tempdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/c.sqlite", dir);
    /* Random bytes: nothing to clear, and "removed 0 rows" would be a lie about the file. */
    FILE *f = fopen(path, "wb");
    CHECK(f);
    for (int i = 0; i < 8192; i++) fputc((i * 7919) & 0xff, f);
    fclose(f);
    char *out = NULL;
    snprintf(cmd, sizeof cmd, "%s/safeconv cache clear --cache %s 2>&1", sc_tg_build_dir(), path);
    int rc = run(cmd, &out);
    CHECK_MSG(rc == 1 && out && !strstr(out, "rows from") && strstr(out, "nothing was removed"),
              "random-bytes file: rc %d: %s", rc, out ? out : "");
    free(out);
    /* A valid file made read-only (immutable: root ignores permission bits). */
    snprintf(path, sizeof path, "%s/ro.sqlite", dir);
    sc_cache *c;
    CHECK_STATUS(sc_cache_open(path, &c), SC_STATUS_OK);
    for (int i = 1; i <= 8; i++) {
        sc_cache_entry e;
        entry(&e, i, SC_PROBE_OK);
        CHECK_STATUS(sc_cache_put(c, &e), SC_STATUS_OK);
    }
    sc_cache_close(c);
    if (!make_immutable(path, true)) {
        printf("    (no chattr +i here: the read-only file case is skipped)\n");
    } else {
        snprintf(cmd, sizeof cmd, "%s/safeconv cache clear --cache %s 2>&1", sc_tg_build_dir(),
                 path);
        rc = run(cmd, &out);
        make_immutable(path, false);
        CHECK_MSG(rc == 1 && out && !strstr(out, "removed 8"), "read-only file: rc %d: %s", rc,
                  out ? out : "");
        free(out);
        CHECK_MSG(count_file_rows(path) == 8, "the file lost rows: %d", count_file_rows(path));
    }
    /* ":memory:" on request is not a file: clearing it works. */
    CHECK_STATUS(sc_cache_open(":memory:", &c), SC_STATUS_OK);
    int64_t removed = -1;
    CHECK_STATUS(sc_cache_clear(c, &removed), SC_STATUS_OK);
    CHECK(removed == 0);
    sc_cache_close(c);
    sc_tg_rmtree(dir);
}

/* ---- outcome codes from another build (or an attacker) ---- */
SC_TEST(test_cache_unknown_outcome_is_not_a_crash)
{
    char dir[64], path[128], cmd[1024];
    CHECK(sc_tg_tempdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/c.sqlite", dir);
    CHECK(sc_tg_use_fault_vendor(NULL));
    sc_conv2d_desc d;
    sc_conv2d_desc_init(&d);
    d.n = 1, d.c = 3, d.h = d.w = 8, d.k = 4, d.r = d.s = 3;
    /* A real row for this machine's key, then its outcome changed to 11 behind our back. */
    sc_cache *c;
    CHECK_STATUS(sc_cache_open(path, &c), SC_STATUS_OK);
    sc_cache_entry e;
    memset(&e, 0, sizeof e);
    CHECK_STATUS(sc_cache_key_for_device(SC_DEVICE_CPU, &e.key), SC_STATUS_OK);
    e.key.desc = d, e.key.dir = SC_DIR_FORWARD, e.key.deterministic = 1;
    e.outcome = SC_PROBE_OK, e.vendor_ms = 1, e.safeconv_ms = 2;
    CHECK_STATUS(sc_cache_put(c, &e), SC_STATUS_OK);
    sc_cache_close(c);
    CHECK(make_file(path, "UPDATE selection SET outcome = 11;"));
    char *out = NULL;
    snprintf(cmd, sizeof cmd, "%s/safeconv cache show --cache %s --device -1 2>&1",
             sc_tg_build_dir(), path);
    int rc = run(cmd, &out);
    CHECK_MSG(rc == 0 && out && strstr(out, "crash 0") && strstr(out, "unknown 1") &&
                  strstr(out, " unknown "),
              "rc %d: %s", rc, out ? out : "");
    free(out);
    /* A probe does not take it for an answer: it probes again (and the row is replaced). */
    sc_probe_options o;
    sc_probe_options_init(&o);
    o.cache_path = path, o.repeats = 1, o.watchdog_s = 30;
    sc_probe_result r;
    CHECK_STATUS(sc_probe_shape(&o, &d, SC_DIR_FORWARD, &r), SC_STATUS_OK);
    CHECK_MSG(!r.from_cache && r.outcome == SC_PROBE_OK, "%s%s: %s",
              sc_probe_outcome_name(r.outcome), r.from_cache ? " (cached)" : "", r.detail);
    sc_tg_no_vendor();
    sc_tg_rmtree(dir);
}
