//! The bundle built into the component, when asked for:
//!
//! `SHOPAI_EDGE_BUNDLE=/abs/path/bundle.bin cargo build --release -p shopai-edge --target wasm32-wasip2`
//!
//! bakes that bundle into the component's data, verified here (checksums and structure, by core)
//! so a fresh instance only checks its structure: the runtime maps the component's data into a
//! new instance's memory copy-on-write, so there is nothing to read and nothing to recompute, and
//! an instance costs the same whatever the catalog's size (docs/EDGE.md). Unset, nothing is
//! embedded and the component reads `SHOPAI_BUNDLE_PATH` (or `SHOPAI_BUNDLE_URL`) as before.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=SHOPAI_EDGE_BUNDLE");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("embedded-bundle.bin");
    let bytes = match std::env::var_os("SHOPAI_EDGE_BUNDLE").filter(|p| !p.is_empty()) {
        None => Vec::new(),
        Some(path) => {
            let mut path = PathBuf::from(path);
            if path.is_relative() {
                // Build scripts run in the crate's folder; a relative path means the caller's.
                if let Some(cwd) = std::env::var_os("PWD") {
                    path = PathBuf::from(cwd).join(path);
                }
            }
            println!("cargo:rerun-if-changed={}", path.display());
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("SHOPAI_EDGE_BUNDLE={}: {e}", path.display()));
            match shopai_core::Bundle::load(&bytes) {
                Ok(b) => println!(
                    "cargo:warning=embedding bundle {} ({} bytes, version {})",
                    path.display(),
                    bytes.len(),
                    b.manifest().version
                ),
                Err(e) => panic!("SHOPAI_EDGE_BUNDLE={} is not a bundle this build can serve: {e}", path.display()),
            }
            bytes
        }
    };
    std::fs::write(&out, bytes).expect("writing the embedded bundle into OUT_DIR");
}
