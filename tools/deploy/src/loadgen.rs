//! The load-generator Job: an indexed `batch/v1` Job of N pods, pod i running
//! `sb-load --shard i/N` against the point's Service, request records on stdin, result records
//! to stdout (`kubectl logs`) or to one file per shard on a PVC.
//!
//! Kubernetes expands `$(JOB_COMPLETION_INDEX)` in args from the env var the Job controller sets
//! in every pod of an Indexed Job, so the shard needs no shell; the shell is there only for the
//! stdin/stdout redirections, and takes sb-load's arguments as `"$@"` (one argv item each, no
//! quoting). A Job's pod template is immutable, so each run gets its own name.

use crate::manifests::{self, parse_storage, to_doc, Doc, Storage, PORT};
use crate::names;
use crate::options::DeployOptions;
use crate::plan::{Plan, PlannedPoint};
use anyhow::{bail, Result};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, EnvVar, PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec,
    ResourceRequirements, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// `YYYYMMDD-HHMMSS` in UTC (a valid label value and name part).
pub fn default_run_id() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) as i64;
    let (year, month, day, h, m, s) = sb_cli::civil::utc(secs);
    format!("{year:04}{month:02}{day:02}-{h:02}{m:02}{s:02}")
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar { name: name.into(), value: Some(value.into()), ..Default::default() }
}

/// Where sb-load reads requests from, as a volume plus the file path inside the pod.
enum Requests {
    Pvc { claim: String, file: String },
    ConfigMap { name: String, key: String },
}

fn parse_requests(text: &str) -> Result<Requests> {
    if let Some(rest) = text.strip_prefix("configmap:") {
        if let Some((name, key)) = rest.split_once('/').filter(|(n, k)| !n.is_empty() && !k.is_empty()) {
            return Ok(Requests::ConfigMap { name: name.into(), key: key.into() });
        }
    }
    if text.starts_with("pvc:") {
        if let Storage::Pvc { claim, path } = parse_storage("--requests", text)? {
            if !path.is_empty() {
                return Ok(Requests::Pvc { claim, file: path });
            }
        }
    }
    bail!("--requests {text:?}: expected pvc:CLAIM/FILE or configmap:NAME/KEY (request records, one JSON per line)")
}

