//! Known devices: a browser or API client that has completed a sign-in to an account holds a
//! token that says so (OWASP's "device cookie" against online guessing). It grants no access
//! at all; it changes only how the next sign-in to that same email waits:
//!
//! - its attempts are admitted on a bucket of the device's own, not its network address's, so
//!   a flood from the user's address (a shared NAT, a hostile neighbour) does not lock the
//!   user out;
//! - the request goes ahead of other waiting requests — for a hashing slot and, on SQLite, for
//!   the turn to write (see `priority`) — so a flood of attempts from many addresses does not
//!   make the user wait behind it.
//!
//! The token is `ISSUED.GENERATION.NONCE.TAG`: an HMAC under a key derived from the server key
//! over the issue time, the account's password generation (how many times its password was set), a
//! random nonce and the normalised email. The email is not in the token, so a stolen token does
//! not reveal it, and a token presented with any other email is simply not recognised (the
//! attempt is treated like any other, at no extra cost). A new password — a reset, a change,
//! `This wasn't me` — moves the generation on: older tokens still check out for admission and
//! queue priority (checked before any query), but no longer earn a failure counter of their
//! own, so a former password holder's drawer of tokens buys no extra guesses at the new one.

use latchkey_domain::{Duration, EmailAddress, Timestamp};

use crate::secrets::{hex, random_bytes};
use crate::{RequestContext, Service};

/// How long a device stays known after its last complete sign-in.
pub const KNOWN_DEVICE_LIFETIME: Duration = Duration::seconds(400 * 24 * 60 * 60);

/// A recognised device: the admission key its attempts are counted under, its id (the
/// token's nonce), which names its own failure counter, and the password generation it was
/// issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDevice {
    pub admission_key: String,
    /// The bucket every known device of this email shares, wherever it connects from.
    pub shared_admission_key: String,
    pub id: String,
    pub generation: i64,
}

fn message(issued_at: i64, generation: i64, nonce: &str, email: &EmailAddress) -> Vec<u8> {
    format!(
        "known-device\0{issued_at}\0{generation}\0{nonce}\0{}",
        email.as_str()
    )
    .into_bytes()
}

impl Service {
    /// A fresh token for a device that has just completed a sign-in as `email`, in the
    /// account's password `generation`.
    pub(crate) fn known_device_token(
        &self,
        email: &EmailAddress,
        generation: i64,
        now: Timestamp,
    ) -> String {
        let nonce = hex(&random_bytes::<12>());
        let tag = self
            .device_signer
            .sign(&message(now.0, generation, &nonce, email));
        format!("{}.{generation}.{nonce}.{tag}", now.0)
    }

    /// The device behind this request, if it presented a live token for `email`.
    pub(crate) fn known_device(
        &self,
        ctx: &RequestContext,
        email: &EmailAddress,
    ) -> Option<KnownDevice> {
        let token = ctx.device_token.as_deref()?;
        let mut parts = token.splitn(4, '.');
        let issued_at: i64 = parts.next()?.parse().ok()?;
        let generation: i64 = parts.next()?.parse().ok()?;
        let nonce = parts.next()?;
        let tag = parts.next()?;
        if nonce.len() != 24 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let now = self.clock.now();
        let issued = Timestamp(issued_at);
        if issued > now || now - issued > KNOWN_DEVICE_LIFETIME {
            return None;
        }
        let device = self
            .device_signer
            .verify(&message(issued_at, generation, nonce, email), tag)
            .then(|| KnownDevice {
                admission_key: format!("device:{nonce}"),
                shared_admission_key: format!("known:{}", email.as_str()),
                id: nonce.to_owned(),
                generation,
            });
        if device.is_some() {
            // From here on this request goes first wherever it queues.
            crate::priority::raise(crate::priority::Priority::KnownDevice);
        }
        device
    }
}
