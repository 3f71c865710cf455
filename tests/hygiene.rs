//! The README's commands run on users' own machines: no script of the project may stop or kill
//! a process it did not start (a user's Prometheus, say). Scripts stop only their own children,
//! by pid. `.ci/setup` used to stop the Prometheus service and kill every process of that name.

use std::path::Path;

fn scripts(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            if !p.ends_with("runs") {
                scripts(&p, out);
            }
        } else if p.extension().is_none_or(|e| e == "sh" || e == "mk") || p.ends_with("Makefile") {
            out.push(p);
        }
    }
}

#[test]
fn no_script_stops_or_kills_what_it_did_not_start() {
    let root = sb_testkit::root();
    let mut files = Vec::new();
    for dir in [".ci", "pipelines", "bench"] {
        scripts(&root.join(dir), &mut files);
    }
    files.push(root.join("Dockerfile"));
    assert!(files.iter().any(|f| f.ends_with(".ci/setup")));
    for f in files.iter().filter(|f| f.is_file()) {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            let code = line.split('#').next().unwrap_or("");
            // Spelled in pieces so that this file does not itself read as such a script.
            let forbidden = [
                ["p", "kill"].concat(),
                ["kill", "all"].concat(),
                ["systemctl", " stop"].concat(),
                ["systemctl", " kill"].concat(),
                ["service prometheus", " stop"].concat(),
            ];
            for bad in &forbidden {
                assert!(
                    !code.contains(bad),
                    "{}:{}: {bad} would stop a process this project did not start: {line}",
                    f.display(),
                    n + 1
                );
            }
        }
    }
}
