//! A whole run: wires the reader, the dispatcher, the writer, signals and progress together,
//! then writes the final `run` record and judges whether the generator kept its schedule.

use crate::client::{ClientOptions, LoadClient};
use crate::output::{spawn_writer, Tally, WriterOptions};
use crate::progress::{Expected, Progress};
use crate::schedule::{dispatch, Counters, DispatchReport, Labels, Pacing, Phase, Plan, Warmup, Wiring};
use crate::tokens::ClientTokenizer;
use anyhow::{Context, Result};
use sb_records::{Clock, Input, Lateness, RunConnections, RunFields, RunLoad, RunRecord, RunRequests, RunWarmup};
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub struct RunOptions {
    pub plan: Plan,
    pub client: ClientOptions,
    /// Connections to open before the first request (`--connections`; `None`: from the plan).
    pub connections: Option<usize>,
    pub labels: Labels,
    pub tokenizer: Option<String>,
    pub save_text: bool,
    /// The run fails when p99 send lateness exceeds this.
    pub max_lag_ms: f64,
    /// The run fails when more than this fraction of requests failed.
    pub max_error_rate: f64,
    /// After Ctrl-C, how long requests in flight may take before they are cancelled.
    pub grace: Duration,
    pub progress: bool,
    pub threads: usize,
    /// Busy-poll the event loop (see `--spin`).
    pub spin: bool,
    /// The command line as recorded in the run record (secrets already masked).
    pub command: Vec<String>,
}

/// In a closed loop, the share of slot time spent waiting for the generator above which its
/// lateness matters (with p99 lateness over --max-lag too): below it, the server saw the
/// concurrency it was asked for.
pub const CLOSED_LOOP_MAX_IDLE: f64 = 0.01;

/// How a run ended, as the process exit status.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Ok,
    /// The run finished but failed a check (lag, errors): exit 1.
    Failed(Vec<String>),
    /// Stopped by SIGINT/SIGTERM: exit 130.
    Interrupted,
    /// The input had a bad line: exit 2.
    InputError(String),
}

impl Verdict {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Verdict::Ok => ExitCode::SUCCESS,
            Verdict::Failed(_) => ExitCode::from(1),
            Verdict::InputError(_) => ExitCode::from(2),
            Verdict::Interrupted => ExitCode::from(130),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Failed(_) => "failed",
            Verdict::Interrupted => "interrupted",
            Verdict::InputError(_) => "input_error",
        }
    }
}

