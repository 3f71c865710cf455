//! Reading a response body with a ceiling: a server that answers with a huge page (a wrong URL,
//! a proxy's error page, an exporter gone mad) must not take the process's memory with it.

/// Reads the whole body as text, failing once it passes `max_bytes` (before reading further).
pub async fn read_capped(mut response: reqwest::Response, max_bytes: usize) -> Result<String, String> {
    if let Some(len) = response.content_length() {
        if len as usize > max_bytes {
            return Err(too_big(max_bytes, Some(len)));
        }
    }
    let mut buf: Vec<u8> = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| crate::prometheus::error_chain(&e))? {
        if buf.len() + chunk.len() > max_bytes {
            return Err(too_big(max_bytes, None));
        }
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf).map_err(|_| "the body is not UTF-8 text".to_string())
}

fn too_big(max_bytes: usize, len: Option<u64>) -> String {
    format!(
        "the response body is {}larger than --max-body-mib {} MiB; not read (raise --max-body-mib if it is expected)",
        len.map_or(String::new(), |l| format!("{:.1} MiB, ", l as f64 / (1 << 20) as f64)),
        max_bytes >> 20
    )
}
