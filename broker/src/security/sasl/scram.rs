//! SCRAM-SHA-256/512 (RFC 5802, RFC 7677) as Kafka's `ScramSaslServer` runs it: the stored
//! credential (salt, iterations, StoredKey, ServerKey — never the password), its derivation,
//! and the server side of the exchange (client-first → server-first, client-final →
//! server-final). Pure: no I/O, so the exchange is unit-tested and fuzzed directly. The
//! mechanisms, their primitives and the client side live in `eddy-kafka-client` (one
//! implementation for brokers and the operator) and are re-exported here.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

pub use eddy_kafka_client::scram::{
    MAX_ITERATIONS, MIN_ITERATIONS, ScramClient, ScramError, ScramMechanism, check_nonce,
    nonce as server_nonce, random_bytes,
};

/// A stored SCRAM credential, as Kafka stores it (`ScramCredential`): never the password.
/// Byte fields are base64 in the metadata files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramCredential {
    #[serde(with = "b64")]
    pub salt: Vec<u8>,
    #[serde(with = "b64")]
    pub stored_key: Vec<u8>,
    #[serde(with = "b64")]
    pub server_key: Vec<u8>,
    pub iterations: u32,
}

impl ScramCredential {
    /// The credential for a salted password (what AlterUserScramCredentials sends).
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salted: &[u8],
        salt: Vec<u8>,
        iterations: u32,
    ) -> Self {
        let client_key = mechanism.hmac(salted, b"Client Key");
        ScramCredential {
            salt,
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(salted, b"Server Key"),
            iterations,
        }
    }

    /// The credential for a password with a fresh random salt.
    pub fn from_password(
        mechanism: ScramMechanism,
        password: &str,
        iterations: u32,
    ) -> Result<Self, ScramError> {
        let salt = random_bytes(32)?;
        let salted = mechanism.salted_password(password.as_bytes(), &salt, iterations);
        Ok(Self::from_salted_password(
            mechanism, &salted, salt, iterations,
        ))
    }

    /// Whether `password` is this credential's password (PLAIN against SCRAM credentials):
    /// derived with the stored salt and iterations, compared in constant time.
    pub fn verifies(&self, mechanism: ScramMechanism, password: &str) -> bool {
        let salted = mechanism.salted_password(password.as_bytes(), &self.salt, self.iterations);
        let derived =
            Self::from_salted_password(mechanism, &salted, self.salt.clone(), self.iterations);
        bool::from(derived.stored_key.ct_eq(&self.stored_key))
    }
}

mod b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD.decode(s).map_err(serde::de::Error::custom)
    }
}

/// A parsed client-first message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst {
    /// The gs2 header as sent ("n,," / "y,," / "n,a=user,"): the client-final `c=` repeats it.
    pub gs2_header: String,
    pub user: String,
    pub nonce: String,
    /// client-first-message-bare: part of the AuthMessage.
    pub bare: String,
}

