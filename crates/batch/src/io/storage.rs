//! Where bytes come from and go to: local paths or `s3://bucket/key` on any S3-API server.
//! S3 objects are streamed in chunks (with a byte progress bar); writes to versioned prefixes
//! never overwrite an existing object.

use crate::config::S3Config;
use anyhow::{bail, Context, Result};
use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStoreExt, PutPayload};
use std::path::PathBuf;

/// A local path or an S3 object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A file on disk.
    Local(PathBuf),
    /// `s3://bucket/key`.
    S3 {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
}

impl Location {
    /// Parse `s3://bucket/key` or a path.
    pub fn parse(s: &str) -> Result<Self> {
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() || key.is_empty() {
                bail!("{s:?} is not of the form s3://bucket/key");
            }
            return Ok(Self::S3 { bucket: bucket.into(), key: key.into() });
        }
        Ok(Self::Local(PathBuf::from(s)))
    }

    /// File name (last path segment).
    pub fn file_name(&self) -> String {
        match self {
            Self::Local(p) => p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
            Self::S3 { key, .. } => key.rsplit('/').next().unwrap_or(key).to_string(),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local(p) => write!(f, "{}", p.display()),
            Self::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

/// Builds S3 clients from config and runs their futures on a private runtime.
pub struct Storage {
    s3: S3Config,
    rt: tokio::runtime::Runtime,
}

impl Storage {
    /// A storage handle for this S3 configuration.
    pub fn new(s3: &S3Config) -> Result<Self> {
        let rt =
            tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting async runtime")?;
        Ok(Self { s3: s3.clone(), rt })
    }

    pub(crate) fn client(&self, bucket: &str) -> Result<AmazonS3> {
        // from_env: role credentials (ECS task role, EKS Pod Identity or IRSA web identity, session
        // tokens) come from the standard AWS_* variables; the config's endpoint and keys override.
        let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket).with_region(if self.s3.region.is_empty() {
            "us-east-1"
        } else {
            &self.s3.region
        });
        if !self.s3.endpoint.is_empty() {
            b = b.with_endpoint(&self.s3.endpoint).with_allow_http(self.s3.endpoint.starts_with("http://"));
        }
        if self.s3.access_key_id.is_set() {
            b = b.with_access_key_id(self.s3.access_key_id.expose());
        }
        if self.s3.secret_access_key.is_set() {
            b = b.with_secret_access_key(self.s3.secret_access_key.expose());
        }
        b.build().with_context(|| format!("configuring S3 client for bucket {bucket}"))
    }

    /// Read a whole object or file, streaming S3 bodies in chunks.
    pub fn read(&self, loc: &Location, progress: bool) -> Result<Vec<u8>> {
        match loc {
            Location::Local(p) => std::fs::read(p).with_context(|| format!("reading {}", p.display())),
            Location::S3 { bucket, key } => {
                let client = self.client(bucket)?;
                self.rt
                    .block_on(async {
                        let res = client.get(&ObjPath::from(key.as_str())).await?;
                        let pb = crate::io::progress::bar(progress, res.meta.size, "download");
                        let mut out = Vec::with_capacity(res.meta.size as usize);
                        let mut stream = res.into_stream();
                        while let Some(chunk) = stream.next().await {
                            let chunk = chunk?;
                            pb.inc(chunk.len() as u64);
                            out.extend_from_slice(&chunk);
                        }
                        pb.finish_and_clear();
                        Ok::<_, object_store::Error>(out)
                    })
                    .with_context(|| format!("reading {loc}"))
            }
        }
    }

    /// Whether an object or file exists.
    pub fn exists(&self, loc: &Location) -> Result<bool> {
        match loc {
            Location::Local(p) => Ok(p.exists()),
            Location::S3 { bucket, key } => {
                let client = self.client(bucket)?;
                match self.rt.block_on(client.head(&ObjPath::from(key.as_str()))) {
                    Ok(_) => Ok(true),
                    Err(object_store::Error::NotFound { .. }) => Ok(false),
                    Err(e) => Err(e).with_context(|| format!("checking {loc}")),
                }
            }
        }
    }

    /// Write bytes (local writes are atomic).
    pub fn write(&self, loc: &Location, bytes: &[u8]) -> Result<()> {
        match loc {
            Location::Local(p) => crate::io::fs::write_atomic(p, bytes),
            Location::S3 { bucket, key } => {
                let client = self.client(bucket)?;
                self.rt
                    .block_on(client.put(&ObjPath::from(key.as_str()), PutPayload::from(bytes.to_vec())))
                    .with_context(|| format!("writing {loc}"))?;
                Ok(())
            }
        }
    }

    /// Write unless the object already exists (immutable versioned artifacts). Returns whether it wrote.
    pub fn write_once(&self, loc: &Location, bytes: &[u8]) -> Result<bool> {
        if self.exists(loc)? {
            return Ok(false);
        }
        self.write(loc, bytes)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_locations() {
        assert_eq!(
            Location::parse("s3://b/raw/r.csv").expect("s3"),
            Location::S3 { bucket: "b".into(), key: "raw/r.csv".into() }
        );
        assert!(Location::parse("s3://bucket-only").is_err());
        assert_eq!(Location::parse("data/x.csv").expect("local"), Location::Local("data/x.csv".into()));
        assert_eq!(Location::parse("s3://b/a/b/c.csv.gz").expect("s3").file_name(), "c.csv.gz");
    }
}
