// Go's side of fibra's sync benchmarks (bench/src/bin/sync, see bench/README.md).
//
// The harness builds this file with `go build` and runs it once per measurement:
//
//	sync-go BENCH N        (GOMAXPROCS=2 is set by the harness)
//
// BENCH is ping_pong, mutex or throughput. The program prints its result on stdout as
// `result ns_per_op=...`, the line format every contender of the harness prints.
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: sync-go ping_pong|mutex|throughput N")
		os.Exit(2)
	}
	n, err := strconv.ParseUint(os.Args[2], 10, 64)
	if err != nil || n == 0 {
		fmt.Fprintln(os.Stderr, "N must be a positive integer")
		os.Exit(2)
	}
	var ns float64
	switch os.Args[1] {
	case "ping_pong":
		ns = pingPong(n)
	case "mutex":
		ns = mutex(n)
	case "throughput":
		ns = throughput(n)
	default:
		fmt.Fprintln(os.Stderr, "unknown benchmark", os.Args[1])
		os.Exit(2)
	}
	fmt.Printf("result ns_per_op=%.3f\n", ns)
}

func die(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func nsPer(d time.Duration, ops uint64) float64 {
	return float64(d.Nanoseconds()) / float64(ops)
}

// ---------------------------------------------------------------------------------------
// ping-pong: the main goroutine sends a number on one unbuffered channel, a second
// goroutine sends it back on another; time per round trip. A tenth of N first as a
// warm-up, on the same pair.

func pingPong(n uint64) float64 {
	ping := make(chan uint64)
	pong := make(chan uint64)
	go func() {
		for v := range ping {
			pong <- v
		}
		close(pong)
	}()
	rounds := func(count uint64) {
		for i := uint64(0); i < count; i++ {
			ping <- i
			if <-pong != i {
				die("ping_pong: wrong value")
			}
		}
	}
	rounds(n / 10)
	start := time.Now()
	rounds(n)
	elapsed := time.Since(start)
	close(ping)
	<-pong
	return nsPer(elapsed, n)
}

// ---------------------------------------------------------------------------------------
// mutex: 4 goroutines each lock a sync.Mutex, increment the counter it guards and unlock,
// N/4 times; time from starting them to all done, per increment.

const workers = 4

func mutexRun(n uint64) time.Duration {
	var mu sync.Mutex
	var counter uint64
	var done sync.WaitGroup
	per := n / workers
	start := time.Now()
	done.Add(workers)
	for w := 0; w < workers; w++ {
		go func() {
			for i := uint64(0); i < per; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
			done.Done()
		}()
	}
	done.Wait()
	elapsed := time.Since(start)
	if counter != per*workers {
		die("mutex: counter %d, expected %d", counter, per*workers)
	}
	return elapsed
}

func mutex(n uint64) float64 {
	n = n / workers * workers
	mutexRun(n / 10)
	return nsPer(mutexRun(n), n)
}

// ---------------------------------------------------------------------------------------
// throughput: 4 producers each send N/4 numbers on one channel of capacity 1024, 4
// consumers sum what they receive until it is closed (after the producers are done);
// time from starting them to the last sum, per message.

const capacity = 1024

func throughputRun(n uint64) time.Duration {
	ch := make(chan uint64, capacity)
	sums := make(chan uint64, workers)
	var producers sync.WaitGroup
	per := n / workers
	start := time.Now()
	producers.Add(workers)
	for p := uint64(0); p < workers; p++ {
		go func(first uint64) {
			for v := first; v < first+per; v++ {
				ch <- v
			}
			producers.Done()
		}(p * per)
	}
	for c := 0; c < workers; c++ {
		go func() {
			var sum uint64
			for v := range ch {
				sum += v
			}
			sums <- sum
		}()
	}
	producers.Wait()
	close(ch)
	var sum uint64
	for c := 0; c < workers; c++ {
		sum += <-sums
	}
	elapsed := time.Since(start)
	total := per * workers
	if sum != total*(total-1)/2 {
		die("throughput: sum %d, expected %d", sum, total*(total-1)/2)
	}
	return elapsed
}

func throughput(n uint64) float64 {
	n = n / workers * workers
	throughputRun(n / 10 / workers * workers)
	return nsPer(throughputRun(n), n)
}
