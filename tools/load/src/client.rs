//! One HTTP exchange with an OpenAI-compatible server, timed chunk by chunk.
//!
//! The client is built once and shared (HTTP/1.1 with keep-alive over the run's own bounded
//! connection pool, `pool.rs`; TLS by rustls when the URL is `https`), like oha and unlike tools
//! that build a session per request. hyper is used directly rather than through reqwest because
//! every byte frame must be stamped the moment it is polled, and the per-request overhead budget
//! is a few microseconds.

use crate::pool::{Checkout, Conn, Pool};
use crate::sse::{classify_chunk, SseSplitter, Template};
use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use sb_records::{Api, Clock, Message, Request, ResultRecord, Status};
use serde::ser::{SerializeMap, Serializer};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// What every request of a run shares.
pub struct ClientOptions {
    /// Base URL of the server, e.g. `http://127.0.0.1:8000` (a trailing `/v1` is accepted).
    pub url: String,
    pub model: String,
    /// Sent as `Authorization: Bearer ...`; never printed or recorded.
    pub api_key: Option<String>,
    pub headers: Vec<(String, String)>,
    pub stream: bool,
    /// Ask for `stream_options.include_usage` (the server's token counts in a final chunk).
    pub include_usage: bool,
    /// PEM file of CA certificates to trust for `https` instead of the public web roots (a
    /// server behind a private CA).
    pub ca_cert: Option<String>,
    /// Which length field a chat request carries.
    pub chat_max_tokens: ChatMaxTokens,
    /// At most this many connections open at once (`--max-connections`).
    pub max_connections: usize,
}

/// The output-length field(s) of a chat request. vLLM reads either; `transformers serve`
/// ignores `max_completion_tokens` and generates its default 1,024 tokens, so both are sent
/// unless the user says otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ChatMaxTokens {
    /// `max_completion_tokens` and `max_tokens`, with the same value.
    #[default]
    Both,
    /// `max_completion_tokens` only (OpenAI's current name; what vLLM bench serve sends).
    MaxCompletionTokens,
    /// `max_tokens` only (the older name).
    MaxTokens,
}

pub struct LoadClient {
    pool: Arc<Pool>,
    /// The path (and query) of each API below the base, as sent in the request line.
    completions_uri: Uri,
    chat_uri: Uri,
    /// The base's path, prefixed to other paths (`GET /v1/models`).
    base_path: String,
    /// Every request's headers, `Host` included (a connection-level client sets it itself).
    headers: HeaderMap,
    model: String,
    stream: bool,
    include_usage: bool,
    chat_max_tokens: ChatMaxTokens,
}

/// Connections a request is tried on when reused ones turn out closed by the server.
const MAX_SEND_ATTEMPTS: u32 = 3;

/// How long a TCP connect may take before the request fails as `connect_error` (the kernel
/// alone would wait about two minutes for a server that drops connection attempts).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest part of an error response body kept in the `error` field.
const ERROR_BODY_BYTES: usize = 512;

