//! Analytics over HTTP: `POST /analysis/approval` answers at once (JSON report, GeoJSON of
//! conflicts or the printable HTML); `POST /analysis/violations` and `POST /analysis/landuse` start
//! jobs whose progress and results are at `GET /jobs/{id}` (CSV / XLSX under it). Every run is
//! recorded in the store's audit trail; `GET /analysis/runs/{id}` reads a record back.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use onemap_engine::analytics::approval::{self, ApprovalInput, Proposal};
use onemap_engine::analytics::table::{self, Sheet};
use onemap_engine::analytics::violations::PatchClass;
use onemap_engine::analytics::{Rules, Site, digest_json, landuse, report, violations};
use onemap_engine::crs::Crs;
use onemap_engine::geometry::AreaMethod;
use onemap_engine::store::RunRecord;
use onemap_engine::{Caller, Engine};
use serde::Deserialize;
use serde_json::{Value as Json, json};

use crate::error::ApiError;
use crate::http::extract::{body_geometry, body_json, flag, json_body_required};
use crate::http::{Who, blocking, json_response, table_download, work_permit};
use crate::state::AppState;

/// Finished jobs kept for `GET /jobs/{id}` (oldest dropped first).
const KEEP_JOBS: usize = 64;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for the analysis slot.
    Queued,
    /// Running.
    Running,
    /// Finished; results available.
    Done,
    /// Failed; `error` says why.
    Failed,
    /// Stopped by its caller or its time limit.
    Cancelled,
}

/// One job.
#[derive(Debug)]
pub struct Job {
    kind: &'static str,
    /// Order of admission (ids are random): the oldest finished jobs are forgotten first.
    seq: u64,
    /// Whose job it is ([`Who::client`]): its limits count per owner, and only the owner sees it.
    owner: String,
    /// Stops the job (`DELETE /jobs/{id}`, its time limit).
    cancel: onemap_engine::context::Cancel,
    state: JobState,
    done: Arc<AtomicU64>,
    total: u64,
    summary: Json,
    error: Option<Json>,
    sheets: Vec<Sheet>,
}

/// Jobs by id. Ids are random (below 2^53, exact in JavaScript): one client cannot find
/// another's job by counting — anonymous clients behind one address share an owner.
#[derive(Debug)]
pub struct Jobs {
    admitted: AtomicU64,
    map: Mutex<BTreeMap<u64, Job>>,
    /// One analysis job at a time: they use every core already (rayon).
    slot: tokio::sync::Semaphore,
}

impl Default for Jobs {
    fn default() -> Jobs {
        Jobs::new()
    }
}

impl Jobs {
    /// An empty job table with one analysis slot.
    pub fn new() -> Jobs {
        Jobs {
            admitted: AtomicU64::new(0),
            map: Mutex::new(BTreeMap::new()),
            slot: tokio::sync::Semaphore::new(1),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<u64, Job>) -> R) -> R {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut m)
    }

    /// Admit a job unless [`MAX_ACTIVE_JOBS`] are queued or running, or
    /// [`MAX_ACTIVE_JOBS_PER_CALLER`] of its caller's: counted and inserted under one lock, so
    /// simultaneous requests cannot all pass the count. Refused: (active, the caller's).
    fn admit(&self, job: Job) -> Result<u64, (usize, usize)> {
        self.with(|m| {
            let active = m
                .values()
                .filter(|j| matches!(j.state, JobState::Queued | JobState::Running));
            let (mut all, mut mine) = (0, 0);
            for j in active {
                all += 1;
                mine += usize::from(j.owner == job.owner);
            }
            if all >= MAX_ACTIVE_JOBS || mine >= MAX_ACTIVE_JOBS_PER_CALLER {
                return Err((all, mine));
            }
            Ok(self.insert_locked(m, job))
        })
    }

    fn insert_locked(&self, m: &mut BTreeMap<u64, Job>, mut job: Job) -> u64 {
        job.seq = self.admitted.fetch_add(1, Ordering::Relaxed);
        let id = loop {
            let id = rand::random::<u64>() >> 11;
            if id != 0 && !m.contains_key(&id) {
                break id;
            }
        };
        {
            m.insert(id, job);
            while m.len() > KEEP_JOBS {
                let oldest = m
                    .iter()
                    .filter(|(_, j)| {
                        matches!(
                            j.state,
                            JobState::Done | JobState::Failed | JobState::Cancelled
                        )
                    })
                    .min_by_key(|(_, j)| j.seq)
                    .map(|(k, _)| *k);
                match oldest {
                    Some(k) => {
                        m.remove(&k);
                    }
                    None => break,
                }
            }
        }
        id
    }
}

