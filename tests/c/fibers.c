/* Fibers from C: spawn / join of thousands, nested spawning, detach, yield, sleep, ids,
 * block_on. Prints one "ok" line per case, then "PASS". */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "check.h"

#define MANY 10000

static fibra_runtime *rt;

/* ---- thousands of fibers, joined by a fiber and by the host thread */

typedef struct {
    size_t index;
    uint64_t result;
    uint64_t id;
} slot;

static slot slots[MANY];

static void fill_slot(void *arg) {
    slot *s = (slot *)arg;
    s->result = (uint64_t)s->index * 3 + 1;
    CHECK_OK(fibra_current_id(&s->id));
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void check_slots(size_t n) {
    static uint64_t ids[MANY];
    uint64_t sum = 0, expected = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        sum += slots[i].result;
        expected += (uint64_t)i * 3 + 1;
        ids[i] = slots[i].id;
    }
    CHECK(sum == expected);
    qsort(ids, n, sizeof ids[0], cmp_u64);
    for (i = 1; i < n; i++) CHECK(ids[i] != ids[i - 1]);
}

static void spawn_many(size_t n) {
    static fibra_fiber *handles[MANY];
    size_t i;
    memset(slots, 0, sizeof slots);
    for (i = 0; i < n; i++) {
        slots[i].index = i;
        CHECK_OK(fibra_spawn(rt, fill_slot, &slots[i], &handles[i]));
    }
    for (i = 0; i < n; i++) CHECK_OK(fibra_join(handles[i]));
    check_slots(n);
}

static void spawn_many_root(void *arg) {
    (void)arg;
    CHECK(fibra_in_fiber() == 1);
    spawn_many(MANY);
}

/* ---- a tree of fibers, each spawning and joining its children */

typedef struct {
    int depth;
    uint64_t leaves;
} tree_node;

static void tree(void *arg) {
    tree_node *node = (tree_node *)arg;
    tree_node left, right;
    fibra_fiber *l, *r;
    if (node->depth == 0) {
        node->leaves = 1;
        return;
    }
    left.depth = right.depth = node->depth - 1;
    left.leaves = right.leaves = 0;
    CHECK_OK(fibra_spawn(rt, tree, &left, &l));
    CHECK_OK(fibra_spawn(rt, tree, &right, &r));
    CHECK_OK(fibra_join(l));
    CHECK_OK(fibra_join(r));
    node->leaves = left.leaves + right.leaves;
}

/* ---- detached fibers counted by a wait group */

static void detached(void *arg) {
    fibra_waitgroup *wg = (fibra_waitgroup *)arg;
    CHECK_OK(fibra_yield());
    CHECK_OK(fibra_waitgroup_done(wg));
}

/* ---- yield lets the worker's other fibers run (one worker) */

static volatile int other_ran;

static void set_other_ran(void *arg) {
    (void)arg;
    other_ran = 1;
}

static void yield_until_other_ran(void *arg) {
    fibra_fiber *other;
    long spins = 0;
    (void)arg;
    CHECK_OK(fibra_spawn(rt, set_other_ran, NULL, &other));
    while (!other_ran) {
        CHECK_OK(fibra_yield());
        spins++;
        CHECK(spins < 1000000);
    }
    CHECK_OK(fibra_join(other));
}

/* ---- sleep, ids, options */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void sleeper(void *arg) {
    double *elapsed = (double *)arg;
    double start = now_ms();
    CHECK_OK(fibra_sleep(MS(20)));
    *elapsed = now_ms() - start;
}

static void record_id(void *arg) {
    CHECK_OK(fibra_current_id((uint64_t *)arg));
}

static void deep_recursion_helper(volatile char *p, int n) {
    volatile char buf[1024];
    buf[0] = (char)n;
    if (n > 0) deep_recursion_helper(buf, n - 1);
    (void)p;
}

static void big_stack_user(void *arg) {
    /* ~1 MiB of frames: needs the 4 MiB stack asked for below. */
    deep_recursion_helper(NULL, 1000);
    *(int *)arg = 1;
}

static void block_on_inside(void *arg) {
    int *rc = (int *)arg;
    *rc = fibra_block_on(rt, set_other_ran, NULL);
}

int main(void) {
    rt = test_runtime(2);

    /* block_on from the host thread, then thousands of fibers joined by a fiber */
    CHECK_OK(fibra_block_on(rt, spawn_many_root, NULL));
    PASS("spawn_join_from_fiber");

    /* thousands of fibers spawned and joined by the host thread */
    spawn_many(MANY);
    PASS("spawn_join_from_thread");

    {
        tree_node root;
        root.depth = 13;
        root.leaves = 0;
        CHECK_OK(fibra_block_on(rt, tree, &root));
        CHECK(root.leaves == 8192);
        PASS("nested_spawn_tree");
    }

    {
        fibra_waitgroup *wg;
        size_t i, count;
        CHECK_OK(fibra_waitgroup_create(&wg));
        CHECK_OK(fibra_waitgroup_add(wg, 1000));
        for (i = 0; i < 1000; i++) CHECK_OK(fibra_spawn(rt, detached, wg, NULL));
        CHECK_OK(fibra_waitgroup_wait(wg));
        CHECK_OK(fibra_waitgroup_count(wg, &count));
        CHECK(count == 0);
        CHECK_OK(fibra_waitgroup_destroy(wg));
        PASS("detach_with_waitgroup");
    }

    {
        fibra_fiber *f;
        int finished = 0;
        CHECK_OK(fibra_spawn(rt, set_other_ran, NULL, &f));
        while (!finished) CHECK_OK(fibra_fiber_is_finished(f, &finished));
        CHECK_OK(fibra_detach(f));
        PASS("is_finished_and_detach");
    }

    {
        fibra_runtime *one = test_runtime(1);
        fibra_runtime *saved = rt;
        size_t workers = 0;
        CHECK_OK(fibra_runtime_workers(one, &workers));
        CHECK(workers == 1);
        rt = one;
        other_ran = 0;
        CHECK_OK(fibra_block_on(one, yield_until_other_ran, NULL));
        rt = saved;
        CHECK_OK(fibra_runtime_destroy(one));
        PASS("yield_runs_others");
    }

    {
        double elapsed = 0;
        CHECK_OK(fibra_block_on(rt, sleeper, &elapsed));
        CHECK(elapsed >= 19.0);
        PASS("sleep");
    }

    {
        fibra_fiber *f;
        uint64_t inside = 0, outside = 1;
        fibra_spawn_options opts;
        int done = 0;
        memset(&opts, 0, sizeof opts);
        opts.name = "named-fiber";
        CHECK_OK(fibra_spawn_ex(rt, record_id, &inside, &opts, &f));
        CHECK_OK(fibra_fiber_id(f, &outside));
        CHECK_OK(fibra_join(f));
        CHECK(inside == outside);

        opts.stack_size = 4u << 20;
        CHECK_OK(fibra_spawn_ex(rt, big_stack_user, &done, &opts, &f));
        CHECK_OK(fibra_join(f));
        CHECK(done == 1);
        PASS("spawn_options_and_ids");
    }

    {
        int rc = 0;
        CHECK_OK(fibra_block_on(rt, block_on_inside, &rc));
        CHECK(rc == FIBRA_EPERM);
        PASS("block_on_inside_fiber_refused");
    }

    CHECK_OK(fibra_runtime_destroy(rt));
    printf("PASS\n");
    return 0;
}