impl LoadClient {
    pub fn new(opts: ClientOptions) -> Result<LoadClient> {
        let base = opts.url.trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base);
        let parsed: Uri = base.parse().with_context(|| format!("--url {:?} is not a URL", opts.url))?;
        match parsed.scheme_str() {
            Some("http") | Some("https") => {}
            _ => bail!("--url {:?} must start with http:// or https://", opts.url),
        }
        let Some(authority) = parsed.authority() else {
            bail!("--url {:?} has no host", opts.url);
        };
        // Host and port only: a `user:password@` in the URL is never sent in Host, nor anywhere.
        let host_port = match authority.port_u16() {
            Some(port) => format!("{}:{port}", authority.host()),
            None => authority.host().to_string(),
        };
        let base_path = parsed.path().trim_end_matches('/').to_string();
        let uri = |path: &str| -> Result<Uri> { Ok(format!("{base_path}{path}").parse()?) };
        let target = Uri::builder()
            .scheme(parsed.scheme_str().unwrap_or("http"))
            .authority(host_port.as_str())
            .path_and_query("/")
            .build()?;

        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_str(&host_port).context("--url: the host is not a valid header")?);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let explicit_auth = opts.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("authorization"));
        if explicit_auth && opts.api_key.is_some() {
            eprintln!(
                "sb-load: the Authorization given with --header replaces the API key from the environment (neither value is shown)"
            );
        }
        if let Some(key) = opts.api_key.as_ref().filter(|_| !explicit_auth) {
            let mut v =
                HeaderValue::from_str(&format!("Bearer {key}")).context("the API key is not a valid header value")?;
            v.set_sensitive(true);
            headers.insert(AUTHORIZATION, v);
        }
        let mut explicit = HeaderMap::new();
        for (name, value) in &opts.headers {
            // The value is never echoed: it may be a token.
            let n = HeaderName::from_bytes(name.as_bytes())
                .with_context(|| format!("bad --header name {:?}", sb_cli::printable(name)))?;
            let mut v = HeaderValue::from_str(value)
                .with_context(|| format!("bad value for --header {n} (the value is not shown)"))?;
            v.set_sensitive(true);
            explicit.append(n, v);
        }
        // An explicit header replaces ours (one Authorization, never two), repeated names are
        // all sent.
        for name in explicit.keys() {
            headers.remove(name);
        }
        headers.extend(explicit);

        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.enforce_http(false);
        let tls = hyper_rustls::HttpsConnectorBuilder::new();
        let tls = match &opts.ca_cert {
            None => tls.with_webpki_roots(),
            Some(path) => tls.with_tls_config(private_ca_config(path)?),
        };
        let https = tls.https_or_http().enable_http1().wrap_connector(http);
        Ok(LoadClient {
            pool: Pool::new(https, target, opts.max_connections),
            completions_uri: uri(Api::Completions.path())?,
            chat_uri: uri(Api::Chat.path())?,
            base_path,
            headers,
            model: opts.model,
            stream: opts.stream,
            include_usage: opts.include_usage,
            chat_max_tokens: opts.chat_max_tokens,
        })
    }

    /// The run's connections (the run record's `connections`, opening them ahead).
    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    /// `GET <base><path>` as JSON, within `timeout`; the error says what went wrong in one line.
    pub async fn get_json(&self, path: &str, timeout: Duration) -> std::result::Result<serde_json::Value, String> {
        let uri: Uri = format!("{}{path}", self.base_path).parse().map_err(|e| format!("{path}: {e}"))?;
        let mut request = hyper::Request::new(Full::new(Bytes::new()));
        *request.uri_mut() = uri;
        for (name, value) in &self.headers {
            if name != CONTENT_TYPE {
                request.headers_mut().append(name, value.clone());
            }
        }
        let exchange = async {
            let mut sent_ns = 0;
            let (response, conn) = self.send(request, &mut sent_ns, &mut None).await.map_err(|(_, e)| e)?;
            let status = response.status();
            let body = response.into_body().collect().await.map_err(|e| error_chain(&e))?.to_bytes();
            self.pool.release(conn);
            if !status.is_success() {
                return Err(http_error_text(status.as_u16(), &body[..body.len().min(ERROR_BODY_BYTES)]));
            }
            serde_json::from_slice(&body).map_err(|e| format!("HTTP {} but not JSON: {e}", status.as_u16()))
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {:.0} s", timeout.as_secs_f64())),
        }
    }

    /// The model name sent in every request.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Sets the model name (when it was looked up from `/v1/models`).
    pub fn set_model(&mut self, model: String) {
        self.model = model;
    }

    /// The JSON body for `req`; `messages` replaces the request's own for a multi-turn session
    /// (history + this turn). Sampling parameters are passed through verbatim, except keys
    /// this tool sets itself.
    pub fn body(&self, req: &Request, messages: Option<&[Message]>) -> Result<Bytes> {
        let mut buf = Vec::with_capacity(256 + req.prompt.as_ref().map_or(0, |p| p.len()));
        let mut ser = serde_json::Serializer::new(&mut buf);
        let mut map = ser.serialize_map(None)?;
        map.serialize_entry("model", &self.model)?;
        let length_keys: &[&str] = match req.api {
            Api::Completions => {
                let prompt = req.prompt.as_deref().with_context(|| format!("request {:?} has no prompt", req.id))?;
                map.serialize_entry("prompt", prompt)?;
                &["max_tokens"]
            }
            Api::Chat => {
                let messages = messages
                    .or(req.messages.as_deref())
                    .with_context(|| format!("chat request {:?} has no messages", req.id))?;
                map.serialize_entry("messages", messages)?;
                // vLLM `bench serve` uses the non-deprecated chat name.
                match self.chat_max_tokens {
                    ChatMaxTokens::Both => &["max_completion_tokens", "max_tokens"],
                    ChatMaxTokens::MaxCompletionTokens => &["max_completion_tokens"],
                    ChatMaxTokens::MaxTokens => &["max_tokens"],
                }
            }
        };
        if let Some(n) = req.max_tokens {
            for key in length_keys {
                map.serialize_entry(key, &n)?;
            }
        }
        map.serialize_entry("stream", &self.stream)?;
        if self.stream && self.include_usage {
            map.serialize_entry("stream_options", &serde_json::json!({"include_usage": true}))?;
        }
        for (k, v) in &req.params {
            let ours = matches!(k.as_str(), "model" | "prompt" | "messages" | "stream")
                || (k == "stream_options" && self.stream && self.include_usage)
                || (req.max_tokens.is_some() && length_keys.contains(&k.as_str()));
            if !ours {
                map.serialize_entry(k, v)?;
            }
        }
        map.end()?;
        Ok(Bytes::from(buf))
    }

    /// Sends one request (`request_id` goes in `x-request-id`) and fills `rec` as it goes: `sent_ns`, then every timing, `usage`,
    /// `finish_reason`, and finally `status`/`error`/`done_ns`. If the future is dropped (timeout,
    /// cancel), what `rec` holds so far stays valid. Choice 0's text goes to `text` when given.
    pub async fn exchange(
        &self,
        api: Api,
        request_id: &str,
        body: Bytes,
        rec: &mut ResultRecord,
        text: Option<&mut String>,
    ) {
        let clock = Clock::global();
        let uri = match api {
            Api::Completions => self.completions_uri.clone(),
            Api::Chat => self.chat_uri.clone(),
        };
        let mut request = hyper::Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        *request.headers_mut() = self.headers.clone();
        if let Ok(v) = HeaderValue::from_str(request_id) {
            request.headers_mut().insert("x-request-id", v);
        }
        let (response, conn) = match self.send(request, &mut rec.sent_ns, &mut rec.connected_ns).await {
            Ok(sent) => sent,
            Err((status, error)) => {
                rec.done_ns = clock.now_ns();
                rec.status = status;
                rec.error = Some(error);
                return;
            }
        };
        rec.first_byte_ns = Some(clock.now_ns());
        let status = response.status();
        rec.http_status = Some(status.as_u16());
        let body = response.into_body();
        let clean_end = if !status.is_success() {
            read_error(body, status.as_u16(), rec).await
        } else if !self.stream {
            read_whole(body, rec, text).await
        } else {
            read_stream(body, api, rec, text).await
        };
        if clean_end {
            self.pool.release(conn);
        } else {
            self.pool.discard(conn);
        }
    }

    /// Sends `request` on a connection of the pool and returns the response head. `sent_ns` ends
    /// as the time of the request's last write to the socket (what the wire sees): every wait
    /// before it, for a free connection under `--max-connections` or for a new connection's
    /// set-up, is the client's own delay, counted as send lateness and kept out of TTFT. Until
    /// the write it holds the moment the request was handed over (a request that never went
    /// out keeps that). `connected_ns` is set when the request waited for a new connection.
    async fn send(
        &self,
        mut request: hyper::Request<Full<Bytes>>,
        sent_ns: &mut u64,
        connected_ns: &mut Option<u64>,
    ) -> std::result::Result<(hyper::Response<Incoming>, Conn), (Status, String)> {
        let clock = Clock::global();
        // A retry on another connection keeps the first stamp.
        let stamp = |at: &mut u64| {
            if *at == 0 {
                *at = clock.now_ns();
            }
        };
        let mut attempts = 0;
        loop {
            let mut conn = match self.pool.checkout() {
                Checkout::Ready(conn) => {
                    stamp(sent_ns);
                    conn
                }
                Checkout::Wait { rx, at_cap } => {
                    if !at_cap {
                        stamp(sent_ns);
                    }
                    let got = rx.await.unwrap_or_else(|_| Err("the connection pool shut down".into()));
                    if at_cap {
                        stamp(sent_ns);
                    }
                    match got {
                        Ok(conn) => conn,
                        Err(e) => return Err((Status::ConnectError, sb_cli::printable(&e))),
                    }
                }
            };
            let fresh = conn.connected_ns.take().filter(|&at| at >= *sent_ns);
            let wrote = conn.wrote_ns.clone();
            let wrote_before = wrote.load(Ordering::Relaxed);
            // The request's send time is its last write to the socket (hyper writes it from
            // the connection's task, later than the hand-over stamped above).
            let on_the_wire = |sent_ns: &mut u64| {
                let at = wrote.load(Ordering::Relaxed);
                if at != wrote_before {
                    *sent_ns = at;
                }
            };
            // An idle connection can be closed by the server just as it is taken (uvicorn closes
            // idle ones after 5 s): a request it never carried goes on another connection, a few
            // times at most. A new connection that fails so is the server refusing connections.
            let retry = conn.reused && attempts < MAX_SEND_ATTEMPTS;
            attempts += 1;
            if conn.send.ready().await.is_err() {
                self.pool.discard(conn);
                if retry {
                    continue;
                }
                return Err((
                    Status::ConnectError,
                    "the server closed the connection before the request could be sent".into(),
                ));
            }
            match conn.send.try_send_request(request).await {
                Ok(response) => {
                    on_the_wire(sent_ns);
                    *connected_ns = fresh;
                    return Ok((response, conn));
                }
                Err(mut e) => {
                    let unsent = e.take_message();
                    let error = e.into_error();
                    self.pool.discard(conn);
                    match unsent {
                        Some(again) if retry => request = again,
                        _ => {
                            on_the_wire(sent_ns);
                            // A server that refuses a request mid-body (413) and resets the
                            // connection can lose its own answer in the kernel before anyone
                            // reads it.
                            return Err((
                                Status::StreamCut,
                                format!(
                                    "{} (the connection broke before a response head was read; a server that refused the request and reset the connection may have answered with a status that was lost)",
                                    sb_cli::printable(&error_chain(&error))
                                ),
                            ));
                        }
                    }
                }
            }
        }
    }
}

