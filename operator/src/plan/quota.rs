//! The tenant's ResourceQuota, derived from the plan itself: it says on purpose what the tenant
//! may create — its tier's storage, exactly the volumes, Services and workloads the plan has,
//! the compute its pods ask for (with room for a rolling update and for cert-manager's
//! challenge solvers) — and no node port at all (load balancers allocate none, see
//! `builders::service`). Anything else a tenant admin might create is refused by the API server.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec, ResourceQuota, ResourceQuotaSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::object::Object;
use super::quantity::{format_bytes, parse_bytes};

/// What one cert-manager HTTP-01 challenge adds to a namespace while it runs: a solver pod,
/// its Service and Ingress, with cert-manager's default solver resources; and per certificate
/// the temporary private-key Secret of an issuance.
const SOLVER_REQUESTS: Compute = Compute {
    cpu_milli: 10,
    memory: 64 << 20,
};
const SOLVER_LIMITS: Compute = Compute {
    cpu_milli: 100,
    memory: 64 << 20,
};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Compute {
    cpu_milli: u64,
    memory: u64,
}

impl Compute {
    fn add(self, o: Compute) -> Compute {
        Compute {
            cpu_milli: self.cpu_milli + o.cpu_milli,
            memory: self.memory + o.memory,
        }
    }
    fn max(self, o: Compute) -> Compute {
        Compute {
            cpu_milli: self.cpu_milli.max(o.cpu_milli),
            memory: self.memory.max(o.memory),
        }
    }
    fn times(self, n: u64) -> Compute {
        Compute {
            cpu_milli: self.cpu_milli * n,
            memory: self.memory * n,
        }
    }
}

/// Millicores of a CPU quantity (`250m`, `2`, `0.5`).
fn cpu_milli(q: &str) -> u64 {
    match q.strip_suffix('m') {
        Some(m) => m.parse().unwrap_or(0),
        None => q.parse::<f64>().map_or(0, |c| (c * 1000.0).round() as u64),
    }
}

fn container(c: &Container, limits: bool) -> Compute {
    let r = c.resources.as_ref();
    let m = if limits {
        r.and_then(|r| r.limits.as_ref())
    } else {
        r.and_then(|r| r.requests.as_ref())
    };
    let get = |k: &str| m.and_then(|m| m.get(k)).map(|q| q.0.as_str());
    Compute {
        cpu_milli: get("cpu").map_or(0, cpu_milli),
        memory: get("memory").and_then(parse_bytes).unwrap_or(0),
    }
}

/// A pod's effective request (or limit), as the quota counts it: the larger of the sum of its
/// containers and its largest init container.
fn pod(spec: &PodSpec, limits: bool) -> Compute {
    let sum = spec
        .containers
        .iter()
        .fold(Compute::default(), |a, c| a.add(container(c, limits)));
    spec.init_containers
        .iter()
        .flatten()
        .fold(sum, |a, c| a.max(container(c, limits)))
}

/// Pods a workload may run at once, and its pod spec.
fn workloads(objects: &[Object]) -> Vec<(u64, &PodSpec)> {
    let mut out = Vec::new();
    for o in objects {
        match o {
            Object::Deployment(d) => {
                let spec = d.spec.as_ref();
                // A workload held at 0 replicas (waiting for an input) counts as running: the quota
                // must not change when it starts.
                let replicas = spec.and_then(|s| s.replicas).unwrap_or(1).max(1) as u64;
                let recreate = spec
                    .and_then(|s| s.strategy.as_ref())
                    .and_then(|s| s.type_.as_deref())
                    == Some("Recreate");
                // A rolling update runs one pod more (maxSurge 25 %, rounded up: 1).
                let surge = u64::from(!recreate && replicas > 0);
                if let Some(p) = spec.and_then(|s| s.template.spec.as_ref()) {
                    out.push((replicas + surge, p));
                }
            }
            Object::CronJob(c) => {
                // concurrencyPolicy Forbid: one job, one pod at a time.
                if let Some(p) = c
                    .spec
                    .as_ref()
                    .and_then(|s| s.job_template.spec.as_ref())
                    .and_then(|j| j.template.spec.as_ref())
                {
                    out.push((1, p));
                }
            }
            _ => {}
        }
    }
    out
}

