//! What the cache keeps and when it lets go, as tables of events.

use super::*;
use crate::store::SessionRecord;
use latchkey_domain::EmailAddress;
use latchkey_domain::session::SessionKind;

type Cache = SessionCache<&'static str>;

fn account(n: u8) -> AccountId {
    AccountId::parse(&format!("{:012}", 100_000_000_000u64 + u64::from(n))).unwrap()
}

fn record(token: &str, owner: u8) -> SessionIdentityRecord {
    SessionIdentityRecord {
        session: SessionRecord {
            token_hash: TokenHash(token.to_owned()),
            account_id: account(owner),
            kind: SessionKind::Full,
            created_at: Timestamp(1_000),
            last_seen_at: Timestamp(1_000),
            expires_at: Timestamp(50_000),
            revoked_at: None,
            mfa_device_id: None,
        },
        email: EmailAddress::parse("owner@example.com").unwrap(),
        name: "Owner".to_owned(),
        email_verified: true,
        device_kind: None,
    }
}

fn token(hash: &str, owner: u8) -> OidcToken {
    OidcToken {
        token_hash: TokenHash(hash.to_owned()),
        kind: crate::store::OidcTokenKind::Access,
        client_id: "app".to_owned(),
        account_id: account(owner),
        session_hash: TokenHash(format!("session-of-{hash}")),
        family: "family".to_owned(),
        scope: "openid".to_owned(),
        created_at: Timestamp(1_000),
        expires_at: Timestamp(1_600),
        used_at: None,
        revoked_at: None,
    }
}

fn hash(token: &str) -> TokenHash {
    TokenHash(token.to_owned())
}

/// A cache whose follower has just caught up.
fn followed() -> Cache {
    let cache = Cache::default();
    cache.caught_up(Instant::now());
    cache
}

#[test]
fn nothing_is_kept_or_answered_until_changes_are_followed() {
    let cache = Cache::default();
    assert!(!cache.is_fresh());
    cache.keep_session(cache.ticket(), record("t1", 1));
    cache.keep_overview(cache.ticket(), &account(1), Arc::new("overview"));
    assert_eq!(cache.len(), (0, 0), "an operator's command keeps nothing");
    cache.caught_up(Instant::now());
    assert!(cache.session(&hash("t1")).is_none());
    cache.keep_session(cache.ticket(), record("t1", 1));
    assert_eq!(
        cache.session(&hash("t1")).map(|r| r.session.account_id),
        Some(account(1))
    );
}

#[test]
fn a_change_to_an_account_drops_its_sessions_and_overview_and_nothing_else() {
    let cache = followed();
    for (token, owner) in [("a1", 1), ("a2", 1), ("b1", 2)] {
        cache.keep_session(cache.ticket(), record(token, owner));
    }
    cache.keep_overview(cache.ticket(), &account(1), Arc::new("one"));
    cache.keep_overview(cache.ticket(), &account(2), Arc::new("two"));
    cache.keep_access_token(cache.ticket(), token("access-1", 1));
    cache.keep_access_token(cache.ticket(), token("access-2", 2));
    cache.changed(&account(1));
    assert!(cache.access_token(&hash("access-1")).is_none());
    assert!(cache.access_token(&hash("access-2")).is_some());
    let table = [("a1", false), ("a2", false), ("b1", true)];
    for (token, kept) in table {
        assert_eq!(cache.session(&hash(token)).is_some(), kept, "{token}");
    }
    assert!(cache.overview(&account(1)).is_none());
    assert_eq!(cache.overview(&account(2)).as_deref(), Some(&"two"));
}

#[test]
fn a_read_that_raced_a_change_is_not_kept() {
    let cache = followed();
    // The read began, then the account's session was revoked and reported, then the read
    // (from before the revocation) came back.
    let ticket = cache.ticket();
    cache.changed(&account(1));
    cache.keep_session(ticket, record("t1", 1));
    cache.keep_overview(ticket, &account(1), Arc::new("stale"));
    assert!(cache.session(&hash("t1")).is_none());
    assert!(cache.overview(&account(1)).is_none());
    // A change to another account does not stop the read from being kept.
    let ticket = cache.ticket();
    cache.changed(&account(2));
    cache.keep_session(ticket, record("t1", 1));
    assert!(cache.session(&hash("t1")).is_some());
}

