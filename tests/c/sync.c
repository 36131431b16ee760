/* The sync primitives from C, used by fibers and plain threads: mutex, event, wait
 * group, barrier, semaphore, with their try and timeout forms. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <string.h>

#include "check.h"

static fibra_runtime *rt;

/* Spawns `n` fibers running `fn(arg)` and joins them. */
static void run_fibers(size_t n, fibra_fn fn, void *arg) {
    fibra_fiber *f[64];
    size_t i;
    CHECK(n <= 64);
    for (i = 0; i < n; i++) CHECK_OK(fibra_spawn(rt, fn, arg, &f[i]));
    for (i = 0; i < n; i++) CHECK_OK(fibra_join(f[i]));
}

/* ---- mutex: a counter incremented with yields inside the critical section */

typedef struct {
    fibra_mutex *m;
    long counter;
    int inside;
} guarded;

static void increment(void *arg) {
    guarded *g = (guarded *)arg;
    int i;
    for (i = 0; i < 200; i++) {
        CHECK_OK(fibra_mutex_lock(g->m));
        CHECK(g->inside == 0);
        g->inside = 1;
        long c = g->counter;
        if (i % 7 == 0) CHECK_OK(fibra_yield()); /* held across a suspension */
        g->counter = c + 1;
        g->inside = 0;
        CHECK_OK(fibra_mutex_unlock(g->m));
    }
}

static void *increment_thread(void *arg) {
    guarded *g = (guarded *)arg;
    int i;
    for (i = 0; i < 200; i++) {
        CHECK_OK(fibra_mutex_lock(g->m));
        g->counter++;
        CHECK_OK(fibra_mutex_unlock(g->m));
    }
    return NULL;
}

static void unlock_not_mine(void *arg) {
    CHECK_RC(fibra_mutex_unlock((fibra_mutex *)arg), FIBRA_EPERM);
    CHECK_RC(fibra_mutex_trylock((fibra_mutex *)arg), FIBRA_EAGAIN);
    CHECK_RC(fibra_mutex_lock_timeout((fibra_mutex *)arg, MS(5)), FIBRA_ETIMEDOUT);
}

static void test_mutex(void) {
    guarded g;
    pthread_t t;
    fibra_fiber *f;
    memset(&g, 0, sizeof g);
    CHECK_OK(fibra_mutex_create(&g.m));
    CHECK(pthread_create(&t, NULL, increment_thread, &g) == 0);
    run_fibers(16, increment, &g);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(g.counter == 17 * 200);

    /* held by this thread: others get EAGAIN / ETIMEDOUT / EPERM */
    CHECK_OK(fibra_mutex_lock(g.m));
    CHECK_RC(fibra_mutex_destroy(g.m), FIBRA_EPERM);
    CHECK_OK(fibra_spawn(rt, unlock_not_mine, g.m, &f));
    CHECK_OK(fibra_join(f));
    CHECK_OK(fibra_mutex_unlock(g.m));
    CHECK_RC(fibra_mutex_unlock(g.m), FIBRA_EPERM);
    CHECK_OK(fibra_mutex_trylock(g.m));
    CHECK_OK(fibra_mutex_unlock(g.m));
    CHECK_OK(fibra_mutex_lock_timeout(g.m, MS(5)));
    CHECK_OK(fibra_mutex_unlock(g.m));
    CHECK_OK(fibra_mutex_destroy(g.m));
    PASS("mutex");
}

/* ---- events */

typedef struct {
    fibra_event *e;
    fibra_mutex *m;
    int woken;
} event_test;

static void wait_event(void *arg) {
    event_test *t = (event_test *)arg;
    CHECK_OK(fibra_event_wait(t->e));
    CHECK_OK(fibra_mutex_lock(t->m));
    t->woken++;
    CHECK_OK(fibra_mutex_unlock(t->m));
}

