//! The dispatcher: takes requests in stream order, gives each its slot in the arrival schedule,
//! waits for that instant, and fires it on its own task. Everything about *when* a request goes
//! out is in this file.
//!
//! - Open loop (a rate, a trace, stages): the schedule is fixed in advance; a request sent late
//!   keeps its `scheduled_ns`, so lag shows in the results instead of vanishing.
//! - Closed loop (`--concurrency N` alone): N requests in flight; each starts when a slot frees.
//!   Its `scheduled_ns` is the moment the slot freed (the previous holder's end), or the moment
//!   the request itself was ready if that is later (read from the input, or its session's
//!   previous turn answered): send lateness is then only the generator's own delay.
//! - A rate with `--concurrency` as a cap: open loop whose requests may queue in the client; that
//!   queueing counts as send lateness (vLLM calls it client queue time).

use crate::alarm::Alarm;
use crate::arrival::{Arrivals, Stage};
use crate::client::LoadClient;
use crate::output::Finished;
use crate::session::{Admit, Sessions};
use sb_records::{Clock, Message, Request, ResultRecord, Status};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};

/// Which requests of the stream this process sends: `index/count`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub fn parse(s: &str) -> anyhow::Result<Shard> {
        let bad = || anyhow::anyhow!("bad --shard {s:?}; expected i/N with 0 <= i < N, e.g. 0/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Every N-th request of the stream, except that all turns of a session go to one shard
    /// (chosen by a stable hash of the session id), since a turn needs its session's history.
    pub fn takes(&self, stream_index: u64, session: Option<&str>) -> bool {
        let key = match session {
            Some(s) => fnv1a(s.as_bytes()),
            None => stream_index,
        };
        key % self.count as u64 == self.index as u64
    }

    pub fn label(&self) -> String {
        format!("{}/{}", self.index, self.count)
    }
}

/// FNV-1a: stable across builds and platforms, unlike std's hasher, so every pod of a sharded
/// run agrees on where a session goes.
use sb_cli::fnv1a;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Warmup {
    None,
    /// The first N requests of the stream.
    Requests(u64),
    /// Requests scheduled in the first part of the run.
    Time(Duration),
}

impl Warmup {
    /// Whether the request at `stream_index`, due `at` into the run, is warm-up.
    fn takes(self, stream_index: u64, at: Duration) -> bool {
        match self {
            Warmup::None => false,
            Warmup::Requests(n) => stream_index < n,
            Warmup::Time(d) => at < d,
        }
    }
}

/// Lets the reader fill its read-ahead before the clock starts: parsing the first few thousand
/// requests is a burst of work on the same core, and it would make the first sends late. A
/// producer slower than that (a live pipe) is waited for 250 ms at most.
async fn read_ahead(input: &mpsc::Receiver<Vec<crate::input::InputItem>>) {
    let fill_deadline = Instant::now() + Duration::from_millis(250);
    while input.len() < input.max_capacity() && !input.is_closed() && Instant::now() < fill_deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// How a run is shaped.
pub struct Plan {
    pub stages: Vec<Stage>,
    pub concurrency: Option<usize>,
    pub seed: u64,
    pub max_requests: Option<u64>,
    pub duration: Option<Duration>,
    pub warmup: Warmup,
    pub shard: Option<Shard>,
    pub timeout: Duration,
}

/// How a run's sends are paced, which decides what "keeping the schedule" means.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pacing {
    /// A rate, a trace or stages: each request has its instant; lateness is lag.
    Open,
    /// `--concurrency N` alone: each request starts when a slot frees.
    Closed,
    /// `--rate inf` alone: everything is due at once; there is no schedule to keep.
    Burst,
}

impl Pacing {
    /// The run record's `loop`.
    pub fn name(self) -> &'static str {
        match self {
            Pacing::Open => "open",
            Pacing::Closed => "closed",
            Pacing::Burst => "burst",
        }
    }
}

impl Plan {
    pub fn pacing(&self) -> Pacing {
        if self.stages.iter().any(|s| !matches!(s.process, crate::arrival::Process::Burst)) {
            Pacing::Open
        } else if self.concurrency.is_some() {
            Pacing::Closed
        } else {
            Pacing::Burst
        }
    }
}

/// Labels copied onto every result.
pub struct Labels {
    pub run: String,
    pub tags: BTreeMap<String, String>,
}

pub use crate::phase::Phase;

