//! Arrival processes end to end: the schedule sb-load records (`scheduled_ns`) has the
//! statistics of the process asked for, is reproducible from its seed, and sends are on time;
//! bounds, stages, warm-up, shards and sessions shape the run as documented.

mod common;

use common::{completions, load, Run};
use sb_testkit::{testdata, Sim};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Offsets of `scheduled_ns` from the run start, in stream order of the ids `r0, r1, ...`.
fn offsets_ms(run: &Run) -> Vec<f64> {
    let start = run.run["started_ns"].as_u64().unwrap();
    let mut by_id: Vec<(usize, f64)> = run
        .results
        .iter()
        .map(|r| {
            let i: usize = r["id"].as_str().unwrap()[1..].parse().unwrap();
            (i, (r["scheduled_ns"].as_u64().unwrap() - start) as f64 / 1e6)
        })
        .collect();
    by_id.sort_by_key(|(i, _)| *i);
    by_id.into_iter().map(|(_, o)| o).collect()
}

fn gaps(offsets: &[f64]) -> Vec<f64> {
    offsets.windows(2).map(|w| w[1] - w[0]).collect()
}

fn mean_cv(xs: &[f64]) -> (f64, f64) {
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
    (mean, var.sqrt() / mean)
}

fn instant_sim() -> Sim {
    Sim::start(&["--instant"])
}

#[test]
fn constant_rate_is_evenly_spaced() {
    // The schedule itself (scheduled_ns) is exact whatever the machine is doing; how late the
    // sends were is measured by bench/load.sh, not asserted here (a busy machine runs late).
    let sim = instant_sim();
    let run = load(&sim.url, &["--rate", "200"], &completions(100, 3, 2));
    assert_eq!(run.code, 0, "{}", run.stderr);
    for (k, o) in offsets_ms(&run).iter().enumerate() {
        assert!((o - 5.0 * k as f64).abs() < 1e-3, "request {k} scheduled at {o} ms");
    }
    assert_eq!(run.run["target_rate_rps"], 200.0);
    assert!(run.run["achieved_ratio"].as_f64().is_some(), "{}", run.run);
    assert!(run.run["send_lateness_ms"]["p50"].as_f64().is_some(), "{}", run.run);
}

#[test]
fn poisson_schedule_has_exponential_gaps_and_is_reproducible() {
    let sim = instant_sim();
    let reqs = completions(500, 2, 1);
    let a = load(&sim.url, &["--rate", "poisson:500", "--seed", "5"], &reqs);
    assert_eq!(a.code, 0, "{}", a.stderr);
    let (mean, cv) = mean_cv(&gaps(&offsets_ms(&a)));
    assert!((mean - 2.0).abs() < 0.25, "mean gap {mean} ms, want 2");
    assert!((cv - 1.0).abs() < 0.15, "coefficient of variation {cv}, want 1");
    let b = load(&sim.url, &["--rate", "poisson:500", "--seed", "5"], &reqs);
    assert_eq!(offsets_ms(&a), offsets_ms(&b), "same seed, same schedule");
    let c = load(&sim.url, &["--rate", "poisson:500", "--seed", "6"], &reqs);
    assert_ne!(offsets_ms(&a), offsets_ms(&c));
}

#[test]
fn gamma_burstiness_below_one_is_burstier_than_poisson() {
    let sim = instant_sim();
    let run = load(&sim.url, &["--rate", "gamma:500:0.25", "--seed", "1"], &completions(500, 2, 1));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (mean, cv) = mean_cv(&gaps(&offsets_ms(&run)));
    // Gamma gaps with shape 0.25: mean 1/rate, coefficient of variation 1/sqrt(0.25) = 2.
    assert!((mean - 2.0).abs() < 0.5, "mean gap {mean} ms");
    assert!((1.5..2.6).contains(&cv), "coefficient of variation {cv}, want 2");
}

#[test]
fn trace_replay_follows_at_ms_scaled_by_speed() {
    let sim = instant_sim();
    let at = [0.0, 50.0, 120.0, 121.0, 300.0];
    let reqs: String = at
        .iter()
        .enumerate()
        .map(|(i, a)| {
            json!({"kind": "request", "v": 1, "id": format!("r{i}"), "prompt": "x", "max_tokens": 1, "at_ms": a})
                .to_string()
                + "\n"
        })
        .collect();
    let run = load(&sim.url, &["--rate", "trace:2"], &reqs);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let got = offsets_ms(&run);
    for (o, a) in got.iter().zip(at) {
        assert!((o - a / 2.0).abs() < 1e-3, "{got:?}");
    }
    // A trace without at_ms is an input error naming the request.
    let run = load(&sim.url, &["--rate", "trace"], &completions(2, 1, 1));
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("at_ms"), "{}", run.stderr);
}

