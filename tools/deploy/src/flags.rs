//! The `vllm serve` flag table of a target vLLM version, and checking engine parameters against it.
//!
//! The table is the real 0.33.0 parser, dumped (`flags/vllm_serve_flags_0.33.0.json`); older
//! versions are that table with the dated history of `docs/deploy.md` ("Flag history") applied:
//! flags added later are removed, flags removed since are added back with their old type. Flags the
//! history does not date are assumed present in every covered version.
//!
//! We mirror the parser's rules (underscores = dashes, unique prefixes, switches take no value)
//! and add the checks vLLM only makes at engine start-up, after the image was pulled (free-string
//! choices such as `--kv-cache-dtype`, numeric ranges), so a bad value fails here, not in the pod.

use crate::version::{fmt_parts, VllmVersion};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

const FLAGS_0_33_0: &str = include_str!("flags/vllm_serve_flags_0.33.0.json");

/// How a flag takes its value on the command line.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueType {
    /// `--x` / `--no-x` (vLLM's EnableDisableAction) or a plain `store_true` (no negative form).
    Switch {
        negative: Option<String>,
    },
    Int,
    Float,
    /// An integer with optional `k`/`m`/`g` (×1000) or `K`/`M`/`G` (×1024) suffix.
    HumanInt,
    /// As [`ValueType::HumanInt`], or `auto` / `-1` (fit to memory, 0.14.0+).
    HumanIntOrAuto,
    Str,
    /// `nargs='+'`: one or more values, each its own argv item.
    List(Box<ValueType>),
    /// A JSON object given as one argv item.
    Json,
    /// A JSON object or a plain string (`--pt-load-map-location cpu`).
    JsonOrStr,
}

impl ValueType {
    /// How the value is written, for `sb-deploy flags`.
    pub fn describe(&self) -> String {
        match self {
            ValueType::Switch { negative: Some(n) } => format!("switch (true/false; false = {n})"),
            ValueType::Switch { negative: None } => "switch (true/false)".into(),
            ValueType::Int => "integer".into(),
            ValueType::Float => "number".into(),
            ValueType::HumanInt => "integer (k/K suffixes)".into(),
            ValueType::HumanIntOrAuto => "integer (k/K suffixes) or auto".into(),
            ValueType::Str => "string".into(),
            ValueType::List(inner) => format!("list of {}", inner.describe()),
            ValueType::Json => "JSON object".into(),
            ValueType::JsonOrStr => "JSON object or string".into(),
        }
    }
}

/// One flag of the table.
#[derive(Clone, Debug)]
pub struct Flag {
    /// Canonical name: the first option without dashes (`max-model-len`).
    pub name: String,
    /// Every spelling the parser accepts, as dumped (`--tensor-parallel-size`, `-tp`).
    pub opts: Vec<String>,
    pub ty: ValueType,
    pub choices: Option<Vec<String>>,
    /// The parser's default, as Python printed it (`None`, `0.92`, `'auto'`).
    pub default: Option<String>,
}

/// A checked value, ready to become argv items.
#[derive(Clone, Debug, PartialEq)]
pub enum ArgValue {
    /// For a switch: `true` renders the flag's first option, `false` its negative form.
    Switch(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<String>),
    Json(String),
}

impl ArgValue {
    /// The value as it goes into a plan record.
    pub fn to_json(&self) -> Value {
        match self {
            ArgValue::Switch(b) => Value::Bool(*b),
            ArgValue::Int(i) => Value::from(*i),
            ArgValue::Float(f) => serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
            ArgValue::Str(s) | ArgValue::Json(s) => Value::String(s.clone()),
            ArgValue::List(l) => Value::Array(l.iter().cloned().map(Value::String).collect()),
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            ArgValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            ArgValue::Float(f) => Some(*f),
            ArgValue::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            ArgValue::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            ArgValue::Switch(b) => Some(*b),
            _ => None,
        }
    }
}

