//! CPU time and resident memory of a process, from `/proc`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// How often the RSS sampler looks.
pub const RSS_SAMPLE_INTERVAL: Duration = Duration::from_millis(50);

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`;
/// 100 on every mainstream Linux architecture).
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// `pid`'s user+system CPU seconds (`None` for `self` uses this process).
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name is in parentheses and may hold spaces: count fields
    // from the last ')'. utime and stime are fields 14 and 15 overall, so
    // the 12th and 13th after the name.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let utime: f64 = fields.nth(11)?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// `pid`'s resident set size in bytes (`VmRSS`).
pub fn rss_bytes(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_string(),
    };
    let status = std::fs::read_to_string(path).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Samples a process's RSS every [`RSS_SAMPLE_INTERVAL`] on a thread of its
/// own and keeps the peak, until dropped.
pub struct RssSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    /// Starts sampling `pid`; samples nothing without one.
    pub fn start(pid: Option<u32>) -> RssSampler {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = pid.map(|pid| {
            let (peak, stop) = (Arc::clone(&peak), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(rss) = rss_bytes(Some(pid)) {
                        peak.fetch_max(rss, Ordering::Relaxed);
                    }
                    std::thread::sleep(RSS_SAMPLE_INTERVAL);
                }
            })
        });
        RssSampler { peak, stop, thread }
    }

    /// The highest RSS seen so far (None without a pid).
    pub fn peak(&self) -> Option<u64> {
        self.thread.as_ref()?;
        Some(self.peak.load(Ordering::Relaxed))
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The whole machine's CPU time from the first line of `/proc/stat`, in
/// clock ticks summed over every CPU.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MachineTicks {
    /// Every state: user, nice, system, idle, iowait, irq, softirq, steal.
    pub total: f64,
    /// idle + iowait: no runnable thread on the CPU.
    pub idle: f64,
    /// Time the hypervisor ran something else while this machine's CPU
    /// wanted to run (zero on bare metal).
    pub steal: f64,
}

impl MachineTicks {
    /// Parses the aggregate `cpu ` line of `/proc/stat`.
    pub fn parse(stat: &str) -> Option<MachineTicks> {
        let line = stat.lines().find(|l| l.starts_with("cpu "))?;
        let v: Vec<f64> = line
            .split_whitespace()
            .skip(1)
            .take(8)
            .map(|f| f.parse().ok())
            .collect::<Option<_>>()?;
        if v.len() < 8 {
            return None;
        }
        Some(MachineTicks {
            total: v.iter().sum(),
            idle: v[3] + v[4],
            steal: v[7],
        })
    }

    /// Reads `/proc/stat` now.
    pub fn now() -> Option<MachineTicks> {
        MachineTicks::parse(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// Percentages of the machine's CPU time since `earlier` that were idle
    /// and stolen: (idle %, steal %).
    pub fn pct_since(&self, earlier: &MachineTicks) -> Option<(f64, f64)> {
        let total = self.total - earlier.total;
        (total > 0.0).then(|| {
            (
                100.0 * (self.idle - earlier.idle) / total,
                100.0 * (self.steal - earlier.steal) / total,
            )
        })
    }
}

/// CPU seconds of the server and of the generator, and the machine's CPU
/// ticks, read together.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuMark {
    /// The server's, when its pid is known.
    pub server: Option<f64>,
    /// This process's.
    pub client: f64,
    /// The whole machine's (None where `/proc/stat` cannot be read).
    pub machine: Option<MachineTicks>,
}

impl CpuMark {
    /// Reads all three now.
    pub fn now(pid: Option<u32>) -> CpuMark {
        CpuMark {
            server: pid.and_then(|p| cpu_seconds(Some(p))),
            client: cpu_seconds(None).unwrap_or(0.0),
            machine: MachineTicks::now(),
        }
    }

    /// The machine's idle and stolen CPU time since `earlier`, in percent.
    pub fn machine_pct_since(&self, earlier: &CpuMark) -> Option<(f64, f64)> {
        self.machine?.pct_since(&earlier.machine?)
    }

    /// CPU seconds spent since `earlier`: (server, client).
    pub fn since(&self, earlier: &CpuMark) -> (Option<f64>, f64) {
        let server = match (self.server, earlier.server) {
            (Some(a), Some(b)) => Some(a - b),
            _ => None,
        };
        (server, self.client - earlier.client)
    }
}

/// Checks the `/proc/stat` reading (`loadgen selftest`; bench targets run
/// no `#[test]`s).
pub fn self_test() -> Result<(), String> {
    let a = MachineTicks::parse("cpu  100 0 50 800 10 0 20 20 0 0\ncpu0 1 2 3 4 5 6 7 8\n")
        .ok_or("the cpu line did not parse")?;
    let b = MachineTicks::parse("cpu  160 0 80 900 10 0 30 120 0 0\n")
        .ok_or("the second cpu line did not parse")?;
    if (a.total, a.idle, a.steal) != (1000.0, 810.0, 20.0) {
        return Err(format!("ticks read as {a:?}"));
    }
    // 300 ticks passed: 100 idle, 100 stolen.
    let (idle, steal) = b.pct_since(&a).ok_or("no time passed")?;
    if (idle - 100.0 / 3.0).abs() > 1e-9 || (steal - 100.0 / 3.0).abs() > 1e-9 {
        return Err(format!(
            "idle {idle} % and steal {steal} %, not 33.3 % each"
        ));
    }
    if MachineTicks::parse("cpu0 1 2 3\n").is_some()
        || MachineTicks::parse("cpu  1 2 3\n").is_some()
    {
        return Err("a line without the machine's eight times parsed".into());
    }
    if a.pct_since(&a).is_some() {
        return Err("a zero interval gave percentages".into());
    }
    Ok(())
}
