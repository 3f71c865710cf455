//! The binary's behaviour: each kind of bad input is a one-line error with exit 2 and nothing
//! on stdout; fit failures warn (or exit 1 with --require-fit / explain); the plan is a stream
//! of `plan` records the shared reader accepts.

use sb_records::{PlanPoint, RecordReader};
use sb_testkit::{bin, root, tempdir};
use std::process::Command;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Out {
    let out = Command::new(bin("sb-deploy")).args(args).current_dir(root()).output().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

#[test]
fn bad_inputs_are_clear_errors_with_exit_2() {
    let q = ["render", "-m", "Qwen/Qwen3-0.6B"];
    #[rustfmt::skip]
    let cases: &[(&[&str], &str)] = &[
        // Seed 001's flags as written for vLLM 0.6: both break on a current vLLM.
        (&["--set", "num-scheduler-steps=16"], "--num-scheduler-steps was removed in vLLM 0.10.1"),
        (&["--set", "enable-chunked-prefill=maybe"], "is a switch and takes no value"),
        (&["--set", "max-num-seqz=4"], "did you mean --max-num-seqs"),
        (&["--set", "dtype=BF16"], "did you mean \"bfloat16\""),
        (&["--set", "kv-cache-dtype=fp16"], "invalid choice \"fp16\" for --kv-cache-dtype"),
        (&["--set", "gpu-memory-utilization=1.5"], "must be > 0 and <= 1"),
        (&["--set", "max-num-seqs=lots"], "expects an integer"),
        (&["--set", "max-model-len"], "expected key=value"),
        (&["--set", "hf-token=hf_secret"], "--hf-secret"),
        (&["--set", "port=9000"], "vLLM listens on 0.0.0.0:8000"),
        (&["--set", "tensor-parallel-size=3"], "must be divisible by tensor-parallel-size (3); use one of 1, 2, 4, 8, 16"),
        (&["--set", "max-model-len=50000"], "greater than the derived max_model_len (40960)"),
        (&["--set", "enable-chunked-prefill=false", "--set", "max-num-batched-tokens=2048", "--set", "max-model-len=8192"], "smaller than max-model-len (8192) with chunked prefill disabled"),
        (&["--set", "max-num-seqs=512", "--set", "max-num-batched-tokens=256"], "must be >= max-num-seqs"),
        (&["--set", "kv-cache-dtype=float16"], "must equal the model dtype (bfloat16)"),
        (&["--vllm-version", "0.10.1.1", "--set", "kv-offloading-size=8"], "added in 0.12.0"),
        (&["--vllm-version", "0.17.0", "--set", "logits-processor-pattern=x"], "was removed in vLLM 0.17.0 (target is 0.17.0"),
        (&["--vllm-version", "0.6.3"], "oldest covered release is 0.9.2"),
        (&["--gpus", "4", "--set", "tensor-parallel-size=8"], "needs 8 GPUs in the pod; --gpus is 4"),
        (&["--name", "VLLM_Qwen"], "is not a valid Kubernetes name"),
        (&["--loadgen"], "--loadgen needs --requests"),
        (&["--loadgen", "--requests", "s3://bucket/requests"], "expected pvc:CLAIM/FILE or configmap:NAME/KEY"),
        (&["--sweep", "max-num-seqs=64,128", "--point", "p09"], "not a point of this sweep (points: p01, p02)"),
        (&["--sweep", "max-num-seqs=64,,128"], "no empty value"),
        (&["--sweep", "max-num-seqs=64,1.5"], "--sweep max-num-seqs=1.5: --max-num-seqs expects an integer"),
        (&["--shm-size", "64Gi"], "larger than --memory 32Gi"),
        (&["--model-cache", "nfs:/models"], "expected emptydir, pvc:CLAIM[/PATH] or hostpath:/DIR"),
        (&["--gpu", "tpu-v5"], "--gpu \"tpu-v5\" is not known"),
        (&["--label", "servebench.io/x=a/b"], "label servebench.io/x"),
        (&["--startup-timeout", "soon"], "--startup-timeout: bad duration \"soon\"; expected e.g. 250ms"),
        (&["--monitor", "podmonitor", "--monitor-interval", "15"], "expected a Prometheus duration"),
        (&["--values", "testdata/deploy/does-not-exist.yaml"], "values file testdata/deploy/does-not-exist.yaml"),
    ];
    for (extra, want) in cases {
        let args: Vec<&str> = q.iter().chain(extra.iter()).copied().collect();
        let out = run(&args);
        assert_eq!(out.code, 2, "{args:?}: exit {} ({})", out.code, out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}: nothing may reach stdout on an error");
        assert!(out.stderr.contains(want), "{args:?}: stderr lacks {want:?}:\n{}", out.stderr);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{args:?}: one line:\n{}", out.stderr);
    }
    let unknown = run(&["render", "-m", "acme/unknown-7b"]);
    assert_eq!(unknown.code, 2);
    assert!(unknown.stderr.contains("--model-config"), "{}", unknown.stderr);
    let fp8 = run(&["render", "-m", "meta-llama/Llama-3.1-405B-Instruct-FP8", "--set", "tp=8"]);
    assert_eq!(fp8.code, 2);
    assert!(fp8.stderr.contains("--set allow-deprecated-quantization=true"), "{}", fp8.stderr);
}

#[test]
fn values_files_and_designs_name_the_bad_entry() {
    let dir = tempdir("deploy-values");
    let values = dir.join("values.yaml");
    std::fs::write(&values, "max-model-len: 8192\nswap-space: 4\n").unwrap();
    let out = run(&["render", "-m", "opt-125m", "-f", values.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("values.yaml: swap-space: --swap-space was removed in vLLM 0.18.0"), "{}", out.stderr);
    let design = dir.join("design.yaml");
    std::fs::write(&design, "- {max-num-seqs: 64}\n- {max-num-seqs: 64, block-size: 0}\n").unwrap();
    let out = run(&["render", "-m", "opt-125m", "--design", design.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("design.yaml point 2: block-size: --block-size must be >= 1"), "{}", out.stderr);
    std::fs::write(&design, "max-num-seqs: 64\n").unwrap();
    let out = run(&["render", "-m", "opt-125m", "--design", design.to_str().unwrap()]);
    assert!(out.code == 2 && out.stderr.contains("a design is a list of maps"), "{}", out.stderr);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn fit_failures_warn_or_fail_as_asked() {
    let llama = ["-m", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "24gb", "--set", "gpu-memory-utilization=0.9"];
    // render warns on stderr and still writes the manifests.
    let out = run(&[&["render"], &llama[..]].concat());
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("kind: Deployment"));
    assert!(out.stderr.contains("the estimated maximum model length is"), "{}", out.stderr);
    // --require-fit: exit 1, nothing on stdout.
    let out = run(&[&["render", "--require-fit"], &llama[..]].concat());
    assert_eq!(out.code, 1);
    assert!(out.stdout.is_empty());
    // explain: the arithmetic on stdout, exit 1 when it does not fit, 0 when it does.
    let out = run(&[&["explain"], &llama[..]].concat());
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("DOES NOT FIT") && out.stdout.contains("128 KiB per GPU"), "{}", out.stdout);
    let short = run(&[&["explain"], &llama[..], &["--set", "max-model-len=16384"]].concat());
    assert_eq!(short.code, 0, "{}", short.stdout);
    assert!(short.stdout.contains("fits (estimate)"));
    // A model without preset, from its config.json.
    let gpt2 = run(&["explain", "-m", "openai-community/gpt2", "--model-config", "testdata/deploy/gpt2-config.json"]);
    assert_eq!(gpt2.code, 0, "{}", gpt2.stderr);
    assert!(gpt2.stdout.contains("12 layers") && gpt2.stdout.contains("max len 1024"), "{}", gpt2.stdout);
}

#[test]
fn plan_is_a_stream_of_plan_records() {
    let out =
        run(&["plan", "-m", "Qwen/Qwen3-8B", "--sweep", "max-num-seqs=128,256", "--sweep", "block-size=16,32,64"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let points: Vec<PlanPoint> = RecordReader::new("plan", out.stdout.as_bytes())
        .map(|r| match r.unwrap() {
            sb_records::Record::Plan(p) => p,
            other => panic!("not a plan record: {other:?}"),
        })
        .collect();
    assert_eq!(points.len(), 6);
    assert_eq!(points[0].point, "p01");
    assert_eq!(points[3].params["max-num-seqs"], 256);
    assert_eq!(points[3].params["block-size"], 16);
    let p = &points[3];
    assert_eq!(p.name.as_deref(), Some("vllm-qwen3-8b-p04"));
    assert_eq!(p.url.as_deref(), Some("http://vllm-qwen3-8b-p04.default.svc:8000"));
    assert_eq!((p.model.as_deref(), p.gpus), (Some("Qwen/Qwen3-8B"), Some(1)));
    assert!(p.engine_args.windows(2).any(|w| w == ["--max-num-seqs", "256"]), "{:?}", p.engine_args);
    assert_eq!(p.fit.as_ref().unwrap()["fits"], true);
    assert!(p.extra.is_empty(), "every field the plan writes is typed: {:?}", p.extra);
    // The same point alone renders the same objects as inside the full sweep.
    let all =
        run(&["render", "-m", "Qwen/Qwen3-8B", "--sweep", "max-num-seqs=128,256", "--sweep", "block-size=16,32,64"]);
    let one = run(&[
        "render",
        "-m",
        "Qwen/Qwen3-8B",
        "--sweep",
        "max-num-seqs=128,256",
        "--sweep",
        "block-size=16,32,64",
        "--point",
        "p04",
    ]);
    assert!(one.stdout.contains("name: vllm-qwen3-8b-p04") && !one.stdout.contains("p03"));
    assert!(all.stdout.contains(&one.stdout), "--point renders the point's documents unchanged");
}

#[test]
fn job_names_are_unique_per_run_and_presets_list() {
    let args = ["render", "-m", "opt-125m", "--loadgen", "--requests", "configmap:reqs/requests.ndjson"];
    let out = run(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let name = out.stdout.lines().find(|l| l.starts_with("  name: vllm-opt-125m-load-")).expect("a Job name");
    let id = name.trim_start_matches("  name: vllm-opt-125m-load-");
    assert!(id.len() == 15 && id.as_bytes()[8] == b'-' && id.chars().all(|c| c.is_ascii_digit() || c == '-'), "{id}");
    let presets = run(&["presets"]);
    assert_eq!(presets.code, 0);
    assert!(
        presets.stdout.contains("meta-llama/Llama-3.1-405B-Instruct-FP8") && presets.stdout.contains("rtx-3080-10gb")
    );
    let flags = run(&["flags", "chunked-prefill"]);
    assert_eq!(flags.code, 0);
    assert!(flags.stdout.contains("false = --disable-chunked-prefill"), "{}", flags.stdout);
    let swap = run(&["flags", "swap"]);
    assert!(swap.stdout.contains("removed  in vLLM 0.18.0"), "{}", swap.stdout);
    let old = run(&["flags", "swap", "--vllm-version", "0.17.0"]);
    assert!(old.stdout.contains("value    number") && !old.stdout.contains("removed"), "{}", old.stdout);
    assert_eq!(run(&["flags", "no-such-flag"]).code, 2);
    let help = run(&["render", "--help"]);
    assert!(help.stdout.contains("--sweep") && help.stdout.contains("--require-fit"));
    let top = run(&["--help"]);
    assert!(top.stdout.contains("Examples:") && top.stdout.contains("kubectl apply -f -"));
}
