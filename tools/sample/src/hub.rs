//! Where dataset and tokenizer files come from: the Hugging Face Hub (through `hf-hub`, which
//! keeps the same cache layout as Python's `huggingface_hub`, so files downloaded by either are
//! shared), the cache alone (`--offline`), or a local path (`--source`).
//!
//! A dataset names the files it wants as glob patterns relative to the repo root, in order of
//! preference (`all/test-*.parquet`, then `test/*_test.csv`). A local directory is treated as a
//! copy of the repo, so the same patterns find the same files there.

use anyhow::{anyhow, bail, Context, Result};
use glob::{MatchOptions, Pattern};
use hf_hub::api::sync::{ApiBuilder, ApiError};
use hf_hub::{Cache, Repo, RepoType};
use std::path::{Path, PathBuf};

/// How to reach files: flags and environment, shared by datasets and the tokenizer.
#[derive(Debug, Clone, Default)]
pub struct HubOpts {
    pub offline: bool,
    pub cache_dir: Option<PathBuf>,
    pub revision: Option<String>,
}

impl HubOpts {
    fn cache(&self) -> Cache {
        match &self.cache_dir {
            Some(dir) => Cache::new(dir.clone()),
            None => match std::env::var_os("HF_HUB_CACHE") {
                Some(dir) if !dir.is_empty() => Cache::new(PathBuf::from(dir)),
                _ => Cache::from_env(),
            },
        }
    }

    fn revision(&self) -> String {
        self.revision.clone().unwrap_or_else(|| "main".to_string())
    }
}

/// The files of one dataset: a Hub repo at a revision, a local directory, or one local file.
pub enum Files {
    Hub {
        repo_id: String,
        opts: HubOpts,
    },
    Dir(PathBuf),
    File(PathBuf),
    /// Synthetic datasets read no files.
    Nothing,
}

impl Files {
    pub fn new(source: Option<&Path>, hub_repo: Option<&str>, opts: &HubOpts) -> Result<Files> {
        match source {
            Some(p) if p.is_dir() => Ok(Files::Dir(p.to_path_buf())),
            Some(p) if p.is_file() => Ok(Files::File(p.to_path_buf())),
            Some(p) => bail!("--source {}: no such file or directory", p.display()),
            None => match hub_repo {
                Some(repo) => Ok(Files::Hub { repo_id: repo.to_string(), opts: opts.clone() }),
                None => Ok(Files::Nothing),
            },
        }
    }

    /// A short description for `source` fields: `cais/mmlu@main` or the local path.
    pub fn describe(&self) -> String {
        match self {
            Files::Hub { repo_id, opts } => format!("{repo_id}@{}", opts.revision()),
            Files::Dir(p) | Files::File(p) => p.display().to_string(),
            Files::Nothing => "synthetic".to_string(),
        }
    }

    pub fn single_file(&self) -> Option<&Path> {
        match self {
            Files::File(p) => Some(p),
            _ => None,
        }
    }

    /// The files matching the first pattern that matches anything, sorted by path. A single
    /// `--source` file is returned as is, whatever the patterns.
    pub fn find(&self, patterns: &[&str]) -> Result<Vec<PathBuf>> {
        match self {
            Files::File(p) => Ok(vec![p.clone()]),
            Files::Dir(dir) => {
                let listing = list_dir(dir)?;
                match first_match(&listing, patterns) {
                    Some(found) => Ok(found.into_iter().map(|rel| dir.join(rel)).collect()),
                    None => bail!("{}: no file matches {}", dir.display(), patterns.join(" or ")),
                }
            }
            Files::Hub { repo_id, opts } => hub_find(repo_id, RepoType::Dataset, opts, patterns),
            Files::Nothing => bail!("this dataset has no Hub repo; pass its file with --source"),
        }
    }
}

fn glob_opts() -> MatchOptions {
    MatchOptions { case_sensitive: true, require_literal_separator: true, require_literal_leading_dot: false }
}

/// The matches of the first pattern that matches anything.
fn first_match(listing: &[String], patterns: &[&str]) -> Option<Vec<String>> {
    for pat in patterns {
        let Ok(p) = Pattern::new(pat) else { continue };
        let mut found: Vec<String> = listing.iter().filter(|f| p.matches_with(f, glob_opts())).cloned().collect();
        if !found.is_empty() {
            found.sort();
            return Some(found);
        }
    }
    None
}

