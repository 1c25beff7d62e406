//! The last step of sign-up: the phone number is verified by the same automated call as
//! recovery's step 2. The browser that verified the email (or a later sign-in with the right
//! password) holds a continuation token; the account exists only once the right digits
//! arrive on the call latchkey placed.

use latchkey_domain::AccountId;
use latchkey_domain::token::TokenPurpose;

use crate::error::ServiceError;
use crate::recovery::CallCode;
use crate::secrets::SecretToken;
use crate::store::{AccountRecord, CallPurpose, CallStatus};
use crate::{RequestContext, Service};

/// What the phone-verification page shows.
#[derive(Debug, Clone)]
pub struct SignUpPhoneView {
    pub phone_masked: String,
    pub verified: bool,
    pub call_status: Option<CallStatus>,
}

impl Service {
    async fn sign_up_account(&self, token: &str) -> Result<AccountRecord, ServiceError> {
        let token = SecretToken::from_presented(token).ok_or(ServiceError::LinkInvalid)?;
        let account: AccountId = self
            .store
            .email_token_account(
                &token.hash(),
                TokenPurpose::ContinueSignUp,
                self.clock.now(),
            )
            .await?
            .ok_or(ServiceError::LinkInvalid)?;
        self.store
            .account_by_id(&account)
            .await?
            .ok_or(ServiceError::LinkInvalid)
    }

    pub async fn sign_up_phone_view(&self, token: &str) -> Result<SignUpPhoneView, ServiceError> {
        let account = self.sign_up_account(token).await?;
        let call = self
            .store
            .latest_account_call(&account.id, CallPurpose::SignUp)
            .await?;
        Ok(SignUpPhoneView {
            phone_masked: account.phone.masked(),
            verified: account.phone_verified_at.is_some(),
            call_status: call.map(|c| c.status),
        })
    }

    /// `Call me now` / `Try again` on the sign-up phone page, within sign-up's own call
    /// budgets (per sign-up, per number, per client network, server-wide), which recovery
    /// never shares.
    pub async fn call_for_sign_up(
        &self,
        token: &str,
        ctx: &RequestContext,
    ) -> Result<CallCode, ServiceError> {
        let account = self.sign_up_account(token).await?;
        if account.phone_verified_at.is_some() {
            return Err(ServiceError::PhoneAlreadyVerified);
        }
        self.place_verification_call(
            &account,
            &account.phone,
            CallPurpose::SignUp,
            &format!("sign-up-{}", account.id),
            None,
            ctx,
        )
        .await
    }
}
