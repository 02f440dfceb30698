//! The `/scale` subresource of Deployments and StatefulSets (`kubectl scale`): an
//! `autoscaling/v1` Scale view of `spec.replicas`, written back through the normal pipeline.

use crate::resources::ResourceDef;
use crate::state::{State, key};
use crate::status::{ApiError, ApiResult, Target};
use crate::write::{PatchKind, Sub, WriteOp, WriteReq};
use crate::{Config, patch};
use serde_json::{Value, json};

pub fn scalable(def: &ResourceDef) -> bool {
    def.group == "apps" && matches!(def.plural.as_str(), "deployments" | "statefulsets")
}

fn view(obj: &Value) -> Value {
    let selector: Vec<String> = obj["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let m = &obj["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
                     "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"]},
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector.join(",")},
    })
}

pub fn get(st: &State, def: &ResourceDef, ns: &str, name: &str) -> ApiResult<Value> {
    let s = st.store.get(&key(def, ns, name)).ok_or_else(|| {
        ApiError::not_found(Target {
            group: &def.group,
            resource: &def.plural,
            name,
        })
    })?;
    Ok(view(&s.value()))
}

/// PUT or PATCH of a Scale: computes the new replica count and patches the workload with it.
pub fn write(st: &mut State, cfg: &Config, req: &WriteReq, op: WriteOp) -> ApiResult<Value> {
    let mut scale = get(st, &req.def, &req.ns, &req.name)?;
    match op {
        WriteOp::Update(body) => scale = body,
        WriteOp::Patch(PatchKind::Json, p) => patch::json_patch(&mut scale, &p)?,
        WriteOp::Patch(_, p) => patch::merge_patch(&mut scale, &p)?,
        WriteOp::Create(_) | WriteOp::Apply { .. } => {
            return Err(ApiError::method_not_allowed(
                "the scale subresource supports get, update and patch",
            ));
        }
    }
    let replicas = scale["spec"]["replicas"]
        .as_i64()
        .filter(|r| *r >= 0)
        .ok_or_else(|| ApiError::new(422, "Invalid", "Scale.autoscaling \"\" is invalid: spec.replicas: Invalid value: must be greater than or equal to 0"))?;
    let inner = WriteReq {
        sub: Sub::Main,
        ..req.clone()
    };
    let out = crate::write::write(
        st,
        cfg,
        &inner,
        WriteOp::Patch(PatchKind::Merge, json!({"spec": {"replicas": replicas}})),
    )?;
    Ok(view(&out.stored.value()))
}
