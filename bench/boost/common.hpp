// What the Boost.Fiber peers of fibra's benchmarks share (runtime.cpp, sync.cpp): the
// scheduler setup of one or two threads, recycled fiber stacks, timing, and the version
// line. Included by each; the harness rebuilds a peer when this file changes too.

#pragma once

#include <boost/context/stack_traits.hpp>
#include <boost/fiber/all.hpp>
#include <boost/version.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <utility>
#include <string>
#include <thread>
#include <vector>

namespace bf = boost::fibers;
using Clock = std::chrono::steady_clock;

[[noreturn]] static void die(const char *msg) {
    std::fprintf(stderr, "%s\n", msg);
    std::exit(1);
}

static double ns_since(Clock::time_point start, std::uint64_t per) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
    return double(ns) / double(per);
}

// Fiber stacks: Boost's default (fixedsize_stack: 128 KiB from malloc, no guard page),
// but recycled through a per-thread free list, as Go, tokio, may and fibra recycle theirs.
// Without it glibc hands each batch of freed stacks back to the kernel and every spawn
// faults fresh pages in (spawn+join then takes ~6.5 us instead of ~0.3 us).
class RecyclingStack {
  public:
    boost::context::stack_context allocate() {
        auto &list = free_list();
        void *base;
        if (!list.empty()) {
            base = list.back();
            list.pop_back();
        } else {
            base = std::malloc(kSize);
            if (!base) throw std::bad_alloc();
        }
        boost::context::stack_context sctx;
        sctx.size = kSize;
        sctx.sp = static_cast<char *>(base) + kSize;
        return sctx;
    }
    void deallocate(boost::context::stack_context &sctx) noexcept {
        void *base = static_cast<char *>(sctx.sp) - sctx.size;
        auto &list = free_list();
        if (list.size() < kKeep) {
            list.push_back(base);
        } else {
            std::free(base);
        }
    }

  private:
    static constexpr std::size_t kKeep = 4096;
    static inline const std::size_t kSize = boost::context::stack_traits::default_size();
    static std::vector<void *> &free_list() {
        thread_local std::vector<void *> list = [] {
            std::vector<void *> v;
            v.reserve(kKeep);
            return v;
        }();
        return list;
    }
};

template <typename F> static bf::fiber spawn(F &&f) {
    return bf::fiber(std::allocator_arg, RecyclingStack{}, std::forward<F>(f));
}

// The scheduler for this process: round_robin on one thread, or work_stealing across the
// main thread and one helper.
class Scheduler {
  public:
    explicit Scheduler(unsigned threads) : threads_(threads) {
        if (threads_ == 1) {
            return; // round_robin is the default algorithm
        }
        helper_ = std::thread([this] {
            bf::use_scheduling_algorithm<bf::algo::work_stealing>(threads_);
            std::unique_lock<bf::mutex> lock(mutex_);
            stopped_.wait(lock, [this] { return stop_; });
        });
        // Returns once both threads have registered (work_stealing's own barrier).
        bf::use_scheduling_algorithm<bf::algo::work_stealing>(threads_);
    }
    ~Scheduler() {
        if (threads_ == 1) {
            return;
        }
        {
            std::unique_lock<bf::mutex> lock(mutex_);
            stop_ = true;
        }
        stopped_.notify_all();
        helper_.join();
    }

  private:
    unsigned threads_;
    std::thread helper_;
    bf::mutex mutex_;
    bf::condition_variable stopped_;
    bool stop_ = false;
};

// `PEER version`: the line the harness prints in its header.
static void print_version() {
    std::printf("Boost %d.%d.%d, default fiber stack %zu KiB\n", BOOST_VERSION / 100000,
                BOOST_VERSION / 100 % 1000, BOOST_VERSION % 100,
                boost::context::stack_traits::default_size() / 1024);
}
