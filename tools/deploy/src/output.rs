//! What each command writes: the YAML stream (`render`), the NDJSON plan (`plan`), the fit
//! arithmetic (`explain`) and the preset tables (`presets`).

use crate::fit::gib;
use crate::flags::FlagTable;
use crate::manifests::{self, Doc, PORT};
use crate::options::DeployOptions;
use crate::plan::Plan;
use crate::{gpus, loadgen, models};
use anyhow::Result;
use sb_records::{PlanPoint, RecordWriter};
use serde_json::{Map, Value};
use std::io::Write;

/// Every document of the run, in apply order: PVC, then per point Deployment, Service, monitor, Job.
pub fn documents(plan: &Plan, opts: &DeployOptions) -> Result<Vec<Doc>> {
    let mut docs = Vec::new();
    if let Some(pvc) = manifests::pvc(opts)? {
        docs.push(pvc);
    }
    let run_id = opts.run_id.clone().unwrap_or_else(loadgen::default_run_id);
    for point in &plan.points {
        docs.extend(manifests::server(plan, point, opts)?);
        if opts.loadgen {
            docs.push(loadgen::job(plan, point, opts, &run_id)?);
        }
    }
    Ok(docs)
}

/// Multi-document YAML: `---` before each document, an optional `# comment` line first.
pub fn write_yaml(out: &mut impl Write, docs: &[Doc]) -> std::io::Result<()> {
    for d in docs {
        out.write_all(b"---\n")?;
        if let Some(c) = &d.comment {
            writeln!(out, "# {c}")?;
        }
        out.write_all(d.yaml.as_bytes())?;
        if !d.yaml.ends_with('\n') {
            out.write_all(b"\n")?;
        }
    }
    out.flush()
}

/// One `plan` record per point: what `pipelines/` applies and `sb-report --group-by` joins on.
pub fn plan_records(plan: &Plan, opts: &DeployOptions) -> Vec<PlanPoint> {
    plan.points
        .iter()
        .map(|p| PlanPoint {
            point: p.name.clone(),
            params: p.swept.clone(),
            model: Some(plan.model_id.clone()),
            served_model_name: Some(plan.served_name.clone()),
            vllm_version: Some(plan.version.tag.clone()),
            namespace: Some(opts.namespace.clone()),
            name: Some(p.object_name.clone()),
            url: Some(format!("http://{}.{}.svc:{PORT}", p.object_name, opts.namespace)),
            gpu: Some(plan.gpu.key.clone()),
            gpus: Some(p.gpus),
            engine_args: p.engine_args.clone(),
            fit: Some(p.fit.as_ref().map(|f| f.to_json()).unwrap_or(Value::Null)),
            extra: Map::new(),
        })
        .collect()
}

pub fn write_plan(out: impl Write, plan: &Plan, opts: &DeployOptions) -> std::io::Result<()> {
    let mut w = RecordWriter::new(out);
    for r in plan_records(plan, opts) {
        w.write(&r)?;
    }
    Ok(())
}

pub fn write_explain(out: &mut impl Write, plan: &Plan) -> std::io::Result<()> {
    for (i, p) in plan.points.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        let title =
            if plan.swept { format!("{} {}", p.name, Value::Object(p.swept.clone())) } else { p.object_name.clone() };
        writeln!(out, "# {title} (vLLM {})", plan.version)?;
        match (&p.fit, &plan.model) {
            (Some(f), Some(m)) => {
                for (k, v) in f.explain(m, &plan.gpu) {
                    writeln!(out, "{k:<14} {v}")?;
                }
                for w in &f.warnings {
                    writeln!(out, "{:<14} {w}", "warning")?;
                }
            }
            _ => writeln!(out, "fit check skipped (--no-fit-check)")?,
        }
    }
    out.flush()
}

/// The flag table of a version, or the flags matching a pattern, for people.
pub fn write_flags(out: &mut impl Write, table: &FlagTable, pattern: &str) -> std::io::Result<usize> {
    let flags = table.matching(pattern);
    for f in &flags {
        writeln!(out, "--{}", f.name)?;
        let aliases: Vec<&str> = f.opts.iter().skip(1).map(String::as_str).collect();
        if !aliases.is_empty() {
            writeln!(out, "    aliases  {}", aliases.join(", "))?;
        }
        writeln!(out, "    value    {}", f.ty.describe())?;
        if let Some(c) = &f.choices {
            writeln!(out, "    choices  {}", c.join(", "))?;
        }
        if let Some(d) = f.default.as_deref().filter(|d| *d != "None") {
            writeln!(out, "    default  {d}")?;
        }
    }
    let removed = table.removed_here(pattern);
    for (name, since, instead) in &removed {
        writeln!(out, "--{name}\n    removed  in vLLM {since}: {instead}")?;
    }
    out.flush()?;
    Ok(flags.len() + removed.len())
}

pub fn write_presets(out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<40} {:>6} {:>5} {:>4} {:>9} {:>9} {:>10}  notes",
        "model", "layers", "heads", "kv", "kv/token", "max len", "weights"
    )?;
    for m in models::presets() {
        let kv = 2 * m.attention_layers as u64 * m.kv_heads as u64 * m.head_dim * 2;
        let weights = m.weights_bytes.map(|w| w as f64).unwrap_or(m.params as f64 * 2.0);
        let mut notes = Vec::new();
        if let Some(mb) = &m.mamba {
            notes.push(format!("hybrid: {} attention + {} Mamba2 layers", m.attention_layers, mb.layers));
        }
        if let Some(q) = &m.quant_method {
            notes.push(q.clone());
        }
        if m.gated {
            notes.push("gated (HF token)".into());
        }
        let line = format!(
            "{:<40} {:>6} {:>5} {:>4} {:>5} KiB {:>9} {:>10}  {}",
            m.id,
            m.layers,
            m.heads,
            m.kv_heads,
            kv / 1024,
            m.max_model_len,
            gib(weights),
            notes.join("; ")
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    writeln!(out)?;
    writeln!(out, "{:<16} {:<40} {:>12}  source", "gpu", "name", "memory")?;
    for g in gpus::table() {
        writeln!(out, "{:<16} {:<40} {:>12}  {}", g.key, g.display, gib(g.total_bytes as f64), g.source)?;
    }
    out.flush()
}
