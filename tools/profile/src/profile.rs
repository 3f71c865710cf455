//! A workload profile as llm-d-benchmark hands it to a harness: the `.yaml.in` template with its
//! `REPLACE_ENV_<NAME>` placeholders filled from the environment, then `-o key=value,...`
//! overrides applied with llm-d-benchmark's rules (`llmdbenchmark/utilities/profile_renderer.py`
//! and `run/steps/step_05_render_profiles.py`), and the harness it is for.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Harness {
    /// kubernetes-sigs/inference-perf config files.
    InferencePerf,
    /// `vllm bench serve` flags as YAML keys.
    VllmBenchmark,
    /// guidellm scenario files.
    Guidellm,
}

impl Harness {
    pub fn name(self) -> &'static str {
        match self {
            Harness::InferencePerf => "inference-perf",
            Harness::VllmBenchmark => "vllm-benchmark",
            Harness::Guidellm => "guidellm",
        }
    }
}

/// Fills `REPLACE_ENV_<NAME>` (NAME: `[A-Za-z0-9_]+`, as llm-d's `REPLACE_ENV_(\w+)`) from
/// `env`. llm-d drops empty values, so an empty variable counts as missing; every missing name
/// is listed in one error.
pub fn fill_placeholders(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String> {
    const MARK: &str = "REPLACE_ENV_";
    let mut out = String::with_capacity(text.len());
    let mut missing = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find(MARK) {
        out.push_str(&rest[..i]);
        let after = &rest[i + MARK.len()..];
        let len = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
        let name = &after[..len];
        match env(name).filter(|v| !v.is_empty()) {
            Some(v) if !name.is_empty() => out.push_str(&v),
            _ => {
                missing.insert(name.to_string());
                out.push_str(&rest[i..i + MARK.len() + len]);
            }
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(String::as_str).collect();
        bail!(
            "the profile needs {} with a value: {} (llm-d-benchmark fills REPLACE_ENV_<NAME> from these)",
            if names.len() == 1 { "this environment variable" } else { "these environment variables" },
            names.join(", ")
        );
    }
    Ok(out)
}

/// `-o a.b=1,c=x` as llm-d-benchmark splits it: pairs on `,`, key and value on the first `=`,
/// both trimmed. llm-d skips a pair without `=`; here it is an error, so nothing is dropped.
pub fn parse_overrides(specs: &[String]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for spec in specs {
        for pair in spec.split(',') {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| anyhow!("-o {pair:?}: expected key=value (dotted key, e.g. load.stages.0.rate=2)"))?;
            let k = k.trim();
            if k.is_empty() {
                bail!("-o {pair:?}: empty key");
            }
            out.push((k.to_string(), v.trim().to_string()));
        }
    }
    Ok(out)
}

/// llm-d's `_coerce_value`: true/yes, false/no (any case), then Python `int`, then `float`,
/// else the string.
pub fn coerce(v: &str) -> Value {
    let lower = v.to_ascii_lowercase();
    if lower == "true" || lower == "yes" {
        return Value::Bool(true);
    }
    if lower == "false" || lower == "no" {
        return Value::Bool(false);
    }
    let digits = v.trim().replace('_', "");
    if let Ok(i) = digits.parse::<i64>() {
        return Value::from(i);
    }
    match digits.parse::<f64>() {
        Ok(f) if f.is_finite() => serde_json::Number::from_f64(f).map_or(Value::String(v.into()), Value::Number),
        _ => Value::String(v.to_string()),
    }
}

fn list_index(len: usize, part: &str) -> Option<usize> {
    let i: i64 = part.parse().ok()?;
    let len = len as i64;
    let i = if i < 0 { i + len } else { i };
    (0..len).contains(&i).then_some(i as usize)
}

/// llm-d's `apply_overrides`: walk the dotted key (integer parts index lists, negative from the
/// end); a missing leaf of a map is added, a missing parent or a list index out of range does not
/// match. llm-d warns about keys that match nothing; here they are an error naming every one.
pub fn apply_overrides(doc: &mut Value, overrides: &[(String, String)]) -> Result<()> {
    fn set(v: &mut Value, parts: &[&str], value: Value) -> bool {
        let (part, rest) = (parts[0], &parts[1..]);
        match v {
            Value::Object(m) if rest.is_empty() => {
                m.insert(part.to_string(), value);
                true
            }
            Value::Object(m) => m.get_mut(part).is_some_and(|c| set(c, rest, value)),
            Value::Array(a) => match list_index(a.len(), part) {
                Some(i) if rest.is_empty() => {
                    a[i] = value;
                    true
                }
                Some(i) => set(&mut a[i], rest, value),
                None => false,
            },
            _ => false,
        }
    }
    let mut unmatched = Vec::new();
    for (key, value) in overrides {
        let parts: Vec<&str> = key.split('.').collect();
        if !set(doc, &parts, coerce(value)) {
            unmatched.push(key.as_str());
        }
    }
    if !unmatched.is_empty() {
        bail!(
            "-o: {} not match any path in the profile: {} (a parent key is missing or a list index is out of range; llm-d-benchmark would drop {} with a warning)",
            if unmatched.len() == 1 { "this key does" } else { "these keys do" },
            unmatched.join(", "),
            if unmatched.len() == 1 { "it" } else { "them" }
        );
    }
    Ok(())
}

/// The harness a profile is for: its folder (`profiles/<harness>/x.yaml.in`), else its shape.
pub fn detect_harness(path: &Path, doc: &Value) -> Result<Harness> {
    let folder = path.parent().and_then(|p| p.file_name()).and_then(|f| f.to_str()).unwrap_or("");
    match folder {
        "inference-perf" => return Ok(Harness::InferencePerf),
        "vllm-benchmark" => return Ok(Harness::VllmBenchmark),
        "guidellm" => return Ok(Harness::Guidellm),
        _ => {}
    }
    let has = |k: &str| doc.get(k).is_some();
    if has("load") && (has("data") || has("api") || has("server")) {
        Ok(Harness::InferencePerf)
    } else if has("spec") || has("benchmarks") {
        Ok(Harness::Guidellm)
    } else if has("executable") || has("dataset-name") || has("num-prompts") || has("base-url") {
        Ok(Harness::VllmBenchmark)
    } else {
        bail!(
            "{}: cannot tell the harness from the folder or the keys; give --harness inference-perf|vllm-benchmark|guidellm",
            path.display()
        )
    }
}

/// Reads, fills and overrides a profile: (the document, the resolved YAML text).
pub fn load(path: &Path, overrides: &[(String, String)]) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let filled = fill_placeholders(&text, &|n| std::env::var(n).ok()).with_context(|| format!("{}", path.display()))?;
    let mut doc: Value = serde_saphyr::from_str(&filled)
        .map_err(|e| anyhow!("{}: not valid YAML after filling placeholders: {e}", path.display()))?;
    if !doc.is_object() {
        bail!("{}: a profile is a YAML mapping", path.display());
    }
    apply_overrides(&mut doc, overrides)?;
    Ok(doc)
}

