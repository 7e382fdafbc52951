/* cache.c - the persistent selection cache: one SQLite table, WAL mode, busy timeout, one
 * transaction per write (so a process killed mid-write leaves the file intact and every
 * committed row in it). A file that cannot be used degrades to an in-memory database for this
 * process, with one warning on stderr: never a failure, never a crash.
 *
 * Table `selection`: 26 key columns (device, arch, sms, driver, runtime, vendor, vendor_version,
 * kernels, dir, dtype, layout, n, c, h, w, k, r, s, pad_h, pad_w, stride_h, stride_w, dil_h,
 * dil_w, groups, det) and 7 value columns (outcome, algo, vendor_ms, safeconv_ms, workspace,
 * detail, updated). PRAGMA user_version holds the schema number; another number drops the
 * table (it is a cache). A writer waits up to 10 s for another's lock
 * ($SAFECONV_CACHE_BUSY_MS overrides), then the write fails with CACHE_ERROR: callers go on.
 *
 * The file may be hostile (SAFECONV_CACHE_DIR can be a shared folder): before any statement
 * reads `selection`, its schema is checked (a table, these 33 columns in this order, this
 * primary key, no generated columns, no index or trigger on it); every statement is bounded
 * by a progress handler (SQLITE_INTERRUPT after too many virtual-machine steps), so no file
 * makes a call hang. Either failure reads as "unusable": memory, one warning.
 *
 * A put that cannot reach the file (disk full, I/O error, made read-only) returns CACHE_ERROR
 * and stores the row nowhere: OK from sc_cache_put on a persistent cache means committed to the
 * file. Only a cache that was never persistent (or fell back after a failed read) writes to
 * memory. Clearing a cache whose file is not in use is an error, never a silent success. */
#include "guard/guard.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define SCHEMA_VERSION  1
#define BUSY_TIMEOUT_MS 10000
/* Virtual-machine steps one statement may take: a lookup takes tens, listing a cache of 100,000
 * rows some 10^8; a recursive view or trigger never ends. $SAFECONV_CACHE_MAX_VM_STEPS
 * overrides (the tests use a small bound). */
#define MAX_VM_STEPS    100000000LL
#define STEPS_PER_CHECK 1000

struct sc_cache {
    sqlite3 *db;
    char path[PATH_MAX];
    int persistent;
    int from_file;        /* opened for a file (not ":memory:" on request) */
    long long max_checks; /* progress-handler calls one statement may take */
};

static const char *const SCHEMA =
    "CREATE TABLE IF NOT EXISTS selection ("
    " device TEXT NOT NULL, arch TEXT NOT NULL, sms INTEGER NOT NULL, driver INTEGER NOT NULL,"
    " runtime INTEGER NOT NULL, vendor TEXT NOT NULL, vendor_version TEXT NOT NULL,"
    " kernels INTEGER NOT NULL, dir INTEGER NOT NULL, dtype INTEGER NOT NULL,"
    " layout INTEGER NOT NULL, n INTEGER NOT NULL, c INTEGER NOT NULL, h INTEGER NOT NULL,"
    " w INTEGER NOT NULL, k INTEGER NOT NULL, r INTEGER NOT NULL, s INTEGER NOT NULL,"
    " pad_h INTEGER NOT NULL, pad_w INTEGER NOT NULL, stride_h INTEGER NOT NULL,"
    " stride_w INTEGER NOT NULL, dil_h INTEGER NOT NULL, dil_w INTEGER NOT NULL,"
    " groups INTEGER NOT NULL, det INTEGER NOT NULL,"
    " outcome INTEGER NOT NULL, algo INTEGER, vendor_ms REAL, safeconv_ms REAL,"
    " workspace INTEGER, detail TEXT, updated REAL,"
    " PRIMARY KEY (device, arch, sms, driver, runtime, vendor, vendor_version, kernels, dir,"
    " dtype, layout, n, c, h, w, k, r, s, pad_h, pad_w, stride_h, stride_w, dil_h, dil_w,"
    " groups, det)) WITHOUT ROWID;";

