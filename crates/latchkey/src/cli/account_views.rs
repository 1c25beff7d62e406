//! `latchkey account list`, `account show`, `account disable` and `account enable`: what the
//! operator sees of accounts, and the switch that keeps one out. The rules live in
//! `latchkey_service::account_admin`; this module words them for a terminal or as JSON.

use anyhow::bail;
use latchkey_domain::Timestamp;
use latchkey_service::Service;
use latchkey_service::account_admin::AccountOverview;
use latchkey_service::operator::OperatorError;
use latchkey_service::password_reset::format_time;
use latchkey_service::session_list::SessionAuth;
use latchkey_service::store::AccountSummary;

use super::audit::rfc3339;
use super::break_glass::Args;

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// How many accounts to print (at most 1000).
    #[arg(long, default_value_t = 100)]
    limit: i64,
    /// Only accounts whose address sorts after this one (the address printed for the next
    /// page).
    #[arg(long, value_name = "EMAIL")]
    after: Option<String>,
    /// Print one JSON document instead of lines of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ShowArgs {
    /// The account's root user email address.
    email: String,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
}

const RECORDED: &str = "Recorded in the audit log, and the owner will be emailed (the email is queued; a running `latchkey serve` sends it).";

pub(crate) async fn list(service: &Service, args: &ListArgs) -> anyhow::Result<()> {
    if !(1..=1000).contains(&args.limit) {
        bail!("--limit must be between 1 and 1000");
    }
    let page = service
        .list_accounts(args.after.as_deref(), args.limit)
        .await
        .map_err(refusal)?;
    if args.json {
        let accounts: Vec<_> = page.accounts.iter().map(summary_json).collect();
        let document = serde_json::json!({ "accounts": accounts, "next_after": page.next_after });
        println!("{}", serde_json::to_string_pretty(&document)?);
        return Ok(());
    }
    for a in &page.accounts {
        println!(
            "{}  {:<40}  {:<22}  {} MFA, {} live session(s), last sign-in {}",
            a.id,
            a.email.as_str(),
            status_words(a.status, a.disabled_at),
            a.devices,
            a.live_sessions,
            a.last_sign_in_at
                .map(|t| format!("{} UTC", format_time(t)))
                .unwrap_or_else(|| "never".to_owned()),
        );
    }
    if page.accounts.is_empty() {
        println!("No accounts.");
    }
    if let Some(after) = page.next_after {
        eprintln!("more accounts: add --after {after}");
    }
    Ok(())
}

pub(crate) async fn show(service: &Service, args: &ShowArgs) -> anyhow::Result<()> {
    let overview = service
        .account_overview(&args.email)
        .await
        .map_err(refusal)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&overview_json(&overview))?
        );
        return Ok(());
    }
    let o = &overview;
    let at = |t: Option<Timestamp>| t.map(|t| format!("{} UTC", format_time(t)));
    println!("Account {} “{}”", o.id, o.name);
    println!("  Status:   {}", status_words(o.status, o.disabled_at));
    println!("  Created:  {} UTC", format_time(o.created_at));
    println!(
        "  Email:    {} ({}{})",
        o.email_masked,
        verified(o.email_verified_at),
        at(o.email_changed_at)
            .map(|t| format!(", changed {t}"))
            .unwrap_or_default()
    );
    println!(
        "  Phone:    {} ({}{})",
        o.phone_masked,
        verified(o.phone_verified_at),
        at(o.phone_changed_at)
            .map(|t| format!(", changed {t}"))
            .unwrap_or_default()
    );
    println!("  Password: set {} UTC", format_time(o.password_changed_at));
    if let Some(blocked) = at(o.recovery_blocked_at) {
        println!("  Sign-in with alternative factors blocked by This wasn't me since {blocked}");
    }
    println!("MFA devices ({}):", o.devices.len());
    for d in &o.devices {
        println!(
            "  {} “{}” ({}{}), added {} UTC, last used {}",
            d.kind.label(),
            d.name,
            d.id,
            d.serial
                .as_ref()
                .map(|s| format!(", serial {s}"))
                .unwrap_or_default(),
            format_time(d.created_at),
            at(d.last_used_at).unwrap_or_else(|| "never".to_owned()),
        );
    }
    println!("Live sessions ({}):", o.sessions.len());
    for s in &o.sessions {
        println!(
            "  since {} UTC, last seen {} UTC, from {}, {}; {:?}",
            format_time(s.created_at),
            format_time(s.last_seen_at),
            s.client_addr,
            auth_words(&s.auth),
            s.user_agent,
        );
    }
    println!(
        "Recent events (newest first; `latchkey audit --account {}` for more):",
        o.id
    );
    for e in &o.events {
        println!(
            "  {} UTC  {:<26} {:<8} {:<22} from {}",
            format_time(e.at),
            e.event_name,
            e.outcome.map(|o| o.as_str()).unwrap_or("?"),
            if e.detail.is_empty() { "-" } else { &e.detail },
            e.client_addr,
        );
    }
    Ok(())
}

