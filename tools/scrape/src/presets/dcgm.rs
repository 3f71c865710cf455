//! NVIDIA DCGM exporter metrics, as listed by the vLLM I/O study (plus DRAM activity).
//!
//! The exporter labels a GPU with the workload's `namespace`/`pod`/`container`. Scraped by a
//! ServiceMonitor with `honorLabels: false` (the Helm chart's default), Prometheus renames those
//! to `exported_namespace`/`exported_pod`/`exported_container` and sets the plain ones to the
//! exporter's own pod; with `honorLabels: true` they stay plain. One query asks for both with
//! `or`, so the preset works on either kind of cluster.

use super::{eq, re, MetricDef, MetricKind, Selector};

const fn m(name: &'static str, seed: bool) -> MetricDef {
    MetricDef { name, kind: MetricKind::Gauge, aliases: &[], extra: "", seed }
}

pub const GPU: &[MetricDef] = &[
    m("DCGM_FI_DEV_FB_USED", true),
    m("DCGM_FI_DEV_FB_FREE", true),
    m("DCGM_FI_DEV_MEM_COPY_UTIL", true),
    m("DCGM_FI_PROF_GR_ENGINE_ACTIVE", true),
    m("DCGM_FI_DEV_SM_CLOCK", true),
    m("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", true),
    m("DCGM_FI_PROF_DRAM_ACTIVE", false),
    m("DCGM_FI_DEV_GPU_UTIL", false),
    m("DCGM_FI_DEV_POWER_USAGE", false),
    // Millijoules since boot: energy over the window is the difference of two samples.
    MetricDef {
        name: "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
        kind: MetricKind::Counter,
        aliases: &[],
        extra: "",
        seed: false,
    },
];

/// Bytes per second since DCGM exporter 4.0 (a gauge; older CSVs typed it counter).
pub const PCIE: &[MetricDef] = &[m("DCGM_FI_PROF_PCIE_RX_BYTES", true), m("DCGM_FI_PROF_PCIE_TX_BYTES", true)];

pub fn query(m: &MetricDef, sel: &Selector) -> String {
    let matchers = |prefix: &str| {
        let mut out = Vec::new();
        if let Some(ns) = &sel.namespace {
            out.push(eq(&format!("{prefix}namespace"), ns));
        }
        if let Some(pod) = &sel.pod {
            out.push(re(&format!("{prefix}pod"), pod));
        }
        if let Some(c) = &sel.container {
            out.push(eq(&format!("{prefix}container"), c));
        }
        out.join(",")
    };
    let exported = matchers("exported_");
    if exported.is_empty() {
        return m.name.to_string();
    }
    format!("{name}{{{exported}}} or {name}{{{plain}}}", name = m.name, plain = matchers(""))
}
