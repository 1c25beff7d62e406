//! `Security credentials` → account details → `Edit` the root user email address or the phone
//! number: asked for by a session signed in with an MFA device in the last 15 minutes, proven
//! (a link to the new address; the verification call to the new number), then applied with a
//! `This wasn't me` link to the old contact that undoes it.

use latchkey_domain::contact_change::{
    Asker, ChangeRefusal, ContactKind, EMAIL_PROOF_LIFETIME, PHONE_PROOF_LIFETIME, REQUEST_WINDOW,
    REQUESTS_PER_WINDOW, REVERT_LIFETIME, may_change_contact,
};
use latchkey_domain::{AuditEvent, AuditOutcome, EmailAddress, PhoneNumber, Timestamp};

use crate::email::{Email, Notice};
use crate::error::{Problem, ServiceError};
use crate::recovery::CallCode;
use crate::secrets::SecretToken;
use crate::sessions::CurrentSession;
use crate::store::{
    AccountRecord, ApplyChange, CallPurpose, CallStatus, ChangeApplied, ChangeReverted,
    ChangeStart, ContactChangeRecord, NewContactChange, RevertChange,
};
use crate::{Link, RequestContext, Service};

/// A phone change waiting for its call, as its page shows it.
#[derive(Debug, Clone)]
pub struct PhoneChangeView {
    pub new_masked: String,
    pub verified: bool,
    pub call_status: Option<CallStatus>,
    pub expires_at: Timestamp,
}

/// What `This wasn't me` put back, in the owner's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactsRestored {
    /// The email address, if it was put back.
    pub email: Option<String>,
    /// The phone number (masked), if it was put back.
    pub phone: Option<String>,
}

impl Service {
    /// Refuses a contact change to a session that may not make one.
    pub fn may_change_contacts(&self, session: &CurrentSession) -> Result<(), ServiceError> {
        let asker = Asker {
            kind: session.kind,
            signed_in_with_mfa: session.mfa_device_id.is_some(),
            authenticated_at: session.authenticated_at,
        };
        may_change_contact(asker, self.clock.now()).map_err(|refused| match refused {
            ChangeRefusal::RecoverySession => ServiceError::RecoveryScope,
            ChangeRefusal::NoMfa => ServiceError::ContactChangeNeedsMfa,
            ChangeRefusal::NotRecent => ServiceError::ContactChangeNeedsFreshSignIn,
        })
    }

    async fn changing_account(
        &self,
        session: &CurrentSession,
        ctx: &RequestContext,
    ) -> Result<AccountRecord, ServiceError> {
        if let Err(refused) = self.may_change_contacts(session) {
            let detail = match refused {
                ServiceError::ContactChangeNeedsMfa => "no_mfa_sign_in",
                ServiceError::ContactChangeNeedsFreshSignIn => "mfa_sign_in_too_old",
                _ => "recovery_session",
            };
            self.record(
                ctx,
                Some(&session.account_id),
                AuditEvent::ContactChangeRequested,
                AuditOutcome::Failure,
                detail,
            )
            .await?;
            return Err(refused);
        }
        self.store
            .account_by_id(&session.account_id)
            .await?
            .ok_or(ServiceError::AccountGone)
    }

    async fn begin(
        &self,
        session: &CurrentSession,
        change: NewContactChange,
        outbox: &[crate::store::NewOutboxMessage],
        ctx: &RequestContext,
    ) -> Result<(), ServiceError> {
        // Each request sends an email or rings a phone: admitted like every request that
        // spends something, and counted per account by the write.
        self.admit(ctx)?;
        let kind = change.kind;
        let audit = self.audit(
            ctx,
            Some(&session.account_id),
            AuditEvent::ContactChangeRequested,
            AuditOutcome::Success,
            kind.as_str(),
        );
        match self
            .store
            .begin_contact_change(
                &change,
                &session.token_hash,
                (REQUESTS_PER_WINDOW, change.created_at - REQUEST_WINDOW),
                outbox,
                &audit,
            )
            .await?
        {
            ChangeStart::Started => {
                self.outbox.wake();
                Ok(())
            }
            ChangeStart::SessionGone => Err(ServiceError::ContactChangeGone),
            ChangeStart::EmailTaken => Err(ServiceError::field("email", Problem::EmailTaken)),
            ChangeStart::OverBudget => {
                self.record(
                    ctx,
                    Some(&session.account_id),
                    AuditEvent::ContactChangeRequested,
                    AuditOutcome::Failure,
                    "request_budget",
                )
                .await?;
                Err(ServiceError::ContactChangeBudget)
            }
        }
    }

