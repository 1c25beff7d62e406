//! Security keys (WebAuthn) as a second factor, with webauthn-rs.
//!
//! Ceremony state never leaves the server: it is sealed, stored with a random id and an
//! expiry, and taken once (a replayed or stale ceremony finds nothing). Credentials are bound
//! to a user handle derived from the account id with a server key — random-looking, stable,
//! never the email. The relying-party id and the only allowed origin come from
//! `LATCHKEY_PUBLIC_URL`. Signature counters are stored after every use; a counter that
//! does not increase is refused as a possibly cloned key (webauthn-rs's strict policy),
//! audited, and counted as a failure.

use latchkey_domain::mfa::{DeviceKind, MAX_DEVICES, parse_device_name};
use latchkey_domain::totp::TotpParams;
use latchkey_domain::{AccountId, AuditEvent, AuditOutcome, CeremonyId, DeviceId, Duration};
use webauthn_rs::prelude::{
    PublicKeyCredential, RegisterPublicKeyCredential, SecurityKey, SecurityKeyAuthentication,
    SecurityKeyRegistration, Uuid, Webauthn,
};

use crate::error::{Problem, ServiceError};
use crate::mfa::{DeviceView, device_context};
use crate::mfa_sign_in::CodeOutcome;
use crate::secrets::{SecretToken, random_bytes};
use crate::sessions::CurrentSession;
use crate::store::{AssignOutcome, NewCeremony, NewDevice};
use crate::{RequestContext, Service};

/// A ceremony waits this long for the authenticator.
const CEREMONY_LIFETIME: Duration = Duration::minutes(5);

/// What the browser needs to run a ceremony.
#[derive(Debug, Clone)]
pub struct Ceremony {
    pub id: CeremonyId,
    /// `PublicKeyCredentialCreationOptions` / `…RequestOptions` as WebAuthn JSON.
    pub options: serde_json::Value,
}

pub(crate) fn state_context(id: &str) -> Vec<u8> {
    format!("webauthn-ceremony\0{id}").into_bytes()
}

fn invalid(problem: Problem) -> ServiceError {
    ServiceError::field("credential", problem)
}

impl Service {
    fn relying_party(&self) -> Result<&Webauthn, ServiceError> {
        self.webauthn
            .as_deref()
            .map_err(|why| ServiceError::SecurityKeysUnavailable(why.clone()))
    }

    pub fn security_keys_available(&self) -> bool {
        self.webauthn.is_ok()
    }

    /// Why security keys cannot be used with this configuration, for the start-up log.
    pub fn security_keys_unavailable_reason(&self) -> Option<String> {
        self.webauthn.as_ref().err().cloned()
    }

    fn user_handle(&self, account: &AccountId) -> Uuid {
        let mac = self.webauthn_user.mac(account.as_str().as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&mac[..16]);
        Uuid::from_bytes(bytes)
    }

    async fn security_keys(
        &self,
        account: &AccountId,
    ) -> Result<Vec<(DeviceId, SecurityKey)>, ServiceError> {
        let mut keys = Vec::new();
        for device in self.store.mfa_devices(account).await? {
            if device.kind == DeviceKind::SecurityKey {
                let json =
                    self.open_secret(&device.secret_sealed, &device_context(device.id.as_str()))?;
                let key: SecurityKey = serde_json::from_slice(&json).map_err(|e| {
                    ServiceError::Internal(format!("a stored security key cannot be read: {e}"))
                })?;
                keys.push((device.id, key));
            }
        }
        Ok(keys)
    }

    async fn store_ceremony(
        &self,
        account: &AccountId,
        purpose: &'static str,
        name: &str,
        state: &impl serde::Serialize,
    ) -> Result<CeremonyId, ServiceError> {
        let id = CeremonyId::new(format!(
            "wa-{}",
            latchkey_domain::totp::base32(&random_bytes::<15>()).to_lowercase()
        ));
        let json = serde_json::to_vec(state).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let now = self.clock.now();
        self.store
            .create_ceremony(&NewCeremony {
                id: id.clone(),
                account_id: account.clone(),
                purpose,
                state_sealed: self.mfa_sealer.seal(&json, &state_context(id.as_str())),
                name: name.to_owned(),
                created_at: now,
                expires_at: now + CEREMONY_LIFETIME,
            })
            .await?;
        Ok(id)
    }