/// Reads up to [`ERROR_BODY_BYTES`] of an error response into `rec.error`; true when the body
/// was read to its end (the connection can carry another request).
async fn read_error(mut body: Incoming, code: u16, rec: &mut ResultRecord) -> bool {
    let mut snippet = Vec::new();
    let mut clean_end = false;
    loop {
        match body.frame().await {
            None => {
                clean_end = true;
                break;
            }
            Some(Err(_)) => break,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    snippet.extend_from_slice(&data[..data.len().min(ERROR_BODY_BYTES - snippet.len())]);
                    if snippet.len() >= ERROR_BODY_BYTES {
                        break;
                    }
                }
            }
        }
    }
    rec.done_ns = Clock::global().now_ns();
    rec.status = Status::HttpError;
    rec.error = Some(http_error_text(code, &snippet));
    clean_end
}

/// A whole (not streamed) response: usage, finish_reason and the end time.
async fn read_whole(body: Incoming, rec: &mut ResultRecord, text: Option<&mut String>) -> bool {
    let collected = body.collect().await;
    rec.done_ns = Clock::global().now_ns();
    match collected {
        Err(e) => {
            rec.status = Status::StreamCut;
            rec.error = Some(format!("response body cut: {}", sb_cli::printable(&error_chain(&e))));
            false
        }
        Ok(all) => {
            match classify_chunk(&all.to_bytes(), text) {
                Ok(info) => {
                    rec.end_ns = Some(rec.done_ns);
                    rec.usage = info.usage;
                    rec.finish_reason = info.finish_reason;
                    if let Some(err) = info.error {
                        rec.status = Status::InvalidResponse;
                        rec.error = Some(sb_cli::printable(&format!("server error: {err}")));
                    } else if !info.has_choices {
                        rec.status = Status::InvalidResponse;
                        rec.error = Some("response has no choices".into());
                    }
                }
                Err(e) => {
                    rec.status = Status::InvalidResponse;
                    rec.error = Some(sb_cli::printable(&e));
                }
            }
            true
        }
    }
}

