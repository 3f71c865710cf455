//! pipelines/llm-d/servebench-llm-d-benchmark.sh, run as llm-d-benchmark's launcher pod runs a
//! harness: LLMDBENCH_RUN_* variables, the profile under the workspace's profiles/servebench/,
//! results and run_metadata.yaml in the experiment results directory.

use sb_testkit::{bin, root, tempdir, testdata, Sim};
use std::process::Command;

#[test]
fn the_harness_script_runs_a_profile_from_the_workspace_into_the_results_dir() {
    let tok = testdata("sample/tokenizers/qwen3-0.6b").display().to_string();
    let sim = Sim::start(&["--decode-ms", "1", "--model", &tok]);
    let work = tempdir("llmd-workspace");
    let profiles = work.join("profiles/servebench");
    std::fs::create_dir_all(&profiles).unwrap();
    // As llm-d-benchmark hands it over: rendered, with an -o override already applied.
    let text = std::fs::read_to_string(testdata("profile/vllm-benchmark/sanity_random.yaml.in"))
        .unwrap()
        .replace("num-prompts: 20", "num-prompts: 4")
        .replace("REPLACE_ENV_LLMDBENCH_DEPLOY_CURRENT_MODEL", &tok)
        .replace("REPLACE_ENV_LLMDBENCH_HARNESS_STACK_ENDPOINT_URL", &sim.url);
    std::fs::write(profiles.join("sanity_random.yaml"), text).unwrap();
    let results = work.join("results/exp-1");
    let bindir = bin("sb-profile").parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bindir.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("bash")
        .arg(root().join("pipelines/llm-d/servebench-llm-d-benchmark.sh"))
        .env("PATH", path)
        .env("LLMDBENCH_RUN_WORKSPACE_DIR", &work)
        .env("LLMDBENCH_RUN_EXPERIMENT_RESULTS_DIR", &results)
        .env("LLMDBENCH_RUN_EXPERIMENT_HARNESS_WORKLOAD_NAME", "sanity_random.yaml")
        .env("LLMDBENCH_RUN_EXPERIMENT_ID", "exp-1")
        .env_remove("LLMDBENCH_VLLM_COMMON_METRICS_SCRAPE_ENABLED")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for f in
        ["results.ndjson", "report.txt", "benchmark_report.json", "commands.sh", "sanity_random.yaml", "stdout.log"]
    {
        assert!(results.join(f).exists(), "{f} missing: {stderr}");
    }
    let meta = std::fs::read_to_string(results.join("run_metadata.yaml")).unwrap();
    assert!(meta.contains("harness_rc: \"0\"") && meta.contains("harness_name: \"servebench\""), "{meta}");
    assert!(meta.contains("harness_delta: \"PT") && meta.contains("experiment_id: \"exp-1\""), "{meta}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(results.join("benchmark_report.json")).unwrap()).unwrap();
    assert_eq!(report["run"]["eid"], "exp-1", "the experiment id reaches the llm-d report");
    assert_eq!(report["results"]["request_performance"]["aggregate"]["requests"]["total"], 4);

    // No profile: exit 2 naming where it looked.
    let out = Command::new("bash")
        .arg(root().join("pipelines/llm-d/servebench-llm-d-benchmark.sh"))
        .env("LLMDBENCH_RUN_WORKSPACE_DIR", &work)
        .env("LLMDBENCH_RUN_EXPERIMENT_RESULTS_DIR", &results)
        .env("LLMDBENCH_RUN_EXPERIMENT_HARNESS_WORKLOAD_NAME", "missing.yaml")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("profiles/servebench/"));
}