/// A value as the user gave it: text from `--set`/`--sweep`, or a YAML/JSON value from a file.
#[derive(Clone, Copy, Debug)]
pub enum Raw<'a> {
    Text(&'a str),
    Json(&'a Value),
}

/// Flags vLLM dropped, with the last type they had and what to do instead (`docs/deploy.md`,
/// "Flag history"; first release of the sampled wheels without the flag).
struct Removed {
    name: &'static str,
    ty: fn() -> ValueType,
    removed_in: [u32; 3],
    instead: &'static str,
}

const REMOVED: &[Removed] = &[
    Removed {
        name: "num-scheduler-steps",
        ty: || ValueType::Int,
        removed_in: [0, 10, 1],
        instead: "multi-step scheduling went with the V0 engine: drop it",
    },
    Removed {
        name: "task",
        ty: || ValueType::Str,
        removed_in: [0, 12, 0],
        instead: "use runner (generate|pooling) and convert (embed|classify)",
    },
    Removed {
        name: "override-pooler-config",
        ty: || ValueType::Json,
        removed_in: [0, 12, 0],
        instead: "use pooler-config",
    },
    Removed {
        name: "logits-processor-pattern",
        ty: || ValueType::Str,
        removed_in: [0, 17, 0],
        instead: "use logits-processors",
    },
    Removed {
        name: "swap-space",
        ty: || ValueType::Float,
        removed_in: [0, 18, 0],
        instead: "the V1 engine never swapped: drop it (for CPU KV offload use kv-offloading-size)",
    },
    Removed {
        name: "calculate-kv-scales",
        ty: || ValueType::Switch { negative: Some("--no-calculate-kv-scales".into()) },
        removed_in: [0, 28, 0],
        instead: "drop it: fp8 KV scales come from the checkpoint",
    },
];

/// Flags of the 0.33 table that newer releases added (first sampled release that has them).
const ADDED: &[(&str, [u32; 3])] = &[
    ("convert", [0, 10, 1]),
    ("runner", [0, 10, 1]),
    ("allowed-media-domains", [0, 11, 0]),
    ("pooler-config", [0, 11, 0]),
    ("kv-cache-memory-bytes", [0, 11, 0]),
    ("safetensors-load-strategy", [0, 11, 0]),
    ("kv-offloading-size", [0, 12, 0]),
    ("kv-offloading-backend", [0, 12, 0]),
    ("cudagraph-capture-sizes", [0, 12, 0]),
    ("max-cudagraph-capture-size", [0, 12, 0]),
    ("allow-deprecated-quantization", [0, 14, 0]),
];

/// Keys sb-deploy renders itself, or that must never be argv (secrets).
const RESERVED: &[(&str, &str)] = &[
    ("model", "the model is the --model option of sb-deploy (rendered as the positional model)"),
    ("model-tag", "the model is the --model option of sb-deploy (rendered as the positional model)"),
    ("host", "rendered by sb-deploy: vLLM listens on 0.0.0.0:8000, the container port named http"),
    ("port", "rendered by sb-deploy: vLLM listens on 0.0.0.0:8000, the container port named http"),
    ("served-model-name", "use sb-deploy --served-name"),
    (
        "hf-token",
        "a token in argv leaks into manifests and logs: the pod reads HF_TOKEN from the Secret named by --hf-secret",
    ),
    ("api-key", "a key in argv leaks into manifests and logs: pass VLLM_API_KEY from a Secret with --env-secret"),
    ("config", "no config file is mounted: put its keys in a values file (-f values.yaml)"),
];

/// Quantization methods vLLM 0.33 accepts only with `--allow-deprecated-quantization`.
pub const DEPRECATED_QUANTIZATION_0_33: &[&str] = &["fbgemm_fp8", "fp_quant"];

/// Choices vLLM validates only at engine start (free strings for the parser), for 0.33.0.
const QUANTIZATION_0_33: &[&str] = &[
    "awq",
    "auto_awq",
    "fp8",
    "fbgemm_fp8",
    "fp_quant",
    "modelopt",
    "modelopt_fp4",
    "modelopt_mxfp8",
    "modelopt_mixed",
    "auto_gptq",
    "gptq",
    "gptq_marlin",
    "awq_marlin",
    "humming",
    "compressed-tensors",
    "experts_int8",
    "quark",
    "moe_wna16",
    "torchao",
    "inc",
    "mxfp4",
    "gpt_oss_mxfp4",
    "deepseek_v4_fp8",
    "online",
    "fp8_per_tensor",
    "fp8_per_block",
    "fp8_per_channel",
    "int8_per_channel_weight_only",
    "nvfp4_per_token",
    "mxfp8",
];
const KV_CACHE_DTYPE_0_33: &[&str] = &[
    "auto",
    "float16",
    "bfloat16",
    "fp8",
    "fp8_e4m3",
    "fp8_e5m2",
    "fp8_inc",
    "fp8_ds_mla",
    "nvfp4_ds_mla",
    "turboquant_k8v4",
    "turboquant_4bit_nc",
    "turboquant_k3v4_nc",
    "turboquant_3bit_nc",
    "octave_k3v4",
    "octave_k3v3",
    "octave_k3v3_compact",
    "ultraquant_4bit",
    "int4_per_token_head",
    "int8_per_token_head",
    "fp8_per_token_head",
    "nvfp4",
    "nvfp4_4over6",
];
const LOAD_FORMAT_0_33: &[&str] = &[
    "auto",
    "hf",
    "dummy",
    "fastsafetensors",
    "instanttensor",
    "ipc_cache",
    "mistral",
    "modelexpress",
    "npcache",
    "pt",
    "runai_streamer",
    "runai_streamer_sharded",
    "safetensors",
    "sharded_state",
    "tensorizer",
];
const TOKENIZER_MODE_0_33: &[&str] =
    &["auto", "hf", "mistral", "deepseek_v32", "deepseek_v4", "inkling", "kimi_k3", "cohere", "alpamayo2_super"];

/// Inner types of `_optional_type` flags (the dump names only the wrapper); others are strings.
fn optional_inner(name: &str) -> ValueType {
    match name {
        "kv-cache-memory-bytes" => ValueType::HumanInt,
        "num-gpu-blocks-override" | "mamba-block-size" | "max-log-len" | "max-parallel-loading-workers" => {
            ValueType::Int
        }
        "kv-offloading-size" => ValueType::Float,
        "pooler-config" | "mm-processor-kwargs" => ValueType::Json,
        _ => ValueType::Str,
    }
}

/// Numeric bounds vLLM's config classes enforce at start-up: (flag, min, min inclusive, max).
const RANGES: &[(&str, f64, bool, Option<f64>)] = &[
    ("gpu-memory-utilization", 0.0, false, Some(1.0)),
    ("block-size", 1.0, true, None),
    ("tensor-parallel-size", 1.0, true, None),
    ("pipeline-parallel-size", 1.0, true, None),
    ("data-parallel-size", 1.0, true, None),
    ("max-num-seqs", 1.0, true, None),
    ("max-num-batched-tokens", 1.0, true, None),
    ("cpu-offload-gb", 0.0, true, None),
    ("swap-space", 0.0, true, None),
    ("kv-offloading-size", 0.0, false, None),
    ("kv-cache-memory-bytes", 1.0, true, None),
    ("num-gpu-blocks-override", 1.0, true, None),
    ("max-cudagraph-capture-size", 1.0, true, None),
    ("max-logprobs", -1.0, true, None),
    ("num-scheduler-steps", 1.0, true, None),
];

#[derive(Deserialize)]
struct Dump {
    flags: Vec<DumpFlag>,
}

#[derive(Deserialize)]
struct DumpFlag {
    #[serde(default)]
    opts: Vec<String>,
    #[serde(default, rename = "type")]
    ty: Option<String>,
    #[serde(default)]
    nargs: Value,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    choices: Option<Vec<String>>,
    #[serde(default)]
    default: Option<String>,
}

/// The flags of one vLLM version.
pub struct FlagTable {
    pub version: VllmVersion,
    flags: Vec<Flag>,
    /// Every accepted spelling, normalised (no dashes in front, `_` -> `-`), to its flag.
    index: HashMap<String, usize>,
}

/// A key resolved to its flag: which spelling was used, and whether it was an abbreviation.
pub struct Resolved<'t> {
    pub flag: &'t Flag,
    /// The normalised spelling that matched (`disable-chunked-prefill`).
    pub spelled: String,
    /// Set when the key was a unique prefix (`max-num-seq`), as the parser allows.
    pub expanded_from: Option<String>,
}

