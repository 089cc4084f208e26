//! A oneshot channel with async-oneshot 0.5's API (README.md says why it replaces it):
//! one value from a [`Sender`] to a [`Receiver`], which is a future. Either side
//! dropping first closes the channel, and the other learns it as [`Closed`].
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// Makes a channel.
pub fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Mutex::new(State { value: None, closed: false, receiver_waiting: false, receiver: None, sender: None }));
    (Sender { shared: Arc::clone(&shared), done: false }, Receiver { shared, done: false })
}

/// The other side is gone.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Closed();

/// Why [`Receiver::try_recv`] has no value.
#[derive(Debug)]
pub enum TryRecvError<T> {
    /// Nothing sent yet: the receiver, to try again.
    Empty(Receiver<T>),
    /// The sender went without sending.
    Closed,
}

struct State<T> {
    value: Option<T>,
    /// One side went (the sender without sending, or the receiver).
    closed: bool,
    /// The receiver has been polled: what [`Sender::wait`] waits for.
    receiver_waiting: bool,
    /// Who to wake: the receiver's task when a value comes or the sender goes, the
    /// sender's (in `wait`) when the receiver waits or goes.
    receiver: Option<Waker>,
    sender: Option<Waker>,
}

fn lock<T>(shared: &Mutex<State<T>>) -> MutexGuard<'_, State<T>> {
    // Nothing here panics while holding the lock; should a waker's clone have, the
    // state is still whole.
    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Keeps `waker` in `slot`; returns the one it replaces (the leak this crate fixes was
/// not dropping it), for the caller to drop once the lock is released: a waker's drop
/// runs its executor's code, which must not meet the lock.
#[must_use]
fn keep(slot: &mut Option<Waker>, waker: &Waker) -> Option<Waker> {
    match slot {
        Some(kept) if kept.will_wake(waker) => None,
        _ => slot.replace(waker.clone()),
    }
}

/// The sending half.
pub struct Sender<T> {
    shared: Arc<Mutex<State<T>>>,
    done: bool,
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").field("done", &self.done).finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").field("done", &self.done).finish_non_exhaustive()
    }
}

impl<T> Sender<T> {
    /// Closes the channel (drops the sender).
    pub fn close(self) {}

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        lock(&self.shared).closed
    }

    /// Waits until the receiver waits for a value (its first poll); fails if it is
    /// gone.
    pub fn wait(self) -> impl Future<Output = Result<Self, Closed>> {
        let mut this = Some(self);
        std::future::poll_fn(move |cx| {
            let sender = this.as_mut().expect("polled after completion");
            let mut state = lock(&sender.shared);
            if state.closed {
                drop(state);
                this.take().unwrap().done = true;
                return Poll::Ready(Err(Closed()));
            }
            if state.receiver_waiting {
                drop(state);
                return Poll::Ready(Ok(this.take().unwrap()));
            }
            let replaced = keep(&mut state.sender, cx.waker());
            drop(state);
            drop(replaced);
            Poll::Pending
        })
    }

    /// Sends `value`: fails (and drops it) if the receiver is gone or one was sent.
    pub fn send(&mut self, value: T) -> Result<(), Closed> {
        if self.done {
            return Err(Closed());
        }
        self.done = true;
        let mut state = lock(&self.shared);
        if state.closed {
            return Err(Closed());
        }
        state.value = Some(value);
        let receiver = state.receiver.take();
        drop(state);
        if let Some(waker) = receiver {
            waker.wake();
        }
        Ok(())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut state = lock(&self.shared);
        state.closed = true;
        let own = state.sender.take();
        let receiver = state.receiver.take();
        drop(state);
        drop(own);
        if let Some(waker) = receiver {
            waker.wake();
        }
    }
}

/// The receiving half: a future of the value.
pub struct Receiver<T> {
    shared: Arc<Mutex<State<T>>>,
    done: bool,
}

impl<T> Receiver<T> {
    /// Closes the channel (drops the receiver).
    pub fn close(self) {}

