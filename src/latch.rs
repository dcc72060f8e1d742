//! A one-shot ready latch (Mutex + Condvar): components block on it until the
//! first configuration is loaded, as upstream blocks on `reloadReady`. A latch
//! can also be cancelled, which wakes every waiter with `false`, so a component
//! waiting for config still stops promptly on shutdown.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Waiting,
    Open,
    Cancelled,
}

/// Opens once; waiters wake when it opens or is cancelled.
#[derive(Debug)]
pub struct Latch {
    state: Mutex<State>,
    cond: Condvar,
}

impl Default for Latch {
    fn default() -> Self {
        Latch::new()
    }
}

impl Latch {
    pub fn new() -> Latch {
        Latch {
            state: Mutex::new(State::Waiting),
            cond: Condvar::new(),
        }
    }

    /// Opens the latch; later calls do nothing. Does not reopen a cancelled latch.
    pub fn open(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if *s == State::Waiting {
            *s = State::Open;
        }
        self.cond.notify_all();
    }

    /// Cancels the latch: waiters return `false`.
    pub fn cancel(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if *s == State::Waiting {
            *s = State::Cancelled;
        }
        self.cond.notify_all();
    }

    pub fn is_open(&self) -> bool {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) == State::Open
    }

    /// Blocks until the latch opens (`true`) or is cancelled (`false`).
    pub fn wait(&self) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while *s == State::Waiting {
            s = self.cond.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        *s == State::Open
    }

    /// Like `wait`, but gives up after `timeout` (returns `false`).
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (s, _) = self
            .cond
            .wait_timeout_while(s, timeout, |s| *s == State::Waiting)
            .unwrap_or_else(|e| e.into_inner());
        *s == State::Open
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn waiters_wake_on_open() {
        let l = Arc::new(Latch::new());
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || l.wait())
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));
        l.open();
        for h in hs {
            assert!(h.join().unwrap());
        }
        assert!(l.is_open());
    }

    #[test]
    fn cancel_wakes_with_false() {
        let l = Arc::new(Latch::new());
        let l2 = l.clone();
        let h = std::thread::spawn(move || l2.wait());
        l.cancel();
        assert!(!h.join().unwrap());
        l.open();
        assert!(!l.is_open());
    }

    #[test]
    fn timeout() {
        assert!(!Latch::new().wait_timeout(Duration::from_millis(10)));
    }
}
