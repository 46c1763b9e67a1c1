//! The wasi:http side: per-instance state, caches, the guarded embeddings call, the log line.
//! Decisions live in [`crate::api`], [`crate::cache`], [`crate::upstream`]; this file moves bytes.
//!
//! A wasm instance is single-threaded; requests that share an instance interleave only at
//! `.await`, and no `RefCell` borrow here is held across one.

use crate::api::{self, Answer, Plan, Query, Reply, State, MAX_BODY_BYTES};
use crate::cache::{AnswerCache, CachedAnswer, EmbeddingCache};
use crate::config::Config;
use crate::loader::Loader;
use crate::log::LogLine;
use crate::upstream::{estimate_tokens, Change, Guard};
use bytes::Bytes;
use futures::future::{select, Either};
use serde_json::json;
use shopai_core::service::Scratch;
use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::http::{FullBody, IntoResponse, Request};
use spin_sdk::http_service;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

struct Instance {
    config: Config,
    epoch: Instant,
    bundle: RefCell<Loader>,
    scratch: RefCell<Scratch>,
    embeddings: RefCell<EmbeddingCache>,
    answers: RefCell<AnswerCache>,
    /// Whether this instance has taken in the answers other instances shared.
    answers_warmed: Cell<bool>,
    /// Ranking requests this instance answered (it shares its answers at the
    /// `answer_cache_share_after`th).
    ranked: Cell<u32>,
    guard: RefCell<Guard>,
    chat_cost_usd: Cell<f64>,
}

thread_local! {
    static INSTANCE: Cell<Option<&'static Instance>> = const { Cell::new(None) };
}

impl Instance {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The bundle to answer with, and the published version's record when it came from
    /// `bundle_url` ([`crate::release`]: fetched, verified, revalidated, swapped).
    async fn state(&self) -> (Rc<State>, Option<crate::release::CacheRecord>) {
        if self.config.bundle_url.is_empty() {
            return (self.mounted(), None);
        }
        let live = crate::release::host::current(&self.config).await;
        (live.state.clone(), live.record.clone())
    }

    /// The mounted bundle: loaded once and kept; a failure is retried after a back-off.
    fn mounted(&self) -> Rc<State> {
        self.bundle.borrow_mut().get(Instant::now(), || {
            let started = Instant::now();
            let path = &self.config.bundle_path;
            let embedded = State::embedded();
            let source = if embedded.is_some() { "embedded" } else { "file" };
            let mut s = embedded.unwrap_or_else(|| State::from_file(path));
            if let Err(e) = &mut s.bundle {
                if e.starts_with("reading bundle") {
                    *e = crate::release::no_bundle_message(path, e);
                }
            }
            // Not a request line (no `route`): one per instance, so a log shows how often
            // instances are made and what loading costs.
            let event = match (&s.bundle, s.view()) {
                (Ok(b), Some(v)) => json!({"source": "edge", "event": "bundle_loaded", "version": v.manifest.version,
                    "bytes": b.len_bytes(), "from": source, "load_ms": ms(started)}),
                (Err(e), _) => json!({"source": "edge", "event": "bundle_failed", "error": e, "load_ms": ms(started)}),
                (Ok(_), None) => json!({"source": "edge", "event": "bundle_failed", "load_ms": ms(started)}),
            };
            emit(event.to_string());
            s
        })
    }
}

async fn config() -> Config {
    #[cfg(feature = "spin")]
    let spin = {
        // Only the variables spin.toml declares; everything else comes from the environment.
        let mut vars = std::collections::HashMap::new();
        for key in [
            "bundle_path",
            "embeddings_url",
            "embeddings_api_key",
            "bundle_url",
            "bundle_revalidate_secs",
            "s3_endpoint",
            "s3_region",
            "s3_access_key_id",
            "s3_secret_access_key",
            "feedback_url",
        ] {
            if let Ok(v) = spin_sdk::variables::get(key).await {
                if !v.is_empty() {
                    vars.insert(key.to_uppercase(), v);
                }
            }
        }
        vars
    };
    Config::from_lookup(|key| {
        #[cfg(feature = "spin")]
        if let Some(v) = spin.get(key) {
            return Some(v.clone());
        }
        if key.starts_with("AWS_") {
            return std::env::var(key).ok();
        }
        std::env::var(format!("SHOPAI_{key}")).ok()
    })
}

