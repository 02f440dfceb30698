//! The plan's result: everything a tenant should have in the cluster.

use std::collections::BTreeMap;

use super::object::Object;
use super::secrets::SecretRequest;
use super::storage::StorageAllocation;
use super::zone::{ZoneFile, ZoneVersions};
use crate::api::Endpoints;

/// Everything a tenant should have in the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub tenant: String,
    pub namespace: String,
    pub tier: String,
    pub member_count: usize,
    /// Euros per year.
    pub annual_contribution: i64,
    /// Objects in apply order: Namespace, quota, network policies, RBAC, ConfigMaps, PVCs,
    /// Services, Deployments, Ingresses, CronJobs. No owner references (the apply step adds them).
    pub objects: Vec<Object>,
    pub storage: StorageAllocation,
    /// One zone per domain when DNS is enabled.
    pub zones: Vec<ZoneFile>,
    /// Secrets the apply step creates once if absent.
    pub secrets: Vec<SecretRequest>,
    pub endpoints: Endpoints,
    /// Things a reviewer should know (e.g. DKIM record pending).
    pub notes: Vec<String>,
    /// Services held back until an input arrives (their workloads run no replica meanwhile).
    pub waiting: Vec<Waiting>,
}

/// A service that cannot start yet, and why: its Ready condition says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub service: crate::api::Service,
    /// CamelCase condition reason.
    pub reason: &'static str,
    pub message: String,
}

impl Plan {
    /// Number of objects of each kind.
    pub fn object_counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for o in &self.objects {
            *counts.entry(o.kind()).or_default() += 1;
        }
        counts
    }

    /// The zones ConfigMap, in the shared name servers' namespace: it records the versions
    /// (serials) last published, an input of the next plan.
    pub fn zones_config_map(&self) -> Option<&Object> {
        self.objects.iter().find(|o| {
            o.kind() == "ConfigMap"
                && o.metadata()
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.contains_key(super::zone::ZONE_VERSIONS_ANNOTATION))
        })
    }

    /// The mail LoadBalancer Service, whose address the `mail.<domain>` records publish.
    pub fn mail_load_balancer(&self) -> Option<&Object> {
        self.objects.iter().find(|o| {
            matches!(o, Object::Service(s)
                if s.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer"))
                && o.metadata()
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(super::object::labels::SERVICE))
                    .is_some_and(|s| s == crate::api::Service::Mail.name())
        })
    }

    /// The names of the plan's LoadBalancer Services, whose addresses are inputs of the next plan.
    pub fn load_balancers(&self) -> impl Iterator<Item = &str> {
        self.objects.iter().filter_map(|o| match o {
            Object::Service(s)
                if s.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer") =>
            {
                Some(o.name())
            }
            _ => None,
        })
    }

    /// The name of the Secret the mail certificate is issued into, if the plan asks for one.
    pub fn mail_certificate_secret(&self) -> Option<&str> {
        self.objects.iter().find_map(|o| match o {
            Object::Certificate(c)
                if o.metadata()
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(super::object::labels::SERVICE))
                    .is_some_and(|s| s == crate::api::Service::Mail.name()) =>
            {
                Some(c.spec.secret_name.as_str())
            }
            _ => None,
        })
    }

    /// The zone versions to record on the zone ConfigMap.
    pub fn zone_versions(&self) -> ZoneVersions {
        ZoneVersions(
            self.zones
                .iter()
                .map(|z| (z.origin.clone(), z.version.clone()))
                .collect(),
        )
    }
}