/// Strips dashes in front and maps `_` to `-`, as vLLM's FlexibleArgumentParser does.
pub fn normalize(key: &str) -> String {
    key.trim().trim_start_matches('-').replace('_', "-")
}

fn dump_type(name: &str, f: &DumpFlag) -> ValueType {
    let nargs0 = f.nargs.as_u64() == Some(0);
    let action = f.action.as_deref().unwrap_or("");
    if action == "EnableDisableAction" || action == "_StoreTrueAction" || nargs0 {
        let first = f.opts.first().cloned().unwrap_or_default();
        let negative = if action == "EnableDisableAction" {
            f.opts.iter().find(|o| o.starts_with("--") && **o != first).cloned()
        } else {
            None
        };
        return ValueType::Switch { negative };
    }
    let scalar = match f.ty.as_deref() {
        Some("int") => ValueType::Int,
        Some("float") => ValueType::Float,
        Some("human_readable_int") => ValueType::HumanInt,
        Some("human_readable_int_or_auto") => ValueType::HumanIntOrAuto,
        Some("loads") | Some("parse_dataclass") | Some("_parse_type") => ValueType::Json,
        Some("union_dict_and_str") => ValueType::JsonOrStr,
        Some("_optional_type") => optional_inner(name),
        _ => ValueType::Str,
    };
    if f.nargs.as_str() == Some("+") {
        ValueType::List(Box::new(scalar))
    } else {
        scalar
    }
}

fn strs(list: &[&str]) -> Option<Vec<String>> {
    Some(list.iter().map(|s| s.to_string()).collect())
}

impl FlagTable {
    pub fn for_version(version: &VllmVersion) -> FlagTable {
        let dump: Dump = serde_json::from_str(FLAGS_0_33_0).expect("embedded flag table is valid JSON");
        let mut flags = Vec::new();
        for f in dump.flags.iter().filter(|f| !f.opts.is_empty()) {
            let name = normalize(&f.opts[0]);
            if ADDED.iter().any(|(n, since)| *n == name && !version.at_least(*since)) {
                continue;
            }
            let mut choices = f.choices.clone().map(|c| c.into_iter().filter(|c| c != "None").collect());
            if choices.is_none() {
                choices = match name.as_str() {
                    "quantization" => strs(QUANTIZATION_0_33),
                    "kv-cache-dtype" => strs(KV_CACHE_DTYPE_0_33),
                    "load-format" => strs(LOAD_FORMAT_0_33),
                    "tokenizer-mode" => strs(TOKENIZER_MODE_0_33),
                    _ => None,
                };
            }
            let mut flag =
                Flag { ty: dump_type(&name, f), name, opts: f.opts.clone(), choices, default: f.default.clone() };
            apply_value_history(&mut flag, version);
            flags.push(flag);
        }
        for r in REMOVED.iter().filter(|r| !version.at_least(r.removed_in)) {
            let ty = (r.ty)();
            let mut opts = vec![format!("--{}", r.name)];
            if let ValueType::Switch { negative: Some(n) } = &ty {
                opts.push(n.clone());
            }
            flags.push(Flag { name: r.name.into(), opts, ty, choices: None, default: None });
        }
        let mut index = HashMap::new();
        for (i, f) in flags.iter().enumerate() {
            for o in &f.opts {
                index.insert(normalize(o), i);
            }
        }
        FlagTable { version: version.clone(), flags, index }
    }

