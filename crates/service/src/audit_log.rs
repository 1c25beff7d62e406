//! Reading the audit log: the newest records for `latchkey audit`, and the chain check for
//! `latchkey audit verify`.

use latchkey_domain::AccountId;
use latchkey_domain::audit_chain::{ChainBreak, ChainMac, ChainWalk, KeptHead};

use crate::Service;
use crate::error::ServiceError;
use crate::store::{AuditRecord, KeyRecord};

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
    pub async fn check_server_key(&self, fresh: bool) -> Result<(), ServiceError> {
        let recorded = match self
            .store
            .record_key_fingerprint(&self.key_fingerprint, fresh, self.clock.now())
            .await?
        {
            KeyRecord::Recorded(recorded) => recorded,
            KeyRecord::Unclaimed => return Err(ServiceError::ServerKeyUnproven),
        };
        let same = subtle::ConstantTimeEq::ct_eq(
            recorded.fingerprint.as_bytes(),
            self.key_fingerprint.as_bytes(),
        );
        if bool::from(same) {
            Ok(())
        } else {
            Err(ServiceError::ServerKeyMismatch {
                recorded_at: recorded.recorded_at,
            })
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
