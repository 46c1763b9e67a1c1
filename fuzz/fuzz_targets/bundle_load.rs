//! Any bytes: loading a bundle is an error or a bundle whose queries answer, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shopai_core::service::{answer_recommend, answer_search, RecommendRequest, Scratch, SearchRequest};

fuzz_target!(|data: &[u8]| {
    if let Ok(b) = shopai_core::Bundle::load(data) {
        let v = b.view();
        let mut s = Scratch::default();
        let _ = answer_search(&v, &SearchRequest { query: Some("a b".into()), ..Default::default() }, None, &mut s);
        let _ = answer_recommend(&v, &RecommendRequest { history: vec!["x".into()], ..Default::default() }, &mut s);
    }
});
