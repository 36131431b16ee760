// Boost.Fiber's side of fibra's runtime benchmarks (bench/src/bin/runtime, see
// bench/README.md). The harness builds it with
//
//   g++ -O2 -std=c++17 -pthread runtime.cpp -o runtime-boost -lboost_fiber -lboost_context
//
// and runs it once per measurement:
//
//   runtime-boost BENCH N THREADS     (BENCH: spawn_join, yield, skynet, parked)
//   runtime-boost version
//
// THREADS = 1: Boost.Fiber's default scheduler (round_robin) on the main thread only.
// THREADS = 2: the work_stealing algorithm (with its default: idle threads do not sleep)
// on the main thread and one helper thread that waits, fiber-aware, until the end.
// Fibers use Boost's default stack size, recycled (RecyclingStack in common.hpp).
// The result goes to stdout as `result key=value ...` (plus `progress ...` lines for
// parked), the line format every contender of the harness prints.

#include "common.hpp"

// ---------------------------------------------------------------------------------------
// spawn+join in batches of 1000. A Boost fiber returns nothing, so each writes its small
// value into its own slot, which the spawner reads after join().

static constexpr std::uint64_t kBatch = 1000;

static std::uint64_t spawn_join_run(std::uint64_t total) {
    std::vector<bf::fiber> fibers(kBatch);
    std::vector<std::uint64_t> slots(kBatch);
    std::uint64_t sum = 0;
    for (std::uint64_t base = 0; base < total; base += kBatch) {
        for (std::uint64_t i = 0; i < kBatch; ++i) {
            std::uint64_t *slot = &slots[i];
            std::uint64_t v = base + i;
            fibers[i] = spawn([slot, v] { *slot = v * 2; });
        }
        for (std::uint64_t i = 0; i < kBatch; ++i) {
            fibers[i].join();
            sum += slots[i];
        }
    }
    return sum;
}

static void spawn_join(std::uint64_t n) {
    n = (n + kBatch - 1) / kBatch * kBatch;
    spawn_join_run(n / 10); // warm-up
    auto start = Clock::now();
    std::uint64_t sum = spawn_join_run(n);
    double ns = ns_since(start, n);
    if (sum != n * (n - 1)) die("spawn_join: wrong sum");
    std::printf("result ns_per_op=%.3f\n", ns);
}

// ---------------------------------------------------------------------------------------
// yield_now, one fiber: it times its own loop of this_fiber::yield().

static double yield_run(std::uint64_t n) {
    double ns = 0;
    bf::fiber f = spawn([&ns, n] {
        auto start = Clock::now();
        for (std::uint64_t i = 0; i < n; ++i) {
            boost::this_fiber::yield();
        }
        ns = ns_since(start, n);
    });
    f.join();
    return ns;
}

static void yield_loop(std::uint64_t n) {
    yield_run(n / 10);
    std::printf("result ns_per_op=%.3f\n", yield_run(n));
}

// ---------------------------------------------------------------------------------------
// skynet: a node of size > 1 spawns 10 children over its sub-ranges and joins them; a
// leaf returns its number. The root runs on the main fiber; the time is divided by the
// number of fibers spawned (10 + 100 + ... + n).

static std::uint64_t skynet_node(std::uint64_t num, std::uint64_t size) {
    if (size == 1) {
        return num;
    }
    std::uint64_t child = size / 10;
    std::array<std::uint64_t, 10> results{};
    std::array<bf::fiber, 10> children;
    for (std::uint64_t i = 0; i < 10; ++i) {
        std::uint64_t *slot = &results[i];
        std::uint64_t cnum = num + i * child;
        children[i] = spawn([slot, cnum, child] { *slot = skynet_node(cnum, child); });
    }
    std::uint64_t sum = 0;
    for (std::uint64_t i = 0; i < 10; ++i) {
        children[i].join();
        sum += results[i];
    }
    return sum;
}

static bool power_of_10(std::uint64_t n) {
    while (n % 10 == 0) n /= 10;
    return n == 1;
}

