/* Raw coroutines from C: values in and out, return, destroy while suspended, misuse
 * refused, coroutines inside fibers. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "check.h"

#define V(x) ((void *)(intptr_t)(x))
#define I(p) ((intptr_t)(p))

/* Yields arg, arg+1, ... until it is sent a 0, and returns the sum of what it was sent. */
static void *counter(void *arg, fibra_yielder *y) {
    intptr_t next = I(arg), sum = 0;
    for (;;) {
        void *in = NULL;
        CHECK_OK(fibra_coroutine_yield(y, V(next), &in));
        if (I(in) == 0) break;
        sum += I(in);
        next++;
    }
    return V(sum);
}

static void test_values(void) {
    fibra_coroutine *co;
    void *out = NULL;
    int done = -1;
    intptr_t i;
    CHECK_OK(fibra_coroutine_create(counter, 0, &co));
    CHECK_OK(fibra_coroutine_is_done(co, &done));
    CHECK(done == 0);
    /* the first resume's input is the function's argument */
    CHECK_RC(fibra_coroutine_resume(co, V(100), &out), FIBRA_COROUTINE_YIELDED);
    CHECK(I(out) == 100);
    for (i = 1; i <= 10; i++) {
        CHECK_RC(fibra_coroutine_resume(co, V(i), &out), FIBRA_COROUTINE_YIELDED);
        CHECK(I(out) == 100 + i);
    }
    CHECK_RC(fibra_coroutine_resume(co, V(0), &out), FIBRA_COROUTINE_RETURNED);
    CHECK(I(out) == 55);
    CHECK_OK(fibra_coroutine_is_done(co, &done));
    CHECK(done == 1);
    CHECK_RC(fibra_coroutine_resume(co, NULL, &out), FIBRA_EPERM);
    CHECK_OK(fibra_coroutine_destroy(co));
    PASS("values_in_and_out");
}

/* ---- destroy while suspended: the pending yield returns FIBRA_ECANCELED */

static int cleanup_ran, second_yield_rc;

static void *cancellable(void *arg, fibra_yielder *y) {
    int rc;
    (void)arg;
    CHECK_OK(fibra_coroutine_yield(y, V(1), NULL));
    rc = fibra_coroutine_yield(y, V(2), NULL);
    CHECK_RC(rc, FIBRA_ECANCELED);
    second_yield_rc = fibra_coroutine_yield(y, V(3), NULL); /* refused at once */
    cleanup_ran = 1;
    return V(99);
}

static int never_ran;

static void *never(void *arg, fibra_yielder *y) {
    (void)arg;
    (void)y;
    never_ran = 0;
    return NULL;
}

static void test_destroy_suspended(void) {
    fibra_coroutine *co;
    int i;
    for (i = 0; i < 100; i++) {
        cleanup_ran = 0;
        second_yield_rc = 0;
        CHECK_OK(fibra_coroutine_create(cancellable, 64 * 1024, &co));
        CHECK_RC(fibra_coroutine_resume(co, NULL, NULL), FIBRA_COROUTINE_YIELDED);
        CHECK_RC(fibra_coroutine_resume(co, NULL, NULL), FIBRA_COROUTINE_YIELDED);
        CHECK_OK(fibra_coroutine_destroy(co));
        CHECK(cleanup_ran == 1);
        CHECK(second_yield_rc == FIBRA_ECANCELED);
    }
    /* never started: the function never runs */
    never_ran = 1;
    CHECK_OK(fibra_coroutine_create(never, 0, &co));
    CHECK_OK(fibra_coroutine_destroy(co));
    CHECK(never_ran == 1);
    PASS("destroy_suspended");
}

/* ---- misuse: foreign yielder, resume from inside, from another thread */

static fibra_yielder *outer_yielder;
static fibra_coroutine *self_co;

static void *inner(void *arg, fibra_yielder *y) {
    (void)arg;
    /* the outer coroutine's yielder, from the inner coroutine's stack */
    CHECK_RC(fibra_coroutine_yield(outer_yielder, NULL, NULL), FIBRA_EPERM);
    /* resuming a running coroutine (the outer one) */
    CHECK_RC(fibra_coroutine_resume(self_co, NULL, NULL), FIBRA_EPERM);
    CHECK_OK(fibra_coroutine_yield(y, V(5), NULL));
    return V(6);
}

