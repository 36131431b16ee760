// Proves include/fibra.h compiles as C++17 (`extern "C"` guards, no C-only syntax), and
// links and runs from C++: a lambda-free round trip through a runtime, a channel and a
// coroutine.
#include "fibra.h"

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

void check(int rc, int expected, const char *what) {
    if (rc != expected) {
        std::fprintf(stderr, "%s returned %d (%s), expected %d\n", what, rc, fibra_strerror(rc),
                     expected);
        std::abort();
    }
}

struct Job {
    fibra_channel *ch;
    int value;
};

extern "C" void send_value(void *arg) {
    auto *job = static_cast<Job *>(arg);
    check(fibra_channel_send(job->ch, &job->value), FIBRA_OK, "send");
}

extern "C" void *twice(void *arg, fibra_yielder *y) {
    void *in = nullptr;
    check(fibra_coroutine_yield(y, arg, &in), FIBRA_OK, "yield");
    return in;
}

}  // namespace

int main() {
    fibra_runtime_config cfg;
    check(fibra_runtime_config_init(&cfg), FIBRA_OK, "config_init");
    cfg.workers = 2;
    fibra_runtime *rt = nullptr;
    check(fibra_runtime_create(&cfg, &rt), FIBRA_OK, "runtime_create");

    fibra_channel *ch = nullptr;
    check(fibra_channel_create(sizeof(int), FIBRA_CHANNEL_UNBOUNDED, &ch), FIBRA_OK, "channel");
    std::vector<Job> jobs(100);
    std::vector<fibra_fiber *> fibers(jobs.size());
    for (size_t i = 0; i < jobs.size(); i++) {
        jobs[i] = Job{ch, static_cast<int>(i)};
        check(fibra_spawn(rt, send_value, &jobs[i], &fibers[i]), FIBRA_OK, "spawn");
    }
    for (fibra_fiber *f : fibers) check(fibra_join(f), FIBRA_OK, "join");
    long sum = 0;
    int v = 0;
    while (fibra_channel_try_recv(ch, &v) == FIBRA_OK) sum += v;
    if (sum != 99 * 100 / 2) std::abort();
    std::printf("ok channel\n");

    fibra_coroutine *co = nullptr;
    check(fibra_coroutine_create(twice, 0, &co), FIBRA_OK, "coroutine_create");
    void *out = nullptr;
    int a = 1, b = 2;
    check(fibra_coroutine_resume(co, &a, &out), FIBRA_COROUTINE_YIELDED, "resume");
    if (out != &a) std::abort();
    check(fibra_coroutine_resume(co, &b, &out), FIBRA_COROUTINE_RETURNED, "resume");
    if (out != &b) std::abort();
    check(fibra_coroutine_destroy(co), FIBRA_OK, "coroutine_destroy");
    std::printf("ok coroutine\n");

    check(fibra_channel_destroy(ch), FIBRA_OK, "channel_destroy");
    check(fibra_runtime_destroy(rt), FIBRA_OK, "runtime_destroy");
    std::printf("PASS\n");
    return 0;
}
