//! One point: reset the prefix cache, run `sb-load` (its records pass through to stdout as they
//! come, and into an `sb-report --format json` that computes the point's SLO metrics with
//! sb-report's definitions), watch for saturation, cool down, judge.

use crate::plan::Load;
use crate::server::{Reset, Server};
use crate::signal;
use crate::slo::Slo;
use anyhow::{bail, Context, Result};
use sb_records::{summary, RunRecord, Summary, SweepPoint};
use serde::Deserialize;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What every point shares.
pub struct Ctx {
    pub bin_dir: PathBuf,
    pub requests: PathBuf,
    pub load_args: Vec<String>,
    pub slo: Slo,
    /// Measured part of a point (`--duration`), and/or its request count (`--count`).
    pub duration: Option<Duration>,
    pub count: Option<u64>,
    pub warmup: Warmup,
    pub server: Option<Server>,
    pub reset: bool,
    pub cooldown_timeout: Duration,
    pub saturation_window: Duration,
    pub run: String,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Warmup {
    None,
    Requests(u64),
    Time(Duration),
}

/// Notes said once per sweep (a server without the reset route, or without /metrics).
#[derive(Default)]
pub struct Once {
    pub reset_missing: bool,
    pub metrics_missing: bool,
    pub notes: Vec<String>,
}

pub struct Outcome {
    pub point: SweepPoint,
    /// The user interrupted this point (SIGINT/SIGTERM).
    pub interrupted: bool,
    /// Our stdout was closed by its reader.
    pub stdout_closed: bool,
}

/// The parts of a result line the saturation rule needs.
#[derive(Deserialize)]
struct Head {
    kind: String,
    #[serde(default)]
    scheduled_ns: u64,
}

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

fn ms_arg(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

pub fn load_command(ctx: &Ctx, name: &str, load: &Load) -> Command {
    let mut cmd = Command::new(ctx.bin_dir.join("sb-load"));
    cmd.args(&ctx.load_args);
    match load {
        Load::Rate(_) => cmd.args(["--rate", &load.spec()]),
        Load::Concurrency(c) => cmd.args(["--concurrency", &c.to_string()]),
        Load::Burst => cmd.args(["--rate", "inf"]),
    };
    let (duration, count) = (ctx.duration, ctx.count);
    match ctx.warmup {
        Warmup::None => {}
        Warmup::Requests(n) => {
            cmd.args(["--warmup", &n.to_string()]);
        }
        Warmup::Time(d) => {
            cmd.args(["--warmup", &ms_arg(d)]);
        }
    }
    // sb-load's --duration counts from its start, warm-up included.
    if let Some(d) = duration {
        let total = d + if let Warmup::Time(w) = ctx.warmup { w } else { Duration::ZERO };
        cmd.args(["--duration", &ms_arg(total)]);
    }
    if let Some(n) = count {
        let total = n + if let Warmup::Requests(w) = ctx.warmup { w } else { 0 };
        cmd.args(["-n", &total.to_string()]);
    }
    cmd.args(["--tag", &format!("point={name}")]);
    match load {
        Load::Rate(r) => cmd.args(["--tag", &format!("rate={}", crate::plan::fmt_rate(*r))]),
        Load::Concurrency(c) => cmd.args(["--tag", &format!("concurrency={c}")]),
        Load::Burst => cmd.args(["--tag", "rate=inf"]),
    };
    // Failed requests are the SLO's business (error_rate); sb-load's verdict then speaks only
    // of its own schedule.
    cmd.args(["--max-error-rate", "1", "--run", &format!("{}-{name}", ctx.run), "--progress", "never"]);
    cmd
}

/// Requests in flight over time, and the saturation rule (docs/sweep.md): the point is stopped
/// when, over the last `window` (at least 5 samples over 80% of it), the least-squares slope of
/// the in-flight count exceeds `max(1, 10% of the target rate)` per second and the count grew by
/// at least `max(10, half its value at the window's start)`. The second condition keeps Poisson
/// bunching at a few requests in flight from looking like growth; a point only mildly over
/// capacity is not stopped, it runs its duration and misses its SLO.
pub struct Saturation {
    samples: Vec<(f64, f64)>,
    window_s: f64,
    min_slope: f64,
}

impl Saturation {
    pub fn new(window: Duration, rate: f64) -> Saturation {
        Saturation { samples: Vec::new(), window_s: window.as_secs_f64(), min_slope: (0.1 * rate).max(1.0) }
    }

    pub fn add(&mut self, t_s: f64, in_flight: f64) {
        self.samples.push((t_s, in_flight));
    }

    /// The growth per second when the rule holds.
    pub fn growing(&self) -> Option<f64> {
        let &(t_end, _) = self.samples.last()?;
        let w: Vec<(f64, f64)> = self.samples.iter().copied().filter(|(t, _)| *t >= t_end - self.window_s).collect();
        if w.len() < 5 || t_end - w[0].0 < 0.8 * self.window_s {
            return None;
        }
        let n = w.len() as f64;
        let (mt, mn) = (w.iter().map(|s| s.0).sum::<f64>() / n, w.iter().map(|s| s.1).sum::<f64>() / n);
        let sxx: f64 = w.iter().map(|s| (s.0 - mt).powi(2)).sum();
        let sxy: f64 = w.iter().map(|s| (s.0 - mt) * (s.1 - mn)).sum();
        if sxx <= 0.0 {
            return None;
        }
        let slope = sxy / sxx;
        let growth = w[w.len() - 1].1 - w[0].1;
        (slope > self.min_slope && growth >= (0.5 * w[0].1).max(10.0)).then_some(slope)
    }
}

pub fn run_point(ctx: &Ctx, name: &str, load: &Load, once: &mut Once, out: &mut dyn Write) -> Result<Outcome> {
    if ctx.reset {
        if let Some(server) = &ctx.server {
            if !once.reset_missing {
                match server.reset_prefix_cache() {
                    Reset::Done => {}
                    Reset::NotOffered(code) => {
                        once.reset_missing = true;
                        let note = format!(
                            "the server has no POST /reset_prefix_cache (HTTP {code}; vLLM serves it with VLLM_SERVER_DEV_MODE=1): prefix-cache hits carry over between points"
                        );
                        eprintln!("sb-sweep: note: {note}");
                        once.notes.push(note);
                    }
                    Reset::Failed(e) => eprintln!("sb-sweep: {name}: warning: POST /reset_prefix_cache failed: {e}"),
                }
            }
        }
    }

    let mut report_cmd = Command::new(ctx.bin_dir.join("sb-report"));
    report_cmd.args(["--format", "json", "--percentiles", &ctx.slo.percentiles().join(",")]);
    if !ctx.slo.per_request.is_empty() {
        report_cmd.args(["--slo", &ctx.slo.per_request.join(",")]);
    }
    let mut report = report_cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", ctx.bin_dir.join("sb-report").display()))?;
    let mut report_in = report.stdin.take();
    let report_out = report.stdout.take().expect("piped");
    let report_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(report_out), &mut text);
        text
    });

    let requests = std::fs::File::open(&ctx.requests).with_context(|| format!("{}", ctx.requests.display()))?;
    let mut child: Child = load_command(ctx, name, load)
        .stdin(requests)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: a Ctrl-C at the terminal reaches sb-sweep, which forwards it.
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", ctx.bin_dir.join("sb-load").display()))?;
    let pid = child.id();
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = child.stderr.take().expect("piped");
    let tag = name.to_string();
    let stderr_thread = std::thread::spawn(move || {
        let mut last = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.trim().is_empty() {
                continue;
            }
            eprintln!("[{tag}] {line}");
            last.push(line);
            if last.len() > 3 {
                last.remove(0);
            }
        }
        last
    });

    let started = Instant::now();
    let signals_at_start = signal::count();
    let mut forwarded = 0usize;
    let mut run_record: Option<RunRecord> = None;
    let mut results = 0u64;
    let mut first_scheduled_ns: Option<u64> = None;
    let rate = if let Load::Rate(r) = load { Some(*r) } else { None };
    let mut saturation = rate.map(|r| Saturation::new(ctx.saturation_window, r));
    let sample_every = (ctx.saturation_window / 5).clamp(Duration::from_millis(200), Duration::from_secs(1));
    let mut next_sample = started + sample_every;
    let mut saturated: Option<(Instant, String)> = None;
    let mut second_sent = false;
    let mut stdout_closed = false;
    let mut server_gauges = ctx.server.is_some() && !once.metrics_missing;

    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                if !stdout_closed {
                    let written =
                        out.write_all(line.as_bytes()).and_then(|_| out.write_all(b"\n")).and_then(|_| out.flush());
                    if written.is_err() {
                        stdout_closed = true;
                        signal::interrupt(pid);
                    }
                }
                if let Some(w) = report_in.as_mut() {
                    if w.write_all(line.as_bytes()).and_then(|_| w.write_all(b"\n")).is_err() {
                        report_in = None;
                    }
                }
                if line.contains("\"kind\":\"run\"") {
                    run_record = serde_json::from_str(&line).ok();
                } else if let Ok(h) = serde_json::from_str::<Head>(&line) {
                    if h.kind == "result" {
                        results += 1;
                        if h.scheduled_ns > 0 {
                            first_scheduled_ns =
                                Some(first_scheduled_ns.map_or(h.scheduled_ns, |f| f.min(h.scheduled_ns)));
                        }
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        let signals = signal::count() - signals_at_start;
        while forwarded < signals {
            signal::interrupt(pid);
            forwarded += 1;
        }
        let now = Instant::now();
        if now >= next_sample {
            next_sample = now + sample_every;
            if let (Some(sat), None, 0) = (saturation.as_mut(), &saturated, forwarded) {
                let t = started.elapsed().as_secs_f64();
                // Server side when /metrics answers; else the schedule's expected sends minus
                // the results back (Poisson: right on average).
                let mut in_flight = None;
                if server_gauges {
                    match ctx.server.as_ref().map(|s| s.load()) {
                        Some(Ok(l)) => in_flight = Some((l.running + l.waiting, "server: running + waiting")),
                        Some(Err(e)) => {
                            server_gauges = false;
                            if !once.metrics_missing {
                                once.metrics_missing = true;
                                let note = format!("no server load from /metrics ({e}): the saturation rule uses the client's count and there is no cool-down");
                                eprintln!("sb-sweep: note: {note}");
                                once.notes.push(note);
                            }
                        }
                        None => {}
                    }
                }
                if in_flight.is_none() {
                    if let (Some(first), Some(r)) = (first_scheduled_ns, rate) {
                        let elapsed = now_ns().saturating_sub(first) as f64 / 1e9;
                        in_flight = Some(((r * elapsed - results as f64).max(0.0), "client: scheduled - finished"));
                    }
                }
                if let Some((n, source)) = in_flight {
                    sat.add(t, n);
                    if let Some(slope) = sat.growing() {
                        let why = format!(
                            "stopped after {t:.1} s: requests in flight ({source}) grew by {slope:.1}/s over the last {:.1} s, now {n:.0}",
                            ctx.saturation_window.as_secs_f64()
                        );
                        eprintln!("sb-sweep: {name}: saturated: {why}");
                        signal::interrupt(pid);
                        saturated = Some((now, why));
                    }
                }
            }
            // Queued requests of a saturated point tell nothing more: cancel them after a moment.
            if let Some((at, _)) = &saturated {
                if !second_sent && now.duration_since(*at) > Duration::from_secs(2) {
                    signal::interrupt(pid);
                    second_sent = true;
                }
            }
        }
    }
    let status = child.wait().context("waiting for sb-load")?;
    let last_stderr = stderr_thread.join().unwrap_or_default();
    drop(report_in);
    let summary_text = report_reader.join().unwrap_or_default();
    let _ = report.wait();
    let summary: Option<summary::Report> = summary_text.lines().find_map(|l| match serde_json::from_str(l) {
        Ok(Summary::Report(r)) => Some(*r),
        _ => None,
    });
    let user_interrupted = signal::count() > signals_at_start;

    let code = status.code();
    let fields = run_record.as_ref().map(RunRecord::fields).unwrap_or_default();
    let verdict = fields.verdict.clone();
    if code == Some(2) || verdict.as_deref() == Some("input_error") || (run_record.is_none() && !user_interrupted) {
        let why = fields
            .input_error
            .clone()
            .or_else(|| last_stderr.last().cloned())
            .unwrap_or_else(|| format!("sb-load exited with {status}"));
        bail!("{name}: sb-load failed: {why}");
    }

    let mut p = SweepPoint {
        point: name.to_string(),
        target_rate_rps: rate,
        concurrency: if let Load::Concurrency(c) = load { Some(*c) } else { None },
        load: load.spec(),
        run: format!("{}-{name}", ctx.run),
        load_verdict: verdict.clone(),
        ..SweepPoint::default()
    };
    p.achieved_rate_rps = fields.achieved_rate_rps;
    if let Some(s) = &summary {
        let t = &s.totals;
        let finite = |x: f64| Some(x).filter(|x| x.is_finite());
        p.request_throughput_rps = finite(t.request_throughput);
        p.output_throughput_tps = finite(t.output_throughput);
        p.completed = t.completed;
        p.failed = t.failed;
        p.error_rate = finite(t.failure_rate);
        if ctx.slo.goodput_needed().is_some() {
            let all = p.completed + p.failed;
            p.goodput_fraction = t.good_requests.filter(|_| all > 0).map(|g| g as f64 / all as f64);
        }
        for key in ["ttft_p99_ms", "e2el_p99_ms"] {
            let object = if key.starts_with("ttft") { "ttft_ms" } else { "e2el_ms" };
            if let Some(v) = statistic(t, object, "p99") {
                p.metrics.insert(key.into(), v);
            }
        }
        for b in &ctx.slo.bounds {
            if let Some(v) = statistic(t, b.object, &b.stat) {
                p.metrics.insert(b.name.clone(), v);
            }
        }
    }
    if let Some(r) = &run_record {
        p.started_ns = Some(r.started_ns);
        p.ended_ns = Some(r.ended_ns);
    }

    // The verdict, in order of what it says about the server.
    if user_interrupted {
        p.status = "interrupted".into();
        p.reasons.push("stopped by SIGINT/SIGTERM".into());
    } else if let Some((_, why)) = saturated {
        p.status = "saturated".into();
        p.reasons.push(why);
    } else if verdict.as_deref() != Some("ok") || stdout_closed {
        // sb-load failed its own check: it did not send on schedule, so its latencies are not
        // those of this load. Evidence of nothing, never a pass.
        p.status = "untrustworthy".into();
        let reasons: Vec<String> = fields.reasons.iter().flatten().map(|s| format!("sb-load: {s}")).collect();
        if reasons.is_empty() {
            p.reasons.push(format!("sb-load's verdict: {}", verdict.as_deref().unwrap_or("none")));
        }
        p.reasons.extend(reasons);
    } else {
        p.reasons = judge(&ctx.slo, &p, summary.is_some());
        p.status = if p.reasons.is_empty() { "pass" } else { "fail" }.into();
    }
    p.pass = p.status == "pass";

    // Cool-down: the next point starts on an idle server.
    if !user_interrupted && !stdout_closed {
        cool_down(ctx, name, once);
    }
    Ok(Outcome { point: p, interrupted: user_interrupted, stdout_closed })
}

