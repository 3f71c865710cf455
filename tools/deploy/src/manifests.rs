//! The server's Kubernetes objects, built from k8s-openapi's typed structs (never text
//! templates), then checked for what the API server would reject but schemas do not catch.
//!
//! Shape (`docs/deploy.md`, "Suggested skeleton"): a Deployment with `Recreate` (a rolling update
//! would need twice the GPUs), `vllm serve` arguments one token per argv item (the image's
//! entrypoint is `vllm serve`), GPUs in requests = limits, memory-backed /dev/shm, the model cache,
//! the HF token from an existing Secret, startup/readiness/liveness probes on /health; a Service
//! on port 8000; optional PVC and Prometheus-operator monitor.

use crate::monitors;
use crate::names::{self, key_values};
use crate::options::{DeployOptions, Monitor};
use crate::plan::{Plan, PlannedPoint};
use anyhow::{bail, Result};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource, HTTPGetAction, HostPathVolumeSource,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec,
    Probe, ResourceRequirements, SecretKeySelector, Service, ServicePort, ServiceSpec, Toleration, Volume, VolumeMount,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

/// vLLM's port inside the pod, named so probes, Service and monitors refer to it by name.
pub const PORT: i32 = 8000;
pub const PORT_NAME: &str = "http";
const MODEL_CACHE_MOUNT: &str = "/models";
const MODEL_STORAGE_MOUNT: &str = "/model-storage";

/// One rendered document of the stream.
pub struct Doc {
    /// A `# ...` line put before the document (for people reading the stream).
    pub comment: Option<String>,
    pub yaml: String,
}

pub fn to_doc<T: serde::Serialize>(kind: &'static str, name: &str, obj: &T, comment: Option<String>) -> Result<Doc> {
    // One line per string: folded (`>-`) shell scripts and JSON arguments are hard to read.
    let mut options = serde_saphyr::SerializerOptions::default();
    options.prefer_block_scalars = false;
    let yaml = serde_saphyr::to_string_with_options(obj, options)
        .map_err(|e| anyhow::anyhow!("serialising {kind} {name}: {e}"))?;
    Ok(Doc { comment, yaml })
}

/// Labels every object of a point carries.
pub fn labels(
    plan: &Plan,
    point: &PlannedPoint,
    opts: &DeployOptions,
    component: &str,
) -> Result<BTreeMap<String, String>> {
    let mut l = BTreeMap::new();
    l.insert("app.kubernetes.io/name".into(), "vllm".into());
    l.insert("app.kubernetes.io/instance".into(), point.object_name.clone());
    l.insert("app.kubernetes.io/component".into(), component.into());
    l.insert("app.kubernetes.io/managed-by".into(), "sb-deploy".into());
    let short = plan.model_id.rsplit('/').next().unwrap_or(&plan.model_id);
    let model_label = if names::check_label_value("", short).is_ok() { short.to_string() } else { names::slug(short) };
    l.insert("servebench.io/model".into(), model_label);
    if plan.swept {
        l.insert("servebench.io/point".into(), point.name.clone());
    }
    for (k, v) in key_values("--label", &opts.labels)? {
        names::check_label_key(&k)?;
        names::check_label_value(&k, &v)?;
        l.insert(k, v);
    }
    Ok(l)
}

pub fn selector(point: &PlannedPoint) -> BTreeMap<String, String> {
    BTreeMap::from([("app.kubernetes.io/instance".to_string(), point.object_name.clone())])
}

fn http_probe(period_s: i32, failures: i32, timeout_s: Option<i32>) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/health".into()),
            port: IntOrString::String(PORT_NAME.into()),
            ..Default::default()
        }),
        period_seconds: Some(period_s),
        failure_threshold: Some(failures),
        timeout_seconds: timeout_s,
        ..Default::default()
    }
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar { name: name.into(), value: Some(value.into()), ..Default::default() }
}

fn secret_env(name: &str, secret: &str, key: &str, optional: bool) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector { name: secret.into(), key: key.into(), optional: Some(optional) }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `pvc:CLAIM[/PATH]`, `hostpath:/DIR`, `emptydir`.
pub enum Storage {
    EmptyDir,
    Pvc { claim: String, path: String },
    HostPath(String),
}

pub fn parse_storage(option: &str, text: &str) -> Result<Storage> {
    if text == "emptydir" {
        return Ok(Storage::EmptyDir);
    }
    if let Some(rest) = text.strip_prefix("pvc:") {
        let (claim, path) = rest.split_once('/').unwrap_or((rest, ""));
        names::check_dns1035(&format!("{option} claim"), claim)
            .or_else(|_| names::check_label_value("claim", claim).map(|_| ()))?;
        return Ok(Storage::Pvc { claim: claim.into(), path: path.trim_matches('/').into() });
    }
    if let Some(dir) = text.strip_prefix("hostpath:") {
        if !dir.starts_with('/') {
            bail!("{option} {text:?}: a hostPath must be absolute (hostpath:/mnt/models)");
        }
        return Ok(Storage::HostPath(dir.into()));
    }
    bail!("{option} {text:?}: expected emptydir, pvc:CLAIM[/PATH] or hostpath:/DIR")
}

