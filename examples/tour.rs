//! A tour of fibra. Run with `cargo run --release --example tour`.
//!
//! Each section shows one capability; the I/O sections join when they land.

use fibra::channel::bounded;
use fibra::select;
use fibra::sync::{Event, Mutex, WaitGroup};
use fibra::{Builder, Coroutine, CoroutineResult, Generator, Runtime, Stack, StackPool, Yielder};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    section("1. Coroutines: values in, values out, a return value");
    let mut co = Coroutine::new(|y: &Yielder<i32, String>, first: i32| -> u64 {
        let mut total = first;
        for round in 1..=3 {
            let next = y.suspend(format!("round {round}: running total {total}"));
            total += next;
        }
        total as u64
    });
    let mut input = 10;
    loop {
        match co.resume(input) {
            CoroutineResult::Yield(msg) => println!("  coroutine says: {msg}"),
            CoroutineResult::Return(total) => {
                println!("  coroutine returned {total}");
                break;
            }
        }
        input += 10;
    }

    section("2. Generators are iterators");
    let primes: Vec<u32> = Generator::new(|y| {
        let mut found = Vec::new();
        for n in 2u32.. {
            if found.iter().all(|p| n % p != 0) {
                found.push(n);
                y.suspend(n);
            }
        }
    })
    .take(10)
    .collect();
    println!("  first ten primes: {primes:?}");

    section("3. Dropping a suspended coroutine unwinds its stack");
    struct Loud(&'static str);
    impl Drop for Loud {
        fn drop(&mut self) {
            println!("  dropped {} (on the coroutine's stack)", self.0);
        }
    }
    let mut co = Coroutine::new(|y: &Yielder<(), ()>, ()| {
        let _guard = Loud("a lock guard");
        y.suspend(());
        unreachable!();
    });
    co.resume(());
    drop(co);

    section("4. A panic inside reaches the resumer");
    let mut co: Coroutine<(), (), ()> = Builder::new()
        .name("grumpy")
        .build(|_: &Yielder<(), ()>, ()| panic!("grumpy coroutine"))
        .unwrap();
    std::panic::set_hook(Box::new(|_| {})); // keep the demo's output tidy
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| co.resume(())));
    let _ = std::panic::take_hook();
    println!("  caught: {:?}", caught.unwrap_err().downcast_ref::<&str>());

    section("5. Deep recursion on a stack of its own");
    fn depth(n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            1 + depth(std::hint::black_box(n) - 1)
        }
    }
    let d = fibra::on_stack(512 << 20, || depth(5_000_000));
    println!("  recursed {d} levels deep on a 512 MiB stack (only touched pages cost memory)");

    section("6. Stacks come from a per-thread pool");
    let co = Coroutine::new(|_: &Yielder<(), ()>, ()| {});
    let bottom = co.stack().bottom();
    let guarded = co.stack().is_guarded();
    drop(co);
    let co = Coroutine::new(|_: &Yielder<(), ()>, ()| {});
    println!(
        "  second coroutine reuses the first one's stack: {} (guard page below it: {guarded})",
        co.stack().bottom() == bottom
    );
    drop(co);
    StackPool::with_current_thread(|p| {
        println!("  idle stacks in this thread's pool: {}", p.idle())
    });

    section("7. Switch cost");
    let mut co = Coroutine::new(|y: &Yielder<(), ()>, ()| {
        loop {
            y.suspend(());
        }
    });
    let n = 10_000_000u32;
    let start = Instant::now();
    for _ in 0..n {
        co.resume(());
    }
    let per = start.elapsed().as_secs_f64() * 1e9 / f64::from(n);
    println!("  resume + suspend round trip: {per:.1} ns (see bench/ for side-by-side figures)");

    let start = Instant::now();
    let m = 1_000_000u32;
    for i in 0..m {
        let mut co = Coroutine::new(move |_: &Yielder<(), u32>, ()| i);
        std::hint::black_box(co.resume(()));
    }
    let per = start.elapsed().as_secs_f64() * 1e9 / f64::from(m);
    println!("  create + run + drop a coroutine: {per:.1} ns");

    section("8. A runtime: fibers on worker threads");
    let rt = Runtime::builder().workers(2).build().expect("runtime");
    let answer = rt.spawn(|| 40 + 2).join().unwrap();
    println!("  a fiber spawned from main returned {answer}");
    let words = ["fibers", "are", "cheap"];
    let lengths = rt.block_on(|| {
        // block_on's closure may borrow from main; fibers inside spawn more fibers.
        let hs: Vec<_> = words
            .iter()
            .map(|w| w.len())
            .map(|n| fibra::spawn(move || n * 2))
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    println!("  doubled word lengths, one fiber each: {lengths:?}");

    section("9. Scoped fibers borrow, sleep, and blocking calls move off the workers");
    let mut cells = [0u32; 8];
    rt.block_on(|| {
        fibra::scope(|s| {
            for (i, c) in cells.iter_mut().enumerate() {
                s.spawn(move || {
                    fibra::sleep(Duration::from_millis(i as u64));
                    *c = (i * i) as u32;
                });
            }
        });
        let v = fibra::spawn_blocking(|| {
            std::thread::sleep(Duration::from_millis(20)); // would stall a worker
            "done on the blocking pool"
        })
        .join()
        .unwrap();
        println!("  {v}");
    });
    println!("  squares written by scoped fibers: {cells:?}");

    section("10. Fan-out / fan-in");
    let start = Instant::now();
    let n = 100_000u64;
    let total = rt.block_on(|| {
        let hs: Vec<_> = (0..n).map(|i| fibra::spawn(move || i)).collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    let per = start.elapsed().as_secs_f64() * 1e9 / n as f64;
    println!("  {n} fibers spawned and joined (sum {total}): {per:.0} ns each");
    let panicked = rt
        .spawn(|| -> u8 { panic!("a fiber failed") })
        .join()
        .unwrap_err();
    println!("  a panicking fiber: {panicked} (its worker lives on)");

    section("11. Sync: a Mutex, a WaitGroup and an Event, shared by fibers and threads");
    let counter = Arc::new(Mutex::new(0u64));
    let all_done = WaitGroup::new();
    let go = Arc::new(Event::new_manual_reset());
    all_done.add(8);
    for i in 0..8 {
        let (counter, all_done, go) = (counter.clone(), all_done.clone(), go.clone());
        let job = move || {
            go.wait(); // every job waits for the starting gun
            *counter.lock() += 1;
            all_done.done();
        };
        if i % 2 == 0 {
            drop(rt.spawn(job)); // a fiber: suspends, its worker runs others meanwhile
        } else {
            std::thread::spawn(job); // a plain thread: parks
        }
    }
    go.set();
    all_done.wait();
    println!(
        "  4 fibers and 4 threads incremented one mutex: {}",
        counter.lock()
    );

    section("12. Channels and select!");
    rt.block_on(|| {
        let (tx, rx) = bounded::<u64>(0); // a rendezvous
        let (stop_tx, stop_rx) = bounded::<()>(1);
        let producer = fibra::spawn(move || {
            for i in 1..=5 {
                tx.send(i * i).unwrap();
            }
            stop_tx.send(()).unwrap();
        });
        let mut got = vec![];
        loop {
            select! {
                recv(rx) -> v => match v {
                    Ok(v) => got.push(v),
                    Err(_) => break, // the producer is gone (a disconnected arm is ready)
                },
                recv(stop_rx) -> _ => break,
                default(Duration::from_secs(1)) => panic!("producer stalled"),
            }
        }
        producer.join().unwrap();
        println!("  received over a rendezvous channel: {got:?}");
    });
}

fn section(title: &str) {
    println!("\n{title}");
}
