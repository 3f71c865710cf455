//! Engine parameters from `--set key=value`, values files and sweep points, checked against the
//! flag table and merged (later sources win: values files in order, then `--set`, then the point).

use crate::flags::{EngineParams, FlagTable, Raw};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::Path;

/// A parameter as given, before checking.
#[derive(Clone, Debug, PartialEq)]
pub enum Given {
    Text(String),
    Value(Value),
}

impl Given {
    pub fn raw(&self) -> Raw<'_> {
        match self {
            Given::Text(t) => Raw::Text(t),
            Given::Value(v) => Raw::Json(v),
        }
    }
}

/// One `key=value` with where it came from, for error messages.
#[derive(Clone, Debug)]
pub struct Setting {
    pub origin: String,
    pub key: String,
    pub value: Given,
}

/// Splits `key=value` (the value may contain `=`).
pub fn parse_set(arg: &str) -> Result<Setting> {
    let Some((k, v)) = arg.split_once('=') else {
        bail!("--set: expected key=value, e.g. --set max-model-len=16384 (got a word with no '=', not shown)");
    };
    if k.trim().is_empty() {
        bail!("--set ={}: the key is empty", if v.is_empty() { "" } else { "..." });
    }
    // The origin is quoted in errors: a secret's value must not be (`--set hf-token=...`).
    let shown =
        if crate::names::looks_secret(k.trim()) { format!("--set {}=***", k.trim()) } else { format!("--set {arg}") };
    Ok(Setting { origin: shown, key: k.trim().to_string(), value: Given::Text(v.to_string()) })
}

/// Reads a values file: a YAML or JSON map of engine flags (`max-model-len: 16384`,
/// `enable-chunked-prefill: false`, `compilation-config: {mode: 3}`).
pub fn read_values_file(path: &Path) -> Result<Vec<Setting>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("values file {}", path.display()))?;
    let value: Value = parse_yaml_or_json(path, &text)?;
    let Value::Object(map) = value else {
        bail!("{}: a values file is a map of vLLM flags to values (e.g. max-model-len: 16384)", path.display());
    };
    Ok(map
        .into_iter()
        .map(|(k, v)| Setting { origin: format!("{}: {k}", path.display()), key: k, value: Given::Value(v) })
        .collect())
}

/// JSON when the file says so by its extension, YAML otherwise (YAML errors name line and column).
pub fn parse_yaml_or_json(path: &Path, text: &str) -> Result<Value> {
    if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(text).with_context(|| format!("{}: not valid JSON", path.display()))
    } else {
        serde_saphyr::from_str(text).map_err(|e| anyhow::anyhow!("{}: not valid YAML: {e}", path.display()))
    }
}

/// Checks settings against the table and merges them into `params`. Notes (abbreviations
/// expanded, deprecated no-ops) are pushed to `notes` for stderr.
pub fn apply(
    table: &FlagTable,
    params: &mut EngineParams,
    settings: &[Setting],
    notes: &mut Vec<String>,
) -> Result<()> {
    for s in settings {
        let resolved = table.resolve(&s.key).map_err(|e| anyhow::anyhow!("{}: {e}", s.origin))?;
        if let Some(short) = &resolved.expanded_from {
            notes.push(format!(
                "{}: --{short} taken as --{} (a unique prefix, as vLLM's parser allows)",
                s.origin, resolved.flag.name
            ));
        }
        if resolved.flag.name == "disable-cascade-attn" && table.version.at_least([0, 33, 0]) {
            notes.push(format!(
                "{}: --disable-cascade-attn is a deprecated no-op in vLLM 0.33 (cascade attention was removed)",
                s.origin
            ));
        }
        let value = table.check_value(&resolved, s.value.raw()).map_err(|e| anyhow::anyhow!("{}: {e}", s.origin))?;
        params.insert(resolved.flag.name.clone(), value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::ArgValue;
    use crate::version::VllmVersion;

    #[test]
    fn set_and_files_merge_with_sources_in_errors() {
        let t = FlagTable::for_version(&VllmVersion::parse("0.33.0").unwrap());
        let dir = std::env::temp_dir().join(format!("sb-deploy-values-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let yaml = dir.join("v.yaml");
        std::fs::write(&yaml, "max-model-len: 16384\nenable-chunked-prefill: false\ncompilation-config: {mode: 3}\n")
            .unwrap();
        let mut params = EngineParams::new();
        let mut notes = vec![];
        apply(&t, &mut params, &read_values_file(&yaml).unwrap(), &mut notes).unwrap();
        apply(&t, &mut params, &[parse_set("max_model_len=8k").unwrap()], &mut notes).unwrap();
        assert_eq!(params["max-model-len"], ArgValue::Int(8000));
        assert_eq!(params["enable-chunked-prefill"], ArgValue::Switch(false));
        assert_eq!(params["compilation-config"], ArgValue::Json("{\"mode\":3}".into()));

        std::fs::write(&yaml, "max-model-len: 16384\nnum-scheduler-steps: 16\n").unwrap();
        let err = apply(&t, &mut params, &read_values_file(&yaml).unwrap(), &mut notes).unwrap_err().to_string();
        assert!(err.contains("v.yaml: num-scheduler-steps: --num-scheduler-steps was removed"), "{err}");
        std::fs::write(&yaml, "- a\n- b\n").unwrap();
        assert!(read_values_file(&yaml).unwrap_err().to_string().contains("a map of vLLM flags"));
        std::fs::write(&yaml, "a: [1\n").unwrap();
        assert!(read_values_file(&yaml).unwrap_err().to_string().contains("not valid YAML"));
        assert!(parse_set("max-model-len").unwrap_err().to_string().contains("expected key=value"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
