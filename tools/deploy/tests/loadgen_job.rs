//! Runs the rendered load-generator Job's pods the way the kubelet would, on this machine:
//! `$(JOB_COMPLETION_INDEX)` expanded in args, the env of the Job, the PVC mount mapped to a
//! temp dir, the cluster URL mapped to a local `sb-sim`, and the real `sb-load` on PATH. The
//! shards together must send every request exactly once and leave one result file each.

use sb_testkit::{bin, tempdir, Sim};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::process::Command;

fn render(args: &[&str]) -> String {
    let out = Command::new(bin("sb-deploy")).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn job_of(yaml: &str) -> Value {
    yaml.split("\n---\n")
        .map(|d| d.trim_start_matches("---\n"))
        .map(|d| serde_saphyr::from_str::<Value>(d).unwrap())
        .find(|d| d["kind"] == "Job")
        .expect("a Job in the stream")
}

/// Kubernetes' `$(VAR)` expansion in command and args.
fn expand(text: &str, env: &[(String, String)]) -> String {
    let mut out = text.to_string();
    for (k, v) in env {
        out = out.replace(&format!("$({k})"), v);
    }
    out
}

#[test]
fn indexed_job_shards_send_every_request_once() {
    let shards = 3;
    let shards_arg = shards.to_string();
    let mut args = vec!["render", "-m", "Qwen/Qwen3-0.6B", "-n", "bench", "--loadgen", "--shards", &shards_arg];
    args.extend(["--rate", "200", "--requests", "pvc:workload/requests.ndjson", "--results", "pvc:workload/results"]);
    args.extend(["--run-id", "t1", "--sweep", "max-num-seqs=64"]);
    let yaml = render(&args);
    let job = job_of(&yaml);
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    assert_eq!(job["spec"]["parallelism"], shards);
    assert_eq!(job["spec"]["completions"], shards);
    let pod = &job["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let mount = c["volumeMounts"][0]["mountPath"].as_str().unwrap();
    assert_eq!(pod["volumes"][0]["persistentVolumeClaim"]["claimName"], "workload");

    let sim = Sim::start(&["--model", "Qwen/Qwen3-0.6B", "--decode-ms", "1", "--prefill-us-per-token", "0"]);
    let dir = tempdir("deploy-job");
    let ids: BTreeSet<String> = (0..20).map(|i| format!("r{i:02}")).collect();
    let requests: String = ids
        .iter()
        .map(|id| {
            json!({"kind": "request", "v": 1, "id": id, "prompt": "one two three", "max_tokens": 4}).to_string() + "\n"
        })
        .collect();
    std::fs::write(dir.join("requests.ndjson"), requests).unwrap();
    let bin_dir = bin("sb-load").parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());

    let mut seen = Vec::new();
    for index in 0..shards {
        let mut env: Vec<(String, String)> = vec![("JOB_COMPLETION_INDEX".into(), index.to_string())];
        for e in c["env"].as_array().unwrap() {
            // The PVC is mounted at `mount` in the pod; here it is the temp dir.
            let v = e["value"].as_str().unwrap().replacen(mount, dir.to_str().unwrap(), 1);
            env.push((e["name"].as_str().unwrap().into(), v));
        }
        let command: Vec<String> =
            c["command"].as_array().unwrap().iter().map(|a| expand(a.as_str().unwrap(), &env)).collect();
        let mut args: Vec<String> =
            c["args"].as_array().unwrap().iter().map(|a| expand(a.as_str().unwrap(), &env)).collect();
        // The Service's cluster DNS name is the local sim here.
        let url_at = args.iter().position(|a| a == "--url").unwrap() + 1;
        assert_eq!(args[url_at], "http://vllm-qwen3-0-6b-p01.bench.svc:8000");
        args[url_at] = sim.url.clone();
        let out = Command::new(&command[0])
            .args(&command[1..])
            .args(&args)
            .envs(env.clone())
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(out.status.success(), "shard {index}: {}", String::from_utf8_lossy(&out.stderr));
        let file = dir.join("results/vllm-qwen3-0-6b-p01-load-t1").join(format!("shard-{index}.ndjson"));
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for line in text.lines() {
            let r: Value = serde_json::from_str(line).unwrap();
            if r["kind"] == "result" {
                assert_eq!(r["status"], "ok", "{line}");
                assert_eq!(r["shard"], format!("{index}/{shards}"));
                assert_eq!(r["run"], "t1");
                assert_eq!(r["tags"]["point"], "p01");
                seen.push(r["id"].as_str().unwrap().to_string());
            }
        }
    }
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), ids.len(), "each request sent exactly once across the shards");
    assert_eq!(unique, ids);
    std::fs::remove_dir_all(&dir).ok();
}
