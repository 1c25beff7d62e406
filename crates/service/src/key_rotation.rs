//! Rotating the server key without a moment in which an instance meets a value it cannot
//! open.
//!
//! `latchkey key rotate` first stages a new key in the key file (it opens and verifies, and
//! seals nothing); once every instance has been restarted with that file, the second
//! `rotate` makes it current (`Service::check_server_key` records the rotation). From then
//! on everything new is sealed under it, and what the old keys sealed is re-sealed under it
//! by [`Service::reseal_all`] — run in the background by every instance whose current key is
//! the database's, and on demand by `latchkey key reseal`. [`Service::key_usage`] says how
//! many sealed values each key still holds, so an old key is retired only when nothing needs
//! it. Each value is re-sealed by a conditional write (only while it is still what was
//! read), so a value the owner changed meanwhile is never overwritten with an older one.

use std::collections::BTreeMap;

use latchkey_domain::{AuditEvent, AuditOutcome};

use crate::error::ServiceError;
use crate::server_key::{KeyId, Sealer};
use crate::store::{SealedKind, SealedRow};
use crate::{RequestContext, Service};

/// How many sealed values are read at a time.
const PAGE: i64 = 200;

/// How many sealed values each key opens, per kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyUsage {
    /// `None`: no key of the file opens the value (sealed under a key since removed, or
    /// damaged).
    pub counts: BTreeMap<(SealedKind, Option<KeyId>), u64>,
}

impl KeyUsage {
    /// The values `id` opens, over every kind.
    pub fn of_key(&self, id: KeyId) -> u64 {
        self.counts
            .iter()
            .filter(|((_, key), _)| *key == Some(id))
            .map(|(_, n)| n)
            .sum()
    }

    /// The values no key opens.
    pub fn unreadable(&self) -> u64 {
        self.counts
            .iter()
            .filter(|((_, key), _)| key.is_none())
            .map(|(_, n)| n)
            .sum()
    }
}

/// What a re-sealing pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResealReport {
    /// Values now sealed under the current key that were not.
    pub resealed: u64,
    /// Values that were under the current key already.
    pub current: u64,
    /// Values changed (or gone) between the read and the write; the next pass takes them.
    pub changed_meanwhile: u64,
    /// Values no key of the file opens: left as they are.
    pub unreadable: u64,
    /// Nothing was done: this instance's current key is not the database's (its key file
    /// has the new key only staged, or is from before the rotation). Re-sealing under it
    /// would undo what the instances holding the current key do.
    pub not_current: bool,
}

impl Service {
    /// The ids of the keys this service holds, the current one first.
    pub fn key_ids(&self) -> &[KeyId] {
        &self.key_ids
    }

    fn sealer_of(&self, kind: SealedKind) -> &Sealer {
        match kind {
            SealedKind::Outbox => self.outbox.sealer(),
            _ => &self.mfa_sealer,
        }
    }

    /// What a value's seal is bound to besides the key (see each kind's sealing).
    fn context_of(&self, kind: SealedKind, row: &SealedRow) -> Vec<u8> {
        match kind {
            SealedKind::MfaDevice => crate::mfa::device_context(&row.key),
            SealedKind::Enrollment => crate::mfa::enrollment_context(&row.key),
            SealedKind::HardwareToken => crate::tokens::token_context(&row.key),
            SealedKind::SecurityKeyCeremony => crate::webauthn::state_context(&row.key),
            SealedKind::OidcSigningKey => crate::oidc::keys::key_context(&row.key),
            SealedKind::Outbox => match row.bound_to.as_slice() {
                [kind, recipient] => crate::outbox::context(kind, recipient),
                _ => Vec::new(),
            },
        }
    }

    /// The next page of `kind` after `after` (`None` once the previous page was the last).
    async fn next_sealed(
        &self,
        kind: SealedKind,
        after: &mut Option<Option<String>>,
    ) -> Result<Option<Vec<SealedRow>>, ServiceError> {
        let Some(from) = after.take() else {
            return Ok(None);
        };
        let page = self.store.sealed_page(kind, from.as_deref(), PAGE).await?;
        if page.len() as i64 == PAGE {
            *after = Some(page.last().map(|row| row.key.clone()));
        }
        Ok(Some(page))
    }

    /// Records that `latchkey key retire` took `id` out of use.
    pub async fn record_key_retired(&self, id: KeyId) -> Result<(), ServiceError> {
        self.record(
            &RequestContext::operator(),
            None,
            AuditEvent::ServerKeyRetired,
            AuditOutcome::Success,
            &format!("key: {id}"),
        )
        .await
    }

    /// How many sealed values each key of the file opens (`latchkey key status`).
    pub async fn key_usage(&self) -> Result<KeyUsage, ServiceError> {
        let mut usage = KeyUsage::default();
        for kind in SealedKind::ALL {
            let mut after = Some(None);
            while let Some(page) = self.next_sealed(kind, &mut after).await? {
                for row in page {
                    let context = self.context_of(kind, &row);
                    let key = self.sealer_of(kind).opened_by(&row.sealed, &context);
                    *usage.counts.entry((kind, key)).or_default() += 1;
                }
            }
        }
        Ok(usage)
    }

    /// Re-seals under the current key every value an older key sealed; audited when it
    /// changed anything.
    pub async fn reseal_all(&self) -> Result<ResealReport, ServiceError> {
        let mut report = ResealReport::default();
        let recorded = self.store.current_key_fingerprint().await?;
        if recorded.as_ref() != Some(&self.key_fingerprints[0]) {
            report.not_current = true;
            return Ok(report);
        }
        for kind in SealedKind::ALL {
            let sealer = self.sealer_of(kind);
            let mut after = Some(None);
            while let Some(page) = self.next_sealed(kind, &mut after).await? {
                for row in page {
                    if sealer.is_current(&row.sealed) {
                        report.current += 1;
                        continue;
                    }
                    let context = self.context_of(kind, &row);
                    let Ok(plaintext) = sealer.open(&row.sealed, &context) else {
                        report.unreadable += 1;
                        continue;
                    };
                    let resealed = sealer.seal(&plaintext, &context);
                    if self
                        .store
                        .reseal(kind, &row.key, &row.sealed, &resealed)
                        .await?
                    {
                        report.resealed += 1;
                    } else {
                        report.changed_meanwhile += 1;
                    }
                }
            }
        }
        if report.resealed > 0 {
            self.record(
                &RequestContext::operator(),
                None,
                AuditEvent::SealedDataResealed,
                AuditOutcome::Success,
                &format!(
                    "key: {}; resealed: {}; unreadable: {}",
                    self.key_ids[0], report.resealed, report.unreadable
                ),
            )
            .await?;
        }
        Ok(report)
    }
}
