//! Request parsing and response bytes in vLLM's OpenAI-compatible shapes
//! (`vllm/entrypoints/openai/serving_completion.py`, `serving_chat.py`).
//!
//! Chunks are written by hand rather than through serde: a streamed response is hundreds of
//! small objects, and the sim must never be the bottleneck of a benchmark.

use crate::config::SimArgs;
use crate::text::output_token;
use serde_json::Value;
use std::io::Write;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Completions,
    Chat,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Completions => "/v1/completions",
            Endpoint::Chat => "/v1/chat/completions",
        }
    }
}

/// What the sim needs from a request body.
#[derive(Debug)]
pub struct Parsed {
    pub prompt_text: String,
    pub max_tokens: Option<u32>,
    pub n: u32,
    pub stream: bool,
    pub include_usage: bool,
}

type Bad = (u16, String);

fn bad(msg: impl Into<String>) -> Bad {
    (400, msg.into())
}

/// Parses a request body the way vLLM validates it (the parts the sim uses; other fields, such as
/// sampling parameters, are accepted and ignored).
pub fn parse(req: &Value, endpoint: Endpoint, args: &SimArgs) -> Result<Parsed, Bad> {
    if let Some(model) = req.get("model").and_then(Value::as_str) {
        if model != args.model {
            return Err((404, format!("The model `{model}` does not exist.")));
        }
    }
    let stream = match req.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("stream must be a boolean")),
    };
    let include_usage = req.pointer("/stream_options/include_usage").and_then(Value::as_bool).unwrap_or(false);
    if req.get("stream_options").is_some_and(|v| !v.is_null()) && !stream {
        return Err(bad("Stream options can only be defined when `stream=True`."));
    }
    let n = match req.get("n") {
        None | Some(Value::Null) => 1,
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => n as u32,
            _ => return Err(bad("n must be at least 1.")),
        },
    };
    // transformers serve reads only `max_tokens`, on chat too.
    let reads_completion_key = args.compat != crate::config::Compat::Transformers;
    let max_key = match endpoint {
        Endpoint::Chat if reads_completion_key && req.get("max_completion_tokens").is_some_and(|v| !v.is_null()) => {
            "max_completion_tokens"
        }
        _ => "max_tokens",
    };
    let max_tokens = match req.get(max_key) {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(m) if m >= 1 => Some(m.min(u32::MAX as u64) as u32),
            _ => return Err(bad(format!("{max_key} must be at least 1, got {v}."))),
        },
    };
    let prompt_text = match endpoint {
        Endpoint::Completions => completion_prompt(req.get("prompt"))?,
        Endpoint::Chat => chat_prompt(req.get("messages"))?,
    };
    Ok(Parsed { prompt_text, max_tokens, n, stream, include_usage })
}

fn completion_prompt(p: Option<&Value>) -> Result<String, Bad> {
    match p {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(items)) if items.len() == 1 => completion_prompt(items.first()),
        // A list of token ids: the sim's word counter counts one token per id.
        Some(Value::Array(items)) if !items.is_empty() && items.iter().all(Value::is_u64) => {
            Ok(items.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" "))
        }
        Some(Value::Array(_)) => Err(bad("sb-sim serves one prompt per request (send a string)")),
        None | Some(Value::Null) => Err(bad("prompt is required")),
        Some(_) => Err(bad("prompt must be a string or a list of token ids")),
    }
}

