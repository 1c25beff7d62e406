//! `latchkey account unblock-recovery` and `latchkey account reset-mfa`: the operator's way
//! to let an owner back in who cannot do it alone. The rules live in
//! `latchkey_service::operator`; this module parses the command line and words what happened
//! (or why nothing did) for the operator.

use anyhow::bail;
use latchkey_service::Service;
use latchkey_service::mfa::DeviceView;
use latchkey_service::operator::{MfaResetDone, OperatorError};
use latchkey_service::password_reset::format_time;

/// What every command that changes an account takes (`unblock-recovery`, `reset-mfa`,
/// `disable`, `enable`).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The account's root user email address.
    pub email: String,
    /// Why, e.g. the ticket and how the owner's identity was checked (required; at most 500
    /// characters). Kept in the audit log and quoted in the email to the owner.
    #[arg(long, required = true)]
    pub reason: String,
}

/// The notice is queued in the outbox like every other; only the server's worker sends mail.
const RECORDED: &str = "Recorded in the audit log, and the owner will be emailed what was done, when and why (the email is queued; a running `latchkey serve` sends it).";

pub(crate) async fn unblock_recovery(service: &Service, args: &Args) -> anyhow::Result<()> {
    match service
        .unblock_recovery_by_operator(&args.email, &args.reason)
        .await
    {
        Ok(done) => {
            println!(
                "Unblocked sign-in with alternative factors for account {} ({}), blocked since {} UTC.",
                done.account_id,
                args.email,
                format_time(done.blocked_at)
            );
            println!("{RECORDED}");
            Ok(())
        }
        Err(error) => refuse(error, args),
    }
}

pub(crate) async fn reset_mfa(service: &Service, args: &Args) -> anyhow::Result<()> {
    match service
        .reset_mfa_by_operator(&args.email, &args.reason)
        .await
    {
        Ok(done) => {
            print_reset(&done, &args.email);
            Ok(())
        }
        Err(error) => refuse(error, args),
    }
}

fn print_reset(done: &MfaResetDone, email: &str) {
    println!("Reset MFA of account {} ({email}):", done.account_id);
    if done.devices.is_empty() {
        println!("  the account had no MFA devices");
    }
    for device in &done.devices {
        println!("  removed {}", describe(device));
    }
    let sessions = done.sessions_revoked;
    println!(
        "  signed out {sessions} {}",
        if sessions == 1 { "session" } else { "sessions" }
    );
    println!("  stopped sign-ins, enrolments and recoveries in progress");
    if done.block_lifted {
        println!("  lifted the This wasn't me block on sign-in with alternative factors");
    }
    println!(
        "The password is unchanged: the owner now signs in with the password alone and should activate an MFA device at once."
    );
    if done.block_lifted {
        println!(
            "This wasn't me disabled the password: unless the owner has reset it since, they start with Forgot password?."
        );
    }
    println!("{RECORDED}");
}

fn describe(device: &DeviceView) -> String {
    let mut text = format!("{} “{}” ({})", device.kind.label(), device.name, device.id);
    if let Some(serial) = &device.serial {
        text.push_str(&format!(", serial {serial}, back in the token inventory"));
    }
    text
}

fn refuse(error: OperatorError, args: &Args) -> anyhow::Result<()> {
    let email = &args.email;
    match error {
        OperatorError::UnknownAccount => {
            bail!("no account has the email address {email}; nothing was changed")
        }
        OperatorError::NotBlocked => bail!(
            "sign-in with alternative factors is not blocked for {email}; nothing was changed"
        ),
        OperatorError::ReasonMissing => bail!(
            "--reason must say why (it goes in the audit log and in the email to the owner); nothing was changed"
        ),
        OperatorError::ReasonTooLong { max_chars } => {
            bail!("--reason can be at most {max_chars} characters; nothing was changed")
        }
        OperatorError::KeptChanging => bail!(
            "the MFA devices of {email} changed while they were being reset (is the owner activating one?); nothing was changed, run the command again"
        ),
        OperatorError::AlreadyDisabled | OperatorError::NotDisabled => Err(error.into()),
        OperatorError::Service(error) => Err(error.into()),
    }
}
