//! A recording's share links: `ID.shares.json` beside its sidecar, one entry per link
//! that has not been revoked. A share token is honoured only while its entry is here
//! (revoking removes it) and its expiry has not passed.
use super::RecordingId;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The longest a share link may live: 30 days.
pub const MAX_SHARE_SECONDS: u64 = 30 * 24 * 3600;

/// The most live links one recording may have. Every request through a link reads the
/// list, so an unbounded one would let a host slow the server; a person shares a few.
pub const MAX_LIVE_SHARES: usize = 50;

/// One share link, as the recording's JSON lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    pub id: String,
    /// RFC 3339, UTC.
    pub expires_at: String,
    /// Seconds since the epoch (the same instant as `expires_at`).
    #[serde(skip_serializing_if = "is_zero", default)]
    pub exp: u64,
    /// Who shared it (the token's `sub`, or `open`).
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub created_by: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, thiserror::Error)]
#[error("cannot save the share list of recording {id}: {source}")]
pub struct ShareStoreError {
    id: RecordingId,
    source: std::io::Error,
}

#[derive(Debug, thiserror::Error)]
pub enum AddShareError {
    #[error("recording {id} already has {MAX_LIVE_SHARES} live share links: revoke one (or let one expire) first")]
    TooMany { id: RecordingId },
    /// Deleted as the link was asked for.
    #[error("no recording {id}")]
    Gone { id: RecordingId },
    #[error(transparent)]
    Store(#[from] ShareStoreError),
}

/// The share lists of a recordings directory. One lock for all: shares change rarely.
pub struct Shares {
    dir: PathBuf,
    lock: Mutex<()>,
}

impl Shares {
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf(), lock: Mutex::new(()) }
    }

    pub fn path(&self, id: &RecordingId) -> PathBuf {
        self.dir.join(format!("{id}.shares.json"))
    }

    /// The live (unexpired) shares of a recording.
    pub fn list(&self, id: &RecordingId, now: u64) -> Vec<Share> {
        let mut shares = self.read(id);
        shares.retain(|s| s.exp > now);
        shares
    }

    /// Whether share `share_id` of recording `id` still opens it.
    pub fn is_live(&self, id: &RecordingId, share_id: &str, now: u64) -> bool {
        self.read(id).iter().any(|s| s.id == share_id && s.exp > now)
    }

    /// Adds a link, unless the recording already has [`MAX_LIVE_SHARES`].
    pub fn add(&self, id: &RecordingId, share: Share, now: u64) -> Result<(), AddShareError> {
        let _guard = self.lock.lock();
        let mut shares = self.read(id);
        shares.retain(|s| s.exp > now);
        if shares.len() >= MAX_LIVE_SHARES {
            return Err(AddShareError::TooMany { id: id.clone() });
        }
        shares.push(share);
        Ok(self.write(id, &shares)?)
    }

    /// Removes a share; `false` when there was no such live share.
    pub fn revoke(&self, id: &RecordingId, share_id: &str) -> Result<bool, ShareStoreError> {
        let _guard = self.lock.lock();
        let mut shares = self.read(id);
        let before = shares.len();
        shares.retain(|s| s.id != share_id);
        if shares.len() == before {
            return Ok(false);
        }
        self.write(id, &shares).map(|()| true)
    }

    fn read(&self, id: &RecordingId) -> Vec<Share> {
        match std::fs::read(self.path(id)) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                // A damaged list opens nothing: fail closed.
                tracing::warn!(recording = %id, "unreadable share list, ignored: {e}");
                Vec::new()
            }),
            Err(_) => Vec::new(),
        }
    }

    /// Written whole to a temporary file, then renamed over the list.
    fn write(&self, id: &RecordingId, shares: &[Share]) -> Result<(), ShareStoreError> {
        let path = self.path(id);
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(shares).expect("shares serialize");
        std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, &path)).map_err(|source| ShareStoreError { id: id.clone(), source })
    }
}

/// A new share id: 12 characters of `[a-z0-9]` from the system's random source.
pub fn new_share_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 12];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).expect("the system's random source");
    bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_added_listed_expired_and_revoked() {
        let dir = std::env::temp_dir().join(format!("podium-shares-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let shares = Shares::new(&dir);
        let id = RecordingId::parse("20261203-101500-abcdef").unwrap();
        let a = Share { id: new_share_id(), expires_at: "x".into(), exp: 100, created_by: "u".into() };
        let b = Share { id: new_share_id(), expires_at: "y".into(), exp: 200, created_by: "u".into() };
        assert!(crate::auth::token::is_valid_share_id(&a.id));
        shares.add(&id, a.clone(), 0).unwrap();
        shares.add(&id, b.clone(), 0).unwrap();
        assert_eq!(shares.list(&id, 50).len(), 2);
        assert!(shares.is_live(&id, &a.id, 99) && !shares.is_live(&id, &a.id, 100));
        assert_eq!(shares.list(&id, 150), vec![b.clone()]);
        assert!(shares.revoke(&id, &b.id).unwrap());
        assert!(!shares.revoke(&id, &b.id).unwrap());
        assert!(!shares.is_live(&id, &b.id, 150));
        // At the cap a link is refused until one is revoked or expires.
        let link = |exp| Share { id: new_share_id(), expires_at: "z".into(), exp, created_by: "u".into() };
        for _ in 1..MAX_LIVE_SHARES {
            shares.add(&id, link(300), 150).unwrap();
        }
        let last = link(400);
        shares.add(&id, last.clone(), 150).unwrap();
        assert!(matches!(shares.add(&id, link(300), 150), Err(AddShareError::TooMany { .. })));
        assert_eq!(shares.list(&id, 150).len(), MAX_LIVE_SHARES);
        assert!(shares.revoke(&id, &last.id).unwrap());
        shares.add(&id, link(300), 150).unwrap();
        assert!(matches!(shares.add(&id, link(300), 150), Err(AddShareError::TooMany { .. })));
        // Expired links do not count.
        shares.add(&id, link(500), 300).unwrap();
        assert_eq!(shares.list(&id, 300).len(), 1);
        std::fs::write(shares.path(&id), b"{broken").unwrap();
        assert!(shares.list(&id, 0).is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }
}
