//! What the kernel says about CPU time and memory (Linux `/proc`).
//!
//! Wall time alone would hide where the machine's two cores went; the report splits them
//! between latchkey, PostgreSQL, the load generators and everything else on the machine.

use std::ops::Sub;

/// Clock ticks per second in `/proc` figures. Linux reports `USER_HZ`, which is 100 on every
/// architecture latchkey runs on.
const TICKS_PER_SECOND: f64 = 100.0;

/// User plus system CPU time, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct CpuTime(pub f64);

impl Sub for CpuTime {
    type Output = CpuTime;
    fn sub(self, rhs: Self) -> Self {
        CpuTime((self.0 - rhs.0).max(0.0))
    }
}

fn ticks_from_stat(stat: &str) -> Option<f64> {
    // The command name (field 2) may hold spaces; fields after its closing parenthesis are
    // plain numbers: state is field 3, utime and stime are fields 14 and 15.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

pub(super) fn cpu_of(pid: u32) -> Option<CpuTime> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(CpuTime(ticks_from_stat(&stat)? / TICKS_PER_SECOND))
}

/// This process: the load generator's own cost.
pub(super) fn cpu_of_self() -> CpuTime {
    cpu_of(std::process::id()).unwrap_or_default()
}

/// Every PostgreSQL server process on the machine (the database is part of the system
/// under test when latchkey runs on PostgreSQL).
pub(super) fn cpu_of_postgres() -> CpuTime {
    let mut total = 0.0;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return CpuTime(0.0);
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "postgres"
            && let Some(cpu) = cpu_of(pid)
        {
            total += cpu.0;
        }
    }
    CpuTime(total)
}

/// A `kB` line of `/proc/PID/status`, such as `VmRSS:` or `VmHWM:`.
pub(super) fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|line| line.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The whole machine's busy CPU time so far (every core), in seconds.
pub(super) fn machine_busy() -> CpuTime {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().next() else {
        return CpuTime(0.0);
    };
    let values: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
    let busy: f64 = values
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4 && *i < 8)
        .map(|(_, v)| v)
        .sum();
    CpuTime(busy / TICKS_PER_SECOND)
}

/// The one-minute load average.
pub(super) fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

pub(super) fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_read_after_a_command_name_with_spaces() {
        let stat = "42 (a (weird) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0";
        assert_eq!(ticks_from_stat(stat), Some(300.0));
    }

    #[test]
    fn memory_and_machine_figures_are_read() {
        assert!(status_kib(std::process::id(), "VmRSS:").unwrap() > 0);
        assert!(machine_busy().0 > 0.0);
    }
}