    /// `Edit` the email address: a link goes to the new address; nothing changes until it
    /// is opened. The new address must not be another account's (it is how that account
    /// signs in).
    pub async fn request_email_change(
        &self,
        session: &CurrentSession,
        new_email: &str,
        ctx: &RequestContext,
    ) -> Result<(), ServiceError> {
        let account = self.changing_account(session, ctx).await?;
        let new_email =
            EmailAddress::parse(new_email).map_err(|e| ServiceError::field("email", e))?;
        if new_email == account.email {
            return Err(ServiceError::field("email", Problem::SameContact));
        }
        let now = self.clock.now();
        let token = SecretToken::generate();
        let mail = Email::Notice {
            notice: Notice::ConfirmNewEmail {
                old: account.email.masked(),
                link: self.link(Link::ConfirmNewEmail {
                    token: token.expose(),
                }),
            },
            when: crate::password_reset::format_time(now),
            client_addr: ctx.client_addr.clone(),
            link: self.link(Link::SignIn),
            history: self.link(Link::EventHistory),
        }
        .render(new_email.as_str(), &account.name);
        let change = NewContactChange {
            id: crate::secrets::new_id("chg"),
            account_id: account.id.clone(),
            kind: ContactKind::Email,
            new_value: new_email.as_str().to_owned(),
            proof_hash: Some(token.hash()),
            requested_from: ctx.client_addr.clone(),
            created_at: now,
            expires_at: now + EMAIL_PROOF_LIFETIME,
        };
        self.begin(session, change, &[self.outbox.email(&mail, now)], ctx)
            .await
    }

    async fn change_by_link(&self, token: &str) -> Result<ContactChangeRecord, ServiceError> {
        let token = SecretToken::from_presented(token).ok_or(ServiceError::LinkInvalid)?;
        self.store
            .contact_change_by_proof(&token.hash(), self.clock.now())
            .await?
            .ok_or(ServiceError::LinkInvalid)
    }

    /// The new address the link confirms, for its page; `LinkInvalid` for a dead link.
    pub async fn new_email_for_link(&self, token: &str) -> Result<String, ServiceError> {
        Ok(self.change_by_link(token).await?.new_value)
    }

    /// `Confirm new email address` on the page the link opens: the address replaces the old
    /// one, which is told with a `This wasn't me` link.
    pub async fn confirm_email_change(
        &self,
        token: &str,
        ctx: &RequestContext,
    ) -> Result<(), ServiceError> {
        let change = self.change_by_link(token).await?;
        let proof = SecretToken::from_presented(token)
            .ok_or(ServiceError::LinkInvalid)?
            .hash();
        let account = self
            .store
            .account_by_id(&change.account_id)
            .await?
            .ok_or(ServiceError::LinkInvalid)?;
        let new_masked = EmailAddress::parse(&change.new_value)
            .map(|e| e.masked())
            .unwrap_or_default();
        self.apply(
            &account,
            &change,
            account.email.as_str(),
            Some(&proof),
            |revert| Notice::EmailChanged {
                new: new_masked,
                revert,
            },
            ctx,
        )
        .await
        .map_err(|error| match error {
            ServiceError::ContactChangeGone => ServiceError::LinkInvalid,
            other => other,
        })
    }

