//! The time window to collect: from result records (first send to last completion) or from
//! explicit `--start/--end` times in the forms people paste (epoch seconds, RFC 3339, `-5m`).

use anyhow::{anyhow, bail, Context, Result};
use sb_records::{Input, Record, Window};
use std::time::Duration;

/// A duration flag, in the grammar every servebench tool shares (`sb_cli::duration`):
/// `500ms`, `15s`, `1.5m`, `1h30m`, or bare seconds (`2.5`).
pub fn parse_duration(s: &str) -> Result<Duration> {
    sb_cli::parse_duration(s).map_err(|e| anyhow!(e))
}

/// A duration that must be more than zero (a timeout, an interval, a step).
pub fn parse_positive_duration(s: &str) -> Result<Duration> {
    sb_cli::parse_positive_duration(s).map_err(|e| anyhow!(e))
}

/// A point in time, as epoch nanoseconds. Accepts `now`, a duration relative to now (`-5m`,
/// `now-5m`, `+30s`), Unix epoch seconds (`1764060000`, `1764060000.5`), epoch nanoseconds as in
/// the records (`1764060000000000000`, any integer of 17 digits or more), and RFC 3339
/// (`2026-11-25T09:00:00Z`, `2026-11-25 09:00:00.250+01:00`).
pub fn parse_time(s: &str, now_ns: u64) -> Result<u64> {
    let t = s.trim();
    let rel = t.strip_prefix("now").unwrap_or(t);
    if rel.is_empty() {
        return Ok(now_ns);
    }
    if let Some(d) = rel.strip_prefix('-') {
        let d = parse_duration(d).with_context(|| format!("bad relative time {s:?}"))?;
        return Ok(now_ns.saturating_sub(d.as_nanos() as u64));
    }
    if let Some(d) = rel.strip_prefix('+') {
        let d = parse_duration(d).with_context(|| format!("bad relative time {s:?}"))?;
        return Ok(now_ns + d.as_nanos() as u64);
    }
    if t.bytes().all(|b| b.is_ascii_digit()) && t.len() >= 17 {
        return t.parse::<u64>().map_err(|e| anyhow!("bad epoch nanoseconds {s:?}: {e}"));
    }
    if let Some(ns) = decimal_seconds_to_ns(t) {
        return Ok(ns);
    }
    parse_rfc3339(t).ok_or_else(|| {
        anyhow!("bad time {s:?}: use epoch seconds, RFC 3339 (2026-11-25T09:00:00Z) or a relative time like -5m")
    })
}

/// `1764061200.25` as exact nanoseconds (an f64 would be off by a few hundred ns at this size).
fn decimal_seconds_to_ns(t: &str) -> Option<u64> {
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut frac_ns = frac.chars().take(9).collect::<String>();
    while frac_ns.len() < 9 {
        frac_ns.push('0');
    }
    int.parse::<u64>().ok()?.checked_mul(1_000_000_000)?.checked_add(frac_ns.parse().ok()?)
}

/// RFC 3339 with `T` or a space, optional fraction, and `Z` or a `±HH:MM` offset.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut frac_ns = 0i64;
    if let Some(r) = rest.strip_prefix('.') {
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let mut text = r[..digits.min(9)].to_string();
        while text.len() < 9 {
            text.push('0');
        }
        frac_ns = text.parse().ok()?;
        rest = &r[digits..];
    }
    let offset_s = match rest {
        "Z" | "z" | "" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hm = &rest[1..];
            let (h, m) = hm.split_once(':').unwrap_or((hm.get(..2)?, hm.get(2..)?));
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    let secs = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset_s;
    u64::try_from(secs * 1_000_000_000 + frac_ns).ok()
}

pub use sb_cli::civil::{civil_from_days, days_from_civil};

/// A UTC offset: `Z`, `+02:00`, `-0530`, `+2`, or seconds (`3600`).
pub fn parse_utc_offset(s: &str) -> Result<i64> {
    let t = s.trim();
    if t == "Z" || t == "z" || t == "UTC" {
        return Ok(0);
    }
    let bad = || anyhow!("bad UTC offset {s:?}: use e.g. +02:00, -05:30 or Z");
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return t.parse::<i64>().map_err(|_| bad()),
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() == 4 => (&rest[..2], &rest[2..]),
        None => (rest, "0"),
    };
    let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 14 || m > 59 {
        return Err(bad());
    }
    Ok(sign * (h * 3600 + m * 60))
}

/// The run window of result records: from the earliest `scheduled_ns`/`sent_ns` to the latest
/// `done_ns`. Other record kinds in the file (run, samples) are ignored; a malformed line is an
/// error naming the file and line.
pub fn from_results(path: &str) -> Result<Window> {
    let input = Input::open(path).with_context(|| format!("cannot open --window file {path}"))?;
    let mut start = u64::MAX;
    let mut end = 0u64;
    let mut results = 0u64;
    for record in input.records() {
        if let Record::Result(r) = record? {
            results += 1;
            // scheduled_ns is the intended send time; a generator running late sends after it, an
            // open-loop one may send a hair before it: the window covers both.
            for t in [r.scheduled_ns, r.sent_ns] {
                if t > 0 {
                    start = start.min(t);
                }
            }
            end = end.max(r.done_ns);
        }
    }
    if results == 0 {
        bail!("{path}: no result records, so no run window (write results with sb-load, or give --start/--end)");
    }
    if start == u64::MAX || end < start {
        bail!("{path}: result records carry no usable send/done times");
    }
    Ok(Window { start_ns: start, end_ns: end })
}

