//! `GET /admin/audit`: the access audit for callers with the `audit` role — filtered by time,
//! actor, action and layer, paged by sequence number, as JSON, CSV or XLSX (cells that a
//! spreadsheet would run as formulas are kept as text). Reading it is itself recorded.
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use onemap_engine::analytics::table::{Cell, Sheet};
use onemap_engine::store::{AuditQuery, AuditRecord};
use serde_json::json;

use crate::error::ApiError;
use crate::http::extract::{param, params, parse_usize};
use crate::http::{Who, blocking, json_response, table_download};
use crate::state::AppState;

/// The audit as a table.
pub fn audit_sheet(records: &[AuditRecord]) -> Sheet {
    Sheet {
        name: "audit".into(),
        columns: [
            "seq",
            "at",
            "actor",
            "roles",
            "action",
            "route",
            "layer",
            "count",
            "detail",
            "prev_hash",
            "hash",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        rows: records
            .iter()
            .map(|r| {
                vec![
                    Cell::Int(r.seq),
                    Cell::Text(r.at.clone()),
                    Cell::Text(r.event.actor.clone()),
                    Cell::Text(r.event.roles.join(",")),
                    Cell::Text(r.event.action.clone()),
                    Cell::Text(r.event.route.clone().unwrap_or_default()),
                    Cell::Text(r.event.layer.clone().unwrap_or_default()),
                    Cell::Int(r.event.count.map_or(0, |c| c.min(i64::MAX as u64) as i64)),
                    Cell::Text(r.event.detail.to_string()),
                    Cell::Text(r.prev_hash.clone()),
                    Cell::Text(r.hash.clone()),
                ]
            })
            .collect(),
    }
}

/// `GET /admin/audit?since=&until=&actor=&action=&layer=&after=&limit=&format=json|csv|xlsx`.
#[utoipa::path(get, path = "/admin/audit", tag = "Administration",
    params(("since" = Option<String>, Query, description = "From this UTC time (RFC 3339)"),
        ("until" = Option<String>, Query, description = "Before this UTC time"),
        ("actor" = Option<String>, Query, description = "e.g. session:li"),
        ("action" = Option<String>, Query, description = "read_personal, import, drop, write_result, policy, user, key, login, login_failed..."),
        ("layer" = Option<String>, Query, description = "Layer name"),
        ("after" = Option<i64>, Query, description = "Records after this sequence number (paging)"),
        ("limit" = Option<usize>, Query, description = "1..=10000, default 1000"),
        ("format" = Option<String>, Query, description = "json (default), csv or xlsx")),
    responses((status = 200, description = "Records, oldest first"),
        (status = 403, description = "Without the audit role", body = crate::error::ErrorBody)))]
pub async fn audit_route(
    State(st): State<AppState>,
    who: Who,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    // Refused before the parameters are read: the policy decides (Engine::audit_records).
    if !st.engine.policy().can_audit(&who.caller) {
        return Err(onemap_engine::Error::Forbidden(
            "reading the access audit needs the audit role".into(),
        )
        .into());
    }
    let p = params(q.as_deref())?;
    for (k, _) in &p {
        if !matches!(
            k.as_str(),
            "since" | "until" | "actor" | "action" | "layer" | "after" | "limit" | "format"
        ) {
            return Err(ApiError::bad_request(
                "bad_parameter",
                format!("unknown parameter '{k}'"),
            ));
        }
    }
    let text = |k: &str| param(&p, k).map(str::to_string);
    let after = match param(&p, "after") {
        Some(v) => Some(parse_usize("after", v, 0, i64::MAX as usize)? as i64),
        None => None,
    };
    let limit = match param(&p, "limit") {
        Some(v) => parse_usize("limit", v, 1, 10_000)?,
        None => 1000,
    };
    let format = param(&p, "format").unwrap_or("json").to_string();
    if !matches!(format.as_str(), "json" | "csv" | "xlsx") {
        return Err(ApiError::bad_request(
            "bad_parameter",
            format!("format={format}: json, csv or xlsx"),
        ));
    }
    let query = AuditQuery {
        since: text("since"),
        until: text("until"),
        actor: text("actor"),
        action: text("action"),
        layer: text("layer"),
        after,
        limit,
    };
    let engine = st.engine.clone();
    let caller = who.caller.clone();
    let (records, file) = blocking(&st, &who, move || -> Result<_, ApiError> {
        let records = engine.audit_records(&caller, &query)?;
        // A download is built here, off the async threads.
        let file = match format.as_str() {
            "json" => None,
            f => Some(table_download(
                &[audit_sheet(&records)],
                f == "xlsx",
                "audit",
            )?),
        };
        Ok((records, file))
    })
    .await?;
    Ok(match file {
        Some(r) => r,
        None => json_response(
            StatusCode::OK,
            "application/json",
            &json!({
                "records": records,
                "next_after": records.last().map(|r| r.seq),
            }),
        ),
    })
}
