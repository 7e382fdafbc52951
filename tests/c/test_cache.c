/* test_cache.c - the selection cache: rows, location, many writers at once with one killed by
 * SIGKILL mid-run, and the degraded cases (random bytes as the file, a folder that cannot be
 * written, a lock held by another writer): one warning and a run that works. */
#include "testlib.h"

#include "safeconv.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

bool sc_tg_use_fault_vendor(const char *rules);
void sc_tg_no_vendor(void);
bool sc_tg_tempdir(char *buf, size_t n);
void sc_tg_rmtree(const char *dir);
double sc_tg_check_vs_reference(sc_context *ctx, const sc_conv2d_desc *d, sc_direction dir,
                                sc_status *status);

static void entry(sc_cache_entry *e, const char *device, int64_t n, sc_probe_outcome o, double vms)
{
    memset(e, 0, sizeof *e);
    snprintf(e->key.device, sizeof e->key.device, "%s", device);
    snprintf(e->key.arch, sizeof e->key.arch, "x86_64");
    snprintf(e->key.vendor, sizeof e->key.vendor, "fault");
    snprintf(e->key.vendor_version, sizeof e->key.vendor_version, "1.0");
    e->key.kernel_set = SC_KERNEL_SET_VERSION;
    e->key.dir = SC_DIR_FORWARD;
    sc_conv2d_desc_init(&e->key.desc);
    sc_conv2d_desc *d = &e->key.desc;
    d->n = n, d->c = 3, d->h = d->w = 8, d->k = 4, d->r = d->s = 3;
    e->key.deterministic = 1;
    e->outcome = o;
    e->vendor_ms = vms, e->safeconv_ms = 2;
    snprintf(e->detail, sizeof e->detail, "row %lld", (long long)n);
}

static int count_rows(const sc_cache_entry *e, void *user)
{
    (void)e;
    ++*(int *)user;
    return 0;
}

