//! `latchkey key …`: the server key's rotation. `rotate` stages a new key, and run again once
//! every instance holds it, makes it current; `status` says what each key still
//! seals; `reseal` re-seals now (the server also does it in the background); `retire` takes
//! a key out of use once nothing is sealed under it. The rules live in
//! `latchkey_service::key_rotation`.

use anyhow::{Context, bail};
use clap::Subcommand;
use latchkey_service::KeyId;
use latchkey_service::key_rotation::ResealReport;

use super::wiring::Parts;
use crate::config::{self, Config};

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Rotate in two steps. The first stages a new key in the key file (`next`: it opens and
    /// verifies, and seals nothing). Give every instance that file and restart it; the second
    /// run makes the staged key current and records it in the database, and the old key stays
    /// to open what it sealed until it is re-sealed.
    Rotate,
    /// The keys in the key file and how many sealed values each still opens.
    Status,
    /// Re-seal under the current key everything an older key sealed (every instance whose key
    /// file has the database's current key does this in the background too).
    Reseal,
    /// Retire an older key once nothing is sealed under it: it then opens and verifies
    /// nothing but the audit records chained under it.
    Retire {
        /// The key's id, as `latchkey key status` prints it.
        id: String,
    },
}

pub(crate) async fn run(action: KeyCommand, config: &Config) -> anyhow::Result<()> {
    match action {
        KeyCommand::Rotate => rotate(config).await,
        KeyCommand::Status => status(config).await,
        KeyCommand::Reseal => {
            let parts = Parts::open(config).await?;
            let report = parts.service.reseal_all().await?;
            if report.not_current {
                bail!(
                    "the current key in {} is not the database's current key: nothing was re-sealed",
                    config.secret_key_file.display()
                );
            }
            print_reseal(&report);
            Ok(())
        }
        KeyCommand::Retire { id } => retire(config, &id).await,
    }
}

fn print_reseal(report: &ResealReport) {
    println!(
        "Re-sealed {} values under the current key ({} were already, {} changed meanwhile and are taken by the next pass).",
        report.resealed, report.current, report.changed_meanwhile
    );
    if report.unreadable > 0 {
        println!(
            "{} values open under no key of the file (sealed under a key no longer in it, or damaged); they were left as they are.",
            report.unreadable
        );
    }
}

/// Holds an exclusive lock on a file beside the key file for as long as it lives: two
/// `rotate` or `retire` runs on one key file take turns instead of each writing a file
/// without the other's key.
fn lock_key_file(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "secret.key".to_owned());
    let lock_path = path.with_file_name(format!(".{name}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open the lock file {}", lock_path.display()))?;
    file.lock()
        .with_context(|| format!("cannot lock {}", lock_path.display()))?;
    Ok(file)
}

async fn rotate(config: &Config) -> anyhow::Result<()> {
    let path = &config.secret_key_file;
    if !path.exists() {
        bail!(
            "there is no key file at {} to rotate (LATCHKEY_SECRET_KEY_FILE)",
            path.display()
        );
    }
    let _lock = lock_key_file(path)?;
    // The key file must be the one this database uses before anything is written.
    let key = Parts::open(config).await?.key;
    let Some(promoted) = key.promoted() else {
        let staged = key.staged().context("a key is staged already")?;
        config::write_key_file(path, &staged)?;
        println!(
            "Staged the new key {} in {} (as `next`): it opens and verifies, and seals nothing yet.",
            staged.next_id().map(|id| id.to_hex()).unwrap_or_default(),
            path.display()
        );
        println!(
            "Give every instance this key file and restart it, then run `latchkey key rotate` again to make the new key current."
        );
        return Ok(());
    };
    config::write_key_file(path, &promoted)?;
    // Opening again records the new current key, audited with the rotation.
    let parts = match Parts::open(config).await {
        Ok(parts) => parts,
        Err(error) => {
            // The old file goes back, unless the database took the new key after all.
            config::write_key_file(path, &key)?;
            if Parts::open(config).await.is_err() {
                config::write_key_file(path, &promoted)?;
            }
            return Err(error.context(
                "the database did not take the new key; the key file is as it was before",
            ));
        }
    };
    let ids = parts.service.key_ids();
    println!(
        "The current server key is now {}; the older keys stay in {} to open what they sealed: {}.",
        ids[0],
        path.display(),
        ids[1..]
            .iter()
            .map(|id| id.to_hex())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "Restart every instance with this key file. Each one whose key file has the new key current re-seals what the old key sealed in the background; `latchkey key reseal` does it now."
    );
    println!(
        "Keep the new file in your backups. Once every instance runs with it and `latchkey key status` shows an old key seals nothing, `latchkey key retire ID` retires it."
    );
    Ok(())
}

