//! LATENCY LATEST | HISTORY | RESET | DOCTOR | HISTOGRAM | HELP, and the
//! latency monitor
//! behind them: for each event that took at least
//! `latency-monitor-threshold` milliseconds (0 turns the monitor off), its
//! worst latency ever and one sample per second for the last
//! [`HISTORY_LEN`] seconds in which it happened.
//!
//! The events pubsubd records are Redis's `command` (a command that is not
//! flagged `fast` ran that long) and `fast-command` (one flagged `fast`
//! did), measured as the command's own run time, and its own `fan-out`: the
//! delivery of a run of pipelined PUBLISHes to one channel, which happens
//! after those commands have replied (`commands/publish.rs`), and
//! `publish-pause`: a publisher held by flow control until its receivers
//! drained ([`crate::pubsub::flow`]).
//!
//! LATENCY HISTOGRAM reports the per-command latency histograms INFO
//! `latencystats` also reads ([`crate::stats`]).

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;

use super::help_reply;
use crate::protocol::{Args, Reply};
use crate::session::Session;

/// Samples kept per event (Redis's `LATENCY_TS_LEN`): one per second in
/// which the event happened, the oldest dropped first.
pub const HISTORY_LEN: usize = 160;

/// An event's record.
struct Series {
    name: &'static str,
    /// Worst latency ever, in milliseconds.
    max: u64,
    /// (unix seconds, worst milliseconds in that second), oldest first; at
    /// most [`HISTORY_LEN`].
    samples: std::collections::VecDeque<(u64, u64)>,
}

/// The latency monitor.
#[derive(Default)]
pub struct Latency {
    /// `latency-monitor-threshold` in milliseconds; 0 = off.
    pub threshold_ms: AtomicU64,
    /// In the order the events first happened (as Redis lists them: its
    /// dictionary order is not meaningful either). At most one per event
    /// name pubsubd records, so a handful.
    events: Mutex<Vec<Series>>,
}

impl Latency {
    /// Whether the monitor is on (one atomic load).
    pub fn enabled(&self) -> bool {
        self.threshold_ms.load(Ordering::Relaxed) > 0
    }

