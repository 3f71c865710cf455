//! The SLO of a sweep point: `--slo ttft_p99_ms=200,tpot_p99_ms=50,error_rate=0.01`.
//!
//! One spec, three kinds of term, separated by commas or spaces:
//! - `METRIC_STAT_ms=V` (or `_s`): a bound on a statistic of the point, STAT one of `p50`, `p99`,
//!   `p99.9`, ..., `mean`, `median`, read from sb-report's summary of the point (its definitions,
//!   docs/metrics.md). METRIC is one of sb-report's `--slo` metrics: ttft, tpot, itl, e2el, ntpot.
//! - `METRIC_ms=V`: a per-request objective, sb-report's `--slo` syntax, passed to sb-report as it
//!   is (sb-report parses it: tools/report/src/slo.rs); the point then needs a goodput fraction of at
//!   least `goodput` (default 0.99) of its requests meeting every such objective.
//! - `error_rate=F` (failed / all requests; default 0: any failed request fails the point) and
//!   `goodput=F` (`F` a fraction, or a percentage `95%`).

use anyhow::{bail, Context, Result};

/// The metric names of sb-report's `--slo` (tools/report/src/slo.rs, `SloMetric`), and the
/// summary object holding each metric's statistics.
const METRICS: &[(&str, &str)] =
    &[("ttft", "ttft_ms"), ("tpot", "tpot_ms"), ("itl", "itl_ms"), ("e2el", "e2el_ms"), ("ntpot", "ntpot_ms")];

/// The goodput fraction required when per-request objectives are given without `goodput=`: the
/// same strictness as a p99 bound.
pub const DEFAULT_GOODPUT: f64 = 0.99;

#[derive(Clone, Debug, PartialEq)]
pub struct Bound {
    /// As written in the point's `metrics`: `ttft_p99_ms`.
    pub name: String,
    /// The summary object (`ttft_ms`) and statistic key (`p99`, `mean`, `median`).
    pub object: &'static str,
    pub stat: String,
    pub limit_ms: f64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Slo {
    pub bounds: Vec<Bound>,
    /// Per-request objectives, for sb-report's `--slo` (empty: none).
    pub per_request: Vec<String>,
    pub max_error_rate: f64,
    pub min_goodput: Option<f64>,
    /// The spec as given.
    pub text: Option<String>,
}

impl Slo {
    pub fn parse(text: &str) -> Result<Slo> {
        let mut slo = Slo { text: Some(text.to_string()), ..Slo::default() };
        for part in text.split([',', ' ']).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .or_else(|| part.split_once(':'))
                .with_context(|| format!("--slo: {part:?} is not KEY=VALUE (e.g. ttft_p99_ms=500)"))?;
            match key {
                "error_rate" => slo.max_error_rate = fraction(key, value)?,
                "goodput" => slo.min_goodput = Some(fraction(key, value)?),
                _ => match bound(key, value)? {
                    Some(b) => slo.bounds.push(b),
                    // sb-report validates these (the sweep checks the spec with it before the first point).
                    None => slo.per_request.push(part.to_string()),
                },
            }
        }
        if slo.bounds.is_empty() && slo.per_request.is_empty() && text.trim().is_empty() {
            bail!("--slo: no objective given (e.g. --slo ttft_p99_ms=500,tpot_p99_ms=50)");
        }
        if slo.min_goodput.is_some() && slo.per_request.is_empty() {
            bail!(
                "--slo: goodput= needs per-request objectives to count good requests (e.g. ttft_ms=500,goodput=0.95)"
            );
        }
        Ok(slo)
    }

    /// The goodput fraction a point must reach, when there are per-request objectives.
    pub fn goodput_needed(&self) -> Option<f64> {
        (!self.per_request.is_empty()).then(|| self.min_goodput.unwrap_or(DEFAULT_GOODPUT))
    }

    /// Percentiles sb-report must compute for the bounds (and p50/p99 for the record).
    pub fn percentiles(&self) -> Vec<String> {
        let mut p: Vec<String> = vec!["50".into(), "99".into()];
        for b in &self.bounds {
            if let Some(x) = b.stat.strip_prefix('p') {
                if !p.iter().any(|q| q == x) {
                    p.push(x.to_string());
                }
            }
        }
        p
    }
}

