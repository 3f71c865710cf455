//! The engine loop: continuous batching with a settable step time, on its own thread.
//!
//! A dedicated OS thread (not a tokio task) keeps step timing precise: tokio's timer wheel has a
//! 1 ms resolution, a thread sleep is accurate to tens of microseconds, and the sim's TTFT/ITL
//! must be close to the configured values for the load generator's accuracy tests to mean
//! anything.

use crate::config::SimArgs;
use crate::metrics::Metrics;
use rand::{rngs::StdRng, SeedableRng};
use rand_distr::{Distribution, Normal};
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

/// A request handed to the engine by an HTTP handler.
pub struct Submit {
    pub prompt_tokens: u32,
    pub block_hashes: Vec<u64>,
    pub max_tokens: u32,
    pub n: u32,
    /// When the HTTP handler received the request (vLLM's `arrival_time`).
    pub arrival: Instant,
    pub events: UnboundedSender<Event>,
}

/// What the engine tells the handler of a request.
#[derive(Debug, Clone, Copy)]
pub enum Event {
    /// Scheduled; `cached_tokens` prompt tokens came from the prefix cache.
    Admitted { cached_tokens: u32 },
    /// One more token for every choice; `token` counts from 1; `last` when the request is done.
    Step { token: u32, last: bool },
}

struct Seq {
    sub: Submit,
    scheduled: Instant,
    first: Option<Instant>,
    last_token: Instant,
    generated: u32,
    reserved_kv: u64,
}

/// Engine settings taken from the command line.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub prefill_s_per_token: f64,
    pub decode_s: f64,
    pub decode_s_per_seq: f64,
    pub max_num_seqs: u32,
    pub kv_tokens: u64,
    pub block_size: u32,
    pub prefix_caching: bool,
    pub jitter: f64,
    pub seed: u64,
}

impl EngineConfig {
    pub fn from_args(a: &SimArgs) -> EngineConfig {
        EngineConfig {
            prefill_s_per_token: a.prefill_us_per_token / 1e6,
            decode_s: a.decode_ms / 1e3,
            decode_s_per_seq: a.decode_ms_per_seq / 1e3,
            max_num_seqs: a.max_num_seqs,
            kv_tokens: a.kv_tokens,
            block_size: a.block_size,
            prefix_caching: !a.no_prefix_caching,
            jitter: a.jitter,
            seed: a.seed,
        }
    }
}

/// vLLM's prefix cache reduced to what timing needs: which full blocks are resident. Evicts the
/// oldest block first once the KV budget's worth of blocks is cached.
struct PrefixCache {
    resident: HashSet<u64>,
    order: VecDeque<u64>,
    capacity_blocks: usize,
}

impl PrefixCache {
    fn lookup_and_insert(&mut self, hashes: &[u64]) -> usize {
        let hit = hashes.iter().take_while(|h| self.resident.contains(h)).count();
        for h in &hashes[hit..] {
            if self.resident.insert(*h) {
                self.order.push_back(*h);
            }
        }
        while self.order.len() > self.capacity_blocks {
            if let Some(old) = self.order.pop_front() {
                self.resident.remove(&old);
            }
        }
        hit
    }
}

