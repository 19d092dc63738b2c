//! Session keys: generation, parsing, hashing and constant-time checks.
//!
//! A key is `<sessionId>.<secret>`, both 22-character base64url strings of 128 random bits.
//! The session id names the Durable Object; the secret decides the role. The object stores
//! only SHA-256 hashes of the three secrets, so a leaked storage dump grants nothing.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::ApiError;

/// Length in characters of a base64url-encoded 128-bit value.
const PART_LEN: usize = 22;

/// What a key lets its holder do; ordered so that a higher role includes the lower ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read the state, subscribe, send ephemeral messages.
    Read,
    /// Everything `Read` does, plus change the state.
    Write,
    /// Everything `Write` does, plus delete the session and rotate keys.
    Admin,
}

impl Role {
    /// The lowercase name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }

    /// Ok when this role may change the state.
    pub fn require_write(self) -> Result<(), ApiError> {
        if self >= Role::Write {
            Ok(())
        } else {
            Err(ApiError::ReadOnly)
        }
    }

    /// Ok when this role may delete the session or rotate keys.
    pub fn require_admin(self) -> Result<(), ApiError> {
        match self {
            Role::Admin => Ok(()),
            Role::Write => Err(ApiError::AdminRequired),
            Role::Read => Err(ApiError::ReadOnly),
        }
    }
}

/// A parsed key: which session, and the secret presented for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKey {
    /// The session id (the Durable Object's name).
    pub session_id: String,
    /// The secret, to be hashed and compared with the stored hashes.
    pub secret: String,
}

impl SessionKey {
    /// Parses `<sessionId>.<secret>`; anything else is `invalid_key`.
    pub fn parse(key: &str) -> Result<Self, ApiError> {
        let (id, secret) = key.split_once('.').ok_or(ApiError::InvalidKey)?;
        if !is_part(id) || !is_part(secret) {
            return Err(ApiError::InvalidKey);
        }
        Ok(SessionKey { session_id: id.to_owned(), secret: secret.to_owned() })
    }

    /// Formats the key as clients see it.
    pub fn format(session_id: &str, secret: &str) -> String {
        format!("{session_id}.{secret}")
    }
}

fn is_part(s: &str) -> bool {
    s.len() == PART_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Returns 128 fresh random bits as a 22-character base64url string.
pub fn random_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Internal(format!("getrandom failed: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Hex SHA-256 of a secret, as stored.
pub fn hash_secret(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
    }
    out
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The stored hashes of a session's three secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyHashes {
    /// Hash of the admin secret.
    pub admin: String,
    /// Hash of the write secret.
    pub write: String,
    /// Hash of the read secret.
    pub read: String,
}

impl KeyHashes {
    /// The role a secret grants, checking every hash so timing does not reveal which matched.
    pub fn role_of(&self, secret: &str) -> Option<Role> {
        let h = hash_secret(secret);
        let admin = constant_time_eq(h.as_bytes(), self.admin.as_bytes());
        let write = constant_time_eq(h.as_bytes(), self.write.as_bytes());
        let read = constant_time_eq(h.as_bytes(), self.read.as_bytes());
        if admin {
            Some(Role::Admin)
        } else if write {
            Some(Role::Write)
        } else if read {
            Some(Role::Read)
        } else {
            None
        }
    }
}

/// Fresh secrets for the three roles, returned once to the creator and never stored.
#[derive(Debug, Clone)]
pub struct Secrets {
    /// The admin secret.
    pub admin: String,
    /// The write secret.
    pub write: String,
    /// The read secret.
    pub read: String,
}

impl Secrets {
    /// Draws three new random secrets.
    pub fn generate() -> Result<Self, ApiError> {
        Ok(Secrets { admin: random_token()?, write: random_token()?, read: random_token()? })
    }

    /// The hashes to store.
    pub fn hashes(&self) -> KeyHashes {
        KeyHashes { admin: hash_secret(&self.admin), write: hash_secret(&self.write), read: hash_secret(&self.read) }
    }

    /// The three full keys as returned to the client: `{"admin","write","read"}`.
    pub fn keys_json(&self, session_id: &str) -> serde_json::Value {
        serde_json::json!({
            "admin": SessionKey::format(session_id, &self.admin),
            "write": SessionKey::format(session_id, &self.write),
            "read": SessionKey::format(session_id, &self.read),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_128_bit_url_safe_and_distinct() {
        let a = random_token().unwrap();
        let b = random_token().unwrap();
        assert_eq!(a.len(), 22);
        assert_ne!(a, b);
        assert!(is_part(&a));
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 16);
    }

    #[test]
    fn parse_round_trips_and_rejects_garbage() {
        let id = random_token().unwrap();
        let secret = random_token().unwrap();
        let key = SessionKey::parse(&SessionKey::format(&id, &secret)).unwrap();
        assert_eq!(key.session_id, id);
        assert_eq!(key.secret, secret);
        for bad in ["", "abc", "a.b", &id, &format!("{id}.{secret}x"), &format!("{id}.{}!", &secret[..21])] {
            assert_eq!(SessionKey::parse(bad), Err(ApiError::InvalidKey), "{bad}");
        }
    }

    #[test]
    fn roles_come_only_from_matching_secrets() {
        let s = Secrets::generate().unwrap();
        let h = s.hashes();
        assert_eq!(h.role_of(&s.admin), Some(Role::Admin));
        assert_eq!(h.role_of(&s.write), Some(Role::Write));
        assert_eq!(h.role_of(&s.read), Some(Role::Read));
        assert_eq!(h.role_of(&random_token().unwrap()), None);
        assert!(!h.admin.contains(&s.admin));
    }

    #[test]
    fn role_checks() {
        assert_eq!(Role::Read.require_write(), Err(ApiError::ReadOnly));
        assert!(Role::Write.require_write().is_ok());
        assert_eq!(Role::Write.require_admin(), Err(ApiError::AdminRequired));
        assert_eq!(Role::Read.require_admin(), Err(ApiError::ReadOnly));
        assert!(Role::Admin.require_admin().is_ok());
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert_eq!(hash_secret("x").len(), 64);
    }
}
