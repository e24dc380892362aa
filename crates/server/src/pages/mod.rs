//! Server-rendered pages for people: public pages (purposes and notices, retention schedule,
//! transparency report, latest signed checkpoint, fairness) and the subject portal. Plain
//! HTML that works without JavaScript, one stylesheet served by the binary, a strict Content
//! Security Policy, and every string from [`text`].

mod portal;
pub(crate) mod text;

use crate::html::escape_html as esc;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

use crate::AppState;
use text::Lang;

const CSS: &str = include_str!("../../assets/site.css");

/// The policy of every page: nothing from elsewhere, no script at all, forms only to here.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// The value of the request's cookie `name`.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// What every page rendered in a request needs from the deployment.
#[derive(Clone, Default)]
struct PageContext {
    /// Who runs the service, for the footer.
    operator: Option<bioguard_core::Operator>,
    /// Minutes east of UTC in which times are written for people.
    offset_minutes: i32,
}

impl PageContext {
    fn of(st: &AppState) -> Self {
        Self {
            operator: st.service.operator().cloned(),
            offset_minutes: st.display_offset_minutes,
        }
    }
}

tokio::task_local! {
    static CONTEXT: PageContext;
}

/// The offset in which this request's pages write times (0 outside a page request).
pub(super) fn display_offset() -> i32 {
    CONTEXT.try_with(|c| c.offset_minutes).unwrap_or(0)
}

/// The footer: the operator's name and contact, or a plain statement that they have not been
/// published.
fn footer(l: Lang) -> String {
    match CONTEXT.try_with(|c| c.operator.clone()).ok().flatten() {
        Some(o) => format!(
            "<footer id=\"operator\"><p>{} <strong>{}</strong>. {} {}</p></footer>",
            esc(l.t("footer.operated_by")),
            esc(&o.name),
            esc(l.t("footer.contact")),
            esc(&o.contact),
        ),
        None => format!(
            "<footer id=\"operator\"><p>{}</p></footer>",
            esc(l.t("footer.unnamed"))
        ),
    }
}

/// The cookie that keeps a language chosen with `?lang=`.
const LANG_COOKIE: &str = "bioguard_lang";

/// Applies a language choice: `?lang=` (remembered in a cookie for a year) or that cookie
/// wins over `Accept-Language`, which every page then reads.
async fn choose_language(
    State(st): State<AppState>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let asked = req.uri().query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "lang")
            .and_then(|(_, v)| text::Lang::from_choice(v))
    });
    let kept = cookie(req.headers(), LANG_COOKIE).and_then(|v| text::Lang::from_choice(&v));
    if let Some(l) = asked.or(kept) {
        req.headers_mut()
            .insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static(l.tag()));
    }
    let mut resp = CONTEXT.scope(PageContext::of(&st), next.run(req)).await;
    if let Some(l) = asked {
        let secure = if st.secure_cookies { "; Secure" } else { "" };
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax{secure}",
            l.tag()
        )) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// The page for a path that names nothing, in the reader's language.
pub(crate) fn not_found_page(headers: &HeaderMap, st: &AppState) -> Response {
    CONTEXT.sync_scope(PageContext::of(st), || {
        error_page(
            lang(headers),
            StatusCode::NOT_FOUND,
            "error.not_found",
            false,
        )
    })
}

pub(crate) fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/static/site.css", get(css))
        .route("/purposes", get(purposes))
        .route("/retention", get(retention))
        .route("/transparency", get(transparency))
        .route("/ledger", get(ledger))
        .route("/fairness", get(fairness))
        .route("/portal/open/{token}", get(portal::open))
        .route("/portal", get(portal::view))
        .route("/portal/withdraw", post(portal::withdraw))
        .route("/portal/lock", post(portal::lock))
        .route("/portal/erase", get(portal::erase_form).post(portal::erase))
        .route("/portal/report", get(portal::report))
        .route("/portal/receipt/{consent}", get(portal::receipt))
        .route_layer(axum::middleware::from_fn_with_state(state, choose_language))
}

