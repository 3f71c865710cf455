//! Output formats of a report: text (vLLM's block), the summary record (JSON), vLLM's result
//! JSON, CSV, Markdown and llm-d's benchmark report.

pub mod html;
pub mod llmd;
pub mod table;
pub mod text;
pub mod vllm_json;
