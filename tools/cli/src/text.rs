//! Text that came from elsewhere (a server's error body, a request id), made safe to print.

/// `s` with every control character (ESC, BEL, CR, ...) written as a visible escape (`\x1b`),
/// so a hostile or broken server cannot drive the terminal through an error message. Newlines
/// and tabs become spaces: an error is one line.
pub fn printable(s: &str) -> String {
    if !s.chars().any(|c| c.is_control()) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' | '\t' => out.push(' '),
            c if c.is_control() => {
                let n = c as u32;
                if n <= 0xff {
                    out.push_str(&format!("\\x{n:02x}"));
                } else {
                    out.push_str(&format!("\\u{{{n:x}}}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("plain"), "plain");
        assert_eq!(printable("a\x1b[31mred\x07\r\nb\tc"), "a\\x1b[31mred\\x07\\x0d b c");
        assert_eq!(printable("\u{9b}x"), "\\x9bx");
    }
}

/// A URL with any password (and user) in it replaced: `http://user:***@host/`. Used wherever a
/// URL is printed or recorded.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_string() };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else { return url.to_string() };
    let user = authority[..at].split(':').next().unwrap_or("");
    let masked = if authority[..at].contains(':') { format!("{user}:***") } else { "***".to_string() };
    format!("{}://{masked}@{}", &url[..scheme_end], &rest[at + 1..])
}

#[cfg(test)]
mod url_tests {
    use super::redact_url;

    #[test]
    fn userinfo_is_masked() {
        assert_eq!(redact_url("http://u:pa55@h:8000/v1"), "http://u:***@h:8000/v1");
        assert_eq!(redact_url("https://t0ken@h/"), "https://***@h/");
        assert_eq!(redact_url("http://h:8000/a@b"), "http://h:8000/a@b");
        assert_eq!(redact_url("http://127.0.0.1:1"), "http://127.0.0.1:1");
    }
}
