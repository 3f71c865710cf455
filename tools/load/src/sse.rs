//! Server-sent events as OpenAI-compatible servers stream them, and what each chunk means for
//! timing.
//!
//! [`SseSplitter`] turns body frames into event payloads (the `data:` lines of one event) without
//! caring how the server cut its frames. [`classify_chunk`] reads one payload the way vLLM
//! `bench serve` does: a message with a non-empty `choices` array is a *chunk* (its arrival is a
//! TTFT/ITL point even when its text is empty, like the role-only first chat chunk), a chunk with
//! non-empty text, content or reasoning carries a *token*, and the trailing `choices: []`
//! message carries `usage`.

use sb_records::{Api, Usage};
use serde::Deserialize;
use std::borrow::Cow;

/// Splits an SSE byte stream into event payloads.
#[derive(Default)]
pub struct SseSplitter {
    /// Bytes of an incomplete line carried over from the previous frame.
    partial: Vec<u8>,
    /// `data:` lines of the event being read, joined with `\n` as the SSE spec says.
    data: Vec<u8>,
    has_data: bool,
}

impl SseSplitter {
    /// Feeds one body frame; calls `on_event` with the payload of every event it completes.
    pub fn push(&mut self, frame: &[u8], mut on_event: impl FnMut(&[u8])) {
        let mut rest = frame;
        if !self.partial.is_empty() {
            match memchr(b'\n', rest) {
                None => {
                    self.partial.extend_from_slice(rest);
                    return;
                }
                Some(i) => {
                    let mut line = std::mem::take(&mut self.partial);
                    line.extend_from_slice(&rest[..i]);
                    self.line(&line, &mut on_event);
                    line.clear();
                    self.partial = line;
                    rest = &rest[i + 1..];
                }
            }
        }
        while let Some(i) = memchr(b'\n', rest) {
            self.line(&rest[..i], &mut on_event);
            rest = &rest[i + 1..];
        }
        self.partial.extend_from_slice(rest);
    }

    fn line(&mut self, line: &[u8], on_event: &mut impl FnMut(&[u8])) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            if self.has_data {
                on_event(&self.data);
                self.data.clear();
                self.has_data = false;
            }
            return;
        }
        if let Some(value) = line.strip_prefix(b"data:") {
            let value = value.strip_prefix(b" ").unwrap_or(value);
            if self.has_data {
                self.data.push(b'\n');
            }
            self.data.extend_from_slice(value);
            self.has_data = true;
        }
        // `event:`, `id:`, `retry:` and `:` comments carry nothing an LLM server uses for tokens.
    }

    /// At a clean end of the body: an event whose `data:` lines all ended but whose blank line
    /// never came is complete, and is handed to `on_event`. A line cut in the middle stays
    /// pending (the stream was cut mid-event).
    pub fn finish(&mut self, mut on_event: impl FnMut(&[u8])) {
        if self.partial.is_empty() && self.has_data {
            on_event(&self.data);
            self.data.clear();
            self.has_data = false;
        }
    }

    /// True when bytes of an unfinished event are buffered (the stream was cut mid-event).
    pub fn has_pending(&self) -> bool {
        self.has_data || !self.partial.is_empty()
    }
}

use memchr::memchr;

/// What one streamed message says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChunkInfo {
    /// The `choices` array is non-empty: a TTFT/ITL point in vLLM's definition.
    pub has_choices: bool,
    /// Some choice carries non-empty text, content or reasoning.
    pub has_token: bool,
    pub usage: Option<Usage>,
    pub finish_reason: Option<String>,
    /// An `error` object in the stream (vLLM sends one when generation fails after the 200).
    pub error: Option<String>,
}

#[derive(Deserialize)]
struct WireChunk<'a> {
    #[serde(default, borrow)]
    choices: Vec<WireChoice<'a>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct WireChoice<'a> {
    #[serde(default)]
    index: u32,
    /// Completions API.
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    /// Chat API, streaming.
    #[serde(default, borrow)]
    delta: Option<WireDelta<'a>>,
    /// Chat API, non-streaming.
    #[serde(default, borrow)]
    message: Option<WireDelta<'a>>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WireDelta<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    /// vLLM's reasoning parsers (`reasoning_content`, renamed `reasoning` in newer versions).
    #[serde(default, borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub(crate) struct WireUsage {
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
    #[serde(default)]
    total_tokens: u32,
    #[serde(default)]
    prompt_tokens_details: Option<Details>,
    #[serde(default)]
    completion_tokens_details: Option<Details>,
}