/// A statistic of sb-report's summary (`ttft_ms`, `p99`). One of no values (sb-report writes
/// 0) is absent: a bound on it then fails as "no values".
fn statistic(t: &summary::Totals, object: &str, stat: &str) -> Option<f64> {
    let m = t.metric(object).filter(|m| m.count > 0)?;
    m.get(stat).filter(|v| v.is_finite())
}

/// Why a point measured on schedule misses its SLO (empty: it passes).
pub fn judge(slo: &Slo, p: &SweepPoint, have_summary: bool) -> Vec<String> {
    let mut why = Vec::new();
    if !have_summary || p.completed == 0 {
        why.push("no request completed".to_string());
        return why;
    }
    let error_rate = p.error_rate.unwrap_or(0.0);
    if error_rate > slo.max_error_rate {
        why.push(format!(
            "error rate {:.4} ({} of {} failed) > error_rate={}",
            error_rate,
            p.failed,
            p.completed + p.failed,
            slo.max_error_rate
        ));
    }
    for b in &slo.bounds {
        match p.metrics.get(&b.name) {
            Some(v) if *v <= b.limit_ms => {}
            Some(v) => why.push(format!("{} {:.3} ms > {} ms", b.name, v, b.limit_ms)),
            None => why.push(format!("{}: no values (the point has none of this metric)", b.name)),
        }
    }
    if let Some(need) = slo.goodput_needed() {
        match p.goodput_fraction {
            Some(g) if g >= need => {}
            Some(g) => why.push(format!("goodput {:.4} < {} ({})", g, need, slo.per_request.join(","))),
            None => why.push("no goodput count".into()),
        }
    }
    why
}

