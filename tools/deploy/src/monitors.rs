//! Prometheus-operator `PodMonitor` / `ServiceMonitor` (`monitoring.coreos.com/v1`): custom
//! resources, so not in k8s-openapi. Only the fields we render; names and nesting follow the
//! operator's CRD (`podMetricsEndpoints[].port/path/interval`, `endpoints[]`, `selector`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::{Deserialize, Serialize};

pub const API_VERSION: &str = "monitoring.coreos.com/v1";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Endpoint {
    /// Name of a container port (PodMonitor) or Service port (ServiceMonitor).
    pub port: String,
    pub path: String,
    pub interval: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodMonitorSpec {
    pub selector: LabelSelector,
    pub pod_metrics_endpoints: Vec<Endpoint>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodMonitor {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: PodMonitorSpec,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceMonitorSpec {
    pub selector: LabelSelector,
    pub endpoints: Vec<Endpoint>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceMonitor {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: ServiceMonitorSpec,
}

pub fn pod_monitor(metadata: ObjectMeta, selector: LabelSelector, endpoint: Endpoint) -> PodMonitor {
    PodMonitor {
        api_version: API_VERSION.into(),
        kind: "PodMonitor".into(),
        metadata,
        spec: PodMonitorSpec { selector, pod_metrics_endpoints: vec![endpoint] },
    }
}

pub fn service_monitor(metadata: ObjectMeta, selector: LabelSelector, endpoint: Endpoint) -> ServiceMonitor {
    ServiceMonitor {
        api_version: API_VERSION.into(),
        kind: "ServiceMonitor".into(),
        metadata,
        spec: ServiceMonitorSpec { selector, endpoints: vec![endpoint] },
    }
}
