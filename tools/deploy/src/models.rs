//! Model shapes for the fit check: presets for the seed's models (config.json values from
//! `docs/deploy.md`, "Seed models"), or read from a model's own `config.json`.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::Path;

/// Mamba2 state dimensions of a hybrid model (granite-4.0-h).
#[derive(Clone, Debug, PartialEq)]
pub struct Mamba {
    pub layers: u32,
    pub n_heads: u64,
    pub d_head: u64,
    pub d_state: u64,
    pub n_groups: u64,
    pub d_conv: u64,
    pub expand: u64,
}

/// What the fit arithmetic needs to know about a model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    /// Hugging Face id.
    pub id: String,
    pub architecture: String,
    pub layers: u32,
    /// Layers with (full) attention, i.e. with a KV cache. Equal to `layers` unless hybrid.
    pub attention_layers: u32,
    pub heads: u32,
    pub kv_heads: u32,
    pub head_dim: u64,
    pub hidden: u64,
    pub vocab: u64,
    pub tied_embeddings: bool,
    /// `torch_dtype`/`dtype` of config.json.
    pub dtype: String,
    /// vLLM's derived max_model_len (smallest length field, capped by the tokenizer).
    pub max_model_len: u64,
    pub params: u64,
    /// Checkpoint size when it is not params x dtype (pre-quantized checkpoints).
    pub weights_bytes: Option<u64>,
    /// `quantization_config.quant_method`.
    pub quant_method: Option<String>,
    pub mamba: Option<Mamba>,
    /// Gated on the Hub: the HF token Secret is required, not optional.
    pub gated: bool,
    /// Where the numbers come from.
    pub source: String,
}

impl ModelSpec {
    /// Bytes per element of the model dtype (float32 checkpoints are served in 16 bits by `auto`).
    pub fn dtype_bytes(&self) -> u64 {
        2
    }

    /// Embedding (+ untied LM head) parameters: kept at 16 bits by weight quantization.
    pub fn embedding_params(&self) -> u64 {
        self.vocab * self.hidden * if self.tied_embeddings { 1 } else { 2 }
    }
}

struct Preset {
    id: &'static str,
    arch: &'static str,
    layers: u32,
    attn: u32,
    heads: u32,
    kv: u32,
    head_dim: u64,
    hidden: u64,
    vocab: u64,
    tied: bool,
    dtype: &'static str,
    max_len: u64,
    params: u64,
    weights_bytes: Option<u64>,
    quant: Option<&'static str>,
    mamba: bool,
    gated: bool,
}

/// granite-4.0-h Mamba2 dims (`mamba_n_heads` 48, `mamba_d_head` 64, `mamba_d_state` 128,
/// `mamba_n_groups` 1, `mamba_d_conv` 4, `mamba_expand` 2; 36 Mamba layers).
const GRANITE_H_MAMBA: Mamba =
    Mamba { layers: 36, n_heads: 48, d_head: 64, d_state: 128, n_groups: 1, d_conv: 4, expand: 2 };

