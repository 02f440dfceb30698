//! Create, update, patch and apply: one pipeline that turns a request into the next version of
//! an object, enforces the apiserver's rules, and stores it only if something changed.

use crate::convert::{to_external, to_storage};
use crate::meta::{same_content, strip_empty, validate_name};
use crate::objectrules::{
    check_body, check_body_name, check_finalizers, create_name, server_metadata, set_generation,
    settle_subresource,
};
use crate::resources::ResourceDef;
use crate::state::{State, key};
use crate::status::{ApiError, ApiResult, Cause, Target};
use crate::store::{EventType, Key, Stored};
use crate::{Config, apply, managed, patch};
use serde_json::Value;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sub {
    Main,
    Status,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Json,
    Merge,
    Strategic,
}

pub enum WriteOp {
    Create(Value),
    Update(Value),
    Patch(PatchKind, Value),
    Apply { body: Value, force: bool },
}

#[derive(Clone)]
pub struct WriteReq {
    pub def: Arc<ResourceDef>,
    pub ns: String,
    pub name: String,
    pub sub: Sub,
    pub dry_run: bool,
    pub validation: FieldValidation,
    pub manager: String,
}

pub struct Outcome {
    pub stored: Arc<Stored>,
    pub created: bool,
    pub warnings: Vec<String>,
}

impl WriteReq {
    pub fn target<'a>(&'a self, name: &'a str) -> Target<'a> {
        Target {
            group: &self.def.group,
            resource: &self.def.plural,
            name,
        }
    }
}

