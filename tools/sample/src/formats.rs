//! Reading dataset files into rows, whatever format the Hub repo uses: parquet (the native and
//! auto-converted Hub format), a JSON array or object, JSON Lines, CSV, any of them gzipped, and
//! members of a zip archive (LongBench's `data.zip`).
//!
//! A row is a `serde_json::Value` plus its location (`file:line` or `file#row`), so that every
//! dataset parses rows with serde and every error names the row it is about.

use anyhow::{anyhow, bail, Context, Result};
use flate2::read::GzDecoder;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::schema::types::Type as ParquetType;
use serde::Deserialize;
use serde_json::Value;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

/// One row of a dataset file and where it came from.
#[derive(Debug, Clone)]
pub struct Row {
    /// `path:line` (text formats) or `path#index` (parquet, JSON arrays; 0-based).
    pub loc: String,
    pub value: Value,
}

/// The whole file, gunzipped when its name ends in `.gz`.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let mut bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::with_capacity(bytes.len() * 4);
        GzDecoder::new(&bytes[..]).read_to_end(&mut out).with_context(|| format!("{}: not gzip", path.display()))?;
        bytes = out;
    }
    Ok(bytes)
}

/// The format of a file, from its name (`.gz` looked through).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Parquet,
    Json,
    Jsonl,
    Csv,
    Text,
}

pub fn format_of(name: &str) -> Option<Format> {
    let name = name.strip_suffix(".gz").unwrap_or(name).to_ascii_lowercase();
    let ext = name.rsplit('.').next()?;
    Some(match ext {
        "parquet" => Format::Parquet,
        "json" => Format::Json,
        "jsonl" | "ndjson" => Format::Jsonl,
        "csv" => Format::Csv,
        "txt" => Format::Text,
        _ => return None,
    })
}

/// Reads every row of a file. `columns` (parquet only) projects the top-level columns a dataset
/// needs, which both skips big columns it does not use (Natural Questions' HTML) and checks that
/// the columns exist with one clear error.
pub fn read_rows(path: &Path, columns: &[&str]) -> Result<Vec<Row>> {
    let name = path.display().to_string();
    match format_of(&name) {
        Some(Format::Parquet) => read_parquet(path, columns),
        Some(fmt) => {
            let bytes = read_maybe_gz(path)?;
            rows_from_bytes(&name, fmt, &bytes)
        }
        None => bail!("{name}: unknown file format (expected .parquet, .json, .jsonl, .csv or .txt, optionally .gz)"),
    }
}

/// Calls `f` on every row of a file without building the whole file as one tree: a JSON array
/// is parsed one element at a time (ShareGPT's file is 673 MB; as one `Value` tree it would take
/// several GB), JSON Lines one line at a time. Other formats are read whole.
pub fn for_each_row(path: &Path, columns: &[&str], mut f: impl FnMut(Row) -> Result<()>) -> Result<()> {
    let name = path.display().to_string();
    match format_of(&name) {
        // The bytes in memory, parsed element by element: serde_json reads a slice several times
        // faster than a reader, and only the file's bytes, not a tree of it, are held at once.
        Some(Format::Json) => stream_json(&name, &read_maybe_gz(path)?, f),
        Some(Format::Jsonl) => {
            let reader = open_maybe_gz(path)?;
            for (i, line) in reader.lines().enumerate() {
                let line = line.map_err(|e| anyhow!("{name}:{}: {e}", i + 1))?;
                if line.trim().is_empty() {
                    continue;
                }
                let value: Value =
                    serde_json::from_str(&line).map_err(|e| anyhow!("{name}:{}: not valid JSON: {e}", i + 1))?;
                f(Row { loc: format!("{name}:{}", i + 1), value })?;
            }
            Ok(())
        }
        _ => read_rows(path, columns)?.into_iter().try_for_each(f),
    }
}

fn open_maybe_gz(path: &Path) -> Result<Box<dyn BufRead>> {
    let file = File::open(path).with_context(|| format!("{}", path.display()))?;
    Ok(if path.extension().is_some_and(|e| e == "gz") {
        Box::new(BufReader::with_capacity(1 << 20, GzDecoder::new(file)))
    } else {
        Box::new(BufReader::with_capacity(1 << 20, file))
    })
}

