/* Bad input gets a clear error code: NULL, destroyed and wrong-type handles, calls made
 * in the wrong context, out-of-range settings; and a runtime destroyed under blocked
 * fibers cancels them with FIBRA_ECANCELED. */
#define _POSIX_C_SOURCE 200809L
#include <string.h>

#include "check.h"

static void nop(void *arg) { (void)arg; }

static void test_strerror(void) {
    static const int codes[] = {FIBRA_OK,     FIBRA_EINVAL, FIBRA_ETIMEDOUT, FIBRA_ECLOSED, FIBRA_ENOMEM,
                                FIBRA_EPERM, FIBRA_EAGAIN, FIBRA_ECANCELED, FIBRA_EPANIC};
    const char *unknown = fibra_strerror(12345);
    size_t i, j;
    CHECK(unknown != NULL && strlen(unknown) > 0);
    for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *s = fibra_strerror(codes[i]);
        CHECK(s != NULL && strlen(s) > 0);
        CHECK(strcmp(s, unknown) != 0);
        for (j = 0; j < i; j++) CHECK(strcmp(s, fibra_strerror(codes[j])) != 0);
        if (i > 0) CHECK(codes[i] < 0);
    }
    CHECK(fibra_strerror(FIBRA_OK) != NULL);
    PASS("strerror");
}

