//! pipelines/: every target run the way users run it, with the debug binaries (SB_BIN) and short
//! durations. Local variants run against sb-sim; cluster variants run against the fake kubectl
//! in testdata/pipelines (on PATH), which records its calls and the manifests applied, so the
//! tests check what a cluster would have been asked to do.
//!
//! Needs bash and jq (CI installs jq in .ci/setup) and every tool built
//! (`cargo build --workspace --bins`).

use sb_testkit::{bin, root, tempdir, testdata};
use serde_json::Value;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn require_jq() {
    let ok = Command::new("jq").arg("--version").stdout(Stdio::null()).status().map(|s| s.success());
    assert!(matches!(ok, Ok(true)), "jq is needed by pipelines/ and its tests: apt-get install jq (.ci/setup does)");
}

/// The directory of the built binaries, after checking that all the pipelines use are there.
fn sb_bin() -> PathBuf {
    for tool in ["sb-sim", "sb-load", "sb-sample", "sb-scrape", "sb-report", "sb-deploy"] {
        bin(tool);
    }
    bin("sb-sim").parent().unwrap().to_path_buf()
}

struct Run {
    out: Output,
    dir: PathBuf,
}

impl Run {
    fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
    fn file(&self, rel: &str) -> String {
        fs::read_to_string(self.dir.join(rel)).unwrap_or_else(|e| panic!("{rel} in the run directory: {e}"))
    }
    fn assert_ok(&self) {
        assert_eq!(self.code(), 0, "stdout:\n{}\nstderr:\n{}", self.stdout(), self.stderr());
    }
}

fn pipeline_command(script: &str, run_dir: &Path, env: &[(&str, &str)]) -> Command {
    require_jq();
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("pipelines").join(format!("{script}.sh")))
        .current_dir(root())
        .env("SB_BIN", sb_bin())
        .env("RUN_DIR", run_dir)
        // The tests check the pipelines, not the timing of a busy two-core machine.
        .env("MAX_LAG", "1000")
        .env_remove("KUBECONTEXT")
        .env_remove("PROMETHEUS")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn pipeline(script: &str, env: &[(&str, &str)]) -> Run {
    let dir = tempdir(&format!("pipe-{script}")).join("run");
    let out = pipeline_command(script, &dir, env).output().expect("run bash");
    Run { out, dir }
}

/// A cluster variant: the fake kubectl first on PATH, its record directory returned too.
fn cluster_pipeline(script: &str, env: &[(&str, &str)]) -> (Run, PathBuf) {
    let fake = tempdir(&format!("kubectl-{script}"));
    let path = format!("{}:{}", testdata("pipelines").display(), std::env::var("PATH").unwrap_or_default());
    let tokenizer = testdata("pipelines/tokenizers/qwen3-0.6b");
    let mut all: Vec<(&str, &str)> = vec![
        ("KUBECONTEXT", "test-cluster"),
        ("NAMESPACE", "bench"),
        ("PATH", &path),
        ("FAKE_KUBECTL_DIR", fake.to_str().unwrap()),
        ("POLL_SECONDS", "0.1"),
        // A pipeline waiting on a Job that never ends fails the test in a minute, not in hours.
        ("JOB_TIMEOUT", "60s"),
        ("TOKENIZER", tokenizer.to_str().unwrap()),
    ];
    all.extend_from_slice(env);
    let dir = tempdir(&format!("pipe-{script}")).join("run");
    let mut cmd = pipeline_command(script, &dir, &[]);
    for (k, v) in &all {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run bash");
    (Run { out, dir }, fake)
}

/// Checks manifests against the official Kubernetes schemas (PyPI `kubernetes-validate`).
fn validate(files: &[PathBuf]) {
    let out = Command::new("kubernetes-validate")
        .args(["--strict", "-k", "1.33", "--quiet"])
        .args(files)
        .output()
        .expect("kubernetes-validate is needed: pip install kubernetes-validate (.ci/setup does)");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

fn calls(fake: &Path) -> Vec<String> {
    fs::read_to_string(fake.join("calls.log")).unwrap_or_default().lines().map(str::to_string).collect()
}

/// The manifests the fake cluster was given, in order.
fn applied(fake: &Path) -> Vec<String> {
    let mut files: Vec<PathBuf> = fs::read_dir(fake)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("applied-"))
        .collect();
    files.sort_by_key(|p| {
        let name = p.file_stem().unwrap().to_str().unwrap().to_string();
        name.trim_start_matches("applied-").parse::<u32>().unwrap()
    });
    files.iter().map(|p| fs::read_to_string(p).unwrap()).collect()
}

fn records(text: &str) -> Vec<Value> {
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

fn of_kind<'a>(recs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    recs.iter().filter(|r| r["kind"] == kind).collect()
}

fn summary(run: &Run, files: &[&str]) -> Value {
    let out = Command::new(bin("sb-report"))
        .args(files.iter().map(|f| run.dir.join(f)))
        .args(["--format", "json", "--max-lag-ms", "1000"])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).expect("sb-report --format json")
}

/// The increase of a server counter over the run window, from sb-report's summary.
fn counter_delta(s: &Value, metric: &str) -> f64 {
    let m = s["server_metrics"].as_array().into_iter().flatten().find(|m| m["metric"] == metric);
    m.unwrap_or_else(|| panic!("no {metric} in the summary's server metrics: {s}"))["delta"].as_f64().unwrap()
}

/// The local port of `--url http://127.0.0.1:PORT` in the run's commands.sh.
fn sim_port(commands: &str) -> u16 {
    let at = commands.find("--url http://127.0.0.1:").expect("an sb-load --url in commands.sh") + 23;
    commands[at..].split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}

fn port_closed(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(300)).is_err()
}

