/* onednn_cache.c - the oneDNN route's process-wide state: the CPU engine and a bounded cache of
 * recipes (onednn_recipe.c), because creating a oneDNN primitive takes milliseconds (descriptor
 * search, JIT code generation) while running a small layer can take less.
 *
 * Keyed by problem, direction, thread count and layout variant; a key oneDNN cannot serve is
 * cached too (with its reason), so it is not retried on every call. Least recently used
 * recipes are evicted beyond SC_DNNL_CACHE_CAPACITY. Thread-safe: contexts on several threads
 * share the cache under one mutex, held only for the table itself, never while a primitive is
 * created or runs; a recipe evicted while another thread runs it is destroyed by the last user
 * (reference count). Two threads missing the same key at once both create it; one copy is kept.
 * Creating and destroying recipes is serialized by a second mutex: oneDNN's own primitive cache
 * (shared by the whole process) publishes its entries in ways ThreadSanitizer cannot follow
 * inside the uninstrumented library, and creation is a once-per-shape cost anyway. */
#include "cpu/onednn/onednn.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* A network has a few dozen distinct layers, times three directions and two variants. */
#define SC_DNNL_CACHE_CAPACITY 256

typedef struct entry {
    sc_dnnl_key key;
    uint64_t hash;
    uint64_t used; /* tick of the last acquire */
    sc_dnnl_recipe *r;
} entry;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER; /* never held with `lock` */
static entry table[SC_DNNL_CACHE_CAPACITY];
static int count;
static uint64_t tick;

static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static dnnl_engine_t engine;

/* Once, before any thread uses oneDNN: the engine, and oneDNN's own lazily built globals (its
 * primitive cache and CPU detection), so that they are built under this pthread_once rather than
 * by whichever thread first creates a primitive (which ThreadSanitizer, blind inside oneDNN,
 * reports as a race between two contexts' threads). */
static void engine_create(void)
{
    int capacity;
    (void)dnnl_get_primitive_cache_capacity(&capacity);
    (void)dnnl_get_effective_cpu_isa();
    if (dnnl_engine_get_count(dnnl_cpu) < 1 || dnnl_engine_create(&engine, dnnl_cpu, 0))
        engine = NULL;
}

dnnl_engine_t sc_dnnl_engine(void)
{
    pthread_once(&engine_once, engine_create);
    return engine;
}

static uint64_t key_hash(const sc_dnnl_key *k)
{
    const unsigned char *p = (const unsigned char *)k;
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < sizeof *k; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static void destroy(sc_dnnl_recipe *r)
{
    if (!r) return;
    pthread_mutex_lock(&create_lock);
    sc_dnnl_recipe_destroy(r);
    pthread_mutex_unlock(&create_lock);
}

/* Under the lock: the entry of key, or NULL. */
static entry *find(const sc_dnnl_key *key, uint64_t h)
{
    for (int i = 0; i < count; i++)
        if (table[i].hash == h && !memcmp(&table[i].key, key, sizeof *key)) return &table[i];
    return NULL;
}

/* Under the lock: take a reference. */
static sc_dnnl_recipe *take(entry *e)
{
    e->used = ++tick;
    e->r->refs++;
    return e->r;
}

sc_dnnl_recipe *sc_dnnl_cache_acquire(const sc_problem *pb, const sc_dnnl_key *key)
{
    uint64_t h = key_hash(key);
    pthread_mutex_lock(&lock);
    entry *e = find(key, h);
    sc_dnnl_recipe *r = e ? take(e) : NULL;
    pthread_mutex_unlock(&lock);
    if (r) return r;

    pthread_mutex_lock(&create_lock);
    sc_dnnl_recipe *made = sc_dnnl_recipe_create(pb, key);
    pthread_mutex_unlock(&create_lock);
    if (!made) return NULL;
    sc_dnnl_recipe *evicted = NULL;
    pthread_mutex_lock(&lock);
    if ((e = find(key, h))) { /* another thread made it meanwhile: use theirs */
        r = take(e);
    } else {
        if (count == SC_DNNL_CACHE_CAPACITY) { /* evict the least recently used */
            int lru = 0;
            for (int i = 1; i < count; i++)
                if (table[i].used < table[lru].used) lru = i;
            sc_dnnl_recipe *old = table[lru].r;
            if (old->refs == 0)
                evicted = old;
            else
                old->detached = true; /* its last user destroys it */
            table[lru] = table[--count];
        }
        e = &table[count++];
        e->key = *key;
        e->hash = h;
        e->r = made;
        r = take(e);
        made = NULL;
    }
    pthread_mutex_unlock(&lock);
    destroy(made);
    destroy(evicted);
    return r;
}

void sc_dnnl_cache_release(sc_dnnl_recipe *r)
{
    if (!r) return;
    pthread_mutex_lock(&lock);
    bool last = --r->refs == 0 && r->detached;
    pthread_mutex_unlock(&lock);
    if (last) destroy(r);
}

/* fork() while another thread holds the lock would leave the child a lock nobody releases:
 * hold it across the fork (onednn_route.c registers these). */
void sc_dnnl_cache_fork_prepare(void)
{
    pthread_mutex_lock(&create_lock);
    pthread_mutex_lock(&lock);
}
void sc_dnnl_cache_fork_done(void)
{
    pthread_mutex_unlock(&lock);
    pthread_mutex_unlock(&create_lock);
}

void sc_cpu_onednn_cache_clear(void)
{
    pthread_mutex_lock(&lock);
    sc_dnnl_recipe *drop[SC_DNNL_CACHE_CAPACITY];
    int n = 0;
    for (int i = 0; i < count; i++) {
        if (table[i].r->refs == 0)
            drop[n++] = table[i].r;
        else
            table[i].r->detached = true;
    }
    count = 0;
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < n; i++) destroy(drop[i]);
}