#[derive(Deserialize)]
pub(crate) struct Details {
    #[serde(default)]
    cached_tokens: Option<u32>,
    #[serde(default)]
    reasoning_tokens: Option<u32>,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Usage {
        Usage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            total_tokens: u.total_tokens,
            cached_tokens: u.prompt_tokens_details.and_then(|d| d.cached_tokens),
            reasoning_tokens: u.completion_tokens_details.and_then(|d| d.reasoning_tokens),
        }
    }
}

/// Reads one streamed message (or a whole non-streamed response). Text of choice 0 is appended
/// to `text` when given (for the session history and the client-side token count).
pub fn classify_chunk(payload: &[u8], text: Option<&mut String>) -> Result<ChunkInfo, String> {
    let chunk: WireChunk = serde_json::from_slice(payload).map_err(|e| {
        let shown = String::from_utf8_lossy(&payload[..payload.len().min(200)]).into_owned();
        format!("unreadable chunk ({e}): {shown}")
    })?;
    let mut info = ChunkInfo {
        has_choices: !chunk.choices.is_empty(),
        usage: chunk.usage.map(Usage::from),
        error: chunk.error.map(|e| error_text(&e)),
        ..Default::default()
    };
    let mut text = text;
    for choice in &chunk.choices {
        let delta = choice.delta.as_ref().or(choice.message.as_ref());
        let pieces = [
            choice.text.as_deref(),
            delta.and_then(|d| d.reasoning_content.as_deref()),
            delta.and_then(|d| d.reasoning.as_deref()),
            delta.and_then(|d| d.content.as_deref()),
        ];
        for piece in pieces.into_iter().flatten() {
            if !piece.is_empty() {
                info.has_token = true;
                if choice.index == 0 {
                    if let Some(t) = text.as_deref_mut() {
                        t.push_str(piece);
                    }
                }
            }
        }
        if let Some(reason) = &choice.finish_reason {
            info.finish_reason = Some(reason.to_string());
        }
    }
    Ok(info)
}

/// [`scan`]'s reading of a chunk (for the tests; runs read chunks through a [`Template`]).
#[cfg(test)]
pub fn scan_chunk(p: &[u8], api: Api) -> Option<ChunkInfo> {
    scan(p, api).map(|s| s.info)
}

/// The fast path of [`classify_chunk`] for the common chunk (no usage, no error): one pass over
/// the payload that checks it is JSON and picks out what timing needs (`choices`, each choice's
/// text or delta, `finish_reason`), instead of deserializing every field. At tens of thousands
/// of chunks per second a full parse is most of the client's CPU time: serde_json's pass over
/// each chunk to check it was JSON, with a substring search per key beside it, took 80% of
/// sb-load's instructions. Returns `None` for anything it does not fully understand (usage, an
/// error, escapes in keys, control characters, non-ASCII outside valid UTF-8, unusual shapes);
/// the caller then takes the full parse, which also names what is wrong with a chunk that is
/// not JSON. When it returns `Some`, the payload is valid JSON (unit tests check both against
/// serde_json, on real chunks and on every cut and one-byte change of them).
///
/// Returns the scanner as it ended (its text span is what a [`Template`] keeps).
fn scan(p: &[u8], api: Api) -> Option<Scan<'_>> {
    // Control characters are never valid inside JSON strings, and whitespace other than spaces
    // is rare in a chunk: either takes the full parse.
    if !plain_text(p) {
        return None;
    }
    let mut s = Scan::new(p, 0, api);
    s.ws();
    s.object(Ctx::Top)?;
    s.ws();
    (s.i == p.len() && s.saw_choices).then_some(s)
}

/// No control characters, and valid UTF-8 (the check is a loop the compiler vectorizes).
fn plain_text(p: &[u8]) -> bool {
    !p.iter().fold(false, |bad, &b| bad | (b < 0x20)) && (p.is_ascii() || std::str::from_utf8(p).is_ok())
}

