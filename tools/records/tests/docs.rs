//! docs/records.md describes every field of every record kind: each `pub` field of a record
//! type in src/record.rs and src/summary.rs (by its name on the wire) must appear, in backticks, in the section of
//! its kind. A field added without its line in the contract's document fails here.

use std::path::Path;

/// The `pub` fields of `struct name` in the source, as serialized (a `rename = "x"` wins;
/// a `flatten`ed map of extra fields is not a field of its own).
fn fields(source: &str, name: &str) -> Vec<String> {
    let start = source.find(&format!("pub struct {name} {{")).unwrap_or_else(|| panic!("struct {name} not found"));
    let body = &source[start..];
    let end = body.find("\n}").unwrap();
    let mut out = Vec::new();
    let mut rename: Option<String> = None;
    let mut flatten = false;
    for line in body[..end].lines().skip(1) {
        let t = line.trim();
        if t.starts_with("#[serde(") {
            flatten |= t.contains("flatten");
            if let Some(i) = t.find("rename = \"") {
                let rest = &t[i + 10..];
                rename = Some(rest[..rest.find('"').unwrap()].to_string());
            }
            continue;
        }
        if let Some(rest) = t.strip_prefix("pub ") {
            let field = rest.split(':').next().unwrap().trim().to_string();
            if !flatten {
                out.push(rename.take().unwrap_or(field));
            }
            rename = None;
            flatten = false;
        }
    }
    out
}

/// The text of the `## \`kind\`` section of docs/records.md.
fn section<'a>(doc: &'a str, kind: &str) -> &'a str {
    let head = format!("## `{kind}`");
    let start = doc.find(&head).unwrap_or_else(|| panic!("docs/records.md has no section {head}"));
    let rest = &doc[start + head.len()..];
    &rest[..rest.find("\n## ").unwrap_or(rest.len())]
}

#[test]
fn every_field_of_every_kind_is_described_in_docs_records_md() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = ["src/record.rs", "src/summary.rs"].map(|f| std::fs::read_to_string(root.join(f)).unwrap()).join("\n");
    let doc = std::fs::read_to_string(root.join("../../docs/records.md")).unwrap();
    let kinds: &[(&str, &[&str])] = &[
        ("request", &["Request"]),
        ("result", &["ResultRecord", "Usage"]),
        ("sample", &["Sample", "Window"]),
        ("run", &["RunRecord", "RunFields", "RunLoad", "Arrival", "RunRequests", "Lateness", "RunConnections"]),
        (
            "summary",
            &[
                "Report",
                "Totals",
                "Stats",
                "FailureClass",
                "Run",
                "Load",
                "ServerMetric",
                "Bucket",
                "StageRow",
                "TurnRow",
                "GroupRow",
                "Comparison",
                "Sides",
                "Compared",
            ],
        ),
        ("plan", &["PlanPoint"]),
        ("sweep", &["SweepRecord", "SweepPoint", "SweepBracket"]),
    ];
    let mut missing = Vec::new();
    for (kind, structs) in kinds {
        let text = section(&doc, kind);
        for s in *structs {
            for f in fields(&source, s) {
                if !text.contains(&format!("`{f}`"))
                    && !text.contains(&format!("{f}`"))
                    && !text.contains(&format!(" {f},"))
                    && !text.contains(&format!("{{{f}"))
                    && !text.contains(&format!(", {f}"))
                {
                    missing.push(format!("{kind}: {s}.{f}"));
                }
            }
        }
    }
    assert!(missing.is_empty(), "fields not described in docs/records.md: {missing:?}");
}
