//! Any bytes: the ratings reader returns rows or an error, never panics, and its ledger balances.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shopai_batch::data::ratings::{read_ratings, RatingsOptions};

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = read_ratings(data, &RatingsOptions::default()) {
        assert!(r.ledger_balances());
    }
});
