//! What the current piece of work is for: a cancellation token (a deadline, or a flag set when
//! the client goes away) and, for the access audit, the request it serves.
//!
//! Whoever starts work — a server request, a job, a CLI command — runs it inside [`run_in`] on
//! the thread that does it; long loops deep in the engine (overlays, unions, tile rendering, the
//! importers' readers, SQLite reads of uploaded files) call [`checkpoint`], which fails with
//! [`Error::Cancelled`](crate::Error::Cancelled) once the token is cancelled. Work handed to
//! other threads (rayon, reader threads) takes the context along with [`current`] and
//! [`run_in_opt`]. Without a context nothing is ever cancelled (tests, the CLI).
//!
//! A thread-local rather than a parameter: the checkpoints sit in a dozen loops several calls
//! below the request, and the work between the request and those loops does not care.
use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::error::{Error, Result};

#[derive(Debug)]
struct CancelInner {
    cancelled: AtomicBool,
    deadline: Option<Instant>,
    /// Why a cancelled flag was set ("the client went away"...), for the error.
    reason: std::sync::Mutex<Option<String>>,
}

/// A cancellation token: cancelled when [`Cancel::cancel`] is called or its deadline passes.
/// Clones share one state.
#[derive(Debug, Clone)]
pub struct Cancel {
    inner: Arc<CancelInner>,
}

/// Cancels a token when dropped, with a reason: work tied to a request stops when the request's
/// future is dropped (its client went away).
#[derive(Debug)]
pub struct CancelOnDrop(pub Cancel, pub &'static str);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel(self.1);
    }
}

impl Cancel {
    /// A token with an optional deadline.
    pub fn new(deadline: Option<Instant>) -> Cancel {
        Cancel {
            inner: Arc::new(CancelInner {
                cancelled: AtomicBool::new(false),
                deadline,
                reason: std::sync::Mutex::new(None),
            }),
        }
    }

    /// A token that is cancelled only by [`Cancel::cancel`].
    pub fn never() -> Cancel {
        Cancel::new(None)
    }

    /// Cancel now, saying why.
    pub fn cancel(&self, reason: &str) {
        if let Ok(mut r) = self.inner.reason.lock()
            && r.is_none()
        {
            *r = Some(reason.to_string());
        }
        self.inner.cancelled.store(true, Ordering::Release);
    }

    /// True once cancelled or past the deadline.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::Acquire)
            || self.inner.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// `Err(Error::Cancelled)` once cancelled or past the deadline.
    pub fn check(&self) -> Result<()> {
        if self.inner.cancelled.load(Ordering::Acquire) {
            let reason = self
                .inner
                .reason
                .lock()
                .ok()
                .and_then(|r| r.clone())
                .unwrap_or_else(|| "cancelled".into());
            return Err(Error::Cancelled(reason));
        }
        if self.inner.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Error::Cancelled("the time limit passed".into()));
        }
        Ok(())
    }

    /// The deadline, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.inner.deadline
    }
}

/// The context of one piece of work.
#[derive(Debug, Clone)]
pub struct WorkContext {
    /// Stops the work.
    pub cancel: Cancel,
    /// The request it serves (`GET /collections/{id}/items`), for audit records.
    pub route: Option<String>,
    /// The request's query string or a summary of its body, for audit records.
    pub query: Option<String>,
}

impl WorkContext {
    /// A context with a token and nothing else.
    pub fn with_cancel(cancel: Cancel) -> WorkContext {
        WorkContext {
            cancel,
            route: None,
            query: None,
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<WorkContext>>> = const { RefCell::new(None) };
}

/// Restores the previous context when dropped (also on a panic).
struct Restore(Option<Arc<WorkContext>>);

impl Drop for Restore {
    fn drop(&mut self) {
        let prev = self.0.take();
        CURRENT.with(|c| *c.borrow_mut() = prev);
    }
}

/// Run `f` with `ctx` as the thread's context.
pub fn run_in<T>(ctx: Arc<WorkContext>, f: impl FnOnce() -> T) -> T {
    run_in_opt(Some(ctx), f)
}

/// Run `f` with `ctx` (or none) as the thread's context: for work handed to another thread.
pub fn run_in_opt<T>(ctx: Option<Arc<WorkContext>>, f: impl FnOnce() -> T) -> T {
    let prev = CURRENT.with(|c| std::mem::replace(&mut *c.borrow_mut(), ctx));
    let _restore = Restore(prev);
    f()
}

/// The thread's context.
pub fn current() -> Option<Arc<WorkContext>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// `Err(Error::Cancelled)` when the thread's work has been cancelled; `Ok` without a context.
pub fn checkpoint() -> Result<()> {
    CURRENT.with(|c| match &*c.borrow() {
        Some(ctx) => ctx.cancel.check(),
        None => Ok(()),
    })
}

/// True when the thread's work has been cancelled.
pub fn cancelled() -> bool {
    CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .is_some_and(|ctx| ctx.cancel.is_cancelled())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn checkpoints_fail_once_cancelled_and_only_inside_the_context() {
        assert!(checkpoint().is_ok());
        let token = Cancel::never();
        let ctx = Arc::new(WorkContext::with_cancel(token.clone()));
        run_in(ctx.clone(), || {
            assert!(checkpoint().is_ok());
            token.cancel("the client went away");
            match checkpoint() {
                Err(Error::Cancelled(why)) => assert_eq!(why, "the client went away"),
                other => panic!("{other:?}"),
            }
            // Another thread given the context sees it too.
            let handed = current();
            let seen = std::thread::spawn(move || run_in_opt(handed, cancelled))
                .join()
                .unwrap();
            assert!(seen);
        });
        // Outside, the thread's previous (empty) context is back.
        assert!(checkpoint().is_ok());
        assert!(current().is_none());
    }

    #[test]
    fn deadlines_cancel() {
        let token = Cancel::new(Some(Instant::now() + Duration::from_millis(20)));
        assert!(token.check().is_ok());
        std::thread::sleep(Duration::from_millis(30));
        assert!(matches!(token.check(), Err(Error::Cancelled(_))));
    }

    #[test]
    fn a_panic_inside_restores_the_previous_context() {
        let outer = Arc::new(WorkContext::with_cancel(Cancel::never()));
        run_in(outer, || {
            let inner = Arc::new(WorkContext::with_cancel(Cancel::never()));
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run_in(inner, || panic!("boom"))
            }));
            assert!(r.is_err());
            assert!(current().is_some_and(|c| c.route.is_none()));
        });
    }
}
