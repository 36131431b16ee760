//! Files that suspend only the calling fiber: [`File`] and the whole-file helpers
//! [`read`], [`read_to_string`] and [`write()`], with std's API.
//!
//! How a call runs depends on where it is made:
//! - in a fiber on an io_uring worker: reads, writes, positional I/O and syncs are
//!   io_uring operations (the fiber parks, its worker runs others);
//! - in a fiber on an epoll worker: regular files cannot be polled, so each call runs on
//!   the blocking pool ([`spawn_blocking`](crate::spawn_blocking)), through a buffer of
//!   its own that is copied to or from the caller's;
//! - opening a file (a path lookup that may block) runs on the blocking pool from any
//!   fiber; `metadata` is a plain `fstat`;
//! - on a plain thread, and on targets other than Linux, every call is std's blocking
//!   call.
//!
//! ```
//! fibra::run(|| {
//!     let path = std::env::temp_dir().join(format!("fibra-doc-{}", std::process::id()));
//!     fibra::fs::write(&path, b"hello").unwrap();
//!     assert_eq!(fibra::fs::read_to_string(&path).unwrap(), "hello");
//!     std::fs::remove_file(&path).unwrap();
//! });
//! ```

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

/// How this call runs (see the module docs).
enum Way {
    /// std's blocking call, here.
    Direct,
    /// An io_uring operation.
    #[cfg_attr(not(all(target_os = "linux", not(loom))), allow(dead_code))]
    Uring,
    /// std's blocking call on the blocking pool.
    #[cfg_attr(not(all(target_os = "linux", not(loom))), allow(dead_code))]
    Pool,
}

fn way() -> Way {
    #[cfg(all(target_os = "linux", not(loom)))]
    match crate::io::linux::file_via_uring() {
        None => Way::Direct,
        Some(true) => Way::Uring,
        Some(false) => Way::Pool,
    }
    #[cfg(not(all(target_os = "linux", not(loom))))]
    Way::Direct
}

/// Whether this call should leave the worker for a blocking one (open, whole-file helpers).
fn in_fiber() -> bool {
    crate::runtime::fiber::in_fiber() && !crate::runtime::fiber::being_unwound()
}

/// Runs `f` on the blocking pool and waits for it (suspending only the calling fiber).
fn on_pool<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    match crate::spawn_blocking(f).join() {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("fibra: blocking file call lost: {e}"),
    }
}

/// Runs a blocking call `f` here, or on the blocking pool from a fiber.
fn blocking<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    if in_fiber() { on_pool(f) } else { f() }
}

/// An open file (see [`std::fs::File`]). [`Read`], [`Write`] and [`Seek`] are implemented
/// for `File` and `&File`.
#[derive(Debug)]
pub struct File {
    inner: Arc<std::fs::File>,
}

impl File {
    /// Opens `path` read-only.
    pub fn open<P: AsRef<Path>>(path: P) -> io::Result<File> {
        let path = path.as_ref().to_owned();
        blocking(move || std::fs::File::open(path)).map(File::from_std)
    }

    /// Creates (or truncates) `path`, write-only.
    pub fn create<P: AsRef<Path>>(path: P) -> io::Result<File> {
        let path = path.as_ref().to_owned();
        blocking(move || std::fs::File::create(path)).map(File::from_std)
    }

    /// Opens `path` with `options`.
    pub fn open_with<P: AsRef<Path>>(path: P, options: &std::fs::OpenOptions) -> io::Result<File> {
        let path = path.as_ref().to_owned();
        let options = options.clone();
        blocking(move || options.open(path)).map(File::from_std)
    }

    /// Wraps a std file.
    pub fn from_std(file: std::fs::File) -> File {
        File {
            inner: Arc::new(file),
        }
    }

    /// The std file.
    pub fn into_std(self) -> io::Result<std::fs::File> {
        match Arc::try_unwrap(self.inner) {
            Ok(f) => Ok(f),
            // A blocking-pool call of an unwound fiber still holds it.
            Err(shared) => shared.try_clone(),
        }
    }

