//! HTML rendering shared by the API's HTML answers and the pages: escaping, and the
//! transparency report as a self-contained page.

use serde_json::Value;

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
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

/// The transparency report as a self-contained HTML page (`GET /v1/transparency?format=html`).
pub fn transparency_html(report: &bioguard_service::TransparencyReport) -> String {
    fn rows(prefix: &str, v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let name = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix} / {k}")
                    };
                    rows(&name, v, out);
                }
            }
            Value::Array(_) => {}
            Value::Null => out.push_str(&format!(
                "<tr><th>{}</th><td>not available</td></tr>",
                escape_html(prefix)
            )),
            other => out.push_str(&format!(
                "<tr><th>{}</th><td id=\"{}\">{}</td></tr>",
                escape_html(prefix),
                escape_html(&prefix.replace(" / ", ".")),
                escape_html(other.to_string().trim_matches('"'))
            )),
        }
    }
    let report = serde_json::to_value(report).unwrap_or(Value::Null);
    let mut table = String::new();
    if let Value::Object(m) = &report {
        for (k, v) in m {
            if k != "notes" {
                rows(k, v, &mut table);
            }
        }
    }
    let notes: String = report["notes"]
        .as_array()
        .map(|n| {
            n.iter()
                .filter_map(Value::as_str)
                .map(|s| format!("<li>{}</li>", escape_html(s)))
                .collect()
        })
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Transparency report</title>\
         <style>body{{font-family:sans-serif;max-width:50em;margin:2em auto}}th{{text-align:left;padding-right:2em}}</style>\
         </head><body><h1>Transparency report</h1><p>Counts only; no individual's data.</p>\
         <table>{table}</table><ul>{notes}</ul></body></html>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape_html("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
