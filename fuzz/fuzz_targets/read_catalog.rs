//! Any bytes: the catalog reader returns products or an error, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = shopai_batch::data::catalog::read_catalog(data);
});
