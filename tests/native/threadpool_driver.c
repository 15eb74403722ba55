/* Stress test of native/threadpool.c, built and run by tests/test_matmul.py with the host compiler.
 *
 * For several pool sizes, many jobs each run PHASES phases separated by ll_pool_barrier. In every
 * phase the threads claim work items through ll_pool_next_chunk and count each claim; each thread
 * also writes its own slot before the barrier and, after it, checks every other thread's slot
 * (barrier = all arrived, and their writes are visible). Afterwards every item must have been
 * claimed exactly once per phase. Prints "ok" and exits 0, or names the first failure and exits 1.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include "include/localllm.h"
#include "threadpool.c"

#define PHASES 5
#define ITEMS 37 /* per phase: not a multiple of any pool size */

typedef struct {
    ll_pool *pool;
    int round;                              /* job number, written into the slots */
    atomic_int claims[PHASES][ITEMS];
    int slots[PHASES][LL_MAX_THREADS];
    atomic_int errors;
} job_state;

static void job(void *arg, int ith, int nth) {
    job_state *s = arg;
    for (int ph = 0; ph < PHASES; ph++) {
        for (int64_t i; (i = ll_pool_next_chunk(s->pool)) < ITEMS;) atomic_fetch_add(&s->claims[ph][i], 1);
        s->slots[ph][ith] = s->round;
        ll_pool_barrier(s->pool);
        for (int t = 0; t < nth; t++) {
            if (s->slots[ph][t] != s->round) atomic_fetch_add(&s->errors, 1);
        }
    }
}

static int check_pool(int n_threads, int rounds) {
    ll_pool *pool;
    if (ll_pool_new(n_threads, &pool) != LL_OK) return printf("ll_pool_new(%d) failed\n", n_threads), 1;
    job_state *s = calloc(1, sizeof *s);
    s->pool = pool;
    for (int r = 1; r <= rounds; r++) {
        s->round = r;
        for (int ph = 0; ph < PHASES; ph++) {
            for (int i = 0; i < ITEMS; i++) atomic_store(&s->claims[ph][i], 0);
        }
        ll_pool_run(pool, job, s);
        for (int ph = 0; ph < PHASES; ph++) {
            for (int i = 0; i < ITEMS; i++) {
                if (atomic_load(&s->claims[ph][i]) != 1) {
                    printf("%d threads, round %d, phase %d: item %d claimed %d times\n", n_threads, r, ph, i,
                           atomic_load(&s->claims[ph][i]));
                    return 1;
                }
            }
        }
        if (atomic_load(&s->errors)) return printf("%d threads, round %d: a barrier let a thread through early\n", n_threads, r), 1;
    }
    free(s);
    ll_pool_free(pool);
    return 0;
}

int main(void) {
    ll_pool *pool = NULL;
    if (ll_pool_new(0, &pool) != LL_ERR_INVALID_ARG || pool) return printf("0 threads accepted\n"), 1;
    if (ll_pool_new(LL_MAX_THREADS + 1, &pool) != LL_ERR_INVALID_ARG) return printf("too many threads accepted\n"), 1;
    if (ll_pool_new(2, NULL) != LL_ERR_INVALID_ARG) return printf("NULL out accepted\n"), 1;
    ll_pool_free(NULL);
    const int sizes[] = {1, 2, 3, 4, 8};
    for (int k = 0; k < 5; k++) {
        if (check_pool(sizes[k], sizes[k] > 2 ? 200 : 2000)) return 1;
    }
    printf("ok\n");
    return 0;
}
