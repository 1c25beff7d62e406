//! The audit log's chain: what makes an edit of the log visible.
//!
//! The database refuses `UPDATE` and `DELETE` on the log, but whoever owns the database can
//! drop that trigger. So each record also carries a MAC over its own content, its place in
//! the chain (`seq`, counting from 1 with no gaps) and the MAC of the record before it, under
//! a key derived from the server key, which is never in the database. Without the key nobody
//! can edit, remove or add a record, or renumber the ones after it, without breaking the chain
//! at that point; [`ChainWalk`] reads the chain in order and names the first break.
//!
//! The first record's MAC also covers the records written before the chain existed (how
//! many, and the highest row id among them), so none can be added among them later.
//!
//! What the chain cannot show on its own: the newest records removed together (the chain up
//! to the new end is intact). `latchkey audit verify` prints the head (its `seq` and MAC);
//! given a head kept from before (`--head`), it checks that very record is still there.

use hmac::{Hmac, KeyInit, Mac as _};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// A record's MAC, which the next record's MAC covers.
pub type ChainMac = [u8; 32];

/// The key the chain is MACed with (a subkey of the server key). Never printed.
#[derive(Clone)]
pub struct ChainKey([u8; 32]);

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChainKey(<redacted>)")
    }
}

/// What a record's MAC covers: everything in it, and its place in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Linked<'a> {
    pub seq: i64,
    pub at: i64,
    pub account_id: Option<&'a str>,
    pub client_addr: &'a str,
    pub user_agent: &'a str,
    pub event: &'a str,
    pub outcome: &'a str,
    pub detail: &'a str,
}

/// The records written before the chain began, as the first chained record saw them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Legacy {
    pub count: i64,
    /// The highest row id among them (0 when there are none).
    pub max_row: i64,
}

/// What a record follows: the records from before the chain (for the first record), or
/// the previous record's stored MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Previous<'a> {
    Start(Legacy),
    Mac(&'a [u8]),
}

impl ChainKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The MAC of `record` following `previous`. Every field is length-prefixed, so no two
    /// records encode alike.
    #[expect(clippy::expect_used, reason = "HMAC takes any key")]
    pub fn link(&self, previous: Previous<'_>, record: &Linked<'_>) -> ChainMac {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(b"latchkey audit chain v1\0");
        match previous {
            Previous::Mac(previous) => {
                mac.update(&[1]);
                mac.update(&(previous.len() as u64).to_be_bytes());
                mac.update(previous);
            }
            Previous::Start(legacy) => {
                mac.update(&[0]);
                mac.update(&legacy.count.to_be_bytes());
                mac.update(&legacy.max_row.to_be_bytes());
            }
        }
        mac.update(&record.seq.to_be_bytes());
        mac.update(&record.at.to_be_bytes());
        match record.account_id {
            Some(account) => {
                mac.update(&[1]);
                field(&mut mac, account);
            }
            None => mac.update(&[0]),
        }
        for text in [
            record.client_addr,
            record.user_agent,
            record.event,
            record.outcome,
            record.detail,
        ] {
            field(&mut mac, text);
        }
        mac.finalize().into_bytes().into()
    }
}

fn field(mac: &mut Hmac<Sha256>, text: &str) {
    mac.update(&(text.len() as u64).to_be_bytes());
    mac.update(text.as_bytes());
}

/// Where the chain first fails to be what latchkey wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// Records `expected` up to `found - 1` are gone: removed, or the chain renumbered.
    Missing { expected: i64, found: i64 },
    /// A second record claims a place already taken: added behind latchkey's back.
    Duplicate { seq: i64 },
    /// The record's content or MAC is not what was chained: edited, or added with a made-up
    /// MAC.
    Altered { seq: i64 },
    /// A record outside the chain, written after the chain began (the id of its row).
    Unchained { row: i64 },
    /// The record at the place of a head kept from before is another record: the records
    /// from there on were removed and others written since.
    NotTheKeptHead { seq: i64 },
    /// The chain ends before the place of a head kept from before: records were removed.
    EndsBeforeTheKeptHead { seq: i64, ends: i64 },
}

/// A head an operator kept from an earlier `verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptHead {
    pub seq: i64,
    pub mac: Vec<u8>,
}