    /// Flags whose name or aliases contain `pattern` (all with an empty pattern), by name.
    pub fn matching(&self, pattern: &str) -> Vec<&Flag> {
        let p = normalize(pattern);
        let mut out: Vec<&Flag> =
            self.flags.iter().filter(|f| f.opts.iter().any(|o| normalize(o).contains(&p))).collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Flags of the history that this version no longer has: (name, removed in, what instead).
    pub fn removed_here(&self, pattern: &str) -> Vec<(&'static str, String, &'static str)> {
        let p = normalize(pattern);
        REMOVED
            .iter()
            .filter(|r| self.version.at_least(r.removed_in) && r.name.contains(&p))
            .map(|r| (r.name, fmt_parts(r.removed_in), r.instead))
            .collect()
    }

    pub fn get(&self, name: &str) -> Option<&Flag> {
        self.index.get(&normalize(name)).map(|&i| &self.flags[i])
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.flags.len()
    }

    /// Finds the flag a user's key names, or says why not and what to use instead.
    pub fn resolve(&self, key: &str) -> Result<Resolved<'_>, String> {
        let norm = normalize(key);
        if norm.is_empty() {
            return Err("empty parameter name".into());
        }
        if let Some((_, why)) = RESERVED.iter().find(|(n, _)| *n == norm) {
            return Err(format!("--{norm} cannot be set as an engine parameter: {why}"));
        }
        if let Some(&i) = self.index.get(&norm) {
            return Ok(Resolved { flag: &self.flags[i], spelled: norm, expanded_from: None });
        }
        let v = &self.version;
        if let Some(r) = REMOVED.iter().find(|r| r.name == norm) {
            return Err(format!(
                "--{norm} was removed in vLLM {} (target is {v}; the pod would exit with \"unrecognized arguments\"): {}",
                fmt_parts(r.removed_in),
                r.instead
            ));
        }
        if let Some((_, since)) = ADDED.iter().find(|(n, _)| *n == norm) {
            return Err(format!(
                "--{norm} does not exist in vLLM {v}: it was added in {}; raise --vllm-version or drop it",
                fmt_parts(*since)
            ));
        }
        // The parser accepts unique prefixes of long options (allow_abbrev=True).
        let mut hits: Vec<usize> = Vec::new();
        for (o, &i) in &self.index {
            if o.len() > 2 && o.starts_with(&norm) && !hits.contains(&i) {
                hits.push(i);
            }
        }
        if hits.len() == 1 {
            let flag = &self.flags[hits[0]];
            let spelled = flag.opts.iter().map(|o| normalize(o)).find(|o| o.starts_with(&norm)).unwrap_or_default();
            return Ok(Resolved { flag, spelled, expanded_from: Some(norm) });
        }
        if hits.len() > 1 && norm.len() >= 3 {
            let mut names: Vec<&str> = hits.iter().map(|&i| self.flags[i].name.as_str()).collect();
            names.sort();
            return Err(format!("--{norm} is ambiguous in vLLM {v}: it could be --{}", names.join(", --")));
        }
        Err(format!("--{norm} is not a vLLM {v} flag{}", self.suggest(&norm)))
    }

    fn suggest(&self, norm: &str) -> String {
        let mut scored: Vec<(f64, &str)> = self
            .index
            .keys()
            .filter(|k| k.len() > 2)
            .map(|k| (strsim::jaro_winkler(norm, k), k.as_str()))
            .filter(|(s, _)| *s >= 0.85)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
        scored.dedup_by(|a, b| a.1 == b.1);
        let best: Vec<String> = scored.iter().take(3).map(|(_, k)| format!("--{k}")).collect();
        if best.is_empty() {
            String::new()
        } else {
            format!("; did you mean {}?", best.join(" or "))
        }
    }

    /// Checks a value for a resolved flag and returns it in canonical form (switches relative to
    /// the flag's first option).
    pub fn check_value(&self, r: &Resolved<'_>, raw: Raw<'_>) -> Result<ArgValue, String> {
        let flag = r.flag;
        let shown = format!("--{}", r.spelled);
        let value = parse_typed(&flag.ty, &shown, raw)?;
        let value = match (&flag.ty, value) {
            (ValueType::Switch { .. }, ArgValue::Switch(b)) => {
                let negated = normalize(&flag.opts[0]) != r.spelled;
                ArgValue::Switch(b != negated)
            }
            (_, v) => v,
        };
        check_choices(flag, &shown, &value)?;
        check_range(&flag.name, &shown, &value)?;
        self.check_value_history(flag, &shown, &value)?;
        Ok(value)
    }

