//! NDJSON reading and writing with the contract's rules: a bad line is an error naming the
//! file and line; every record written is flushed (unless the caller batches explicitly).

use crate::record::*;
use serde::Deserialize;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;

/// A line that could not be read as a record, or an I/O error, with where it happened.
#[derive(Debug)]
pub struct ReadError {
    /// File name, or `<stdin>`.
    pub source_name: String,
    /// 1-based line number (0 when the error is not about one line).
    pub line: u64,
    pub message: String,
    /// True for I/O errors (the stream itself broke), false for a bad line.
    pub io: bool,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.source_name, self.line, self.message)
        } else {
            write!(f, "{}: {}", self.source_name, self.message)
        }
    }
}

impl std::error::Error for ReadError {}

/// An opened input: a file or stdin, with its display name.
pub struct Input {
    pub name: String,
    pub reader: Box<dyn BufRead + Send>,
}

impl Input {
    /// `-` is stdin; anything else a file path.
    pub fn open(path: &str) -> io::Result<Input> {
        if path == "-" {
            return Ok(Input {
                name: "<stdin>".into(),
                reader: Box::new(BufReader::with_capacity(1 << 16, io::stdin())),
            });
        }
        let file = File::open(Path::new(path)).map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))?;
        Ok(Input { name: path.to_string(), reader: Box::new(BufReader::with_capacity(1 << 16, file)) })
    }

    pub fn records(self) -> RecordReader<Box<dyn BufRead + Send>> {
        RecordReader::new(self.name, self.reader)
    }
}

/// Opens every path (`-` for stdin); no paths means stdin.
pub fn open_inputs(paths: &[String]) -> io::Result<Vec<Input>> {
    if paths.is_empty() {
        return Ok(vec![Input::open("-")?]);
    }
    paths.iter().map(|p| Input::open(p)).collect()
}

/// Reads records from NDJSON text, one per line. Blank lines are skipped.
pub struct RecordReader<R> {
    name: String,
    line: u64,
    inner: R,
    buf: String,
}

#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow, default)]
    kind: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    v: Option<u64>,
}

impl<R: BufRead> RecordReader<R> {
    pub fn new(name: impl Into<String>, inner: R) -> Self {
        RecordReader { name: name.into(), line: 0, inner, buf: String::with_capacity(4096) }
    }

    /// Name of the input, as used in error messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Line number of the record returned last.
    pub fn line(&self) -> u64 {
        self.line
    }

    fn err(&self, message: String) -> ReadError {
        ReadError { source_name: self.name.clone(), line: self.line, message, io: false }
    }

