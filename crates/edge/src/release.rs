//! Serving what is published: the bundle `shopai publish` put behind a `LATEST` pointer.
//!
//! With `bundle_url` set (`SHOPAI_BUNDLE_URL`, or the Spin variable `bundle_url`), an instance
//! loads the version `LATEST` names and revalidates the pointer at most every
//! `bundle_revalidate_secs` (default 30) with `If-None-Match`. A new version is swapped in only
//! after its bytes match the pointer's sha256 and core loads them; otherwise the old version keeps
//! answering and the failure is logged. `bundle_url` is `s3://bucket/key` (fetched with a SigV4-
//! signed GET from `SHOPAI_S3_ENDPOINT` or AWS, credentials from `AWS_ACCESS_KEY_ID` /
//! `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, region `AWS_REGION`) or any `http(s)://` URL
//! such as a CDN in front of the bucket. A URL whose last segment is `LATEST` is a pointer;
//! anything else is a bundle served as is.
//!
//! Instances are short-lived, so what one fetched is kept where the next reads it cheaply:
//! `bundle_cache_dir` (a writable folder: `wasmtime serve --dir host::/cache`) or, with the `spin`
//! feature, Spin's default key-value store. A fresh instance then loads the cached bytes and
//! does not revalidate before the interval is over.
//!
//! This module's pure parts (pointer, URLs, signing, cache record) are unit-tested natively.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What `bundles/LATEST` holds (the fields the edge needs; others are ignored).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Pointer {
    /// Bundle version.
    pub version: String,
    /// The bundle object relative to the pointer's folder.
    pub path: String,
    /// Hex SHA-256 of the bundle.
    pub sha256: String,
    /// Bundle size.
    #[serde(default)]
    pub bytes: u64,
}

/// What an instance leaves behind for the next one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CacheRecord {
    /// The configured `bundle_url` this record is for.
    pub source: String,
    /// The pointer last seen (for a plain bundle URL: version and sha256 of what was fetched).
    pub pointer: Pointer,
    /// ETag of the pointer (or bundle) response.
    pub etag: Option<String>,
    /// When the source was last revalidated, Unix ms.
    pub checked_at_ms: u64,
}

/// Hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where to fetch from.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// The HTTP URL to GET.
    pub url: String,
    /// Whether the URL is an S3 object that needs a SigV4 signature.
    pub s3: bool,
    /// Whether the URL is a `LATEST` pointer (else a bundle).
    pub pointer: bool,
}

/// The HTTP URL of an S3 object: path-style on a configured S3-compatible endpoint (moto, MinIO),
/// else AWS's virtual-hosted URL for the region (`us-east-1` when none is set). Bundles and
/// feedback objects are both addressed here.
pub fn s3_object_url(bucket: &str, key: &str, s3_endpoint: &str, region: &str) -> String {
    if s3_endpoint.is_empty() {
        format!("https://{bucket}.s3.{}.amazonaws.com/{key}", if region.is_empty() { "us-east-1" } else { region })
    } else {
        format!("{}/{bucket}/{key}", s3_endpoint.trim_end_matches('/'))
    }
}

/// Turn `bundle_url` into an HTTP URL: `s3://bucket/key` becomes a path-style URL on the
/// configured endpoint (e.g. moto or MinIO) or the virtual-hosted AWS URL for the region.
pub fn resolve(bundle_url: &str, s3_endpoint: &str, region: &str) -> Result<Source, String> {
    let pointer = |u: &str| u.split('?').next().unwrap_or(u).rsplit('/').next() == Some("LATEST");
    if let Some(rest) = bundle_url.strip_prefix("s3://") {
        let (bucket, key) = rest.split_once('/').ok_or_else(|| format!("{bundle_url:?} is not s3://bucket/key"))?;
        if bucket.is_empty() || key.is_empty() {
            return Err(format!("{bundle_url:?} is not s3://bucket/key"));
        }
        return Ok(Source { pointer: pointer(key), url: s3_object_url(bucket, key, s3_endpoint, region), s3: true });
    }
    if bundle_url.starts_with("https://") || bundle_url.starts_with("http://") {
        return Ok(Source { url: bundle_url.to_string(), s3: false, pointer: pointer(bundle_url) });
    }
    Err(format!("bundle_url {bundle_url:?} must be s3://bucket/key or an http(s) URL"))
}

