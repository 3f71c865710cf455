//! From options to planned points: engine parameters checked and merged per point, the
//! cross-field rules vLLM enforces after parsing, the fit check, and the container argv.

use crate::fit::{self, FitReport};
use crate::flags::{render_args, ArgValue, EngineParams, FlagTable, DEPRECATED_QUANTIZATION_0_33};
use crate::gpus::{self, Gpu};
use crate::models::{self, ModelSpec};
use crate::names;
use crate::options::DeployOptions;
use crate::sweep::{self, Point};
use crate::values::{self, Setting};
use crate::version::VllmVersion;
use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};

/// Everything rendered, for every point.
pub struct Plan {
    pub version: VllmVersion,
    pub model: Option<ModelSpec>,
    /// The Hugging Face id (what `--served-model-name` defaults to).
    pub model_id: String,
    pub served_name: String,
    pub gpu: Gpu,
    pub swept: bool,
    pub points: Vec<PlannedPoint>,
    /// Warnings and notes for stderr.
    pub notes: Vec<String>,
}

pub struct PlannedPoint {
    /// `p01`... or `default` without a sweep.
    pub name: String,
    /// Object name: the base name, plus `-<point>` in a sweep.
    pub object_name: String,
    /// The point's own settings (canonical flag -> value), for labels and the plan.
    pub swept: Map<String, Value>,
    /// vLLM arguments after the model (engine flags, then --extra-arg items).
    pub engine_args: Vec<String>,
    pub gpus: u32,
    pub fit: Option<FitReport>,
}

impl Plan {
    pub fn all_fit(&self) -> bool {
        self.points.iter().all(|p| p.fit.as_ref().is_none_or(|f| f.fits))
    }
}

pub fn build(opts: &DeployOptions) -> Result<Plan> {
    let version = VllmVersion::parse(&opts.vllm_version).map_err(anyhow::Error::msg)?;
    let table = FlagTable::for_version(&version);
    let model_id = opts.model.trim().to_string();
    if model_id.is_empty() {
        bail!("--model is empty");
    }
    let model = match (&opts.model_config, models::preset(&model_id)) {
        (Some(path), _) => Some(models::from_config_json(path, &model_id)?),
        (None, Some(p)) => Some(p),
        (None, None) if opts.no_fit_check => None,
        (None, None) => bail!(
            "no preset for {model_id:?} (see `sb-deploy presets`): give its config.json with --model-config FILE, or skip the fit check with --no-fit-check"
        ),
    };
    // The preset's canonical id is what clients see unless told otherwise.
    let model_id = model.as_ref().map(|m| m.id.clone()).unwrap_or(model_id);
    let served_name = opts.served_name.clone().unwrap_or_else(|| model_id.clone());
    let gpu = match opts.gpu_memory_gib {
        Some(g) if g > 0.0 => gpus::custom(g),
        Some(g) => bail!("--gpu-memory-gib {g}: must be positive"),
        None => gpus::find(&opts.gpu).with_context(|| {
            format!("--gpu {:?} is not known (known: {}); or give --gpu-memory-gib", opts.gpu, gpus::keys())
        })?,
    };
    let base_name = match &opts.name {
        Some(n) => n.clone(),
        None => format!("vllm-{}", names::slug(model_id.rsplit('/').next().unwrap_or(&model_id))),
    };
    names::check_dns1035("--name", &base_name)?;

    let mut notes = Vec::new();
    let mut base_settings: Vec<Setting> = Vec::new();
    for f in &opts.values {
        base_settings.extend(values::read_values_file(f)?);
    }
    for s in &opts.set {
        base_settings.push(values::parse_set(s)?);
    }
    let mut base = EngineParams::new();
    values::apply(&table, &mut base, &base_settings, &mut notes)?;

    let sweeps: Vec<(String, Vec<String>)> = opts.sweep.iter().map(|s| sweep::parse_sweep(s)).collect::<Result<_>>()?;
    let (swept, mut points) = match (&opts.design, sweeps.is_empty()) {
        (Some(path), _) => (true, sweep::design(path)?),
        (None, false) => (true, sweep::cartesian(&sweeps)?),
        (None, true) => (false, vec![Point { name: "default".into(), settings: vec![] }]),
    };
    if let Some(only) = &opts.point {
        let known: Vec<String> = points.iter().map(|p| p.name.clone()).collect();
        points.retain(|p| &p.name == only);
        if points.is_empty() {
            bail!("--point {only:?} is not a point of this sweep (points: {})", known.join(", "));
        }
    }
    let env = names::key_values("--env", &opts.env)?;
    names::refuse_literal_secret_env(&env)?;
    names::refuse_secret_args(&opts.extra_args)?;
    let mut planned = Vec::new();
    for point in points {
        let mut params = base.clone();
        let mut own = EngineParams::new();
        values::apply(&table, &mut own, &point.settings, &mut notes)?;
        let swept_map: Map<String, Value> = own.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
        params.extend(own);
        let object_name = if swept { format!("{base_name}-{}", point.name) } else { base_name.clone() };
        names::check_dns1035("object name (--name + point)", &object_name)?;
        let ctx = if swept { format!("point {}: ", point.name) } else { String::new() };
        let gpus = engine_rules(&version, model.as_ref(), &params, opts.gpus, &env, &mut notes)
            .map_err(|e| anyhow::anyhow!("{ctx}{e}"))?;
        let fit = model.as_ref().map(|m| {
            fit::check(&fit::FitInput {
                model: m,
                gpu: &gpu,
                version: &version,
                params: &params,
                overhead_gib: opts.overhead_gib,
            })
        });
        if let Some(f) = &fit {
            for w in &f.warnings {
                notes.push(format!("warning: {ctx}{w}"));
            }
        }
        let mut engine_args = render_args(&table, &params);
        if !opts.extra_args.is_empty() {
            engine_args.extend(opts.extra_args.iter().cloned());
        }
        planned.push(PlannedPoint { name: point.name, object_name, swept: swept_map, engine_args, gpus, fit });
    }
    if !opts.extra_args.is_empty() {
        notes.push(format!("--extra-arg items are passed unchecked: {}", opts.extra_args.join(" ")));
    }
    Ok(Plan { version, model, model_id, served_name, gpu, swept, points: planned, notes })
}

