//! A parser for the Prometheus text exposition format (0.0.4) and OpenMetrics 1.0 text.
//!
//! Hand-written because the common crates fail on real vLLM output: `prometheus-parse` matches
//! names with `\w+` and silently drops every `vllm:` line (`:` is legal in metric names), and
//! `nom-openmetrics` stops at a HELP line ending in a space (prometheus_fastapi_instrumentator
//! writes those). See the reference notes in `docs/scrape.md`.
//!
//! The parser is lenient where real exporters are sloppy (trailing comma in a label set, space
//! after a comma, missing final newline, empty HELP, `# NOTE` comments, unknown escapes) and
//! reports, without giving up on the rest of the text, lines it cannot read.

use std::collections::{BTreeMap, HashMap};

/// Which dialect the text is in: decides the unit of explicit timestamps (milliseconds in 0.0.4,
/// seconds in OpenMetrics) and whether `# EOF` ends the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Prometheus,
    OpenMetrics,
}

impl Dialect {
    /// From an HTTP `Content-Type` header: `application/openmetrics-text` is OpenMetrics,
    /// anything else (including none) the classic text format.
    pub fn from_content_type(content_type: Option<&str>) -> Dialect {
        match content_type {
            Some(ct) if ct.trim_start().starts_with("application/openmetrics-text") => Dialect::OpenMetrics,
            _ => Dialect::Prometheus,
        }
    }
}

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedSample {
    /// The series name as written (`vllm:e2e_request_latency_seconds_bucket`).
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    /// Explicit timestamp, converted to Unix-epoch milliseconds (may be negative in theory).
    pub timestamp_ms: Option<i64>,
    /// The `# TYPE` of the family the sample belongs to, when declared.
    pub metric_type: Option<String>,
}

/// A line that could not be read.
#[derive(Clone, Debug, PartialEq)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

#[derive(Debug, Default)]
pub struct Parsed {
    pub samples: Vec<ParsedSample>,
    pub errors: Vec<LineError>,
}

/// Parses a whole exposition. Never fails as a whole: bad lines land in `errors`.
pub fn parse(text: &str, dialect: Dialect) -> Parsed {
    let mut out = Parsed::default();
    let mut types: HashMap<String, String> = HashMap::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw).trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            if comment.trim() == "EOF" && dialect == Dialect::OpenMetrics {
                break;
            }
            if let Some((name, kind)) = type_line(comment) {
                types.insert(name, kind);
            }
            continue;
        }
        match sample_line(line, dialect) {
            Ok(mut s) => {
                s.metric_type = family_type(&types, &s.name);
                out.samples.push(s);
            }
            Err(message) => out.errors.push(LineError { line: i + 1, message }),
        }
    }
    out
}

/// `# TYPE name kind` (the leading `#` already removed). HELP, UNIT and other comments give None.
fn type_line(comment: &str) -> Option<(String, String)> {
    let rest = comment.trim_start().strip_prefix("TYPE")?;
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let rest = rest.trim_start();
    let (name, rest) = if rest.starts_with('"') {
        let mut cur = Cursor::new(rest);
        let name = cur.quoted().ok()?;
        (name, cur.rest())
    } else {
        let end = rest.find([' ', '\t']).unwrap_or(rest.len());
        (rest[..end].to_string(), &rest[end..])
    };
    let kind = rest.trim();
    if name.is_empty() || kind.is_empty() {
        return None;
    }
    Some((name, kind.to_ascii_lowercase()))
}

/// The declared type of the family a series name belongs to: the name itself, or the name less
/// a suffix that the format adds to a family (`_bucket`, `_sum`, `_count`, `_total`, ...).
fn family_type(types: &HashMap<String, String>, name: &str) -> Option<String> {
    if let Some(t) = types.get(name) {
        return Some(t.clone());
    }
    const SUFFIXES: &[&str] = &["_bucket", "_sum", "_count", "_total", "_created", "_info", "_gcount", "_gsum"];
    SUFFIXES.iter().find_map(|suffix| name.strip_suffix(suffix).and_then(|base| types.get(base)).cloned())
}