pub fn run<W: Write + Send + 'static>(mut opts: RunOptions, input: Input, out: W) -> Result<Verdict> {
    if opts.spin {
        if let Err(why) = crate::limits::spin_has_a_core(opts.threads) {
            eprintln!("sb-load: warning: {why}; running without --spin (it would make TTFT and ITL worse, not better)");
            opts.spin = false;
        }
    }
    let tokenizer = opts.tokenizer.as_deref().map(ClientTokenizer::load).transpose()?;
    let runtime = if opts.threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(opts.threads).enable_all().build()
    }
    .context("starting the async runtime")?;
    let settings = settings(&opts);
    // `--rate inf` alone promises no schedule (everything is due at once), so how long the
    // dispatch of a large stream takes is not lag; vLLM `bench serve` and sb-report agree.
    let pacing = opts.plan.pacing();
    crate::limits::raise_open_files(&opts.plan);
    let url = sb_cli::redact_url(&opts.client.url);
    let run_id = opts.labels.run.clone();
    // The client must be built inside the runtime (its connector registers with the reactor).
    let mut client = runtime.block_on(async { LoadClient::new(opts.client) })?;
    let server_version = runtime.block_on(crate::probe::prepare(&mut client))?;
    let preconnect = opts.connections.unwrap_or_else(|| default_connections(&opts.plan)).min(client.pool().max());
    let preconnected = runtime.block_on(preconnect_pool(&client, preconnect));
    let pool = client.pool().clone();
    let url_model = (url, client.model().to_string());
    let keep_text = opts.save_text || tokenizer.is_some();
    let counters = Arc::new(Counters::default());
    let writer_opts = WriterOptions {
        tokenizer,
        save_text: opts.save_text,
        broken: counters.output_broken.clone(),
        warn_lateness_ms: (pacing == Pacing::Open).then_some(opts.max_lag_ms),
    };
    let (results, writer) = spawn_writer(out, writer_opts);
    let progress = opts.progress.then(|| Progress::start(counters.clone(), Expected::of(&opts.plan, &input.name)));
    let requests = crate::input::spawn_reader(input);
    let (phase_tx, phase_rx) = watch::channel(Phase::Running);
    let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));

    let report: DispatchReport = runtime.block_on(async {
        let flag = interrupted.clone();
        let grace = opts.grace;
        let signal_counters = counters.clone();
        tokio::spawn(async move {
            if let Err(e) = watch_signals(phase_tx, flag, grace, signal_counters).await {
                eprintln!("sb-load: warning: cannot watch signals: {e}");
            }
        });
        if opts.spin {
            // A task that always yields keeps the runtime from parking: tokio then polls for
            // I/O with a zero timeout on every turn, so an arriving chunk is seen at once
            // instead of after the core wakes from an idle state. Ends with the runtime.
            for _ in 0..opts.threads {
                tokio::spawn(async {
                    loop {
                        tokio::task::yield_now().await;
                    }
                });
            }
        }
        let wiring = Wiring { input: requests, out: results, counters: counters.clone(), phase: phase_rx };
        dispatch(opts.plan, client, opts.labels, keep_text, wiring).await
    });
    // Dropping the runtime ends the signal task; every request task has finished already.
    drop(runtime);
    if let Some(p) = progress {
        p.finish();
    }
    let (tally, mut out) = writer.join().map_err(|_| anyhow::anyhow!("the result writer panicked"))?;

    let interrupted = interrupted.load(Ordering::Relaxed);
    let stats = RunStats::new(&tally, connections(&pool, preconnected));
    let verdict = judge(&tally, &stats, &report, interrupted, pacing, opts.max_lag_ms, opts.max_error_rate);
    let without_done = crate::client::STREAMS_WITHOUT_DONE.load(Ordering::Relaxed);
    let mut fields = run_fields(&url_model, settings, &tally, &report, &stats, &verdict, opts.max_lag_ms);
    fields.pacing = Some(pacing.name().into());
    match pacing {
        Pacing::Burst => fields.lag_check = Some("skipped: --rate inf has no schedule to keep".into()),
        Pacing::Closed => {
            fields.lag_check = Some(format!(
                "closed loop: lateness is from the slot freeing to the send; it fails only with p99 over --max-lag and slots idle over {}% of the time",
                CLOSED_LOOP_MAX_IDLE * 100.0
            ));
            fields.slot_idle_fraction = stats.slot_idle_fraction.map(|f| (f * 1e6).round() / 1e6);
        }
        Pacing::Open => {}
    }
    fields.streams_without_done = (without_done > 0).then_some(without_done);
    fields.command = Some(opts.command);
    fields.version = Some(env!("CARGO_PKG_VERSION").into());
    fields.git_commit = option_env!("SB_GIT_COMMIT").filter(|c| !c.is_empty()).map(str::to_string);
    fields.host = crate::limits::hostname();
    fields.server_version = server_version;
    fields.connections = Some(stats.connections.clone());
    let record = run_record(&run_id, &tally, &report, &fields);
    if tally.write_error.is_none() {
        if let Err(e) = out.write(&record) {
            if !sb_records::ndjson::is_broken_pipe(&e) {
                eprintln!("sb-load: writing the run record failed: {e}");
            }
        }
    }
    eprintln!("sb-load: {}", one_line(&tally, &stats, &report, &verdict));
    if without_done > 0 {
        eprintln!(
            "sb-load: note: {without_done} streams ended without `data: [DONE]` after a finish_reason; they were taken as complete"
        );
    }
    if let Some(e) = &tally.write_error {
        eprintln!("sb-load: warning: {e}");
    }
    Ok(verdict)
}

/// The run record's `connections`: how the run used its connections.
fn connections(pool: &crate::pool::Pool, preconnected: usize) -> RunConnections {
    let s = &pool.stats;
    RunConnections {
        max: pool.max() as u64,
        preconnected: preconnected as u64,
        opened: s.opened.load(Ordering::Relaxed),
        peak_open: s.peak_open.load(Ordering::Relaxed),
        connect_failures: s.connect_failures.load(Ordering::Relaxed),
        waited_at_cap: s.waited_at_cap.load(Ordering::Relaxed),
    }
}

async fn watch_signals(
    phase: watch::Sender<Phase>,
    interrupted: Arc<std::sync::atomic::AtomicBool>,
    grace: Duration,
    counters: Arc<Counters>,
) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    interrupted.store(true, Ordering::Relaxed);
    let in_flight = counters.sent.load(Ordering::Relaxed).saturating_sub(counters.done.load(Ordering::Relaxed));
    eprintln!(
        "\nsb-load: stopping: no new requests; waiting up to {:.1}s for {in_flight} in flight (signal again to cancel them)",
        grace.as_secs_f64()
    );
    let _ = phase.send(Phase::StopSending);
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
        _ = tokio::time::sleep(grace) => {}
    }
    let _ = phase.send(Phase::Cancel);
    // Keep the sender alive so that tasks see `Cancel` until the runtime ends.
    std::future::pending::<()>().await;
    Ok(())
}

