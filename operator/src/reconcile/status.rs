//! Observe: turns the children's real state (from the caches) into the Tenant's conditions, and
//! keeps `lastTransitionTime` where a condition did not flip. The caller writes the status only
//! when the result differs from what is stored, so an idle tenant costs no write.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::api::conditions::{self, reasons};
use crate::plan::quantity::parse_bytes;

/// One condition before timestamps: type, status, reason, message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub type_: String,
    pub ready: bool,
    pub reason: String,
    pub message: String,
}

impl Verdict {
    pub fn new(type_: &str, ready: bool, reason: &str, message: impl Into<String>) -> Self {
        Verdict {
            type_: type_.to_owned(),
            ready,
            reason: reason.to_owned(),
            message: message.into(),
        }
    }
}

/// The names of a service's planned workloads and volumes, in the tenant's namespace.
#[derive(Clone, Debug, Default)]
pub struct ServiceParts {
    pub deployments: Vec<String>,
    pub statefulsets: Vec<String>,
    /// Volume name → requested size.
    pub volumes: Vec<(String, String)>,
}

/// The stores status reads.
pub struct Workloads<'a> {
    pub deployments: &'a Store<Deployment>,
    pub statefulsets: &'a Store<StatefulSet>,
    pub volumes: &'a Store<PersistentVolumeClaim>,
}

fn deployment_problem(d: Option<&Deployment>, name: &str) -> Option<(String, String)> {
    let Some(d) = d else {
        return Some((
            reasons::PROGRESSING.into(),
            format!("Deployment {name} is being created"),
        ));
    };
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let status = d.status.clone().unwrap_or_default();
    let available = status.available_replicas.unwrap_or(0);
    let current = status.observed_generation >= d.metadata.generation;
    if !current || available < want {
        return Some((
            reasons::NOT_AVAILABLE.into(),
            format!("Deployment {name}: {available}/{want} replicas available"),
        ));
    }
    None
}

fn statefulset_problem(s: Option<&StatefulSet>, name: &str) -> Option<(String, String)> {
    let Some(s) = s else {
        return Some((
            reasons::PROGRESSING.into(),
            format!("StatefulSet {name} is being created"),
        ));
    };
    let want = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let status = s.status.clone().unwrap_or_default();
    let ready = status.ready_replicas.unwrap_or(0);
    let current = status.observed_generation >= s.metadata.generation;
    if !current || ready < want {
        return Some((
            reasons::NOT_AVAILABLE.into(),
            format!("StatefulSet {name}: {ready}/{want} replicas ready"),
        ));
    }
    None
}

fn volume_problem(
    v: Option<&PersistentVolumeClaim>,
    name: &str,
    size: &str,
) -> Option<(String, String)> {
    let Some(v) = v else {
        return Some((
            reasons::VOLUME_PENDING.into(),
            format!("PersistentVolumeClaim {name} is being created"),
        ));
    };
    let status = v.status.clone().unwrap_or_default();
    let phase = status.phase.as_deref().unwrap_or("Pending");
    if phase != "Bound" {
        return Some((
            reasons::VOLUME_PENDING.into(),
            format!("PersistentVolumeClaim {name} is {phase}"),
        ));
    }
    let capacity = status
        .capacity
        .as_ref()
        .and_then(|c| c.get("storage"))
        .map(|q| q.0.clone());
    let big_enough = match (capacity.as_deref().and_then(parse_bytes), parse_bytes(size)) {
        (Some(have), Some(want)) => have >= want,
        _ => false,
    };
    if !big_enough {
        return Some((
            reasons::VOLUME_RESIZING.into(),
            format!(
                "PersistentVolumeClaim {name} is being expanded from {} to {size}",
                capacity.as_deref().unwrap_or("unknown")
            ),
        ));
    }
    None
}

