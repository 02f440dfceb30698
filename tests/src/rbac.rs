//! Does the chart's RBAC cover what the operator really does? The rules are read from the
//! rendered chart; the requests come from the development cluster's request log. The matching
//! follows Kubernetes' RBAC authorizer (`pkg/apis/rbac/v1/evaluation_helpers.go`): wildcards,
//! `resource/subresource`, `*/subresource`, `resourceNames`, non-resource URLs with a trailing
//! `*`, and a Role or RoleBinding that grants only within its namespace.

use serde::Deserialize;
use serde_json::Value;
use std::fmt;

/// One rule of a Role or ClusterRole (`rbac.authorization.k8s.io/v1` PolicyRule).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default)]
    pub api_groups: Vec<String>,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub resource_names: Vec<String>,
    #[serde(default, rename = "nonResourceURLs")]
    pub non_resource_urls: Vec<String>,
}

/// Where a set of rules applies: everywhere (a ClusterRole through a ClusterRoleBinding) or in
/// one namespace (a Role, or a ClusterRole through a RoleBinding).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    Cluster,
    Namespace(String),
}

/// Rules granted to a subject within a scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub scope: Scope,
    pub rules: Vec<PolicyRule>,
}

/// A request as the authorizer sees it: RBAC verb (`get`, `list`, `watch`, `create`, `update`,
/// `patch`, `delete`, `deletecollection`), API group (`""` for core), resource, subresource
/// (`""` when none), namespace (`None` for cluster-scoped objects and for lists across all
/// namespaces) and object name (`None` for lists and creates). A non-resource request
/// (`/apis`, `/version`) has an empty resource and its URL path in `path`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    pub verb: String,
    pub api_group: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub path: Option<String>,
}

impl Request {
    /// A resource request; refine it with [`Request::subresource`], [`Request::ns`], [`Request::named`].
    pub fn new(verb: &str, api_group: &str, resource: &str) -> Request {
        Request {
            verb: verb.to_owned(),
            api_group: api_group.to_owned(),
            resource: resource.to_owned(),
            ..Request::default()
        }
    }

    /// A non-resource request (`get /apis`).
    pub fn non_resource(verb: &str, path: &str) -> Request {
        Request {
            verb: verb.to_owned(),
            path: Some(path.to_owned()),
            ..Request::default()
        }
    }

    pub fn subresource(mut self, subresource: &str) -> Request {
        self.subresource = subresource.to_owned();
        self
    }

    pub fn ns(mut self, namespace: &str) -> Request {
        self.namespace = Some(namespace.to_owned());
        self
    }

    pub fn named(mut self, name: &str) -> Request {
        self.name = Some(name.to_owned());
        self
    }

    fn is_resource_request(&self) -> bool {
        self.path.is_none() || !self.resource.is_empty()
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.is_resource_request() {
            return write!(f, "{} {}", self.verb, self.path.as_deref().unwrap_or(""));
        }
        let group = if self.api_group.is_empty() {
            "core"
        } else {
            &self.api_group
        };
        write!(f, "{} {}/{}", self.verb, group, self.resource)?;
        if !self.subresource.is_empty() {
            write!(f, "/{}", self.subresource)?;
        }
        if let Some(ns) = &self.namespace {
            write!(f, " in namespace {ns}")?;
        }
        if let Some(name) = &self.name {
            write!(f, " named {name}")?;
        }
        Ok(())
    }
}

