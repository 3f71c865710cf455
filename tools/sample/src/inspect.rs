//! `sb-sample inspect`: a few requests in full and the length distribution of a sample, for a
//! person deciding on flags before a run.

use crate::run::{prepare, RunArgs};
use crate::sample;
use anyhow::Result;
use std::io::Write;

pub fn run(mut args: RunArgs, rows: usize) -> Result<()> {
    // A sample big enough for percentiles, small enough to be quick on long documents.
    args.draw.n = Some(args.draw.n.unwrap_or(200));
    args.opts.n = args.draw.n;
    let p = prepare(args)?;
    let want = p.sample.draw.n.unwrap_or(200).min(if p.sample.draw.replace { usize::MAX } else { p.units.len() });
    let opts = sample::SampleOpts { draw: sample::Draw { n: Some(want), ..p.sample.draw.clone() }, ..p.sample.clone() };
    let mut requests = Vec::new();
    let outcome = sample::run(&p.units, &p.tok, &opts, |r| {
        requests.push(r.clone());
        Ok(())
    })?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}: {} rows, task {}, api {}, tokenizer {}{}",
        p.dataset.name(),
        p.units.len(),
        opts.task,
        opts.api.as_str(),
        p.tok.name,
        if p.tok.is_fast() { "" } else { " (counted with encode: no fast path for this tokenizer)" }
    )?;
    if let Some(h) = crate::trace::ideal_of_units(&p.units) {
        writeln!(
            out,
            "ideal prefix-cache hit rate of the hash_ids over {} requests ({}-token blocks, an infinite cache): \
             {:.4} of blocks ({} of {}), {:.4} of prompt tokens ({} of {}); compare with the server's \
             prefix_cache_hits / prefix_cache_queries",
            h.requests,
            h.block_tokens,
            h.block_rate(),
            h.block_hits,
            h.blocks,
            h.token_rate(),
            h.token_hits,
            h.tokens
        )?;
    }
    for r in requests.iter().take(rows) {
        writeln!(out, "\n--- {} ({})", r.id, r.source.as_deref().unwrap_or("-"))?;
        let text = match (&r.prompt, &r.messages) {
            (Some(p), _) => p.clone(),
            (None, Some(m)) => m.iter().map(|m| format!("[{}] {}", m.role, m.content)).collect::<Vec<_>>().join("\n"),
            _ => String::new(),
        };
        writeln!(out, "{}", elide(&text, 600))?;
        writeln!(
            out,
            "    prompt_tokens={} max_tokens={} prefix={} session={} expected={}",
            r.prompt_tokens.map_or("-".into(), |v| v.to_string()),
            r.max_tokens.map_or("-".into(), |v| v.to_string()),
            r.prefix.as_deref().unwrap_or("-"),
            r.session.as_deref().unwrap_or("-"),
            r.expected.as_deref().map_or("-".into(), |e| format!("{:?}", elide(e, 80)))
        )?;
    }
    let input: Vec<u32> = requests.iter().filter_map(|r| r.prompt_tokens).collect();
    let output: Vec<u32> = requests.iter().filter_map(|r| r.max_tokens).collect();
    writeln!(out, "\nlengths over {} requests ({} filtered out):", requests.len(), outcome.filtered)?;
    writeln!(out, "  {:<14} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}", "tokens", "min", "p50", "p90", "p99", "max", "mean")?;
    for (name, xs) in [("prompt", input), ("max_tokens", output)] {
        writeln!(out, "  {}", stats_row(name, xs))?;
    }
    Ok(())
}

fn elide(s: &str, max_chars: usize) -> String {
    let n = s.chars().count();
    if n <= max_chars {
        return s.to_string();
    }
    let head: String = s.chars().take(max_chars / 2).collect();
    let tail: String = s.chars().skip(n - max_chars / 2).collect();
    format!("{head} [... {} chars ...] {tail}", n - max_chars)
}

/// Nearest-rank percentiles.
fn stats_row(name: &str, mut xs: Vec<u32>) -> String {
    if xs.is_empty() {
        return format!("{name:<14} {:>8}", "-");
    }
    xs.sort_unstable();
    let pct = |p: f64| xs[((p / 100.0 * xs.len() as f64).ceil() as usize).clamp(1, xs.len()) - 1];
    let mean = xs.iter().map(|&x| x as f64).sum::<f64>() / xs.len() as f64;
    format!(
        "{name:<14} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8.1}",
        xs[0],
        pct(50.0),
        pct(90.0),
        pct(99.0),
        xs[xs.len() - 1],
        mean
    )
}