pub fn write(st: &mut State, cfg: &Config, req: &WriteReq, op: WriteOp) -> ApiResult<Outcome> {
    let def = req.def.clone();
    let name = match &op {
        WriteOp::Create(body) => create_name(body)?,
        _ => req.name.clone(),
    };
    let k = key(&def, &req.ns, &name);
    let old_stored = st.store.get(&k);
    let old = old_stored.as_ref().map(|s| to_external(&def, s.value()));
    let target = req.target(&name);
    if def.namespaced {
        match st.namespace(&req.ns) {
            None => {
                return Err(ApiError::not_found(Target {
                    group: "",
                    resource: "namespaces",
                    name: &req.ns,
                }));
            }
            Some(true) if old.is_none() => {
                return Err(ApiError::new(
                    403,
                    "Forbidden",
                    format!(
                        "{} \"{name}\" is forbidden: unable to create new content in namespace {} because it is being terminated",
                        target.qualified(),
                        req.ns
                    ),
                ));
            }
            _ => {}
        }
    }
    if req.sub == Sub::Status && old.is_none() {
        return Err(ApiError::not_found(target));
    }
    let is_apply = matches!(op, WriteOp::Apply { .. });
    let mut new = match op {
        WriteOp::Create(body) => {
            if old.is_some() {
                return Err(ApiError::already_exists(target));
            }
            check_body(&def, &req.ns, &body)?;
            body
        }
        WriteOp::Update(body) => {
            let Some(old) = &old else {
                return Err(ApiError::not_found(target));
            };
            check_body(&def, &req.ns, &body)?;
            check_body_name(&body, &name)?;
            let want = body["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default();
            if !want.is_empty()
                && want
                    != old["metadata"]["resourceVersion"]
                        .as_str()
                        .unwrap_or_default()
            {
                return Err(ApiError::stale(target));
            }
            body
        }
        WriteOp::Patch(kind, p) => {
            let Some(old) = &old else {
                return Err(ApiError::not_found(target));
            };
            if kind == PatchKind::Strategic && !def.builtin {
                return Err(ApiError::unsupported_media(
                    "application/strategic-merge-patch+json",
                ));
            }
            let mut doc = old.clone();
            match kind {
                PatchKind::Json => patch::json_patch(&mut doc, &p)?,
                PatchKind::Merge => patch::merge_patch(&mut doc, &p)?,
                PatchKind::Strategic => patch::strategic_merge(&mut doc, &p)?,
            }
            doc
        }
        WriteOp::Apply { body, force } => {
            check_body(&def, &req.ns, &body)?;
            check_body_name(&body, &name)?;
            if body
                .get("kind")
                .is_none_or(|k| k.as_str().is_none_or(str::is_empty))
            {
                return Err(ApiError::bad_request("invalid object type: /, Kind="));
            }
            apply::apply(&def, old.as_ref(), &body, &req.manager, force, req.sub)
                .map_err(|conflicts| apply::conflict_error(target, &conflicts))?
        }
    };
    if !new.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    settle_subresource(&def, req.sub, old.as_ref(), &mut new);
    server_metadata(&def, &req.ns, &name, old.as_ref(), &mut new);
    strip_empty(&mut new);
    if old.is_none() {
        if name.is_empty() {
            let c = Cause::new(
                "FieldValueRequired",
                "metadata.name",
                "Required value: name or generateName is required",
            );
            return Err(ApiError::invalid(&def.kind, &def.group, &name, vec![c]));
        }
        if let Some(c) = validate_name(&def, &name) {
            return Err(ApiError::invalid(&def.kind, &def.group, &name, vec![c]));
        }
    }
    let meta_causes = crate::metavalidation::validate(&new);
    if !meta_causes.is_empty() {
        return Err(ApiError::invalid(&def.kind, &def.group, &name, meta_causes));
    }
    if let Some(old) = &old {
        check_finalizers(&def, &name, old, &new)?;
        crate::immutable::check(&def, old, &new)?;
    }
    let warnings = crate::schema::admit(&def, &name, &mut new, old.as_ref(), req.validation)?;
    crate::simulate::admit(&def, &mut new, old.as_ref())?;
    let mut warnings = warnings;
    if req.sub == Sub::Main {
        let admitted =
            crate::admission::admit(st, cfg, &def, &req.ns, &name, &mut new, old.as_ref())?;
        warnings.extend(admitted);
    }
    set_generation(&def, old.as_ref(), &mut new);
    if !is_apply {
        managed::record(
            &def,
            old.as_ref(),
            &mut new,
            &req.manager,
            req.sub,
            old.is_none(),
        );
    }
    if let Some(old) = &old
        && same_content(old, &new)
    {
        // A no-op: no new resource version, no event (controllers would hot-loop on one).
        return Ok(Outcome {
            stored: old_stored.expect("old"),
            created: false,
            warnings,
        });
    }
    let created = old.is_none();
    if req.dry_run {
        let json = serde_json::to_vec(&new).unwrap_or_default().into();
        let idx = old_stored.map(|s| s.idx.clone()).unwrap_or_default();
        return Ok(Outcome {
            stored: Arc::new(Stored {
                rv: st.store.rv(),
                json,
                idx,
            }),
            created,
            warnings,
        });
    }
    let storage_obj = to_storage(&def, new);
    let terminating_done = storage_obj["metadata"].get("deletionTimestamp").is_some()
        && storage_obj["metadata"]["finalizers"]
            .as_array()
            .is_none_or(Vec::is_empty);
    let stored = if terminating_done {
        crate::delete::remove_now(st, cfg, &k, storage_obj)
    } else {
        let s = st.store.put(
            &k,
            storage_obj,
            if created {
                EventType::Added
            } else {
                EventType::Modified
            },
        );
        after_put(st, cfg, &def, &k);
        s
    };
    Ok(Outcome {
        stored,
        created,
        warnings,
    })
}

/// Follow-ups of a stored write: a CRD changes what is served; the simulator reacts to workloads.
pub fn after_put(st: &mut State, cfg: &Config, def: &ResourceDef, k: &Key) {
    if &*k.storage == crate::resources::CRD_STORAGE
        && let Some(s) = st.store.get(k)
    {
        crate::crd::register(&mut st.registry, &s.value());
    }
    crate::simulate::after_write(st, cfg, def, k);
    crate::admission::after_change(st, cfg, k);
    crate::delete::collect_if_orphaned(st, cfg, k);
}