fn storage_volume(name: &str, s: &Storage, read_only: bool) -> Volume {
    match s {
        Storage::EmptyDir => {
            Volume { name: name.into(), empty_dir: Some(EmptyDirVolumeSource::default()), ..Default::default() }
        }
        Storage::Pvc { claim, .. } => Volume {
            name: name.into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim.clone(),
                read_only: read_only.then_some(true),
            }),
            ..Default::default()
        },
        Storage::HostPath(dir) => Volume {
            name: name.into(),
            host_path: Some(HostPathVolumeSource {
                path: dir.clone(),
                type_: Some(if read_only { "Directory".into() } else { "DirectoryOrCreate".into() }),
            }),
            ..Default::default()
        },
    }
}

fn quantity(q: &str) -> Quantity {
    Quantity(q.to_string())
}

fn tolerations(opts: &DeployOptions) -> Result<Vec<Toleration>> {
    let mut out = vec![Toleration {
        key: Some(opts.gpu_resource.clone()),
        operator: Some("Exists".into()),
        effect: Some("NoSchedule".into()),
        ..Default::default()
    }];
    for t in &opts.tolerations {
        let Some((kv, effect)) = t.rsplit_once(':') else {
            bail!("--toleration {t:?}: expected KEY[=VALUE]:EFFECT");
        };
        if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
            bail!("--toleration {t:?}: effect must be NoSchedule, PreferNoSchedule or NoExecute");
        }
        let (key, value) = match kv.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (kv, None),
        };
        out.push(Toleration {
            key: Some(key.into()),
            operator: Some(if value.is_some() { "Equal".into() } else { "Exists".into() }),
            value,
            effect: Some(effect.into()),
            ..Default::default()
        });
    }
    Ok(out)
}

/// The model-cache PVC, when asked for (rendered once, before the points).
pub fn pvc(opts: &DeployOptions) -> Result<Option<Doc>> {
    let Some(size) = &opts.create_pvc else { return Ok(None) };
    let Storage::Pvc { claim, .. } = parse_storage("--model-cache", &opts.model_cache)? else {
        bail!("--create-pvc needs --model-cache pvc:CLAIM (the claim to create)");
    };
    names::quantity_bytes("--create-pvc", size)?;
    let obj = PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(claim.clone()),
            namespace: Some(opts.namespace.clone()),
            labels: Some(BTreeMap::from([("app.kubernetes.io/managed-by".to_string(), "sb-deploy".to_string())])),
            ..Default::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".to_string(), quantity(size))])),
                ..Default::default()
            }),
            storage_class_name: opts.storage_class.clone(),
            ..Default::default()
        }),
        ..Default::default()
    };
    Ok(Some(to_doc("PersistentVolumeClaim", &claim, &obj, None)?))
}

/// Deployment, Service and monitor of one point.
/// The pod's volumes and mounts (shared memory, the model cache, pre-staged weights), the
/// environment they need, and the model argument vLLM is given.
struct PodStorage {
    volumes: Vec<Volume>,
    mounts: Vec<VolumeMount>,
    envs: Vec<EnvVar>,
    model_arg: String,
}

fn model_storage(plan: &Plan, point: &PlannedPoint, opts: &DeployOptions) -> Result<PodStorage> {
    let cache = parse_storage("--model-cache", &opts.model_cache)?;
    let mut volumes = Vec::new();
    let mut mounts = Vec::new();
    let shm = opts.shm_size.clone().unwrap_or_else(|| if point.gpus > 1 { "16Gi".into() } else { "2Gi".into() });
    if names::quantity_bytes("--shm-size", &shm)? > names::quantity_bytes("--memory", &opts.memory)? {
        bail!(
            "--shm-size {shm} is larger than --memory {}: /dev/shm counts against the pod's memory limit",
            opts.memory
        );
    }
    volumes.push(Volume {
        name: "dshm".into(),
        empty_dir: Some(EmptyDirVolumeSource { medium: Some("Memory".into()), size_limit: Some(quantity(&shm)) }),
        ..Default::default()
    });
    mounts.push(VolumeMount { name: "dshm".into(), mount_path: "/dev/shm".into(), ..Default::default() });
    volumes.push(storage_volume("model-cache", &cache, false));
    mounts.push(VolumeMount { name: "model-cache".into(), mount_path: MODEL_CACHE_MOUNT.into(), ..Default::default() });
    let mut envs = vec![env("HF_HOME", &format!("{MODEL_CACHE_MOUNT}/hf"))];
    let model_arg = match &opts.model_path {
        None => plan.model_id.clone(),
        Some(text) => {
            let storage = parse_storage("--model-path", text)?;
            let arg = match &storage {
                Storage::Pvc { path, .. } if !path.is_empty() => format!("{MODEL_STORAGE_MOUNT}/{path}"),
                Storage::EmptyDir => {
                    bail!("--model-path needs pvc:CLAIM/PATH or hostpath:/DIR (emptydir holds no weights)")
                }
                _ => MODEL_STORAGE_MOUNT.to_string(),
            };
            volumes.push(storage_volume("model-storage", &storage, true));
            mounts.push(VolumeMount {
                name: "model-storage".into(),
                mount_path: MODEL_STORAGE_MOUNT.into(),
                read_only: Some(true),
                ..Default::default()
            });
            envs.push(env("HF_HUB_OFFLINE", "1"));
            arg
        }
    };
    Ok(PodStorage { volumes, mounts, envs, model_arg })
}

