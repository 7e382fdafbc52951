/* fuzz_cache.c - libFuzzer target: the selection cache's reader against hostile files.
 *
 * The first byte picks how the file is made: even, the rest of the input IS the file (random
 * bytes, damaged databases); odd, the rest is an SQL script run on a new database by sqlite3
 * itself (hostile schemas: views, triggers, odd columns, strange pragmas) - with ATTACH and
 * VACUUM refused and a step bound, so the script cannot reach other files or run forever.
 * Then the cache is used as safeconv uses it: open, get, foreach, put, get, clear, close. No
 * call may crash, hang (libFuzzer's -timeout) or leak, every status must be OK or CACHE_ERROR,
 * and a put that answered OK on a persistent cache must be found by the next get. */
#include "safeconv.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static char dir[64], path[128];

static void remove_files(void);
static void cleanup(void)
{
    remove_files();
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    /* On a RAM file system where there is one: every commit syncs, and a disk makes that the
     * cost of an input. */
    snprintf(dir, sizeof dir, "/dev/shm/safeconv-fuzz-XXXXXX");
    if (!mkdtemp(dir)) {
        snprintf(dir, sizeof dir, "/tmp/safeconv-fuzz-XXXXXX");
        if (!mkdtemp(dir)) abort();
    }
    snprintf(path, sizeof path, "%s/c.sqlite", dir);
    atexit(cleanup);
    /* A smaller bound than the default keeps the fuzzer fast; the same code path. */
    setenv("SAFECONV_CACHE_MAX_VM_STEPS", "2000000", 1);
    setenv("SAFECONV_CACHE_BUSY_MS", "100", 1);
    return 0;
}

static void remove_files(void)
{
    static const char *const ext[] = {"", "-wal", "-shm", "-journal"};
    for (int i = 0; i < 4; i++) {
        char p[160];
        snprintf(p, sizeof p, "%s%s", path, ext[i]);
        unlink(p);
    }
}

static int deny_other_files(void *u, int action, const char *a, const char *b, const char *c,
                            const char *d)
{
    (void)u, (void)a, (void)b, (void)c, (void)d;
    return action == SQLITE_ATTACH || action == SQLITE_DETACH ? SQLITE_DENY : SQLITE_OK;
}

static int steps;
static int bounded(void *u)
{
    (void)u;
    return ++steps > 2000;
}

static void build_with_sql(const uint8_t *data, size_t size)
{
    char *sql = malloc(size + 1);
    if (!sql) return;
    memcpy(sql, data, size);
    sql[size] = 0;
    /* VACUUM INTO writes another file; nothing else a script can say reaches outside. */
    for (char *p = sql; *p; p++)
        if (!strncasecmp(p, "vacuum", 6)) {
            free(sql);
            return;
        }
    sqlite3 *db;
    if (sqlite3_open(path, &db) == SQLITE_OK) {
        sqlite3_exec(db, "PRAGMA synchronous=OFF", NULL, NULL, NULL);
        sqlite3_set_authorizer(db, deny_other_files, NULL);
        sqlite3_limit(db, SQLITE_LIMIT_LENGTH, 1 << 20);
        steps = 0;
        sqlite3_progress_handler(db, 1000, bounded, NULL);
        sqlite3_exec(db, sql, NULL, NULL, NULL);
    }
    sqlite3_close(db);
    free(sql);
}

static int count(const sc_cache_entry *e, void *user)
{
    (void)e;
    return ++*(int *)user > 100000;
}

static void check(sc_status st, const char *what)
{
    if (st != SC_STATUS_OK && st != SC_STATUS_CACHE_ERROR) {
        fprintf(stderr, "fuzz_cache: %s: %s: %s\n", what, sc_status_string(st), sc_last_error());
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    remove_files();
    if (size && (data[0] & 1)) {
        build_with_sql(data + 1, size - 1);
    } else if (size) {
        FILE *f = fopen(path, "wb");
        if (!f) abort();
        fwrite(data + 1, 1, size - 1, f);
        fclose(f);
    }
    sc_cache *c;
    if (sc_cache_open(path, &c)) abort(); /* never fails for a file: falls back to memory */
    sc_cache_entry e, got;
    memset(&e, 0, sizeof e);
    snprintf(e.key.device, sizeof e.key.device, "fuzz");
    sc_conv2d_desc_init(&e.key.desc);
    e.key.desc.n = 1, e.key.desc.c = 3, e.key.desc.h = e.key.desc.w = 8, e.key.desc.k = 4;
    e.key.desc.r = e.key.desc.s = 3;
    e.outcome = SC_PROBE_OK;
    memset(e.detail, 'x', sizeof e.detail); /* no NUL: bounded reads only */
    int found = 0, rows = 0;
    check(sc_cache_get(c, &e.key, &got, &found), "get");
    check(sc_cache_foreach(c, count, &rows), "foreach");
    sc_status put = sc_cache_put(c, &e);
    check(put, "put");
    if (put == SC_STATUS_OK) {
        found = 0;
        sc_status g = sc_cache_get(c, &e.key, &got, &found);
        check(g, "get after put");
        if (g == SC_STATUS_OK && sc_cache_is_persistent(c) && !found) {
            fprintf(stderr, "fuzz_cache: a row put with OK is not found\n");
            abort();
        }
    }
    int64_t removed;
    check(sc_cache_clear(c, &removed), "clear");
    sc_cache_close(c);
    return 0;
}