/// K8up's job pods (backup, check, prune, restore) with the Schedule's resources: one at a time
/// per kind at most, and at most two at once (exclusive jobs wait for the others).
fn backup_jobs(objects: &[Object], limits: bool) -> (u64, Compute) {
    let per_pod = objects.iter().find_map(|o| match o {
        Object::K8upSchedule(s) => Some(s.spec.resource_requirements_template.as_ref().map_or(
            Compute::default(),
            |r| {
                container(
                    &Container {
                        resources: Some(r.clone()),
                        ..Container::default()
                    },
                    limits,
                )
            },
        )),
        _ => None,
    });
    per_pod.map_or((0, Compute::default()), |c| (2, c.times(2)))
}

fn count(objects: &[Object], kind: &str) -> usize {
    objects.iter().filter(|o| o.kind() == kind).count()
}

/// The quota of a plan whose objects are `objects` and which requests `secrets` Secrets.
pub fn quota(
    meta: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    tier_storage: &str,
    objects: &[Object],
    secrets: usize,
) -> Object {
    let load_balancers = objects
        .iter()
        .filter(|o| {
            matches!(o, Object::Service(s) if s.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer"))
        })
        .count();
    // One certificate per Ingress TLS secret; each may have one challenge running.
    let certificates = objects
        .iter()
        .filter_map(|o| match o {
            Object::Ingress(i) => i.spec.as_ref().and_then(|s| s.tls.as_ref()).map(Vec::len),
            _ => None,
        })
        .sum::<usize>();
    let w = workloads(objects);
    let pods: u64 =
        w.iter().map(|(n, _)| n).sum::<u64>() + certificates as u64 + backup_jobs(objects, false).0;
    let total = |limits: bool, solver: Compute| {
        w.iter()
            .fold(Compute::default(), |a, (n, p)| {
                a.add(pod(p, limits).times(*n))
            })
            .add(solver.times(certificates as u64))
            .add(backup_jobs(objects, limits).1)
    };
    let (requests, limits) = (total(false, SOLVER_REQUESTS), total(true, SOLVER_LIMITS));
    let n = |v: usize| Quantity(v.to_string());
    let cpu = |c: Compute| Quantity(format!("{}m", c.cpu_milli));
    let memory = |c: Compute| Quantity(format_bytes(c.memory));
    let hard = BTreeMap::from([
        (
            "requests.storage".to_owned(),
            Quantity(tier_storage.to_owned()),
        ),
        (
            "persistentvolumeclaims".to_owned(),
            n(count(objects, "PersistentVolumeClaim")),
        ),
        (
            "services".to_owned(),
            n(count(objects, "Service") + certificates),
        ),
        ("services.loadbalancers".to_owned(), n(load_balancers)),
        ("services.nodeports".to_owned(), n(0)),
        ("pods".to_owned(), Quantity(pods.to_string())),
        ("requests.cpu".to_owned(), cpu(requests)),
        ("requests.memory".to_owned(), memory(requests)),
        ("limits.cpu".to_owned(), cpu(limits)),
        ("limits.memory".to_owned(), memory(limits)),
        // Kubernetes adds kube-root-ca.crt to every namespace.
        ("configmaps".to_owned(), n(count(objects, "ConfigMap") + 1)),
        ("secrets".to_owned(), n(secrets + 2 * certificates)),
        (
            "count/deployments.apps".to_owned(),
            n(count(objects, "Deployment")),
        ),
        (
            "count/cronjobs.batch".to_owned(),
            n(count(objects, "CronJob")),
        ),
        // A CronJob keeps its last jobs (history limits 1 + 3) and runs one.
        (
            "count/jobs.batch".to_owned(),
            // K8up keeps 3 finished jobs of each kind, and failed ones as many.
            n(count(objects, "CronJob") * 5 + count(objects, "Schedule") * 20),
        ),
        (
            "count/ingresses.networking.k8s.io".to_owned(),
            n(count(objects, "Ingress") + certificates),
        ),
    ]);
    Object::from(ResourceQuota {
        metadata: meta,
        spec: Some(ResourceQuotaSpec {
            hard: Some(hard),
            ..ResourceQuotaSpec::default()
        }),
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_quantities() {
        assert_eq!(cpu_milli("250m"), 250);
        assert_eq!(cpu_milli("2"), 2000);
        assert_eq!(cpu_milli("0.5"), 500);
    }
}