fn rules(st: &AppState) -> Result<Arc<Rules>, ApiError> {
    st.rules
        .clone()
        .ok_or_else(|| ApiError::internal("no rules loaded (the built-in rules failed to parse)"))
}

fn area_method(v: &Json) -> Result<AreaMethod, ApiError> {
    match v {
        Json::Null => Ok(AreaMethod::Geodesic),
        Json::String(s) => {
            let crs = Crs::parse(s)
                .map_err(|e| ApiError::bad_request("bad_parameter", format!("\"planar\": {e}")))?;
            if crs.is_geographic() {
                return Err(ApiError::bad_request(
                    "bad_parameter",
                    format!("\"planar\": {s} is not a projected CRS in metres (e.g. EPSG:4547)"),
                ));
            }
            Ok(AreaMethod::Planar(crs))
        }
        _ => Err(ApiError::bad_request(
            "bad_parameter",
            "\"planar\" must be a CRS such as \"EPSG:4547\"",
        )),
    }
}

fn record(engine: &Engine, caller: &Caller, r: RunRecord) -> Result<i64, ApiError> {
    Ok(engine.record_run(caller, r)?)
}

/// `?format=` of the approval route.
#[derive(Debug, Deserialize)]
pub struct ApprovalQuery {
    /// `json` (default), `geojson` or `html`.
    format: Option<String>,
}

/// `POST /analysis/approval`: check a red line against every rule.
#[utoipa::path(post, path = "/analysis/approval", tag = "Analysis",
    params(("format" = Option<String>, Query, description = "json (default): the report; geojson: site, conflicts and parcels taken; html: the printable Chinese report")),
    request_body(content = serde_json::Value, description = "{\"geometry\": GeoJSON polygon (lon/lat) | \"feature\": {\"layer\": name, \"id\": fid}, \"proposal\": {\"name\", \"use\": \"0701\", \"far\", \"density\", \"height_m\", \"green_ratio\"}, \"repair\": false, \"planar\": \"EPSG:4547\"}", content_type = "application/json"),
    responses((status = 200, description = "The report (pass / fail / review per rule with measured areas, distances and features; parcels taken; conclusion; audit run id)"),
        (status = 400, description = "Bad JSON, geometry, proposal or parameter", body = crate::error::ErrorBody),
        (status = 413, description = "Too large", body = crate::error::ErrorBody)))]
