/* test_cache_fulldisk.c - a full disk: sc_cache_put returns OK only for rows that reached the
 * file; every lost row is a CACHE_ERROR, and once there is room again writes work.
 *
 * Two ways to fill the disk: an SQLite VFS that wraps the default one and answers SQLITE_FULL
 * (what the unix VFS answers for ENOSPC) once a byte budget is spent - always runs, no
 * privileges - and a real 256 KiB tmpfs in a private mount namespace (needs CAP_SYS_ADMIN:
 * CI runs as root; skipped with a note elsewhere). */
#include "testlib.h"

#include "safeconv.h"

#include <sched.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

bool sc_tg_tempdir(char *buf, size_t n);
void sc_tg_rmtree(const char *dir);

/* ---- a VFS whose disk fills up ---- */
typedef struct {
    sqlite3_file base;
    sqlite3_file *real; /* the wrapped file, allocated right after this struct */
} shim_file;

static sqlite3_vfs *real_vfs;
static sqlite3_vfs shim_vfs;
static atomic_llong budget = -1; /* bytes that may still be written; -1 = no limit */

#define REAL(f) (((shim_file *)(f))->real)
static int s_close(sqlite3_file *f) { return REAL(f)->pMethods->xClose(REAL(f)); }
static int s_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xRead(REAL(f), p, n, off);
}
static int s_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    long long b = atomic_load(&budget);
    if (b >= 0) {
        if (n > b) return SQLITE_FULL;
        atomic_fetch_sub(&budget, n);
    }
    return REAL(f)->pMethods->xWrite(REAL(f), p, n, off);
}
static int s_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int s_sync(sqlite3_file *f, int flags) { return REAL(f)->pMethods->xSync(REAL(f), flags); }
static int s_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int s_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int s_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int s_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int s_control(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int s_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int s_device(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int s_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, pp);
}
static int s_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void s_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int s_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int s_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
    return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp);
}
static int s_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods shim_methods = {
    3,          s_close,       s_read,      s_write,   s_truncate, s_sync,   s_size,
    s_lock,     s_unlock,      s_reserved,  s_control, s_sector,   s_device, s_shm_map,
    s_shm_lock, s_shm_barrier, s_shm_unmap, s_fetch,   s_unfetch};

static int shim_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
    (void)vfs;
    shim_file *s = (shim_file *)f;
    s->real = (sqlite3_file *)(s + 1);
    int rc = real_vfs->xOpen(real_vfs, name, s->real, flags, out);
    f->pMethods = rc == SQLITE_OK ? &shim_methods : NULL;
    return rc;
}

static void shim_install(bool on)
{
    if (on) {
        real_vfs = sqlite3_vfs_find(NULL);
        shim_vfs = *real_vfs;
        shim_vfs.zName = "safeconv-test-fulldisk";
        shim_vfs.szOsFile = (int)sizeof(shim_file) + real_vfs->szOsFile;
        shim_vfs.xOpen = shim_open;
        shim_vfs.pNext = NULL;
        sqlite3_vfs_register(&shim_vfs, 1);
    } else {
        sqlite3_vfs_unregister(&shim_vfs);
        sqlite3_vfs_register(real_vfs, 1);
    }
}

/* ---- the check shared by both ways ---- */
static void entry(sc_cache_entry *e, int64_t n)
{
    memset(e, 0, sizeof *e);
    snprintf(e->key.device, sizeof e->key.device, "dev");
    snprintf(e->key.vendor, sizeof e->key.vendor, "fault");
    e->key.kernel_set = SC_KERNEL_SET_VERSION;
    sc_conv2d_desc_init(&e->key.desc);
    sc_conv2d_desc *d = &e->key.desc;
    d->n = n, d->c = 3, d->h = d->w = 8, d->k = 4, d->r = d->s = 3;
    e->key.deterministic = 1;
    e->outcome = SC_PROBE_OK, e->vendor_ms = 1, e->safeconv_ms = 2;
    memset(e->detail, 'd', 150); /* rows of some size: the disk fills sooner */
}

#define PUTS 3000
static char ok_rows[PUTS + 1];

/* PUTS puts into path; `fill` makes the disk full after the first ones. Returns 0, or the step
 * that went wrong; *oks and *fails count the answers. */
