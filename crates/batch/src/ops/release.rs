//! `shopai publish`, `shopai versions`, `shopai rollback`: bundles published to S3 (or a local
//! folder) behind an evaluation gate.
//!
//! Layout under the release root (`s3://<bucket>/<prefix>` or a folder):
//!
//! ```text
//! bundles/<version>/bundle.bin     immutable: never overwritten once it holds a valid bundle
//! bundles/<version>/release.json   what was published (the pointer record below)
//! bundles/LATEST                   JSON pointer: version, path, sha256, bytes, created_at, eval, forced
//! ```
//!
//! `LATEST` is written last, with one PUT, and only after the uploaded object has been read back,
//! hashed and loaded with core. A publish killed at any point therefore leaves `LATEST` naming
//! the previous complete version (or nothing), and running it again resumes: an already uploaded
//! object with the same bytes is not sent again.

use crate::config::Config;
use crate::io::log;
use crate::io::storage::{Location, Storage};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// Exit code of a publish the evaluation gate refused.
pub const EXIT_GATE_REFUSED: i32 = 3;
/// Exit code of a publish whose upload did not read back as the same, loadable bundle.
pub const EXIT_VERIFY_FAILED: i32 = 4;

/// An error with its own process exit code (the gate refused, an upload did not verify).
#[derive(Debug)]
pub struct Refused {
    /// Process exit code.
    pub code: i32,
    /// What happened and what to do.
    pub message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refused {}

/// The process exit code for an error: [`Refused`] errors carry their own, everything else is 1.
pub fn exit_code(e: &anyhow::Error) -> i32 {
    e.chain().find_map(|c| c.downcast_ref::<Refused>()).map_or(1, |r| r.code)
}

/// Where releases live.
#[derive(clap::Args, Debug, Clone)]
pub struct RootArgs {
    /// Release root: `s3://bucket/prefix` or a folder (default: s3://<s3.bucket>/<s3.prefix>).
    #[arg(long)]
    pub to: Option<String>,
}

/// `shopai publish`.
#[derive(clap::Args, Debug, Clone)]
pub struct PublishArgs {
    /// The candidate bundle: a path or s3://bucket/key.
    pub bundle: String,
    /// The release root.
    #[command(flatten)]
    pub root: RootArgs,
    /// Largest drop of a gated metric (absolute, e.g. NDCG@10 0.01) the candidate may show
    /// against the live version before the publish is refused.
    #[arg(long, default_value_t = 0.01)]
    pub tolerance: f64,
    /// Model row of the evaluation headline the gate compares (as `shopai evaluate` names it).
    #[arg(long, default_value = "fusion")]
    pub gate_model: String,
    /// Metrics the gate compares (of precision, recall, ndcg, coverage), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "ndcg")]
    pub gate_metrics: Vec<String>,
    /// Publish even if the gate refuses; the pointer records `forced: true`.
    #[arg(long)]
    pub force: bool,
}

/// `shopai rollback`.
#[derive(clap::Args, Debug, Clone)]
pub struct RollbackArgs {
    /// A published version (see `shopai versions`).
    pub version: String,
    /// The release root.
    #[command(flatten)]
    pub root: RootArgs,
}

/// The `LATEST` pointer, and the `release.json` kept beside each published bundle.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Pointer {
    /// Bundle version (the manifest's).
    pub version: String,
    /// The bundle object, relative to the folder holding `LATEST`.
    pub path: String,
    /// Hex SHA-256 of the bundle bytes.
    pub sha256: String,
    /// Bundle size.
    pub bytes: u64,
    /// When the bundle was built (manifest).
    pub created_at: String,
    /// When this pointer was written.
    pub published_at: String,
    /// The evaluation headline recorded in the manifest, if any.
    #[serde(default)]
    pub eval: Option<Value>,
    /// Whether the publish overrode a refusing gate.
    #[serde(default)]
    pub forced: bool,
    /// What the gate decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<Value>,
    /// The version that was live when this pointer was written by `shopai rollback`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back_from: Option<String>,
}

/// A release root: an S3 prefix or a local folder.
#[derive(Debug, Clone)]
pub enum Root {
    /// `s3://bucket/prefix`.
    S3 {
        /// Bucket.
        bucket: String,
        /// Key prefix without slashes at either end ("" for the bucket root).
        prefix: String,
    },
    /// A folder.
    Local(PathBuf),
}

