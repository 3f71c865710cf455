//! One test plants a distinct secret in every channel a user could hand one to servebench and
//! checks that none of them ever comes out: not on stdout, stderr, in result or run records,
//! in a rendered manifest, nor in any tool's --help.

use sb_testkit::{bin, pipe_env, Sim};
use std::process::Command;

const ENV_KEY: &str = "sk-planted-env-3141";
const HEADER: &str = "hdr-planted-2718";
const USERINFO: &str = "pw-planted-1618";
const SCRAPE_HEADER: &str = "scrape-planted-1414";
const SET_TOKEN: &str = "hf_planted_set_1732";
const ENV_TOKEN: &str = "hf_planted_env_2236";
const ARG_KEY: &str = "argkey-planted-2646";
const HELP_URL: &str = "helpurl-planted-3316";

const ALL: &[&str] = &[ENV_KEY, HEADER, USERINFO, SCRAPE_HEADER, SET_TOKEN, ENV_TOKEN, ARG_KEY, HELP_URL];

fn assert_clean(what: &str, text: &str) {
    for s in ALL {
        assert!(!text.contains(s), "{what} leaks {s}:\n{text}");
    }
}

#[test]
fn no_planted_secret_ever_comes_out() {
    let sim = Sim::start(&["--decode-ms", "1"]);
    let url = sim.url.replace("http://", &format!("http://perf:{USERINFO}@"));
    let reqs: String = (0..3)
        .map(|i| format!("{{\"kind\":\"request\",\"v\":1,\"id\":\"r{i}\",\"prompt\":\"a b\",\"max_tokens\":2}}\n"))
        .collect();
    let header = format!("X-Team-Token: {HEADER}");
    // sb-load: the key from the environment, an extra header, a password in the URL.
    let load = pipe_env(
        "sb-load",
        &["--url", &url, "--model", "sim", "-H", &header, "--progress", "always"],
        reqs.as_bytes(),
        &[("OPENAI_API_KEY", ENV_KEY)],
    );
    assert_eq!(load.code, 0, "{}", load.stderr);
    assert_eq!(load.of_kind("result").len(), 3);
    assert_clean("sb-load stdout (results and run record)", &load.stdout);
    assert_clean("sb-load stderr", &load.stderr);
    // A malformed header is refused without its text.
    let bad = pipe_env("sb-load", &["--url", &sim.url, "-H", HEADER], b"", &[]);
    assert_eq!(bad.code, 2);
    assert_clean("sb-load's --header error", &bad.stderr);
    // sb-report of those results.
    let report = pipe_env("sb-report", &[], load.stdout.as_bytes(), &[]);
    assert_clean("sb-report", &(report.stdout.clone() + &report.stderr));
    // sb-scrape with an auth header, against the sim's /metrics, and with a bad header.
    let scrape_header = format!("Authorization: Bearer {SCRAPE_HEADER}");
    let metrics = format!("{}/metrics", sim.url);
    let scrape = pipe_env(
        "sb-scrape",
        &["--endpoint", &metrics, "--duration", "1s", "--interval", "500ms", "-H", &scrape_header],
        b"",
        &[],
    );
    assert_eq!(scrape.code, 0, "{}", scrape.stderr);
    assert_clean("sb-scrape", &(scrape.stdout.clone() + &scrape.stderr));
    let scrape = pipe_env("sb-scrape", &["--endpoint", &metrics, "--duration", "1s", "-H", SCRAPE_HEADER], b"", &[]);
    assert_eq!(scrape.code, 2);
    assert_clean("sb-scrape's --header error", &scrape.stderr);

    // sb-deploy: every way of handing it a secret is refused, without the value, and says how.
    let deploy = |extra: &[&str]| {
        let mut args = vec!["render", "-m", "Qwen/Qwen3-0.6B"];
        args.extend_from_slice(extra);
        pipe_env("sb-deploy", &args, b"", &[])
    };
    let set = format!("hf-token={SET_TOKEN}");
    let env = format!("HF_TOKEN={ENV_TOKEN}");
    let api_env = format!("VLLM_API_KEY={ENV_TOKEN}");
    let arg = format!("--api-key={ARG_KEY}");
    let arg_hf = format!("--hf-token={ARG_KEY}");
    for (extra, want) in [
        (vec!["--set", set.as_str()], "--hf-secret"),
        (vec!["--env", env.as_str()], "--env-secret"),
        (vec!["--env", api_env.as_str()], "--env-secret VLLM_API_KEY="),
        (vec!["--extra-arg", arg.as_str()], "from a Secret"),
        (vec!["--extra-arg", arg_hf.as_str()], "from a Secret"),
        (vec!["--extra-arg", "--api-key", "--extra-arg", ARG_KEY], "from a Secret"),
    ] {
        let out = deploy(&extra);
        assert_eq!(out.code, 2, "{extra:?}: {}", out.stdout);
        assert!(out.stdout.is_empty(), "{extra:?}: no manifest");
        assert!(out.stderr.contains(want), "{extra:?}: {}", out.stderr);
        assert_clean(&format!("sb-deploy {extra:?}"), &out.stderr);
    }
    // The way that works renders a secretKeyRef, and one HF_TOKEN entry per container.
    let out = deploy(&["--env-secret", "HF_TOKEN=team-hf:token", "--env", "VLLM_LOGGING_LEVEL=DEBUG"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.matches("name: HF_TOKEN").count(), 1, "{}", out.stdout);
    assert!(out.stdout.contains("team-hf"), "{}", out.stdout);

    // --help of every tool, with every planted value in the environment clap reads.
    let help_url = format!("http://u:{HELP_URL}@h:1");
    for tool in ["sb-sample", "sb-load", "sb-report", "sb-scrape", "sb-deploy", "sb-sim"] {
        let out = Command::new(bin(tool))
            .arg("--help")
            .env("SB_LOAD_URL", &help_url)
            .env("OPENAI_API_KEY", ENV_KEY)
            .env("HF_TOKEN", ENV_TOKEN)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{tool} --help: {text}");
        assert_clean(&format!("{tool} --help"), &text);
    }
}
