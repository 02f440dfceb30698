//! Resource requests: routes a verb on a group/version/resource to the store, the write
//! pipeline, deletion or a watch, and renders the answer in the representation asked for.

use crate::convert::{is_identity, to_external};
use crate::request::{Query, Repr, Route};
use crate::resources::ResourceDef;
use crate::response;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::state::Shared;
use crate::status::{ApiError, ApiResult, Target};
use crate::store::Stored;
use crate::table::{IncludeObject, partial_metadata, row, table};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::{Value, json};
use std::sync::Arc;

pub struct Req<'a> {
    pub method: &'a Method,
    pub route: Route,
    pub query: Query,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
}

impl Req<'_> {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// The RBAC verb of a request (for the recorder), or `None` when the method is not allowed.
pub fn verb(method: &Method, route: &Route, query: &Query) -> Option<&'static str> {
    let item = route.name.is_some();
    Some(match *method {
        Method::GET if query.flag("watch") => "watch",
        Method::GET if item => "get",
        Method::GET => "list",
        Method::POST if !item => "create",
        Method::PUT if item => "update",
        Method::PATCH if item => "patch",
        Method::DELETE if item => "delete",
        Method::DELETE => "deletecollection",
        _ => return None,
    })
}

pub async fn handle(shared: Arc<Shared>, req: Req<'_>) -> Response {
    match dispatch(&shared, req).await {
        Ok(r) => r,
        Err(e) => response::error(&e),
    }
}

fn resolve(shared: &Shared, route: &Route) -> ApiResult<Arc<ResourceDef>> {
    let st = shared.lock();
    let def = st
        .def(&route.group, &route.version, &route.resource)
        .ok_or_else(ApiError::not_found_path)?;
    if route.namespace.is_some() && !def.namespaced {
        return Err(ApiError::not_found_path());
    }
    match route.sub.as_deref() {
        None => {}
        Some("status") if def.status && route.name.is_some() => {}
        Some("scale") if crate::scale::scalable(&def) && route.name.is_some() => {}
        Some(_) => return Err(ApiError::not_found_path()),
    }
    Ok(def)
}

async fn dispatch(shared: &Arc<Shared>, req: Req<'_>) -> ApiResult<Response> {
    let def = resolve(shared, &req.route)?;
    let Some(verb) = verb(req.method, &req.route, &req.query) else {
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource".to_string(),
        ));
    };
    let ns = req.route.namespace.clone().unwrap_or_default();
    match verb {
        "watch" => crate::watch::start(shared.clone(), def, &req),
        "get" => get(shared, &def, &req, &ns),
        "list" => list(shared, &def, &req),
        "create" | "update" | "patch" => crate::mutate::mutate(shared, &def, &req, verb, &ns),
        "delete" => crate::mutate::delete(shared, &def, &req, &ns),
        _ => crate::mutate::delete_collection(shared, &def, &req, &ns),
    }
}

/// Renders a stored object as the client asked (JSON, PartialObjectMetadata or a 1-row Table).
pub fn render(def: &ResourceDef, s: &Stored, repr: Repr, include: IncludeObject) -> Bytes {
    let fast = is_identity(def, &s.idx.api_version);
    match repr {
        Repr::Json if fast => s.json.clone(),
        Repr::Json => {
            Bytes::from(serde_json::to_vec(&to_external(def, s.value())).unwrap_or_default())
        }
        Repr::Metadata => {
            Bytes::from(serde_json::to_vec(&partial_metadata(&s.value())).unwrap_or_default())
        }
        Repr::Table => {
            let obj = to_external(def, s.value());
            Bytes::from(
                serde_json::to_vec(&table(
                    def,
                    vec![row(def, &obj, include)],
                    &s.rv.to_string(),
                    None,
                ))
                .unwrap_or_default(),
            )
        }
    }
}

pub fn content_type(repr: Repr, list: bool) -> &'static str {
    match (repr, list) {
        (Repr::Table, _) => "application/json;as=Table;v=v1;g=meta.k8s.io",
        (Repr::Metadata, true) => {
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
        }
        (Repr::Metadata, false) => "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
        _ => "application/json",
    }
}

fn get(shared: &Shared, def: &ResourceDef, req: &Req, ns: &str) -> ApiResult<Response> {
    let name = req.route.name.as_deref().unwrap_or_default();
    if req.route.sub.as_deref() == Some("scale") {
        let scale = crate::scale::get(&shared.lock(), def, ns, name)?;
        return Ok(response::json(200, &scale));
    }
    let repr = Repr::from_accept(req.header("accept"));
    let st = shared.lock();
    let s = st
        .store
        .get(&crate::state::key(def, ns, name))
        .ok_or_else(|| {
            ApiError::not_found(Target {
                group: &def.group,
                resource: &def.plural,
                name,
            })
        })?;
    drop(st);
    let include = IncludeObject::parse(req.query.get("includeObject"));
    Ok(response::bytes(
        200,
        content_type(repr, false),
        render(def, &s, repr, include),
        &[],
    ))
}

