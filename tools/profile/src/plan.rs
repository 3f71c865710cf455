//! What a profile becomes: one sb-sample command, sb-load stages, sb-report arguments, and the
//! keys that were honoured only approximately or not at all.

use crate::profile::{Harness, Keys};

/// Where a stage's requests come from in the sampled file.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// `count` lines from line `from` (0-based): the stage sends exactly these.
    Slice { from: usize, count: usize },
    /// Lines from `from` to the end, repeated (ids get a `.<pass>` suffix) until sb-load stops
    /// reading: stages bounded by time, not by a request count.
    Cycle { from: usize },
}

#[derive(Clone, Debug)]
pub struct Stage {
    /// What the stage is, for people: `constant 2 req/s for 120 s`.
    pub label: String,
    /// sb-load arguments of this stage only.
    pub load_args: Vec<String>,
    pub input: Input,
    /// Expected duration, for the ETA (closed loops bounded by a count have none).
    pub expected_s: Option<f64>,
    /// Offered rate and concurrency, for the llm-d report's `scenario.load`.
    pub rate_qps: Option<f64>,
    pub concurrency: Option<u64>,
}

pub struct Plan {
    pub harness: Harness,
    pub sample_args: Vec<String>,
    /// sb-load arguments every stage shares (`--url`, `--model`, ...).
    pub load_args: Vec<String>,
    pub stages: Vec<Stage>,
    pub report_args: Vec<String>,
    /// `random`, `sampled`: the llm-d report's `scenario.load.standardized.source`.
    pub source: &'static str,
    pub keys: Keys,
}

impl Plan {
    /// A plan with no extra sb-report arguments, once every key of the profile is accounted for
    /// ([`Keys::finish`]).
    pub fn new(
        harness: Harness,
        sample_args: Vec<String>,
        load_args: Vec<String>,
        stages: Vec<Stage>,
        source: &'static str,
        mut keys: Keys,
    ) -> Plan {
        keys.finish();
        Plan { harness, sample_args, load_args, stages, report_args: Vec::new(), source, keys }
    }
}

/// Requests a Poisson stage of `mean` expected arrivals needs so that its duration, not its
/// input, ends it (mean + 5 standard deviations).
pub fn poisson_budget(mean: f64) -> usize {
    (mean + 5.0 * mean.sqrt() + 5.0).ceil() as usize
}

/// A length distribution in sb-sample's syntax from min/max/mean/std as inference-perf and
/// guidellm give them: normal (clamped) with a spread, fixed with a mean alone, uniform with
/// bounds alone.
pub fn len_dist(min: Option<f64>, max: Option<f64>, mean: Option<f64>, std: Option<f64>) -> Option<String> {
    let r = |x: f64| x.round().max(1.0) as u64;
    match (mean, std) {
        (Some(m), Some(s)) if s > 0.0 => {
            let lo = min.map_or(1, r);
            let hi = max.map_or(u32::MAX as u64, r);
            Some(format!("normal:{m}:{s}:{lo}:{hi}"))
        }
        (Some(m), _) => {
            let m = r(m);
            let m = min.map_or(m, |lo| m.max(r(lo)));
            Some(max.map_or(m, |hi| m.min(r(hi))).to_string())
        }
        (None, _) => match (min, max) {
            (Some(lo), Some(hi)) => Some(format!("uniform:{}:{}", r(lo), r(hi))),
            (None, Some(hi)) => Some(format!("uniform:1:{}", r(hi))),
            _ => None,
        },
    }
}

/// `2`, `0.5`: a rate or duration as sb-load's flags take it.
pub fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distributions_in_sb_sample_syntax() {
        assert_eq!(len_dist(Some(10.0), Some(8192.0), Some(4096.0), Some(2048.0)).unwrap(), "normal:4096:2048:10:8192");
        assert_eq!(len_dist(Some(10.0), Some(1024.0), None, None).unwrap(), "uniform:10:1024");
        assert_eq!(len_dist(None, None, Some(1000.0), None).unwrap(), "1000");
        assert_eq!(len_dist(None, Some(500.0), Some(1000.0), Some(0.0)).unwrap(), "500");
        assert!(len_dist(None, None, None, None).is_none());
        assert_eq!(poisson_budget(100.0), 155);
    }
}