/// What every authenticated identity may do through the API server's default bindings
/// (`system:discovery`, `system:basic-user`, `system:public-info-viewer`): discovery, health and
/// version, and reviews of its own access. The operator needs no rule for these.
pub fn authenticated_defaults() -> Grant {
    let rule = |verbs: &[&str], group: &str, resources: &[&str]| PolicyRule {
        verbs: strings(verbs),
        api_groups: strings(&[group]),
        resources: strings(resources),
        ..PolicyRule::default()
    };
    Grant {
        scope: Scope::Cluster,
        rules: vec![
            PolicyRule {
                verbs: strings(&["get"]),
                non_resource_urls: strings(&[
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/readyz",
                    "/version",
                    "/version/",
                    "/openapi",
                    "/openapi/*",
                ]),
                ..PolicyRule::default()
            },
            rule(
                &["create"],
                "authorization.k8s.io",
                &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
            ),
            rule(
                &["create"],
                "authentication.k8s.io",
                &["selfsubjectreviews"],
            ),
        ],
    }
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

/// The grants a ServiceAccount receives from rendered manifests: every ClusterRoleBinding and
/// RoleBinding naming it, resolved to the rules of the (Cluster)Role it references. A binding
/// to a role absent from the manifests grants nothing here (the chart must carry its roles).
pub fn grants_for_service_account(objects: &[Value], namespace: &str, name: &str) -> Vec<Grant> {
    let binds_it = |binding: &Value| {
        binding["subjects"].as_array().is_some_and(|subjects| {
            subjects.iter().any(|s| {
                s["kind"] == "ServiceAccount" && s["name"] == name && s["namespace"] == namespace
            })
        })
    };
    let rules_of = |kind: &str, role: &str, role_namespace: Option<&str>| -> Vec<PolicyRule> {
        objects
            .iter()
            .filter(|o| o["kind"] == kind && o["metadata"]["name"] == role)
            .filter(|o| role_namespace.is_none_or(|ns| o["metadata"]["namespace"] == ns))
            .flat_map(|o| {
                serde_json::from_value::<Vec<PolicyRule>>(o["rules"].clone())
                    .unwrap_or_else(|e| panic!("rules of {kind}/{role} do not parse: {e}"))
            })
            .collect()
    };
    let mut grants = Vec::new();
    for binding in objects.iter().filter(|o| binds_it(o)) {
        let role_kind = binding["roleRef"]["kind"].as_str().unwrap_or("");
        let role_name = binding["roleRef"]["name"].as_str().unwrap_or("");
        match binding["kind"].as_str() {
            Some("ClusterRoleBinding") if role_kind == "ClusterRole" => grants.push(Grant {
                scope: Scope::Cluster,
                rules: rules_of("ClusterRole", role_name, None),
            }),
            Some("RoleBinding") => {
                let binding_ns = binding["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                let rules = match role_kind {
                    "Role" => rules_of("Role", role_name, Some(&binding_ns)),
                    "ClusterRole" => rules_of("ClusterRole", role_name, None),
                    _ => Vec::new(),
                };
                grants.push(Grant {
                    scope: Scope::Namespace(binding_ns),
                    rules,
                });
            }
            _ => {}
        }
    }
    grants
}

/// The requests no grant allows (the authenticated defaults always apply), in their order.
/// An empty result means the RBAC covers everything the operator did.
pub fn uncovered<'a>(grants: &[Grant], requests: &'a [Request]) -> Vec<&'a Request> {
    let defaults = authenticated_defaults();
    requests
        .iter()
        .filter(|r| !allows(&defaults, r) && !grants.iter().any(|g| allows(g, r)))
        .collect()
}

/// Whether one grant allows one request.
pub fn allows(grant: &Grant, request: &Request) -> bool {
    if !request.is_resource_request() {
        // Non-resource URLs can only be granted cluster-wide.
        return grant.scope == Scope::Cluster
            && grant
                .rules
                .iter()
                .any(|rule| non_resource_rule_allows(rule, request));
    }
    if let Scope::Namespace(ns) = &grant.scope
        && request.namespace.as_deref() != Some(ns.as_str())
    {
        return false;
    }
    grant
        .rules
        .iter()
        .any(|rule| resource_rule_allows(rule, request))
}

fn resource_rule_allows(rule: &PolicyRule, request: &Request) -> bool {
    let combined = if request.subresource.is_empty() {
        request.resource.clone()
    } else {
        format!("{}/{}", request.resource, request.subresource)
    };
    let verb = rule.verbs.iter().any(|v| v == "*" || *v == request.verb);
    let group = rule
        .api_groups
        .iter()
        .any(|g| g == "*" || *g == request.api_group);
    let resource = rule.resources.iter().any(|r| {
        r == "*"
            || *r == combined
            || (!request.subresource.is_empty() && *r == format!("*/{}", request.subresource))
    });
    // resourceNames restrict a rule to named objects: a list, a watch or a create has no name
    // and is therefore not allowed by such a rule.
    let name = rule.resource_names.is_empty()
        || request
            .name
            .as_ref()
            .is_some_and(|n| rule.resource_names.contains(n));
    verb && group && resource && name
}

