//! Command-line options shared by `render`, `plan` and `explain`.

use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Args, Clone, Debug, Default)]
pub struct DeployOptions {
    /// Model to serve: a Hugging Face id (a preset when known, see `sb-deploy presets`).
    #[arg(long, short = 'm', help_heading = "Model")]
    pub model: String,

    /// Name clients use (`--served-model-name`); default: the model id.
    #[arg(long, help_heading = "Model")]
    pub served_name: Option<String>,

    /// The model's config.json, for the fit check of a model without a preset (a
    /// model.safetensors.index.json beside it gives the weight size).
    #[arg(long, value_name = "FILE", help_heading = "Model")]
    pub model_config: Option<PathBuf>,

    /// Target vLLM release: picks the flag table, defaults and the image tag.
    #[arg(long, default_value = "0.33.0", value_name = "VERSION", help_heading = "Engine")]
    pub vllm_version: String,

    /// Engine parameter, checked against the flag table (repeatable): max-model-len=16384,
    /// enable-chunked-prefill=false, compilation-config='{"mode":3}'.
    #[arg(long = "set", short = 's', value_name = "KEY=VALUE", help_heading = "Engine")]
    pub set: Vec<String>,

    /// YAML or JSON map of engine parameters (repeatable; later files and --set win).
    #[arg(long = "values", short = 'f', value_name = "FILE", help_heading = "Engine")]
    pub values: Vec<PathBuf>,

    /// Raw argv item appended unchecked (escape hatch for plugin flags; repeatable).
    #[arg(long = "extra-arg", value_name = "ARG", allow_hyphen_values = true, help_heading = "Engine")]
    pub extra_args: Vec<String>,

    /// Sweep a parameter over values (repeatable; points are the cartesian product).
    #[arg(long = "sweep", value_name = "KEY=V1,V2", help_heading = "Sweep")]
    pub sweep: Vec<String>,

    /// A listed design instead of a product: YAML/JSON list of maps, one per point.
    #[arg(long, value_name = "FILE", conflicts_with = "sweep", help_heading = "Sweep")]
    pub design: Option<PathBuf>,

    /// Only this point of the sweep (e.g. p03).
    #[arg(long, value_name = "POINT", help_heading = "Sweep")]
    pub point: Option<String>,

    /// GPU type for the fit check (see `sb-deploy presets`).
    #[arg(long, default_value = "h100-80gb", help_heading = "Fit check")]
    pub gpu: String,

    /// GPU memory in GiB as torch reports it, instead of a --gpu type.
    #[arg(long, value_name = "GIB", help_heading = "Fit check")]
    pub gpu_memory_gib: Option<f64>,

    /// Non-KV memory per GPU (activations, CUDA context, graphs); default: 1.5 GiB up to 4B
    /// parameters, 2.5 GiB above.
    #[arg(long, value_name = "GIB", help_heading = "Fit check")]
    pub overhead_gib: Option<f64>,

    /// Fail (exit 1, print nothing) when a point does not fit, instead of warning.
    #[arg(long, help_heading = "Fit check")]
    pub require_fit: bool,

    /// Skip the fit check (a model with neither preset nor --model-config).
    #[arg(long, help_heading = "Fit check")]
    pub no_fit_check: bool,

    /// Kubernetes namespace.
    #[arg(long, short = 'n', default_value = "default", help_heading = "Kubernetes")]
    pub namespace: String,

    /// Base name of the objects; default vllm-<model name>. Sweep points append -<point>.
    #[arg(long, help_heading = "Kubernetes")]
    pub name: Option<String>,

    /// Extra label on every object (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE", help_heading = "Kubernetes")]
    pub labels: Vec<String>,

    /// Server image; default vllm/vllm-openai:v<vllm-version>.
    #[arg(long, help_heading = "Kubernetes")]
    pub image: Option<String>,

    /// GPUs per pod; default tensor-parallel-size x pipeline-parallel-size.
    #[arg(long, help_heading = "Kubernetes")]
    pub gpus: Option<u32>,

    /// Extended resource name of a GPU.
    #[arg(long, default_value = "nvidia.com/gpu", help_heading = "Kubernetes")]
    pub gpu_resource: String,

    /// Add nodeSelector nvidia.com/gpu.product=<the --gpu type's product label>.
    #[arg(long, help_heading = "Kubernetes")]
    pub pin_gpu_product: bool,

    /// Node selector (repeatable).
    #[arg(long = "node-selector", value_name = "KEY=VALUE", help_heading = "Kubernetes")]
    pub node_selector: Vec<String>,

    /// Extra toleration KEY[=VALUE]:EFFECT (repeatable); nvidia.com/gpu:NoSchedule is always added.
    #[arg(long = "toleration", value_name = "KEY[=VALUE]:EFFECT", help_heading = "Kubernetes")]
    pub tolerations: Vec<String>,

    /// runtimeClassName (e.g. nvidia where the NVIDIA runtime is not the default).
    #[arg(long, help_heading = "Kubernetes")]
    pub runtime_class: Option<String>,

    /// CPU request of the server pod.
    #[arg(long, default_value = "4", help_heading = "Kubernetes")]
    pub cpu: String,

    /// Memory request and limit of the server pod (must cover /dev/shm, which counts against it).
    #[arg(long, default_value = "32Gi", help_heading = "Kubernetes")]
    pub memory: String,

