//! Service-level objectives for goodput: `--slo ttft_ms=500,tpot_ms=50`.
//!
//! A successful request is "good" when every given objective holds (`<=`), as in vLLM's
//! `--goodput` (which takes `ttft:500 tpot:50 e2el:1000` in ms; that spelling is accepted too).
//! As in vLLM, a request with one output token or fewer has TPOT 0 for this check.

use anyhow::{bail, Context, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SloMetric {
    Ttft,
    Tpot,
    /// This request's mean chunk gap (inference-perf's per-request ITL for goodput).
    Itl,
    E2el,
    Ntpot,
}

impl SloMetric {
    pub fn name(self) -> &'static str {
        match self {
            SloMetric::Ttft => "ttft",
            SloMetric::Tpot => "tpot",
            SloMetric::Itl => "itl",
            SloMetric::E2el => "e2el",
            SloMetric::Ntpot => "ntpot",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Slo {
    /// (metric, limit in ns)
    pub limits: Vec<(SloMetric, u64)>,
}

/// The per-request values an objective is checked against, in ns.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestLatency {
    pub ttft_ns: Option<u64>,
    pub tpot_ns: Option<u64>,
    pub itl_mean_ns: Option<u64>,
    pub e2el_ns: u64,
    pub ntpot_ns: Option<u64>,
}

impl Slo {
    pub fn parse(text: &str) -> Result<Slo> {
        let mut limits = Vec::new();
        for part in text.split([',', ' ']).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .or_else(|| part.split_once(':'))
                .with_context(|| format!("--slo: {part:?} is not METRIC_ms=VALUE (e.g. ttft_ms=500)"))?;
            let (name, scale_ns) = if let Some(n) = key.strip_suffix("_ms") {
                (n, 1e6)
            } else if let Some(n) = key.strip_suffix("_s") {
                (n, 1e9)
            } else {
                (key, 1e6)
            };
            let metric = match name {
                "ttft" => SloMetric::Ttft,
                "tpot" => SloMetric::Tpot,
                "itl" => SloMetric::Itl,
                "e2el" => SloMetric::E2el,
                "ntpot" => SloMetric::Ntpot,
                other => bail!("--slo: unknown metric {other:?} (known: ttft, tpot, itl, e2el, ntpot)"),
            };
            let v: f64 = value.trim().parse().with_context(|| format!("--slo: {value:?} is not a number"))?;
            if !(v.is_finite() && v >= 0.0) {
                bail!("--slo: {key} must be a non-negative number, got {value}");
            }
            limits.push((metric, (v * scale_ns).round() as u64));
        }
        if limits.is_empty() {
            bail!("--slo: no objective given (e.g. --slo ttft_ms=500,tpot_ms=50)");
        }
        Ok(Slo { limits })
    }

    pub fn is_empty(&self) -> bool {
        self.limits.is_empty()
    }

    /// True when every objective holds. A metric the request does not have (no TTFT of a
    /// non-streamed response) fails its objective: it cannot be shown to hold.
    pub fn good(&self, r: &RequestLatency) -> bool {
        self.limits.iter().all(|&(m, limit)| {
            let v = match m {
                SloMetric::Ttft => r.ttft_ns,
                SloMetric::Tpot => Some(r.tpot_ns.unwrap_or(0)),
                SloMetric::Itl => Some(r.itl_mean_ns.unwrap_or(0)),
                SloMetric::E2el => Some(r.e2el_ns),
                SloMetric::Ntpot => r.ntpot_ns,
            };
            v.is_some_and(|v| v <= limit)
        })
    }

    /// `ttft<=500ms tpot<=50ms`, for headers.
    pub fn describe(&self) -> String {
        self.limits.iter().map(|(m, ns)| format!("{}<={}ms", m.name(), *ns as f64 / 1e6)).collect::<Vec<_>>().join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_spellings() {
        let a = Slo::parse("ttft_ms=500,tpot_ms=50").unwrap();
        let b = Slo::parse("ttft:500 tpot:50").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.limits[0], (SloMetric::Ttft, 500_000_000));
        assert_eq!(Slo::parse("e2el_s=1.5").unwrap().limits[0], (SloMetric::E2el, 1_500_000_000));
        assert!(Slo::parse("latency=3").unwrap_err().to_string().contains("unknown metric"));
        assert!(Slo::parse("ttft=abc").is_err());
    }

    #[test]
    fn all_must_hold_and_tpot_defaults_to_zero() {
        let slo = Slo::parse("ttft_ms=100,tpot_ms=10").unwrap();
        let mut r = RequestLatency { ttft_ns: Some(100_000_000), tpot_ns: None, e2el_ns: 1, ..Default::default() };
        assert!(slo.good(&r));
        r.tpot_ns = Some(10_000_001);
        assert!(!slo.good(&r));
        r.tpot_ns = Some(1);
        r.ttft_ns = None;
        assert!(!slo.good(&r));
    }
}