/// Live counters, read by the progress line.
#[derive(Default)]
pub struct Counters {
    pub read: AtomicU64,
    pub sent: AtomicU64,
    pub done: AtomicU64,
    pub failed: AtomicU64,
    /// TTFT and output tokens of finished requests, for the progress line's live numbers.
    pub live: crate::progress::Live,
    /// Set by the writer when stdout is gone (`| head`): sending more would be load whose
    /// results nobody can see, so the dispatcher stops as after a signal.
    pub output_broken: Arc<std::sync::atomic::AtomicBool>,
}

/// What the dispatcher reports when it is done.
#[derive(Debug, Default)]
pub struct DispatchReport {
    /// Requests taken from the input (all shards' together).
    pub read: u64,
    /// Requests of other shards, skipped.
    pub other_shards: u64,
    /// Requests read but not sent because the run stopped (signal, bound, input error).
    pub not_sent: u64,
    /// The first unreadable input line, which ended the input.
    pub input_error: Option<String>,
    /// When the schedule's offset 0 was, as epoch ns.
    pub start_ns: u64,
}

struct Shared {
    client: LoadClient,
    labels: Labels,
    shard_label: Option<String>,
    timeout: Duration,
    keep_text: bool,
    out: std::sync::mpsc::Sender<Finished>,
    counters: Arc<Counters>,
    sessions: Arc<Sessions<Job>>,
    semaphore: Option<Arc<Semaphore>>,
    /// Closed loop only: when each slot was freed, oldest first (see the module comment).
    freed_ns: Option<std::sync::Mutex<std::collections::VecDeque<u64>>>,
    phase: watch::Receiver<Phase>,
    /// Every request task holds the `Shared`; the dispatcher waits for this sender to drop.
    _alive: mpsc::Sender<()>,
}

impl Shared {
    /// Closed loop: when the slot just taken was freed (the oldest not yet taken), or `None`
    /// outside a closed loop and for the first N slots.
    fn slot_freed_at(&self) -> Option<u64> {
        self.freed_ns.as_ref()?.lock().expect("freed slots").pop_front()
    }

    /// Closed loop: a slot is given back now.
    fn slot_freed(&self) {
        if let Some(freed) = &self.freed_ns {
            freed.lock().expect("freed slots").push_back(Clock::global().now_ns());
        }
    }
}

/// One request on its way out.
pub struct Job {
    req: Request,
    scheduled_ns: u64,
    stage: u32,
    warmup: bool,
}

impl Job {
    /// The choices the request asks for (its `n` param; 1 without one).
    fn choices(&self) -> u64 {
        self.req.params.get("n").and_then(|v| v.as_u64()).unwrap_or(1)
    }
}

/// What the dispatcher is connected to: the reader's batches of requests, the writer, the live
/// counters and the run's phase.
pub struct Wiring {
    pub input: mpsc::Receiver<Vec<crate::input::InputItem>>,
    pub out: std::sync::mpsc::Sender<Finished>,
    pub counters: Arc<Counters>,
    pub phase: watch::Receiver<Phase>,
}

