//! SCRAM-SHA-256/512 (RFC 5802, RFC 7677) shared by the broker and its clients: the
//! mechanisms and their primitives (HMAC, hash, Hi()), the iteration bounds Kafka enforces,
//! and the client side of the exchange, as Kafka's `ScramSaslClient` runs it. The broker builds
//! its stored credentials and server side on these (`eddy-broker`'s `security/sasl/scram.rs`);
//! brokers authenticating to each other and the operator's admin connections use the client.
//! Pure: no I/O.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

/// Kafka's bounds on a SCRAM credential's iteration count (`ScramMechanism.minIterations`
/// 4096; AlterUserScramCredentials refuses more than 16384).
pub const MIN_ITERATIONS: u32 = 4096;
pub const MAX_ITERATIONS: u32 = 16384;
/// The two SCRAM mechanisms Kafka supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ScramMechanism {
    #[serde(rename = "SCRAM-SHA-256")]
    Sha256,
    #[serde(rename = "SCRAM-SHA-512")]
    Sha512,
}

impl ScramMechanism {
    pub const ALL: [ScramMechanism; 2] = [ScramMechanism::Sha256, ScramMechanism::Sha512];

    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The type code of AlterUserScramCredentials/DescribeUserScramCredentials (Kafka's
    /// `ScramMechanism.type()`: 1 = SHA-256, 2 = SHA-512).
    pub fn code(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    pub fn from_code(code: i8) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.code() == code)
    }

    /// HMAC with this mechanism's hash.
    #[must_use]
    pub fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => {
                let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
                    .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            ScramMechanism::Sha512 => {
                let mut m = <Hmac<Sha512> as KeyInit>::new_from_slice(key)
                    .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    /// This mechanism's hash.
    #[must_use]
    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// RFC 5802's Hi(): PBKDF2 with this mechanism's HMAC.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => {
                let mut out = vec![0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out
            }
            ScramMechanism::Sha512 => {
                let mut out = vec![0u8; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out
            }
        }
    }
}

impl std::fmt::Display for ScramMechanism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a SCRAM exchange failed. The client only ever sees Kafka's generic failure message;
/// this reason goes to the broker's log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    #[error("malformed scram message: {0}")]
    Malformed(String),
    #[error("channel binding is not supported (gs2 header {0:?})")]
    ChannelBinding(String),
    #[error("delegation tokens (tokenauth) are not supported")]
    TokenAuth,
    #[error("authorization id {authzid:?} differs from the user name {user:?}")]
    AuthorizationId { authzid: String, user: String },
    #[error("unknown user {0:?} for this mechanism")]
    UnknownUser(String),
    #[error("the nonce changed between messages (expected {expected:?}, got {got:?})")]
    NonceMismatch { expected: String, got: String },
    #[error("the channel binding changed between messages")]
    ChannelBindingMismatch,
    #[error("invalid client proof")]
    InvalidProof,
    #[error("generating random bytes failed: {0}")]
    Random(String),
    #[error("the exchange is already complete")]
    Complete,
    #[error("the server refused: {0}")]
    ServerError(String),
    #[error("the server's signature is wrong (it does not know the credential)")]
    InvalidServerSignature,
}

/// `n` random bytes from the operating system.
pub fn random_bytes(n: usize) -> Result<Vec<u8>, ScramError> {
    let mut out = vec![0u8; n];
    getrandom::fill(&mut out).map_err(|e| ScramError::Random(e.to_string()))?;
    Ok(out)
}

/// RFC 5802 printable nonce characters: 0x21..=0x7e except ','.
pub fn check_nonce(nonce: &str) -> Result<(), ScramError> {
    if nonce.is_empty()
        || !nonce
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
    {
        return Err(ScramError::Malformed("bad nonce".into()));
    }
    Ok(())
}

/// A fresh nonce: 24 random bytes, base64 (printable, no ','), for either side.
///
/// # Errors
/// When the operating system has no randomness to give.
pub fn nonce() -> Result<String, ScramError> {
    Ok(B64.encode(random_bytes(24)?))
}

/// Where a client-side exchange is.
#[derive(Debug)]
enum ClientStage {
    /// client-first sent; waiting for server-first.
    AwaitingServerFirst,
    /// client-final sent; waiting for server-final, whose signature must be this.
    AwaitingServerFinal {
        server_signature: Vec<u8>,
    },
    Done,
}

/// The client side of one SCRAM exchange (RFC 5802), as Kafka's `ScramSaslClient` runs it:
/// no channel binding, no authorization id. Used by brokers to authenticate to each other and by the operator.
#[derive(Debug)]
pub struct ScramClient {
    mechanism: ScramMechanism,
    password: String,
    nonce: String,
    first_bare: String,
    stage: ClientStage,
}