#define KEY_WHERE                                                                                  \
    "device=?1 AND arch=?2 AND sms=?3 AND driver=?4 AND runtime=?5 AND vendor=?6 AND "             \
    "vendor_version=?7 AND kernels=?8 AND dir=?9 AND dtype=?10 AND layout=?11 AND n=?12 AND "      \
    "c=?13 AND h=?14 AND w=?15 AND k=?16 AND r=?17 AND s=?18 AND pad_h=?19 AND pad_w=?20 AND "     \
    "stride_h=?21 AND stride_w=?22 AND dil_h=?23 AND dil_w=?24 AND groups=?25 AND det=?26"

/* ---- process-wide state ---- */
static atomic_uint generation;
unsigned sc__cache_generation(void)
{
    return atomic_load_explicit(&generation, memory_order_relaxed);
}
void sc__cache_bump_generation(void) { atomic_fetch_add(&generation, 1); }

static atomic_int warned;
void sc__cache_warn_once(const char *path, const char *why)
{
    if (atomic_exchange(&warned, 1)) return;
    fprintf(stderr,
            "safeconv: warning: selection cache %s is unusable (%s); using an in-memory cache "
            "for this process (probe results will not persist)\n",
            path && *path ? path : "(no path)", why);
}

const char *sc_probe_outcome_name(sc_probe_outcome o)
{
    static const char *const names[] = {"seen",  "ok",    "hang", "crash",
                                        "error", "wrong", "slow", "no-vendor"};
    return (unsigned)o < sizeof names / sizeof names[0] ? names[o] : "unknown";
}

/* ---- location ---- */
sc_status sc_cache_resolve_path(const char *path, char *buf, size_t size)
{
    sc__clear_error();
    if (!buf || !size) return sc__fail(SC_STATUS_BAD_PARAM, "buf: NULL or empty");
    const char *env;
    int n;
    if (path && *path)
        n = snprintf(buf, size, "%s", path);
    else if ((env = getenv("SAFECONV_CACHE_DIR")) && *env)
        n = snprintf(buf, size, "%s/safeconv.sqlite", env);
    else if ((env = getenv("XDG_CACHE_HOME")) && *env)
        n = snprintf(buf, size, "%s/safeconv/safeconv.sqlite", env);
    else if ((env = getenv("HOME")) && *env)
        n = snprintf(buf, size, "%s/.cache/safeconv/safeconv.sqlite", env);
    else
        return sc__fail(SC_STATUS_CACHE_ERROR,
                        "cache path: none of SAFECONV_CACHE_DIR, XDG_CACHE_HOME, HOME is set");
    if (n < 0 || (size_t)n >= size)
        return sc__fail(SC_STATUS_BAD_PARAM, "buf: %zu bytes are too few for the cache path", size);
    return SC_STATUS_OK;
}

/* mkdir -p of the folder holding `file`. 0 or an errno. */
static int make_parent_dirs(const char *file)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", file);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return 0;
    *slash = 0;
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(dir, 0755) && errno != EEXIST) return errno;
        *p = '/';
    }
    if (mkdir(dir, 0755) && errno != EEXIST) return errno;
    struct stat st;
    if (stat(dir, &st)) return errno;
    if (!S_ISDIR(st.st_mode)) return ENOTDIR;
    return 0;
}

/* ---- bounded statements ---- */
/* Progress-handler calls since this thread's statement started. Per thread: threads may share
 * a handle, and SQLite calls the handler in the thread that steps the statement. */
static _Thread_local long long checks;

static int progress(void *user)
{
    const sc_cache *c = user;
    return ++checks > c->max_checks; /* non-zero: SQLITE_INTERRUPT */
}

static long long max_checks(void)
{
    const char *e = getenv("SAFECONV_CACHE_MAX_VM_STEPS");
    long long steps = MAX_VM_STEPS;
    if (e && *e) {
        char *end;
        long long v = strtoll(e, &end, 10);
        if (!*end && v > 0) steps = v;
    }
    return steps / STEPS_PER_CHECK > 0 ? steps / STEPS_PER_CHECK : 1;
}