#[test]
fn demo_reports_client_and_server_metrics_and_keeps_its_inputs() {
    let run = pipeline("demo", &[("N", "60"), ("RATE", "poisson:30")]);
    run.assert_ok();
    let stdout = run.stdout();
    assert!(stdout.contains("Serving Benchmark Result"), "{stdout}");
    assert!(stdout.contains("Server metrics (run window)"), "{stdout}");
    assert!(stdout.contains("vllm:generation_tokens_total"), "{stdout}");

    let requests = records(&run.file("requests.ndjson"));
    assert_eq!(requests.len(), 60);
    assert!(requests.iter().all(|r| r["kind"] == "request" && r["dataset"] == "random"));
    let results = records(&run.file("results.ndjson"));
    assert_eq!(of_kind(&results, "result").len(), 60);
    assert_eq!(of_kind(&results, "run").len(), 1);
    let samples = records(&run.file("metrics.ndjson"));
    assert!(!samples.is_empty() && samples.iter().all(|s| s["kind"] == "sample" && s["source"] == "endpoint"));

    // The sim's own token counter over the run window equals what the client received: the
    // poller started before the first request and stopped after the last.
    let s = summary(&run, &["results.ndjson", "metrics.ndjson"]);
    let generated = counter_delta(&s, "vllm:generation_tokens_total");
    assert_eq!(generated, s["total_output_tokens"].as_f64().unwrap(), "{s}");
    assert_eq!(s["total_output_tokens"], 60 * 64);

    // The inputs that made the results: variables, versions, exact commands.
    assert!(run.file("run.env").contains("N=60"));
    assert!(run.file("run.env").contains("RATE=poisson:30"));
    assert!(run.file("versions.txt").contains("sb-load "));
    let commands = run.file("commands.sh");
    for tool in ["sb-sample random -n 60", "sb-sim ", "sb-scrape --endpoint", "sb-load --url", "sb-report "] {
        assert!(commands.contains(tool), "{tool} missing from commands.sh:\n{commands}");
    }
    assert!(report_exists(&run.dir));
    // Cleaned up: the sim is gone.
    assert!(port_closed(sim_port(&commands)), "sb-sim still listening after the demo");
}

fn report_exists(dir: &Path) -> bool {
    fs::read_to_string(dir.join("report.txt")).map(|r| r.contains("Successful requests:")).unwrap_or(false)
}

