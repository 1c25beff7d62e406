//! The OpenID Connect ports: a code is spent once and its replay revokes what it issued, a
//! refresh token rotates once and its reuse revokes the family, removing a client revokes
//! its tokens, and two instances starting together generate one set of signing keys.

use super::races::{RACERS, race, racer_audit, winners};
use super::sessions::start;
use super::*;

pub(super) fn client(id: &str, public: bool) -> OidcClientRecord {
    OidcClientRecord {
        id: id.to_owned(),
        name: format!("App {id}"),
        secret_hash: (!public).then(|| TokenHash("ab".repeat(32))),
        redirect_uris: vec![
            "https://app.example.com/cb".into(),
            "http://localhost:3000/cb".into(),
        ],
        post_logout_redirect_uris: vec!["https://app.example.com/".into()],
        id_token_alg: "RS256".into(),
        first_party: false,
        refresh_tokens: true,
        allow_recovery: false,
        created_at: T0,
    }
}

fn code(hash: &str, client: &str, account: &AccountId, session: &TokenHash) -> OidcCode {
    OidcCode {
        code_hash: TokenHash(hash.to_owned()),
        client_id: client.to_owned(),
        account_id: account.clone(),
        session_hash: session.clone(),
        redirect_uri: "https://app.example.com/cb".into(),
        scope: "openid email".into(),
        nonce: Some("n".into()),
        code_challenge: None,
        created_at: T0,
        expires_at: T0 + latchkey_domain::Duration::seconds(60),
        used_at: None,
    }
}

fn token(
    hash: &str,
    kind: OidcTokenKind,
    family: &str,
    account: &AccountId,
    session: &TokenHash,
) -> OidcToken {
    OidcToken {
        token_hash: TokenHash(hash.to_owned()),
        kind,
        client_id: "lk-a".into(),
        account_id: account.clone(),
        session_hash: session.clone(),
        family: family.to_owned(),
        scope: "openid offline_access".into(),
        created_at: T0,
        expires_at: T0 + latchkey_domain::Duration::hours(1),
        used_at: None,
        revoked_at: None,
    }
}

async fn revoked(store: &Arc<dyn Store>, hash: &str) -> bool {
    store
        .oidc_token(&TokenHash(hash.to_owned()))
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_some()
}

/// An active account signed in once: its id and its session.
async fn signed_in(store: &Arc<dyn Store>, n: u64, email: &str) -> (AccountId, NewSession) {
    let id = active_account(store, n, email).await;
    let (_, new) = session(&id);
    start(store, &new).await;
    (id, new)
}

async fn add_client(store: &Arc<dyn Store>, id: &str) {
    store
        .insert_oidc_client(&client(id, false), &audit(None, "x"))
        .await
        .unwrap();
}

async fn add_code(store: &Arc<dyn Store>, code: &OidcCode) {
    store
        .insert_oidc_code(code, &audit(Some(&code.account_id), "x"))
        .await
        .unwrap();
}

/// Exchanges code `hash` for `client` at `at`, issuing `tokens` (the account `id`'s).
async fn exchange(
    store: &Arc<dyn Store>,
    hash: &str,
    client: &str,
    at: Timestamp,
    tokens: &[OidcToken],
    id: &AccountId,
) -> CodeExchange {
    store
        .exchange_oidc_code(
            &TokenHash(hash.to_owned()),
            client,
            at,
            tokens,
            &audit(Some(id), "i"),
            &audit(Some(id), "r"),
        )
        .await
        .unwrap()
}

/// Rotates refresh token `hash` of `client` at `at` into `tokens`.
async fn rotate(
    store: &Arc<dyn Store>,
    hash: &str,
    client: &str,
    at: Timestamp,
    tokens: &[OidcToken],
    id: &AccountId,
) -> RefreshRotation {
    store
        .rotate_oidc_refresh(
            &TokenHash(hash.to_owned()),
            client,
            at,
            tokens,
            &audit(Some(id), "i"),
            &audit(Some(id), "r"),
        )
        .await
        .unwrap()
}

/// The owner allowed application `lk-owners` at `owners`, an intruder `lk-intruders` at
/// `intruders`: what an undo must tell apart.
pub(super) async fn consents_given(
    store: &Arc<dyn Store>,
    id: &AccountId,
    owners: Timestamp,
    intruders: Timestamp,
) {
    for (client_id, at) in [("lk-owners", owners), ("lk-intruders", intruders)] {
        add_client(store, client_id).await;
        store
            .grant_oidc_consent(id, client_id, "openid", at, &audit(Some(id), "x"))
            .await
            .unwrap();
    }
}

