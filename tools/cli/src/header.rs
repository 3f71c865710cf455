//! `--header 'Name: value'` as every tool takes it. A header value is often a token, so no
//! error here ever shows it.

/// Splits `Name: value` into its trimmed parts. The error names the flag's text up to the colon
/// only (or says there was none), never the value.
pub fn parse_header(text: &str) -> Result<(String, String), String> {
    let Some((name, value)) = text.split_once(':') else {
        return Err("bad --header: expected 'Name: value' (no ':' found; the text is not shown, it may hold a secret)"
            .to_string());
    };
    let name = name.trim();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "bad --header name {:?}: expected 'Name: value' with a name of visible ASCII characters (the value is not shown)",
            crate::printable(name)
        ));
    }
    Ok((name.to_string(), value.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_never_echoes_the_value() {
        assert_eq!(parse_header("X-Api-Key:  s3cret "), Ok(("X-Api-Key".into(), "s3cret".into())));
        assert_eq!(parse_header("Authorization: Bearer a:b"), Ok(("Authorization".into(), "Bearer a:b".into())));
        let err = parse_header("Bearer-s3cret-no-colon").unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
        let err = parse_header("bad name: s3cret").unwrap_err();
        assert!(!err.contains("s3cret") && err.contains("bad name"), "{err}");
    }
}
