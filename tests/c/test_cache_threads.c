/* test_cache_threads.c - the guard and the cache from several threads at once (the C tests
 * that `make test-tsan` runs under ThreadSanitizer, with threads_independent_contexts):
 * four threads with contexts of their own under strategy auto share one cache file through
 * the fault vendor - they meet new shapes (writing 'seen' rows), read the cache into their
 * maps, and reload them when a fifth thread writes probe results (sc_cache_put on a handle
 * it shares with the main thread, which reads at the same time). Every result equals the
 * reference; the vendor is called exactly for the shapes the written rows say. */
#include "testlib.h"

#include "safeconv.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool sc_tg_use_fault_vendor(const char *rules);
void sc_tg_no_vendor(void);
bool sc_tg_tempdir(char *buf, size_t n);
void sc_tg_rmtree(const char *dir);
double sc_tg_check_vs_reference(sc_context *ctx, const sc_conv2d_desc *d, sc_direction dir,
                                sc_status *status);

#define SHAPES 6
#define ROUNDS 5

typedef struct {
    const char *path;
    int bad; /* results off the reference, or failed calls */
} worker_arg;

static sc_conv2d_desc shape(int i)
{
    sc_conv2d_desc d;
    sc_conv2d_desc_init(&d);
    d.n = 1, d.c = 2 + i % 3, d.h = d.w = 6 + i, d.k = 3 + i, d.r = d.s = 3;
    return d;
}

static void *worker(void *p)
{
    worker_arg *a = p;
    sc_context_options o;
    sc_context_options_init(&o);
    o.cache_path = a->path;
    sc_context *ctx;
    if (sc_context_create(&o, &ctx)) {
        a->bad++;
        return NULL;
    }
    for (int round = 0; round < ROUNDS; round++)
        for (int i = 0; i < SHAPES; i++) {
            sc_conv2d_desc d = shape(i);
            sc_status st;
            double err = sc_tg_check_vs_reference(ctx, &d, (sc_direction)(i % 3), &st);
            if (st || !(err < 1e-4)) a->bad++;
        }
    sc_context_destroy(ctx);
    return NULL;
}

typedef struct {
    sc_cache *c;
    sc_cache_key env;
    int failed;
    char why[256]; /* the first failed write's message */
} writer_arg;

/* A probe result for shape i in direction dir: ok, and the vendor faster. */
static sc_cache_entry row(const sc_cache_key *env, int i, sc_direction dir)
{
    sc_cache_entry e;
    memset(&e, 0, sizeof e);
    e.key = *env;
    e.key.desc = shape(i), e.key.dir = dir, e.key.deterministic = 1;
    e.outcome = SC_PROBE_OK, e.vendor_ms = 1, e.safeconv_ms = 2;
    return e;
}

static void *writer(void *p)
{
    writer_arg *a = p;
    for (int i = 0; i < SHAPES; i += 2) { /* every other shape */
        sc_cache_entry e = row(&a->env, i, (sc_direction)(i % 3));
        if (sc_cache_put(a->c, &e) && !a->failed++)
            snprintf(a->why, sizeof a->why, "%s", sc_last_error());
    }
    return NULL;
}

static int count(const sc_cache_entry *e, void *user)
{
    (void)e;
    ++*(int *)user;
    return 0;
}

