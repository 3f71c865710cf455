//! Helpers for `bench/load.sh` (no Python or jq needed on the benchmark machine):
//!
//!   load_bench requests N [--prompt-words W] [--max-tokens T]     request records on stdout
//!   load_bench stamp-server --ttft-ms MS --itl-ms MS [--spin] --addr-file F  a server with known timing
//!   load_bench overhead < results.ndjson                           client overhead vs that server
//!   load_bench summary < results.ndjson                            the run record's key numbers
//!   load_bench first-send START_NS < results.ndjson                ms from START_NS to first send
//!   load_bench timeline < results.ndjson                           send lateness per 0.5 s of the run
//!   load_bench wire PORT RESULTS < tshark-fields                   client minus wire TTFT and ITL
//!   load_bench instructions CALLGRIND_OUT                          the total instruction count

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
        Some("wire") => wire(args[1].parse().expect("PORT"), &args[2]),
        Some("instructions") => {
            let text = std::fs::read_to_string(&args[1]).expect("a callgrind output file");
            let total = text.lines().find_map(|l| l.strip_prefix("summary: ")).expect("a summary line");
            println!("{}", total.trim());
        }
        _ => {
            eprintln!("usage: load_bench requests|stamp-server|overhead|summary|first-send|timeline|wire|instructions ... (see the source)");
            std::process::exit(2);
        }
    }
}

/// One direction of one TCP connection, as captured: its bytes, and the capture time of the
/// packet that carried each byte range.
#[derive(Default)]
struct Flow {
    bytes: Vec<u8>,
    /// (end offset of a packet's payload in `bytes`, its capture time in ns)
    packets: Vec<(usize, u64)>,
}

impl Flow {
    /// Capture time of the packet carrying byte `i`.
    fn time_of(&self, i: usize) -> u64 {
        let k = self.packets.partition_point(|&(end, _)| end <= i);
        self.packets[k.min(self.packets.len() - 1)].1
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

/// What the wire says of each request: (x-request-id, the time of the packet with the request's
/// last byte, the times of the packets that completed each content event of its response).
fn wire_exchanges(client: &Flow, server: &Flow) -> Vec<(String, u64, Vec<u64>)> {
    // Requests in order: head, then Content-Length bytes.
    let mut requests = Vec::new();
    let mut i = 0;
    while let Some(end) = find(&client.bytes, b"\r\n\r\n", i) {
        let head = String::from_utf8_lossy(&client.bytes[i..end]).to_ascii_lowercase();
        let field = |name: &str| head.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()));
        let len: usize = field("content-length:").and_then(|v| v.parse().ok()).unwrap_or(0);
        let last = end + 4 + len;
        if last > client.bytes.len() {
            break;
        }
        // The header's value as sent (the id is case-sensitive; the head was lowercased).
        let id = find(&client.bytes[i..end], b"x-request-id:", 0)
            .or_else(|| find(&client.bytes[i..end].to_ascii_lowercase(), b"x-request-id:", 0))
            .map(|at| {
                let v = &client.bytes[i + at + 13..end];
                let v = &v[..find(v, b"\r\n", 0).unwrap_or(v.len())];
                String::from_utf8_lossy(v).trim().to_string()
            })
            .unwrap_or_default();
        requests.push((id, client.time_of(last - 1)));
        i = last;
    }
    // Responses in the same order: head, then chunked SSE; an event is a content event when it
    // has a non-empty choices array.
    let mut out = Vec::new();
    let b = &server.bytes;
    let mut i = 0;
    for (id, sent) in requests {
        let Some(head_end) = find(b, b"\r\n\r\n", i) else { break };
        let mut at = head_end + 4;
        let mut events = Vec::new();
        let mut data = Vec::new();
        let mut data_at = Vec::new(); // byte offset in `b` of each byte of `data`
        while let Some(line_end) = find(b, b"\r\n", at) {
            let size = usize::from_str_radix(String::from_utf8_lossy(&b[at..line_end]).trim(), 16).unwrap_or(0);
            at = line_end + 2;
            if size == 0 {
                at += 2;
                break;
            }
            data.extend_from_slice(&b[at..(at + size).min(b.len())]);
            data_at.extend(at..(at + size).min(b.len()));
            at += size + 2;
        }
        let mut from = 0;
        while let Some(end) = find(&data, b"\n\n", from) {
            let event = String::from_utf8_lossy(&data[from..end]);
            let payload = event.lines().filter_map(|l| l.strip_prefix("data:")).collect::<Vec<_>>().join("\n");
            if let Ok(v) = serde_json::from_str::<Value>(payload.trim()) {
                if v["choices"].as_array().is_some_and(|c| !c.is_empty()) {
                    events.push(server.time_of(data_at[end + 1]));
                }
            }
            from = end + 2;
        }
        out.push((id, sent, events));
        i = at;
    }
    out
}