static void test_events(void) {
    event_test t;
    fibra_fiber *f[4];
    int set = -1, i, woken;
    memset(&t, 0, sizeof t);
    CHECK_OK(fibra_mutex_create(&t.m));

    /* manual reset: one set releases every waiter and stays set */
    CHECK_OK(fibra_event_create(1, &t.e));
    CHECK_OK(fibra_event_is_set(t.e, &set));
    CHECK(set == 0);
    CHECK_RC(fibra_event_wait_timeout(t.e, MS(5)), FIBRA_ETIMEDOUT);
    for (i = 0; i < 4; i++) CHECK_OK(fibra_spawn(rt, wait_event, &t, &f[i]));
    CHECK_OK(fibra_event_set(t.e));
    for (i = 0; i < 4; i++) CHECK_OK(fibra_join(f[i]));
    CHECK(t.woken == 4);
    CHECK_OK(fibra_event_is_set(t.e, &set));
    CHECK(set == 1);
    CHECK_OK(fibra_event_wait_timeout(t.e, 0));
    CHECK_OK(fibra_event_reset(t.e));
    CHECK_RC(fibra_event_wait_timeout(t.e, 0), FIBRA_ETIMEDOUT);
    CHECK_OK(fibra_event_destroy(t.e));

    /* auto reset: each set lets one waiter through */
    t.woken = 0;
    CHECK_OK(fibra_event_create(0, &t.e));
    for (i = 0; i < 4; i++) CHECK_OK(fibra_spawn(rt, wait_event, &t, &f[i]));
    for (i = 0; i < 4; i++) {
        CHECK_OK(fibra_event_set(t.e));
        /* wait until that waiter took it (the event clears itself) */
        do {
            CHECK_OK(fibra_mutex_lock(t.m));
            woken = t.woken;
            CHECK_OK(fibra_mutex_unlock(t.m));
        } while (woken < i + 1);
        CHECK(woken == i + 1);
    }
    for (i = 0; i < 4; i++) CHECK_OK(fibra_join(f[i]));
    CHECK_OK(fibra_event_is_set(t.e, &set));
    CHECK(set == 0);
    CHECK_OK(fibra_event_destroy(t.e));
    CHECK_OK(fibra_mutex_destroy(t.m));
    PASS("event");
}

/* ---- wait group */

static void wg_worker(void *arg) {
    CHECK_OK(fibra_sleep(MS(1)));
    CHECK_OK(fibra_waitgroup_done((fibra_waitgroup *)arg));
}

static void wg_waiter(void *arg) {
    size_t count;
    CHECK_OK(fibra_waitgroup_wait((fibra_waitgroup *)arg));
    CHECK_OK(fibra_waitgroup_count((fibra_waitgroup *)arg, &count));
    CHECK(count == 0);
}

static void done_once(void *arg) { CHECK_OK(fibra_waitgroup_done((fibra_waitgroup *)arg)); }

static void set_once(void *arg) { CHECK_OK(fibra_event_set((fibra_event *)arg)); }

/* The waiter destroys the object as soon as it is woken, while the call that woke it
 * may still be finishing: that call keeps the object alive. */
static void destroy_right_after_wake(void *arg) {
    int i;
    (void)arg;
    for (i = 0; i < 500; i++) {
        fibra_waitgroup *wg;
        fibra_event *e;
        CHECK_OK(fibra_waitgroup_create(&wg));
        CHECK_OK(fibra_waitgroup_add(wg, 1));
        CHECK_OK(fibra_spawn(rt, done_once, wg, NULL));
        CHECK_OK(fibra_waitgroup_wait(wg));
        CHECK_OK(fibra_waitgroup_destroy(wg));
        CHECK_OK(fibra_event_create(0, &e));
        CHECK_OK(fibra_spawn(rt, set_once, e, NULL));
        CHECK_OK(fibra_event_wait(e));
        CHECK_OK(fibra_event_destroy(e));
    }
}

static void test_waitgroup(void) {
    fibra_waitgroup *wg;
    fibra_fiber *waiter;
    size_t i, count;
    CHECK_OK(fibra_waitgroup_create(&wg));
    CHECK_OK(fibra_waitgroup_wait_timeout(wg, 0)); /* zero already */
    CHECK_RC(fibra_waitgroup_done(wg), FIBRA_EPERM);
    CHECK_OK(fibra_waitgroup_add(wg, 50));
    CHECK_OK(fibra_waitgroup_count(wg, &count));
    CHECK(count == 50);
    CHECK_RC(fibra_waitgroup_wait_timeout(wg, MS(1)), FIBRA_ETIMEDOUT);
    CHECK_OK(fibra_spawn(rt, wg_waiter, wg, &waiter));
    for (i = 0; i < 50; i++) CHECK_OK(fibra_spawn(rt, wg_worker, wg, NULL));
    CHECK_OK(fibra_waitgroup_wait(wg)); /* a thread waiting beside a fiber */
    CHECK_OK(fibra_join(waiter));
    CHECK_OK(fibra_waitgroup_destroy(wg));
    CHECK_OK(fibra_block_on(rt, destroy_right_after_wake, NULL));
    PASS("waitgroup");
}

/* ---- barrier: rounds, one leader each */

#define PARTIES 8
#define ROUNDS 20

typedef struct {
    fibra_barrier *b;
    fibra_mutex *m;
    int leaders[ROUNDS];
    int arrived[ROUNDS];
} barrier_test;