fn non_resource_rule_allows(rule: &PolicyRule, request: &Request) -> bool {
    let path = request.path.as_deref().unwrap_or("");
    let verb = rule.verbs.iter().any(|v| v == "*" || *v == request.verb);
    let url = rule.non_resource_urls.iter().any(|u| {
        u == "*"
            || u == path
            || u.strip_suffix('*')
                .is_some_and(|prefix| path.starts_with(prefix))
    });
    verb && url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
        PolicyRule {
            verbs: strings(verbs),
            api_groups: strings(groups),
            resources: strings(resources),
            ..PolicyRule::default()
        }
    }

    fn grants() -> Vec<Grant> {
        vec![
            Grant {
                scope: Scope::Cluster,
                rules: vec![
                    rule(
                        &["get", "list", "watch", "patch"],
                        &["mutualis.io"],
                        &["tenants"],
                    ),
                    rule(&["patch"], &["mutualis.io"], &["tenants/status"]),
                    rule(&["get"], &["apps"], &["*/scale"]),
                    PolicyRule {
                        resource_names: strings(&["cluster-info"]),
                        ..rule(&["get"], &[""], &["configmaps"])
                    },
                ],
            },
            Grant {
                scope: Scope::Namespace("ops".into()),
                rules: vec![rule(
                    &["get", "create", "update"],
                    &["coordination.k8s.io"],
                    &["leases"],
                )],
            },
        ]
    }

    #[test]
    fn covers_what_the_rules_grant() {
        let requests = [
            Request::new("watch", "mutualis.io", "tenants"),
            Request::new("patch", "mutualis.io", "tenants").named("coteaux"),
            Request::new("patch", "mutualis.io", "tenants")
                .subresource("status")
                .named("coteaux"),
            Request::new("get", "apps", "deployments")
                .subresource("scale")
                .ns("t")
                .named("web"),
            Request::new("get", "", "configmaps")
                .ns("kube-public")
                .named("cluster-info"),
            Request::new("update", "coordination.k8s.io", "leases")
                .ns("ops")
                .named("mutualis-leader"),
            Request::non_resource("get", "/apis/mutualis.io/v1alpha1"),
            Request::non_resource("get", "/version"),
            Request::new("create", "authorization.k8s.io", "selfsubjectaccessreviews"),
        ];
        let missing = uncovered(&grants(), &requests);
        assert!(missing.is_empty(), "should be covered: {missing:?}");
    }

    #[test]
    fn reports_what_the_rules_do_not_grant() {
        let requests = vec![
            // a verb the rule does not list
            Request::new("delete", "mutualis.io", "tenants").named("coteaux"),
            // a subresource is not covered by its parent resource
            Request::new("update", "mutualis.io", "tenants")
                .subresource("status")
                .named("coteaux"),
            Request::new("update", "mutualis.io", "tenants")
                .subresource("finalizers")
                .named("coteaux"),
            // same resource name, other group
            Request::new("get", "extensions", "deployments")
                .subresource("scale")
                .ns("t")
                .named("web"),
            // resourceNames restrict: other names and unnamed lists are refused
            Request::new("get", "", "configmaps")
                .ns("kube-public")
                .named("other"),
            Request::new("list", "", "configmaps").ns("kube-public"),
            // a Role grants only in its namespace, and never across all namespaces
            Request::new("get", "coordination.k8s.io", "leases")
                .ns("kube-system")
                .named("mutualis-leader"),
            Request::new("list", "coordination.k8s.io", "leases"),
            Request::new("delete", "coordination.k8s.io", "leases")
                .ns("ops")
                .named("mutualis-leader"),
            // non-resource URLs beyond discovery
            Request::non_resource("get", "/metrics"),
            Request::non_resource("post", "/apis"),
        ];
        let missing = uncovered(&grants(), &requests);
        let expected: Vec<&Request> = requests.iter().collect();
        assert_eq!(missing, expected);
    }

    #[test]
    fn wildcards_match_everything_of_their_field() {
        let grant = Grant {
            scope: Scope::Cluster,
            rules: vec![rule(&["*"], &["*"], &["*"])],
        };
        assert!(allows(
            &grant,
            &Request::new("deletecollection", "batch", "jobs").ns("x")
        ));
        assert!(allows(
            &grant,
            &Request::new("get", "", "pods")
                .subresource("log")
                .ns("x")
                .named("p")
        ));
        assert!(
            !allows(&grant, &Request::non_resource("get", "/metrics")),
            "resource rules grant no URL"
        );
    }

    #[test]
    fn reads_grants_from_rendered_bindings() {
        let objects: Vec<Value> = serde_json::from_str(
            r#"[
              {"kind": "ClusterRole", "metadata": {"name": "op"},
               "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]},
              {"kind": "ClusterRoleBinding", "metadata": {"name": "op"},
               "roleRef": {"kind": "ClusterRole", "name": "op"},
               "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": "ops"}]},
              {"kind": "Role", "metadata": {"name": "le", "namespace": "ops"},
               "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get"]}]},
              {"kind": "RoleBinding", "metadata": {"name": "le", "namespace": "ops"},
               "roleRef": {"kind": "Role", "name": "le"},
               "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": "ops"}]},
              {"kind": "ClusterRoleBinding", "metadata": {"name": "someone-else"},
               "roleRef": {"kind": "ClusterRole", "name": "op"},
               "subjects": [{"kind": "ServiceAccount", "name": "other", "namespace": "ops"}]}
            ]"#,
        )
        .unwrap();
        let grants = grants_for_service_account(&objects, "ops", "op");
        assert_eq!(grants.len(), 2);
        assert_eq!(grants[1].scope, Scope::Namespace("ops".into()));
        let lease = Request::new("get", "coordination.k8s.io", "leases").named("l");
        assert!(uncovered(&grants, &[lease.clone().ns("ops")]).is_empty());
        assert_eq!(uncovered(&grants, &[lease.clone().ns("default")]).len(), 1);
        assert!(grants_for_service_account(&objects, "ops", "nobody").is_empty());
        assert!(grants_for_service_account(&objects, "default", "op").is_empty());
    }
}