pub async fn approval_route(
    State(st): State<AppState>,
    who: Who,
    Query(q): Query<ApprovalQuery>,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    json_body_required(&headers)?;
    let format = q.format.as_deref().unwrap_or("json").to_string();
    if !matches!(format.as_str(), "json" | "geojson" | "html") {
        return Err(ApiError::bad_request(
            "bad_parameter",
            format!("format '{format}': expected json, geojson or html"),
        )
        .with_details(json!({ "parameter": "format", "allowed": ["json", "geojson", "html"] })));
    }
    let req = body_json(body)?;
    if let Some(o) = req.as_object() {
        let allowed = ["geometry", "feature", "proposal", "repair", "planar"];
        if let Some(k) = o.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(ApiError::bad_request(
                "bad_parameter",
                format!("unknown member \"{k}\" (allowed: {})", allowed.join(", ")),
            ));
        }
    } else {
        return Err(ApiError::bad_request(
            "bad_json",
            "the body must be a JSON object",
        ));
    }
    let proposal: Proposal = match &req["proposal"] {
        Json::Null => Proposal::default(),
        p => serde_json::from_value(p.clone())
            .map_err(|e| ApiError::bad_request("bad_parameter", format!("\"proposal\": {e}")))?,
    };
    proposal
        .validate()
        .map_err(|e| ApiError::bad_request("bad_parameter", e.to_string()))?;
    let repair = flag(&req["repair"], "repair")?;
    let method = area_method(&req["planar"])?;
    let feature = match (&req["geometry"], &req["feature"]) {
        (Json::Null, Json::Null) => {
            return Err(ApiError::bad_request(
                "bad_parameter",
                "give the red line as \"geometry\" (GeoJSON) or \"feature\" ({\"layer\", \"id\"})",
            ));
        }
        (g, Json::Null) => Err(body_geometry(g)?),
        (Json::Null, f) => {
            let layer = f["layer"].as_str().ok_or_else(|| {
                ApiError::bad_request("bad_parameter", "\"feature.layer\" must be a layer name")
            })?;
            let id = f["id"].as_i64().ok_or_else(|| {
                ApiError::bad_request("bad_parameter", "\"feature.id\" must be a feature id")
            })?;
            Ok((layer.to_string(), id))
        }
        _ => {
            return Err(ApiError::bad_request(
                "bad_parameter",
                "give either \"geometry\" or \"feature\", not both",
            ));
        }
    };
    let rules = rules(&st)?;
    let caller = who.caller.clone();
    let engine = st.engine.clone();
    let permit = work_permit(&st).await?;
    let report = blocking(&st, &who, move || -> Result<_, ApiError> {
        // The permit lives as long as the work, even past a timeout.
        let _held = permit;
        let g = match feature {
            Err(g) => g,
            Ok((layer, id)) => approval::feature_geometry(&engine, &caller, &layer, id)?,
        };
        let site = Site::new(&g, repair, &method)
            .map_err(|e| ApiError::bad_request("bad_geometry", e.to_string()))?;
        let mut r = approval::check(
            &ApprovalInput {
                engine: &engine,
                caller: &caller,
                rules: &rules,
                proposal: &proposal,
                method,
            },
            &site,
        )?;
        let result =
            serde_json::to_value(&r).map_err(|e| ApiError::internal(format!("report: {e}")))?;
        r.run_id = Some(record(
            &engine,
            &caller,
            RunRecord {
                kind: "approval".into(),
                caller: caller.id.clone(),
                input_hash: r.input_hash.clone(),
                rules_version: r.rules_version.clone(),
                rules_digest: r.rules_digest.clone(),
                layer_versions: r.layer_versions.clone(),
                conclusion: r.conclusion.as_str().into(),
                result: json!({ "report": result, "html": report::approval_html(&r) }),
            },
        )?);
        Ok(r)
    })
    .await?;
    Ok(match format.as_str() {
        "html" => html(report::approval_html(&report)),
        "geojson" => json_response(
            StatusCode::OK,
            "application/geo+json",
            &report::conflicts_geojson(&report),
        ),
        _ => {
            let v = serde_json::to_value(&report)
                .map_err(|e| ApiError::internal(format!("report: {e}")))?;
            json_response(StatusCode::OK, "application/json", &v)
        }
    })
}

fn html(text: String) -> Response {
    let mut r = (StatusCode::OK, text).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

/// `GET /analysis/runs/{id}`: a recorded run (the caller must be the one who ran it, or hold
/// the `audit` role).
#[utoipa::path(get, path = "/analysis/runs/{id}", tag = "Analysis",
    params(("id" = i64, Path, description = "Run id")),
    responses((status = 200, description = "The record: kind, time, caller, input hash, rules version, layer versions, conclusion, result"),
        (status = 404, description = "No such run", body = crate::error::ErrorBody)))]
pub async fn run_route(
    State(st): State<AppState>,
    who: Who,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (id, as_html) = match id.strip_suffix(".html") {
        Some(n) => (n, true),
        None => (id.as_str(), false),
    };
    let id: i64 = id.parse().map_err(|_| {
        ApiError::bad_request("bad_parameter", format!("run id '{id}' is not a number"))
    })?;
    let caller = who.caller.clone();
    let engine = st.engine.clone();
    let run = tokio::task::spawn_blocking(move || engine.run_for(&caller, id))
        .await??
        .ok_or_else(|| ApiError::not_found(format!("no run {id} of yours")))?;
    if as_html {
        let text = run.record.result["html"]
            .as_str()
            .ok_or_else(|| ApiError::not_found(format!("run {id} has no printable report")))?;
        return Ok(html(text.replacen(
            "<th>记录编号</th><td>未记录</td>",
            &format!("<th>记录编号</th><td>{id}</td>"),
            1,
        )));
    }
    let mut v = serde_json::to_value(&run).map_err(|e| ApiError::internal(e.to_string()))?;
    if let Some(r) = v.get_mut("result").and_then(Json::as_object_mut) {
        r.remove("html");
    }
    Ok(json_response(StatusCode::OK, "application/json", &v))
}