static void barrier_party(void *arg) {
    barrier_test *t = (barrier_test *)arg;
    int r, rc;
    for (r = 0; r < ROUNDS; r++) {
        CHECK_OK(fibra_mutex_lock(t->m));
        t->arrived[r]++;
        CHECK_OK(fibra_mutex_unlock(t->m));
        rc = fibra_barrier_wait(t->b);
        CHECK(rc == FIBRA_OK || rc == FIBRA_BARRIER_LEADER);
        CHECK_OK(fibra_mutex_lock(t->m));
        CHECK(t->arrived[r] == PARTIES); /* nobody passes before all arrived */
        if (rc == FIBRA_BARRIER_LEADER) t->leaders[r]++;
        CHECK_OK(fibra_mutex_unlock(t->m));
    }
}

static void test_barrier(void) {
    barrier_test t;
    fibra_barrier *b;
    int r;
    memset(&t, 0, sizeof t);
    CHECK_RC(fibra_barrier_create(0, &b), FIBRA_EINVAL);
    CHECK_OK(fibra_barrier_create(PARTIES, &t.b));
    CHECK_OK(fibra_mutex_create(&t.m));
    run_fibers(PARTIES, barrier_party, &t);
    for (r = 0; r < ROUNDS; r++) CHECK(t.leaders[r] == 1);
    CHECK_OK(fibra_barrier_create(1, &b));
    CHECK_RC(fibra_barrier_wait(b), FIBRA_BARRIER_LEADER);
    CHECK_OK(fibra_barrier_destroy(b));
    CHECK_OK(fibra_barrier_destroy(t.b));
    CHECK_OK(fibra_mutex_destroy(t.m));
    PASS("barrier");
}

/* ---- semaphore: never more than `permits` holders at once */

typedef struct {
    fibra_semaphore *s;
    fibra_mutex *m;
    int holders, max_holders;
} sem_test;

static void sem_user(void *arg) {
    sem_test *t = (sem_test *)arg;
    int i;
    for (i = 0; i < 20; i++) {
        CHECK_OK(fibra_semaphore_acquire(t->s, 1));
        CHECK_OK(fibra_mutex_lock(t->m));
        t->holders++;
        if (t->holders > t->max_holders) t->max_holders = t->holders;
        CHECK_OK(fibra_mutex_unlock(t->m));
        CHECK_OK(fibra_yield());
        CHECK_OK(fibra_mutex_lock(t->m));
        t->holders--;
        CHECK_OK(fibra_mutex_unlock(t->m));
        CHECK_OK(fibra_semaphore_release(t->s, 1));
    }
}

static void test_semaphore(void) {
    sem_test t;
    fibra_semaphore *s;
    size_t avail;
    memset(&t, 0, sizeof t);
    CHECK_OK(fibra_semaphore_create(3, &t.s));
    CHECK_OK(fibra_mutex_create(&t.m));
    run_fibers(12, sem_user, &t);
    CHECK(t.max_holders >= 1 && t.max_holders <= 3);
    CHECK_OK(fibra_semaphore_available(t.s, &avail));
    CHECK(avail == 3);

    CHECK_OK(fibra_semaphore_acquire(t.s, 2));
    CHECK_RC(fibra_semaphore_try_acquire(t.s, 2), FIBRA_EAGAIN);
    CHECK_RC(fibra_semaphore_acquire_timeout(t.s, 2, MS(5)), FIBRA_ETIMEDOUT);
    CHECK_OK(fibra_semaphore_try_acquire(t.s, 1));
    CHECK_OK(fibra_semaphore_available(t.s, &avail));
    CHECK(avail == 0);
    CHECK_OK(fibra_semaphore_release(t.s, 3));
    CHECK_OK(fibra_semaphore_acquire_timeout(t.s, 3, MS(5)));
    CHECK_OK(fibra_semaphore_release(t.s, 3));

    CHECK_RC(fibra_semaphore_create(FIBRA_SEMAPHORE_MAX_PERMITS + 1, &s), FIBRA_EINVAL);
    CHECK_RC(fibra_semaphore_acquire(t.s, FIBRA_SEMAPHORE_MAX_PERMITS + 1), FIBRA_EINVAL);
    CHECK_RC(fibra_semaphore_release(t.s, FIBRA_SEMAPHORE_MAX_PERMITS), FIBRA_EINVAL);
    CHECK_OK(fibra_semaphore_destroy(t.s));
    CHECK_OK(fibra_mutex_destroy(t.m));
    PASS("semaphore");
}

int main(void) {
    rt = test_runtime(2);
    test_mutex();
    test_events();
    test_waitgroup();
    test_barrier();
    test_semaphore();
    CHECK_OK(fibra_runtime_destroy(rt));
    printf("PASS\n");
    return 0;
}