/// Every leaf of the profile (dotted path), and whether the mapping used it. A leaf nobody used
/// is unsupported: never ignored silently.
pub struct Keys {
    leaves: BTreeMap<String, Value>,
    used: BTreeSet<String>,
    /// Keys honoured in a way worth saying (an approximation), with the note.
    pub notes: Vec<(String, String)>,
    /// Keys present but not honoured, with why.
    pub unsupported: Vec<(String, String)>,
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    let join = |k: &str| if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") };
    match v {
        Value::Object(m) if !m.is_empty() => m.iter().for_each(|(k, v)| flatten(&join(k), v, out)),
        Value::Array(a) if !a.is_empty() => {
            a.iter().enumerate().for_each(|(i, v)| flatten(&join(&i.to_string()), v, out))
        }
        _ => {
            out.insert(prefix.to_string(), v.clone());
        }
    }
}

impl Keys {
    pub fn new(doc: &Value) -> Keys {
        let mut leaves = BTreeMap::new();
        flatten("", doc, &mut leaves);
        Keys { leaves, used: BTreeSet::new(), notes: Vec::new(), unsupported: Vec::new() }
    }

    fn mark(&mut self, path: &str) {
        let under = format!("{path}.");
        let hit: Vec<String> = self.leaves.keys().filter(|k| *k == path || k.starts_with(&under)).cloned().collect();
        self.used.extend(hit);
    }