/// Reads the chain in `seq` order, one record at a time, and stops at the first break.
#[derive(Debug, Clone)]
pub struct ChainWalk {
    /// The chain keys of every server key, each with the last place it may have MACed
    /// (`None`: any): records appended before a rotation were MACed under an older one.
    keys: Vec<(ChainKey, Option<i64>)>,
    /// The key the previous record verified under, tried first.
    last_key: usize,
    legacy: Legacy,
    kept: Option<KeptHead>,
    next_seq: i64,
    previous: Option<ChainMac>,
}

impl ChainWalk {
    /// A walk from the first record, which must cover `legacy` (the records from before the
    /// chain as they are now), and, when given, through the record of `kept`.
    pub fn new(key: ChainKey, legacy: Legacy, kept: Option<KeptHead>) -> Self {
        Self::with_keys(vec![(key, None)], legacy, kept)
    }

    /// A walk that accepts a record MACed under any of `keys` (the current one first) whose
    /// bound it is within: a rotated server key appends under the new key what the old one
    /// began, and a retired key verifies only the records up to the head when it was
    /// retired — whoever still holds it cannot append records that verify, nor rewrite any
    /// after that place. Someone without any of the keys cannot make a record that verifies.
    pub fn with_keys(
        keys: Vec<(ChainKey, Option<i64>)>,
        legacy: Legacy,
        kept: Option<KeptHead>,
    ) -> Self {
        Self {
            keys,
            last_key: 0,
            legacy,
            kept,
            next_seq: 1,
            previous: None,
        }
    }

    /// Checks the next record (records must come in `seq` order, ties in row order).
    pub fn step(&mut self, record: &Linked<'_>, stored_mac: &[u8]) -> Result<(), ChainBreak> {
        if record.seq < self.next_seq {
            return Err(ChainBreak::Duplicate { seq: record.seq });
        }
        if record.seq > self.next_seq {
            return Err(ChainBreak::Missing {
                expected: self.next_seq,
                found: record.seq,
            });
        }
        let previous = match &self.previous {
            Some(mac) => Previous::Mac(mac),
            None => Previous::Start(self.legacy),
        };
        let order = std::iter::once(self.last_key)
            .chain((0..self.keys.len()).filter(|&n| n != self.last_key))
            .filter(|&n| n < self.keys.len())
            .filter(|&n| self.keys[n].1.is_none_or(|through| record.seq <= through));
        let mut verified = None;
        for n in order {
            let expected = self.keys[n].0.link(previous, record);
            if bool::from(expected.as_slice().ct_eq(stored_mac)) {
                verified = Some((n, expected));
                break;
            }
        }
        let Some((key, expected)) = verified else {
            return Err(ChainBreak::Altered { seq: record.seq });
        };
        self.last_key = key;
        if let Some(kept) = &self.kept
            && kept.seq == record.seq
            && !bool::from(kept.mac.as_slice().ct_eq(stored_mac))
        {
            return Err(ChainBreak::NotTheKeptHead { seq: kept.seq });
        }
        self.previous = Some(expected);
        self.next_seq += 1;
        Ok(())
    }

    /// After the last record: whether the chain reached the kept head.
    pub fn finish(&self) -> Result<(), ChainBreak> {
        match &self.kept {
            Some(kept) if kept.seq > self.checked() => Err(ChainBreak::EndsBeforeTheKeptHead {
                seq: kept.seq,
                ends: self.checked(),
            }),
            _ => Ok(()),
        }
    }

    /// How many records have been checked.
    pub fn checked(&self) -> i64 {
        self.next_seq - 1
    }

