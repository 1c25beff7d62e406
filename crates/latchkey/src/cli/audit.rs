//! `latchkey audit`: the audit log, newest first, filtered by account, event and time, as
//! text or JSON; `latchkey audit verify`: whether the log is still what latchkey wrote.

use anyhow::{Context, bail};
use latchkey_domain::audit_chain::{ChainBreak, KeptHead};
use latchkey_domain::{AccountId, AuditEvent, Timestamp};
use latchkey_service::event_history::{Event, EventQuery};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::wiring::Parts;
use crate::config::Config;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Option<AuditCommand>,
    /// How many events to print.
    #[arg(long, default_value_t = 50)]
    limit: i64,
    /// Only the events of this account id.
    #[arg(long)]
    account: Option<String>,
    /// Only this event (repeat for several), e.g. `sign_in`, `mfa_removed`.
    #[arg(long = "event", value_name = "EVENT")]
    events: Vec<String>,
    /// Only events at or after this time: `2026-11-30`, `2026-11-30T12:00:00Z` or Unix
    /// seconds.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only events before this time (same forms as `--since`).
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Only events older than this event id (the id printed for the next page).
    #[arg(long, value_name = "ID")]
    before: Option<i64>,
    /// Print one JSON document instead of lines of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum AuditCommand {
    /// Check that no record was edited, removed or added in the database behind latchkey's
    /// back; exits non-zero at the first broken link.
    Verify {
        /// A head printed by an earlier `verify` (`SEQ:MAC`): that record must still be in
        /// the chain, which shows the newest records were not removed since.
        #[arg(long, value_name = "SEQ:MAC")]
        head: Option<String>,
    },
}

pub(crate) async fn run(args: &Args, config: &Config) -> anyhow::Result<()> {
    if let Some(AuditCommand::Verify { head }) = &args.command {
        let kept = head.as_deref().map(kept_head).transpose()?;
        return verify(config, kept).await;
    }
    let account = match &args.account {
        Some(text) => {
            Some(AccountId::parse(text).context("--account must be a 12-digit account id")?)
        }
        None => None,
    };
    let query = EventQuery {
        events: args
            .events
            .iter()
            .map(|name| event(name))
            .collect::<anyhow::Result<_>>()?,
        since: args
            .since
            .as_deref()
            .map(|t| instant(t).context("--since"))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|t| instant(t).context("--until"))
            .transpose()?,
        before: args.before,
        limit: args.limit,
    };
    let parts = Parts::open(config).await?;
    let page = parts.service.audit_events(account.as_ref(), &query).await?;
    if args.json {
        let events: Vec<_> = page.events.iter().map(event_json).collect();
        let document = serde_json::json!({ "events": events, "older_before": page.older });
        println!("{}", serde_json::to_string_pretty(&document)?);
        return Ok(());
    }
    for e in &page.events {
        println!(
            "{:>8}  {}  {:<12}  {:<15}  {:<26} {:<8} {:<22} {:?}",
            e.id,
            latchkey_service::password_reset::format_time(e.at),
            e.account_id
                .as_ref()
                .map(|a| a.to_string())
                .unwrap_or_else(|| "-".into()),
            e.client_addr,
            e.event_name,
            e.outcome.map(|o| o.as_str()).unwrap_or("?"),
            if e.detail.is_empty() { "-" } else { &e.detail },
            e.user_agent,
        );
    }
    if let Some(older) = page.older {
        eprintln!("older events: add --before {older}");
    }
    Ok(())
}

pub(super) fn event_json(e: &Event) -> serde_json::Value {
    serde_json::json!({
        "id": e.id,
        "at": rfc3339(e.at),
        "account_id": e.account_id.as_ref().map(|a| a.as_str()),
        "event": e.event_name,
        "outcome": e.outcome.map(|o| o.as_str()),
        "detail": e.detail,
        "client_address": e.client_addr,
        "user_agent": e.user_agent,
    })
}

