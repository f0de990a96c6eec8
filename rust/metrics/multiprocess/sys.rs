//! The system calls the multiprocess mode needs: `flock` (a directory lock for folding, and each
//! process's lock on its own file, which the kernel releases when the process dies, however it
//! dies), `posix_fallocate` (a file grows only into space that exists, so a full disk is an
//! error here rather than a SIGBUS on an increment; `F_PREALLOCATE` on macOS) and `mmap`. Unix
//! only; elsewhere (Windows) every call fails with an error naming the platform.

use std::fs::File;
use std::io;
use std::path::Path;
use std::ptr::NonNull;

use parking_lot::{RwLock, RwLockReadGuard};

/// Held (shared) by every directory lock of this process, and exclusively across `fork()`: a
/// child never inherits a directory lock held by another thread, which its copy of the
/// descriptor would keep held for ever.
pub static FORK_GUARD: RwLock<()> = RwLock::new(());

/// A held `flock`, released when dropped (the file is closed).
#[allow(dead_code)]
pub struct Lock(File, RwLockReadGuard<'static, ()>);

/// A mapping of part of a file.
pub struct Mapping {
    pub ptr: NonNull<u8>,
    // Read by the Unix `unmap` and `detach`; elsewhere no mapping is ever made.
    #[cfg_attr(not(unix), allow(dead_code))]
    pub len: usize,
}

// SAFETY: a mapping is plain memory; who may touch it is the owner's business.
unsafe impl Send for Mapping {}

#[cfg(unix)]
mod unix {
    use super::*;
    use std::os::fd::AsRawFd;

    fn check(result: libc::c_int) -> io::Result<()> {
        if result == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn flock(file: &File, op: libc::c_int) -> io::Result<bool> {
        loop {
            // SAFETY: flock only reads the descriptor, which `file` keeps open.
            match check(unsafe { libc::flock(file.as_raw_fd(), op) }) {
                Ok(()) => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Locks a directory, shared or exclusive; `None` when `wait` is false and it is taken.
    pub fn lock_dir(dir: &Path, exclusive: bool, wait: bool) -> io::Result<Option<Lock>> {
        let guard = FORK_GUARD.read();
        let file = File::open(dir)?;
        let mut op = if exclusive { libc::LOCK_EX } else { libc::LOCK_SH };
        if !wait {
            op |= libc::LOCK_NB;
        }
        Ok(flock(&file, op)?.then_some(Lock(file, guard)))
    }

    /// Takes `file`'s exclusive lock if nobody holds it: true means its owner has died.
    pub fn try_lock(file: &File) -> io::Result<bool> {
        flock(file, libc::LOCK_EX | libc::LOCK_NB)
    }

    /// Makes `len` bytes from `offset` exist on disk (growing the file).
    #[cfg(not(target_vendor = "apple"))]
    pub fn allocate(file: &File, offset: u64, len: u64) -> io::Result<()> {
        // SAFETY: the descriptor is open; posix_fallocate returns the error instead of errno.
        let result = unsafe { libc::posix_fallocate(file.as_raw_fd(), offset as libc::off_t, len as libc::off_t) };
        if result == 0 {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(result))
        }
    }

    /// Makes `len` bytes from `offset` exist on disk (growing the file). macOS has no
    /// `posix_fallocate`: `F_PREALLOCATE` reserves the blocks past the end of the file (a full
    /// disk fails here), then the file takes its new size. A file system that cannot preallocate
    /// only gets the new size, as with a plain `ftruncate`.
    #[cfg(target_vendor = "apple")]
    pub fn allocate(file: &File, offset: u64, len: u64) -> io::Result<()> {
        let end = offset + len;
        let size = file.metadata()?.len();
        if end <= size {
            return Ok(());
        }
        let mut store = libc::fstore_t {
            fst_flags: libc::F_ALLOCATEALL,
            fst_posmode: libc::F_PEOFPOSMODE,
            fst_offset: 0,
            fst_length: (end - size) as libc::off_t,
            fst_bytesalloc: 0,
        };
        // SAFETY: fcntl(F_PREALLOCATE) reads and writes only the struct it is given.
        if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_PREALLOCATE, &mut store) } == -1 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ENOTSUP) {
                return Err(e);
            }
        }
        file.set_len(end)
    }

    /// Maps `len` bytes of `file` from `offset` (a multiple of the page size), shared.
    pub fn map(file: &File, offset: u64, len: usize, writable: bool) -> io::Result<Mapping> {
        let prot = if writable {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        // SAFETY: a fresh mapping chosen by the kernel; nothing else is touched.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        NonNull::new(ptr.cast::<u8>())
            .map(|ptr| Mapping { ptr, len })
            .ok_or_else(|| io::Error::other("mmap returned null"))
    }

    impl Mapping {
        /// Unmaps; only for a mapping nothing points into.
        pub fn unmap(self) {
            // SAFETY: this mapping was made by `map` with this length and is not used after.
            unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
        }

        /// Puts private zeroed memory where the mapping was: whatever still points there keeps
        /// working but no longer writes to the file (a forked child's view of its parent's).
        pub fn detach(self) {
            // SAFETY: MAP_FIXED over exactly this mapping's range, which this process owns.
            unsafe {
                libc::mmap(
                    self.ptr.as_ptr().cast(),
                    self.len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
        }
    }
}

#[cfg(unix)]
pub use unix::{allocate, lock_dir, map, try_lock};

#[cfg(not(unix))]
mod other {
    use super::*;

    pub fn lock_dir(_: &Path, _: bool, _: bool) -> io::Result<Option<Lock>> {
        Err(unsupported())
    }

    pub fn try_lock(_: &File) -> io::Result<bool> {
        Err(unsupported())
    }

    pub fn allocate(_: &File, _: u64, _: u64) -> io::Result<()> {
        Err(unsupported())
    }

    pub fn map(_: &File, _: u64, _: usize, _: bool) -> io::Result<Mapping> {
        Err(unsupported())
    }

    impl Mapping {
        pub fn unmap(self) {}
        pub fn detach(self) {}
    }
}

#[cfg(not(unix))]
pub use other::{allocate, lock_dir, map, try_lock};

/// Whether this platform has what the mode needs: `flock` and shared `mmap`, so Unix.
pub const SUPPORTED: bool = cfg!(unix);

/// The error every call gives where the mode is not supported.
pub fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!(
            "the multiprocess mode is not available on {}: it needs a Unix system (flock, mmap)",
            std::env::consts::OS
        ),
    )
}

/// The platform supports the mode (checked when it is turned on).
pub fn supported() -> io::Result<()> {
    if SUPPORTED {
        Ok(())
    } else {
        Err(unsupported())
    }
}