/// A streamed response, every event stamped as its frame is polled; true when the body ended
/// cleanly.
async fn read_stream(mut body: Incoming, api: Api, rec: &mut ResultRecord, text: Option<&mut String>) -> bool {
    let clock = Clock::global();
    let mut sse = SseSplitter::default();
    let mut stream =
        StreamState { api, done: false, failure: None, events: 0, head: Vec::new(), template: Template::default() };
    let mut text = text;
    let mut cut = None;
    loop {
        let frame = match body.frame().await {
            None => break,
            Some(Err(e)) => {
                cut = Some(format!("stream cut: {}", error_chain(&e)));
                break;
            }
            Some(Ok(frame)) => frame,
        };
        let Ok(data) = frame.into_data() else { continue };
        let at_ns = clock.now_ns();
        sse.push(&data, |payload| stream.event(payload, at_ns, rec, text.as_deref_mut()));
        // Kept only while no event has come (for the error when the body is not a stream at
        // all), so a normal stream never copies it.
        if stream.events == 0 && stream.head.len() < ERROR_BODY_BYTES {
            stream.head.extend_from_slice(&data[..data.len().min(ERROR_BODY_BYTES - stream.head.len())]);
        }
    }
    rec.done_ns = clock.now_ns();
    let clean_end = cut.is_none();
    if clean_end {
        // A clean end of the body completes a last event whose blank line never came.
        let at_ns = rec.done_ns;
        sse.finish(|payload| stream.event(payload, at_ns, rec, text.as_deref_mut()));
    }
    let (status, error) = match (stream.failure.take(), cut) {
        (Some(failure), _) => failure,
        (None, Some(cut)) => (Status::StreamCut, cut),
        (None, None) if stream.done => return clean_end,
        (None, None) if stream.events == 0 && !stream.head.is_empty() && !looks_like_sse(&stream.head) => (
            Status::InvalidResponse,
            format!("the 200 response is not an event stream: {}", String::from_utf8_lossy(&stream.head).trim()),
        ),
        // Some servers (transformers serve) end a complete stream without `[DONE]`: once a
        // choice has carried its finish_reason, the body's clean end is the end of the
        // stream, as vLLM bench serve takes it.
        (None, None) if rec.finish_reason.is_some() && !sse.has_pending() => {
            STREAMS_WITHOUT_DONE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return clean_end;
        }
        (None, None) => (
            Status::StreamCut,
            format!(
                "stream ended without [DONE] or a finish_reason after {} chunks{}",
                rec.chunks_ns.len(),
                if sse.has_pending() { " (mid-event)" } else { "" }
            ),
        ),
    };
    rec.status = status;
    rec.error = Some(sb_cli::printable(&error));
    clean_end
}