/// The chunks of one stream differ, as a rule, only in their text: the same id, model and
/// shape, with a new token in one string. After a chunk with exactly one text string has been
/// scanned, the next chunk that has the same bytes before and after that string is valid JSON
/// of the same meaning if what is between is a valid JSON string body (a string replaced by a
/// string keeps a document valid), so only those bytes are read. At 64 chunks a stream this
/// cut sb-load's instructions per request by more than half again.
#[derive(Default)]
pub struct Template {
    bytes: Vec<u8>,
    /// The text string's body starts at `open`; `suffix` bytes from its closing quote on.
    open: usize,
    suffix: usize,
    info: ChunkInfo,
    ready: bool,
}

impl Template {
    /// Reads `p` as [`scan_chunk`] does: through the template when it fits, by a scan
    /// otherwise (which then becomes the template).
    pub fn read(&mut self, p: &[u8], api: Api) -> Option<ChunkInfo> {
        if self.ready {
            if let Some(info) = self.fits(p) {
                return Some(info);
            }
        }
        let s = scan(p, api)?;
        self.ready = s.texts == 1;
        if self.ready {
            self.bytes.clear();
            self.bytes.extend_from_slice(p);
            self.open = s.span.0;
            self.suffix = p.len() - s.span.1;
            self.info = ChunkInfo { has_token: false, ..s.info.clone() };
        }
        Some(s.info)
    }

    fn fits(&self, p: &[u8]) -> Option<ChunkInfo> {
        let (open, suffix) = (self.open, self.suffix);
        let end = p.len().checked_sub(suffix)?;
        if end < open || p[..open] != self.bytes[..open] || p[end..] != self.bytes[self.bytes.len() - suffix..] {
            return None;
        }
        if !plain_text(&p[open..end]) {
            return None;
        }
        // The string must end exactly where the template's suffix starts.
        let (text, _) = Scan::new(p, open - 1, Api::Completions).string_at(end + 1)?;
        Some(ChunkInfo { has_token: !text.is_empty(), ..self.info.clone() })
    }
}

/// Where in a chunk an object is, for the keys that matter there.
#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Top,
    Choice,
    Delta,
    Other,
}

/// A key of a chunk, by what the full parse does with it where it is.
#[derive(Clone, Copy, PartialEq)]
enum Key {
    Choices,
    Usage,
    Index,
    /// A choice's `text` (completions).
    Text,
    Delta,
    /// A delta's text fields.
    Content,
    ReasoningContent,
    Reasoning,
    FinishReason,
    /// Read by the full parse in a way the scan does not follow.
    Unusual,
    /// Not read at all.
    Other,
}

impl Key {
    fn of(ctx: Ctx, key: &[u8], api: Api) -> Key {
        match (ctx, key) {
            (Ctx::Top, b"choices") => Key::Choices,
            (Ctx::Top, b"usage") => Key::Usage,
            (Ctx::Top, b"error") => Key::Unusual,
            (Ctx::Choice, b"index") => Key::Index,
            (Ctx::Choice, b"text") if api == Api::Completions => Key::Text,
            (Ctx::Choice, b"delta") if api == Api::Chat => Key::Delta,
            (Ctx::Choice, b"finish_reason") => Key::FinishReason,
            (Ctx::Choice, b"text" | b"delta" | b"message") => Key::Unusual,
            (Ctx::Delta, b"content") => Key::Content,
            (Ctx::Delta, b"reasoning_content") => Key::ReasoningContent,
            (Ctx::Delta, b"reasoning") => Key::Reasoning,
            _ => Key::Other,
        }
    }

    /// A bit for each key the full parse reads (it refuses a repeated one), 0 for the others.
    fn bit(self) -> u16 {
        match self {
            Key::Other | Key::Unusual => 0,
            k => 1 << (k as u8),
        }
    }
}

/// Deeper nesting than this takes the full parse.
const MAX_DEPTH: u32 = 64;