pub async fn dispatch(
    plan: Plan,
    client: LoadClient,
    labels: Labels,
    keep_text: bool,
    wiring: Wiring,
) -> DispatchReport {
    let Wiring { mut input, out, counters, phase } = wiring;
    let clock = Clock::global();
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    let sessions = Arc::new(Sessions::default());
    let shared = Arc::new(Shared {
        client,
        labels,
        shard_label: plan.shard.map(|s| s.label()),
        timeout: plan.timeout,
        keep_text,
        out,
        counters: counters.clone(),
        sessions: sessions.clone(),
        semaphore: plan.concurrency.map(|n| Arc::new(Semaphore::new(n))),
        freed_ns: (plan.pacing() == Pacing::Closed).then(Default::default),
        phase: phase.clone(),
        _alive: alive_tx,
    });
    let mut phase = phase;
    let mut arrivals = Arrivals::new(plan.stages.clone(), plan.seed);
    let mut report = DispatchReport::default();
    let mut start: Option<Instant> = None;
    let mut batch = std::collections::VecDeque::new();
    let alarm = Alarm::start();

    read_ahead(&input).await;

    loop {
        if *phase.borrow() != Phase::Running || counters.output_broken.load(Ordering::Relaxed) {
            break;
        }
        if batch.is_empty() {
            let next = tokio::select! {
                biased;
                _ = phase.changed() => continue,
                next = input.recv() => next,
            };
            match next {
                Some(b) => batch.extend(b),
                None => break,
            }
        }
        let item = batch.pop_front();
        let req = match item {
            None => break,
            Some(Err(e)) => {
                report.input_error = Some(e);
                break;
            }
            Some(Ok(req)) => req,
        };
        let ready_ns = clock.now_ns();
        let stream_index = report.read;
        if plan.max_requests.is_some_and(|max| stream_index >= max) {
            break;
        }
        report.read += 1;
        counters.read.fetch_add(1, Ordering::Relaxed);
        // The clock starts when the first request is in hand, so a slow upstream producer
        // (or a dataset download) before it is not counted as lag.
        let start = *start.get_or_insert_with(|| {
            let now = Instant::now();
            report.start_ns = clock.ns_at(now);
            now
        });
        let slot = match arrivals.next(req.at_ms) {
            Ok(Some(slot)) => slot,
            Ok(None) => {
                report.read -= 1;
                break;
            }
            Err(e) => {
                report.input_error = Some(format!("request {:?}: {e:#}", req.id));
                break;
            }
        };
        let offset = slot.offset_ns.map(Duration::from_nanos);
        if let (Some(limit), Some(offset)) = (plan.duration, offset) {
            if offset >= limit {
                report.read -= 1;
                break;
            }
        }
        if !plan.shard.is_none_or(|s| s.takes(stream_index, req.session.as_deref())) {
            report.other_shards += 1;
            continue;
        }
        let warmup = plan.warmup.takes(stream_index, offset.unwrap_or_else(|| start.elapsed()));

        // Wait for the slot (open loop), then for a free concurrency slot (closed loop or cap).
        let mut due = start + offset.unwrap_or_default();
        if offset.is_some() && !alarm.wait_until(due, &mut phase).await {
            report.not_sent += 1;
            break;
        }
        if offset.is_none() {
            if let Some(limit) = plan.duration {
                if start.elapsed() >= limit {
                    report.not_sent += 1;
                    break;
                }
            }
        }
        let job = Job { req, scheduled_ns: 0, stage: slot.stage, warmup };
        let (job, history) = match job.req.session.clone() {
            None => (job, None),
            Some(session) => {
                // A busy session parks the turn before it takes a concurrency slot.
                let own = job.req.messages.clone().unwrap_or_default();
                let job = Job { scheduled_ns: clock.ns_at(due), ..job };
                match shared.sessions.admit(&session, job, &own) {
                    Admit::Parked => continue,
                    Admit::Skip(job, why) => {
                        skip(&shared, job, &why);
                        continue;
                    }
                    Admit::Send(job, messages) => (job, Some(messages)),
                }
            }
        };
        let permit = match acquire(&shared, &mut phase).await {
            Some(p) => p,
            None => {
                report.not_sent += 1;
                break;
            }
        };
        let scheduled_ns = match (offset, &shared.freed_ns) {
            (Some(_), _) => clock.ns_at(due),
            // Closed loop: due when its slot freed, or when the request was ready, if later.
            (None, Some(_)) => shared.slot_freed_at().unwrap_or(report.start_ns).max(ready_ns).max(job.scheduled_ns),
            // Burst (`--rate inf`): due the moment it was dispatched; there is no schedule.
            (None, None) => {
                due = Instant::now();
                clock.ns_at(due)
            }
        };
        let job = Job { scheduled_ns, ..job };
        tokio::spawn(fire(shared.clone(), job, history, permit));
    }

    // Requests the reader had read ahead count as read but not sent, except when the run
    // simply reached its end (stream over, or a bound that ends the schedule).
    if *phase.borrow() != Phase::Running {
        while let Ok(more) = input.try_recv() {
            batch.extend(more);
        }
        let unsent = batch.iter().filter(|item| item.is_ok()).count() as u64;
        report.read += unsent;
        report.not_sent += unsent;
    }
    drop(shared);
    // recv returns None when the last request task has dropped its `Shared`.
    let _ = alive_rx.recv().await;
    // Turns still waiting for their session when the run stopped.
    report.not_sent += sessions.parked() as u64;
    report
}

async fn acquire(shared: &Shared, phase: &mut watch::Receiver<Phase>) -> Option<Option<OwnedSemaphorePermit>> {
    let Some(sem) = &shared.semaphore else { return Some(None) };
    if let Ok(p) = sem.clone().try_acquire_owned() {
        return Some(Some(p));
    }
    loop {
        tokio::select! {
            biased;
            _ = phase.changed() => {
                if *phase.borrow() != Phase::Running {
                    return None;
                }
            }
            p = sem.clone().acquire_owned() => return Some(Some(p.expect("semaphore is never closed"))),
        }
    }
}

