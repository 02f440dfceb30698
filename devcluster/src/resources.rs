//! The resource registry: built-in kinds the operator uses, plus every version of every
//! established CRD. Discovery, OpenAPI, routing and storage all read from here, so a CRD is
//! served everywhere at once.

use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One printer column of a server-side Table.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
}

/// A served group/version/resource.
#[derive(Debug, Clone)]
pub struct ResourceDef {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub status: bool,
    /// Whether `metadata.generation` is maintained (CRs and spec-bearing built-ins).
    pub generation: bool,
    /// Built-ins accept strategic merge patch; custom resources answer 415, as the real server.
    pub builtin: bool,
    /// The storage key: versions of one resource share objects; both event APIs share one store.
    pub storage: Arc<str>,
    pub columns: Vec<Column>,
    /// `openAPIV3Schema` of the CRD version; `None` for built-ins.
    pub schema: Option<Arc<Value>>,
    /// CRD `x-kubernetes-validations`-bearing schema is the same value; kept for clarity.
    pub crd: Option<String>,
}

impl ResourceDef {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// The URL prefix of this group/version: `/api/v1` or `/apis/g/v`.
    pub fn gv_path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    pub fn verbs(&self) -> Vec<&'static str> {
        vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }
}

struct Builtin {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    status: bool,
    generation: bool,
    all: bool,
}

#[allow(clippy::too_many_arguments)]
const fn b(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    status: bool,
    generation: bool,
    all: bool,
) -> Builtin {
    Builtin {
        group,
        version,
        plural,
        kind,
        namespaced,
        short,
        status,
        generation,
        all,
    }
}

/// The built-in kinds from the issue, plus pods and storage classes that kubectl users reach for.
// group, version, plural, kind, namespaced, short names, status subresource, generation, in "all"
#[rustfmt::skip]
const BUILTINS: &[Builtin] = &[
    b("", "v1", "namespaces", "Namespace", false, &["ns"], true, false, false),
    b("", "v1", "configmaps", "ConfigMap", true, &["cm"], false, false, false),
    b("", "v1", "secrets", "Secret", true, &[], false, false, false),
    b("", "v1", "services", "Service", true, &["svc"], true, false, true),
    b("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", true, &["pvc"], true, false, false),
    b("", "v1", "serviceaccounts", "ServiceAccount", true, &["sa"], false, false, false),
    b("", "v1", "resourcequotas", "ResourceQuota", true, &["quota"], true, false, false),
    b("", "v1", "limitranges", "LimitRange", true, &["limits"], false, false, false),
    b("", "v1", "events", "Event", true, &["ev"], false, false, false),
    b("", "v1", "pods", "Pod", true, &["po"], true, false, true),
    b("apps", "v1", "deployments", "Deployment", true, &["deploy"], true, true, true),
    b("apps", "v1", "statefulsets", "StatefulSet", true, &["sts"], true, true, true),
    b("batch", "v1", "jobs", "Job", true, &[], true, true, true),
    b("batch", "v1", "cronjobs", "CronJob", true, &["cj"], true, true, true),
    b("networking.k8s.io", "v1", "ingresses", "Ingress", true, &["ing"], true, true, false),
    b("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true, &["netpol"], false, true, false),
    b("rbac.authorization.k8s.io", "v1", "roles", "Role", true, &[], false, false, false),
    b("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true, &[], false, false, false),
    b("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false, &[], false, false, false),
    b("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", false, &[], false, false, false),
    b("coordination.k8s.io", "v1", "leases", "Lease", true, &[], false, false, false),
    b("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true, &["pdb"], true, true, false),
    b("events.k8s.io", "v1", "events", "Event", true, &["ev"], false, false, false),
    b("storage.k8s.io", "v1", "storageclasses", "StorageClass", false, &["sc"], false, false, false),
    b("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", false, &["crd", "crds"], true, true, false),
];

/// Where the core event store lives; `events.k8s.io` events are a projection of it.
pub const EVENTS_STORAGE: &str = "/events";
pub const CRD_STORAGE: &str = "apiextensions.k8s.io/customresourcedefinitions";
pub const NAMESPACE_STORAGE: &str = "/namespaces";

pub fn storage_key(group: &str, plural: &str) -> Arc<str> {
    if plural == "events" {
        return Arc::from(EVENTS_STORAGE);
    }
    Arc::from(format!("{group}/{plural}"))
}

/// All served resources, keyed by (group, version, plural).
#[derive(Debug, Clone, Default)]
pub struct Registry {
    defs: BTreeMap<(String, String, String), Arc<ResourceDef>>,
    /// Bumped whenever the set of served resources changes; feeds the OpenAPI hashes.
    pub epoch: u64,
}

impl Registry {
    pub fn with_builtins() -> Self {
        let mut r = Self::default();
        for x in BUILTINS {
            let singular = x.kind.to_ascii_lowercase();
            r.insert(ResourceDef {
                group: x.group.into(),
                version: x.version.into(),
                plural: x.plural.into(),
                singular,
                kind: x.kind.into(),
                namespaced: x.namespaced,
                short_names: x.short.iter().map(|s| s.to_string()).collect(),
                categories: if x.all { vec!["all".into()] } else { vec![] },
                status: x.status,
                generation: x.generation,
                builtin: true,
                storage: storage_key(x.group, x.plural),
                columns: crate::table::builtin_columns(x.plural),
                schema: None,
                crd: None,
            });
        }
        r
    }

    pub fn insert(&mut self, def: ResourceDef) {
        self.defs.insert(
            (def.group.clone(), def.version.clone(), def.plural.clone()),
            Arc::new(def),
        );
        self.epoch += 1;
    }

    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        self.defs
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<ResourceDef>> {
        self.defs.values()
    }

    /// Served versions of a group, in order of appearance.
    pub fn group_versions(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for d in self.defs.values() {
            let v = out.entry(d.group.clone()).or_default();
            if !v.contains(&d.version) {
                v.push(d.version.clone());
            }
        }
        out
    }

    pub fn in_group_version(&self, group: &str, version: &str) -> Vec<Arc<ResourceDef>> {
        self.defs
            .values()
            .filter(|d| d.group == group && d.version == version)
            .cloned()
            .collect()
    }

    /// Whether some version of the CRD named `crd_name` is served.
    pub fn serves_crd(&self, crd_name: &str) -> bool {
        self.defs
            .values()
            .any(|d| d.crd.as_deref() == Some(crd_name))
    }

    /// Removes every version served by one CRD.
    pub fn remove_crd(&mut self, crd_name: &str) {
        self.defs.retain(|_, d| d.crd.as_deref() != Some(crd_name));
        self.epoch += 1;
    }

    /// Any served version of a storage key (used to rebuild objects for GC and namespace cleanup).
    pub fn by_storage(&self, storage: &str) -> Option<Arc<ResourceDef>> {
        self.defs
            .values()
            .find(|d| {
                &*d.storage == storage && !(d.plural == "events" && d.group == "events.k8s.io")
            })
            .or_else(|| self.defs.values().find(|d| &*d.storage == storage))
            .cloned()
    }
}
