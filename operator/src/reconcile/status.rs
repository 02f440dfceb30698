//! Observe: turns the children's real state (from the caches) into the Tenant's conditions, and
//! keeps `lastTransitionTime` where a condition did not flip. The caller writes the status only
//! when the result differs from what is stored, so an idle tenant costs no write.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use super::children::{VolumeState, WorkloadState};
use super::compact::CompactCache;

use super::volumes;
use crate::api::conditions::{self, reasons};
use crate::plan::Volume;

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

/// A service's planned workloads and volumes, in the tenant's namespace.
#[derive(Clone, Debug, Default)]
pub struct ServiceParts<'a> {
    pub deployments: Vec<&'a str>,
    pub volumes: Vec<&'a Volume>,
}

/// The caches status reads, and what this process last applied.
pub struct Workloads<'a> {
    pub deployments: &'a CompactCache<WorkloadState>,
    pub volumes: &'a CompactCache<VolumeState>,
    pub records: &'a super::apply::AppliedRecords,
}

/// Why a workload of `kind` is not ready, if it is not.
fn workload_problem(
    kind: &str,
    verb: &str,
    w: Option<WorkloadState>,
    name: &str,
) -> Option<(String, String)> {
    let Some(w) = w else {
        return Some((
            reasons::PROGRESSING.into(),
            format!("{kind} {name} is being created"),
        ));
    };
    let current = w.observed_generation >= w.generation;
    if !current || w.ready < w.replicas {
        return Some((
            reasons::NOT_AVAILABLE.into(),
            format!("{kind} {name}: {}/{} replicas {verb}", w.ready, w.replicas),
        ));
    }
    None
}

/// The readiness of one enabled service from its parts' state in the caches.
pub fn service_verdict(
    type_: &str,
    namespace: &str,
    parts: &ServiceParts<'_>,
    w: &Workloads<'_>,
) -> Verdict {
    let mut problems = Vec::new();
    let ns = Some(namespace);
    for v in &parts.volumes {
        problems.extend(
            volumes::problem(w.volumes.state(ns, v.pvc), v).map(|(r, m)| (r.to_owned(), m)),
        );
    }
    for name in parts.deployments.iter().copied() {
        let key = super::apply::ChildKey {
            kind: "Deployment".into(),
            namespace: Some(namespace.to_owned()),
            name: name.to_owned(),
        };
        // A cache that lags behind our own apply would show the old spec as available.
        let state = w.deployments.state(ns, name).map(|mut s| {
            s.generation = s.generation.max(w.records.applied_generation(&key));
            s
        });
        problems.extend(workload_problem("Deployment", "available", state, name));
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
