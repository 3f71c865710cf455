//! Golden files for the seed's configurations, and every rendered manifest validated against
//! the official Kubernetes schemas with `kubernetes-validate --strict` (PyPI
//! `kubernetes-validate`, installed by CI). Regenerate the goldens with
//! `SB_UPDATE_GOLDEN=1 cargo test -p sb-deploy --test golden` and review the diff.

use sb_testkit::{bin, testdata};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

const IO_STUDY_MODELS: &[&str] = &[
    "facebook/opt-125m",
    "facebook/opt-350m",
    "Qwen/Qwen3-0.6B",
    "ibm-granite/granite-4.0-h-1b",
    "ibm-granite/granite-4.0-micro",
    "google/gemma-2b",
    "ibm-granite/granite-4.0-h-tiny",
    "meta-llama/Llama-3.1-8B-Instruct",
    "ibm-granite/granite-3.3-8b-instruct",
    "Qwen/Qwen3-8B",
];

/// (golden file, arguments). Paths in arguments are relative to the repository root.
fn cases() -> Vec<(String, Vec<String>)> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    // Seed 001, the 405B stress chart, rewritten for vLLM 0.33: --num-scheduler-steps is gone
    // and chunked prefill is switched off with a switch, not "=False".
    let stress = [
        "render",
        "--namespace",
        "inference-benchmark",
        "--set",
        "tensor-parallel-size=8",
        "--set",
        "max-num-batched-tokens=16384",
        "--set",
        "max-model-len=16384",
        "--set",
        "enable-chunked-prefill=false",
        "--set",
        "seed=42",
        "--startup-timeout",
        "90m",
        "--monitor",
        "servicemonitor",
        "--monitor-label",
        "release=prometheus",
        "--loadgen",
        "--shards",
        "8",
        "--requests",
        "pvc:workload/sonnet-prefill.ndjson",
        "--results",
        "pvc:workload/results",
        "--run-id",
        "stress1",
    ];
    let mut out = vec![
        (
            "405b-fp8-h100.yaml".to_string(),
            [
                s(&stress),
                s(&[
                    "-m",
                    "meta-llama/Llama-3.1-405B-Instruct-FP8",
                    "--gpu",
                    "h100-80gb",
                    "--set",
                    "allow-deprecated-quantization=true",
                    "--model-path",
                    "pvc:model-storage/meta-llama/Llama-3.1-405B-Instruct-FP8",
                    "--pin-gpu-product",
                    "--rate",
                    "poisson:12",
                ]),
            ]
            .concat(),
        ),
        (
            "405b-bf16-h200.yaml".to_string(),
            [
                s(&stress),
                s(&[
                    "-m",
                    "meta-llama/Llama-3.1-405B-Instruct",
                    "--gpu",
                    "h200",
                    "--rate",
                    "poisson:10",
                    "--model-path",
                    "pvc:model-storage/meta-llama/Llama-3.1-405B-Instruct",
                ]),
            ]
            .concat(),
        ),
    ];
    let sweep = [
        "-m",
        "meta-llama/Llama-3.1-8B-Instruct",
        "--gpu",
        "rtx-3080-10gb",
        "--namespace",
        "tuning",
        "--design",
        "testdata/deploy/rtx3080-design.yaml",
        "--model-cache",
        "pvc:hf-cache",
        "--create-pvc",
        "100Gi",
    ];
    out.push(("rtx3080-sweep.yaml".into(), [s(&["render"]), s(&sweep)].concat()));
    out.push(("rtx3080-plan.ndjson".into(), [s(&["plan"]), s(&sweep)].concat()));
    out.push(("rtx3080-explain.txt".into(), [s(&["explain"]), s(&sweep)].concat()));
    for m in IO_STUDY_MODELS {
        let short = m.rsplit('/').next().unwrap().to_ascii_lowercase();
        let mut args = s(&[
            "render",
            "-m",
            m,
            "--gpu",
            "24gb",
            "--namespace",
            "llm-servings",
            "--set",
            "gpu-memory-utilization=0.9",
            "--monitor",
            "podmonitor",
            "--model-cache",
            "pvc:hf-cache",
        ]);
        // The three 8B models need a shorter context on 24 GB (the fit check says which length).
        if m.ends_with("8B-Instruct") || m.ends_with("8b-instruct") || m.ends_with("Qwen3-8B") {
            args.extend(s(&["--set", "max-model-len=16384"]));
        }
        out.push((format!("io-study/{short}.yaml"), args));
    }
    out
}

