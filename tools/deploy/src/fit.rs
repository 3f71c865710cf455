//! Will it fit? vLLM's KV-cache arithmetic, per GPU, before anything reaches a cluster.
//!
//! Formulas: `docs/deploy.md` ("Fit check"), after vLLM's `gpu_worker.determine_available_memory`,
//! `kv_cache_interface.py` (page sizes), `kv_cache_planning.check_enough_kv_cache_memory` (the
//! "max seq len is larger than the KV cache" error) and, for hybrid Mamba models,
//! `platforms/interface._align_hybrid_block_size` plus the uniform-page layer grouping.
//! Everything but the `overhead` term is exact arithmetic on config values; the overhead
//! (activation peak, CUDA context, NCCL, CUDA graphs) is a documented heuristic vLLM itself only
//! learns by profiling at start-up, so results are estimates and say so.

use crate::flags::{ArgValue, EngineParams};
use crate::gpus::Gpu;
use crate::models::ModelSpec;
use crate::version::VllmVersion;
use serde_json::{json, Value};

const GIB: f64 = (1u64 << 30) as f64;

/// What the fit check reads besides the model and the GPU.
pub struct FitInput<'a> {
    pub model: &'a ModelSpec,
    pub gpu: &'a Gpu,
    pub version: &'a VllmVersion,
    pub params: &'a EngineParams,
    /// `--overhead-gib`; `None` takes the heuristic.
    pub overhead_gib: Option<f64>,
}

/// The result, with every intermediate number (for `explain` and the plan).
#[derive(Clone, Debug, PartialEq)]
pub struct FitReport {
    pub tp: u64,
    pub pp: u64,
    pub gpu_total_bytes: u64,
    pub gpu_memory_utilization: f64,
    /// `ceil(total x utilization)`, or `--kv-cache-memory-bytes` plus weights and overhead.
    pub budget_bytes: u64,
    pub weights_bytes_per_gpu: u64,
    pub weights_note: String,
    pub overhead_bytes: u64,
    pub overhead_note: String,
    /// Memory left for the KV cache per GPU (negative: the model does not load).
    pub kv_available_bytes: i64,
    pub kv_dtype_bytes: u64,
    pub attention_layers_per_gpu: u64,
    pub kv_heads_per_gpu: u64,
    pub kv_bytes_per_token: u64,
    /// Hybrid models: Mamba state per sequence per GPU (unpadded).
    pub mamba_state_bytes_per_seq: u64,
    pub block_size_tokens: u64,
    pub block_note: String,
    /// The max_model_len checked (after `auto` is resolved).
    pub max_model_len: u64,
    pub max_model_len_auto: bool,
    pub kv_needed_bytes: u64,
    /// Blocks in the pool (0 when nothing is left).
    pub num_blocks: u64,
    pub kv_capacity_tokens: u64,
    /// Largest max_model_len that fits, capped by the model's own limit.
    pub max_model_len_fit: u64,
    pub max_concurrency: f64,
    pub fits: bool,
    pub warnings: Vec<String>,
}

fn int(params: &EngineParams, k: &str) -> Option<i64> {
    params.get(k).and_then(ArgValue::as_i64)
}

fn float(params: &EngineParams, k: &str) -> Option<f64> {
    params.get(k).and_then(ArgValue::as_f64)
}

fn text<'p>(params: &'p EngineParams, k: &str) -> Option<&'p str> {
    params.get(k).and_then(ArgValue::as_str)
}

/// Bytes per weight of linear layers under a quantization method (embeddings stay 16-bit).
fn quant_bytes(method: &str) -> Option<f64> {
    match method {
        m if m.contains("fp8") || m.contains("int8") || m == "mxfp8" || m == "modelopt" || m == "modelopt_mxfp8" => {
            Some(1.0)
        }
        "awq" | "auto_awq" | "awq_marlin" | "gptq" | "auto_gptq" | "gptq_marlin" | "mxfp4" | "gpt_oss_mxfp4"
        | "modelopt_fp4" | "nvfp4_per_token" => Some(0.5),
        _ => None,
    }
}

