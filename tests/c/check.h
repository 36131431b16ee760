/* Shared helpers of the C ABI tests (compiled by tests/c_abi.rs). */
#ifndef FIBRA_TEST_CHECK_H
#define FIBRA_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#include "fibra.h"

/* Fails the test with the location and the expression when `cond` is false. */
#define CHECK(cond)                                                               \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            fflush(stdout);                                                       \
            abort();                                                              \
        }                                                                         \
    } while (0)

/* Expects a fibra call to return `expected`. */
#define CHECK_RC(call, expected)                                                  \
    do {                                                                          \
        int check_rc_ = (call);                                                   \
        if (check_rc_ != (expected)) {                                            \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d\n", __FILE__,   \
                    __LINE__, #call, check_rc_, fibra_strerror(check_rc_), (expected)); \
            fflush(stdout);                                                       \
            abort();                                                              \
        }                                                                         \
    } while (0)

#define CHECK_OK(call) CHECK_RC(call, FIBRA_OK)

#define MS(n) ((uint64_t)(n) * 1000000u)

/* A runtime with `workers` workers (0: one per CPU). */
static fibra_runtime *test_runtime(size_t workers) {
    fibra_runtime_config cfg;
    fibra_runtime *rt = NULL;
    CHECK_OK(fibra_runtime_config_init(&cfg));
    cfg.workers = workers;
    CHECK_OK(fibra_runtime_create(&cfg, &rt));
    CHECK(rt != NULL);
    return rt;
}

#define PASS(name) printf("ok %s\n", name)

#endif