#[rustfmt::skip]
const PRESETS: &[Preset] = &[
    Preset { id: "facebook/opt-125m", arch: "OPTForCausalLM", layers: 12, attn: 12, heads: 12, kv: 12, head_dim: 64, hidden: 768, vocab: 50272, tied: true, dtype: "float16", max_len: 2048, params: 125_239_296, weights_bytes: None, quant: None, mamba: false, gated: false },
    Preset { id: "facebook/opt-350m", arch: "OPTForCausalLM", layers: 24, attn: 24, heads: 16, kv: 16, head_dim: 64, hidden: 1024, vocab: 50272, tied: true, dtype: "float16", max_len: 2048, params: 331_196_416, weights_bytes: None, quant: None, mamba: false, gated: false },
    Preset { id: "Qwen/Qwen3-0.6B", arch: "Qwen3ForCausalLM", layers: 28, attn: 28, heads: 16, kv: 8, head_dim: 128, hidden: 1024, vocab: 151936, tied: true, dtype: "bfloat16", max_len: 40960, params: 596_049_920, weights_bytes: None, quant: None, mamba: false, gated: false },
    Preset { id: "ibm-granite/granite-4.0-h-1b", arch: "GraniteMoeHybridForCausalLM", layers: 40, attn: 4, heads: 12, kv: 4, head_dim: 128, hidden: 1536, vocab: 100352, tied: true, dtype: "bfloat16", max_len: 131072, params: 1_460_000_000, weights_bytes: None, quant: None, mamba: true, gated: false },
    Preset { id: "ibm-granite/granite-4.0-micro", arch: "GraniteMoeHybridForCausalLM", layers: 40, attn: 40, heads: 40, kv: 8, head_dim: 64, hidden: 2560, vocab: 100352, tied: true, dtype: "bfloat16", max_len: 131072, params: 3_400_000_000, weights_bytes: None, quant: None, mamba: false, gated: false },
    Preset { id: "google/gemma-2b", arch: "GemmaForCausalLM", layers: 18, attn: 18, heads: 8, kv: 1, head_dim: 256, hidden: 2048, vocab: 256000, tied: true, dtype: "bfloat16", max_len: 8192, params: 2_506_172_416, weights_bytes: None, quant: None, mamba: false, gated: true },
    Preset { id: "ibm-granite/granite-4.0-h-tiny", arch: "GraniteMoeHybridForCausalLM", layers: 40, attn: 4, heads: 12, kv: 4, head_dim: 128, hidden: 1536, vocab: 100352, tied: true, dtype: "bfloat16", max_len: 131072, params: 6_900_000_000, weights_bytes: None, quant: None, mamba: true, gated: false },
    Preset { id: "meta-llama/Llama-3.1-8B-Instruct", arch: "LlamaForCausalLM", layers: 32, attn: 32, heads: 32, kv: 8, head_dim: 128, hidden: 4096, vocab: 128256, tied: false, dtype: "bfloat16", max_len: 131072, params: 8_030_261_248, weights_bytes: None, quant: None, mamba: false, gated: true },
    Preset { id: "ibm-granite/granite-3.3-8b-instruct", arch: "GraniteForCausalLM", layers: 40, attn: 40, heads: 32, kv: 8, head_dim: 128, hidden: 4096, vocab: 49159, tied: true, dtype: "bfloat16", max_len: 131072, params: 8_170_000_000, weights_bytes: None, quant: None, mamba: false, gated: false },
    Preset { id: "Qwen/Qwen3-8B", arch: "Qwen3ForCausalLM", layers: 36, attn: 36, heads: 32, kv: 8, head_dim: 128, hidden: 4096, vocab: 151936, tied: false, dtype: "bfloat16", max_len: 40960, params: 8_190_735_360, weights_bytes: None, quant: None, mamba: false, gated: false },
    // fbgemm_fp8 checkpoint: linear layers in 1 byte, embeddings and LM head in bf16 (~410 GB).
    Preset { id: "meta-llama/Llama-3.1-405B-Instruct-FP8", arch: "LlamaForCausalLM", layers: 126, attn: 126, heads: 128, kv: 8, head_dim: 128, hidden: 16384, vocab: 128256, tied: false, dtype: "bfloat16", max_len: 131072, params: 405_853_388_800, weights_bytes: Some(410_000_000_000), quant: Some("fbgemm_fp8"), mamba: false, gated: true },
    Preset { id: "meta-llama/Llama-3.1-405B-Instruct", arch: "LlamaForCausalLM", layers: 126, attn: 126, heads: 128, kv: 8, head_dim: 128, hidden: 16384, vocab: 128256, tied: false, dtype: "bfloat16", max_len: 131072, params: 405_853_388_800, weights_bytes: None, quant: None, mamba: false, gated: true },
];

/// Every preset, in the seed's order.
pub fn presets() -> Vec<ModelSpec> {
    PRESETS.iter().map(spec_of).collect()
}

fn spec_of(p: &Preset) -> ModelSpec {
    ModelSpec {
        id: p.id.into(),
        architecture: p.arch.into(),
        layers: p.layers,
        attention_layers: p.attn,
        heads: p.heads,
        kv_heads: p.kv,
        head_dim: p.head_dim,
        hidden: p.hidden,
        vocab: p.vocab,
        tied_embeddings: p.tied,
        dtype: p.dtype.into(),
        max_model_len: p.max_len,
        params: p.params,
        weights_bytes: p.weights_bytes,
        quant_method: p.quant.map(Into::into),
        mamba: p.mamba.then_some(GRANITE_H_MAMBA),
        gated: p.gated,
        source: "preset (config.json values of docs/deploy.md)".into(),
    }
}

/// The preset for a model id (case-insensitive), or for its last path part (`opt-125m`).
pub fn preset(id: &str) -> Option<ModelSpec> {
    let want = id.trim().to_ascii_lowercase();
    PRESETS
        .iter()
        .find(|p| p.id.to_ascii_lowercase() == want || p.id.rsplit('/').next().unwrap().to_ascii_lowercase() == want)
        .map(spec_of)
}

fn u(v: &Value, keys: &[&str]) -> Option<u64> {
    keys.iter().find_map(|k| v.get(*k).and_then(Value::as_u64))
}

