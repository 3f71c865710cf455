//! The load Job's real command lines in containers: the image is built from the repository's
//! Dockerfile (its `prebuilt` target, from the binaries `cargo build --workspace --bins` made) by
//! `pipelines/image.sh`; sb-sim runs in one container under the Service's DNS name on a private
//! Docker network, and each pod of the indexed Job that `sb-deploy render --loadgen` writes runs
//! as one container of that image: the Job's `command` as the entrypoint, its `args` with
//! `$(JOB_COMPLETION_INDEX)` expanded as the Job controller does, its `env`, the requests
//! mounted where the ConfigMap would be. Results are read back from `docker logs` as the cluster
//! path reads `kubectl logs`, and merged by sb-report.
//!
//! Skipped, with a message, where `docker info` fails. Every container, network and image is
//! named with one unique prefix and removed by name when the test ends, failed or not.

use sb_testkit::{bin, root, tempdir};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const MODEL: &str = "Qwen/Qwen3-0.6B";

fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).stdin(Stdio::null()).output().expect("run docker")
}

fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(out.status.success(), "docker {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What the test made in the engine, removed by name on drop (also when an assertion failed).
struct Made {
    prefix: String,
    image: String,
    containers: Vec<String>,
    networks: Vec<String>,
}

impl Made {
    fn new() -> Made {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() % 1_000_000_000;
        let prefix = format!("sbtest-{}-{nanos}", std::process::id());
        Made { image: format!("{prefix}-image:test"), prefix, containers: vec![], networks: vec![] }
    }
    fn name(&self, what: &str) -> String {
        format!("{}-{what}", self.prefix)
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = docker(&["rm", "-f", c]);
        }
        for n in &self.networks {
            let _ = docker(&["network", "rm", n]);
        }
        let _ = docker(&["image", "rm", "-f", &self.image]);
    }
}

fn render(args: &[&str]) -> Value {
    let out = Command::new(bin("sb-deploy")).arg("render").args(args).output().unwrap();
    assert!(out.status.success(), "sb-deploy: {}", String::from_utf8_lossy(&out.stderr));
    let yaml = String::from_utf8(out.stdout).unwrap();
    yaml.split("\n---\n")
        .map(|d| d.trim_start_matches("---\n"))
        .map(|d| serde_saphyr::from_str::<Value>(d).unwrap())
        .find(|d| d["kind"] == "Job")
        .expect("a Job in sb-deploy's output")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect()).unwrap_or_default()
}

/// Kubernetes' `$(VAR)` expansion in command and args.
fn expand(text: &str, env: &[(String, String)]) -> String {
    let mut out = text.to_string();
    for (k, v) in env {
        out = out.replace(&format!("$({k})"), v);
    }
    out
}