    /// Reads the next non-blank line; returns its kind (validated against the version this build
    /// understands). The line itself stays in the reader's buffer for [`Self::parse`].
    fn next_head(&mut self) -> Option<Result<&'static str, ReadError>> {
        match self.next_nonblank()? {
            Ok(()) => Some(self.classify()),
            Err(e) => Some(Err(e)),
        }
    }

    /// Reads the next non-blank line into the buffer.
    fn next_nonblank(&mut self) -> Option<Result<(), ReadError>> {
        loop {
            self.buf.clear();
            match self.inner.read_line(&mut self.buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => {
                    let message = if e.kind() == io::ErrorKind::InvalidData {
                        "line is not valid UTF-8".to_string()
                    } else {
                        format!("read error: {e}")
                    };
                    self.line += 1;
                    return Some(Err(ReadError { io: e.kind() != io::ErrorKind::InvalidData, ..self.err(message) }));
                }
            }
            self.line += 1;
            if self.buf.trim().is_empty() {
                continue;
            }
            return Some(Ok(()));
        }
    }

    /// The next request, read as liberally as a careful reader would: a record of kind
    /// `request`, or a plain JSON object with no `kind` (hand-written JSONL, `jq` output) that
    /// has a `prompt` or `messages`. Such a line is taken as a `request` v1: a missing `id` is
    /// `line-<N>` (its line number), a missing `api` is `chat` when it has `messages`. The flag
    /// says whether anything was assumed. A record of another kind is still refused.
    pub fn next_request(&mut self) -> Option<Result<(Request, bool), ReadError>> {
        if let Err(e) = self.next_nonblank()? {
            return Some(Err(e));
        }
        let line = self.buf.trim_end();
        if fast_head(line).is_none() {
            let value: serde_json::Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(e) => return Some(Err(self.err(format!("not a JSON object: {e}")))),
            };
            let serde_json::Value::Object(mut obj) = value else {
                return Some(Err(self.err("not a JSON object (a request is one object per line)".into())));
            };
            if !obj.contains_key("kind") {
                if !obj.contains_key("prompt") && !obj.contains_key("messages") {
                    return Some(Err(
                        self.err("line has no \"kind\" and no \"prompt\" or \"messages\": not a request".into())
                    ));
                }
                if let Some(v) = obj.remove("v") {
                    if v != serde_json::json!(1) {
                        return Some(Err(self.err(format!("a request without \"kind\" has \"v\": {v}; expected 1"))));
                    }
                }
                let no_id = obj.get("id").is_none_or(|id| id.is_null() || id.as_str() == Some(""));
                if no_id {
                    obj.insert("id".into(), format!("line-{}", self.line).into());
                } else if let Some(n) = obj.get("id").filter(|id| id.is_number()).map(|id| id.to_string()) {
                    // `"id": 7` in hand-written JSONL means the id "7".
                    obj.insert("id".into(), n.into());
                }
                if !obj.contains_key("api") && obj.contains_key("messages") {
                    obj.insert("api".into(), "chat".into());
                }
                return Some(
                    serde_json::from_value::<Request>(serde_json::Value::Object(obj))
                        .map(|r| (r, true))
                        .map_err(|e| self.err(format!("bad request line: {e}"))),
                );
            }
        }
        let kind = match self.classify() {
            Ok(k) => k,
            Err(e) => return Some(Err(e)),
        };
        if kind != Request::KIND {
            return Some(Err(self.err(format!("expected a request record, found a {kind} record"))));
        }
        Some(self.parse().map(|r| (r, false)))
    }

    fn classify(&self) -> Result<&'static str, ReadError> {
        let line = self.buf.trim_end();
        let (kind, v) = match fast_head(line) {
            Some(kv) => kv,
            None => {
                let head: Head = serde_json::from_str(line).map_err(|e| self.err(format!("not a JSON object: {e}")))?;
                let kind = head.kind.ok_or_else(|| self.err("record has no \"kind\" field".into()))?;
                let v = head.v.ok_or_else(|| self.err(format!("{kind} record has no schema version \"v\"")))?;
                match lookup_kind(&kind) {
                    Some((k, _)) => (k, v),
                    None => return Err(self.err(unknown_kind(&kind))),
                }
            }
        };
        let known = KNOWN_KINDS.iter().find(|(k, _)| *k == kind).map(|(_, v)| *v).unwrap_or(0);
        if v == 0 || v > known as u64 {
            return Err(self.err(format!(
                "{kind} record has schema version {v}; this build understands {kind} up to version {known} (upgrade servebench)"
            )));
        }
        Ok(kind)
    }

    fn parse<T: Kind>(&self) -> Result<T, ReadError> {
        let mut record: T =
            serde_json::from_str(self.buf.trim_end()).map_err(|e| self.err(format!("bad {} record: {e}", T::KIND)))?;
        record.after_read();
        Ok(record)
    }

    /// The next line as its validated kind and raw text, for readers that deserialize into a
    /// leaner type of their own (e.g. `sb-report` over millions of results). The text is valid
    /// until the next call.
    pub fn next_line(&mut self) -> Option<Result<(&'static str, &str), ReadError>> {
        match self.next_head()? {
            Ok(kind) => Some(Ok((kind, self.buf.trim_end()))),
            Err(e) => Some(Err(e)),
        }
    }

    /// An error about the line returned last, with file and line number.
    pub fn error_here(&self, message: impl Into<String>) -> ReadError {
        self.err(message.into())
    }

    /// The next record of any known kind.
    pub fn next_record(&mut self) -> Option<Result<Record, ReadError>> {
        let kind = match self.next_head()? {
            Ok(k) => k,
            Err(e) => return Some(Err(e)),
        };
        Some(match kind {
            "request" => self.parse().map(Record::Request),
            "result" => self.parse().map(|r| Record::Result(Box::new(r))),
            "sample" => self.parse().map(Record::Sample),
            "run" => self.parse().map(Record::Run),
            "summary" => self.parse().map(Record::Summary),
            "plan" => self.parse().map(Record::Plan),
            "sweep" => self.parse().map(|r| Record::Sweep(Box::new(r))),
            other => Err(self.err(unknown_kind(other))),
        })
    }

    /// The next record, which must be of kind `T`; another kind is an error naming the line.
    pub fn next_of<T: Kind>(&mut self) -> Option<Result<T, ReadError>> {
        let kind = match self.next_head()? {
            Ok(k) => k,
            Err(e) => return Some(Err(e)),
        };
        if kind != T::KIND {
            return Some(Err(self.err(format!("expected a {} record, found a {kind} record", T::KIND))));
        }
        Some(self.parse())
    }
}