/// Whether the owner's consent and the intruder's are still there.
pub(super) async fn consents_left(store: &Arc<dyn Store>, id: &AccountId) -> (bool, bool) {
    let left = async |client| store.oidc_consent(id, client).await.unwrap().is_some();
    (left("lk-owners").await, left("lk-intruders").await)
}

#[tokio::test]
async fn clients_round_trip_and_removal_revokes_their_tokens() {
    for Backend { name, store, .. } in backends().await {
        let (id, new) = signed_in(&store, 150, "apps@example.com").await;
        let a = client("lk-a", false);
        store
            .insert_oidc_client(&a, &audit(None, "oidc_client_registered"))
            .await
            .unwrap();
        store
            .insert_oidc_client(
                &client("lk-b", true),
                &audit(None, "oidc_client_registered"),
            )
            .await
            .unwrap();
        assert_eq!(
            store.oidc_client("lk-a").await.unwrap(),
            Some(a.clone()),
            "{name}"
        );
        assert_eq!(store.oidc_clients().await.unwrap().len(), 2, "{name}");
        assert!(
            !store
                .set_oidc_client_secret("lk-b", &TokenHash("cd".repeat(32)), &audit(None, "x"))
                .await
                .unwrap(),
            "{name}: a public client gets no secret"
        );
        assert!(
            store
                .set_oidc_client_secret("lk-a", &TokenHash("cd".repeat(32)), &audit(None, "x"))
                .await
                .unwrap(),
            "{name}"
        );
        add_code(&store, &code("c1", "lk-a", &id, &new.token_hash)).await;
        let t = token("t1", OidcTokenKind::Access, "c1", &id, &new.token_hash);
        assert_eq!(
            exchange(&store, "c1", "lk-a", T0, &[t], &id).await,
            CodeExchange::Issued,
            "{name}"
        );
        assert!(
            store
                .remove_oidc_client("lk-a", T0, &audit(None, "oidc_client_removed"))
                .await
                .unwrap()
        );
        assert!(
            !store
                .remove_oidc_client("lk-a", T0, &audit(None, "oidc_client_removed"))
                .await
                .unwrap()
        );
        assert_eq!(store.oidc_client("lk-a").await.unwrap(), None, "{name}");
        assert!(
            revoked(&store, "t1").await,
            "{name}: its tokens went with it"
        );
    }
}

