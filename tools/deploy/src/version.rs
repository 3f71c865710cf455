//! vLLM versions: parsing `--vllm-version` and the range our flag tables cover.

use std::fmt;

/// A vLLM release, `major.minor.patch` (a fourth part such as `0.10.1.1` is kept for the image
/// tag but compared as `0.10.1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VllmVersion {
    pub parts: [u32; 3],
    /// As the image is tagged (`0.33.0`, `0.10.1.1`), without the leading `v`.
    pub tag: String,
}

/// The oldest release whose flags `deploy.md` dated (the sampled wheels start at 0.9.2).
pub const OLDEST: [u32; 3] = [0, 9, 2];
/// The release whose full `vllm serve` parser is embedded (`flags/vllm_serve_flags_0.33.0.json`).
pub const NEWEST: [u32; 3] = [0, 33, 0];

impl VllmVersion {
    pub fn parse(text: &str) -> Result<VllmVersion, String> {
        let raw = text.trim().trim_start_matches('v');
        let nums: Result<Vec<u32>, _> = raw.split('.').map(str::parse::<u32>).collect();
        let nums = match nums {
            Ok(n) if (2..=4).contains(&n.len()) => n,
            _ => return Err(format!("--vllm-version {text:?} is not a version like 0.33.0")),
        };
        let parts = [nums[0], nums[1], nums.get(2).copied().unwrap_or(0)];
        let tag = if nums.len() == 2 { format!("{}.{}.0", nums[0], nums[1]) } else { raw.to_string() };
        let v = VllmVersion { parts, tag };
        if v.parts < OLDEST {
            return Err(format!(
                "no flag table for vLLM {v}: the oldest covered release is {} (flags were dated from 0.9.2 on)",
                fmt_parts(OLDEST)
            ));
        }
        if v.parts[..2] > NEWEST[..2] {
            return Err(format!(
                "no flag table for vLLM {v}: the newest covered release is {} (add its `vllm serve` flag dump to tools/deploy/src/flags/)",
                fmt_parts(NEWEST)
            ));
        }
        Ok(v)
    }

    /// True when this release is `at` or newer.
    pub fn at_least(&self, at: [u32; 3]) -> bool {
        self.parts >= at
    }
}

pub fn fmt_parts(p: [u32; 3]) -> String {
    format!("{}.{}.{}", p[0], p[1], p[2])
}

impl fmt::Display for VllmVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_bounds() {
        assert_eq!(VllmVersion::parse("0.33").unwrap().tag, "0.33.0");
        assert_eq!(VllmVersion::parse("v0.10.1.1").unwrap().parts, [0, 10, 1]);
        assert_eq!(VllmVersion::parse("0.10.1.1").unwrap().tag, "0.10.1.1");
        assert!(VllmVersion::parse("0.6.3").unwrap_err().contains("oldest covered release is 0.9.2"));
        assert!(VllmVersion::parse("0.34.0").unwrap_err().contains("newest covered release is 0.33.0"));
        assert!(VllmVersion::parse("latest").unwrap_err().contains("not a version"));
        assert!(VllmVersion::parse("0.20.0").unwrap().at_least([0, 20, 0]));
        assert!(!VllmVersion::parse("0.19.1").unwrap().at_least([0, 20, 0]));
    }
}