struct Scan<'a> {
    p: &'a [u8],
    i: usize,
    depth: u32,
    api: Api,
    info: ChunkInfo,
    saw_choices: bool,
    /// Text strings seen (not nulls), and where the last one's body is (for [`Template`]).
    texts: u32,
    span: (usize, usize),
}

impl<'a> Scan<'a> {
    fn new(p: &'a [u8], i: usize, api: Api) -> Scan<'a> {
        Scan { p, i, depth: 0, api, info: ChunkInfo::default(), saw_choices: false, texts: 0, span: (0, 0) }
    }

    /// The string at the cursor, which must end just before `end` (the template's suffix).
    fn string_at(mut self, end: usize) -> Option<(&'a [u8], bool)> {
        let string = self.string()?;
        (self.i == end).then_some(string)
    }

    fn peek(&self) -> Option<u8> {
        self.p.get(self.i).copied()
    }

    fn ws(&mut self) {
        while self.p.get(self.i) == Some(&b' ') {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.i += 1)
    }

    /// Opens an object or array (`open`, at most [`MAX_DEPTH`] deep); true when it closes at
    /// once (empty).
    fn open(&mut self, open: u8, close: u8) -> Option<bool> {
        self.eat(open)?;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        Some(self.close(close))
    }

    /// Whether the cursor is at `close`, taken (the container ends).
    fn close(&mut self, close: u8) -> bool {
        let closed = self.eat(close).is_some();
        if closed {
            self.depth -= 1;
        }
        closed
    }

    /// After a member or an element: `,` (more follow: false) or `close` (true).
    fn next_or_close(&mut self, close: u8) -> Option<bool> {
        self.ws();
        if self.close(close) {
            return Some(true);
        }
        self.eat(b',')?;
        Some(false)
    }

    /// `{ "key": value, ... }`, acting on the keys that matter in `ctx`.
    fn object(&mut self, ctx: Ctx) -> Option<()> {
        if self.open(b'{', b'}')? {
            return Some(());
        }
        // The keys the full parse reads, seen so far: it refuses a repeated one.
        let mut seen = 0u16;
        loop {
            self.ws();
            let (key, escaped) = self.string()?;
            if escaped {
                return None;
            }
            let key = Key::of(ctx, key, self.api);
            let bit = key.bit();
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            self.ws();
            self.eat(b':')?;
            self.ws();
            self.member(key)?;
            if self.next_or_close(b'}')? {
                return Some(());
            }
        }
    }

    fn member(&mut self, key: Key) -> Option<()> {
        match key {
            Key::Choices => {
                self.saw_choices = true;
                self.array(|s, n| {
                    s.info.has_choices |= n == 0;
                    s.object(Ctx::Choice)
                })
            }
            // Usage is read by the full parse.
            Key::Usage => self.literal(b"null"),
            Key::Text | Key::Content | Key::ReasoningContent | Key::Reasoning => self.text(),
            Key::Delta => {
                if self.peek()? == b'n' {
                    self.literal(b"null")
                } else {
                    self.object(Ctx::Delta)
                }
            }
            // The full parse reads it as a u32.
            Key::Index => {
                let start = self.i;
                while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    self.i += 1;
                }
                let digits = &self.p[start..self.i];
                let fits = std::str::from_utf8(digits).ok()?.parse::<u32>().is_ok();
                (fits && (digits.len() == 1 || digits[0] != b'0')).then_some(())
            }
            Key::FinishReason => {
                if self.peek()? == b'n' {
                    return self.literal(b"null");
                }
                let (reason, escaped) = self.string()?;
                if escaped {
                    return None;
                }
                self.info.finish_reason = Some(String::from_utf8_lossy(reason).into_owned());
                Some(())
            }
            // An error, `text` of a chat choice, `delta` of a completion, `message`: the full
            // parse reads them.
            Key::Unusual => None,
            Key::Other => self.value(),
        }
    }

    /// A text field: a string (a token when not empty) or null; anything else (content parts)
    /// takes the full parse.
    fn text(&mut self) -> Option<()> {
        if self.peek()? == b'n' {
            return self.literal(b"null");
        }
        let start = self.i + 1;
        let (t, _) = self.string()?;
        self.info.has_token |= !t.is_empty();
        self.texts += 1;
        self.span = (start, self.i - 1);
        Some(())
    }

