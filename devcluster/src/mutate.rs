//! Write requests over HTTP: create, update, patch (all four types, plus the protobuf that
//! kubectl's generators send), delete and deletecollection. The rules live in `write` and
//! `delete`; this file parses the request and renders the answer.

use crate::convert::to_external;
use crate::delete::{DeleteOpts, Deleted, Propagation};
use crate::handlers::{Req, matches, render, selectors};
use crate::request::Repr;
use crate::resources::ResourceDef;
use crate::response;
use crate::state::Shared;
use crate::status::{ApiError, ApiResult, Target, success_deleted};
use crate::table::IncludeObject;
use crate::write::{FieldValidation, PatchKind, Sub, WriteOp, WriteReq};
use axum::response::Response;
use serde_json::{Value, json};
use std::sync::Arc;

fn parse_body(req: &Req, yaml_ok: bool) -> ApiResult<Value> {
    if req.body.is_empty() {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(v) => Ok(v),
        Err(e) if yaml_ok => {
            let text = std::str::from_utf8(&req.body)
                .map_err(|_| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
            serde_saphyr::from_str::<Value>(text)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
        }
        Err(e) => Err(ApiError::bad_request(format!(
            "the object provided is unrecognized: json parse error: {e}"
        ))),
    }
}

fn write_params(req: &Req) -> ApiResult<(bool, FieldValidation)> {
    let dry = match req.query.get("dryRun") {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "dryRun: Unsupported value: {other:?}: supported values: \"All\""
            )));
        }
    };
    let fv = match req.query.get("fieldValidation") {
        None | Some("") | Some("Warn") => FieldValidation::Warn,
        Some("Strict") => FieldValidation::Strict,
        Some("Ignore") => FieldValidation::Ignore,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: {other:?}: supported values: \"Ignore\", \"Strict\", \"Warn\""
            )));
        }
    };
    Ok((dry, fv))
}

pub fn mutate(
    shared: &Arc<Shared>,
    def: &Arc<ResourceDef>,
    req: &Req,
    verb: &str,
    ns: &str,
) -> ApiResult<Response> {
    let (dry_run, validation) = write_params(req)?;
    let ct = req
        .header("content-type")
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if ct.contains("protobuf") || ct.contains("cbor") {
        // kubectl's typed generators (`kubectl create configmap`) and helm (its release
        // Secrets, created then updated) send protobuf: the few kinds they write are decoded,
        // anything else is refused as by a server without protobuf.
        let decoded = (matches!(verb, "create" | "update") && ct.contains("protobuf"))
            .then(|| crate::proto::decode(&req.body))
            .flatten();
        let Some(obj) = decoded else {
            return Err(ApiError::unsupported_media(&ct));
        };
        let create = verb == "create";
        let wreq = WriteReq {
            def: def.clone(),
            ns: ns.to_string(),
            name: if create {
                String::new()
            } else {
                req.route.name.clone().unwrap_or_default()
            },
            sub: Sub::Main,
            dry_run,
            validation,
            manager: req
                .query
                .get("fieldManager")
                .filter(|m| !m.is_empty())
                .unwrap_or("kubectl-create")
                .to_string(),
        };
        let mut st = shared.lock();
        let op = if create {
            WriteOp::Create(obj)
        } else {
            WriteOp::Update(obj)
        };
        let out = crate::write::write(&mut st, &shared.config, &wreq, op);
        let (rv, timers) = (st.store.rv(), std::mem::take(&mut st.timers));
        drop(st);
        shared.after_commit(rv, timers);
        let out = out?;
        return Ok(response::bytes(
            if create { 201 } else { 200 },
            "application/json",
            render(def, &out.stored, Repr::Json, IncludeObject::Metadata),
            &out.warnings,
        ));
    }
    let op = match verb {
        "create" => WriteOp::Create(parse_body(req, false)?),
        "update" => WriteOp::Update(parse_body(req, false)?),
        _ => match ct.as_str() {
            "application/json-patch+json" => {
                WriteOp::Patch(PatchKind::Json, parse_body(req, false)?)
            }
            "application/merge-patch+json" => {
                WriteOp::Patch(PatchKind::Merge, parse_body(req, false)?)
            }
            "application/strategic-merge-patch+json" => {
                WriteOp::Patch(PatchKind::Strategic, parse_body(req, false)?)
            }
            "application/apply-patch+yaml" => {
                if req.query.get("fieldManager").is_none_or(str::is_empty) {
                    return Err(ApiError::new(
                        422,
                        "Invalid",
                        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                    ));
                }
                WriteOp::Apply {
                    body: parse_body(req, true)?,
                    force: req.query.flag("force"),
                }
            }
            other => return Err(ApiError::unsupported_media(other)),
        },
    };
    let duplicates = if validation == FieldValidation::Ignore {
        vec![]
    } else {
        crate::dups::find(&req.body)
    };
    let duplicate_msgs: Vec<String> = duplicates
        .iter()
        .map(|d| format!("duplicate field \"{d}\""))
        .collect();
    if validation == FieldValidation::Strict && !duplicate_msgs.is_empty() {
        return Err(ApiError::bad_request(format!(
            "strict decoding error: {}",
            duplicate_msgs.join(", ")
        )));
    }
    let manager = match req.query.get("fieldManager").filter(|m| !m.is_empty()) {
        Some(m) => m.to_string(),
        None => req
            .header("user-agent")
            .split('/')
            .next()
            .filter(|s| !s.is_empty())
            .unwrap_or("unknown")
            .to_string(),
    };
    let wreq = WriteReq {
        def: def.clone(),
        ns: ns.to_string(),
        name: req.route.name.clone().unwrap_or_default(),
        sub: if req.route.sub.as_deref() == Some("status") {
            Sub::Status
        } else {
            Sub::Main
        },
        dry_run,
        validation,
        manager,
    };
    let mut st = shared.lock();
    if req.route.sub.as_deref() == Some("scale") {
        let out = crate::scale::write(&mut st, &shared.config, &wreq, op);
        let (rv, timers) = (st.store.rv(), std::mem::take(&mut st.timers));
        drop(st);
        shared.after_commit(rv, timers);
        return Ok(response::json(200, &out?));
    }
    let out = crate::write::write(&mut st, &shared.config, &wreq, op);
    let (rv, timers) = (st.store.rv(), std::mem::take(&mut st.timers));
    drop(st);
    shared.after_commit(rv, timers);
    let mut out = out?;
    out.warnings.extend(duplicate_msgs);
    let code = if out.created { 201 } else { 200 };
    Ok(response::bytes(
        code,
        "application/json",
        render(def, &out.stored, Repr::Json, IncludeObject::Metadata),
        &out.warnings,
    ))
}

