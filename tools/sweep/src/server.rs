//! What sb-sweep asks the server between points: `POST /reset_prefix_cache` before a point (vLLM
//! serves it with `VLLM_SERVER_DEV_MODE=1`; sb-sim always), and `/metrics` for the requests
//! running and waiting (during a point, for the saturation rule; after it, for the cool-down).
//! Plain HTTP only (ureq without TLS): for an https server both are skipped with a note, or
//! `--metrics-url` names an http endpoint of the same server.

use std::time::Duration;

pub struct Server {
    agent: ureq::Agent,
    /// `http://host:port` (no trailing `/v1`).
    pub base: String,
    pub metrics_url: Option<String>,
}

/// What `POST /reset_prefix_cache` said.
pub enum Reset {
    Done,
    /// 404/405: the server does not offer it (vLLM without dev mode, other servers).
    NotOffered(u16),
    Failed(String),
}

/// The load gauges of vLLM's `/metrics` (summed over their label sets).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Load {
    pub running: f64,
    pub waiting: f64,
}

impl Server {
    pub fn new(url: &str, metrics_url: Option<String>, no_metrics: bool) -> Server {
        let mut base = url.trim().trim_end_matches('/').to_string();
        if let Some(b) = base.strip_suffix("/v1") {
            base = b.to_string();
        }
        let metrics_url =
            if no_metrics { None } else { Some(metrics_url.unwrap_or_else(|| format!("{base}/metrics"))) };
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(5)).build();
        Server { agent, base, metrics_url }
    }

    pub fn reset_prefix_cache(&self) -> Reset {
        match self.agent.post(&format!("{}/reset_prefix_cache", self.base)).call() {
            Ok(_) => Reset::Done,
            Err(ureq::Error::Status(code @ (404 | 405), _)) => Reset::NotOffered(code),
            Err(ureq::Error::Status(code, _)) => Reset::Failed(format!("HTTP {code}")),
            Err(e) => Reset::Failed(e.to_string()),
        }
    }

    /// Running and waiting requests now; an error when /metrics cannot be read or has neither gauge.
    pub fn load(&self) -> Result<Load, String> {
        let url = self.metrics_url.as_deref().ok_or("no /metrics (--no-metrics)")?;
        let text = self
            .agent
            .get(url)
            .timeout(Duration::from_secs(2))
            .call()
            .map_err(|e| e.to_string())?
            .into_string()
            .map_err(|e| e.to_string())?;
        parse_load(&text).ok_or_else(|| format!("{url} has no vllm:num_requests_running"))
    }
}

/// `vllm:num_requests_running` and `vllm:num_requests_waiting` from Prometheus text, summed over
/// label sets (one per engine in a data-parallel vLLM). None without the running gauge.
pub fn parse_load(text: &str) -> Option<Load> {
    let mut load = Load::default();
    let mut seen = false;
    for line in text.lines() {
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => continue,
        };
        let value = || rest.rsplit(' ').find(|v| !v.is_empty()).and_then(|v| v.parse::<f64>().ok());
        match name {
            "vllm:num_requests_running" => {
                load.running += value()?;
                seen = true;
            }
            "vllm:num_requests_waiting" => load.waiting += value()?,
            _ => {}
        }
    }
    seen.then_some(load)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_gauges_of_a_vllm_metrics_page() {
        let text = "# HELP vllm:num_requests_running Number of requests in model execution batches.\n\
            # TYPE vllm:num_requests_running gauge\n\
            vllm:num_requests_running{engine=\"0\",model_name=\"m\"} 3.0\n\
            vllm:num_requests_running{engine=\"1\",model_name=\"m\"} 2.0\n\
            vllm:num_requests_waiting{engine=\"0\",model_name=\"m\"} 7.0\n\
            vllm:num_requests_waiting_by_reason{reason=\"x\"} 100.0\n";
        assert_eq!(parse_load(text), Some(Load { running: 5.0, waiting: 7.0 }));
        assert_eq!(parse_load("http_requests_total 3\n"), None);
    }

    #[test]
    fn the_base_url_drops_v1() {
        let s = Server::new("http://h:8000/v1/", None, false);
        assert_eq!(s.base, "http://h:8000");
        assert_eq!(s.metrics_url.as_deref(), Some("http://h:8000/metrics"));
        assert!(Server::new("http://h:1", None, true).metrics_url.is_none());
    }
}
