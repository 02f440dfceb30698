//! Quota scopes (`spec.scopes`, `spec.scopeSelector`): which pods a scoped quota counts.
//! Anything that is not a pod never matches a scoped quota, as upstream's evaluators say.

use serde_json::Value;

/// A scoped quota only matches pods, and only those its scopes select.
pub fn matches_scopes(quota: &Value, pod: Option<&Value>) -> bool {
    let mut sels: Vec<(String, String, Vec<String>)> = quota["spec"]["scopes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| Some((s.as_str()?.to_string(), "Exists".into(), vec![])))
        .collect();
    for e in quota["spec"]["scopeSelector"]["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let values = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        let field = |k: &str| e[k].as_str().unwrap_or_default().to_string();
        sels.push((field("scopeName"), field("operator"), values));
    }
    if sels.is_empty() {
        return true;
    }
    let Some(spec) = pod else { return false };
    sels.iter()
        .all(|(scope, op, values)| scope_matches(spec, scope, op, values))
}

fn scope_matches(spec: &Value, scope: &str, op: &str, values: &[String]) -> bool {
    let terminating = spec["activeDeadlineSeconds"]
        .as_i64()
        .is_some_and(|s| s >= 0);
    let best_effort = ["containers", "initContainers"].iter().all(|l| {
        spec[*l].as_array().into_iter().flatten().all(|c| {
            ["requests", "limits"].iter().all(|f| {
                let m = &c["resources"][*f];
                m["cpu"].is_null() && m["memory"].is_null()
            })
        })
    });
    match scope {
        "Terminating" => terminating,
        "NotTerminating" => !terminating,
        "BestEffort" => best_effort,
        "NotBestEffort" => !best_effort,
        "PriorityClass" => {
            let pc = spec["priorityClassName"].as_str().unwrap_or_default();
            match op {
                "Exists" => !pc.is_empty(),
                "DoesNotExist" => pc.is_empty(),
                "In" => !pc.is_empty() && values.iter().any(|v| v == pc),
                "NotIn" => pc.is_empty() || values.iter().all(|v| v != pc),
                _ => false,
            }
        }
        "CrossNamespacePodAffinity" => ["podAffinity", "podAntiAffinity"].iter().any(|a| {
            let terms = &spec["affinity"][*a];
            let req = terms["requiredDuringSchedulingIgnoredDuringExecution"].as_array();
            let pref = terms["preferredDuringSchedulingIgnoredDuringExecution"].as_array();
            req.into_iter().flatten().any(cross_ns)
                || pref
                    .into_iter()
                    .flatten()
                    .any(|w| cross_ns(&w["podAffinityTerm"]))
        }),
        _ => false,
    }
}

fn cross_ns(term: &Value) -> bool {
    term["namespaces"].as_array().is_some_and(|a| !a.is_empty())
        || !term["namespaceSelector"].is_null()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scopes_select_pods_only() {
        let best_effort = json!({"spec": {"scopes": ["BestEffort"]}});
        let bare = json!({"containers": [{"name": "a"}]});
        let sized = json!({"containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}]});
        assert!(matches_scopes(&best_effort, Some(&bare)));
        assert!(!matches_scopes(&best_effort, Some(&sized)));
        assert!(
            !matches_scopes(&best_effort, None),
            "a Service never matches a scoped quota"
        );
        let pc = json!({"spec": {"scopeSelector": {"matchExpressions": [
            {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]}}});
        let high = json!({"priorityClassName": "high", "containers": []});
        assert!(matches_scopes(&pc, Some(&high)));
        assert!(!matches_scopes(&pc, Some(&bare)));
        assert!(
            matches_scopes(&json!({"spec": {}}), None),
            "unscoped matches everything"
        );
    }
}
