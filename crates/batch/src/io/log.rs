//! Progress messages on stderr: human lines by default, JSON lines with `--json`.
//! Never pass secrets here; config values are logged through their redacting types.

use std::sync::atomic::{AtomicBool, Ordering};

static JSON: AtomicBool = AtomicBool::new(false);

/// Switch to JSON lines.
pub fn set_json(on: bool) {
    JSON.store(on, Ordering::Relaxed);
}

/// Whether JSON logging is on.
pub fn is_json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// Log an event with fields.
pub fn info(msg: &str, fields: serde_json::Value) {
    emit("info", msg, fields)
}

/// Log something the user should look at (degraded, fell back, skipped).
pub fn warn(msg: &str, fields: serde_json::Value) {
    emit("warn", msg, fields)
}

fn emit(level: &str, msg: &str, fields: serde_json::Value) {
    if is_json() {
        let mut obj = serde_json::json!({
            "ts": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "level": level,
            "msg": msg,
        });
        if let (Some(o), serde_json::Value::Object(f)) = (obj.as_object_mut(), fields) {
            o.extend(f);
        }
        eprintln!("{obj}");
    } else {
        let kv = match fields {
            serde_json::Value::Object(f) if !f.is_empty() => {
                format!(" ({})", f.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", "))
            }
            _ => String::new(),
        };
        let mark = if level == "warn" { "!" } else { "•" };
        eprintln!("{mark} {msg}{kv}");
    }
}
