//! HTML building blocks: escaping, PNG data URIs, tables and the page around them.

use std::fmt::Write;

use image::ImageEncoder;

use crate::error::{Error, Result};

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Standard base64 (RFC 4648, with padding).
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An RGB image (HWC bytes) as PNG bytes.
pub fn png_bytes(width: usize, height: usize, rgb: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(
            rgb,
            width as u32,
            height as u32,
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| Error::Shape(format!("cannot encode a {width}x{height} PNG: {e}")))?;
    Ok(out)
}

/// An `<img>` of an RGB image, inline as a PNG data URI, drawn at `scale`× with square
/// pixels.
pub fn img(width: usize, height: usize, rgb: &[u8], scale: usize, alt: &str) -> Result<String> {
    Ok(format!(
        r#"<img class="px" src="data:image/png;base64,{}" width="{}" height="{}" alt="{}">"#,
        base64(&png_bytes(width, height, rgb)?),
        width * scale,
        height * scale,
        escape(alt)
    ))
}

/// A table with a header row; cells are HTML already.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table><tr>");
    for h in header {
        let _ = write!(s, "<th>{}</th>", escape(h));
    }
    s.push_str("</tr>");
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            let _ = write!(s, "<td>{c}</td>");
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
    s
}

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;background:#f6f6f4;color:#222}
main{max-width:1080px;margin:0 auto;padding:18px 20px 40px}
h1{font-size:22px;margin:4px 0 2px}h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #ddd;padding-bottom:3px}
.sub{color:#666;margin:0 0 8px}.cap{color:#555;font-size:13px;margin:4px 0 0}
section{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:10px 14px 14px;margin:14px 0}
table{border-collapse:collapse;font-size:13px}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.cfg{columns:3;column-gap:24px;font:12px/1.5 ui-monospace,monospace}.cfg div{break-inside:avoid}.cfg b{font-weight:600}
.charts{display:grid;grid-template-columns:repeat(3,340px);gap:10px 14px}
svg text{font:11px system-ui,sans-serif;fill:#444}svg .t{font-size:12.5px;font-weight:600;fill:#222}
svg .yl{text-anchor:end}svg .xl{text-anchor:middle}svg .lg{font-size:11px}
img.px{image-rendering:pixelated;image-rendering:crisp-edges;display:block;background:#fff}
.row{display:flex;gap:18px;align-items:flex-start;flex-wrap:wrap}.lab{font-size:12px;color:#555}
details summary{cursor:pointer;color:#555;font-size:13px}
pre{font-size:12px;background:#fafafa;padding:8px;overflow:auto}
";

/// A whole page: `title`, then `body` (HTML), with the report's stylesheet inline. No
/// script, no external resource: the file reads the same offline.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head>\n<body><main>\n{body}\n</main></body></html>\n",
        escape(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (inp, out) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(inp.as_bytes()), out);
        }
        assert_eq!(escape("<a & 'b'>"), "&lt;a &amp; &#39;b&#39;&gt;");
    }
}