static void *outer(void *arg, fibra_yielder *y) {
    fibra_coroutine *co;
    void *out;
    (void)arg;
    outer_yielder = y;
    CHECK_RC(fibra_coroutine_resume(self_co, NULL, NULL), FIBRA_EPERM);
    CHECK_RC(fibra_coroutine_destroy(self_co), FIBRA_EPERM);
    CHECK_OK(fibra_coroutine_create(inner, 0, &co));
    CHECK_RC(fibra_coroutine_resume(co, NULL, &out), FIBRA_COROUTINE_YIELDED);
    CHECK(I(out) == 5);
    CHECK_OK(fibra_coroutine_yield(y, out, NULL)); /* nested coroutines keep their values */
    CHECK_RC(fibra_coroutine_resume(co, NULL, &out), FIBRA_COROUTINE_RETURNED);
    CHECK(I(out) == 6);
    CHECK_OK(fibra_coroutine_destroy(co));
    return V(7);
}

static void *resume_elsewhere(void *arg) {
    fibra_coroutine *co = (fibra_coroutine *)arg;
    int done;
    CHECK_RC(fibra_coroutine_resume(co, NULL, NULL), FIBRA_EPERM);
    CHECK_RC(fibra_coroutine_is_done(co, &done), FIBRA_EPERM);
    CHECK_RC(fibra_coroutine_destroy(co), FIBRA_EPERM);
    return NULL;
}

static void test_misuse(void) {
    void *out;
    pthread_t t;
    CHECK_OK(fibra_coroutine_create(outer, 0, &self_co));
    CHECK_RC(fibra_coroutine_resume(self_co, NULL, &out), FIBRA_COROUTINE_YIELDED);
    CHECK(I(out) == 5);
    /* outside any coroutine: the yielder refuses (wrong stack) */
    CHECK_RC(fibra_coroutine_yield(outer_yielder, NULL, NULL), FIBRA_EPERM);
    CHECK(pthread_create(&t, NULL, resume_elsewhere, self_co) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK_RC(fibra_coroutine_resume(self_co, NULL, &out), FIBRA_COROUTINE_RETURNED);
    CHECK(I(out) == 7);
    CHECK_OK(fibra_coroutine_destroy(self_co));
    CHECK_RC(fibra_coroutine_yield(NULL, NULL, NULL), FIBRA_EINVAL);
    PASS("misuse_refused");
}

/* ---- big stacks, and coroutines inside fibers */

static intptr_t depth(intptr_t n) {
    volatile char pad[256];
    pad[0] = (char)n;
    return n == 0 ? pad[0] : 1 + depth(n - 1);
}

static void *deep(void *arg, fibra_yielder *y) {
    (void)y;
    return V(depth(I(arg)));
}

static void coroutines_in_fiber(void *arg) {
    fibra_coroutine *co;
    void *out;
    intptr_t i;
    (void)arg;
    for (i = 0; i < 50; i++) {
        CHECK_OK(fibra_coroutine_create(counter, 0, &co));
        CHECK_RC(fibra_coroutine_resume(co, V(i), &out), FIBRA_COROUTINE_YIELDED);
        CHECK_OK(fibra_yield()); /* the fiber suspends while its coroutine is suspended */
        CHECK_RC(fibra_coroutine_resume(co, V(3), &out), FIBRA_COROUTINE_YIELDED);
        CHECK(I(out) == i + 1);
        CHECK_RC(fibra_coroutine_resume(co, V(0), &out), FIBRA_COROUTINE_RETURNED);
        CHECK(I(out) == 3);
        CHECK_OK(fibra_coroutine_destroy(co));
    }
}

int main(void) {
    test_values();
    test_destroy_suspended();
    test_misuse();

    {
        fibra_coroutine *co;
        void *out;
        CHECK_OK(fibra_coroutine_create(deep, 8u << 20, &co));
        CHECK_RC(fibra_coroutine_resume(co, V(10000), &out), FIBRA_COROUTINE_RETURNED);
        CHECK(I(out) == 10000);
        CHECK_OK(fibra_coroutine_destroy(co));
        PASS("big_stack");
    }

    {
        fibra_runtime *rt = test_runtime(2);
        fibra_fiber *f[8];
        int i;
        for (i = 0; i < 8; i++) CHECK_OK(fibra_spawn(rt, coroutines_in_fiber, NULL, &f[i]));
        for (i = 0; i < 8; i++) CHECK_OK(fibra_join(f[i]));
        CHECK_OK(fibra_runtime_destroy(rt));
        PASS("inside_fibers");
    }

    printf("PASS\n");
    return 0;
}
