//! Discovery: aggregated (`apidiscovery.k8s.io` v2 and v2beta1, content-negotiated) and legacy
//! (`APIVersions`, `APIGroupList`, `APIResourceList`). kubectl 1.29 asks only for v2beta1, so a
//! server must answer with what was asked for, or fall back to legacy JSON.

use crate::resources::{Registry, ResourceDef};
use serde_json::{Value, json};
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    V2,
    V2Beta1,
    Legacy,
}

impl Flavor {
    pub fn from_accept(accept: &str) -> Self {
        let wants = |v: &str| {
            accept.split(',').any(|r| {
                let params: Vec<&str> = r.split(';').map(str::trim).collect();
                params.contains(&"g=apidiscovery.k8s.io")
                    && params.contains(&format!("v={v}").as_str())
                    && params.contains(&"as=APIGroupDiscoveryList")
            })
        };
        if wants("v2") {
            Self::V2
        } else if wants("v2beta1") {
            Self::V2Beta1
        } else {
            Self::Legacy
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::V2 => "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
            Self::V2Beta1 => {
                "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
            }
            Self::Legacy => "application/json",
        }
    }

    fn api_version(self) -> &'static str {
        if self == Self::V2Beta1 {
            "apidiscovery.k8s.io/v2beta1"
        } else {
            "apidiscovery.k8s.io/v2"
        }
    }
}

/// Kubernetes version priority: GA before beta before alpha, higher numbers first.
pub fn version_order(a: &str, b: &str) -> Ordering {
    fn rank(v: &str) -> (u8, u64, u64) {
        let Some(rest) = v.strip_prefix('v') else {
            return (0, 0, 0);
        };
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let major = digits.parse().unwrap_or(0);
        let tail = &rest[digits.len()..];
        let (stage, n) = if tail.is_empty() {
            (3, 0)
        } else if let Some(b) = tail.strip_prefix("beta") {
            (2, b.parse().unwrap_or(0))
        } else if let Some(a) = tail.strip_prefix("alpha") {
            (1, a.parse().unwrap_or(0))
        } else {
            (0, 0)
        };
        (stage, major, n)
    }
    rank(b).cmp(&rank(a)).then_with(|| a.cmp(b))
}

fn sorted_versions(reg: &Registry, group: &str) -> Vec<String> {
    let mut v = reg.group_versions().remove(group).unwrap_or_default();
    v.sort_by(|a, b| version_order(a, b));
    v
}

fn resource_entry(d: &ResourceDef) -> Value {
    let rk = json!({"group": d.group, "version": d.version, "kind": d.kind});
    let mut r = json!({
        "resource": d.plural,
        "responseKind": rk,
        "scope": if d.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": d.singular,
        "verbs": d.verbs(),
    });
    if !d.short_names.is_empty() {
        r["shortNames"] = json!(d.short_names);
    }
    if !d.categories.is_empty() {
        r["categories"] = json!(d.categories);
    }
    let mut subs = Vec::new();
    if d.status {
        subs.push(json!({"subresource": "status", "responseKind": rk, "verbs": ["get", "patch", "update"]}));
    }
    if crate::scale::scalable(d) {
        subs.push(json!({"subresource": "scale", "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}, "verbs": ["get", "patch", "update"]}));
    }
    if !subs.is_empty() {
        r["subresources"] = Value::Array(subs);
    }
    r
}

/// `GET /api` (core = true) or `GET /apis` in the aggregated form.
pub fn aggregated(reg: &Registry, core: bool, flavor: Flavor) -> Value {
    let mut groups: Vec<String> = reg
        .group_versions()
        .into_keys()
        .filter(|g| g.is_empty() == core)
        .collect();
    groups.sort();
    let items: Vec<Value> = groups
        .iter()
        .map(|g| {
            let versions: Vec<Value> = sorted_versions(reg, g)
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = reg
                        .in_group_version(g, v)
                        .iter()
                        .map(|d| resource_entry(d))
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            let mut meta = json!({"creationTimestamp": null});
            if !g.is_empty() {
                meta["name"] = Value::from(g.clone());
            }
            json!({"metadata": meta, "versions": versions})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": flavor.api_version(), "metadata": {}, "items": items})
}

pub fn api_versions(addr: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr}]})
}

fn group_entry(reg: &Registry, g: &str) -> Value {
    let versions: Vec<Value> = sorted_versions(reg, g)
        .iter()
        .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    json!({"name": g, "versions": versions, "preferredVersion": versions.first().cloned().unwrap_or(Value::Null)})
}

pub fn group_list(reg: &Registry) -> Value {
    let groups: Vec<Value> = reg
        .group_versions()
        .keys()
        .filter(|g| !g.is_empty())
        .map(|g| group_entry(reg, g))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn group(reg: &Registry, g: &str) -> Option<Value> {
    reg.group_versions().contains_key(g).then(|| {
        let mut e = group_entry(reg, g);
        e["kind"] = "APIGroup".into();
        e["apiVersion"] = "v1".into();
        e
    })
}

pub fn resource_list(reg: &Registry, g: &str, v: &str) -> Option<Value> {
    let defs = reg.in_group_version(g, v);
    if defs.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for d in &defs {
        let mut r = json!({"name": d.plural, "singularName": d.singular, "namespaced": d.namespaced, "kind": d.kind, "verbs": d.verbs()});
        if !d.short_names.is_empty() {
            r["shortNames"] = json!(d.short_names);
        }
        if !d.categories.is_empty() {
            r["categories"] = json!(d.categories);
        }
        resources.push(r);
        if d.status {
            resources.push(json!({"name": format!("{}/status", d.plural), "singularName": "", "namespaced": d.namespaced, "kind": d.kind, "verbs": ["get", "patch", "update"]}));
        }
        if crate::scale::scalable(d) {
            resources.push(json!({"name": format!("{}/scale", d.plural), "singularName": "", "namespaced": d.namespaced, "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
        }
    }
    let gv = if g.is_empty() {
        v.to_string()
    } else {
        format!("{g}/{v}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_accept() {
        let both = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(Flavor::from_accept(both), Flavor::V2);
        assert_eq!(
            Flavor::from_accept(
                "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
            ),
            Flavor::V2Beta1
        );
        assert_eq!(Flavor::from_accept("application/json, */*"), Flavor::Legacy);
        assert_eq!(Flavor::from_accept(""), Flavor::Legacy);
    }

    #[test]
    fn version_priority() {
        let mut v = vec!["v1alpha1", "v1beta1", "v2", "v1", "v1beta2"];
        v.sort_by(|a, b| version_order(a, b));
        assert_eq!(v, vec!["v2", "v1", "v1beta2", "v1beta1", "v1alpha1"]);
    }
}
