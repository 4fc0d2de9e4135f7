//! Secrets (private keys, database password, S3 secret) come from files, and a
//! file that group or others can read is refused, naming the file.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why a secret file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret file {path} is missing: {hint}")]
    Missing { path: PathBuf, hint: String },
    #[error(
        "secret file {path} is readable by group or others (mode {mode:o}); run `chmod 600 {path}`"
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("secret file {path} already exists; Ponte never overwrites a key")]
    Exists { path: PathBuf },
    #[error("secret file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Reads a secret file after checking that only its owner may read it.
/// `hint` tells the operator how to provide the file when it is missing.
pub fn read(path: &Path, hint: &str) -> Result<Vec<u8>, SecretError> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(SecretError::Missing {
                path: path.to_owned(),
                hint: hint.to_owned(),
            })
        }
        Err(source) => {
            return Err(SecretError::Io {
                path: path.to_owned(),
                source,
            })
        }
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SecretError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    fs::read(path).map_err(|source| SecretError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Reads a secret file holding text, without a trailing newline.
pub fn read_string(path: &Path, hint: &str) -> Result<String, SecretError> {
    let bytes = read(path, hint)?;
    let text = String::from_utf8(bytes).map_err(|_| SecretError::Io {
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8"),
    })?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

/// Writes a new secret file readable by its owner only; never overwrites.
pub fn create(path: &Path, contents: &[u8]) -> Result<(), SecretError> {
    let io = |source| SecretError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io)?;
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                SecretError::Exists {
                    path: path.to_owned(),
                }
            } else {
                io(e)
            }
        })?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_readable_by_others_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db-password");
        fs::write(&path, "hunter2\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = read(&path, "").unwrap_err().to_string();
        assert!(err.contains("db-password"), "{err}");
        assert!(err.contains("chmod 600"), "{err}");

        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_string(&path, "").unwrap(), "hunter2");
    }

    #[test]
    fn a_missing_secret_says_how_to_provide_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = read(
            &dir.path().join("s3-secret"),
            "set objects.s3.secret_access_key_file",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("s3-secret") && err.contains("secret_access_key_file"),
            "{err}"
        );
    }

    #[test]
    fn creating_a_secret_never_overwrites_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        create(&path, b"one").unwrap();
        assert!(matches!(
            create(&path, b"two"),
            Err(SecretError::Exists { .. })
        ));
        assert_eq!(read(&path, "").unwrap(), b"one");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
