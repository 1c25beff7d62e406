//! The `latchkey` binary: parses the command line and configuration, wires the real
//! adapters (database, email sender, HTTP server) to the service, and runs.

mod break_glass;
mod config;
mod dev_providers;

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use latchkey_delivery::{
    DevMailbox, DevPhone, OutboxWorker, SmtpSender, TwilioCaller, TwilioConfig,
};
use latchkey_domain::lockout::LockoutPolicy;
use latchkey_domain::session::SessionPolicy;
use latchkey_service::accounts::SignUpRequest;
use latchkey_service::{
    Clock, EmailSender, HashParams, PasswordHasher, Service, ServiceConfig, ServiceError,
    SystemClock, VoiceCaller,
};

use config::{Config, ConfigArgs};

/// latchkey: self-hosted root-user sign-in with MFA and a safe way back in.
#[derive(Debug, Parser)]
#[command(name = "latchkey", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the server (console, JSON API, delivery worker).
    Serve,
    /// Manage accounts from the command line.
    Account {
        #[command(subcommand)]
        action: AccountCommand,
    },
    /// Manage the inventory of hardware OATH tokens.
    Tokens {
        #[command(subcommand)]
        action: TokensCommand,
    },
    /// Print the most recent audit events, newest first.
    Audit {
        /// How many events to print.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Only the events of this account id.
        #[arg(long)]
        account: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum TokensCommand {
    /// Import TOTP tokens from an RFC 6030 PSKC file as the vendor ships it. All or nothing:
    /// every refused key package is listed and then nothing is imported.
    Import {
        /// The PSKC file.
        file: std::path::PathBuf,
        /// The pre-shared AES key for an encrypted file: 32, 48 or 64 hexadecimal characters,
        /// or 16, 24 or 32 raw bytes.
        #[arg(long)]
        key_file: Option<std::path::PathBuf>,
    },
    /// List the inventory and the account holding each token.
    List,
}

#[derive(Debug, Subcommand)]
enum AccountCommand {
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
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    // Colours only for a person at a terminal; log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(&cli.config)?;
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Account {
            action:
                AccountCommand::Create {
                    email,
                    phone,
                    name,
                    password_stdin: _,
                },
        } => {
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("cannot read the password from standard input")?;
            let password = password.strip_suffix('\n').unwrap_or(&password);
            let password = password.strip_suffix('\r').unwrap_or(password);
            let parts = Parts::open(&config, &config.public_url_for(config.listen)).await?;
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
                        .map(|f| format!("--{}: {}", cli_flag(f.field), f.message))
                        .collect();
                    bail!("the account was not created:\n  {}", lines.join("\n  "))
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Account {
            action: AccountCommand::UnblockRecovery(args),
        } => {
            let parts = Parts::open(&config, &config.public_url_for(config.listen)).await?;
            break_glass::unblock_recovery(&parts.service, &args).await
        }
        Command::Account {
            action: AccountCommand::ResetMfa(args),
        } => {
            let parts = Parts::open(&config, &config.public_url_for(config.listen)).await?;
            break_glass::reset_mfa(&parts.service, &args).await
        }
        Command::Tokens {
            action: TokensCommand::Import { file, key_file },
        } => {
            let document =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let key = match key_file {
                Some(path) => Some(read_key_file(&path)?),
                None => None,
            };
            let parts = Parts::open(&config, &config.public_url_for(config.listen)).await?;
            let report = parts
                .service
                .import_tokens(&document, key.as_deref())
                .await?;
            for serial in &report.imported {
                println!("imported {serial}");
            }
            println!("{} tokens imported", report.imported.len());
            Ok(())
        }
        Command::Tokens {
            action: TokensCommand::List,
        } => {
            let parts = Parts::open(&config, &config.public_url_for(config.listen)).await?;
            println!(
                "{:<24} {:<8} {:<6} {:<6} {:<18} holder",
                "serial", "hash", "digits", "period", "imported (UTC)"
            );
            for token in parts.service.hardware_tokens().await? {
                println!(
                    "{:<24} {:<8} {:<6} {:<6} {:<18} {}",
                    token.serial,
                    token.params.algorithm.as_str(),
                    token.params.digits,
                    token.params.period,
                    latchkey_service::password_reset::format_time(token.imported_at),
                    token
                        .account_id
                        .map(|a| a.to_string())
                        .unwrap_or_else(|| "free".to_owned()),
                );
            }
            Ok(())
        }
        Command::Audit { limit, account } => {
            let account = match account {
                Some(text) => Some(
                    latchkey_domain::AccountId::parse(&text)
                        .context("--account must be a 12-digit account id")?,
                ),
                None => None,
            };
            let parts = Parts::open(&config, &config.public_url_for(config.listen)).await?;
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
    }
}

/// A pre-shared AES key: hexadecimal text, or the raw bytes.
fn read_key_file(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let raw = std::fs::read(path)
        .with_context(|| format!("cannot read the key file {}", path.display()))?;
    let text = String::from_utf8_lossy(&raw);
    let trimmed = text.trim();
    if matches!(trimmed.len(), 32 | 48 | 64)
        && let Some(key) = latchkey_service::secrets::unhex(trimmed)
    {
        return Ok(key);
    }
    if matches!(raw.len(), 16 | 24 | 32) {
        return Ok(raw);
    }
    bail!(
        "the key file {} must hold an AES key: 32, 48 or 64 hexadecimal characters, or 16, 24 or 32 raw bytes",
        path.display()
    )
}

fn cli_flag(field: &str) -> &str {
    match field {
        "account_name" => "name",
        "password" => "password-stdin",
        other => other,
    }
}

/// The pieces every command needs: configuration, key, store and service.
struct Parts {
    service: Service,
    /// The opened database, for the built-in providers (the service holds its production port).
    database: Arc<dyn latchkey_store::Database>,
    store_info: latchkey_store::StoreInfo,
    key_created: bool,
    key: latchkey_service::ServerKey,
}

impl Parts {
    async fn open(config: &Config, public_url: &url::Url) -> anyhow::Result<Self> {
        if config.database_url.is_none() {
            std::fs::create_dir_all(&config.data_dir).with_context(|| {
                format!(
                    "cannot create the data directory {}",
                    config.data_dir.display()
                )
            })?;
        }
        let (key, key_created) = config::load_or_create_key(&config.secret_key_file)?;
        let (store, store_info) =
            latchkey_store::open(config.database_url.as_deref(), &config.data_dir)
                .await
                .with_context(|| match &config.database_url {
                    Some(url) => format!("cannot open the database {}", config::redact_url(url)),
                    None => format!("cannot open the database in {}", config.data_dir.display()),
                })?;
        let slots = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let hasher = PasswordHasher::new(HashParams::default(), slots)?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let service = Service::new(
            store.clone(),
            clock,
            hasher,
            &key,
            ServiceConfig {
                public_url: public_url.as_str().trim_end_matches('/').to_owned(),
                sessions: SessionPolicy::default(),
                lockout: LockoutPolicy::default(),
                recovery: latchkey_domain::recovery::RecoveryPolicy::default(),
                calls: latchkey_domain::calls::CallPolicy {
                    allowed_regions: config.call_regions.clone(),
                    ..Default::default()
                },
                admission: latchkey_domain::admission::AdmissionPolicy::default(),
            },
        );
        Ok(Self {
            service,
            database: store,
            store_info,
            key_created,
            key,
        })
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let dev_providers = config.dev_providers()?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {} (LATCHKEY_LISTEN)", config.listen))?;
    let local = listener.local_addr()?;
    let public_url = config.public_url_for(local);
    let parts = Parts::open(&config, &public_url).await?;
    let service = if config.smtp_url.is_none() || config.twilio.is_none() {
        parts.service.clone().with_dev_store(parts.database.clone())
    } else {
        parts.service.clone()
    };
    let voice: Arc<dyn VoiceCaller> = match &config.twilio {
        Some(t) => Arc::new(
            TwilioCaller::new(TwilioConfig {
                account_sid: t.account_sid.clone(),
                auth_token: t.auth_token.clone(),
                from: t.from.clone(),
                api_base: t.api_base.clone(),
                public_url: service.config().public_url.clone(),
            })
            .map_err(anyhow::Error::msg)?,
        ),
        None => Arc::new(DevPhone),
    };
    let email: Arc<dyn EmailSender> = match &config.smtp_url {
        Some(url) => Arc::new(SmtpSender::new(url, &config.mail_from)?),
        None => Arc::new(DevMailbox::new(
            parts.database.clone(),
            service.clock().clone(),
        )),
    };

    let base = service.config().public_url.clone();
    if config.public_url.is_none() && config.listen.ip().is_unspecified() {
        tracing::warn!(
            "LATCHKEY_PUBLIC_URL is not set: forms are accepted only from {base}; set it to the address people use"
        );
    }
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        "latchkey listening on {local}; open {base}/ for the console"
    );
    tracing::info!(
        backend = parts.store_info.backend,
        location = %parts.store_info.location,
        settings = %parts.store_info.durability,
        "storage ready (migrations applied)"
    );
    if parts.key_created {
        tracing::info!(file = %config.secret_key_file.display(), "created a new server key (mode 0600); back it up with the database");
    }
    if let dev_providers::DevProviders::Exposed { reason } = &dev_providers {
        tracing::warn!(
            "LATCHKEY_DEV_PROVIDERS is set on a deployment that is not local-only ({reason}): anyone who can reach {base}/dev/mailbox or {base}/dev/phone can read them and take over accounts; configure LATCHKEY_SMTP_URL and Twilio before anyone else can reach this server"
        );
    }
    match &config.smtp_url {
        Some(_) => {
            tracing::info!(sender = %email.describe(), from = %config.mail_from, "email: SMTP")
        }
        None => tracing::info!(
            "email: built-in mailbox (embedded default), read mail at {base}/dev/mailbox"
        ),
    }
    match &config.twilio {
        Some(_) => tracing::info!(caller = %voice.describe(), "voice: Twilio"),
        None => tracing::info!(
            "voice: built-in phone (embedded default), answer calls at {base}/dev/phone"
        ),
    }

    if config.trusted_proxies.is_empty() {
        tracing::info!(
            "client addresses: the TCP peer (X-Forwarded-For and Forwarded are ignored; set LATCHKEY_TRUSTED_PROXIES behind a reverse proxy)"
        );
    } else {
        tracing::info!(
            proxies = %config.trusted_proxies,
            "client addresses: forwarded by trusted proxies"
        );
    }
    match service.security_keys_unavailable_reason() {
        None => tracing::info!("security keys: available (WebAuthn relying party {base})"),
        Some(why) => tracing::warn!("security keys: unavailable: {why}"),
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = OutboxWorker::new(
        service.store().clone(),
        service.clock().clone(),
        service.outbox_reader(),
        email,
        voice,
        service.outbox_signal(),
    );
    let worker = tokio::spawn(worker.run(Duration::from_secs(2), stop_rx));
    let housekeeping = {
        let service = service.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(600));
            loop {
                every.tick().await;
                match service.purge_throttles().await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(counters = n, "purged spent failure counters"),
                    Err(e) => tracing::warn!(error = %e, "could not purge failure counters"),
                }
            }
        })
    };

    let web = latchkey_web::WebConfig {
        canonical_redirect: config.public_url.is_none(),
        public_url,
        dev_mailbox: config.smtp_url.is_none(),
        dev_providers_exposed: matches!(dev_providers, dev_providers::DevProviders::Exposed { .. }),
        twilio_auth_token: config.twilio.as_ref().map(|t| t.auth_token.clone()),
        twilio_from: config.twilio.as_ref().map(|t| t.from.clone()),
        refusal_pause: latchkey_web::REFUSAL_PAUSE,
        trusted_proxies: config.trusted_proxies.clone(),
    };
    let state = latchkey_web::AppState::new(service, web, parts.key.signer("csrf"));
    latchkey_web::serve(
        listener,
        latchkey_web::app(state),
        latchkey_web::ServeOptions::default(),
        shutdown_signal(),
    )
    .await
    .context("the HTTP server failed")?;
    let _ = stop_tx.send(true);
    let _ = worker.await;
    housekeeping.abort();
    tracing::info!("latchkey stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
}