/* Put c->db under the bound; arm() before each statement restarts the count. */
static void bound(sc_cache *c)
{
    c->max_checks = max_checks();
    if (c->db) sqlite3_progress_handler(c->db, STEPS_PER_CHECK, progress, c);
}
static void arm(sc_cache *c)
{
    (void)c;
    checks = 0;
}

static int exec_sql(sqlite3 *db, const char *sql, char *why, size_t len)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK && why) snprintf(why, len, "%s", msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return rc;
}

static int user_version(sqlite3 *db, int *v)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (rc) return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *v = sqlite3_column_int(st, 0), rc = SQLITE_OK;
    sqlite3_finalize(st);
    return rc;
}

static const char *const COLUMNS[] = {
    "device",    "arch",        "sms",       "driver", "runtime", "vendor",  "vendor_version",
    "kernels",   "dir",         "dtype",     "layout", "n",       "c",       "h",
    "w",         "k",           "r",         "s",      "pad_h",   "pad_w",   "stride_h",
    "stride_w",  "dil_h",       "dil_w",     "groups", "det",     "outcome", "algo",
    "vendor_ms", "safeconv_ms", "workspace", "detail", "updated"};
#define NCOLUMNS 33
#define NKEY     26

/* Is `selection` in database `schema` ("main", "ro") what this file writes? A view (a recursive
 * one never ends), generated columns, an index or trigger on it (code that runs on every write)
 * or other columns: SQLITE_CORRUPT with `why`. Reads only sqlite_master and table_xinfo, which
 * run no code of the file. */
static int check_schema(sc_cache *c, const char *schema, char *why, size_t len)
{
    char sql[200];
    sqlite3_stmt *st;
    int objects = 0, tables = 0, rc;
    snprintf(sql, sizeof sql,
             "SELECT type, name FROM \"%s\".sqlite_master WHERE name = 'selection' COLLATE "
             "NOCASE OR tbl_name = 'selection' COLLATE NOCASE",
             schema);
    arm(c);
    if ((rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL))) goto sqlerr;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *type = (const char *)sqlite3_column_text(st, 0);
        const char *name = (const char *)sqlite3_column_text(st, 1);
        objects++;
        if (type && !strcmp(type, "table") && name && !sqlite3_stricmp(name, "selection"))
            tables++;
        else if (!(type && !strcmp(type, "index") && name &&
                   !strncmp(name, "sqlite_autoindex_", 17))) {
            snprintf(why, len, "unexpected schema: %s '%.60s' on the selection table",
                     type ? type : "?", name ? name : "?");
            sqlite3_finalize(st);
            return SQLITE_CORRUPT;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) goto sqlerr;
    if (tables != 1) {
        snprintf(why, len, "unexpected schema: no selection table (%d objects)", objects);
        return SQLITE_CORRUPT;
    }
    snprintf(sql, sizeof sql, "PRAGMA \"%s\".table_xinfo(selection)", schema);
    arm(c);
    if ((rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL))) goto sqlerr;
    int n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 1);
        int pk = sqlite3_column_int(st, 5), hidden = sqlite3_column_int(st, 6);
        if (n >= NCOLUMNS || !name || strcmp(name, COLUMNS[n]) || hidden ||
            pk != (n < NKEY ? n + 1 : 0)) {
            snprintf(why, len, "unexpected schema: column %d is '%.40s'%s", n, name ? name : "?",
                     hidden ? " (generated)" : "");
            sqlite3_finalize(st);
            return SQLITE_CORRUPT;
        }
        n++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) goto sqlerr;
    if (n != NCOLUMNS) {
        snprintf(why, len, "unexpected schema: %d columns, want %d", n, NCOLUMNS);
        return SQLITE_CORRUPT;
    }
    return SQLITE_OK;
sqlerr:
    snprintf(why, len, "%s", sqlite3_errmsg(c->db));
    return rc ? rc : SQLITE_ERROR;
}

/* Set up a freshly opened file: WAL, schema. SQLITE_OK or an error with `why`. */
static int busy_ms(void)
{
    const char *e = getenv("SAFECONV_CACHE_BUSY_MS");
    return e && *e ? atoi(e) : BUSY_TIMEOUT_MS;
}

