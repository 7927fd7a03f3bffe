//! Results: one case's figures, the run's JSON file and stdout table, and
//! the comparison report (`loadgen report`) built from many runs' JSON.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};

use crate::subscriber::{MAX_LATENCY_NS, latency_histogram};
use crate::timeline::Row;

/// One case's figures, problems and notes.
#[derive(Clone, Debug)]
pub struct CaseResult {
    /// Scenario (`s1` …).
    pub scenario: String,
    /// Case name.
    pub case: String,
    /// Figures in the order they were set.
    pub metrics: Vec<(String, f64)>,
    /// The metrics the comparison table shows.
    pub headline: Vec<String>,
    /// Broken guarantees: loss, reordering, unexpected disconnects, errors.
    pub problems: Vec<String>,
    /// Worth knowing, not a failure.
    pub notes: Vec<String>,
    /// Every recorded publish-to-delivery latency, as (nanoseconds, count)
    /// per histogram bucket, so a report can pool repeats.
    pub latency_ns: Vec<(u64, u64)>,
    /// The case's course step by step (`run --timeline`), else empty.
    pub timeline: Vec<Row>,
}

impl CaseResult {
    /// An empty result.
    pub fn new(scenario: &str, case: &str, headline: &[&str]) -> CaseResult {
        CaseResult {
            scenario: scenario.to_string(),
            case: case.to_string(),
            metrics: Vec::new(),
            headline: headline.iter().map(|s| s.to_string()).collect(),
            problems: Vec::new(),
            notes: Vec::new(),
            latency_ns: Vec::new(),
            timeline: Vec::new(),
        }
    }

    /// Why the case FAILED, or None when it passed. A case fails when the
    /// server cut a checked subscriber or lost a message (S5's frozen
    /// subscriber is not a checked one), or on any other problem
    /// (reordering, duplicates, errors, a case that could not run),
    /// whatever its throughput.
    pub fn failure(&self) -> Option<String> {
        let mut why = Vec::new();
        let cut = self.get("subs_cut").unwrap_or(0.0);
        if cut > 0.0 {
            why.push(match self.get("subscribers") {
                Some(n) => format!("{cut:.0} of {n:.0} subscribers cut"),
                None => format!("{cut:.0} subscribers cut"),
            });
        }
        let lost = self.get("lost").unwrap_or(0.0);
        if lost > 0.0 {
            why.push(format!("{lost:.0} messages lost"));
        }
        if why.is_empty() && !self.problems.is_empty() {
            why.push(self.problems[0].clone());
            if self.problems.len() > 1 {
                why.push(format!("{} more problems", self.problems.len() - 1));
            }
        }
        (!why.is_empty()).then(|| why.join(", "))
    }

    /// Keeps the latency histogram's buckets (see [`CaseResult::latency_ns`]).
    pub fn set_latency(&mut self, hist: &Histogram<u64>) {
        self.latency_ns = hist
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect();
    }

    /// A failed case.
    pub fn failed(scenario: &str, case: &str, error: String) -> CaseResult {
        let mut r = CaseResult::new(scenario, case, &[]);
        r.problems.push(format!("case failed: {error}"));
        r
    }

    /// Sets metric `key`.
    pub fn set(&mut self, key: &str, value: f64) {
        self.set_owned(key.to_string(), value);
    }

