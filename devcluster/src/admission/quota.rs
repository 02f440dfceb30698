//! ResourceQuota: admission of creates and updates (`CheckRequest` in the apiserver's
//! resourcequota plugin, with its messages), quota scopes, and `status.hard`/`status.used`
//! kept current as the quota controller would. What each object counts is in `usage`.

use super::limits::{ContainerDefaults, pod_as_admitted};
use super::quantity::{QUANTITY_RULE, Quantity};
use super::scopes::matches_scopes;
use super::usage::{Usage, is_object_count, known, storages_for, tracks, usage};
use super::{PodShape, WORKLOADS, pod_shape};
use crate::state::State;
use crate::status::{ApiError, ApiResult, Cause, Target};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

pub const QUOTA_STORAGE: &str = "/resourcequotas";
pub const LIMITRANGE_STORAGE: &str = "/limitranges";
/// Quotas on these make every container name its request or limit ("must specify").
const VALIDATION: &[&str] = &[
    "cpu",
    "limits.cpu",
    "limits.memory",
    "memory",
    "requests.cpu",
    "requests.memory",
];

/// A quota's `spec.hard`, parsed; entries that do not parse are left out (they are refused
/// when the quota is written).
pub fn hard(quota: &Value) -> BTreeMap<String, Quantity> {
    quota["spec"]["hard"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), Quantity::from_json(v)?)))
        .collect()
}

/// A quota's `spec.hard` values must be quantities (422 naming the field, as upstream).
pub fn validate(quota: &Value, name: &str) -> ApiResult<()> {
    let causes: Vec<Cause> = quota["spec"]["hard"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| Quantity::from_json(v).is_none_or(|q| q.is_negative()))
        .map(|(k, v)| {
            let shown = v
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| v.to_string());
            let rule = if Quantity::from_json(v).is_some() {
                "must be greater than or equal to 0"
            } else {
                QUANTITY_RULE
            };
            Cause::new(
                "FieldValueInvalid",
                format!("spec.hard[{k}]"),
                format!("Invalid value: {shown:?}: {rule}"),
            )
        })
        .collect();
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid("ResourceQuota", "", name, causes))
    }
}

fn admitted_spec(shape: &Option<PodShape>, defaults: &ContainerDefaults) -> Option<Value> {
    shape.as_ref().map(|s| pod_as_admitted(&s.spec, defaults))
}

/// Current usage of one quota, from the objects of the namespace.
fn used(st: &State, ns: &str, quota: &Value, defaults: &ContainerDefaults) -> Usage {
    let hard = hard(quota);
    let mut out: Usage = hard
        .keys()
        .filter(|k| known(k))
        .map(|k| (k.clone(), Quantity::zero()))
        .collect();
    let storages: BTreeSet<String> = hard.keys().flat_map(|k| storages_for(k)).collect();
    for storage in storages {
        let counted: Vec<&String> = hard.keys().filter(|k| tracks(&storage, k)).collect();
        if counted.iter().all(|k| is_object_count(&storage, k)) {
            // Pure object counts need no parsing: a namespace of many ConfigMaps stays cheap.
            if matches_scopes(quota, None) {
                let n = st.store.list(&storage, Some(ns), None).count() as i64;
                for k in counted {
                    if let Some(have) = out.get_mut(k) {
                        *have = have.add(Quantity::from_int(n));
                    }
                }
            }
            continue;
        }
        let scoped = !matches_scopes(quota, None);
        for (_, s) in st.store.list(&storage, Some(ns), None) {
            let obj = s.value();
            if scoped {
                let shape = pod_shape(&storage, &obj);
                if !matches_scopes(quota, admitted_spec(&shape, defaults).as_ref()) {
                    continue;
                }
            }
            for (k, q) in usage(&storage, &obj, defaults) {
                if let Some(have) = out.get_mut(&k) {
                    *have = have.add(q);
                }
            }
        }
    }
    out
}

fn objects(st: &State, storage: &str, ns: &str) -> Vec<(String, Value)> {
    st.store
        .list(storage, Some(ns), None)
        .map(|((_, name), s)| (name.clone(), s.value()))
        .collect()
}

pub fn defaults_of(st: &State, ns: &str, enabled: bool) -> ContainerDefaults {
    if !enabled {
        return ContainerDefaults::default();
    }
    let ranges: Vec<Value> = objects(st, LIMITRANGE_STORAGE, ns)
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    ContainerDefaults::from_limit_ranges(&ranges)
}

/// The status the quota controller would write.
pub fn status(st: &State, ns: &str, quota: &Value, defaults: &ContainerDefaults) -> Value {
    let hard: Map<String, Value> = hard(quota)
        .into_iter()
        .map(|(k, q)| (k, Value::from(q.to_string())))
        .collect();
    let used: Map<String, Value> = used(st, ns, quota, defaults)
        .into_iter()
        .map(|(k, q)| (k, Value::from(q.to_string())))
        .collect();
    json!({"hard": hard, "used": used})
}