impl Root {
    /// From `--to` or the configured bucket and prefix.
    pub fn resolve(cfg: &Config, to: Option<&str>) -> Result<Self> {
        let s = match to {
            Some(t) => t.to_string(),
            None if !cfg.s3.bucket.is_empty() => format!("s3://{}/{}", cfg.s3.bucket, cfg.s3.prefix),
            None => bail!("no release root: pass --to s3://bucket/prefix (or a folder), or set s3.bucket"),
        };
        Ok(match s.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                anyhow::ensure!(!bucket.is_empty(), "{s:?} names no bucket");
                Self::S3 { bucket: bucket.into(), prefix: prefix.trim_matches('/').into() }
            }
            None => Self::Local(PathBuf::from(s)),
        })
    }

    /// The location of `rel` (a `/`-separated path under `bundles/`).
    pub fn at(&self, rel: &str) -> Location {
        match self {
            Self::S3 { bucket, prefix } if prefix.is_empty() => {
                Location::S3 { bucket: bucket.clone(), key: format!("bundles/{rel}") }
            }
            Self::S3 { bucket, prefix } => {
                Location::S3 { bucket: bucket.clone(), key: format!("{prefix}/bundles/{rel}") }
            }
            Self::Local(dir) => Location::Local(dir.join("bundles").join(rel)),
        }
    }

    /// Versions that have a `bundle.bin` (no order).
    fn versions(&self, storage: &Storage) -> Result<Vec<String>> {
        let mut out = Vec::new();
        match self {
            Self::S3 { bucket, .. } => {
                let Location::S3 { key, .. } = self.at("") else { unreachable!("S3 root gives S3 locations") };
                for k in storage.list_s3(bucket, &key)? {
                    if let Some(v) = k.strip_prefix(&key).and_then(|r| r.strip_suffix("/bundle.bin")) {
                        if !v.contains('/') {
                            out.push(v.to_string());
                        }
                    }
                }
            }
            Self::Local(dir) => {
                let dir = dir.join("bundles");
                if dir.exists() {
                    for e in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
                        let e = e?;
                        if e.path().join("bundle.bin").is_file() {
                            out.push(e.file_name().to_string_lossy().into_owned());
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A version id that is safe as one key segment.
fn check_version(v: &str) -> Result<()> {
    anyhow::ensure!(
        !v.is_empty()
            && v.len() <= 200
            && !v.starts_with('.')
            && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')),
        "version {v:?} cannot name a release (letters, digits, '-', '_', '.' only)"
    );
    Ok(())
}

/// Read the `LATEST` pointer, if there is one.
pub fn read_pointer(storage: &Storage, root: &Root) -> Result<Option<Pointer>> {
    let loc = root.at("LATEST");
    if !storage.exists(&loc)? {
        return Ok(None);
    }
    let bytes = storage.read(&loc, false)?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {loc}")).map(Some)
}

/// What the evaluation gate decided.
#[derive(Debug, Clone, Serialize)]
pub struct GateOutcome {
    /// Whether the candidate may go live.
    pub pass: bool,
    /// Why, in one sentence per point.
    pub reasons: Vec<String>,
    /// Per metric: candidate, live, drop.
    pub compared: Vec<Value>,
}

/// Compare the candidate's evaluation headline with the live one's.
pub fn gate(
    candidate: Option<&Value>,
    live: Option<&Value>,
    model: &str,
    metrics: &[String],
    tolerance: f64,
) -> GateOutcome {
    let mut out = GateOutcome { pass: true, reasons: Vec::new(), compared: Vec::new() };
    let Some(live) = live.filter(|l| !l.is_null()) else {
        out.reasons.push("no live version with evaluation metrics: nothing to compare against".into());
        return out;
    };
    let Some(cand) = candidate.filter(|c| !c.is_null()) else {
        out.pass = false;
        out.reasons.push(
            "the candidate has no evaluation headline (build it with `shopai build --eval out/eval.json`) while the live version has one".into(),
        );
        return out;
    };
    if cand["protocol"] != live["protocol"] {
        out.pass = false;
        out.reasons.push(format!(
            "the candidate was evaluated on protocol {} but the live version on {}: not comparable",
            cand["protocol"], live["protocol"]
        ));
        return out;
    }
    for m in metrics {
        let c = cand["metrics"][model][m].as_f64();
        let l = live["metrics"][model][m].as_f64();
        match (c, l) {
            (Some(c), Some(l)) => {
                let drop = l - c;
                out.compared
                    .push(json!({"metric": format!("{model} {m}@10"), "candidate": c, "live": l, "drop": drop}));
                if drop > tolerance {
                    out.pass = false;
                    out.reasons.push(format!(
                        "{model} {m}@10 {c:.4} is {drop:.4} below the live version's {l:.4} (tolerance {tolerance})"
                    ));
                }
            }
            (None, _) => {
                out.pass = false;
                out.reasons.push(format!("the candidate's headline has no {model} {m}@10"));
            }
            (Some(_), None) => out.reasons.push(format!("the live headline has no {model} {m}@10: not compared")),
        }
    }
    if out.pass && out.reasons.is_empty() {
        out.reasons.push(format!("no gated metric dropped by more than {tolerance}"));
    }
    out
}

/// Read an object back and check it is exactly the bundle we meant, loadable by core.
fn verify(storage: &Storage, loc: &Location, sha: &str) -> Result<()> {
    let back = storage.read(loc, false).with_context(|| format!("reading {loc} back"))?;
    let got = sha256_hex(&back);
    if got != sha {
        return Err(Refused {
            code: EXIT_VERIFY_FAILED,
            message: format!(
                "{loc} read back with sha256 {got}, expected {sha}: the upload is damaged; LATEST was not moved"
            ),
        }
        .into());
    }
    shopai_core::Bundle::load(&back).map_err(|e| Refused {
        code: EXIT_VERIFY_FAILED,
        message: format!("{loc} does not load ({e}); LATEST was not moved"),
    })?;
    Ok(())
}

/// Upload, verify, gate and point `LATEST` at a candidate bundle.
pub fn publish(cfg: &Config, a: &PublishArgs) -> Result<Value> {
    let storage = Storage::new(&cfg.s3)?;
    let root = Root::resolve(cfg, a.root.to.as_deref())?;
    let bytes = storage.read(&Location::parse(&a.bundle)?, false)?;
    let manifest = shopai_core::Bundle::load(&bytes)
        .with_context(|| format!("{} is not a valid bundle; nothing was published", a.bundle))?
        .manifest()
        .clone();
    let version = manifest.version.clone();
    check_version(&version)?;
    let sha = sha256_hex(&bytes);
    let live = read_pointer(&storage, &root)?;
    if let Some(l) = live.as_ref().filter(|l| l.version == version && l.sha256 == sha) {
        log::info("already live", json!({"version": l.version}));
        return Ok(json!({"published": false, "latest": l, "reason": "this bundle is already LATEST"}));
    }

    let outcome = gate(
        manifest.eval.as_ref(),
        live.as_ref().and_then(|l| l.eval.as_ref()),
        &a.gate_model,
        &a.gate_metrics,
        a.tolerance,
    );
    if !outcome.pass && !a.force {
        return Err(Refused {
            code: EXIT_GATE_REFUSED,
            message: format!(
                "evaluation gate refused {version} against live {}: {} (publish with --force to override; LATEST was not moved)",
                live.as_ref().map_or("(none)", |l| l.version.as_str()),
                outcome.reasons.join("; ")
            ),
        }
        .into());
    }

    let obj = root.at(&format!("{version}/bundle.bin"));
    let uploaded = if storage.exists(&obj)? {
        let existing = storage.read(&obj, false)?;
        if sha256_hex(&existing) == sha {
            log::info("already uploaded; not sending it again", json!({"object": obj.to_string()}));
            false
        } else if shopai_core::Bundle::load(&existing).is_ok() {
            bail!(
                "{obj} already holds a different bundle of version {version}; published versions are immutable (rebuild to get a new version)"
            );
        } else {
            log::warn("replacing a damaged upload that never went live", json!({"object": obj.to_string()}));
            storage.write(&obj, &bytes)?;
            true
        }
    } else {
        log::info("uploading", json!({"object": obj.to_string(), "bytes": bytes.len()}));
        storage.write(&obj, &bytes)?;
        true
    };
    verify(&storage, &obj, &sha)?;

    let pointer = Pointer {
        version: version.clone(),
        path: format!("{version}/bundle.bin"),
        sha256: sha,
        bytes: bytes.len() as u64,
        created_at: manifest.created_at.clone(),
        published_at: now(),
        eval: manifest.eval.clone(),
        forced: !outcome.pass,
        gate: Some(serde_json::to_value(&outcome)?),
        rolled_back_from: None,
    };
    let record = serde_json::to_vec_pretty(&pointer)?;
    storage.write(&root.at(&format!("{version}/release.json")), &record)?;
    // The last step: one PUT moves the pointer to a complete, verified object.
    storage.write(&root.at("LATEST"), &record)?;
    log::info("published", json!({"version": version, "forced": pointer.forced}));
    Ok(json!({"published": true, "uploaded": uploaded, "latest": pointer, "previous": live.map(|l| l.version)}))
}

/// Every published version, oldest first, with the one `LATEST` names marked.
pub fn versions(cfg: &Config, a: &RootArgs) -> Result<Value> {
    let storage = Storage::new(&cfg.s3)?;
    let root = Root::resolve(cfg, a.to.as_deref())?;
    let latest = read_pointer(&storage, &root)?;
    let mut rows = Vec::new();
    for v in root.versions(&storage)? {
        let rec = root.at(&format!("{v}/release.json"));
        let p: Option<Pointer> =
            if storage.exists(&rec)? { serde_json::from_slice(&storage.read(&rec, false)?).ok() } else { None };
        rows.push(json!({
            "version": v,
            "latest": latest.as_ref().is_some_and(|l| l.version == v),
            "created_at": p.as_ref().map(|p| p.created_at.clone()),
            "published_at": p.as_ref().map(|p| p.published_at.clone()),
            "sha256": p.as_ref().map(|p| p.sha256.clone()),
            "bytes": p.as_ref().map(|p| p.bytes),
            "forced": p.as_ref().map(|p| p.forced),
            "eval": p.as_ref().and_then(|p| p.eval.clone()),
        }));
    }
    rows.sort_by(|a, b| {
        (a["created_at"].as_str(), a["version"].as_str()).cmp(&(b["created_at"].as_str(), b["version"].as_str()))
    });
    Ok(json!({"latest": latest.map(|l| l.version), "versions": rows}))
}

/// Point `LATEST` back at a published version (after checking it still loads).
pub fn rollback(cfg: &Config, a: &RollbackArgs) -> Result<Value> {
    check_version(&a.version)?;
    let storage = Storage::new(&cfg.s3)?;
    let root = Root::resolve(cfg, a.root.to.as_deref())?;
    let obj = root.at(&format!("{}/bundle.bin", a.version));
    anyhow::ensure!(
        storage.exists(&obj)?,
        "{} was never published ({obj} does not exist; see `shopai versions`)",
        a.version
    );
    let bytes = storage.read(&obj, false)?;
    let sha = sha256_hex(&bytes);
    let rec = root.at(&format!("{}/release.json", a.version));
    let recorded: Option<Pointer> =
        if storage.exists(&rec)? { serde_json::from_slice(&storage.read(&rec, false)?).ok() } else { None };
    if let Some(r) = &recorded {
        anyhow::ensure!(
            r.sha256 == sha,
            "{obj} has sha256 {sha} but was published as {}: refusing to roll back to it",
            r.sha256
        );
    }
    let manifest = shopai_core::Bundle::load(&bytes)
        .with_context(|| format!("{obj} does not load; refusing to roll back to it"))?
        .manifest()
        .clone();
    let live = read_pointer(&storage, &root)?;
    let pointer = Pointer {
        version: a.version.clone(),
        path: format!("{}/bundle.bin", a.version),
        sha256: sha,
        bytes: bytes.len() as u64,
        created_at: manifest.created_at,
        published_at: now(),
        eval: manifest.eval,
        forced: recorded.as_ref().is_some_and(|r| r.forced),
        gate: None,
        rolled_back_from: live.as_ref().map(|l| l.version.clone()),
    };
    storage.write(&root.at("LATEST"), &serde_json::to_vec_pretty(&pointer)?)?;
    log::info("rolled back", json!({"version": a.version, "from": pointer.rolled_back_from}));
    Ok(json!({"latest": pointer}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headline(ndcg: f64) -> Value {
        json!({"protocol": "p", "metrics": {"fusion": {"precision": 0.1, "recall": 0.1, "ndcg": ndcg, "coverage": 0.3}}})
    }

    #[test]
    fn gate_refuses_a_drop_beyond_the_tolerance_only() {
        let m = vec!["ndcg".to_string()];
        assert!(gate(Some(&headline(0.20)), Some(&headline(0.205)), "fusion", &m, 0.01).pass);
        let g = gate(Some(&headline(0.15)), Some(&headline(0.20)), "fusion", &m, 0.01);
        assert!(!g.pass);
        assert!(g.reasons[0].contains("0.1500") && g.reasons[0].contains("0.2000"), "{:?}", g.reasons);
        assert!(gate(Some(&headline(0.15)), None, "fusion", &m, 0.01).pass, "nothing live: first publish passes");
        assert!(!gate(None, Some(&headline(0.2)), "fusion", &m, 0.01).pass, "no headline against a live one");
        let mut other = headline(0.3);
        other["protocol"] = json!("q");
        assert!(!gate(Some(&other), Some(&headline(0.2)), "fusion", &m, 0.01).pass, "different protocols");
    }

    #[test]
    fn versions_must_be_one_safe_key_segment() {
        assert!(check_version("als32-hash-d256-20260101-120000").is_ok());
        for bad in ["", "../x", "a/b", ".hidden", "a b"] {
            assert!(check_version(bad).is_err(), "{bad:?}");
        }
    }

    fn bundle(ndcg: f64, version: &str) -> Vec<u8> {
        let mut p = shopai_core::BundleParts {
            item_ids: vec!["a".into(), "b".into()],
            titles: vec!["red shoe".into(), "blue pan".into()],
            item_categories: vec![vec![], vec![]],
            vectors: shopai_core::QuantMatrix::from_f32(&[0.6, 0.8, 0.8, 0.6], 2),
            factors: shopai_core::QuantMatrix::from_f32(&[0.1, 0.2], 1),
            gram: vec![1.0],
            popularity: vec![1.0, 2.0],
            ..Default::default()
        };
        p.manifest.version = version.into();
        p.manifest.embedding.model = shopai_core::HASH_MODEL.into();
        p.manifest.eval = Some(headline(ndcg));
        p.to_bytes().expect("bundle")
    }

    #[test]
    fn publish_gate_versions_and_rollback_on_a_folder() {
        let dir = std::env::temp_dir().join(format!("shopai-release-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let cfg = Config::default();
        let to = RootArgs { to: Some(dir.join("rel").display().to_string()) };
        let args = |file: &str, force: bool| PublishArgs {
            bundle: dir.join(file).display().to_string(),
            root: to.clone(),
            tolerance: 0.01,
            gate_model: "fusion".into(),
            gate_metrics: vec!["ndcg".into()],
            force,
        };
        for (f, n, v) in [("v1.bin", 0.20, "v1"), ("v2.bin", 0.205, "v2"), ("bad.bin", 0.10, "bad")] {
            std::fs::write(dir.join(f), bundle(n, v)).expect("write");
        }
        publish(&cfg, &args("v1.bin", false)).expect("first publish");
        let e = publish(&cfg, &args("bad.bin", false)).expect_err("gate refuses");
        assert_eq!(exit_code(&e), EXIT_GATE_REFUSED, "{e:#}");
        let root = Root::resolve(&cfg, to.to.as_deref()).expect("root");
        let storage = Storage::new(&cfg.s3).expect("storage");
        assert_eq!(read_pointer(&storage, &root).expect("read").expect("latest").version, "v1");
        assert!(!dir.join("rel/bundles/bad").exists(), "nothing of a refused candidate is uploaded");
        publish(&cfg, &args("v2.bin", false)).expect("better passes");
        let forced = publish(&cfg, &args("bad.bin", true)).expect("forced");
        assert_eq!(forced["latest"]["forced"], true);
        let vs = versions(&cfg, &to).expect("versions");
        assert_eq!(vs["latest"], "bad");
        assert_eq!(vs["versions"].as_array().map(Vec::len), Some(3));
        rollback(&cfg, &RollbackArgs { version: "v1".into(), root: to.clone() }).expect("rollback");
        let p = read_pointer(&storage, &root).expect("read").expect("latest");
        assert_eq!((p.version.as_str(), p.rolled_back_from.as_deref()), ("v1", Some("bad")));
        assert_eq!(p.sha256, sha256_hex(&std::fs::read(dir.join("v1.bin")).expect("v1")));
        // Same version, other bytes: refused (immutable).
        std::fs::write(dir.join("v1b.bin"), bundle(0.3, "v1")).expect("write");
        assert!(format!("{:#}", publish(&cfg, &args("v1b.bin", false)).expect_err("immutable")).contains("immutable"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn exit_codes_survive_context() {
        let e: anyhow::Error = Refused { code: EXIT_GATE_REFUSED, message: "no".into() }.into();
        let e = e.context("publishing");
        assert_eq!(exit_code(&e), EXIT_GATE_REFUSED);
        assert_eq!(exit_code(&anyhow::anyhow!("plain")), 1);
    }
}