    /// `[ item, ... ]`; `item` gets the index of the element.
    fn array(&mut self, mut item: impl FnMut(&mut Self, usize) -> Option<()>) -> Option<()> {
        if self.open(b'[', b']')? {
            return Some(());
        }
        for n in 0.. {
            self.ws();
            item(self, n)?;
            if self.next_or_close(b']')? {
                break;
            }
        }
        Some(())
    }

    /// Any JSON value, checked and skipped.
    fn value(&mut self) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(Ctx::Other),
            b'[' => self.array(|s, _| s.value()),
            b'"' => self.string().map(|_| ()),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.p[self.i..].starts_with(word).then(|| self.i += word.len())
    }

    /// `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Option<()> {
        let p = self.p;
        let digits = |i: &mut usize| {
            let start = *i;
            while p.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i > start
        };
        let mut i = self.i;
        if p.get(i) == Some(&b'-') {
            i += 1;
        }
        match p.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => {
                digits(&mut i);
            }
            _ => return None,
        }
        if p.get(i) == Some(&b'.') {
            i += 1;
            if !digits(&mut i) {
                return None;
            }
        }
        if matches!(p.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(p.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !digits(&mut i) {
                return None;
            }
        }
        self.i = i;
        Some(())
    }

    /// A string with valid escapes; returns its raw bytes between the quotes, and whether it
    /// has escapes. Strings in a chunk are short (keys, ids, a token): a byte loop beats a SIMD
    /// search's set-up on them.
    fn string(&mut self) -> Option<(&'a [u8], bool)> {
        self.eat(b'"')?;
        let p = self.p;
        let start = self.i;
        let mut i = start;
        let mut escaped = false;
        loop {
            // Eight bytes at a time to the first `"` or `\\` (the lowest byte flagged by the
            // zero-byte test is always a real match).
            while let Some(word) = p.get(i..i + 8) {
                let w = u64::from_le_bytes(word.try_into().expect("8 bytes"));
                let zero = |x: u64| x.wrapping_sub(0x0101_0101_0101_0101) & !x & 0x8080_8080_8080_8080;
                let hits = zero(w ^ 0x2222_2222_2222_2222) | zero(w ^ 0x5c5c_5c5c_5c5c_5c5c);
                if hits != 0 {
                    i += (hits.trailing_zeros() / 8) as usize;
                    break;
                }
                i += 8;
            }
            match *p.get(i)? {
                b'"' => {
                    self.i = i + 1;
                    return Some((&p[start..i], escaped));
                }
                b'\\' => {
                    escaped = true;
                    match *p.get(i + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                        b'u' => {
                            if !p.get(i + 2..i + 6)?.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            i += 6;
                        }
                        _ => return None,
                    }
                }
                _ => i += 1,
            }
        }
    }
}

