//! How urgent the request being served is.
//!
//! A request that carries a valid known-device token for the account it acts on (a browser
//! that completed a sign-in to that account before) goes ahead of everyone else wherever
//! requests queue: for a hashing slot and, on SQLite, for the turn to write. Under a flood of
//! sign-ins for unknown emails those queues are full of the flood; without the priority a
//! returning user's sign-in would wait behind all of it at every step.
//!
//! The priority belongs to the request, not to one call: the web layer runs every request in
//! [`scope`], the service raises it the moment it has verified a known-device token
//! ([`raise`]), and the store reads it ([`current`]) when it queues for the write turn. Outside
//! a scope (background workers, tests calling the service directly) everything is `Normal`.

use std::cell::Cell;
use std::future::Future;

/// The queue a request waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Normal,
    /// The request carried a valid known-device token for the email it acts on.
    KnownDevice,
}

tokio::task_local! {
    static REQUEST: Cell<Priority>;
}

/// Runs one request, `Normal` until the service [`raise`]s it.
pub async fn scope<F: Future>(request: F) -> F::Output {
    REQUEST.scope(Cell::new(Priority::Normal), request).await
}

/// The current request's priority (`Normal` outside a [`scope`]).
pub fn current() -> Priority {
    REQUEST.try_with(Cell::get).unwrap_or(Priority::Normal)
}

/// Raises the current request to `priority` for the rest of its life. Outside a [`scope`] it
/// does nothing. Only the service decides this (when it has verified a known-device token);
/// it is public for the store's tests.
pub fn raise(priority: Priority) {
    let _ = REQUEST.try_with(|current| current.set(priority));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_starts_normal_and_keeps_what_it_was_raised_to() {
        assert_eq!(current(), Priority::Normal);
        let seen = scope(async {
            let before = current();
            raise(Priority::KnownDevice);
            tokio::task::yield_now().await;
            (before, current())
        })
        .await;
        assert_eq!(seen, (Priority::Normal, Priority::KnownDevice));
    }

    #[tokio::test]
    async fn requests_do_not_share_a_priority() {
        let raised = scope(async {
            raise(Priority::KnownDevice);
            current()
        });
        let other = scope(async {
            tokio::task::yield_now().await;
            current()
        });
        assert_eq!(
            tokio::join!(raised, other),
            (Priority::KnownDevice, Priority::Normal)
        );
        // Raising outside a scope changes nothing.
        raise(Priority::KnownDevice);
        assert_eq!(current(), Priority::Normal);
    }
}