fn sample_line(line: &str, dialect: Dialect) -> Result<ParsedSample, String> {
    let mut cur = Cursor::new(line);
    let mut name = cur.metric_name();
    let mut labels = BTreeMap::new();
    cur.skip_blank();
    if cur.peek() == Some(b'{') {
        cur.bump();
        loop {
            cur.skip_blank();
            match cur.peek() {
                Some(b'}') => {
                    cur.bump();
                    break;
                }
                None => return Err("label set not closed with '}'".into()),
                _ => {}
            }
            let quoted = cur.peek() == Some(b'"');
            let key = if quoted { cur.quoted()? } else { cur.label_name() };
            if key.is_empty() {
                return Err(format!("expected a label name at column {}", cur.pos + 1));
            }
            cur.skip_blank();
            if cur.peek() == Some(b'=') {
                cur.bump();
                cur.skip_blank();
                if cur.peek() != Some(b'"') {
                    return Err(format!("label {key:?}: value must be a quoted string"));
                }
                let value = cur.quoted()?;
                labels.insert(key, value);
            } else if quoted && name.is_empty() {
                // UTF-8 names (Prometheus 3): `{"my.metric", label="v"}`.
                name = key;
            } else {
                return Err(format!("label {key:?} has no '=' and value"));
            }
            cur.skip_blank();
            match cur.peek() {
                Some(b',') => cur.bump(),
                Some(b'}') => {}
                _ => return Err(format!("expected ',' or '}}' at column {}", cur.pos + 1)),
            }
        }
    }
    if name.is_empty() {
        return Err("no metric name".into());
    }
    cur.skip_blank();
    let value_token = cur.token();
    if value_token.is_empty() {
        return Err(format!("{name}: no value"));
    }
    let value = parse_value(value_token).ok_or_else(|| format!("{name}: bad value {value_token:?}"))?;
    cur.skip_blank();
    let mut timestamp_ms = None;
    if cur.peek().is_some_and(|b| b != b'#') {
        let ts = cur.token();
        timestamp_ms = Some(parse_timestamp(ts, dialect).ok_or_else(|| format!("{name}: bad timestamp {ts:?}"))?);
        cur.skip_blank();
    }
    // OpenMetrics exemplars (`# {trace_id="..."} 0.5 1520879607.789`) are not samples.
    if cur.peek().is_some_and(|b| b != b'#') {
        return Err(format!("{name}: unexpected text {:?} after the value", cur.rest()));
    }
    Ok(ParsedSample { name, labels, value, timestamp_ms, metric_type: None })
}

