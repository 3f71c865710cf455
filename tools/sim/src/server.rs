//! HTTP front end: the OpenAI-compatible routes, shaped like vLLM's responses.

use crate::config::SimArgs;
use crate::engine::{self, EngineConfig, Event, Submit};
use crate::metrics::Metrics;
use crate::openai::{self, Endpoint, Reply};
use crate::text::TokenCounter;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc::unbounded_channel;

pub struct AppState {
    pub args: SimArgs,
    pub counter: TokenCounter,
    pub metrics: Arc<Mutex<Metrics>>,
    engine: Mutex<mpsc::Sender<Submit>>,
    reset_prefix_cache: Arc<AtomicBool>,
    rng: Mutex<StdRng>,
    next_id: AtomicU64,
}

/// What the fault injector decided for one request.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    None,
    Status(u16),
    Cut,
    Stall,
}

impl AppState {
    pub fn new(args: SimArgs) -> anyhow::Result<Arc<AppState>> {
        let counter = TokenCounter::load(args.tokenizer.as_deref())?;
        let cache_info = vec![
            ("block_size".to_string(), args.block_size.to_string()),
            ("cache_dtype".into(), "auto".into()),
            ("enable_prefix_caching".into(), if args.no_prefix_caching { "False" } else { "True" }.into()),
            ("engine".into(), "0".into()),
            ("gpu_memory_utilization".into(), "0.9".into()),
            ("num_gpu_blocks".into(), (args.kv_tokens / args.block_size as u64).to_string()),
        ];
        let metrics = Arc::new(Mutex::new(Metrics::new(&args.model, args.max_model_len, cache_info)));
        let (tx, rx) = mpsc::channel();
        let cfg = EngineConfig::from_args(&args);
        let m = metrics.clone();
        let reset_prefix_cache = Arc::new(AtomicBool::new(false));
        let reset = reset_prefix_cache.clone();
        std::thread::Builder::new().name("sb-sim-engine".into()).spawn(move || engine::run(cfg, rx, m, reset))?;
        Ok(Arc::new(AppState {
            rng: Mutex::new(StdRng::seed_from_u64(args.seed ^ 0x5eed_fa17)),
            args,
            counter,
            metrics,
            engine: Mutex::new(tx),
            reset_prefix_cache,
            next_id: AtomicU64::new(0),
        }))
    }

