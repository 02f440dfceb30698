//! The objects a plan holds: typed Kubernetes objects in apply order, each labelled as ours.
//! Kept typed (not `DynamicObject`) so building stays cheap; [`Object::to_dynamic`] gives the
//! dynamic form when an apply step wants one.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{
    ConfigMap, LimitRange, Namespace, PersistentVolumeClaim, ResourceQuota, Service as KubeService,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde::Serialize;

use super::certificate::Certificate;
use crate::api::Service;
use crate::api::k8up::Schedule as K8upSchedule;

/// One Kubernetes object of a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
// Boxed: a Deployment is kilobytes, and a plan's objects are pushed and sorted by moving.
pub enum Object {
    Namespace(Box<Namespace>),
    ResourceQuota(Box<ResourceQuota>),
    LimitRange(Box<LimitRange>),
    NetworkPolicy(Box<NetworkPolicy>),
    Role(Box<Role>),
    RoleBinding(Box<RoleBinding>),
    ConfigMap(Box<ConfigMap>),
    Certificate(Box<Certificate>),
    PersistentVolumeClaim(Box<PersistentVolumeClaim>),
    Service(Box<KubeService>),
    Deployment(Box<Deployment>),
    Ingress(Box<Ingress>),
    CronJob(Box<CronJob>),
    K8upSchedule(Box<K8upSchedule>),
}

macro_rules! each {
    ($self:expr, $o:ident => $e:expr) => {
        match $self {
            Object::Namespace($o) => $e,
            Object::ResourceQuota($o) => $e,
            Object::LimitRange($o) => $e,
            Object::NetworkPolicy($o) => $e,
            Object::Role($o) => $e,
            Object::RoleBinding($o) => $e,
            Object::ConfigMap($o) => $e,
            Object::Certificate($o) => $e,
            Object::PersistentVolumeClaim($o) => $e,
            Object::Service($o) => $e,
            Object::Deployment($o) => $e,
            Object::Ingress($o) => $e,
            Object::CronJob($o) => $e,
            Object::K8upSchedule($o) => $e,
        }
    };
}

fn gvk<K: k8s_openapi::Resource>(_: &K) -> (&'static str, &'static str, &'static str) {
    (K::GROUP, K::VERSION, K::KIND)
}

impl Object {
    pub fn metadata(&self) -> &ObjectMeta {
        each!(self, o => &o.metadata)
    }

    /// Mutable metadata, for the apply step to add owner references.
    pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
        each!(self, o => &mut o.metadata)
    }

    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }

    pub fn namespace(&self) -> Option<&str> {
        self.metadata().namespace.as_deref()
    }

    /// `Kind`, e.g. `Deployment`.
    pub fn kind(&self) -> &'static str {
        each!(self, o => gvk(&**o).2)
    }

    /// Group, version and kind.
    pub fn gvk(&self) -> GroupVersionKind {
        let (g, v, k) = each!(self, o => gvk(&**o));
        GroupVersionKind::gvk(g, v, k)
    }

    /// The API resource (plural, scope) to address this object with a dynamic `Api`.
    pub fn api_resource(&self) -> ApiResource {
        each!(self, o => api_resource_of(&**o))
    }

    /// The object as JSON, with `apiVersion` and `kind`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("Kubernetes objects always serialize")
    }

    /// The object as a `DynamicObject` (for a dynamic server-side apply).
    pub fn to_dynamic(&self) -> DynamicObject {
        serde_json::from_value(self.to_json())
            .expect("a serialized Kubernetes object is a DynamicObject")
    }
}

fn api_resource_of<K: k8s_openapi::Resource + kube::Resource<DynamicType = ()>>(
    _: &K,
) -> ApiResource {
    ApiResource::erase::<K>(&())
}

/// The label keys every object carries.
pub mod labels {
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
    pub const PART_OF: &str = "app.kubernetes.io/part-of";
    pub const NAME: &str = "app.kubernetes.io/name";
    pub const COMPONENT: &str = "app.kubernetes.io/component";
    pub const INSTANCE: &str = "app.kubernetes.io/instance";
    pub const TENANT: &str = "mutualis.io/tenant";
    pub const SERVICE: &str = "mutualis.io/service";
    /// On a tenant's zones ConfigMap: the shared name servers' sidecar serves what carries it.
    pub const ZONE: &str = "mutualis.io/zone";
    /// Value of `managed-by` and `part-of`.
    pub const MUTUALIS: &str = "mutualis";
}

/// What an object is part of: one service, or the tenancy around them (the value of the
/// `mutualis.io/service` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Tenancy,
    /// The tenant's backups (K8up), which cover every service.
    Backup,
    Service(Service),
}

impl Part {
    pub const fn label(self) -> &'static str {
        match self {
            Part::Tenancy => "tenancy",
            Part::Backup => "backup",
            Part::Service(s) => s.name(),
        }
    }
}

impl Serialize for Part {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.label())
    }
}

impl From<Service> for Part {
    fn from(s: Service) -> Part {
        Part::Service(s)
    }
}

/// Metadata of an object of `tenant` for `service`: name, namespace, our labels.
/// `component` is the workload part (e.g. `database`), `app` the software (`postgresql`).
pub fn meta(
    tenant: &str,
    namespace: Option<&str>,
    name: &str,
    part: impl Into<Part>,
    app: &str,
    component: &str,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(object_labels(tenant, part.into(), app, component)),
        ..ObjectMeta::default()
    }
}

/// The full label set of an object.
pub fn object_labels(
    tenant: &str,
    part: Part,
    app: &str,
    component: &str,
) -> BTreeMap<String, String> {
    // Built in one go (sorted bulk load), not by six inserts: every object has this map.
    BTreeMap::from([
        (labels::TENANT.to_owned(), tenant.to_owned()),
        (labels::SERVICE.to_owned(), part.label().to_owned()),
        (labels::COMPONENT.to_owned(), component.to_owned()),
        (labels::MANAGED_BY.to_owned(), labels::MUTUALIS.to_owned()),
        (labels::PART_OF.to_owned(), labels::MUTUALIS.to_owned()),
        (labels::NAME.to_owned(), app.to_owned()),
    ])
}

/// The labels that select a workload's pods: stable across upgrades (no version).
pub fn selector(tenant: &str, service: Service, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::TENANT.to_owned(), tenant.to_owned()),
        (labels::SERVICE.to_owned(), service.name().to_owned()),
        (labels::COMPONENT.to_owned(), component.to_owned()),
    ])
}

/// Rank of an object in apply order (its kind's place in `kinds::CHILD_KINDS`).
pub(crate) fn apply_rank(o: &Object) -> usize {
    super::kinds::apply_rank(o.kind())
}

macro_rules! from_typed {
    ($($variant:ident($t:ty)),* $(,)?) => {
        $(impl From<$t> for Object {
            fn from(o: $t) -> Object {
                Object::$variant(Box::new(o))
            }
        })*
    };
}

from_typed!(
    Namespace(Namespace),
    ResourceQuota(ResourceQuota),
    LimitRange(LimitRange),
    NetworkPolicy(NetworkPolicy),
    Role(Role),
    RoleBinding(RoleBinding),
    ConfigMap(ConfigMap),
    Certificate(Certificate),
    PersistentVolumeClaim(PersistentVolumeClaim),
    Service(KubeService),
    Deployment(Deployment),
    Ingress(Ingress),
    CronJob(CronJob),
    K8upSchedule(K8upSchedule),
);
