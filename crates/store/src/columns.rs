//! Column lists that several statements share, kept beside the row readers that match them
//! (`account_from_row` in `sql/accounts.rs`, `flow_from_row` in `sql/recovery.rs`,
//! `call_from_row` in `sql/calls.rs`). Macros, so that
//! `concat!` can build whole statements from them at compile time.

/// The columns of an account row, as `account_from_row` reads them.
macro_rules! select_accounts {
    () => {
        "SELECT id, email, name, phone, phone_verified_at, email_verified_at, status, \
         password_hash, created_at, password_changed_at, password_generation, \
         email_changed_at, phone_changed_at, disabled_at FROM accounts"
    };
}

/// The columns of a recovery flow row, as `flow_from_row` reads them.
macro_rules! select_flows {
    () => {
        "SELECT id, account_id, state, created_at, expires_at, emails_sent, \
         email_token_expires_at, calls_placed, source, completed_at, reported_at, \
         started_from, started_agent, cancel_token_hash FROM recovery_flows"
    };
}

/// The columns of a call row, as `call_from_row` reads them.
macro_rules! select_calls {
    () => {
        "SELECT id, account_id, purpose, flow_id, to_number, code_hash, code_expires_at, \
         provider_call_id, status, digit_attempts, created_at FROM calls"
    };
}

pub(crate) use {select_accounts, select_calls, select_flows};