#[test]
fn closed_loop_keeps_exactly_n_in_flight() {
    let sim = Sim::start(&["--decode-ms", "2"]);
    let run = load(&sim.url, &["--concurrency", "4"], &completions(40, 3, 8));
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Sweep over [sent, done] intervals: the peak must be exactly the concurrency.
    let mut events: Vec<(u64, i32)> = Vec::new();
    for r in &run.results {
        events.push((r["sent_ns"].as_u64().unwrap(), 1));
        events.push((r["done_ns"].as_u64().unwrap(), -1));
    }
    events.sort();
    let (mut now, mut peak) = (0, 0);
    for (_, d) in events {
        now += d;
        peak = peak.max(now);
    }
    assert_eq!(peak, 4);
    assert_eq!(run.run["load"]["concurrency"], 4);
}

#[test]
fn closed_loop_lateness_runs_from_the_slot_freeing_and_waiting_for_a_slot_is_not_lag() {
    // One slot, two sessions of two turns, ~150 ms a request: each second turn is ready when
    // its first turn ends, but the slot is then busy with the other session's turn. Waiting for
    // the slot is what a closed loop is; only the generator's own delay is lateness.
    let sim = Sim::start(&["--decode-ms", "25", "--decode-ms-per-seq", "0", "--prefill-us-per-token", "0"]);
    let (reqs, _) = mt_bench_sessions(2);
    let run = load(&sim.url, &["-c", "1", "--max-lag", "50"], &reqs);
    assert_eq!(run.results.len(), 4);
    let mut by_sent: Vec<&Value> = run.results.iter().collect();
    by_sent.sort_by_key(|r| r["sent_ns"].as_u64());
    for pair in by_sent.windows(2) {
        // Each request is due when the one before it freed the slot, never before.
        assert!(pair[1]["scheduled_ns"].as_u64() >= pair[0]["done_ns"].as_u64(), "{:?}", pair);
    }
    let p99 = run.run["send_lateness_ms"]["p99"].as_f64().unwrap();
    assert!(p99 < 50.0, "p99 lateness {p99} ms: a turn waiting ~150 ms for the slot was counted as lag");
    assert_eq!(run.run["loop"], "closed");
    assert_eq!(run.run["verdict"], "ok", "{}", run.stderr);
    assert!(run.run["slot_idle_fraction"].as_f64().unwrap() < 0.3, "{}", run.run);
}

#[test]
fn stages_run_in_order_for_their_durations() {
    let sim = instant_sim();
    let run =
        load(&sim.url, &["--stage", "constant:100@200ms", "--stage", "constant:50@200ms"], &completions(100, 2, 1));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let stage = |s: u64| run.results.iter().filter(|r| r["stage"] == s).count();
    assert_eq!((stage(0), stage(1)), (20, 10));
    let offsets = offsets_ms(&run);
    assert!((offsets[20] - 200.0).abs() < 1e-3 && (offsets[21] - 220.0).abs() < 1e-3, "{offsets:?}");
    assert_eq!(run.run["requests"]["read"], 30);
}

#[test]
fn bounds_by_count_duration_and_warmup() {
    let sim = instant_sim();
    let run = load(&sim.url, &["--rate", "100", "--duration", "300ms"], &completions(1000, 2, 1));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.results.len(), 30);
    let run = load(&sim.url, &["-n", "7", "--warmup", "3"], &completions(100, 2, 1));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.results.len(), 7);
    let warm: BTreeSet<&str> =
        run.results.iter().filter(|r| r["warmup"] == true).map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(warm, BTreeSet::from(["r0", "r1", "r2"]));
    assert_eq!(run.run["requests"]["warmup"], 3);
}

#[test]
fn shards_together_send_the_whole_stream_on_the_unsharded_schedule() {
    let sim = instant_sim();
    let reqs = completions(30, 2, 1);
    let mut seen = BTreeSet::new();
    for i in 0..3 {
        let shard = format!("{i}/3");
        let run = load(&sim.url, &["--rate", "200", "--shard", &shard], &reqs);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(run.results.len(), 10);
        assert_eq!(run.run["requests"]["other_shards"], 20);
        let start = run.run["started_ns"].as_u64().unwrap();
        for r in &run.results {
            assert_eq!(r["shard"], shard.as_str());
            let k: u64 = r["id"].as_str().unwrap()[1..].parse().unwrap();
            assert_eq!(k % 3, i);
            // The request keeps its slot in the whole stream's schedule (k x 5 ms).
            assert_eq!(r["scheduled_ns"].as_u64().unwrap() - start, k * 5_000_000);
            assert!(seen.insert(k), "request {k} sent by two shards");
        }
    }
    assert_eq!(seen.len(), 30);
}