/// The language of a request.
fn lang(headers: &HeaderMap) -> Lang {
    Lang::from_accept(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

/// A page: the layout around `body`, with the security headers. `private` pages (the portal)
/// are never cached.
fn page(lang: Lang, status: StatusCode, title: &str, body: &str, private: bool) -> Response {
    let t = |k| lang.t(k);
    let nav = [
        ("/", "nav.home"),
        ("/purposes", "nav.purposes"),
        ("/retention", "nav.retention"),
        ("/transparency", "nav.transparency"),
        ("/ledger", "nav.ledger"),
        ("/fairness", "nav.fairness"),
    ]
    .iter()
    .map(|(href, k)| format!("<li><a href=\"{href}\">{}</a></li>", esc(t(k))))
    .collect::<String>();
    let html = format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} – {}</title><link rel=\"stylesheet\" href=\"/static/site.css\"></head><body>\
         <a class=\"skip\" href=\"#main\">{}</a>\
         <header><a href=\"/\"><strong>{}</strong></a><nav aria-label=\"{}\"><ul>{nav}\
         <li><a href=\"?lang={}\" hreflang=\"{}\" lang=\"{}\">{}</a></li></ul></nav></header>\
         <main id=\"main\" tabindex=\"-1\"><h1>{}</h1>{body}</main>{}</body></html>",
        lang.tag(),
        esc(title),
        esc(t("site")),
        esc(t("skip")),
        esc(t("site")),
        esc(t("nav")),
        t("lang.other"),
        t("lang.other"),
        t("lang.other"),
        esc(t("lang.switch")),
        esc(title),
        footer(lang),
    );
    let mut r = (status, html).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if private { "no-store" } else { "max-age=60" }),
    );
    r
}

/// An error page.
fn error_page(lang: Lang, status: StatusCode, key: &str, private: bool) -> Response {
    page(
        lang,
        status,
        lang.t("error.title"),
        &format!("<p class=\"warn\" role=\"alert\">{}</p>", esc(lang.t(key))),
        private,
    )
}

/// The page for a service failure on a public page.
fn failed(lang: Lang, e: &bioguard_service::ServiceError) -> Response {
    tracing::error!(error = %e, "a page could not be built");
    let mut r = error_page(lang, StatusCode::SERVICE_UNAVAILABLE, "error.other", false);
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    r
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        CSS,
    )
        .into_response()
}

async fn home(headers: HeaderMap) -> Response {
    let l = lang(&headers);
    let body = format!(
        "<p>{}</p><p class=\"note\">{}</p>",
        esc(l.t("home.lead")),
        esc(l.t("home.portal"))
    );
    page(l, StatusCode::OK, l.t("home.title"), &body, false)
}

fn days(n: impl std::fmt::Display, l: Lang, key: &str) -> String {
    format!("{n} {}", esc(l.t(key)))
}

async fn purposes(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let l = lang(&headers);
    let all = match st.service.purposes().await {
        Ok(p) => p,
        Err(e) => return failed(l, &e),
    };
    let controllers = match st.service.controllers().await {
        Ok(c) => c,
        Err(e) => return failed(l, &e),
    };
    let mut body = String::new();
    if all.is_empty() {
        body.push_str(&format!("<p>{}</p>", esc(l.t("purposes.none"))));
    }
    for sp in &all {
        let p = &sp.purpose;
        let notices = match st.service.notices(&p.id).await {
            Ok(n) => n,
            Err(e) => return failed(l, &e),
        };
        let ops: Vec<&str> = p.operations.iter().map(|o| o.as_str()).collect();
        let mut retention = days(p.retention.max_days_since_enrolment(), l, "days.enrolment");
        if let Some(d) = p.retention.max_days_since_last_use() {
            retention.push_str(&format!("; {}", days(d, l, "days.use")));
        }
        body.push_str(&format!(
            "<section class=\"purpose\" aria-labelledby=\"p-{id}\"><h2 id=\"p-{id}\">{id}</h2><p>{}</p>\
             <dl><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{retention}</dd></dl>",
            esc(p.description.as_str()),
            esc(l.t("purposes.tenant")),
            esc(controllers
                .get(&p.id.tenant())
                .map_or(p.id.tenant().as_str(), String::as_str)),
            esc(l.t("purposes.operations")),
            esc(&ops.join(", ")),
            esc(l.t("purposes.retention")),
            id = esc(p.id.as_str()),
        ));
        if let Some(at) = sp.retired_at {
            let date: String = bioguard_core::rfc3339(at).chars().take(10).collect();
            body.push_str(&format!(
                "<p class=\"retired\"><strong>{}</strong> <time datetime=\"{date}\">{date}</time></p>",
                esc(l.t("purposes.retired")),
            ));
        }
        if let Some(n) = notices.last() {
            body.push_str(&notice_html(
                l,
                &bioguard_service::NoticeText::of(n),
                &n.name(),
                &n.hash,
            ));
        }
        body.push_str("</section>");
    }
    page(l, StatusCode::OK, l.t("purposes.title"), &body, false)
}

