//! `shopai serve-embeddings`: an OpenAI-compatible `POST /v1/embeddings` (and `GET /v1/models`)
//! backed by the local model, so everything that speaks to OpenAI works offline.

use super::model::{LocalModel, MODEL_NAME};
use anyhow::{anyhow, Result};
use serde::Deserialize;
use serde_json::json;
use std::io::Read;

/// Largest request body accepted.
const MAX_BODY: usize = 8 << 20;
/// Most inputs per request (as OpenAI).
const MAX_INPUTS: usize = 2048;

#[derive(Deserialize)]
#[serde(untagged)]
enum Input {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Request {
    input: Input,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    dimensions: Option<usize>,
    #[serde(default)]
    encoding_format: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    user: Option<String>,
}

fn error(status: u16, kind: &str, message: &str) -> (u16, serde_json::Value) {
    (status, json!({"error": {"message": message, "type": kind, "code": status}}))
}

/// Standard base64 with padding (what OpenAI's `encoding_format: "base64"` carries: f32 LE bytes).
pub fn encode_base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for k in 0..4 {
            if k <= c.len() {
                out.push(ABC[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Answer one `POST /v1/embeddings` body.
pub fn embeddings(model: &LocalModel, body: &[u8]) -> (u16, serde_json::Value) {
    let req: Request = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return error(400, "invalid_request_error", &format!("body is not a valid embeddings request: {e}")),
    };
    if let Some(m) = &req.model {
        if m != MODEL_NAME && m != "sentence-transformers/all-MiniLM-L6-v2" {
            return error(404, "invalid_request_error", &format!("model {m:?} is not served here; use {MODEL_NAME:?}"));
        }
    }
    if let Some(d) = req.dimensions {
        if d != model.dims() {
            return error(
                400,
                "invalid_request_error",
                &format!("{MODEL_NAME} produces {} dimensions; `dimensions` {d} is not supported", model.dims()),
            );
        }
    }
    let base64 = match req.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return error(
                400,
                "invalid_request_error",
                &format!("encoding_format {other:?} is not \"float\" or \"base64\""),
            )
        }
    };
    let inputs = match req.input {
        Input::One(s) => vec![s],
        Input::Many(v) => v,
    };
    if inputs.is_empty() || inputs.len() > MAX_INPUTS {
        return error(400, "invalid_request_error", &format!("input must hold 1 to {MAX_INPUTS} strings"));
    }
    // One call per request: the model sorts the inputs by length and batches them itself.
    let (vectors, tokens) = match model.embed(&inputs) {
        Ok(x) => x,
        Err(e) => return error(500, "server_error", &format!("embedding failed: {e}")),
    };
    let data: Vec<serde_json::Value> = vectors
        .into_iter()
        .enumerate()
        .map(|(index, v)| {
            let embedding = if base64 {
                json!(encode_base64(&v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    (
        200,
        json!({"object": "list", "data": data, "model": MODEL_NAME, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}),
    )
}

/// Serve until killed. Prints the URL once listening.
pub fn run(model: LocalModel, addr: &str) -> Result<()> {
    let server = tiny_http::Server::http(addr).map_err(|e| anyhow!("listening on {addr}: {e}"))?;
    println!("serving {MODEL_NAME} on http://{}/v1/embeddings", server.server_addr());
    let json_header =
        tiny_http::Header::from_bytes("content-type", "application/json").map_err(|_| anyhow!("header"))?;
    for mut req in server.incoming_requests() {
        let started = std::time::Instant::now();
        let path = req.url().split('?').next().unwrap_or("").to_string();
        let method = req.method().as_str().to_string();
        let (status, body) = match (method.as_str(), path.as_str()) {
            ("POST", "/v1/embeddings" | "/embeddings") => {
                let mut buf = Vec::new();
                match req.as_reader().take(MAX_BODY as u64 + 1).read_to_end(&mut buf) {
                    Ok(_) if buf.len() > MAX_BODY => error(413, "invalid_request_error", "request body too large"),
                    Ok(_) => embeddings(&model, &buf),
                    Err(e) => error(400, "invalid_request_error", &format!("reading body: {e}")),
                }
            }
            ("GET", "/v1/models" | "/models") => {
                (200, json!({"object": "list", "data": [{"id": MODEL_NAME, "object": "model", "owned_by": "shopai"}]}))
            }
            ("GET", "/health") => (200, json!({"status": "ok", "model": MODEL_NAME})),
            _ => error(404, "invalid_request_error", &format!("no route for {method} {path}")),
        };
        crate::io::log::info(
            "request",
            json!({"method": method, "path": path, "status": status, "ms": started.elapsed().as_secs_f64() * 1000.0}),
        );
        let resp = tiny_http::Response::from_string(body.to_string())
            .with_status_code(status)
            .with_header(json_header.clone());
        let _ = req.respond(resp);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (raw, enc) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")] {
            assert_eq!(super::encode_base64(raw.as_bytes()), enc);
        }
    }
}
