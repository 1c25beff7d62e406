//! Verification calls cost money and ring a stranger's phone if latchkey is pointed at it.
//! These are the rules that bound them: budgets per account, per destination number, per
//! client network and per server — **separately for sign-up and recovery**, so a flood of
//! sign-ups can never use up the calls that owners need to get back in — and the countries
//! (and kinds of number) latchkey calls at all (toll fraud).
//!
//! The store counts each budget and inserts the call in one transaction, with the purpose's
//! budget locked, so concurrent requests cannot each see room for one more call. A call
//! superseded before it was placed (it never rang) does not count.

use std::str::FromStr;

use crate::contact::PhoneNumber;
use crate::time::{Duration, Timestamp};

/// What a verification call is for: each purpose has its own transition when the right
/// digits arrive, and its own budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallPurpose {
    Recovery,
    /// Verifying the phone number given at sign-up.
    SignUp,
    /// Verifying a new phone number before it replaces the account's.
    ContactChange,
}

impl CallPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recovery => "recovery",
            Self::SignUp => "sign_up",
            Self::ContactChange => "contact_change",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "recovery" => Some(Self::Recovery),
            "sign_up" => Some(Self::SignUp),
            "contact_change" => Some(Self::ContactChange),
            _ => None,
        }
    }
}

/// Which calls a budget counts (always of one purpose).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallScope {
    /// Calls for the same account.
    Account,
    /// Calls to the same number, whatever the account.
    Destination,
    /// Calls asked for from the same client network.
    Client,
    /// Every call of the purpose.
    Server,
}

/// At most `max` calls within `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub max: u32,
    pub window: Duration,
}

impl Budget {
    pub const fn new(max: u32, window: Duration) -> Self {
        Self { max, window }
    }
}

/// The budgets of one purpose.
#[derive(Debug, Clone, Copy)]
pub struct CallBudgets {
    pub per_account: Budget,
    pub per_destination: Budget,
    pub per_client: Budget,
    pub server: Budget,
}

/// One budget to check before a call is inserted: fewer than `max` counted calls since
/// `since`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimit {
    pub scope: CallScope,
    pub since: Timestamp,
    pub max: u32,
}

/// Why a number is not called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationRefusal {
    /// Outside the allow-list of countries.
    #[error("country not allowed (allowed: {allowed})")]
    Country { allowed: String },
    /// Premium-rate, shared-cost and similar numbers cost the caller more than a call.
    #[error("premium-rate or shared-cost number")]
    Costly,
}

#[derive(Debug, Clone)]
pub struct CallPolicy {
    pub recovery: CallBudgets,
    pub sign_up: CallBudgets,
    pub contact_change: CallBudgets,
    /// ISO 3166 regions latchkey calls (`GB`, `US`); `None` calls any country.
    pub allowed_regions: Option<Vec<String>>,
}

impl Default for CallPolicy {
    /// Recovery: 6 calls per account a day (3 per flow, two flows), 6 to one number a day, 10
    /// from one network an hour, 200 an hour in all. Sign-up, which anyone can reach: 3 per
    /// sign-up and 3 to one number a day, 5 from one network an hour, 50 an hour in all.
    /// Contact changes, which need a fresh MFA sign-in: 6 per account and 3 to one number a
    /// day, 10 from one network an hour, 50 an hour in all.
    fn default() -> Self {
        let day = Duration::hours(24);
        let hour = Duration::hours(1);
        Self {
            recovery: CallBudgets {
                per_account: Budget::new(6, day),
                per_destination: Budget::new(6, day),
                per_client: Budget::new(10, hour),
                server: Budget::new(200, hour),
            },
            sign_up: CallBudgets {
                per_account: Budget::new(3, day),
                per_destination: Budget::new(3, day),
                per_client: Budget::new(5, hour),
                server: Budget::new(50, hour),
            },
            contact_change: CallBudgets {
                per_account: Budget::new(6, day),
                per_destination: Budget::new(3, day),
                per_client: Budget::new(10, hour),
                server: Budget::new(50, hour),
            },
            allowed_regions: None,
        }
    }
}

impl CallPolicy {
    pub fn budgets(&self, purpose: CallPurpose) -> &CallBudgets {
        match purpose {
            CallPurpose::Recovery => &self.recovery,
            CallPurpose::SignUp => &self.sign_up,
            CallPurpose::ContactChange => &self.contact_change,
        }
    }

    /// The budgets a new call of `purpose` must fit in, as of `now`.
    pub fn limits(&self, purpose: CallPurpose, now: Timestamp) -> [CallLimit; 4] {
        let budgets = self.budgets(purpose);
        let limit = |scope, budget: Budget| CallLimit {
            scope,
            since: now - budget.window,
            max: budget.max,
        };
        [
            limit(CallScope::Account, budgets.per_account),
            limit(CallScope::Destination, budgets.per_destination),
            limit(CallScope::Client, budgets.per_client),
            limit(CallScope::Server, budgets.server),
        ]
    }

