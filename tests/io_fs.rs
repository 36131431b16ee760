//! Files through `fibra::fs`, in fibers (io_uring, or the blocking pool on epoll) and on
//! plain threads.

mod common;

use common::bounded;
use fibra::Runtime;
use fibra::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("fibra-io-fs-{name}-{}", std::process::id()))
}

fn exercise(path: &std::path::Path) {
    // Whole-file helpers.
    fs::write(path, b"hello, file").unwrap();
    assert_eq!(fs::read(path).unwrap(), b"hello, file");
    assert_eq!(fs::read_to_string(path).unwrap(), "hello, file");

    // Sequential writes and reads, positional ones, sync, metadata.
    let mut f = File::create(path).unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    f.write_all(&data).unwrap();
    f.sync_all().unwrap();
    f.sync_data().unwrap();
    assert_eq!(f.metadata().unwrap().len(), data.len() as u64);
    drop(f);

    let mut f = File::open(path).unwrap();
    let mut back = Vec::new();
    f.read_to_end(&mut back).unwrap();
    assert!(back == data);
    let mut at = [0u8; 10];
    assert_eq!(f.read_at(&mut at, 1000).unwrap(), 10);
    assert_eq!(&at[..], &data[1000..1010]);
    // read_at leaves the position alone (at the end).
    assert_eq!(f.read(&mut at).unwrap(), 0);
    f.seek(SeekFrom::Start(5)).unwrap();
    let mut five = [0u8; 5];
    f.read_exact(&mut five).unwrap();
    assert_eq!(&five[..], &data[5..10]);

    let mut opts = std::fs::OpenOptions::new();
    opts.read(true).write(true);
    let f = File::open_with(path, &opts).unwrap();
    assert_eq!(f.write_at(b"XYZ", 100).unwrap(), 3);
    let mut b = [0u8; 3];
    f.read_at(&mut b, 100).unwrap();
    assert_eq!(&b, b"XYZ");
    f.set_len(200).unwrap();
    assert_eq!(f.metadata().unwrap().len(), 200);
    drop(f);
    let missing = File::open(temp("does-not-exist")).unwrap_err();
    assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    std::fs::remove_file(path).unwrap();
}

#[test]
fn files_from_fibers() {
    bounded(60, || {
        let rt = Runtime::builder().workers(2).build().unwrap();
        let handles: Vec<_> = (0..4)
            .map(|i| rt.spawn(move || exercise(&temp(&format!("fiber{i}")))))
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
}

#[test]
fn files_from_threads() {
    bounded(60, || exercise(&temp("thread")));
}
