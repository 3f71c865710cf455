//! A reader for the Python literals LooGLE stores in its `qa_pairs` column (`repr` of a list of
//! dicts: single-quoted strings, Python escapes, `None`/`True`/`False`). LooGLE's own scripts
//! `eval` it; JSON parsers refuse it. Only literals are accepted, never expressions.

use anyhow::{anyhow, bail, Result};
use serde_json::{Map, Value};

pub fn parse(src: &str) -> Result<Value> {
    let mut p = Parser { s: src.as_bytes(), src, i: 0 };
    let v = p.value()?;
    p.ws();
    if p.i != p.s.len() {
        bail!("trailing text at byte {}", p.i);
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn value(&mut self) -> Result<Value> {
        self.ws();
        match self.peek() {
            Some(b'[') | Some(b'(') => self.seq(),
            Some(b'{') => self.dict(),
            Some(b'\'') | Some(b'"') => Ok(Value::String(self.string()?)),
            Some(_) => self.word(),
            None => bail!("unexpected end of literal"),
        }
    }

    fn seq(&mut self) -> Result<Value> {
        let close = if self.s[self.i] == b'[' { b']' } else { b')' };
        self.i += 1;
        let mut items = Vec::new();
        loop {
            self.ws();
            if self.peek() == Some(close) {
                self.i += 1;
                return Ok(Value::Array(items));
            }
            items.push(self.value()?);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(c) if c == close => {}
                _ => bail!("expected ',' or '{}' at byte {}", close as char, self.i),
            }
        }
    }

    fn dict(&mut self) -> Result<Value> {
        self.i += 1;
        let mut map = Map::new();
        loop {
            self.ws();
            if self.peek() == Some(b'}') {
                self.i += 1;
                return Ok(Value::Object(map));
            }
            let key = match self.value()? {
                Value::String(s) => s,
                other => other.to_string(),
            };
            self.ws();
            if self.peek() != Some(b':') {
                bail!("expected ':' at byte {}", self.i);
            }
            self.i += 1;
            let v = self.value()?;
            map.insert(key, v);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {}
                _ => bail!("expected ',' or '}}' at byte {}", self.i),
            }
        }
    }

    fn word(&mut self) -> Result<Value> {
        let start = self.i;
        while self.i < self.s.len() && (self.s[self.i].is_ascii_alphanumeric() || b"+-._".contains(&self.s[self.i])) {
            self.i += 1;
        }
        let w = &self.src[start..self.i];
        Ok(match w {
            "None" => Value::Null,
            "True" => Value::Bool(true),
            "False" => Value::Bool(false),
            _ => {
                if let Ok(n) = w.parse::<i64>() {
                    Value::from(n)
                } else if let Ok(x) = w.parse::<f64>() {
                    Value::from(x)
                } else {
                    bail!("not a literal: {w:?} at byte {start}")
                }
            }
        })
    }

    fn string(&mut self) -> Result<String> {
        let quote = self.s[self.i];
        self.i += 1;
        let mut out = String::new();
        loop {
            // Copy a run of plain bytes at once (keeps multi-byte UTF-8 intact).
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i] != quote && self.s[self.i] != b'\\' {
                self.i += 1;
            }
            out.push_str(&self.src[start..self.i]);
            match self.peek() {
                None => bail!("unterminated string"),
                Some(c) if c == quote => {
                    self.i += 1;
                    return Ok(out);
                }
                _ => {
                    self.i += 1;
                    let c = self.peek().ok_or_else(|| anyhow!("unterminated escape"))?;
                    self.i += 1;
                    match c {
                        b'n' => out.push('\n'),
                        b't' => out.push('\t'),
                        b'r' => out.push('\r'),
                        b'0' => out.push('\0'),
                        b'\\' => out.push('\\'),
                        b'\'' => out.push('\''),
                        b'"' => out.push('"'),
                        b'\n' => {}
                        b'x' => out.push(self.hex(2)?),
                        b'u' => out.push(self.hex(4)?),
                        b'U' => out.push(self.hex(8)?),
                        other => {
                            out.push('\\');
                            out.push(other as char);
                        }
                    }
                }
            }
        }
    }

    fn hex(&mut self, n: usize) -> Result<char> {
        let h = self.src.get(self.i..self.i + n).ok_or_else(|| anyhow!("short escape"))?;
        self.i += n;
        let code = u32::from_str_radix(h, 16).map_err(|_| anyhow!("bad escape {h:?}"))?;
        char::from_u32(code).ok_or_else(|| anyhow!("bad code point {code:#x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_python_reprs() {
        let v =
            parse(r#"[{'S': 'It\'s "quoted"', 'Q': "Who's there?", 'A': 'caf\xe9 \u00e9\n'}, (1, -2.5, None, True)]"#)
                .unwrap();
        assert_eq!(v, json!([{"S": "It's \"quoted\"", "Q": "Who's there?", "A": "café é\n"}, [1, -2.5, null, true]]));
        assert_eq!(parse("{'<mask-0>': 'Bob'}").unwrap(), json!({"<mask-0>": "Bob"}));
        assert_eq!(parse("'José Luis'").unwrap(), json!("José Luis"));
        for bad in ["[1, 2", "{'a' 1}", "'open", "__import__('os')", "[1] x"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