    /// Sets metric `key` (owned name).
    pub fn set_owned(&mut self, key: String, value: f64) {
        if let Some(slot) = self.metrics.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
        } else {
            self.metrics.push((key, value));
        }
    }

    /// Adds a note.
    pub fn note(&mut self, text: String) {
        self.notes.push(text);
    }

    fn get(&self, key: &str) -> Option<f64> {
        self.metrics.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// The JSON form.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        for (k, v) in &self.metrics {
            m.insert(k.clone(), json!(v));
        }
        let failure = self.failure();
        let timeline: Vec<Value> = self
            .timeline
            .iter()
            .map(|r| {
                json!({
                    "t_s": r.t_s,
                    "delivered": r.delivered,
                    "published": r.published,
                    "connected": r.connected,
                    "rss_mb": r.rss_mb,
                })
            })
            .collect();
        json!({
            "scenario": self.scenario,
            "case": self.case,
            "ok": failure.is_none(),
            "verdict": if failure.is_some() { "FAILED" } else { "ok" },
            "failure": failure,
            "metrics": m,
            "headline": self.headline,
            "problems": self.problems,
            "notes": self.notes,
            "latency_ns_histogram": self.latency_ns,
            "timeline": timeline,
        })
    }

    /// Prints the case as a few readable lines: the verdict and the
    /// integrity counts first, then the figures.
    pub fn print(&self) {
        match self.failure() {
            Some(why) => println!("{:<34} FAILED: {why}", self.case),
            None => println!("{:<34} ok", self.case),
        }
        let integrity = [
            "subs_cut",
            "lost",
            "lost_gaps",
            "lost_undelivered",
            "missed_after_cut",
            "first_cut_s",
            "reordered",
            "duplicated",
        ];
        let parts: Vec<String> = integrity
            .iter()
            .filter_map(|k| {
                self.get(k).map(|v| match *k {
                    "first_cut_s" => format!("{k}={v:.2}"),
                    _ => format!("{k}={v:.0}"),
                })
            })
            .collect();
        if !parts.is_empty() {
            println!("    integrity: {}", parts.join("  "));
        }
        let shown: Vec<String> = self
            .metrics
            .iter()
            .filter(|(k, _)| {
                !integrity.contains(&k.as_str())
                    && !matches!(k.as_str(), "expected" | "gaps" | "missing")
            })
            .map(|(k, v)| format!("{k}={}", fmt_num(*v)))
            .collect();
        for line in shown.chunks(5) {
            println!("    {}", line.join("  "));
        }
        let check = [
            ("expected", self.get("expected")),
            ("missing", self.get("missing")),
        ];
        if check.iter().any(|(_, v)| v.is_some()) {
            let parts: Vec<String> = check
                .iter()
                .filter_map(|(k, v)| v.map(|v| format!("{k}={}", fmt_num(v))))
                .collect();
            println!("    check: {}", parts.join("  "));
        }
        for p in &self.problems {
            println!("    PROBLEM: {p}");
        }
        for n in &self.notes {
            println!("    note: {n}");
        }
        if !self.timeline.is_empty() {
            println!(
                "    timeline ({} ms steps; rates per second):",
                crate::timeline::STEP.as_millis()
            );
            println!(
                "    {:>7} {:>13} {:>13} {:>10} {:>10}",
                "t_s", "deliveries/s", "publishes/s", "connected", "rss_mb"
            );
            let per_s = 1.0 / crate::timeline::STEP.as_secs_f64();
            for r in &self.timeline {
                println!(
                    "    {:>7.1} {:>13.0} {:>13.0} {:>10} {:>10}",
                    r.t_s,
                    r.delivered as f64 * per_s,
                    r.published as f64 * per_s,
                    r.connected,
                    r.rss_mb
                        .map(|m| format!("{m:.0}"))
                        .unwrap_or_else(|| "—".into())
                );
            }
        }
    }
}

/// A number with sensible precision for a table.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 100_000.0 {
        format!("{:.0}", v)
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// Writes a run's JSON: server label, target and every case.
pub fn write_run_json(
    path: &Path,
    label: &str,
    addr: &str,
    pid: Option<u32>,
    quick: bool,
    window: Option<usize>,
    cases: &[CaseResult],
) -> Result<(), String> {
    let doc = json!({
        "label": label,
        "addr": addr,
        "pid": pid,
        "quick": quick,
        "window": window,
        "cases": cases.iter().map(CaseResult::to_json).collect::<Vec<_>>(),
    });
    let text = serde_json::to_string_pretty(&doc).map_err(|e| format!("encoding JSON: {e}"))?;
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// The `deliveries_per_s` of every saturated (`.../sat`) case in a run
/// JSON written by [`write_run_json`], by case name.
pub fn saturated_rates(path: &Path) -> Result<HashMap<String, f64>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let doc: Value =
        serde_json::from_str(&text).map_err(|e| format!("parsing {}: {e}", path.display()))?;
    let mut rates = HashMap::new();
    for case in doc["cases"].as_array().into_iter().flatten() {
        let (Some(name), Some(rate)) = (
            case["case"].as_str(),
            case["metrics"]["deliveries_per_s"].as_f64(),
        ) else {
            continue;
        };
        if name.ends_with("/sat") && case["ok"].as_bool() == Some(true) && rate > 0.0 {
            rates.insert(name.to_string(), rate);
        }
    }
    if rates.is_empty() {
        return Err(format!("{}: no passing saturated case", path.display()));
    }
    Ok(rates)
}