/// `ttft_p99_ms=200` -> a bound; `ttft_ms=200` (no statistic) -> None (a per-request objective).
fn bound(key: &str, value: &str) -> Result<Option<Bound>> {
    let (name, scale_ms) = if let Some(n) = key.strip_suffix("_ms") {
        (n, 1.0)
    } else if let Some(n) = key.strip_suffix("_s") {
        (n, 1000.0)
    } else {
        (key, 1.0)
    };
    let Some((metric, stat)) = name.split_once('_') else { return Ok(None) };
    let Some(&(_, object)) = METRICS.iter().find(|(m, _)| *m == metric) else {
        bail!(
            "--slo: unknown metric {metric:?} in {key:?} (known: {}; and error_rate, goodput)",
            METRICS.iter().map(|m| m.0).collect::<Vec<_>>().join(", ")
        )
    };
    let stat = match stat {
        "mean" | "median" => stat.to_string(),
        "avg" => "mean".to_string(),
        p if p.starts_with('p') && p[1..].parse::<f64>().is_ok_and(|x| (0.0..=100.0).contains(&x)) => {
            // sb-report's key spelling: p99, p99.9 (no trailing zeros).
            let x: f64 = p[1..].parse().unwrap();
            if x.fract() == 0.0 {
                format!("p{}", x as i64)
            } else {
                format!("p{x}")
            }
        }
        other => bail!("--slo: {key:?}: unknown statistic {other:?} (p50, p99, p99.9, mean, median)"),
    };
    let v: f64 = value.trim().parse().with_context(|| format!("--slo: {key}: {value:?} is not a number"))?;
    if !(v.is_finite() && v >= 0.0) {
        bail!("--slo: {key} must be a non-negative number, got {value}");
    }
    Ok(Some(Bound { name: format!("{metric}_{stat}_ms"), object, stat, limit_ms: v * scale_ms }))
}

fn fraction(key: &str, value: &str) -> Result<f64> {
    let v = value.trim();
    let x = match v.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|p| p / 100.0),
        None => v.parse::<f64>(),
    }
    .with_context(|| format!("--slo: {key}: {value:?} is not a fraction (0.01) or a percentage (1%)"))?;
    if !(0.0..=1.0).contains(&x) {
        bail!("--slo: {key}={value}: must be between 0 and 1 (or 0% and 100%)");
    }
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_per_request_objectives_and_rates() {
        let s = Slo::parse("ttft_p99_ms=200,tpot_p99.9_s=0.05 e2el_mean_ms=900,ttft_ms=500,error_rate=1%").unwrap();
        assert_eq!(s.bounds.len(), 3);
        assert_eq!(
            s.bounds[0],
            Bound { name: "ttft_p99_ms".into(), object: "ttft_ms", stat: "p99".into(), limit_ms: 200.0 }
        );
        assert_eq!(
            (s.bounds[1].name.as_str(), s.bounds[1].stat.as_str(), s.bounds[1].limit_ms),
            ("tpot_p99.9_ms", "p99.9", 50.0)
        );
        assert_eq!(s.bounds[2].stat, "mean");
        assert_eq!(s.per_request, ["ttft_ms=500"]);
        assert_eq!(s.max_error_rate, 0.01);
        assert_eq!(s.goodput_needed(), Some(DEFAULT_GOODPUT));
        assert_eq!(s.percentiles(), ["50", "99", "99.9"]);
        assert_eq!(Slo::parse("ttft:500,goodput=95%").unwrap().goodput_needed(), Some(0.95));
    }

    #[test]
    fn errors_name_the_term() {
        assert!(Slo::parse("latency_p99_ms=3").unwrap_err().to_string().contains("unknown metric \"latency\""));
        assert!(Slo::parse("ttft_p999x_ms=3").unwrap_err().to_string().contains("unknown statistic"));
        assert!(Slo::parse("ttft_p99_ms=abc").unwrap_err().to_string().contains("not a number"));
        assert!(Slo::parse("error_rate=2").unwrap_err().to_string().contains("between 0 and 1"));
        assert!(Slo::parse("goodput=0.9").unwrap_err().to_string().contains("per-request"));
        assert!(Slo::parse("ttft").unwrap_err().to_string().contains("KEY=VALUE"));
    }
}
