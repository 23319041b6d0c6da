//! Fuzzes the broker's request decoder: frame header, registry checks, request header and the
//! body decode of every registered API. Any panic or abort is a bug (one frame must only ever
//! close its own connection). Run: `cd broker/fuzz && cargo fuzz run request_decoder`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = eddy_broker::server::connection::decode_request(bytes::Bytes::copy_from_slice(data));
});