/// Whether a larger value of `metric` is better (None: neither).
fn higher_is_better(metric: &str) -> Option<bool> {
    if metric.ends_with("_per_s") {
        Some(true)
    } else if metric.starts_with("lat_")
        || metric.contains("cpu")
        || metric.contains("rss")
        || metric.contains("bytes_per_conn")
        || metric == "drain_s"
    {
        Some(false)
    } else {
        None
    }
}

/// One server's integrity in one case over the repeats.
#[derive(Default)]
struct Integrity {
    /// Repeats seen.
    runs: usize,
    /// Repeats that FAILED.
    failed: usize,
    /// Most subscribers cut in one repeat.
    cut: f64,
    /// Checked subscribers of the case.
    subscribers: Option<f64>,
    /// Most messages lost in one repeat.
    lost: f64,
    /// Most deliveries cut subscribers missed after their cut in one repeat.
    missed: f64,
    /// Whether any repeat reported the cut and loss counts.
    counted: bool,
}

impl Integrity {
    /// Adds one repeat's case from a run JSON.
    fn add(&mut self, case: &Value) {
        self.runs += 1;
        if case["ok"].as_bool() != Some(true) {
            self.failed += 1;
        }
        let m = &case["metrics"];
        if let Some(c) = m["subs_cut"].as_f64() {
            self.cut = self.cut.max(c);
            self.counted = true;
        }
        if let Some(l) = m["lost"].as_f64() {
            self.lost = self.lost.max(l);
            self.counted = true;
        }
        if let Some(l) = m["missed_after_cut"].as_f64() {
            self.missed = self.missed.max(l);
        }
        if let Some(n) = m["subscribers"].as_f64().or(m["connections"].as_f64()) {
            self.subscribers = Some(n);
        }
    }

    /// The table cell: the verdict, then the worst repeat's counts.
    fn cell(&self) -> String {
        let counts = if self.counted {
            let of = self
                .subscribers
                .map(|n| format!("/{n:.0}"))
                .unwrap_or_default();
            let missed = if self.missed > 0.0 {
                format!(" (and {:.0} deliveries missed after the cuts)", self.missed)
            } else {
                String::new()
            };
            format!(": cut {:.0}{of}, lost {:.0}{missed}", self.cut, self.lost)
        } else {
            String::new()
        };
        if self.failed > 0 {
            format!("**FAILED** ({} of {} runs){counts}", self.failed, self.runs)
        } else {
            format!("ok{counts}")
        }
    }
}

/// The verdict column of a comparison row: "ok", or who FAILED the case
/// in some repeat (their throughput and latency do not count then).
fn row_verdict(
    integrity: &BTreeMap<(String, String), Integrity>,
    case: &str,
    labels: [&str; 2],
) -> String {
    let failed: Vec<&str> = labels
        .into_iter()
        .filter(|l| {
            integrity
                .get(&(case.to_string(), l.to_string()))
                .is_some_and(|i| i.failed > 0)
        })
        .collect();
    if failed.is_empty() {
        "ok".into()
    } else {
        format!("**FAILED: {}**", failed.join(", "))
    }
}

