//! Channel secrets at rest: ChaCha20-Poly1305 (RustCrypto) under one 256-bit key the API loads
//! from its configuration or generates into its data directory on first start. Each value gets
//! a fresh random 96-bit nonce, stored in front of the ciphertext; the channel id is the
//! associated data, so a secret copied onto another channel's row does not decrypt.

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use std::path::Path;

/// Errors of the secrets key and of sealing or opening a secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secrets key: {0}")]
    Key(String),
    #[error("read or write the secrets key file {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error("open a stored secret: {0}")]
    Open(&'static str),
    #[error("random nonce: {0}")]
    Random(String),
}

/// Bytes of the nonce in front of each ciphertext.
const NONCE_LEN: usize = 12;

/// Seals and opens channel secrets.
#[derive(Clone)]
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N], SecretError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| SecretError::Random(e.to_string()))?;
    Ok(b)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl SecretBox {
    /// A box under `key` (32 bytes).
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: ChaCha20Poly1305::new(&Key::from(*key)),
        }
    }

    /// A box under a fresh random key that lives only in this process (tests, and the library's
    /// default before the binary loads the configured key).
    pub fn ephemeral() -> Result<Self, SecretError> {
        Ok(Self::new(&random_bytes::<32>()?))
    }

    /// A box under a key given as 64 hex digits (`EDDY_SECRETS_KEY`).
    pub fn from_hex(s: &str) -> Result<Self, SecretError> {
        let bytes = unhex(s).ok_or_else(|| SecretError::Key("expected 64 hex digits".into()))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| SecretError::Key("expected 64 hex digits (32 bytes)".into()))?;
        Ok(Self::new(&key))
    }

    /// Loads the key from `path` (64 hex digits), creating the file with a new random key and
    /// mode 0600 when it does not exist: the embedded default keeps it beside the database.
    pub fn load_or_create(path: &Path) -> Result<Self, SecretError> {
        let file_err = |source| SecretError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(s) => Self::from_hex(&s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                use std::io::Write as _;
                use std::os::unix::fs::OpenOptionsExt as _;
                let key = random_bytes::<32>()?;
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(file_err)?;
                f.write_all(format!("{}\n", hex(&key)).as_bytes())
                    .map_err(file_err)?;
                f.sync_all().map_err(file_err)?;
                Ok(Self::new(&key))
            }
            Err(e) => Err(file_err(e)),
        }
    }

    /// Encrypts `plain` bound to `context` (the channel id): base64 of nonce + ciphertext.
    pub fn seal(&self, context: &str, plain: &[u8]) -> Result<String, SecretError> {
        let nonce = random_bytes::<NONCE_LEN>()?;
        let ct = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Open("encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(base64::engine::general_purpose::STANDARD.encode(out))
    }

    /// Decrypts what [`Self::seal`] produced for the same `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, SecretError> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(|_| SecretError::Open("not base64"))?;
        if raw.len() < NONCE_LEN {
            return Err(SecretError::Open("too short"));
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| SecretError::Open("bad nonce"))?;
        self.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Open("wrong key or tampered value"))
    }
}

/// What responses show of a secret: its last 4 characters (or fewer when it is short).
pub fn hint(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    let tail: String = if chars.len() >= 12 {
        chars[chars.len() - 4..].iter().collect()
    } else {
        String::new()
    };
    format!("…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_context() {
        let b = SecretBox::new(&[7; 32]);
        let s = b.seal("ch1", b"routing-key").unwrap();
        assert!(!s.contains("routing-key"));
        assert_eq!(b.open("ch1", &s).unwrap(), b"routing-key");
        assert!(b.open("ch2", &s).is_err());
        assert!(SecretBox::new(&[8; 32]).open("ch1", &s).is_err());
        assert!(b.open("ch1", "!!").is_err());
        // A fresh nonce each time.
        assert_ne!(s, b.seal("ch1", b"routing-key").unwrap());
    }

    #[test]
    fn the_key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        let a = SecretBox::load_or_create(&path).unwrap();
        let s = a.seal("c", b"x").unwrap();
        let b = SecretBox::load_or_create(&path).unwrap();
        assert_eq!(b.open("c", &s).unwrap(), b"x");
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(SecretBox::from_hex("abc").is_err());
        assert!(SecretBox::from_hex(&"0".repeat(64)).is_ok());
    }

    #[test]
    fn hints_show_at_most_the_last_four() {
        assert_eq!(hint("abcdefghijklmnop"), "…mnop");
        assert_eq!(hint("short"), "…");
    }
}