fn delete_opts(req: &Req) -> ApiResult<DeleteOpts> {
    let body: Value = if req.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else if req.header("content-type").contains("protobuf") {
        crate::proto::decode(&req.body)
            .ok_or_else(|| ApiError::unsupported_media("application/vnd.kubernetes.protobuf"))?
    } else {
        serde_json::from_slice(&req.body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body of the request was in an unknown format: {e}"
            ))
        })?
    };
    let policy = body["propagationPolicy"]
        .as_str()
        .or(req.query.get("propagationPolicy"))
        .filter(|p| !p.is_empty());
    let propagation = match policy {
        None => None,
        Some("Background") => Some(Propagation::Background),
        Some("Foreground") => Some(Propagation::Foreground),
        Some("Orphan") => Some(Propagation::Orphan),
        Some(other) => {
            return Err(ApiError::new(
                422,
                "Invalid",
                format!(
                    "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
                ),
            ));
        }
    };
    let propagation =
        propagation.or_else(|| (body["orphanDependents"] == true).then_some(Propagation::Orphan));
    let dry_run = body["dryRun"]
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x == "All"))
        || req.query.get("dryRun") == Some("All");
    Ok(DeleteOpts {
        propagation,
        uid: body["preconditions"]["uid"].as_str().map(String::from),
        resource_version: body["preconditions"]["resourceVersion"]
            .as_str()
            .map(String::from),
        dry_run,
    })
}

pub fn delete(shared: &Arc<Shared>, def: &ResourceDef, req: &Req, ns: &str) -> ApiResult<Response> {
    let opts = delete_opts(req)?;
    let name = req.route.name.clone().unwrap_or_default();
    let mut st = shared.lock();
    let out = crate::delete::delete(&mut st, &shared.config, def, ns, &name, &opts);
    let (rv, timers) = (st.store.rv(), std::mem::take(&mut st.timers));
    drop(st);
    shared.after_commit(rv, timers);
    Ok(match out? {
        Deleted::Gone(s) => {
            let t = Target {
                group: &def.group,
                resource: &def.plural,
                name: &name,
            };
            response::json(200, &success_deleted(t, &s.idx.uid))
        }
        Deleted::Terminating(s) => response::bytes(
            200,
            "application/json",
            render(def, &s, Repr::Json, IncludeObject::Metadata),
            &[],
        ),
    })
}

pub fn delete_collection(
    shared: &Arc<Shared>,
    def: &ResourceDef,
    req: &Req,
    ns: &str,
) -> ApiResult<Response> {
    let opts = delete_opts(req)?;
    let (labels, fields) = selectors(def, &req.query)?;
    let ns_filter = req.route.namespace.as_deref();
    let mut st = shared.lock();
    let names: Vec<(String, String)> = st
        .store
        .list(&def.storage, ns_filter, None)
        .filter(|((n, name), s)| matches(s, n, name, &labels, &fields))
        .map(|(k, _)| k.clone())
        .collect();
    let mut items = Vec::new();
    for (n, name) in names {
        let target_ns = if def.namespaced { n } else { ns.to_string() };
        match crate::delete::delete(&mut st, &shared.config, def, &target_ns, &name, &opts) {
            Ok(Deleted::Gone(s) | Deleted::Terminating(s)) => {
                items.push(to_external(def, s.value()))
            }
            Err(e) if e.code == 404 || e.code == 403 => {}
            Err(e) => {
                drop(st);
                return Err(e);
            }
        }
    }
    let (rv, timers) = (st.store.rv(), std::mem::take(&mut st.timers));
    drop(st);
    shared.after_commit(rv, timers);
    Ok(response::json(
        200,
        &json!({"kind": def.list_kind(), "apiVersion": def.api_version(), "metadata": {"resourceVersion": rv.to_string()}, "items": items}),
    ))
}
