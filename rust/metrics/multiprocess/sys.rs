//! The system calls the multiprocess mode needs: `flock` (a directory lock for folding, and each
//! process's lock on its own file, which the kernel releases when the process dies, however it
//! dies), `posix_fallocate` (a file grows only into space that exists, so a full disk is an
//! error here rather than a SIGBUS on an increment) and `mmap`. Unix only; elsewhere every call
//! fails with a clear error.

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
    pub fn allocate(file: &File, offset: u64, len: u64) -> io::Result<()> {
        // SAFETY: the descriptor is open; posix_fallocate returns the error instead of errno.
        let result = unsafe { libc::posix_fallocate(file.as_raw_fd(), offset as libc::off_t, len as libc::off_t) };
        if result == 0 {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(result))
        }
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

    fn unsupported<T>() -> io::Result<T> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the multiprocess mode needs a Unix system (flock, mmap)",
        ))
    }

    pub fn lock_dir(_: &Path, _: bool, _: bool) -> io::Result<Option<Lock>> {
        unsupported()
    }

    pub fn try_lock(_: &File) -> io::Result<bool> {
        unsupported()
    }

    pub fn allocate(_: &File, _: u64, _: u64) -> io::Result<()> {
        unsupported()
    }

    pub fn map(_: &File, _: u64, _: usize, _: bool) -> io::Result<Mapping> {
        unsupported()
    }

    impl Mapping {
        pub fn unmap(self) {}
        pub fn detach(self) {}
    }
}

#[cfg(not(unix))]
pub use other::{allocate, lock_dir, map, try_lock};

/// The platform supports the mode (checked when it is turned on).
pub fn supported() -> io::Result<()> {
    if cfg!(unix) {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the multiprocess mode needs a Unix system (flock, mmap)",
        ))
    }
}
