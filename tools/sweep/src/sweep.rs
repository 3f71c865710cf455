//! The sweep: check the arguments, run the points in order (a list, guidellm's sweep, or the
//! search), and write the `sweep` record last, also when stopped by Ctrl-C.

use crate::plan::{fmt_rate, sweep_rates, Load, Search};
use crate::point::{run_point, Ctx, Once, Warmup};
use crate::server::Server;
use crate::slo::Slo;
use crate::{parse_duration, parse_fraction, signal, Args, OWNED_FLAGS};
use anyhow::{bail, Context, Result};
use sb_records::{RecordWriter, SweepBracket, SweepPoint, SweepRecord};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// The `--url` among sb-load's arguments (or sb-load's SB_LOAD_URL).
fn load_url(load_args: &[String]) -> Option<String> {
    let mut it = load_args.iter();
    while let Some(a) = it.next() {
        if a == "--url" {
            return it.next().cloned();
        }
        if let Some(u) = a.strip_prefix("--url=") {
            return Some(u.to_string());
        }
    }
    std::env::var("SB_LOAD_URL").ok().filter(|u| !u.is_empty())
}

fn check_load_args(load_args: &[String]) -> Result<()> {
    for a in load_args {
        let flag = a.split_once('=').map_or(a.as_str(), |(f, _)| f);
        if OWNED_FLAGS.contains(&flag) {
            let instead = match flag {
                "--max-error-rate" => "use --slo error_rate=F".to_string(),
                "--run" => "use sb-sweep's --run".to_string(),
                "--warmup" | "--duration" => format!("use sb-sweep's {flag}"),
                "-n" | "--max-requests" => "use sb-sweep's --count".to_string(),
                "--progress" => "sb-sweep prints the progress".to_string(),
                _ => "sb-sweep sets the load of each point (--rates, --concurrencies, --sweep, --search)".to_string(),
            };
            bail!("sb-load argument {a:?} after `--`: {instead}");
        }
    }
    Ok(())
}

