/* A persistent thread pool: see threadpool.h for the contract.
 *
 * Two generation counters carry every hand-off. `job_gen` is bumped by ll_pool_run when a job is
 * posted; `barrier_gen` is bumped by the last thread to arrive at a barrier. A waiting thread
 * remembers the value it saw and waits for a change: first by spinning (reads with a pause between
 * them, for up to LL_SPIN_NS), then by sleeping on `wake`. Sleepers announce
 * themselves in `sleepers` under `mutex` before their last check, and a waker bumps the
 * generation before reading `sleepers` (all sequentially consistent), so either the sleeper sees
 * the new generation or the waker sees the sleeper and broadcasts under the mutex: no wake-up is
 * lost, and when nobody sleeps the waker never touches the mutex.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "include/localllm.h"
#include "threadpool.h"

#define LL_SPIN_NS 50000  /* spin this long before sleeping: covers back-to-back calls and op imbalance */
#define LL_SPIN_CHECK 32
#define LL_CACHE_LINE 64

struct ll_pool {
    int n_threads;             /* the caller + n_threads - 1 workers */
    int n_started;             /* workers running (== n_threads - 1 once ll_pool_new succeeded) */
    pthread_t *workers;        /* [n_threads - 1] */
    ll_job_fn job;             /* the posted job, read by workers after job_gen changes */
    void *job_arg;
    int stop;                  /* set before the last job_gen bump: workers exit */
    pthread_mutex_t mutex;     /* guards sleeping only */
    pthread_cond_t wake;
    _Alignas(LL_CACHE_LINE) atomic_uint job_gen;
    _Alignas(LL_CACHE_LINE) atomic_uint barrier_gen;
    _Alignas(LL_CACHE_LINE) atomic_int arrived;     /* threads at the current barrier */
    _Alignas(LL_CACHE_LINE) atomic_llong chunk;     /* next work item of the current phase */
    _Alignas(LL_CACHE_LINE) atomic_int sleepers;    /* threads blocked (or about to) on `wake` */
};

typedef struct {
    ll_pool *pool;
    int ith;
} ll_worker_arg;

static inline void ll_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

int64_t ll_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Returns once *gen != seen: spins for up to LL_SPIN_NS (reading the clock every
 * LL_SPIN_CHECK pauses: a pause costs from a few ns to ~70 ns under a hypervisor), then sleeps. */
static void ll_wait_change(ll_pool *p, atomic_uint *gen, unsigned seen) {
    const int64_t until = ll_now_ns() + LL_SPIN_NS;
    do {
        for (int i = 0; i < LL_SPIN_CHECK; i++) {
            if (atomic_load_explicit(gen, memory_order_acquire) != seen) return;
            ll_cpu_relax();
        }
    } while (ll_now_ns() < until);
    pthread_mutex_lock(&p->mutex);
    atomic_fetch_add(&p->sleepers, 1);
    while (atomic_load(gen) == seen) pthread_cond_wait(&p->wake, &p->mutex);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->mutex);
}

/* Bumps *gen and wakes whoever sleeps on it. */
static void ll_open(ll_pool *p, atomic_uint *gen) {
    atomic_fetch_add(gen, 1);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mutex);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mutex);
    }
}

void ll_pool_barrier(ll_pool *p) {
    if (p->n_threads == 1) {
        atomic_store_explicit(&p->chunk, 0, memory_order_relaxed);
        return;
    }
    const unsigned seen = atomic_load(&p->barrier_gen); /* cannot move before everyone arrives */
    if (atomic_fetch_add(&p->arrived, 1) == p->n_threads - 1) {
        atomic_store(&p->arrived, 0);
        atomic_store(&p->chunk, 0);
        ll_open(p, &p->barrier_gen);
    } else {
        ll_wait_change(p, &p->barrier_gen, seen);
    }
}

int64_t ll_pool_next_chunk(ll_pool *p) { return atomic_fetch_add_explicit(&p->chunk, 1, memory_order_relaxed); }

int ll_pool_n_threads(const ll_pool *p) { return p->n_threads; }

void ll_pool_run(ll_pool *p, ll_job_fn job, void *arg) {
    p->job = job;
    p->job_arg = arg;
    if (p->n_threads > 1) ll_open(p, &p->job_gen); /* publishes job and job_arg */
    job(arg, 0, p->n_threads);
    ll_pool_barrier(p);
}

static void *ll_worker_main(void *varg) {
    ll_worker_arg *wa = varg;
    ll_pool *p = wa->pool;
    const int ith = wa->ith;
    free(wa);
    unsigned seen = 0;
    for (;;) {
        ll_wait_change(p, &p->job_gen, seen);
        seen++; /* exactly one job per bump: the next cannot be posted before this one's barrier */
        if (p->stop) return NULL;
        p->job(p->job_arg, ith, p->n_threads);
        ll_pool_barrier(p);
    }
}

/* Starts worker ith with every signal blocked (signals belong to the caller's thread). */
static int ll_start_worker(ll_pool *p, int ith) {
    ll_worker_arg *wa = malloc(sizeof *wa);
    if (!wa) return LL_ERR_NOMEM;
    *wa = (ll_worker_arg){.pool = p, .ith = ith};
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    const int rc = pthread_create(&p->workers[ith - 1], NULL, ll_worker_main, wa);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        free(wa);
        return LL_ERR_NOMEM;
    }
    p->n_started++;
    return LL_OK;
}

int ll_pool_new(int n_threads, ll_pool **out) {
    if (!out) return LL_ERR_INVALID_ARG;
    *out = NULL;
    if (n_threads < 1 || n_threads > LL_MAX_THREADS) return LL_ERR_INVALID_ARG;
    ll_pool *p = aligned_alloc(LL_CACHE_LINE, sizeof *p);
    pthread_t *workers = calloc((size_t)n_threads, sizeof *workers);
    if (!p || !workers) {
        free(p);
        free(workers);
        return LL_ERR_NOMEM;
    }
    memset(p, 0, sizeof *p);
    p->n_threads = n_threads;
    p->workers = workers;
    atomic_init(&p->job_gen, 0);
    atomic_init(&p->barrier_gen, 0);
    atomic_init(&p->arrived, 0);
    atomic_init(&p->chunk, 0);
    atomic_init(&p->sleepers, 0);
    pthread_mutex_init(&p->mutex, NULL);
    pthread_cond_init(&p->wake, NULL);
    for (int ith = 1; ith < n_threads; ith++) {
        if (ll_start_worker(p, ith) != LL_OK) {
            ll_pool_free(p);
            return LL_ERR_NOMEM;
        }
    }
    *out = p;
    return LL_OK;
}

void ll_pool_free(ll_pool *p) {
    if (!p) return;
    p->stop = 1;
    ll_open(p, &p->job_gen);
    for (int i = 0; i < p->n_started; i++) pthread_join(p->workers[i], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mutex);
    free(p->workers);
    free(p);
}