fn dtype_bytes(name: &str) -> Option<u64> {
    match name {
        "float32" | "float" => Some(4),
        "float16" | "half" | "bfloat16" => Some(2),
        _ => None,
    }
}

/// `8.03B`, `125M`.
fn fmt_params(n: u64) -> String {
    if n >= 1_000_000_000 {
        format!("{:.2}B", n as f64 / 1e9)
    } else {
        format!("{:.0}M", n as f64 / 1e6)
    }
}

pub fn gib(bytes: f64) -> String {
    format!("{:.2} GiB", bytes / GIB)
}

fn kib(bytes: u64) -> String {
    if bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

/// The engine flags the fit check reads, looked up once (canonical flag names).
struct Engine<'p> {
    tp: u64,
    pp: u64,
    gpu_memory_utilization: Option<f64>,
    dtype: Option<&'p str>,
    quantization: Option<&'p str>,
    cpu_offload_gb: Option<f64>,
    kv_cache_memory_bytes: Option<i64>,
    kv_cache_dtype: &'p str,
    block_size: Option<u64>,
    max_model_len: Option<i64>,
    mamba_cache_dtype: Option<&'p str>,
    mamba_ssm_cache_dtype: Option<&'p str>,
    max_num_seqs: Option<u64>,
}

impl<'p> Engine<'p> {
    fn of(p: &'p EngineParams) -> Engine<'p> {
        Engine {
            tp: int(p, "tensor-parallel-size").unwrap_or(1).max(1) as u64,
            pp: int(p, "pipeline-parallel-size").unwrap_or(1).max(1) as u64,
            gpu_memory_utilization: float(p, "gpu-memory-utilization"),
            dtype: text(p, "dtype"),
            quantization: text(p, "quantization"),
            cpu_offload_gb: float(p, "cpu-offload-gb"),
            kv_cache_memory_bytes: int(p, "kv-cache-memory-bytes"),
            kv_cache_dtype: text(p, "kv-cache-dtype").unwrap_or("auto"),
            block_size: int(p, "block-size").map(|b| b as u64),
            max_model_len: int(p, "max-model-len"),
            mamba_cache_dtype: text(p, "mamba-cache-dtype"),
            mamba_ssm_cache_dtype: text(p, "mamba-ssm-cache-dtype"),
            max_num_seqs: int(p, "max-num-seqs").map(|s| s as u64),
        }
    }
}

/// The weights one GPU holds, and how they were counted.
fn weights_per_gpu(m: &ModelSpec, e: &Engine<'_>, dtype_bytes: u64, warnings: &mut Vec<String>) -> (f64, String) {
    let (weights_total, note) = match (e.quantization, &m.weights_bytes, &m.quant_method) {
        (Some(q), None, None) => match quant_bytes(q) {
            Some(qb) => {
                let embed = m.embedding_params();
                let bytes = embed as f64 * dtype_bytes as f64 + (m.params - embed) as f64 * qb;
                (
                    bytes,
                    format!(
                        "{} params, linear layers at {qb} B ({q}), embeddings at {dtype_bytes} B",
                        fmt_params(m.params)
                    ),
                )
            }
            None => {
                warnings.push(format!(
                    "the fit check does not model quantization {q:?}: weights counted at {dtype_bytes} B/param"
                ));
                (m.params as f64 * dtype_bytes as f64, format!("{} params x {dtype_bytes} B", fmt_params(m.params)))
            }
        },
        (_, Some(w), q) => (
            *w as f64,
            format!("checkpoint size {}{}", gib(*w as f64), q.as_ref().map(|q| format!(" ({q})")).unwrap_or_default()),
        ),
        _ => (m.params as f64 * dtype_bytes as f64, format!("{} params x {dtype_bytes} B", fmt_params(m.params))),
    };
    let (tp, pp) = (e.tp, e.pp);
    let mut weights_gpu = weights_total / (tp * pp) as f64;
    let mut note = format!("{note} / (TP {tp} x PP {pp})");
    if let Some(off) = e.cpu_offload_gb.filter(|g| *g > 0.0) {
        weights_gpu = (weights_gpu - off * GIB).max(0.0);
        note = format!("{note} - cpu-offload-gb {off}");
    }
    (weights_gpu, note)
}

/// Memory besides weights and KV cache: `--overhead-gib`, or a heuristic by model size.
fn overhead(m: &ModelSpec, overhead_gib: Option<f64>) -> (f64, String) {
    match overhead_gib {
        Some(g) => (g * GIB, "--overhead-gib".to_string()),
        None => {
            let g = if m.params <= 4_000_000_000 { 1.5 } else { 2.5 };
            (g * GIB, format!("heuristic for {} models: activations, CUDA context, NCCL, CUDA graphs; vLLM profiles the real value at start-up (set --overhead-gib)", if g == 1.5 { "<= 4B" } else { "> 4B" }))
        }
    }
}

/// Bytes of one KV cache element.
fn kv_dtype_bytes(kv_cache_dtype: &str, model_kv_bytes: u64, warnings: &mut Vec<String>) -> u64 {
    match kv_cache_dtype {
        "auto" => model_kv_bytes,
        "float16" | "bfloat16" => 2,
        d if d.starts_with("fp8") || d.starts_with("int8") => 1,
        other => {
            warnings.push(format!("the fit check does not model kv-cache-dtype {other:?}: counted at 1 B"));
            1
        }
    }
}

/// How the KV pool is laid out: the attention block size (and why), bytes per pool block,
/// blocks per request per `block` tokens, fixed blocks per request (Mamba state) and the
/// Mamba state bytes per sequence.
struct Layout {
    block: u64,
    block_note: String,
    bytes_per_block: u64,
    attn_groups: u64,
    fixed_blocks: u64,
    mamba_state: u64,
}

impl Layout {
    fn of(m: &ModelSpec, e: &Engine<'_>, model_kv_bytes: u64, per_token_layer: u64, attn_layers_gpu: u64) -> Layout {
        let mut block = e.block_size.unwrap_or(16);
        let mut block_note =
            if e.block_size.is_some() { "block-size".to_string() } else { "vLLM default on CUDA".to_string() };
        let Some(mb) = &m.mamba else {
            let bytes_per_block = block * attn_layers_gpu * per_token_layer;
            return Layout { block, block_note, bytes_per_block, attn_groups: 1, fixed_blocks: 0, mamba_state: 0 };
        };
        let tp = e.tp;
        let conv_b = e.mamba_cache_dtype.and_then(dtype_bytes).unwrap_or(model_kv_bytes);
        let ssm_b = e.mamba_ssm_cache_dtype.and_then(dtype_bytes).unwrap_or(conv_b);
        let intermediate = mb.expand * m.hidden;
        let conv_dim = intermediate + 2 * mb.n_groups * mb.d_state;
        let conv = conv_dim / tp * (mb.d_conv - 1) * conv_b;
        let ssm = mb.n_heads / tp * mb.d_head * mb.d_state * ssm_b;
        let mamba_page = conv + ssm;
        // vLLM raises the attention block until an attention page holds a Mamba page.
        let aligned = 16 * mamba_page.div_ceil(16 * per_token_layer);
        if block < aligned {
            block = aligned;
            block_note = format!(
                "raised by vLLM so an attention page (block x {}) >= the Mamba page ({mamba_page} B)",
                kib(per_token_layer)
            );
        }
        let page = block * per_token_layer;
        let mamba_layers_gpu = (mb.layers as u64).div_ceil(e.pp);
        let group = attn_layers_gpu.min(mamba_layers_gpu).max(1);
        Layout {
            block,
            block_note,
            bytes_per_block: group * page,
            attn_groups: attn_layers_gpu.div_ceil(group),
            fixed_blocks: mamba_layers_gpu.div_ceil(group),
            mamba_state: mamba_layers_gpu * mamba_page,
        }
    }

