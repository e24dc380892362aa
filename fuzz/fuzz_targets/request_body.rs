//! Every JSON request body of the API (and the portal's form bodies), decoded and checked as
//! the handlers do before anything is stored.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bioguard_server::fuzzing::request_body(data);
});
