//! `POST /feedback`: shoppers' events, validated, stored in S3 as JSON lines for
//! `shopai ingest-feedback`.
//!
//! Body: one event or an array of up to [`MAX_EVENTS`]:
//! `{ user_id? | session_id?, product_id, event: impression | click | add_to_cart | purchase |
//! not_relevant, query?, position?, surface?, version, timestamp? }`. Unknown fields → 400;
//! an unknown product (not in the live bundle), an unknown event or a bad field → 422.
//!
//! Durability: an answer of 202 means the events are in S3. Events of concurrent requests in one
//! instance are written together (group commit: one object per flush, at most
//! `feedback_flush_ms` after the first waits, default 50, or at [`MAX_BATCH`] events) to
//! `<feedback_url>/<yyyy>/<mm>/<dd>/<instance>-<seq>.jsonl`, retried three times; if S3 still
//! fails every waiting request answers 503 with a JSON error and nothing was accepted, so a
//! client retry loses nothing and duplicates nothing.

use crate::api::{Reply, State};
use serde_json::{json, Map, Value};

/// Most events in one request.
pub const MAX_EVENTS: usize = 100;
/// Most events in one S3 object.
pub const MAX_BATCH: usize = 1000;
/// Event kinds.
pub const EVENTS: [&str; 5] = ["impression", "click", "add_to_cart", "purchase", "not_relevant"];
const FIELDS: [&str; 10] = [
    "user_id",
    "session_id",
    "product_id",
    "event",
    "query",
    "position",
    "surface",
    "version",
    "timestamp",
    "event_id",
];

fn invalid(field: &str, msg: impl Into<String>) -> Reply {
    let mut r = Reply::error(422, "invalid_feedback", msg);
    r.body["error"]["field"] = json!(field);
    r
}

fn short_str<'a>(o: &'a Map<String, Value>, k: &str, max: usize) -> Result<Option<&'a str>, Reply> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max && !s.trim().is_empty() => Ok(Some(s)),
        Some(Value::String(_)) => {
            Err(invalid(k, format!("{k} must be a non-empty string of at most {max} characters")))
        }
        Some(_) => Err(invalid(k, format!("{k} must be a string"))),
    }
}

/// Validate a request body against the live bundle; returns the JSON lines to store, each with
/// `received_at`, `served_version` and an `event_id` unique per instance (`<instance>-<n>`).
pub fn validate(body: &[u8], state: &State, received_at: &str, id_prefix: &str) -> Result<Vec<String>, Reply> {
    let bundle = state.bundle.as_ref().map_err(|e| Reply::error(503, "bundle_unavailable", e.clone()))?;
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| Reply::error(400, "bad_json", format!("request body is not valid JSON: {e}")))?;
    let events = match v {
        Value::Array(a) => a,
        o @ Value::Object(_) => vec![o],
        _ => return Err(Reply::error(400, "bad_json", "send one event object or an array of them")),
    };
    if events.is_empty() || events.len() > MAX_EVENTS {
        return Err(invalid("events", format!("send 1 to {MAX_EVENTS} events")));
    }
    let view = bundle.view();
    let mut lines = Vec::with_capacity(events.len());
    for (i, e) in events.into_iter().enumerate() {
        let Value::Object(mut o) = e else { return Err(Reply::error(400, "bad_json", "each event must be an object")) };
        if let Some(k) = o.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(Reply::error(400, "unknown_field", format!("unknown field {k:?}; expected one of {FIELDS:?}")));
        }
        let product =
            short_str(&o, "product_id", 200)?.ok_or_else(|| invalid("product_id", "product_id is required"))?;
        if view.item_index(product).is_none() {
            return Err(invalid(
                "product_id",
                format!("unknown product {product:?} (not in version {})", view.manifest.version),
            ));
        }
        let event = short_str(&o, "event", 32)?.ok_or_else(|| invalid("event", "event is required"))?;
        if !EVENTS.contains(&event) {
            return Err(invalid("event", format!("unknown event {event:?}; expected one of {EVENTS:?}")));
        }
        let user = short_str(&o, "user_id", 200)?;
        let session = short_str(&o, "session_id", 200)?;
        if user.is_none() && session.is_none() {
            return Err(invalid("user_id", "give user_id or session_id"));
        }
        short_str(&o, "version", 200)?
            .ok_or_else(|| invalid("version", "version (of the bundle that answered) is required"))?;
        short_str(&o, "query", 512)?;
        if o.contains_key("event_id") {
            return Err(invalid("event_id", "event_id is assigned by the edge"));
        }
        match o.get("surface") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s == "search" || s == "recommendations" => {}
            Some(_) => return Err(invalid("surface", "surface must be \"search\" or \"recommendations\"")),
        }
        match o.get("position") {
            None | Some(Value::Null) => {}
            Some(p) if p.as_u64().is_some_and(|p| p <= 1000) => {}
            Some(_) => return Err(invalid("position", "position must be a whole number between 0 and 1000")),
        }
        match o.get("timestamp") {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) if n.as_f64().is_some_and(|t| t > 0.0) => {}
            Some(Value::String(s)) if s.len() <= 40 && s.contains('T') => {}
            Some(_) => return Err(invalid("timestamp", "timestamp must be Unix seconds/milliseconds or RFC 3339")),
        }
        o.insert("received_at".into(), json!(received_at));
        o.insert("served_version".into(), json!(view.manifest.version));
        o.insert("event_id".into(), json!(format!("{id_prefix}-{i}")));
        lines.push(Value::Object(o).to_string());
    }
    Ok(lines)
}

