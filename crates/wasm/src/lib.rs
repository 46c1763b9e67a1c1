//! ShopAI for the storefront's browser: an [`Engine`] loads a bundle and answers `search` and
//! `recommend` client-side. Each method converts JS values, calls shopai-core, converts back;
//! every error becomes a JS exception with a message, and a panic (a bug) is logged to the
//! console with its message and location before the trap. No API key lives here: when
//! `engine.needsQueryVector(request)` says so (core decides), the caller embeds the text with the
//! bundle's model (e.g. through the edge's `/v1/embeddings` route) and passes it as `vector`.
#![deny(missing_docs)]

use serde::Serialize;
use shopai_core::service::{self, plan_query, RecommendRequest, Scratch, SearchRequest};
use shopai_core::{AlignedBytes, Bundle};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** Filters applied inside the scan. */
export interface Filters { category?: string[] }
/** A search: query text (embedded with the bundle's own embedder) or a ready vector. */
export interface SearchRequest { text?: string; query?: string; vector?: number[] | Float32Array; topK?: number; filters?: Filters }
/** A recommendation request: a known user, a session history of product ids (oldest first; the latest drive the next-item source), or both. */
export interface RecommendRequest { userId?: string; history?: string[]; topK?: number; excludeSeen?: boolean; filters?: Filters }
/** Standardized score per recommendation source. */
export interface ScoreParts { vector: number; collab: number; popularity: number; item: number; next: number; cold: number }
/** Search score parts: inner product of query and item vectors (the cosine for unit vectors) and BM25 / the query's best BM25. */
export interface SearchParts { vector: number; lexical: number }
/** One result. */
export interface ItemResult { product_id: string; title: string; score: number; categories: string[]; parts?: ScoreParts | SearchParts; because?: string[] }
/** Search answer; `degraded` says why an answer is lexical only. */
export interface SearchResponse { results: ItemResult[]; version: string; degraded?: string }
/** Recommendation answer. */
export interface RecommendResponse { results: ItemResult[]; version: string; source: "hybrid" | "popularity"; unknown_ids?: string[] }
/** The bundle manifest. */
export interface Manifest { version: string; model_id: string; created_at: string; counts: { items: number; users: number; categories: number; interactions: number }; embedding: { model: string; dimensions: number; quantization: string }; [key: string]: unknown }
"#;

/// Runs when the module is instantiated: route Rust panics to `console.error` with their
/// message and location instead of an opaque "unreachable" trap.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(url: &str) -> js_sys::Promise;
}

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// A request object → core's request type, through JSON text as at the edge: the same unknown-field
/// rejection (`serde_wasm_bindgen` reads only a struct's declared fields, so a misspelled one
/// would pass silently) and the same messages. A typed-array `vector` becomes a plain array first.
fn from_js<T: serde::de::DeserializeOwned>(request: &JsValue) -> Result<T, JsError> {
    if !request.is_object() || js_sys::Array::is_array(request) {
        return Err(JsError::new("the request must be an object, e.g. { query: 'lamp', topK: 5 }"));
    }
    let vector = js_sys::Reflect::get(request, &"vector".into()).unwrap_or(JsValue::UNDEFINED);
    let plain = if js_sys::ArrayBuffer::is_view(&vector) {
        let copy = js_sys::Object::assign(&js_sys::Object::new(), request.unchecked_ref());
        js_sys::Reflect::set(&copy, &"vector".into(), &js_sys::Array::from(&vector))
            .map_err(|_| JsError::new("could not read request.vector"))?;
        copy.into()
    } else {
        request.clone()
    };
    let text = js_sys::JSON::stringify(&plain)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| JsError::new("the request could not be read as JSON"))?;
    // from_slice, not from_str: core reads the manifest with from_slice, so the parser code
    // (serde_json's Deserializer<SliceRead>) is shared rather than instantiated a second time.
    serde_json::from_slice(text.as_bytes()).map_err(|e| JsError::new(&format!("invalid request: {e}")))
}

fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsError> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(js_err)
}

/// A loaded bundle plus reusable query buffers.
#[wasm_bindgen]
pub struct Engine {
    bundle: Bundle<AlignedBytes>,
    scratch: Scratch,
}