pub fn job(plan: &Plan, point: &PlannedPoint, opts: &DeployOptions, run_id: &str) -> Result<Doc> {
    if opts.shards == 0 {
        bail!("--shards must be at least 1");
    }
    names::check_label_value("--run-id", run_id)?;
    let name = format!("{}-load-{}", point.object_name, run_id.to_ascii_lowercase());
    names::check_dns1035("load-generator Job name (object name + -load- + run id)", &name)?;
    let Some(requests_text) = &opts.requests else {
        bail!("--loadgen needs --requests pvc:CLAIM/FILE or configmap:NAME/KEY (the request records sb-load reads)");
    };
    let requests = parse_requests(requests_text)?;
    let results = match opts.results.as_str() {
        "stdout" => None,
        text => match parse_storage("--results", text)? {
            Storage::Pvc { claim, path } => Some((claim, path)),
            _ => bail!("--results {text:?}: expected stdout or pvc:CLAIM/DIR"),
        },
    };

    let mut volumes = Vec::new();
    let mut mounts = Vec::new();
    let pvc_volume = |vname: &str, claim: &str, ro: bool| Volume {
        name: vname.into(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: claim.into(),
            read_only: ro.then_some(true),
        }),
        ..Default::default()
    };
    let mount = |vname: &str, path: &str, ro: bool| VolumeMount {
        name: vname.into(),
        mount_path: path.into(),
        read_only: ro.then_some(true),
        ..Default::default()
    };
    // One volume per claim: requests and results may share a workload PVC.
    let shared_claim = match (&requests, &results) {
        (Requests::Pvc { claim, .. }, Some((rc, _))) if claim == rc => Some(claim.clone()),
        _ => None,
    };
    let requests_path = match &requests {
        Requests::Pvc { claim, file } => {
            if shared_claim.is_some() {
                volumes.push(pvc_volume("workload", claim, false));
                mounts.push(mount("workload", "/workload", false));
                format!("/workload/{file}")
            } else {
                volumes.push(pvc_volume("requests", claim, true));
                mounts.push(mount("requests", "/requests", true));
                format!("/requests/{file}")
            }
        }
        Requests::ConfigMap { name: cm, key } => {
            volumes.push(Volume {
                name: "requests".into(),
                config_map: Some(ConfigMapVolumeSource { name: cm.clone(), ..Default::default() }),
                ..Default::default()
            });
            mounts.push(mount("requests", "/requests", true));
            format!("/requests/{key}")
        }
    };
    let url = format!("http://{}.{}.svc:{PORT}", point.object_name, opts.namespace);
    let shards = opts.shards;
    let mut envs = vec![env("SB_REQUESTS", &requests_path)];
    let script = match &results {
        None => "exec sb-load \"$@\" < \"$SB_REQUESTS\"".to_string(),
        Some((claim, dir)) => {
            let base = if shared_claim.is_some() {
                "/workload".to_string()
            } else {
                volumes.push(pvc_volume("results", claim, false));
                mounts.push(mount("results", "/results", false));
                "/results".to_string()
            };
            let dir = if dir.is_empty() { format!("{base}/{name}") } else { format!("{base}/{dir}/{name}") };
            envs.push(env("SB_RESULTS_DIR", &dir));
            "mkdir -p \"$SB_RESULTS_DIR\" && exec sb-load \"$@\" < \"$SB_REQUESTS\" > \"$SB_RESULTS_DIR/shard-$JOB_COMPLETION_INDEX.ndjson\"".to_string()
        }
    };
    let mut args = vec!["--url".to_string(), url.clone(), "--model".into(), plan.served_name.clone()];
    if let Some(rate) = &opts.rate {
        args.extend(["--rate".to_string(), rate.clone()]);
    }
    // Every shard writes the same run id, so sb-report merges the shards as one run.
    args.extend([
        "--shard".to_string(),
        format!("$(JOB_COMPLETION_INDEX)/{shards}"),
        "--run".into(),
        run_id.to_string(),
    ]);
    if plan.swept {
        args.extend(["--tag".to_string(), format!("point={}", point.name)]);
    }
    args.extend(opts.load_args.iter().cloned());

    let mut labels = manifests::labels(plan, point, opts, "load-generator")?;
    labels.insert("app.kubernetes.io/name".into(), "sb-load".into());
    labels.insert("app.kubernetes.io/instance".into(), name.clone());
    labels.insert("servebench.io/server".into(), point.object_name.clone());
    labels.insert("servebench.io/run".into(), run_id.to_string());

    let wait = Container {
        name: "wait-for-server".into(),
        image: Some(opts.wait_image.clone()),
        command: Some(vec![
            "/bin/sh".into(),
            "-c".into(),
            // The Job starts as soon as it is applied, usually long before the model is loaded.
            "until wget -q -O /dev/null \"$SB_URL/health\"; do echo \"waiting for $SB_URL/health\"; sleep 5; done; \
             until wget -q -O - \"$SB_URL/v1/models\" | grep -qF \"\\\"$SB_MODEL\\\"\"; do echo \"waiting for $SB_MODEL in /v1/models\"; sleep 5; done"
                .into(),
        ]),
        env: Some(vec![env("SB_URL", &url), env("SB_MODEL", &plan.served_name)]),
        ..Default::default()
    };
    let loadgen = Container {
        name: "sb-load".into(),
        image: Some(opts.loadgen_image.clone()),
        // A versioned tag built locally (`make -C pipelines image`) and side-loaded onto the
        // nodes or pushed to the cluster's registry: pull it only when the node lacks it.
        image_pull_policy: Some("IfNotPresent".into()),
        command: Some(vec!["/bin/sh".into(), "-c".into(), script, "sb-load".into()]),
        args: Some(args),
        env: Some(envs),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_string(), Quantity("1".into())),
                ("memory".to_string(), Quantity("256Mi".into())),
            ])),
            limits: Some(BTreeMap::from([("memory".to_string(), Quantity("1Gi".into()))])),
            ..Default::default()
        }),
        volume_mounts: Some(mounts),
        ..Default::default()
    };
    let deadline = names::parse_duration_s("--load-deadline", &opts.load_deadline)?;
    let job = Job {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(opts.namespace.clone()),
            labels: Some(labels.clone()),
            ..Default::default()
        },
        spec: Some(JobSpec {
            completion_mode: Some("Indexed".into()),
            completions: Some(shards as i32),
            parallelism: Some(shards as i32),
            backoff_limit: Some(0),
            ttl_seconds_after_finished: Some(86400),
            active_deadline_seconds: Some(deadline),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels), ..Default::default() }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    init_containers: (!opts.no_wait).then(|| vec![wait]),
                    containers: vec![loadgen],
                    volumes: Some(volumes),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    to_doc("Job", &name, &job, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_id_is_a_utc_timestamp() {
        let id = default_run_id();
        assert_eq!(id.len(), 15, "{id}");
        assert!(id.starts_with("20"), "{id}");
        assert_eq!(&id[8..9], "-");
        assert!(parse_requests("pvc:work").is_err());
        assert!(parse_requests("configmap:req/requests.ndjson").is_ok());
        assert!(parse_requests("s3://bucket/x").is_err());
    }
}