fn new_record(shared: &Shared, job: &Job) -> ResultRecord {
    let req = &job.req;
    ResultRecord {
        id: req.id.clone(),
        api: req.api,
        scheduled_ns: job.scheduled_ns,
        prompt_tokens: req.prompt_tokens,
        tokenizer: req.tokenizer.clone(),
        max_tokens: req.max_tokens,
        stage: Some(job.stage),
        shard: shared.shard_label.clone(),
        warmup: job.warmup,
        dataset: req.dataset.clone(),
        task: req.task.clone(),
        session: req.session.clone(),
        turn: req.turn,
        prefix: req.prefix.clone(),
        run: Some(shared.labels.run.clone()),
        tags: if req.tags.is_empty() {
            shared.labels.tags.clone()
        } else {
            // The request's own labels, then the command line's (`--tag` wins on a clash).
            let mut tags = req.tags.clone();
            tags.extend(shared.labels.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
            tags
        },
        ..Default::default()
    }
}

/// Records a turn that is not sent because an earlier turn of its session failed.
fn skip(shared: &Arc<Shared>, job: Job, why: &str) {
    let now = Clock::global().now_ns();
    let mut rec = new_record(shared, &job);
    rec.status = Status::Cancelled;
    rec.error = Some(format!("not sent: {why}"));
    rec.scheduled_ns = rec.scheduled_ns.min(now);
    rec.sent_ns = now;
    rec.done_ns = now;
    shared.counters.done.fetch_add(1, Ordering::Relaxed);
    shared.counters.failed.fetch_add(1, Ordering::Relaxed);
    let _ = shared.out.send(Finished { record: Box::new(rec), sent: false, text: None });
}

/// Sends one request, records it, and (for a session) releases the session's next turn.
fn fire(
    shared: Arc<Shared>,
    job: Job,
    messages: Option<Vec<Message>>,
    permit: Option<OwnedSemaphorePermit>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    // Boxed because a finished turn fires the next turn of its session (recursion).
    Box::pin(async move {
        let (mut rec, text) = send_one(&shared, &job, messages.as_deref()).await;
        if permit.is_some() {
            shared.slot_freed();
        }
        drop(permit);
        if let (Some(usage), Some(max)) = (&rec.usage, job.req.max_tokens) {
            // vLLM's usage counts every returned choice; `best_of` extras are not returned.
            rec.exceeded_max_tokens = u64::from(usage.completion_tokens) > u64::from(max) * job.choices();
        }
        shared.counters.done.fetch_add(1, Ordering::Relaxed);
        shared.counters.live.record(&rec);
        if rec.status != Status::Ok {
            shared.counters.failed.fetch_add(1, Ordering::Relaxed);
        }
        let next = next_turn(&shared, &job, &rec, text.as_deref());
        let done_ns = rec.done_ns;
        let _ =
            shared.out.send(Finished { record: Box::new(rec), sent: true, text: text.filter(|_| shared.keep_text) });
        release_turns(&shared, next, done_ns);
    })
}

/// Sends one request and records what came back, within the run's timeout and its phase (a
/// second signal cancels it); returns the record and choice 0's text when it is kept.
async fn send_one(shared: &Shared, job: &Job, messages: Option<&[Message]>) -> (ResultRecord, Option<String>) {
    let clock = Clock::global();
    let mut rec = new_record(shared, job);
    // One chunk per token (and a role chunk on chat): size the list once instead of growing
    // it while the stream runs; capped so a huge max_tokens does not reserve much unused.
    let expected = job.req.max_tokens.map_or(16, |t| t as u64 * job.choices() + 1).min(1024);
    rec.chunks_ns.reserve_exact(expected as usize);
    let want_text = shared.keep_text || job.req.session.is_some();
    let mut text = want_text.then(String::new);
    shared.counters.sent.fetch_add(1, Ordering::Relaxed);
    match shared.client.body(&job.req, messages) {
        Err(e) => {
            rec.sent_ns = clock.now_ns();
            rec.done_ns = rec.sent_ns;
            rec.status = Status::InvalidResponse;
            rec.error = Some(format!("request not built: {e:#}"));
        }
        Ok(body) => {
            let deadline = tokio::time::Instant::now() + shared.timeout;
            let mut phase = shared.phase.clone();
            let outcome = {
                // The run id makes the server-side id unique across runs and shards (vLLM
                // takes x-request-id as its request id; two runs reusing `r0` must not clash).
                let request_id = format!("{}-{}", shared.labels.run, job.req.id);
                let exchange = shared.client.exchange(job.req.api, &request_id, body, &mut rec, text.as_mut());
                tokio::select! {
                    biased;
                    _ = exchange => None,
                    _ = tokio::time::sleep_until(deadline) => Some(Status::Timeout),
                    _ = cancelled(&mut phase) => Some(Status::Cancelled),
                }
            };
            if let Some(status) = outcome {
                rec.done_ns = clock.now_ns();
                rec.status = status;
                rec.error = Some(match status {
                    Status::Timeout => format!(
                        "no complete response within {:?} ({} chunks received)",
                        shared.timeout,
                        rec.chunks_ns.len()
                    ),
                    _ => {
                        format!("cancelled in flight after the grace period ({} chunks received)", rec.chunks_ns.len())
                    }
                });
            }
        }
    }
    (rec, text)
}

/// The next turn of the request's session, now that this one is done (its reply goes into the
/// history), or the turns to skip when it failed.
fn next_turn(shared: &Shared, job: &Job, rec: &ResultRecord, text: Option<&str>) -> Option<Admit<Job>> {
    let session = job.req.session.as_deref()?;
    let own = job.req.messages.as_deref().unwrap_or_default();
    let reply = (rec.status == Status::Ok).then(|| text.unwrap_or_default().to_string());
    let turn = rec.turn.map_or_else(|| rec.id.clone(), |t| t.to_string());
    let failure = || format!("turn {turn} of session {session:?} failed ({})", rec.status.as_str());
    shared.sessions.finish(session, own, reply, failure, |j: &Job| j.req.messages.as_deref().unwrap_or_default())
}

/// Sends a session's released turn (due when the previous turn finished, unless its own slot is
/// later), or records the turns skipped after a failure.
fn release_turns(shared: &Arc<Shared>, next: Option<Admit<Job>>, done_ns: u64) {
    let mut next = next;
    while let Some(admit) = next.take() {
        match admit {
            Admit::Send(mut job, messages) => {
                if *shared.phase.borrow() != Phase::Running {
                    break;
                }
                job.scheduled_ns = job.scheduled_ns.max(done_ns);
                let shared = shared.clone();
                tokio::spawn(async move {
                    let mut phase = shared.phase.clone();
                    if let Some(permit) = acquire(&shared, &mut phase).await {
                        if permit.is_some() {
                            // Closed loop: waiting for a free slot is the design, not lag.
                            job.scheduled_ns = job.scheduled_ns.max(shared.slot_freed_at().unwrap_or(0));
                        }
                        fire(shared.clone(), job, Some(messages), permit).await;
                    }
                });
            }
            Admit::Skip(job, why) => {
                let session = job.req.session.clone().unwrap_or_default();
                let own = job.req.messages.clone().unwrap_or_default();
                skip(shared, job, &why);
                next = shared.sessions.finish(
                    &session,
                    &own,
                    None,
                    || why,
                    |j: &Job| j.req.messages.as_deref().unwrap_or_default(),
                );
            }
            Admit::Parked => {}
        }
    }
}

async fn cancelled(phase: &mut watch::Receiver<Phase>) {
    loop {
        if *phase.borrow_and_update() == Phase::Cancel {
            return;
        }
        if phase.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_stream_and_keep_sessions_together() {
        let shards: Vec<Shard> = (0..3).map(|i| Shard::parse(&format!("{i}/3")).unwrap()).collect();
        for i in 0..300u64 {
            assert_eq!(shards.iter().filter(|s| s.takes(i, None)).count(), 1, "request {i}");
        }
        assert!(shards[1].takes(4, None));
        // Sessions: each goes to exactly one shard, whatever the turn's position in the stream,
        // and sessions spread over all shards.
        let mut per_shard = [0; 3];
        for s in 0..300 {
            let id = format!("session-{s}");
            let owners: Vec<usize> = (0..3).filter(|&k| shards[k].takes(s as u64 * 7, Some(&id))).collect();
            assert_eq!(owners.len(), 1);
            assert!(shards[owners[0]].takes(s as u64 * 7 + 1, Some(&id)));
            per_shard[owners[0]] += 1;
        }
        assert!(per_shard.iter().all(|&n| n > 70), "{per_shard:?}");
        for bad in ["3/3", "1", "a/b", "0/0", "-1/2"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }
}
