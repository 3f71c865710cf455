//! Usage errors and help: exit status 2 with a one-line reason naming the flag or line.

mod common;

use common::{path_str, scrape};
use sb_testkit::tempdir;

#[test]
fn help_teaches_with_examples() {
    let out = std::process::Command::new(sb_testkit::bin("sb-scrape")).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in ["--prometheus", "--endpoint", "--log", "--window", "Examples:", "Exit status"] {
        assert!(help.contains(needle), "{needle}");
    }
}

#[test]
fn usage_errors_exit_2_and_name_the_problem() {
    let dir = tempdir("scrape-cli");
    let bad = dir.join("results.ndjson");
    std::fs::write(&bad, "{\"kind\":\"result\",\"v\":1,\"id\":\"a\",\"status\":\"ok\",\"scheduled_ns\":1,\"sent_ns\":1,\"done_ns\":2}\nnot json\n").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![], "--prometheus"),
        (vec!["--log", "x.log", "--preset", "io"], "--preset only applies with --prometheus"),
        (vec!["--endpoint", "http://127.0.0.1:1/metrics", "--start", "-5m"], "cannot be used with"),
        (vec!["--endpoint", "http://127.0.0.1:1/metrics", "--interval", "soon"], "--interval"),
        (vec!["--prometheus", "http://127.0.0.1:1", "--start", "yesterday"], "bad time \"yesterday\""),
        (vec!["--prometheus", "http://127.0.0.1:1"], "needs a window"),
        (vec!["--prometheus", "http://127.0.0.1:1", "--window", path_str(&bad)], "results.ndjson:2"),
        (
            vec!["--prometheus", "http://127.0.0.1:1", "--start", "-1m", "--preset", "gpu,vram"],
            "unknown preset \"vram\"",
        ),
        (vec!["--prometheus", "http://127.0.0.1:1", "--start", "-1m", "--end", "-2m"], "ends before it starts"),
    ];
    for (args, want) in cases {
        let out = scrape(&args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(want), "{args:?}: want {want:?} in {}", out.stderr);
        assert!(out.samples.is_empty());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