/// Widens a window by `pad` on both sides.
pub fn pad(w: Window, pad: Duration) -> Window {
    let p = pad.as_nanos() as u64;
    Window { start_ns: w.start_ns.saturating_sub(p), end_ns: w.end_ns + p }
}

/// Seconds with millisecond precision, as the Prometheus API wants them.
pub fn ns_to_secs_string(ns: u64) -> String {
    format!("{}.{:03}", ns / 1_000_000_000, (ns % 1_000_000_000) / 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_764_061_200_000_000_000; // 2025-11-25T09:00:00Z

    #[test]
    fn times_in_every_accepted_form() {
        assert_eq!(parse_time("now", NOW).unwrap(), NOW);
        assert_eq!(parse_time("-5m", NOW).unwrap(), NOW - 300_000_000_000);
        assert_eq!(parse_time("now-1h30m", NOW).unwrap(), NOW - 5_400_000_000_000);
        assert_eq!(parse_time("+30s", NOW).unwrap(), NOW + 30_000_000_000);
        assert_eq!(parse_time("1764061200", NOW).unwrap(), NOW);
        assert_eq!(parse_time("1764061200.25", NOW).unwrap(), NOW + 250_000_000);
        assert_eq!(parse_time("1764061200000000000", NOW).unwrap(), NOW);
        assert_eq!(parse_time("2025-11-25T09:00:00Z", NOW).unwrap(), NOW);
        assert_eq!(parse_time("2025-11-25 10:00:00.5+01:00", NOW).unwrap(), NOW + 500_000_000);
        assert_eq!(parse_time("2025-11-25T04:30:00-04:30", NOW).unwrap(), NOW);
        assert_eq!(parse_time("1970-01-01T00:00:01Z", NOW).unwrap(), 1_000_000_000);
        for bad in ["yesterday", "2025-13-01T00:00:00Z", "-5 parsecs", "2025-11-25T09:00:00+zz"] {
            let err = parse_time(bad, NOW).unwrap_err();
            assert!(format!("{err:#}").contains(bad), "{bad}: {err:#}");
        }
    }

    #[test]
    fn civil_dates_and_offsets() {
        assert_eq!(civil_from_days(days_from_civil(2025, 11, 25)), (2025, 11, 25));
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2025, 11, 25) * 86400 + 9 * 3600, (NOW / 1_000_000_000) as i64);
        assert_eq!(parse_utc_offset("+02:00").unwrap(), 7200);
        assert_eq!(parse_utc_offset("-0530").unwrap(), -19800);
        assert_eq!(parse_utc_offset("Z").unwrap(), 0);
        assert_eq!(parse_utc_offset("+2").unwrap(), 7200);
        assert!(parse_utc_offset("+25:00").is_err() && parse_utc_offset("CET").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15s").unwrap(), Duration::from_secs(15));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2.5").unwrap(), Duration::from_millis(2500));
        assert!(parse_duration("fast").is_err());
    }

    #[test]
    fn window_from_results_ignores_other_kinds() {
        let dir = std::env::temp_dir().join(format!("sb-scrape-window-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("results.ndjson");
        let text = concat!(
            r#"{"kind":"result","v":1,"id":"a","status":"ok","scheduled_ns":2000,"sent_ns":2100,"done_ns":5000}"#,
            "\n",
            r#"{"kind":"sample","v":1,"metric":"m","ts_ns":1,"value":1,"source":"log"}"#,
            "\n",
            r#"{"kind":"result","v":1,"id":"b","status":"timeout","scheduled_ns":3000,"sent_ns":1900,"done_ns":9000}"#,
            "\n",
            r#"{"kind":"run","v":1,"run":"r","started_ns":1,"ended_ns":99999}"#,
            "\n"
        );
        std::fs::write(&path, text).unwrap();
        let w = from_results(path.to_str().unwrap()).unwrap();
        assert_eq!((w.start_ns, w.end_ns), (1900, 9000));
        let padded = pad(w, Duration::from_nanos(1000));
        assert_eq!((padded.start_ns, padded.end_ns), (900, 10000));

        std::fs::write(&path, r#"{"kind":"sample","v":1,"metric":"m","ts_ns":1,"value":1,"source":"log"}"#).unwrap();
        let err = from_results(path.to_str().unwrap()).unwrap_err();
        assert!(err.to_string().contains("no result records"), "{err}");
        std::fs::write(&path, "{\"kind\":\"result\",\"v\":1,\"id\":\"a\"}\n").unwrap();
        let err = format!("{:#}", from_results(path.to_str().unwrap()).unwrap_err());
        assert!(err.contains("results.ndjson:1"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn prometheus_time_strings() {
        assert_eq!(ns_to_secs_string(1_435_781_430_781_000_123), "1435781430.781");
        assert_eq!(ns_to_secs_string(5_000_000), "0.005");
    }
}