/// Streams that ended cleanly after a finish_reason but without `[DONE]`, taken as complete
/// (the run record and the summary line say how many).
pub static STREAMS_WITHOUT_DONE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// What one streamed response has said so far.
struct StreamState {
    api: Api,
    /// `data: [DONE]` arrived.
    done: bool,
    /// The first thing wrong with the stream; later events are not read.
    failure: Option<(Status, String)>,
    /// Events seen (any payload).
    events: usize,
    /// The first bytes of the body, for an error message when it is not a stream at all.
    head: Vec<u8>,
    /// The last scanned chunk, which the next one most likely repeats but for its text.
    template: Template,
}

impl StreamState {
    fn event(&mut self, payload: &[u8], at_ns: u64, rec: &mut ResultRecord, text: Option<&mut String>) {
        self.events += 1;
        if self.done || self.failure.is_some() {
            return;
        }
        if payload == b"[DONE]" {
            self.done = true;
            return;
        }
        // The fast scan finds what timing needs and accepts only JSON; anything else (and
        // every chunk whose text is kept) takes the full parse.
        let scanned = if text.is_none() { self.template.read(payload, self.api) } else { None };
        let info = match scanned {
            Some(info) => Ok(info),
            None => classify_chunk(payload, text),
        };
        match info {
            Ok(info) => {
                if info.has_choices {
                    rec.first_chunk_ns.get_or_insert(at_ns);
                    rec.end_ns = Some(at_ns);
                    rec.chunks_ns.push(at_ns - rec.sent_ns);
                }
                if info.has_token {
                    rec.first_token_ns.get_or_insert(at_ns);
                }
                if info.usage.is_some() {
                    rec.usage = info.usage;
                }
                if info.finish_reason.is_some() {
                    rec.finish_reason = info.finish_reason;
                }
                if let Some(err) = info.error {
                    self.failure = Some((Status::InvalidResponse, format!("server error in stream: {err}")));
                }
            }
            Err(e) => self.failure = Some((Status::InvalidResponse, e)),
        }
    }
}