fn run(args: &[String]) -> (i32, String, String) {
    let out =
        Command::new(bin("sb-deploy")).args(args).current_dir(sb_testkit::root()).output().expect("run sb-deploy");
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn seed_configurations_match_their_golden_files() {
    let update = std::env::var_os("SB_UPDATE_GOLDEN").is_some();
    let mut mismatched = Vec::new();
    for (file, args) in cases() {
        let (code, stdout, stderr) = run(&args);
        let explain = file.ends_with("explain.txt");
        // explain exits 1 when a point does not fit (most RTX 3080 points do not).
        assert!(code == 0 || (explain && code == 1), "{file}: exit {code}\n{stderr}");
        // Same input, same bytes.
        assert_eq!(run(&args).1, stdout, "{file}: output differs between two runs");
        let path = testdata("deploy/golden").join(&file);
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &stdout).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_else(|_| {
            panic!("{} missing: run SB_UPDATE_GOLDEN=1 cargo test -p sb-deploy --test golden", path.display())
        });
        if want != stdout {
            mismatched.push(file);
        }
    }
    assert!(
        mismatched.is_empty(),
        "output differs from the golden files {mismatched:?}; if the change is intended, run \
         SB_UPDATE_GOLDEN=1 cargo test -p sb-deploy --test golden and review the diff"
    );
}

/// Runs `kubernetes-validate --strict -k 1.33 -` (PyPI `kubernetes-validate`) on a YAML stream.
/// Missing validator = failure, not a skip: CI must install it.
fn kubernetes_validate(name: &str, yaml: &str) -> String {
    // SB_KUBERNETES_VALIDATE may name the executable (e.g. inside a virtualenv); else PATH.
    let exe = std::env::var("SB_KUBERNETES_VALIDATE").unwrap_or_else(|_| "kubernetes-validate".into());
    let child = Command::new(&exe)
        .args(["--strict", "-k", "1.33", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => panic!(
            "{exe} could not be run ({e}): install it with `pip install kubernetes-validate==1.37.0` (PyPI), \
             or point SB_KUBERNETES_VALIDATE at it; the manifest tests need it"
        ),
    };
    child.stdin.take().unwrap().write_all(yaml.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{name}: kubernetes-validate --strict failed:\n{text}");
    text
}

/// YAML stream -> documents as JSON values.
fn documents(yaml: &str) -> Vec<Value> {
    yaml.split("\n---\n")
        .map(|d| d.trim_start_matches("---\n"))
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_saphyr::from_str::<Value>(d).unwrap_or_else(|e| panic!("bad YAML document: {e}\n{d}")))
        .collect()
}

#[test]
fn every_rendered_manifest_passes_kubernetes_validate_strict() {
    let mut all = String::new();
    for (file, args) in cases().into_iter().filter(|(f, _)| f.ends_with(".yaml")) {
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, 0, "{file}: {stderr}");
        let report = kubernetes_validate(&file, &stdout);
        // Every built-in object was checked against a schema (CRDs are only warned about).
        for doc in documents(&stdout) {
            let kind = doc["kind"].as_str().unwrap();
            let name = doc["metadata"]["name"].as_str().unwrap();
            if !matches!(kind, "PodMonitor" | "ServiceMonitor") {
                let line = format!("passed for resource {}/{name}", kind.to_ascii_lowercase());
                assert!(report.contains(&line), "{file}: no '{line}' in:\n{report}");
            }
        }
        all.push_str(&stdout);
    }
    assert!(
        all.contains("kind: Job") && all.contains("kind: PersistentVolumeClaim") && all.contains("kind: PodMonitor")
    );
}