fn cool_down(ctx: &Ctx, name: &str, once: &mut Once) {
    let Some(server) = &ctx.server else { return };
    if once.metrics_missing {
        return;
    }
    let deadline = Instant::now() + ctx.cooldown_timeout;
    loop {
        match server.load() {
            Ok(l) if l.running == 0.0 && l.waiting == 0.0 => return,
            Ok(l) => {
                if Instant::now() >= deadline {
                    eprintln!(
                        "sb-sweep: {name}: warning: the server still has {} running and {} waiting after the {:?} cool-down",
                        l.running, l.waiting, ctx.cooldown_timeout
                    );
                    return;
                }
            }
            Err(e) => {
                once.metrics_missing = true;
                let note = format!("no cool-down: cannot read the server's load from /metrics ({e})");
                eprintln!("sb-sweep: note: {note}");
                once.notes.push(note);
                return;
            }
        }
        if signal::count() > 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturation_needs_sustained_growth() {
        // Steady around 6 in flight with noise: never saturated.
        let mut s = Saturation::new(Duration::from_secs(5), 30.0);
        for i in 0..40 {
            s.add(i as f64 * 0.5, 6.0 + [0.0, 2.0, -1.0, 3.0, -2.0][i % 5]);
            assert_eq!(s.growing(), None, "at sample {i}");
        }
        // Growing by 20/s at a target of 60 req/s: saturated once the window is full.
        let mut s = Saturation::new(Duration::from_secs(5), 60.0);
        let mut hit = None;
        for i in 0..20 {
            s.add(i as f64 * 0.5, 8.0 + 10.0 * i as f64);
            if hit.is_none() && s.growing().is_some() {
                hit = Some(i);
            }
        }
        assert_eq!(hit, Some(8), "after 4 s of a 5 s window (80% of it)");
        assert!((s.growing().unwrap() - 20.0).abs() < 1e-9);
        // A slope from a few requests of Poisson bunching is not growth.
        let mut s = Saturation::new(Duration::from_secs(2), 20.0);
        for (i, n) in [1.0, 2.0, 2.0, 4.0, 5.0, 7.0].iter().enumerate() {
            s.add(i as f64 * 0.4, *n);
        }
        assert_eq!(s.growing(), None);
        // Slow growth under 10% of the rate is not saturation.
        let mut s = Saturation::new(Duration::from_secs(5), 100.0);
        for i in 0..20 {
            s.add(i as f64 * 0.5, 8.0 + 4.0 * i as f64);
        }
        assert_eq!(s.growing(), None);
    }

    #[test]
    fn judge_names_every_missed_objective() {
        let slo = Slo::parse("ttft_p99_ms=200,e2el_p99_ms=1000,error_rate=0.01").unwrap();
        let mut p = SweepPoint { completed: 99, failed: 1, error_rate: Some(0.01), ..SweepPoint::default() };
        p.metrics.insert("ttft_p99_ms".into(), 150.0);
        p.metrics.insert("e2el_p99_ms".into(), 1000.0);
        assert!(judge(&slo, &p, true).is_empty());
        p.metrics.insert("ttft_p99_ms".into(), 250.0);
        p.error_rate = Some(0.02);
        let why = judge(&slo, &p, true);
        assert_eq!(why.len(), 2, "{why:?}");
        assert!(why[0].contains("error rate") && why[1].contains("ttft_p99_ms 250.000 ms > 200 ms"), "{why:?}");
        assert_eq!(judge(&slo, &SweepPoint::default(), false), ["no request completed"]);
    }
}