    /// Applies a proven change; the notice (with its `This wasn't me` link) goes to the
    /// account's email address as it was before the change.
    async fn apply(
        &self,
        account: &AccountRecord,
        change: &ContactChangeRecord,
        expected_old: &str,
        proof: Option<&crate::secrets::TokenHash>,
        notice: impl FnOnce(String) -> Notice,
        ctx: &RequestContext,
    ) -> Result<(), ServiceError> {
        let now = self.clock.now();
        let revert = SecretToken::generate();
        let mail = self.notice_email(
            account,
            notice(self.link(Link::RevertContactChange {
                token: revert.expose(),
            })),
            ctx,
        );
        let audit = self.audit(
            ctx,
            Some(&account.id),
            AuditEvent::ContactChanged,
            AuditOutcome::Success,
            change.kind.as_str(),
        );
        let applied = match self
            .store
            .apply_contact_change(
                &ApplyChange {
                    change_id: &change.id,
                    account_id: &account.id,
                    expected_old,
                    proof_hash: proof,
                    revert_hash: &revert.hash(),
                    revert_expires_at: now + REVERT_LIFETIME,
                    now,
                },
                &[self.outbox.email(&mail, now)],
                &audit,
            )
            .await
        {
            // A sign-up took the new address at the same instant.
            Err(crate::store::StoreError::Conflict(_)) => ChangeApplied::EmailTaken,
            other => other?,
        };
        match applied {
            ChangeApplied::Applied => {
                self.outbox.wake();
                Ok(())
            }
            ChangeApplied::Gone => Err(ServiceError::ContactChangeGone),
            ChangeApplied::EmailTaken => Err(ServiceError::field("email", Problem::EmailTaken)),
        }
    }

    /// `Edit` the phone number: the change waits for the verification call to the new
    /// number (see [`Service::call_for_phone_change`]). A number another account has is
    /// allowed: a phone is not an identity, and calls to it have budgets of their own.
    pub async fn request_phone_change(
        &self,
        session: &CurrentSession,
        new_phone: &str,
        ctx: &RequestContext,
    ) -> Result<(), ServiceError> {
        let account = self.changing_account(session, ctx).await?;
        let phone = PhoneNumber::parse(new_phone).map_err(|e| ServiceError::field("phone", e))?;
        if phone == account.phone {
            return Err(ServiceError::field("phone", Problem::SameContact));
        }
        self.config
            .calls
            .may_call_number(&phone)
            .map_err(|refused| ServiceError::field("phone", refused))?;
        let now = self.clock.now();
        let change = NewContactChange {
            id: crate::secrets::new_id("chg"),
            account_id: account.id.clone(),
            kind: ContactKind::Phone,
            new_value: phone.as_str().to_owned(),
            proof_hash: None,
            requested_from: ctx.client_addr.clone(),
            created_at: now,
            expires_at: now + PHONE_PROOF_LIFETIME,
        };
        self.begin(session, change, &[], ctx).await
    }

    async fn pending_phone(
        &self,
        session: &CurrentSession,
    ) -> Result<ContactChangeRecord, ServiceError> {
        self.store
            .pending_contact_change(&session.account_id, ContactKind::Phone, self.clock.now())
            .await?
            .ok_or(ServiceError::ContactChangeGone)
    }

    /// The phone change waiting, for its page; `None` when there is none.
    pub async fn phone_change_view(
        &self,
        session: &CurrentSession,
    ) -> Result<Option<PhoneChangeView>, ServiceError> {
        self.may_change_contacts(session)?;
        let Some(change) = self
            .store
            .pending_contact_change(&session.account_id, ContactKind::Phone, self.clock.now())
            .await?
        else {
            return Ok(None);
        };
        let call = self.store.latest_call(&change.id).await?;
        Ok(Some(PhoneChangeView {
            new_masked: PhoneNumber::from_stored(change.new_value.clone()).masked(),
            verified: change.verified_at.is_some(),
            call_status: call.map(|c| c.status),
            expires_at: change.expires_at,
        }))
    }

    /// `Call me now` on the phone change's page: the same verification call as sign-up and
    /// recovery, to the new number, within the contact changes' own call budgets.
    pub async fn call_for_phone_change(
        &self,
        session: &CurrentSession,
        ctx: &RequestContext,
    ) -> Result<CallCode, ServiceError> {
        let account = self.changing_account(session, ctx).await?;
        let change = self.pending_phone(session).await?;
        if change.verified_at.is_some() {
            return Err(ServiceError::PhoneAlreadyVerified);
        }
        let to = PhoneNumber::from_stored(change.new_value.clone());
        self.place_verification_call(
            &account,
            &to,
            CallPurpose::ContactChange,
            &change.id,
            None,
            ctx,
        )
        .await
    }

