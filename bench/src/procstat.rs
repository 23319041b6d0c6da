//! Samples, once per second on a background thread, the broker's CPU time and resident memory
//! (/proc/<pid>), the bench's own CPU time, and how busy the whole machine is (/proc/stat), so a
//! run on a shared machine says how much CPU other processes took. The parsers are pure.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One sample: when (seconds since the run start), CPU cores used since the previous sample, RSS.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcSample {
    pub t_s: f64,
    /// Broker CPU (0 when no broker pid is sampled).
    pub cpu_cores: f64,
    pub rss_mb: f64,
    /// The bench process's own CPU (clients included).
    pub client_cpu_cores: f64,
    /// All non-idle CPU time on the machine.
    pub machine_busy_cores: f64,
}

/// (busy, total) clock ticks over all CPUs from the text of /proc/stat.
pub fn machine_ticks(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 5 {
        return None;
    }
    let total: u64 = v.iter().sum();
    let idle = v[3] + v[4];
    Some((total - idle, total))
}

fn read_machine() -> Option<(u64, u64)> {
    machine_ticks(&std::fs::read_to_string("/proc/stat").ok()?)
}

fn read_cpu(pid: u32) -> Option<u64> {
    cpu_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// utime + stime in clock ticks from the text of /proc/<pid>/stat.
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name, field 3 (state) is index 0, so utime (14) is 11 and stime (15) is 12.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// VmRSS in MB (10^6 bytes) from the text of /proc/<pid>/status.
pub fn rss_mb(status: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0 / 1e6)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux we run on if that fails).
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Reads the current (ticks, rss) of `pid`.
pub fn read(pid: u32) -> Option<(u64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some((cpu_ticks(&stat)?, rss_mb(&status)?))
}

/// A background sampler; stop it to get the samples.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<ProcSample>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    /// Starts sampling every second: `pid` (the broker, if any), this process and the machine;
    /// times are relative to `t0`.
    pub fn start(pid: Option<u32>, t0: Instant) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let (stop2, samples2) = (stop.clone(), samples.clone());
        let own = std::process::id();
        let thread = std::thread::spawn(move || {
            let tck = clock_ticks();
            let snapshot = || {
                (
                    Instant::now(),
                    pid.and_then(read),
                    read_cpu(own).unwrap_or(0),
                    read_machine().unwrap_or((0, 0)),
                )
            };
            let mut prev = snapshot();
            while !stop2.load(Ordering::Relaxed) {
                // Sleep in short steps so stopping is prompt.
                let until = Instant::now() + Duration::from_secs(1);
                while Instant::now() < until && !stop2.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                let now = snapshot();
                let dt = now.0.duration_since(prev.0).as_secs_f64().max(1e-6);
                let cores = |a: u64, b: u64| a.saturating_sub(b) as f64 / tck / dt;
                let (broker_cpu, rss) = match (now.1, prev.1) {
                    (Some((t, rss)), Some((pt, _))) => (cores(t, pt), rss),
                    _ => (0.0, 0.0),
                };
                // /proc/stat ticks are summed over CPUs: busy share × CPU count = cores.
                let (busy, total) = (
                    now.3.0.saturating_sub(prev.3.0),
                    now.3.1.saturating_sub(prev.3.1),
                );
                let cpus =
                    std::thread::available_parallelism().map_or(1, std::num::NonZero::get) as f64;
                let machine = if total > 0 {
                    busy as f64 / total as f64 * cpus
                } else {
                    0.0
                };
                if let Ok(mut s) = samples2.lock() {
                    s.push(ProcSample {
                        t_s: now.0.duration_since(t0).as_secs_f64(),
                        cpu_cores: broker_cpu,
                        rss_mb: rss,
                        client_cpu_cores: cores(now.2, prev.2),
                        machine_busy_cores: machine,
                    });
                }
                prev = now;
            }
        });
        Sampler {
            stop,
            samples,
            thread: Some(thread),
        }
    }

    /// Stops the thread and returns the samples.
    pub fn finish(mut self) -> Vec<ProcSample> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.samples.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_ticks_even_with_odd_process_names() {
        let stat = "1234 (my (odd) proc) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 1000 200 18446744073709551615";
        assert_eq!(cpu_ticks(stat), Some(300));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn parses_rss() {
        let status = "Name:\tbroker\nVmPeak:\t  100 kB\nVmRSS:\t   20480 kB\nThreads:\t4\n";
        assert!((rss_mb(status).unwrap() - 20.97152).abs() < 1e-9);
        assert_eq!(rss_mb("Name: x\n"), None);
    }

    #[test]
    fn parses_machine_ticks() {
        let stat = "cpu  100 5 50 800 20 3 2 10 0 0\ncpu0 50 2 25 400 10 1 1 5 0 0\n";
        assert_eq!(machine_ticks(stat), Some((170, 990)));
        assert_eq!(machine_ticks("intr 1 2 3\n"), None);
    }

    #[test]
    fn reads_this_process() {
        let (_, rss) = read(std::process::id()).unwrap();
        assert!(rss > 0.0);
    }
}