async fn instance() -> &'static Instance {
    if let Some(i) = INSTANCE.with(Cell::get) {
        return i;
    }
    let config = config().await;
    // Another request may have finished first while this one awaited the variables.
    if let Some(i) = INSTANCE.with(Cell::get) {
        return i;
    }
    for w in &config.warnings {
        emit(json!({"source": "edge", "warning": w}).to_string());
    }
    let i: &'static Instance = Box::leak(Box::new(Instance {
        epoch: Instant::now(),
        bundle: RefCell::new(Loader::Never),
        scratch: RefCell::new(Scratch::default()),
        embeddings: RefCell::new(EmbeddingCache::new(config.embed_cache_entries)),
        answers: RefCell::new(AnswerCache::new(config.answer_cache_entries, config.answer_cache_bytes)),
        answers_warmed: Cell::new(false),
        ranked: Cell::new(0),
        guard: RefCell::new(Guard::new(config.limits)),
        chat_cost_usd: Cell::new(0.0),
        config,
    }));
    INSTANCE.with(|c| c.set(Some(i)));
    i
}

/// One attempt's failure and whether it is worth the one retry.
type AttemptError = (String, bool);

/// POST `body` to `url` with a bearer `key`; the body of a 2xx answer.
async fn post(url: &str, key: &str, body: Bytes) -> Result<Vec<u8>, AttemptError> {
    // An explicit length: without it the body goes out chunked, which some OpenAI-compatible
    // servers (Python's http.server among them) do not read.
    let mut b = http::Request::builder()
        .method("POST")
        .uri(url)
        .header("content-type", "application/json")
        .header("content-length", body.len());
    if !key.is_empty() {
        b = b.header("authorization", format!("Bearer {key}"));
    }
    let req = b.body(FullBody::new(body)).map_err(|e| (e.to_string(), false))?;
    let resp = spin_sdk::http::send(req).await.map_err(|e| (format!("calling the endpoint: {e:?}"), true))?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().bytes().await.map_err(|e| (format!("reading the response: {e:?}"), true))?;
    if (200..300).contains(&status) {
        Ok(bytes.to_vec())
    } else {
        Err((format!("endpoint answered HTTP {status}"), status == 429 || status >= 500))
    }
}

/// [`post`] bounded by `within` (a timeout is not worth a retry: the budget is spent).
async fn post_within(
    url: &str,
    key: &str,
    body: Bytes,
    within: Duration,
    budget_ms: u64,
) -> Result<Vec<u8>, AttemptError> {
    let send = std::pin::pin!(post(url, key, body));
    let timer = std::pin::pin!(spin_sdk::time::sleep(within));
    match select(send, timer).await {
        Either::Left((r, _)) => r,
        Either::Right(_) => Err((format!("timed out after {budget_ms} ms (the budget)"), false)),
    }
}

/// Where instances share the breaker (the bundle cache: `SHOPAI_BUNDLE_CACHE_DIR` or, under
/// Spin, the key-value store): Unix ms until which the endpoint is skipped.
const SHARED_BREAKER_KEY: &str = "breaker-open-until";

/// Before a call with the breaker closed: has another instance opened it? Instances are
/// short-lived (128 requests each under Spin and `wasmtime serve`), so without this every new one
/// would pay the time budget `breaker_failures` times against an endpoint known to be down.
async fn adopt_shared_breaker(inst: &Instance) {
    let now = inst.now_ms();
    if inst.guard.borrow().is_open(now) {
        return;
    }
    let Some(raw) = crate::release::host::cache_get(&inst.config, SHARED_BREAKER_KEY).await else {
        return;
    };
    let Some(until_unix) = std::str::from_utf8(&raw).ok().and_then(|t| t.trim().parse::<u64>().ok()) else {
        return;
    };
    let open_for_ms = until_unix as i64 - crate::release::host::now_ms() as i64;
    inst.guard.borrow_mut().adopt(inst.now_ms(), open_for_ms);
}