/// Parses a client-first message; rejects channel binding (other than `n`/`y`), a different
/// authorization id, and the `tokenauth` extension (Kafka's delegation tokens).
pub fn parse_client_first(msg: &[u8]) -> Result<ClientFirst, ScramError> {
    let msg = std::str::from_utf8(msg)
        .map_err(|_| ScramError::Malformed("client-first is not UTF-8".into()))?;
    let mut parts = msg.splitn(3, ',');
    let cbind = parts.next().unwrap_or_default();
    let authzid = parts
        .next()
        .ok_or_else(|| ScramError::Malformed("client-first has no gs2 header".into()))?;
    let bare = parts
        .next()
        .ok_or_else(|| ScramError::Malformed("client-first has no bare message".into()))?;
    if cbind != "n" && cbind != "y" {
        return Err(ScramError::ChannelBinding(format!("{cbind},{authzid},")));
    }
    let authzid = match authzid {
        "" => None,
        a => Some(
            a.strip_prefix("a=")
                .ok_or_else(|| ScramError::Malformed(format!("bad authzid {a:?}")))
                .and_then(decode_saslname)?,
        ),
    };
    let mut attrs = bare.split(',');
    let user = attrs
        .next()
        .and_then(|a| a.strip_prefix("n="))
        .ok_or_else(|| ScramError::Malformed("client-first has no user name".into()))?;
    let user = decode_saslname(user)?;
    if user.is_empty() {
        return Err(ScramError::Malformed("empty user name".into()));
    }
    let nonce = attrs
        .next()
        .and_then(|a| a.strip_prefix("r="))
        .ok_or_else(|| ScramError::Malformed("client-first has no nonce".into()))?;
    check_nonce(nonce)?;
    for ext in attrs {
        let (key, _) = ext
            .split_once('=')
            .ok_or_else(|| ScramError::Malformed(format!("bad extension {ext:?}")))?;
        if key == "tokenauth" {
            return Err(ScramError::TokenAuth);
        }
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ScramError::Malformed(format!("bad extension {ext:?}")));
        }
    }
    if let Some(a) = authzid
        && a != user
    {
        return Err(ScramError::AuthorizationId { authzid: a, user });
    }
    Ok(ClientFirst {
        gs2_header: msg[..msg.len() - bare.len()].to_string(),
        user,
        nonce: nonce.to_string(),
        bare: bare.to_string(),
    })
}

/// A parsed client-final message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFinal {
    pub channel_binding: Vec<u8>,
    pub nonce: String,
    pub proof: Vec<u8>,
    /// client-final-message-without-proof: part of the AuthMessage.
    pub without_proof: String,
}

pub fn parse_client_final(msg: &[u8]) -> Result<ClientFinal, ScramError> {
    let msg = std::str::from_utf8(msg)
        .map_err(|_| ScramError::Malformed("client-final is not UTF-8".into()))?;
    let (without_proof, proof) = msg
        .rsplit_once(",p=")
        .ok_or_else(|| ScramError::Malformed("client-final has no proof".into()))?;
    let mut attrs = without_proof.split(',');
    let cb = attrs
        .next()
        .and_then(|a| a.strip_prefix("c="))
        .ok_or_else(|| ScramError::Malformed("client-final has no channel binding".into()))?;
    let nonce = attrs
        .next()
        .and_then(|a| a.strip_prefix("r="))
        .ok_or_else(|| ScramError::Malformed("client-final has no nonce".into()))?;
    let decode = |what: &str, s: &str| {
        B64.decode(s)
            .map_err(|e| ScramError::Malformed(format!("{what} is not base64: {e}")))
    };
    Ok(ClientFinal {
        channel_binding: decode("channel binding", cb)?,
        nonce: nonce.to_string(),
        proof: decode("proof", proof)?,
        without_proof: without_proof.to_string(),
    })
}