/// The median of `v` (sorted in place).
fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Reads every `*.json` run file in `dir` and prints (and returns) the
/// comparison table in Markdown: per case and headline metric, each
/// label's median over repeats and the ratio `first label / second label`.
pub fn compare(dir: &Path, labels: &[String]) -> Result<String, String> {
    // case -> metric -> label -> values; case order as first seen.
    let mut order: Vec<String> = Vec::new();
    let mut headline: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut values: BTreeMap<(String, String, String), Vec<f64>> = BTreeMap::new();
    let mut problems: Vec<String> = Vec::new();
    let mut notes: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    let mut runs: BTreeMap<String, usize> = BTreeMap::new();
    // (case, label) -> every repeat's latencies in one histogram.
    let mut pooled: BTreeMap<(String, String), Histogram<u64>> = BTreeMap::new();
    let mut integrity: BTreeMap<(String, String), Integrity> = BTreeMap::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("reading {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let doc: Value =
            serde_json::from_str(&text).map_err(|e| format!("parsing {}: {e}", path.display()))?;
        let label = doc["label"].as_str().unwrap_or("?").to_string();
        *runs.entry(label.clone()).or_default() += 1;
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        for case in doc["cases"].as_array().into_iter().flatten() {
            let name = case["case"].as_str().unwrap_or("?").to_string();
            if !order.contains(&name) {
                order.push(name.clone());
            }
            integrity
                .entry((name.clone(), label.clone()))
                .or_default()
                .add(case);
            if let Some(h) = case["headline"].as_array()
                && !h.is_empty()
            {
                headline.entry(name.clone()).or_insert_with(|| {
                    h.iter()
                        .filter_map(|m| m.as_str().map(String::from))
                        .collect()
                });
            }
            if let Some(m) = case["metrics"].as_object() {
                for (k, v) in m {
                    if let Some(v) = v.as_f64() {
                        values
                            .entry((name.clone(), k.clone(), label.clone()))
                            .or_default()
                            .push(v);
                    }
                }
            }
            if let Some(buckets) = case["latency_ns_histogram"].as_array()
                && !buckets.is_empty()
            {
                let h = match pooled.entry((name.clone(), label.clone())) {
                    std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::btree_map::Entry::Vacant(e) => e.insert(latency_histogram()?),
                };
                add_buckets(h, buckets).map_err(|e| format!("{} ({name}): {e}", path.display()))?;
            }
            for p in case["problems"].as_array().into_iter().flatten() {
                problems.push(format!(
                    "{label} {name} ({file}): {}",
                    p.as_str().unwrap_or("?")
                ));
            }
            for n in case["notes"].as_array().into_iter().flatten() {
                *notes
                    .entry((
                        label.clone(),
                        name.clone(),
                        n.as_str().unwrap_or("?").to_string(),
                    ))
                    .or_default() += 1;
            }
        }
    }
    let (a, b) = match labels {
        [a, b, ..] => (a.clone(), b.clone()),
        _ => {
            let mut ls: Vec<String> = runs.keys().cloned().collect();
            ls.sort();
            ls.reverse();
            match ls.as_slice() {
                [a, b, ..] => (a.clone(), b.clone()),
                [a] => (a.clone(), String::new()),
                [] => return Err(format!("no run files in {}", dir.display())),
            }
        }
    };
    let mut out = String::new();
    out.push_str(&format!(
        "Integrity, before any throughput: a case FAILED where the server cut a checked \
         subscriber, lost a message or broke another check in any repeat (worst repeat's \
         counts), whatever its throughput.\n\n| case | {a} | {b} |\n|---|---|---|\n"
    ));
    for case in &order {
        let cell = |label: &str| {
            integrity
                .get(&(case.clone(), label.to_string()))
                .map(Integrity::cell)
                .unwrap_or_else(|| "—".into())
        };
        out.push_str(&format!("| {case} | {} | {} |\n", cell(&a), cell(&b)));
    }
    out.push_str(&format!(
        "\n| case | metric | verdict | {a} | {b} | {a}/{b} | {a} better? |\n|---|---|---|---:|---:|---:|:---:|\n"
    ));
    for case in &order {
        let Some(metrics) = headline.get(case) else {
            continue;
        };
        for m in metrics {
            let med = |label: &str| {
                values
                    .get(&(case.clone(), m.clone(), label.to_string()))
                    .and_then(|v| median(&mut v.clone()))
            };
            let (va, vb) = (med(&a), med(&b));
            if va.is_none() && vb.is_none() {
                continue;
            }
            let show = |v: Option<f64>| v.map(fmt_num).unwrap_or_else(|| "—".into());
            let (ratio, better) = match (va, vb) {
                (Some(x), Some(y)) if y != 0.0 => {
                    let r = x / y;
                    (format!("{r:.2}"), verdict(r, higher_is_better(m)))
                }
                _ => ("—".into(), ""),
            };
            let checked = row_verdict(&integrity, case, [&a, &b]);
            let better = if checked == "ok" { better } else { "—" };
            out.push_str(&format!(
                "| {case} | {m} | {checked} | {} | {} | {ratio} | {better} |\n",
                show(va),
                show(vb)
            ));
        }
    }
    // The cases at a set rate are those with a target rate.
    let at_rate: Vec<String> = order
        .iter()
        .filter(|c| {
            values
                .keys()
                .any(|(case, m, _)| case == *c && m == "target_publishes_per_s")
        })
        .cloned()
        .collect();
    out.push_str(&pooled_table(&at_rate, &pooled, &integrity, &a, &b));
    out.push_str(&format!(
        "\nRuns: {}.\n",
        runs.iter()
            .map(|(l, n)| format!("{l} {n} files"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    // How much of the machine the hypervisor took (a slow hour shows here).
    for label in [&a, &b] {
        let steal: Vec<f64> = values
            .iter()
            .filter(|((_, m, l), _)| m == "machine_steal_pct" && l == label)
            .flat_map(|(_, v)| v.iter().copied())
            .collect();
        if steal.is_empty() {
            continue;
        }
        let mean = steal.iter().sum::<f64>() / steal.len() as f64;
        let max = steal.iter().copied().fold(0.0, f64::max);
        out.push_str(&format!(
            "\nMachine during {label}'s cases: {mean:.2} % of its CPU time stolen by the hypervisor on average, {max:.2} % at most.\n"
        ));
    }
    if problems.is_empty() {
        out.push_str("\nChecks: no loss, no reordering, no unexpected disconnects in any run.\n");
    } else {
        out.push_str("\nProblems:\n");
        for p in &problems {
            out.push_str(&format!("- {p}\n"));
        }
    }
    if !notes.is_empty() {
        out.push_str("\nNotes:\n");
        for ((label, case, text), n) in &notes {
            out.push_str(&format!("- {label} {case}: {text} ({n}×)\n"));
        }
    }
    Ok(out)
}

/// Whether a ratio first/second is better for the first: within 2 % of 1
/// is "≈"; empty when the metric has no better direction (`None`).
fn verdict(ratio: f64, higher_is_better: Option<bool>) -> &'static str {
    match higher_is_better {
        Some(true) if ratio >= 1.02 => "yes",
        Some(false) if ratio <= 0.98 => "yes",
        Some(_) if (0.98..1.02).contains(&ratio) => "≈",
        Some(_) => "**no**",
        None => "",
    }
}

/// Adds a run file's `latency_ns_histogram` buckets to `h`.
fn add_buckets(h: &mut Histogram<u64>, buckets: &[Value]) -> Result<(), String> {
    for b in buckets {
        let (Some(v), Some(n)) = (b[0].as_u64(), b[1].as_u64()) else {
            return Err(format!("a latency bucket is not [ns, count]: {b}"));
        };
        h.record_n(v.clamp(1, MAX_LATENCY_NS), n)
            .map_err(|e| format!("cannot record {v} ns: {e}"))?;
    }
    Ok(())
}

/// The latency percentiles of `cases` (those at a set rate) over every
/// delivery of every repeat (one histogram per server): steadier than the
/// median of the repeats' own percentiles, which the main table shows.
fn pooled_table(
    cases: &[String],
    pooled: &BTreeMap<(String, String), Histogram<u64>>,
    integrity: &BTreeMap<(String, String), Integrity>,
    a: &str,
    b: &str,
) -> String {
    let mut out = String::new();
    for case in cases {
        let get = |label: &str| pooled.get(&(case.clone(), label.to_string()));
        let (Some(ha), Some(hb)) = (get(a), get(b)) else {
            continue;
        };
        if out.is_empty() {
            out.push_str(&format!(
                "\nLatency of the cases at a set rate, pooled over all repeats (µs; {a} / {b}):\n\n\
                 | case | verdict | p50 | p99 | p99.9 | p99 {a}/{b} | {a} better? |\n|---|---|---:|---:|---:|---:|:---:|\n"
            ));
        }
        let us = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        let pair = |q: f64| format!("{} / {}", fmt_num(us(ha, q)), fmt_num(us(hb, q)));
        let ratio = us(ha, 0.99) / us(hb, 0.99).max(f64::MIN_POSITIVE);
        let checked = row_verdict(integrity, case, [a, b]);
        let better = if checked == "ok" {
            verdict(ratio, Some(false))
        } else {
            "—"
        };
        out.push_str(&format!(
            "| {case} | {checked} | {} | {} | {} | {ratio:.2} | {better} |\n",
            pair(0.5),
            pair(0.99),
            pair(0.999)
        ));
    }
    out
}

/// Checks that buckets written by [`CaseResult::set_latency`] and read back
/// by [`add_buckets`] pool two runs into the percentiles of their union,
/// and that ratios get the verdicts the tables show.
pub fn self_test() -> Result<(), String> {
    let (mut one, mut two, mut both) = (
        latency_histogram()?,
        latency_histogram()?,
        latency_histogram()?,
    );
    for v in 1..=1000u64 {
        one.record(v * 1000).map_err(|e| e.to_string())?;
        two.record(v * 1000 + 5_000_000)
            .map_err(|e| e.to_string())?;
    }
    both.add(&one).map_err(|e| e.to_string())?;
    both.add(&two).map_err(|e| e.to_string())?;
    let mut pooled = latency_histogram()?;
    for h in [&one, &two] {
        let mut r = CaseResult::new("s1", "s1/x/half", &[]);
        r.set_latency(h);
        let json = r.to_json();
        let buckets = json["latency_ns_histogram"]
            .as_array()
            .ok_or("no latency_ns_histogram in the case's JSON")?;
        add_buckets(&mut pooled, buckets)?;
    }
    for q in [0.5, 0.99, 0.999] {
        let (got, want) = (pooled.value_at_quantile(q), both.value_at_quantile(q));
        if got != want {
            return Err(format!(
                "pooled p{} is {got} ns, the union's {want} ns",
                q * 100.0
            ));
        }
    }
    // p99 of the union lies in the second run's values (5.0-6.0 ms).
    if !(5_000_000..=6_000_000).contains(&pooled.value_at_quantile(0.99)) {
        return Err("pooled p99 outside the second run's range".into());
    }
    let verdicts = [
        verdict(1.10, Some(true)),
        verdict(1.10, Some(false)),
        verdict(0.90, Some(false)),
        verdict(1.01, Some(false)),
        verdict(1.01, None),
    ];
    if verdicts != ["yes", "**no**", "yes", "≈", ""] {
        return Err(format!("ratio verdicts {verdicts:?}"));
    }
    case_verdicts_test()
}

/// Checks that a case which cut a subscriber or lost a message FAILS
/// whatever its throughput (also with no problem text), that S5's cut
/// frozen subscriber does not fail it, and that the comparison prints the
/// FAILED verdict before any ratio and gives the failing server no "yes".
fn case_verdicts_test() -> Result<(), String> {
    let mut clean = CaseResult::new("s1", "s1/sub100/16B/sat", &["deliveries_per_s"]);
    clean.set("subscribers", 100.0);
    clean.set("deliveries_per_s", 1e6);
    clean.set("subs_cut", 0.0);
    clean.set("lost", 0.0);
    if let Some(why) = clean.failure() {
        return Err(format!("a clean case FAILED: {why}"));
    }
    let mut cut = clean.clone();
    cut.set("subs_cut", 17.0);
    cut.set("deliveries_per_s", 1e7);
    let mut lost = clean.clone();
    lost.set("lost", 5.0);
    for (what, r, want) in [
        ("cut", &cut, "17 of 100 subscribers cut"),
        ("lost", &lost, "5 messages lost"),
    ] {
        match r.failure() {
            Some(why) if why.contains(want) => {}
            other => return Err(format!("a case with a {what}: verdict {other:?}")),
        }
        let j = r.to_json();
        if j["ok"] != json!(false) || j["verdict"] != json!("FAILED") {
            return Err(format!(
                "a case with a {what}: JSON ok {} verdict {}",
                j["ok"], j["verdict"]
            ));
        }
    }
    let mut s5 = CaseResult::new("s5", "s5/fast50/with-slow", &[]);
    s5.set("subscribers", 50.0);
    s5.set("subs_cut", 0.0);
    s5.set("lost", 0.0);
    s5.set("slow_cut_after_s", 1.5);
    if let Some(why) = s5.failure() {
        return Err(format!("S5 with its frozen subscriber cut FAILED: {why}"));
    }
    if CaseResult::failed("s1", "x", "no server".into())
        .failure()
        .is_none()
    {
        return Err("a case that could not run passed".into());
    }
    let dir = std::env::temp_dir().join(format!("loadgen-selftest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let written = write_run_json(
        &dir.join("a.json"),
        "pubsubd",
        "-",
        None,
        false,
        None,
        &[cut],
    )
    .and_then(|()| {
        write_run_json(
            &dir.join("b.json"),
            "redis",
            "-",
            None,
            false,
            None,
            &[clean],
        )
    });
    let table = written.and_then(|()| compare(&dir, &["pubsubd".into(), "redis".into()]));
    let _ = std::fs::remove_dir_all(&dir);
    let table = table?;
    let row = "| s1/sub100/16B/sat | **FAILED** (1 of 1 runs): cut 17/100, lost 0 | ok: cut 0/100, lost 0 |";
    let ratio_row = "| s1/sub100/16B/sat | deliveries_per_s | **FAILED: pubsubd** | 10000000 | 1000000 | 10.00 | — |";
    match (table.find(row), table.find(ratio_row)) {
        (Some(v), Some(r)) if v < r => Ok(()),
        _ => Err(format!(
            "the comparison does not put the FAILED verdict first and withhold the ratio's \"yes\":\n{table}"
        )),
    }
}