    fn check_value_history(&self, flag: &Flag, shown: &str, value: &ArgValue) -> Result<(), String> {
        let v = &self.version;
        if flag.name == "max-model-len" && matches!(value, ArgValue::Int(-1)) && !v.at_least([0, 14, 0]) {
            return Err(format!("{shown} auto/-1 needs vLLM 0.14.0 or newer (target is {v}); give a length"));
        }
        if flag.name == "block-size" && !v.at_least([0, 18, 0]) {
            let allowed: &[i64] =
                if v.at_least([0, 12, 0]) { &[1, 8, 16, 32, 64, 128, 256] } else { &[1, 8, 16, 32, 64, 128] };
            if let Some(b) = value.as_i64() {
                if !allowed.contains(&b) {
                    let list: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
                    return Err(format!(
                        "invalid choice {b} for {shown} on vLLM {v} (choose from {}; any positive size from 0.18.0)",
                        list.join(", ")
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Choice sets that changed between versions (`docs/deploy.md`, flag table history column).
fn apply_value_history(flag: &mut Flag, v: &VllmVersion) {
    match flag.name.as_str() {
        "gpu-memory-utilization" if !v.at_least([0, 20, 0]) => flag.default = Some("0.9".into()),
        "tokenizer-mode" if !v.at_least([0, 31, 0]) => {
            if let Some(c) = &mut flag.choices {
                c.push("slow".into());
                if !v.at_least([0, 13, 0]) {
                    c.push("custom".into());
                }
            }
        }
        "kv-cache-dtype" if !v.at_least([0, 21, 0]) => {
            let mut c = vec!["auto", "fp8", "fp8_e4m3", "fp8_e5m2", "fp8_inc"];
            if v.at_least([0, 11, 0]) {
                c.push("bfloat16");
            }
            flag.choices = strs(&c);
        }
        "prefix-caching-hash-algo" if !v.at_least([0, 12, 0]) => {
            flag.choices = if v.at_least([0, 11, 0]) {
                strs(&["sha256", "sha256_cbor"])
            } else {
                strs(&["builtin", "sha256", "sha256_cbor_64bit"])
            };
        }
        "safetensors-load-strategy" if !v.at_least([0, 18, 0]) => flag.choices = None,
        _ => {}
    }
}

fn bool_of(shown: &str, raw: Raw<'_>) -> Result<bool, String> {
    let text = match raw {
        Raw::Json(Value::Bool(b)) => return Ok(*b),
        Raw::Json(Value::String(s)) => s.as_str(),
        Raw::Text(t) => t,
        Raw::Json(other) => other.as_str().unwrap_or(""),
    };
    match text.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!(
            "{shown} is a switch and takes no value on the vLLM command line: set it to true or false, got {}",
            show_raw(raw)
        )),
    }
}

fn show_raw(raw: Raw<'_>) -> String {
    match raw {
        Raw::Text(t) => format!("{t:?}"),
        Raw::Json(v) => v.to_string(),
    }
}

fn text_of(raw: Raw<'_>) -> Option<String> {
    match raw {
        Raw::Text(t) => Some(t.trim().to_string()),
        Raw::Json(Value::String(s)) => Some(s.trim().to_string()),
        Raw::Json(Value::Number(n)) => Some(n.to_string()),
        Raw::Json(Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    }
}

/// Parses vLLM's human-readable integers: `32k` = 32000, `1K` = 1024, `25.6k` = 25600, `8G`.
pub fn parse_human_int(text: &str) -> Option<i64> {
    let t = text.trim();
    let (num, mult) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1e3),
        'm' => (&t[..t.len() - 1], 1e6),
        'g' => (&t[..t.len() - 1], 1e9),
        't' => (&t[..t.len() - 1], 1e12),
        'K' => (&t[..t.len() - 1], 1024f64),
        'M' => (&t[..t.len() - 1], 1024f64.powi(2)),
        'G' => (&t[..t.len() - 1], 1024f64.powi(3)),
        'T' => (&t[..t.len() - 1], 1024f64.powi(4)),
        _ => (t, 1.0),
    };
    if mult == 1.0 {
        return num.parse::<i64>().ok();
    }
    let x: f64 = num.parse().ok()?;
    let v = x * mult;
    (v.fract() == 0.0 && v.is_finite()).then_some(v as i64)
}

fn parse_typed(ty: &ValueType, shown: &str, raw: Raw<'_>) -> Result<ArgValue, String> {
    let want = |what: &str| format!("{shown} expects {what}, got {}", show_raw(raw));
    match ty {
        ValueType::Switch { .. } => bool_of(shown, raw).map(ArgValue::Switch),
        ValueType::Int => match raw {
            Raw::Json(Value::Number(n)) if n.is_i64() => Ok(ArgValue::Int(n.as_i64().unwrap())),
            _ => text_of(raw).and_then(|t| t.parse::<i64>().ok()).map(ArgValue::Int).ok_or_else(|| want("an integer")),
        },
        ValueType::Float => match raw {
            Raw::Json(Value::Number(n)) => Ok(ArgValue::Float(n.as_f64().unwrap_or(f64::NAN))),
            _ => text_of(raw)
                .and_then(|t| t.parse::<f64>().ok())
                .filter(|f| f.is_finite())
                .map(ArgValue::Float)
                .ok_or_else(|| want("a number")),
        },
        ValueType::HumanInt | ValueType::HumanIntOrAuto => {
            let text = text_of(raw).ok_or_else(|| want("an integer"))?;
            if *ty == ValueType::HumanIntOrAuto && (text == "auto" || text == "-1") {
                return Ok(ArgValue::Int(-1));
            }
            let extra = if *ty == ValueType::HumanIntOrAuto { ", or auto" } else { "" };
            parse_human_int(&text)
                .map(ArgValue::Int)
                .ok_or_else(|| want(&format!("an integer (suffixes k/m/g = x1000, K/M/G = x1024{extra})")))
        }
        ValueType::Str => match raw {
            Raw::Json(Value::Array(_)) | Raw::Json(Value::Object(_)) | Raw::Json(Value::Null) => Err(want("a string")),
            _ => Ok(ArgValue::Str(text_of(raw).unwrap_or_default())),
        },
        ValueType::List(inner) => {
            let items: Vec<Value> = match raw {
                Raw::Json(Value::Array(a)) => a.clone(),
                _ => {
                    let text = text_of(raw).ok_or_else(|| want("a list"))?;
                    text.split(',').map(|s| Value::String(s.trim().to_string())).collect()
                }
            };
            if items.is_empty() || items.iter().any(|i| i.as_str() == Some("")) {
                return Err(format!("{shown} needs at least one value (vLLM: \"expected at least one argument\")"));
            }
            let mut out = Vec::new();
            for item in &items {
                let v = parse_typed(inner, shown, Raw::Json(item))?;
                out.push(match v {
                    ArgValue::Int(i) => i.to_string(),
                    ArgValue::Float(f) => f.to_string(),
                    ArgValue::Str(s) => s,
                    other => return Err(want(&format!("a list of plain values, not {other:?}"))),
                });
            }
            Ok(ArgValue::List(out))
        }
        ValueType::Json | ValueType::JsonOrStr => match raw {
            Raw::Json(v @ (Value::Object(_) | Value::Array(_))) => Ok(ArgValue::Json(v.to_string())),
            _ => {
                let text = text_of(raw).ok_or_else(|| want("a JSON object"))?;
                match serde_json::from_str::<Value>(&text) {
                    Ok(v @ (Value::Object(_) | Value::Array(_))) => Ok(ArgValue::Json(v.to_string())),
                    _ if *ty == ValueType::JsonOrStr => Ok(ArgValue::Str(text)),
                    _ => Err(want("a JSON object such as '{\"key\": 1}'")),
                }
            }
        },
    }
}

fn check_choices(flag: &Flag, shown: &str, value: &ArgValue) -> Result<(), String> {
    let (Some(choices), Some(s)) = (&flag.choices, value.as_str()) else { return Ok(()) };
    if choices.iter().any(|c| c == s) {
        return Ok(());
    }
    // Common spellings of dtypes that the parser does not take.
    let lower = s.to_ascii_lowercase();
    let alias = match lower.as_str() {
        "bf16" => "bfloat16",
        "fp16" | "f16" => "float16",
        "fp32" | "f32" => "float32",
        other => other,
    };
    let hint = choices
        .iter()
        .find(|c| c.as_str() == alias)
        .or_else(|| {
            choices
                .iter()
                .map(|c| (strsim::jaro_winkler(s, c), c))
                .filter(|(d, _)| *d > 0.85)
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, c)| c)
        })
        .map(|c| format!("; did you mean {c:?}?"))
        .unwrap_or_default();
    Err(format!("invalid choice {s:?} for {shown} (choose from {}){hint}", choices.join(", ")))
}

fn check_range(name: &str, shown: &str, value: &ArgValue) -> Result<(), String> {
    let Some(&(_, min, inclusive, max)) = RANGES.iter().find(|(n, ..)| *n == name) else { return Ok(()) };
    let Some(x) = value.as_f64() else { return Ok(()) };
    // max-model-len's -1 (auto) is handled by its type; other -1s are out of range.
    let low_ok = if inclusive { x >= min } else { x > min };
    let high_ok = max.is_none_or(|m| x <= m);
    if low_ok && high_ok {
        return Ok(());
    }
    let lo = if inclusive { format!(">= {min}") } else { format!("> {min}") };
    let range = match max {
        Some(m) => format!("{lo} and <= {m}"),
        None => lo,
    };
    Err(format!("{shown} must be {range}, got {x} (vLLM would accept it at parse time and fail at engine start)"))
}

/// Engine parameters after checking: canonical flag name -> value. Sorted, so argv is stable.
pub type EngineParams = BTreeMap<String, ArgValue>;

/// argv items for the parameters, in name order, one item per token.
pub fn render_args(table: &FlagTable, params: &EngineParams) -> Vec<String> {
    let mut argv = Vec::new();
    for (name, value) in params {
        let flag = table.get(name).expect("params hold only resolved flags");
        let long = flag.opts[0].clone();
        match value {
            ArgValue::Switch(true) => argv.push(long),
            ArgValue::Switch(false) => {
                if let ValueType::Switch { negative: Some(n) } = &flag.ty {
                    argv.push(n.clone());
                }
                // A store_true flag set to false is simply left out (its default).
            }
            ArgValue::Int(i) => {
                argv.push(long);
                argv.push(if name == "max-model-len" && *i == -1 { "auto".into() } else { i.to_string() });
            }
            ArgValue::Float(f) => {
                argv.push(long);
                argv.push(f.to_string());
            }
            ArgValue::Str(s) | ArgValue::Json(s) => {
                argv.push(long);
                argv.push(s.clone());
            }
            ArgValue::List(items) => {
                argv.push(long);
                argv.extend(items.iter().cloned());
            }
        }
    }
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(v: &str) -> FlagTable {
        FlagTable::for_version(&VllmVersion::parse(v).unwrap())
    }

    fn set(t: &FlagTable, key: &str, value: &str) -> Result<(String, ArgValue), String> {
        let r = t.resolve(key)?;
        let v = t.check_value(&r, Raw::Text(value))?;
        Ok((r.flag.name.clone(), v))
    }

    #[test]
    fn embedded_table_has_every_flag_of_the_dump() {
        let t = table("0.33.0");
        assert_eq!(t.len(), 319, "the 0.33.0 dump: 320 entries, one of them the positional model");
        for f in &t.flags {
            if let ValueType::Switch { negative: Some(n) } = &f.ty {
                assert_ne!(n, &f.opts[0]);
            }
        }
    }

    #[test]
    fn spellings_like_the_parser() {
        let t = table("0.33.0");
        assert_eq!(set(&t, "max_num_seqs", "16").unwrap(), ("max-num-seqs".into(), ArgValue::Int(16)));
        assert_eq!(
            set(&t, "--gpu-memory-util", "0.9").unwrap(),
            ("gpu-memory-utilization".into(), ArgValue::Float(0.9))
        );
        assert_eq!(set(&t, "tp", "8").unwrap(), ("tensor-parallel-size".into(), ArgValue::Int(8)));
        assert_eq!(set(&t, "max-model-len", "32k").unwrap().1, ArgValue::Int(32000));
        assert_eq!(set(&t, "max-model-len", "1K").unwrap().1, ArgValue::Int(1024));
        assert_eq!(set(&t, "max-model-len", "25.6k").unwrap().1, ArgValue::Int(25600));
        assert_eq!(set(&t, "max-model-len", "auto").unwrap().1, ArgValue::Int(-1));
        assert_eq!(set(&t, "kv-cache-memory-bytes", "8G").unwrap().1, ArgValue::Int(8589934592));
        // Negative spellings of a switch are stored relative to its first option.
        assert_eq!(set(&t, "disable-chunked-prefill", "true").unwrap().1, ArgValue::Switch(false));
        assert_eq!(set(&t, "enable-chunked-prefill", "False").unwrap().1, ArgValue::Switch(false));
    }

    #[test]
    fn rejects_with_what_to_use_instead() {
        let t = table("0.33.0");
        let e = set(&t, "num-scheduler-steps", "16").unwrap_err();
        assert!(e.contains("removed in vLLM 0.10.1") && e.contains("drop it"), "{e}");
        let e = set(&t, "swap-space", "4").unwrap_err();
        assert!(e.contains("removed in vLLM 0.18.0") && e.contains("kv-offloading-size"), "{e}");
        let e = set(&t, "enable-chunked-prefill", "no").unwrap_err();
        assert!(e.contains("switch") && e.contains("true or false"), "{e}");
        let e = set(&t, "max-num-seqz", "4").unwrap_err();
        assert!(e.contains("not a vLLM 0.33.0 flag") && e.contains("--max-num-seqs"), "{e}");
        let e = set(&t, "dtype", "BF16").unwrap_err();
        assert!(e.contains("invalid choice \"BF16\"") && e.contains("did you mean \"bfloat16\""), "{e}");
        let e = set(&t, "kv-cache-dtype", "fp16").unwrap_err();
        assert!(e.contains("invalid choice \"fp16\" for --kv-cache-dtype"), "{e}");
        let e = set(&t, "gpu-memory-utilization", "1.5").unwrap_err();
        assert!(e.contains("must be > 0 and <= 1"), "{e}");
        let e = set(&t, "block-size", "0").unwrap_err();
        assert!(e.contains("must be >= 1"), "{e}");
        let e = set(&t, "max-num-seqs", "1.5").unwrap_err();
        assert!(e.contains("expects an integer"), "{e}");
        let e = set(&t, "hf-token", "hf_abc").unwrap_err();
        assert!(e.contains("--hf-secret"), "{e}");
        let e = set(&t, "max-num", "4").unwrap_err();
        assert!(e.contains("ambiguous"), "{e}");
        let e = set(&t, "compilation-config", "mode=3").unwrap_err();
        assert!(e.contains("JSON object"), "{e}");
    }

    #[test]
    fn older_versions_use_the_history() {
        let old = table("0.10.1.1");
        assert_eq!(set(&old, "swap-space", "4").unwrap().1, ArgValue::Float(4.0));
        let e = set(&old, "kv-offloading-size", "8").unwrap_err();
        assert!(e.contains("added in 0.12.0"), "{e}");
        let e = set(&old, "block-size", "48").unwrap_err();
        assert!(e.contains("invalid choice 48"), "{e}");
        let e = set(&old, "max-model-len", "auto").unwrap_err();
        assert!(e.contains("0.14.0"), "{e}");
        let e = set(&old, "kv-cache-dtype", "bfloat16").unwrap_err();
        assert!(e.contains("invalid choice"), "{e}");
        assert_eq!(old.get("gpu-memory-utilization").unwrap().default.as_deref(), Some("0.9"));
        assert!(table("0.30.0").resolve("tokenizer-mode").is_ok());
        assert!(set(&table("0.30.0"), "tokenizer-mode", "slow").is_ok());
        assert!(set(&table("0.33.0"), "tokenizer-mode", "slow").is_err());
        assert!(set(&table("0.27.0"), "calculate-kv-scales", "true").is_ok());
        assert!(set(&table("0.28.0"), "calculate-kv-scales", "true").unwrap_err().contains("removed in vLLM 0.28.0"));
    }

    /// Every engine parameter the I/O study seed lists (model, load, cache and compilation
    /// groups) plus the parallel/scheduler ones, with a plausible value: accepted on 0.33, or
    /// refused with what to do instead.
    #[test]
    fn every_seed_parameter_is_handled() {
        #[rustfmt::skip]
        let ok: &[(&str, &str)] = &[
            ("tokenizer", "Qwen/Qwen3-0.6B"), ("tokenizer-mode", "hf"), ("hf-config-path", "/models/cfg"),
            ("allowed-local-media-path", "/data"), ("allowed-media-domains", "example.org"),
            ("generation-config", "vllm"), ("max-model-len", "4096"), ("convert", "none"), ("dtype", "float16"),
            ("quantization", "fp8"), ("enforce-eager", "true"), ("config-format", "hf"),
            ("enable-sleep-mode", "true"), ("model-impl", "vllm"), ("trust-remote-code", "true"), ("seed", "42"),
            ("revision", "main"), ("code-revision", "main"), ("tokenizer-revision", "main"), ("max-logprobs", "20"),
            ("logprobs-mode", "raw_logits"), ("disable-sliding-window", "true"), ("disable-cascade-attn", "true"),
            ("hf-overrides", "{\"rope_theta\": 1e6}"), ("pooler-config", "{\"pooling_type\": \"MEAN\"}"),
            ("runner", "generate"), ("download-dir", "/models"), ("safetensors-load-strategy", "prefetch"),
            ("load-format", "safetensors"), ("ignore-patterns", "original/**/*"), ("pt-load-map-location", "cuda"),
            ("model-loader-extra-config", "{\"a\": 1}"), ("use-tqdm-on-load", "false"),
            ("gpu-memory-utilization", "0.9"), ("enable-prefix-caching", "false"), ("cpu-offload-gb", "4"),
            ("block-size", "32"), ("kv-cache-memory-bytes", "8G"), ("kv-cache-dtype", "fp8"),
            ("kv-offloading-size", "16"), ("kv-offloading-backend", "native"), ("num-gpu-blocks-override", "512"),
            ("prefix-caching-hash-algo", "xxhash"), ("cudagraph-capture-sizes", "1,2,4,8"),
            ("max-cudagraph-capture-size", "256"), ("tensor-parallel-size", "2"), ("pipeline-parallel-size", "2"),
            ("max-num-seqs", "256"), ("max-num-batched-tokens", "8k"), ("enable-chunked-prefill", "false"),
            ("compilation-config", "{\"mode\": 3}"),
        ];
        let t = table("0.33.0");
        for (k, v) in ok {
            assert!(set(&t, k, v).is_ok(), "{k}={v}: {:?}", set(&t, k, v));
        }
        let refused: &[(&str, &str)] = &[
            ("model", "--model option"),
            ("served-model-name", "--served-name"),
            ("hf-token", "--hf-secret"),
            ("logits-processor-pattern", "use logits-processors"),
            ("swap-space", "kv-offloading-size"),
            ("calculate-kv-scales", "from the checkpoint"),
        ];
        for (k, why) in refused {
            let e = set(&t, k, "1").unwrap_err();
            assert!(e.contains(why), "{k}: {e}");
        }
        // Seed 003's vLLM 0.10.1.1 lacks the newer ones.
        let old = table("0.10.1.1");
        for k in ["kv-offloading-size", "cudagraph-capture-sizes", "kv-cache-memory-bytes", "safetensors-load-strategy"]
        {
            assert!(set(&old, k, "1").unwrap_err().contains("does not exist in vLLM 0.10.1.1"), "{k}");
        }
    }

    #[test]
    fn renders_one_argv_item_per_token() {
        let t = table("0.33.0");
        let mut p = EngineParams::new();
        for (k, v) in [
            ("enable-chunked-prefill", "false"),
            ("max-model-len", "16384"),
            ("enforce-eager", "true"),
            ("cudagraph-capture-sizes", "1,2,4"),
            ("compilation-config", "{\"mode\": 3}"),
            ("headless", "false"),
        ] {
            let (name, value) = set(&t, k, v).unwrap();
            p.insert(name, value);
        }
        assert_eq!(
            render_args(&t, &p),
            [
                "--compilation-config",
                "{\"mode\":3}",
                "--cudagraph-capture-sizes",
                "1",
                "2",
                "4",
                "--disable-chunked-prefill",
                "--enforce-eager",
                "--max-model-len",
                "16384"
            ]
        );
    }
}
