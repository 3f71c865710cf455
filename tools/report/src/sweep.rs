//! The capacity result of an `sb-sweep` run, from its `sweep` record: the highest rate within
//! the SLO and its bracket (a search), and every point's load, achieved rate and verdict. Printed
//! after the server metrics of the text summary. The record's fields: docs/records.md.

use crate::render::text::centre;
use sb_records::SweepRecord;
use std::fmt::Write;

fn rate(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| {
        let s = format!("{r:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    })
}

/// The text block of every sweep record in the input (none: empty).
pub fn text(sweeps: &[SweepRecord]) -> String {
    let mut out = String::new();
    for s in sweeps {
        out.push('\n');
        let title = if s.interrupted { " Capacity (sb-sweep, INTERRUPTED) " } else { " Capacity (sb-sweep) " };
        out.push_str(&centre(title, '='));
        out.push('\n');
        let _ = writeln!(out, "{:<40} {:<10}", "Sweep:", format!("{} ({})", s.mode, s.run));
        let _ = writeln!(
            out,
            "{:<40} {:<10}",
            "SLO:",
            s.slo.as_deref().unwrap_or("none (a point passes without failures)")
        );
        if s.mode == "search" {
            let max = match s.max_rate_rps {
                Some(_) => rate(s.max_rate_rps),
                None => "none met the SLO".into(),
            };
            let _ = writeln!(out, "{:<40} {:<10}", "Max rate within the SLO (req/s):", max);
            if let Some(a) = s.max_rate_achieved_rps {
                let _ = writeln!(out, "{:<40} {:<10}", "  achieved there (req/s):", rate(Some(a)));
            }
            if let Some(b) = s.bracket {
                let _ = writeln!(
                    out,
                    "{:<40} {:<10}",
                    "Bracket (req/s):",
                    format!("{} .. {}", rate(b.low_rps), rate(b.high_rps))
                );
            }
            if let Some(p) = s.precision {
                let _ = writeln!(out, "{:<40} {:<10}", "Precision:", format!("{}%", p * 100.0));
            }
        }
        // The SLO metrics of the points, in a stable order.
        let mut keys: Vec<&String> = s.points.iter().flat_map(|p| p.metrics.keys()).collect();
        keys.sort();
        keys.dedup();
        let _ = write!(out, "{:<6} {:<16} {:>9} {:>9} {:>8}", "point", "load", "achieved", "req/s", "failed");
        for k in &keys {
            let _ = write!(out, " {:>12}", k);
        }
        let _ = writeln!(out, "  status");
        for p in &s.points {
            let _ = write!(
                out,
                "{:<6} {:<16} {:>9} {:>9} {:>8}",
                p.point,
                p.load,
                rate(p.achieved_rate_rps),
                rate(p.request_throughput_rps),
                p.failed
            );
            for k in &keys {
                let _ = write!(out, " {:>12}", p.metrics.get(*k).map_or("-".into(), |v| format!("{v:.2}")));
            }
            let _ = writeln!(out, "  {}", p.status);
        }
        for p in s.points.iter().filter(|p| !p.pass && !p.reasons.is_empty()) {
            let _ = writeln!(out, "  {}: {}", p.point, p.reasons.join("; "));
        }
        for n in &s.notes {
            let _ = writeln!(out, "Note: {n}");
        }
        out.push_str(&"=".repeat(50));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sb_records::{SweepBracket, SweepPoint};

    #[test]
    fn prints_the_max_rate_the_bracket_and_each_point() {
        let mut p0 = SweepPoint {
            point: "p0".into(),
            load: "poisson:10".into(),
            pass: true,
            status: "pass".into(),
            ..Default::default()
        };
        p0.metrics.insert("ttft_p99_ms".into(), 24.5);
        let p1 = SweepPoint {
            point: "p1".into(),
            load: "poisson:20".into(),
            status: "fail".into(),
            reasons: vec!["ttft_p99_ms 250 ms > 200 ms".into()],
            ..Default::default()
        };
        let s = SweepRecord {
            run: "s".into(),
            mode: "search".into(),
            slo: Some("ttft_p99_ms=200".into()),
            points: vec![p0, p1],
            max_rate_rps: Some(10.0),
            bracket: Some(SweepBracket { low_rps: Some(10.0), high_rps: Some(20.0) }),
            ..Default::default()
        };
        let t = text(&[s]);
        assert!(t.contains("Max rate within the SLO (req/s):         10 "), "{t}");
        assert!(t.contains("10 .. 20"), "{t}");
        assert!(t.contains("24.50") && t.contains("p1: ttft_p99_ms 250 ms > 200 ms"), "{t}");
        assert!(text(&[]).is_empty());
    }
}