    /// Pool blocks a request of `len` tokens takes.
    fn blocks_for(&self, len: u64) -> u64 {
        len.div_ceil(self.block) * self.attn_groups + self.fixed_blocks
    }
}

pub fn check(input: &FitInput<'_>) -> FitReport {
    let m = input.model;
    let e = Engine::of(input.params);
    let (tp, pp) = (e.tp, e.pp);
    let mut warnings = Vec::new();
    let default_util = if input.version.at_least([0, 20, 0]) { 0.92 } else { 0.9 };
    let util = e.gpu_memory_utilization.unwrap_or(default_util);
    let total = input.gpu.total_bytes;

    let model_dtype_bytes = e.dtype.and_then(dtype_bytes).unwrap_or(m.dtype_bytes());
    let (weights_gpu, weights_note) = weights_per_gpu(m, &e, model_dtype_bytes, &mut warnings);
    let (overhead, overhead_note) = overhead(m, input.overhead_gib);

    let budget = (total as f64 * util).ceil();
    let kv_available = match e.kv_cache_memory_bytes {
        Some(b) => {
            if weights_gpu + overhead + b as f64 > total as f64 {
                warnings.push(format!(
                    "kv-cache-memory-bytes {} + weights {} + overhead {} exceed the GPU's {}",
                    gib(b as f64),
                    gib(weights_gpu),
                    gib(overhead),
                    gib(total as f64)
                ));
            }
            b as f64
        }
        None => budget - weights_gpu - overhead,
    };

    // KV cache per token per GPU.
    let model_kv_bytes = if model_dtype_bytes == 4 { 4 } else { 2 };
    let kv_dtype_bytes = kv_dtype_bytes(e.kv_cache_dtype, model_kv_bytes, &mut warnings);
    let kv_heads_gpu = (m.kv_heads as u64 / tp).max(1);
    let attn_layers_gpu = (m.attention_layers as u64).div_ceil(pp);
    let per_token_layer = kv_heads_gpu * m.head_dim * 2 * kv_dtype_bytes;
    let kv_per_token = attn_layers_gpu * per_token_layer;
    let layout = Layout::of(m, &e, model_kv_bytes, per_token_layer, attn_layers_gpu);
    let (block, bytes_per_block, attn_groups, fixed_blocks) =
        (layout.block, layout.bytes_per_block, layout.attn_groups, layout.fixed_blocks);

    // Requested max_model_len: explicit, `auto` (-1), or the model's derived limit.
    let requested = e.max_model_len;
    let auto = requested == Some(-1);
    let model_max = m.max_model_len;

    // vLLM 0.33 keeps one null block out of the pool.
    let pool_bytes =
        if input.version.at_least([0, 33, 0]) { kv_available - bytes_per_block as f64 } else { kv_available };
    let num_blocks = if pool_bytes > 0.0 { (pool_bytes / bytes_per_block as f64).floor() as u64 } else { 0 };
    let fit_len = if num_blocks > fixed_blocks { (num_blocks - fixed_blocks) / attn_groups * block } else { 0 };
    let max_model_len_fit = fit_len.min(model_max);
    let max_model_len = match requested {
        Some(n) if n > 0 => n as u64,
        Some(_) => max_model_len_fit.max(1),
        None => model_max,
    };
    let needed = layout.blocks_for(max_model_len) * bytes_per_block;
    let fits = kv_available > 0.0 && layout.blocks_for(max_model_len) <= num_blocks;
    let capacity_tokens = if m.mamba.is_some() { fit_len } else { num_blocks * block };
    let max_concurrency = num_blocks as f64 / layout.blocks_for(max_model_len) as f64;

    if kv_available <= 0.0 {
        warnings.push(format!(
            "does not fit: weights ({} per GPU) + overhead ({}) leave no memory for the KV cache in the GPU budget ({} = {} x {util}); vLLM fails with \"No available memory for the cache blocks\". Use more GPUs (tensor-parallel-size), a quantized model, or a larger GPU",
            gib(weights_gpu),
            gib(overhead),
            gib(budget),
            gib(total as f64)
        ));
    } else if !fits {
        let advice = if input.version.at_least([0, 14, 0]) {
            format!("Set max-model-len <= {max_model_len_fit} (or auto)")
        } else {
            format!("Set max-model-len <= {max_model_len_fit}")
        };
        warnings.push(format!(
            "does not fit: the model's max seq len ({max_model_len}) needs {} of KV cache per GPU, more than the {} estimated to be available; the estimated maximum model length is {max_model_len_fit}. {advice}, raise gpu-memory-utilization, or use more or larger GPUs",
            gib(needed as f64),
            gib(kv_available)
        ));
    }
    if m.mamba.is_some() && fits {
        let seqs = e.max_num_seqs.unwrap_or(default_max_num_seqs(input.gpu));
        let resident = num_blocks / (fixed_blocks + attn_groups);
        if seqs > resident {
            warnings.push(format!(
                "max-num-seqs {seqs} is more than the ~{resident} sequences whose Mamba state ({:.1} MiB each, padded to the block layout) fits: vLLM will run at most that many at once",
                (fixed_blocks * bytes_per_block) as f64 / (1u64 << 20) as f64
            ));
        }
    }
    FitReport {
        tp,
        pp,
        gpu_total_bytes: total,
        gpu_memory_utilization: util,
        budget_bytes: budget as u64,
        weights_bytes_per_gpu: weights_gpu as u64,
        weights_note,
        overhead_bytes: overhead as u64,
        overhead_note,
        kv_available_bytes: kv_available as i64,
        kv_dtype_bytes,
        attention_layers_per_gpu: attn_layers_gpu,
        kv_heads_per_gpu: kv_heads_gpu,
        kv_bytes_per_token: kv_per_token,
        mamba_state_bytes_per_seq: layout.mamba_state,
        block_size_tokens: block,
        block_note: layout.block_note,
        max_model_len,
        max_model_len_auto: auto,
        kv_needed_bytes: needed,
        num_blocks,
        kv_capacity_tokens: capacity_tokens,
        max_model_len_fit,
        max_concurrency,
        fits,
        warnings,
    }
}

/// vLLM's API-server default for max_num_seqs: 256 below 70 GiB and on A100s, else 1024.
pub fn default_max_num_seqs(gpu: &Gpu) -> u64 {
    if gpu.a100 || (gpu.total_bytes as f64) < 70.0 * GIB {
        256
    } else {
        1024
    }
}

impl FitReport {
    /// The arithmetic, one step a line, for `sb-deploy explain`.
    pub fn explain(&self, model: &ModelSpec, gpu: &Gpu) -> Vec<(String, String)> {
        let mut l: Vec<(String, String)> = Vec::new();
        let mut add = |k: &str, v: String| l.push((k.to_string(), v));
        let hybrid = model.mamba.as_ref().map(|mb| format!(" + {} Mamba2", mb.layers)).unwrap_or_default();
        add(
            "model",
            format!(
                "{} ({}): {} layers ({} attention{hybrid}), {} heads, {} KV heads, head_dim {}, {}, max len {}",
                model.id,
                model.architecture,
                model.layers,
                model.attention_layers,
                model.heads,
                model.kv_heads,
                model.head_dim,
                model.dtype,
                model.max_model_len
            ),
        );
        add(
            "gpu",
            format!(
                "{} x {}: {} each; {}",
                self.tp * self.pp,
                gpu.display,
                gib(self.gpu_total_bytes as f64),
                gpu.source
            ),
        );
        add(
            "budget",
            format!(
                "{} x gpu-memory-utilization {} = {} per GPU",
                gib(self.gpu_total_bytes as f64),
                self.gpu_memory_utilization,
                gib(self.budget_bytes as f64)
            ),
        );
        add("weights", format!("{} per GPU = {}", gib(self.weights_bytes_per_gpu as f64), self.weights_note));
        add("overhead", format!("{} ({})", gib(self.overhead_bytes as f64), self.overhead_note));
        add(
            "kv available",
            format!(
                "{} - {} - {} = {} per GPU",
                gib(self.budget_bytes as f64),
                gib(self.weights_bytes_per_gpu as f64),
                gib(self.overhead_bytes as f64),
                gib(self.kv_available_bytes as f64)
            ),
        );
        add(
            "kv per token",
            format!(
                "2 x {} attention layers x {} KV heads x {} head_dim x {} B = {} per GPU",
                self.attention_layers_per_gpu,
                self.kv_heads_per_gpu,
                model.head_dim,
                self.kv_dtype_bytes,
                kib(self.kv_bytes_per_token)
            ),
        );
        if self.mamba_state_bytes_per_seq > 0 {
            add(
                "mamba state",
                format!(
                    "{:.2} MiB per sequence per GPU (fixed, any length)",
                    self.mamba_state_bytes_per_seq as f64 / (1u64 << 20) as f64
                ),
            );
        }
        add("block size", format!("{} tokens ({})", self.block_size_tokens, self.block_note));
        add(
            "needed",
            format!(
                "{} for one request of max-model-len {}{}",
                gib(self.kv_needed_bytes as f64),
                self.max_model_len,
                if self.max_model_len_auto { " (auto)" } else { "" }
            ),
        );
        add(
            "capacity",
            format!(
                "{} blocks = {} tokens; {:.2} requests of full length at once; largest max-model-len that fits: {}",
                self.num_blocks, self.kv_capacity_tokens, self.max_concurrency, self.max_model_len_fit
            ),
        );
        add("verdict", if self.fits { "fits (estimate)".into() } else { "DOES NOT FIT (estimate)".into() });
        l
    }