/// What this instance's breaker decided, for the others: open until `until_unix` (Unix ms), or
/// 0 after a trial call succeeded.
async fn share_breaker_until_unix(inst: &Instance, until_unix: u64) {
    if let Err(e) =
        crate::release::host::cache_put(&inst.config, SHARED_BREAKER_KEY, until_unix.to_string().as_bytes()).await
    {
        emit(json!({"source": "edge", "event": "breaker_share_failed", "error": e}).to_string());
    }
}

/// Call the embeddings endpoint under the instance's guard: admitted by the breaker and the
/// buckets, within the time budget, at most one retry; `check` turns the body into a value (a
/// malformed body is a failure like any other).
async fn guarded_call<T>(
    inst: &Instance,
    body: Bytes,
    tokens: u32,
    check: impl Fn(&[u8]) -> Result<T, String>,
) -> Result<T, String> {
    if inst.config.embeddings_url.is_empty() {
        return Err("no embeddings endpoint configured (SHOPAI_EMBEDDINGS_URL)".into());
    }
    adopt_shared_breaker(inst).await;
    inst.guard.borrow_mut().admit(inst.now_ms(), tokens).map_err(|r| r.to_string())?;
    let budget = Duration::from_millis(inst.config.limits.timeout_ms);
    let start = Instant::now();
    let url = format!("{}/embeddings", inst.config.embeddings_url.trim_end_matches('/'));
    let mut retried = false;
    loop {
        let remaining = budget.saturating_sub(start.elapsed());
        let outcome =
            post_within(&url, &inst.config.embeddings_api_key, body.clone(), remaining, inst.config.limits.timeout_ms)
                .await
                .and_then(|raw| check(&raw).map_err(|e| (e, true)));
        match outcome {
            Ok(v) => {
                let change = inst.guard.borrow_mut().record(inst.now_ms(), true);
                if change == Change::Recovered {
                    // Tell the others the trial went through (a cool-down long over is no news).
                    share_breaker_until_unix(inst, 0).await;
                }
                return Ok(v);
            }
            Err((e, retryable)) => {
                let elapsed = start.elapsed().as_millis() as u64;
                if !retried && inst.guard.borrow().may_retry(elapsed, retryable) {
                    retried = true;
                    continue;
                }
                let change = inst.guard.borrow_mut().record(inst.now_ms(), false);
                if let Change::Opened(until) = change {
                    let until_unix = crate::release::host::now_ms() + until.saturating_sub(inst.now_ms());
                    share_breaker_until_unix(inst, until_unix).await;
                }
                return Err(if retried { format!("{e} (after one retry)") } else { e });
            }
        }
    }
}

async fn embed_query(
    inst: &Instance,
    text: &str,
    model: &str,
    (dims, request_dimensions): (usize, Option<u32>),
    log: &mut LogLine,
) -> Result<Rc<[f32]>, String> {
    if let Some(v) = inst.embeddings.borrow_mut().get(text) {
        log.embed_cache = Some("hit");
        return Ok(v);
    }
    log.embed_cache = Some("miss");
    let started = Instant::now();
    let body =
        serde_json::to_vec(&api::embeddings_request(model, &[text], request_dimensions)).map_err(|e| e.to_string())?;
    let got = guarded_call(inst, body.into(), estimate_tokens(text), |raw| {
        api::check_embeddings_response(raw, 1, dims).map(|mut v| Rc::<[f32]>::from(v.swap_remove(0)))
    })
    .await;
    log.embed_ms = Some(ms(started));
    let v = got?;
    inst.embeddings.borrow_mut().put(text, v.clone());
    Ok(v)
}