    async fn take_ceremony<T: serde::de::DeserializeOwned>(
        &self,
        id: &CeremonyId,
        account: &AccountId,
        purpose: &str,
    ) -> Result<(T, String), ServiceError> {
        let taken = self
            .store
            .take_ceremony(id, account, purpose, self.clock.now())
            .await?
            .ok_or_else(|| invalid(Problem::CeremonyExpired))?;
        let json = self.open_secret(&taken.state_sealed, &state_context(id.as_str()))?;
        let state =
            serde_json::from_slice(&json).map_err(|e| ServiceError::Internal(e.to_string()))?;
        Ok((state, taken.name))
    }

    /// `Security key` → name → `Register security key`: the creation options.
    pub async fn begin_security_key_registration(
        &self,
        session: &CurrentSession,
        name: &str,
    ) -> Result<Ceremony, ServiceError> {
        self.authorize(
            session,
            latchkey_domain::session::SessionAction::ActivateDevice,
        )?;
        let webauthn = self.relying_party()?;
        let name = parse_device_name(name).map_err(|e| ServiceError::field("name", e))?;
        let account = self
            .store
            .account_by_id(&session.account_id)
            .await?
            .ok_or(ServiceError::SignInExpired)?;
        let existing = self.security_keys(&account.id).await?;
        if self.store.mfa_devices(&account.id).await?.len() >= MAX_DEVICES {
            return Err(ServiceError::DeviceLimit);
        }
        let exclude = (!existing.is_empty())
            .then(|| existing.iter().map(|(_, k)| k.cred_id().clone()).collect());
        let (options, state): (_, SecurityKeyRegistration) = webauthn
            .start_securitykey_registration(
                self.user_handle(&account.id),
                account.email.as_str(),
                &account.name,
                exclude,
                None,
                None,
            )
            .map_err(|e| ServiceError::Internal(format!("cannot start the registration: {e}")))?;
        let id = self
            .store_ceremony(&account.id, "register", &name, &state)
            .await?;
        Ok(Ceremony {
            id,
            options: serde_json::to_value(options).unwrap_or_default(),
        })
    }

