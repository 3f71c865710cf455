//! One duration grammar for every tool: a bare number of seconds (`2.5`), or one or more
//! `<number><unit>` parts with units `h`, `m`, `s`, `ms`, `us` (`250ms`, `90s`, `1.5m`,
//! `1m30s`, `2h`, `1h30m`). Spaces between parts are allowed. Negative durations are refused.

use std::time::Duration;

const HINT: &str = "expected e.g. 250ms, 90s, 1.5m, 1m30s or 2h (a bare number is seconds)";

/// Parses a duration; the error names the text and the accepted forms.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err(format!("bad duration {t:?}: must not be negative"));
    }
    if t.is_empty() {
        return Err(format!("empty duration; {HINT}"));
    }
    if let Ok(secs) = t.parse::<f64>() {
        return seconds(t, secs);
    }
    let mut total = 0.0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
        if num_len == 0 {
            return Err(format!("bad duration {t:?}; {HINT}"));
        }
        let value: f64 = rest[..num_len].parse().map_err(|_| format!("bad duration {t:?}; {HINT}"))?;
        let after = &rest[num_len..];
        let unit_len = after.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let scale = match &after[..unit_len] {
            "h" => 3600.0,
            "m" | "min" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "" => return Err(format!("bad duration {t:?}: a number needs a unit after the first part; {HINT}")),
            other => return Err(format!("bad duration {t:?}: unknown unit {other:?}; {HINT}")),
        };
        total += value * scale;
        rest = after[unit_len..].trim_start();
    }
    seconds(t, total)
}

/// A duration that must be more than zero (a timeout, an interval, a run length).
pub fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d.is_zero() {
        return Err(format!("duration {:?} must be more than zero", text.trim()));
    }
    Ok(d)
}

fn seconds(t: &str, secs: f64) -> Result<Duration, String> {
    if !secs.is_finite() {
        return Err(format!("bad duration {t:?}; {HINT}"));
    }
    if secs < 0.0 {
        return Err(format!("bad duration {t:?}: must not be negative"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("bad duration {t:?}: too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_form() {
        let ms = |s: &str| parse_duration(s).unwrap().as_secs_f64() * 1000.0;
        assert_eq!(ms("250ms"), 250.0);
        assert_eq!(ms("90s"), 90_000.0);
        assert_eq!(ms("1.5m"), 90_000.0);
        assert_eq!(ms("1m30s"), 90_000.0);
        assert_eq!(ms("1m 30s"), 90_000.0);
        assert_eq!(ms("2h"), 7_200_000.0);
        assert_eq!(ms("1h30m"), 5_400_000.0);
        assert_eq!(ms("2.5"), 2500.0);
        assert_eq!(ms("0"), 0.0);
        assert!((ms("500us") - 0.5).abs() < 1e-9);
    }

    #[test]
    fn bad_and_negative_forms_are_refused_with_the_text() {
        for bad in ["", "abc", "5x", "-1s", "-3", "1m30", "inf", "NaN", "1..5s"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains("duration"), "{bad}: {err}");
        }
        assert!(parse_duration("-1s").unwrap_err().contains("negative"));
        assert!(parse_positive_duration("0s").unwrap_err().contains("more than zero"));
        assert!(parse_positive_duration("0").is_err());
        assert!(parse_positive_duration("1ms").is_ok());
    }
}
