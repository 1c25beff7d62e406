//! Twilio Programmable Voice: creating a call with the REST API.
//!
//! `POST {api_base}/2010-04-01/Accounts/{AccountSid}/Calls.json` with HTTP basic auth
//! (account SID and auth token), form fields `To`, `From`, `Url` (our TwiML webhook for this
//! call), `Method`, `StatusCallback` and `StatusCallbackMethod`. Twilio answers 201 with the
//! call resource, whose `sid` is the `CallSid` its webhooks will carry.

use async_trait::async_trait;
use latchkey_service::{OutgoingCall, PlacedCall, SendError, VoiceCaller};

#[derive(Clone)]
pub struct TwilioConfig {
    pub account_sid: String,
    pub auth_token: String,
    pub from: String,
    /// `https://api.twilio.com`, or a local server that speaks Twilio's protocol in tests.
    pub api_base: url::Url,
    /// `LATCHKEY_PUBLIC_URL`, without a trailing slash: webhook URLs start here.
    pub public_url: String,
}

impl std::fmt::Debug for TwilioConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioConfig")
            .field("account_sid", &self.account_sid)
            .field("from", &self.from)
            .field("api_base", &self.api_base.as_str())
            .finish_non_exhaustive()
    }
}

pub struct TwilioCaller {
    config: TwilioConfig,
    http: reqwest::Client,
}

#[derive(serde::Deserialize)]
struct CallResource {
    sid: String,
}

impl TwilioCaller {
    pub fn new(config: TwilioConfig) -> Result<Self, String> {
        // reqwest is built without a bundled crypto provider; latchkey uses ring throughout.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the HTTP client for Twilio: {e}"))?;
        Ok(Self { config, http })
    }

    fn calls_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Calls.json",
            self.config.api_base.as_str().trim_end_matches('/'),
            self.config.account_sid
        )
    }
}

#[async_trait]
impl VoiceCaller for TwilioCaller {
    async fn place_call(&self, call: &OutgoingCall) -> Result<PlacedCall, SendError> {
        let base = &self.config.public_url;
        let form = [
            ("To", call.to.clone()),
            ("From", self.config.from.clone()),
            ("Url", format!("{base}/twilio/voice/{}", call.call_id)),
            ("Method", "POST".to_owned()),
            (
                "StatusCallback",
                format!("{base}/twilio/status/{}", call.call_id),
            ),
            ("StatusCallbackMethod", "POST".to_owned()),
        ];
        let response = self
            .http
            .post(self.calls_url())
            .basic_auth(&self.config.account_sid, Some(&self.config.auth_token))
            .form(&form)
            .send()
            .await
            .map_err(|e| {
                // Refused before anything was sent: Twilio certainly created no call. Any
                // other failure is ambiguous, and a second call for one request is worse
                // than asking the person to press Try again.
                if e.is_connect() {
                    SendError::Temporary(format!("cannot reach Twilio: {e}"))
                } else {
                    SendError::Permanent(format!("Twilio request failed: {e}"))
                }
            })?;
        let status = response.status();
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(SendError::Temporary(format!("Twilio answered {status}")));
        }
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            let body: String = body.chars().take(300).collect();
            return Err(SendError::Permanent(format!(
                "Twilio refused the call ({status}): {body}"
            )));
        }
        let resource: CallResource = response
            .json()
            .await
            .map_err(|e| SendError::Permanent(format!("unexpected answer from Twilio: {e}")))?;
        Ok(PlacedCall {
            provider_call_id: resource.sid,
        })
    }

    fn describe(&self) -> String {
        format!(
            "Twilio at {} from {}",
            self.config.api_base, self.config.from
        )
    }
}