/// `s3://bucket/prefix` → (bucket, key prefix without slashes at the ends).
pub fn parse_target(url: &str) -> Result<(String, String), String> {
    let rest = url.strip_prefix("s3://").ok_or_else(|| format!("feedback_url {url:?} must be s3://bucket/prefix"))?;
    let (b, p) = rest.split_once('/').unwrap_or((rest, ""));
    if b.is_empty() {
        return Err(format!("feedback_url {url:?} names no bucket"));
    }
    Ok((b.to_string(), p.trim_matches('/').to_string()))
}

/// The object key of one flush: `<prefix>/<yyyy>/<mm>/<dd>/<instance>-<seq>.jsonl`.
pub fn object_key(prefix: &str, received_at: &str, instance: &str, seq: u64) -> String {
    // `received_at` is RFC 3339 (`2026-03-07T…`): its date is the folder.
    let date = received_at.get(..10).unwrap_or("0000-00-00").replace('-', "/");
    let p = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
    format!("{p}{date}/{instance}-{seq:06}.jsonl")
}

#[cfg(target_arch = "wasm32")]
pub(crate) mod host {
    //! The group-commit buffer and the S3 PUT.
    use super::*;
    use crate::config::Config;
    use crate::release::host::{log, now_ms};
    use crate::release::sign_request;
    use bytes::Bytes;
    use spin_sdk::http::body::IncomingBodyExt;
    use spin_sdk::http::FullBody;
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::time::Duration;

    #[derive(Default)]
    struct Queue {
        instance: String,
        pending: Vec<String>,
        batch: u64,
        flushing: bool,
        done: VecDeque<(u64, Result<String, String>)>,
        seq: u64,
        events: u64,
    }

    thread_local! {
        static Q: RefCell<Queue> = RefCell::new(Queue::default());
    }

    fn instance_id() -> String {
        Q.with(|q| {
            let mut q = q.borrow_mut();
            if q.instance.is_empty() {
                q.instance = format!("{:016x}", spin_sdk::wasip3::random::random::get_random_u64());
            }
            q.instance.clone()
        })
    }