static int setup_file(sc_cache *c, char *why, size_t len)
{
    sqlite3 *db = c->db;
    sqlite3_busy_timeout(db, busy_ms());
    bound(c);
    arm(c);
    if (sqlite3_db_readonly(db, "main") == 1) {
        snprintf(why, len, "read-only");
        return SQLITE_READONLY;
    }
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const char *mode = (const char *)sqlite3_column_text(st, 0);
            rc = mode && !strcmp(mode, "wal") ? SQLITE_OK : SQLITE_CANTOPEN;
            if (rc) snprintf(why, len, "cannot switch to WAL (journal mode %s)", mode ? mode : "?");
        } else {
            snprintf(why, len, "%s", sqlite3_errmsg(db));
        }
        sqlite3_finalize(st);
    } else {
        snprintf(why, len, "%s", sqlite3_errmsg(db));
    }
    if (rc) return rc;
    exec_sql(db, "PRAGMA synchronous=NORMAL", NULL, 0);
    int v = 0;
    arm(c);
    if ((rc = user_version(db, &v))) {
        snprintf(why, len, "%s", sqlite3_errmsg(db));
        return rc;
    }
    if (v != SCHEMA_VERSION) {
        /* New file (0) or another schema: start over in one transaction. */
        char sql[4096];
        snprintf(sql, sizeof sql,
                 "BEGIN IMMEDIATE; DROP TABLE IF EXISTS selection; %s PRAGMA user_version=%d; "
                 "COMMIT;",
                 SCHEMA, SCHEMA_VERSION);
        if (v == 0)
            snprintf(sql, sizeof sql, "BEGIN IMMEDIATE; %s PRAGMA user_version=%d; COMMIT;", SCHEMA,
                     SCHEMA_VERSION);
        arm(c);
        if ((rc = exec_sql(db, sql, why, len))) {
            exec_sql(db, "ROLLBACK", NULL, 0);
            return rc;
        }
    }
    /* Whatever the version said (CREATE TABLE IF NOT EXISTS passes over a view of that name),
     * the table must be ours before a statement reads it. */
    if ((rc = check_schema(c, "main", why, len))) return rc;
    /* Touch the table: a damaged file fails here rather than later. */
    arm(c);
    return exec_sql(db, "SELECT * FROM selection LIMIT 1", why, len);
}

static sqlite3 *open_memory(void)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(":memory:", &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_URI, NULL)) {
        sqlite3_close(db);
        return NULL;
    }
    exec_sql(db, SCHEMA, NULL, 0);
    return db;
}

/* A readable but read-only cache file: copy its rows into the in-memory database (c->db), so
 * earlier probes still count. Opened immutable (no -shm/-wal needed, nothing written), its
 * schema checked like a writable file's, the copy bounded. Best effort. */
