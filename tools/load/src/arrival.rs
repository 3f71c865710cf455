//! Arrival processes: when each request of the stream is meant to be sent.
//!
//! A schedule is a pure function of the request stream, the load spec and the seed: every
//! request gets an offset from the start of the run, whatever shard sends it and however late
//! the generator actually is. That is what makes `scheduled_ns` an honest reference point
//! (latency from it is free of coordinated omission) and a sharded run the exact union of one
//! big schedule.
//!
//! Adding a process touches five places here: a variant of [`Process`], an arm in
//! [`Process::parse`], in its `Display` (the spec written into the run record), in
//! [`Process::rate_per_s`] (which `limits.rs` uses for how many requests could be in flight) and
//! in [`Arrivals::gap_ns`].

use anyhow::{bail, Context, Result};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Exp, Gamma};
use std::fmt;
use std::time::Duration;

/// How inter-arrival gaps are drawn at a given rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Process {
    /// Every request at once (vLLM's `--request-rate inf`); only a concurrency cap spaces them.
    Burst,
    /// Evenly spaced, gap exactly `1/rate` (vLLM `--burstiness inf`, guidellm `constant`).
    Constant { rate_per_s: f64 },
    /// Exponential gaps with mean `1/rate`.
    Poisson { rate_per_s: f64 },
    /// Gamma gaps with shape `burstiness` and mean `1/rate`, as vLLM `bench serve`:
    /// burstiness 1 is Poisson, below 1 burstier, above 1 more regular.
    Gamma { rate_per_s: f64, burstiness: f64 },
    /// Replay each request's `at_ms`, divided by `speed` (2 = twice as fast).
    Trace { speed: f64 },
}

impl Process {
    /// Parses `inf`, `R`, `constant:R`, `poisson:R`, `gamma:R:BURSTINESS`, `trace`, `trace:SPEED`.
    pub fn parse(spec: &str) -> Result<Process> {
        let parts: Vec<&str> = spec.split(':').collect();
        let rate = |s: &str| -> Result<f64> {
            let r: f64 = s.parse().with_context(|| format!("bad rate {s:?} in {spec:?} (requests per second)"))?;
            if !(r.is_finite() && r > 0.0) {
                bail!("rate must be a positive number of requests per second, got {s:?}");
            }
            Ok(r)
        };
        Ok(match parts.as_slice() {
            ["inf"] | ["burst"] => Process::Burst,
            ["trace"] => Process::Trace { speed: 1.0 },
            [r] => Process::Constant { rate_per_s: rate(r)? },
            ["constant", r] => Process::Constant { rate_per_s: rate(r)? },
            ["poisson", r] => Process::Poisson { rate_per_s: rate(r)? },
            ["gamma", r, b] => {
                let burstiness: f64 = b.parse().with_context(|| format!("bad burstiness {b:?} in {spec:?}"))?;
                if !(burstiness.is_finite() && burstiness > 0.0) {
                    bail!("burstiness must be a positive number, got {b:?}");
                }
                Process::Gamma { rate_per_s: rate(r)?, burstiness }
            }
            ["trace", s] => {
                let speed: f64 = s.parse().with_context(|| format!("bad trace speed {s:?} in {spec:?}"))?;
                if !(speed.is_finite() && speed > 0.0) {
                    bail!("trace speed must be a positive number, got {s:?}");
                }
                Process::Trace { speed }
            }
            _ => bail!(
                "bad arrival process {spec:?}; expected inf, R, constant:R, poisson:R, gamma:R:BURSTINESS, trace or trace:SPEED"
            ),
        })
    }

    /// The nominal rate, when the process has one.
    pub fn rate_per_s(&self) -> Option<f64> {
        match *self {
            Process::Constant { rate_per_s } | Process::Poisson { rate_per_s } | Process::Gamma { rate_per_s, .. } => {
                Some(rate_per_s)
            }
            Process::Burst | Process::Trace { .. } => None,
        }
    }
}