    /// Reads at `offset` without moving the file position (on Windows std's
    /// `seek_read`, which moves it).
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        match way() {
            Way::Direct => read_at(&self.inner, buf, offset),
            #[cfg(all(target_os = "linux", not(loom)))]
            Way::Uring => crate::io::linux::uring_file_read(fd(&self.inner), buf, Some(offset)),
            _ => self.pool_read(buf, move |f, b| read_at(f, b, offset)),
        }
    }

    /// Writes at `offset` without moving the file position (on Windows std's
    /// `seek_write`, which moves it).
    pub fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        match way() {
            Way::Direct => write_at(&self.inner, buf, offset),
            #[cfg(all(target_os = "linux", not(loom)))]
            Way::Uring => crate::io::linux::uring_file_write(fd(&self.inner), buf, Some(offset)),
            _ => self.pool_write(buf, move |f, b| write_at(f, b, offset)),
        }
    }

    /// Flushes data and metadata to the device.
    pub fn sync_all(&self) -> io::Result<()> {
        match way() {
            Way::Direct => self.inner.sync_all(),
            #[cfg(all(target_os = "linux", not(loom)))]
            Way::Uring => crate::io::linux::uring_fsync(fd(&self.inner), false),
            _ => {
                let f = self.inner.clone();
                on_pool(move || f.sync_all())
            }
        }
    }

    /// Flushes data (and the metadata needed to read it back) to the device.
    pub fn sync_data(&self) -> io::Result<()> {
        match way() {
            Way::Direct => self.inner.sync_data(),
            #[cfg(all(target_os = "linux", not(loom)))]
            Way::Uring => crate::io::linux::uring_fsync(fd(&self.inner), true),
            _ => {
                let f = self.inner.clone();
                on_pool(move || f.sync_data())
            }
        }
    }

    /// The file's metadata (`fstat`).
    pub fn metadata(&self) -> io::Result<std::fs::Metadata> {
        self.inner.metadata()
    }

    /// Truncates or extends the file to `size` bytes.
    pub fn set_len(&self, size: u64) -> io::Result<()> {
        let f = self.inner.clone();
        blocking(move || f.set_len(size))
    }

    /// Another handle to the same open file (sharing its position).
    pub fn try_clone(&self) -> io::Result<File> {
        Ok(File::from_std(self.inner.try_clone()?))
    }

    fn read_here(&self, buf: &mut [u8]) -> io::Result<usize> {
        match way() {
            Way::Direct => (&*self.inner).read(buf),
            #[cfg(all(target_os = "linux", not(loom)))]
            Way::Uring => crate::io::linux::uring_file_read(fd(&self.inner), buf, None),
            _ => self.pool_read(buf, |mut f, b| f.read(b)),
        }
    }

    fn write_here(&self, buf: &[u8]) -> io::Result<usize> {
        match way() {
            Way::Direct => (&*self.inner).write(buf),
            #[cfg(all(target_os = "linux", not(loom)))]
            Way::Uring => crate::io::linux::uring_file_write(fd(&self.inner), buf, None),
            _ => self.pool_write(buf, |mut f, b| f.write(b)),
        }
    }

    /// Reads on the blocking pool into a buffer of its own, then copies.
    fn pool_read(
        &self,
        buf: &mut [u8],
        op: impl FnOnce(&std::fs::File, &mut [u8]) -> io::Result<usize> + Send + 'static,
    ) -> io::Result<usize> {
        let f = self.inner.clone();
        let len = buf.len().min(POOL_CHUNK);
        let (r, data) = on_pool(move || {
            let mut data = vec![0; len];
            let r = op(&f, &mut data);
            (r, data)
        });
        let n = r?;
        buf[..n].copy_from_slice(&data[..n]);
        Ok(n)
    }

    /// Copies, then writes on the blocking pool.
    fn pool_write(
        &self,
        buf: &[u8],
        op: impl FnOnce(&std::fs::File, &[u8]) -> io::Result<usize> + Send + 'static,
    ) -> io::Result<usize> {
        let f = self.inner.clone();
        let data = buf[..buf.len().min(POOL_CHUNK)].to_vec();
        on_pool(move || op(&f, &data))
    }
}

/// Most bytes one blocking-pool read or write moves (a short read or write, as std
/// allows, for larger buffers).
const POOL_CHUNK: usize = 1 << 20;

#[cfg(all(target_os = "linux", not(loom)))]
fn fd(f: &std::fs::File) -> std::os::fd::RawFd {
    std::os::fd::AsRawFd::as_raw_fd(f)
}

#[cfg(unix)]
fn read_at(f: &std::fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(f, buf, offset)
}

#[cfg(unix)]
fn write_at(f: &std::fs::File, buf: &[u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::write_at(f, buf, offset)
}

#[cfg(windows)]
fn read_at(f: &std::fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(f, buf, offset)
}

#[cfg(windows)]
fn write_at(f: &std::fs::File, buf: &[u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_write(f, buf, offset)
}

impl Read for File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_here(buf)
    }
}

impl Read for &File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_here(buf)
    }
}

impl Write for File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_here(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_here(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&*self.inner).seek(pos)
    }
}

impl Seek for &File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&*self.inner).seek(pos)
    }
}

#[cfg(unix)]
impl std::os::fd::AsRawFd for File {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.inner.as_raw_fd()
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for File {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

/// Reads the whole file at `path`.
pub fn read<P: AsRef<Path>>(path: P) -> io::Result<Vec<u8>> {
    let path = path.as_ref().to_owned();
    blocking(move || std::fs::read(path))
}

/// Reads the whole file at `path` as UTF-8.
pub fn read_to_string<P: AsRef<Path>>(path: P) -> io::Result<String> {
    let path = path.as_ref().to_owned();
    blocking(move || std::fs::read_to_string(path))
}

/// Creates (or truncates) the file at `path` and writes `contents` to it.
pub fn write<P: AsRef<Path>, C: AsRef<[u8]>>(path: P, contents: C) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    let contents = contents.as_ref().to_vec();
    blocking(move || std::fs::write(path, contents))
}