fn pretty(u: &Usage) -> String {
    u.iter()
        .map(|(k, q)| format!("{k}={q}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `must specify limits.cpu for: app; requests.cpu for: app,init` (containers without it).
fn constraints(required: &BTreeSet<&str>, spec: &Value) -> Option<String> {
    let mut missing: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for c in ["containers", "initContainers"]
        .iter()
        .flat_map(|l| spec[*l].as_array().into_iter().flatten())
    {
        let res = &c["resources"];
        let has = |k: &str| match k.split_once('.') {
            Some(("requests", r)) => !res["requests"][r].is_null(),
            Some(("limits", r)) => !res["limits"][r].is_null(),
            _ => !res["requests"][k].is_null(),
        };
        for r in required.iter().filter(|r| !has(r)) {
            let name = c["name"].as_str().unwrap_or_default().to_string();
            missing.entry(r).or_default().insert(name);
        }
    }
    (!missing.is_empty()).then(|| {
        let parts: Vec<String> = missing
            .iter()
            .map(|(r, names)| {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                format!("{r} for: {}", names.join(","))
            })
            .collect();
        format!("must specify {}", parts.join("; "))
    })
}

/// Admission of a create (`old` = None) or update in a namespace with quotas.
pub fn admit(
    st: &State,
    defaults: &ContainerDefaults,
    storage: &str,
    target: Target,
    ns: &str,
    new: &Value,
    old: Option<&Value>,
) -> ApiResult<()> {
    let quotas = objects(st, QUOTA_STORAGE, ns);
    if quotas.is_empty() {
        return Ok(());
    }
    let changes_usage = storage == "/services"
        || storage == "/persistentvolumeclaims"
        || WORKLOADS.contains(&storage);
    // Object counts change on create only (upstream's generic evaluator handles creates).
    if old.is_some() && !changes_usage {
        return Ok(());
    }
    let shape = pod_shape(storage, new);
    let admitted = admitted_spec(&shape, defaults);
    let old_shape = old.and_then(|o| pod_shape(storage, o));
    if let (Some(a), Some(b)) = (&shape, &old_shape)
        && a.spec == b.spec
        && a.pods == b.pods
    {
        return Ok(()); // the pods it stands for are unchanged
    }
    let mut interesting = Vec::new();
    for (qname, q) in &quotas {
        let hard = hard(q);
        let matching: BTreeSet<&str> = hard
            .keys()
            .map(String::as_str)
            .filter(|k| tracks(storage, k))
            .collect();
        if matching.is_empty() || !matches_scopes(q, admitted.as_ref()) {
            continue;
        }
        if let (Some(spec), Some(s)) = (&admitted, &shape)
            && s.pods > 0
        {
            let required: BTreeSet<&str> = matching
                .iter()
                .copied()
                .filter(|k| VALIDATION.contains(k))
                .collect();
            if let Some(why) = constraints(&required, spec) {
                return Err(ApiError::forbidden(
                    target,
                    &format!("failed quota: {qname}: {why}"),
                ));
            }
        }
        interesting.push((qname, q, hard));
    }
    let input = usage(storage, new, defaults);
    let prev = old.map(|o| usage(storage, o, defaults));
    let mut delta: Usage = input
        .iter()
        .map(|(k, q)| {
            let before = prev.as_ref().and_then(|p| p.get(k).copied());
            (k.clone(), before.map_or(*q, |b| q.sub_floor(b)))
        })
        .collect();
    delta.retain(|_, q| !q.is_zero());
    for (qname, q, hard) in interesting {
        let requested: Usage = delta
            .iter()
            .filter(|(k, _)| hard.contains_key(*k))
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        if requested.is_empty() {
            continue;
        }
        let used = used(st, ns, q, defaults);
        let exceeded: Vec<&String> = requested
            .iter()
            .filter(|(k, r)| {
                let now = used.get(*k).copied().unwrap_or_else(Quantity::zero);
                now.add(**r) > hard[*k]
            })
            .map(|(k, _)| k)
            .collect();
        if exceeded.is_empty() {
            continue;
        }
        let mask = |u: &Usage| -> Usage {
            exceeded
                .iter()
                .map(|k| {
                    (
                        k.to_string(),
                        u.get(*k).copied().unwrap_or_else(Quantity::zero),
                    )
                })
                .collect()
        };
        return Err(ApiError::forbidden(
            target,
            &format!(
                "exceeded quota: {qname}, requested: {}, used: {}, limited: {}",
                pretty(&mask(&requested)),
                pretty(&mask(&used)),
                pretty(&mask(&hard))
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn must_specify_names_every_container_missing_each_resource() {
        let spec = json!({
            "initContainers": [{"name": "init"}],
            "containers": [{"name": "b", "resources": {"limits": {"cpu": "1"}}}, {"name": "a"}],
        });
        let required: BTreeSet<&str> = ["limits.cpu", "requests.memory"].into();
        assert_eq!(
            constraints(&required, &spec).unwrap(),
            "must specify limits.cpu for: a,init; requests.memory for: a,b,init"
        );
        let q = Quantity::parse;
        let used: Usage = [("cpu".to_string(), q("1500m").unwrap())].into();
        assert_eq!(pretty(&used), "cpu=1500m");
    }
}
