//! The small command-line chores every servebench tool shares, written once (like ripgrep's
//! `crates/cli`): one duration grammar, `--header` parsing that never echoes a value, text from
//! elsewhere made safe to print, and the exit-status conventions. Nothing here is about the record stream (that is
//! `sb-records`).

pub mod civil;
pub mod duration;
pub mod exit;
pub mod hash;
pub mod header;
pub mod text;
pub mod tokenizer_file;

pub use duration::{parse_duration, parse_positive_duration};
pub use hash::{fnv1a, fnv1a_seeded};
pub use header::parse_header;
pub use text::{printable, redact_url};