SC_TEST(test_cache_rows_roundtrip)
{
    char dir[256], path[320];
    CHECK(sc_tg_tempdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/deeper/still/c.sqlite", dir); /* folders are created */
    sc_cache *c;
    CHECK_STATUS(sc_cache_open(path, &c), SC_STATUS_OK);
    CHECK(sc_cache_is_persistent(c));
    CHECK(!strcmp(sc_cache_path(c), path));
    sc_cache_entry e, got;
    entry(&e, "dev", 1, SC_PROBE_OK, 1.5);
    CHECK_STATUS(sc_cache_put(c, &e), SC_STATUS_OK);
    int found = 0;
    CHECK_STATUS(sc_cache_get(c, &e.key, &got, &found), SC_STATUS_OK);
    CHECK(found && got.outcome == SC_PROBE_OK && got.vendor_ms == 1.5 && got.updated > 0);
    CHECK(!strcmp(got.detail, "row 1") && got.key.desc.h == 8 && !strcmp(got.key.device, "dev"));
    /* 'seen' never overwrites a result; it does add a new shape. */
    entry(&e, "dev", 1, SC_PROBE_SEEN, 0);
    CHECK_STATUS(sc_cache_put(c, &e), SC_STATUS_OK);
    CHECK_STATUS(sc_cache_get(c, &e.key, &got, &found), SC_STATUS_OK);
    CHECK(found && got.outcome == SC_PROBE_OK);
    entry(&e, "dev", 2, SC_PROBE_SEEN, 0);
    CHECK_STATUS(sc_cache_put(c, &e), SC_STATUS_OK);
    /* Any key field differing is another row. */
    entry(&e, "dev", 1, SC_PROBE_HANG, 0);
    e.key.driver_version = 7;
    CHECK_STATUS(sc_cache_put(c, &e), SC_STATUS_OK);
    int rows = 0;
    CHECK_STATUS(sc_cache_foreach(c, count_rows, &rows), SC_STATUS_OK);
    CHECK(rows == 3);
    sc_cache_close(c);
    /* Persistent: a new handle sees them; clear empties. */
    CHECK_STATUS(sc_cache_open(path, &c), SC_STATUS_OK);
    int64_t removed = 0;
    CHECK_STATUS(sc_cache_clear(c, &removed), SC_STATUS_OK);
    CHECK(removed == 3);
    CHECK_STATUS(sc_cache_get(c, &e.key, &got, &found), SC_STATUS_OK);
    CHECK(!found);
    CHECK_STATUS(sc_cache_put(c, NULL), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("entry");
    e.outcome = (sc_probe_outcome)99;
    CHECK_STATUS(sc_cache_put(c, &e), SC_STATUS_BAD_PARAM);
    CHECK_ERROR_MENTIONS("entry.outcome");
    sc_cache_close(c);
    sc_tg_rmtree(dir);
}

SC_TEST(test_cache_location)
{
    char *old_dir = getenv("SAFECONV_CACHE_DIR") ? strdup(getenv("SAFECONV_CACHE_DIR")) : NULL;
    char *old_xdg = getenv("XDG_CACHE_HOME") ? strdup(getenv("XDG_CACHE_HOME")) : NULL;
    char buf[512];
    setenv("SAFECONV_CACHE_DIR", "/a/b", 1);
    CHECK_STATUS(sc_cache_resolve_path(NULL, buf, sizeof buf), SC_STATUS_OK);
    CHECK(!strcmp(buf, "/a/b/safeconv.sqlite"));
    CHECK_STATUS(sc_cache_resolve_path("/x/y.db", buf, sizeof buf), SC_STATUS_OK);
    CHECK(!strcmp(buf, "/x/y.db"));
    unsetenv("SAFECONV_CACHE_DIR");
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    CHECK_STATUS(sc_cache_resolve_path(NULL, buf, sizeof buf), SC_STATUS_OK);
    CHECK(!strcmp(buf, "/xdg/safeconv/safeconv.sqlite"));
    unsetenv("XDG_CACHE_HOME");
    CHECK_STATUS(sc_cache_resolve_path(NULL, buf, sizeof buf), SC_STATUS_OK);
    CHECK(strstr(buf, "/.cache/safeconv/safeconv.sqlite") != NULL);
    CHECK_STATUS(sc_cache_resolve_path(NULL, buf, 4), SC_STATUS_BAD_PARAM);
    if (old_dir) setenv("SAFECONV_CACHE_DIR", old_dir, 1);
    if (old_xdg) setenv("XDG_CACHE_HOME", old_xdg, 1);
    free(old_dir), free(old_xdg);
}

/* ---- 8 processes at once, one killed with SIGKILL mid-run ---- */
#define WRITERS 8
#define ITERS   120

static void writer(const char *path, int id, int fd, bool forever)
{
    sc_cache *c;
    if (sc_cache_open(path, &c) || !sc_cache_is_persistent(c)) _exit(2);
    char dev[32];
    snprintf(dev, sizeof dev, "writer %d", id);
    for (int64_t j = 1; forever || j <= ITERS; j++) {
        sc_cache_entry e, got;
        entry(&e, dev, j, SC_PROBE_OK, (double)j);
        if (sc_cache_put(c, &e)) _exit(3);
        char line[64];
        int n = snprintf(line, sizeof line, "%d %lld 0\n", id, (long long)j);
        if (write(fd, line, (size_t)n) != n) _exit(4);
        if (j > 1) { /* update the previous row */
            entry(&e, dev, j - 1, SC_PROBE_HANG, 0);
            if (sc_cache_put(c, &e)) _exit(5);
            n = snprintf(line, sizeof line, "%d %lld 1\n", id, (long long)(j - 1));
            if (write(fd, line, (size_t)n) != n) _exit(4);
        }
        /* read an older row back */
        entry(&e, dev, (j + 1) / 2, SC_PROBE_OK, 0);
        int found = 0;
        if (sc_cache_get(c, &e.key, &got, &found) || !found) _exit(6);
    }
    sc_cache_close(c);
    _exit(0);
}

static char state[WRITERS][100000]; /* 0 unknown, 1 inserted, 2 updated (as reported) */

SC_TEST(test_cache_many_writers_one_killed)
{
    char dir[256], path[320];
    CHECK(sc_tg_tempdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/c.sqlite", dir);
    sc_cache *c;
    CHECK_STATUS(sc_cache_open(path, &c), SC_STATUS_OK); /* create the schema up front */
    sc_cache_close(c);
    memset(state, 0, sizeof state);
    int p[2];
    CHECK(pipe(p) == 0);
    fflush(NULL);
    pid_t pids[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        pids[i] = fork();
        CHECK(pids[i] >= 0);
        if (!pids[i]) {
            close(p[0]);
            writer(path, i, p[1], i == WRITERS - 1);
        }
    }
    close(p[1]);
    FILE *f = fdopen(p[0], "r");
    CHECK(f);
    char line[64];
    int victim_commits = 0, total = 0;
    bool killed = false;
    while (fgets(line, sizeof line, f)) {
        int id, st;
        long long j;
        if (sscanf(line, "%d %lld %d", &id, &j, &st) != 3 || id < 0 || id >= WRITERS || j < 1 ||
            j >= 100000)
            continue;
        if (state[id][j] < st + 1) state[id][j] = (char)(st + 1);
        total++;
        /* Kill the endless writer once it is well into its run, while the others write. */
        if (id == WRITERS - 1 && ++victim_commits == 150 && !killed) {
            kill(pids[id], SIGKILL);
            killed = true;
        }
    }
    fclose(f);
    CHECK(killed);
    for (int i = 0; i < WRITERS; i++) {
        int status;
        CHECK(waitpid(pids[i], &status, 0) == pids[i]);
        if (i == WRITERS - 1)
            CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "victim status %x",
                      status);
        else
            CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer %d status %x", i,
                      status);
    }
    printf("    %d committed writes reported by %d processes\n", total, WRITERS);
    /* The file opens, passes integrity_check, and holds every committed row. */
    sqlite3 *db;
    CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK);
    sqlite3_stmt *stmt;
    CHECK(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(stmt) == SQLITE_ROW);
    const char *ok = (const char *)sqlite3_column_text(stmt, 0);
    CHECK_MSG(ok && !strcmp(ok, "ok"), "integrity_check: %s", ok ? ok : "(null)");
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    CHECK_STATUS(sc_cache_open(path, &c), SC_STATUS_OK);
    CHECK(sc_cache_is_persistent(c));
    int checked = 0;
    for (int i = 0; i < WRITERS; i++) {
        char dev[32];
        snprintf(dev, sizeof dev, "writer %d", i);
        for (int j = 1; j < 100000; j++) {
            if (!state[i][j]) continue;
            sc_cache_entry e, got;
            entry(&e, dev, j, SC_PROBE_OK, 0);
            int found = 0;
            CHECK_STATUS(sc_cache_get(c, &e.key, &got, &found), SC_STATUS_OK);
            CHECK_MSG(found, "writer %d row %d committed but missing", i, j);
            if (state[i][j] == 2)
                CHECK_MSG(got.outcome == SC_PROBE_HANG, "writer %d row %d: update lost", i, j);
            checked++;
        }
    }
    printf("    %d committed rows verified\n", checked);
    sc_cache_close(c);
    sc_tg_rmtree(dir);
}

