//! What K8up reports of its jobs in the tenants' namespaces: each `Backup`, `Check` and
//! `Restore`, watched cluster-wide and kept as a few fields (kind, outcome, when it finished,
//! the failure's message). K8up creates the Backups and Checks from the tenant's Schedule, so
//! they carry no mutualis label: a job belongs to the tenant whose namespace holds it. K8up keeps
//! a few finished jobs per Schedule (`successfulJobsHistoryLimit`), which bounds the cache.
//!
//! Unlike the children's caches, nothing waits for these to be filled: until they are, the
//! backup status is merely not known yet.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};

use super::children::Trigger;
use crate::api::Tenant;
use crate::api::k8up::{API_VERSION, GROUP, VERSION};

/// The K8up job kinds the status reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JobKind {
    Backup,
    Check,
    Restore,
}

impl JobKind {
    pub const ALL: [JobKind; 3] = [JobKind::Backup, JobKind::Check, JobKind::Restore];

    pub const fn kind(self) -> &'static str {
        match self {
            JobKind::Backup => "Backup",
            JobKind::Check => "Check",
            JobKind::Restore => "Restore",
        }
    }

    pub const fn plural(self) -> &'static str {
        match self {
            JobKind::Backup => "backups",
            JobKind::Check => "checks",
            JobKind::Restore => "restores",
        }
    }

    pub fn api_resource(self) -> ApiResource {
        let mut ar = ApiResource::from_gvk(&GroupVersionKind::gvk(GROUP, VERSION, self.kind()));
        ar.plural = self.plural().to_owned();
        ar
    }
}

/// Where a job stands, from K8up's conditions (`api/v1/status.go`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Created; K8up has not started it.
    Pending,
    /// `Progressing` is True.
    Progressing,
    /// `Completed` is True with reason `Succeeded`.
    Succeeded,
    /// `Completed` is True with another reason, or the pre-backup pod failed.
    Failed,
}

impl Outcome {
    pub const fn phase(self) -> &'static str {
        match self {
            Outcome::Pending => "Pending",
            Outcome::Progressing => "Progressing",
            Outcome::Succeeded => "Succeeded",
            Outcome::Failed => "Failed",
        }
    }
}

/// The few fields kept of one job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobState {
    pub kind: JobKind,
    pub name: String,
    pub outcome: Outcome,
    pub created: Option<Timestamp>,
    /// When `Completed` turned True.
    pub finished: Option<Timestamp>,
    /// The `Completed` (or failing) condition's message.
    pub message: String,
}

/// The outcome of a K8up job object.
pub fn job_state(kind: JobKind, obj: &serde_json::Value) -> JobState {
    let conditions = obj["status"]["conditions"].as_array();
    let find = |t: &str| conditions.and_then(|cs| cs.iter().find(|c| c["type"] == t));
    let time = |c: Option<&serde_json::Value>| {
        c.and_then(|c| c["lastTransitionTime"].as_str())
            .and_then(|t| t.parse::<Timestamp>().ok())
    };
    let completed = find("Completed").filter(|c| c["status"] == "True");
    let pre_backup_failed =
        find("PreBackupPodReady").filter(|c| c["status"] == "False" && c["reason"] == "Failed");
    let (outcome, message, finished) = if let Some(c) = pre_backup_failed {
        (Outcome::Failed, c["message"].as_str(), time(Some(c)))
    } else if let Some(c) = completed {
        let ok = c["reason"] == "Succeeded";
        (
            if ok {
                Outcome::Succeeded
            } else {
                Outcome::Failed
            },
            c["message"].as_str(),
            time(Some(c)),
        )
    } else if find("Progressing").is_some_and(|c| c["status"] == "True") {
        (Outcome::Progressing, None, None)
    } else {
        (Outcome::Pending, None, None)
    };
    JobState {
        kind,
        name: obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        outcome,
        created: obj["metadata"]["creationTimestamp"]
            .as_str()
            .and_then(|t| t.parse().ok()),
        finished,
        message: message.unwrap_or_default().chars().take(300).collect(),
    }
}

type Jobs = BTreeMap<(JobKind, String), JobState>;

/// The jobs of every namespace.
#[derive(Default)]
pub struct JobCache {
    namespaces: RwLock<HashMap<String, Jobs>>,
}

impl JobCache {
    /// The jobs in `namespace`.
    pub fn of_namespace(&self, namespace: &str) -> Vec<JobState> {
        self.namespaces
            .read()
            .expect("job cache lock")
            .get(namespace)
            .map(|jobs| jobs.values().cloned().collect())
            .unwrap_or_default()
    }

    fn put(&self, namespace: &str, state: JobState) {
        self.namespaces
            .write()
            .expect("job cache lock")
            .entry(namespace.to_owned())
            .or_default()
            .insert((state.kind, state.name.clone()), state);
    }

    fn remove(&self, namespace: &str, kind: JobKind, name: &str) {
        let mut all = self.namespaces.write().expect("job cache lock");
        if let Some(jobs) = all.get_mut(namespace) {
            jobs.remove(&(kind, name.to_owned()));
            if jobs.is_empty() {
                all.remove(namespace);
            }
        }
    }