/// A notice's text and facts.
pub(super) fn notice_html(
    l: Lang,
    n: &bioguard_service::NoticeText,
    version: &str,
    hash: &str,
) -> String {
    let recipients = if n.recipients.is_empty() {
        l.t("purposes.recipients.none").to_owned()
    } else {
        n.recipients.join(", ")
    };
    format!(
        "<h3>{}</h3><p>{}</p><dl><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd>\
         <dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{} <code>{}</code></dd></dl>",
        esc(l.t("purposes.notice")),
        esc(&n.text),
        esc(l.t("purposes.controller")),
        esc(&n.controller),
        esc(l.t("purposes.jurisdiction")),
        esc(&n.jurisdiction),
        esc(l.t("purposes.recipients")),
        esc(&recipients),
        esc(l.t("purposes.withdrawal")),
        esc(&n.withdrawal_method),
        esc(l.t("purposes.version")),
        esc(version),
        esc(hash),
    )
}

async fn retention(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let l = lang(&headers);
    let all = match st.service.purposes().await {
        Ok(p) => p,
        Err(e) => return failed(l, &e),
    };
    let rows: String = all
        .iter()
        .map(|sp| {
            let p = &sp.purpose;
            format!(
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td></tr>",
                esc(p.id.as_str()),
                days(p.retention.max_days_since_enrolment(), l, "days"),
                p.retention
                    .max_days_since_last_use()
                    .map_or_else(|| esc(l.t("retention.unlimited")), |d| days(d, l, "days")),
            )
        })
        .collect();
    let body = format!(
        "<p>{}</p><table><caption>{}</caption><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th>\
         <th scope=\"col\">{}</th></tr></thead><tbody>{rows}</tbody></table>",
        esc(l.t("retention.lead")),
        esc(l.t("retention.title")),
        esc(l.t("retention.purpose")),
        esc(l.t("retention.enrolment")),
        esc(l.t("retention.use")),
    );
    page(l, StatusCode::OK, l.t("retention.title"), &body, false)
}

/// Flattens a JSON object into (name, value) rows, skipping `skip` keys.
fn flatten(prefix: &str, v: &Value, skip: &[&str], out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if prefix.is_empty() && skip.contains(&k.as_str()) {
                    continue;
                }
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&name, v, skip, out);
            }
        }
        Value::Array(_) => {}
        Value::Null => out.push((prefix.to_owned(), String::new())),
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

/// A transparency measure in the reader's words: its own text, or for a capture refusal the
/// reason's, or else the key made readable.
fn measure_label(l: Lang, key: &str) -> String {
    if let Some(t) = l.get(&format!("tr.{key}")) {
        return t.to_owned();
    }
    if let Some(reason) = key.strip_prefix("risk.captures_refused.") {
        let why = l
            .get(&format!("tr.reason.{reason}"))
            .map_or_else(|| reason.replace('_', " "), str::to_owned);
        return format!("{}: {why}", l.t("tr.risk.captures_refused"));
    }
    key.replace(['_', '.'], " ")
}