#[wasm_bindgen]
impl Engine {
    /// Load a bundle from its bytes. Throws on a corrupt, truncated or incompatible bundle.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> Result<Engine, JsError> {
        let bundle = Bundle::load(bytes).map_err(js_err)?;
        Ok(Engine { bundle, scratch: Scratch::default() })
    }

    /// Fetch a bundle from a URL and load it.
    #[wasm_bindgen(js_name = fromUrl)]
    pub async fn from_url(url: String) -> Result<Engine, JsError> {
        let resp = wasm_bindgen_futures::JsFuture::from(global_fetch(&url))
            .await
            .map_err(|e| JsError::new(&format!("fetching {url}: {e:?}")))?;
        let ok = js_sys::Reflect::get(&resp, &"ok".into()).ok().and_then(|v| v.as_bool()).unwrap_or(false);
        if !ok {
            let status = js_sys::Reflect::get(&resp, &"status".into()).ok().and_then(|v| v.as_f64()).unwrap_or(0.0);
            return Err(JsError::new(&format!("fetching {url}: HTTP {status}")));
        }
        let array_buffer = js_sys::Reflect::get(&resp, &"arrayBuffer".into())
            .map_err(|_| JsError::new("response has no arrayBuffer()"))?
            .dyn_into::<js_sys::Function>()
            .map_err(|_| JsError::new("response.arrayBuffer is not a function"))?
            .call0(&resp)
            .map_err(|e| JsError::new(&format!("reading {url}: {e:?}")))?;
        let buf = wasm_bindgen_futures::JsFuture::from(js_sys::Promise::from(array_buffer))
            .await
            .map_err(|e| JsError::new(&format!("reading {url}: {e:?}")))?;
        Engine::from_bytes(&js_sys::Uint8Array::new(&buf).to_vec())
    }

    /// Search by `text` or `vector`.
    #[wasm_bindgen(unchecked_return_type = "SearchResponse")]
    pub fn search(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "SearchRequest")] request: JsValue,
    ) -> Result<JsValue, JsError> {
        let req: SearchRequest = from_js(&request)?;
        to_js(&service::answer_search(&self.bundle.view(), &req, None, &mut self.scratch).map_err(js_err)?)
    }

    /// Whether `request` needs a query vector from outside (core's `plan_query`): true for a
    /// text query on a bundle embedded by a model core does not run, when no `vector` is given.
    /// Embed the text with `manifest().embedding.model` and pass it as `vector`; without one the
    /// answer is lexical only and says so in `degraded`.
    #[wasm_bindgen(js_name = needsQueryVector)]
    pub fn needs_query_vector(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SearchRequest")] request: JsValue,
    ) -> Result<bool, JsError> {
        let req: SearchRequest = from_js(&request)?;
        Ok(plan_query(self.bundle.manifest(), &req).needs_query_vector())
    }

    /// Every category name in the bundle, in bundle order (what `filters.category` accepts).
    #[wasm_bindgen(unchecked_return_type = "string[]")]
    pub fn categories(&self) -> Result<JsValue, JsError> {
        to_js(&self.bundle.view().category_names.iter().collect::<Vec<&str>>())
    }

    /// Recommend for a `userId` and/or a `history` of product ids.
    #[wasm_bindgen(unchecked_return_type = "RecommendResponse")]
    pub fn recommend(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "RecommendRequest")] request: JsValue,
    ) -> Result<JsValue, JsError> {
        let req: RecommendRequest = from_js(&request)?;
        to_js(&service::answer_recommend(&self.bundle.view(), &req, &mut self.scratch).map_err(js_err)?)
    }

    /// Bundle version id.
    pub fn version(&self) -> String {
        self.bundle.manifest().version.clone()
    }

    /// The full manifest.
    #[wasm_bindgen(unchecked_return_type = "Manifest")]
    pub fn manifest(&self) -> Result<JsValue, JsError> {
        to_js(self.bundle.manifest())
    }

    /// Bundle size in bytes.
    #[wasm_bindgen(js_name = sizeBytes)]
    pub fn size_bytes(&self) -> usize {
        self.bundle.len_bytes()
    }
}
