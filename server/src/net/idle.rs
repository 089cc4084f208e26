//! Connection deadlines, measured on the connection itself: an IO wrapper notes when
//! bytes move and when a request head starts arriving, and the service notes when a
//! request is in flight, so the accept loop can tell apart:
//! - a request head that is taking too long (slowloris), or a new connection that sends
//!   nothing: closed after the head deadline;
//! - a keep-alive connection idle between requests: closed after the idle deadline;
//! - a request in flight (a long download, a slow upload): closed only when no byte has
//!   moved either way for the idle deadline.
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const NONE: u64 = u64::MAX;

#[derive(Default)]
struct Marks {
    /// Milliseconds since the connection's start, at the last byte either way.
    last_io: AtomicU64,
    /// When the current request head began to arrive (`NONE`: not arriving).
    head_started: AtomicU64,
    /// When the connection last became idle: accepted, or a response finished.
    idle_since: AtomicU64,
    in_flight: AtomicUsize,
    requests: AtomicUsize,
}

/// One connection's activity, shared by its IO wrapper, its service and its watchdog.
#[derive(Clone)]
pub struct Activity {
    origin: Instant,
    marks: Arc<Marks>,
}

/// What the watchdog should do.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    KeepOpen,
    /// A request head (or a new connection's first one) did not arrive in time.
    HeadTooSlow,
    Idle,
}

impl Activity {
    pub fn new() -> Self {
        let marks = Marks { head_started: AtomicU64::new(NONE), ..Marks::default() };
        Self { origin: Instant::now(), marks: Arc::new(marks) }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn read(&self) {
        let now = self.now_ms();
        self.marks.last_io.store(now, Ordering::Relaxed);
        if self.marks.in_flight.load(Ordering::Acquire) == 0 {
            let _ = self.marks.head_started.compare_exchange(NONE, now, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    fn wrote(&self) {
        self.marks.last_io.store(self.now_ms(), Ordering::Relaxed);
    }

    /// A request's head was read whole: it is in flight until the guard drops (when its
    /// response body has been sent, or abandoned).
    pub fn request_started(&self) -> InFlight {
        self.marks.in_flight.fetch_add(1, Ordering::AcqRel);
        self.marks.requests.fetch_add(1, Ordering::Relaxed);
        self.marks.head_started.store(NONE, Ordering::Release);
        InFlight(self.clone())
    }

    pub fn verdict(&self, head: Duration, idle: Duration) -> Verdict {
        let now = self.now_ms();
        let (head, idle) = (head.as_millis() as u64, idle.as_millis() as u64);
        let m = &self.marks;
        if m.in_flight.load(Ordering::Acquire) > 0 {
            return if now.saturating_sub(m.last_io.load(Ordering::Relaxed)) >= idle { Verdict::Idle } else { Verdict::KeepOpen };
        }
        let started = m.head_started.load(Ordering::Acquire);
        if started != NONE {
            return if now.saturating_sub(started) >= head { Verdict::HeadTooSlow } else { Verdict::KeepOpen };
        }
        let quiet = now.saturating_sub(m.idle_since.load(Ordering::Relaxed));
        match m.requests.load(Ordering::Relaxed) {
            // A new connection owes its first request head within the head deadline.
            0 if quiet >= head => Verdict::HeadTooSlow,
            0 => Verdict::KeepOpen,
            _ if quiet >= idle => Verdict::Idle,
            _ => Verdict::KeepOpen,
        }
    }
}

impl Default for Activity {
    fn default() -> Self {
        Self::new()
    }
}

/// Held while a request is in flight.
pub struct InFlight(Activity);

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        a.marks.idle_since.store(a.now_ms(), Ordering::Relaxed);
        a.marks.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

pub struct Tracked<T> {
    inner: T,
    activity: Activity,
}

impl<T> Tracked<T> {
    pub fn new(inner: T, activity: Activity) -> Self {
        Self { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        poll
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A response body that keeps its request in flight until it is sent (or dropped).
pub struct GuardedBody {
    pub inner: axum::body::Body,
    pub _in_flight: InFlight,
}

impl axum::body::HttpBody for GuardedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: Duration = Duration::from_millis(40);
    const IDLE: Duration = Duration::from_millis(120);

    #[test]
    fn deadlines_depend_on_what_the_connection_is_doing() {
        // A new connection that sends nothing owes its head.
        let a = Activity::new();
        assert_eq!(a.verdict(HEAD, IDLE), Verdict::KeepOpen);
        std::thread::sleep(HEAD);
        assert_eq!(a.verdict(HEAD, IDLE), Verdict::HeadTooSlow);

        // A request in flight is only held to the idle deadline.
        let b = Activity::new();
        b.read();
        let in_flight = b.request_started();
        std::thread::sleep(HEAD * 2);
        assert_eq!(b.verdict(HEAD, IDLE), Verdict::KeepOpen);
        drop(in_flight);
        // Between requests, keep-alive: the idle deadline.
        std::thread::sleep(HEAD * 2);
        assert_eq!(b.verdict(HEAD, IDLE), Verdict::KeepOpen);
        std::thread::sleep(IDLE);
        assert_eq!(b.verdict(HEAD, IDLE), Verdict::Idle);

        // A head that starts arriving between requests is held to the head deadline.
        let c = Activity::new();
        c.read();
        drop(c.request_started());
        c.read();
        std::thread::sleep(HEAD);
        assert_eq!(c.verdict(HEAD, IDLE), Verdict::HeadTooSlow);
    }
}