/* ---- degraded caches: run `body` in a child with stderr captured; one warning, exit 0 ---- */
/* Also used by test_cache_hostile.c. */
int sc_tc_degraded_run(const char *path);
int sc_tc_run_captured(int (*body)(const char *), const char *path, const char *errfile,
                       int *warnings);
int sc_tc_degraded_run(const char *path)
{
    sc_cache *c;
    if (sc_cache_open(path, &c)) return 10;
    if (sc_cache_is_persistent(c)) return 11;
    sc_cache_entry e, got;
    entry(&e, "dev", 1, SC_PROBE_OK, 1);
    if (sc_cache_put(c, &e)) return 12;
    int found = 0;
    if (sc_cache_get(c, &e.key, &got, &found) || !found) return 13;
    sc_cache *c2;
    if (sc_cache_open(path, &c2)) return 14; /* a second open: no second warning */
    sc_cache_close(c2);
    sc_cache_close(c);
    /* A context under auto (with a vendor, so it reads the cache) runs and is right. */
    if (!sc_tg_use_fault_vendor("k=1000:hang")) return 15;
    sc_context_options o;
    sc_context_options_init(&o);
    o.cache_path = path;
    sc_context *ctx;
    if (sc_context_create(&o, &ctx)) return 16;
    sc_conv2d_desc d;
    sc_conv2d_desc_init(&d);
    d.n = 1, d.c = 3, d.h = d.w = 9, d.k = 5, d.r = d.s = 3;
    for (int dir = 0; dir < 3; dir++) {
        sc_status st;
        double err = sc_tg_check_vs_reference(ctx, &d, (sc_direction)dir, &st);
        if (st || !(err < 1e-5)) return 17;
    }
    sc_context_destroy(ctx);
    return 0;
}

/* Child runs sc_tc_degraded_run(path) with stderr into a file; returns its exit code, and the number
 * of warnings it printed in *warnings. */
static int run_captured(const char *path, const char *errfile, int *warnings)
{
    return sc_tc_run_captured(sc_tc_degraded_run, path, errfile, warnings);
}