#[test]
fn a_lost_feed_drops_everything_and_reads_under_way() {
    let cache = followed();
    cache.keep_session(cache.ticket(), record("t1", 1));
    cache.keep_overview(cache.ticket(), &account(1), Arc::new("one"));
    let ticket = cache.ticket();
    cache.everything_changed();
    cache.keep_session(ticket, record("t2", 2));
    cache.keep_access_token(ticket, token("access-1", 1));
    assert_eq!(cache.len(), (0, 0));
    assert!(cache.access_token(&hash("access-1")).is_none());
}

#[test]
fn entries_are_used_only_while_the_follower_is_recent() {
    let cache = followed();
    cache.keep_session(cache.ticket(), record("t1", 1));
    let now = Instant::now();
    let wall = wall_millis();
    let table = [
        (Duration::ZERO, true),
        (FRESHNESS - Duration::from_millis(50), true),
        (FRESHNESS + Duration::from_millis(1), false),
        (Duration::from_secs(30), false),
    ];
    for (later, fresh) in table {
        let later_ms = u64::try_from(later.as_millis()).unwrap();
        assert_eq!(
            cache.fresh_at(now + later, wall + later_ms),
            fresh,
            "{later:?} later"
        );
    }
    // The monotonic clock stood still while the machine was suspended for ten seconds: the
    // wall clock says the catch-up is old.
    assert!(!cache.fresh_at(now, wall + 10_000));
    // A later catch-up moves it on; an older one reported after it never moves it back.
    let mut newer = Instant::now();
    while newer <= now + Duration::from_micros(1) {
        newer = Instant::now();
    }
    assert!(!cache.caught_up_since(now));
    cache.caught_up(newer);
    cache.caught_up(now);
    assert!(cache.caught_up_since(now));
}

#[test]
fn of_many_requests_due_to_record_activity_one_writes_it() {
    let cache = followed();
    cache.keep_session(cache.ticket(), record("t1", 1));
    cache.keep_overview(cache.ticket(), &account(1), Arc::new("one"));
    let interval = latchkey_domain::Duration::seconds(60);
    let now = Timestamp(1_000 + 60);
    let claims: Vec<bool> = (0..20)
        .map(|_| cache.claim_touch(&hash("t1"), now, interval))
        .collect();
    assert_eq!(claims.iter().filter(|c| **c).count(), 1);
    assert_eq!(
        cache.session(&hash("t1")).unwrap().session.last_seen_at,
        now,
        "the kept session says when it was last written"
    );
    assert!(
        cache.overview(&account(1)).is_none(),
        "the session list shows the new activity"
    );
    // Before the interval has passed again, nobody writes; after it, one does.
    assert!(!cache.claim_touch(
        &hash("t1"),
        now + latchkey_domain::Duration::seconds(59),
        interval
    ));
    assert!(cache.claim_touch(&hash("t1"), now + interval, interval));
    // A session that is not kept is always written; so is one whose write failed and was
    // forgotten.
    assert!(cache.claim_touch(&hash("unknown"), now, interval));
    cache.keep_session(cache.ticket(), record("t1", 1));
    cache.forget_session(&hash("t1"));
    assert!(cache.claim_touch(&hash("t1"), now, interval));
}

#[test]
fn the_maps_are_bounded() {
    let cache = followed();
    for n in 0..MAX_SESSIONS + 10 {
        cache.keep_session(cache.ticket(), record(&format!("t{n}"), (n % 200) as u8));
    }
    let (sessions, _) = cache.len();
    assert!(sessions <= MAX_SESSIONS, "{sessions}");
    // (Filling it took a while in a debug build: the follower catches up again.)
    cache.caught_up(Instant::now());
    assert!(
        cache
            .session(&hash(&format!("t{}", MAX_SESSIONS + 9)))
            .is_some()
    );
}
