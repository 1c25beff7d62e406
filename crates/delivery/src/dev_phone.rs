//! The built-in phone: the embedded default when Twilio is not configured. "Placing" a call
//! gives it a `dev-…` provider id; the call then rings at `/dev/phone`, where a person
//! answers and keys digits, which go through the same service calls as Twilio's webhooks.

use async_trait::async_trait;
use latchkey_service::secrets::random_bytes;
use latchkey_service::{OutgoingCall, PlacedCall, SendError, VoiceCaller};

#[derive(Debug, Default)]
pub struct DevPhone;

#[async_trait]
impl VoiceCaller for DevPhone {
    async fn place_call(&self, _call: &OutgoingCall) -> Result<PlacedCall, SendError> {
        let id = latchkey_service::secrets::hex(&random_bytes::<12>());
        Ok(PlacedCall {
            provider_call_id: format!("dev-{id}"),
        })
    }

    fn describe(&self) -> String {
        "built-in phone (answer calls at /dev/phone)".to_owned()
    }
}