    /// Records that `event` took `ms` if the monitor is on and it reached
    /// the threshold. One atomic load when the monitor is off.
    pub fn note(&self, event: &'static str, ms: u64) {
        let threshold = self.threshold_ms.load(Ordering::Relaxed);
        if threshold == 0 || ms < threshold {
            return;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut events = self.events.lock();
        let i = match events.iter().position(|s| s.name == event) {
            Some(i) => i,
            None => {
                events.push(Series {
                    name: event,
                    max: 0,
                    samples: std::collections::VecDeque::new(),
                });
                events.len() - 1
            }
        };
        let series = &mut events[i];
        series.max = series.max.max(ms);
        match series.samples.back_mut() {
            Some(last) if last.0 == now => last.1 = last.1.max(ms),
            _ => {
                if series.samples.len() == HISTORY_LEN {
                    series.samples.pop_front();
                }
                series.samples.push_back((now, ms));
            }
        }
    }
}

/// LATENCY LATEST: per event, its name, the time and latency of its latest
/// sample, and its worst latency.
pub fn latest(s: &mut Session, _args: &Args) -> Reply {
    let events = s.shared.latency.events.lock();
    Reply::Array(
        events
            .iter()
            .map(|e| {
                let (t, ms) = e.samples.back().copied().unwrap_or((0, 0));
                Reply::Array(vec![
                    Reply::Bulk(Bytes::from_static(e.name.as_bytes())),
                    Reply::Int(t as i64),
                    Reply::Int(ms as i64),
                    Reply::Int(e.max as i64),
                ])
            })
            .collect(),
    )
}

/// LATENCY HISTORY event: its samples, oldest first, as (time, latency).
pub fn history(s: &mut Session, args: &Args) -> Reply {
    if args.len() != 3 {
        return super::slowlog::subcommand_syntax_error(args);
    }
    let events = s.shared.latency.events.lock();
    let samples = events
        .iter()
        .find(|e| e.name.as_bytes() == args.arg(2))
        .map(|e| {
            e.samples
                .iter()
                .map(|&(t, ms)| Reply::Array(vec![Reply::Int(t as i64), Reply::Int(ms as i64)]))
                .collect()
        })
        .unwrap_or_default();
    Reply::Array(samples)
}

/// LATENCY HISTOGRAM [command ...]: for each command named (a container
/// also for each of its subcommands; all commands if none is named) that
/// ran since the start or the last CONFIG RESETSTAT, its calls and the
/// cumulative distribution of its latencies, as Redis gives them. Unknown
/// names are skipped, as in Redis.
pub fn histogram(s: &mut Session, args: &Args) -> Reply {
    let used = s.shared.stats.commands.used();
    let ran = |name: &str| used.iter().find(|st| st.name == name && st.calls > 0);
    let mut picked = Vec::new();
    if args.len() == 2 {
        picked.extend(used.iter().filter(|st| st.calls > 0));
    } else {
        for name in &args[2..] {
            let Some((cmd, parent)) = super::command::find(&s.shared.command_names, name) else {
                continue;
            };
            let full = match parent {
                Some(p) => format!("{p}|{}", cmd.name),
                None => cmd.name.to_string(),
            };
            picked.extend(ran(&full));
            for sub in cmd.subcommands {
                picked.extend(ran(&format!("{}|{}", cmd.name, sub.name)));
            }
        }
    }
    Reply::Map(
        picked
            .into_iter()
            .map(|st| {
                let cdf = st
                    .histogram_usec()
                    .into_iter()
                    .map(|(usec, count)| (Reply::Int(usec as i64), Reply::Int(count as i64)))
                    .collect();
                let entry = Reply::Map(vec![
                    (Reply::bulk_static("calls"), Reply::Int(st.calls as i64)),
                    (Reply::bulk_static("histogram_usec"), Reply::Map(cdf)),
                ]);
                (Reply::Bulk(Bytes::from(st.name.clone())), entry)
            })
            .collect(),
    )
}

/// LATENCY RESET [event ...]: forgets the events named (all of them if
/// none is); the number forgotten.
pub fn reset(s: &mut Session, args: &Args) -> Reply {
    let mut events = s.shared.latency.events.lock();
    let before = events.len();
    if args.len() == 2 {
        events.clear();
        return Reply::Int(before as i64);
    }
    let mut resets = 0;
    for name in &args[2..] {
        let n = events.len();
        events.retain(|e| !e.name.as_bytes().eq_ignore_ascii_case(name));
        resets += n - events.len();
    }
    Reply::Int(resets as i64)
}

/// LATENCY DOCTOR: a short report of the recorded events, in plain words.
pub fn doctor(s: &mut Session, _args: &Args) -> Reply {
    let threshold = s.shared.latency.threshold_ms.load(Ordering::Relaxed);
    let events = s.shared.latency.events.lock();
    let mut out = String::new();
    if threshold == 0 {
        out.push_str(
            "The latency monitor is off: set latency-monitor-threshold to a number of \
             milliseconds (CONFIG SET latency-monitor-threshold 100) to record events \
             that take at least that long.\n",
        );
    }
    if events.is_empty() {
        out.push_str(
            "No latency event has been recorded since start or since the last LATENCY RESET.\n",
        );
        return Reply::Verbatim(Bytes::from(out));
    }
    out.push_str("Latency events recorded:\n\n");
    for (n, e) in events.iter().enumerate() {
        let count = e.samples.len() as u64;
        let sum: u64 = e.samples.iter().map(|&(_, ms)| ms).sum();
        let avg = sum / count.max(1);
        let deviation = e
            .samples
            .iter()
            .map(|&(_, ms)| ms.abs_diff(avg))
            .sum::<u64>()
            / count.max(1);
        let period = match (e.samples.front(), e.samples.back()) {
            (Some(first), Some(last)) if count > 1 => {
                format!(
                    ", one every {} seconds on average",
                    (last.0 - first.0) / (count - 1)
                )
            }
            _ => String::new(),
        };
        out.push_str(&format!(
            "{}. {}: {} seconds with a spike{}; average {} ms, mean deviation {} ms; worst ever {} ms.\n",
            n + 1,
            e.name,
            count,
            period,
            avg,
            deviation,
            e.max
        ));
    }
    out.push_str("\nAdvice:\n");
    for e in events.iter() {
        let advice = match e.name {
            "command" => {
                "- command: slow commands ran; SLOWLOG GET shows which. KEYS, large \
                 FLUSHALL and long scripts run alone and hold every other client back."
            }
            "fast-command" => {
                "- fast-command: a command that should take microseconds took milliseconds; \
                 the host may be overloaded or swapping, or the process was descheduled."
            }
            "fan-out" => {
                "- fan-out: delivering pipelined PUBLISHes took long; a channel or pattern with \
                 very many subscribers, or many patterns to match, costs every publish."
            }
            _ => continue,
        };
        out.push_str(advice);
        out.push('\n');
    }
    Reply::Verbatim(Bytes::from(out))
}

/// LATENCY HELP.
pub fn help(_s: &mut Session, _args: &Args) -> Reply {
    help_reply(
        "LATENCY",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_keep_the_worst_per_second_and_a_bounded_history() {
        let l = Latency::default();
        l.note("command", 500);
        assert!(l.events.lock().is_empty(), "off while the threshold is 0");
        l.threshold_ms.store(10, Ordering::Relaxed);
        l.note("command", 5);
        assert!(l.events.lock().is_empty(), "below the threshold");
        l.note("command", 20);
        l.note("command", 30);
        l.note("command", 15);
        let events = l.events.lock();
        assert_eq!(events[0].max, 30);
        assert!(events[0].samples.len() <= 2);
        assert!(events[0].samples.iter().any(|&(_, ms)| ms == 30));
        drop(events);
        let mut events = l.events.lock();
        for t in 0..(HISTORY_LEN as u64 + 10) {
            events[0].samples.push_back((t, 1));
            if events[0].samples.len() > HISTORY_LEN {
                events[0].samples.pop_front();
            }
        }
        drop(events);
        l.note("command", 11);
        assert_eq!(l.events.lock()[0].samples.len(), HISTORY_LEN);
    }
}