/// Rates and lateness of the measured (not warm-up) requests.
struct RunStats {
    scheduled_rate_rps: Option<f64>,
    achieved_rate_rps: Option<f64>,
    lateness_ms: Option<Lateness>,
    p99_lateness_ms: f64,
    /// Share of the measured requests' slot time spent waiting for the send (closed loop).
    slot_idle_fraction: Option<f64>,
    /// How the run used its connections (the waits at `--max-connections` explain lateness).
    connections: RunConnections,
}

impl RunStats {
    fn new(t: &Tally, connections: RunConnections) -> RunStats {
        let n = t.measured_sent;
        let rate =
            |first: u64, last: u64| (n > 1 && last > first).then(|| (n - 1) as f64 / ((last - first) as f64 / 1e9));
        let h = &t.lateness_us;
        let ms = |us: u64| round3(us as f64 / 1000.0);
        let q = |q: f64| ms(h.value_at_quantile(q));
        let lateness_ms = (n > 0).then(|| Lateness {
            mean: round3(h.mean() / 1000.0),
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p99_9: q(0.999),
            max: ms(h.max()),
        });
        RunStats {
            scheduled_rate_rps: rate(t.first_scheduled_ns, t.last_scheduled_ns),
            achieved_rate_rps: rate(t.first_sent_ns, t.last_sent_ns),
            lateness_ms,
            p99_lateness_ms: if n > 0 { h.value_at_quantile(0.99) as f64 / 1000.0 } else { 0.0 },
            slot_idle_fraction: (t.lateness_sum_ns + t.busy_sum_ns > 0)
                .then(|| t.lateness_sum_ns as f64 / (t.lateness_sum_ns + t.busy_sum_ns) as f64),
            connections,
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn judge(
    t: &Tally,
    s: &RunStats,
    r: &DispatchReport,
    interrupted: bool,
    pacing: Pacing,
    max_lag_ms: f64,
    max_error_rate: f64,
) -> Verdict {
    if let Some(e) = &r.input_error {
        return Verdict::InputError(e.clone());
    }
    if interrupted {
        return Verdict::Interrupted;
    }
    let mut reasons = Vec::new();
    // Lateness from waiting for a connection under the cap says so: the cap, not the
    // generator's pace, may be what held the requests back.
    let queued = match s.connections.waited_at_cap {
        0 => String::new(),
        n => format!(
            " ({n} requests waited for a free connection under --max-connections {}; raise it if the server takes more)",
            s.connections.max
        ),
    };
    match pacing {
        Pacing::Open if s.p99_lateness_ms > max_lag_ms => reasons.push(format!(
            "the generator fell behind its schedule: p99 send lateness {:.3} ms > --max-lag {max_lag_ms} ms{queued}",
            s.p99_lateness_ms
        )),
        Pacing::Closed => {
            let idle = s.slot_idle_fraction.unwrap_or(0.0);
            if s.p99_lateness_ms > max_lag_ms && idle > CLOSED_LOOP_MAX_IDLE {
                reasons.push(format!(
                    "the generator kept its slots waiting: p99 send lateness {:.3} ms > --max-lag {max_lag_ms} ms, slots idle {:.1}% of the time (> {}%){queued}",
                    s.p99_lateness_ms,
                    idle * 100.0,
                    CLOSED_LOOP_MAX_IDLE * 100.0
                ));
            }
        }
        _ => {}
    }
    let failed = t.failed();
    if t.results > 0 && failed as f64 / t.results as f64 > max_error_rate {
        reasons.push(format!(
            "{failed} of {} requests failed ({:.2}% > --max-error-rate {}%)",
            t.results,
            100.0 * failed as f64 / t.results as f64,
            100.0 * max_error_rate
        ));
    }
    if let Some(e) = &t.write_error {
        reasons.push(e.clone());
    }
    if reasons.is_empty() {
        Verdict::Ok
    } else {
        Verdict::Failed(reasons)
    }
}

/// How many connections to open before the first request when `--connections` is not given:
/// the cap of a closed or capped loop, or what the first stage's rate keeps busy for 100 ms
/// (the latency of a short request; longer ones open more as they go, at the rate's pace).
fn default_connections(plan: &Plan) -> usize {
    if let Some(n) = plan.concurrency {
        return n;
    }
    let rate = plan.stages.first().and_then(|s| s.process.rate_per_s()).unwrap_or(0.0);
    (rate * 0.1).ceil().max(1.0) as usize
}

/// Opens the connections ahead of the run; one that cannot be opened is a warning here (the
/// requests that need one record why as `connect_error`).
async fn preconnect_pool(client: &LoadClient, n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    let (opened, error) = client.pool().preconnect(n).await;
    if let Some(e) = error {
        eprintln!("sb-load: warning: opened {opened} of {n} connections ahead of the run: {e}");
    }
    opened
}

fn settings(o: &RunOptions) -> RunLoad {
    let p = &o.plan;
    RunLoad {
        stages: p.stages.iter().map(|s| s.to_string()).collect(),
        arrival: p.stages.iter().map(|s| s.arrival()).collect(),
        concurrency: p.concurrency.map(|c| c as u64),
        seed: Some(p.seed),
        max_requests: p.max_requests,
        duration_s: p.duration.map(|d| d.as_secs_f64()),
        warmup: match p.warmup {
            Warmup::None => None,
            Warmup::Requests(n) => Some(RunWarmup::Requests { requests: n }),
            Warmup::Time(d) => Some(RunWarmup::Time { seconds: d.as_secs_f64() }),
        },
        shard: p.shard.map(|s| s.label()),
        timeout_s: Some(p.timeout.as_secs_f64()),
        spin: Some(o.spin),
        stream: Some(o.client.stream),
        include_usage: Some(o.client.include_usage),
        tokenizer: o.tokenizer.clone(),
        max_connections: Some(o.client.max_connections as u64),
    }
}

/// The generator's account of the run: its settings, counts, rates, lateness and verdict.
fn run_fields(
    (url, model): &(String, String),
    load: RunLoad,
    t: &Tally,
    r: &DispatchReport,
    s: &RunStats,
    verdict: &Verdict,
    max_lag_ms: f64,
) -> RunFields {
    // A single stage at a rate has a nominal rate (vLLM's "request rate configured").
    let target_rate_rps = match load.arrival.as_slice() {
        [one] => one.rate_rps,
        _ => None,
    };
    let ratio = match (s.achieved_rate_rps, s.scheduled_rate_rps) {
        (Some(a), Some(b)) if b > 0.0 => Some(round3(a / b)),
        _ => None,
    };
    RunFields {
        tool: Some(format!("sb-load {}", env!("CARGO_PKG_VERSION"))),
        url: Some(url.clone()),
        model: Some(model.clone()),
        load: Some(load),
        requests: Some(RunRequests {
            read: r.read,
            other_shards: r.other_shards,
            not_sent: r.not_sent,
            results: t.results,
            warmup: t.warmup,
            failed: t.failed(),
            by_status: t.by_status.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }),
        target_rate_rps,
        scheduled_rate_rps: s.scheduled_rate_rps.map(round3),
        achieved_rate_rps: s.achieved_rate_rps.map(round3),
        achieved_ratio: ratio,
        send_lateness_ms: s.lateness_ms.clone(),
        max_lag_ms: Some(max_lag_ms),
        exceeded_max_tokens: (t.exceeded_max_tokens > 0).then_some(t.exceeded_max_tokens),
        token_count_mismatches: (t.token_count_mismatches > 0).then_some(t.token_count_mismatches),
        verdict: Some(verdict.name().into()),
        reasons: match verdict {
            Verdict::Failed(reasons) => Some(reasons.clone()),
            _ => None,
        },
        input_error: match verdict {
            Verdict::InputError(e) => Some(e.clone()),
            _ => None,
        },
        ..Default::default()
    }
}

fn run_record(run: &str, t: &Tally, r: &DispatchReport, fields: &RunFields) -> RunRecord {
    let ended_ns = t.last_done_ns.max(r.start_ns).max(if r.start_ns == 0 { Clock::global().now_ns() } else { 0 });
    let started_ns = if r.start_ns > 0 { r.start_ns } else { ended_ns };
    RunRecord::new(run.to_string(), started_ns, ended_ns, fields)
}

fn one_line(t: &Tally, s: &RunStats, r: &DispatchReport, v: &Verdict) -> String {
    let secs =
        if t.last_done_ns > r.start_ns && r.start_ns > 0 { (t.last_done_ns - r.start_ns) as f64 / 1e9 } else { 0.0 };
    let mut line = format!("{} results in {secs:.2} s", t.results);
    if let Some(rate) = s.achieved_rate_rps {
        line += &format!(", sent at {rate:.1} req/s");
        if let Some(sched) = s.scheduled_rate_rps {
            line += &format!(" (schedule {sched:.1})");
        }
    }
    line += &format!(", {} failed", t.failed());
    if let Some(l) = &s.lateness_ms {
        line += &format!(", send lateness p50 {} ms p99 {} ms max {} ms", l.p50, l.p99, l.max);
    }
    if r.not_sent > 0 {
        line += &format!(", {} read but not sent", r.not_sent);
    }
    match v {
        Verdict::Ok => line + ": ok",
        Verdict::Failed(reasons) => format!("{line}: FAILED: {}", reasons.join("; ")),
        Verdict::Interrupted => line + ": interrupted",
        Verdict::InputError(e) => format!("{line}: input error: {e}"),
    }
}