/// One load: the Job sb-deploy renders for `shards` pods, started as containers; returns the
/// containers by shard index.
fn start_job(made: &mut Made, tag: &str, shards: u32, rate: &str, requests_dir: &str, net: &str) -> Vec<String> {
    let shards_arg = shards.to_string();
    let mut args = vec!["-m", MODEL, "-n", "bench", "--loadgen", "--shards", &shards_arg, "--rate", rate];
    args.extend(["--requests", "configmap:sb-requests/requests.ndjson", "--run-id", tag]);
    // A busy two-core machine runs these containers: the schedule is checked elsewhere.
    args.extend(["--loadgen-image", &made.image, "--load-arg=--seed=7", "--load-arg=--max-lag=5000"]);
    let job = render(&args);
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    assert_eq!(job["spec"]["completions"], shards);
    let pod = &job["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(c["image"], made.image.as_str());
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    let mount = c["volumeMounts"][0]["mountPath"].as_str().unwrap().to_string();
    let mut names = vec![];
    for index in 0..shards {
        let mut env: Vec<(String, String)> = vec![("JOB_COMPLETION_INDEX".into(), index.to_string())];
        for e in c["env"].as_array().unwrap() {
            env.push((e["name"].as_str().unwrap().into(), e["value"].as_str().unwrap().into()));
        }
        let command: Vec<String> = strings(&c["command"]).iter().map(|a| expand(a, &env)).collect();
        let args: Vec<String> = strings(&c["args"]).iter().map(|a| expand(a, &env)).collect();
        let name = made.name(&format!("{tag}-{index}"));
        made.containers.push(name.clone());
        let volume = format!("{requests_dir}:{mount}:ro");
        let mut run: Vec<String> =
            ["run", "-d", "--name", &name, "--network", net, "-v", &volume, "--entrypoint", &command[0]]
                .iter()
                .map(|s| s.to_string())
                .collect();
        for (k, v) in &env {
            run.extend(["-e".to_string(), format!("{k}={v}")]);
        }
        run.push(made.image.clone());
        run.extend(command[1..].iter().cloned());
        run.extend(args);
        docker_ok(&run.iter().map(String::as_str).collect::<Vec<_>>());
        names.push(name);
    }
    names
}

/// `docker logs` of a container, its lines that are records (as the cluster path keeps the
/// lines of `kubectl logs` that start with `{`), and the rest (sb-load's stderr).
fn logs(container: &str) -> (String, String) {
    let out = docker(&["logs", container]);
    assert!(out.status.success(), "docker logs {container}: {}", String::from_utf8_lossy(&out.stderr));
    let all = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let (mut records, mut rest) = (String::new(), String::new());
    for line in all.lines() {
        let to = if line.starts_with('{') { &mut records } else { &mut rest };
        to.push_str(line);
        to.push('\n');
    }
    (records, rest)
}

/// Exit code of a finished container, waiting for it.
fn wait(container: &str) -> i32 {
    docker_ok(&["wait", container]).trim().parse().expect("docker wait prints the exit code")
}

fn of_kind(text: &str, kind: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not a record ({e}): {l}")))
        .filter(|r| r["kind"] == kind)
        .collect()
}

/// Each result's schedule offset from its shard's start (the run record's `started_ns`), by id.
fn offsets(text: &str) -> BTreeMap<String, i128> {
    let started = of_kind(text, "run")[0]["started_ns"].as_u64().unwrap() as i128;
    of_kind(text, "result")
        .iter()
        .map(|r| (r["id"].as_str().unwrap().to_string(), r["scheduled_ns"].as_u64().unwrap() as i128 - started))
        .collect()
}

fn report(files: &[std::path::PathBuf]) -> Value {
    let out = Command::new(bin("sb-report")).args(files).args(["--format", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "sb-report: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&String::from_utf8(out.stdout).unwrap()).unwrap()
}

#[test]
fn the_jobs_shards_in_containers_merge_into_the_unsharded_run_and_a_killed_shard_is_reported() {
    let info = Command::new("docker").args(["info"]).stdout(Stdio::null()).stderr(Stdio::piped()).output();
    match info {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            let why = String::from_utf8_lossy(&out.stderr);
            eprintln!("SKIPPED: `docker info` failed ({}): this test needs a Docker daemon", why.trim());
            return;
        }
        Err(e) => {
            eprintln!("SKIPPED: docker cannot be run ({e}): this test needs Docker");
            return;
        }
    }
    let mut made = Made::new();
    let dir = tempdir("containers");

    // The image, through the same script and Dockerfile users build it with.
    let bin_dir = bin("sb-load").parent().unwrap().to_path_buf();
    for tool in ["sb-sim", "sb-report", "sb-deploy"] {
        bin(tool);
    }
    let out = Command::new("bash")
        .arg(root().join("pipelines/image.sh"))
        .env("IMAGE", &made.image)
        .env("SB_BIN", &bin_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "pipelines/image.sh: {}", String::from_utf8_lossy(&out.stderr));
    let version = docker_ok(&["run", "--rm", &made.image, "sb-load", "--version"]);
    assert!(version.contains(env!("CARGO_PKG_VERSION")), "{version}");
    let user = docker_ok(&[
        "run",
        "--rm",
        &made.image,
        "/bin/sh",
        "-c",
        "id -u; test -s /etc/ssl/certs/ca-certificates.crt && echo ca",
    ]);
    assert_eq!(user.split_whitespace().collect::<Vec<_>>(), ["10001", "ca"], "non-root, with CA certificates");
    let labels = docker_ok(&["image", "inspect", "-f", "{{json .Config.Labels}}", &made.image]);
    let labels: Value = serde_json::from_str(&labels).unwrap();
    assert_eq!(labels["org.opencontainers.image.version"], env!("CARGO_PKG_VERSION"));
    assert!(labels["org.opencontainers.image.revision"].as_str().is_some_and(|r| !r.is_empty()), "{labels}");

    // The requests, where the ConfigMap volume would be (readable by the image's user).
    let requests_dir = dir.join("requests");
    std::fs::create_dir_all(&requests_dir).unwrap();
    let n = 150;
    let requests: String = (0..n)
        .map(|i| {
            let words: Vec<String> = (0..(8 + i % 17)).map(|w| format!("r{i}w{w}")).collect();
            json!({"kind": "request", "v": 1, "id": format!("q{i:03}"), "prompt": words.join(" "), "max_tokens": 4 + i % 5})
                .to_string()
                + "\n"
        })
        .collect();
    std::fs::write(requests_dir.join("requests.ndjson"), requests).unwrap();
    let requests_dir = requests_dir.to_str().unwrap().to_string();

    // The server: sb-sim in its own container, answering to the Service's cluster DNS name.
    let net = made.name("net");
    docker_ok(&["network", "create", &net]);
    made.networks.push(net.clone());
    let probe = render(&[
        "-m",
        MODEL,
        "-n",
        "bench",
        "--loadgen",
        "--requests",
        "configmap:sb-requests/requests.ndjson",
        "--run-id",
        "probe",
    ]);
    let args = strings(&probe["spec"]["template"]["spec"]["containers"][0]["args"]);
    let url = &args[args.iter().position(|a| a == "--url").unwrap() + 1];
    let host = url.trim_start_matches("http://").split(':').next().unwrap().to_string();
    assert!(host.ends_with(".bench.svc"), "{url}");
    let sim = made.name("sim");
    made.containers.push(sim.clone());
    docker_ok(&[
        "run",
        "-d",
        "--name",
        &sim,
        "--network",
        &net,
        "--network-alias",
        &host,
        &made.image,
        "sb-sim",
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
        "--model",
        MODEL,
        "--decode-ms",
        "2",
    ]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !logs(&sim).1.contains("listening on") {
        let state = docker_ok(&["inspect", "-f", "{{.State.Status}}", &sim]);
        assert_eq!(state.trim(), "running", "sb-sim stopped: {:?}", logs(&sim));
        assert!(Instant::now() < deadline, "sb-sim did not listen within 60 s: {:?}", logs(&sim));
        std::thread::sleep(Duration::from_millis(100));
    }

    // 3 shards, each its own container and address, then the same load unsharded.
    let shards = start_job(&mut made, "sharded", 3, "poisson:50", &requests_dir, &net);
    let mut shard_files = vec![];
    let mut sharded_offsets = BTreeMap::new();
    let mut addresses = BTreeSet::new();
    for (i, c) in shards.iter().enumerate() {
        addresses.insert(docker_ok(&["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", c]));
        assert_eq!(wait(c), 0, "shard {i}: {:?}", logs(c).1);
        let (records, _) = logs(c);
        let results = of_kind(&records, "result");
        assert!(!results.is_empty(), "shard {i} sent nothing");
        assert!(results.iter().all(|r| r["shard"] == format!("{i}/3") && r["status"] == "ok"), "{records}");
        assert_eq!(of_kind(&records, "run").len(), 1);
        for (id, at) in offsets(&records) {
            assert!(sharded_offsets.insert(id.clone(), at).is_none(), "{id} sent by two shards");
        }
        let file = dir.join(format!("shard-{i}.ndjson"));
        std::fs::write(&file, records).unwrap();
        shard_files.push(file);
    }
    assert_eq!(addresses.len(), 3, "each load container has its own address: {addresses:?}");
    let whole = start_job(&mut made, "whole", 1, "poisson:50", &requests_dir, &net);
    assert_eq!(wait(&whole[0]), 0, "{:?}", logs(&whole[0]).1);
    let (whole_records, _) = logs(&whole[0]);
    let whole_file = dir.join("whole.ndjson");
    std::fs::write(&whole_file, &whole_records).unwrap();
    let whole_offsets = offsets(&whole_records);
    // The same requests, each at the same offset of the stream's schedule.
    assert_eq!(whole_offsets.len(), n as usize);
    assert_eq!(sharded_offsets.keys().collect::<Vec<_>>(), whole_offsets.keys().collect::<Vec<_>>());
    for (id, at) in &whole_offsets {
        assert!(
            (sharded_offsets[id] - at).abs() < 1_000,
            "{id}: scheduled at {} ns sharded, {at} ns whole",
            sharded_offsets[id]
        );
    }
    let merged = report(&shard_files);
    let unsharded = report(&[whole_file]);
    assert_eq!(merged["completed"], n);
    assert_eq!(merged["completed"], unsharded["completed"]);
    assert_eq!(merged["runs"][0]["shards"], json!(["0/3", "1/3", "2/3"]));
    let warnings = merged["warnings"].to_string();
    assert!(!warnings.contains("shards present") && !warnings.contains("stopped before"), "{warnings}");

    // A pod killed mid-run (evicted, OOM-killed): what it finished is kept, the merge says so.
    let shards = start_job(&mut made, "killed", 3, "poisson:20", &requests_dir, &net);
    let deadline = Instant::now() + Duration::from_secs(60);
    while of_kind(&logs(&shards[1]).0, "result").len() < 3 {
        assert!(Instant::now() < deadline, "shard 1 wrote no 3 results within 60 s: {:?}", logs(&shards[1]));
        std::thread::sleep(Duration::from_millis(100));
    }
    docker_ok(&["kill", &shards[1]]);
    let mut files = vec![];
    let mut kept = 0;
    for (i, c) in shards.iter().enumerate() {
        let code = wait(c);
        let (records, _) = logs(c);
        // Every line it wrote is a whole record: results are flushed one by one.
        let results = of_kind(&records, "result");
        if i == 1 {
            assert_eq!(code, 137, "killed");
            assert!(of_kind(&records, "run").is_empty());
            assert!(results.len() >= 3 && results.len() < n as usize / 3, "{} results", results.len());
        } else {
            assert_eq!(code, 0, "shard {i}: {:?}", logs(c).1);
        }
        kept += results.len();
        let file = dir.join(format!("killed-{i}.ndjson"));
        std::fs::write(&file, records).unwrap();
        files.push(file);
    }
    let merged = report(&files);
    assert_eq!(merged["completed"], kept);
    let warnings = merged["warnings"].to_string();
    assert!(warnings.contains("shard 1/3 stopped before its end"), "{warnings}");
    assert!(!warnings.contains("shard 0/3 stopped") && !warnings.contains("shard 2/3 stopped"), "{warnings}");

    // The pipeline: `make -C pipelines scale-out DOCKER=1`, with this image.
    let run_dir = dir.join("scale-out");
    let out = Command::new("bash")
        .arg(root().join("pipelines/scale-out.sh"))
        .current_dir(root())
        .envs([("DOCKER", "1"), ("LOADGEN_IMAGE", made.image.as_str()), ("N", "40"), ("SHARDS", "2")])
        .envs([("RATE", "poisson:40"), ("OUTPUT_LEN", "8"), ("MAX_LAG", "5000")])
        .env("SB_BIN", &bin_dir)
        .env("RUN_DIR", &run_dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "scale-out DOCKER=1:\n{stderr}");
    let mut ids = BTreeSet::new();
    for i in 0..2 {
        let text = std::fs::read_to_string(run_dir.join(format!("shards/shard-{i}.ndjson"))).unwrap();
        for r in of_kind(&text, "result") {
            assert_eq!(r["shard"], format!("{i}/2"));
            assert!(ids.insert(r["id"].as_str().unwrap().to_string()));
        }
    }
    assert_eq!(ids.len(), 40, "the two containers sent every request once");
    let report = std::fs::read_to_string(run_dir.join("report.txt")).unwrap();
    assert!(report.contains("Successful requests:                     40"), "{report}");
    // Its containers and network are gone.
    let commands = std::fs::read_to_string(run_dir.join("commands.sh")).unwrap();
    let net = commands.lines().find_map(|l| l.strip_prefix("docker network create ")).unwrap();
    let net = net.split_whitespace().next().unwrap();
    assert!(!docker(&["network", "inspect", net]).status.success(), "network {net} left behind");
    for i in 0..2 {
        let c = format!("{net}-load-{i}");
        assert!(!docker(&["inspect", &c]).status.success(), "container {c} left behind");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_image_version_and_sb_deploys_default_image_follow_the_crate_version() {
    let version = env!("CARGO_PKG_VERSION");
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    assert!(
        dockerfile.lines().any(|l| l.trim() == format!("ARG VERSION={version}")),
        "the Dockerfile's ARG VERSION default is the crate version {version}"
    );
    let job = render(&["-m", MODEL, "--loadgen", "--requests", "configmap:r/requests.ndjson", "--run-id", "v"]);
    let c = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], format!("servebench:{version}"));
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
}