/// `POST /v1/embeddings` for a bundle whose model is not the built-in one: forwarded with the
/// bundle's model, checked, re-serialized (a bad upstream body is a 502, never a null 200).
async fn embeddings_passthrough(inst: &Instance, body: &[u8], state: &State, log: &mut LogLine) -> Reply {
    let Some(view) = state.view() else {
        return Reply::error(503, "bundle_unavailable", state.bundle.as_ref().err().cloned().unwrap_or_default());
    };
    let inputs = match api::embeddings_inputs(body) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let model = view.manifest.embedding.model.clone();
    let dims = view.manifest.embedding.dimensions as usize;
    let tokens: u32 = inputs.iter().map(|t| estimate_tokens(t)).sum();
    let started = Instant::now();
    let request = api::embeddings_request(&model, &inputs, view.manifest.embedding.request_dimensions);
    let upstream = match serde_json::to_vec(&request) {
        Ok(b) => b,
        Err(e) => return Reply::error(500, "internal", e.to_string()),
    };
    let got =
        guarded_call(inst, upstream.into(), tokens, |raw| api::check_embeddings_response(raw, inputs.len(), dims))
            .await;
    log.embed_ms = Some(ms(started));
    match got {
        Ok(vectors) => api::embeddings_reply(&model, &vectors, tokens as u64),
        Err(e) if e.starts_with("rate limit") || e.starts_with("token budget") => {
            log.degraded = Some(e.clone());
            Reply::error(429, "rate_limited", e)
        }
        Err(e) if e.starts_with("circuit breaker") => {
            log.degraded = Some(e.clone());
            Reply::error(503, "embeddings_unavailable", e)
        }
        Err(e) => Reply::error(502, "embeddings_unavailable", e),
    }
}

