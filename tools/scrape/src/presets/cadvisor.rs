//! cAdvisor container metrics (kubelet `/metrics/cadvisor`), as listed by the vLLM I/O study.
//!
//! Labels from the kubelet: `namespace`, `pod`, `container`. One series per cgroup: the pod
//! cgroup and the pause container carry `container=""`/`"POD"`, so per-container metrics exclude
//! them when no `--container` is given (otherwise every value would be counted twice).
//! Network and block-I/O series are selected by pod only: containers share the pod's network
//! namespace, and the study selects block I/O by pod.

use super::{eq, re, MetricDef, MetricKind, Selector};

const fn m(name: &'static str, kind: MetricKind) -> MetricDef {
    MetricDef { name, kind, aliases: &[], extra: "", seed: true }
}

use MetricKind::{Counter, Gauge};

pub const FS: &[MetricDef] = &[
    m("container_fs_reads_bytes_total", Counter),
    m("container_fs_writes_bytes_total", Counter),
    m("container_fs_reads_total", Counter),
    m("container_fs_writes_total", Counter),
    // Dropped by kube-prometheus-stack's default cAdvisorMetricRelabelings: expect no series there.
    m("container_file_descriptors", Gauge),
];

pub const DISK: &[MetricDef] = &[
    // cgroup v1 also reports Sync/Async/Discard/Total, which would double count: Read and Write only.
    MetricDef {
        name: "container_blkio_device_usage_total",
        kind: Counter,
        aliases: &[],
        extra: r#"operation=~"Read|Write""#,
        seed: true,
    },
];

pub const MEMORY: &[MetricDef] = &[
    m("container_memory_usage_bytes", Gauge),
    m("container_memory_cache", Gauge),
    // mapped_file and swap are dropped by kube-prometheus-stack's default relabelings.
    m("container_memory_mapped_file", Gauge),
    m("container_memory_rss", Gauge),
    m("container_memory_working_set_bytes", Gauge),
    m("container_memory_swap", Gauge),
    m("container_memory_failcnt", Counter),
    m("container_memory_max_usage_bytes", Gauge),
    m("container_oom_events_total", Counter),
    m("container_memory_total_active_file_bytes", Gauge),
];

pub const NETWORK: &[MetricDef] = &[
    m("container_network_receive_bytes_total", Counter),
    m("container_network_transmit_bytes_total", Counter),
    m("container_network_receive_packets_total", Counter),
    m("container_network_transmit_packets_total", Counter),
];

pub const CPU: &[MetricDef] = &[
    m("container_processes", Gauge),
    m("container_sockets", Gauge),
    m("container_threads", Gauge),
    MetricDef { name: "container_cpu_usage_seconds_total", kind: Counter, aliases: &[], extra: "", seed: false },
];

pub fn container_matchers(sel: &Selector) -> Vec<String> {
    let mut out = pod_matchers(sel);
    match &sel.container {
        Some(c) => out.push(eq("container", c)),
        None => {
            out.push(r#"container!="""#.to_string());
            out.push(r#"container!="POD""#.to_string());
        }
    }
    out
}

pub fn pod_matchers(sel: &Selector) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(ns) = &sel.namespace {
        out.push(eq("namespace", ns));
    }
    if let Some(pod) = &sel.pod {
        out.push(re("pod", pod));
    }
    out
}