async fn status(config: &Config) -> anyhow::Result<()> {
    let parts = Parts::open(config).await?;
    let usage = parts.service.key_usage().await?;
    for (n, id) in parts.service.key_ids().iter().enumerate() {
        let role = if n == 0 {
            "current"
        } else if parts.key.next_id() == Some(*id) {
            "next"
        } else {
            "older"
        };
        println!("{id}  {role:<8} seals {} values", usage.of_key(*id));
        for ((kind, key), count) in &usage.counts {
            if *key == Some(*id) {
                println!("    {:<20} {count}", kind.as_str());
            }
        }
    }
    for id in parts.key.retired_ids() {
        println!("{id}  retired  verifies old audit records only");
    }
    if usage.unreadable() > 0 {
        println!(
            "{} values open under no key of the file (sealed under a key no longer in it, or damaged).",
            usage.unreadable()
        );
    }
    Ok(())
}

async fn retire(config: &Config, id: &str) -> anyhow::Result<()> {
    let id = KeyId::parse(id).with_context(|| {
        format!(
            "{id:?} is not a key id: use the 16 hexadecimal characters `latchkey key status` prints"
        )
    })?;
    let _lock = lock_key_file(&config.secret_key_file)?;
    let parts = Parts::open(config).await?;
    if parts.service.key_ids().first() == Some(&id) {
        bail!("{id} is the current key; rotate first (latchkey key rotate), then retire it");
    }
    if parts.key.next_id() == Some(id) {
        bail!("{id} is the staged key: it becomes current at the next `latchkey key rotate`");
    }
    if !parts.service.key_ids().contains(&id) {
        bail!(
            "{id} is not one of the keys in use in {}",
            config.secret_key_file.display()
        );
    }
    // Whatever is still sealed under it is re-sealed first; anything left keeps it in use.
    let report = parts.service.reseal_all().await?;
    if report.not_current {
        bail!(
            "the current key in {} is not the database's: run this where the key file is the current one",
            config.secret_key_file.display()
        );
    }
    let usage = parts.service.key_usage().await?;
    let left = usage.of_key(id);
    if left > 0 {
        print_reseal(&report);
        bail!(
            "{left} values are still sealed under {id} (changed while they were re-sealed); run `latchkey key retire {id}` again"
        );
    }
    // The retired key verifies the audit records up to the head now, and none after it.
    let chain = parts.service.verify_audit_chain(None).await?;
    if chain.first_break.is_some() {
        bail!(
            "the audit log does not verify (`latchkey audit verify` says where); look into that before retiring a key"
        );
    }
    let through = chain.head.map(|(seq, _)| seq).unwrap_or(0);
    let Some(retired) = parts.key.without(id, through) else {
        bail!("{id} cannot be retired");
    };
    config::write_key_file(&config.secret_key_file, &retired)?;
    parts.service.record_key_retired(id).await?;
    println!(
        "Retired {id}: it no longer opens or verifies anything but the audit records chained under it up to record {through} (it stays in the file, marked retired, for `latchkey audit verify`). Give every instance the new key file and restart it."
    );
    Ok(())
}