/* The child gets 60 s (an alarm): a cache that hangs a call fails the test, not the run. */
int sc_tc_run_captured(int (*body)(const char *), const char *path, const char *errfile,
                       int *warnings)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) _exit(20);
        dup2(fd, 2);
        alarm(60);
        _exit(body(path));
    }
    int status = 0;
    waitpid(pid, &status, 0);
    *warnings = 0;
    FILE *f = fopen(errfile, "r");
    char line[1024];
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, "warning")) {
            ++*warnings;
            printf("    stderr: %s", line);
        }
    if (f) fclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

SC_TEST(test_cache_random_bytes_file)
{
    char dir[256], path[320], errf[320];
    CHECK(sc_tg_tempdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/c.sqlite", dir);
    snprintf(errf, sizeof errf, "%s/stderr", dir);
    static unsigned char junk[65536];
    srand(12345);
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)rand();
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(junk, 1, sizeof junk, f) == sizeof junk);
    fclose(f);
    int warnings;
    int code = run_captured(path, errf, &warnings);
    CHECK_MSG(code == 0, "degraded run failed at step %d", code);
    CHECK_MSG(warnings == 1, "%d warnings, want exactly 1", warnings);
    /* The file is left as it was (never "repaired" by overwriting). */
    static unsigned char back[65536];
    f = fopen(path, "rb");
    CHECK(f && fread(back, 1, sizeof back, f) == sizeof back);
    fclose(f);
    CHECK(!memcmp(junk, back, sizeof junk));
    sc_tg_no_vendor();
    sc_tg_rmtree(dir);
}

SC_TEST(test_cache_unwritable_folder)
{
    char dir[256], path[400], errf[320];
    CHECK(sc_tg_tempdir(dir, sizeof dir));
    snprintf(errf, sizeof errf, "%s/stderr", dir);
    /* Root ignores permission bits, so the folder is made impossible another way: a path
     * through a regular file (ENOTDIR) cannot be created by anyone. */
    snprintf(path, sizeof path, "%s/plainfile", dir);
    FILE *f = fopen(path, "w");
    CHECK(f);
    fclose(f);
    snprintf(path, sizeof path, "%s/plainfile/sub/c.sqlite", dir);
    int warnings;
    int code = run_captured(path, errf, &warnings);
    CHECK_MSG(code == 0, "degraded run failed at step %d", code);
    CHECK_MSG(warnings == 1, "%d warnings, want exactly 1", warnings);
    /* /proc refuses new folders to root too. */
    code = run_captured("/proc/safeconv-test/c.sqlite", errf, &warnings);
    CHECK_MSG(code == 0 && warnings == 1, "/proc: step %d, %d warnings", code, warnings);
    sc_tg_no_vendor();
    sc_tg_rmtree(dir);
}