/// Whether a body starts like server-sent events (a field line or a comment).
fn looks_like_sse(head: &[u8]) -> bool {
    let start = head.iter().position(|b| !b.is_ascii_whitespace()).map_or(&head[..0], |i| &head[i..]);
    [&b"data:"[..], b":", b"event:", b"id:", b"retry:"].iter().any(|p| start.starts_with(p))
}

/// A TLS client configuration that trusts exactly the CA certificates in `path` (PEM).
fn private_ca_config(path: &str) -> Result<rustls::ClientConfig> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).with_context(|| format!("--ca-cert {path}"))? {
        let cert = cert.with_context(|| format!("--ca-cert {path}: bad PEM"))?;
        roots.add(cert).with_context(|| format!("--ca-cert {path}: not a usable CA certificate"))?;
    }
    if roots.is_empty() {
        bail!("--ca-cert {path}: no certificate found");
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn http_error_text(code: u16, body: &[u8]) -> String {
    let body = String::from_utf8_lossy(body);
    // OpenAI-style servers answer `{"error": {"message": ...}}` (vLLM: `{"object":"error","message":...}`).
    // FastAPI servers (transformers serve) answer `{"detail": "..."}`, or a list of details.
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v.get("error").or(v.get("message").map(|_| &v)).map(crate::sse::error_text).or_else(|| {
                v.get("detail").map(|d| match d {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
            })
        })
        .unwrap_or_else(|| body.trim().to_string());
    let message = sb_cli::printable(&message);
    if message.is_empty() {
        format!("HTTP {code}")
    } else {
        format!("HTTP {code}: {message}")
    }
}

/// An error and its causes on one line (hyper's top-level messages alone say little).
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn client(url: &str, stream: bool) -> Result<LoadClient> {
        LoadClient::new(ClientOptions {
            url: url.into(),
            model: "m".into(),
            api_key: None,
            headers: vec![],
            stream,
            include_usage: true,
            ca_cert: None,
            chat_max_tokens: ChatMaxTokens::Both,
            max_connections: 4,
        })
    }

    fn body(c: &LoadClient, req: &Request) -> Value {
        serde_json::from_slice(&c.body(req, None).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn completions_body_passes_params_through_but_keeps_its_own_keys() {
        let c = client("http://127.0.0.1:1/v1/", true).unwrap();
        assert_eq!(c.completions_uri.to_string(), "/v1/completions");
        assert_eq!(c.headers[HOST], "127.0.0.1:1");
        // A password in the URL is never sent, not even in Host.
        let c = client("http://user:s3cret@example.invalid:8000/prefix/v1", true).unwrap();
        assert_eq!(c.headers[HOST], "example.invalid:8000");
        assert_eq!(c.chat_uri.to_string(), "/prefix/v1/chat/completions");
        let mut req = Request { id: "a".into(), prompt: Some("hi".into()), max_tokens: Some(8), ..Default::default() };
        req.params = serde_json::from_value(
            json!({"use_beam_search": true, "best_of": 4, "ignore_eos": true, "stream": false, "max_tokens": 99}),
        )
        .unwrap();
        assert_eq!(
            body(&c, &req),
            json!({"model": "m", "prompt": "hi", "max_tokens": 8, "stream": true,
                   "stream_options": {"include_usage": true}, "use_beam_search": true, "best_of": 4, "ignore_eos": true})
        );
    }

    #[tokio::test]
    async fn chat_body_uses_max_completion_tokens_and_session_messages() {
        let c = client("https://example.invalid", false).unwrap();
        let req = Request {
            id: "a".into(),
            api: Api::Chat,
            messages: Some(vec![Message { role: "user".into(), content: "q2".into() }]),
            max_tokens: Some(3),
            ..Default::default()
        };
        let history = vec![
            Message { role: "user".into(), content: "q1".into() },
            Message { role: "assistant".into(), content: "a1".into() },
            Message { role: "user".into(), content: "q2".into() },
        ];
        let b: Value = serde_json::from_slice(&c.body(&req, Some(&history)).unwrap()).unwrap();
        assert_eq!(b["messages"].as_array().unwrap().len(), 3);
        assert_eq!(b["max_completion_tokens"], 3);
        assert_eq!(b["max_tokens"], 3, "both length fields (transformers serve reads only max_tokens)");
        assert_eq!(b["stream"], false);
        assert!(b.get("stream_options").is_none());
    }

    #[tokio::test]
    async fn bad_urls_are_refused() {
        for bad in ["127.0.0.1:8000", "ftp://x", "not a url"] {
            assert!(client(bad, true).is_err(), "{bad}");
        }
        let req = Request { id: "x".into(), ..Default::default() };
        let err = client("http://h", true).unwrap().body(&req, None).unwrap_err();
        assert!(err.to_string().contains("has no prompt"));
    }

    #[test]
    fn http_error_text_reads_openai_and_vllm_errors() {
        assert_eq!(http_error_text(429, br#"{"error":{"message":"slow down"}}"#), "HTTP 429: slow down");
        assert_eq!(
            http_error_text(400, br#"{"object":"error","message":"too long","code":400}"#),
            "HTTP 400: too long"
        );
        assert_eq!(http_error_text(502, b"bad gateway\n"), "HTTP 502: bad gateway");
        assert_eq!(http_error_text(500, b""), "HTTP 500");
        assert_eq!(
            http_error_text(400, br#"{"detail": "Server is pinned to '/tmp/qwen'; requested 'nope'."}"#),
            "HTTP 400: Server is pinned to '/tmp/qwen'; requested 'nope'."
        );
        assert_eq!(http_error_text(500, b"\x1b[2Jboom"), "HTTP 500: \\x1b[2Jboom");
    }
}
