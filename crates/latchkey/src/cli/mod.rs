//! The commands, one module per group: `serve`, `account …`, `tokens …`, `audit`. Each
//! parses its own arguments, opens what it needs through `wiring`, calls the service, and
//! words the outcome for the operator.

mod account;
mod account_views;
mod audit;
mod break_glass;
mod key;
mod oidc;
mod serve;
mod tokens;
mod wiring;

use clap::Subcommand;

use crate::config::Config;

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Start the server (console, JSON API, delivery worker).
    Serve,
    /// Manage accounts from the command line.
    Account {
        #[command(subcommand)]
        action: account::AccountCommand,
    },
    /// Manage the inventory of hardware OATH tokens.
    Tokens {
        #[command(subcommand)]
        action: tokens::TokensCommand,
    },
    /// Rotate the server key: `rotate`, `status`, `reseal`, `retire`.
    Key {
        #[command(subcommand)]
        action: key::KeyCommand,
    },
    /// Applications that sign people in with latchkey (OpenID Connect), and the keys ID
    /// tokens are signed with.
    Oidc {
        #[command(subcommand)]
        action: oidc::OidcCommand,
    },
    /// Print audit events, newest first (filter by account, event and time; `--json`), or
    /// `verify` that the log is what latchkey wrote.
    Audit(audit::Args),
}

pub(crate) async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve::run(config).await,
        Command::Account { action } => account::run(action, &config).await,
        Command::Tokens { action } => tokens::run(action, &config).await,
        Command::Key { action } => key::run(action, &config).await,
        Command::Oidc { action } => oidc::run(action, &config).await,
        Command::Audit(args) => audit::run(&args, &config).await,
    }
}