/// Body of the job routes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobBody {
    /// Violations: the patch layer.
    patches: Option<String>,
    /// Write the result as this layer (needs the `analysis` role).
    output_layer: Option<String>,
    /// Planar areas in this CRS.
    planar: Option<String>,
}

/// Most jobs queued or running at once, in all and per caller.
const MAX_ACTIVE_JOBS: usize = 8;
const MAX_ACTIVE_JOBS_PER_CALLER: usize = 2;

async fn start_job(
    st: AppState,
    who: Who,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
    kind: &'static str,
) -> Result<Response, ApiError> {
    json_body_required(&headers)?;
    let bytes = body.map_err(|e| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("cannot read the request body: {e}"),
        )
    })?;
    let b: JobBody = if bytes.iter().all(u8::is_ascii_whitespace) {
        JobBody::default()
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::bad_request("bad_json", format!("the body: {e}")))?
    };
    if kind == "landuse" && b.patches.is_some() {
        return Err(ApiError::bad_request(
            "bad_parameter",
            "\"patches\" applies to violations only",
        ));
    }
    let method = area_method(&b.planar.clone().map_or(Json::Null, Json::String))?;
    let caller = who.caller.clone();
    st.engine.authorize_analysis(&caller, kind)?;
    if let Some(name) = &b.output_layer {
        onemap_engine::model::validate_layer_name(name)
            .map_err(|e| ApiError::bad_request("bad_parameter", e.to_string()))?;
        // Who may create or replace it is the policy's word (checked again when the job
        // writes); and a job replaces only an earlier analysis result, never other data.
        let engine = st.engine.clone();
        let (c, n) = (caller.clone(), name.clone());
        let result_kind = if kind == "violations" {
            onemap_engine::LayerKind::ChangePatch
        } else {
            onemap_engine::LayerKind::Generic
        };
        let existing = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
            engine.authorize_write(&c, &n, result_kind)?;
            Ok(engine.layers_for(&c)?)
        })
        .await??;
        // Checked now for a 4xx rather than a failed job, and again when the job writes.
        if let Some(m) = existing.iter().find(|m| &m.name == name)
            && !m
                .source
                .starts_with(onemap_engine::analytics::RESULT_SOURCE)
        {
            return Err(onemap_engine::Error::NotAResult(name.clone()).into());
        }
    }
    let rules = rules(&st)?;
    // Check the inputs now so a wrong layer name is a 4xx, not a failed job.
    let (source, section_ok) = match kind {
        "violations" => (
            b.patches
                .clone()
                .or_else(|| rules.violations.as_ref().map(|v| v.patches.clone())),
            rules.violations.is_some(),
        ),
        _ => (
            rules.landuse.as_ref().map(|l| l.current.clone()),
            rules.landuse.is_some(),
        ),
    };
    if !section_ok {
        return Err(ApiError::bad_request(
            "bad_request",
            format!(
                "the server's rules have no [{}] section",
                if kind == "violations" {
                    "violations"
                } else {
                    "landuse_check"
                }
            ),
        ));
    }
    let engine = st.engine.clone();
    let check_caller = caller.clone();
    let total = tokio::task::spawn_blocking(move || -> Result<u64, ApiError> {
        let name = source.unwrap_or_default();
        Ok(engine.layer_for(&check_caller, &name)?.len() as u64)
    })
    .await??;
    let done = Arc::new(AtomicU64::new(0));
    // The job outlives the request: its own token, with the server's job time limit.
    let cancel = onemap_engine::context::Cancel::new(Some(
        std::time::Instant::now() + st.config.job_timeout,
    ));
    let id = st
        .jobs
        .admit(Job {
            kind,
            seq: 0,
            owner: who.client(),
            cancel: cancel.clone(),
            state: JobState::Queued,
            done: done.clone(),
            total,
            summary: Json::Null,
            error: None,
            sheets: Vec::new(),
        })
        .map_err(|(active, mine)| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_jobs",
                format!(
                    "{active} analysis jobs are queued or running ({mine} of yours); at most {MAX_ACTIVE_JOBS}, {MAX_ACTIVE_JOBS_PER_CALLER} per caller: wait for one to finish"
                ),
            )
        })?;
    let st2 = st.clone();
    let ctx = Arc::new(onemap_engine::context::WorkContext {
        cancel: cancel.clone(),
        route: Some(who.route.clone()),
        query: None,
    });
    tokio::spawn(async move {
        let Ok(_slot) = st2.jobs.slot.acquire().await else {
            return;
        };
        if cancel.is_cancelled() {
            st2.jobs.with(|m| {
                if let Some(j) = m.get_mut(&id) {
                    j.state = JobState::Cancelled;
                }
            });
            return;
        }
        st2.jobs.with(|m| {
            if let Some(j) = m.get_mut(&id) {
                j.state = JobState::Running;
            }
        });
        let engine = st2.engine.clone();
        let progress = done.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            onemap_engine::context::run_in(ctx, || {
                run_job(&engine, &caller, &rules, kind, &b, &method, &progress)
            })
        })
        .await;
        let outcome = match outcome {
            Ok(r) => r,
            Err(e) => Err(ApiError::internal(format!("job task failed: {e}"))),
        };
        st2.jobs.with(|m| {
            if let Some(j) = m.get_mut(&id) {
                match outcome {
                    Ok((summary, sheets)) => {
                        j.state = JobState::Done;
                        j.summary = summary;
                        j.sheets = sheets;
                    }
                    Err(e) if e.code == "cancelled" => {
                        j.state = JobState::Cancelled;
                        j.error = Some(json!({ "code": e.code, "message": e.message }));
                    }
                    Err(e) => {
                        j.state = JobState::Failed;
                        j.error = Some(json!({ "code": e.code, "message": e.message }));
                    }
                }
            }
        });
    });
    let location = format!("/jobs/{id}");
    let mut r = json_response(
        StatusCode::ACCEPTED,
        "application/json",
        &json!({ "id": id, "kind": kind, "state": "queued", "status_url": location }),
    );
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

