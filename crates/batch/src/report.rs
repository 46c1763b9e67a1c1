//! The HTML/SVG pieces the EDA and evaluation reports share: escaping, a bar chart and a log-log
//! long-tail curve, all inline so each report is one self-contained file.

use std::fmt::Write;

/// Escape text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A bar chart of labelled values.
pub fn bars(title: &str, data: &[(String, u64)]) -> String {
    let (w, h, pad) = (640.0, 220.0, 36.0);
    let max = data.iter().map(|d| d.1).max().unwrap_or(1).max(1) as f64;
    let bw = (w - 2.0 * pad) / data.len().max(1) as f64;
    let mut s = format!(
        "<figure><figcaption>{}</figcaption><svg viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\">",
        esc(title),
        esc(title)
    );
    let every = (data.len() / 12).max(1);
    for (k, (label, v)) in data.iter().enumerate() {
        let bh = (h - 2.0 * pad) * (*v as f64 / max);
        let x = pad + k as f64 * bw;
        let _ = write!(s, "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#fca311\"><title>{}: {v}</title></rect>", h - pad - bh, (bw * 0.85).max(0.5), esc(label));
        if k % every == 0 {
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
                x + bw / 2.0,
                h - pad + 14.0,
                esc(label)
            );
        }
    }
    let _ =
        write!(s, "<text x=\"{pad}\" y=\"{:.1}\" font-size=\"10\">max {}</text></svg></figure>", pad - 8.0, max as u64);
    s
}

/// A log-log rank/count curve (the long tail).
pub fn tail(title: &str, curve: &[(u64, u64)]) -> String {
    let (w, h, pad) = (640.0, 220.0, 36.0);
    let xmax = (curve.last().map_or(1, |c| c.0).max(2) as f64).ln();
    let ymax = (curve.first().map_or(1, |c| c.1).max(2) as f64).ln();
    let pts: Vec<String> = curve
        .iter()
        .map(|&(r, c)| {
            let x = pad + (w - 2.0 * pad) * (r as f64).ln() / xmax;
            let y = h - pad - (h - 2.0 * pad) * (c.max(1) as f64).ln() / ymax;
            format!("{x:.1},{y:.1}")
        })
        .collect();
    format!(
        "<figure><figcaption>{}</figcaption><svg viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\"><polyline points=\"{}\" fill=\"none\" stroke=\"#14213d\" stroke-width=\"2\"/><text x=\"{pad}\" y=\"{:.1}\" font-size=\"10\">rank (log) →</text><text x=\"4\" y=\"{pad}\" font-size=\"10\">count (log)</text></svg></figure>",
        esc(title),
        esc(title),
        pts.join(" "),
        h - 8.0
    )
}
