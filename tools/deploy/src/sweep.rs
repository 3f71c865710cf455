//! Sweep points: the cartesian product of `--sweep key=v1,v2,...`, or a listed design file
//! (a YAML/JSON list of maps, one per point, e.g. the rows of a results table).

use crate::values::{parse_yaml_or_json, Given, Setting};
use anyhow::{bail, Result};
use serde_json::Value;
use std::path::Path;

/// One point: its name and the settings that make it.
#[derive(Clone, Debug)]
pub struct Point {
    /// `p01`, `p02`, ... (1-based, zero-padded to the width of the count), or `default`.
    pub name: String,
    pub settings: Vec<Setting>,
}

/// Parses `key=v1,v2,...`.
pub fn parse_sweep(arg: &str) -> Result<(String, Vec<String>)> {
    let Some((k, vs)) = arg.split_once('=') else {
        bail!("--sweep {arg:?}: expected key=v1,v2,..., e.g. --sweep max-num-seqs=128,256");
    };
    let values: Vec<String> = vs.split(',').map(|v| v.trim().to_string()).collect();
    if k.trim().is_empty() || values.iter().any(String::is_empty) {
        bail!("--sweep {arg:?}: expected key=v1,v2,... with no empty value");
    }
    Ok((k.trim().to_string(), values))
}

fn names(n: usize) -> Vec<String> {
    let width = n.to_string().len().max(2);
    (1..=n).map(|i| format!("p{i:0width$}")).collect()
}

/// The cartesian product, first `--sweep` varying slowest.
pub fn cartesian(sweeps: &[(String, Vec<String>)]) -> Result<Vec<Point>> {
    let mut rows: Vec<Vec<Setting>> = vec![vec![]];
    for (key, values) in sweeps {
        if sweeps.iter().filter(|(k, _)| k == key).count() > 1 {
            bail!("--sweep {key} is given twice: list all its values in one --sweep {key}=v1,v2");
        }
        let mut next = Vec::new();
        for row in &rows {
            for v in values {
                let mut r = row.clone();
                r.push(Setting {
                    origin: format!("--sweep {key}={v}"),
                    key: key.clone(),
                    value: Given::Text(v.clone()),
                });
                next.push(r);
            }
        }
        rows = next;
    }
    if rows.len() > 1000 {
        bail!("the sweep has {} points; more than 1000 is surely a mistake (split it)", rows.len());
    }
    Ok(names(rows.len()).into_iter().zip(rows).map(|(name, settings)| Point { name, settings }).collect())
}

/// A listed design: `[{max-model-len: 400, max-num-seqs: 256}, ...]`. A point may name itself
/// with the key `point` (a DNS label); others are numbered.
pub fn design(path: &Path) -> Result<Vec<Point>> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("design file {}: {e}", path.display()))?;
    let Value::Array(rows) = parse_yaml_or_json(path, &text)? else {
        bail!(
            "{}: a design is a list of maps, one per point (- {{max-model-len: 400, max-num-seqs: 256}})",
            path.display()
        );
    };
    if rows.is_empty() {
        bail!("{}: the design lists no point", path.display());
    }
    let auto = names(rows.len());
    let mut points = Vec::new();
    for (i, row) in rows.into_iter().enumerate() {
        let Value::Object(map) = row else {
            bail!("{}: point {} is not a map of flags to values", path.display(), i + 1);
        };
        let mut name = auto[i].clone();
        let mut settings = Vec::new();
        for (k, v) in map {
            if k == "point" {
                name = v.as_str().map(String::from).unwrap_or_else(|| v.to_string());
                continue;
            }
            settings.push(Setting {
                origin: format!("{} point {}: {k}", path.display(), i + 1),
                key: k,
                value: Given::Value(v),
            });
        }
        if points.iter().any(|p: &Point| p.name == name) {
            bail!("{}: point name {name:?} is used twice", path.display());
        }
        points.push(Point { name, settings });
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cartesian_product_in_order() {
        let s = [parse_sweep("a=1,2").unwrap(), parse_sweep("b=x,y,z").unwrap()];
        let pts = cartesian(&s).unwrap();
        assert_eq!(pts.len(), 6);
        assert_eq!(pts[0].name, "p01");
        assert_eq!(pts[5].name, "p06");
        let vals: Vec<String> = pts[4].settings.iter().map(|s| format!("{}={:?}", s.key, s.value)).collect();
        assert_eq!(vals, ["a=Text(\"2\")", "b=Text(\"y\")"]);
        assert!(parse_sweep("a=1,,2").is_err());
        assert!(parse_sweep("a").is_err());
        assert!(cartesian(&[parse_sweep("a=1").unwrap(), parse_sweep("a=2").unwrap()]).is_err());
        assert_eq!(names(100)[99], "p100");
        assert_eq!(names(100)[0], "p001");
    }
}
