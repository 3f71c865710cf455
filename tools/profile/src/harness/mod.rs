//! One file per harness of llm-d-benchmark: how its profile keys map to sb-sample, sb-load and
//! sb-report. Adding a harness means adding a file and a line in [`plan`].

pub mod guidellm;
pub mod inference_perf;
pub mod vllm_bench;

use crate::plan::Plan;
use crate::profile::{Harness, Keys};
use anyhow::Result;
use serde_json::Value;

/// The plan of a resolved profile; `pool`: prompts that time-bounded closed loops go round.
pub fn plan(harness: Harness, doc: &Value, pool: usize) -> Result<Plan> {
    let keys = Keys::new(doc);
    match harness {
        Harness::InferencePerf => inference_perf::plan(doc, keys),
        Harness::VllmBenchmark => vllm_bench::plan(doc, keys),
        Harness::Guidellm => guidellm::plan(doc, keys, pool),
    }
}