/// `reset_prefix_cache` is set by `POST /reset_prefix_cache`; the engine empties its prefix cache
/// before it admits anything else, so every request received after the reset's answer misses.
pub fn run(cfg: EngineConfig, rx: Receiver<Submit>, metrics: Arc<Mutex<Metrics>>, reset_prefix_cache: Arc<AtomicBool>) {
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let jitter = Normal::new(0.0, cfg.jitter.max(1e-12)).expect("finite jitter");
    let mut cache = PrefixCache {
        resident: HashSet::new(),
        order: VecDeque::new(),
        capacity_blocks: (cfg.kv_tokens / cfg.block_size as u64).max(1) as usize,
    };
    let mut waiting: VecDeque<Submit> = VecDeque::new();
    let mut running: Vec<Seq> = Vec::new();
    let mut running_seqs: u32 = 0;
    let mut kv_reserved: u64 = 0;

    loop {
        if running.is_empty() && waiting.is_empty() {
            match rx.recv() {
                Ok(s) => waiting.push_back(s),
                Err(_) => return,
            }
        }
        loop {
            match rx.recv_timeout(Duration::ZERO) {
                Ok(s) => waiting.push_back(s),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    if running.is_empty() && waiting.is_empty() {
                        return;
                    }
                    break;
                }
            }
        }

        if reset_prefix_cache.swap(false, Ordering::AcqRel) {
            cache.resident.clear();
            cache.order.clear();
        }

        // Clients that went away while waiting are aborted, as vLLM aborts on disconnect.
        let before = waiting.len();
        waiting.retain(|s| !s.events.is_closed());
        let aborted_waiting = (before - waiting.len()) as u64;

        // Admit in FIFO order while a sequence slot and KV budget are free.
        let step_start = Instant::now();
        let mut prefill_tokens: u64 = 0;
        let mut admitted = 0usize;
        let mut m_queue = Vec::new();
        let mut m_prefix = (0u64, 0u64, 0u64);
        while let Some(front) = waiting.front() {
            let need_kv = front.prompt_tokens as u64 + front.max_tokens as u64 * front.n as u64;
            if running_seqs + front.n > cfg.max_num_seqs || kv_reserved + need_kv > cfg.kv_tokens {
                break;
            }
            let sub = waiting.pop_front().expect("front exists");
            let cached = if cfg.prefix_caching {
                let hit_blocks = cache.lookup_and_insert(&sub.block_hashes);
                // vLLM always recomputes at least the prompt's last token.
                ((hit_blocks as u64 * cfg.block_size as u64) as u32).min(sub.prompt_tokens.saturating_sub(1))
            } else {
                0
            };
            if cfg.prefix_caching {
                m_prefix.0 += sub.prompt_tokens as u64;
                m_prefix.1 += cached as u64;
            }
            m_prefix.2 += sub.prompt_tokens as u64;
            prefill_tokens += (sub.prompt_tokens - cached) as u64;
            m_queue.push(step_start.saturating_duration_since(sub.arrival).as_secs_f64());
            let _ = sub.events.send(Event::Admitted { cached_tokens: cached });
            running_seqs += sub.n;
            kv_reserved += need_kv;
            running.push(Seq {
                sub,
                scheduled: step_start,
                first: None,
                last_token: step_start,
                generated: 0,
                reserved_kv: need_kv,
            });
            admitted += 1;
        }
        let _ = admitted;
        {
            let mut m = metrics.lock().expect("metrics lock");
            m.success_abort += aborted_waiting;
            for q in m_queue {
                m.queue.observe(q);
            }
            m.prefix_queries += m_prefix.0;
            m.prefix_hits += m_prefix.1;
            m.prompt_tokens += m_prefix.2;
            m.running = running.len() as u64;
            m.waiting = waiting.len() as u64;
            let used: u64 = running.iter().map(|s| s.sub.prompt_tokens as u64 + (s.generated * s.sub.n) as u64).sum();
            m.kv_usage = used as f64 / cfg.kv_tokens as f64;
        }
        if running.is_empty() {
            // Nothing fits (a request larger than the whole budget is refused by the handler, so
            // this only happens while waiting for a disconnect to be noticed).
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }

        let mut step_s =
            cfg.decode_s + cfg.decode_s_per_seq * running_seqs as f64 + cfg.prefill_s_per_token * prefill_tokens as f64;
        if cfg.jitter > 0.0 {
            step_s *= (1.0 + jitter.sample(&mut rng)).max(0.0);
        }
        let step_end = step_start + Duration::from_secs_f64(step_s);
        let now = Instant::now();
        if step_end > now {
            std::thread::sleep(step_end - now);
        }
        let at = Instant::now();

        // One token for every running sequence.
        let mut m = metrics.lock().expect("metrics lock");
        m.iteration_tokens.observe((prefill_tokens + running_seqs as u64) as f64);
        let mut i = 0;
        while i < running.len() {
            let seq = &mut running[i];
            if seq.sub.events.is_closed() {
                m.success_abort += 1;
                running_seqs -= seq.sub.n;
                kv_reserved -= seq.reserved_kv;
                running.swap_remove(i);
                continue;
            }
            seq.generated += 1;
            let last = seq.generated >= seq.sub.max_tokens;
            let _ = seq.sub.events.send(Event::Step { token: seq.generated, last });
            m.generation_tokens += seq.sub.n as u64;
            match seq.first {
                None => {
                    seq.first = Some(at);
                    m.ttft.observe(at.saturating_duration_since(seq.sub.arrival).as_secs_f64());
                }
                Some(_) => {
                    let gap = at.saturating_duration_since(seq.last_token).as_secs_f64();
                    for _ in 0..seq.sub.n {
                        m.itl.observe(gap);
                    }
                }
            }
            seq.last_token = at;
            if last {
                let first = seq.first.unwrap_or(at);
                let arrival = seq.sub.arrival;
                m.success_length += 1;
                m.e2e.observe(at.saturating_duration_since(arrival).as_secs_f64());
                m.inference.observe(at.saturating_duration_since(seq.scheduled).as_secs_f64());
                m.prefill.observe(first.saturating_duration_since(seq.scheduled).as_secs_f64());
                m.decode.observe(at.saturating_duration_since(first).as_secs_f64());
                if seq.generated > 1 {
                    m.request_tpot
                        .observe(at.saturating_duration_since(first).as_secs_f64() / (seq.generated - 1) as f64);
                }
                m.request_prompt_tokens.observe(seq.sub.prompt_tokens as f64);
                m.request_generation_tokens.observe((seq.generated * seq.sub.n) as f64);
                running_seqs -= seq.sub.n;
                kv_reserved -= seq.reserved_kv;
                running.swap_remove(i);
                continue;
            }
            i += 1;
        }
        m.running = running.len() as u64;
    }
}
