//! The latchkey process under test: started with its embedded defaults plus a database,
//! watched through `/proc`, stopped with SIGTERM.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::proc;

pub(super) struct Server {
    child: Child,
    pub base: String,
    pub log: PathBuf,
}

impl Server {
    /// Starts `latchkey serve` on a free loopback port and waits until `/healthz` answers.
    pub(super) async fn start(
        binary: &Path,
        data_dir: &Path,
        database_url: Option<&str>,
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let base = format!("http://127.0.0.1:{port}");
        let log = data_dir.join("latchkey.log");
        let log_file = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .env("LATCHKEY_LISTEN", format!("127.0.0.1:{port}"))
            // Configured, so that requests to 127.0.0.1 are not redirected to `localhost`.
            .env("LATCHKEY_PUBLIC_URL", &base)
            .env("LATCHKEY_DATA_DIR", data_dir)
            .env_remove("LATCHKEY_CONFIG")
            .env_remove("LATCHKEY_SMTP_URL")
            .env_remove("LATCHKEY_TWILIO_ACCOUNT_SID")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        match database_url {
            Some(url) => command.env("LATCHKEY_DATABASE_URL", url),
            None => command.env_remove("LATCHKEY_DATABASE_URL"),
        };
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let mut server = Self { child, base, log };
        server.wait_ready().await?;
        Ok(server)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "latchkey exited ({status}) before it was ready; its log:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if let Ok(response) = client.get(format!("{}/healthz", self.base)).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("latchkey did not answer /healthz within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory now, in bytes.
    pub(super) fn rss(&self) -> u64 {
        proc::status_kib(self.pid(), "VmRSS:").unwrap_or(0) * 1024
    }

    /// The highest resident memory since the process started, in bytes.
    pub(super) fn peak_rss(&self) -> u64 {
        proc::status_kib(self.pid(), "VmHWM:").unwrap_or(0) * 1024
    }

    /// Stops the server as an operator would (SIGTERM, graceful shutdown).
    pub(super) async fn stop(mut self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .context("cannot run kill")?;
        if !status.success() {
            bail!("kill -TERM {} failed", self.pid());
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                bail!("latchkey did not stop within 30 s of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