    /// Forgets the jobs of `kind` (a re-list brings them back).
    fn clear(&self, kind: JobKind) {
        let mut all = self.namespaces.write().expect("job cache lock");
        for jobs in all.values_mut() {
            jobs.retain(|(k, _), _| *k != kind);
        }
        all.retain(|_, jobs| !jobs.is_empty());
    }
}

/// The tenant whose namespace is `namespace` (`mutualis-<tenant>`).
fn tenant_of(namespace: &str) -> Option<ObjectRef<Tenant>> {
    namespace
        .strip_prefix("mutualis-")
        .filter(|t| !t.is_empty())
        .map(ObjectRef::new)
}

/// The cache and one trigger stream per job kind: a job that changes re-reconciles its tenant.
pub fn watch(client: &Client) -> (Arc<JobCache>, Vec<Trigger>) {
    let cache = Arc::new(JobCache::default());
    let triggers = JobKind::ALL
        .into_iter()
        .map(|kind| {
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &kind.api_resource());
            let cache = cache.clone();
            // Said once per kind (the watcher retries with backoff): K8up is a prerequisite.
            let warned = std::sync::atomic::AtomicBool::new(false);
            watcher(api, watcher::Config::default())
                .default_backoff()
                .filter_map(move |event| {
                    let trigger = match event {
                        Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                            let ns = o.namespace().unwrap_or_default();
                            let value = serde_json::to_value(&o).unwrap_or_default();
                            cache.put(&ns, job_state(kind, &value));
                            tenant_of(&ns)
                        }
                        Ok(watcher::Event::Delete(o)) => {
                            let ns = o.namespace().unwrap_or_default();
                            cache.remove(&ns, kind, &o.name_any());
                            tenant_of(&ns)
                        }
                        Ok(watcher::Event::Init) => {
                            cache.clear(kind);
                            None
                        }
                        Ok(watcher::Event::InitDone) => None,
                        Err(err) => {
                            if super::crds::is_not_found(&err)
                                && !warned.swap(true, std::sync::atomic::Ordering::Relaxed)
                            {
                                tracing::warn!(kind = kind.kind(), api = API_VERSION, "K8up's CRDs are not installed: no tenant can be backed up (a tenant whose catalogue has spec.backup reports it); install K8up (docs/backups.md)");
                            } else {
                                tracing::debug!(%err, kind = kind.kind(), api = API_VERSION, "K8up watch");
                            }
                            None
                        }
                    };
                    async move { trigger }
                })
                .boxed()
        })
        .collect();
    (cache, triggers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(conditions: serde_json::Value) -> serde_json::Value {
        json!({"metadata": {"name": "b-1", "creationTimestamp": "2026-01-01T01:00:00Z"},
               "status": {"conditions": conditions}})
    }

    #[test]
    fn outcomes_follow_k8up_conditions() {
        let s = job_state(JobKind::Backup, &job(json!([])));
        assert_eq!(s.outcome, Outcome::Pending);
        let s = job_state(
            JobKind::Backup,
            &job(json!([{"type": "Progressing", "status": "True", "reason": "Started"}])),
        );
        assert_eq!(s.outcome, Outcome::Progressing);
        let s = job_state(
            JobKind::Backup,
            &job(
                json!([{"type": "Completed", "status": "True", "reason": "Succeeded",
                         "lastTransitionTime": "2026-01-01T01:05:00Z", "message": "ok"}]),
            ),
        );
        assert_eq!(s.outcome, Outcome::Succeeded);
        assert_eq!(s.finished, Some("2026-01-01T01:05:00Z".parse().unwrap()));
        let s = job_state(
            JobKind::Backup,
            &job(
                json!([{"type": "Completed", "status": "True", "reason": "Failed",
                         "lastTransitionTime": "2026-01-01T01:05:00Z", "message": "repository locked"}]),
            ),
        );
        assert_eq!(
            (s.outcome, s.message.as_str()),
            (Outcome::Failed, "repository locked")
        );
        let s = job_state(
            JobKind::Backup,
            &job(
                json!([{"type": "PreBackupPodReady", "status": "False", "reason": "Failed",
                         "lastTransitionTime": "2026-01-01T01:02:00Z", "message": "pg_dump exited 1"}]),
            ),
        );
        assert_eq!(s.outcome, Outcome::Failed);
    }

    #[test]
    fn the_watched_kinds_are_the_observed_kinds_rbac_grants() {
        let watched: Vec<(&str, &str)> = JobKind::ALL.iter().map(|k| (GROUP, k.plural())).collect();
        assert_eq!(watched, crate::plan::kinds::OBSERVED_KINDS);
    }

    #[test]
    fn jobs_belong_to_the_tenant_of_their_namespace() {
        assert_eq!(tenant_of("mutualis-tresses").unwrap().name, "tresses");
        assert!(tenant_of("kube-system").is_none());
        assert!(tenant_of("mutualis-").is_none());
        let c = JobCache::default();
        c.put(
            "mutualis-tresses",
            job_state(JobKind::Backup, &job(json!([]))),
        );
        assert_eq!(c.of_namespace("mutualis-tresses").len(), 1);
        c.remove("mutualis-tresses", JobKind::Backup, "b-1");
        assert!(c.of_namespace("mutualis-tresses").is_empty());
    }
}