pub(crate) async fn disable(service: &Service, args: &Args) -> anyhow::Result<()> {
    match service
        .disable_account_by_operator(&args.email, &args.reason)
        .await
    {
        Ok(done) => {
            let n = done.sessions_revoked;
            println!(
                "Disabled account {} ({}): signed out {n} {}, stopped sign-ins, recoveries, enrolments and contact changes in progress. Sign-in is refused until `latchkey account enable`.",
                done.account_id,
                args.email,
                if n == 1 { "session" } else { "sessions" }
            );
            println!("{RECORDED}");
            Ok(())
        }
        Err(OperatorError::AlreadyDisabled) => {
            bail!("{} is disabled already; nothing was changed", args.email)
        }
        Err(error) => Err(refusal(error)),
    }
}

pub(crate) async fn enable(service: &Service, args: &Args) -> anyhow::Result<()> {
    match service
        .enable_account_by_operator(&args.email, &args.reason)
        .await
    {
        Ok(id) => {
            println!(
                "Enabled account {id} ({}): the owner can sign in again.",
                args.email
            );
            println!("{RECORDED}");
            Ok(())
        }
        Err(OperatorError::NotDisabled) => {
            bail!("{} is not disabled; nothing was changed", args.email)
        }
        Err(error) => Err(refusal(error)),
    }
}

/// The refusals every command here shares, worded.
fn refusal(error: OperatorError) -> anyhow::Error {
    match error {
        OperatorError::UnknownAccount => {
            anyhow::anyhow!("no account has this email address; nothing was changed")
        }
        OperatorError::ReasonMissing => anyhow::anyhow!(
            "--reason must say why (it goes in the audit log and in the email to the owner); nothing was changed"
        ),
        OperatorError::ReasonTooLong { max_chars } => {
            anyhow::anyhow!("--reason can be at most {max_chars} characters; nothing was changed")
        }
        other => other.into(),
    }
}

fn status_words(status: latchkey_domain::AccountStatus, disabled: Option<Timestamp>) -> String {
    match (disabled, status) {
        (Some(at), _) => format!("disabled since {} UTC", format_time(at)),
        (None, latchkey_domain::AccountStatus::Active) => "active".to_owned(),
        (None, latchkey_domain::AccountStatus::PendingVerification) => {
            "waiting for its email link".to_owned()
        }
    }
}

fn verified(at: Option<Timestamp>) -> String {
    match at {
        Some(at) => format!("verified {} UTC", format_time(at)),
        None => "not verified".to_owned(),
    }
}

fn auth_words(auth: &SessionAuth) -> String {
    match auth {
        SessionAuth::Password => "password only".to_owned(),
        SessionAuth::Mfa { kind, name } => format!("password and {} “{name}”", kind.label()),
        SessionAuth::AlternativeFactors => "alternative factors (email and phone)".to_owned(),
    }
}

fn summary_json(a: &AccountSummary) -> serde_json::Value {
    serde_json::json!({
        "id": a.id.as_str(),
        "email": a.email.as_str(),
        "name": a.name,
        "status": a.status.as_str(),
        "disabled_at": a.disabled_at.map(rfc3339),
        "created_at": rfc3339(a.created_at),
        "mfa_devices": a.devices,
        "live_sessions": a.live_sessions,
        "last_sign_in_at": a.last_sign_in_at.map(rfc3339),
    })
}

fn overview_json(o: &AccountOverview) -> serde_json::Value {
    let devices: Vec<_> = o
        .devices
        .iter()
        .map(|d| {
            serde_json::json!({
                "id": d.id.as_str(),
                "kind": d.kind.as_str(),
                "name": d.name,
                "serial": d.serial,
                "created_at": rfc3339(d.created_at),
                "last_used_at": d.last_used_at.map(rfc3339),
            })
        })
        .collect();
    let sessions: Vec<_> = o
        .sessions
        .iter()
        .map(|s| {
            serde_json::json!({
                "id": s.id,
                "created_at": rfc3339(s.created_at),
                "last_seen_at": rfc3339(s.last_seen_at),
                "expires_at": rfc3339(s.expires_at),
                "client_address": s.client_addr,
                "user_agent": s.user_agent,
                "authenticated_with": auth_words(&s.auth),
            })
        })
        .collect();
    let events: Vec<_> = o.events.iter().map(super::audit::event_json).collect();
    serde_json::json!({
        "id": o.id.as_str(),
        "name": o.name,
        "status": o.status.as_str(),
        "disabled_at": o.disabled_at.map(rfc3339),
        "created_at": rfc3339(o.created_at),
        "email": o.email_masked,
        "email_verified_at": o.email_verified_at.map(rfc3339),
        "email_changed_at": o.email_changed_at.map(rfc3339),
        "phone": o.phone_masked,
        "phone_verified_at": o.phone_verified_at.map(rfc3339),
        "phone_changed_at": o.phone_changed_at.map(rfc3339),
        "password_changed_at": rfc3339(o.password_changed_at),
        "recovery_blocked_at": o.recovery_blocked_at.map(rfc3339),
        "mfa_devices": devices,
        "sessions": sessions,
        "events": events,
    })
}
