//! The `/metrics` server's sockets: each one is listed in a table, so a forked child can close
//! its copies (the parent keeps serving; a child holding them would keep the port and the
//! parent's keep-alive connections open), and a connection's writes time out when the client
//! stops reading. Only Unix forks: elsewhere (Windows) the table stays empty.

use std::future::Future;
use std::io;
#[cfg(unix)]
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

#[cfg(not(unix))]
type RawFd = i32;

const FREE: RawFd = -1;

/// The socket's descriptor, for the table.
#[cfg(unix)]
fn descriptor(socket: &impl AsRawFd) -> Option<RawFd> {
    Some(socket.as_raw_fd())
}

/// No fork, so nothing to list.
#[cfg(not(unix))]
fn descriptor<T>(_: &T) -> Option<RawFd> {
    None
}

#[cfg(unix)]
fn close(fd: RawFd) {
    // SAFETY: a listed fd is open (see `Sockets`), and nothing else in the child uses or
    // closes it.
    unsafe { libc::close(fd) };
}

#[cfg(not(unix))]
fn close(_: RawFd) {}

/// The file descriptors of one server's open sockets. A slot names an fd only while that fd is
/// open in the server's process: it is filled after the socket opens and emptied before it closes.
pub struct Sockets(Box<[AtomicI32]>);

/// A socket's slot in the table, emptied when dropped.
pub struct Held {
    table: Arc<Sockets>,
    slot: Option<usize>,
}

impl Sockets {
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Sockets((0..capacity).map(|_| AtomicI32::new(FREE)).collect()))
    }

    /// Lists `fd`; a socket past the capacity (there is one slot per permitted connection, so
    /// none in practice) is served all the same, only not closed in a forked child.
    pub fn hold(self: &Arc<Self>, fd: Option<RawFd>) -> Held {
        let slot = fd.and_then(|fd| {
            self.0.iter().position(|s| {
                s.compare_exchange(FREE, fd, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            })
        });
        Held {
            table: self.clone(),
            slot,
        }
    }

    /// In a forked child (one thread, just after `fork()`): closes the copies of the parent's
    /// sockets. The child's runtime objects that own them are never dropped (their thread is the
    /// parent's), so no fd is closed twice.
    pub fn close_in_child(&self) {
        for slot in self.0.iter() {
            let fd = slot.swap(FREE, Ordering::AcqRel);
            if fd != FREE {
                close(fd);
            }
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            self.table.0[slot].store(FREE, Ordering::Release);
        }
    }
}

/// The listening socket, listed like the connections.
pub struct Listener {
    // Declared first, so dropped first: the slot is emptied before the socket closes.
    _held: Held,
    pub socket: TcpListener,
}

impl Listener {
    pub fn new(table: &Arc<Sockets>, socket: TcpListener) -> Self {
        Listener {
            _held: table.hold(descriptor(&socket)),
            socket,
        }
    }
}

/// A connection: reads as the stream does; a write that makes no progress for `write_timeout`
/// fails with `TimedOut`, which ends the connection.
pub struct Connection {
    // Declared first, so dropped first: the slot is emptied before the stream closes.
    _held: Held,
    stream: TcpStream,
    write_timeout: Duration,
    stall: Pin<Box<Sleep>>,
    stalled: bool,
}

impl Connection {
    pub fn new(table: &Arc<Sockets>, stream: TcpStream, write_timeout: Duration) -> Self {
        Connection {
            _held: table.hold(descriptor(&stream)),
            stream,
            write_timeout,
            stall: Box::pin(tokio::time::sleep(write_timeout)),
            stalled: false,
        }
    }

    /// A write that progressed resets the clock; one still blocked past the timeout fails.
    fn watch<T>(&mut self, cx: &mut Context<'_>, written: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if written.is_ready() {
            self.stalled = false;
            return written;
        }
        if !self.stalled {
            self.stalled = true;
            let deadline = Instant::now() + self.write_timeout;
            self.stall.as_mut().reset(deadline);
        }
        match self.stall.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not read the response",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Connection {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.watch(cx, written)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.watch(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