    fn draw_fault(&self, stream: bool) -> Fault {
        let a = &self.args;
        if a.fail_429 == 0.0 && a.fail_500 == 0.0 && a.cut == 0.0 && a.stall == 0.0 {
            return Fault::None;
        }
        let mut rng = self.rng.lock().expect("rng lock");
        let x: f64 = rng.random();
        if x < a.fail_429 {
            return Fault::Status(429);
        }
        if x < a.fail_429 + a.fail_500 {
            return Fault::Status(500);
        }
        if stream {
            let y: f64 = rng.random();
            if y < a.cut {
                return Fault::Cut;
            }
            if y < a.cut + a.stall {
                return Fault::Stall;
            }
        }
        Fault::None
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/completions", post(completions))
        .route("/v1/chat/completions", post(chat))
        .route("/v1/models", get(models))
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/ping", get(|| async { StatusCode::OK }))
        .route(
            "/version",
            get(|| async { axum::Json(serde_json::json!({"version": concat!("sb-sim ", env!("CARGO_PKG_VERSION"))})) }),
        )
        .route("/metrics", get(metrics))
        .route("/reset_prefix_cache", post(reset_prefix_cache))
        .with_state(state)
}

async fn completions(State(st): State<Arc<AppState>>, body: Bytes) -> Response {
    generate(st, Endpoint::Completions, body).await
}

async fn chat(State(st): State<Arc<AppState>>, body: Bytes) -> Response {
    generate(st, Endpoint::Chat, body).await
}

async fn models(State(st): State<Arc<AppState>>) -> Response {
    if st.args.compat == crate::config::Compat::Transformers {
        // transformers serve 5.17 with no Hugging Face cache directory.
        return (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response();
    }
    let created = unix_now();
    axum::Json(serde_json::json!({
        "object": "list",
        "data": [{
            "id": st.args.model, "object": "model", "created": created, "owned_by": "vllm",
            "root": st.args.model, "parent": null, "max_model_len": st.args.max_model_len,
        }]
    }))
    .into_response()
}

async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    let text = st.metrics.lock().expect("metrics lock").render();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

/// vLLM's `POST /reset_prefix_cache` (served with `VLLM_SERVER_DEV_MODE=1`): an empty 200. The
/// engine thread empties the cache before it admits the next request.
async fn reset_prefix_cache(State(st): State<Arc<AppState>>) -> StatusCode {
    st.reset_prefix_cache.store(true, Ordering::Release);
    StatusCode::OK
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// vLLM's error body (`ErrorResponse`), or FastAPI's `{"detail": ...}` under
/// `--compat transformers`.
fn error_for(st: &AppState, status: StatusCode, kind: &str, message: &str) -> Response {
    if st.args.compat == crate::config::Compat::Transformers {
        return (status, axum::Json(serde_json::json!({"detail": message}))).into_response();
    }
    error(status, kind, message)
}

/// vLLM's error body (`ErrorResponse`).
fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = serde_json::json!({
        "error": {"message": message, "type": kind, "param": null, "code": status.as_u16()}
    });
    (status, axum::Json(body)).into_response()
}

async fn generate(st: Arc<AppState>, endpoint: Endpoint, body: Bytes) -> Response {
    let arrival = Instant::now();
    let handler = endpoint.path();
    let resp = generate_inner(&st, endpoint, body, arrival).await;
    st.metrics.lock().expect("metrics lock").count_http(handler, resp.status().as_u16());
    resp
}

async fn generate_inner(st: &Arc<AppState>, endpoint: Endpoint, body: Bytes, arrival: Instant) -> Response {
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            return error_for(st, StatusCode::BAD_REQUEST, "BadRequestError", "request body must be a JSON object")
        }
        Err(e) => return error_for(st, StatusCode::BAD_REQUEST, "BadRequestError", &format!("invalid JSON: {e}")),
    };
    let parsed = match openai::parse(&req, endpoint, &st.args) {
        Ok(p) => p,
        Err((status, msg)) => {
            let kind = if status == 404 { "NotFoundError" } else { "BadRequestError" };
            return error_for(st, StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), kind, &msg);
        }
    };
    let info = st.counter.analyze(&parsed.prompt_text, st.args.block_size);
    let max_tokens = parsed
        .max_tokens
        .unwrap_or(st.args.default_max_tokens.min(st.args.max_model_len.saturating_sub(info.tokens)).max(1));
    if info.tokens as u64 + max_tokens as u64 > st.args.max_model_len as u64 {
        let msg = format!(
            "This model's maximum context length is {} tokens. However, you requested {} tokens ({} in the messages, {} in the completion). Please reduce the length of the messages or completion.",
            st.args.max_model_len,
            info.tokens as u64 + max_tokens as u64,
            info.tokens,
            max_tokens
        );
        return error_for(st, StatusCode::BAD_REQUEST, "BadRequestError", &msg);
    }
    if parsed.n > st.args.max_num_seqs || info.tokens as u64 + max_tokens as u64 * parsed.n as u64 > st.args.kv_tokens {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequestError",
            "request needs more KV cache or sequence slots than the server has (--kv-tokens, --max-num-seqs)",
        );
    }
    let fault = match st.draw_fault(parsed.stream) {
        Fault::Status(429) => {
            return error(
                StatusCode::TOO_MANY_REQUESTS,
                "RateLimitError",
                "sb-sim fault injection: rate limited (--fail-429)",
            )
        }
        Fault::Status(_) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "sb-sim fault injection: internal error (--fail-500)",
            )
        }
        f => f,
    };
    {
        let mut m = st.metrics.lock().expect("metrics lock");
        m.request_params_n.observe(parsed.n as f64);
        m.request_params_max_tokens.observe(max_tokens as f64);
        m.request_max_num_generation_tokens.observe((max_tokens * parsed.n) as f64);
    }
    let id_num = st.next_id.fetch_add(1, Ordering::Relaxed);
    let mut reply = Reply::new(
        endpoint,
        id_num,
        unix_now(),
        &st.args.model,
        parsed.n,
        info.tokens,
        max_tokens,
        parsed.include_usage,
    );
    reply.done = !st.args.ends_without_done();

    if st.args.instant {
        // No timing model: account the request as finished at once and answer in one piece.
        {
            let mut m = st.metrics.lock().expect("metrics lock");
            m.prompt_tokens += info.tokens as u64;
            m.generation_tokens += (max_tokens * parsed.n) as u64;
            m.success_length += 1;
            m.request_prompt_tokens.observe(info.tokens as f64);
            m.request_generation_tokens.observe((max_tokens * parsed.n) as f64);
            let e = arrival.elapsed().as_secs_f64();
            m.ttft.observe(e);
            m.e2e.observe(e);
            m.queue.observe(0.0);
        }
        return if parsed.stream {
            let mut buf = Vec::with_capacity(128 * (max_tokens as usize + 2) * parsed.n as usize);
            for t in 1..=max_tokens {
                reply.step_chunks(&mut buf, t, t == max_tokens);
            }
            reply.tail(&mut buf);
            sse_response(Body::from(buf))
        } else {
            json_response(reply.full_body(max_tokens))
        };
    }

    let (tx, mut rx) = unbounded_channel();
    let submit = Submit {
        prompt_tokens: info.tokens,
        block_hashes: info.block_hashes,
        max_tokens,
        n: parsed.n,
        arrival,
        events: tx,
    };
    if st.engine.lock().expect("engine lock").send(submit).is_err() {
        return error_for(st, StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailableError", "engine stopped");
    }

    if !parsed.stream {
        let mut cached = 0;
        loop {
            match rx.recv().await {
                Some(Event::Admitted { cached_tokens }) => cached = cached_tokens,
                Some(Event::Step { last: true, .. }) => break,
                Some(_) => {}
                None => {
                    return error_for(st, StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailableError", "engine stopped")
                }
            }
        }
        let _ = cached;
        return json_response(reply.full_body(max_tokens));
    }

    // Streaming: turn engine events into SSE chunks as they come.
    let cut_at = max_tokens.div_ceil(2);
    let stall = Duration::from_millis(st.args.stall_ms);
    let (body_tx, body_rx) = tokio::sync::mpsc::channel::<Item>(8);
    tokio::spawn(async move {
        let mut buf = Vec::with_capacity(256);
        while let Some(ev) = rx.recv().await {
            let Event::Step { token, last } = ev else { continue };
            buf.clear();
            reply.step_chunks(&mut buf, token, last);
            if last {
                reply.tail(&mut buf);
            }
            // A send fails once the client is gone; dropping `rx` then tells the engine to abort.
            if body_tx.send(Ok(Bytes::copy_from_slice(&buf))).await.is_err() || last {
                return;
            }
            if token == cut_at {
                match fault {
                    Fault::Cut => {
                        // Break the connection without finishing the body: no [DONE], no usage.
                        // Wait a moment first so hyper flushes the chunks already sent. The
                        // engine learns of the abort at once, as vLLM's does on a disconnect.
                        rx.close();
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        let _ = body_tx
                            .send(Err(std::io::Error::other("sb-sim fault injection: stream cut (--cut)")))
                            .await;
                        return;
                    }
                    Fault::Stall => tokio::time::sleep(stall).await,
                    _ => {}
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(body_rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    sse_response(Body::from_stream(stream))
}

fn sse_response(body: Body) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream; charset=utf-8")
        .body(body)
        .expect("static response parts")
}

fn json_response(body: Vec<u8>) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("static response parts")
}

type Item = Result<Bytes, std::io::Error>;