fn run_job(
    engine: &Engine,
    caller: &Caller,
    rules: &Rules,
    kind: &str,
    b: &JobBody,
    method: &AreaMethod,
    done: &AtomicU64,
) -> Result<(Json, Vec<Sheet>), ApiError> {
    let progress = |n: u64| done.store(n, Ordering::Relaxed);
    let (mut summary, sheets, versions, conclusion, layer) = if kind == "violations" {
        let r = violations::detect(
            engine,
            caller,
            rules,
            b.patches.as_deref(),
            method,
            &progress,
        )?;
        let layer = match &b.output_layer {
            Some(name) => Some(violations::result_layer(&r, name, rules)?),
            None => None,
        };
        let suspected = r.count(PatchClass::Suspected);
        let summary = json!({
            "patches_layer": r.patches_layer,
            "totals": r.totals,
            "by_admin": r.by_admin,
            "skipped": r.skipped,
            "patches": r.patches,
        });
        (
            summary,
            table::violation_sheets(&r),
            r.layer_versions,
            format!("{suspected} suspected"),
            layer,
        )
    } else {
        let r = landuse::check(engine, caller, rules, method, &progress)?;
        let layer = match &b.output_layer {
            Some(name) => Some(landuse::result_layer(&r, name)?),
            None => None,
        };
        let conclusion = if r.total.conflicting_m2 > 0.0 {
            "conflicts"
        } else {
            "pass"
        };
        let summary = json!({
            "total": r.total,
            "by_class": r.by_class,
            "by_admin": r.by_admin,
            "pieces": r.pieces.len(),
        });
        (
            summary,
            table::landuse_sheets(&r),
            r.layer_versions,
            conclusion.to_string(),
            layer,
        )
    };
    if let Some((meta, features)) = layer {
        let name = meta.name.clone();
        // The permission is checked again here, at the write: it may have changed since the
        // job started. The result may not reach callers its sources keep out.
        let w = engine.write_result_layer(
            caller,
            versions.keys().map(String::as_str),
            meta,
            features.into_iter().map(Ok::<_, std::convert::Infallible>),
            |_| {},
        )?;
        summary["layer"] = json!({ "name": name, "version": w.meta.version });
    }
    // The run record keeps the totals, not every patch (the result layer and the job have
    // those).
    let mut recorded = summary.clone();
    if let Some(o) = recorded.as_object_mut() {
        o.remove("patches");
    }
    let run_id = record(
        engine,
        caller,
        RunRecord {
            kind: kind.to_string(),
            caller: caller.id.clone(),
            input_hash: digest_json(&json!({ "layers": versions, "patches": b.patches })),
            rules_version: rules.version.clone(),
            rules_digest: rules.digest.clone(),
            layer_versions: versions,
            conclusion,
            result: recorded,
        },
    )?;
    summary["run_id"] = json!(run_id);
    Ok((summary, sheets))
}

