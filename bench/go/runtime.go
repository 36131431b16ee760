// Go's side of fibra's runtime benchmarks (bench/src/bin/runtime, see bench/README.md).
//
// The harness builds this file with `go build` and runs it once per measurement:
//
//	runtime-go BENCH N        (GOMAXPROCS=2 is set by the harness)
//
// BENCH is spawn_join, yield, skynet or parked. The program prints its result on
// stdout as `result key=value ...` (and, for parked, `progress ...` lines before it),
// the line format every contender of the harness prints.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: runtime-go spawn_join|yield|skynet|parked N")
		os.Exit(2)
	}
	n, err := strconv.ParseUint(os.Args[2], 10, 64)
	if err != nil || n == 0 {
		fmt.Fprintln(os.Stderr, "N must be a positive integer")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "spawn_join":
		spawnJoin(n)
	case "yield":
		yieldLoop(n)
	case "skynet":
		skynet(n)
	case "parked":
		parked(n)
	default:
		fmt.Fprintln(os.Stderr, "unknown benchmark", os.Args[1])
		os.Exit(2)
	}
}

func die(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

// ---------------------------------------------------------------------------------------
// spawn+join in batches of 1000: each task returns a small value through a channel of
// capacity 1, Go's nearest thing to a JoinHandle<u64>; the spawner receives them in order.

const batch = 1000

func spawnJoinRun(total uint64) uint64 {
	handles := make([]chan uint64, batch)
	var sum uint64
	for base := uint64(0); base < total; base += batch {
		for i := range handles {
			h := make(chan uint64, 1)
			handles[i] = h
			v := base + uint64(i)
			go func() { h <- v * 2 }()
		}
		for _, h := range handles {
			sum += <-h
		}
	}
	return sum
}

func spawnJoin(n uint64) {
	n = (n + batch - 1) / batch * batch
	spawnJoinRun(n / 10) // warm-up: grows the heap and the free lists of goroutines
	start := time.Now()
	sum := spawnJoinRun(n)
	elapsed := time.Since(start)
	if sum != n*(n-1) {
		die("spawn_join: wrong sum %d", sum)
	}
	fmt.Printf("result ns_per_op=%.3f\n", float64(elapsed.Nanoseconds())/float64(n))
}

// ---------------------------------------------------------------------------------------
// yield_now, one fiber: one goroutine calls runtime.Gosched() n times; it times itself.

func yieldRun(n uint64) time.Duration {
	done := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		for i := uint64(0); i < n; i++ {
			runtime.Gosched()
		}
		done <- time.Since(start)
	}()
	return <-done
}

func yieldLoop(n uint64) {
	yieldRun(n / 10)
	elapsed := yieldRun(n)
	fmt.Printf("result ns_per_op=%.3f\n", float64(elapsed.Nanoseconds())/float64(n))
}

// ---------------------------------------------------------------------------------------
// skynet: a node of size > 1 spawns 10 children over its 10 sub-ranges and sums what they
// send back; a leaf sends its own number. The root runs on the main goroutine; the time
// is divided by the number of goroutines spawned (10 + 100 + ... + n).

func skynetNode(out chan<- uint64, num, size uint64) {
	if size == 1 {
		out <- num
		return
	}
	out <- skynetSum(num, size)
}

func skynetSum(num, size uint64) uint64 {
	child := size / 10
	results := make(chan uint64, 10)
	for i := uint64(0); i < 10; i++ {
		go skynetNode(results, num+i*child, child)
	}
	var sum uint64
	for i := 0; i < 10; i++ {
		sum += <-results
	}
	return sum
}

func skynet(n uint64) {
	if !powerOf10(n) {
		die("skynet: N must be a power of 10")
	}
	start := time.Now()
	sum := skynetSum(0, n)
	elapsed := time.Since(start)
	if sum != n*(n-1)/2 {
		die("skynet: wrong sum %d", sum)
	}
	spawned := (10*n - 10) / 9
	fmt.Printf("result ns_per_op=%.3f fibers=%d\n", float64(elapsed.Nanoseconds())/float64(spawned), spawned)
}

func powerOf10(n uint64) bool {
	for n%10 == 0 {
		n /= 10
	}
	return n == 1
}

// ---------------------------------------------------------------------------------------
// parked: n goroutines each block on receiving from one channel that is closed at the
// end. They are spawned in chunks of 10 000; after each chunk the spawner waits until
// all have reached the receive and prints the RSS growth per goroutine so far.

const chunk = 10000

func parked(n uint64) {
	release := make(chan struct{})
	var parkedCount int64
	var finished sync.WaitGroup
	base := rssKiB()
	var spawned uint64
	for spawned < n {
		step := n - spawned
		if step > chunk {
			step = chunk
		}
		finished.Add(int(step))
		for i := uint64(0); i < step; i++ {
			go func() {
				atomic.AddInt64(&parkedCount, 1)
				<-release
				finished.Done()
			}()
		}
		spawned += step
		for uint64(atomic.LoadInt64(&parkedCount)) < spawned {
			runtime.Gosched()
		}
		fmt.Printf("progress parked=%d kib_per_fiber=%.3f\n", spawned, float64(rssKiB()-base)/float64(spawned))
	}
	kib := float64(rssKiB()-base) / float64(n)
	fmt.Printf("result parked=%d kib_per_fiber=%.3f\n", n, kib)
	close(release)
	finished.Wait()
}

// rssKiB is VmRSS from /proc/self/status.
func rssKiB() int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		die("read /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			fields := strings.Fields(line)
			v, err := strconv.ParseInt(fields[1], 10, 64)
			if err == nil {
				return v
			}
		}
	}
	die("no VmRSS in /proc/self/status")
	return 0
}