#[test]
fn a_run_directory_is_reused_only_when_a_pipeline_made_it() {
    let base = tempdir("pipe-rerun");
    // A directory a pipeline did not make is refused (exit 2) and left alone.
    let foreign = base.join("mine");
    fs::create_dir_all(&foreign).unwrap();
    fs::write(foreign.join("notes.txt"), "keep me").unwrap();
    let out = pipeline_command("startup", &foreign, &[("LOGS", " ")]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("was not made by a pipeline"));
    assert_eq!(fs::read_to_string(foreign.join("notes.txt")).unwrap(), "keep me");

    // The same RUN_DIR twice: the second run replaces the first.
    let dir = base.join("run");
    let log = testdata("pipelines/logs/vllm-startup-0.9.0.1.log");
    let env = [("LOGS", log.to_str().unwrap()), ("MODELS", "m1")];
    for _ in 0..2 {
        let out = pipeline_command("startup", &dir, &env).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let servers: Vec<_> = fs::read_dir(dir.join("servers")).unwrap().collect();
    assert_eq!(servers.len(), 2, "one sim and one log, not duplicated by the re-run");
}

#[test]
fn ctrl_c_stops_the_sim_and_keeps_what_was_done() {
    use std::os::unix::process::CommandExt;
    let dir = tempdir("pipe-int").join("run");
    // A long run (1,000 requests at 20/s), interrupted after its first results.
    let mut cmd = pipeline_command("demo", &dir, &[("N", "1000"), ("RATE", "20")]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let results = dir.join("results.ndjson");
    while fs::read_to_string(&results).map(|r| r.lines().count() < 5).unwrap_or(true) {
        assert!(Instant::now() < deadline, "no results within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    let port = sim_port(&fs::read_to_string(dir.join("commands.sh")).unwrap());
    // Ctrl-C in a terminal signals the whole foreground process group.
    let pgid = format!("-{}", child.id());
    assert!(Command::new("kill").args(["-INT", "--", &pgid]).status().unwrap().success());
    let started = Instant::now();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    // Generous: on a busy machine the cleanup's kubectl calls take a while; "never" is the bug.
    assert!(started.elapsed() < Duration::from_secs(90), "the pipeline took too long to stop");
    assert_ne!(status.code(), Some(0), "an interrupted run is not a success: {stderr}");
    assert!(port_closed(port), "sb-sim still listening after Ctrl-C: {stderr}");
    let done = records(&fs::read_to_string(&results).unwrap());
    let n = of_kind(&done, "result").len();
    assert!((5..1000).contains(&n), "{n} results kept");
    assert!(stderr.contains("interrupted"), "{stderr}");
}

#[test]
fn ctrl_c_while_a_server_starts_deletes_what_was_applied() {
    use std::os::unix::process::CommandExt;
    let fake = tempdir("kubectl-int");
    let path = format!("{}:{}", testdata("pipelines").display(), std::env::var("PATH").unwrap_or_default());
    let dir = tempdir("pipe-int-cluster").join("run");
    let tokenizer = testdata("pipelines/tokenizers/qwen3-0.6b");
    let mut cmd = pipeline_command(
        "scale-out",
        &dir,
        &[
            ("KUBECONTEXT", "test-cluster"),
            ("PATH", &path),
            ("FAKE_KUBECTL_DIR", fake.to_str().unwrap()),
            ("FAKE_KUBECTL_ROLLOUT_SECONDS", "30"),
            ("TOKENIZER", tokenizer.to_str().unwrap()),
            ("N", "8"),
        ],
    );
    cmd.stdout(Stdio::null()).stderr(Stdio::piped()).process_group(0);
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !calls(&fake).iter().any(|c| c.contains("rollout status")) {
        assert!(Instant::now() < deadline, "never waited for the server");
        std::thread::sleep(Duration::from_millis(100));
    }
    let pgid = format!("-{}", child.id());
    assert!(Command::new("kill").args(["-INT", "--", &pgid]).status().unwrap().success());
    let started = Instant::now();
    let status = child.wait().unwrap();
    assert!(started.elapsed() < Duration::from_secs(20), "the pipeline took too long to stop");
    assert_eq!(status.code(), Some(130));
    let calls = calls(&fake);
    let rollout = calls.iter().position(|c| c.contains("rollout status")).unwrap();
    let deletes: Vec<&String> = calls[rollout..].iter().filter(|c| c.contains(" delete -f ")).collect();
    assert_eq!(deletes.len(), 2, "manifests and requests deleted after Ctrl-C: {calls:#?}");
    assert!(
        deletes.iter().any(|c| c.contains("shards/manifests.yaml"))
            && deletes.iter().any(|c| c.contains("configmap.json"))
    );
    assert!(!calls.iter().any(|c| c.contains(" logs ")), "nothing gathered after the interrupt: {calls:#?}");
}

#[test]
fn a_sweep_stopped_early_still_writes_the_table_of_what_was_done() {
    use std::os::unix::process::CommandExt;
    let dir = tempdir("pipe-int-sweep").join("run");
    // Slow sims (100 ms steps, 32 tokens): each point lasts several seconds, so the interrupt
    // lands inside the last point even on a busy machine.
    let mut cmd = pipeline_command(
        "sweep",
        &dir,
        &[("N", "20"), ("RATE", "poisson:40"), ("OUTPUT_LEN", "32"), ("SIM_ARGS", "--decode-ms 100")],
    );
    cmd.stdout(Stdio::null()).stderr(Stdio::piped()).process_group(0);
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !dir.join("points/p04/plan.json").exists() {
        assert!(Instant::now() < deadline, "the sweep never reached its last point");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(200));
    let pgid = format!("-{}", child.id());
    assert!(Command::new("kill").args(["-INT", "--", &pgid]).status().unwrap().success());
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    let table = fs::read_to_string(dir.join("sweep.md")).unwrap_or_else(|_| panic!("no table after Ctrl-C: {stderr}"));
    let row = |p: &str| {
        table.lines().find(|l| l.starts_with(&format!("| {p} |"))).unwrap_or_else(|| panic!("{p}: {table}")).to_string()
    };
    assert!(row("p01").contains("does not fit"), "{table}");
    assert!(row("p03").ends_with("| ok |") && row("p03").contains("| 20 | 0 |"), "{table}");
    assert!(row("p04").ends_with("| interrupted |"), "{table}");
}

#[test]
fn scale_out_locally_merges_every_shard_into_one_report() {
    let run = pipeline("scale-out", &[("N", "60"), ("SHARDS", "3"), ("RATE", "poisson:60"), ("OUTPUT_LEN", "8")]);
    run.assert_ok();
    let mut ids = vec![];
    for i in 0..3 {
        let recs = records(&run.file(&format!("shards/shard-{i}.ndjson")));
        let results = of_kind(&recs, "result");
        assert!(!results.is_empty());
        assert!(results.iter().all(|r| r["shard"] == format!("{i}/3")));
        ids.extend(results.iter().map(|r| r["id"].as_str().unwrap().to_string()));
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 60, "the shards together sent every request once");
    assert!(run.stdout().contains("Successful requests:                     60"), "{}", run.stdout());
    let shards_md = run.file("shards.md");
    for i in 0..3 {
        assert!(shards_md.contains(&format!("| {i}/3 |")), "{shards_md}");
    }
}

#[test]
fn scale_out_in_a_cluster_runs_an_indexed_job_and_gathers_its_pods() {
    let (run, fake) = cluster_pipeline("scale-out", &[("N", "16"), ("SHARDS", "2"), ("RATE", "poisson:12")]);
    run.assert_ok();
    let calls = calls(&fake);
    let find = |needle: &str| {
        calls.iter().position(|c| c.contains(needle)).unwrap_or_else(|| panic!("no `{needle}` call in {calls:#?}"))
    };
    assert!(calls.iter().all(|c| c.starts_with("--context test-cluster -n bench ")), "{calls:#?}");
    // The ConfigMap is created, not applied: apply's last-applied annotation holds 256 KiB at most.
    let (cm, manifests) = (find("create -f"), find("apply -f"));
    assert!(calls[cm].ends_with("shards/configmap.json") && calls[manifests].ends_with("shards/manifests.yaml"));
    assert!(cm < manifests, "the requests are applied before the Job reads them");
    let rollout = find("rollout status deployment/vllm-qwen3-0-6b");
    let logs0 = find("-0-fake -c sb-load");
    let logs1 = find("-1-fake -c sb-load");
    let delete = find("delete -f");
    assert!(manifests < rollout && rollout < logs0 && logs0 < logs1 && logs1 < delete, "{calls:#?}");
    assert!(
        calls.iter().filter(|c| c.contains(" delete -f ")).count() == 2,
        "manifests and requests deleted: {calls:#?}"
    );

    // What the cluster was given: the requests in a ConfigMap, the server, an indexed Job of 2.
    let applied = applied(&fake);
    let configmap: Value = serde_json::from_str(&applied[0]).unwrap();
    assert_eq!(configmap["kind"], "ConfigMap");
    assert_eq!(configmap["metadata"]["namespace"], "bench");
    assert_eq!(configmap["data"]["requests.ndjson"].as_str().unwrap(), run.file("requests.ndjson"));
    let yaml = &applied[1];
    for needle in [
        "kind: Deployment",
        "kind: Job",
        "completionMode: Indexed",
        "completions: 2",
        "$(JOB_COMPLETION_INDEX)/2",
        "poisson:12",
        "--max-lag=1000",
    ] {
        assert!(yaml.contains(needle), "{needle} not in the applied manifests:\n{yaml}");
    }
    assert_eq!(yaml, &run.file("shards/manifests.yaml"), "the run directory keeps the manifests it applied");
    validate(&[run.dir.join("shards/configmap.json"), run.dir.join("shards/manifests.yaml")]);
    // The pods' logs, stderr lines dropped, are the shards' results; sb-report merged them.
    for i in 0..2 {
        let got = run.file(&format!("shards/shard-{i}.ndjson"));
        let fixture = fs::read_to_string(testdata(&format!("pipelines/results/shard-{i}.ndjson"))).unwrap();
        assert_eq!(got, fixture);
    }
    assert!(run.stdout().contains("Successful requests:                     16"), "{}", run.stdout());
}

#[test]
fn a_failed_load_job_fails_the_run_but_keeps_what_its_pods_wrote() {
    let (run, fake) = cluster_pipeline("scale-out", &[("N", "16"), ("SHARDS", "2"), ("FAKE_KUBECTL_JOB_FAIL", "1")]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    for i in 0..2 {
        assert!(!records(&run.file(&format!("shards/shard-{i}.ndjson"))).is_empty());
    }
    assert!(run.file("report.txt").contains("Successful requests:"));
    // Cleaned up all the same.
    let calls = calls(&fake);
    assert_eq!(calls.iter().filter(|c| c.contains(" delete -f ")).count(), 2, "{calls:#?}");
}

#[test]
fn sweep_locally_runs_the_points_that_fit_and_reports_the_others() {
    // Fixed parameters (SET) reach the sim as well as the swept ones.
    let run = pipeline(
        "sweep",
        &[
            ("N", "20"),
            ("RATE", "poisson:40"),
            ("OUTPUT_LEN", "8"),
            ("SET", "block-size=32 enable-prefix-caching=false"),
        ],
    );
    run.assert_ok();
    let table = run.file("sweep.md");
    let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("| p0")).collect();
    assert_eq!(rows.len(), 4, "{table}");
    // max-model-len 131072 does not fit a 24 GB GPU with Llama-3.1-8B; 16384 does.
    for row in &rows[..2] {
        assert!(row.contains("max-model-len=131072") && row.contains("does not fit"), "{row}");
    }
    for row in &rows[2..] {
        assert!(row.contains("max-model-len=16384") && row.contains("| 20 | 0 |") && row.ends_with("| ok |"), "{row}");
    }
    // Each point ran against a sim shaped like it: the KV capacity sb-deploy computed.
    let plan = records(&run.file("plan.ndjson"));
    let kv = plan[2]["fit"]["kv_capacity_tokens"].as_u64().unwrap();
    let commands = run.file("commands.sh");
    for seqs in [128, 256] {
        let sim =
            format!("--max-num-seqs {seqs} --block-size 32 --max-model-len 16384 --no-prefix-caching --kv-tokens {kv}");
        assert!(commands.contains(&sim), "{sim} not in {commands}");
    }
    let p3 = records(&run.file("points/p03/results.ndjson"));
    assert!(of_kind(&p3, "result").iter().all(|r| r["tags"]["point"] == "p03"));
    assert!(!run.dir.join("points/p01/results.ndjson").exists(), "a point that does not fit is not run");
}

#[test]
fn sweep_in_a_cluster_applies_each_point_and_reports_a_server_that_never_got_ready() {
    let (run, fake) = cluster_pipeline("sweep", &[("N", "8"), ("FAKE_KUBECTL_NOT_READY", "-p04$")]);
    assert_eq!(run.code(), 1, "a point that failed fails the sweep: {}", run.stderr());
    let table = run.file("sweep.md");
    let row = |p: &str| table.lines().find(|l| l.starts_with(&format!("| {p} |"))).unwrap().to_string();
    assert!(row("p01").contains("does not fit"));
    assert!(row("p03").ends_with("| ok |"), "{}", row("p03"));
    assert!(row("p04").contains("failed: the server did not become ready"), "{}", row("p04"));
    let calls = calls(&fake);
    // Points that do not fit never reach the cluster; the others are applied and deleted.
    assert!(!calls.iter().any(|c| c.contains("-p01") || c.contains("-p02")), "{calls:#?}");
    for p in ["p03", "p04"] {
        assert!(calls.iter().any(|c| c.contains(&format!("rollout status deployment/vllm-llama-3-1-8b-instruct-{p}"))));
        assert!(
            calls
                .iter()
                .any(|c| c
                    .contains(&format!("delete -f {}", run.dir.join(format!("points/{p}/manifests.yaml")).display()))),
            "{calls:#?}"
        );
    }
    assert!(calls.iter().any(|c| c.contains("logs deployment/vllm-llama-3-1-8b-instruct-p04 --tail=200 --previous")));
    let p03 = run.file("points/p03/manifests.yaml");
    assert!(p03.contains("--max-num-seqs") && p03.contains("\"128\"") && p03.contains("--max-model-len"), "{p03}");
    assert!(p03.contains("- --tag\n        - point=p03\n"), "sb-deploy tags the point's results: {p03}");
}

#[test]
fn sweep_takes_the_rtx_3080_seed_design() {
    let design = root().join("pipelines/designs/rtx3080-seed.yaml");
    let run = pipeline(
        "sweep",
        &[
            ("DESIGN", design.to_str().unwrap()),
            ("GPU", "rtx-3080-10gb"),
            ("N", "10"),
            ("RATE", "poisson:40"),
            ("MAX_ERROR_RATE", "1"),
        ],
    );
    run.assert_ok();
    let table = run.file("sweep.md");
    let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("| p0") || l.starts_with("| p1")).collect();
    assert_eq!(rows.len(), 17, "one row per experiment of the seed: {table}");
    // The seed's first experiment failed for want of KV cache; the table says why.
    assert!(rows[0].contains("max-model-len=30576") && rows[0].contains("does not fit"), "{}", rows[0]);
    let ran: Vec<&&str> = rows.iter().filter(|r| !r.contains("does not fit")).collect();
    assert!(!ran.is_empty(), "{table}");
    for row in ran {
        assert!(!row.contains("| - | - |"), "a point that fits has numbers: {row}");
    }
    assert_eq!(run.file("design.yaml"), fs::read_to_string(&design).unwrap(), "the design is kept with the run");
}

#[test]
fn sweep_in_a_cluster_can_leave_the_fit_to_the_server() {
    let (run, fake) = cluster_pipeline("sweep", &[("N", "8"), ("RUN_UNFIT", "1")]);
    run.assert_ok();
    let table = run.file("sweep.md");
    let p01 = table.lines().find(|l| l.starts_with("| p01 |")).unwrap();
    assert!(p01.contains("| ok (predicted: does not fit"), "{p01}");
    let calls = calls(&fake);
    assert!(calls.iter().any(|c| c.contains("rollout status deployment/vllm-llama-3-1-8b-instruct-p01")), "{calls:#?}");
}

#[test]
fn io_study_locally_makes_one_table_grouped_by_model_and_task() {
    let run = pipeline(
        "io-study",
        &[
            ("MODELS", "Qwen/Qwen3-0.6B facebook/opt-125m"),
            ("TASKS", "question-answering:mmlu chatbot:openchat"),
            ("N", "8"),
        ],
    );
    run.assert_ok();
    let table = run.file("study.md");
    let rows: Vec<&str> = table
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with("| ") && !l.starts_with("| model"))
        .collect();
    assert_eq!(rows.len(), 4, "{table}");
    for model in ["Qwen/Qwen3-0.6B", "facebook/opt-125m"] {
        for (task, dataset) in [("question-answering", "mmlu"), ("chatbot", "openchat")] {
            assert!(
                rows.iter()
                    .any(|r| r.starts_with(&format!("| {model} | {task} | {dataset} |")) && r.ends_with("| ok |")),
                "{model} {task}: {table}"
            );
        }
    }
    // MMLU answers are one token; the chatbot sends every turn of 8 conversations.
    let mmlu = records(&run.file("cells/qwen-qwen3-0.6b/question-answering-mmlu/results.ndjson"));
    assert_eq!(of_kind(&mmlu, "result").len(), 8);
    assert!(of_kind(&mmlu, "result")
        .iter()
        .all(|r| r["usage"]["completion_tokens"] == 1 && r["tags"]["model"] == "Qwen/Qwen3-0.6B"));
    let chat = records(&run.file("cells/facebook-opt-125m/chatbot-openchat/results.ndjson"));
    assert!(of_kind(&chat, "result").len() > 8, "more turns than conversations");
    // Every run has its own server metrics, and the sim answered under the model's name.
    let samples = records(&run.file("cells/facebook-opt-125m/chatbot-openchat/metrics.ndjson"));
    assert!(samples.iter().any(|s| s["labels"]["model_name"] == "facebook/opt-125m"));
    // The server side: MMLU's 5-shot prompts of one subject share a prefix the sim caches.
    let server_side = &table[table.find("## Server side").expect("the server-side table")..];
    let mmlu = server_side.lines().find(|l| l.starts_with("| Qwen/Qwen3-0.6B | question-answering | mmlu |")).unwrap();
    let hit_pct: f64 = mmlu.split('|').nth(4).unwrap().trim().parse().unwrap_or_else(|_| panic!("{mmlu}"));
    assert!(hit_pct > 0.0 && hit_pct <= 100.0, "{mmlu}");
    let grouped = run.file("by-model-task.md");
    assert!(grouped.contains("Qwen/Qwen3-0.6B question-answering mmlu"), "{grouped}");
    assert!(grouped.contains("facebook/opt-125m chatbot openchat"), "{grouped}");
}

#[test]
fn io_study_in_a_cluster_keeps_one_server_per_model_and_stages_requests_on_a_pvc() {
    let (run, fake) = cluster_pipeline(
        "io-study",
        &[
            ("MODELS", "Qwen/Qwen3-0.6B"),
            ("TASKS", "question-answering:mmlu single-prompt:humaneval"),
            ("N", "4"),
            ("DATASETS", "local"),
            ("REQUESTS_PVC", "workload"),
        ],
    );
    run.assert_ok();
    let calls = calls(&fake);
    // Requests copied onto the claim through a staging pod, one per task.
    assert_eq!(calls.iter().filter(|c| c.contains(" cp ") && c.contains("bench/sb-stage-")).count(), 2, "{calls:#?}");
    let mut stage_pods: Vec<String> = applied(&fake)
        .iter()
        .filter_map(|m| serde_json::from_str::<Value>(m).ok())
        .filter(|m| m["kind"] == "Pod")
        .map(|m| {
            assert_eq!(m["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"], "workload");
            m["metadata"]["name"].as_str().unwrap().to_string()
        })
        .collect();
    stage_pods.dedup();
    assert_eq!(stage_pods.len(), 2, "one staging pod per load, each its own name: {stage_pods:?}");
    let cell = run.dir.join("cells/qwen-qwen3-0.6b/question-answering-mmlu");
    validate(&[cell.join("stage-pod.json"), cell.join("manifests.yaml")]);
    let manifests = run.file("cells/qwen-qwen3-0.6b/question-answering-mmlu/manifests.yaml");
    assert!(manifests.contains("claimName: workload"), "{manifests}");
    assert!(manifests.contains("--tag=task=question-answering"), "{manifests}");
    // Each task's Job is deleted after it; the server once, at the end of the model.
    assert_eq!(calls.iter().filter(|c| c.contains(" delete job ")).count(), 2, "{calls:#?}");
    let server_deletes: Vec<_> = calls
        .iter()
        .filter(|c| c.contains(" delete -f ") && c.ends_with("manifests.yaml --ignore-not-found"))
        .collect();
    assert_eq!(server_deletes.len(), 1, "{calls:#?}");
    assert!(calls.last().unwrap().contains("manifests.yaml"), "the server goes last: {calls:#?}");
    let table = run.file("study.md");
    assert_eq!(table.lines().filter(|l| l.ends_with("| ok |")).count(), 2, "{table}");
}

#[test]
fn io_study_in_a_cluster_skips_the_tasks_of_a_model_whose_server_never_got_ready() {
    let (run, fake) = cluster_pipeline(
        "io-study",
        &[
            ("MODELS", "facebook/opt-125m Qwen/Qwen3-0.6B"),
            ("TASKS", "question-answering:mmlu single-prompt:humaneval"),
            ("N", "4"),
            ("DATASETS", "local"),
            ("FAKE_KUBECTL_NOT_READY", "opt-125m"),
        ],
    );
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let table = run.file("study.md");
    let row = |model: &str, dataset: &str| {
        table
            .lines()
            .find(|l| l.starts_with(&format!("| {model} |")) && l.contains(&format!("| {dataset} |")))
            .unwrap()
            .to_string()
    };
    assert!(row("facebook/opt-125m", "mmlu").contains("failed: the server did not become ready"), "{table}");
    assert!(row("facebook/opt-125m", "humaneval").contains("not run: the server did not become ready"), "{table}");
    assert!(
        row("Qwen/Qwen3-0.6B", "mmlu").ends_with("| ok |") && row("Qwen/Qwen3-0.6B", "humaneval").ends_with("| ok |"),
        "{table}"
    );
    let calls = calls(&fake);
    assert_eq!(calls.iter().filter(|c| c.contains("rollout status deployment/vllm-opt-125m")).count(), 1, "{calls:#?}");
}

#[test]
fn stress_writes_partial_reports_while_the_load_runs() {
    let run = pipeline("stress", &[("DURATION", "4s"), ("REPORT_EVERY", "1s"), ("RATE", "poisson:10")]);
    run.assert_ok();
    let partials: Vec<_> = fs::read_dir(run.dir.join("partial")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(partials.len() >= 2, "{partials:?}");
    let requests = records(&run.file("requests.ndjson"));
    // Sonnet, chat API, 2 output tokens, prefix lines shared.
    assert!(requests.iter().all(|r| r["api"] == "chat" && r["max_tokens"] == 2 && r["dataset"] == "sonnet"));
    let s = summary(&run, &["results.ndjson"]);
    assert!(s["completed"].as_u64().unwrap() >= 20, "{s}");
    assert!(s["duration_s"].as_f64().unwrap() < 8.0, "--duration stops the load: {s}");
    assert!(run.stderr().contains("done, 0 failed"), "progress lines: {}", run.stderr());
    assert!(run.stdout().contains("Server metrics (run window)"));
}

#[test]
fn stress_in_a_cluster_reports_from_the_pods_logs_while_the_job_runs() {
    // The fake Job stays running for 8 polls of 0.1 s: partial reports come from its pods' logs.
    let (run, fake) = cluster_pipeline(
        "stress",
        &[("N", "8"), ("DURATION", "30s"), ("REPORT_EVERY", "1s"), ("FAKE_KUBECTL_JOB_POLLS", "15"), ("RATE", "1")],
    );
    run.assert_ok();
    let partials = fs::read_dir(run.dir.join("partial")).unwrap().count();
    assert!(partials >= 1, "no partial report");
    let calls = calls(&fake);
    assert!(calls.iter().filter(|c| c.ends_with("-c sb-load")).count() > partials, "{calls:#?}");
    let manifests = run.file("shards/manifests.yaml");
    assert!(
        manifests.contains("--duration=30s") && manifests.contains("--rate") && manifests.contains("\"1\""),
        "{manifests}"
    );
    let configmap: Value = serde_json::from_str(&run.file("shards/configmap.json")).unwrap();
    let requests = records(configmap["data"]["requests.ndjson"].as_str().unwrap());
    assert!(requests.iter().all(|r| r["dataset"] == "sonnet" && r["api"] == "chat"));
}

#[test]
fn startup_parses_the_server_log_of_each_model_and_load_format() {
    let (run, fake) = cluster_pipeline(
        "startup",
        &[("MODELS", "Qwen/Qwen3-0.6B facebook/opt-125m"), ("LOAD_FORMATS", "auto safetensors"), ("YEAR", "2026")],
    );
    run.assert_ok();
    let table = run.file("startup.md");
    let rows: Vec<&str> = table.lines().filter(|l| l.contains("| cluster |")).collect();
    assert_eq!(rows.len(), 4, "{table}");
    // The fixture is vLLM 0.25.1's log: 176 s to ready, weights 36.8 s, torch.compile 26.57 s.
    for row in rows {
        assert!(
            row.contains("| 0.25.1 |")
                && row.contains("| 176 |")
                && row.contains("| 36.8 |")
                && row.contains("| 26.57 |"),
            "{row}"
        );
    }
    let applied = applied(&fake);
    assert_eq!(applied.len(), 4);
    assert!(applied[1].contains("--load-format") && applied[1].contains("safetensors"), "{}", applied[1]);
    let calls = calls(&fake);
    assert_eq!(
        calls.iter().filter(|c| c.contains(" logs ") && c.ends_with("-c vllm --timestamps")).count(),
        4,
        "{calls:#?}"
    );
    // Each server is deleted before (a leftover would make the start a no-op) and after.
    for i in 0..4 {
        let applies: Vec<usize> =
            calls.iter().enumerate().filter(|(_, c)| c.contains(" apply -f ")).map(|(n, _)| n).collect();
        let at = applies[i];
        let file = calls[at].rsplit(' ').next().unwrap();
        assert!(calls[at - 1].contains(&format!("delete -f {file}")), "{calls:#?}");
        assert!(calls[at + 1..].iter().any(|c| c.contains(&format!("delete -f {file}"))), "{calls:#?}");
    }
}

#[test]
fn startup_locally_times_the_sim_and_parses_real_vllm_logs() {
    let run = pipeline("startup", &[("YEAR", "2025")]);
    run.assert_ok();
    let table = run.file("startup.md");
    let row = |source: &str| {
        table.lines().find(|l| l.contains(source)).unwrap_or_else(|| panic!("{source}: {table}")).to_string()
    };
    assert!(row("vllm-startup-0.9.0.1.log").contains("| 0.9.0.1 |"));
    assert!(row("vllm-startup-0.11.2.log").contains("| 16.61 |"), "torch.compile of the 0.11.2 log");
    let sim = row("| sb-sim |");
    let ready: f64 = sim.split('|').nth(5).unwrap().trim().parse().unwrap();
    assert!(ready > 0.0 && ready < 20.0, "{sim}");
}

/// A real Prometheus server on loopback scraping `target` every second; killed on drop.
struct Prometheus {
    url: String,
    child: std::process::Child,
}

impl Prometheus {
    /// Scrapes each (job, base URL) every second; returns once every job was scraped.
    fn start(targets: &[(&str, &str)]) -> Prometheus {
        let dir = tempdir("prometheus");
        let config = dir.join("prometheus.yml");
        let mut yaml = String::from("global: {scrape_interval: 1s}\nscrape_configs:\n");
        for (job, url) in targets {
            let host_port = url.trim_start_matches("http://");
            yaml += &format!("  - job_name: {job}\n    static_configs: [{{targets: ['{host_port}']}}]\n");
        }
        fs::write(&config, yaml).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus is needed by this test: apt-get install prometheus (.ci/setup does)");
        let prom = Prometheus { url: format!("http://127.0.0.1:{port}"), child };
        // Generous: the machine may be busy compiling.
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "prometheus did not listen within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        // Wait for a first scrape of every target before the run: the baseline of its counters.
        for (job, _) in targets {
            while !http_get(port, &format!("/api/v1/query?query=up%7Bjob%3D%22{job}%22%7D")).contains(r#""1"]"#) {
                let targets = http_get(port, "/api/v1/targets");
                assert!(Instant::now() < deadline, "prometheus did not scrape {job} within 60 s: {targets}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        prom
    }
}

/// The body of a plain HTTP/1.0 GET on loopback (empty on any error).
fn http_get(port: u16, path: &str) -> String {
    use std::io::Write;
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return String::new() };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
        return String::new();
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_running_server_and_a_real_prometheus_instead_of_sb_sim_and_polling() {
    let sim = sb_testkit::Sim::start(&["--model", "Qwen/Qwen3-0.6B"]);
    let prom = Prometheus::start(&[("sim", &sim.url)]);
    let run = pipeline(
        "demo",
        &[
            ("URL", &sim.url),
            ("PROMETHEUS", &prom.url),
            ("SCRAPE_STEP", "1s"),
            ("SCRAPE_SETTLE", "3s"),
            ("N", "40"),
            ("RATE", "poisson:20"),
        ],
    );
    run.assert_ok();
    // The pipeline neither started a sim nor polled: the server metrics came from Prometheus.
    let commands = run.file("commands.sh");
    assert!(!commands.contains("sb-sim ") && !commands.contains("--endpoint"), "{commands}");
    assert!(commands.contains(&format!("sb-scrape --prometheus {}", prom.url)), "{commands}");
    let samples = records(&run.file("metrics.ndjson"));
    assert!(!samples.is_empty() && samples.iter().all(|s| s["source"] == "prometheus"));
    let s = summary(&run, &["results.ndjson", "metrics.ndjson"]);
    let generated = counter_delta(&s, "vllm:generation_tokens_total");
    assert_eq!(generated, s["total_output_tokens"].as_f64().unwrap(), "{s}");
    // The server is still running: the pipeline did not stop what it did not start.
    assert!(!port_closed(sim.url.rsplit(':').next().unwrap().parse().unwrap()));
}

/// Serves `body` as /metrics (any path) on a free loopback port for the rest of the test
/// process, the way an exporter does; returns its base URL.
fn serve_metrics(body: String) -> String {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[test]
fn stress_reports_gpu_power_from_a_dcgm_exporter_through_prometheus() {
    // A DCGM exporter's real scrape (a Tesla T4 drawing 8.969 W), served as an exporter would.
    let dcgm =
        serve_metrics(fs::read_to_string(testdata("pipelines/metrics/dcgm-exporter-datadog-fixture.txt")).unwrap());
    let prom = Prometheus::start(&[("dcgm", &dcgm)]);
    let run = pipeline(
        "stress",
        &[
            ("PROMETHEUS", &prom.url),
            ("SCRAPE_STEP", "1s"),
            ("SCRAPE_SETTLE", "1s"),
            ("DURATION", "3s"),
            ("REPORT_EVERY", "1s"),
            ("RATE", "poisson:10"),
        ],
    );
    run.assert_ok();
    assert!(run.stderr().contains("GPU power mean 9 W"), "{}", run.stderr());
    let gpu = records(&run.file("gpu.ndjson"));
    let power: Vec<&Value> = gpu.iter().filter(|s| s["metric"] == "DCGM_FI_DEV_POWER_USAGE").collect();
    assert!(!power.is_empty() && power.iter().all(|s| s["value"] == 8.969 && s["source"] == "prometheus"));
    assert!(run.stdout().contains("DCGM_FI_DEV_POWER_USAGE"), "{}", run.stdout());
    // With a Prometheus, /metrics is not polled.
    assert!(!run.file("commands.sh").contains("--endpoint"));
}

#[test]
fn trace_replay_puts_the_servers_prefix_hits_beside_the_traces_ideal() {
    // The first 5 s of the Mooncake slice (26 requests over 3 s) against a fast sim, at the trace's
    // own pace: a faster replay can outrun debug binaries on a busy machine (sb-report then says the
    // run fell behind). GPT-2's tokenizer loads fastest in debug builds.
    let gpt2 = testdata("sample/tokenizers/gpt2").display().to_string();
    let env = [("TRACE", "mooncake"), ("DURATION", "5s"), ("SPEED", "1"), ("SIM_ARGS", "--decode-ms 0.5")];
    let run = pipeline("trace-replay", &[&env[..], &[("TOKENIZER", gpt2.as_str())]].concat());
    run.assert_ok();
    let slice =
        fs::read_to_string(root().join("testdata/sample/traces/mooncake/conversation_trace.first500.jsonl")).unwrap();
    let in_window = slice
        .lines()
        .filter(|l| serde_json::from_str::<Value>(l).unwrap()["timestamp"].as_f64().unwrap() < 5_000.0)
        .count();
    let requests = records(&run.file("requests.ndjson"));
    assert_eq!(requests.len(), in_window);
    let results = records(&run.file("results.ndjson"));
    assert_eq!(of_kind(&results, "result").iter().filter(|r| r["status"] == "ok").count(), in_window);
    let summary = run.file("summary.txt");
    let row = |name: &str| -> Vec<f64> {
        let line =
            summary.lines().find(|l| l.trim_start().starts_with(name)).unwrap_or_else(|| panic!("{name}:\n{summary}"));
        line[name.len() + 2..].split_whitespace().map(|v| v.parse().unwrap()).collect()
    };
    let hits = row("prefix-cache hit rate (tokens)");
    assert!(hits[0] > 0.0 && (hits[0] - hits[1]).abs() <= 0.01, "{summary}");
    let rates = row("arrival rate (req/s)");
    assert!(rates[0] > 5.0 && rates[1] > 0.0, "{summary}");
    assert!(run.stdout().contains("Serving Benchmark Result"));
    let commands = run.file("commands.sh");
    for tool in ["sb-sample mooncake", "sb-sample inspect mooncake", "--rate trace", "sb-report "] {
        assert!(commands.contains(tool), "{tool} missing from commands.sh:\n{commands}");
    }
}

#[test]
fn capacity_locally_finds_the_max_rate_of_a_sim_of_known_capacity() {
    // The default shape: 8 slots x 10 ms steps and 20-token outputs, 40 req/s (docs/sim.md).
    let run = pipeline(
        "capacity",
        &[
            ("N", "400"),
            ("DURATION", "2s"),
            ("WARMUP", "500ms"),
            ("SATURATION_WINDOW", "2s"),
            ("MIN", "15"),
            ("MAX", "60"),
            ("PRECISION", "30%"),
        ],
    );
    run.assert_ok();
    let sweep = records(&run.file("sweep.ndjson"));
    let last = sweep.last().unwrap();
    assert_eq!(last["kind"], "sweep");
    let max = last["max_rate_rps"].as_f64().unwrap();
    assert!(max > 20.0 && max < 40.0, "max rate {max}");
    let table = run.file("capacity.md");
    assert!(table.contains("max rate within the SLO:"), "{table}");
    let rows = table.lines().filter(|l| l.starts_with("| p") && !l.starts_with("| point")).count();
    assert_eq!(rows, last["points"].as_array().unwrap().len(), "{table}");
    assert!(run.file("report.txt").contains("Max rate within the SLO (req/s):"));
    assert!(run.file("commands.sh").contains("sb-sweep --search --slo ttft_p99_ms=200"));
}

#[test]
fn capacity_in_a_cluster_runs_sb_sweep_as_one_load_pod() {
    let (run, fake) = cluster_pipeline("capacity", &[("N", "20"), ("SLO", "ttft_p99_ms=500")]);
    // The fake cluster's pod log holds sb-load results, not a sweep: the run says so and fails.
    assert_eq!(run.code(), 1, "{}", run.stderr());
    assert!(run.stderr().contains("no sweep record"), "{}", run.stderr());
    let job = run.file("job.yaml");
    assert!(job.contains("kind: Job") && job.contains("  completions: 1"), "{job}");
    for arg in
        ["\"sb-sweep\",\"--search\"", "\"--slo\",\"ttft_p99_ms=500\"", "\"--requests\",\"/requests/requests.ndjson\""]
    {
        assert!(job.contains(arg), "{arg} not in {job}");
    }
    assert!(job.contains(".bench.svc:8000\""), "the sweep goes to the Service: {job}");
    let calls = calls(&fake);
    assert!(calls.iter().any(|c| c.contains("logs") && c.contains("-0-fake -c sb-load")), "{calls:?}");
    assert!(calls.iter().filter(|c| c.contains("delete -f")).count() >= 3, "the objects are deleted: {calls:?}");
}

#[test]
fn sweep_with_capacity_slo_reports_the_max_rate_of_each_configuration() {
    let run = pipeline(
        "sweep",
        &[
            ("N", "20"),
            ("RATE", "poisson:20"),
            ("OUTPUT_LEN", "8"),
            ("SWEEP", "max-num-seqs=8"),
            ("SET", "max-model-len=16384"),
            ("CAPACITY_SLO", "ttft_p99_ms=300"),
            ("CAPACITY_N", "400"),
            ("CAPACITY_ARGS", "--duration 2s --warmup 500ms --saturation-window 2s --min 20 --max 80 --precision 40%"),
        ],
    );
    run.assert_ok();
    let table = run.file("sweep.md");
    assert!(table.contains("| max req/s within ttft_p99_ms=300 | out tok/s there | status |"), "{table}");
    let row =
        table.lines().find(|l| l.starts_with("| p") && !l.starts_with("| point")).unwrap_or_else(|| panic!("{table}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    let n = cells.len();
    let max: f64 = cells[n - 4].parse().unwrap_or_else(|_| panic!("no max rate in {row}"));
    assert!(max >= 20.0, "{row}");
    assert!(cells[n - 3].parse::<f64>().unwrap() > 0.0, "{row}");
    assert_eq!(cells[n - 2], "ok", "{row}");
    let capacity = records(&run.file(&format!("points/{}/capacity.ndjson", cells[1])));
    assert_eq!(capacity.last().unwrap()["max_rate_rps"].as_f64(), Some(max));
}

#[test]
fn make_help_lists_every_target() {
    let out = Command::new("make")
        .args(["-s", "-C"])
        .arg(root().join("pipelines"))
        .arg("help")
        .output()
        .expect("make is needed for pipelines/Makefile (Debian: apt-get install make)");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for target in [
        "demo",
        "io-study",
        "stress",
        "sweep",
        "capacity",
        "startup",
        "scale-out",
        "image",
        "trace-replay",
        "all-local",
    ] {
        assert!(help.lines().any(|l| l.trim_start().starts_with(&format!("{target} "))), "{target} missing:\n{help}");
        assert!(root().join("pipelines").join(format!("{target}.sh")).exists() || target == "all-local");
    }
}
