//! Metric presets for Prometheus mode: named groups of PromQL queries with their label selectors
//! filled from `--namespace/--pod/--container/--model`.
//!
//! The groups follow the vLLM I/O study's list of 39 metrics (file system, disks, memory,
//! network, CPU, GPU, PCIe, vLLM; the 39th, start-up latency, comes from the logs mode). Adding a
//! metric means adding one line to the table of its source (`cadvisor.rs`, `dcgm.rs`, `vllm.rs`).

mod cadvisor;
mod dcgm;
mod vllm;

use anyhow::{bail, Result};

/// How a metric is exposed, which decides the sample `type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

impl MetricKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// One metric of a preset.
#[derive(Clone, Copy, Debug)]
pub struct MetricDef {
    /// The current wire name (for a histogram, the family name without `_bucket/_sum/_count`).
    pub name: &'static str,
    pub kind: MetricKind,
    /// Older wire names of the same metric (vLLM renames), queried with `or` so that the current
    /// name wins where a server exposes both.
    pub aliases: &'static [&'static str],
    /// Extra fixed matchers (`operation=~"Read|Write"`).
    pub extra: &'static str,
    /// In the I/O study's list of metrics.
    pub seed: bool,
}

/// Which label selector a metric takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// cAdvisor per-container series: namespace, pod, container.
    Container,
    /// cAdvisor series that only the pod carries (network, block I/O): namespace, pod.
    Pod,
    /// DCGM exporter: the workload's labels as `exported_*` or plain.
    Gpu,
    /// vLLM's own metrics: model_name.
    Vllm,
}

/// A named group of metrics.
pub struct Group {
    pub name: &'static str,
    pub about: &'static str,
    pub scope: Scope,
    pub metrics: &'static [MetricDef],
}

/// Every group, in the order the study lists them.
pub const GROUPS: &[Group] = &[
    group("fs", "container file-system I/O (cAdvisor)", Scope::Container, cadvisor::FS),
    group("disk", "block-device I/O by operation (cAdvisor)", Scope::Pod, cadvisor::DISK),
    group("memory", "container memory (cAdvisor)", Scope::Container, cadvisor::MEMORY),
    group("network", "pod network traffic (cAdvisor)", Scope::Pod, cadvisor::NETWORK),
    group("cpu", "processes, sockets, threads, CPU time (cAdvisor)", Scope::Container, cadvisor::CPU),
    group("gpu", "GPU memory, utilisation, clocks, power (DCGM exporter)", Scope::Gpu, dcgm::GPU),
    group("pcie", "PCIe traffic (DCGM exporter)", Scope::Gpu, dcgm::PCIE),
    group("vllm", "vLLM server metrics (version-aware names)", Scope::Vllm, vllm::VLLM),
];

const fn group(name: &'static str, about: &'static str, scope: Scope, metrics: &'static [MetricDef]) -> Group {
    Group { name, about, scope, metrics }
}

/// Preset names that stand for several groups.
pub const BUNDLES: &[(&str, &[&str], &str)] = &[
    (
        "io",
        &["fs", "disk", "memory", "network", "cpu", "gpu", "pcie", "vllm"],
        "everything the vLLM I/O study collects",
    ),
    ("container", &["fs", "disk", "memory", "network", "cpu"], "all cAdvisor groups"),
    ("dcgm", &["gpu", "pcie"], "all DCGM groups"),
];

/// Label values to select the workload with.
#[derive(Clone, Debug, Default)]
pub struct Selector {
    pub namespace: Option<String>,
    /// A regular expression (PromQL `=~`), so that `vllm-0` and `vllm-.*` both work.
    pub pod: Option<String>,
    pub container: Option<String>,
    pub model: Option<String>,
}

/// One PromQL query to run, with what is known about the series it returns.
#[derive(Clone, Debug)]
pub struct Query {
    pub promql: String,
    /// Sample type by series name, for the names this query can return.
    pub types: Vec<(String, MetricKind)>,
    /// Metric name to use when the result has no `__name__` (a `--query NAME=EXPR`).
    pub name: Option<String>,
}

impl Query {
    pub fn type_of(&self, series_name: &str) -> Option<MetricKind> {
        self.types.iter().find(|(n, _)| n == series_name).map(|(_, k)| *k)
    }
}