impl<R: BufRead> Iterator for RecordReader<R> {
    type Item = Result<Record, ReadError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_record()
    }
}

fn lookup_kind(kind: &str) -> Option<(&'static str, u32)> {
    KNOWN_KINDS.iter().copied().find(|(k, _)| *k == kind)
}

fn unknown_kind(kind: &str) -> String {
    let known: Vec<&str> = KNOWN_KINDS.iter().map(|(k, _)| *k).collect();
    format!("unknown record kind {kind:?} (known: {})", known.join(", "))
}

/// Our writer always starts a line with `{"kind":"<k>","v":<n>`: recognise that without a full
/// parse so that big streams pay for one JSON parse per line, not two.
fn fast_head(line: &str) -> Option<(&'static str, u64)> {
    let rest = line.strip_prefix("{\"kind\":\"")?;
    let end = rest.find('"')?;
    let (kind, _) = lookup_kind(&rest[..end])?;
    let rest = rest[end + 1..].strip_prefix(",\"v\":")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || !matches!(rest.as_bytes().get(digits), Some(b',') | Some(b'}')) {
        return None;
    }
    Some((kind, rest[..digits].parse().ok()?))
}

/// Writes records as NDJSON lines, `kind` and `v` first. Each [`RecordWriter::write`] flushes,
/// so a crash or Ctrl-C loses nothing already written; [`RecordWriter::write_buffered`] lets a
/// caller that emits bursts flush once per burst.
pub struct RecordWriter<W: Write> {
    out: W,
    scratch: Vec<u8>,
}

impl RecordWriter<io::Stdout> {
    pub fn stdout() -> Self {
        RecordWriter::new(io::stdout())
    }
}

impl<W: Write> RecordWriter<W> {
    pub fn new(out: W) -> Self {
        RecordWriter { out, scratch: Vec::with_capacity(1024) }
    }

    /// Writes one record and flushes.
    pub fn write<T: Kind>(&mut self, record: &T) -> io::Result<()> {
        self.write_buffered(record)?;
        self.out.flush()
    }

    /// Writes one record without flushing.
    pub fn write_buffered<T: Kind>(&mut self, record: &T) -> io::Result<()> {
        self.scratch.clear();
        encode_into(&mut self.scratch, record)?;
        self.out.write_all(&self.scratch)
    }