/// `POST /analysis/violations`: start violation detection (卫片执法) as a job.
#[utoipa::path(post, path = "/analysis/violations", tag = "Analysis",
    request_body(content = serde_json::Value, description = "{\"patches\": layer (default: the rules'), \"output_layer\": name (needs the analysis role), \"planar\": \"EPSG:4547\"} or empty", content_type = "application/json"),
    responses((status = 202, description = "Job started: {id, status_url}; Location header"),
        (status = 400, description = "Bad body or layer", body = crate::error::ErrorBody),
        (status = 403, description = "Writing a layer without the analysis role", body = crate::error::ErrorBody)))]
pub async fn violations_route(
    State(st): State<AppState>,
    who: Who,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    start_job(st, who, headers, body, "violations").await
}

/// `POST /analysis/landuse`: start the land-use check as a job.
#[utoipa::path(post, path = "/analysis/landuse", tag = "Analysis",
    request_body(content = serde_json::Value, description = "{\"output_layer\": name (needs the analysis role), \"planar\": \"EPSG:4547\"} or empty", content_type = "application/json"),
    responses((status = 202, description = "Job started: {id, status_url}; Location header"),
        (status = 400, description = "Bad body", body = crate::error::ErrorBody)))]
pub async fn landuse_route(
    State(st): State<AppState>,
    who: Who,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    start_job(st, who, headers, body, "landuse").await
}

/// `GET /jobs/{id}`, `/jobs/{id}/result.csv`, `/jobs/{id}/result.xlsx`: a job's state, progress
/// and results (only for the caller who started it).
#[utoipa::path(get, path = "/jobs/{id}", tag = "Analysis",
    params(("id" = String, Path, description = "Job id; add /result.csv or /result.xlsx for the tables")),
    responses((status = 200, description = "{id, kind, state: queued|running|done|failed, progress: {done, total}, result, error, links}"),
        (status = 404, description = "No such job", body = crate::error::ErrorBody),
        (status = 409, description = "Results asked for before the job is done", body = crate::error::ErrorBody)))]
pub async fn job_route(
    State(st): State<AppState>,
    who: Who,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    job(st, id, &who)
}

/// `GET /jobs/{id}/{file}`.
pub async fn job_file_route(
    State(st): State<AppState>,
    who: Who,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    job_file(st, id, file, &who).await
}

/// `DELETE /jobs/{id}`: stop a job (the caller's own). It stops at its next checkpoint and its
/// state becomes `cancelled`; nothing is written.
#[utoipa::path(delete, path = "/jobs/{id}", tag = "Analysis",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 202, description = "Stopping: {id, state}"),
        (status = 404, description = "No such job of yours", body = crate::error::ErrorBody)))]