/// Expands preset names (comma-separated lists allowed) into queries, without duplicates.
pub fn expand(names: &[String], sel: &Selector) -> Result<Vec<Query>> {
    let mut groups: Vec<&Group> = Vec::new();
    for name in names.iter().flat_map(|n| n.split(',')).map(str::trim).filter(|n| !n.is_empty()) {
        let members: Vec<&str> = match BUNDLES.iter().find(|(b, _, _)| *b == name) {
            Some((_, members, _)) => members.to_vec(),
            None => vec![name],
        };
        for m in members {
            let Some(g) = GROUPS.iter().find(|g| g.name == m) else {
                bail!("unknown preset {m:?} (known: {}); --list-presets shows what each collects", known_names());
            };
            if !groups.iter().any(|x| x.name == g.name) {
                groups.push(g);
            }
        }
    }
    Ok(groups.iter().flat_map(|g| g.metrics.iter().map(move |m| query_for(g, m, sel))).collect())
}

fn known_names() -> String {
    BUNDLES.iter().map(|(b, _, _)| *b).chain(GROUPS.iter().map(|g| g.name)).collect::<Vec<_>>().join(", ")
}

/// A user's `--query`: `NAME=EXPR` names the series when the expression drops `__name__`.
pub fn user_query(text: &str) -> Query {
    let ident_end = text.bytes().position(|b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b':')).unwrap_or(0);
    let named = ident_end > 0
        && !text.as_bytes()[0].is_ascii_digit()
        && text.as_bytes().get(ident_end) == Some(&b'=')
        && !matches!(text.as_bytes().get(ident_end + 1), Some(b'=' | b'~'));
    let (name, promql) =
        if named { (Some(text[..ident_end].to_string()), &text[ident_end + 1..]) } else { (None, text) };
    Query { promql: promql.trim().to_string(), types: Vec::new(), name }
}

fn query_for(group: &Group, m: &MetricDef, sel: &Selector) -> Query {
    let names: Vec<&str> = std::iter::once(m.name).chain(m.aliases.iter().copied()).collect();
    let mut types = Vec::new();
    for n in &names {
        if m.kind == MetricKind::Histogram {
            for suffix in ["_bucket", "_sum", "_count"] {
                types.push((format!("{n}{suffix}"), MetricKind::Histogram));
            }
        } else {
            types.push((n.to_string(), m.kind));
        }
    }
    let promql = match group.scope {
        Scope::Gpu => dcgm::query(m, sel),
        _ => {
            let matchers = match group.scope {
                Scope::Container => cadvisor::container_matchers(sel),
                Scope::Pod => cadvisor::pod_matchers(sel),
                _ => vllm::matchers(sel),
            };
            names.iter().map(|n| series(n, m.kind, &join(&matchers, m.extra))).collect::<Vec<_>>().join(" or ")
        }
    };
    Query { promql, types, name: None }
}

/// A selector for a metric; a histogram selects its `_bucket`, `_sum` and `_count` series at once.
fn series(name: &str, kind: MetricKind, matchers: &str) -> String {
    if kind == MetricKind::Histogram {
        let mut all = format!("__name__=~\"{}_(bucket|sum|count)\"", regex::escape(name).replace('\\', "\\\\"));
        if !matchers.is_empty() {
            all.push(',');
            all.push_str(matchers);
        }
        format!("{{{all}}}")
    } else if matchers.is_empty() {
        name.to_string()
    } else {
        format!("{name}{{{matchers}}}")
    }
}

fn join(matchers: &[String], extra: &str) -> String {
    let mut all: Vec<&str> = matchers.iter().map(String::as_str).collect();
    if !extra.is_empty() {
        all.push(extra);
    }
    all.join(",")
}

/// `label="value"` with the value escaped for a PromQL string.
fn eq(label: &str, value: &str) -> String {
    format!("{label}=\"{}\"", promql_escape(value))
}

fn re(label: &str, value: &str) -> String {
    format!("{label}=~\"{}\"", promql_escape(value))
}

fn promql_escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"")
}