fn int(params: &EngineParams, k: &str) -> Option<i64> {
    params.get(k).and_then(ArgValue::as_i64)
}

/// The cross-field rules vLLM checks after parsing (`docs/deploy.md`, "Cross-field rules"), so
/// they fail here and not in a crash-looping pod. Returns the GPUs per pod.
fn engine_rules(
    version: &VllmVersion,
    model: Option<&ModelSpec>,
    params: &EngineParams,
    gpus: Option<u32>,
    env: &std::collections::BTreeMap<String, String>,
    notes: &mut Vec<String>,
) -> Result<u32> {
    let tp = int(params, "tensor-parallel-size").unwrap_or(1);
    let pp = int(params, "pipeline-parallel-size").unwrap_or(1);
    let dp = int(params, "data-parallel-size").unwrap_or(1);
    let need = (tp * pp * dp) as u32;
    let gpus = match gpus {
        Some(g) if g < need => bail!(
            "tensor-parallel-size {tp} x pipeline-parallel-size {pp} x data-parallel-size {dp} needs {need} GPUs in the pod; --gpus is {g}"
        ),
        Some(g) => g,
        None => need,
    };
    if let Some(m) = model {
        if m.heads as i64 % tp != 0 {
            let divisors: Vec<String> = (1..=m.heads).filter(|d| m.heads % d == 0).map(|d| d.to_string()).collect();
            bail!(
                "total number of attention heads ({}) of {} must be divisible by tensor-parallel-size ({tp}); use one of {}",
                m.heads,
                m.id,
                divisors.join(", ")
            );
        }
        let len = int(params, "max-model-len");
        if let Some(l) = len.filter(|l| *l > 0) {
            if l as u64 > m.max_model_len && env.get("VLLM_ALLOW_LONG_MAX_MODEL_LEN").map(String::as_str) != Some("1") {
                bail!(
                    "max-model-len {l} is greater than the derived max_model_len ({}) of {}; vLLM refuses it unless --env VLLM_ALLOW_LONG_MAX_MODEL_LEN=1",
                    m.max_model_len,
                    m.id
                );
            }
        }
        let quant = params.get("quantization").and_then(ArgValue::as_str).map(String::from).or(m.quant_method.clone());
        if let Some(q) = quant {
            let allowed = params.get("allow-deprecated-quantization").and_then(ArgValue::as_bool) == Some(true);
            if version.at_least([0, 33, 0]) && DEPRECATED_QUANTIZATION_0_33.contains(&q.as_str()) && !allowed {
                bail!(
                    "{} uses quantization {q}, deprecated in vLLM {version}: the engine refuses it unless --set allow-deprecated-quantization=true",
                    m.id
                );
            }
        }
        if let Some(kvd) = params.get("kv-cache-dtype").and_then(ArgValue::as_str) {
            let model_dtype =
                params.get("dtype").and_then(ArgValue::as_str).filter(|d| *d != "auto").unwrap_or(&m.dtype);
            let model_dtype = if model_dtype == "half" { "float16" } else { model_dtype };
            if matches!(kvd, "float16" | "bfloat16") && kvd != model_dtype {
                bail!("kv-cache-dtype {kvd} must equal the model dtype ({model_dtype}); use auto or an fp8 type");
            }
        }
    }
    let mnbt = int(params, "max-num-batched-tokens");
    if let (Some(b), Some(s)) = (mnbt, int(params, "max-num-seqs")) {
        if b < s {
            bail!("max-num-batched-tokens ({b}) must be >= max-num-seqs ({s})");
        }
    }
    let chunked_off = params.get("enable-chunked-prefill").and_then(ArgValue::as_bool) == Some(false);
    if chunked_off {
        let len = int(params, "max-model-len").filter(|l| *l > 0).or(model.map(|m| m.max_model_len as i64));
        if let (Some(b), Some(l)) = (mnbt, len) {
            if b < l {
                bail!(
                    "max-num-batched-tokens ({b}) is smaller than max-model-len ({l}) with chunked prefill disabled: a full-length prompt could never be scheduled; raise it to >= {l} or enable chunked prefill"
                );
            }
        }
    }
    if params.contains_key("kv-offloading-backend") && !params.contains_key("kv-offloading-size") {
        notes.push("warning: kv-offloading-backend has no effect without kv-offloading-size".into());
    }
    if params.contains_key("kv-cache-memory-bytes") && params.contains_key("gpu-memory-utilization") {
        notes.push("warning: kv-cache-memory-bytes is set, so vLLM ignores gpu-memory-utilization".into());
    }
    Ok(gpus)
}