/// Every file under `dir`, as `/`-separated paths relative to it.
fn list_dir(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("{}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                out.push(rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"));
            }
        }
    }
    Ok(out)
}

/// The snapshot directory of a cached repo at `revision` (a branch/tag name found under `refs/`,
/// or a commit hash), as `huggingface_hub` lays it out.
fn cached_snapshot(cache: &Cache, repo: &Repo, revision: &str) -> Option<PathBuf> {
    let repo_dir = cache.path().join(repo.folder_name());
    let commit = match std::fs::read_to_string(repo_dir.join("refs").join(revision)) {
        Ok(c) => c.trim().to_string(),
        Err(_) => revision.to_string(),
    };
    let snap = repo_dir.join("snapshots").join(commit);
    snap.is_dir().then_some(snap)
}

fn kind_word(kind: RepoType) -> &'static str {
    match kind {
        RepoType::Dataset => "dataset",
        RepoType::Model => "model",
        RepoType::Space => "space",
    }
}

fn hub_find(repo_id: &str, kind: RepoType, opts: &HubOpts, patterns: &[&str]) -> Result<Vec<PathBuf>> {
    let revision = opts.revision();
    let cache = opts.cache();
    let repo = Repo::with_revision(repo_id.to_string(), kind, revision.clone());
    if opts.offline {
        let Some(snap) = cached_snapshot(&cache, &repo, &revision) else {
            bail!(
                "{} {repo_id}@{revision} is not in the Hub cache {} (offline); download it once without --offline, or pass --source",
                kind_word(kind),
                cache.path().display()
            );
        };
        let listing = list_dir(&snap)?;
        return match first_match(&listing, patterns) {
            Some(found) => Ok(found.into_iter().map(|rel| snap.join(rel)).collect()),
            None => bail!(
                "{} {repo_id}@{revision}: no cached file matches {} (in {}; offline)",
                kind_word(kind),
                patterns.join(" or "),
                snap.display()
            ),
        };
    }
    let api = build_api(&cache)?;
    let handle = api.repo(repo);
    let info = handle.info().map_err(|e| hub_error(repo_id, &revision, kind, e))?;
    let listing: Vec<String> = info.siblings.into_iter().map(|s| s.rfilename).collect();
    let Some(found) = first_match(&listing, patterns) else {
        bail!("{} {repo_id}@{revision}: no file matches {}", kind_word(kind), patterns.join(" or "));
    };
    found
        .iter()
        .map(|f| handle.get(f).map_err(|e| hub_error(repo_id, &revision, kind, e).context(format!("downloading {f}"))))
        .collect()
}

/// One named file of a repo (a tokenizer's `tokenizer.json`): from the cache, downloading it
/// unless offline. `Ok(None)` when the repo has no such file.
pub fn hub_file(repo_id: &str, kind: RepoType, opts: &HubOpts, filename: &str) -> Result<Option<PathBuf>> {
    let revision = opts.revision();
    let cache = opts.cache();
    let repo = Repo::with_revision(repo_id.to_string(), kind, revision.clone());
    if let Some(snap) = cached_snapshot(&cache, &repo, &revision) {
        let p = snap.join(filename);
        if p.is_file() {
            return Ok(Some(p));
        }
    }
    if opts.offline {
        bail!(
            "{} {repo_id}@{revision}: {filename} is not in the Hub cache {} (offline); download it once without --offline, or pass a local path",
            kind_word(kind),
            cache.path().display()
        );
    }
    let api = build_api(&cache)?;
    match api.repo(repo).get(filename) {
        Ok(p) => Ok(Some(p)),
        Err(e) if status_of(&e) == Some(404) => Ok(None),
        Err(e) => Err(hub_error(repo_id, &revision, kind, e)),
    }
}

fn build_api(cache: &Cache) -> Result<hf_hub::api::sync::Api> {
    // The token comes from the environment only and is never printed.
    let token = std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty()).or_else(|| cache.token());
    let mut builder = ApiBuilder::from_cache(cache.clone()).with_token(token).with_progress(false);
    if let Ok(endpoint) = std::env::var("HF_ENDPOINT") {
        if !endpoint.is_empty() {
            builder = builder.with_endpoint(endpoint);
        }
    }
    builder.build().map_err(|e| anyhow!("Hugging Face Hub client: {e}"))
}

