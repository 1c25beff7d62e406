//! `latchkey tokens …`: the inventory of hardware OATH tokens.

use anyhow::{Context, bail};
use clap::Subcommand;

use super::wiring::Parts;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub(crate) enum TokensCommand {
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

pub(crate) async fn run(action: TokensCommand, config: &Config) -> anyhow::Result<()> {
    match action {
        TokensCommand::Import { file, key_file } => {
            let document =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let key = match key_file {
                Some(path) => Some(read_key_file(&path)?),
                None => None,
            };
            let parts = Parts::open(config).await?;
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
        TokensCommand::List => {
            let parts = Parts::open(config).await?;
            println!(
                "{:<24} {:<8} {:<6} {:<6} {:<18} holder",
                "serial", "hash", "digits", "period", "imported (UTC)"
            );
            for token in parts.service.hardware_tokens().await? {
                println!(
                    "{:<24} {:<8} {:<6} {:<6} {:<18} {}",
                    token.serial,
                    algorithm_name(token.params.algorithm),
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

/// The hash as operators know it from token datasheets.
fn algorithm_name(algorithm: latchkey_domain::totp::TotpAlgorithm) -> &'static str {
    use latchkey_domain::totp::TotpAlgorithm;
    match algorithm {
        TotpAlgorithm::Sha1 => "SHA1",
        TotpAlgorithm::Sha256 => "SHA256",
        TotpAlgorithm::Sha512 => "SHA512",
    }
}