    /// The value if it came; else the receiver back, or `Closed` if the sender went.
    pub fn try_recv(mut self) -> Result<T, TryRecvError<T>> {
        let mut state = lock(&self.shared);
        if let Some(value) = state.value.take() {
            drop(state);
            self.done = true;
            return Ok(value);
        }
        if state.closed {
            drop(state);
            self.done = true;
            return Err(TryRecvError::Closed);
        }
        drop(state);
        Err(TryRecvError::Empty(self))
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, Closed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = Pin::into_inner(self);
        let mut state = lock(&this.shared);
        if let Some(value) = state.value.take() {
            drop(state);
            this.done = true;
            return Poll::Ready(Ok(value));
        }
        if state.closed {
            drop(state);
            this.done = true;
            return Poll::Ready(Err(Closed()));
        }
        let replaced = keep(&mut state.receiver, cx.waker());
        state.receiver_waiting = true;
        let sender = state.sender.take();
        drop(state);
        drop(replaced);
        if let Some(waker) = sender {
            waker.wake();
        }
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut state = lock(&self.shared);
        state.closed = true;
        let own = state.receiver.take();
        // A value sent and never taken is dropped with the channel.
        let value = state.value.take();
        let sender = state.sender.take();
        drop(state);
        drop((own, value));
        if let Some(waker) = sender {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    /// A waker that counts its wakes; its `Arc`'s count is how many copies are alive.
    #[derive(Default)]
    struct Counting(AtomicUsize);

    impl Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
        Pin::new(future).poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn polling_a_pending_receiver_again_keeps_one_waker() {
        // mediasoup's request future is polled again on every wake-up of its task
        // while the worker's reply is pending: async-oneshot 0.5.9 leaked a waker (and
        // so its whole task) on each.
        let (mut tx, mut rx) = oneshot::<u32>();
        let counting = Arc::new(Counting::default());
        let waker = Waker::from(Arc::clone(&counting));
        for _ in 0..3 {
            assert!(poll(&mut rx, &waker).is_pending());
        }
        // A different task polls it (tokio moves futures between tasks' wakers).
        let other = Arc::new(Counting::default());
        assert!(poll(&mut rx, &Waker::from(Arc::clone(&other))).is_pending());
        assert_eq!(Arc::strong_count(&counting), 2, "the first task's waker is dropped when replaced");
        assert_eq!(Arc::strong_count(&other), 2);
        tx.send(7).unwrap();
        assert_eq!(other.0.load(Ordering::SeqCst), 1, "the last poller is woken");
        assert_eq!(counting.0.load(Ordering::SeqCst), 0);
        assert_eq!(poll(&mut rx, &waker), Poll::Ready(Ok(7)));
        drop((tx, rx));
        assert_eq!(Arc::strong_count(&counting), 2, "the test's own waker, and its Arc");
        assert_eq!(Arc::strong_count(&other), 1, "no waker is left behind");
    }

    #[test]
    fn either_side_going_closes_the_channel() {
        let counting = Arc::new(Counting::default());
        let waker = Waker::from(Arc::clone(&counting));
        // The sender goes without sending: the waiting receiver is woken, and closed.
        let (tx, mut rx) = oneshot::<u32>();
        assert!(poll(&mut rx, &waker).is_pending());
        drop(tx);
        assert_eq!(counting.0.load(Ordering::SeqCst), 1);
        assert_eq!(poll(&mut rx, &waker), Poll::Ready(Err(Closed())));
        // The receiver goes: sending fails, and the value is dropped.
        let (mut tx, rx) = oneshot::<Arc<()>>();
        drop(rx);
        assert!(tx.is_closed());
        let value = Arc::new(());
        assert_eq!(tx.send(Arc::clone(&value)), Err(Closed()));
        assert_eq!(Arc::strong_count(&value), 1);
        // A value sent and never received is dropped with the receiver.
        let (mut tx, rx) = oneshot::<Arc<()>>();
        tx.send(Arc::clone(&value)).unwrap();
        drop(rx);
        assert_eq!(Arc::strong_count(&value), 1);
        // Sending twice fails.
        let (mut tx, _rx) = oneshot::<u32>();
        tx.send(1).unwrap();
        assert_eq!(tx.send(2), Err(Closed()));
    }

    #[test]
    fn try_recv_and_wait() {
        let (mut tx, rx) = oneshot::<u32>();
        let rx = match rx.try_recv() {
            Err(TryRecvError::Empty(rx)) => rx,
            other => panic!("{other:?}"),
        };
        tx.send(3).unwrap();
        assert_eq!(rx.try_recv().unwrap(), 3);

        let counting = Arc::new(Counting::default());
        let waker = Waker::from(Arc::clone(&counting));
        let (tx, mut rx) = oneshot::<u32>();
        let mut waiting = Box::pin(tx.wait());
        assert!(waiting.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
        assert!(poll(&mut rx, &waker).is_pending());
        assert_eq!(counting.0.load(Ordering::SeqCst), 1, "the sender is woken when the receiver waits");
        let Poll::Ready(Ok(mut tx)) = waiting.as_mut().poll(&mut Context::from_waker(&waker)) else { panic!("wait did not end") };
        tx.send(5).unwrap();
        assert_eq!(poll(&mut rx, &waker), Poll::Ready(Ok(5)));
        // The receiver gone: wait fails.
        let (tx, rx) = oneshot::<u32>();
        drop(rx);
        assert!(matches!(poll(&mut Box::pin(tx.wait()), &waker), Poll::Ready(Err(Closed()))));
    }

    #[test]
    fn a_value_crosses_threads() {
        for _ in 0..200 {
            let (mut tx, rx) = oneshot::<u64>();
            let sender = std::thread::spawn(move || tx.send(42));
            let got = std::thread::spawn(move || block_on(rx)).join().unwrap();
            assert_eq!(sender.join().unwrap(), Ok(()));
            assert_eq!(got, Ok(42));
        }
    }

    /// Polls `future` on this thread until it is ready, parking between wakes.
    fn block_on<F: Future + Unpin>(mut future: F) -> F::Output {
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        loop {
            if let Poll::Ready(out) = poll(&mut future, &waker) {
                return out;
            }
            std::thread::park();
        }
    }
}