fn status_of(e: &ApiError) -> Option<u16> {
    match e {
        ApiError::RequestError(inner) => match inner.as_ref() {
            ureq::Error::Status(code, _) => Some(*code),
            _ => None,
        },
        _ => None,
    }
}

/// One clear line for the failures users actually hit.
fn hub_error(repo_id: &str, revision: &str, kind: RepoType, e: ApiError) -> anyhow::Error {
    let what = kind_word(kind);
    match status_of(&e) {
        Some(401) | Some(403) => anyhow!(
            "{what} {repo_id} is gated or private: accept its terms on the Hub and set HF_TOKEN to a token with access (HTTP {})",
            status_of(&e).unwrap_or_default()
        ),
        Some(404) => anyhow!("{what} {repo_id}@{revision} not found on the Hub (check the name and --revision)"),
        _ => anyhow!("{what} {repo_id}@{revision}: Hub request failed: {e} (use --offline with a filled cache, or --source)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_in_order_and_keep_separators() {
        let listing: Vec<String> =
            ["all/test-00000-of-00001.parquet", "all/dev-00000-of-00001.parquet", "test/a_test.csv", "test/b_test.csv"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        assert_eq!(first_match(&listing, &["all/test-*.parquet"]).unwrap(), ["all/test-00000-of-00001.parquet"]);
        assert_eq!(
            first_match(&listing, &["x/*.parquet", "test/*_test.csv"]).unwrap(),
            ["test/a_test.csv", "test/b_test.csv"]
        );
        // `*` does not cross directories.
        assert!(first_match(&listing, &["*.csv"]).is_none());
    }

    #[test]
    fn hub_failures_become_one_clear_line() {
        let status = |code: u16| {
            let resp = ureq::Response::new(code, "x", "").unwrap();
            ApiError::RequestError(Box::new(ureq::Error::Status(code, resp)))
        };
        let gated = hub_error("meta-llama/Llama-3.1-8B", "main", RepoType::Model, status(401)).to_string();
        assert!(
            gated.contains("model meta-llama/Llama-3.1-8B is gated or private") && gated.contains("set HF_TOKEN"),
            "{gated}"
        );
        let missing = hub_error("cais/mmlu", "v9", RepoType::Dataset, status(404)).to_string();
        assert_eq!(missing, "dataset cais/mmlu@v9 not found on the Hub (check the name and --revision)");
        let other = hub_error("cais/mmlu", "main", RepoType::Dataset, status(500)).to_string();
        assert!(other.contains("Hub request failed") && other.contains("--offline"), "{other}");
    }

    #[test]
    fn offline_reads_the_huggingface_hub_cache_layout() {
        let dir = std::env::temp_dir().join(format!("sb-sample-hub-{}", std::process::id()));
        let repo_dir = dir.join("datasets--cais--mmlu");
        let snap = repo_dir.join("snapshots/c30699e8356da336a370243923dbaf21066bb9fe/all");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(repo_dir.join("refs")).unwrap();
        std::fs::write(repo_dir.join("refs/main"), "c30699e8356da336a370243923dbaf21066bb9fe").unwrap();
        std::fs::write(snap.join("test-00000-of-00001.parquet"), b"x").unwrap();
        let opts = HubOpts { offline: true, cache_dir: Some(dir.clone()), revision: None };
        let files = Files::new(None, Some("cais/mmlu"), &opts).unwrap();
        let found = files.find(&["all/test-*.parquet"]).unwrap();
        assert_eq!(found, [snap.join("test-00000-of-00001.parquet")]);
        // By commit hash too, as huggingface_hub resolves it.
        let by_sha = HubOpts { revision: Some("c30699e8356da336a370243923dbaf21066bb9fe".into()), ..opts.clone() };
        assert_eq!(Files::new(None, Some("cais/mmlu"), &by_sha).unwrap().find(&["all/test-*.parquet"]).unwrap(), found);
        let err = files.find(&["all/dev-*.parquet"]).unwrap_err().to_string();
        assert!(err.contains("no cached file matches all/dev-*.parquet"), "{err}");
        let other = HubOpts { revision: Some("v2".into()), ..opts };
        let err = Files::new(None, Some("cais/mmlu"), &other).unwrap().find(&["*"]).unwrap_err().to_string();
        assert!(err.contains("cais/mmlu@v2 is not in the Hub cache"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
