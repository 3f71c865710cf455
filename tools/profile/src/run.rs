//! Running a plan: the command lines (commands.sh, `explain`), the child processes that execute
//! them (the real sb-sample, sb-load and sb-report next to this executable), and the results set.

use crate::plan::{Input, Plan};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The directory holding sb-sample, sb-load and sb-report: this executable's own.
pub fn bin_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("where is sb-profile's executable")?;
    Ok(exe.parent().map(Path::to_path_buf).unwrap_or_default())
}

fn tool(dir: &Path, name: &str) -> Result<PathBuf> {
    let p = dir.join(name);
    if !p.exists() {
        bail!("{} not found: sb-profile runs the servebench tools installed beside it", p.display());
    }
    Ok(p)
}

/// A word for `sh`: as is when plain, else single-quoted.
pub fn sh(arg: &str) -> String {
    if !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "_./:=@,+-%".contains(c)) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

fn line(words: &[String]) -> String {
    words.iter().map(|w| sh(w)).collect::<Vec<_>>().join(" ")
}

pub struct Names {
    pub run: String,
}

impl Names {
    pub fn stage_run(&self, i: usize) -> String {
        format!("{}-s{i}", self.run)
    }
}

pub fn stage_results(i: usize) -> String {
    format!("results-stage-{i}.ndjson")
}

/// sb-load's full argument list for stage `i`.
pub fn load_args(plan: &Plan, names: &Names, i: usize) -> Vec<String> {
    let mut a = plan.load_args.clone();
    a.extend(plan.stages[i].load_args.iter().cloned());
    a.extend(["--run".into(), names.stage_run(i), "--tag".into(), format!("stage={i}")]);
    a
}

pub fn report_args(plan: &Plan) -> Vec<String> {
    plan.report_args.clone()
}

fn slice_words(input: &Input) -> Vec<String> {
    match input {
        Input::Slice { from, count } => {
            vec!["--from".into(), from.to_string(), "--count".into(), count.to_string()]
        }
        Input::Cycle { from } => vec!["--from".into(), from.to_string(), "--cycle".into()],
    }
}

/// commands.sh: the same run as shell lines a user can keep and run by hand.
pub fn script(plan: &Plan, profile: &str, names: &Names, bin: &Path) -> String {
    let mut s = String::new();
    s.push_str("#!/bin/sh\n");
    s.push_str(&format!(
        "# servebench pipeline of the {} profile {profile} (sb-profile); the resolved profile is profile.yaml.\n",
        plan.harness.name()
    ));
    for (k, why) in &plan.keys.notes {
        s.push_str(&format!("# note: {k}: {why}\n"));
    }
    for (k, why) in &plan.keys.unsupported {
        s.push_str(&format!("# UNSUPPORTED (not honoured): {k}: {why}\n"));
    }
    s.push_str(&format!("SB_BIN=\"${{SB_BIN:-{}}}\"\n", bin.display()));
    let t = |name: &str| format!("\"$SB_BIN/{name}\"");
    s.push_str(&format!("{} {} > requests.ndjson\n", t("sb-sample"), line(&plan.sample_args)));
    for (i, st) in plan.stages.iter().enumerate() {
        s.push_str(&format!("# stage {i}: {}\n", st.label));
        s.push_str(&format!(
            "{} slice requests.ndjson {} | {} {} > {}\n",
            t("sb-profile"),
            line(&slice_words(&st.input)),
            t("sb-load"),
            line(&load_args(plan, names, i)),
            stage_results(i)
        ));
    }
    let all: Vec<String> = (0..plan.stages.len()).map(stage_results).collect();
    s.push_str(&format!("cat {} > results.ndjson\n", all.join(" ")));
    let r = line(&report_args(plan));
    let sp = if r.is_empty() { String::new() } else { format!(" {r}") };
    s.push_str(&format!("{} results.ndjson --group-by tags.stage{sp} | tee report.txt\n", t("sb-report")));
    s.push_str(&format!("{} results.ndjson --group-by tags.stage{sp} --format json > report.json\n", t("sb-report")));
    s.push_str(&format!("{} results.ndjson{sp} --format llmd > benchmark_report.json\n", t("sb-report")));
    if plan.stages.len() > 1 {
        for i in 0..plan.stages.len() {
            s.push_str(&format!(
                "{} {}{sp} --format llmd > benchmark_report-stage-{i}.json\n",
                t("sb-report"),
                stage_results(i)
            ));
        }
    }
    s.push_str(
        "# sb-profile run also records the profile, stage and data source in the llm-d reports (scenario.load).\n",
    );
    s
}