/// The readiness of one enabled service from its parts' state in the caches.
pub fn service_verdict(
    type_: &str,
    namespace: &str,
    parts: &ServiceParts,
    w: &Workloads<'_>,
) -> Verdict {
    let mut problems = Vec::new();
    for name in &parts.volumes {
        let key = ObjectRef::new(&name.0).within(namespace);
        problems.extend(volume_problem(
            w.volumes.get(&key).as_deref(),
            &name.0,
            &name.1,
        ));
    }
    for name in &parts.statefulsets {
        let key = ObjectRef::new(name).within(namespace);
        problems.extend(statefulset_problem(
            w.statefulsets.get(&key).as_deref(),
            name,
        ));
    }
    for name in &parts.deployments {
        let key = ObjectRef::new(name).within(namespace);
        problems.extend(deployment_problem(w.deployments.get(&key).as_deref(), name));
    }
    match problems.first() {
        None => Verdict::new(
            type_,
            true,
            reasons::READY,
            "all workloads available and volumes bound at size",
        ),
        Some((reason, _)) => Verdict::new(
            type_,
            false,
            reason,
            problems
                .iter()
                .map(|(_, m)| m.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        ),
    }
}

/// `Ready` as the sum of the service verdicts, naming the ones that are not ready.
pub fn ready_verdict(services: &[Verdict]) -> Verdict {
    let enabled: Vec<&Verdict> = services
        .iter()
        .filter(|v| v.reason != reasons::DISABLED)
        .collect();
    let not_ready: Vec<String> = enabled
        .iter()
        .filter(|v| !v.ready)
        .map(|v| format!("{} ({})", v.type_, v.message))
        .collect();
    if not_ready.is_empty() {
        Verdict::new(
            conditions::READY,
            true,
            reasons::READY,
            format!(
                "{} of {} enabled services ready",
                enabled.len(),
                enabled.len()
            ),
        )
    } else {
        Verdict::new(
            conditions::READY,
            false,
            reasons::SERVICES_NOT_READY,
            format!("not ready: {}", not_ready.join("; ")),
        )
    }
}

/// Conditions for `verdicts`, keeping each old condition's `lastTransitionTime` when its status
/// did not change. Old conditions of other types are dropped.
pub fn conditions(
    old: &[Condition],
    verdicts: &[Verdict],
    generation: Option<i64>,
) -> Vec<Condition> {
    let old: BTreeMap<&str, &Condition> = old.iter().map(|c| (c.type_.as_str(), c)).collect();
    verdicts
        .iter()
        .map(|v| {
            let status = if v.ready { "True" } else { "False" };
            let last_transition_time = match old.get(v.type_.as_str()) {
                Some(c) if c.status == status => c.last_transition_time.clone(),
                _ => Time(Timestamp::now()),
            };
            Condition {
                type_: v.type_.clone(),
                status: status.to_owned(),
                reason: v.reason.clone(),
                message: v.message.clone(),
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_names_the_services_that_are_not_ready_and_ignores_disabled_ones() {
        let v = ready_verdict(&[
            Verdict::new("MailReady", true, reasons::READY, "ok"),
            Verdict::new(
                "NasReady",
                false,
                reasons::VOLUME_PENDING,
                "PersistentVolumeClaim nas-data is Pending",
            ),
            Verdict::new("DnsReady", false, reasons::DISABLED, "off"),
        ]);
        assert!(!v.ready);
        assert_eq!(v.reason, reasons::SERVICES_NOT_READY);
        assert_eq!(
            v.message,
            "not ready: NasReady (PersistentVolumeClaim nas-data is Pending)"
        );
        let v = ready_verdict(&[
            Verdict::new("MailReady", true, reasons::READY, "ok"),
            Verdict::new("DnsReady", false, reasons::DISABLED, "off"),
        ]);
        assert!(v.ready);
        assert_eq!(v.message, "1 of 1 enabled services ready");
    }

    #[test]
    fn transition_time_moves_only_when_the_status_flips() {
        let first = conditions(&[], &[Verdict::new("Ready", false, "A", "x")], Some(1));
        let mut old = first.clone();
        old[0].last_transition_time = Time("2020-01-01T00:00:00Z".parse().unwrap());
        let same = conditions(&old, &[Verdict::new("Ready", false, "B", "y")], Some(2));
        assert_eq!(same[0].last_transition_time, old[0].last_transition_time);
        assert_eq!(same[0].reason, "B");
        assert_eq!(same[0].observed_generation, Some(2));
        let flipped = conditions(&old, &[Verdict::new("Ready", true, "C", "z")], Some(2));
        assert_ne!(flipped[0].last_transition_time, old[0].last_transition_time);
    }
}
