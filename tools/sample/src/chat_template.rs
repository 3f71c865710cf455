//! The model's chat template (Jinja, from `tokenizer_config.json`), rendered the way
//! `transformers.apply_chat_template` does: `trim_blocks` and `lstrip_blocks` on, Python string
//! methods available (`.startswith`, `.split`, `.strip` ...), the tokenizer's special tokens as
//! variables, `raise_exception` as a function.
//!
//! minijinja is Jinja2-compatible and its `pycompat` callback supplies the Python methods that
//! real templates (Qwen3's among them) call on strings; writing a template engine here would be
//! the wrong kind of work.

use anyhow::{anyhow, Context, Result};
use minijinja::syntax::SyntaxConfig;
use minijinja::{context, Environment, Error, ErrorKind, Value as JValue};
use sb_records::Message;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl ChatTemplate {
    /// The `chat_template` of a `tokenizer_config.json`, or `None` when it has none (GPT-2).
    pub fn from_config_file(path: &Path) -> Result<Option<ChatTemplate>> {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
        let config: Value = serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
        let source = match config.get("chat_template") {
            Some(Value::String(s)) => s.clone(),
            // Older configs hold a list of named templates; "default" is the chat one.
            Some(Value::Array(list)) => {
                match list.iter().find(|t| t.get("name").and_then(Value::as_str) == Some("default")) {
                    Some(t) => t.get("template").and_then(Value::as_str).unwrap_or_default().to_string(),
                    None => return Ok(None),
                }
            }
            _ => return Ok(None),
        };
        let token = |key: &str| -> String {
            match config.get(key) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Object(o)) => o.get("content").and_then(Value::as_str).unwrap_or_default().to_string(),
                _ => String::new(),
            }
        };
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|e| anyhow!("chat template syntax: {e}"))?;
        env.set_syntax(syntax);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |msg: String| -> Result<JValue, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, msg))
        });
        env.add_template_owned("chat", source)
            .map_err(|e| anyhow!("{}: chat_template does not parse: {e}", path.display()))?;
        Ok(Some(ChatTemplate { env, bos_token: token("bos_token"), eos_token: token("eos_token") }))
    }

    /// Renders `messages`, with the assistant generation prompt when `add_generation_prompt`.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let tmpl = self.env.get_template("chat").expect("template added in constructor");
        let messages: Vec<JValue> = messages
            .iter()
            .map(|m| {
                let mut o = BTreeMap::new();
                o.insert("role", JValue::from(m.role.as_str()));
                o.insert("content", JValue::from(m.content.as_str()));
                JValue::from(o)
            })
            .collect();
        tmpl.render(context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => &self.bos_token,
            eos_token => &self.eos_token,
        })
        .map_err(|e| anyhow!("chat template: {e}"))
    }
}