pub(super) fn rfc3339(at: Timestamp) -> String {
    OffsetDateTime::from_unix_timestamp(at.0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| at.0.to_string())
}

fn event(name: &str) -> anyhow::Result<AuditEvent> {
    AuditEvent::parse(name).with_context(|| {
        let known: Vec<_> = AuditEvent::ALL.iter().map(|e| e.as_str()).collect();
        format!(
            "--event {name:?} is not an event latchkey records; the events are: {}",
            known.join(", ")
        )
    })
}

/// A time as an operator types it: a date (midnight UTC), RFC 3339, or Unix seconds.
fn instant(text: &str) -> anyhow::Result<Timestamp> {
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(Timestamp(seconds));
    }
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(Timestamp(at.unix_timestamp()));
    }
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(date) = time::Date::parse(text, &date_format) {
        return Ok(Timestamp(date.midnight().assume_utc().unix_timestamp()));
    }
    bail!("{text:?} is not a time: use 2026-11-30, 2026-11-30T12:00:00Z or Unix seconds")
}

/// `SEQ:MAC` as `verify` prints it.
fn kept_head(text: &str) -> anyhow::Result<KeptHead> {
    let parsed = text.split_once(':').and_then(|(seq, mac)| {
        Some(KeptHead {
            seq: seq.trim().parse().ok().filter(|seq| *seq >= 1)?,
            mac: latchkey_service::secrets::unhex(mac.trim()).filter(|mac| mac.len() == 32)?,
        })
    });
    parsed.with_context(|| {
        format!(
            "--head {text:?} is not a head as `audit verify` prints it (SEQ:MAC, the MAC in \
             64 hexadecimal characters)"
        )
    })
}

async fn verify(config: &Config, kept: Option<KeptHead>) -> anyhow::Result<()> {
    let parts = Parts::open(config).await?;
    let report = parts.service.verify_audit_chain(kept).await?;
    if let Some(broken) = &report.first_break {
        bail!(
            "the audit log was changed outside latchkey: {}; the {} records before it are \
             intact",
            break_words(broken),
            report.intact
        );
    }
    match report.head {
        Some((seq, mac)) => {
            println!(
                "The audit log is intact: {} records chained from the first.",
                report.intact
            );
            println!("Head: {seq}:{}", latchkey_service::secrets::hex(&mac));
            println!(
                "Removing the newest records would leave the rest intact: keep the head \
                 elsewhere and pass it to a later check (audit verify --head {seq}:…) to prove \
                 that record is still there."
            );
        }
        None => println!("The audit log is intact: no chained records yet."),
    }
    if report.before_chain > 0 {
        println!(
            "{} records from before the chain began are counted by its first record, not \
             chained.",
            report.before_chain
        );
    }
    Ok(())
}

fn break_words(broken: &ChainBreak) -> String {
    match *broken {
        ChainBreak::Missing { expected, found } if found == expected + 1 => {
            format!("record {expected} is missing (removed, or the records after it renumbered)")
        }
        ChainBreak::Missing { expected, found } => format!(
            "records {expected} to {} are missing (removed, or the records after them \
             renumbered)",
            found - 1
        ),
        ChainBreak::Duplicate { seq } => {
            format!("a second record claims place {seq} (added in the database)")
        }
        ChainBreak::Altered { seq: 1 } => "record 1 is not what latchkey wrote (edited, added \
             with a made-up MAC, or records from before the chain added or removed)"
            .to_owned(),
        ChainBreak::Altered { seq } => {
            format!("record {seq} is not what latchkey wrote (edited, or added with a made-up MAC)")
        }
        ChainBreak::Unchained { row } => {
            format!("row {row} was added outside the chain after the chain began")
        }
        ChainBreak::NotTheKeptHead { seq } => format!(
            "record {seq} is not the head you kept (the records from there on were removed \
             and others written since)"
        ),
        ChainBreak::EndsBeforeTheKeptHead { seq, ends } => format!(
            "the chain ends at record {ends}, before the head you kept (record {seq}): the \
             newest records were removed"
        ),
    }
}