/// The bundle URL a pointer names, relative to the pointer's own URL.
pub fn bundle_url_of(pointer_url: &str, p: &Pointer) -> Result<String, String> {
    if p.path.starts_with('/') || p.path.split('/').any(|s| s == ".." || s.is_empty()) || p.path.contains("://") {
        return Err(format!("the pointer names an unsafe path {:?}", p.path));
    }
    let base = pointer_url.split('?').next().unwrap_or(pointer_url);
    let dir = base.rsplit_once('/').map(|(d, _)| d).ok_or("pointer URL has no folder")?;
    Ok(format!("{dir}/{}", p.path))
}

/// AWS credentials for signing.
#[derive(Clone, Default, PartialEq)]
pub struct S3Credentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key (never logged).
    pub secret_access_key: String,
    /// Session token, if temporary.
    pub session_token: Option<String>,
    /// Region.
    pub region: String,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S3Credentials {{ access_key_id: {:?}, region: {:?}, secret: *** }}", self.access_key_id, self.region)
    }
}

/// The headers that sign `GET url` (SigV4, service `s3`).
pub fn sign_get(
    url: &str,
    extra_headers: &[(&str, &str)],
    creds: &S3Credentials,
    time: std::time::SystemTime,
) -> Result<Vec<(String, String)>, String> {
    sign_request("GET", url, extra_headers, &[], creds, time)
}