/// Selectors of a list or watch, checked against what the resource can select on.
pub fn selectors(def: &ResourceDef, q: &Query) -> ApiResult<(LabelSelector, FieldSelector)> {
    let labels = LabelSelector::parse(q.get("labelSelector").unwrap_or_default())?;
    let fields = FieldSelector::parse(q.get("fieldSelector").unwrap_or_default())?;
    let is_event = def.plural == "events";
    fields.validate(|f| {
        matches!(f, "metadata.name" | "metadata.namespace")
            || (is_event
                && (f.starts_with("involvedObject.")
                    || f.starts_with("regarding.")
                    || matches!(f, "reason" | "type" | "source" | "reportingComponent")))
            || (f == "status.phase")
            || (f == "type" && def.plural == "secrets")
    })?;
    Ok((labels, fields))
}

pub fn matches(
    s: &Stored,
    ns: &str,
    name: &str,
    labels: &LabelSelector,
    fields: &FieldSelector,
) -> bool {
    labels.matches(&s.idx.labels)
        && fields.matches(|f| match f {
            "metadata.name" => Some(name.to_string()),
            "metadata.namespace" => Some(ns.to_string()),
            other => {
                let other = other.replace("regarding.", "involvedObject.");
                s.idx
                    .fields
                    .iter()
                    .find(|(k, _)| *k == other)
                    .map(|(_, v)| v.clone())
            }
        })
}

fn encode_continue(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_continue(c: &str) -> ApiResult<(String, String)> {
    let bad = || ApiError::bad_request(format!("continue key is not valid: {c:?}"));
    if !c.len().is_multiple_of(2) {
        return Err(bad());
    }
    let raw: Result<Vec<u8>, _> = (0..c.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(c.get(i..i + 2).unwrap_or("zz"), 16))
        .collect();
    let s = String::from_utf8(raw.map_err(|_| bad())?).map_err(|_| bad())?;
    let (ns, name) = s.split_once('/').ok_or_else(bad)?;
    Ok((ns.to_string(), name.to_string()))
}

fn list(shared: &Shared, def: &ResourceDef, req: &Req) -> ApiResult<Response> {
    let repr = Repr::from_accept(req.header("accept"));
    let (labels, fields) = selectors(def, &req.query)?;
    if let Some(rv) = req.query.get("resourceVersion").filter(|r| !r.is_empty()) {
        rv.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!(
                "resourceVersion: Invalid value: {rv:?}: must be a non-negative integer"
            ))
        })?;
    }
    let limit = match req.query.get("limit").filter(|l| !l.is_empty()) {
        Some(l) => l
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("limit: Invalid value: {l:?}")))?
            .max(0) as usize,
        None => 0,
    };
    let after = req
        .query
        .get("continue")
        .filter(|c| !c.is_empty())
        .map(decode_continue)
        .transpose()?;
    let ns = req.route.namespace.as_deref();
    let include = IncludeObject::parse(req.query.get("includeObject"));
    let st = shared.lock();
    let rv = st.store.rv().to_string();
    let mut items: Vec<Arc<Stored>> = Vec::new();
    let mut cont = None;
    for ((ons, oname), s) in st.store.list(&def.storage, ns, after) {
        if !matches(s, ons, oname, &labels, &fields) {
            continue;
        }
        if limit > 0 && items.len() == limit {
            cont = items.last().map(|_| ());
            break;
        }
        items.push(s.clone());
    }
    drop(st);
    let cont = cont.and_then(|_| {
        let last = items.last()?.value();
        Some(encode_continue(
            last["metadata"]["namespace"].as_str().unwrap_or_default(),
            last["metadata"]["name"].as_str().unwrap_or_default(),
        ))
    });
    let body = match repr {
        Repr::Table => {
            let rows = items
                .iter()
                .map(|s| row(def, &to_external(def, s.value()), include))
                .collect();
            Bytes::from(
                serde_json::to_vec(&table(def, rows, &rv, cont.as_deref())).unwrap_or_default(),
            )
        }
        Repr::Metadata => {
            let list: Vec<Value> = items.iter().map(|s| partial_metadata(&s.value())).collect();
            let mut meta = json!({"resourceVersion": rv});
            if let Some(c) = &cont {
                meta["continue"] = c.clone().into();
            }
            Bytes::from(serde_json::to_vec(&json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "items": list})).unwrap_or_default())
        }
        Repr::Json => {
            // Assembled from the stored bytes: a list costs a copy, not a re-serialization.
            let mut meta = json!({"resourceVersion": rv});
            if let Some(c) = &cont {
                meta["continue"] = c.clone().into();
            }
            let head =
                json!({"kind": def.list_kind(), "apiVersion": def.api_version(), "metadata": meta})
                    .to_string();
            let mut out = Vec::with_capacity(
                head.len() + items.iter().map(|s| s.json.len() + 1).sum::<usize>() + 16,
            );
            out.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
            out.extend_from_slice(b",\"items\":[");
            for (i, s) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&render(def, s, Repr::Json, include));
            }
            out.extend_from_slice(b"]}");
            Bytes::from(out)
        }
    };
    Ok(response::bytes(200, content_type(repr, true), body, &[]))
}