impl fmt::Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Process::Burst => write!(f, "inf"),
            Process::Constant { rate_per_s } => write!(f, "constant:{rate_per_s}"),
            Process::Poisson { rate_per_s } => write!(f, "poisson:{rate_per_s}"),
            Process::Gamma { rate_per_s, burstiness } => write!(f, "gamma:{rate_per_s}:{burstiness}"),
            Process::Trace { speed } => write!(f, "trace:{speed}"),
        }
    }
}

/// One stage of a run: a process for a duration (the last stage may be open-ended).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stage {
    pub process: Process,
    pub duration: Option<Duration>,
}

impl Stage {
    /// Parses `PROCESS@DURATION`, e.g. `poisson:20@30s`.
    pub fn parse(spec: &str) -> Result<Stage> {
        let (p, d) = spec
            .rsplit_once('@')
            .with_context(|| format!("bad stage {spec:?}; expected PROCESS@DURATION, e.g. poisson:20@30s"))?;
        let process = Process::parse(p)?;
        match process {
            Process::Trace { .. } => {
                bail!("a stage cannot replay a trace ({spec:?}); use --rate trace instead of --stage")
            }
            Process::Burst => bail!("a stage needs a rate ({spec:?}); e.g. poisson:20@30s"),
            _ => {}
        }
        Ok(Stage { process, duration: Some(parse_positive_duration(d)?) })
    }
}

impl Stage {
    /// The stage as data, for the run record (`load.arrival`).
    pub fn arrival(&self) -> sb_records::Arrival {
        let (process, rate_rps, burstiness, speed) = match self.process {
            Process::Burst => ("inf", None, None, None),
            Process::Constant { rate_per_s } => ("constant", Some(rate_per_s), None, None),
            Process::Poisson { rate_per_s } => ("poisson", Some(rate_per_s), Some(1.0), None),
            Process::Gamma { rate_per_s, burstiness } => ("gamma", Some(rate_per_s), Some(burstiness), None),
            Process::Trace { speed } => ("trace", None, None, Some(speed)),
        };
        sb_records::Arrival {
            process: process.into(),
            rate_rps,
            burstiness,
            speed,
            duration_s: self.duration.map(|d| d.as_secs_f64()),
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.duration {
            Some(d) => write!(f, "{}@{}s", self.process, d.as_secs_f64()),
            None => write!(f, "{}", self.process),
        }
    }
}

/// A duration in the grammar every servebench tool shares (`sb_cli::duration`).
pub fn parse_duration(s: &str) -> Result<Duration> {
    sb_cli::parse_duration(s).map_err(anyhow::Error::msg)
}

/// A duration that must be more than zero (a stage, a timeout, a run length).
pub fn parse_positive_duration(s: &str) -> Result<Duration> {
    sb_cli::parse_positive_duration(s).map_err(anyhow::Error::msg)
}

/// Where a request falls in the schedule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Slot {
    /// Offset from the start of the run; `None` for a burst (send as soon as a slot is free).
    pub offset_ns: Option<u64>,
    /// Index of the stage the request belongs to.
    pub stage: u32,
}

/// The seeded arrival schedule of a run, consumed one request at a time in stream order.
pub struct Arrivals {
    stages: Vec<Stage>,
    stage: usize,
    stage_start_ns: u64,
    /// Offset of the next arrival within the current stage; `None` before its first arrival.
    next_ns: Option<u64>,
    rng: StdRng,
}

impl Arrivals {
    pub fn new(stages: Vec<Stage>, seed: u64) -> Arrivals {
        assert!(!stages.is_empty());
        Arrivals { stages, stage: 0, stage_start_ns: 0, next_ns: None, rng: StdRng::seed_from_u64(seed) }
    }

