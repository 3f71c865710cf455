//! Finding and reading a Hugging Face `tokenizer.json` as every tool takes it: a file, plain or
//! gzipped (`tokenizer.json.gz`: the repository's test data keeps them so), or a directory
//! holding one. Parsing it is each tool's own business (they use the `tokenizers` crate).

use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The file a `--tokenizer PATH` names: PATH itself, or `tokenizer.json` (else
/// `tokenizer.json.gz`) inside a directory.
pub fn resolve(path: &Path) -> PathBuf {
    if path.is_dir() {
        let plain = path.join("tokenizer.json");
        let gz = path.join("tokenizer.json.gz");
        if !plain.exists() && gz.exists() {
            return gz;
        }
        return plain;
    }
    path.to_path_buf()
}

/// The bytes of a tokenizer file, gunzipped when its name ends in `.gz`. The error does not
/// name the file: the caller says which flag and file it was.
pub fn read(file: &Path) -> io::Result<Vec<u8>> {
    let bytes = std::fs::read(file)?;
    if file.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| io::Error::new(e.kind(), format!("not gzip: {e}")))?;
        return Ok(out);
    }
    Ok(bytes)
}