static void test_null(void) {
    fibra_mutex *m = NULL;
    uint64_t id;
    size_t n;
    int flag;
    char buf[8];
    CHECK_RC(fibra_runtime_config_init(NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_runtime_create(NULL, NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_runtime_destroy(NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_runtime_shutdown(NULL, 0), FIBRA_EINVAL);
    CHECK_RC(fibra_runtime_workers(NULL, &n), FIBRA_EINVAL);
    CHECK_RC(fibra_block_on(NULL, nop, NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_spawn(NULL, nop, NULL, NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_join(NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_detach(NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_fiber_id(NULL, &id), FIBRA_EINVAL);
    CHECK_RC(fibra_fiber_is_finished(NULL, &flag), FIBRA_EINVAL);
    CHECK_RC(fibra_current_id(NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_mutex_create(NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_mutex_lock(NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_mutex_trylock(NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_mutex_lock_timeout(NULL, 0), FIBRA_EINVAL);
    CHECK_RC(fibra_mutex_unlock(NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_mutex_destroy(NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_event_create(0, NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_event_set(NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_event_reset(NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_event_is_set(NULL, &flag), FIBRA_EINVAL);
    CHECK_RC(fibra_event_wait(NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_event_wait_timeout(NULL, 0), FIBRA_EINVAL);
    CHECK_RC(fibra_event_destroy(NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_waitgroup_create(NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_waitgroup_add(NULL, 1), FIBRA_EINVAL);
    CHECK_RC(fibra_waitgroup_done(NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_waitgroup_count(NULL, &n), FIBRA_EINVAL);
    CHECK_RC(fibra_waitgroup_wait(NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_waitgroup_wait_timeout(NULL, 0), FIBRA_EINVAL);
    CHECK_RC(fibra_waitgroup_destroy(NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_barrier_create(2, NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_barrier_wait(NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_barrier_destroy(NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_semaphore_create(1, NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_semaphore_acquire(NULL, 1), FIBRA_EINVAL);
    CHECK_RC(fibra_semaphore_try_acquire(NULL, 1), FIBRA_EINVAL);
    CHECK_RC(fibra_semaphore_acquire_timeout(NULL, 1, 0), FIBRA_EINVAL);
    CHECK_RC(fibra_semaphore_release(NULL, 1), FIBRA_EINVAL);
    CHECK_RC(fibra_semaphore_available(NULL, &n), FIBRA_EINVAL);
    CHECK_RC(fibra_semaphore_destroy(NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_channel_create(1, 1, NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_channel_send(NULL, buf), FIBRA_EINVAL);
    CHECK_RC(fibra_channel_try_send(NULL, buf), FIBRA_EINVAL);
    CHECK_RC(fibra_channel_send_timeout(NULL, buf, 0), FIBRA_EINVAL);
    CHECK_RC(fibra_channel_recv(NULL, buf), FIBRA_EINVAL);
    CHECK_RC(fibra_channel_try_recv(NULL, buf), FIBRA_EINVAL);
    CHECK_RC(fibra_channel_recv_timeout(NULL, buf, 0), FIBRA_EINVAL);
    CHECK_RC(fibra_channel_len(NULL, &n), FIBRA_EINVAL);
    CHECK_RC(fibra_channel_close(NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_channel_destroy(NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_coroutine_create(NULL, 0, NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_coroutine_resume(NULL, NULL, NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_coroutine_is_done(NULL, &flag), FIBRA_EINVAL);
    CHECK_RC(fibra_coroutine_destroy(NULL), FIBRA_EINVAL);
    CHECK_OK(fibra_mutex_create(&m));
    CHECK_RC(fibra_event_is_set((fibra_event *)m, NULL), FIBRA_EINVAL);
    CHECK_OK(fibra_mutex_destroy(m));
    PASS("null_handles");
}

static void test_destroyed_and_wrong_type(void) {
    fibra_mutex *m;
    fibra_event *e;
    fibra_waitgroup *wg;
    fibra_barrier *b;
    fibra_semaphore *s;
    fibra_channel *ch;
    fibra_runtime *rt = test_runtime(1);
    fibra_fiber *f;
    uint64_t id;
    int flag;

    CHECK_OK(fibra_mutex_create(&m));
    CHECK_OK(fibra_event_create(1, &e));
    /* a handle of another type */
    CHECK_RC(fibra_event_set((fibra_event *)m), FIBRA_EINVAL);
    CHECK_RC(fibra_mutex_lock((fibra_mutex *)e), FIBRA_EINVAL);
    CHECK_RC(fibra_join((fibra_fiber *)m), FIBRA_EINVAL);
    CHECK_RC(fibra_runtime_destroy((fibra_runtime *)e), FIBRA_EINVAL);
    /* destroyed handles */
    CHECK_OK(fibra_mutex_destroy(m));
    CHECK_RC(fibra_mutex_lock(m), FIBRA_EINVAL);
    CHECK_RC(fibra_mutex_unlock(m), FIBRA_EINVAL);
    CHECK_RC(fibra_mutex_destroy(m), FIBRA_EINVAL);
    CHECK_OK(fibra_event_destroy(e));
    CHECK_RC(fibra_event_wait(e), FIBRA_EINVAL);
    CHECK_RC(fibra_event_destroy(e), FIBRA_EINVAL);

    CHECK_OK(fibra_waitgroup_create(&wg));
    CHECK_OK(fibra_waitgroup_destroy(wg));
    CHECK_RC(fibra_waitgroup_wait(wg), FIBRA_EINVAL);
    CHECK_OK(fibra_barrier_create(2, &b));
    CHECK_OK(fibra_barrier_destroy(b));
    CHECK_RC(fibra_barrier_wait(b), FIBRA_EINVAL);
    CHECK_OK(fibra_semaphore_create(1, &s));
    CHECK_OK(fibra_semaphore_destroy(s));
    CHECK_RC(fibra_semaphore_acquire(s, 1), FIBRA_EINVAL);
    CHECK_OK(fibra_channel_create(4, 4, &ch));
    CHECK_OK(fibra_channel_destroy(ch));
    CHECK_RC(fibra_channel_send(ch, "abc"), FIBRA_EINVAL);
    CHECK_RC(fibra_channel_destroy(ch), FIBRA_EINVAL);

    /* a joined fiber handle is consumed */
    CHECK_OK(fibra_spawn(rt, nop, NULL, &f));
    CHECK_OK(fibra_join(f));
    CHECK_RC(fibra_join(f), FIBRA_EINVAL);
    CHECK_RC(fibra_detach(f), FIBRA_EINVAL);
    CHECK_RC(fibra_fiber_id(f, &id), FIBRA_EINVAL);
    CHECK_RC(fibra_fiber_is_finished(f, &flag), FIBRA_EINVAL);
    CHECK_OK(fibra_spawn(rt, nop, NULL, &f));
    CHECK_OK(fibra_detach(f));
    CHECK_RC(fibra_join(f), FIBRA_EINVAL);

    /* a destroyed runtime */
    CHECK_OK(fibra_runtime_destroy(rt));
    CHECK_RC(fibra_spawn(rt, nop, NULL, &f), FIBRA_EINVAL);
    CHECK_RC(fibra_block_on(rt, nop, NULL), FIBRA_EINVAL);
    CHECK_RC(fibra_runtime_destroy(rt), FIBRA_EINVAL);
    PASS("destroyed_and_wrong_type_handles");
}

static fibra_runtime *victim;
static int destroy_inside_rc;

static void destroy_from_inside(void *arg) {
    (void)arg;
    destroy_inside_rc = fibra_runtime_destroy(victim);
}

static void test_context_and_settings(void) {
    fibra_runtime_config cfg;
    fibra_runtime *rt = NULL;
    uint64_t id;
    CHECK(fibra_in_fiber() == 0);
    CHECK_RC(fibra_yield(), FIBRA_EPERM);
    CHECK_RC(fibra_sleep(1), FIBRA_EPERM);
    CHECK_RC(fibra_current_id(&id), FIBRA_EPERM);

    CHECK_OK(fibra_runtime_config_init(&cfg));
    cfg.idle_policy = 99;
    CHECK_RC(fibra_runtime_create(&cfg, &rt), FIBRA_EINVAL);
    CHECK(rt == NULL);
    CHECK_OK(fibra_runtime_config_init(&cfg));
    cfg.workers = 100000;
    CHECK_RC(fibra_runtime_create(&cfg, &rt), FIBRA_EINVAL);
    CHECK(rt == NULL);

    /* a spinning runtime, pinned, shut down with a timeout */
    {
        size_t cpus[1] = {0};
        CHECK_OK(fibra_runtime_config_init(&cfg));
        cfg.workers = 2;
        cfg.idle_policy = FIBRA_IDLE_SPIN;
        cfg.idle_ns = 1000;
        cfg.pin_cpus = cpus;
        cfg.pin_cpus_len = 1;
        cfg.stack_size = 256 * 1024;
        CHECK_OK(fibra_runtime_create(&cfg, &rt));
        CHECK_OK(fibra_block_on(rt, nop, NULL));
        CHECK_OK(fibra_runtime_shutdown(rt, MS(10000)));
        CHECK_RC(fibra_runtime_shutdown(rt, 0), FIBRA_EINVAL);
    }

    CHECK_RC(fibra_spawn(victim = test_runtime(1), NULL, NULL, NULL), FIBRA_EINVAL);
    CHECK_OK(fibra_block_on(victim, destroy_from_inside, NULL));
    CHECK(destroy_inside_rc == FIBRA_EPERM);
    CHECK_OK(fibra_runtime_destroy(victim));
    PASS("context_and_settings");
}

/* ---- a runtime destroyed under blocked fibers */

#define BLOCKED 6

typedef struct {
    fibra_mutex *m;
    fibra_mutex *held; /* locked by the host thread throughout */
    fibra_event *never;
    fibra_waitgroup *started;
    int wait_rc[BLOCKED];
    int later_rc[BLOCKED];
    int unlock_rc[BLOCKED];
} cancel_test;

static cancel_test ct;

static int co_cleanup[BLOCKED];

/* Suspends once; when destroyed, its pending yield returns FIBRA_ECANCELED. */
static void *suspend_once(void *arg, fibra_yielder *y) {
    int i = (int)(intptr_t)arg;
    co_cleanup[i] = fibra_coroutine_yield(y, NULL, NULL) == FIBRA_ECANCELED;
    return NULL;
}

static void blocked(void *arg) {
    int i = (int)(intptr_t)arg;
    fibra_channel *ch;
    fibra_coroutine *co;
    char c;
    CHECK_OK(fibra_channel_create(1, 0, &ch));
    CHECK_OK(fibra_coroutine_create(suspend_once, 0, &co));
    CHECK_RC(fibra_coroutine_resume(co, arg, NULL), FIBRA_COROUTINE_YIELDED);
    if (i == 0) CHECK_OK(fibra_mutex_lock(ct.m)); /* held while blocked */
    CHECK_OK(fibra_waitgroup_done(ct.started));
    switch (i % 3) {
        case 0: ct.wait_rc[i] = fibra_event_wait(ct.never); break;
        case 1: ct.wait_rc[i] = fibra_channel_recv(ch, &c); break;
        default: ct.wait_rc[i] = fibra_sleep(MS(1000000)); break;
    }
    /* being cancelled: blocking calls refuse at once, cleanup calls still work */
    ct.later_rc[i] = fibra_yield() == FIBRA_ECANCELED && fibra_sleep(1) == FIBRA_ECANCELED &&
                     fibra_mutex_lock(ct.held) == FIBRA_ECANCELED &&
                     fibra_event_wait(ct.never) == FIBRA_ECANCELED;
    ct.unlock_rc[i] = i == 0 ? fibra_mutex_unlock(ct.m) : FIBRA_OK;
    CHECK_OK(fibra_channel_destroy(ch));
    /* a coroutine destroyed by a cancelled fiber is cancelled in turn */
    CHECK_OK(fibra_coroutine_destroy(co));
}

static void test_cancel(void) {
    fibra_runtime *rt = test_runtime(2);
    fibra_fiber *f[BLOCKED];
    int i;
    memset(&ct, 0, sizeof ct);
    CHECK_OK(fibra_mutex_create(&ct.m));
    CHECK_OK(fibra_mutex_create(&ct.held));
    CHECK_OK(fibra_mutex_lock(ct.held));
    CHECK_OK(fibra_event_create(1, &ct.never));
    CHECK_OK(fibra_waitgroup_create(&ct.started));
    CHECK_OK(fibra_waitgroup_add(ct.started, BLOCKED));
    for (i = 0; i < BLOCKED; i++) CHECK_OK(fibra_spawn(rt, blocked, (void *)(intptr_t)i, &f[i]));
    CHECK_OK(fibra_waitgroup_wait(ct.started));
    CHECK_OK(fibra_runtime_destroy(rt));
    for (i = 0; i < BLOCKED; i++) {
        /* each had started (the wait group) and was suspended or about to be */
        CHECK_RC(fibra_join(f[i]), FIBRA_ECANCELED);
        CHECK_RC(ct.wait_rc[i], FIBRA_ECANCELED);
        CHECK(ct.later_rc[i] == 1);
        CHECK_OK(ct.unlock_rc[i]);
        CHECK(co_cleanup[i] == 1);
    }
    /* the mutex the cancelled fiber held was released by its cleanup code */
    CHECK_OK(fibra_mutex_trylock(ct.m));
    CHECK_OK(fibra_mutex_unlock(ct.m));
    CHECK_OK(fibra_mutex_destroy(ct.m));
    CHECK_OK(fibra_mutex_unlock(ct.held));
    CHECK_OK(fibra_mutex_destroy(ct.held));
    CHECK_OK(fibra_event_destroy(ct.never));
    CHECK_OK(fibra_waitgroup_destroy(ct.started));
    PASS("runtime_destroy_cancels_blocked_fibers");
}

int main(void) {
    test_strerror();
    test_null();
    test_destroyed_and_wrong_type();
    test_context_and_settings();
    test_cancel();
    printf("PASS\n");
    return 0;
}
