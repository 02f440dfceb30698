//! What the apiserver does to every incoming object before storing it: naming
//! (`generateName`), checks of the body against the URL, the split between the main resource
//! and `/status`, server-set metadata, the no-new-finalizers rule, and `generation`.

use crate::meta::{meta_mut, spec_part};
use crate::resources::ResourceDef;
use crate::status::{ApiError, ApiResult, Cause};
use crate::write::Sub;
use serde_json::Value;

pub fn create_name(body: &Value) -> ApiResult<String> {
    let m = &body["metadata"];
    match (m["name"].as_str(), m["generateName"].as_str()) {
        (Some(n), _) if !n.is_empty() => Ok(n.to_string()),
        (_, Some(g)) if !g.is_empty() => Ok(format!("{g}{}", crate::meta::generated_suffix())),
        _ => Ok(String::new()),
    }
}

pub fn check_body(def: &ResourceDef, ns: &str, body: &Value) -> ApiResult<()> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    if let Some(av) = body["apiVersion"].as_str().filter(|s| !s.is_empty()) {
        let served = def.api_version();
        // Any served version of the same group is accepted (one storage, no conversion needed).
        let same_group = av.rsplit_once('/').map(|(g, _)| g).unwrap_or("") == def.group;
        if av != served && !same_group {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({served})"
            )));
        }
    }
    if let Some(k) = body["kind"].as_str().filter(|s| !s.is_empty())
        && k != def.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({k}) does not match the expected kind ({})",
            def.kind
        )));
    }
    if def.namespaced
        && let Some(bns) = body["metadata"]["namespace"]
            .as_str()
            .filter(|s| !s.is_empty())
        && bns != ns
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    Ok(())
}

pub fn check_body_name(body: &Value, name: &str) -> ApiResult<()> {
    match body["metadata"]["name"].as_str() {
        Some(n) if n != name => Err(ApiError::bad_request(
            "the name of the object does not match the name on the URL",
        )),
        _ => Ok(()),
    }
}

/// Writes to the main resource keep the stored status; writes to `/status` keep everything else.
pub fn settle_subresource(def: &ResourceDef, sub: Sub, old: Option<&Value>, new: &mut Value) {
    let Some(m) = new.as_object_mut() else { return };
    match (sub, old) {
        (Sub::Status, Some(old)) => {
            let status = m.remove("status");
            // Ownership computed by an apply to /status travels with the status.
            let managed = m
                .get("metadata")
                .and_then(|x| x.get("managedFields"))
                .cloned();
            let mut base = old.clone();
            if let Some(mf) = managed {
                meta_mut(&mut base).insert("managedFields".into(), mf);
            }
            let bm = base.as_object_mut().expect("object");
            match status {
                Some(s) if !s.is_null() => {
                    bm.insert("status".into(), s);
                }
                _ => {
                    bm.remove("status");
                }
            }
            *new = base;
        }
        (Sub::Main, Some(old)) if def.status => match old.get("status") {
            Some(s) => {
                m.insert("status".into(), s.clone());
            }
            None => {
                m.remove("status");
            }
        },
        (Sub::Main, None) if def.status && def.plural != "namespaces" => {
            m.remove("status");
        }
        _ => {}
    }
}

/// Fields only the server sets: identity, timestamps, deletion state, namespace from the URL.
pub fn server_metadata(
    def: &ResourceDef,
    ns: &str,
    name: &str,
    old: Option<&Value>,
    new: &mut Value,
) {
    let api_version = def.api_version();
    let kind = def.kind.clone();
    let obj = new.as_object_mut().expect("object");
    obj.insert("apiVersion".into(), api_version.into());
    obj.insert("kind".into(), kind.into());
    let m = meta_mut(new);
    m.insert("name".into(), name.into());
    if def.namespaced {
        m.insert("namespace".into(), ns.into());
    } else {
        m.remove("namespace");
    }
    m.remove("selfLink");
    match old {
        Some(old) => {
            for f in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "generateName",
            ] {
                match old["metadata"].get(f) {
                    Some(v) => {
                        m.insert(f.into(), v.clone());
                    }
                    None => {
                        m.remove(f);
                    }
                }
            }
        }
        None => {
            m.insert("uid".into(), crate::clock::new_uid().into());
            m.insert(
                "creationTimestamp".into(),
                crate::clock::now_rfc3339().into(),
            );
            for f in [
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "resourceVersion",
                "generation",
            ] {
                m.remove(f);
            }
        }
    }
}

pub fn check_finalizers(def: &ResourceDef, name: &str, old: &Value, new: &Value) -> ApiResult<()> {
    if old["metadata"].get("deletionTimestamp").is_none() {
        return Ok(());
    }
    let empty = vec![];
    let before = old["metadata"]["finalizers"].as_array().unwrap_or(&empty);
    let added = new["metadata"]["finalizers"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .any(|f| !before.contains(f));
    if added {
        return Err(ApiError::invalid(
            &def.kind,
            &def.group,
            name,
            vec![Cause::new(
                "FieldValueForbidden",
                "metadata.finalizers",
                "Forbidden: no new finalizers can be added if the object is being deleted",
            )],
        ));
    }
    Ok(())
}

pub fn set_generation(def: &ResourceDef, old: Option<&Value>, new: &mut Value) {
    if !def.generation {
        return;
    }
    let generation = match old {
        None => 1,
        Some(old) => {
            let g = old["metadata"]["generation"].as_i64().unwrap_or(1);
            if spec_part(old) != spec_part(new) {
                g + 1
            } else {
                g
            }
        }
    };
    meta_mut(new).insert("generation".into(), generation.into());
}
