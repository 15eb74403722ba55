/* Internal: a persistent thread pool.
 *
 * A pool of n threads is the caller (thread 0) plus n - 1 workers that live until ll_pool_free.
 * ll_pool_run posts one job and wakes the workers once; every thread calls job(arg, ith, nth), and
 * the call returns after all of them finished. Inside a job, ll_pool_barrier separates dependent
 * phases (the whole forward pass of a batch is one job: op, barrier, op, ...), and
 * ll_pool_next_chunk hands out work items 0, 1, 2, ... of the current phase through one atomic
 * counter, which restarts at 0 after every barrier.
 *
 * Waiting threads (at a barrier, or workers between jobs) spin a bounded number of times with a
 * pause instruction, then sleep on a condition variable; the thread that opens a barrier or posts
 * a job only takes the mutex when someone sleeps.
 */
#ifndef LL_THREADPOOL_H
#define LL_THREADPOOL_H
#include <stdint.h>

#define LL_MAX_THREADS 256

typedef struct ll_pool ll_pool;

/* One thread's share of a job: ith in [0, nth). */
typedef void (*ll_job_fn)(void *arg, int ith, int nth);

/* A pool of n_threads threads (1 <= n_threads <= LL_MAX_THREADS): starts n_threads - 1 workers.
 * LL_ERR_INVALID_ARG for a bad count, LL_ERR_NOMEM when memory or a thread cannot be had. */
int ll_pool_new(int n_threads, ll_pool **out);

/* Stops and joins the workers. NULL is a no-op. Not from inside a job. */
void ll_pool_free(ll_pool *pool);

int ll_pool_n_threads(const ll_pool *pool);

/* Runs job(arg, ith, n_threads) on every thread of the pool, the caller being ith = 0, and
 * returns when all have returned (their writes are then visible to the caller).
 * One job at a time per pool. */
void ll_pool_run(ll_pool *pool, ll_job_fn job, void *arg);

/* Inside a job, called by every thread: returns once all threads reached it; writes made before
 * it by any thread are visible after it to all. Resets the chunk counter. */
void ll_pool_barrier(ll_pool *pool);

/* Inside a job: the next unclaimed work item of the current phase (0, 1, 2, ...; each index is
 * returned to exactly one thread). A thread loops until the index passes its item count. */
int64_t ll_pool_next_chunk(ll_pool *pool);

/* CLOCK_MONOTONIC in ns (spin deadlines, op timing). */
int64_t ll_now_ns(void);

#endif