/// The server's environment after the storage's: the Hugging Face token, --env and --env-secret,
/// one entry per name (a later one replaces the default).
fn server_env(plan: &Plan, opts: &DeployOptions, mut envs: Vec<EnvVar>) -> Result<Vec<EnvVar>> {
    if !opts.no_hf_secret {
        let (secret, key) = opts.hf_secret.split_once(':').unwrap_or((&opts.hf_secret, "HF_TOKEN"));
        names::check_dns1035("--hf-secret", secret)
            .or_else(|_| names::check_label_value("secret", secret).map(|_| ()))?;
        // Gated models cannot download without a token: fail fast on a missing Secret (pre-staged
        // weights need none).
        let gated = plan.model.as_ref().is_some_and(|m| m.gated) && opts.model_path.is_none();
        envs.push(secret_env("HF_TOKEN", secret, key, !gated));
    }
    // plan::build, which every Plan comes from, has refused secret-looking names already.
    for (k, v) in key_values("--env", &opts.env)? {
        envs.push(env(&k, &v));
    }
    for (k, v) in key_values("--env-secret", &opts.env_secret)? {
        let Some((secret, key)) = v.split_once(':') else {
            bail!("--env-secret {k}=...: expected NAME=SECRET:KEY (the name of a Secret and its key)");
        };
        envs.push(secret_env(&k, secret, key, false));
    }
    // One entry per name: a later one (--env-secret HF_TOKEN=...) replaces the default.
    let mut seen = std::collections::HashSet::new();
    let mut unique: Vec<EnvVar> = envs.into_iter().rev().filter(|e| seen.insert(e.name.clone())).collect();
    unique.reverse();
    Ok(unique)
}