SC_TEST(test_cache_locked_by_another_writer)
{
    char dir[256], path[320];
    CHECK(sc_tg_tempdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/c.sqlite", dir);
    sc_cache *c;
    CHECK_STATUS(sc_cache_open(path, &c), SC_STATUS_OK);
    sc_cache_entry e, got;
    entry(&e, "dev", 1, SC_PROBE_OK, 1);
    CHECK_STATUS(sc_cache_put(c, &e), SC_STATUS_OK);
    sc_cache_close(c);
    /* Another writer holds the write lock and does not let go. */
    sqlite3 *other;
    CHECK(sqlite3_open_v2(path, &other, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK);
    CHECK(sqlite3_exec(other, "BEGIN IMMEDIATE; DELETE FROM selection WHERE n = 999;", NULL, NULL,
                       NULL) == SQLITE_OK);
    setenv("SAFECONV_CACHE_BUSY_MS", "200", 1);
    CHECK_STATUS(sc_cache_open(path, &c), SC_STATUS_OK);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    entry(&e, "dev", 2, SC_PROBE_OK, 1);
    CHECK_STATUS(sc_cache_put(c, &e), SC_STATUS_CACHE_ERROR); /* waits, then gives up */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9 < 3.0);
    int found = 0;
    entry(&e, "dev", 1, SC_PROBE_OK, 1);
    CHECK_STATUS(sc_cache_get(c, &e.key, &got, &found), SC_STATUS_OK); /* readers go on (WAL) */
    CHECK(found);
    /* A context under auto meets new shapes (writes 'seen' rows): still runs, still right. */
    CHECK(sc_tg_use_fault_vendor("k=1000:hang"));
    sc_context_options o;
    sc_context_options_init(&o);
    o.cache_path = path;
    sc_context *ctx;
    CHECK_STATUS(sc_context_create(&o, &ctx), SC_STATUS_OK);
    sc_status st;
    CHECK(sc_tg_check_vs_reference(ctx, &e.key.desc, SC_DIR_FORWARD, &st) < 1e-5);
    CHECK_STATUS(st, SC_STATUS_OK);
    sc_context_destroy(ctx);
    /* Lock released: writes work again. */
    CHECK(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(other);
    entry(&e, "dev", 2, SC_PROBE_OK, 1);
    CHECK_STATUS(sc_cache_put(c, &e), SC_STATUS_OK);
    sc_cache_close(c);
    unsetenv("SAFECONV_CACHE_BUSY_MS");
    sc_tg_no_vendor();
    sc_tg_rmtree(dir);
}

SC_TEST(test_cache_memory_on_request)
{
    sc_cache *c;
    CHECK_STATUS(sc_cache_open(":memory:", &c), SC_STATUS_OK);
    CHECK(!sc_cache_is_persistent(c));
    CHECK(!strcmp(sc_cache_path(c), ":memory:"));
    sc_cache_entry e, got;
    entry(&e, "dev", 3, SC_PROBE_OK, 1);
    CHECK_STATUS(sc_cache_put(c, &e), SC_STATUS_OK);
    int found = 0;
    CHECK_STATUS(sc_cache_get(c, &e.key, &got, &found), SC_STATUS_OK);
    CHECK(found);
    sc_cache_close(c);
}

/* A read-only but valid file: in-memory cache with one warning, and the file's rows still
 * answer (imported), so earlier probes keep counting. */
static int readonly_run(const char *path)
{
    int code = sc_tc_degraded_run(path);
    if (code) return code;
    sc_cache *c;
    if (sc_cache_open(path, &c) || sc_cache_is_persistent(c)) return 30;
    sc_cache_entry e, got;
    entry(&e, "from the file", 7, SC_PROBE_OK, 1);
    int found = 0;
    if (sc_cache_get(c, &e.key, &got, &found) || !found || got.outcome != SC_PROBE_OK) return 31;
    sc_cache_close(c);
    return 0;
}

/* Make `path` unwritable even for root: chattr +i (ext4 and friends), or permission bits when
 * not root. false if neither is possible here. */
static bool make_readonly(const char *path, bool on)
{
    char cmd[600];
    if (geteuid() == 0) {
        snprintf(cmd, sizeof cmd, "chattr %ci '%s' 2>/dev/null", on ? '+' : '-', path);
        return system(cmd) == 0;
    }
    struct stat st;
    if (stat(path, &st)) return false;
    mode_t m = S_ISDIR(st.st_mode) ? (on ? 0555 : 0755) : (on ? 0444 : 0644);
    return chmod(path, m) == 0;
}

SC_TEST(test_cache_readonly_file_and_folder)
{
    char dir[256], path[320], errf[320], rodir[320], ropath[400];
    CHECK(sc_tg_tempdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/c.sqlite", dir);
    snprintf(errf, sizeof errf, "%s/stderr", dir);
    sc_cache *c;
    CHECK_STATUS(sc_cache_open(path, &c), SC_STATUS_OK);
    sc_cache_entry e;
    entry(&e, "from the file", 7, SC_PROBE_OK, 1);
    CHECK_STATUS(sc_cache_put(c, &e), SC_STATUS_OK);
    sc_cache_close(c);
    if (!make_readonly(path, true)) {
        printf("    (no chattr +i on this file system: read-only file case skipped)\n");
    } else {
        int warnings;
        int code = sc_tc_run_captured(readonly_run, path, errf, &warnings);
        make_readonly(path, false);
        CHECK_MSG(code == 0, "read-only file: failed at step %d", code);
        CHECK_MSG(warnings == 1, "read-only file: %d warnings, want 1", warnings);
    }
    snprintf(rodir, sizeof rodir, "%s/ro", dir);
    CHECK(mkdir(rodir, 0755) == 0);
    snprintf(ropath, sizeof ropath, "%s/c.sqlite", rodir);
    if (!make_readonly(rodir, true)) {
        printf("    (no chattr +i on this file system: read-only folder case skipped)\n");
    } else {
        int warnings;
        int code = run_captured(ropath, errf, &warnings);
        make_readonly(rodir, false);
        CHECK_MSG(code == 0, "read-only folder: failed at step %d", code);
        CHECK_MSG(warnings == 1, "read-only folder: %d warnings, want 1", warnings);
    }
    sc_tg_no_vendor();
    sc_tg_rmtree(dir);
}
