//! Reading the audit log: the newest records for `latchkey audit`, and the chain check for
//! `latchkey audit verify`.

use latchkey_domain::AccountId;
use latchkey_domain::audit_chain::{ChainBreak, ChainMac, ChainWalk, KeptHead};

use crate::Service;
use crate::error::ServiceError;
use crate::store::{AuditRecord, KeyPromotion, KeyRecord};

/// Records read per query while walking the chain.
const CHAIN_PAGE: i64 = 1_000;

/// What `latchkey audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Chained records found intact, from the first.
    pub intact: i64,
    /// The last intact record's place and MAC, for the operator to keep elsewhere.
    pub head: Option<(i64, ChainMac)>,
    /// Records written before the chain began (its first record covers how many there are).
    pub before_chain: i64,
    /// The first place where the log is not what latchkey wrote.
    pub first_break: Option<ChainBreak>,
}

impl Service {
    /// Makes sure the database belongs to this server key: records its fingerprint the first
    /// time, and afterwards refuses another key (`ServerKeyMismatch`), which would leave every
    /// sealed secret unreadable and write an audit chain no other instance can verify.
    /// `fresh`: the key was generated just now (no key file was found).
    ///
    /// The key file may hold other keys beside the current one (a rotation): when the
    /// database still records one of those, the rotation was not recorded yet and this key
    /// becomes the recorded one, audited in the same transaction. The database never goes
    /// back to a key a rotation replaced (`ServerKeySuperseded`): a file from before the
    /// rotation, or with its lines out of order, is refused.
    pub async fn check_server_key(&self, fresh: bool) -> Result<(), ServiceError> {
        let current = &self.key_fingerprints[0];
        let recorded = match self
            .store
            .record_key_fingerprint(current, fresh, self.clock.now())
            .await?
        {
            KeyRecord::Recorded(recorded) => recorded,
            KeyRecord::Unclaimed => return Err(ServiceError::ServerKeyUnproven),
        };
        let is = |fingerprint: &String| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                recorded.fingerprint.as_bytes(),
                fingerprint.as_bytes(),
            ))
        };
        if is(current) {
            return Ok(());
        }
        let Some(older) = self.key_fingerprints.iter().position(is) else {
            if self.store.key_superseded(current).await? {
                return Err(ServiceError::ServerKeySuperseded {
                    recorded_at: recorded.recorded_at,
                });
            }
            return Err(ServiceError::ServerKeyMismatch {
                recorded_at: recorded.recorded_at,
            });
        };
        let audit = self.audit(
            &crate::RequestContext::operator(),
            None,
            latchkey_domain::AuditEvent::ServerKeyRotated,
            latchkey_domain::AuditOutcome::Success,
            &format!(
                "key: {}; previous: {}",
                self.key_ids[0], self.key_ids[older]
            ),
        );
        match self
            .store
            .promote_key_fingerprint(&recorded.fingerprint, current, self.clock.now(), &audit)
            .await?
        {
            KeyPromotion::Promoted => Ok(()),
            KeyPromotion::Superseded => Err(ServiceError::ServerKeySuperseded {
                recorded_at: recorded.recorded_at,
            }),
            KeyPromotion::Moved => Err(ServiceError::ServerKeyMismatch {
                recorded_at: recorded.recorded_at,
            }),
        }
    }

    /// The newest audit records, for `latchkey audit`.
    pub async fn recent_audit(
        &self,
        account: Option<&AccountId>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, ServiceError> {
        Ok(self
            .store
            .recent_audit(account, limit.clamp(1, 10_000))
            .await?)
    }

    /// Walks the whole chain from its first record and reports the first break: a record
    /// edited, removed or added in the database by anyone without the server key. With a
    /// head kept from an earlier check, that record must still be in the chain.
    pub async fn verify_audit_chain(
        &self,
        kept: Option<KeptHead>,
    ) -> Result<ChainReport, ServiceError> {
        let unchained = self.store.unchained_audit().await?;
        let mut walk = ChainWalk::with_keys(self.audit_chain.clone(), unchained.before_chain, kept);
        // From the lowest place there is, so a record put before the first is read too.
        let mut after = (i64::MIN, i64::MIN);
        let mut first_break = None;
        'pages: loop {
            let page = self.store.audit_chain_page(after, CHAIN_PAGE).await?;
            let Some(last) = page.last() else { break };
            after = (last.seq, last.row);
            for chained in &page {
                let linked = chained.record.linked(chained.seq);
                if let Err(broken) = walk.step(&linked, &chained.mac) {
                    first_break = Some(broken);
                    break 'pages;
                }
            }
        }
        let first_break = first_break.or_else(|| walk.finish().err()).or(unchained
            .first_after_start
            .map(|row| ChainBreak::Unchained { row }));
        Ok(ChainReport {
            intact: walk.checked(),
            head: walk.head(),
            before_chain: unchained.before_chain.count,
            first_break,
        })
    }
}