static void skynet(std::uint64_t n) {
    if (!power_of_10(n)) die("skynet: N must be a power of 10");
    auto start = Clock::now();
    std::uint64_t spawned = (10 * n - 10) / 9;
    std::uint64_t sum = skynet_node(0, n);
    double ns = ns_since(start, spawned);
    if (sum != n * (n - 1) / 2) die("skynet: wrong sum");
    std::printf("result ns_per_op=%.3f fibers=%" PRIu64 "\n", ns, spawned);
}

// ---------------------------------------------------------------------------------------
// parked: n detached fibers each wait on one condition variable until a flag is set at
// the end. Spawned in chunks of 10 000; after each chunk the spawner yields until all of
// them are waiting and prints the RSS growth per fiber so far.

static long rss_kib() {
    FILE *f = std::fopen("/proc/self/status", "r");
    if (!f) die("cannot open /proc/self/status");
    char line[256];
    long kib = -1;
    while (std::fgets(line, sizeof line, f)) {
        if (std::strncmp(line, "VmRSS:", 6) == 0) {
            kib = std::strtol(line + 6, nullptr, 10);
            break;
        }
    }
    std::fclose(f);
    if (kib < 0) die("no VmRSS in /proc/self/status");
    return kib;
}

static void parked(std::uint64_t n) {
    static constexpr std::uint64_t kChunk = 10000;
    bf::mutex mutex;
    bf::condition_variable cv;
    bool released = false;
    std::atomic<std::uint64_t> parked_count{0};
    std::atomic<std::uint64_t> finished{0};
    long base = rss_kib();
    std::uint64_t spawned = 0;
    while (spawned < n) {
        std::uint64_t step = std::min(kChunk, n - spawned);
        for (std::uint64_t i = 0; i < step; ++i) {
            spawn([&] {
                std::unique_lock<bf::mutex> lock(mutex);
                parked_count.fetch_add(1, std::memory_order_relaxed);
                cv.wait(lock, [&] { return released; });
                lock.unlock();
                // The last access to the spawner's locals: it returns once all have counted.
                finished.fetch_add(1, std::memory_order_release);
            }).detach();
        }
        spawned += step;
        while (parked_count.load(std::memory_order_relaxed) < spawned) {
            boost::this_fiber::yield();
        }
        std::printf("progress parked=%" PRIu64 " kib_per_fiber=%.3f\n", spawned,
                    double(rss_kib() - base) / double(spawned));
        std::fflush(stdout);
    }
    std::printf("result parked=%" PRIu64 " kib_per_fiber=%.3f\n", n,
                double(rss_kib() - base) / double(n));
    std::fflush(stdout);
    {
        std::unique_lock<bf::mutex> lock(mutex);
        released = true;
    }
    cv.notify_all();
    while (finished.load(std::memory_order_acquire) < n) {
        boost::this_fiber::yield();
    }
}

int main(int argc, char **argv) {
    if (argc == 2 && std::strcmp(argv[1], "version") == 0) {
        print_version();
        return 0;
    }
    if (argc != 4) {
        std::fprintf(stderr, "usage: runtime-boost spawn_join|yield|skynet|parked N THREADS\n");
        return 2;
    }
    std::string bench = argv[1];
    std::uint64_t n = std::strtoull(argv[2], nullptr, 10);
    unsigned threads = unsigned(std::strtoul(argv[3], nullptr, 10));
    if (n == 0 || threads == 0) die("N and THREADS must be positive");
    Scheduler scheduler(threads);
    if (bench == "spawn_join") {
        spawn_join(n);
    } else if (bench == "yield") {
        yield_loop(n);
    } else if (bench == "skynet") {
        skynet(n);
    } else if (bench == "parked") {
        parked(n);
    } else {
        std::fprintf(stderr, "unknown benchmark %s\n", bench.c_str());
        return 2;
    }
    std::fflush(stdout);
    return 0;
}