static void import_readonly(sc_cache *c, const char *path)
{
    sqlite3 *mem = c->db;
    char uri[PATH_MAX * 3 + 32] = "file:";
    size_t n = strlen(uri);
    for (const unsigned char *p = (const unsigned char *)path; *p && n + 4 < sizeof uri; p++) {
        if (*p == '%' || *p == '?' || *p == '#' || *p < 0x21)
            n += (size_t)snprintf(uri + n, sizeof uri - n, "%%%02X", *p);
        else
            uri[n++] = (char)*p;
    }
    snprintf(uri + n, sizeof uri - n, "?mode=ro&immutable=1");
    sqlite3_stmt *st;
    arm(c);
    if (sqlite3_prepare_v2(mem, "ATTACH DATABASE ?1 AS ro", -1, &st, NULL)) return;
    sqlite3_bind_text(st, 1, uri, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return;
    char why[200];
    int v = 0;
    arm(c);
    sqlite3_stmt *vs;
    if (!sqlite3_prepare_v2(mem, "PRAGMA ro.user_version", -1, &vs, NULL)) {
        if (sqlite3_step(vs) == SQLITE_ROW) v = sqlite3_column_int(vs, 0);
        sqlite3_finalize(vs);
    }
    if (v == SCHEMA_VERSION && !check_schema(c, "ro", why, sizeof why)) {
        arm(c);
        if (exec_sql(mem, "INSERT OR IGNORE INTO main.selection SELECT * FROM ro.selection", NULL,
                     0))
            exec_sql(mem, "DELETE FROM main.selection", NULL, 0); /* all or nothing */
    }
    arm(c);
    exec_sql(mem, "DETACH DATABASE ro", NULL, 0);
}

/* Switch an open cache to memory (a file that broke after open). */
static void degrade(sc_cache *c, const char *why)
{
    sc__cache_warn_once(c->path, why);
    if (c->db) sqlite3_close_v2(c->db);
    c->db = open_memory();
    c->persistent = 0;
    bound(c);
}

sc_status sc_cache_open(const char *path, sc_cache **out)
{
    sc__clear_error();
    if (!out) return sc__fail(SC_STATUS_BAD_PARAM, "out: NULL");
    *out = NULL;
    sc_cache *c = calloc(1, sizeof *c);
    if (!c) return sc__fail(SC_STATUS_OUT_OF_MEMORY, "cache: allocation failed");
    char why[300] = "";
    int ok = 0;
    if (path && !strcmp(path, ":memory:")) {
        /* Asked for: an in-memory cache for this process, no warning. */
        snprintf(c->path, sizeof c->path, ":memory:");
        if (!(c->db = open_memory())) {
            free(c);
            return sc__fail(SC_STATUS_OUT_OF_MEMORY, "cache: cannot open an in-memory database");
        }
        bound(c);
        *out = c;
        return SC_STATUS_OK;
    }
    c->from_file = 1;
    if (sc_cache_resolve_path(path, c->path, sizeof c->path)) {
        snprintf(why, sizeof why, "%s", sc_last_error());
        sc__clear_error();
    } else {
        int e = make_parent_dirs(c->path);
        if (e) {
            snprintf(why, sizeof why, "cannot create its folder: %s", strerror(e));
        } else {
            int rc = sqlite3_open_v2(
                c->path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                NULL);
            if (rc)
                snprintf(why, sizeof why, "%s", c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
            else if (!(rc = setup_file(c, why, sizeof why)))
                ok = 1;
            if (rc && rc != SQLITE_READONLY) {
                int ec = sqlite3_extended_errcode(c->db);
                if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
                    snprintf(why + strlen(why), sizeof why - strlen(why), " (locked)");
                else if ((rc & 0xff) == SQLITE_NOTADB || (ec & 0xff) == SQLITE_CORRUPT)
                    snprintf(why + strlen(why), sizeof why - strlen(why), " (corrupt)");
                else if ((rc & 0xff) == SQLITE_INTERRUPT)
                    snprintf(why + strlen(why), sizeof why - strlen(why),
                             " (a statement ran past its bound: hostile or damaged file)");
            }
        }
    }
    if (ok) {
        c->persistent = 1;
    } else {
        bool readonly = c->db && sqlite3_db_readonly(c->db, "main") == 1;
        if (c->db) sqlite3_close_v2(c->db);
        c->db = NULL;
        sc__cache_warn_once(c->path, why);
        if (!(c->db = open_memory())) {
            free(c);
            return sc__fail(SC_STATUS_OUT_OF_MEMORY, "cache: cannot open an in-memory database");
        }
        bound(c);
        if (readonly) import_readonly(c, c->path);
    }
    *out = c;
    return SC_STATUS_OK;
}

void sc_cache_close(sc_cache *c)
{
    if (!c) return;
    sqlite3_close_v2(c->db);
    free(c);
}

const char *sc_cache_path(const sc_cache *c) { return c ? c->path : ""; }
int sc_cache_is_persistent(const sc_cache *c) { return c ? c->persistent : 0; }

/* ---- rows ---- */
/* The key's strings are fixed arrays that a caller may fill to the brim: bounded reads. */
static void bind_key(sqlite3_stmt *st, const sc_cache_key *k)
{
    const sc_conv2d_desc *d = &k->desc;
    sqlite3_bind_text(st, 1, k->device, (int)strnlen(k->device, sizeof k->device),
                      SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, k->arch, (int)strnlen(k->arch, sizeof k->arch), SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 3, k->multiprocessors);
    sqlite3_bind_int(st, 4, k->driver_version);
    sqlite3_bind_int(st, 5, k->runtime_version);
    sqlite3_bind_text(st, 6, k->vendor, (int)strnlen(k->vendor, sizeof k->vendor),
                      SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, k->vendor_version,
                      (int)strnlen(k->vendor_version, sizeof k->vendor_version), SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 8, k->kernel_set);
    sqlite3_bind_int(st, 9, (int)k->dir);
    sqlite3_bind_int(st, 10, (int)d->dtype);
    sqlite3_bind_int(st, 11, (int)d->layout);
    const int64_t v[] = {d->n,        d->c,     d->h,     d->w,     d->k,
                         d->r,        d->s,     d->pad_h, d->pad_w, d->stride_h,
                         d->stride_w, d->dil_h, d->dil_w, d->groups};
    for (int i = 0; i < 14; i++) sqlite3_bind_int64(st, 12 + i, v[i]);
    sqlite3_bind_int(st, 26, k->deterministic);
}

static void copy_text(char *dst, size_t n, const unsigned char *src)
{
    snprintf(dst, n, "%s", src ? (const char *)src : "");
}

/* A full row (SELECT * order) into e. */
static void read_row(sqlite3_stmt *st, sc_cache_entry *e)
{
    memset(e, 0, sizeof *e);
    sc_cache_key *k = &e->key;
    sc_conv2d_desc *d = &k->desc;
    copy_text(k->device, sizeof k->device, sqlite3_column_text(st, 0));
    copy_text(k->arch, sizeof k->arch, sqlite3_column_text(st, 1));
    k->multiprocessors = sqlite3_column_int(st, 2);
    k->driver_version = sqlite3_column_int(st, 3);
    k->runtime_version = sqlite3_column_int(st, 4);
    copy_text(k->vendor, sizeof k->vendor, sqlite3_column_text(st, 5));
    copy_text(k->vendor_version, sizeof k->vendor_version, sqlite3_column_text(st, 6));
    k->kernel_set = sqlite3_column_int(st, 7);
    k->dir = (sc_direction)sqlite3_column_int(st, 8);
    d->dtype = (sc_dtype)sqlite3_column_int(st, 9);
    d->layout = (sc_layout)sqlite3_column_int(st, 10);
    int64_t *v[] = {&d->n,        &d->c,     &d->h,     &d->w,     &d->k,
                    &d->r,        &d->s,     &d->pad_h, &d->pad_w, &d->stride_h,
                    &d->stride_w, &d->dil_h, &d->dil_w, &d->groups};
    for (int i = 0; i < 14; i++) *v[i] = sqlite3_column_int64(st, 11 + i);
    k->deterministic = sqlite3_column_int(st, 25);
    e->outcome = (sc_probe_outcome)sqlite3_column_int(st, 26);
    e->vendor_algo = sqlite3_column_int(st, 27);
    e->vendor_ms = sqlite3_column_double(st, 28);
    e->safeconv_ms = sqlite3_column_double(st, 29);
    e->workspace = (uint64_t)sqlite3_column_int64(st, 30);
    copy_text(e->detail, sizeof e->detail, sqlite3_column_text(st, 31));
    e->updated = sqlite3_column_double(st, 32);
}

/* A read that failed this way means the file cannot serve this process: fall back to memory.
 * SQLITE_INTERRUPT is the step bound (a hostile file). */
static bool file_broken(int rc)
{
    rc &= 0xff;
    return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB || rc == SQLITE_READONLY ||
           rc == SQLITE_IOERR || rc == SQLITE_CANTOPEN || rc == SQLITE_FULL ||
           rc == SQLITE_INTERRUPT;
}

static double now_s(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec * 1e-6;
}

static double monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int put_once(sc_cache *c, const sc_cache_entry *e)
{
    const char *sql = e->outcome == SC_PROBE_SEEN
                          ? "INSERT OR IGNORE INTO selection VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,"
                            "?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,?25,?26,"
                            "?27,?28,?29,?30,?31,?32,?33)"
                          : "INSERT OR REPLACE INTO selection VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,"
                            "?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,?25,?26,"
                            "?27,?28,?29,?30,?31,?32,?33)";
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    if (rc) return rc;
    bind_key(st, &e->key);
    sqlite3_bind_int(st, 27, (int)e->outcome);
    sqlite3_bind_int(st, 28, e->vendor_algo);
    sqlite3_bind_double(st, 29, e->vendor_ms);
    sqlite3_bind_double(st, 30, e->safeconv_ms);
    sqlite3_bind_int64(st, 31, (sqlite3_int64)e->workspace);
    /* detail may be filled to the brim, without a NUL: a bounded read, like the key's. */
    sqlite3_bind_text(st, 32, e->detail, (int)strnlen(e->detail, sizeof e->detail),
                      SQLITE_TRANSIENT);
    sqlite3_bind_double(st, 33, e->updated > 0 ? e->updated : now_s());
    arm(c);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

sc_status sc_cache_put(sc_cache *c, const sc_cache_entry *e)
{
    sc__clear_error();
    if (!c) return sc__fail(SC_STATUS_BAD_PARAM, "cache: NULL");
    if (!e) return sc__fail(SC_STATUS_BAD_PARAM, "entry: NULL");
    if ((unsigned)e->outcome > SC_PROBE_NO_VENDOR)
        return sc__fail(SC_STATUS_BAD_PARAM, "entry.outcome: unknown value %d", (int)e->outcome);
    if ((unsigned)e->key.dir > SC_DIR_BACKWARD_BIAS)
        return sc__fail(SC_STATUS_BAD_PARAM, "entry.key.dir: unknown direction %d",
                        (int)e->key.dir);
    /* A write that fails is reported, never redirected to memory: OK means the row is in the
     * cache's database (the file, for a persistent cache) and a full disk, an I/O error or a
     * file made read-only return CACHE_ERROR for every row they lose. */
    int rc = put_once(c, e);
    /* SQLite's busy handler waits for another connection's lock, but not when this handle has
     * a read under way (another thread stepping sc_cache_foreach on the same handle) and a
     * writer elsewhere committed since it began: the write cannot upgrade that snapshot and
     * fails at once with SQLITE_BUSY(_SNAPSHOT). The read ends soon; retry, within the same
     * busy timeout as any other lock wait. */
    double start = monotonic_s(), limit_s = busy_ms() / 1000.0;
    for (int pause_us = 200; (rc & 0xff) == SQLITE_BUSY && monotonic_s() - start < limit_s;
         pause_us = pause_us < 20000 ? 2 * pause_us : pause_us) {
        usleep((useconds_t)pause_us);
        rc = put_once(c, e);
    }
    if (rc)
        return sc__fail(SC_STATUS_CACHE_ERROR, "cache %s: write failed: %s", c->path,
                        sqlite3_errstr(rc));
    /* Contexts of this process reload their in-memory copy (a 'seen' row changes nothing). */
    if (e->outcome != SC_PROBE_SEEN) sc__cache_bump_generation();
    return SC_STATUS_OK;
}

sc_status sc_cache_get(sc_cache *c, const sc_cache_key *k, sc_cache_entry *out, int *found)
{
    sc__clear_error();
    if (!c || !k || !out || !found)
        return sc__fail(SC_STATUS_BAD_PARAM, "%s: NULL",
                        !c     ? "cache"
                        : !k   ? "key"
                        : !out ? "out"
                               : "found");
    *found = 0;
    sqlite3_stmt *st;
    arm(c);
    int rc = sqlite3_prepare_v2(c->db, "SELECT * FROM selection WHERE " KEY_WHERE, -1, &st, NULL);
    if (!rc) {
        bind_key(st, k);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            read_row(st, out), *found = 1, rc = SQLITE_OK;
        else if (rc == SQLITE_DONE)
            rc = SQLITE_OK;
        sqlite3_finalize(st);
    }
    if (rc && c->persistent && file_broken(rc)) {
        char why[200];
        snprintf(why, sizeof why, "read failed: %s", sqlite3_errstr(rc));
        degrade(c, why);
        return SC_STATUS_OK; /* the in-memory cache is empty: not found */
    }
    if (rc)
        return sc__fail(SC_STATUS_CACHE_ERROR, "cache %s: read failed: %s", c->path,
                        sqlite3_errstr(rc));
    return SC_STATUS_OK;
}

sc_status sc_cache_foreach(sc_cache *c, int (*fn)(const sc_cache_entry *, void *), void *user)
{
    sc__clear_error();
    if (!c || !fn) return sc__fail(SC_STATUS_BAD_PARAM, "%s: NULL", !c ? "cache" : "fn");
    sqlite3_stmt *st;
    arm(c); /* one bound for the whole listing: a view that never ends yields rows forever */
    int rc = sqlite3_prepare_v2(c->db, "SELECT * FROM selection ORDER BY updated", -1, &st, NULL);
    if (!rc) {
        sc_cache_entry e;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            read_row(st, &e);
            if (fn(&e, user)) {
                rc = SQLITE_DONE;
                break;
            }
        }
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
        sqlite3_finalize(st);
    }
    if (rc && c->persistent && file_broken(rc)) {
        char why[200];
        snprintf(why, sizeof why, "read failed: %s", sqlite3_errstr(rc));
        degrade(c, why);
        return SC_STATUS_OK;
    }
    if (rc)
        return sc__fail(SC_STATUS_CACHE_ERROR, "cache %s: read failed: %s", c->path,
                        sqlite3_errstr(rc));
    return SC_STATUS_OK;
}

sc_status sc_cache_clear(sc_cache *c, int64_t *removed)
{
    sc__clear_error();
    if (!c) return sc__fail(SC_STATUS_BAD_PARAM, "cache: NULL");
    if (c->from_file && !c->persistent)
        return sc__fail(SC_STATUS_CACHE_ERROR,
                        "cache %s: the file is not in use by this process (read-only, corrupt or "
                        "unreachable: see the warning); nothing was removed from it",
                        c->path);
    char why[200];
    arm(c);
    int rc = exec_sql(c->db, "DELETE FROM selection", why, sizeof why);
    if (rc) return sc__fail(SC_STATUS_CACHE_ERROR, "cache %s: clear failed: %s", c->path, why);
    if (removed) *removed = sqlite3_changes(c->db);
    sc__cache_bump_generation();
    return SC_STATUS_OK;
}

/* ---- keys ---- */
sc_status sc__cache_env_key(int device, const sc_vendor_adapter *ad, sc_cache_key *k)
{
    memset(k, 0, sizeof *k);
    sc_device_info info;
    sc_status st = sc_device_get_info(device, &info);
    if (st) return st;
    snprintf(k->device, sizeof k->device, "%.127s", info.name);
    snprintf(k->arch, sizeof k->arch, "%.31s", info.arch);
    k->multiprocessors = info.multiprocessors;
    k->driver_version = info.driver_version;
    k->runtime_version = info.runtime_version;
    snprintf(k->vendor, sizeof k->vendor, "%s", ad ? ad->name : "none");
    snprintf(k->vendor_version, sizeof k->vendor_version, "%s", ad ? ad->version() : "");
    k->kernel_set = SC_KERNEL_SET_VERSION;
    return SC_STATUS_OK;
}

bool sc__cache_same_env(const sc_cache_key *a, const sc_cache_key *b)
{
    return !strcmp(a->device, b->device) && !strcmp(a->arch, b->arch) &&
           a->multiprocessors == b->multiprocessors && a->driver_version == b->driver_version &&
           a->runtime_version == b->runtime_version && !strcmp(a->vendor, b->vendor) &&
           !strcmp(a->vendor_version, b->vendor_version) && a->kernel_set == b->kernel_set;
}

sc_status sc_cache_key_for_device(int device, sc_cache_key *k)
{
    sc__clear_error();
    if (!k) return sc__fail(SC_STATUS_BAD_PARAM, "k: NULL");
    const sc_vendor_adapter *ad = sc__vendor_get(NULL);
    return sc__cache_env_key(device, sc__vendor_serves(ad, device) ? ad : NULL, k);
}
