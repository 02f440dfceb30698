//! Nextcloud's PostgreSQL (on the `postgres-data` volume) and Redis (a cache: no volume).

use k8s_openapi::api::core::v1::{Container, PodSpec, Probe};

use super::super::{Ctx, Out};
use super::{DB_SECRET, POSTGRES, POSTGRES_PVC, REDIS, REDIS_SECRET};
use crate::api::Service;
use crate::plan::builders::{claim_volume, deployment, env, env_secret, service};
use crate::plan::object::selector;
use crate::plan::security::{exec_probe, mount, pod, resources, restricted, scratch, tcp_probe};

/// The `postgres` and `redis` users of their official (Debian) images.
const POSTGRES_UID: i64 = 999;
const REDIS_UID: i64 = 999;

pub(super) fn database(ctx: &Ctx<'_>, out: &mut Out) {
    let t = ctx.tenant;
    let sel = selector(t.name(), Service::Collaboration, "database");
    out.push(service(
        ctx.meta("postgres", Service::Collaboration, "postgresql", "database"),
        sel.clone(),
        &[POSTGRES],
        false,
    ));
    let ready = exec_probe(
        &[
            "pg_isready",
            "-U",
            "nextcloud",
            "-d",
            "nextcloud",
            "-h",
            "127.0.0.1",
        ],
        10,
        3,
    );
    let container = Container {
        name: "postgres".into(),
        image: Some(t.catalog().images.database.reference()),
        ports: Some(vec![POSTGRES.container_port()]),
        env: Some(vec![
            env("POSTGRES_DB", "nextcloud"),
            env("POSTGRES_USER", "nextcloud"),
            env_secret("POSTGRES_PASSWORD", DB_SECRET, "password"),
            // A sub-directory: the volume's root may hold lost+found, which initdb refuses.
            env("PGDATA", "/var/lib/postgresql/data/pgdata"),
        ]),
        volume_mounts: Some(vec![
            mount("data", "/var/lib/postgresql/data", None, false),
            mount("run", "/var/run/postgresql", None, false),
            mount("tmp", "/tmp", None, false),
        ]),
        security_context: Some(restricted(POSTGRES_UID)),
        resources: Some(resources("100m", "256Mi", "1", "1Gi")),
        startup_probe: Some(Probe {
            failure_threshold: Some(60),
            ..ready.clone()
        }),
        readiness_probe: Some(ready.clone()),
        liveness_probe: Some(Probe {
            period_seconds: Some(30),
            failure_threshold: Some(5),
            ..ready
        }),
        ..Container::default()
    };
    let pod_spec = PodSpec {
        containers: vec![container],
        volumes: Some(vec![
            claim_volume("data", POSTGRES_PVC),
            scratch("run", "16Mi"),
            scratch("tmp", "256Mi"),
        ]),
        security_context: Some(pod(Some(POSTGRES_UID))),
        termination_grace_period_seconds: Some(60),
        ..PodSpec::default()
    };
    out.push(deployment(
        ctx.meta("postgres", Service::Collaboration, "postgresql", "database"),
        sel,
        None,
        pod_spec,
        true,
    ));
}

pub(super) fn cache(ctx: &Ctx<'_>, out: &mut Out) {
    let t = ctx.tenant;
    let sel = selector(t.name(), Service::Collaboration, "cache");
    out.push(service(
        ctx.meta("redis", Service::Collaboration, "redis", "cache"),
        sel.clone(),
        &[REDIS],
        false,
    ));
    let container = Container {
        name: "redis".into(),
        image: Some(t.catalog().images.cache.reference()),
        // A cache of locks and sessions: nothing worth persisting, so no volume.
        args: Some(vec![
            "--requirepass".into(),
            "$(REDIS_PASSWORD)".into(),
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
        ]),
        env: Some(vec![env_secret("REDIS_PASSWORD", REDIS_SECRET, "password")]),
        ports: Some(vec![REDIS.container_port()]),
        volume_mounts: Some(vec![mount("data", "/data", None, false)]),
        security_context: Some(restricted(REDIS_UID)),
        resources: Some(resources("50m", "64Mi", "500m", "256Mi")),
        readiness_probe: Some(tcp_probe(REDIS.target, 10, 3)),
        liveness_probe: Some(tcp_probe(REDIS.target, 30, 3)),
        ..Container::default()
    };
    let pod_spec = PodSpec {
        containers: vec![container],
        volumes: Some(vec![scratch("data", "64Mi")]),
        security_context: Some(pod(None)),
        ..PodSpec::default()
    };
    out.push(deployment(
        ctx.meta("redis", Service::Collaboration, "redis", "cache"),
        sel,
        None,
        pod_spec,
        false,
    ));
}
