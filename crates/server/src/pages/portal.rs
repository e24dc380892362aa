//! The subject portal: opened once with a short-lived link, which starts a session kept in a
//! cookie (HttpOnly, SameSite=Lax, as long as the link); every action a POST form carrying an
//! anti-forgery token bound to the session.

use std::collections::HashMap;

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bioguard_core::{PurposeId, rfc3339};
use bioguard_service::{PortalSession, ServiceError};

use crate::html::escape_html as esc;

use super::text::Lang;
use super::{error_page, lang, notice_html, page};
use crate::AppState;
use crate::extract::Segments;

const COOKIE: &str = "bioguard_portal";

/// The portal token in the request's cookie.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    super::cookie(headers, COOKIE)
}

/// The page for a failed portal request.
fn refused(l: Lang, e: &ServiceError) -> Response {
    match e {
        ServiceError::PortalLinkInvalid => error_page(l, StatusCode::FORBIDDEN, "error.link", true),
        ServiceError::RateLimited(secs) => {
            let mut r = error_page(l, StatusCode::TOO_MANY_REQUESTS, "error.rate", true);
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        ServiceError::LockHeld(_) => error_page(l, StatusCode::FORBIDDEN, "error.lock", true),
        ServiceError::ConsentNotFound
        | ServiceError::PurposeNotFound
        | ServiceError::Invalid(_) => error_page(l, StatusCode::CONFLICT, "error.other", true),
        e => {
            tracing::error!(error = %e, "a portal request failed");
            let mut r = error_page(l, StatusCode::SERVICE_UNAVAILABLE, "error.other", true);
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            r
        }
    }
}

/// The session of a request, rate-limited per link (and together for tokens that fail).
async fn session(st: &AppState, headers: &HeaderMap) -> Result<PortalSession, Response> {
    let l = lang(headers);
    let token = cookie_token(headers).unwrap_or_default();
    match st.service.portal_session(&token).await {
        Ok(s) => {
            st.service
                .portal_rate(&s.rate_key())
                .map_err(|e| refused(l, &e))?;
            Ok(s)
        }
        Err(e) => {
            st.service
                .portal_rate("invalid")
                .map_err(|e| refused(l, &e))?;
            Err(refused(l, &e))
        }
    }
}

/// The forms' anti-forgery check: the refusal page when the form's token is not this
/// session's.
fn forged(
    st: &AppState,
    s: &PortalSession,
    form: &HashMap<String, String>,
    l: Lang,
) -> Option<Response> {
    let given = form.get("csrf").map(String::as_str).unwrap_or("");
    (!st.service.portal_csrf_ok(s, given))
        .then(|| error_page(l, StatusCode::FORBIDDEN, "error.csrf", true))
}

/// The session of a form's request, with the form's anti-forgery token checked.
async fn form_session(
    st: &AppState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<PortalSession, Response> {
    let s = session(st, headers).await?;
    match forged(st, &s, form, lang(headers)) {
        Some(refusal) => Err(refusal),
        None => Ok(s),
    }
}

fn csrf_field(st: &AppState, s: &PortalSession) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(&st.service.portal_csrf(s))
    )
}

/// `GET /portal/open/{token}`: opens the link (once: it stops working), keeps the session it
/// starts in a cookie, and sends the browser to the portal (so the token leaves the address
/// bar at once).
pub(super) async fn open(
    State(st): State<AppState>,
    headers: HeaderMap,
    Segments(token): Segments<String>,
) -> Response {
    let l = lang(&headers);
    let (s, session) = match st.service.open_portal(&token).await {
        Ok(s) => s,
        Err(e) => {
            if let Err(e) = st.service.portal_rate("invalid") {
                return refused(l, &e);
            }
            return refused(l, &e);
        }
    };
    if let Err(e) = st.service.portal_rate(&s.rate_key()) {
        return refused(l, &e);
    }
    let max_age = (s.expires_at.unix() - st.service.clock().now().unix()).max(0);
    let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, "/portal")]).into_response();
    let secure = if st.secure_cookies { "; Secure" } else { "" };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{COOKIE}={}; Path=/portal; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
        session.as_str()
    )) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