    async fn put(s: &Config, key: &str, bucket: &str, body: Vec<u8>) -> Result<(), String> {
        let url = crate::release::s3_object_url(bucket, key, &s.s3_endpoint, &s.s3.region);
        let mut last = String::new();
        for attempt in 0..3u32 {
            if attempt > 0 {
                spin_sdk::time::sleep(Duration::from_millis(50 * 4u64.pow(attempt - 1))).await;
            }
            let ct = [("content-type", "application/x-ndjson")];
            let mut b = http::Request::builder().method("PUT").uri(&url).header("content-type", "application/x-ndjson");
            if !s.s3.access_key_id.is_empty() {
                for (k, v) in sign_request("PUT", &url, &ct, &body, &s.s3, std::time::SystemTime::now())? {
                    b = b.header(k, v);
                }
            }
            let req = b.body(FullBody::new(Bytes::from(body.clone()))).map_err(|e| e.to_string())?;
            match spin_sdk::http::send(req).await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let _ = resp.into_body().bytes().await;
                    if (200..300).contains(&status) {
                        return Ok(());
                    }
                    last = format!("S3 answered HTTP {status}");
                }
                Err(e) => last = format!("calling S3: {e:?}"),
            }
        }
        Err(last)
    }

    /// Validate, store (with whatever else this instance is storing) and answer.
    pub async fn handle(config: &Config, method: &str, body: &[u8], state: &State) -> Reply {
        if method != "POST" {
            return Reply::error(405, "method_not_allowed", format!("{method} is not allowed on /feedback"));
        }
        let target = &config.feedback_url;
        let (bucket, prefix) = match parse_target(target) {
            Ok(t) => t,
            Err(_) if target.is_empty() => return Reply::error(
                503,
                "feedback_unconfigured",
                "feedback is not stored here: set feedback_url (SHOPAI_FEEDBACK_URL) to s3://bucket/prefix/feedback",
            ),
            Err(e) => return Reply::error(503, "feedback_unconfigured", e),
        };
        let flush_ms = config.feedback_flush_ms;
        let received_at = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
        let instance = instance_id();
        let id_prefix = Q.with(|q| {
            let mut q = q.borrow_mut();
            q.events += 1;
            format!("{instance}-{}", q.events)
        });
        let lines = match validate(body, state, &received_at, &id_prefix) {
            Ok(l) => l,
            Err(r) => return r,
        };
        let n = lines.len();
        let my = Q.with(|q| {
            let mut q = q.borrow_mut();
            q.pending.extend(lines);
            q.batch
        });
        let arrived = now_ms();
        loop {
            if let Some(r) = Q.with(|q| q.borrow().done.iter().find(|d| d.0 == my).map(|d| d.1.clone())) {
                return match r {
                    Ok(key) => Reply { status: 202, body: json!({"accepted": n, "object": key}) },
                    Err(e) => Reply::error(
                        503,
                        "feedback_unavailable",
                        format!("the events were not stored ({e}); nothing was accepted, retry later"),
                    ),
                };
            }
            let (busy, size) = Q.with(|q| (q.borrow().flushing, q.borrow().pending.len()));
            let waited = now_ms().saturating_sub(arrived);
            if busy || (size < MAX_BATCH && waited < flush_ms) {
                spin_sdk::time::sleep(Duration::from_millis(if busy { 5 } else { flush_ms - waited })).await;
                continue;
            }
            let (batch, lines, seq) = Q.with(|q| {
                let mut q = q.borrow_mut();
                q.flushing = true;
                let b = q.batch;
                q.batch += 1;
                q.seq += 1;
                (b, std::mem::take(&mut q.pending), q.seq)
            });
            let key = object_key(&prefix, &received_at, &instance, seq);
            let count = lines.len();
            let mut body = lines.join("\n");
            body.push('\n');
            let r = put(config, &key, &bucket, body.into_bytes()).await.map(|_| format!("s3://{bucket}/{key}"));
            match &r {
                Ok(k) => log("feedback_stored", json!({"object": k, "events": count})),
                Err(e) => log("feedback_store_failed", json!({"error": e, "events_refused": count})),
            }
            Q.with(|q| {
                let mut q = q.borrow_mut();
                q.flushing = false;
                q.done.push_back((batch, r));
                while q.done.len() > 256 {
                    q.done.pop_front();
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopai_core::{BundleParts, HashEmbedder, QuantMatrix, HASH_MODEL};

    fn state() -> State {
        let e = HashEmbedder::new(8);
        let vectors: Vec<f32> = ["a shoe", "a pan"].iter().flat_map(|t| e.embed(t)).collect();
        let mut p = BundleParts {
            item_ids: vec!["P1".into(), "P2".into()],
            titles: vec!["a shoe".into(), "a pan".into()],
            item_categories: vec![vec![], vec![]],
            vectors: QuantMatrix::from_f32(&vectors, 8),
            factors: QuantMatrix::from_f32(&[0.1, 0.2], 1),
            gram: vec![1.0],
            popularity: vec![1.0, 2.0],
            ..BundleParts::default()
        };
        p.manifest.version = "v1".into();
        p.manifest.embedding.model = HASH_MODEL.into();
        State::from_bundle_bytes(Ok(p.to_bytes().expect("bundle")))
    }

    fn check(body: &str) -> Result<Vec<String>, Reply> {
        validate(body.as_bytes(), &state(), "2026-01-01T00:00:00.000Z", "i-1")
    }

    #[test]
    fn valid_events_become_stamped_lines() {
        let l =
            check(r#"{"session_id":"s","product_id":"P1","event":"click","query":"shoe","position":2,"version":"v1"}"#)
                .expect("valid");
        let v: Value = serde_json::from_str(&l[0]).expect("json");
        assert_eq!(v["event_id"], "i-1-0");
        assert_eq!(v["served_version"], "v1");
        assert_eq!(v["received_at"], "2026-01-01T00:00:00.000Z");
        let l = check(r#"[{"user_id":"u","product_id":"P1","event":"purchase","version":"v1","timestamp":1700000000},
                          {"user_id":"u","product_id":"P2","event":"not_relevant","version":"v1","timestamp":"2026-01-01T00:00:00Z"}]"#)
            .expect("valid");
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn bad_events_are_4xx_with_the_field() {
        let code =
            |b: &str| check(b).err().map(|r| (r.status, r.body["error"]["field"].as_str().unwrap_or("").to_string()));
        assert_eq!(
            code(r#"{"session_id":"s","product_id":"P9","event":"click","version":"v1"}"#),
            Some((422, "product_id".into()))
        );
        assert_eq!(
            code(r#"{"session_id":"s","product_id":"P1","event":"like","version":"v1"}"#),
            Some((422, "event".into()))
        );
        assert_eq!(code(r#"{"product_id":"P1","event":"click","version":"v1"}"#), Some((422, "user_id".into())));
        assert_eq!(code(r#"{"session_id":"s","product_id":"P1","event":"click"}"#), Some((422, "version".into())));
        assert_eq!(
            code(r#"{"session_id":"s","product_id":"P1","event":"click","version":"v1","position":-1}"#),
            Some((422, "position".into()))
        );
        assert_eq!(
            code(r#"{"session_id":"s","product_id":"P1","event":"click","version":"v1","event_id":"x"}"#),
            Some((422, "event_id".into()))
        );
        assert_eq!(
            code(r#"{"session_id":"s","product_id":"P1","event":"click","version":"v1","colour":"red"}"#).map(|c| c.0),
            Some(400)
        );
        assert_eq!(code("{nope").map(|c| c.0), Some(400));
        assert_eq!(code("[]").map(|c| c.0), Some(422));
        let many = format!(
            "[{}]",
            vec![r#"{"session_id":"s","product_id":"P1","event":"click","version":"v1"}"#; 101].join(",")
        );
        assert_eq!(code(&many).map(|c| c.0), Some(422));
        let long =
            format!(r#"{{"session_id":"{}","product_id":"P1","event":"click","version":"v1"}}"#, "s".repeat(201));
        assert_eq!(code(&long), Some((422, "session_id".into())));
    }

    #[test]
    fn objects_are_dated_and_numbered_per_instance() {
        assert_eq!(
            object_key("prod/feedback", "2026-03-07T10:11:12.131Z", "ab12", 4),
            "prod/feedback/2026/03/07/ab12-000004.jsonl"
        );
        assert_eq!(parse_target("s3://b/prod/feedback/").expect("ok"), ("b".into(), "prod/feedback".into()));
        assert!(parse_target("https://x").is_err());
    }
}
