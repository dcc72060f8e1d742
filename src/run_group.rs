//! A group of actors, the contract of `oklog/run`: every actor's `execute`
//! runs on its own named thread; when the first returns, every `interrupt` is
//! called with that result, all threads are joined, and the first result is
//! returned. Long-running components are actors; nothing outlives the group.

use std::fmt;
use std::thread;

use crossbeam_channel::unbounded;

/// The error an actor returns.
pub type ActorError = Box<dyn std::error::Error + Send + Sync>;

type Execute = Box<dyn FnOnce() -> Result<(), ActorError> + Send>;
type Interrupt = Box<dyn FnOnce(Option<&ActorError>) + Send>;

struct Actor {
    name: String,
    execute: Execute,
    interrupt: Interrupt,
}

/// Collects actors, then runs them until the first one stops.
#[derive(Default)]
pub struct RunGroup {
    actors: Vec<Actor>,
}

/// The first actor to stop, and why.
#[derive(Debug)]
pub struct GroupResult {
    pub actor: String,
    pub result: Result<(), ActorError>,
}

impl fmt::Display for GroupResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.result {
            Ok(()) => write!(f, "{} stopped", self.actor),
            Err(e) => write!(f, "{}: {}", self.actor, e),
        }
    }
}

impl RunGroup {
    pub fn new() -> RunGroup {
        RunGroup::default()
    }

    /// Adds an actor. `execute` must return soon after `interrupt` is called.
    pub fn add(
        &mut self,
        name: &str,
        execute: impl FnOnce() -> Result<(), ActorError> + Send + 'static,
        interrupt: impl FnOnce(Option<&ActorError>) + Send + 'static,
    ) {
        self.actors.push(Actor {
            name: name.to_string(),
            execute: Box::new(execute),
            interrupt: Box::new(interrupt),
        });
    }

    /// Runs every actor; returns when all have stopped, with the first one's result.
    /// With no actors, returns at once with `Ok`.
    pub fn run(self) -> GroupResult {
        if self.actors.is_empty() {
            return GroupResult {
                actor: String::new(),
                result: Ok(()),
            };
        }
        let (tx, rx) = unbounded::<(usize, Result<(), ActorError>)>();
        let mut interrupts = Vec::with_capacity(self.actors.len());
        let mut names = Vec::with_capacity(self.actors.len());
        let mut handles = Vec::with_capacity(self.actors.len());
        for (i, actor) in self.actors.into_iter().enumerate() {
            let thread_tx = tx.clone();
            let execute = actor.execute;
            let spawned = thread::Builder::new()
                .name(actor.name.clone())
                .spawn(move || {
                    let result =
                        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(execute)) {
                            Ok(r) => r,
                            Err(p) => Err(format!("actor panicked: {}", panic_message(&*p)).into()),
                        };
                    let _ = thread_tx.send((i, result));
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    let _ = tx.send((i, Err(format!("cannot start thread: {e}").into())));
                }
            }
            interrupts.push(actor.interrupt);
            names.push(actor.name);
        }
        drop(tx);
        let (first, result) = match rx.recv() {
            Ok(r) => r,
            Err(_) => (0, Err("all actors vanished".into())),
        };
        for interrupt in interrupts {
            interrupt(result.as_ref().err());
        }
        // Wait for every other actor to return before joining.
        for _ in rx.iter() {}
        for h in handles {
            let _ = h.join();
        }
        GroupResult {
            actor: names[first].clone(),
            result,
        }
    }
}

/// The message of a caught panic payload.
pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::bounded;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn empty_group_returns() {
        assert!(RunGroup::new().run().result.is_ok());
    }

    #[test]
    fn first_error_interrupts_all_and_joins() {
        let mut g = RunGroup::new();
        let stopped = Arc::new(AtomicUsize::new(0));
        for i in 0..3 {
            let (tx, rx) = bounded::<()>(1);
            let stopped = stopped.clone();
            g.add(
                &format!("waiter{i}"),
                move || {
                    let _ = rx.recv();
                    stopped.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                },
                move |_| {
                    let _ = tx.send(());
                },
            );
        }
        g.add("failer", || Err("boom".into()), |_| {});
        let r = g.run();
        assert_eq!(r.actor, "failer");
        assert_eq!(r.result.unwrap_err().to_string(), "boom");
        // Every waiter was interrupted and has returned before run() did.
        assert_eq!(stopped.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn interrupt_sees_the_error() {
        let mut g = RunGroup::new();
        let seen = Arc::new(std::sync::Mutex::new(String::new()));
        let seen2 = seen.clone();
        let (tx, rx) = bounded::<()>(1);
        g.add(
            "a",
            move || {
                let _ = rx.recv_timeout(Duration::from_secs(5));
                Ok(())
            },
            move |e| {
                *seen2.lock().unwrap() = e.map(|e| e.to_string()).unwrap_or_default();
                let _ = tx.send(());
            },
        );
        g.add("b", || Err("why".into()), |_| {});
        g.run();
        assert_eq!(*seen.lock().unwrap(), "why");
    }

    /// Any actor returning, even without an error, stops the group (upstream's
    /// `run.Group`), and `run` returns only after every actor has finished:
    /// each actor's closure owns a clone of `alive`, dropped when it returns.
    #[test]
    fn clean_return_stops_all_and_no_thread_is_left_behind() {
        let alive = Arc::new(());
        let mut g = RunGroup::new();
        for i in 0..4 {
            let (tx, rx) = bounded::<()>(1);
            let alive = alive.clone();
            g.add(
                &format!("waiter{i}"),
                move || {
                    let _keep = alive;
                    // Bounded so a broken run group fails the test, not hangs it.
                    rx.recv_timeout(Duration::from_secs(10))
                        .map_err(|_| "never interrupted".into())
                },
                move |_| {
                    let _ = tx.send(());
                },
            );
        }
        g.add("quitter", || Ok(()), |_| {});
        let r = g.run();
        assert_eq!(r.actor, "quitter");
        assert!(r.result.is_ok());
        assert_eq!(
            Arc::strong_count(&alive),
            1,
            "an actor thread outlived run()"
        );
    }

    #[test]
    fn panicking_actor_is_an_error() {
        let mut g = RunGroup::new();
        g.add("p", || panic!("oops"), |_| {});
        let r = g.run();
        let msg = r.result.unwrap_err().to_string();
        assert!(msg.contains("oops"), "{msg}");
    }
}
