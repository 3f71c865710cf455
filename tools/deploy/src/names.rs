//! Kubernetes rules that schemas do not check (the API server does): object names, label
//! keys and values, quantities; plus the small parsers for durations and `key=value` lists.

use anyhow::{bail, Result};
use std::collections::BTreeMap;

/// `vllm-` + the model's last path part, lowercased, with runs of other characters as `-`.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// RFC 1035 label (Service names): lowercase alphanumerics and `-`, starts with a letter, ends
/// alphanumeric, at most 63 characters.
pub fn check_dns1035(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        bail!(
            "{what} {name:?} is not a valid Kubernetes name: lowercase letters, digits and '-', starting with a letter, at most 63 characters ({} now)",
            name.len()
        );
    }
    Ok(())
}

/// A label value: at most 63 of `[A-Za-z0-9-_.]`, alphanumeric at both ends (or empty).
pub fn check_label_value(key: &str, value: &str) -> Result<()> {
    let ok = value.is_empty()
        || (value.len() <= 63
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.ends_with(|c: char| c.is_ascii_alphanumeric())
            && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')));
    if !ok {
        bail!("label {key}={value:?}: a label value is at most 63 letters, digits, '-', '_' or '.', alphanumeric at both ends");
    }
    Ok(())
}

/// A label key: optional DNS prefix and `/`, then a name part like a value (non-empty).
pub fn check_label_key(key: &str) -> Result<()> {
    let name = match key.rsplit_once('/') {
        Some((prefix, n)) if !prefix.is_empty() && prefix.len() <= 253 => n,
        Some(_) => "",
        None => key,
    };
    if name.is_empty() || check_label_value(key, name).is_err() {
        bail!("label key {key:?} is not valid: [prefix/]name with name like a label value");
    }
    Ok(())
}

/// Parses repeated `KEY=VALUE` options into a map (for labels, node selectors, env). Errors
/// show the key only: a value may be a secret.
pub fn key_values(option: &str, items: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for item in items {
        let Some((k, v)) = item.split_once('=') else {
            bail!("{option}: expected KEY=VALUE, got a word with no '=' (not shown: it may be a secret)");
        };
        if k.is_empty() {
            bail!("{option} ={}: the key is empty", if v.is_empty() { "" } else { "..." });
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// True for an environment variable or flag name that holds a secret by its name: `…TOKEN`,
/// `…KEY`, `…SECRET`, `…PASSWORD` (any case, `-` or `_`).
pub fn looks_secret(name: &str) -> bool {
    let n = name.trim_start_matches('-').to_ascii_uppercase().replace('-', "_");
    ["TOKEN", "KEY", "SECRET", "PASSWORD", "PASSWD", "CREDENTIALS", "APIKEY"].iter().any(|s| n.ends_with(s))
}

/// Refuses `--env NAME=VALUE` for a name that holds a secret: its value would be written into
/// the manifest in plain text. The error shows the secretKeyRef way, never the value.
pub fn refuse_literal_secret_env(env: &BTreeMap<String, String>) -> Result<()> {
    for name in env.keys() {
        if looks_secret(name) {
            bail!(
                "--env {name}=...: {name} looks like a secret, and a literal value would be written into the manifest (and every `kubectl get -o yaml`). Keep it in a Secret and reference it: `kubectl create secret generic my-secret --from-literal={name}=...`, then `--env-secret {name}=my-secret:{name}`{}",
                if name == "HF_TOKEN" { " (for HF_TOKEN, --hf-secret NAME[:KEY] does this)" } else { "" }
            );
        }
    }
    Ok(())
}

/// Refuses an `--extra-arg` that would put a secret on the command line (`--hf-token=…`,
/// `--api-key …`): argv is in the manifest and in `ps`. The value is never shown.
pub fn refuse_secret_args(args: &[String]) -> Result<()> {
    for arg in args {
        let flag = arg.split('=').next().unwrap_or("");
        if flag.starts_with("--") && looks_secret(flag) {
            bail!(
                "--extra-arg {flag}{}: a secret on the engine's command line is written into the manifest; give the server its key from a Secret instead (--hf-secret for HF_TOKEN, --env-secret VLLM_API_KEY=SECRET:KEY for --api-key)",
                if arg.contains('=') { "=..." } else { " ..." }
            );
        }
    }
    Ok(())
}

/// A duration in whole seconds (Kubernetes fields are integers), in the grammar every
/// servebench tool shares (`sb_cli::duration`): `90s`, `1.5m`, `1m30s`, `2h`, or plain seconds.
pub fn parse_duration_s(option: &str, text: &str) -> Result<i64> {
    let d = sb_cli::parse_positive_duration(text).map_err(|e| anyhow::anyhow!("{option}: {e}"))?;
    if d.subsec_nanos() != 0 {
        bail!("{option} {text:?}: Kubernetes takes whole seconds here (e.g. 90s, 1m30s)");
    }
    Ok(d.as_secs() as i64)
}

/// A Prometheus duration as the prometheus-operator CRDs require for `interval`:
/// `^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$`
/// (the `Duration` schema of the monitoring.coreos.com/v1 CRDs), non-empty.
pub fn is_prometheus_duration(text: &str) -> bool {
    if text == "0" {
        return true;
    }
    let mut rest = text;
    let mut units = ["y", "w", "d", "h", "m", "s", "ms"].iter();
    let mut any = false;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        let after = &rest[digits..];
        // Units must come in order, each at most once; "ms" must not be read as "m" + "s".
        let mut matched = None;
        for u in units.by_ref() {
            if after.starts_with(u) && !(*u == "m" && after.starts_with("ms")) {
                matched = Some(u.len());
                break;
            }
        }
        let Some(len) = matched else { return false };
        rest = &after[len..];
        any = true;
    }
    any
}

/// A memory quantity in bytes (`16Gi`, `512Mi`, `20G`, plain bytes), to compare sizes.
pub fn quantity_bytes(option: &str, text: &str) -> Result<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: f64 = match unit {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        _ => bail!("{option} {text:?}: expected a Kubernetes quantity like 16Gi or 512Mi"),
    };
    match num.parse::<f64>() {
        Ok(n) if n > 0.0 => Ok((n * mult) as u64),
        _ => bail!("{option} {text:?}: expected a Kubernetes quantity like 16Gi or 512Mi"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_quantities() {
        assert_eq!(slug("Qwen/Qwen3-0.6B"), "qwen-qwen3-0-6b");
        assert_eq!(slug("Llama-3.1-405B-Instruct-FP8"), "llama-3-1-405b-instruct-fp8");
        assert!(check_dns1035("name", "vllm-qwen3-0-6b").is_ok());
        assert!(check_dns1035("name", "VLLM_Qwen3").is_err());
        assert!(check_dns1035("name", "3vllm").is_err());
        assert!(check_dns1035("name", &"a".repeat(64)).is_err());
        assert!(check_label_value("k", "Qwen3-0.6B").is_ok());
        assert!(check_label_value("k", "Qwen/Qwen3").is_err());
        assert!(check_label_key("servebench.io/point").is_ok());
        assert!(check_label_key("/x").is_err());
        assert_eq!(parse_duration_s("--x", "30m").unwrap(), 1800);
        assert!(parse_duration_s("--x", "soon").is_err());
        assert_eq!(quantity_bytes("--x", "16Gi").unwrap(), 16 << 30);
        assert!(quantity_bytes("--x", "16GB").is_err());
        assert!(key_values("--label", &["a".into()]).is_err());
        for ok in ["15s", "1m30s", "0", "2h", "500ms", "1y2w3d4h5m6s7ms"] {
            assert!(is_prometheus_duration(ok), "{ok}");
        }
        for bad in ["", "15", "s", "30s1m", "1.5s", "15 s", "1ms1s"] {
            assert!(!is_prometheus_duration(bad), "{bad}");
        }
    }
}