/// sb-report checks the per-request objectives (its grammar), before any point runs.
fn check_with_sb_report(bin_dir: &std::path::Path, slo: &Slo) -> Result<()> {
    if slo.per_request.is_empty() {
        return Ok(());
    }
    let out = Command::new(bin_dir.join("sb-report"))
        .args(["--slo", &slo.per_request.join(",")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("running sb-report to check --slo")?;
    let err = String::from_utf8_lossy(&out.stderr);
    if let Some(line) = err.lines().find(|l| l.contains("--slo")) {
        bail!("{}", line.trim_start_matches("sb-report: "));
    }
    Ok(())
}

pub fn run(args: Args) -> Result<u8> {
    let started_ns = now_ns();
    check_load_args(&args.load_args)?;
    let url = load_url(&args.load_args)
        .context("no server: give sb-load's --url after `--` (sb-sweep ... -- --url http://host:port --model M)")?;
    for r in &args.rates {
        if !(r.is_finite() && *r > 0.0) {
            bail!("--rates: {r} is not a positive rate");
        }
    }
    if args.concurrencies.contains(&0) {
        bail!("--concurrencies: a concurrency must be at least 1");
    }
    if args.sweep.is_some_and(|n| n < 2) {
        bail!("--sweep N: N must be at least 2 (the synchronous and the throughput run)");
    }
    for (name, v) in [("--min", args.min), ("--max", args.max)] {
        if v.is_some_and(|v| !(v.is_finite() && v > 0.0)) {
            bail!("{name} must be a positive rate");
        }
    }
    if let (Some(lo), Some(hi)) = (args.min, args.max) {
        if lo > hi {
            bail!("--min {lo} is above --max {hi}");
        }
    }
    let precision = parse_fraction(&args.precision)?;
    let duration = parse_duration(&args.duration).context("--duration")?;
    let warmup = match args.warmup.trim().parse::<u64>() {
        Ok(0) => Warmup::None,
        Ok(n) => Warmup::Requests(n),
        Err(_) => match parse_duration(&args.warmup).context("--warmup")? {
            d if d.is_zero() => Warmup::None,
            d => Warmup::Time(d),
        },
    };
    let slo = match &args.slo {
        Some(s) => Slo::parse(s)?,
        None => Slo::default(),
    };
    let meta = std::fs::metadata(&args.requests).with_context(|| format!("--requests {}", args.requests.display()))?;
    if meta.len() == 0 {
        bail!("--requests {}: the file is empty", args.requests.display());
    }
    let exe = std::env::current_exe().context("locating sb-sweep")?;
    let bin_dir: PathBuf = exe.parent().context("sb-sweep's directory")?.to_path_buf();
    for tool in ["sb-load", "sb-report"] {
        if !bin_dir.join(tool).exists() {
            bail!("{tool} is not next to sb-sweep in {} (build it: cargo build -p {tool})", bin_dir.display());
        }
    }
    check_with_sb_report(&bin_dir, &slo)?;
    let run =
        args.run.clone().unwrap_or_else(|| format!("sweep-{:x}-{:x}", started_ns / 1_000_000, std::process::id()));
    let ctx = Ctx {
        bin_dir,
        requests: args.requests.clone(),
        load_args: args.load_args.clone(),
        slo: slo.clone(),
        duration: if args.count.is_some() && args.duration == "30s" { None } else { Some(duration) },
        count: args.count,
        warmup,
        server: Some(Server::new(&url, args.metrics_url.clone(), args.no_metrics)),
        reset: !args.no_reset,
        cooldown_timeout: parse_duration(&args.cooldown_timeout).context("--cooldown-timeout")?,
        saturation_window: parse_duration(&args.saturation_window).context("--saturation-window")?,
        run: run.clone(),
    };
    let mode = if args.search {
        "search"
    } else if args.sweep.is_some() {
        "sweep"
    } else if !args.rates.is_empty() {
        "rates"
    } else {
        "concurrencies"
    };

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut once = Once::default();
    let mut points: Vec<SweepPoint> = Vec::new();
    let mut interrupted = false;
    let mut stdout_closed = false;
    let mut notes: Vec<String> = Vec::new();
    let mut search = Search::new(args.min, args.max, precision);
    let per_point_s = duration.as_secs_f64() + if let Warmup::Time(w) = warmup { w.as_secs_f64() } else { 0.0 };
    let t0 = Instant::now();

    // The points of a list are known in advance; guidellm's after its first two; the search's one by one.
    let mut queue: Vec<Load> = match mode {
        "rates" => args.rates.iter().map(|r| Load::Rate(*r)).collect(),
        "concurrencies" => args.concurrencies.iter().map(|c| Load::Concurrency(*c)).collect(),
        "sweep" => vec![Load::Concurrency(1), Load::Burst],
        _ => Vec::new(),
    };
    let mut error: Option<anyhow::Error> = None;
    // Position in the list of a list or guidellm sweep, and an untrustworthy point to measure again.
    let mut next_in_queue = 0usize;
    let mut retry: Option<(Load, usize)> = None;
    loop {
        if signal::count() > 0 {
            interrupted = true;
            break;
        }
        let i = points.len();
        let attempt = retry.map_or(0, |(_, a)| a);
        let load = if let Some((l, _)) = retry.take() {
            l
        } else if mode == "search" {
            if i >= args.max_points {
                notes.push(format!("the search stopped at --max-points {}", args.max_points));
                break;
            }
            match search.next() {
                Some(r) => Load::Rate(r),
                None => break,
            }
        } else {
            if mode == "sweep" && next_in_queue == 2 && queue.len() == 2 {
                // The last measurement of each of the two (a retried one counts once it is trustworthy).
                let of = |l: Load| points.iter().rev().find(|p| p.load == l.spec());
                let rate = |p: Option<&SweepPoint>| p.and_then(|p| p.request_throughput_rps).filter(|r| *r > 0.0);
                match (rate(of(Load::Concurrency(1))), rate(of(Load::Burst))) {
                    (Some(sync), Some(thr)) => queue
                        .extend(sweep_rates(args.sweep.unwrap_or(2), sync, thr.max(sync)).into_iter().map(Load::Rate)),
                    _ => {
                        notes.push(
                            "no rates after the synchronous and throughput runs: one of them completed nothing".into(),
                        );
                    }
                }
            }
            match queue.get(next_in_queue) {
                Some(l) => {
                    next_in_queue += 1;
                    *l
                }
                None => break,
            }
        };
        let name = format!("p{i}");
        let context = match mode {
            "search" => format!(
                "search, bracket {}..{} req/s",
                search.low.map_or("-".into(), fmt_rate),
                search.high.map_or("-".into(), fmt_rate)
            ),
            _ => {
                let left = queue.len().saturating_sub(next_in_queue) as f64 + 1.0;
                let eta = if mode == "sweep" && queue.len() == 2 {
                    String::new()
                } else {
                    format!(", ETA {:.0} s", left * per_point_s)
                };
                format!(
                    "point {} of {}{eta}",
                    next_in_queue,
                    if mode == "sweep" { args.sweep.unwrap_or(2) } else { queue.len() }
                )
            }
        };
        eprintln!("sb-sweep: {name} {} ({context}; {:.0} s so far)", load.spec(), t0.elapsed().as_secs_f64());
        let outcome = match run_point(&ctx, &name, &load, &mut once, &mut out) {
            Ok(o) => o,
            Err(e) => {
                error = Some(e);
                break;
            }
        };
        let p = outcome.point;
        let shown: Vec<String> = p.metrics.iter().map(|(k, v)| format!("{k} {v:.1}")).collect();
        eprintln!(
            "sb-sweep: {name} {}: {}{} (achieved {} req/s, {} ok, {} failed; {})",
            load.spec(),
            p.status.to_uppercase(),
            if p.reasons.is_empty() { String::new() } else { format!(": {}", p.reasons.join("; ")) },
            p.achieved_rate_rps.map_or("-".into(), fmt_rate),
            p.completed,
            p.failed,
            shown.join(", ")
        );
        // sb-load fell behind: the point says nothing about the server, so it is measured again
        // (--retries); only then does a search count it as not passing.
        if p.status == "untrustworthy" && attempt < args.retries && !outcome.interrupted && !outcome.stdout_closed {
            eprintln!("sb-sweep: {name}: measuring {} again (retry {} of {})", load.spec(), attempt + 1, args.retries);
            retry = Some((load, attempt + 1));
            points.push(p);
            continue;
        }
        if let (Load::Rate(r), "search") = (&load, mode) {
            if p.status == "untrustworthy" {
                notes.push(format!(
                    "{name} at {} req/s: sb-load fell behind its schedule; the search counts it as not passing (the client, not the server, may be the limit)",
                    fmt_rate(*r)
                ));
            }
            if !outcome.interrupted {
                search.record(*r, p.pass);
            }
        }
        points.push(p);
        if outcome.interrupted {
            interrupted = true;
            break;
        }
        if outcome.stdout_closed {
            stdout_closed = true;
            break;
        }
    }
    notes.extend(once.notes);

    let mut record = SweepRecord {
        run,
        mode: mode.into(),
        slo: slo.text.clone(),
        points,
        interrupted,
        notes,
        started_ns,
        ended_ns: now_ns(),
        ..SweepRecord::default()
    };
    if mode == "search" {
        record.max_rate_rps = search.low;
        record.max_rate_achieved_rps = record
            .points
            .iter()
            .filter(|p| p.pass && p.target_rate_rps == search.low)
            .find_map(|p| p.achieved_rate_rps);
        record.bracket = Some(SweepBracket { low_rps: search.low, high_rps: search.high });
        record.precision = Some(precision);
    }
    if !stdout_closed {
        if let Err(e) = RecordWriter::new(&mut out).write(&record) {
            if !sb_records::ndjson::is_broken_pipe(&e) {
                eprintln!("sb-sweep: writing the sweep record failed: {e}");
            }
            stdout_closed = true;
        }
    }
    let _ = out.flush();
    if let Some(e) = error {
        return Err(e);
    }
    // Untrustworthy points whose load was not measured again on schedule.
    let untrustworthy = record
        .points
        .iter()
        .enumerate()
        .filter(|(i, p)| {
            p.status == "untrustworthy"
                && !record.points[i + 1..].iter().any(|q| q.load == p.load && q.status != "untrustworthy")
        })
        .count();
    let passed = record.points.iter().filter(|p| p.pass).count();
    let summary = match (mode, record.max_rate_rps) {
        ("search", Some(r)) => format!(
            "max rate within the SLO: {} req/s (bracket {}..{} req/s)",
            fmt_rate(r),
            fmt_rate(r),
            record.bracket.and_then(|b| b.high_rps).map_or("-".into(), fmt_rate)
        ),
        ("search", None) => "no rate met the SLO".to_string(),
        _ => format!("{passed} of {} points passed", record.points.len()),
    };
    eprintln!(
        "sb-sweep: {}{summary}; {} points in {:.0} s{}",
        if interrupted { "INTERRUPTED: " } else { "" },
        record.points.len(),
        t0.elapsed().as_secs_f64(),
        if untrustworthy > 0 {
            format!("; {untrustworthy} untrustworthy (sb-load fell behind)")
        } else {
            String::new()
        }
    );
    Ok(if interrupted {
        130
    } else if stdout_closed || untrustworthy > 0 || (mode == "search" && record.max_rate_rps.is_none()) {
        1
    } else {
        0
    })
}
