//! Nextcloud's PostgreSQL (on the `postgres-data` volume) and Redis (a cache: no volume).

use k8s_openapi::api::core::v1::{Container, PodSpec, Probe};

use super::super::{Ctx, Out};
use super::{DB_SECRET, POSTGRES, POSTGRES_PVC, REDIS, REDIS_SECRET, SECRETS_DIR};
use crate::api::Service;
use crate::plan::builders::{claim_volume, deployment, env, secret_files, service};
use crate::plan::object::selector;
use crate::plan::security::{
    exec_probe, mount, pod, resources, restricted, scratch, scratch_in_memory,
};

/// The `postgres` and `redis` users of their official (Debian) images.
const POSTGRES_UID: i64 = 999;
const REDIS_UID: i64 = 999;
/// File names of the mounted passwords, under [`SECRETS_DIR`].
const DB_PASSWORD_FILE: &str = "db-password";
const REDIS_PASSWORD_FILE: &str = "redis-password";
/// Where the Redis start script writes the server's configuration (in memory: it holds the
/// password).
const REDIS_CONF: &str = "/run/redis/redis.conf";

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
            env(
                "POSTGRES_PASSWORD_FILE",
                &format!("{SECRETS_DIR}/{DB_PASSWORD_FILE}"),
            ),
            // A sub-directory: the volume's root may hold lost+found, which initdb refuses.
            env("PGDATA", "/var/lib/postgresql/data/pgdata"),
        ]),
        volume_mounts: Some(vec![
            mount("data", "/var/lib/postgresql/data", None, false),
            mount("run", "/var/run/postgresql", None, false),
            mount("tmp", "/tmp", None, false),
            mount("secrets", SECRETS_DIR, None, true),
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
            secret_files(
                "secrets",
                &[(DB_SECRET, "password", DB_PASSWORD_FILE)],
                0o440,
            ),
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
        command: Some(vec!["/bin/sh".into(), "-c".into(), redis_start()]),
        ports: Some(vec![REDIS.container_port()]),
        volume_mounts: Some(vec![
            mount("data", "/data", None, false),
            mount("conf", "/run/redis", None, false),
            mount("secrets", SECRETS_DIR, None, true),
        ]),
        security_context: Some(restricted(REDIS_UID)),
        resources: Some(resources("50m", "64Mi", "500m", "256Mi")),
        readiness_probe: Some(redis_ping(10, 3)),
        liveness_probe: Some(redis_ping(30, 3)),
        ..Container::default()
    };
    let pod_spec = PodSpec {
        containers: vec![container],
        volumes: Some(vec![
            scratch("data", "64Mi"),
            scratch_in_memory("conf", "1Mi"),
            secret_files(
                "secrets",
                &[(REDIS_SECRET, "password", REDIS_PASSWORD_FILE)],
                0o440,
            ),
        ]),
        security_context: Some(pod(Some(REDIS_UID))),
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

/// The Redis start script: the configuration, `requirepass` included, written from the
/// mounted Secret file so the password is in no process's arguments or environment. A cache
/// of locks and sessions: nothing worth persisting.
pub(super) fn redis_start() -> String {
    let settings = [
        format!("port {}", REDIS.target),
        "save \"\"".to_owned(),
        "appendonly no".to_owned(),
    ];
    let mut script = String::from("set -eu\numask 077\n{\n");
    script.push_str(&format!(
        "  printf 'requirepass %s\\n' \"$(cat {SECRETS_DIR}/{REDIS_PASSWORD_FILE})\"\n"
    ));
    for line in settings {
        script.push_str(&format!("  echo '{line}'\n"));
    }
    script.push_str(&format!(
        "}} > {REDIS_CONF}\nexec redis-server {REDIS_CONF}\n"
    ));
    script
}

/// `redis-cli ping`, authenticated through `REDISCLI_AUTH` read from the Secret file, so the
/// password never shows in the probe's arguments.
pub(super) fn redis_ping(period: i32, failures: i32) -> Probe {
    let script = format!(
        "REDISCLI_AUTH=\"$(cat {SECRETS_DIR}/{REDIS_PASSWORD_FILE})\" redis-cli -p {} ping | grep -q PONG",
        REDIS.target
    );
    exec_probe(&["/bin/sh", "-c", &script], period, failures)
}