/// The message of an OpenAI-style error object (`{"message": ...}` or a bare string).
pub fn error_text(e: &serde_json::Value) -> String {
    match e {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(o) => match o.get("message") {
            Some(serde_json::Value::String(m)) => m.clone(),
            _ => e.to_string(),
        },
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(frames: &[&[u8]]) -> Vec<String> {
        let mut s = SseSplitter::default();
        let mut got = Vec::new();
        for f in frames {
            s.push(f, |e| got.push(String::from_utf8(e.to_vec()).unwrap()));
        }
        got
    }

    #[test]
    fn splits_events_however_frames_are_cut() {
        let stream = b"data: {\"a\":1}\n\ndata: {\"b\":2}\r\n\r\n: keep-alive\n\ndata: [DONE]\n\n";
        let want = vec!["{\"a\":1}", "{\"b\":2}", "[DONE]"];
        assert_eq!(events(&[stream]), want);
        // Every possible cut into two frames, and byte-at-a-time.
        for cut in 0..stream.len() {
            assert_eq!(events(&[&stream[..cut], &stream[cut..]]), want, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(events(&bytes), want);
    }

    #[test]
    fn a_clean_end_completes_an_event_without_its_blank_line_but_not_a_cut_line() {
        let mut s = SseSplitter::default();
        let mut got = Vec::new();
        s.push(b"data: a\n\ndata: b\n", |e| got.push(e.to_vec()));
        s.finish(|e| got.push(e.to_vec()));
        assert_eq!(got, vec![b"a".to_vec(), b"b".to_vec()]);
        assert!(!s.has_pending());
        let mut s = SseSplitter::default();
        s.push(b"data: {\"cho", |_| panic!("no event yet"));
        s.finish(|_| panic!("a cut line is no event"));
        assert!(s.has_pending());
    }

    #[test]
    fn multi_line_data_is_joined_and_unfinished_event_is_pending() {
        let mut s = SseSplitter::default();
        let mut got = Vec::new();
        s.push(b"data:x\ndata: y\n\ndata: z", |e| got.push(e.to_vec()));
        assert_eq!(got, vec![b"x\ny".to_vec()]);
        assert!(s.has_pending());
    }

    #[test]
    fn vllm_completions_chunks() {
        let mut text = String::new();
        let c = br#"{"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":" hello","logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":null}"#;
        let info = classify_chunk(c, Some(&mut text)).unwrap();
        assert!(info.has_choices && info.has_token);
        assert_eq!(info.usage, None);
        let last = br#"{"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":"!","logprobs":null,"finish_reason":"length","stop_reason":null}],"usage":null}"#;
        assert_eq!(classify_chunk(last, Some(&mut text)).unwrap().finish_reason.as_deref(), Some("length"));
        let usage = br#"{"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":7,"total_tokens":9,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":4}}}"#;
        let info = classify_chunk(usage, Some(&mut text)).unwrap();
        assert!(!info.has_choices && !info.has_token);
        let u = info.usage.unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens), (7, 2, 9, Some(4)));
        assert_eq!(text, " hello!");
    }

    #[test]
    fn chat_role_chunk_is_a_chunk_without_a_token() {
        let role = br#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#;
        let info = classify_chunk(role, None).unwrap();
        assert!(info.has_choices);
        assert!(!info.has_token);
        let reasoning = br#"{"choices":[{"index":0,"delta":{"reasoning_content":"hmm"}}]}"#;
        assert!(classify_chunk(reasoning, None).unwrap().has_token);
        let content = "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"caf\\u00e9 \\\"x\\\"\"}}]}";
        let mut text = String::new();
        assert!(classify_chunk(content.as_bytes(), Some(&mut text)).unwrap().has_token);
        assert_eq!(text, "café \"x\"");
    }

    #[test]
    fn other_choices_count_as_tokens_but_only_choice_zero_is_kept_as_text() {
        let c = br#"{"choices":[{"index":1,"text":"b"}]}"#;
        let mut text = String::new();
        assert!(classify_chunk(c, Some(&mut text)).unwrap().has_token);
        assert_eq!(text, "");
    }

    #[test]
    fn fast_scan_agrees_with_the_full_parse() {
        let corpus: &[&[u8]] = &[
            br#"{"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":" hello","logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":null}"#,
            br#"{"id":"cmpl-1","choices":[{"index":0,"text":"","finish_reason":"length"}],"usage":null}"#,
            br#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#,
            br#"{"id":"c","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}"#,
            br#"{"id":"c","choices":[{"index":0,"delta":{"reasoning_content":"think"}}]}"#,
            br#"{"id":"c","choices":[{"index":0,"delta":{"reasoning":null,"content":null}}]}"#,
            br#"{"id": "c", "choices": [{"index": 0, "delta": {"content": "spaced \"text\": out"}, "finish_reason": "stop"}]}"#,
            br#"{"choices":[{"index":0,"text":"a"},{"index":1,"text":""}]}"#,
            br#"{"choices":[{"index":0,"text":"say \"text"}]}"#,
            br#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#,
            br#"{"choices":[{"index":0,"text":"x"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#,
            br#"{"error":{"message":"boom"}}"#,
            br#"{"choices":[{"index":0,"delta":{"content":[{"type":"text","text":"hi"}]}}]}"#,
        ];
        let mut fast = 0;
        for c in corpus {
            let full = classify_chunk(c, None);
            let api = if String::from_utf8_lossy(c).contains("\"delta\"") { Api::Chat } else { Api::Completions };
            match scan_chunk(c, api) {
                Some(info) => {
                    fast += 1;
                    assert_eq!(Ok(info), full, "{}", String::from_utf8_lossy(c));
                }
                // Only chunks with usage, an error or an unusual shape take the full parse.
                None => assert!(
                    full.as_ref().map_or(true, |f| f.usage.is_some() || f.error.is_some())
                        || String::from_utf8_lossy(c).contains("\"content\":["),
                    "{}",
                    String::from_utf8_lossy(c)
                ),
            }
        }
        assert_eq!(fast, 9);
    }

    #[test]
    fn fast_scan_accepts_only_json_and_agrees_with_the_full_parse_on_every_cut_and_change() {
        let corpus: &[&[u8]] = &[
            br#"{"id":"cmpl-1","object":"text_completion","created":1700000000,"model":"m","choices":[{"index":0,"text":" hel\"lo\u00e9","logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":null}"#,
            br#"{"id":"c","object":"chat.completion.chunk","created":-1.5e3,"choices":[{"index":0,"delta":{"role":"assistant","content":"x"},"logprobs":{"content":[{"token":"x","logprob":-0.25,"bytes":[120],"top_logprobs":[]}]},"finish_reason":"stop"}],"ok":true,"no":false}"#,
            br#"{ "choices" : [ { "index" : 0 , "text" : "" , "finish_reason" : "length" } ] , "x" : [ [ ] , { } , 0.5E+2 ] }"#,
        ];
        let json = |c: &[u8]| serde_json::from_slice::<serde::de::IgnoredAny>(c).is_ok();
        let check = |c: &[u8], template: &mut Template, api: Api| {
            for each in [Api::Completions, Api::Chat] {
                if let Some(info) = scan_chunk(c, each) {
                    assert!(json(c), "accepted a chunk that is not JSON: {}", String::from_utf8_lossy(c));
                    assert_eq!(Ok(info), classify_chunk(c, None), "{}", String::from_utf8_lossy(c));
                }
            }
            // Through the template of the unchanged chunk.
            if let Some(info) = template.fits(c) {
                assert!(json(c), "the template accepted a chunk that is not JSON: {}", String::from_utf8_lossy(c));
                assert_eq!(Ok(info), classify_chunk(c, None), "{}", String::from_utf8_lossy(c));
                assert_eq!(Some(template.fits(c).unwrap()), scan_chunk(c, api), "{}", String::from_utf8_lossy(c));
            }
        };
        let bytes = b"\"\\{}[],: 0-.eEnutfx/\x01\x7f\xc3\xff";
        let mut accepted = 0;
        let mut through_template = 0;
        for c in corpus {
            let api = if String::from_utf8_lossy(c).contains("\"delta\"") { Api::Chat } else { Api::Completions };
            let mut template = Template::default();
            assert!(template.read(c, api).is_some());
            assert!(template.ready, "{}", String::from_utf8_lossy(c));
            for cut in 0..c.len() {
                check(&c[..cut], &mut template, api);
            }
            for at in 0..c.len() {
                for &b in bytes {
                    let mut changed = c.to_vec();
                    changed[at] = b;
                    check(&changed, &mut template, api);
                    accepted += scan_chunk(&changed, Api::Completions).is_some() as usize;
                    through_template += template.fits(&changed).is_some() as usize;
                    // An inserted byte too.
                    let mut grown = c.to_vec();
                    grown.insert(at, b);
                    check(&grown, &mut template, api);
                    through_template += template.fits(&grown).is_some() as usize;
                }
            }
        }
        assert!(accepted > 1000, "the changes that keep a chunk JSON are still scanned ({accepted})");
        assert!(through_template > 50, "changes inside the text go through the template ({through_template})");
    }

    #[test]
    fn error_events_and_garbage() {
        let e = br#"{"error":{"object":"error","message":"engine died","type":"InternalServerError","code":500}}"#;
        assert_eq!(classify_chunk(e, None).unwrap().error.as_deref(), Some("engine died"));
        let err = classify_chunk(b"{not json", None).unwrap_err();
        assert!(err.contains("unreadable chunk"), "{err}");
    }
}