/// Client minus wire, per request: TTFT (request's last byte to the first content event) and
/// every ITL, from a tshark field dump (`frame.time_epoch tcp.stream tcp.srcport tcp.payload`)
/// of the server's port and the client's result records.
fn wire(port: u16, results_path: &str) {
    let mut flows: std::collections::BTreeMap<(u64, bool), Flow> = Default::default();
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 4 || f[3].is_empty() {
            continue;
        }
        let (secs, frac) = f[0].split_once('.').unwrap_or((f[0], "0"));
        let frac = format!("{frac:0<9}");
        let ns = secs.parse::<u64>().unwrap() * 1_000_000_000 + frac[..9].parse::<u64>().unwrap();
        let from_server = f[2].parse::<u16>().ok() == Some(port);
        let hex: String = f[3].chars().filter(|c| c.is_ascii_hexdigit()).collect();
        let flow = flows.entry((f[1].parse().unwrap(), from_server)).or_default();
        flow.bytes.extend((0..hex.len() / 2).map(|k| u8::from_str_radix(&hex[2 * k..2 * k + 2], 16).unwrap()));
        flow.packets.push((flow.bytes.len(), ns));
    }
    let mut wire: std::collections::HashMap<String, (u64, Vec<u64>)> = Default::default();
    for (&(stream, from_server), client) in &flows {
        if from_server {
            continue;
        }
        let Some(server) = flows.get(&(stream, true)) else { continue };
        for (id, sent, events) in wire_exchanges(client, server) {
            wire.insert(id, (sent, events));
        }
    }
    let text = std::fs::read_to_string(results_path).expect("results");
    let (mut ttft, mut itl) = (Vec::new(), Vec::new());
    let (mut send, mut receive) = (Vec::new(), Vec::new());
    let mut paired = 0;
    for r in text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()) {
        if r["kind"] != "result" || r["status"] != "ok" {
            continue;
        }
        let key = format!("{}-{}", r["run"].as_str().unwrap_or(""), r["id"].as_str().unwrap_or(""));
        let Some((sent, events)) = wire.get(&key) else { continue };
        let chunks: Vec<u64> = r["chunks_ns"].as_array().unwrap().iter().filter_map(Value::as_u64).collect();
        if chunks.len() != events.len() || chunks.is_empty() {
            continue;
        }
        paired += 1;
        // Each side on its own (the two clocks may differ by a constant, which cancels in the sum).
        send.push((*sent as f64 - r["sent_ns"].as_u64().unwrap() as f64) / 1e6);
        receive.push((r["first_chunk_ns"].as_u64().unwrap() as f64 - events[0] as f64) / 1e6);
        let client_ttft = chunks[0] as f64;
        let wire_ttft = events[0] as f64 - *sent as f64;
        ttft.push((client_ttft - wire_ttft) / 1e6);
        for k in 1..chunks.len() {
            let c = (chunks[k] - chunks[k - 1]) as f64;
            let w = events[k] as f64 - events[k - 1] as f64;
            itl.push((c - w) / 1e6);
        }
    }
    let stats = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
        format!(
            "mean {:+.3} p50 {:+.3} p99 {:+.3} max {:+.3}",
            mean,
            pct(v, 50.0),
            pct(v, 99.0),
            v.last().copied().unwrap_or(f64::NAN)
        )
    };
    println!("paired {paired} | TTFT client-wire ms: {} | ITL client-wire ms: {}", stats(&mut ttft), stats(&mut itl));
    eprintln!(
        "    send side (request's last byte on the wire - sent_ns) ms: {}\n    receive side (first_chunk_ns - the event on the wire) ms: {}",
        stats(&mut send),
        stats(&mut receive)
    );
}