pub async fn job_cancel_route(
    State(st): State<AppState>,
    who: Who,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let n = job_number(&id)?;
    let owner = who.client();
    let state = st.jobs.with(|m| {
        let j = m
            .get_mut(&n)
            .filter(|j| j.owner == owner)
            .ok_or_else(|| ApiError::not_found(format!("no job {n}")))?;
        j.cancel.cancel("its caller cancelled it");
        if j.state == JobState::Queued {
            j.state = JobState::Cancelled;
        }
        Ok::<_, ApiError>(j.state)
    })?;
    Ok(json_response(
        StatusCode::ACCEPTED,
        "application/json",
        &json!({ "id": n, "state": state }),
    ))
}

fn job_number(id: &str) -> Result<u64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("no job '{id}'")))
}

/// A job's state, progress and result.
fn job(st: AppState, id: String, who: &Who) -> Result<Response, ApiError> {
    let owner = who.client();
    let n = job_number(&id)?;
    st.jobs.with(|m| {
        let j = m
            .get(&n)
            .filter(|j| j.owner == owner)
            .ok_or_else(|| ApiError::not_found(format!("no job {n}")))?;
        let links = if j.state == JobState::Done {
            json!([
                { "rel": "csv", "href": format!("/jobs/{n}/result.csv"), "type": "text/csv" },
                { "rel": "xlsx", "href": format!("/jobs/{n}/result.xlsx"), "type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" }
            ])
        } else {
            json!([])
        };
        Ok(json_response(
            StatusCode::OK,
            "application/json",
            &json!({
                "id": n,
                "kind": j.kind,
                "state": j.state,
                "progress": { "done": j.done.load(Ordering::Relaxed), "total": j.total },
                "result": j.summary,
                "error": j.error,
                "links": links,
            }),
        ))
    })
}

/// A finished job's tables as CSV or XLSX: the sheets are copied under the lock and the file
/// is built on a blocking thread.
async fn job_file(st: AppState, id: String, file: String, who: &Who) -> Result<Response, ApiError> {
    let owner = who.client();
    let n = job_number(&id)?;
    let xlsx = match file.as_str() {
        "result.csv" => false,
        "result.xlsx" => true,
        other => {
            return Err(ApiError::not_found(format!(
                "no file '{other}' (result.csv, result.xlsx)"
            )));
        }
    };
    let (kind, sheets) = st.jobs.with(|m| {
        let j = m
            .get(&n)
            .filter(|j| j.owner == owner)
            .ok_or_else(|| ApiError::not_found(format!("no job {n}")))?;
        if j.state != JobState::Done {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "not_ready",
                format!("job {n} is {:?}; results come when it is done", j.state).to_lowercase(),
            ));
        }
        Ok((j.kind, j.sheets.clone()))
    })?;
    tokio::task::spawn_blocking(move || table_download(&sheets, xlsx, &format!("{kind}-{n}")))
        .await?
}

/// `?format=` (and `srs`) of the red-line upload.
#[derive(Debug, Deserialize)]
pub struct RedlineQuery {
    /// The file's format, as its extension: zip (a zipped Shapefile), geojson, gpkg, fgb, csv.
    format: Option<String>,
    /// Its CRS when the file does not say.
    srs: Option<String>,
}

/// `POST /analysis/redline?format=zip`: the geometry of an uploaded red-line file (a zipped
/// Shapefile, GeoPackage, FlatGeobuf, CSV or GeoJSON), read by the importers and reprojected to
/// lon/lat, for a client to pass on to `/analysis/approval`.
#[utoipa::path(post, path = "/analysis/redline", tag = "Analysis",
    params(("format" = String, Query, description = "zip (zipped Shapefile), geojson, gpkg, fgb or csv"),
        ("srs" = Option<String>, Query, description = "the file's CRS when it does not say")),
    request_body(content = Vec<u8>, description = "the file's bytes", content_type = "application/octet-stream"),
    responses((status = 200, description = "{\"geometry\": GeoJSON (lon/lat)}"),
        (status = 400, description = "Unreadable file, unknown format or CRS", body = crate::error::ErrorBody)))]