/// A JSON array parsed element by element (or one object as one row).
fn stream_json(name: &str, bytes: &[u8], f: impl FnMut(Row) -> Result<()>) -> Result<()> {
    use serde::de::{Deserializer as _, MapAccess, SeqAccess, Visitor};

    struct Rows<'a, F> {
        name: &'a str,
        f: F,
        failed: &'a mut Option<anyhow::Error>,
    }

    impl<'de, F: FnMut(Row) -> Result<()>> Visitor<'de> for Rows<'_, F> {
        type Value = ();
        fn expecting(&self, out: &mut std::fmt::Formatter) -> std::fmt::Result {
            out.write_str("a JSON array of rows or one JSON object")
        }
        fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
            let mut i = 0usize;
            while let Some(value) = seq.next_element::<Value>()? {
                if let Err(e) = (self.f)(Row { loc: format!("{}#{i}", self.name), value }) {
                    *self.failed = Some(e);
                    return Err(serde::de::Error::custom("row rejected"));
                }
                i += 1;
            }
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(mut self, map: A) -> Result<(), A::Error> {
            let value = Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
            if let Err(e) = (self.f)(Row { loc: self.name.to_string(), value }) {
                *self.failed = Some(e);
                return Err(serde::de::Error::custom("row rejected"));
            }
            Ok(())
        }
    }

    let mut failed = None;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result = de.deserialize_any(Rows { name, f, failed: &mut failed });
    if let Some(e) = failed {
        return Err(e);
    }
    result.map_err(|e| anyhow!("{name}:{}: not valid JSON: {e}", e.line()))?;
    de.end().map_err(|e| anyhow!("{name}:{}: not valid JSON: {e}", e.line()))
}

/// Rows of an in-memory file (a zip member, a gunzipped file) of a text format.
pub fn rows_from_bytes(name: &str, fmt: Format, bytes: &[u8]) -> Result<Vec<Row>> {
    let text = std::str::from_utf8(bytes).map_err(|e| anyhow!("{name}: not UTF-8 text: {e}"))?;
    match fmt {
        Fmt::Json => {
            let value: Value =
                serde_json::from_str(text).map_err(|e| anyhow!("{name}:{}: not valid JSON: {e}", e.line()))?;
            Ok(match value {
                Value::Array(items) => {
                    items.into_iter().enumerate().map(|(i, value)| Row { loc: format!("{name}#{i}"), value }).collect()
                }
                other => vec![Row { loc: name.to_string(), value: other }],
            })
        }
        Fmt::Jsonl => {
            let mut rows = Vec::new();
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let value: Value =
                    serde_json::from_str(line).map_err(|e| anyhow!("{name}:{}: not valid JSON: {e}", i + 1))?;
                rows.push(Row { loc: format!("{name}:{}", i + 1), value });
            }
            Ok(rows)
        }
        Fmt::Csv => {
            // Rows as arrays of strings: the header (if any) is the dataset's business, because
            // the original MMLU CSVs have none and derived copies do.
            let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
            let mut rows = Vec::new();
            for (i, rec) in reader.records().enumerate() {
                let rec = rec.map_err(|e| anyhow!("{name}:{}: bad CSV: {e}", i + 1))?;
                let line = rec.position().map(|p| p.line()).unwrap_or(i as u64 + 1);
                rows.push(Row {
                    loc: format!("{name}:{line}"),
                    value: Value::Array(rec.iter().map(|f| Value::String(f.to_string())).collect()),
                });
            }
            Ok(rows)
        }
        Fmt::Text => Ok(vec![Row { loc: name.to_string(), value: Value::String(text.to_string()) }]),
        Fmt::Parquet => bail!("{name}: parquet must be read from a file"),
    }
}

use Format as Fmt;

fn read_parquet(path: &Path, columns: &[&str]) -> Result<Vec<Row>> {
    let name = path.display().to_string();
    let file = File::open(path).with_context(|| name.clone())?;
    let reader = SerializedFileReader::new(file).map_err(|e| anyhow!("{name}: not a parquet file: {e}"))?;
    let schema = reader.metadata().file_metadata().schema();
    let fields = schema.get_fields();
    let projection = if columns.is_empty() {
        None
    } else {
        let mut picked: Vec<Arc<ParquetType>> = Vec::new();
        for col in columns {
            match fields.iter().find(|f| f.name() == *col) {
                Some(f) => picked.push(f.clone()),
                None => {
                    let have: Vec<&str> = fields.iter().map(|f| f.name()).collect();
                    bail!("{name}: no column {col:?} (columns: {})", have.join(", "));
                }
            }
        }
        Some(
            ParquetType::group_type_builder(schema.name())
                .with_fields(picked)
                .build()
                .map_err(|e| anyhow!("{name}: projection: {e}"))?,
        )
    };
    let iter = reader.get_row_iter(projection).map_err(|e| anyhow!("{name}: {e}"))?;
    let mut rows = Vec::with_capacity(reader.metadata().file_metadata().num_rows().max(0) as usize);
    for (i, row) in iter.enumerate() {
        let row = row.map_err(|e| anyhow!("{name}#{i}: {e}"))?;
        rows.push(Row { loc: format!("{name}#{i}"), value: row.to_json_value() });
    }
    Ok(rows)
}

