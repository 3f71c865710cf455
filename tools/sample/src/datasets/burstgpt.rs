//! BurstGPT (github.com/HPMLL/BurstGPT, `data/BurstGPT_*.csv`): Azure OpenAI GPT-3.5/GPT-4
//! traffic of a university campus. CSV `Timestamp` (seconds from the first day's midnight),
//! `Model`, `Request tokens`, `Response tokens`, `Total tokens`, `Log Type`; the v2 files add
//! `Session ID` and `Elapsed time`. Rows with `Response tokens` 0 are failed requests: they
//! are left out and counted on stderr. No prefix information.

use super::{Dataset, LoadCtx, Task, Unit};
use crate::trace::{self, TraceRow};
use anyhow::{anyhow, bail, Result};

pub struct BurstGpt;

/// Reads a BurstGPT CSV (`.gz` too). `conversation`: only `Conversation log` rows, with their
/// `Session ID`. Returns the rows and the number of failed rows left out.
pub fn read(path: &std::path::Path, conversation: bool, model: Option<&str>) -> Result<(Vec<TraceRow>, usize)> {
    let bytes = crate::formats::read_maybe_gz(path)?;
    let name = path.display().to_string();
    let mut reader = csv::ReaderBuilder::new().has_headers(true).trim(csv::Trim::All).from_reader(&bytes[..]);
    let headers = reader.headers().map_err(|e| anyhow!("{name}:1: bad CSV header: {e}"))?.clone();
    let find = |want: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(want));
    let need = |want: &str| {
        find(want).ok_or_else(|| {
            anyhow!(
                "{name}:1: no column {want:?} (columns: {}; expected BurstGPT's Timestamp,Model,Request tokens,Response tokens,...)",
                headers.iter().collect::<Vec<_>>().join(", ")
            )
        })
    };
    let (ts, req, resp) = (need("Timestamp")?, need("Request tokens")?, need("Response tokens")?);
    let (log_type, model_col) = (find("Log Type"), find("Model"));
    let session_col = find("Session ID");
    if conversation && session_col.is_none() {
        bail!("{name}: no \"Session ID\" column (only BurstGPT's v2 files have sessions; use --task replay)");
    }
    let short = super::shorten_loc(&name);
    let mut rows = Vec::new();
    let mut failed = 0usize;
    for (i, rec) in reader.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| anyhow!("{name}:{line}: bad CSV: {e}"))?;
        let get = |c: usize| rec.get(c).unwrap_or("");
        if conversation && log_type.is_some_and(|c| !get(c).eq_ignore_ascii_case("Conversation log")) {
            continue;
        }
        if let (Some(want), Some(c)) = (model, model_col) {
            if !get(c).eq_ignore_ascii_case(want) {
                continue;
            }
        }
        let secs: f64 =
            get(ts).parse().map_err(|_| anyhow!("{name}:{line}: Timestamp {:?} is not seconds", get(ts)))?;
        let num = |c: usize, what: &str| -> Result<u32> {
            // Counts are integers, written as 906 or 906.0.
            let v = get(c);
            v.parse::<u32>()
                .ok()
                .or_else(|| v.parse::<f64>().ok().filter(|x| x.fract() == 0.0 && *x >= 0.0).map(|x| x as u32))
                .ok_or_else(|| anyhow!("{name}:{line}: {what} {v:?} is not a token count"))
        };
        let output = num(resp, "Response tokens")?;
        if output == 0 {
            failed += 1;
            continue;
        }
        rows.push(TraceRow {
            t_ms: secs * 1000.0,
            input_tokens: num(req, "Request tokens")?,
            output_tokens: output,
            hash_ids: Vec::new(),
            session: if conversation { session_col.map(|c| get(c).to_string()) } else { None },
            source: format!("{short}:{line}"),
        });
    }
    Ok((rows, failed))
}

impl Dataset for BurstGpt {
    fn name(&self) -> &'static str {
        "burstgpt"
    }
    fn hub_repo(&self) -> Option<&'static str> {
        None
    }
    fn about(&self) -> &'static str {
        "BurstGPT (HPMLL/BurstGPT data/BurstGPT_*.csv): GPT-3.5/GPT-4 arrival times and lengths; v2 files' Session IDs as sessions"
    }
    fn tasks(&self) -> &'static [Task] {
        &[
            Task {
                name: "replay",
                about: "every row (API and conversation logs) as one request: at_ms = Timestamp offset, prompt of Request tokens, max_tokens = Response tokens, ignore_eos",
                chat: false,
            },
            Task {
                name: "conversation",
                about: "Conversation log rows only, each Session ID a session (turns in arrival order, chat API): see docs/sample.md for what a turn's prompt holds",
                chat: true,
            },
        ]
    }
    fn flags(&self) -> &'static str {
        "--source FILE|DIR --config MODEL (ChatGPT or GPT-4; default both) --start --duration --speed --target-rate -n"
    }
    fn is_trace(&self) -> bool {
        true
    }
    fn load(&self, ctx: &LoadCtx) -> Result<Vec<Unit>> {
        let conversation = ctx.task == "conversation";
        let mut rows = Vec::new();
        let mut failed = 0;
        for f in ctx.files.find(&["BurstGPT*.csv", "**/BurstGPT*.csv", "**/BurstGPT*.csv.gz"])? {
            let (r, n) = read(&f, conversation, ctx.opts.config.as_deref())?;
            rows.extend(r);
            failed += n;
        }
        if failed > 0 {
            eprintln!("sb-sample: burstgpt: left out {failed} failed requests (Response tokens 0)");
        }
        if conversation {
            per_turn_messages(&mut rows);
        }
        trace::units(self.name(), rows, ctx)
    }
}

/// In a conversation, `Request tokens` of turn k is the whole context the model read: the
/// earlier turns, their replies and the new message. sb-load sends turn k with the session's
/// history (earlier messages and the replies the server gave, which are the trace's lengths under
/// ignore_eos), so the new message gets only the growth: `request_k - request_{k-1} -
/// response_{k-1}`. When the trace's context did not grow that much (the client cut its
/// history), the message keeps at least 1 token and the server sees more than the trace.
fn per_turn_messages(rows: &mut [TraceRow]) {
    let mut last: std::collections::HashMap<String, (u32, u32)> = std::collections::HashMap::new();
    for r in rows.iter_mut() {
        let Some(s) = &r.session else { continue };
        let full = r.input_tokens;
        if let Some(&(req, resp)) = last.get(s) {
            r.input_tokens = full.saturating_sub(req + resp).max(1);
        }
        last.insert(s.clone(), (full, r.output_tokens));
    }
}