/// `--list-presets`: every group and bundle with its metrics.
pub fn describe() -> String {
    let mut out = String::new();
    for (name, members, about) in BUNDLES {
        out += &format!("{name:<10} {about}: {}\n", members.join(", "));
    }
    out.push('\n');
    for g in GROUPS {
        out += &format!("{:<10} {}\n", g.name, g.about);
        for m in g.metrics {
            let mut line = format!("    {} ({})", m.name, m.kind.as_str());
            if !m.aliases.is_empty() {
                line += &format!(", or older {}", m.aliases.join(", "));
            }
            if !m.extra.is_empty() {
                line += &format!(" {{{}}}", m.extra);
            }
            if !m.seed {
                line += "  [beyond the study's list]";
            }
            out += &line;
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel() -> Selector {
        Selector {
            namespace: Some("llm-servings".into()),
            pod: Some("facebook-opt.*".into()),
            container: Some("vllm-container".into()),
            model: Some("facebook/opt-125m".into()),
        }
    }

    #[test]
    fn io_covers_the_studys_38_prometheus_metrics() {
        // The study lists 39 metrics: 38 from Prometheus (blkio Read and Write counted twice,
        // here one query) and start-up latency from the logs.
        let seed: usize = GROUPS
            .iter()
            .flat_map(|g| g.metrics)
            .filter(|m| m.seed)
            .map(|m| if m.extra.contains("Read|Write") { 2 } else { 1 })
            .sum();
        assert_eq!(seed, 38);
        let q = expand(&["io".into()], &sel()).unwrap();
        assert_eq!(q.len(), GROUPS.iter().map(|g| g.metrics.len()).sum::<usize>());
    }

    #[test]
    fn selectors_per_scope() {
        let q = expand(&["fs,network".into()], &sel()).unwrap();
        assert_eq!(
            q[0].promql,
            r#"container_fs_reads_bytes_total{namespace="llm-servings",pod=~"facebook-opt.*",container="vllm-container"}"#
        );
        let net = q.iter().find(|q| q.promql.starts_with("container_network_receive_bytes_total")).unwrap();
        assert_eq!(
            net.promql,
            r#"container_network_receive_bytes_total{namespace="llm-servings",pod=~"facebook-opt.*"}"#
        );
        let no_sel = expand(&["memory".into()], &Selector::default()).unwrap();
        assert_eq!(no_sel[0].promql, r#"container_memory_usage_bytes{container!="",container!="POD"}"#);
    }

    #[test]
    fn dcgm_queries_take_exported_and_plain_labels() {
        let q = expand(&["gpu".into()], &sel()).unwrap();
        assert_eq!(
            q[0].promql,
            r#"DCGM_FI_DEV_FB_USED{exported_namespace="llm-servings",exported_pod=~"facebook-opt.*",exported_container="vllm-container"} or DCGM_FI_DEV_FB_USED{namespace="llm-servings",pod=~"facebook-opt.*",container="vllm-container"}"#
        );
        let bare = expand(&["gpu".into()], &Selector::default()).unwrap();
        assert_eq!(bare[0].promql, "DCGM_FI_DEV_FB_USED");
    }

    #[test]
    fn vllm_queries_are_version_aware() {
        let q = expand(&["vllm".into()], &sel()).unwrap();
        let kv = q.iter().find(|q| q.promql.contains("kv_cache_usage_perc")).unwrap();
        assert_eq!(
            kv.promql,
            r#"vllm:kv_cache_usage_perc{model_name="facebook/opt-125m"} or vllm:gpu_cache_usage_perc{model_name="facebook/opt-125m"}"#
        );
        assert_eq!(kv.type_of("vllm:gpu_cache_usage_perc"), Some(MetricKind::Gauge));
        let ttft = q.iter().find(|q| q.promql.contains("time_to_first_token")).unwrap();
        assert_eq!(
            ttft.promql,
            r#"{__name__=~"vllm:time_to_first_token_seconds_(bucket|sum|count)",model_name="facebook/opt-125m"}"#
        );
        assert_eq!(ttft.type_of("vllm:time_to_first_token_seconds_bucket"), Some(MetricKind::Histogram));
        let itl = q.iter().find(|q| q.promql.contains("inter_token_latency")).unwrap();
        assert!(
            itl.promql.contains(" or {__name__=~\"vllm:time_per_output_token_seconds_(bucket|sum|count)\""),
            "{}",
            itl.promql
        );
    }

    #[test]
    fn values_are_escaped_and_unknown_presets_named() {
        let s = Selector { model: Some(r#"a"b\c"#.into()), ..Default::default() };
        let q = expand(&["vllm".into()], &s).unwrap();
        assert!(q[0].promql.contains(r#"model_name="a\"b\\c""#), "{}", q[0].promql);
        let err = expand(&["gpu,bogus".into()], &s).unwrap_err().to_string();
        assert!(err.contains("\"bogus\"") && err.contains("io,"), "{err}");
    }

    #[test]
    fn user_queries_with_and_without_a_name() {
        let q = user_query("tps=sum(rate(vllm:generation_tokens_total[1m]))");
        assert_eq!(
            (q.name.as_deref(), q.promql.as_str()),
            (Some("tps"), "sum(rate(vllm:generation_tokens_total[1m]))")
        );
        for plain in ["up", "up == 1", "foo{a=\"b\"}", "x=~y", "sum(up)"] {
            let q = user_query(plain);
            assert_eq!((q.name, q.promql.as_str()), (None, plain));
        }
    }
}