/// A saslname: `=2C` is ',' and `=3D` is '='; any other '=' is malformed.
fn decode_saslname(s: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let esc = rest.get(i..i + 3);
        match esc {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(ScramError::Malformed(format!("bad saslname {s:?}"))),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Where a server-side exchange is.
#[derive(Debug)]
enum Stage {
    AwaitingClientFirst,
    AwaitingClientFinal(Box<Pending>),
    Done,
}

/// What the server keeps between client-first and client-final.
#[derive(Debug)]
struct Pending {
    first: ClientFirst,
    server_first: String,
    nonce: String,
    credential: ScramCredential,
}

/// What a step of the exchange produced.
#[derive(Debug, PartialEq, Eq)]
pub enum ScramStep {
    /// Send this challenge and wait for the next client message.
    Challenge(Vec<u8>),
    /// Authenticated as `user`; send this final message.
    Authenticated { user: String, server_final: Vec<u8> },
}

/// The server side of one SCRAM exchange.
#[derive(Debug)]
pub struct ScramServer {
    mechanism: ScramMechanism,
    stage: Stage,
}

impl ScramServer {
    pub fn new(mechanism: ScramMechanism) -> Self {
        ScramServer {
            mechanism,
            stage: Stage::AwaitingClientFirst,
        }
    }

    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// Handles one client message. `lookup` finds the user's credential for this mechanism;
    /// `server_nonce` is fresh randomness (a parameter so tests can replay RFC vectors).
    pub fn step(
        &mut self,
        msg: &[u8],
        lookup: &dyn Fn(&str) -> Option<ScramCredential>,
        server_nonce: &str,
    ) -> Result<ScramStep, ScramError> {
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::AwaitingClientFirst => {
                let first = parse_client_first(msg)?;
                let credential = lookup(&first.user)
                    .ok_or_else(|| ScramError::UnknownUser(first.user.clone()))?;
                let nonce = format!("{}{server_nonce}", first.nonce);
                let server_first = format!(
                    "r={nonce},s={},i={}",
                    B64.encode(&credential.salt),
                    credential.iterations
                );
                let out = server_first.clone().into_bytes();
                self.stage = Stage::AwaitingClientFinal(Box::new(Pending {
                    first,
                    server_first,
                    nonce,
                    credential,
                }));
                Ok(ScramStep::Challenge(out))
            }
            Stage::AwaitingClientFinal(pending) => {
                let Pending {
                    first,
                    server_first,
                    nonce,
                    credential,
                } = *pending;
                let fin = parse_client_final(msg)?;
                if fin.channel_binding != first.gs2_header.as_bytes() {
                    return Err(ScramError::ChannelBindingMismatch);
                }
                // Kafka checks `endsWith`, not equality: librdkafka sends its own nonce again
                // in front of the combined one.
                if !fin.nonce.ends_with(&nonce) {
                    return Err(ScramError::NonceMismatch {
                        expected: nonce,
                        got: fin.nonce,
                    });
                }
                let auth_message = format!("{},{server_first},{}", first.bare, fin.without_proof);
                let m = self.mechanism;
                let client_signature = m.hmac(&credential.stored_key, auth_message.as_bytes());
                if fin.proof.len() != client_signature.len() {
                    return Err(ScramError::InvalidProof);
                }
                let client_key: Vec<u8> = fin
                    .proof
                    .iter()
                    .zip(&client_signature)
                    .map(|(a, b)| a ^ b)
                    .collect();
                if !bool::from(m.hash(&client_key).ct_eq(&credential.stored_key)) {
                    return Err(ScramError::InvalidProof);
                }
                let server_signature = m.hmac(&credential.server_key, auth_message.as_bytes());
                Ok(ScramStep::Authenticated {
                    user: first.user,
                    server_final: format!("v={}", B64.encode(server_signature)).into_bytes(),
                })
            }
            Stage::Done => Err(ScramError::Complete),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The client side, for round trips.
    fn client_final(
        m: ScramMechanism,
        password: &str,
        client_first_bare: &str,
        server_first: &str,
        nonce_prefix: &str,
    ) -> String {
        let attrs: Vec<&str> = server_first.split(',').collect();
        let nonce = &attrs[0][2..];
        let salt = B64.decode(&attrs[1][2..]).expect("salt");
        let iterations: u32 = attrs[2][2..].parse().expect("iterations");
        let salted = m.salted_password(password.as_bytes(), &salt, iterations);
        let client_key = m.hmac(&salted, b"Client Key");
        let stored = m.hash(&client_key);
        let without_proof = format!("c=biws,r={nonce_prefix}{nonce}");
        let auth = format!("{client_first_bare},{server_first},{without_proof}");
        let sig = m.hmac(&stored, auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
        format!("{without_proof},p={}", B64.encode(proof))
    }

    #[test]
    fn rfc7677_sha256_test_vector() {
        // RFC 7677 section 3: user "user", password "pencil".
        let m = ScramMechanism::Sha256;
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").expect("salt");
        let salted = m.salted_password(b"pencil", &salt, 4096);
        let cred = ScramCredential::from_salted_password(m, &salted, salt, 4096);
        let mut server = ScramServer::new(m);
        let lookup = |u: &str| (u == "user").then(|| cred.clone());
        let first = server
            .step(
                b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
                &lookup,
                "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
            )
            .expect("client-first");
        assert_eq!(
            first,
            ScramStep::Challenge(
                b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
                    .to_vec()
            )
        );
        let fin = server
            .step(
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
                &lookup,
                "unused",
            )
            .expect("client-final");
        assert_eq!(
            fin,
            ScramStep::Authenticated {
                user: "user".into(),
                server_final: b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec()
            }
        );
        assert!(cred.verifies(m, "pencil"));
        assert!(!cred.verifies(m, "pencil2"));
    }

    fn exchange(
        m: ScramMechanism,
        stored_pw: &str,
        client_pw: &str,
    ) -> Result<ScramStep, ScramError> {
        let cred = ScramCredential::from_password(m, stored_pw, 4096).expect("credential");
        let lookup = |u: &str| (u == "alice").then(|| cred.clone());
        let mut server = ScramServer::new(m);
        let bare = "n=alice,r=fyko+d2lbbFgONRv9qkxdawL";
        let ScramStep::Challenge(sf) =
            server.step(format!("n,,{bare}").as_bytes(), &lookup, &server_nonce()?)?
        else {
            panic!("expected a challenge");
        };
        let sf = String::from_utf8(sf).expect("utf-8");
        let fin = client_final(m, client_pw, bare, &sf, "");
        server.step(fin.as_bytes(), &lookup, "x")
    }

    #[test]
    fn librdkafka_repeating_its_nonce_in_client_final_is_accepted_as_kafka_does() {
        let m = ScramMechanism::Sha512;
        let cred = ScramCredential::from_password(m, "pw", 4096).expect("credential");
        let lookup = |_: &str| Some(cred.clone());
        let mut server = ScramServer::new(m);
        let bare = "n=u,r=cli";
        let ScramStep::Challenge(sf) = server
            .step(format!("n,,{bare}").as_bytes(), &lookup, "srv")
            .expect("first")
        else {
            panic!("expected a challenge");
        };
        let sf = String::from_utf8(sf).expect("utf-8");
        // librdkafka: r=<its nonce><the server's r>.
        let fin = client_final(m, "pw", bare, &sf, "cli");
        assert!(matches!(
            server.step(fin.as_bytes(), &lookup, "x"),
            Ok(ScramStep::Authenticated { .. })
        ));
    }

    #[test]
    fn sha512_round_trip_and_wrong_password() {
        let m = ScramMechanism::Sha512;
        let ok = exchange(m, "s3cret", "s3cret").expect("authenticated");
        assert!(matches!(ok, ScramStep::Authenticated { ref user, .. } if user == "alice"));
        assert_eq!(
            exchange(m, "s3cret", "wrong"),
            Err(ScramError::InvalidProof)
        );
        assert!(exchange(ScramMechanism::Sha256, "pw", "pw").is_ok());
    }

    #[test]
    fn malformed_and_unsupported_client_firsts_are_refused() {
        let cred =
            ScramCredential::from_password(ScramMechanism::Sha256, "pw", 4096).expect("cred");
        let lookup = |_: &str| Some(cred.clone());
        for (msg, want) in [
            ("p=tls-unique,,n=a,r=x", "channel"),
            ("n,,n=a,r=x,tokenauth=true", "tokenauth"),
            ("n,a=bob,n=alice,r=x", "authorization"),
            ("n,,n=a", "nonce"),
            ("n,,r=x", "user"),
            ("n,,n=a=zz,r=x", "saslname"),
            ("garbage", "gs2"),
        ] {
            let err = ScramServer::new(ScramMechanism::Sha256)
                .step(msg.as_bytes(), &lookup, "n")
                .expect_err(msg);
            assert!(err.to_string().contains(want), "{msg}: {err}");
        }
        assert!(parse_client_first(b"n,,n=a=2Cb=3D,r=x").is_ok_and(|f| f.user == "a,b="));
        let none = |_: &str| None;
        assert_eq!(
            ScramServer::new(ScramMechanism::Sha256).step(b"n,,n=a,r=x", &none, "n"),
            Err(ScramError::UnknownUser("a".into()))
        );
    }

    #[test]
    fn a_wrong_nonce_or_channel_binding_in_client_final_is_refused() {
        let m = ScramMechanism::Sha256;
        let cred = ScramCredential::from_password(m, "pw", 4096).expect("cred");
        let lookup = |_: &str| Some(cred.clone());
        for (fin, want) in [
            (
                "c=biws,r=abcOTHER,p=AAAA",
                ScramError::NonceMismatch {
                    expected: "abcSRV".into(),
                    got: "abcOTHER".into(),
                },
            ),
            ("c=eSws,r=abcSRV,p=AAAA", ScramError::ChannelBindingMismatch),
            ("c=biws,r=abcSRV,p=AAAA", ScramError::InvalidProof),
        ] {
            let mut s = ScramServer::new(m);
            s.step(b"n,,n=u,r=abc", &lookup, "SRV").expect("first");
            assert_eq!(s.step(fin.as_bytes(), &lookup, "x"), Err(want), "{fin}");
        }
        let mut s = ScramServer::new(m);
        s.step(b"n,,n=u,r=abc", &lookup, "SRV").expect("first");
        assert!(matches!(
            s.step(b"c=biws,r=abcSRV,p=!!!", &lookup, "x"),
            Err(ScramError::Malformed(_))
        ));
    }

    #[test]
    fn client_and_server_agree_and_the_client_checks_the_server() {
        for m in ScramMechanism::ALL {
            let cred = ScramCredential::from_password(m, "pw", 4096).expect("cred");
            let lookup = |u: &str| (u == "a,b=").then(|| cred.clone());
            let mut server = ScramServer::new(m);
            let mut client = ScramClient::new(m, "a,b=", "pw", &server_nonce().expect("nonce"));
            let ScramStep::Challenge(sf) = server
                .step(&client.client_first(), &lookup, "SRV")
                .expect("first")
            else {
                panic!("expected a challenge");
            };
            let cf = client.server_first(&sf).expect("client-final");
            let ScramStep::Authenticated { user, server_final } =
                server.step(&cf, &lookup, "x").expect("final")
            else {
                panic!("expected success");
            };
            assert_eq!(user, "a,b=");
            client.server_final(&server_final).expect("server verified");
        }
        // A server that does not know the password cannot forge server-final.
        let m = ScramMechanism::Sha512;
        let mut client = ScramClient::new(m, "u", "pw", "abc");
        client
            .server_first(b"r=abcSRV,s=AAAA,i=4096")
            .expect("client-final");
        assert_eq!(
            client.server_final(b"v=AAAA"),
            Err(ScramError::InvalidServerSignature)
        );
        // The server must extend our nonce and use a sane iteration count.
        for sf in [
            "r=xyz,s=AAAA,i=4096",
            "r=abc,s=AAAA,i=4096",
            "r=abcS,s=AAAA,i=1",
            "r=abcS,s=AAAA,i=99999999",
            "garbage",
        ] {
            assert!(
                ScramClient::new(m, "u", "pw", "abc")
                    .server_first(sf.as_bytes())
                    .is_err(),
                "{sf}"
            );
        }
        let mut client = ScramClient::new(m, "u", "pw", "abc");
        client
            .server_first(b"r=abcS,s=AAAA,i=4096")
            .expect("client-final");
        assert!(matches!(
            client.server_final(b"e=invalid-proof"),
            Err(ScramError::ServerError(_))
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_client_messages_never_panic(a in proptest::collection::vec(any::<u8>(), 0..200), b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let cred = ScramCredential { salt: vec![1; 16], stored_key: vec![2; 32], server_key: vec![3; 32], iterations: 4096 };
            let lookup = |_: &str| Some(cred.clone());
            let mut s = ScramServer::new(ScramMechanism::Sha256);
            let _ = s.step(&a, &lookup, "n");
            let _ = s.step(&b, &lookup, "n");
            let _ = parse_client_final(&a);
        }

        #[test]
        fn printable_client_firsts_never_panic(m in "[a-z=,]{0,8}[ -~]{0,60}") {
            let _ = parse_client_first(m.as_bytes());
            let _ = parse_client_final(m.as_bytes());
        }
    }
}