    /// Writes any record and flushes.
    pub fn write_record(&mut self, record: &Record) -> io::Result<()> {
        match record {
            Record::Request(r) => self.write(r),
            Record::Result(r) => self.write(r.as_ref()),
            Record::Sample(r) => self.write(r),
            Record::Run(r) => self.write(r),
            Record::Summary(r) => self.write(r),
            Record::Plan(r) => self.write(r),
            Record::Sweep(r) => self.write(r.as_ref()),
        }
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Appends one record as an NDJSON line (with the trailing newline) to `buf`.
pub fn encode_into<T: Kind>(buf: &mut Vec<u8>, record: &T) -> io::Result<()> {
    write!(buf, "{{\"kind\":\"{}\",\"v\":{}", T::KIND, T::VERSION)?;
    let body_at = buf.len();
    serde_json::to_writer(&mut *buf, record).map_err(io::Error::other)?;
    // The body is a JSON object `{...}`: splice its fields after the header.
    if buf.len() - body_at <= 2 {
        buf.truncate(body_at);
        buf.push(b'}');
    } else {
        buf[body_at] = b',';
    }
    buf.push(b'\n');
    Ok(())
}

/// One record as an NDJSON line (with the trailing newline).
pub fn to_line<T: Kind>(record: &T) -> String {
    let mut buf = Vec::new();
    encode_into(&mut buf, record).expect("writing to memory");
    String::from_utf8(buf).expect("serde_json writes UTF-8")
}

/// True when an I/O error means the reader of our stdout went away (`| head`): stop quietly.
pub fn is_broken_pipe(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::BrokenPipe
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Summary;
    use std::collections::BTreeMap;

    fn reader(text: &str) -> RecordReader<&[u8]> {
        RecordReader::new("test.ndjson", text.as_bytes())
    }

    #[test]
    fn round_trip_every_kind() {
        let req = Request { id: "r1".into(), prompt: Some("hi".into()), max_tokens: Some(4), ..Default::default() };
        let res = ResultRecord {
            id: "r1".into(),
            status: Status::HttpError,
            http_status: Some(429),
            error: Some("too many".into()),
            scheduled_ns: 1,
            sent_ns: 2,
            done_ns: 3,
            chunks_ns: vec![10, 20],
            ..Default::default()
        };
        let sample = Sample {
            metric: "vllm:num_requests_running".into(),
            labels: BTreeMap::from([("engine".into(), "0".into())]),
            ts_ns: 5,
            value: f64::INFINITY,
            source: SampleSource::Endpoint,
            metric_type: Some("gauge".into()),
            window: None,
            target: None,
        };
        let run = RunRecord { run: "x".into(), started_ns: 1, ended_ns: 2, ..Default::default() };
        let mut text = String::new();
        text += &to_line(&req);
        text += "\n";
        text += &to_line(&res);
        text += &to_line(&sample);
        text += &to_line(&run);
        text += &to_line(&Summary::default());
        assert!(text.starts_with("{\"kind\":\"request\",\"v\":1,\"id\":\"r1\""));
        assert!(text.contains("{\"kind\":\"summary\",\"v\":1,\"definitions\":\"\","));
        assert!(text.contains("\"value\":\"+Inf\""));
        let got: Vec<Record> = reader(&text).map(|r| r.unwrap()).collect();
        assert_eq!(got.len(), 5);
        assert_eq!(got[0], Record::Request(req));
        assert_eq!(got[1], Record::Result(Box::new(res)));
        match &got[2] {
            Record::Sample(s) => assert_eq!(s.value, f64::INFINITY),
            other => panic!("{other:?}"),
        }
        assert_eq!(got[3], Record::Run(run));
        assert_eq!(got[4], Record::Summary(Summary::default()));
    }

    #[test]
    fn fields_in_any_order_and_unknown_fields_are_accepted() {
        let text = r#"{"id":"a","extra":1,"v":1,"kind":"request","prompt":"x"}"#;
        let mut r = reader(text);
        let req: Request = r.next_of().unwrap().unwrap();
        assert_eq!(req.prompt.as_deref(), Some("x"));
    }

    #[test]
    fn malformed_line_names_file_and_line() {
        let text = "{\"kind\":\"request\",\"v\":1,\"id\":\"a\"}\n\n{\"kind\":\"request\",\"v\":1,\"id\":\n";
        let mut r = reader(text);
        assert!(r.next_record().unwrap().is_ok());
        let err = r.next_record().unwrap().unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.to_string().starts_with("test.ndjson:3: "), "{err}");
    }

    #[test]
    fn missing_kind_unknown_kind_and_newer_version_are_refused() {
        let cases = [
            (r#"{"id":"a"}"#, "no \"kind\""),
            (r#"{"kind":"request","id":"a"}"#, "no schema version"),
            (r#"{"kind":"bogus","v":1}"#, "unknown record kind \"bogus\""),
            (r#"{"kind":"result","v":2,"id":"a"}"#, "schema version 2"),
            (r#"[1,2]"#, "not a JSON object"),
            (r#"{"kind":"result","v":1,"id":"a"}"#, "bad result record"),
        ];
        for (line, want) in cases {
            let err = reader(line).next_record().unwrap().unwrap_err();
            assert!(err.to_string().contains(want), "{line}: {err}");
        }
    }

    #[test]
    fn next_of_refuses_another_kind() {
        let line = r#"{"kind":"sample","v":1,"metric":"m","ts_ns":1,"value":1,"source":"log"}"#;
        let err = reader(line).next_of::<Request>().unwrap().unwrap_err();
        assert!(err.to_string().contains("expected a request record, found a sample record"), "{err}");
    }

    #[test]
    fn writer_flushes_every_record() {
        struct Counting(Vec<u8>, usize);
        impl Write for Counting {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                self.1 += 1;
                Ok(())
            }
        }
        let mut w = RecordWriter::new(Counting(Vec::new(), 0));
        for i in 0..3 {
            w.write(&Request { id: i.to_string(), ..Default::default() }).unwrap();
        }
        let c = w.into_inner();
        assert_eq!(c.1, 3);
        assert_eq!(String::from_utf8(c.0).unwrap().lines().count(), 3);
    }
}