static int put_many(const char *path, void (*fill)(void), int *oks, int *fails)
{
    sc_cache *c;
    *oks = *fails = 0;
    memset(ok_rows, 0, sizeof ok_rows);
    if (sc_cache_open(path, &c) || !sc_cache_is_persistent(c)) return 60;
    for (int i = 1; i <= PUTS; i++) {
        if (i == 50) fill();
        sc_cache_entry e;
        entry(&e, i);
        sc_status st = sc_cache_put(c, &e);
        if (st == SC_STATUS_OK)
            ok_rows[i] = 1, ++*oks;
        else if (st == SC_STATUS_CACHE_ERROR) /* "database or disk is full", or an I/O error */
            ++*fails;
        else
            return 61;
    }
    sc_cache_close(c);
    return 0;
}

/* Every row put answered OK is in the file (read by a connection of its own). 0 or a step. */
static int all_ok_rows_in_file(const char *path, int *missing)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    *missing = 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL)) return 70;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM selection WHERE n = ?1 AND device = 'dev'", -1,
                           &st, NULL))
        return 71;
    for (int i = 1; i <= PUTS; i++) {
        if (!ok_rows[i]) continue;
        sqlite3_reset(st);
        sqlite3_bind_int(st, 1, i);
        if (sqlite3_step(st) != SQLITE_ROW) return 72;
        if (sqlite3_column_int(st, 0) != 1) ++*missing;
    }
    sqlite3_finalize(st);
    int ok = 0;
    if (!sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL)) {
        ok = sqlite3_step(st) == SQLITE_ROW &&
             !strcmp((const char *)sqlite3_column_text(st, 0), "ok");
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return ok ? 0 : 73;
}

static void fill_budget(void) { atomic_store(&budget, 64 * 1024); }

SC_TEST(test_cache_full_disk_injected)
{
    char dir[64], path[128];
    CHECK(sc_tg_tempdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/c.sqlite", dir);
    shim_install(true);
    int oks, fails;
    int step = put_many(path, fill_budget, &oks, &fails);
    atomic_store(&budget, -1); /* room again */
    /* A new handle writes again once there is room. */
    sc_cache *c = NULL;
    sc_cache_entry e;
    entry(&e, PUTS + 1);
    bool again = !sc_cache_open(path, &c) && sc_cache_is_persistent(c) && !sc_cache_put(c, &e);
    sc_cache_close(c);
    shim_install(false);
    printf("    %d puts OK, %d CACHE_ERROR (disk full)\n", oks, fails);
    CHECK_MSG(step == 0, "step %d: %s", step, sc_last_error());
    CHECK_MSG(oks >= 49 && fails > 0, "%d OK, %d full: the disk never filled?", oks, fails);
    int missing;
    CHECK_MSG((step = all_ok_rows_in_file(path, &missing)) == 0, "step %d", step);
    CHECK_MSG(missing == 0, "%d of %d rows answered OK are not in the file", missing, oks);
    CHECK_MSG(again, "no write after the disk had room again: %s", sc_last_error());
    sc_tg_rmtree(dir);
}

/* A real file system that fills up: a 256 KiB tmpfs in a mount namespace of a child's own. */
static void no_fill(void) {}

SC_TEST(test_cache_full_disk_tmpfs)
{
    char dir[64], mnt[128], path[160];
    CHECK(sc_tg_tempdir(dir, sizeof dir));
    snprintf(mnt, sizeof mnt, "%s/small", dir);
    CHECK(mkdir(mnt, 0755) == 0);
    snprintf(path, sizeof path, "%s/c.sqlite", mnt);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
            mount("tmpfs", mnt, "tmpfs", 0, "size=256k"))
            _exit(77);
        int oks, fails, missing;
        int step = put_many(path, no_fill, &oks, &fails);
        printf("    tmpfs: %d puts OK, %d CACHE_ERROR (disk full)\n", oks, fails);
        fflush(stdout);
        if (step) _exit(step);
        if ((step = all_ok_rows_in_file(path, &missing))) _exit(step);
        if (missing) _exit(81);
        _exit(!oks || !fails ? 80 : 0);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
    if (code == 77)
        printf("    (no private mount namespace or tmpfs here: the real full-disk case is "
               "skipped; the injected one ran)\n");
    else
        CHECK_MSG(code == 0, "step %d (80: the disk never filled, 81: rows answered OK missing)",
                  code);
    sc_tg_rmtree(dir);
}
