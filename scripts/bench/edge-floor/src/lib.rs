//! The floor of ShopAI's HTTP protocol: what any component answering like the edge pays before
//! it does any work of its own. It sends one stored answer (`FLOOR_BODY`, a file; by default the
//! trivial component's `{"ok":true}`) with the edge's response headers, to every request. With
//! `FLOOR_READ=1` it first reads the request body the way the edge does (declared length, from
//! the body stream). `scripts/bench-edge-floor.sh` serves it beside the edge and the trivial
//! component; docs/BENCHMARKS.md has the figures.

use bytes::Bytes;
use spin_sdk::http::{FullBody, IntoResponse, Request};
use spin_sdk::http_service;
use std::sync::OnceLock;

/// The answer sent, read once per instance.
fn answer() -> Bytes {
    static ANSWER: OnceLock<Bytes> = OnceLock::new();
    ANSWER
        .get_or_init(|| match std::env::var("FLOOR_BODY") {
            Ok(path) => Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("FLOOR_BODY {path}: {e}"))),
            Err(_) => Bytes::from_static(b"{\"ok\":true}"),
        })
        .clone()
}

fn reads_body() -> bool {
    static READ: OnceLock<bool> = OnceLock::new();
    *READ.get_or_init(|| std::env::var("FLOOR_READ").is_ok_and(|v| v == "1"))
}

/// The request body, read as the edge's `read_body` reads one with a declared length.
async fn read_body(req: Request) -> Vec<u8> {
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = Vec::new();
    let Some(message) = (declared > 0).then(|| req.into_body().take_unstarted()).flatten() else {
        return body;
    };
    let (_done, done) = wasip3::wit_future::new(|| Ok(()));
    let (mut stream, _trailers) = wasip3::http::types::Request::consume_body(message, done);
    while body.len() < declared {
        let (result, chunk): (_, Vec<u8>) = stream.read(Vec::with_capacity(declared - body.len())).await;
        body.extend_from_slice(&chunk);
        if !matches!(result, wasip3::wit_bindgen::StreamResult::Complete(_)) {
            break;
        }
    }
    body
}

#[http_service]
async fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    if reads_body() {
        std::hint::black_box(read_body(req).await);
    }
    let body = answer();
    Ok(http::Response::builder()
        .status(200)
        .header("x-shopai-version", "floor")
        .header("content-type", "application/json")
        .header("content-length", body.len())
        .header("access-control-allow-origin", "*")
        .body(FullBody::new(body))?)
}