/// Writes lines of `lines` to `out` as `input` says; stops quietly when the reader goes away.
pub fn feed(lines: &[String], input: &Input, out: &mut dyn Write) -> Result<()> {
    let write = |out: &mut dyn Write, l: &str| -> std::io::Result<()> {
        out.write_all(l.as_bytes())?;
        out.write_all(b"\n")
    };
    let res = match *input {
        Input::Slice { from, count } => {
            let end = (from + count).min(lines.len());
            lines[from.min(end)..end].iter().try_for_each(|l| write(out, l))
        }
        Input::Cycle { from } => {
            let pool = &lines[from.min(lines.len())..];
            if pool.is_empty() {
                bail!("no requests to go round");
            }
            let mut pass = 0u64;
            loop {
                let r = pool.iter().try_for_each(|l| {
                    if pass == 0 {
                        return write(out, l);
                    }
                    // Later passes: the same prompts under new ids, so ids stay unique.
                    let mut v: Value = serde_json::from_str(l).map_err(std::io::Error::other)?;
                    if let Some(id) = v.get("id").and_then(Value::as_str).map(str::to_string) {
                        v["id"] = Value::String(format!("{id}.{pass}"));
                    }
                    write(out, &v.to_string())
                });
                if r.is_err() {
                    break r;
                }
                pass += 1;
            }
        }
    };
    match res.and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e.into()),
        Ok(()) => Ok(()),
    }
}

pub fn read_lines(path: &Path) -> Result<Vec<String>> {
    let f = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    BufReader::new(f)
        .lines()
        .map(|l| l.map_err(|e| anyhow!("{}: {e}", path.display())))
        .filter(|l| l.as_ref().map_or(true, |s| !s.trim().is_empty()))
        .collect()
}

/// How the run went, for the exit status.
pub struct Outcome {
    pub checks_failed: bool,
    pub interrupted: bool,
}

fn fmt_eta(s: f64) -> String {
    if s >= 90.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{s:.0} s")
    }
}