    /// Whether latchkey may call `number` at all.
    pub fn may_call_number(&self, number: &PhoneNumber) -> Result<(), DestinationRefusal> {
        if number.is_costly() {
            return Err(DestinationRefusal::Costly);
        }
        match &self.allowed_regions {
            None => Ok(()),
            Some(allowed) => match number.region() {
                Some(region) if allowed.contains(&region) => Ok(()),
                _ => Err(DestinationRefusal::Country {
                    allowed: allowed.join(", "),
                }),
            },
        }
    }

    /// Reads the allow-list setting: `*` for any country, else ISO 3166 region codes
    /// separated by commas (`GB, US`).
    pub fn parse_regions(text: &str) -> Result<Option<Vec<String>>, String> {
        let text = text.trim();
        if text == "*" {
            return Ok(None);
        }
        let mut regions = Vec::new();
        for part in text.split(',') {
            let code = part.trim().to_ascii_uppercase();
            if phonenumber::country::Id::from_str(&code).is_err() {
                return Err(format!(
                    "{:?} is not a country code like GB or US (or use * for any country)",
                    part.trim()
                ));
            }
            if !regions.contains(&code) {
                regions.push(code);
            }
        }
        if regions.is_empty() {
            return Err("name at least one country code, or * for any country".to_owned());
        }
        Ok(Some(regions))
    }
}

/// A call's life: queued (in the outbox) → placed (the provider took it) → verified, or
/// failed / superseded (a newer call of the same flow) / ended. Stored by the store in its own
/// encoding; the API and pages name a status themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallStatus {
    Queued,
    /// The worker claimed it and is asking the provider to ring: from here it counts
    /// against every budget, whatever happens to it next.
    Dialling,
    Placed,
    Verified,
    Failed,
    Superseded,
    Ended,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_up_and_recovery_have_budgets_of_their_own() {
        let policy = CallPolicy::default();
        let now = Timestamp(100_000);
        let recovery = policy.limits(CallPurpose::Recovery, now);
        let sign_up = policy.limits(CallPurpose::SignUp, now);
        assert_eq!(
            recovery.map(|l| l.scope),
            [
                CallScope::Account,
                CallScope::Destination,
                CallScope::Client,
                CallScope::Server
            ]
        );
        assert_eq!(
            sign_up[0],
            CallLimit {
                scope: CallScope::Account,
                since: Timestamp(100_000 - 86_400),
                max: 3
            }
        );
        assert_eq!(
            recovery[3],
            CallLimit {
                scope: CallScope::Server,
                since: Timestamp(100_000 - 3_600),
                max: 200
            }
        );
        assert!(sign_up[3].max < recovery[3].max);
    }

    #[test]
    fn only_allowed_countries_and_ordinary_numbers_are_called() {
        let uk = PhoneNumber::parse("+44 20 7946 0958").unwrap();
        let us = PhoneNumber::parse("+1 415 555 2671").unwrap();
        let uk_premium = PhoneNumber::parse("+44 909 879 0000").unwrap();
        let anywhere = CallPolicy::default();
        let gb_only = CallPolicy {
            allowed_regions: Some(vec!["GB".to_owned()]),
            ..CallPolicy::default()
        };
        let table = [
            (&anywhere, &uk, Ok(())),
            (&anywhere, &us, Ok(())),
            (&gb_only, &uk, Ok(())),
            (
                &gb_only,
                &us,
                Err(DestinationRefusal::Country {
                    allowed: "GB".to_owned(),
                }),
            ),
            (&anywhere, &uk_premium, Err(DestinationRefusal::Costly)),
        ];
        for (policy, number, expected) in table {
            assert_eq!(policy.may_call_number(number), expected, "{number}");
        }
    }

    #[test]
    fn the_allow_list_setting_is_read_strictly() {
        assert_eq!(CallPolicy::parse_regions("*"), Ok(None));
        assert_eq!(
            CallPolicy::parse_regions(" gb, US,GB "),
            Ok(Some(vec!["GB".to_owned(), "US".to_owned()]))
        );
        assert!(CallPolicy::parse_regions("UK").is_err());
        assert!(CallPolicy::parse_regions("").is_err());
        assert!(CallPolicy::parse_regions("GB,").is_err());
    }

    #[test]
    fn purposes_round_trip() {
        for purpose in [
            CallPurpose::Recovery,
            CallPurpose::SignUp,
            CallPurpose::ContactChange,
        ] {
            assert_eq!(CallPurpose::parse(purpose.as_str()), Some(purpose));
        }
    }
}