    /// The last checked record's `seq` and MAC.
    pub fn head(&self) -> Option<(i64, ChainMac)> {
        self.previous.map(|mac| (self.next_seq - 1, mac))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ChainKey {
        ChainKey::from_bytes([7; 32])
    }

    fn record(seq: i64, detail: &'static str) -> Linked<'static> {
        Linked {
            seq,
            at: 1_800_000_000 + seq,
            account_id: Some("123456789012"),
            client_addr: "192.0.2.1",
            user_agent: "test",
            event: "sign_in",
            outcome: "success",
            detail,
        }
    }

    type Chain = Vec<(Linked<'static>, ChainMac)>;

    const LEGACY: Legacy = Legacy {
        count: 2,
        max_row: 7,
    };

    /// A chain of `n` records as latchkey writes it, after two legacy records.
    fn chain(n: i64) -> Chain {
        let mut previous: Option<ChainMac> = None;
        (1..=n)
            .map(|seq| {
                let r = record(seq, "");
                let after = match &previous {
                    Some(mac) => Previous::Mac(mac),
                    None => Previous::Start(LEGACY),
                };
                let mac = key().link(after, &r);
                previous = Some(mac);
                (r, mac)
            })
            .collect()
    }

    fn walk_with(
        records: &[(Linked<'static>, ChainMac)],
        legacy: Legacy,
        kept: Option<KeptHead>,
    ) -> Result<i64, ChainBreak> {
        let mut walk = ChainWalk::new(key(), legacy, kept);
        for (r, mac) in records {
            walk.step(r, mac)?;
        }
        walk.finish()?;
        Ok(walk.checked())
    }

    fn walk(records: &[(Linked<'static>, ChainMac)]) -> Result<i64, ChainBreak> {
        walk_with(records, LEGACY, None)
    }

    /// Records 1–3 appended under `key()`, then 4–6 under a rotated key, as an instance
    /// does once its key file has a new current key.
    fn rotated_chain() -> Chain {
        let new = ChainKey::from_bytes([8; 32]);
        let mut previous: Option<ChainMac> = None;
        (1..=6)
            .map(|seq| {
                let r = record(seq, "");
                let after = match &previous {
                    Some(mac) => Previous::Mac(mac),
                    None => Previous::Start(LEGACY),
                };
                let mac = if seq <= 3 { key() } else { new.clone() }.link(after, &r);
                previous = Some(mac);
                (r, mac)
            })
            .collect()
    }

    #[test]
    fn a_chain_continued_under_a_rotated_key_verifies_with_both_keys_and_no_fewer() {
        let chain = rotated_chain();
        let walk_keys = |keys: Vec<(ChainKey, Option<i64>)>| {
            let mut walk = ChainWalk::with_keys(keys, LEGACY, None);
            for (r, mac) in &chain {
                walk.step(r, mac)?;
            }
            Ok::<i64, ChainBreak>(walk.checked())
        };
        let new = ChainKey::from_bytes([8; 32]);
        let stranger = ChainKey::from_bytes([9; 32]);
        let table = [
            (vec![(new.clone(), None), (key(), None)], Ok(6)),
            (vec![(key(), None), (new.clone(), None)], Ok(6)),
            // Retired with the head at place 3: exactly the records it made.
            (vec![(new.clone(), None), (key(), Some(3))], Ok(6)),
            // Retired earlier than the records it made: the first after the bound breaks.
            (
                vec![(new.clone(), None), (key(), Some(2))],
                Err(ChainBreak::Altered { seq: 3 }),
            ),
            // Without the old key the first record is not what the chain's keys made.
            (
                vec![(new.clone(), None)],
                Err(ChainBreak::Altered { seq: 1 }),
            ),
            // Without the new one, the first record appended after the rotation.
            (vec![(key(), None)], Err(ChainBreak::Altered { seq: 4 })),
            (
                vec![(stranger, None), (new.clone(), None)],
                Err(ChainBreak::Altered { seq: 1 }),
            ),
        ];
        for (keys, expected) in table {
            assert_eq!(walk_keys(keys), expected);
        }
        // An edit is found whichever key the record was made under.
        let mut edited = chain.clone();
        edited[4].0.detail = "edited";
        let mut walk = ChainWalk::with_keys(vec![(new.clone(), None), (key(), None)], LEGACY, None);
        let found = edited.iter().try_for_each(|(r, mac)| walk.step(r, mac));
        assert_eq!(found, Err(ChainBreak::Altered { seq: 5 }));
        // Whoever holds the retired key cannot rewrite a record after its bound: record 5
        // re-MACed under the old key (and the rest after it) is refused.
        let mut forged = chain[..4].to_vec();
        let mut previous = forged[3].1;
        for (r, _) in &chain[4..] {
            let mac = key().link(Previous::Mac(&previous), r);
            forged.push((*r, mac));
            previous = mac;
        }
        let mut walk = ChainWalk::with_keys(vec![(new, None), (key(), Some(3))], LEGACY, None);
        let found = forged.iter().try_for_each(|(r, mac)| walk.step(r, mac));
        assert_eq!(found, Err(ChainBreak::Altered { seq: 5 }));
    }

    #[test]
    fn every_kind_of_tampering_is_found_where_it_happened() {
        let intact = chain(5);
        let forged = |seq, detail| (record(seq, detail), [0; 32]);
        let cases: Vec<(&str, Chain, Result<i64, ChainBreak>)> = vec![
            ("intact", intact.clone(), Ok(5)),
            ("empty", vec![], Ok(0)),
            (
                "edited content",
                {
                    let mut c = intact.clone();
                    c[2].0.detail = "forged";
                    c
                },
                Err(ChainBreak::Altered { seq: 3 }),
            ),
            (
                "edited MAC",
                {
                    let mut c = intact.clone();
                    c[1].1[0] ^= 1;
                    c
                },
                Err(ChainBreak::Altered { seq: 2 }),
            ),
            (
                "deleted in the middle",
                [&intact[..2], &intact[3..]].concat(),
                Err(ChainBreak::Missing {
                    expected: 3,
                    found: 4,
                }),
            ),
            (
                "deleted first",
                intact[1..].to_vec(),
                Err(ChainBreak::Missing {
                    expected: 1,
                    found: 2,
                }),
            ),
            (
                "deleted and the rest renumbered",
                {
                    let mut c = [&intact[..2], &intact[3..]].concat();
                    for (i, (r, _)) in c.iter_mut().enumerate() {
                        r.seq = i as i64 + 1;
                    }
                    c
                },
                Err(ChainBreak::Altered { seq: 3 }),
            ),
            (
                "inserted with a taken place",
                [&intact[..3], &[forged(3, "added")], &intact[3..]].concat(),
                Err(ChainBreak::Duplicate { seq: 3 }),
            ),
            (
                "appended with a made-up MAC",
                [&intact[..], &[forged(6, "added")]].concat(),
                Err(ChainBreak::Altered { seq: 6 }),
            ),
            (
                "added before the first place",
                [&[forged(-1, "added")], &intact[..]].concat(),
                Err(ChainBreak::Duplicate { seq: -1 }),
            ),
        ];
        for (name, records, expected) in cases {
            assert_eq!(walk(&records), expected, "{name}");
        }
    }

    #[test]
    fn a_chain_made_with_another_key_does_not_verify() {
        let mut walk = ChainWalk::new(ChainKey::from_bytes([8; 32]), LEGACY, None);
        let (r, mac) = chain(1)[0];
        assert_eq!(walk.step(&r, &mac), Err(ChainBreak::Altered { seq: 1 }));
    }

    #[test]
    fn records_from_before_the_chain_cannot_be_added_or_removed() {
        let intact = chain(3);
        for legacy in [
            Legacy {
                count: 3,
                max_row: 7,
            },
            Legacy {
                count: 2,
                max_row: 6,
            },
            Legacy::default(),
        ] {
            assert_eq!(
                walk_with(&intact, legacy, None),
                Err(ChainBreak::Altered { seq: 1 }),
                "{legacy:?}"
            );
        }
    }

    #[test]
    fn a_kept_head_must_still_be_there() {
        let intact = chain(5);
        let kept = |seq: i64, mac: ChainMac| {
            Some(KeptHead {
                seq,
                mac: mac.to_vec(),
            })
        };
        assert_eq!(walk_with(&intact, LEGACY, kept(3, intact[2].1)), Ok(5));
        // The tail from 4 removed: the chain is intact up to its new end, but not the head.
        assert_eq!(
            walk_with(&intact[..3], LEGACY, kept(5, intact[4].1)),
            Err(ChainBreak::EndsBeforeTheKeptHead { seq: 5, ends: 3 })
        );
        // Removed and written over since: another record sits at the kept place.
        let mut rewritten = chain(5);
        rewritten[3].0.detail = "written later";
        let mut previous = rewritten[2].1;
        for (r, mac) in &mut rewritten[3..] {
            *mac = key().link(Previous::Mac(&previous), r);
            previous = *mac;
        }
        assert_eq!(walk_with(&rewritten, LEGACY, None), Ok(5));
        assert_eq!(
            walk_with(&rewritten, LEGACY, kept(4, intact[3].1)),
            Err(ChainBreak::NotTheKeptHead { seq: 4 })
        );
    }

    #[test]
    fn fields_cannot_be_shifted_into_each_other() {
        let a = Linked {
            user_agent: "ab",
            event: "c",
            ..record(1, "")
        };
        let b = Linked {
            user_agent: "a",
            event: "bc",
            ..record(1, "")
        };
        let start = Previous::Start(LEGACY);
        assert_ne!(key().link(start, &a), key().link(start, &b));
        let none = Linked {
            account_id: None,
            ..record(1, "")
        };
        let empty = Linked {
            account_id: Some(""),
            ..record(1, "")
        };
        assert_ne!(key().link(start, &none), key().link(start, &empty));
    }

    #[test]
    fn the_key_never_prints() {
        assert_eq!(format!("{:?}", key()), "ChainKey(<redacted>)");
    }
}