/// Runs everything into `dir`; `doc` is the resolved profile (for the llm-d reports).
pub fn execute(plan: &Plan, doc: &Value, profile: &str, names: &Names, dir: &Path) -> Result<Outcome> {
    let bin = bin_dir()?;
    let (sample, load, report) = (tool(&bin, "sb-sample")?, tool(&bin, "sb-load")?, tool(&bin, "sb-report")?);
    std::fs::create_dir_all(dir).with_context(|| format!("--results-dir {}", dir.display()))?;
    let yaml = serde_saphyr::to_string(doc).map_err(|e| anyhow!("profile.yaml: {e}"))?;
    std::fs::write(dir.join("profile.yaml"), yaml)?;
    std::fs::write(dir.join("commands.sh"), script(plan, profile, names, &bin))?;
    if !plan.keys.unsupported.is_empty() {
        let text: String = plan.keys.unsupported.iter().map(|(k, why)| format!("{k}: {why}\n")).collect();
        std::fs::write(dir.join("unsupported.txt"), text)?;
    }

    let total: usize = plan
        .sample_args
        .iter()
        .position(|a| a == "-n")
        .and_then(|i| plan.sample_args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    eprintln!(
        "sb-profile: sampling {total} requests (sb-sample {})",
        plan.sample_args.first().map_or("", String::as_str)
    );
    let out = std::fs::File::create(dir.join("requests.ndjson"))?;
    let st = Command::new(&sample).args(&plan.sample_args).stdout(out).status().context("sb-sample")?;
    match st.code() {
        Some(0) => {}
        Some(130) | None => return Ok(Outcome { checks_failed: false, interrupted: true }),
        Some(1) => bail!("sb-sample made fewer requests than the profile needs (see above)"),
        Some(c) => bail!("sb-sample failed (exit {c}); the command is in {}/commands.sh", dir.display()),
    }
    let lines = read_lines(&dir.join("requests.ndjson"))?;

    let mut outcome = Outcome { checks_failed: false, interrupted: false };
    let started = Instant::now();
    let n = plan.stages.len();
    for (i, stage) in plan.stages.iter().enumerate() {
        let left: f64 = plan.stages[i..].iter().filter_map(|s| s.expected_s).sum();
        eprintln!(
            "sb-profile: stage {}/{n}: {}{}",
            i + 1,
            stage.label,
            if left > 0.0 {
                format!(" (about {} left, {} elapsed)", fmt_eta(left), fmt_eta(started.elapsed().as_secs_f64()))
            } else {
                String::new()
            }
        );
        let out = std::fs::File::create(dir.join(stage_results(i)))?;
        let mut child = Command::new(&load)
            .args(load_args(plan, names, i))
            .stdin(Stdio::piped())
            .stdout(out)
            .spawn()
            .context("sb-load")?;
        let mut stdin = BufWriter::new(child.stdin.take().expect("piped"));
        feed(&lines, &stage.input, &mut stdin)?;
        drop(stdin);
        let code = child.wait()?.code();
        match code {
            Some(0) => {}
            Some(1) => outcome.checks_failed = true,
            Some(130) | None => {
                outcome.interrupted = true;
                break;
            }
            Some(c) => bail!("sb-load failed in stage {i} (exit {c}); the command is in {}/commands.sh", dir.display()),
        }
    }

    // Results of every stage run, in order, then the reports.
    let mut all = BufWriter::new(std::fs::File::create(dir.join("results.ndjson"))?);
    for i in 0..n {
        if let Ok(text) = std::fs::read(dir.join(stage_results(i))) {
            all.write_all(&text)?;
        }
    }
    all.flush()?;
    drop(all);
    let results = dir.join("results.ndjson");
    let run_report = |inputs: &[PathBuf], extra: &[&str], file: &str| -> Result<Option<i32>> {
        let out = std::fs::File::create(dir.join(file))?;
        let st = Command::new(&report)
            .args(inputs)
            .args(report_args(plan))
            .args(extra)
            .stdout(out)
            .stderr(if file == "report.txt" { Stdio::inherit() } else { Stdio::null() })
            .status()
            .context("sb-report")?;
        Ok(st.code())
    };
    let by = ["--group-by", "tags.stage"];
    for (file, extra) in [("report.txt", vec![]), ("report.json", vec!["--format", "json"])] {
        let args: Vec<&str> = by.iter().copied().chain(extra).collect();
        match run_report(std::slice::from_ref(&results), &args, file)? {
            Some(0) => {}
            Some(1) => outcome.checks_failed = true,
            c => bail!("sb-report failed on {} (exit {c:?})", results.display()),
        }
    }
    let mut llmd = vec![(results.clone(), "benchmark_report.json".to_string(), None)];
    if n > 1 {
        for i in 0..n {
            llmd.push((dir.join(stage_results(i)), format!("benchmark_report-stage-{i}.json"), Some(i)));
        }
    }
    for (input, file, stage) in llmd {
        if std::fs::metadata(&input).map_or(true, |m| m.len() == 0) {
            continue;
        }
        if let Some(2) | None = run_report(std::slice::from_ref(&input), &["--format", "llmd"], &file)? {
            bail!("sb-report --format llmd failed on {}", input.display());
        }
        let path = dir.join(&file);
        let mut v: Value = serde_json::from_slice(&std::fs::read(&path)?)?;
        let load = &mut v["scenario"]["load"];
        load["native"]["config"] = doc.clone();
        load["standardized"]["source"] = Value::from(plan.source);
        if let Some(i) = stage {
            load["standardized"]["stage"] = Value::from(i as u64);
            let st = &plan.stages[i];
            if let Some(r) = st.rate_qps {
                load["standardized"]["rate_qps"] = Value::from(r);
            }
            if let Some(c) = st.concurrency {
                load["standardized"]["concurrency"] = Value::from(c);
            }
        }
        load["metadata"]["description"] =
            Value::from(format!("{} profile {profile} run by servebench (sb-profile)", plan.harness.name()));
        std::fs::write(&path, serde_json::to_string_pretty(&v)? + "\n")?;
    }
    // The text report on stdout, for the person who ran it.
    let text = std::fs::read_to_string(dir.join("report.txt")).unwrap_or_default();
    let stdout = std::io::stdout();
    let mut o = stdout.lock();
    let _ = o.write_all(text.as_bytes()).and_then(|_| o.flush());
    eprintln!("sb-profile: results in {}", dir.display());
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_quoted_only_when_needed() {
        assert_eq!(sh("--rate"), "--rate");
        assert_eq!(sh("poisson:2"), "poisson:2");
        assert_eq!(sh("a b"), "'a b'");
        assert_eq!(sh("it's"), "'it'\\''s'");
    }

    #[test]
    fn feeding_a_slice_and_a_cycle() {
        let lines: Vec<String> = (0..3).map(|i| format!("{{\"id\":\"r{i}\"}}")).collect();
        let mut out = Vec::new();
        feed(&lines, &Input::Slice { from: 1, count: 5 }, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "{\"id\":\"r1\"}\n{\"id\":\"r2\"}\n");
        // A reader that takes 5 lines then goes away.
        struct Five(Vec<u8>);
        impl Write for Five {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                if self.0.iter().filter(|&&c| c == b'\n').count() >= 5 {
                    return Err(std::io::ErrorKind::BrokenPipe.into());
                }
                self.0.extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut five = Five(Vec::new());
        feed(&lines, &Input::Cycle { from: 1 }, &mut five).unwrap();
        let text = String::from_utf8(five.0).unwrap();
        assert!(text.starts_with("{\"id\":\"r1\"}\n{\"id\":\"r2\"}\n{\"id\":\"r1.1\"}\n{\"id\":\"r2.1\"}\n"), "{text}");
    }
}
