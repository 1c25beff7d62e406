//! A flood of sign-in attempts for unknown emails, in a process of its own so the operating
//! system, not the benchmark's runtime, shares the cores between it and the legitimate users.
//!
//! It sends as fast as answers come back on every connection until its standard input
//! closes, then prints one JSON line with what it sent and what came back.

use std::io::{BufRead, Read, Write};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use clap::{Args, ValueEnum};
use latchkey_service::secrets::random_below;
use serde::{Deserialize, Serialize};

use super::client::{Client, Outcome};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum FloodKind {
    /// Every attempt from one client address.
    OneAddress,
    /// Attempts spread over 256 addresses across 127.0.0.0/8.
    Spread,
}

#[derive(Debug, Args)]
pub(crate) struct FloodArgs {
    #[arg(long)]
    base: String,
    #[arg(long, value_enum)]
    kind: FloodKind,
    /// Concurrent requests in flight.
    #[arg(long, default_value_t = 256)]
    connections: usize,
}

#[derive(Debug, Default, Serialize, Deserialize, Clone, Copy)]
pub(crate) struct FloodReport {
    pub sent: u64,
    pub denied: u64,
    pub throttled: u64,
    pub other: u64,
    pub errors: u64,
    pub seconds: f64,
}

/// The first octets of the spread flood's addresses: anything in 127.0.0.0/8 outside the
/// groups the legitimate clients use (1–15) and the server's 127.0.0.1.
pub(crate) fn spread_addresses(count: usize) -> Vec<Ipv4Addr> {
    let mut chosen = Vec::with_capacity(count);
    while chosen.len() < count {
        let group = 16 + random_below(240) as u8;
        let addr = Ipv4Addr::new(
            127,
            group,
            random_below(256) as u8,
            1 + random_below(254) as u8,
        );
        if !chosen.contains(&addr) {
            chosen.push(addr);
        }
    }
    chosen
}

/// The flood's one address.
pub(crate) const ONE_ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 200, 0, 1);

pub(crate) fn run(args: FloodArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = std::io::stdin().lock().read_to_end(&mut sink);
            stop.store(true, Ordering::SeqCst);
        });
    }
    let report = runtime.block_on(flood(args, stop))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string(&report)?)?;
    Ok(())
}

async fn flood(args: FloodArgs, stop: Arc<AtomicBool>) -> anyhow::Result<FloodReport> {
    let addresses = match args.kind {
        FloodKind::OneAddress => vec![ONE_ADDRESS],
        FloodKind::Spread => spread_addresses(256),
    };
    let clients: Vec<Client> = addresses
        .iter()
        .map(|a| Client::new(&args.base, *a))
        .collect::<anyhow::Result<_>>()?;
    let counters: Arc<[AtomicU64; 5]> = Arc::new(Default::default());
    let ready = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..args.connections.max(1) {
        let client = clients[n % clients.len()].clone();
        let stop = Arc::clone(&stop);
        let counters = Arc::clone(&counters);
        let ready = Arc::clone(&ready);
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let email = format!("flood-{n}-{i}-{}@nobody.example", random_below(1 << 40));
                let slot = match client.password_attempt(&email, "not the password").await {
                    Ok((Outcome::Denied, _)) => 1,
                    Ok((Outcome::Throttled, _)) => 2,
                    Ok(_) => 3,
                    Err(_) => 4,
                };
                counters[0].fetch_add(1, Ordering::Relaxed);
                counters[slot].fetch_add(1, Ordering::Relaxed);
                if counters[0].load(Ordering::Relaxed) >= 200 && !ready.swap(true, Ordering::SeqCst)
                {
                    // The parent starts measuring once the flood is under way.
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "ready");
                    let _ = out.flush();
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let read = |i: usize| counters[i].load(Ordering::Relaxed);
    Ok(FloodReport {
        sent: read(0),
        denied: read(1),
        throttled: read(2),
        other: read(3),
        errors: read(4),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// A running flood process, as the benchmark holds it.
pub(crate) struct Flood {
    child: std::process::Child,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Flood {
    /// Starts a flood and returns once it has had 200 answers.
    pub(crate) fn start(base: &str, kind: FloodKind, connections: usize) -> anyhow::Result<Self> {
        let kind_arg = match kind {
            FloodKind::OneAddress => "one-address",
            FloodKind::Spread => "spread",
        };
        let mut child = std::process::Command::new(std::env::current_exe()?)
            .args(["flood", "--base", base, "--kind", kind_arg, "--connections"])
            .arg(connections.to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut flood = Self {
            child,
            stdout: std::io::BufReader::new(stdout),
        };
        let mut line = String::new();
        flood.stdout.read_line(&mut line)?;
        if line.trim() != "ready" {
            anyhow::bail!("the flood process did not start (it said {line:?})");
        }
        Ok(flood)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the flood (closing its standard input) and reads its report.
    pub(crate) fn stop(mut self) -> anyhow::Result<FloodReport> {
        drop(self.child.stdin.take());
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        self.child.wait()?;
        Ok(serde_json::from_str(line.trim())?)
    }
}