    pub fn to_json(&self) -> Value {
        json!({
            "fits": self.fits,
            "max_model_len": self.max_model_len,
            "max_model_len_fit": self.max_model_len_fit,
            "gpu_total_bytes": self.gpu_total_bytes,
            "gpu_memory_utilization": self.gpu_memory_utilization,
            "weights_bytes_per_gpu": self.weights_bytes_per_gpu,
            "overhead_bytes": self.overhead_bytes,
            "kv_available_bytes": self.kv_available_bytes,
            "kv_bytes_per_token": self.kv_bytes_per_token,
            "kv_needed_bytes": self.kv_needed_bytes,
            "kv_capacity_tokens": self.kv_capacity_tokens,
            "block_size_tokens": self.block_size_tokens,
            "max_concurrency": (self.max_concurrency * 100.0).round() / 100.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::{FlagTable, Raw};
    use crate::{gpus, models};

    fn run(model: &str, gpu: &str, version: &str, sets: &[(&str, &str)], overhead: Option<f64>) -> FitReport {
        let v = VllmVersion::parse(version).unwrap();
        let t = FlagTable::for_version(&v);
        let mut params = EngineParams::new();
        for (k, val) in sets {
            let r = t.resolve(k).unwrap();
            params.insert(r.flag.name.clone(), t.check_value(&r, Raw::Text(val)).unwrap());
        }
        let m = models::preset(model).unwrap();
        let g = gpus::find(gpu).unwrap();
        check(&FitInput { model: &m, gpu: &g, version: &v, params: &params, overhead_gib: overhead })
    }

    fn gib_of(b: impl Into<f64>) -> f64 {
        b.into() / GIB
    }

    /// Model, weights GiB, KV bytes per token, needed GiB, available GiB, fits, est. max len.
    type Row = (&'static str, f64, u64, f64, f64, bool, Option<u64>);

    /// docs/deploy.md, "Worked examples": 24 GB-class GPU (23.6 GiB), utilization 0.9, default
    /// max_model_len: weights GiB, KV per token, needed GiB, available GiB, fits, est. max len.
    #[test]
    fn matches_the_reference_table_on_24gb() {
        #[rustfmt::skip]
        let rows: &[Row] = &[
            ("facebook/opt-125m", 0.23, 36 * 1024, 0.07, 19.5, true, None),
            ("facebook/opt-350m", 0.62, 96 * 1024, 0.19, 19.1, true, None),
            ("Qwen/Qwen3-0.6B", 1.11, 112 * 1024, 4.38, 18.6, true, None),
            ("ibm-granite/granite-4.0-h-1b", 2.72, 8 * 1024, 1.03, 17.0, true, None),
            ("ibm-granite/granite-4.0-micro", 6.33, 80 * 1024, 10.0, 13.4, true, None),
            ("google/gemma-2b", 4.68, 18 * 1024, 0.14, 15.1, true, None),
            ("ibm-granite/granite-4.0-h-tiny", 12.9, 8 * 1024, 1.03, 5.8, true, None),
            ("meta-llama/Llama-3.1-8B-Instruct", 14.96, 128 * 1024, 16.0, 3.8, false, Some(31_000)),
            ("ibm-granite/granite-3.3-8b-instruct", 15.22, 160 * 1024, 20.0, 3.5, false, Some(23_000)),
            ("Qwen/Qwen3-8B", 15.26, 144 * 1024, 5.6, 3.5, false, Some(25_000)),
        ];
        for &(model, weights, kv_tok, needed, avail, fits, max_len) in rows {
            let r = run(model, "24gb", "0.33.0", &[("gpu-memory-utilization", "0.9")], None);
            // The table rounds to 2-3 significant digits (5.6 for 5.625).
            let close = |a: f64, b: f64, tol: f64| (a - b).abs() <= tol.max(b * 0.01);
            // The table rounds to 3 significant digits (12.9 for 12.85).
            assert!(close(gib_of(r.weights_bytes_per_gpu as f64), weights, 0.06), "{model} weights {r:?}");
            assert_eq!(r.kv_bytes_per_token, kv_tok, "{model} kv/token");
            assert!(
                close(gib_of(r.kv_needed_bytes as f64), needed, 0.02),
                "{model} needed {}",
                gib_of(r.kv_needed_bytes as f64)
            );
            assert!(
                close(gib_of(r.kv_available_bytes as f64), avail, 0.1),
                "{model} avail {}",
                gib_of(r.kv_available_bytes as f64)
            );
            assert_eq!(r.fits, fits, "{model} fits");
            if let Some(len) = max_len {
                // The table rounds to thousands ("≈ 31k").
                assert!(r.max_model_len_fit.abs_diff(len) < 700, "{model} max len {}", r.max_model_len_fit);
                assert!(r.warnings[0].contains(&format!("estimated maximum model length is {}", r.max_model_len_fit)));
            }
        }
    }

    #[test]
    fn hybrid_mamba_block_alignment_and_state() {
        let r = run("ibm-granite/granite-4.0-h-1b", "24gb", "0.33.0", &[], None);
        assert_eq!(r.block_size_tokens, 400, "16 x ceil(806400 / (16 x 2048))");
        assert_eq!(r.mamba_state_bytes_per_seq, 36 * 806_400);
        // (ceil(131072/400) + 9 Mamba groups) x 4 layers per group x 819,200 B pages.
        assert_eq!(r.kv_needed_bytes, (328 + 9) * 4 * 819_200);
        let tight = run(
            "ibm-granite/granite-4.0-h-1b",
            "24gb",
            "0.33.0",
            &[("max-num-seqs", "1024"), ("gpu-memory-utilization", "0.3")],
            None,
        );
        assert!(tight.warnings.iter().any(|w| w.contains("max-num-seqs 1024")), "{:?}", tight.warnings);
    }

    /// docs/deploy.md: 405B FP8 at TP 8 on H100s, utilization 0.90, max-model-len 16384:
    /// 63 KiB/token/GPU, ~47.7 GiB weights per GPU, 0.98 GiB needed, ~19.5 GiB KV with the
    /// reference's ~4.06 GiB overhead.
    #[test]
    fn llama_405b_fp8_tp8() {
        let sets = [("tensor-parallel-size", "8"), ("gpu-memory-utilization", "0.9"), ("max-model-len", "16384")];
        let r = run("meta-llama/Llama-3.1-405B-Instruct-FP8", "h100-80gb", "0.33.0", &sets, Some(4.06));
        assert_eq!(r.kv_bytes_per_token, 63 * 1024);
        assert_eq!(r.kv_heads_per_gpu, 1);
        assert!((gib_of(r.weights_bytes_per_gpu as f64) - 47.7).abs() < 0.1);
        assert!((gib_of(r.kv_needed_bytes as f64) - 0.98).abs() < 0.01);
        assert!((gib_of(r.kv_available_bytes as f64) - 19.5).abs() < 0.05);
        assert!(r.fits);
        // BF16 405B: ~94.5 GiB per GPU fits an H200 (139.8 GiB) but not an H100.
        let bf16 = run("meta-llama/Llama-3.1-405B-Instruct", "h100-80gb", "0.33.0", &sets, None);
        assert!(!bf16.fits && bf16.warnings[0].contains("No available memory for the cache blocks"));
        assert!(run("meta-llama/Llama-3.1-405B-Instruct", "h200", "0.33.0", &sets, None).fits);
    }

    #[test]
    fn knobs_move_the_numbers() {
        let base = run("meta-llama/Llama-3.1-8B-Instruct", "h100-80gb", "0.33.0", &[], None);
        assert!(base.fits, "every seed model fits one H100 at its default length");
        let fp8kv = run("meta-llama/Llama-3.1-8B-Instruct", "h100-80gb", "0.33.0", &[("kv-cache-dtype", "fp8")], None);
        assert_eq!(fp8kv.kv_bytes_per_token * 2, base.kv_bytes_per_token);
        let q = run("meta-llama/Llama-3.1-8B-Instruct", "rtx-3080-10gb", "0.33.0", &[("quantization", "fp8")], None);
        // 1.05B embedding params at 2 B + 6.98B linear params at 1 B.
        assert!(
            (gib_of(q.weights_bytes_per_gpu as f64) - 8.46).abs() < 0.02,
            "{}",
            gib_of(q.weights_bytes_per_gpu as f64)
        );
        let off = run("meta-llama/Llama-3.1-8B-Instruct", "rtx-3080-10gb", "0.33.0", &[("cpu-offload-gb", "5")], None);
        assert!((gib_of(off.weights_bytes_per_gpu as f64) - 9.96).abs() < 0.02);
        let auto = run(
            "meta-llama/Llama-3.1-8B-Instruct",
            "24gb",
            "0.33.0",
            &[("max-model-len", "auto"), ("gpu-memory-utilization", "0.9")],
            None,
        );
        assert!(auto.fits && auto.max_model_len == auto.max_model_len_fit && auto.max_model_len_auto);
        // Older versions default to 0.9 utilization and keep no null block.
        let old = run("Qwen/Qwen3-0.6B", "h100-80gb", "0.19.0", &[], None);
        assert_eq!(old.gpu_memory_utilization, 0.9);
    }
}