async fn transparency(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let l = lang(&headers);
    let report = match st.service.transparency().await {
        Ok(r) => serde_json::to_value(&r).unwrap_or(Value::Null),
        Err(e) => return failed(l, &e),
    };
    let mut rows = Vec::new();
    flatten(
        "",
        &report,
        &["notes", "fairness", "generated_at"],
        &mut rows,
    );
    let rows: String = rows
        .iter()
        .filter(|(k, _)| k != "ledger.origin")
        .map(|(k, v)| {
            let v = if v.is_empty() {
                l.t("transparency.unavailable").to_owned()
            } else {
                v.clone()
            };
            format!(
                "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
                esc(&measure_label(l, k)),
                esc(&v)
            )
        })
        .collect();
    let generated = report["generated_at"]
        .as_i64()
        .map(|t| bioguard_core::rfc3339(bioguard_core::Timestamp::from_unix(t)))
        .unwrap_or_default();
    let date = generated.replace('T', " ").replace('Z', " UTC");
    let period = format!(
        "<p>{} <time datetime=\"{}\">{}</time> ({} <code>{}</code>).</p>",
        esc(l.t("transparency.period")),
        esc(&generated),
        esc(&date),
        esc(l.t("nav.ledger")),
        esc(report["ledger"]["origin"].as_str().unwrap_or_default()),
    );
    let notes: String = report["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|n| format!("<li>{}</li>", esc(n)))
        .collect();
    let body = format!(
        "<p>{}</p>{period}<table><caption>{}</caption><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead>\
         <tbody>{rows}</tbody></table><p><a href=\"/fairness\">{}</a></p><ul>{notes}</ul>",
        esc(l.t("transparency.lead")),
        esc(l.t("transparency.title")),
        esc(l.t("transparency.measure")),
        esc(l.t("transparency.count")),
        esc(l.t("nav.fairness")),
    );
    page(l, StatusCode::OK, l.t("transparency.title"), &body, false)
}

async fn ledger(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let l = lang(&headers);
    let note = match st.service.audit_checkpoint().await {
        Ok(n) => n,
        Err(e) => return failed(l, &e),
    };
    let (origin, key) = st.service.audit_key();
    // The command as the reader can paste it: this service's address as they reached it.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .unwrap_or("127.0.0.1:8600");
    let scheme = if st.secure_cookies || st.http.forwarded_for {
        "https"
    } else {
        "http"
    };
    let command = format!(
        "bioguard audit verify --server {scheme}://{host} --log bioguard-log --key '{key}'"
    );
    let body = format!(
        "<p>{}</p><h2>{}</h2><pre id=\"checkpoint\">{}</pre><h2>{}</h2><p><code>{}</code></p>\
         <p>{}</p><p>{}</p><pre class=\"command\"><code>{}</code></pre>",
        esc(l.t("ledger.lead")),
        esc(l.t("ledger.checkpoint")),
        esc(&note),
        esc(l.t("ledger.key")),
        esc(&key.to_string()),
        esc(&origin),
        esc(l.t("ledger.how")),
        esc(&command),
    );
    page(l, StatusCode::OK, l.t("ledger.title"), &body, false)
}

async fn fairness(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let l = lang(&headers);
    let all = match st.service.purposes().await {
        Ok(p) => p,
        Err(e) => return failed(l, &e),
    };
    let rows: String = all
        .iter()
        .map(|sp| {
            let p = &sp.purpose;
            let f = &p.fairness;
            let status = match sp.fairness.status {
                bioguard_core::FairnessStatus::Passed => l.t("fairness.passed"),
                bioguard_core::FairnessStatus::Override => l.t("fairness.override"),
                bioguard_core::FairnessStatus::None => l.t("fairness.none"),
            };
            format!(
                "<tr><th scope=\"row\">{}</th><td data-label=\"{}\">{}</td><td data-label=\"{}\">{}</td>\
                 <td data-label=\"{}\"><code>{}</code></td>\
                 <td data-label=\"{}\">FMR ratio ≤ {}, FNMR ratio ≤ {}, GARBE ≤ {}, report ≤ {} {}</td></tr>",
                esc(p.id.as_str()),
                esc(l.t("fairness.threshold")),
                p.threshold.get(),
                esc(l.t("fairness.status")),
                esc(status),
                esc(l.t("fairness.report")),
                esc(sp.fairness.report_sha256.as_deref().unwrap_or("–")),
                esc(l.t("fairness.policy")),
                f.max_fmr_ratio,
                f.max_fnmr_ratio,
                f.max_garbe,
                f.max_report_age_days,
                esc(l.t("days")),
            )
        })
        .collect();
    let body = format!(
        "<p>{}</p><table class=\"stack\"><caption>{}</caption><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th>\
         <th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>{rows}</tbody></table>\
         <h2>{}</h2><ul><li>{}</li><li>{}</li><li>{}</li><li>{}</li></ul>",
        esc(l.t("fairness.lead")),
        esc(l.t("fairness.title")),
        esc(l.t("retention.purpose")),
        esc(l.t("fairness.threshold")),
        esc(l.t("fairness.status")),
        esc(l.t("fairness.report")),
        esc(l.t("fairness.policy")),
        esc(l.t("fairness.terms")),
        esc(l.t("fairness.fmr")),
        esc(l.t("fairness.fnmr")),
        esc(l.t("fairness.garbe")),
        esc(l.t("fairness.age")),
    );
    page(l, StatusCode::OK, l.t("fairness.title"), &body, false)
}