/// vLLM's container: its arguments, resources and probes.
fn vllm_container(
    plan: &Plan,
    point: &PlannedPoint,
    opts: &DeployOptions,
    model_arg: String,
    envs: Vec<EnvVar>,
    mounts: Vec<VolumeMount>,
    startup_s: i64,
) -> Container {
    let mut args = vec![
        model_arg,
        "--served-model-name".into(),
        plan.served_name.clone(),
        "--host".into(),
        "0.0.0.0".into(),
        "--port".into(),
        PORT.to_string(),
    ];
    args.extend(point.engine_args.iter().cloned());

    let gpus = quantity(&point.gpus.to_string());
    let requests = BTreeMap::from([
        ("cpu".to_string(), quantity(&opts.cpu)),
        ("memory".to_string(), quantity(&opts.memory)),
        (opts.gpu_resource.clone(), gpus.clone()),
    ]);
    let limits = BTreeMap::from([("memory".to_string(), quantity(&opts.memory)), (opts.gpu_resource.clone(), gpus)]);
    Container {
        name: "vllm".into(),
        image: Some(opts.image.clone().unwrap_or_else(|| format!("vllm/vllm-openai:v{}", plan.version.tag))),
        args: Some(args),
        env: Some(envs),
        ports: Some(vec![ContainerPort {
            name: Some(PORT_NAME.into()),
            container_port: PORT,
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
        resources: Some(ResourceRequirements { requests: Some(requests), limits: Some(limits), ..Default::default() }),
        // Loading (download, weights, compile, CUDA graphs) can take many minutes: the startup
        // probe holds off liveness until /health answers once.
        startup_probe: Some(http_probe(10, (startup_s as u64).div_ceil(10) as i32, Some(5))),
        readiness_probe: Some(http_probe(5, 3, Some(5))),
        liveness_probe: Some(http_probe(10, 3, Some(5))),
        volume_mounts: Some(mounts),
        ..Default::default()
    }
}

/// The Prometheus Operator monitor of the server, when one was asked for.
fn monitor_doc(
    opts: &DeployOptions,
    name: &str,
    labels: &BTreeMap<String, String>,
    selector: BTreeMap<String, String>,
    meta: impl Fn(&BTreeMap<String, String>) -> ObjectMeta,
) -> Result<Option<Doc>> {
    if opts.monitor == Monitor::None {
        return Ok(None);
    }
    let mut mlabels = labels.clone();
    for (k, v) in key_values("--monitor-label", &opts.monitor_labels)? {
        names::check_label_key(&k)?;
        names::check_label_value(&k, &v)?;
        mlabels.insert(k, v);
    }
    if !names::is_prometheus_duration(&opts.monitor_interval) {
        bail!("--monitor-interval {:?}: expected a Prometheus duration like 15s, 1m or 1m30s", opts.monitor_interval);
    }
    let endpoint =
        monitors::Endpoint { port: PORT_NAME.into(), path: "/metrics".into(), interval: opts.monitor_interval.clone() };
    let sel = LabelSelector { match_labels: Some(selector), ..Default::default() };
    Ok(Some(match opts.monitor {
        Monitor::Podmonitor => to_doc("PodMonitor", name, &monitors::pod_monitor(meta(&mlabels), sel, endpoint), None)?,
        _ => to_doc("ServiceMonitor", name, &monitors::service_monitor(meta(&mlabels), sel, endpoint), None)?,
    }))
}

pub fn server(plan: &Plan, point: &PlannedPoint, opts: &DeployOptions) -> Result<Vec<Doc>> {
    let name = &point.object_name;
    let ns = &opts.namespace;
    names::check_dns1035("--namespace", ns)?;
    let labels = labels(plan, point, opts, "model-server")?;
    let selector = selector(point);
    let PodStorage { volumes, mounts, envs, model_arg } = model_storage(plan, point, opts)?;
    let envs = server_env(plan, opts, envs)?;
    let startup_s = names::parse_duration_s("--startup-timeout", &opts.startup_timeout)?;
    let container = vllm_container(plan, point, opts, model_arg, envs, mounts, startup_s);
    let mut node_selector = key_values("--node-selector", &opts.node_selector)?;
    if opts.pin_gpu_product {
        let Some(label) = &plan.gpu.product_label else {
            bail!(
                "--pin-gpu-product: the GPU type {:?} has no nvidia.com/gpu.product label; use --node-selector",
                plan.gpu.key
            );
        };
        node_selector.insert("nvidia.com/gpu.product".into(), label.clone());
    }
    let mut annotations = BTreeMap::from([
        ("servebench.io/model-id".to_string(), plan.model_id.clone()),
        ("servebench.io/vllm-version".to_string(), plan.version.tag.clone()),
    ]);
    if plan.swept {
        annotations
            .insert("servebench.io/point-params".into(), serde_json::Value::Object(point.swept.clone()).to_string());
    }
    let meta = |labels: &BTreeMap<String, String>| ObjectMeta {
        name: Some(name.clone()),
        namespace: Some(ns.clone()),
        labels: Some(labels.clone()),
        ..Default::default()
    };
    let deployment = Deployment {
        metadata: ObjectMeta { annotations: Some(annotations), ..meta(&labels) },
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            // The default 600 s would mark a slow but healthy model load as a failed rollout.
            progress_deadline_seconds: Some((startup_s + 600) as i32),
            strategy: Some(DeploymentStrategy { type_: Some("Recreate".into()), ..Default::default() }),
            selector: LabelSelector { match_labels: Some(selector.clone()), ..Default::default() },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels.clone()), ..Default::default() }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    volumes: Some(volumes),
                    node_selector: (!node_selector.is_empty()).then_some(node_selector),
                    tolerations: Some(tolerations(opts)?),
                    runtime_class_name: opts.runtime_class.clone(),
                    termination_grace_period_seconds: Some(60),
                    // Service links put `<SERVICE>_PORT=tcp://...` into the env; vLLM reads
                    // `VLLM_*` variables and refuses to start when a Service named `vllm` sets
                    // VLLM_PORT to a URI. The pod needs no service links.
                    enable_service_links: Some(false),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    let service = Service {
        metadata: meta(&labels),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(selector.clone()),
            ports: Some(vec![ServicePort {
                name: Some(PORT_NAME.into()),
                port: PORT,
                target_port: Some(IntOrString::String(PORT_NAME.into())),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let comment = if plan.swept {
        Some(format!("point {}: {}", point.name, serde_json::Value::Object(point.swept.clone())))
    } else {
        None
    };
    let mut docs = vec![to_doc("Deployment", name, &deployment, comment)?, to_doc("Service", name, &service, None)?];
    if let Some(monitor) = monitor_doc(opts, name, &labels, selector, meta)? {
        docs.push(monitor);
    }
    Ok(docs)
}