    /// The browser's answer to the creation options: the key becomes an MFA device.
    pub async fn finish_security_key_registration(
        &self,
        session: &CurrentSession,
        ceremony_id: &CeremonyId,
        credential: serde_json::Value,
        password: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<DeviceView, ServiceError> {
        self.authorize(
            session,
            latchkey_domain::session::SessionAction::ActivateDevice,
        )?;
        let webauthn = self.relying_party()?;
        let account = self
            .store
            .account_by_id(&session.account_id)
            .await?
            .ok_or(ServiceError::SignInExpired)?;
        self.check_reauthentication(session, &account, password, ctx)
            .await?;
        let (state, name): (SecurityKeyRegistration, String) = self
            .take_ceremony(ceremony_id, &account.id, "register")
            .await?;
        let credential: RegisterPublicKeyCredential = serde_json::from_value(credential)
            .map_err(|_| invalid(Problem::CredentialMalformed))?;
        let key = match webauthn.finish_securitykey_registration(&credential, &state) {
            Ok(key) => key,
            Err(e) => {
                self.record(
                    ctx,
                    Some(&account.id),
                    AuditEvent::MfaActivated,
                    AuditOutcome::Failure,
                    &format!("webauthn: {e}"),
                )
                .await?;
                return Err(invalid(Problem::CredentialRejected));
            }
        };
        let now = self.clock.now();
        let id = crate::secrets::new_id("mfa");
        let json = serde_json::to_vec(&key).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let credential_id = SecretToken::hash_bytes(key.cred_id().as_ref());
        let device = NewDevice {
            secret_sealed: self.mfa_sealer.seal(&json, &device_context(&id)),
            id: DeviceId::new(id.clone()),
            account_id: account.id.clone(),
            kind: DeviceKind::SecurityKey,
            name: name.clone(),
            params: TotpParams {
                digits: 0,
                period: 0,
                ..TotpParams::VIRTUAL
            },
            last_used_step: 0,
            created_at: now,
            serial: None,
            added_by: Some(session.token_hash.clone()),
        };
        let (mail, audit) = self.device_added_effects(
            &account,
            &device,
            crate::email::AddedDevice::SecurityKey {
                name: name.to_string(),
            },
            ctx,
        );
        match self
            .store
            .assign_security_key(&device, &credential_id, MAX_DEVICES, &[mail], &audit)
            .await?
        {
            AssignOutcome::Assigned => {
                self.outbox.wake();
                Ok(DeviceView::from(&device))
            }
            AssignOutcome::SessionEnded => Err(ServiceError::SignInExpired),
            AssignOutcome::LimitReached => Err(ServiceError::DeviceLimit),
            _ => Err(ServiceError::field("name", Problem::DeviceNameOrKeyTaken)),
        }
    }

    /// `Use security key` on the MFA page: the request options for the account's keys.
    pub async fn begin_security_key_sign_in(
        &self,
        attempt: &str,
    ) -> Result<Ceremony, ServiceError> {
        let webauthn = self.relying_party()?;
        let token = SecretToken::from_presented(attempt).ok_or(ServiceError::SignInExpired)?;
        let record = self
            .store
            .sign_in_attempt(&token.hash(), self.clock.now())
            .await?
            .ok_or(ServiceError::SignInExpired)?;
        let keys: Vec<SecurityKey> = self
            .security_keys(&record.account_id)
            .await?
            .into_iter()
            .map(|(_, k)| k)
            .collect();
        if keys.is_empty() {
            return Err(ServiceError::NoSecurityKey);
        }
        let (options, state): (_, SecurityKeyAuthentication) = webauthn
            .start_securitykey_authentication(&keys)
            .map_err(|e| ServiceError::Internal(format!("cannot start the sign-in: {e}")))?;
        let id = self
            .store_ceremony(&record.account_id, "authenticate", "", &state)
            .await?;
        Ok(Ceremony {
            id,
            options: serde_json::to_value(options).unwrap_or_default(),
        })
    }

    /// The browser's signed assertion: the session, or the generic refusal.
    pub async fn finish_security_key_sign_in(
        &self,
        attempt: &str,
        ceremony_id: &CeremonyId,
        credential: serde_json::Value,
        ctx: &RequestContext,
    ) -> Result<CodeOutcome, ServiceError> {
        let webauthn = self.relying_party()?;
        let (token, record, account) = self.live_attempt(attempt).await?;
        let device = self.known_device(ctx, &account.email);
        self.admit_sign_in(ctx, device.as_ref())?;
        let (state, _): (SecurityKeyAuthentication, String) = self
            .take_ceremony(ceremony_id, &account.id, "authenticate")
            .await?;
        // `counted`: the counter's value when the refused attempt had been counted.
        let refuse =
            async |detail: &str, counted: Option<u32>| -> Result<CodeOutcome, ServiceError> {
                self.record(
                    ctx,
                    Some(&account.id),
                    AuditEvent::MfaCode,
                    AuditOutcome::Failure,
                    detail,
                )
                .await?;
                if let Some(failures) = counted {
                    let key = crate::mfa_sign_in::attempt_throttle(&record);
                    self.tell_if_throttled(&account, &key, failures, ctx)
                        .await?;
                }
                Ok(CodeOutcome::Denied)
            };
        // The same throttling as a code: reserved on the attempt's counter before the
        // assertion is checked.
        let failures = match self.reserve_second_factor(&record, None).await? {
            Ok(failures) => Some(failures),
            Err(detail) => return refuse(detail, None).await,
        };
        let Ok(credential) = serde_json::from_value::<PublicKeyCredential>(credential) else {
            return refuse("webauthn: malformed assertion", failures).await;
        };
        let result = match webauthn.finish_securitykey_authentication(&credential, &state) {
            Ok(result) => result,
            Err(e) => return refuse(&format!("webauthn: {e}"), failures).await,
        };
        let keys = self.security_keys(&account.id).await?;
        let Some((device_id, mut key)) = keys
            .into_iter()
            .find(|(_, k)| k.cred_id() == result.cred_id())
        else {
            return refuse("webauthn: unknown credential", failures).await;
        };
        key.update_credential(&result);
        let json = serde_json::to_vec(&key).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let (session_token, session) =
            self.full_session_to_issue(&account, Some(&device_id), self.clock.now(), ctx);
        let audit = self.audit(
            ctx,
            Some(&account.id),
            AuditEvent::SignIn,
            AuditOutcome::Success,
            &format!("mfa:{device_id}"),
        );
        let sealed = self
            .mfa_sealer
            .seal(&json, &device_context(device_id.as_str()));
        if self
            .store
            .complete_security_key_sign_in(
                &token.hash(),
                &device_id,
                &sealed,
                result.counter(),
                &session,
                &audit,
            )
            .await?
        {
            Ok(CodeOutcome::SignedIn(self.issued(
                &account,
                session_token,
                &session,
            )))
        } else {
            refuse(
                "not_completed: attempt used or key counter not increasing",
                failures,
            )
            .await
        }
    }
}