SC_TEST(test_cache_threads_auto_contexts_share_a_cache)
{
    char dir[64], path[128];
    CHECK(sc_tg_tempdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/c.sqlite", dir);
    CHECK(sc_tg_use_fault_vendor("k=1000:hang"));
    sc_cache *c;
    CHECK_STATUS(sc_cache_open(path, &c), SC_STATUS_OK);
    writer_arg wa;
    memset(&wa, 0, sizeof wa);
    wa.c = c;
    CHECK_STATUS(sc_cache_key_for_device(SC_DEVICE_CPU, &wa.env), SC_STATUS_OK);
    enum {
        WORKERS = 4
    };
    worker_arg args[WORKERS];
    pthread_t t[WORKERS], w;
    for (int i = 0; i < WORKERS; i++) {
        args[i] = (worker_arg){path, 0};
        CHECK(pthread_create(&t[i], NULL, worker, &args[i]) == 0);
    }
    CHECK(pthread_create(&w, NULL, writer, &wa) == 0);
    int rows = 0; /* the main thread reads the handle the writer writes */
    for (int i = 0; i < 20; i++) CHECK_STATUS(sc_cache_foreach(c, count, &rows), SC_STATUS_OK);
    pthread_join(w, NULL);
    for (int i = 0; i < WORKERS; i++) pthread_join(t[i], NULL);
    CHECK_MSG(wa.failed == 0, "%d writes failed: %s", wa.failed, wa.why);
    for (int i = 0; i < WORKERS; i++)
        CHECK_MSG(args[i].bad == 0, "worker %d: %d bad", i, args[i].bad);
    /* After the threads: a new context calls the vendor for the three rows written ok. */
    sc_context_options o;
    sc_context_options_init(&o);
    o.cache_path = path;
    sc_context *ctx;
    CHECK_STATUS(sc_context_create(&o, &ctx), SC_STATUS_OK);
    for (int i = 0; i < SHAPES; i++) {
        sc_conv2d_desc d = shape(i);
        sc_status st;
        CHECK(sc_tg_check_vs_reference(ctx, &d, (sc_direction)(i % 3), &st) < 1e-4);
        CHECK_STATUS(st, SC_STATUS_OK);
    }
    sc_stats s;
    CHECK_STATUS(sc_context_get_stats(ctx, &s), SC_STATUS_OK);
    CHECK_MSG(s.vendor_calls == SHAPES / 2, "vendor calls %llu, want %d",
              (unsigned long long)s.vendor_calls, SHAPES / 2);
    sc_context_destroy(ctx);
    sc_cache_close(c);
    sc_tg_no_vendor();
    sc_tg_rmtree(dir);
}

/* A write on a handle whose listing another thread has under way, after a writer elsewhere
 * committed: SQLite cannot upgrade the listing's snapshot and answers SQLITE_BUSY at once,
 * without its busy handler. sc_cache_put waits for the listing to end (CI saw the race above
 * fail 1 run in 60; here it is forced: the old code failed this every time). */
typedef struct {
    sc_cache *c;
    atomic_int reading, release;
    sc_status st;
} lister_arg;

static int hold_listing(const sc_cache_entry *e, void *user)
{
    (void)e;
    lister_arg *a = user;
    atomic_store(&a->reading, 1);
    for (int i = 0; i < 5000 && !atomic_load(&a->release); i++) usleep(1000);
    return 1; /* stop after the first row */
}

static void *lister(void *p)
{
    lister_arg *a = p;
    a->st = sc_cache_foreach(a->c, hold_listing, a);
    return NULL;
}

typedef struct {
    sc_cache *c;
    sc_cache_entry e;
    sc_status st;
    char why[256];
} putter_arg;

static void *putter(void *p)
{
    putter_arg *a = p;
    a->st = sc_cache_put(a->c, &a->e);
    if (a->st) snprintf(a->why, sizeof a->why, "%s", sc_last_error());
    return NULL;
}

SC_TEST(test_cache_put_waits_for_a_listing_on_its_handle)
{
    char dir[64], path[128];
    CHECK(sc_tg_tempdir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/c.sqlite", dir);
    sc_cache *c, *other;
    CHECK_STATUS(sc_cache_open(path, &c), SC_STATUS_OK);
    CHECK_STATUS(sc_cache_open(path, &other), SC_STATUS_OK);
    sc_cache_key env;
    CHECK_STATUS(sc_cache_key_for_device(SC_DEVICE_CPU, &env), SC_STATUS_OK);
    for (int i = 0; i < 2; i++) {
        sc_cache_entry e = row(&env, i, SC_DIR_FORWARD);
        CHECK_STATUS(sc_cache_put(c, &e), SC_STATUS_OK);
    }
    lister_arg la = {.c = c};
    pthread_t lt, pt;
    CHECK(pthread_create(&lt, NULL, lister, &la) == 0);
    for (int i = 0; i < 5000 && !atomic_load(&la.reading); i++) usleep(1000);
    CHECK(atomic_load(&la.reading));
    /* Another connection commits while the listing reads. */
    sc_cache_entry e2 = row(&env, 2, SC_DIR_FORWARD);
    CHECK_STATUS(sc_cache_put(other, &e2), SC_STATUS_OK);
    putter_arg pa = {.c = c, .e = row(&env, 3, SC_DIR_FORWARD)};
    CHECK(pthread_create(&pt, NULL, putter, &pa) == 0);
    usleep(100 * 1000); /* the write has met the listing's snapshot by now */
    atomic_store(&la.release, 1);
    pthread_join(pt, NULL);
    pthread_join(lt, NULL);
    CHECK_STATUS(la.st, SC_STATUS_OK);
    CHECK_MSG(pa.st == SC_STATUS_OK, "the write failed: %s", pa.why);
    int rows = 0;
    CHECK_STATUS(sc_cache_foreach(other, count, &rows), SC_STATUS_OK);
    CHECK_MSG(rows == 4, "%d rows, want 4", rows);
    sc_cache_close(other);
    sc_cache_close(c);
    sc_tg_rmtree(dir);
}