/// An RFC 3339 UTC time as people read it, in their language and in the deployment's display
/// offset (`display_utc_offset`): `3 December 2026, 16:05 UTC`, `2026年12月4日 00:05（UTC+08:00）`.
/// No script runs here to learn the reader's own time zone, so the zone is always named.
fn readable_time(l: Lang, t: &str) -> String {
    readable_time_at(l, t, super::display_offset())
}

fn readable_time_at(l: Lang, t: &str, offset_minutes: i32) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let num = |r: std::ops::Range<usize>| t.get(r).and_then(|x| x.parse::<i64>().ok());
    let (Some(y), Some(mo @ 1..=12), Some(d @ 1..=31), Some(h @ 0..=23), Some(mi @ 0..=59)) =
        (num(0..4), num(5..7), num(8..10), num(11..13), num(14..16))
    else {
        return t.to_owned();
    };
    if !t.ends_with('Z') || t.get(10..11) != Some("T") {
        return t.to_owned();
    }
    let minutes = (days_from_civil(y, mo, d) * 24 + h) * 60 + mi + i64::from(offset_minutes);
    let (y, mo, d) = civil_from_days(minutes.div_euclid(1440));
    let (h, mi) = (minutes.rem_euclid(1440) / 60, minutes.rem_euclid(60));
    let zone = match offset_minutes {
        0 => "UTC".to_owned(),
        o => format!(
            "UTC{}{:02}:{:02}",
            if o < 0 { '-' } else { '+' },
            o.abs() / 60,
            o.abs() % 60
        ),
    };
    match l {
        Lang::Zh => format!("{y}年{mo}月{d}日 {h:02}:{mi:02}（{zone}）"),
        Lang::En => format!("{d} {} {y}, {h:02}:{mi:02} {zone}", MONTHS[mo as usize - 1]),
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day counted from 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A `<time>` element: machine-readable, and readable by people.
fn time_html(l: Lang, t: &str) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        esc(t),
        esc(&readable_time(l, t))
    )
}

/// Who acted, as the person would say it: the organisation's name, "you", the operator, the
/// retention schedule; the ledger's own actor names stay in the downloadable report.
fn who(l: Lang, actor: &str, clients: &std::collections::BTreeMap<String, String>) -> String {
    if let Some(name) = clients.get(actor) {
        return name.clone();
    }
    let key = match actor {
        a if a.starts_with("subject:") => "by.you",
        a if a.starts_with("client:") => "by.client",
        "system:retention" => "by.retention",
        a if a.starts_with("reviewer:") => "by.reviewer",
        _ => "by.operator",
    };
    l.t(key).to_owned()
}