/// Add the generated answer (or why there is none) to a search answer; whether it may be cached.
async fn generate(inst: &Instance, query: &str, answer: &mut Answer) -> bool {
    let chat = &inst.config.chat;
    let (fields, cacheable) = if chat.model.is_empty() || chat.url.is_empty() {
        (vec![("answer_error", json!("answer unavailable: no chat model configured (SHOPAI_CHAT_MODEL)"))], true)
    } else {
        let parsed: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
        let req = crate::answer::request(chat, query, &parsed);
        let url = format!("{}/chat/completions", chat.url.trim_end_matches('/'));
        let body = serde_json::to_vec(&req).unwrap_or_default();
        let got =
            post_within(&url, &chat.api_key, body.into(), Duration::from_millis(chat.timeout_ms), chat.timeout_ms)
                .await
                .map_err(|(e, _)| e)
                .and_then(|raw| crate::answer::parse_reply(&raw, chat));
        match got {
            Ok((text, usage)) => {
                let total = inst.chat_cost_usd.get() + usage.cost_usd;
                inst.chat_cost_usd.set(total);
                let usage = json!({"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens, "cost_usd": usage.cost_usd, "instance_cost_usd": total});
                // Cached with the answer: a repeated question costs nothing (the usage shown is
                // that of the generation that produced it).
                (vec![("answer", json!(text)), ("answer_usage", usage)], true)
            }
            Err(e) => (vec![("answer_error", json!(format!("answer generation failed: {e}")))], false),
        }
    };
    answer.body = answer.body_with(&fields);
    cacheable
}

/// Where instances leave their most repeated answers for the next ([`AnswerCache::shared`]).
const SHARED_ANSWERS_KEY: &str = "answers-shared";
/// A fresh instance's first ranking request takes in the answers an earlier instance shared:
/// one read of the shared store instead of computing each popular answer again (under load a
/// fresh instance comes every 128 requests, and each would otherwise start cold).
async fn warm_answers(inst: &Instance, version: &str) {
    if inst.answers_warmed.replace(true) || inst.config.answer_cache_shared == 0 {
        return;
    }
    let started = Instant::now();
    let Some(bytes) = crate::release::host::cache_get(&inst.config, SHARED_ANSWERS_KEY).await else { return };
    let added = inst.answers.borrow_mut().warm(&bytes, version);
    // Not a request line: one per instance, like `bundle_loaded`.
    emit(
        json!({"source": "edge", "event": "answers_warmed", "version": version, "answers": added,
        "bytes": bytes.len(), "ms": ms(started)})
        .to_string(),
    );
}

/// Count a ranking request; at the `answer_cache_share_after`th, write this instance's repeated answers
/// for the instances after it (a failed write is logged and costs nothing else).
async fn share_answers(inst: &Instance, version: &str) {
    let n = inst.ranked.get().saturating_add(1);
    inst.ranked.set(n);
    if n != inst.config.answer_cache_share_after || inst.config.answer_cache_shared == 0 {
        return;
    }
    let Some(bytes) = inst.answers.borrow().shared(version, inst.config.answer_cache_shared) else { return };
    if let Err(e) = crate::release::host::cache_put(&inst.config, SHARED_ANSWERS_KEY, &bytes).await {
        emit(json!({"source": "edge", "event": "answers_share_failed", "error": e}).to_string());
    }
}

async fn rank(inst: &Instance, q: &Query, state: &State, log: &mut LogLine) -> Answer {
    let key = if inst.answers.borrow().enabled() { api::cache_key(q, state) } else { None };
    let version = state.view().map(|v| v.manifest.version.as_str()).filter(|_| key.is_some());
    if let Some(version) = version {
        warm_answers(inst, version).await;
    }
    let answer = rank_with(inst, q, key, state, log).await;
    if let Some(version) = version {
        share_answers(inst, version).await;
    }
    answer
}

async fn rank_with(inst: &Instance, q: &Query, key: Option<String>, state: &State, log: &mut LogLine) -> Answer {
    if let Some(key) = &key {
        if let Some(hit) = inst.answers.borrow_mut().get(key) {
            log.answer_cache = Some("hit");
            let meta = api::Meta { results: hit.results, top_score: hit.top_score, ..api::Meta::default() };
            return Answer { status: 200, body: hit.body.to_vec(), meta };
        }
        log.answer_cache = Some("miss");
    }
    // `plan` reads core's request shape: give it the normalized request without the edge's own
    // `answer` field.
    let plan = match q {
        // The request is parsed already (from a body or a query string): plan it as the JSON route.
        Query::Search(req, _) => {
            serde_json::to_vec(req).map_or(Plan::Answer, |b| api::plan("POST", "/search", &b, state))
        }
        Query::Recommend(_) => Plan::Answer,
    };
    let answer = match plan {
        Plan::Answer => api::respond(q, state, None, &mut inst.scratch.borrow_mut()),
        Plan::EmbedQuery { text, model, dimensions, request_dimensions } => {
            let embedded = embed_query(inst, &text, &model, (dimensions, request_dimensions), log).await;
            let e = embedded.as_deref().map_err(Clone::clone);
            api::respond(q, state, Some(e), &mut inst.scratch.borrow_mut())
        }
    };
    let mut answer = answer;
    let mut cacheable = true;
    if let (Query::Search(req, true), 200) = (q, answer.status) {
        cacheable = generate(inst, req.query.as_deref().unwrap_or(""), &mut answer).await;
    }
    if let (Some(key), 200, None, true) = (key, answer.status, &answer.meta.degraded, cacheable) {
        let cached = CachedAnswer {
            body: answer.body.as_slice().into(),
            results: answer.meta.results,
            top_score: answer.meta.top_score,
            hits: 0,
        };
        inst.answers.borrow_mut().put(key, cached);
    }
    answer
}

/// Where this instance writes its log lines: one `wasi:cli/stderr` stream (WASIp3) opened with
/// the first line, instead of a blocking host call per line (a quarter to a half of the line's
/// cost: docs/BENCHMARKS.md, issue 11). Lines of requests in flight together go out in one
/// write; whichever request finds the stream free writes everything queued, and its task does
/// not end before the queue is empty, so no line is lost when the host drops the instance. If the
/// host stops reading, lines go to blocking stderr.
struct LogSink {
    /// `None` while a request's task is writing (it holds the writer), or for good once the host
    /// stopped reading (`refused`).
    stream: RefCell<Option<spin_sdk::wasip3::wit_bindgen::StreamWriter<u8>>>,
    refused: Cell<bool>,
    queued: RefCell<Vec<u8>>,
}

impl LogSink {
    fn open() -> LogSink {
        let (writer, reader) = spin_sdk::wasip3::wit_stream::new::<u8>();
        // The completion future says when the host stops reading; a refused write says so too.
        drop(spin_sdk::wasip3::cli::stderr::write_via_stream(reader));
        LogSink { stream: RefCell::new(Some(writer)), refused: Cell::new(false), queued: RefCell::new(Vec::new()) }
    }

    async fn write(&self, mut line: String) {
        line.push('\n');
        if self.refused.get() {
            return blocking_stderr(line.as_bytes());
        }
        self.queued.borrow_mut().extend_from_slice(line.as_bytes());
        // Another request's task holds the stream: it writes this line with the rest of the queue.
        let Some(mut stream) = self.stream.borrow_mut().take() else { return };
        loop {
            let batch = std::mem::take(&mut *self.queued.borrow_mut());
            if batch.is_empty() {
                break;
            }
            let unwritten = stream.write_all(batch).await;
            if !unwritten.is_empty() {
                self.refused.set(true);
                blocking_stderr(&unwritten);
                return blocking_stderr(&std::mem::take(&mut *self.queued.borrow_mut()));
            }
        }
        *self.stream.borrow_mut() = Some(stream);
    }
}

fn blocking_stderr(bytes: &[u8]) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(bytes);
}

/// Writes one line (a request's from [`LoggedBody`], once its answer is on its way) through the
/// instance's stderr stream, in a task of the request's own: the request's task ends only after
/// the line is written. A line and
/// its newline go out together (under Spin, `eprintln!`'s two writes let lines of concurrent
/// instances interleave: two JSON objects on one line were seen).
pub(crate) fn emit(line: String) {
    thread_local! {
        // Opened with the instance's first line; tasks borrow it past the handler, so it lives
        // as long as the instance.
        static SINK: &'static LogSink = Box::leak(Box::new(LogSink::open()));
    }
    spin_sdk::wasip3::spawn(SINK.with(|s| *s).write(line));
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

async fn serve(inst: &Instance, req: Request, method: &str, path: &str, log: &mut LogLine) -> Answer {
    let (state, published) = inst.state().await;
    log.version = state.view().map(|v| v.manifest.version.clone());
    let mut answer = serve_with(inst, req, method, path, &state, log).await;
    if let (true, Some(r)) = (method == "GET" && path == "/version" && answer.status == 200, published) {
        answer.body = answer.body_with(&[(
            "published",
            json!({"version": r.pointer.version, "sha256": r.pointer.sha256, "source": r.source, "checked_at_ms": r.checked_at_ms}),
        )]);
    }
    answer
}

async fn serve_with(
    inst: &Instance,
    req: Request,
    method: &str,
    path: &str,
    state: &Rc<State>,
    log: &mut LogLine,
) -> Answer {
    // `GET /search` carries its request in the query string.
    let target = match req.uri().query() {
        Some(q) if method == "GET" => format!("{path}?{q}"),
        _ => path.to_string(),
    };
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(reply) => return Answer::from_reply(reply),
    };
    if method == "POST" && path == "/v1/embeddings" {
        let reply = match api::local_embeddings(&body, state) {
            Some(r) => r,
            None => embeddings_passthrough(inst, &body, state, log).await,
        };
        return Answer::from_reply(reply);
    }
    if path == "/feedback" {
        return Answer::from_reply(crate::feedback::host::handle(&inst.config, method, &body, state).await);
    }
    match api::parse_query(method, &target, &body) {
        Some(Ok(q)) => {
            if inst.config.log_requests {
                log.query = q.text().and_then(|t| inst.config.log_query.render(t));
            }
            rank(inst, &q, state, log).await
        }
        Some(Err(reply)) => Answer::from_reply(reply),
        None => Answer::from_reply(api::handle(method, path, &body, state, &mut inst.scratch.borrow_mut())),
    }
}

/// The request body, at most [`MAX_BODY_BYTES`] (413 past it, declared or streamed).
///
/// Read from the body stream directly rather than through `http_body_util`'s `collect`: with a
/// declared length it stops as soon as that many bytes arrived, without the end-of-stream read
/// and the trailers future that `collect` waits for (no route reads trailers). Those two host
/// round trips cost ~25 µs per request under `wasmtime serve`, a quarter of a cached answer
/// (docs/BENCHMARKS.md). Without a declared length (chunked) it reads to the end of the stream.
async fn read_body(req: Request) -> Result<Bytes, Reply> {
    let too_large = || Reply::error(413, "body_too_large", format!("request body exceeds {MAX_BODY_BYTES} bytes"));
    let declared =
        match req.headers().get("content-length").map(|v| v.to_str().ok().and_then(|v| v.parse::<usize>().ok())) {
            None => None,
            Some(Some(n)) if n > MAX_BODY_BYTES => return Err(too_large()),
            Some(Some(n)) => Some(n),
            Some(None) => return Err(Reply::error(400, "bad_body", "content-length is not a number")),
        };
    if declared == Some(0) {
        return Ok(Bytes::new());
    }
    let Some(message) = req.into_body().take_unstarted() else {
        return Err(Reply::error(500, "internal", "the request body was already read"));
    };
    // The guest's side of the body: dropping the writer reports that reading went fine.
    let (_done, done) = wasip3::wit_future::new(|| Ok(()));
    let (mut stream, _trailers) = wasip3::http::types::Request::consume_body(message, done);
    let mut body: Vec<u8> = Vec::new();
    loop {
        let want = match declared {
            Some(n) if body.len() >= n => break,
            Some(n) => n - body.len(),
            None => READ_CHUNK_BYTES,
        };
        let (result, chunk): (_, Vec<u8>) = stream.read(Vec::with_capacity(want)).await;
        if body.is_empty() {
            body = chunk;
        } else {
            body.extend_from_slice(&chunk);
        }
        if body.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        if !matches!(result, wasip3::wit_bindgen::StreamResult::Complete(_)) {
            break;
        }
    }
    match declared {
        Some(n) if body.len() < n => Err(Reply::error(
            400,
            "bad_body",
            format!("the request body ended after {} of its declared {n} bytes", body.len()),
        )),
        _ => Ok(Bytes::from(body)),
    }
}

/// How much one read of a body without a declared length asks for.
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// A response body that hands the request's log line to [`emit`] when it is dropped: after the
/// host has taken the last byte and the end of the body (or stopped reading it), so the answer
/// is on its way to the shopper before the line is written, as web servers write access logs.
/// (Emitted from the handler, the line's task ran before the task that writes the body, and the
/// answer waited for the line: seen with `strace` under `wasmtime serve`.)
struct LoggedBody {
    body: FullBody<Bytes>,
    line: Option<String>,
}

impl http_body::Body for LoggedBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

impl Drop for LoggedBody {
    fn drop(&mut self) {
        if let Some(line) = self.line.take() {
            emit(line);
        }
    }
}

fn response(
    status: u16,
    body: Bytes,
    version: Option<&str>,
    line: Option<String>,
) -> anyhow::Result<http::Response<LoggedBody>> {
    let mut b = http::Response::builder().status(status);
    if let Some(v) = version {
        // Which bundle answered, on every answer (the body says so too where it has results).
        b = b.header("x-shopai-version", v);
    }
    if status == 204 {
        // CORS preflight: storefront pages on other origins may call every route.
        b = b
            .header("access-control-allow-methods", "GET, POST, OPTIONS")
            .header("access-control-allow-headers", "content-type")
            .header("access-control-max-age", "86400");
    } else {
        b = b.header("content-type", "application/json").header("content-length", body.len());
    }
    Ok(b.header("access-control-allow-origin", "*").body(LoggedBody { body: FullBody::new(body), line })?)
}

#[http_service]
async fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    let started = Instant::now();
    let inst = instance().await;
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    // The clock is read now; the timestamp is formatted only if the line is written.
    let received_at = SystemTime::now();
    let mut log = LogLine::new(String::new(), &method, &path);
    let (status, body) = if method == "OPTIONS" {
        (204, Bytes::new())
    } else if method == "GET" && path == "/openapi.json" {
        (200, Bytes::from_static(api::OPENAPI_JSON.as_bytes()))
    } else {
        let answer = serve(inst, req, &method, &path, &mut log).await;
        log.results = answer.meta.results;
        log.top_score = answer.meta.top_score;
        log.degraded = answer.meta.degraded.clone().or(log.degraded.take());
        log.error = answer.meta.error.clone();
        let took_ms = ms(started);
        let body = if answer.meta.results.is_some() {
            answer.body_with(&[("took_ms", json!((took_ms * 1000.0).round() / 1000.0))])
        } else {
            answer.body
        };
        (answer.status, Bytes::from(body))
    };
    log.status = status;
    log.took_ms = ms(started);
    let line = inst.config.log_requests.then(|| {
        log.ts = humantime::format_rfc3339_millis(received_at).to_string();
        log.to_json()
    });
    response(status, body, log.version.as_deref(), line)
}
