//! The servebench stream contract.
//!
//! Every tool reads and writes NDJSON: one JSON object per line, each with a `kind` and a schema
//! version `v`. The record types live in [`record`] (the summary's in [`summary`]), the line reader and flushing writer in
//! [`ndjson`], and the one clock every tool stamps time with in [`clock`]. `docs/records.md` is the
//! human-readable version of this crate; keep them in step.

pub mod clock;
pub mod ndjson;
pub mod record;
pub mod summary;

pub use clock::Clock;
pub use ndjson::{open_inputs, Input, ReadError, RecordReader, RecordWriter};
pub use record::*;
pub use summary::Summary;