/// `GET /portal`: everything held and every use, with the actions.
pub(super) async fn view(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let l = lang(&headers);
    let s = match session(&st, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let v = match st.service.portal_view(&s).await {
        Ok(v) => v,
        Err(e) => return refused(l, &e),
    };
    let csrf = csrf_field(&st, &s);
    let t = |k| esc(l.t(k));
    let r = &v.report;
    let mut b = format!(
        "<p>{} {}.</p>",
        t("portal.lead"),
        time_html(l, &rfc3339(v.link_expires_at))
    );
    // Choices.
    b.push_str(&format!(
        "<section aria-labelledby=\"choices\"><h2 id=\"choices\">{}</h2>",
        t("portal.choices")
    ));
    match &r.locked_since {
        Some(at) => b.push_str(&format!(
            "<p class=\"warn\" id=\"lock-state\">{} {}.</p>\
             <form class=\"inline\" method=\"post\" action=\"/portal/lock\">{csrf}\
             <input type=\"hidden\" name=\"action\" value=\"unlock\"><button type=\"submit\" id=\"unlock\">{}</button></form>",
            t("portal.locked"),
            time_html(l, at),
            t("portal.unlock")
        )),
        None => b.push_str(&format!(
            "<p id=\"lock-state\">{}</p><form class=\"inline\" method=\"post\" action=\"/portal/lock\">{csrf}\
             <input type=\"hidden\" name=\"action\" value=\"lock\"><button type=\"submit\" id=\"lock\">{}</button></form>",
            t("portal.unlocked"),
            t("portal.lock")
        )),
    }
    b.push_str(&format!(
        "<ul><li><a id=\"download-report\" href=\"/portal/report\" download=\"bioguard-report.json\">{}</a></li>\
         <li><a id=\"erase-link\" href=\"/portal/erase\">{}</a></li></ul></section>",
        t("portal.report"),
        t("portal.erase")
    ));
    // Purposes.
    b.push_str(&format!(
        "<section aria-labelledby=\"purposes\"><h2 id=\"purposes\">{}</h2>",
        t("portal.purposes")
    ));
    if r.purposes.is_empty() {
        b.push_str(&format!("<p id=\"nothing\">{}</p>", t("portal.nothing")));
    }
    for p in &r.purposes {
        let id = p.id.as_str();
        // Headed by what the purpose is for, in the words it was declared with; its id is
        // the small print.
        b.push_str(&format!(
            "<article class=\"purpose\" aria-labelledby=\"purpose-{0}\"><h3 id=\"purpose-{0}\">{1}</h3>\
             <p class=\"small\">{2} <code>{0}</code></p>",
            esc(id),
            esc(&p.description),
            t("portal.purpose_id"),
        ));
        let mut live = false;
        for c in r.consents.iter().filter(|c| c.purpose == id) {
            live |= c.ended_at.is_none();
            let version = c.notice_version.as_str();
            b.push_str(&format!(
                "<p><strong>{}</strong>: {} {} ({version}); {}</p>",
                t("portal.consent"),
                t("portal.given"),
                time_html(l, &c.given_at),
                match &c.ended_at {
                    None => t("portal.live"),
                    Some(at) => format!(
                        "{} {} ({})",
                        t("portal.ended"),
                        time_html(l, at),
                        c.end_reason
                            .and_then(|r| l.get(&format!("end.{r}")))
                            .map_or_else(|| esc(c.end_reason.unwrap_or("")), esc)
                    ),
                },
                version = esc(version),
            ));
            if let Some((notice, hash)) = v
                .notices
                .get(&(c.purpose.clone(), c.notice_version.clone()))
            {
                b.push_str(&format!(
                    "<details><summary>{}</summary>{}</details>",
                    t("portal.notice"),
                    notice_html(l, notice, version, hash)
                ));
            }
            b.push_str(&format!(
                "<p><a href=\"/portal/receipt/{}\" download=\"consent-receipt.jws\">{}</a></p>",
                esc(&c.id),
                t("portal.receipt")
            ));
        }
        let templates: Vec<_> = r.templates.iter().filter(|x| x.purpose == id).collect();
        if templates.is_empty() {
            b.push_str(&format!("<p>{}</p>", t("portal.no_template")));
        }
        for x in templates {
            b.push_str(&format!(
                "<dl><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd></dl>",
                t("portal.held"),
                t("portal.held.code"),
                t("portal.enrolled"),
                time_html(l, &x.enrolled_at),
                t("portal.last_used"),
                x.last_used_at.as_deref().map_or_else(|| t("portal.never"), |x| time_html(l, x)),
                t("portal.deleted_by"),
                time_html(l, &x.deleted_by),
            ));
        }
        if live {
            b.push_str(&format!(
                "<form method=\"post\" action=\"/portal/withdraw\">{csrf}\
                 <input type=\"hidden\" name=\"purpose\" value=\"{0}\">\
                 <button type=\"submit\" class=\"danger\" id=\"withdraw-{0}\">{1}: {2}</button></form>",
                esc(id),
                t("portal.withdraw"),
                esc(&p.description),
            ));
        }
        b.push_str("</article>");
    }
    b.push_str("</section>");
    // History.
    let rows: String = r
        .history
        .iter()
        .map(|u| {
            let opt = |x: &Option<String>| x.as_deref().map_or_else(|| "–".to_owned(), esc);
            // In the person's words: what happened and how it ended; the ledger's own
            // names stay in the downloadable report.
            let operation = l
                .get(&format!("op.{}", u.operation))
                .map_or_else(|| u.operation.clone(), str::to_owned);
            let decision = u.decision.as_deref().map(|d| {
                l.get(&format!("dec.{d}"))
                    .or_else(|| l.get(&format!("tr.reason.{d}")))
                    .map_or_else(|| d.to_owned(), str::to_owned)
            });
            format!(
                "<tr><td data-label=\"{}\"><time datetime=\"{}\">{}</time></td><td data-label=\"{}\">{}</td>\
                 <td data-label=\"{}\">{}</td><td data-label=\"{}\">{}</td><td data-label=\"{}\">{}</td>\
                 <td data-label=\"{}\">{}</td><td data-label=\"{}\">{}</td></tr>",
                t("portal.time"),
                esc(&u.time),
                esc(&readable_time(l, &u.time)),
                t("portal.operation"),
                esc(&operation),
                t("portal.purpose"),
                opt(&u.purpose),
                t("portal.decision"),
                opt(&decision),
                t("portal.by"),
                esc(&who(l, &u.by, &v.client_names)),
                t("portal.index"),
                u.ledger_index,
                t("portal.proof"),
                if v.proved.contains(&u.ledger_index) { t("portal.proved") } else { t("portal.unproved") },
            )
        })
        .collect();
    b.push_str(&format!(
        "<section aria-labelledby=\"history\"><h2 id=\"history\">{}</h2><table id=\"history-table\" class=\"stack\"><caption>{} {}</caption><thead><tr>\
         <th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th>\
         <th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead><tbody>{rows}</tbody></table></section>",
        t("portal.history"),
        t("portal.history.caption"),
        v.checkpoint_size,
        t("portal.time"),
        t("portal.operation"),
        t("portal.purpose"),
        t("portal.decision"),
        t("portal.by"),
        t("portal.index"),
        t("portal.proof"),
    ));
    if !r.history_complete {
        b.push_str(&format!("<p>{}</p>", t("portal.history.more")));
    }
    page(l, StatusCode::OK, l.t("portal.title"), &b, true)
}

/// A page confirming an action, with its signed document.
fn done(
    l: Lang,
    message: &str,
    doc_label: Option<&str>,
    doc: Option<&str>,
    back: bool,
) -> Response {
    let mut b = format!(
        "<p class=\"done\" role=\"status\" id=\"outcome\">{}</p>",
        esc(l.t(message))
    );
    if let (Some(label), Some(doc)) = (doc_label, doc) {
        b.push_str(&format!(
            "<p><label for=\"document\">{}</label></p><textarea id=\"document\" readonly rows=\"6\">{}</textarea>",
            esc(l.t(label)),
            esc(doc)
        ));
    }
    if back {
        b.push_str(&format!(
            "<p><a href=\"/portal\" id=\"back\">{}</a></p>",
            esc(l.t("done.back"))
        ));
    }
    page(l, StatusCode::OK, l.t("portal.title"), &b, true)
}

/// `POST /portal/withdraw`.
pub(super) async fn withdraw(
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let l = lang(&headers);
    let s = match form_session(&st, &headers, &form).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(purpose) = form.get("purpose").and_then(|p| PurposeId::parse(p).ok()) else {
        return error_page(l, StatusCode::BAD_REQUEST, "error.other", true);
    };
    match st.service.portal_withdraw(&s, &purpose).await {
        Ok(w) => done(
            l,
            "done.withdrawn",
            Some("done.receipt"),
            Some(&w.receipt),
            true,
        ),
        Err(e) => refused(l, &e),
    }
}

/// `POST /portal/lock` with `action` `lock` or `unlock`.
pub(super) async fn lock(
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let l = lang(&headers);
    let s = match form_session(&st, &headers, &form).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let lock = match form.get("action").map(String::as_str) {
        Some("lock") => true,
        Some("unlock") => false,
        _ => return error_page(l, StatusCode::BAD_REQUEST, "error.other", true),
    };
    match st.service.portal_lock(&s, lock).await {
        Ok(_) => done(
            l,
            if lock { "done.locked" } else { "done.unlocked" },
            None,
            None,
            true,
        ),
        Err(e) => refused(l, &e),
    }
}

/// `GET /portal/erase`: the confirmation.
pub(super) async fn erase_form(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let l = lang(&headers);
    let s = match session(&st, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let t = |k| esc(l.t(k));
    let b = format!(
        "<p class=\"warn\">{}</p><form method=\"post\" action=\"/portal/erase\">{}\
         <p><input type=\"checkbox\" id=\"confirm\" name=\"confirm\" value=\"yes\" required> \
         <label for=\"confirm\">{}</label></p><p><button type=\"submit\" class=\"danger\" id=\"erase\">{}</button> \
         <a href=\"/portal\">{}</a></p></form>",
        t("erase.warning"),
        csrf_field(&st, &s),
        t("erase.confirm"),
        t("erase.button"),
        t("erase.cancel"),
    );
    page(l, StatusCode::OK, l.t("erase.title"), &b, true)
}

/// `POST /portal/erase`: erases everything once confirmed; shows the certificate.
pub(super) async fn erase(
    State(st): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let l = lang(&headers);
    let s = match form_session(&st, &headers, &form).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if form.get("confirm").map(String::as_str) != Some("yes") {
        return error_page(l, StatusCode::BAD_REQUEST, "error.confirm", true);
    }
    match st.service.portal_erase(&s).await {
        Ok(erasure) => {
            let mut r = done(
                l,
                "done.erased",
                Some("done.certificate"),
                Some(&erasure.certificate),
                false,
            );
            // The link no longer opens anything: forget it.
            r.headers_mut().insert(
                header::SET_COOKIE,
                HeaderValue::from_static(
                    "bioguard_portal=; Path=/portal; Max-Age=0; HttpOnly; SameSite=Lax",
                ),
            );
            r
        }
        Err(e) => refused(l, &e),
    }
}

fn attachment(body: String, content_type: &'static str, name: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, name),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// `GET /portal/report`: the full report as a file.
pub(super) async fn report(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let l = lang(&headers);
    let s = match session(&st, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match st.service.portal_report(&s).await {
        Ok(v) => attachment(
            serde_json::to_string_pretty(&v).unwrap_or_default(),
            "application/json",
            "attachment; filename=\"bioguard-report.json\"",
        ),
        Err(e) => refused(l, &e),
    }
}

/// `GET /portal/receipt/{consent}`: one consent's signed receipt as a file.
pub(super) async fn receipt(
    State(st): State<AppState>,
    headers: HeaderMap,
    Segments(consent): Segments<String>,
) -> Response {
    let l = lang(&headers);
    let s = match session(&st, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let v = match st.service.portal_report(&s).await {
        Ok(v) => v,
        Err(e) => return refused(l, &e),
    };
    match v.consents.iter().find(|c| c.id == consent) {
        Some(c) => attachment(
            c.receipt.clone(),
            "application/jose",
            "attachment; filename=\"consent-receipt.jws\"",
        ),
        None => error_page(l, StatusCode::NOT_FOUND, "error.other", true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_dates_in_the_readers_language_with_the_zone_named() {
        let t = "2026-12-03T16:05:09Z";
        assert_eq!(readable_time(Lang::En, t), "3 December 2026, 16:05 UTC");
        assert_eq!(readable_time(Lang::Zh, t), "2026年12月3日 16:05（UTC）");
        assert_eq!(
            readable_time(Lang::En, "2026-01-31T00:00:00Z"),
            "31 January 2026, 00:00 UTC"
        );
        // Anything else is shown as it is rather than misread.
        for odd in ["2026-13-03T16:05:09Z", "2026-12-03T16:05:09+01:00", "soon"] {
            assert_eq!(readable_time(Lang::En, odd), odd);
        }
        // In the deployment's display offset, across a day, a month and a year.
        assert_eq!(
            readable_time_at(Lang::Zh, t, 480),
            "2026年12月4日 00:05（UTC+08:00）"
        );
        assert_eq!(
            readable_time_at(Lang::En, "2026-12-31T20:00:00Z", 330),
            "1 January 2027, 01:30 UTC+05:30"
        );
        assert_eq!(
            readable_time_at(Lang::En, "2024-03-01T02:00:00Z", -300),
            "29 February 2024, 21:00 UTC-05:00"
        );
        for days in [-1_000_000, -1, 0, 59, 365, 19_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{days}");
        }
        assert!(time_html(Lang::En, t).starts_with("<time datetime=\"2026-12-03T16:05:09Z\">"));
    }
}