    /// The slot of the next request, or `None` when the last stage has ended. `at_ms` is the
    /// request's trace offset (required by trace replay).
    pub fn next(&mut self, at_ms: Option<f64>) -> Result<Option<Slot>> {
        loop {
            let Some(stage) = self.stages.get(self.stage).copied() else { return Ok(None) };
            let end_ns = stage.duration.map(|d| self.stage_start_ns + d.as_nanos() as u64);
            let offset_ns = match stage.process {
                Process::Burst => {
                    // A burst has no clock of its own: it lasts until the stream (or a count bound)
                    // ends; a duration bound is checked against the wall clock by the dispatcher.
                    return Ok(Some(Slot { offset_ns: None, stage: self.stage as u32 }));
                }
                Process::Trace { speed } => {
                    let at_ms = at_ms.context("--rate trace needs `at_ms` on every request")?;
                    if !(at_ms.is_finite() && at_ms >= 0.0) {
                        bail!("bad at_ms {at_ms} (must be a non-negative number of milliseconds)");
                    }
                    self.stage_start_ns + (at_ms * 1e6 / speed) as u64
                }
                _ => {
                    let offset = match self.next_ns {
                        None => self.stage_start_ns,
                        Some(prev) => prev + self.gap_ns(stage.process),
                    };
                    self.next_ns = Some(offset);
                    offset
                }
            };
            match end_ns {
                Some(end) if offset_ns >= end => {
                    // The stage is over: the next one starts exactly where this one ended, so the
                    // schedule does not drift with each stage's last gap.
                    self.stage += 1;
                    self.stage_start_ns = end;
                    self.next_ns = None;
                }
                _ => return Ok(Some(Slot { offset_ns: Some(offset_ns), stage: self.stage as u32 })),
            }
        }
    }

