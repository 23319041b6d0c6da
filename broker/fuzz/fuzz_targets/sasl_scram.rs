//! Fuzzes the SASL parsers a client reaches before authenticating: a SCRAM exchange's
//! client-first and client-final messages (through the server state machine), PLAIN messages,
//! and JAAS options. Any panic is a bug (bad input must only fail its own authentication).
//! Run: `cd broker/fuzz && cargo fuzz run sasl_scram`.
#![no_main]

use eddy_broker::security::sasl::{plain, scram};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte splits the input into the two client messages.
    let (split, rest) = data.split_first().unwrap_or((&0, &[]));
    let at = usize::from(*split).min(rest.len());
    let (first, last) = rest.split_at(at);
    let credential = scram::ScramCredential {
        salt: vec![1; 16],
        stored_key: vec![2; 64],
        server_key: vec![3; 64],
        iterations: 4096,
    };
    let lookup = |_: &str| Some(credential.clone());
    for m in scram::ScramMechanism::ALL {
        let mut server = scram::ScramServer::new(m);
        if server.step(first, &lookup, "nonce").is_ok() {
            let _ = server.step(last, &lookup, "nonce");
        }
    }
    let _ = scram::parse_client_final(rest);
    let _ = plain::parse(rest);
    if let Ok(text) = std::str::from_utf8(rest) {
        let _ = plain::jaas_users(text);
    }
});
