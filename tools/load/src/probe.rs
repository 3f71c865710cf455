//! What sb-load asks the server before the run: its version (vLLM's `GET /version`, for the
//! run record) and, when `--model` was not given, the served model (`GET /v1/models`, as vLLM
//! `bench serve` does).

use crate::client::LoadClient;
use anyhow::{bail, Result};
use std::time::Duration;

const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Looks up the model when none was given (an error says why it could not be), and returns
/// the server's version when it says it.
pub async fn prepare(client: &mut LoadClient) -> Result<Option<String>> {
    if client.model().is_empty() {
        let model = match client.get_json("/v1/models", PROBE_TIMEOUT).await {
            Ok(v) => v["data"][0]["id"].as_str().map(str::to_string),
            Err(e) => {
                bail!("no --model given, and the server's model list (GET /v1/models) failed: {e}; pass --model NAME")
            }
        };
        let Some(model) = model.filter(|m| !m.is_empty()) else {
            bail!("no --model given, and GET /v1/models named no model (expected data[0].id); pass --model NAME");
        };
        eprintln!("sb-load: --model not given; using the server's first model {model:?} (GET /v1/models)");
        client.set_model(model);
    }
    // A server without /version (most besides vLLM) is fine: the record says null.
    let version = client
        .get_json("/version", Duration::from_secs(2))
        .await
        .ok()
        .and_then(|v| v.get("version").and_then(|x| x.as_str()).map(sb_cli::printable));
    Ok(version)
}