/// MT-Bench's two-turn questions as chat sessions (turn 0 and 1 of each question).
fn mt_bench_sessions(n: usize) -> (String, Vec<Value>) {
    let text = std::fs::read_to_string(testdata("load/mt_bench_question.jsonl")).unwrap();
    let questions: Vec<Value> = text.lines().take(n).map(|l| serde_json::from_str(l).unwrap()).collect();
    let mut out = String::new();
    // All first turns, then all second turns: the stream order a sampler would write.
    for turn in 0..2 {
        for q in &questions {
            let id = q["question_id"].as_u64().unwrap();
            out += &(json!({"kind": "request", "v": 1, "id": format!("q{id}-t{turn}"), "api": "chat",
                            "session": format!("mt{id}"), "turn": turn, "max_tokens": 6,
                            "messages": [{"role": "user", "content": q["turns"][turn]}]})
            .to_string()
                + "\n");
        }
    }
    (out, questions)
}

#[test]
fn session_turns_wait_for_the_previous_reply_and_carry_the_history() {
    let sim = Sim::start(&["--decode-ms", "3"]);
    let (reqs, questions) = mt_bench_sessions(4);
    let run = load(&sim.url, &["--rate", "1000"], &reqs);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.results.len(), 8);
    let find = |id: String| run.results.iter().find(|r| r["id"] == id.as_str()).unwrap().clone();
    for q in &questions {
        let id = q["question_id"].as_u64().unwrap();
        let (t0, t1) = (find(format!("q{id}-t0")), find(format!("q{id}-t1")));
        assert!(t1["sent_ns"].as_u64() >= t0["done_ns"].as_u64(), "turn 1 sent before turn 0 finished");
        assert!(t1["scheduled_ns"].as_u64() >= t0["done_ns"].as_u64(), "waiting for a reply is not lag");
        // The sim counts prompt words: turn 1's prompt holds turn 0's question, the 6-word
        // reply and its own question.
        let words = |s: &Value| s.as_str().unwrap().split_whitespace().count() as u64;
        let p0 = t0["usage"]["prompt_tokens"].as_u64().unwrap();
        let p1 = t1["usage"]["prompt_tokens"].as_u64().unwrap();
        assert!(p0 >= words(&q["turns"][0]), "{p0}");
        assert!(p1 >= words(&q["turns"][0]) + 6 + words(&q["turns"][1]), "turn 1 prompt {p1} lacks the history");
        assert_eq!(t1["session"], format!("mt{id}"));
    }
}

#[test]
fn a_failed_turn_ends_its_session_with_recorded_skips() {
    let sim = Sim::start(&["--decode-ms", "1", "--fail-500", "1"]);
    let (reqs, _) = mt_bench_sessions(3);
    let run = load(&sim.url, &[], &reqs);
    assert_eq!(run.code, 1);
    assert_eq!(run.results.len(), 6, "no turn is dropped");
    assert_eq!(run.by_status("http_error"), 3);
    assert_eq!(run.by_status("cancelled"), 3);
    for r in run.results.iter().filter(|r| r["status"] == "cancelled") {
        assert!(r["error"].as_str().unwrap().starts_with("not sent: turn 0 of session"), "{r}");
    }
}

#[test]
fn a_run_that_falls_behind_its_schedule_is_flagged_and_fails() {
    // 100 req/s capped at 1 in flight against ~30 ms requests: the cap, not the arrival
    // process, sets the pace, so sends fall further and further behind their slots.
    let sim = Sim::start(&["--decode-ms", "5", "--decode-ms-per-seq", "0"]);
    let run = load(&sim.url, &["--rate", "100", "--concurrency", "1", "--max-lag", "5"], &completions(20, 2, 6));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.results.len(), 20, "late requests are still sent and recorded");
    assert!(run.stderr.contains("warning: falling behind the schedule"), "{}", run.stderr);
    assert!(run.stderr.contains("fell behind its schedule"), "{}", run.stderr);
    assert_eq!(run.run["verdict"], "failed");
    let p99 = run.run["send_lateness_ms"]["p99"].as_f64().unwrap();
    assert!(p99 > 100.0, "p99 lateness {p99} ms");
    // The results keep their scheduled slots: latency from scheduled_ns shows the queueing.
    let late = run.results.iter().filter(|r| Run::ms(r, "scheduled_ns", "sent_ns") > 50.0).count();
    assert!(late >= 10, "{late} requests more than 50 ms late");
}

#[test]
fn rate_inf_alone_has_no_schedule_to_fall_behind() {
    // Everything is due at once with `--rate inf`: dispatching 200 requests takes longer than
    // the (absurd) 1 us limit, yet that is not lag. A rate run with the same limit does fail.
    let sim = Sim::start(&["--decode-ms", "1", "--decode-ms-per-seq", "0"]);
    let run = load(&sim.url, &["--rate", "inf", "--max-lag", "0.001"], &completions(200, 50, 2));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.run["verdict"], "ok");
    assert_eq!(run.run["lag_check"], "skipped: --rate inf has no schedule to keep");
    assert!(run.run["send_lateness_ms"]["max"].as_f64().unwrap() > 0.001, "lateness is still measured");
    assert!(!run.stderr.contains("falling behind"), "{}", run.stderr);
    let run = load(&sim.url, &["--rate", "2000", "--max-lag", "0.001"], &completions(200, 50, 2));
    assert_eq!(run.code, 1, "{}", run.stderr);
}
