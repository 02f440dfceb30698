//! The HTTP front: non-resource endpoints (version, discovery, OpenAPI, health), the request
//! size limit, the request recorder, and hand-off to the resource handlers.

use crate::discovery::{self, Flavor};
use crate::handlers::{self, Req};
use crate::recorder::RecordedRequest;
use crate::request::{Query, route};
use crate::response;
use crate::state::Shared;
use crate::status::ApiError;
use axum::extract::{Request, State};
use axum::response::Response;
use serde_json::json;
use std::sync::Arc;

pub const MAX_BODY: usize = 3 * 1024 * 1024;
const MAX_RECORDED: usize = 200_000;
/// Largest refused body still read before the 413 is sent.
const DRAIN_LIMIT: usize = 8 * 1024 * 1024;

pub async fn entry(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(n) = declared.filter(|n| *n > MAX_BODY) {
        // Read (and drop) a body of reasonable size before answering, so that the client is
        // not reset while it is still sending and does see the 413; a larger one is not read.
        if n <= DRAIN_LIMIT {
            let _ = axum::body::to_bytes(body, DRAIN_LIMIT).await;
        }
        return response::error(&ApiError::too_large());
    }
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return response::error(&ApiError::too_large()),
    };
    let path = parts.uri.path().to_string();
    let query = Query::parse(parts.uri.query());
    let accept = parts
        .headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if path.trim_end_matches('/') == FAULTS_PATH {
        return crate::inject::admin(&shared, &parts.method, &body);
    }
    if let Some(r) = non_resource(&shared, &parts.method, &path, &accept) {
        return r;
    }
    let Some(route) = route(&path) else {
        return response::error(&ApiError::not_found_path());
    };
    if shared.config.record_requests
        && let Some(verb) = handlers::verb(&parts.method, &route, &query)
    {
        let ua = parts
            .headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let rec = RecordedRequest {
            verb: verb.to_string(),
            group: route.group.clone(),
            resource: route.resource.clone(),
            subresource: route.sub.clone().unwrap_or_default(),
            namespace: route.namespace.clone().unwrap_or_default(),
            name: route.name.clone().unwrap_or_default(),
            user_agent: ua.to_string(),
        };
        let mut log = shared.requests.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded, so a long `mutualis dev` session does not grow without end: the oldest half
        // goes when the log is full (tests read far fewer).
        if log.len() >= MAX_RECORDED {
            log.drain(..MAX_RECORDED / 2);
        }
        log.push(rec);
    }
    let verb = handlers::verb(&parts.method, &route, &query);
    let agent = parts
        .headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let fault = verb.and_then(|v| {
        shared.faults.pick(
            v,
            &route.resource,
            route.sub.as_deref().unwrap_or_default(),
            agent,
        )
    });
    let target = (
        route.group.clone(),
        route.resource.clone(),
        route.name.clone(),
    );
    if let Some(f) = fault.filter(|f| crate::inject::before(f, verb)) {
        return crate::inject::answer(f, &target).await;
    }
    if let Some(f) = fault.filter(|f| f.error.is_none()) {
        tokio::time::sleep(f.delay).await;
    }
    let req = Req {
        method: &parts.method,
        route,
        query,
        headers: &parts.headers,
        body,
    };
    let response = handlers::handle(shared.clone(), req).await;
    match fault {
        // The write happened; the client is told it did not.
        Some(f) if f.error.is_some() => crate::inject::answer(f, &target).await,
        _ => response,
    }
}

/// The fault injection admin endpoint (README.md, Fault injection).
pub const FAULTS_PATH: &str = "/_devcluster/faults";

fn non_resource(
    shared: &Shared,
    method: &http::Method,
    path: &str,
    accept: &str,
) -> Option<Response> {
    let p = path.trim_end_matches('/');
    let segs: Vec<&str> = p.trim_start_matches('/').split('/').collect();
    let get = *method == http::Method::GET;
    let st = || shared.lock();
    let r = match segs.as_slice() {
        ["version"] => response::json(
            200,
            &json!({
                "major": "1", "minor": "32", "gitVersion": "v1.32.0-devcluster", "gitCommit": "devcluster",
                "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "rust", "compiler": "rustc", "platform": "linux/amd64",
            }),
        ),
        ["healthz" | "livez" | "readyz"] => response::bytes(200, "text/plain", "ok".into(), &[]),
        ["api"] => match Flavor::from_accept(accept) {
            Flavor::Legacy => response::json(200, &discovery::api_versions("127.0.0.1")),
            f => response::typed(
                200,
                f.content_type(),
                &discovery::aggregated(&st().registry, true, f),
            ),
        },
        ["apis"] => match Flavor::from_accept(accept) {
            Flavor::Legacy => response::json(200, &discovery::group_list(&st().registry)),
            f => response::typed(
                200,
                f.content_type(),
                &discovery::aggregated(&st().registry, false, f),
            ),
        },
        ["api", v] => match discovery::resource_list(&st().registry, "", v) {
            Some(doc) => response::json(200, &doc),
            None => response::error(&ApiError::not_found_path()),
        },
        ["apis", g] => match discovery::group(&st().registry, g) {
            Some(doc) => response::json(200, &doc),
            None => response::error(&ApiError::not_found_path()),
        },
        ["apis", g, v] => match discovery::resource_list(&st().registry, g, v) {
            Some(doc) => response::json(200, &doc),
            None => response::error(&ApiError::not_found_path()),
        },
        ["openapi", "v3"] => response::json(200, &crate::openapi::index(&st().registry)),
        ["openapi", "v3", rest @ ..] => {
            match crate::openapi::document(&st().registry, &rest.join("/")) {
                Some(doc) => response::json(200, &doc),
                None => response::error(&ApiError::not_found_path()),
            }
        }
        ["openapi", ..] | ["swagger-2.0.0.pb-v1"] | [""] => {
            response::error(&ApiError::not_found_path())
        }
        _ => return None,
    };
    if !get {
        return Some(response::error(&ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )));
    }
    Some(r)
}

/// The axum app: one fallback handler sees every request.
pub fn app(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new().fallback(entry).with_state(shared)
}