pub async fn redline_route(
    State(st): State<AppState>,
    who: Who,
    Query(q): Query<RedlineQuery>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let allowed = ["zip", "geojson", "json", "gpkg", "fgb", "csv"];
    let format = q.format.as_deref().unwrap_or("").to_ascii_lowercase();
    if !allowed.contains(&format.as_str()) {
        return Err(ApiError::bad_request(
            "bad_parameter",
            format!("format '{format}': expected one of {}", allowed.join(", ")),
        )
        .with_details(json!({ "parameter": "format", "allowed": allowed })));
    }
    let bytes = body.map_err(|e| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("cannot read the upload: {e} (at most 2 MiB)"),
        )
    })?;
    let srs = q.srs.clone();
    let permit = work_permit(&st).await?;
    let g = blocking(&st, &who, move || {
        let _held = permit;
        // A fresh file only we can open (no predictable name to plant a link at), removed on drop.
        let file = tempfile::Builder::new()
            .prefix("onemap-redline-")
            .suffix(&format!(".{format}"))
            .tempfile()
            .map_err(|e| ApiError::internal(format!("temporary upload file: {e}")))?;
        std::fs::write(file.path(), &bytes)
            .map_err(|e| ApiError::internal(format!("writing the upload: {e}")))?;
        let path = file.path().to_path_buf();
        // An upload is bounded: what a zip unpacks to, its side files, the time it takes.
        let read = onemap_importers::read_geometry_file_with(
            &path,
            srs.as_deref(),
            &onemap_importers::formats::InputLimits::upload(),
        );
        onemap_engine::context::checkpoint()?;
        read.map_err(|e| {
            let shown = e
                .to_string()
                .replace(&path.display().to_string(), "the upload");
            ApiError::bad_request("bad_file", shown)
        })
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        "application/json",
        &json!({ "geometry": onemap_engine::analytics::geometry_json(&g) }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(who: &str) -> Job {
        Job {
            kind: "violations",
            seq: 0,
            owner: format!("gateway:{who}"),
            cancel: onemap_engine::context::Cancel::new(None),
            state: JobState::Queued,
            done: Arc::new(AtomicU64::new(0)),
            total: 0,
            summary: Json::Null,
            error: None,
            sheets: Vec::new(),
        }
    }

    #[test]
    fn jobs_are_admitted_per_caller_and_in_all() {
        let jobs = Jobs::new();
        let a1 = jobs.admit(job("a")).unwrap();
        jobs.admit(job("a")).unwrap();
        assert_eq!(jobs.admit(job("a")).unwrap_err(), (2, 2));
        jobs.admit(job("b")).unwrap();
        // A finished job frees its caller's place.
        jobs.with(|m| m.get_mut(&a1).unwrap().state = JobState::Done);
        jobs.admit(job("a")).unwrap();
        for who in ["c", "c", "d", "d", "e"] {
            jobs.admit(job(who)).unwrap();
        }
        assert_eq!(jobs.admit(job("f")).unwrap_err(), (MAX_ACTIVE_JOBS, 0));
    }

    /// Ids are random: what is forgotten first is the job finished longest ago by admission,
    /// not the smallest id.
    #[test]
    fn the_oldest_finished_jobs_are_forgotten_first() {
        let jobs = Jobs::new();
        let mut ids = Vec::new();
        for i in 0..(KEEP_JOBS + 10) {
            let id = jobs.admit(job(&format!("u{i}"))).unwrap();
            jobs.with(|m| m.get_mut(&id).unwrap().state = JobState::Done);
            ids.push(id);
        }
        jobs.with(|m| {
            assert_eq!(m.len(), KEEP_JOBS);
            assert!(ids[..10].iter().all(|id| !m.contains_key(id)));
            assert!(ids[10..].iter().all(|id| m.contains_key(id)));
        });
    }

    /// Counted and inserted under one lock: of many simultaneous requests from one caller,
    /// exactly the per-caller number gets in.
    #[test]
    fn simultaneous_requests_cannot_all_pass_the_count() {
        for _ in 0..50 {
            let jobs = Jobs::new();
            let start = std::sync::Barrier::new(16);
            let admitted = std::thread::scope(|s| {
                let handles: Vec<_> = (0..16)
                    .map(|_| {
                        s.spawn(|| {
                            start.wait();
                            jobs.admit(job("a")).is_ok()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap())
                    .filter(|ok| *ok)
                    .count()
            });
            assert_eq!(admitted, MAX_ACTIVE_JOBS_PER_CALLER);
        }
    }
}
