//! The signing secret: env `PODIUM_SECRET` or `--secret-file PATH`, at least 32 bytes.
//! Without one the server runs in open mode (loopback only).
use std::path::Path;

pub const MIN_SECRET_BYTES: usize = 32;

/// A secret long enough to sign HS256 tokens with.
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never in a log line.
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the secret is {0} bytes long: it must have at least {MIN_SECRET_BYTES} (for example `openssl rand -hex 32`)")]
    TooShort(usize),
    #[error("cannot read the secret file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("give the secret either in PODIUM_SECRET or with --secret-file, not both")]
    Both,
}

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Result<Self, SecretError> {
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(SecretError::TooShort(bytes.len()));
        }
        Ok(Self(bytes))
    }

    /// A random secret for this process only (open mode signs its share links with
    /// one: they stop working when the server restarts).
    pub fn ephemeral() -> Self {
        let mut bytes = vec![0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).expect("the system's random source");
        Self(bytes)
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret from `PODIUM_SECRET` (its value) or a file (its content, without the
    /// trailing newline an editor adds); `None` when neither is given.
    pub fn load(env_value: Option<String>, file: Option<&Path>) -> Result<Option<Self>, SecretError> {
        let env_value = env_value.filter(|v| !v.is_empty());
        match (env_value, file) {
            (Some(_), Some(_)) => Err(SecretError::Both),
            (Some(value), None) => Self::new(value.into_bytes()).map(Some),
            (None, Some(path)) => {
                let mut bytes = std::fs::read(path).map_err(|source| SecretError::Read { path: path.display().to_string(), source })?;
                while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    bytes.pop();
                }
                Self::new(bytes).map(Some)
            }
            (None, None) => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_are_refused_and_files_lose_their_newline() {
        assert!(matches!(Secret::new(vec![b'a'; 31]), Err(SecretError::TooShort(31))));
        assert!(Secret::load(Some("x".repeat(32)), None).unwrap().is_some());
        assert!(Secret::load(None, None).unwrap().is_none());
        assert!(Secret::load(Some(String::new()), None).unwrap().is_none());
        let path = std::env::temp_dir().join(format!("podium-secret-{}", std::process::id()));
        std::fs::write(&path, format!("{}\n", "s".repeat(32))).unwrap();
        assert_eq!(Secret::load(None, Some(&path)).unwrap().unwrap().bytes().len(), 32);
        std::fs::write(&path, format!("{}\n", "s".repeat(31))).unwrap();
        assert!(Secret::load(None, Some(&path)).is_err());
        assert!(matches!(Secret::load(Some("x".repeat(32)), Some(&path)), Err(SecretError::Both)));
        let _ = std::fs::remove_file(path);
        assert!(!format!("{:?}", Secret::ephemeral()).contains('['));
    }
}