fn chat_prompt(m: Option<&Value>) -> Result<String, Bad> {
    let Some(Value::Array(messages)) = m else {
        return Err(bad("messages must be a list of {role, content}"));
    };
    if messages.is_empty() {
        return Err(bad("messages must not be empty"));
    }
    let mut text = String::new();
    for (i, msg) in messages.iter().enumerate() {
        let role =
            msg.get("role").and_then(Value::as_str).ok_or_else(|| bad(format!("messages[{i}].role is required")))?;
        text.push_str(role);
        text.push_str(":\n");
        match msg.get("content") {
            Some(Value::String(s)) => text.push_str(s),
            Some(Value::Array(parts)) => {
                for part in parts {
                    if let Some(t) = part.get("text").and_then(Value::as_str) {
                        text.push_str(t);
                        text.push(' ');
                    }
                }
            }
            Some(Value::Null) | None => {}
            Some(_) => return Err(bad(format!("messages[{i}].content must be a string or a list of parts"))),
        }
        text.push('\n');
    }
    Ok(text)
}

/// Builds the bytes of one response.
pub struct Reply {
    endpoint: Endpoint,
    /// `{"id":...,"object":...,"created":...,"model":...,"choices":[`
    head: String,
    n: u32,
    prompt_tokens: u32,
    max_tokens: u32,
    include_usage: bool,
    /// End the stream with `data: [DONE]` (vLLM does; `--no-done` servers do not).
    pub done: bool,
}