    fn gap_ns(&mut self, process: Process) -> u64 {
        let gap_s = match process {
            Process::Constant { rate_per_s } => 1.0 / rate_per_s,
            Process::Poisson { rate_per_s } => Exp::new(rate_per_s).expect("positive rate").sample(&mut self.rng),
            Process::Gamma { rate_per_s, burstiness } => {
                // Same parameterisation as vLLM `bench serve`: shape = burstiness,
                // scale = 1 / (rate * burstiness), so the mean gap is 1/rate for any burstiness.
                Gamma::new(burstiness, 1.0 / (rate_per_s * burstiness)).expect("positive shape").sample(&mut self.rng)
            }
            Process::Burst | Process::Trace { .. } => 0.0,
        };
        (gap_s * 1e9).round() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(process: Process, n: usize, seed: u64) -> Vec<u64> {
        let mut a = Arrivals::new(vec![Stage { process, duration: None }], seed);
        (0..n).map(|_| a.next(None).unwrap().unwrap().offset_ns.unwrap()).collect()
    }

    fn gaps_s(offsets: &[u64]) -> Vec<f64> {
        offsets.windows(2).map(|w| (w[1] - w[0]) as f64 / 1e9).collect()
    }

    fn mean_cv(xs: &[f64]) -> (f64, f64) {
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        (mean, var.sqrt() / mean)
    }

    #[test]
    fn parses_every_process_and_refuses_nonsense() {
        assert_eq!(Process::parse("inf").unwrap(), Process::Burst);
        assert_eq!(Process::parse("12.5").unwrap(), Process::Constant { rate_per_s: 12.5 });
        assert_eq!(Process::parse("poisson:3").unwrap(), Process::Poisson { rate_per_s: 3.0 });
        assert_eq!(Process::parse("gamma:4:0.5").unwrap(), Process::Gamma { rate_per_s: 4.0, burstiness: 0.5 });
        assert_eq!(Process::parse("trace:2").unwrap(), Process::Trace { speed: 2.0 });
        for bad in ["", "poisson", "poisson:-1", "poisson:0", "gamma:1", "gamma:1:0", "pareto:3", "trace:0", "x"] {
            assert!(Process::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(Stage::parse("poisson:20@30s").unwrap().duration, Some(Duration::from_secs(30)));
        assert!(Stage::parse("poisson:20").is_err());
        assert!(Stage::parse("trace@30s").is_err());
        assert!(Stage::parse("inf@30s").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("-1s").is_err());
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert!(Stage::parse("poisson:2@0s").is_err());
    }

    #[test]
    fn constant_is_evenly_spaced_from_zero() {
        let o = offsets(Process::Constant { rate_per_s: 4.0 }, 5, 0);
        assert_eq!(o, vec![0, 250_000_000, 500_000_000, 750_000_000, 1_000_000_000]);
    }

    #[test]
    fn poisson_gaps_are_exponential_with_mean_one_over_rate() {
        let g = gaps_s(&offsets(Process::Poisson { rate_per_s: 100.0 }, 20_001, 7));
        let (mean, cv) = mean_cv(&g);
        // 20,000 exponential gaps: the mean is within 3% and the coefficient of variation
        // (1 for an exponential) within 5% with overwhelming probability.
        assert!((mean - 0.01).abs() < 0.0003, "mean gap {mean}");
        assert!((cv - 1.0).abs() < 0.05, "cv {cv}");
        // Memorylessness: P(gap > mean) = e^-1.
        let above = g.iter().filter(|&&x| x > 0.01).count() as f64 / g.len() as f64;
        assert!((above - (-1f64).exp()).abs() < 0.015, "P(gap > mean) = {above}");
    }

    #[test]
    fn gamma_burstiness_sets_the_coefficient_of_variation() {
        // For gamma gaps with shape k the coefficient of variation is 1/sqrt(k).
        for (k, want_cv) in [(0.25, 2.0), (4.0, 0.5)] {
            let g = gaps_s(&offsets(Process::Gamma { rate_per_s: 50.0, burstiness: k }, 40_001, 3));
            let (mean, cv) = mean_cv(&g);
            assert!((mean - 0.02).abs() < 0.001, "k={k}: mean gap {mean}");
            assert!((cv - want_cv).abs() < want_cv * 0.06, "k={k}: cv {cv}, want {want_cv}");
        }
    }

    #[test]
    fn same_seed_same_schedule_other_seed_other_schedule() {
        let p = Process::Poisson { rate_per_s: 10.0 };
        assert_eq!(offsets(p, 100, 42), offsets(p, 100, 42));
        assert_ne!(offsets(p, 100, 42), offsets(p, 100, 43));
    }

    #[test]
    fn stages_follow_each_other_and_end() {
        let stages = vec![
            Stage { process: Process::Constant { rate_per_s: 2.0 }, duration: Some(Duration::from_secs(2)) },
            Stage { process: Process::Constant { rate_per_s: 4.0 }, duration: Some(Duration::from_secs(1)) },
        ];
        let mut a = Arrivals::new(stages, 0);
        let mut got = Vec::new();
        while let Some(slot) = a.next(None).unwrap() {
            got.push((slot.offset_ns.unwrap() / 1_000_000, slot.stage));
        }
        assert_eq!(got, vec![(0, 0), (500, 0), (1000, 0), (1500, 0), (2000, 1), (2250, 1), (2500, 1), (2750, 1)]);
    }

    #[test]
    fn trace_replays_at_ms_scaled_by_speed() {
        let mut a = Arrivals::new(vec![Stage { process: Process::Trace { speed: 2.0 }, duration: None }], 0);
        assert_eq!(a.next(Some(0.0)).unwrap().unwrap().offset_ns, Some(0));
        assert_eq!(a.next(Some(1000.0)).unwrap().unwrap().offset_ns, Some(500_000_000));
        assert!(a.next(None).unwrap_err().to_string().contains("at_ms"));
    }

    #[test]
    fn burst_has_no_offset() {
        let mut a = Arrivals::new(vec![Stage { process: Process::Burst, duration: None }], 0);
        assert_eq!(a.next(None).unwrap(), Some(Slot { offset_ns: None, stage: 0 }));
    }
}
