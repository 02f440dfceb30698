//! Building HTTP responses: JSON bodies, Status errors, warning headers.

use crate::status::ApiError;
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;

pub fn bytes(code: u16, content_type: &str, body: Bytes, warnings: &[String]) -> Response {
    let mut b = Response::builder()
        .status(code)
        .header("Content-Type", content_type)
        .header("Cache-Control", "no-cache, private");
    for w in warnings {
        // RFC 7234 warning, as the apiserver sends for fieldValidation=Warn.
        b = b.header("Warning", format!("299 - {:?}", w));
    }
    b.body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

pub fn json(code: u16, v: &Value) -> Response {
    bytes(
        code,
        "application/json",
        Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
        &[],
    )
}

pub fn typed(code: u16, content_type: &str, v: &Value) -> Response {
    bytes(
        code,
        content_type,
        Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
        &[],
    )
}

pub fn error(e: &ApiError) -> Response {
    json(e.code, &e.to_status())
}