#[tokio::test]
async fn a_code_is_spent_once_and_its_replay_revokes_what_it_issued() {
    for Backend { name, store, .. } in backends().await {
        let (id, new) = signed_in(&store, 151, "codes@example.com").await;
        add_client(&store, "lk-a").await;
        add_client(&store, "lk-other").await;
        add_code(&store, &code("race", "lk-a", &id, &new.token_hash)).await;
        // Another client's attempt neither spends nor revokes anything.
        assert_eq!(
            exchange(&store, "race", "lk-other", T0, &[], &id).await,
            CodeExchange::Refused,
            "{name}"
        );
        let results = race(|n| {
            let store = store.clone();
            let (id, session) = (id.clone(), new.token_hash.clone());
            async move {
                let t = token(
                    &format!("t-{n}"),
                    OidcTokenKind::Access,
                    "race",
                    &id,
                    &session,
                );
                store
                    .exchange_oidc_code(
                        &TokenHash("race".into()),
                        "lk-a",
                        T0,
                        &[t],
                        &racer_audit(&id, "oidc_tokens_issued", n),
                        &racer_audit(&id, "oidc_code_replayed", n),
                    )
                    .await
                    .unwrap()
            }
        })
        .await;
        let issued = winners(&results, |r| *r == CodeExchange::Issued);
        assert_eq!(issued.len(), 1, "{name}: {results:?}");
        assert_eq!(
            winners(&results, |r| *r == CodeExchange::Replayed).len(),
            RACERS - 1,
            "{name}: every other racer replayed it"
        );
        assert!(
            revoked(&store, &format!("t-{}", issued[0])).await,
            "{name}: the replays revoked the winner's token"
        );
        // Expired before use: refused, nothing revoked.
        add_code(&store, &code("late", "lk-a", &id, &new.token_hash)).await;
        let later = T0 + latchkey_domain::Duration::seconds(60);
        assert_eq!(
            exchange(&store, "late", "lk-a", later, &[], &id).await,
            CodeExchange::Refused,
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_refresh_token_rotates_once_and_its_reuse_revokes_the_family() {
    for Backend { name, store, .. } in backends().await {
        let (id, new) = signed_in(&store, 152, "refresh@example.com").await;
        add_client(&store, "lk-a").await;
        add_code(&store, &code("fam", "lk-a", &id, &new.token_hash)).await;
        let first = token("r1", OidcTokenKind::Refresh, "fam", &id, &new.token_hash);
        exchange(&store, "fam", "lk-a", T0, &[first], &id).await;
        let results = race(|n| {
            let store = store.clone();
            let (id, session) = (id.clone(), new.token_hash.clone());
            async move {
                let next = token(
                    &format!("r2-{n}"),
                    OidcTokenKind::Refresh,
                    "fam",
                    &id,
                    &session,
                );
                store
                    .rotate_oidc_refresh(
                        &TokenHash("r1".into()),
                        "lk-a",
                        T0,
                        &[next],
                        &racer_audit(&id, "oidc_tokens_refreshed", n),
                        &racer_audit(&id, "oidc_refresh_reused", n),
                    )
                    .await
                    .unwrap()
            }
        })
        .await;
        let rotated = winners(&results, |r| *r == RefreshRotation::Rotated);
        assert_eq!(rotated.len(), 1, "{name}: {results:?}");
        assert!(
            revoked(&store, &format!("r2-{}", rotated[0])).await,
            "{name}: reuse revoked the family"
        );
        assert_eq!(
            rotate(&store, "r2-x", "lk-a", T0, &[], &id).await,
            RefreshRotation::Refused,
            "{name}: unknown"
        );
    }
}

#[tokio::test]
async fn instances_starting_together_generate_one_set_of_signing_keys() {
    for Backend { name, store, .. } in backends().await {
        let results = race(|n| {
            let store = store.clone();
            async move {
                let keys = ["RS256", "ES256"].map(|alg| SigningKeyRecord {
                    kid: format!("{alg}-{n}"),
                    alg: alg.into(),
                    private_sealed: vec![n as u8; 8],
                    public_jwk: "{}".into(),
                    created_at: T0,
                    active_from: T0,
                    retired_at: None,
                });
                store
                    .insert_oidc_signing_keys(
                        &keys,
                        true,
                        &audit(None, "oidc_signing_keys_created"),
                    )
                    .await
                    .unwrap()
            }
        })
        .await;
        assert_eq!(winners(&results, |r| *r).len(), 1, "{name}: {results:?}");
        let keys = store.oidc_signing_keys().await.unwrap();
        assert_eq!(keys.len(), 2, "{name}");
        assert!(
            store
                .retire_oidc_signing_key(&keys[0].kid, T0, &audit(None, "x"))
                .await
                .unwrap()
        );
        assert!(
            !store
                .retire_oidc_signing_key(&keys[0].kid, T0, &audit(None, "x"))
                .await
                .unwrap()
        );
        assert_eq!(store.oidc_signing_keys().await.unwrap().len(), 1, "{name}");
    }
}

#[tokio::test]
async fn nothing_is_issued_from_a_session_signed_out_before_the_write() {
    for Backend { name, store, .. } in backends().await {
        let (id, new) = signed_in(&store, 153, "gone@example.com").await;
        add_client(&store, "lk-a").await;
        add_code(&store, &code("after", "lk-a", &id, &new.token_hash)).await;
        add_code(&store, &code("before", "lk-a", &id, &new.token_hash)).await;
        let refresh = token(
            "r-live",
            OidcTokenKind::Refresh,
            "before",
            &id,
            &new.token_hash,
        );
        exchange(&store, "before", "lk-a", T0, &[refresh], &id).await;
        // The service saw the session live; a sign-out commits before the exchange writes.
        assert!(
            store
                .revoke_session(&new.token_hash, T0, &audit(Some(&id), "sign_out"))
                .await
                .unwrap()
        );
        let t = token(
            "t-late",
            OidcTokenKind::Access,
            "after",
            &id,
            &new.token_hash,
        );
        assert_eq!(
            exchange(&store, "after", "lk-a", T0, &[t], &id).await,
            CodeExchange::Refused,
            "{name}"
        );
        assert!(
            store
                .oidc_token(&TokenHash("t-late".into()))
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
        let next = token(
            "r-next",
            OidcTokenKind::Refresh,
            "before",
            &id,
            &new.token_hash,
        );
        assert_eq!(
            rotate(&store, "r-live", "lk-a", T0, &[next], &id).await,
            RefreshRotation::Refused,
            "{name}"
        );
        assert!(
            store
                .oidc_token(&TokenHash("r-next".into()))
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
    }
}
