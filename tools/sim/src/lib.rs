//! `sb-sim`: an OpenAI-compatible server that behaves like vLLM from the outside (routes, SSE
//! chunk shapes, `/metrics` names and buckets), driven by a timing model set from flags, so every
//! servebench pipeline runs on a laptop with no GPU. See `docs/sim.md`.

pub mod config;
pub mod engine;
pub mod metrics;
pub mod openai;
pub mod server;
pub mod text;

pub use config::SimArgs;

use axum::serve::ListenerExt;
use std::net::SocketAddr;

/// Binds, writes `--addr-file`, and serves until the process ends.
pub async fn serve(args: SimArgs) -> anyhow::Result<()> {
    args.validate().map_err(anyhow::Error::msg)?;
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}:{}: {e}", args.host, args.port))?;
    let addr: SocketAddr = listener.local_addr()?;
    let url = format!("http://{addr}");
    let state = server::AppState::new(args.clone())?;
    let app = server::router(state);
    eprintln!(
        "sb-sim: listening on {url} (model {:?}, {})",
        args.model,
        if args.instant {
            "instant: no timing model".to_string()
        } else {
            format!(
                "step {} ms + {} ms/seq, prefill {} us/token, max {} seqs, {} KV tokens",
                args.decode_ms, args.decode_ms_per_seq, args.prefill_us_per_token, args.max_num_seqs, args.kv_tokens
            )
        }
    );
    if let Some(path) = &args.addr_file {
        // Write then rename, so a reader never sees a half-written address.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, format!("{url}\n"))?;
        std::fs::rename(&tmp, path)?;
    }
    // Without TCP_NODELAY, Nagle's algorithm holds a small SSE chunk back until the previous one
    // is acknowledged, adding up to a delayed-ACK timeout (40 ms) to TTFT and ITL. vLLM's uvicorn
    // sets it; so must we.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await?;
    Ok(())
}
