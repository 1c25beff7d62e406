//! `latchkey account …`: operator commands on one account.

use std::io::Read;

use anyhow::{Context, bail};
use clap::Subcommand;
use latchkey_service::ServiceError;
use latchkey_service::accounts::SignUpRequest;

use super::account_views::{self, ListArgs, ShowArgs};
use super::break_glass;
use super::wiring::Parts;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub(crate) enum AccountCommand {
    /// Create an active account with both contacts marked verified (operator bootstrap) and
    /// print its account id.
    Create {
        /// Root user email address.
        #[arg(long)]
        email: String,
        /// Phone number in international form, e.g. +442079460958.
        #[arg(long)]
        phone: String,
        /// Account name.
        #[arg(long)]
        name: String,
        /// Read the password from standard input (required: passwords never go on the
        /// command line, where other users can see them).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Break glass: lift the block `This wasn't me` put on sign-in with alternative factors.
    ///
    /// For an owner who reported a recovery as not theirs and has no MFA device older than
    /// it, so cannot lift the block by signing in. Devices, sessions and the password are left
    /// as they are; an owner who has not reset the password since the report still has to
    /// (Forgot password?). Check the request is genuine first. Every use is written to the
    /// audit log with the reason, and the owner is emailed what was done, when and why.
    UnblockRecovery(break_glass::Args),
    /// Break glass: remove every MFA device of an account, so the password alone signs in.
    ///
    /// For an owner who lost every MFA device and cannot use alternative factors (a dead
    /// phone number, or a `This wasn't me` block). Removes every active device (kept as
    /// records; hardware tokens go back to the inventory), signs out every session, stops
    /// sign-ins, enrolments and recoveries in progress and lifts a `This wasn't me` block. The
    /// password is untouched: the owner signs in with it alone and should activate a device at
    /// once. Check the request is genuine first. Every use is written to the audit log with
    /// the reason, and the owner is emailed what was done, when and why.
    ResetMfa(break_glass::Args),
    /// List accounts in email order: id, address, status, MFA devices, live sessions and the
    /// last sign-in.
    List(ListArgs),
    /// Show one account: status, contacts (masked), MFA devices, live sessions and the newest
    /// events.
    Show(ShowArgs),
    /// Disable an account: signs out every session, stops sign-ins, recoveries, enrolments and
    /// contact changes in progress, and refuses sign-in until `enable`. Nothing else changes.
    /// Audited with the reason; the owner is emailed.
    Disable(break_glass::Args),
    /// Enable a disabled account again. Audited with the reason; the owner is emailed.
    Enable(break_glass::Args),
}

pub(crate) async fn run(action: AccountCommand, config: &Config) -> anyhow::Result<()> {
    match action {
        AccountCommand::Create {
            email,
            phone,
            name,
            password_stdin: _,
        } => create(config, email, phone, name).await,
        AccountCommand::UnblockRecovery(args) => {
            let parts = Parts::open(config).await?;
            break_glass::unblock_recovery(&parts.service, &args).await
        }
        AccountCommand::ResetMfa(args) => {
            let parts = Parts::open(config).await?;
            break_glass::reset_mfa(&parts.service, &args).await
        }
        AccountCommand::List(args) => {
            let parts = Parts::open(config).await?;
            account_views::list(&parts.service, &args).await
        }
        AccountCommand::Show(args) => {
            let parts = Parts::open(config).await?;
            account_views::show(&parts.service, &args).await
        }
        AccountCommand::Disable(args) => {
            let parts = Parts::open(config).await?;
            account_views::disable(&parts.service, &args).await
        }
        AccountCommand::Enable(args) => {
            let parts = Parts::open(config).await?;
            account_views::enable(&parts.service, &args).await
        }
    }
}

async fn create(config: &Config, email: String, phone: String, name: String) -> anyhow::Result<()> {
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .context("cannot read the password from standard input")?;
    let password = password.strip_suffix('\n').unwrap_or(&password);
    let password = password.strip_suffix('\r').unwrap_or(password);
    let parts = Parts::open(config).await?;
    let request = SignUpRequest {
        email,
        account_name: name,
        password: password.to_owned(),
        phone,
    };
    match parts.service.create_account_by_operator(&request).await {
        Ok(id) => {
            println!("{id}");
            Ok(())
        }
        Err(ServiceError::Invalid(fields)) => {
            let lines: Vec<String> = fields
                .iter()
                .map(|f| {
                    let words = latchkey_web::wording::problem(&f.problem);
                    format!("--{}: {words}", cli_flag(f.field))
                })
                .collect();
            bail!("the account was not created:\n  {}", lines.join("\n  "))
        }
        Err(e) => Err(e.into()),
    }
}

fn cli_flag(field: &str) -> &str {
    match field {
        "account_name" => "name",
        "password" => "password-stdin",
        other => other,
    }
}
