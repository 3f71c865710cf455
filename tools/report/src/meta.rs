//! What a run says about itself, from sb-load's run record (docs/load.md): the command line,
//! the tool's version and git commit, the host, the server's version (vLLM `GET /version`), the
//! model and URL. Printed at the top of the text and HTML reports and used in plot titles.
//! Every field is optional: older run records and other writers lack some.

use sb_records::RunRecord;
use serde_json::Value;

/// The run record fields shown here (the text report's load section leaves them out).
pub const KEYS: &[&str] = &["command", "version", "git_commit", "host", "server_version", "model", "url", "tool"];

#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunMeta {
    pub run: String,
    pub shard: Option<String>,
    /// argv, secrets already redacted by sb-load.
    pub command: Option<Vec<String>>,
    pub version: Option<String>,
    pub git_commit: Option<String>,
    pub host: Option<String>,
    pub server_version: Option<String>,
    pub model: Option<String>,
    pub url: Option<String>,
    pub tool: Option<String>,
}

impl RunMeta {
    pub fn of(r: &RunRecord) -> RunMeta {
        let x = &r.extra;
        let s = |k: &str| x.get(k).and_then(Value::as_str).map(str::to_string);
        let command = x
            .get("command")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).collect::<Vec<_>>());
        let shard = x
            .get("load")
            .and_then(|l| l.get("shard"))
            .or_else(|| x.get("shard"))
            .and_then(Value::as_str)
            .map(str::to_string);
        RunMeta {
            run: r.run.clone(),
            shard,
            command,
            version: s("version"),
            git_commit: s("git_commit"),
            host: s("host"),
            server_version: s("server_version"),
            model: s("model"),
            url: s("url"),
            tool: s("tool"),
        }
    }

    /// The command line as one shell-like string (arguments with spaces or quotes are quoted).
    pub fn command_line(&self) -> Option<String> {
        self.command.as_ref().map(|argv| argv.iter().map(|a| shell_word(a)).collect::<Vec<_>>().join(" "))
    }

    /// `0.1.0 (git 1a2b3c4)`, from `version` or the `tool` field (`sb-load 0.1.0`).
    pub fn version_line(&self) -> Option<String> {
        let v = self.version.clone().or_else(|| self.tool.clone())?;
        Some(match &self.git_commit {
            Some(c) => format!("{v} (git {})", c.chars().take(12).collect::<String>()),
            None => v,
        })
    }

    /// (label, value) rows of what is present, in a fixed order.
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        let mut rows = Vec::new();
        let mut push = |k: &'static str, v: Option<String>| {
            if let Some(v) = v {
                rows.push((k, v));
            }
        };
        push("Model", self.model.clone());
        push("Server", self.url.clone());
        push("Server version", self.server_version.clone());
        push("Command", self.command_line());
        push("sb-load version", self.version_line());
        push("Host", self.host.clone());
        rows
    }
}

fn shell_word(a: &str) -> String {
    let plain = !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c));
    if plain {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

/// One entry per run record.
pub fn of(records: &[RunRecord]) -> Vec<RunMeta> {
    records.iter().map(RunMeta::of).collect()
}

/// The value all records agree on, if they do.
pub fn common<'a>(meta: &'a [RunMeta], f: impl Fn(&'a RunMeta) -> Option<&'a String>) -> Option<&'a String> {
    let first = f(meta.first()?)?;
    meta.iter().all(|m| f(m) == Some(first)).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_self_describing_fields() {
        let extra = json!({
            "command": ["sb-load", "--url", "http://127.0.0.1:8000", "--header", "Authorization: <redacted>"],
            "version": "0.1.0", "git_commit": "1a2b3c4d5e6f7a8b", "host": "bench-1",
            "server_version": null, "model": "Qwen/Qwen3-0.6B", "load": {"shard": "0/2"}
        });
        let r = RunRecord { run: "r".into(), started_ns: 1, ended_ns: 2, extra: extra.as_object().unwrap().clone() };
        let m = RunMeta::of(&r);
        assert_eq!(m.shard.as_deref(), Some("0/2"));
        assert_eq!(
            m.command_line().unwrap(),
            "sb-load --url http://127.0.0.1:8000 --header 'Authorization: <redacted>'"
        );
        assert_eq!(m.version_line().unwrap(), "0.1.0 (git 1a2b3c4d5e6f)");
        assert_eq!(m.server_version, None);
        let labels: Vec<&str> = m.rows().iter().map(|r| r.0).collect();
        assert_eq!(labels, ["Model", "Command", "sb-load version", "Host"]);
        assert_eq!(shell_word("it's"), "'it'\\''s'");
    }
}
