//! A pipeline of fibers connected by channels: a source, a pool of parsers, and an
//! aggregator that `select!`s over its input, a control channel and a timeout.
//!
//! Run with `cargo run --release --example pipeline`.

use fibra::channel::{bounded, unbounded};
use fibra::select;
use std::collections::BTreeMap;
use std::time::Duration;

/// What the source emits: a line of a made-up metrics log.
fn line(i: u64) -> String {
    let host = ["web-1", "web-2", "db-1", "cache-1"][(i % 4) as usize];
    format!("{host} latency_us={}", 100 + (i * 7919) % 900)
}

/// What a parser makes of a line.
struct Sample {
    host: String,
    latency_us: u64,
}

fn parse(line: &str) -> Option<Sample> {
    let (host, rest) = line.split_once(' ')?;
    let latency_us = rest.strip_prefix("latency_us=")?.parse().ok()?;
    Some(Sample {
        host: host.to_owned(),
        latency_us,
    })
}

enum Control {
    Report,
}

fn main() {
    fibra::run(|| {
        let (lines_tx, lines_rx) = bounded::<String>(64);
        let (samples_tx, samples_rx) = bounded::<Sample>(64);
        let (control_tx, control_rx) = unbounded::<Control>();

        // Source: two bursts with a quiet spell between them (the aggregator's timeout arm
        // fires meanwhile). Dropping the sender at the end closes the channel.
        let source = fibra::spawn(move || {
            for i in 0..20_000 {
                if i == 10_000 {
                    fibra::sleep(Duration::from_millis(120));
                }
                lines_tx.send(line(i)).expect("parsers are alive");
            }
        });

        // Parsers: four fibers receiving from one channel (multi-consumer). When the source
        // is gone and the channel drained, `for` ends and each drops its sample sender.
        let parsers: Vec<_> = (0..4)
            .map(|_| {
                let (rx, tx) = (lines_rx.clone(), samples_tx.clone());
                fibra::spawn(move || {
                    let mut n = 0u64;
                    for l in rx {
                        if let Some(s) = parse(&l) {
                            tx.send(s).expect("aggregator is alive");
                            n += 1;
                        }
                    }
                    n
                })
            })
            .collect();
        drop((lines_rx, samples_tx));

        // A ticker asks for a report every 50 ms until the aggregator is gone.
        let ticker = fibra::spawn(move || {
            loop {
                fibra::sleep(Duration::from_millis(50));
                if control_tx.send(Control::Report).is_err() {
                    break;
                }
            }
        });

        // Aggregator: exactly one arm runs per round.
        let mut per_host: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        let mut idle_ticks = 0;
        loop {
            select! {
                recv(samples_rx) -> msg => match msg {
                    Ok(s) => {
                        let e = per_host.entry(s.host).or_default();
                        e.0 += 1;
                        e.1 += s.latency_us;
                    }
                    Err(_) => break, // every parser is done
                },
                recv(control_rx) -> cmd => {
                    if let Ok(Control::Report) = cmd {
                        let total: u64 = per_host.values().map(|e| e.0).sum();
                        println!("  report: {total} samples so far");
                    }
                },
                default(Duration::from_millis(30)) => {
                    idle_ticks += 1;
                    println!("  aggregator: nothing for 30 ms");
                },
            }
        }
        drop(control_rx);
        source.join().unwrap();
        let parsed: u64 = parsers.into_iter().map(|p| p.join().unwrap()).sum();
        ticker.join().unwrap();

        println!("parsed {parsed} lines; {idle_ticks} idle timeouts");
        for (host, (n, sum)) in &per_host {
            println!("  {host:8} {n:6} samples, mean latency {:4} µs", sum / n);
        }
        assert_eq!(per_host.values().map(|e| e.0).sum::<u64>(), parsed);
    });
}