    /// Size of the memory-backed /dev/shm; default 2Gi, or 16Gi with more than one GPU (NCCL).
    #[arg(long, help_heading = "Kubernetes")]
    pub shm_size: Option<String>,

    /// Where Hugging Face downloads go: emptydir, pvc:CLAIM or hostpath:/DIR.
    #[arg(long, default_value = "emptydir", value_name = "WHERE", help_heading = "Model storage")]
    pub model_cache: String,

    /// Also render the model-cache PersistentVolumeClaim of --model-cache pvc:CLAIM, this size.
    #[arg(long, value_name = "SIZE", help_heading = "Model storage")]
    pub create_pvc: Option<String>,

    /// storageClassName of the rendered PVC.
    #[arg(long, help_heading = "Model storage")]
    pub storage_class: Option<String>,

    /// Pre-staged weights instead of a download: pvc:CLAIM/PATH or hostpath:/DIR (mounted
    /// read-only; the path becomes the model argument, HF_HUB_OFFLINE=1).
    #[arg(long, value_name = "WHERE", help_heading = "Model storage")]
    pub model_path: Option<String>,

    /// Existing Secret with the Hugging Face token, NAME[:KEY] (key default HF_TOKEN).
    #[arg(long, default_value = "hf-token", value_name = "NAME[:KEY]", help_heading = "Model storage")]
    pub hf_secret: String,

    /// Do not reference an HF token Secret.
    #[arg(long, help_heading = "Model storage")]
    pub no_hf_secret: bool,

    /// Extra environment variable of the server (repeatable), e.g. VLLM_ALLOW_LONG_MAX_MODEL_LEN=1.
    #[arg(long = "env", value_name = "NAME=VALUE", help_heading = "Kubernetes")]
    pub env: Vec<String>,

    /// Environment variable from a Secret: NAME=SECRET:KEY (repeatable), e.g. VLLM_API_KEY=vllm:key.
    #[arg(long = "env-secret", value_name = "NAME=SECRET:KEY", help_heading = "Kubernetes")]
    pub env_secret: Vec<String>,

    /// How long the server may take to load before the startup probe restarts it.
    #[arg(long, default_value = "30m", value_name = "DURATION", help_heading = "Kubernetes")]
    pub startup_timeout: String,

    /// Prometheus-operator object scraping /metrics (needs its CRDs in the cluster).
    #[arg(long, value_enum, default_value_t = Monitor::None, help_heading = "Monitoring")]
    pub monitor: Monitor,

    /// Scrape interval of the monitor.
    #[arg(long, default_value = "15s", help_heading = "Monitoring")]
    pub monitor_interval: String,

    /// Label on the monitor so Prometheus selects it, e.g. release=prometheus (repeatable).
    #[arg(long = "monitor-label", value_name = "KEY=VALUE", help_heading = "Monitoring")]
    pub monitor_labels: Vec<String>,

    /// Also render the load-generator Job (indexed, one sb-load shard per pod).
    #[arg(long, help_heading = "Load generator")]
    pub loadgen: bool,

    /// Pods of the Job; pod i runs sb-load --shard i/N.
    #[arg(long, default_value_t = 1, help_heading = "Load generator")]
    pub shards: u32,

    /// Image with sb-load (and /bin/sh): the repository's Dockerfile, built by `make -C pipelines
    /// image`; pulled only when the node does not have it (imagePullPolicy IfNotPresent).
    #[arg(long, default_value = concat!("servebench:", env!("CARGO_PKG_VERSION")), help_heading = "Load generator")]
    pub loadgen_image: String,

    /// Request records for sb-load's stdin: pvc:CLAIM/FILE or configmap:NAME/KEY.
    #[arg(long, value_name = "WHERE", help_heading = "Load generator")]
    pub requests: Option<String>,

    /// Where result records go: stdout (kubectl logs) or pvc:CLAIM/DIR (one file per shard).
    #[arg(long, default_value = "stdout", value_name = "WHERE", help_heading = "Load generator")]
    pub results: String,

    /// sb-load --rate (e.g. poisson:12).
    #[arg(long, help_heading = "Load generator")]
    pub rate: Option<String>,

    /// Extra sb-load argument (repeatable), e.g. --load-arg=--max-lag=5ms.
    #[arg(long = "load-arg", value_name = "ARG", allow_hyphen_values = true, help_heading = "Load generator")]
    pub load_args: Vec<String>,

    /// Run id in the Job name (Jobs are immutable: each run needs a new name). Default: the
    /// UTC time, YYYYMMDD-HHMMSS; give one for reproducible output.
    #[arg(long, help_heading = "Load generator")]
    pub run_id: Option<String>,

    /// Job deadline (activeDeadlineSeconds).
    #[arg(long, default_value = "4h", value_name = "DURATION", help_heading = "Load generator")]
    pub load_deadline: String,

    /// Image of the init container that waits for /health and the model in /v1/models.
    #[arg(long, default_value = "busybox:1.36", help_heading = "Load generator")]
    pub wait_image: String,

    /// Do not wait for the server before starting sb-load.
    #[arg(long, help_heading = "Load generator")]
    pub no_wait: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Monitor {
    #[default]
    None,
    Podmonitor,
    Servicemonitor,
}