    /// `Use this number`, once the call got the right digits: the number replaces the old
    /// one, and the account's email address is told with a `This wasn't me` link.
    pub async fn confirm_phone_change(
        &self,
        session: &CurrentSession,
        ctx: &RequestContext,
    ) -> Result<(), ServiceError> {
        let account = self.changing_account(session, ctx).await?;
        let change = self.pending_phone(session).await?;
        if change.verified_at.is_none() {
            return Err(ServiceError::PhoneNotVerified);
        }
        let (old, new) = (
            account.phone.masked(),
            PhoneNumber::from_stored(change.new_value.clone()).masked(),
        );
        self.apply(
            &account,
            &change,
            account.phone.as_str(),
            None,
            |revert| Notice::PhoneChanged { old, new, revert },
            ctx,
        )
        .await
    }

    /// Whether a `This wasn't me` link for a contact change still works.
    pub async fn contact_revert_is_live(&self, token: &str) -> Result<bool, ServiceError> {
        let Some(token) = SecretToken::from_presented(token) else {
            return Ok(false);
        };
        Ok(self
            .store
            .contact_revert_is_live(&token.hash(), self.clock.now())
            .await?)
    }

    /// `This wasn't me` on a contact change's notice: the contacts go back (this change and
    /// every one since), devices added since go, the password is disabled, every session
    /// ends, waiting changes are cancelled; the addresses involved are told. Works once, for
    /// 7 days.
    pub async fn revert_contact_change(
        &self,
        token: &str,
        ctx: &RequestContext,
    ) -> Result<ContactsRestored, ServiceError> {
        let Some(token) = SecretToken::from_presented(token) else {
            return Err(self
                .refuse_link(ctx, AuditEvent::ContactChangeReverted)
                .await);
        };
        let now = self.clock.now();
        // A dead link costs one lookup, never a hash: anyone can post tokens here. (The write
        // below consumes the link itself, so a link used meanwhile still changes nothing.)
        if !self
            .store
            .contact_revert_is_live(&token.hash(), now)
            .await?
        {
            return Err(self
                .refuse_link(ctx, AuditEvent::ContactChangeReverted)
                .await);
        }
        // Nobody knows this password: only a reset by email gets the owner back in.
        let unknown = crate::secrets::hex(&crate::secrets::random_bytes::<32>());
        let revoked = self.hasher.hash(&unknown).await?;
        let audit = self.audit(
            ctx,
            None,
            AuditEvent::ContactChangeReverted,
            AuditOutcome::Success,
            "",
        );
        let notices = |reverted: &ChangeReverted| {
            let view = restored_view(reverted);
            let notice = Notice::ContactsRestored {
                email: view.email.clone(),
                phone: view.phone.clone(),
                devices_removed: reverted.devices_removed,
            };
            // The address the account had, and the one it has again, are both told.
            let mut to = vec![reverted.replaced_email.clone()];
            if let Some(email) = view.email.filter(|e| *e != reverted.replaced_email) {
                to.push(email);
            }
            to.iter()
                .map(|address| {
                    let mail = Email::Notice {
                        notice: notice.clone(),
                        when: crate::password_reset::format_time(now),
                        client_addr: ctx.client_addr.clone(),
                        link: self.link(Link::ForgotPassword),
                        history: self.link(Link::EventHistory),
                    }
                    .render(address, &reverted.account_name);
                    self.outbox.email(&mail, now)
                })
                .collect()
        };
        let reverted = match self
            .store
            .revert_contact_change(
                &RevertChange {
                    revert_hash: &token.hash(),
                    revoked_password_hash: &revoked,
                    now,
                },
                &notices,
                &audit,
            )
            .await
        {
            Err(crate::store::StoreError::Conflict(_)) => {
                self.record(
                    ctx,
                    None,
                    AuditEvent::ContactChangeReverted,
                    AuditOutcome::Failure,
                    "address_taken",
                )
                .await?;
                return Err(ServiceError::ContactRestoreTaken);
            }
            other => other?,
        };
        let Some(reverted) = reverted else {
            return Err(self
                .refuse_link(ctx, AuditEvent::ContactChangeReverted)
                .await);
        };
        self.outbox.wake();
        Ok(restored_view(&reverted))
    }
}

/// What was put back, in the owner's terms: the address whole, the number masked.
fn restored_view(reverted: &ChangeReverted) -> ContactsRestored {
    let mut view = ContactsRestored {
        email: None,
        phone: None,
    };
    for (kind, value) in &reverted.restored {
        match kind {
            ContactKind::Email => view.email = Some(value.clone()),
            ContactKind::Phone => {
                view.phone = Some(PhoneNumber::from_stored(value.clone()).masked())
            }
        }
    }
    view
}
