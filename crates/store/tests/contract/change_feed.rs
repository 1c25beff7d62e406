//! The change feed: what the fast path's memory relies on to never outlive a change. This
//! process's commits are reported before the committing call returns; every process's
//! commits are followed, and a catch-up is reported only after every change committed before
//! it.

use super::sessions::start;
use super::*;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq)]
enum Event {
    Changed(AccountId),
    Everything,
    CaughtUp(Instant),
}

/// A sink that writes down what it is told, in order.
#[derive(Default)]
struct Recorder(Mutex<Vec<Event>>);

impl Recorder {
    fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap().clone()
    }

    fn changed(&self, account: &AccountId) -> usize {
        self.events()
            .iter()
            .filter(|e| **e == Event::Changed(account.clone()))
            .count()
    }

    /// Waits (boundedly: the follower gives no other signal) until a catch-up past
    /// `instant` is reported, and answers the events before it.
    async fn caught_up_past(&self, instant: Instant, name: &str) -> Vec<Event> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let events = self.events();
            if let Some(at) = events
                .iter()
                .position(|e| matches!(e, Event::CaughtUp(t) if *t > instant))
            {
                return events[..at].to_vec();
            }
            assert!(
                Instant::now() < deadline,
                "{name}: no catch-up within 5 s: {events:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl ChangeSink for Recorder {
    fn changed(&self, account: &AccountId) {
        self.0.lock().unwrap().push(Event::Changed(account.clone()));
    }
    fn everything_changed(&self) {
        self.0.lock().unwrap().push(Event::Everything);
    }
    fn caught_up(&self, instant: Instant) {
        self.0.lock().unwrap().push(Event::CaughtUp(instant));
    }
}

#[tokio::test]
async fn this_processs_commits_are_reported_before_the_call_returns_and_only_when_they_commit() {
    for Backend { name, store, .. } in backends().await {
        let id = active_account(&store, 61, "feed@example.com").await;
        let other = active_account(&store, 62, "other@example.com").await;
        let hash = live_session(&store, &id).await;
        let recorder = Arc::new(Recorder::default());
        store.report_commits(recorder.clone());

        store
            .revoke_session(&hash, T0, &audit(Some(&id), "sign_out"))
            .await
            .unwrap();
        assert_eq!(recorder.events(), [Event::Changed(id.clone())], "{name}");

        // A conditional change that did not take commits nothing and reports nothing.
        let ended = store
            .revoke_account_session(&other, "ses-none", T0, &audit(Some(&other), "sign_out"))
            .await
            .unwrap();
        assert!(ended.is_none(), "{name}");
        assert_eq!(recorder.changed(&other), 0, "{name}");

        // Revocations name the account themselves, whatever their audit record says.
        let other_hash = live_session(&store, &other).await;
        assert_eq!(recorder.changed(&other), 1, "{name}: the sign-in");
        assert!(
            store
                .revoke_session(&other_hash, T0, &audit(None, "sign_out"))
                .await
                .unwrap(),
            "{name}"
        );
        assert_eq!(recorder.changed(&other), 2, "{name}: sign out");
        live_session(&store, &other).await;
        store
            .revoke_every_session(&other, T0, &audit(None, "sign_out_everywhere"))
            .await
            .unwrap();
        assert_eq!(recorder.changed(&other), 4, "{name}: sign out everywhere");
    }
}

#[tokio::test]
async fn another_processs_commits_are_followed_and_caught_up_after_they_are_reported() {
    for backend in backends().await {
        let Backend {
            name, store, url, ..
        } = &backend;
        let id = active_account(store, 63, "followed@example.com").await;
        let hash = live_session(store, &id).await;
        let recorder = Arc::new(Recorder::default());
        let follower = {
            let (store, recorder) = (store.clone(), recorder.clone());
            tokio::spawn(async move { store.follow_changes(recorder).await })
        };
        let before = recorder.caught_up_past(Instant::now(), name).await;
        assert_eq!(
            before,
            [Event::Everything],
            "{name}: the first catch-up forgets anything kept before it"
        );

        // Another process (an operator's command, another instance) on the same database.
        let dir = std::env::temp_dir();
        let (other, _) = latchkey_store::open(
            Some(url),
            &dir,
            latchkey_test_support::fixtures::server_key().audit_chain_key(),
        )
        .await
        .unwrap();
        let own = Arc::new(Recorder::default());
        store.report_commits(own.clone());
        other
            .revoke_session(&hash, T0, &audit(Some(&id), "sign_out"))
            .await
            .unwrap();
        let committed = Instant::now();
        assert!(
            own.events().is_empty(),
            "{name}: another process's commit is not this process's"
        );
        let reported = recorder.caught_up_past(committed, name).await;
        assert!(
            reported.contains(&Event::Changed(id.clone())),
            "{name}: a catch-up past the commit came before the change was reported: {reported:?}"
        );
        assert!(
            recorder.changed(&id) <= 2,
            "{name}: the audit record and the revocation name the same account"
        );
        follower.abort();
    }
}

#[tokio::test]
async fn a_sign_in_that_replaces_another_accounts_session_reports_both_accounts() {
    for Backend { name, store, .. } in backends().await {
        let first = active_account(&store, 64, "first@example.com").await;
        let second = active_account(&store, 65, "second@example.com").await;
        let before = live_session(&store, &first).await;
        let recorder = Arc::new(Recorder::default());
        store.report_commits(recorder.clone());
        // The browser still holds the first account's cookie when the second signs in.
        let (_, mut new) = session(&second);
        new.replaces = Some(before.clone());
        start(&store, &new).await;
        assert!(
            stored_session(&store, &before)
                .await
                .unwrap()
                .revoked_at
                .is_some(),
            "{name}"
        );
        assert_eq!(
            recorder.changed(&first),
            1,
            "{name}: {:?}",
            recorder.events()
        );
        assert_eq!(recorder.changed(&second), 1, "{name}");
    }
}

#[tokio::test]
async fn an_sqlite_follower_that_finds_rows_it_never_read_gone_forgets_everything() {
    let backend = latchkey_test_support::sqlite_backend().await;
    let recorder = Arc::new(Recorder::default());
    let follower = {
        let (store, recorder) = (backend.store.clone(), recorder.clone());
        tokio::spawn(async move { store.follow_changes(recorder).await })
    };
    recorder.caught_up_past(Instant::now(), "sqlite").await;
    let id = active_account(&backend.store, 66, "pruned@example.com").await;
    recorder.caught_up_past(Instant::now(), "sqlite").await;
    let read = recorder.events().len();
    // Rows numbered after the last one read are gone before this follower read them (a
    // second server pruned them, or the file was restored from a copy).
    backend
        .execute_raw(
            "INSERT INTO account_changes (account_id) VALUES ('unread'); \
             DELETE FROM account_changes;",
        )
        .await;
    let after = recorder.caught_up_past(Instant::now(), "sqlite").await;
    assert!(
        after[read..].contains(&Event::Everything),
        "{:?}",
        &after[read..]
    );
    // And it goes on from there: the next change is reported.
    live_session(&backend.store, &id).await;
    let later = recorder.caught_up_past(Instant::now(), "sqlite").await;
    assert!(later[after.len()..].contains(&Event::Changed(id.clone())));
    follower.abort();
}