/// A user name as a saslname: ',' is `=2C` and '=' is `=3D`.
#[must_use]
pub fn encode_saslname(s: &str) -> String {
    s.replace('=', "=3D").replace(',', "=2C")
}

impl ScramClient {
    /// A client for `user`/`password`; `nonce` is fresh randomness ([`nonce`] makes
    /// one; a parameter so tests can replay RFC vectors).
    pub fn new(mechanism: ScramMechanism, user: &str, password: &str, nonce: &str) -> Self {
        ScramClient {
            mechanism,
            password: password.to_string(),
            nonce: nonce.to_string(),
            first_bare: format!("n={},r={nonce}", encode_saslname(user)),
            stage: ClientStage::AwaitingServerFirst,
        }
    }

    /// The client-first message.
    pub fn client_first(&self) -> Vec<u8> {
        format!("n,,{}", self.first_bare).into_bytes()
    }

    /// Reads the server-first message and returns the client-final one. The server's nonce
    /// must extend ours; its iteration count must be at least [`MIN_ITERATIONS`] (and at most
    /// [`MAX_ITERATIONS`], so a hostile server cannot make us spin).
    pub fn server_first(&mut self, msg: &[u8]) -> Result<Vec<u8>, ScramError> {
        if !matches!(self.stage, ClientStage::AwaitingServerFirst) {
            return Err(ScramError::Complete);
        }
        self.stage = ClientStage::Done;
        let server_first = std::str::from_utf8(msg)
            .map_err(|_| ScramError::Malformed("server-first is not UTF-8".into()))?;
        let mut attrs = server_first.split(',');
        let mut next = |key: &str| {
            attrs
                .next()
                .and_then(|a| a.strip_prefix(key))
                .ok_or_else(|| ScramError::Malformed(format!("server-first has no {key}")))
        };
        let nonce = next("r=")?;
        let salt = next("s=")?;
        let iterations = next("i=")?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err(ScramError::NonceMismatch {
                expected: format!("{}...", self.nonce),
                got: nonce.to_string(),
            });
        }
        check_nonce(nonce)?;
        let salt = B64
            .decode(salt)
            .map_err(|e| ScramError::Malformed(format!("salt is not base64: {e}")))?;
        let iterations: u32 = iterations
            .parse()
            .ok()
            .filter(|i| (MIN_ITERATIONS..=MAX_ITERATIONS).contains(i))
            .ok_or_else(|| {
                ScramError::Malformed(format!("iteration count {iterations:?} out of range"))
            })?;
        let m = self.mechanism;
        let salted = m.salted_password(self.password.as_bytes(), &salt, iterations);
        let client_key = m.hmac(&salted, b"Client Key");
        let stored_key = m.hash(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.first_bare);
        let signature = m.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = m.hmac(&salted, b"Server Key");
        self.stage = ClientStage::AwaitingServerFinal {
            server_signature: m.hmac(&server_key, auth_message.as_bytes()),
        };
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    /// Checks the server-final message: the server proves it knows the credential.
    pub fn server_final(&mut self, msg: &[u8]) -> Result<(), ScramError> {
        let ClientStage::AwaitingServerFinal { server_signature } =
            std::mem::replace(&mut self.stage, ClientStage::Done)
        else {
            return Err(ScramError::Complete);
        };
        let msg = std::str::from_utf8(msg)
            .map_err(|_| ScramError::Malformed("server-final is not UTF-8".into()))?;
        if let Some(e) = msg.strip_prefix("e=") {
            return Err(ScramError::ServerError(e.to_string()));
        }
        let verifier = msg
            .split(',')
            .next()
            .and_then(|a| a.strip_prefix("v="))
            .ok_or_else(|| ScramError::Malformed("server-final has no verifier".into()))?;
        let verifier = B64
            .decode(verifier)
            .map_err(|e| ScramError::Malformed(format!("verifier is not base64: {e}")))?;
        if !bool::from(verifier.ct_eq(&server_signature)) {
            return Err(ScramError::InvalidServerSignature);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7677_sha256_test_vector_client_side() {
        // RFC 7677 section 3, from the client's side.
        let mut c = ScramClient::new(
            ScramMechanism::Sha256,
            "user",
            "pencil",
            "rOprNGfwEbeRWgbNEkqO",
        );
        assert_eq!(c.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let fin = c
            .server_first(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
            .expect("server-first");
        assert_eq!(
            fin,
            b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        c.server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .expect("server-final");
    }
}