/// PodMonitor/ServiceMonitor are CRDs that kubernetes-validate cannot check: check their
/// structure against the prometheus-operator CRD fields we use, and that they point at what
/// exists (a named port, labels that select the server's pods or Service).
#[test]
fn monitors_are_well_formed_and_select_the_server() {
    let mut seen = BTreeMap::new();
    for (file, args) in cases().into_iter().filter(|(f, _)| f.ends_with(".yaml")) {
        let docs = documents(&run(&args).1);
        for m in docs.iter().filter(|d| matches!(d["kind"].as_str(), Some("PodMonitor" | "ServiceMonitor"))) {
            let kind = m["kind"].as_str().unwrap();
            *seen.entry(kind.to_string()).or_insert(0) += 1;
            assert_eq!(m["apiVersion"], "monitoring.coreos.com/v1", "{file}");
            let keys: Vec<&String> = m["spec"].as_object().unwrap().keys().collect();
            let endpoints_key = if kind == "PodMonitor" { "podMetricsEndpoints" } else { "endpoints" };
            assert_eq!(keys, ["selector", endpoints_key], "{file}: {kind} spec fields");
            let ep = &m["spec"][endpoints_key][0];
            let ep_keys: Vec<&String> = ep.as_object().unwrap().keys().collect();
            assert_eq!(ep_keys, ["port", "path", "interval"], "{file}");
            assert_eq!(ep["path"], "/metrics");
            // Required fields and the interval pattern of the operator's CRD schema (as compiled
            // in npm @kubernetes-models/prometheus-operator 6.0.0): apiVersion, kind, spec,
            // spec.selector (+ spec.endpoints for a ServiceMonitor); interval a Duration.
            for k in ["apiVersion", "kind", "metadata", "spec"] {
                assert!(m.get(k).is_some(), "{file}: {kind} without {k}");
            }
            let interval = ep["interval"].as_str().unwrap();
            assert!(
                interval.strip_suffix('s').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
                "{file}: interval {interval:?} (the renders here use whole seconds)"
            );
            let selector = m["spec"]["selector"]["matchLabels"].as_object().unwrap();
            let name = m["metadata"]["name"].as_str().unwrap();
            let (target_kind, labels_at, ports_at) = if kind == "PodMonitor" {
                ("Deployment", "/spec/template/metadata/labels", "/spec/template/spec/containers/0/ports")
            } else {
                ("Service", "/metadata/labels", "/spec/ports")
            };
            let target = docs
                .iter()
                .find(|d| d["kind"] == target_kind && d["metadata"]["name"] == name)
                .unwrap_or_else(|| panic!("{file}: no {target_kind} {name} for {kind}"));
            let labels = target.pointer(labels_at).unwrap().as_object().unwrap();
            for (k, v) in selector {
                assert_eq!(labels.get(k), Some(v), "{file}: {kind} selector {k} does not match the {target_kind}");
            }
            let ports = target.pointer(ports_at).unwrap().as_array().unwrap();
            assert!(
                ports.iter().any(|p| p["name"] == ep["port"]),
                "{file}: {kind} port {} is not a named port",
                ep["port"]
            );
        }
    }
    assert!(
        seen.get("PodMonitor").is_some_and(|n| *n >= 10) && seen.get("ServiceMonitor").is_some_and(|n| *n >= 2),
        "{seen:?}"
    );
}

#[test]
fn deployments_are_internally_consistent() {
    for (file, args) in cases().into_iter().filter(|(f, _)| f.ends_with(".yaml")) {
        for d in documents(&run(&args).1).iter().filter(|d| d["kind"] == "Deployment") {
            let sel = d.pointer("/spec/selector/matchLabels").unwrap().as_object().unwrap();
            let labels = d.pointer("/spec/template/metadata/labels").unwrap().as_object().unwrap();
            for (k, v) in sel {
                assert_eq!(labels.get(k), Some(v), "{file}: selector does not match the pod template");
            }
            assert_eq!(d.pointer("/spec/strategy/type").unwrap(), "Recreate");
            assert_eq!(
                d.pointer("/spec/template/spec/enableServiceLinks").unwrap(),
                false,
                "{file}: VLLM_* service env"
            );
            let startup = d.pointer("/spec/template/spec/containers/0/startupProbe").unwrap();
            let budget_s = startup["periodSeconds"].as_i64().unwrap() * startup["failureThreshold"].as_i64().unwrap();
            let deadline_s = d.pointer("/spec/progressDeadlineSeconds").unwrap().as_i64().unwrap();
            assert!(
                deadline_s > budget_s,
                "{file}: a slow load would fail the rollout before the startup probe gives up"
            );
            let c = d.pointer("/spec/template/spec/containers/0").unwrap();
            let res = &c["resources"];
            assert_eq!(
                res["requests"]["nvidia.com/gpu"], res["limits"]["nvidia.com/gpu"],
                "{file}: GPU requests != limits"
            );
            let args: Vec<&str> = c["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
            assert_ne!(args[0], "serve", "{file}: the image's entrypoint is already `vllm serve`");
            assert!(args.windows(2).any(|w| w == ["--port", "8000"]), "{file}");
            let tp = args.windows(2).find(|w| w[0] == "--tensor-parallel-size").map(|w| w[1]).unwrap_or("1");
            assert_eq!(res["limits"]["nvidia.com/gpu"].as_str().unwrap(), tp, "{file}: GPUs = tensor parallel size");
            assert!(
                !args.iter().any(|a| a.contains('=')),
                "{file}: flags are rendered as separate argv items: {args:?}"
            );
        }
    }
}
