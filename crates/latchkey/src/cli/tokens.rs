//! `latchkey tokens …`: the inventory of hardware OATH tokens.

use anyhow::{Context, bail};
use clap::Subcommand;

use super::wiring::Parts;
use crate::config::Config;
use latchkey_service::tokens::{ImportError, PackageRefusal, RefusedPackage};

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
            let report = match parts.service.import_tokens(&document, key.as_deref()).await {
                Ok(report) => report,
                Err(ImportError::Packages(refused)) => {
                    let lines: Vec<String> = refused.iter().map(refusal_line).collect();
                    bail!("nothing was imported:\n{}", lines.join("\n"));
                }
                Err(ImportError::ImportedMeanwhile) => bail!(
                    "a serial was imported by someone else meanwhile; nothing was imported, run the import again"
                ),
                Err(other) => return Err(other.into()),
            };
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

/// One refused key package, for the operator.
fn refusal_line(refused: &RefusedPackage) -> String {
    let label = match &refused.serial {
        Some(serial) => format!("key package {} (serial {serial})", refused.index),
        None => format!("key package {}", refused.index),
    };
    match &refused.why {
        PackageRefusal::Unreadable(problem) => format!("{label}: {problem}"),
        PackageRefusal::RepeatedInFile => {
            format!("{label}: the serial appears more than once in the file")
        }
        PackageRefusal::InInventory => {
            format!("{label}: a token with this serial is already in the inventory")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_package_is_named_by_place_and_serial_with_the_reason() {
        let line = |serial: Option<&str>, why| {
            refusal_line(&RefusedPackage {
                index: 2,
                serial: serial.map(str::to_owned),
                why,
            })
        };
        assert_eq!(
            line(Some("SN-3"), PackageRefusal::RepeatedInFile),
            "key package 2 (serial SN-3): the serial appears more than once in the file"
        );
        assert_eq!(
            line(None, PackageRefusal::InInventory),
            "key package 2: a token with this serial is already in the inventory"
        );
    }
}
