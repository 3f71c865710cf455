//! Output formats of a report: text (vLLM's block), the summary record (JSON), vLLM's result
//! JSON, CSV and Markdown.

pub mod table;
pub mod text;
pub mod vllm_json;