/// The headers that sign a request to S3 (SigV4, service `s3`, payload hashed into
/// `x-amz-content-sha256`).
pub fn sign_request(
    method: &str,
    url: &str,
    extra_headers: &[(&str, &str)],
    body: &[u8],
    creds: &S3Credentials,
    time: std::time::SystemTime,
) -> Result<Vec<(String, String)>, String> {
    use aws_sigv4::http_request::{
        sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
        UriPathNormalizationMode,
    };
    let host = url.split("://").nth(1).and_then(|r| r.split('/').next()).ok_or("URL without host")?;
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let identity = aws_credential_types::Credentials::new(
        &creds.access_key_id,
        &creds.secret_access_key,
        creds.session_token.clone(),
        None,
        "shopai-edge",
    )
    .into();
    let region = if creds.region.is_empty() { "us-east-1" } else { &creds.region };
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("s3")
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| format!("signing parameters: {e}"))?
        .into();
    let mut headers: Vec<(&str, &str)> = vec![("host", host)];
    headers.extend_from_slice(extra_headers);
    let req = SignableRequest::new(method, url, headers.into_iter(), SignableBody::Bytes(body))
        .map_err(|e| format!("signing {url}: {e}"))?;
    let (instructions, _) = sign(req, &params).map_err(|e| format!("signing {url}: {e}"))?.into_parts();
    Ok(instructions.headers().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

/// The 503 message when there is no bundle: how to get one.
pub fn no_bundle_message(path: &str, why: &str) -> String {
    format!(
        "no bundle to serve: {why}. Get one: `bash scripts/demo.sh` writes out/demo/bundle.bin (mounted at {path}), \
         or `shopai build --out <dir>/bundle.bin` and mount <dir>, or publish with `shopai publish` and set \
         bundle_url (SHOPAI_BUNDLE_URL / spin up --variable bundle_url=s3://<bucket>/<prefix>/bundles/LATEST)"
    )
}

#[cfg(target_arch = "wasm32")]
pub(crate) mod host {
    //! The instance side: fetch, verify, cache, swap.
    use super::*;
    use crate::api::State;
    use crate::config::Config as Settings;
    use bytes::Bytes;
    use spin_sdk::http::body::IncomingBodyExt;
    use spin_sdk::http::FullBody;
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;
    use std::time::{SystemTime, UNIX_EPOCH};

    /// The version this instance answers with, and where it came from.
    pub struct Live {
        /// The loaded bundle (or why there is none).
        pub state: Rc<State>,
        /// What was loaded (None: a mounted file or nothing).
        pub record: Option<CacheRecord>,
    }

    thread_local! {
        static LIVE: RefCell<Option<Rc<Live>>> = const { RefCell::new(None) };
        static REVALIDATING: Cell<bool> = const { Cell::new(false) };
    }

    pub(crate) fn now_ms() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    }

    /// One event line (not a request line: no `route`), written as the request lines are.
    pub(crate) fn log(event: &str, fields: serde_json::Value) {
        let mut o = serde_json::json!({"ts": humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            "source": "edge", "event": event});
        if let (Some(o), serde_json::Value::Object(f)) = (o.as_object_mut(), fields) {
            o.extend(f);
        }
        crate::host::emit(o.to_string());
    }

    /// GET with optional If-None-Match; returns (status, etag, body).
    async fn get(
        s: &Settings,
        src_s3: bool,
        url: &str,
        etag: Option<&str>,
    ) -> Result<(u16, Option<String>, Vec<u8>), String> {
        let mut b = http::Request::builder().method("GET").uri(url);
        let mut extra: Vec<(&str, &str)> = Vec::new();
        if let Some(e) = etag {
            extra.push(("if-none-match", e));
        }
        for (k, v) in &extra {
            b = b.header(*k, *v);
        }
        if src_s3 && !s.s3.access_key_id.is_empty() {
            for (k, v) in sign_get(url, &extra, &s.s3, SystemTime::now())? {
                b = b.header(k, v);
            }
        }
        let req = b.body(FullBody::new(Bytes::new())).map_err(|e| e.to_string())?;
        let resp = spin_sdk::http::send(req).await.map_err(|e| format!("GET {url}: {e:?}"))?;
        let status = resp.status().as_u16();
        let etag = resp.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = resp.into_body().bytes().await.map_err(|e| format!("reading {url}: {e:?}"))?;
        Ok((status, etag, body.to_vec()))
    }

    // ---- the cache a fresh instance reads (the bundle; also the shared breaker, host.rs) ----

    pub(crate) async fn cache_get(s: &Settings, key: &str) -> Option<Vec<u8>> {
        #[cfg(feature = "spin")]
        if s.bundle_cache_dir.is_empty() {
            let store = spin_sdk::key_value::Store::open_default().await.ok()?;
            return store.get(key).await.ok().flatten();
        }
        if s.bundle_cache_dir.is_empty() {
            return None;
        }
        std::fs::read(format!("{}/{key}", s.bundle_cache_dir.trim_end_matches('/'))).ok()
    }

    pub(crate) async fn cache_put(s: &Settings, key: &str, bytes: &[u8]) -> Result<(), String> {
        #[cfg(feature = "spin")]
        if s.bundle_cache_dir.is_empty() {
            let store =
                spin_sdk::key_value::Store::open_default().await.map_err(|e| format!("key-value store: {e:?}"))?;
            return store.set(key, bytes).await.map_err(|e| format!("key-value store: {e:?}"));
        }
        if s.bundle_cache_dir.is_empty() {
            return Ok(());
        }
        let dir = s.bundle_cache_dir.trim_end_matches('/');
        let tmp = format!("{dir}/.{key}.{}.tmp", now_ms());
        std::fs::write(&tmp, bytes).map_err(|e| format!("writing {tmp}: {e}"))?;
        std::fs::rename(&tmp, format!("{dir}/{key}")).map_err(|e| format!("renaming {tmp}: {e}"))
    }

    async fn save_record(s: &Settings, r: &CacheRecord) {
        if let Ok(b) = serde_json::to_vec(r) {
            if let Err(e) = cache_put(s, "latest.json", &b).await {
                log("bundle_cache_failed", serde_json::json!({"error": e}));
            }
        }
    }

    fn load(bytes: Vec<u8>, sha: &str) -> Result<State, String> {
        let got = sha256_hex(&bytes);
        if !sha.is_empty() && got != sha {
            return Err(format!("sha256 {got} does not match the pointer's {sha}"));
        }
        let st = State::from_bundle_bytes(Ok(bytes));
        match &st.bundle {
            Ok(_) => Ok(st),
            Err(e) => Err(e.clone()),
        }
    }

    fn set(live: Live) -> Rc<Live> {
        let l = Rc::new(live);
        LIVE.with(|c| *c.borrow_mut() = Some(l.clone()));
        l
    }

    /// The version to answer with: loads on first use, revalidates when due.
    pub async fn current(s: &Settings) -> Rc<Live> {
        let existing = LIVE.with(|c| c.borrow().clone());
        // Requests that share an instance interleave at `.await`: while one revalidates, the
        // others answer with the version already loaded (a fresh instance's first requests wait).
        if let Some(l) = existing.as_ref().filter(|l| l.state.bundle.is_ok()) {
            if REVALIDATING.with(Cell::get) {
                return l.clone();
            }
        }
        REVALIDATING.with(|c| c.set(true));
        let live = current_inner(s, existing).await;
        REVALIDATING.with(|c| c.set(false));
        live
    }

    async fn current_inner(s: &Settings, existing: Option<Rc<Live>>) -> Rc<Live> {
        let src = match resolve(&s.bundle_url, &s.s3_endpoint, &s.s3.region) {
            Ok(src) => src,
            Err(e) => return set(Live { state: Rc::new(State::from_bundle_bytes(Err(e))), record: None }),
        };
        let now = now_ms();
        // A fresh instance: what an earlier one fetched, if it is for this source.
        let live = match existing {
            Some(l) => Some(l),
            None => {
                let rec: Option<CacheRecord> = cache_get(s, "latest.json")
                    .await
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .filter(|r: &CacheRecord| r.source == s.bundle_url);
                match rec {
                    Some(r) => match cache_get(s, &format!("{}.bin", r.pointer.sha256)).await {
                        Some(bytes) => match load(bytes, &r.pointer.sha256) {
                            Ok(st) => Some(set(Live { state: Rc::new(st), record: Some(r) })),
                            Err(e) => {
                                log("bundle_cache_rejected", serde_json::json!({"error": e}));
                                None
                            }
                        },
                        None => None,
                    },
                    None => None,
                }
            }
        };
        if let Some(l) = &live {
            if let Some(r) = &l.record {
                if now.saturating_sub(r.checked_at_ms) < s.bundle_revalidate_ms && l.state.bundle.is_ok() {
                    return l.clone();
                }
            }
        }
        revalidate(s, &src, live, now).await
    }

    async fn revalidate(s: &Settings, src: &Source, live: Option<Rc<Live>>, now: u64) -> Rc<Live> {
        let old = live
            .as_ref()
            .and_then(|l| l.record.clone())
            .filter(|_| live.as_ref().is_some_and(|l| l.state.bundle.is_ok()));
        let fail = |e: String, live: Option<Rc<Live>>| {
            log(
                "bundle_update_failed",
                serde_json::json!({"error": e, "bundle_url": s.bundle_url, "keeps_version": old.as_ref().map(|r| r.pointer.version.clone())}),
            );
            match live.filter(|l| l.state.bundle.is_ok()) {
                // Keep serving; try again after the interval (this instance and the next).
                Some(l) => {
                    let mut r = l.record.clone();
                    if let Some(r) = r.as_mut() {
                        r.checked_at_ms = now;
                    }
                    set(Live { state: l.state.clone(), record: r })
                }
                None => set(Live {
                    state: Rc::new(State::from_bundle_bytes(Err(no_bundle_message(
                        &s.bundle_path,
                        &format!("{} could not be loaded: {e}", s.bundle_url),
                    )))),
                    record: Some(CacheRecord {
                        source: s.bundle_url.clone(),
                        pointer: Pointer {
                            version: String::new(),
                            path: String::new(),
                            sha256: String::new(),
                            bytes: 0,
                        },
                        etag: None,
                        checked_at_ms: now,
                    }),
                }),
            }
        };
        let etag = old.as_ref().and_then(|r| r.etag.clone());
        let (status, new_etag, body) = match get(s, src.s3, &src.url, etag.as_deref()).await {
            Ok(r) => r,
            Err(e) => return fail(e, live),
        };
        if status == 304 {
            if let (Some(l), Some(mut r)) = (live.clone(), old.clone()) {
                r.checked_at_ms = now;
                save_record(s, &r).await;
                return set(Live { state: l.state.clone(), record: Some(r) });
            }
        }
        if status != 200 {
            return fail(format!("GET {} answered HTTP {status}", src.url), live);
        }
        let (pointer, bundle_bytes) = if src.pointer {
            let p: Pointer = match serde_json::from_slice(&body) {
                Ok(p) => p,
                Err(e) => return fail(format!("{} is not a LATEST pointer: {e}", src.url), live),
            };
            if old.as_ref().is_some_and(|r| r.pointer.sha256 == p.sha256) {
                let (l, mut r) = (live.clone().expect("old implies live"), old.clone().expect("checked"));
                r.checked_at_ms = now;
                r.etag = new_etag;
                r.pointer = p;
                save_record(s, &r).await;
                return set(Live { state: l.state.clone(), record: Some(r) });
            }
            let url = match bundle_url_of(&src.url, &p) {
                Ok(u) => u,
                Err(e) => return fail(e, live),
            };
            let bytes = match cache_get(s, &format!("{}.bin", p.sha256)).await {
                Some(b) if sha256_hex(&b) == p.sha256 => b,
                _ => match get(s, src.s3, &url, None).await {
                    Ok((200, _, b)) => b,
                    Ok((st, _, _)) => return fail(format!("GET {url} answered HTTP {st}"), live),
                    Err(e) => return fail(e, live),
                },
            };
            (p, bytes)
        } else {
            let sha = sha256_hex(&body);
            (Pointer { version: String::new(), path: String::new(), sha256: sha, bytes: body.len() as u64 }, body)
        };
        let len = bundle_bytes.len();
        let cached = bundle_bytes.clone();
        let st = match load(bundle_bytes, &pointer.sha256) {
            Ok(st) => st,
            Err(e) => return fail(format!("version {} rejected: {e}", pointer.version), live),
        };
        let version = st.bundle.as_ref().map(|b| b.manifest().version.clone()).unwrap_or_default();
        let pointer =
            Pointer { version: if pointer.version.is_empty() { version.clone() } else { pointer.version }, ..pointer };
        if let Err(e) = cache_put(s, &format!("{}.bin", pointer.sha256), &cached).await {
            log("bundle_cache_failed", serde_json::json!({"error": e}));
        }
        let rec = CacheRecord { source: s.bundle_url.clone(), pointer, etag: new_etag, checked_at_ms: now };
        save_record(s, &rec).await;
        log(
            "bundle_swapped",
            serde_json::json!({"version": version, "from": old.map(|r| r.pointer.version), "bytes": len}),
        );
        set(Live { state: Rc::new(st), record: Some(rec) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_s3_and_https_sources() {
        let s = resolve("s3://b/prod/bundles/LATEST", "http://127.0.0.1:9000/", "").expect("s3");
        assert_eq!(s, Source { url: "http://127.0.0.1:9000/b/prod/bundles/LATEST".into(), s3: true, pointer: true });
        let s = resolve("s3://b/x/bundle.bin", "", "eu-west-1").expect("aws");
        assert_eq!(s.url, "https://b.s3.eu-west-1.amazonaws.com/x/bundle.bin");
        assert!(!s.pointer);
        assert!(resolve("https://cdn.example/p/bundles/LATEST?v=1", "", "").expect("https").pointer);
        assert!(resolve("ftp://x", "", "").is_err());
        assert!(resolve("s3://bucket-only", "", "").is_err());
    }

    #[test]
    fn pointer_paths_resolve_beside_the_pointer_and_stay_there() {
        let p = Pointer { version: "v1".into(), path: "v1/bundle.bin".into(), sha256: String::new(), bytes: 0 };
        assert_eq!(
            bundle_url_of("http://h/b/prod/bundles/LATEST", &p).expect("ok"),
            "http://h/b/prod/bundles/v1/bundle.bin"
        );
        for bad in ["../x", "/abs", "a//b", "http://evil/x"] {
            let p = Pointer { path: bad.into(), ..p.clone() };
            assert!(bundle_url_of("http://h/LATEST", &p).is_err(), "{bad}");
        }
    }

    #[test]
    fn signs_s3_gets_with_sigv4() {
        // AWS's documented GetObject example (sig-v4-header-based-auth): same key, date and range.
        let creds = S3Credentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
            region: "us-east-1".into(),
        };
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_369_353_600); // 2013-05-24T00:00:00Z
        let h = sign_get("https://examplebucket.s3.amazonaws.com/test.txt", &[("range", "bytes=0-9")], &creds, t)
            .expect("signed");
        let auth = h.iter().find(|(k, _)| k == "authorization").map(|(_, v)| v.as_str()).expect("authorization");
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        assert!(!format!("{creds:?}").contains("EXAMPLEKEY"), "secrets never print");
    }
}