/// Reads a model's `config.json` (and `model.safetensors.index.json` beside it, for the weight
/// size), following the fields and fallbacks vLLM uses (`docs/deploy.md`, "config.json fields").
pub fn from_config_json(path: &Path, id: &str) -> Result<ModelSpec> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let root: Value = serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    let c = root.get("text_config").filter(|t| t.is_object()).unwrap_or(&root);
    let name = path.display();
    let layers = u(c, &["num_hidden_layers", "n_layer", "num_layers"])
        .with_context(|| format!("{name}: no num_hidden_layers/n_layer"))? as u32;
    let heads =
        u(c, &["num_attention_heads", "n_head"]).with_context(|| format!("{name}: no num_attention_heads"))? as u32;
    let hidden = u(c, &["hidden_size", "n_embd", "d_model"]).with_context(|| format!("{name}: no hidden_size"))?;
    // Absent KV-head fields mean multi-head attention (OPT, GPT-2).
    let kv_heads =
        u(c, &["num_key_value_heads", "num_kv_heads", "n_head_kv", "multi_query_group_num", "num_attention_groups"])
            .unwrap_or(heads as u64) as u32;
    let head_dim = u(c, &["head_dim"]).filter(|d| *d > 0).unwrap_or(hidden / heads.max(1) as u64);
    let vocab = u(c, &["vocab_size"]).unwrap_or(0);
    let tied = c.get("tie_word_embeddings").and_then(Value::as_bool).unwrap_or(true);
    let dtype = c
        .get("dtype")
        .or_else(|| c.get("torch_dtype"))
        .or_else(|| root.get("torch_dtype"))
        .and_then(Value::as_str)
        .unwrap_or("bfloat16")
        .to_string();
    let max_len = [
        "max_position_embeddings",
        "n_positions",
        "max_seq_len",
        "seq_length",
        "model_max_length",
        "max_target_positions",
        "max_sequence_length",
        "max_seq_length",
        "seq_len",
    ]
    .iter()
    .filter_map(|k| c.get(*k).and_then(Value::as_u64))
    .min()
    .unwrap_or(2048);
    // vLLM multiplies by the RoPE scaling factor, except for the types whose factor is already
    // in max_position_embeddings, then caps by the tokenizer's model_max_length.
    let rope = c.get("rope_scaling").filter(|r| r.is_object());
    let rope_type =
        rope.and_then(|r| r.get("rope_type").or_else(|| r.get("type"))).and_then(Value::as_str).unwrap_or("");
    let factor = rope.and_then(|r| r.get("factor")).and_then(Value::as_f64).unwrap_or(1.0);
    let max_len = if !matches!(
        rope_type,
        "" | "llama3" | "yarn" | "longrope" | "su" | "deepseek_yarn" | "deepseek_llama_scaling"
    ) && factor > 1.0
    {
        (max_len as f64 * factor) as u64
    } else {
        max_len
    };
    let tokenizer_max = std::fs::read_to_string(path.with_file_name("tokenizer_config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v.get("model_max_length").and_then(Value::as_u64));
    let max_len = tokenizer_max.map_or(max_len, |t| t.min(max_len));
    let layer_types: Vec<String> = c
        .get("layer_types")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
        .unwrap_or_default();
    let attention_layers = if layer_types.is_empty() {
        layers
    } else {
        layer_types.iter().filter(|t| t.as_str() == "attention" || t.as_str() == "full_attention").count() as u32
    };
    let mamba_layers = layer_types.iter().filter(|t| t.as_str() == "mamba").count() as u32;
    let mamba = if mamba_layers > 0 {
        let need = |k: &str| u(c, &[k]).with_context(|| format!("{name}: hybrid model without {k}"));
        Some(Mamba {
            layers: mamba_layers,
            n_heads: need("mamba_n_heads")?,
            d_head: need("mamba_d_head")?,
            d_state: need("mamba_d_state")?,
            n_groups: need("mamba_n_groups")?,
            d_conv: need("mamba_d_conv")?,
            expand: need("mamba_expand")?,
        })
    } else {
        None
    };
    if c.get("kv_lora_rank").is_some() {
        bail!("{name}: MLA models (kv_lora_rank) are not modelled by the fit check; use --no-fit-check");
    }
    let ffn = u(c, &["intermediate_size", "ffn_dim", "n_inner"]).unwrap_or(4 * hidden);
    let model_type = root.get("model_type").and_then(Value::as_str).unwrap_or("");
    let quant_method =
        root.get("quantization_config").and_then(|q| q.get("quant_method")).and_then(Value::as_str).map(String::from);
    let index = path.with_file_name("model.safetensors.index.json");
    let weights_bytes = std::fs::read_to_string(&index)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v.pointer("/metadata/total_size").and_then(Value::as_u64));
    // Dense estimate from the shapes when the index is absent: attention (q, k, v, o) + MLP
    // (gated MLPs have three matrices; OPT and GPT-2 two) + embeddings.
    let mlp_mats = if matches!(model_type, "opt" | "gpt2") { 2 } else { 3 };
    let q_dim = heads as u64 * head_dim;
    let kv_dim = kv_heads as u64 * head_dim;
    let per_layer = hidden * q_dim * 2 + hidden * kv_dim * 2 + mlp_mats * hidden * ffn;
    let params = per_layer * layers as u64 + vocab * hidden * if tied { 1 } else { 2 };
    let architecture = root
        .get("architectures")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .unwrap_or(model_type)
        .to_string();
    Ok(ModelSpec {
        id: id.into(),
        architecture,
        layers,
        attention_layers,
        heads,
        kv_heads,
        head_dim,
        hidden,
        vocab,
        tied_embeddings: tied,
        dtype,
        max_model_len: max_len,
        params,
        weights_bytes,
        quant_method,
        mamba,
        gated: false,
        source: if weights_bytes.is_some() {
            format!("{} (+ safetensors index)", path.display())
        } else {
            format!("{} (weights estimated from the shapes)", path.display())
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_by_id_and_short_name() {
        assert_eq!(preset("qwen/qwen3-0.6b").unwrap().id, "Qwen/Qwen3-0.6B");
        assert_eq!(preset("opt-125m").unwrap().id, "facebook/opt-125m");
        assert!(preset("gpt-5").is_none());
        assert_eq!(presets().len(), 12);
    }

    #[test]
    fn reads_gpt2_config_json() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/deploy/gpt2-config.json");
        let m = from_config_json(&path, "openai-community/gpt2").unwrap();
        assert_eq!((m.layers, m.heads, m.kv_heads, m.head_dim, m.max_model_len), (12, 12, 12, 64, 1024));
        // GPT-2 small has 124M parameters (117M without position embeddings, which this skips).
        assert!((120_000_000..126_000_000).contains(&m.params), "{}", m.params);
    }

    #[test]
    fn config_json_rules_of_vllm() {
        let dir = std::env::temp_dir().join(format!("sb-deploy-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("config.json");
        // A Qwen3-0.6B-shaped config: explicit head_dim, GQA, tied embeddings.
        std::fs::write(
            &cfg,
            r#"{"architectures":["Qwen3ForCausalLM"],"model_type":"qwen3","num_hidden_layers":28,"num_attention_heads":16,
                "num_key_value_heads":8,"head_dim":128,"hidden_size":1024,"intermediate_size":3072,"vocab_size":151936,
                "tie_word_embeddings":true,"torch_dtype":"bfloat16","max_position_embeddings":40960}"#,
        )
        .unwrap();
        let m = from_config_json(&cfg, "Qwen/Qwen3-0.6B").unwrap();
        let p = preset("Qwen/Qwen3-0.6B").unwrap();
        assert_eq!((m.kv_heads, m.head_dim, m.max_model_len), (p.kv_heads, p.head_dim, p.max_model_len));
        // The shapes give the preset's parameter count within 1 % (norms are not counted).
        assert!((m.params as f64 / p.params as f64 - 1.0).abs() < 0.01, "{} vs {}", m.params, p.params);
        // The tokenizer's model_max_length caps the length; a dynamic RoPE factor raises it.
        std::fs::write(dir.join("tokenizer_config.json"), r#"{"model_max_length": 32768}"#).unwrap();
        assert_eq!(from_config_json(&cfg, "x").unwrap().max_model_len, 32768);
        std::fs::remove_file(dir.join("tokenizer_config.json")).unwrap();
        let text = std::fs::read_to_string(&cfg).unwrap().replace(
            r#""max_position_embeddings":40960"#,
            r#""max_position_embeddings":4096,"rope_scaling":{"rope_type":"dynamic","factor":2.0}"#,
        );
        std::fs::write(&cfg, text).unwrap();
        assert_eq!(from_config_json(&cfg, "x").unwrap().max_model_len, 8192);
        std::fs::write(dir.join("model.safetensors.index.json"), r#"{"metadata":{"total_size":1503238656}}"#).unwrap();
        assert_eq!(from_config_json(&cfg, "x").unwrap().weights_bytes, Some(1503238656));
        std::fs::remove_dir_all(&dir).ok();
    }
}
