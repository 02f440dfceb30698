//! Where injected faults meet HTTP: the answers they give and the admin endpoint that sets them.

use crate::faults::{Fault, FaultError, FaultPlan, When};
use crate::response;
use crate::state::Shared;
use crate::status::{ApiError, Target};
use axum::response::Response;
use bytes::Bytes;
use serde_json::json;

/// Whether the fault is answered instead of handling the request: `before` faults, delays
/// alone (which then let the request through: see `answer`) and every fault of a read, whose
/// "after" would change nothing.
pub fn before(f: &Fault, verb: Option<&str>) -> bool {
    let read = matches!(verb, Some("get" | "list" | "watch"));
    f.error.is_some() && (f.when == When::Before || read)
}

/// Waits the fault's delay, then gives its error.
pub async fn answer(
    f: Fault,
    (group, resource, name): &(String, String, Option<String>),
) -> Response {
    if !f.delay.is_zero() {
        tokio::time::sleep(f.delay).await;
    }
    let t = Target {
        group,
        resource,
        name: name.as_deref().unwrap_or_default(),
    };
    let e = match f.error {
        Some(FaultError::Conflict) => ApiError::stale(t),
        Some(FaultError::TooMany) => {
            let mut e = ApiError::new(
                429,
                "TooManyRequests",
                "the server has received too many requests and has asked us to try again later (devcluster fault injection)",
            );
            e.details = Some(json!({"retryAfterSeconds": 1}));
            let mut r = response::error(&e);
            r.headers_mut()
                .insert("Retry-After", http::HeaderValue::from_static("1"));
            return r;
        }
        Some(FaultError::Internal) => {
            ApiError::internal("Internal error occurred: devcluster fault injection")
        }
        Some(FaultError::Timeout) => ApiError::new(
            504,
            "Timeout",
            "Timeout: request did not complete within the allotted timeout (devcluster fault injection)",
        ),
        None => ApiError::internal("a delay-only fault has no answer"),
    };
    response::error(&e)
}

/// `GET` the plan and the count injected, `PUT` a new plan (the rule syntax or its JSON form),
/// `DELETE` to stop injecting.
pub fn admin(shared: &Shared, method: &http::Method, body: &Bytes) -> Response {
    let show = |shared: &Shared| {
        let plan = shared.faults.plan();
        response::json(
            200,
            &json!({"rules": plan.to_string(), "plan": plan, "injected": shared.faults.injected()}),
        )
    };
    match *method {
        http::Method::GET => show(shared),
        http::Method::DELETE => {
            shared.faults.set(FaultPlan::default());
            show(shared)
        }
        http::Method::PUT | http::Method::POST => {
            let text = String::from_utf8_lossy(body);
            let parsed = if text.trim_start().starts_with('{') {
                serde_json::from_str::<FaultPlan>(&text).map_err(|e| e.to_string())
            } else {
                text.parse::<FaultPlan>().map_err(|e| e.to_string())
            };
            match parsed {
                Ok(plan) => {
                    shared.faults.set(plan);
                    show(shared)
                }
                Err(e) => response::error(&ApiError::bad_request(e)),
            }
        }
        _ => response::error(&ApiError::method_not_allowed(
            "the fault endpoint takes GET, PUT and DELETE",
        )),
    }
}
