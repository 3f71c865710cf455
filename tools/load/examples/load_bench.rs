//! Helpers for `bench/load.sh` (no Python or jq needed on the benchmark machine):
//!
//!   load_bench requests N [--prompt-words W] [--max-tokens T]     request records on stdout
//!   load_bench stamp-server --ttft-ms MS --itl-ms MS [--spin] --addr-file F  a server with known timing
//!   load_bench overhead < results.ndjson                           client overhead vs that server
//!   load_bench summary < results.ndjson                            the run record's key numbers
//!   load_bench first-send START_NS < results.ndjson                ms from START_NS to first send
//!   load_bench timeline < results.ndjson                           send lateness per 0.5 s of the run

#[allow(dead_code)] // start_tls is for the tests
#[path = "../tests/common/stamp.rs"]
mod stamp;

use serde_json::{json, Value};
use std::io::{BufRead, BufWriter, Write};
use std::time::Duration;

fn flag(args: &[String], name: &str, default: f64) -> f64 {
    args.windows(2).find(|w| w[0] == name).map(|w| w[1].parse().expect("a number")).unwrap_or(default)
}

fn results() -> impl Iterator<Item = Value> {
    std::io::stdin().lock().lines().map_while(Result::ok).filter_map(|l| serde_json::from_str(&l).ok())
}

/// Percentile by nearest rank over sorted values.
fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((p / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("requests") => {
            let n: u64 = args[1].parse().expect("N");
            let words = flag(&args, "--prompt-words", 32.0) as usize;
            let max_tokens = flag(&args, "--max-tokens", 64.0) as u32;
            let prompt = vec!["hello"; words].join(" ");
            let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            for i in 0..n {
                let r = json!({"kind": "request", "v": 1, "id": format!("r{i}"), "prompt": prompt, "max_tokens": max_tokens});
                if writeln!(out, "{r}").is_err() {
                    return;
                }
            }
        }
        Some("stamp-server") => {
            let timing = stamp::Timing {
                ttft: Duration::from_secs_f64(flag(&args, "--ttft-ms", 50.0) / 1e3),
                itl: Duration::from_secs_f64(flag(&args, "--itl-ms", 5.0) / 1e3),
                spin: args.iter().any(|a| a == "--spin"),
            };
            let url = stamp::start(timing);
            let file = args.windows(2).find(|w| w[0] == "--addr-file").map(|w| w[1].clone()).expect("--addr-file");
            std::fs::write(&file, format!("{url}\n")).unwrap();
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        Some("overhead") => {
            let (mut ttft, mut itl, mut ttft_server) = (Vec::new(), Vec::new(), Vec::new());
            for r in results().filter(|r| r["kind"] == "result" && r["status"] == "ok") {
                let (t, i) = stamp::overheads(&r).expect("results written with --save-text against the stamp server");
                ttft.push(t as f64 / 1e6);
                itl.extend(i.into_iter().map(|x| x as f64 / 1e6));
                let sent = r["sent_ns"].as_u64().unwrap() as f64;
                ttft_server.push((r["first_chunk_ns"].as_u64().unwrap() as f64 - sent) / 1e6);
            }
            for v in [&mut ttft, &mut itl, &mut ttft_server] {
                v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            }
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
            println!(
                "requests {} chunks {} | TTFT overhead ms: mean {:.3} p50 {:.3} p99 {:.3} | ITL overhead ms: mean {:.4} p1 {:.3} p99 {:.3} | client TTFT p50 {:.2} ms",
                ttft.len(),
                itl.len() + ttft.len(),
                mean(&ttft),
                pct(&ttft, 50.0),
                pct(&ttft, 99.0),
                mean(&itl),
                pct(&itl, 1.0),
                pct(&itl, 99.0),
                pct(&ttft_server, 50.0),
            );
        }
        Some("summary") => {
            let run = results().find(|r| r["kind"] == "run").expect("a run record");
            let l = &run["send_lateness_ms"];
            println!(
                "results {} failed {} | sent {} req/s (schedule {}, ratio {}) | send lateness ms: p50 {} p99 {} max {} | verdict {}",
                run["requests"]["results"],
                run["requests"]["failed"],
                run["achieved_rate_rps"],
                run["scheduled_rate_rps"],
                run["achieved_ratio"],
                l["p50"],
                l["p99"],
                l["max"],
                run["verdict"]
            );
        }
        Some("first-send") => {
            let start: u64 = args[1].parse().expect("START_NS");
            let first =
                results().filter(|r| r["kind"] == "result").filter_map(|r| r["sent_ns"].as_u64()).min().unwrap();
            println!("{:.2}", (first.saturating_sub(start)) as f64 / 1e6);
        }
        Some("timeline") => {
            let mut buckets: std::collections::BTreeMap<u64, Vec<f64>> = Default::default();
            let mut t0 = None;
            for r in results().filter(|r| r["kind"] == "result") {
                let (s, sent) = (r["scheduled_ns"].as_u64().unwrap(), r["sent_ns"].as_u64().unwrap());
                let t0 = *t0.get_or_insert(s);
                buckets
                    .entry(s.saturating_sub(t0) / 500_000_000)
                    .or_default()
                    .push(sent.saturating_sub(s) as f64 / 1e6);
            }
            let line: Vec<String> = buckets
                .iter_mut()
                .map(|(k, v)| {
                    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
                    format!("{:.1}s:p99 {:.2} max {:.2}", *k as f64 / 2.0, pct(v, 99.0), v[v.len() - 1])
                })
                .collect();
            println!("{}", line.join(" | "));
        }
        _ => {
            eprintln!("usage: load_bench requests|stamp-server|overhead|summary|first-send ... (see the source)");
            std::process::exit(2);
        }
    }
}