/// Names of the members of a zip archive.
pub fn zip_members(path: &Path) -> Result<Vec<String>> {
    let file = File::open(path).with_context(|| format!("{}", path.display()))?;
    let archive = zip::ZipArchive::new(file).map_err(|e| anyhow!("{}: not a zip archive: {e}", path.display()))?;
    archive.file_names().map(|n| n.map(|n| n.to_string()).map_err(|e| anyhow!("{}: {e}", path.display()))).collect()
}

/// Rows of one member of a zip archive (`data.zip` → `data/qmsum.jsonl`).
pub fn read_zip_rows(path: &Path, member: &str) -> Result<Vec<Row>> {
    let file = File::open(path).with_context(|| format!("{}", path.display()))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| anyhow!("{}: not a zip archive: {e}", path.display()))?;
    let mut entry = archive.by_name(member).map_err(|_| anyhow!("{}: has no member {member}", path.display()))?;
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry.read_to_end(&mut bytes).with_context(|| format!("{}!{member}", path.display()))?;
    let name = format!("{}!{member}", path.display());
    let fmt = format_of(member).ok_or_else(|| anyhow!("{name}: unknown member format"))?;
    if fmt == Format::Parquet {
        bail!("{name}: parquet inside zip is not supported");
    }
    let bytes = if member.ends_with(".gz") {
        let mut out = Vec::new();
        GzDecoder::new(&bytes[..]).read_to_end(&mut out).with_context(|| format!("{name}: not gzip"))?;
        out
    } else {
        bytes
    };
    rows_from_bytes(&name, fmt, &bytes)
}

/// Lines of a text file, each keeping its `\n` like Python's `readlines()` (the last line has
/// none when the file does not end with one).
pub fn read_lines_keepends(path: &Path) -> Result<Vec<String>> {
    let file = File::open(path).with_context(|| format!("{}", path.display()))?;
    let mut reader = BufReader::new(file);
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).with_context(|| format!("{}", path.display()))?;
        if n == 0 {
            break;
        }
        lines.push(line);
    }
    Ok(lines)
}

/// Deserializes a row into a dataset's row type, naming the row on error.
pub fn parse_row<T: serde::de::DeserializeOwned>(row: &Row) -> Result<T> {
    T::deserialize(&row.value).map_err(|e| anyhow!("{}: {e}", row.loc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows_of(text: &str, name: &str) -> Result<Vec<Row>> {
        let dir = std::env::temp_dir().join(format!("sb-sample-formats-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let mut rows = Vec::new();
        let r = for_each_row(&path, &[], |row| {
            rows.push(row);
            Ok(())
        });
        std::fs::remove_dir_all(&dir).unwrap();
        r.map(|_| rows)
    }

    #[test]
    fn json_arrays_stream_element_by_element() {
        let rows = rows_of("[\n {\"a\": 1},\n {\"a\": 2}\n]\n", "x.json").unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows[1].loc.ends_with("x.json#1"));
        assert_eq!(rows[1].value["a"], 2);
        // One object is one row (a QMSum meeting file).
        let rows = rows_of("{\"meeting_transcripts\": []}", "m.json").unwrap();
        assert_eq!(rows.len(), 1);
        // Errors name the line.
        let err = rows_of("[\n {\"a\": 1},\n {\"a\": }\n]", "bad.json").unwrap_err().to_string();
        assert!(err.contains("bad.json:3: not valid JSON"), "{err}");
        let err = rows_of("[{\"a\": 1}] trailing", "t.json").unwrap_err().to_string();
        assert!(err.contains("t.json:1: not valid JSON"), "{err}");
        let err = rows_of("{\"a\":1}\n{oops}\n", "l.jsonl").unwrap_err().to_string();
        assert!(err.contains("l.jsonl:2: not valid JSON"), "{err}");
    }

    #[test]
    fn a_rejected_row_stops_the_stream_with_its_own_error() {
        let dir = std::env::temp_dir().join(format!("sb-sample-formats-stop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.json");
        std::fs::write(&path, "[1, 2, 3]").unwrap();
        let mut seen = 0;
        let err = for_each_row(&path, &[], |row| {
            seen += 1;
            if row.value == 2 {
                anyhow::bail!("{}: two is not allowed", row.loc)
            }
            Ok(())
        })
        .unwrap_err()
        .to_string();
        assert_eq!(seen, 2);
        assert!(err.ends_with("r.json#1: two is not allowed"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
