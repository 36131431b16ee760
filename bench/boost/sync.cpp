// Boost.Fiber's side of fibra's sync benchmarks (bench/src/bin/sync, see bench/README.md).
// The harness builds it with
//
//   g++ -O2 -std=c++17 -pthread sync.cpp -o sync-boost -lboost_fiber -lboost_context
//
// and runs it once per measurement:
//
//   sync-boost BENCH N THREADS     (BENCH: ping_pong, mutex, throughput)
//   sync-boost version
//
// THREADS = 1: round_robin on the main thread; THREADS = 2: work_stealing on the main
// thread and one helper (common.hpp). The result goes to stdout as `result ns_per_op=...`,
// the line format every contender of the harness prints.

#include "common.hpp"

// ---------------------------------------------------------------------------------------
// ping-pong: the main fiber pushes a number into one unbuffered_channel (a rendezvous),
// a second fiber pushes it back through another; time per round trip. A tenth of N first
// as a warm-up, on the same pair.

static double ping_pong(std::uint64_t n) {
    bf::unbuffered_channel<std::uint64_t> ping;
    bf::unbuffered_channel<std::uint64_t> pong;
    bf::fiber ponger = spawn([&] {
        std::uint64_t v;
        while (ping.pop(v) == bf::channel_op_status::success) {
            pong.push(v);
        }
        pong.close();
    });
    auto rounds = [&](std::uint64_t count) {
        for (std::uint64_t i = 0; i < count; ++i) {
            if (ping.push(i) != bf::channel_op_status::success) die("ping_pong: push failed");
            std::uint64_t v;
            if (pong.pop(v) != bf::channel_op_status::success || v != i) {
                die("ping_pong: wrong value");
            }
        }
    };
    rounds(n / 10);
    auto start = Clock::now();
    rounds(n);
    double ns = ns_since(start, n);
    ping.close();
    ponger.join();
    return ns;
}

// ---------------------------------------------------------------------------------------
// mutex: 4 fibers each lock a boost::fibers::mutex, increment the counter it guards and
// unlock, N/4 times; time from starting them to all joined, per increment.

static constexpr std::uint64_t kWorkers = 4;

static double mutex_run(std::uint64_t n) {
    bf::mutex mutex;
    std::uint64_t counter = 0;
    std::uint64_t per = n / kWorkers;
    auto start = Clock::now();
    std::array<bf::fiber, kWorkers> fibers;
    for (auto &f : fibers) {
        f = spawn([&] {
            for (std::uint64_t i = 0; i < per; ++i) {
                std::lock_guard<bf::mutex> lock(mutex);
                ++counter;
            }
        });
    }
    for (auto &f : fibers) f.join();
    double ns = ns_since(start, per * kWorkers);
    if (counter != per * kWorkers) die("mutex: wrong count");
    return ns;
}

static double mutex_bench(std::uint64_t n) {
    mutex_run(n / 10);
    return mutex_run(n);
}

// ---------------------------------------------------------------------------------------
// throughput: 4 producer fibers each push N/4 numbers into one buffered_channel of
// capacity 1024 (Boost's is a ring of that power-of-two size, so it holds 1023), 4
// consumer fibers sum what they pop until it is closed (after the producers are joined);
// time from starting them to the last consumer joined, per message.

static constexpr std::size_t kCapacity = 1024;

static double throughput_run(std::uint64_t n) {
    bf::buffered_channel<std::uint64_t> ch(kCapacity);
    std::uint64_t per = n / kWorkers;
    std::array<std::uint64_t, kWorkers> sums{};
    auto start = Clock::now();
    std::array<bf::fiber, kWorkers> producers;
    std::array<bf::fiber, kWorkers> consumers;
    for (std::uint64_t p = 0; p < kWorkers; ++p) {
        producers[p] = spawn([&ch, first = p * per, per] {
            for (std::uint64_t v = first; v < first + per; ++v) {
                if (ch.push(v) != bf::channel_op_status::success) die("throughput: push failed");
            }
        });
    }
    for (std::uint64_t c = 0; c < kWorkers; ++c) {
        consumers[c] = spawn([&ch, slot = &sums[c]] {
            std::uint64_t sum = 0, v;
            while (ch.pop(v) == bf::channel_op_status::success) sum += v;
            *slot = sum;
        });
    }
    for (auto &f : producers) f.join();
    ch.close();
    for (auto &f : consumers) f.join();
    double ns = ns_since(start, per * kWorkers);
    std::uint64_t total = per * kWorkers, sum = 0;
    for (auto s : sums) sum += s;
    if (sum != total * (total - 1) / 2) die("throughput: wrong sum");
    return ns;
}

static double throughput(std::uint64_t n) {
    throughput_run(n / 10);
    return throughput_run(n);
}

int main(int argc, char **argv) {
    if (argc == 2 && std::strcmp(argv[1], "version") == 0) {
        print_version();
        return 0;
    }
    if (argc != 4) {
        std::fprintf(stderr, "usage: sync-boost ping_pong|mutex|throughput N THREADS\n");
        return 2;
    }
    std::string bench = argv[1];
    std::uint64_t n = std::strtoull(argv[2], nullptr, 10);
    unsigned threads = unsigned(std::strtoul(argv[3], nullptr, 10));
    if (n == 0 || threads == 0) die("N and THREADS must be positive");
    double ns;
    {
        Scheduler scheduler(threads);
        if (bench == "ping_pong") {
            ns = ping_pong(n);
        } else if (bench == "mutex") {
            ns = mutex_bench(n);
        } else if (bench == "throughput") {
            ns = throughput(n);
        } else {
            std::fprintf(stderr, "unknown benchmark %s\n", bench.c_str());
            return 2;
        }
    }
    std::printf("result ns_per_op=%.3f\n", ns);
    std::fflush(stdout);
    return 0;
}
