//! `latchkey audit`: the most recent audit events, newest first.

use anyhow::Context;

use super::wiring::Parts;
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// How many events to print.
    #[arg(long, default_value_t = 50)]
    limit: i64,
    /// Only the events of this account id.
    #[arg(long)]
    account: Option<String>,
}

pub(crate) async fn run(args: &Args, config: &Config) -> anyhow::Result<()> {
    let Args { limit, account } = args;
    let limit = *limit;
    let account = match account {
        Some(text) => Some(
            latchkey_domain::AccountId::parse(text)
                .context("--account must be a 12-digit account id")?,
        ),
        None => None,
    };
    let parts = Parts::open(config).await?;
    for record in parts.service.recent_audit(account.as_ref(), limit).await? {
        println!(
            "{}  {:<12}  {:<15}  {:<26} {:<8} {:<22} {:?}",
            latchkey_service::password_reset::format_time(record.at),
            record
                .account_id
                .map(|a| a.to_string())
                .unwrap_or_else(|| "-".into()),
            record.client_addr,
            record.event,
            record.outcome,
            if record.detail.is_empty() {
                "-"
            } else {
                &record.detail
            },
            record.user_agent,
        );
    }
    Ok(())
}