/// A sample value: Go `ParseFloat` syntax as the format specifies (`NaN`, `+Inf`, `-Inf`, `1e+09`).
pub fn parse_value(token: &str) -> Option<f64> {
    match token {
        "NaN" | "nan" => return Some(f64::NAN),
        "+Inf" | "Inf" | "+inf" | "inf" => return Some(f64::INFINITY),
        "-Inf" | "-inf" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    token.parse::<f64>().ok().filter(|v| !v.is_nan() || token.eq_ignore_ascii_case("nan"))
}

fn parse_timestamp(token: &str, dialect: Dialect) -> Option<i64> {
    match dialect {
        Dialect::Prometheus => token.parse::<i64>().ok().or_else(|| {
            // Some exporters write `1.395066363e+12`: accept any float of milliseconds.
            token.parse::<f64>().ok().filter(|v| v.is_finite()).map(|v| v.round() as i64)
        }),
        Dialect::OpenMetrics => {
            token.parse::<f64>().ok().filter(|v| v.is_finite()).map(|secs| (secs * 1000.0).round() as i64)
        }
    }
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Cursor { s, pos: 0 }
    }
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }
    fn bump(&mut self) {
        self.pos += 1;
    }
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }
    fn skip_blank(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }
    fn take_while(&mut self, ok: impl Fn(u8, bool) -> bool) -> &'a str {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if !ok(b, self.pos == start) {
                break;
            }
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }
    /// `[a-zA-Z_:][a-zA-Z0-9_:]*` (empty when the line starts with `{`).
    fn metric_name(&mut self) -> String {
        self.take_while(|b, first| b.is_ascii_alphabetic() || b == b'_' || b == b':' || (!first && b.is_ascii_digit()))
            .to_string()
    }
    /// `[a-zA-Z_][a-zA-Z0-9_]*`
    fn label_name(&mut self) -> String {
        self.take_while(|b, first| b.is_ascii_alphabetic() || b == b'_' || (!first && b.is_ascii_digit())).to_string()
    }
    /// Up to the next blank.
    fn token(&mut self) -> &'a str {
        self.take_while(|b, _| b != b' ' && b != b'\t')
    }
    /// A `"..."` string with `\\`, `\"` and `\n` escapes; other escapes are kept as written.
    fn quoted(&mut self) -> Result<String, String> {
        debug_assert_eq!(self.peek(), Some(b'"'));
        self.bump();
        let mut out = String::new();
        let rest = self.rest();
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, '\\')) => out.push('\\'),
                    Some((_, '"')) => out.push('"'),
                    Some((_, other)) => {
                        out.push('\\');
                        out.push(other);
                    }
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err("unterminated quoted string".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/scrape/metrics").join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn one(text: &str) -> ParsedSample {
        let p = parse(text, Dialect::Prometheus);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert_eq!(p.samples.len(), 1, "{:?}", p.samples);
        p.samples.into_iter().next().unwrap()
    }

    fn find<'a>(p: &'a Parsed, name: &str, label: (&str, &str)) -> &'a ParsedSample {
        p.samples
            .iter()
            .find(|s| s.name == name && s.labels.get(label.0).map(String::as_str) == Some(label.1))
            .unwrap_or_else(|| panic!("no {name}{{{}={:?}}}", label.0, label.1))
    }

    #[test]
    fn vllm_0_11_fixture_keeps_every_vllm_line() {
        let text = fixture("vllm-metrics-0.11.0.txt");
        let p = parse(&text, Dialect::Prometheus);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        // Every non-comment, non-blank line is a sample; none may be lost.
        let sample_lines = text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).count();
        assert_eq!(p.samples.len(), sample_lines);
        let vllm_lines = text.lines().filter(|l| l.starts_with("vllm:")).count();
        assert_eq!(p.samples.iter().filter(|s| s.name.starts_with("vllm:")).count(), vllm_lines);
        let families: std::collections::BTreeSet<&str> =
            text.lines().filter_map(|l| l.strip_prefix("# TYPE vllm:")).map(|l| l.split(' ').next().unwrap()).collect();
        assert_eq!(families.len(), 46, "the reference counts 46 vllm: families in this dump");

        let running = find(&p, "vllm:num_requests_running", ("engine", "0"));
        assert_eq!(running.labels["model_name"], "Qwen/Qwen1.5-0.5B-Chat");
        assert_eq!(running.metric_type.as_deref(), Some("gauge"));
        let created = find(&p, "vllm:prompt_tokens_created", ("engine", "0"));
        assert_eq!(created.metric_type.as_deref(), Some("gauge"), "_created is its own gauge family here");
        assert_eq!(created.value, 1.7624384230435252e9);
        let total = find(&p, "vllm:prompt_tokens_total", ("engine", "0"));
        assert_eq!(total.metric_type.as_deref(), Some("counter"));
        let inf = find(&p, "vllm:time_to_first_token_seconds_bucket", ("le", "+Inf"));
        assert_eq!(inf.metric_type.as_deref(), Some("histogram"));
        assert!(find(&p, "vllm:time_to_first_token_seconds_bucket", ("le", "0.001")).value == 0.0);
        let info = find(&p, "vllm:cache_config_info", ("engine", "0"));
        assert_eq!(info.labels["block_size"], "16");
        assert!(p.samples.iter().all(|s| s.timestamp_ms.is_none()));
    }

    #[test]
    fn cadvisor_fixture_has_millisecond_timestamps_on_every_sample() {
        let text = fixture("cadvisor-golden-testdata.txt");
        let p = parse(&text, Dialect::Prometheus);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        let sample_lines = text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).count();
        assert_eq!(p.samples.len(), sample_lines);
        let read = find(&p, "container_blkio_device_usage_total", ("operation", "Read"));
        assert_eq!(read.value, 3.0);
        assert_eq!(read.timestamp_ms, Some(1_395_066_363_000));
        assert_eq!(read.labels["container_env_foo_env"], "prod");
        assert_eq!(read.metric_type.as_deref(), Some("counter"));
        // Samples without a timestamp (cadvisor_version_info) stay without one.
        let version = p.samples.iter().find(|s| s.name == "cadvisor_version_info").unwrap();
        assert_eq!(version.timestamp_ms, None);
        for name in ["container_fs_reads_bytes_total", "container_memory_working_set_bytes", "container_threads"] {
            assert!(p.samples.iter().any(|s| s.name == name), "{name}");
        }
    }

    #[test]
    fn dcgm_fixture_with_empty_help_unlabeled_samples_and_no_final_newline() {
        let text = fixture("dcgm-exporter-datadog-fixture.txt");
        assert!(!text.ends_with('\n'));
        let p = parse(&text, Dialect::Prometheus);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        let sample_lines = text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).count();
        assert_eq!(p.samples.len(), sample_lines);
        let power = p.samples.iter().find(|s| s.name == "DCGM_FI_DEV_POWER_USAGE").unwrap();
        assert_eq!(power.value, 8.969);
        assert_eq!(power.labels["DCGM_FI_DRIVER_VERSION"], "460.106.00");
        assert_eq!(power.labels["modelName"], "Tesla T4");
        let rx = p.samples.iter().find(|s| s.name == "DCGM_FI_PROF_PCIE_RX_BYTES").unwrap();
        assert!(rx.labels.is_empty());
        assert_eq!(rx.metric_type.as_deref(), Some("counter"), "this fixture types PCIe bytes as counter");
        let dram = p.samples.iter().find(|s| s.name == "DCGM_FI_PROF_DRAM_ACTIVE").unwrap();
        assert_eq!(dram.labels["pod"], "ray-1111111");
        assert_eq!(dram.value, 0.000003);
    }

    #[test]
    fn escapes_in_label_values() {
        let s = one(r#"m{path="C:\\dir",msg="say \"hi\"\nbye",odd="a\tb"} 1"#);
        assert_eq!(s.labels["path"], r"C:\dir");
        assert_eq!(s.labels["msg"], "say \"hi\"\nbye");
        assert_eq!(s.labels["odd"], r"a\tb", "unknown escapes are kept as written");
        let s = one(r#"m{v="a}b,c=\"d\""} 2"#);
        assert_eq!(s.labels["v"], r#"a}b,c="d""#, "braces and commas inside a value");
    }

    #[test]
    fn special_values_timestamps_and_loose_syntax() {
        assert!(one("a NaN").value.is_nan());
        assert_eq!(one("a +Inf").value, f64::INFINITY);
        assert_eq!(one("a -Inf").value, f64::NEG_INFINITY);
        assert_eq!(one("a 1e+09").value, 1e9);
        assert_eq!(one("a{le=\"+Inf\"} 3").labels["le"], "+Inf");
        assert_eq!(one("a 1 -5").timestamp_ms, Some(-5));
        let s = one("  a{x=\"1\", y=\"2\",} \t 7 1395066363000  ");
        assert_eq!((s.labels.len(), s.value, s.timestamp_ms), (2, 7.0, Some(1395066363000)));
        assert_eq!(one("a{} 1\r\n").value, 1.0);
    }

    #[test]
    fn types_apply_to_histogram_and_counter_series() {
        let text = "# HELP h Latency.\n# TYPE h histogram\nh_bucket{le=\"1.0\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n# TYPE c counter\nc_total 4\nu 1\n";
        let p = parse(text, Dialect::Prometheus);
        let types: Vec<_> = p.samples.iter().map(|s| s.metric_type.as_deref()).collect();
        let h = Some("histogram");
        assert_eq!(types, vec![h, h, h, h, Some("counter"), None]);
    }

    #[test]
    fn openmetrics_seconds_timestamps_exemplars_and_eof() {
        let text = "# TYPE foo counter\n# UNIT foo seconds\nfoo_total 17.0 1520879607.789 # {id=\"x\"} 1\nfoo_created 1520430000.123\n# TYPE h histogram\nh_bucket{le=\"0.1\"} 8 # {trace_id=\"abc\"} 0.054 1520879607.7\n# EOF\nafter 1\n";
        let p = parse(text, Dialect::OpenMetrics);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert_eq!(p.samples.len(), 3, "nothing after # EOF");
        assert_eq!(p.samples[0].timestamp_ms, Some(1_520_879_607_789));
        assert_eq!(p.samples[0].metric_type.as_deref(), Some("counter"));
        assert_eq!(p.samples[1].metric_type.as_deref(), Some("counter"));
        assert_eq!(p.samples[2].value, 8.0);
        assert_eq!(
            Dialect::from_content_type(Some("application/openmetrics-text; version=1.0.0")),
            Dialect::OpenMetrics
        );
        assert_eq!(Dialect::from_content_type(Some("text/plain; version=0.0.4; charset=utf-8")), Dialect::Prometheus);
    }

    #[test]
    fn utf8_quoted_names() {
        let p = parse(
            "# TYPE \"my.metric\" gauge\n{\"my.metric\", \"error.message\"=\"Not Found\"} 5\n",
            Dialect::Prometheus,
        );
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert_eq!(p.samples[0].name, "my.metric");
        assert_eq!(p.samples[0].labels["error.message"], "Not Found");
        assert_eq!(p.samples[0].metric_type.as_deref(), Some("gauge"));
    }

    #[test]
    fn bad_lines_are_reported_and_the_rest_kept() {
        let text = "good 1\nbad{x=\"1\" 2\nworse 1 2 3\nnovalue\nalso_good 2\nm{x=1} 3\n";
        let p = parse(text, Dialect::Prometheus);
        assert_eq!(p.samples.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["good", "also_good"]);
        let lines: Vec<usize> = p.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 4, 6]);
        assert!(p.errors[3].message.contains("quoted"), "{}", p.errors[3]);
    }
}