impl Reply {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        endpoint: Endpoint,
        id: u64,
        created: u64,
        model: &str,
        n: u32,
        prompt_tokens: u32,
        max_tokens: u32,
        include_usage: bool,
    ) -> Reply {
        let model = serde_json::to_string(model).expect("string");
        let (prefix, object) = match endpoint {
            Endpoint::Completions => ("cmpl", "text_completion"),
            Endpoint::Chat => ("chatcmpl", "chat.completion.chunk"),
        };
        let head = format!(
            "{{\"id\":\"{prefix}-{id:016x}\",\"object\":\"{object}\",\"created\":{created},\"model\":{model},\"choices\":["
        );
        Reply { endpoint, head, n, prompt_tokens, max_tokens, include_usage, done: true }
    }

    /// SSE events of step `token` (1-based) for every choice; the chat role chunk comes just
    /// before the first token, as vLLM sends it with the first engine output.
    pub fn step_chunks(&self, buf: &mut Vec<u8>, token: u32, last: bool) {
        let finish = if last { "\"length\",\"stop_reason\":null" } else { "null" };
        for c in 0..self.n {
            let word = output_token(token - 1, c);
            match self.endpoint {
                Endpoint::Completions => {
                    let _ = write!(
                        buf,
                        "data: {}{{\"index\":{c},\"text\":\"{word}\",\"logprobs\":null,\"finish_reason\":{finish}{}}}],\"usage\":null}}\n\n",
                        self.head,
                        if last { "" } else { ",\"stop_reason\":null" }
                    );
                }
                Endpoint::Chat => {
                    if token == 1 {
                        let _ = write!(
                            buf,
                            "data: {}{{\"index\":{c},\"delta\":{{\"role\":\"assistant\",\"content\":\"\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n",
                            self.head
                        );
                    }
                    let _ = write!(
                        buf,
                        "data: {}{{\"index\":{c},\"delta\":{{\"content\":\"{word}\"}},\"logprobs\":null,\"finish_reason\":{finish}}}]}}\n\n",
                        self.head
                    );
                }
            }
        }
    }

    fn usage_json(&self) -> String {
        let completion = self.max_tokens * self.n;
        format!(
            "{{\"prompt_tokens\":{},\"total_tokens\":{},\"completion_tokens\":{}}}",
            self.prompt_tokens,
            self.prompt_tokens + completion,
            completion
        )
    }

    /// The usage chunk (with `stream_options.include_usage`) and `data: [DONE]`.
    pub fn tail(&self, buf: &mut Vec<u8>) {
        if self.include_usage {
            let _ = write!(buf, "data: {}],\"usage\":{}}}\n\n", self.head, self.usage_json());
        }
        if self.done {
            buf.extend_from_slice(b"data: [DONE]\n\n");
        }
    }

    /// The whole non-streaming response body.
    pub fn full_body(&self, tokens: u32) -> Vec<u8> {
        let mut choices = Vec::new();
        for c in 0..self.n {
            let text: String = (0..tokens).map(|i| output_token(i, c)).collect();
            let text = serde_json::to_string(&text).expect("string");
            choices.push(match self.endpoint {
                Endpoint::Completions => format!(
                    "{{\"index\":{c},\"text\":{text},\"logprobs\":null,\"finish_reason\":\"length\",\"stop_reason\":null,\"prompt_logprobs\":null}}"
                ),
                Endpoint::Chat => format!(
                    "{{\"index\":{c},\"message\":{{\"role\":\"assistant\",\"reasoning_content\":null,\"content\":{text},\"tool_calls\":[]}},\"logprobs\":null,\"finish_reason\":\"length\",\"stop_reason\":null}}"
                ),
            });
        }
        let head = match self.endpoint {
            Endpoint::Completions => self.head.clone(),
            Endpoint::Chat => self.head.replace("\"chat.completion.chunk\"", "\"chat.completion\""),
        };
        let usage = self.usage_json();
        let usage = format!("{},\"prompt_tokens_details\":null}}", &usage[..usage.len() - 1]);
        let tail = match self.endpoint {
            Endpoint::Completions => format!("],\"usage\":{usage}}}"),
            Endpoint::Chat => format!("],\"usage\":{usage},\"prompt_logprobs\":null}}"),
        };
        format!("{head}{}{tail}", choices.join(",")).into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(buf: &[u8]) -> Vec<Value> {
        let text = std::str::from_utf8(buf).unwrap();
        text.split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| e.strip_prefix("data: ").expect("SSE data line"))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap_or_else(|err| panic!("{d}: {err}")))
            .collect()
    }

    #[test]
    fn completion_chunks_are_valid_json_shaped_like_vllm() {
        let r = Reply::new(Endpoint::Completions, 1, 100, "m\"x", 1, 5, 2, true);
        let mut buf = Vec::new();
        r.step_chunks(&mut buf, 1, false);
        r.step_chunks(&mut buf, 2, true);
        r.tail(&mut buf);
        assert!(buf.ends_with(b"data: [DONE]\n\n"));
        let ev = events(&buf);
        assert_eq!(ev.len(), 3);
        assert_eq!(ev[0]["object"], "text_completion");
        assert_eq!(ev[0]["model"], "m\"x");
        assert_eq!(ev[0]["choices"][0]["finish_reason"], Value::Null);
        assert_eq!(ev[0]["usage"], Value::Null);
        assert_eq!(ev[1]["choices"][0]["finish_reason"], "length");
        assert_eq!(ev[2]["choices"].as_array().unwrap().len(), 0);
        assert_eq!(ev[2]["usage"]["completion_tokens"], 2);
        assert_eq!(ev[2]["usage"]["total_tokens"], 7);
    }

    #[test]
    fn chat_stream_starts_with_a_role_only_chunk() {
        let r = Reply::new(Endpoint::Chat, 1, 100, "m", 2, 5, 1, false);
        let mut buf = Vec::new();
        r.step_chunks(&mut buf, 1, true);
        r.tail(&mut buf);
        let ev = events(&buf);
        assert_eq!(ev.len(), 4, "role + token for each of 2 choices, no usage chunk");
        assert_eq!(ev[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(ev[0]["object"], "chat.completion.chunk");
        assert_eq!(ev[1]["choices"][0]["finish_reason"], "length");
        assert_eq!(ev[3]["choices"][0]["index"], 1);
    }

    #[test]
    fn full_bodies_parse() {
        for ep in [Endpoint::Completions, Endpoint::Chat] {
            let r = Reply::new(ep, 1, 100, "m", 1, 3, 4, false);
            let v: Value = serde_json::from_slice(&r.full_body(4)).unwrap();
            assert_eq!(v["usage"]["completion_tokens"], 4);
            assert_eq!(v["choices"][0]["finish_reason"], "length");
        }
    }
}
