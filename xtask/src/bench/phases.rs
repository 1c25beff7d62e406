//! The measurements themselves, each a function of a running server.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;

use super::client::{Client, Outcome, address};
use super::proc::{self, CpuTime};
use super::seed::{BenchAccount, PASSWORD};
use super::stats::Samples;

/// Where a phase's CPU time went, and what else the machine was doing meanwhile.
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub(super) struct Load {
    pub wall_s: f64,
    pub latchkey_cpu_s: f64,
    pub postgres_cpu_s: f64,
    pub load_generator_cpu_s: f64,
    /// Busy CPU time of everything else on the machine.
    pub other_cpu_s: f64,
    /// `other_cpu_s` as a fraction of the machine (all cores) over the phase.
    pub other_load: f64,
    pub load_average_1m: f64,
}

pub(super) struct Meter {
    started: Instant,
    server: u32,
    busy: CpuTime,
    latchkey: CpuTime,
    postgres: CpuTime,
    bench: CpuTime,
}

impl Meter {
    pub(super) fn start(server: u32) -> Self {
        Self {
            started: Instant::now(),
            server,
            busy: proc::machine_busy(),
            latchkey: proc::cpu_of(server).unwrap_or_default(),
            postgres: proc::cpu_of_postgres(),
            bench: proc::cpu_of_self(),
        }
    }

    /// `helpers` is CPU spent by other load-generator processes (a flood) during the phase.
    pub(super) fn finish(self, helpers: CpuTime) -> Load {
        let wall = self.started.elapsed().as_secs_f64();
        let busy = (proc::machine_busy() - self.busy).0;
        let latchkey = (proc::cpu_of(self.server).unwrap_or_default() - self.latchkey).0;
        let postgres = (proc::cpu_of_postgres() - self.postgres).0;
        let bench = (proc::cpu_of_self() - self.bench).0 + helpers.0;
        let other = (busy - latchkey - postgres - bench).max(0.0);
        Load {
            wall_s: wall,
            latchkey_cpu_s: latchkey,
            postgres_cpu_s: postgres,
            load_generator_cpu_s: bench,
            other_cpu_s: other,
            other_load: other / (wall * proc::cores() as f64).max(f64::EPSILON),
            load_average_1m: proc::load_average(),
        }
    }
}

/// Clients for one group of addresses.
pub(super) fn clients(base: &str, group: u8, count: u32) -> anyhow::Result<Vec<Client>> {
    (0..count)
        .map(|n| Client::new(base, address(group, n)))
        .collect()
}

/// Complete sign-ins one after another, as single users make them.
pub(super) struct Sequential {
    pub latencies: Samples,
    pub failures: usize,
    pub first_failure: Option<String>,
}

impl Sequential {
    pub(super) fn success_rate(&self) -> f64 {
        let total = self.latencies.len() + self.failures;
        if total == 0 {
            0.0
        } else {
            self.latencies.len() as f64 / total as f64
        }
    }
}

/// An account to sign in to and, if it has signed in before, what that left behind.
#[derive(Debug, Clone)]
pub(super) struct Returning {
    pub account: u64,
    pub device_token: Option<String>,
    pub used_step: Option<i64>,
}

impl Returning {
    pub(super) fn first_time(account: u64) -> Self {
        Self {
            account,
            device_token: None,
            used_step: None,
        }
    }
}

pub(super) async fn sequential_sign_ins(
    clients: &[Client],
    accounts: impl IntoIterator<Item = Returning>,
) -> Sequential {
    let mut result = Sequential {
        latencies: Samples::default(),
        failures: 0,
        first_failure: None,
    };
    for (n, r) in accounts.into_iter().enumerate() {
        let client = &clients[n % clients.len()];
        let account = BenchAccount::new(r.account);
        match client
            .sign_in(&account, r.device_token.as_deref(), r.used_step)
            .await
        {
            Ok(signed_in) => result.latencies.push(signed_in.latency),
            Err(e) => {
                result.failures += 1;
                result.first_failure.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    result
}

/// Complete sign-ins as fast as the server takes them, `concurrency` at a time, each from a
/// device new to the account. Returns the known-device token each sign-in earned.
pub(super) async fn sign_in_throughput(
    clients: &[Client],
    accounts: Vec<u64>,
    concurrency: usize,
) -> anyhow::Result<(Vec<Returning>, Duration)> {
    let accounts = Arc::new(accounts);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let accounts = Arc::clone(&accounts);
        let next = Arc::clone(&next);
        let clients = clients.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = accounts.get(k) else {
                    return Ok::<_, anyhow::Error>(done);
                };
                let signed_in = clients[k % clients.len()]
                    .sign_in(&BenchAccount::new(i), None, None)
                    .await?;
                done.push((
                    k,
                    Returning {
                        account: i,
                        device_token: Some(signed_in.device_token),
                        used_step: Some(signed_in.step),
                    },
                ));
            }
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.context("sign-in task")??);
    }
    let elapsed = started.elapsed();
    // In the order they were handed out: the earliest sign-ins come first.
    all.sort_by_key(|(k, _)| *k);
    Ok((all.into_iter().map(|(_, r)| r).collect(), elapsed))
}

/// GETs of `path` per second with `concurrency` in flight; every answer must be 200.
pub(super) async fn requests_per_second(
    clients: &[Client],
    path: &str,
    cookie: Option<&str>,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..concurrency {
        let client = clients[n % clients.len()].clone();
        let path = path.to_owned();
        let cookie = cookie.map(str::to_owned);
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            while started.elapsed() < duration {
                let status = client.get(&path, cookie.as_deref()).await?;
                if status != 200 {
                    bail!("GET {path} answered {status}");
                }
                done += 1;
            }
            Ok(done)
        }));
    }
    let mut total = 0u64;
    for task in tasks {
        total += task.await.context("request task")??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// Failed password attempts, alternating an unknown email with a known email and a wrong
/// password, one at a time.
pub(super) async fn failed_attempts(
    clients: &[Client],
    known: &[u64],
    pairs: usize,
) -> anyhow::Result<(Samples, Samples)> {
    let mut unknown = Samples::default();
    let mut wrong = Samples::default();
    for n in 0..pairs {
        let client = &clients[n % clients.len()];
        let email = format!("nobody-{n}@bench.example");
        let (outcome, latency) = client.password_attempt(&email, PASSWORD).await?;
        if outcome != Outcome::Denied {
            bail!("an unknown email was answered {outcome:?}");
        }
        unknown.push(latency);
        let account = BenchAccount::new(known[n % known.len()]);
        let (outcome, latency) = client
            .password_attempt(&account.email, "not the password at all")
            .await?;
        if outcome != Outcome::Denied {
            bail!("a wrong password was answered {outcome:?}");
        }
        wrong.push(latency);
    }
    Ok((unknown, wrong))
}