    /// The value at `path` of `doc`, marking it (and everything under it) used.
    pub fn get<'a>(&mut self, doc: &'a Value, path: &str) -> Option<&'a Value> {
        let mut v = doc;
        for part in path.split('.') {
            v = match v {
                Value::Object(m) => m.get(part)?,
                Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        self.mark(path);
        (!v.is_null()).then_some(v)
    }

    pub fn note(&mut self, path: &str, why: impl Into<String>) {
        if self.leaves.keys().any(|k| k == path || k.starts_with(&format!("{path}."))) {
            self.mark(path);
            self.notes.push((path.to_string(), why.into()));
        }
    }

    /// The server's URL and model at `url_key` and `model_key`, as sb-load's `--url` and
    /// `--model` in `load`; the model, which other settings default to.
    pub fn url_and_model(
        &mut self,
        doc: &Value,
        url_key: &str,
        model_key: &str,
        load: &mut Vec<String>,
    ) -> Option<String> {
        if let Some(url) = self.get(doc, url_key) {
            load.extend(["--url".into(), as_string(url)]);
        }
        let model = self.get(doc, model_key).map(as_string);
        if let Some(m) = &model {
            load.extend(["--model".into(), m.clone()]);
        }
        model
    }

    pub fn unsupported(&mut self, path: &str, why: impl Into<String>) {
        self.mark(path);
        self.unsupported.push((path.to_string(), why.into()));
    }

    /// Leaves under `prefix` that nothing used.
    pub fn unused_under(&self, prefix: &str) -> Vec<String> {
        let under = format!("{prefix}.");
        self.leaves
            .keys()
            .filter(|k| (*k == prefix || k.starts_with(&under)) && !self.used.contains(*k))
            .cloned()
            .collect()
    }

    /// Call last: every leaf not used becomes unsupported.
    pub fn finish(&mut self) {
        let left: Vec<String> = self.leaves.keys().filter(|k| !self.used.contains(*k)).cloned().collect();
        for k in left {
            self.unsupported.push((k, "not a key servebench knows for this harness".into()));
        }
        self.unsupported.sort();
    }
}

/// A number of a profile value (`2`, `2.5`, or a string holding one).
pub fn as_f64(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

pub fn as_string(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_from_the_environment_and_every_missing_one_named() {
        let env = |n: &str| match n {
            "A" => Some("x".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        assert_eq!(fill_placeholders("u: REPLACE_ENV_A/v1", &env).unwrap(), "u: x/v1");
        let e = fill_placeholders("REPLACE_ENV_B REPLACE_ENV_EMPTY REPLACE_ENV_B", &env).unwrap_err().to_string();
        assert!(e.contains("B, EMPTY"), "{e}");
    }

    #[test]
    fn overrides_follow_llmd() {
        let mut doc = json!({"load": {"stages": [{"rate": 1}, {"rate": 2}]}, "data": {}});
        let o = parse_overrides(&["load.stages.0.rate=5, load.stages.-1.duration=3,data.new=yes".into()]).unwrap();
        apply_overrides(&mut doc, &o).unwrap();
        assert_eq!(doc["load"]["stages"][0]["rate"], 5);
        assert_eq!(doc["load"]["stages"][1]["duration"], 3);
        assert_eq!(doc["data"]["new"], true);
        let bad = parse_overrides(&["nope.x=1,load.stages.7.rate=1".into()]).unwrap();
        let e = apply_overrides(&mut doc, &bad).unwrap_err().to_string();
        assert!(e.contains("nope.x, load.stages.7.rate"), "{e}");
        assert!(parse_overrides(&["novalue".into()]).is_err());
        assert_eq!(coerce("1.5"), json!(1.5));
        assert_eq!(coerce("No"), json!(false));
        assert_eq!(coerce("/v1/x"), json!("/v1/x"));
    }
}
