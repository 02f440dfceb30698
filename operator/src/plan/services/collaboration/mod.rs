//! Collaborative space: Nextcloud at `cloud.<tenant domain>` with its own PostgreSQL and
//! Redis, a background-jobs CronJob, and a group per member commune. Volumes:
//! `nextcloud-data` and `postgres-data`, which share `split.collaboration`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, HTTPHeader, KeyToPath, PodSpec, Probe, Volume, VolumeMount,
};

mod backends;
mod cron;
pub mod settings;

use super::{Ctx, Out};
use crate::api::Service;
use crate::plan::builders::{
    claim_volume, config_hash, config_map, deployment, ingress, pvc, service,
};
use crate::plan::network::{Allow, Peer, PodsOf, Port};
use crate::plan::object::selector;
use crate::plan::secrets::SecretKind;
use crate::plan::security::{http_probe, mount, pod, resources, restricted, scratch};
use crate::plan::services::mail;
use crate::plan::storage::{Share, VolumeSpec};

/// Nextcloud's files, and its PostgreSQL database (a tenth of the service's share).
pub const NEXTCLOUD_PVC: &str = "nextcloud-data";
pub const POSTGRES_PVC: &str = "postgres-data";
pub const VOLUMES: [VolumeSpec; 2] = [
    VolumeSpec {
        pvc: NEXTCLOUD_PVC,
        share: Share::Rest,
    },
    VolumeSpec {
        pvc: POSTGRES_PVC,
        share: Share::Percent(10),
    },
];

pub(super) const CONFIG: &str = "nextcloud-config";
pub(super) const ADMIN_SECRET: &str = "nextcloud-admin";
pub(super) const DB_SECRET: &str = "nextcloud-db";
pub(super) const REDIS_SECRET: &str = "nextcloud-redis";
/// Apache in the Nextcloud image, moved off port 80 so it runs without privileges.
pub const HTTP: Port = Port::tcp("http", 8080);
/// Its database and cache.
pub const POSTGRES: Port = Port::tcp("postgres", 5432);
pub const REDIS: Port = Port::tcp("redis", 6379);
/// HTTPS out, for the app store and federation.
const HTTPS_OUT: Port = Port::tcp("https", 443);

/// Nextcloud reached by the ingress controller, reaching the Internet over HTTPS; the
/// database and cache reached by Nextcloud and its cron job only. With mail on, both send
/// through the tenant's mail server (submission) and nowhere else on SMTP.
pub fn network(mail_on: bool) -> Vec<Allow> {
    let nextcloud = [
        (Service::Collaboration, "nextcloud"),
        (Service::Collaboration, "cron"),
    ];
    let mut allows = vec![
        Allow {
            name: "allow-nextcloud",
            pods: PodsOf::Component(Service::Collaboration, "nextcloud"),
            ingress: Some((Peer::AnyPod, vec![HTTP])),
            egress: Some((Peer::Anywhere, vec![HTTPS_OUT])),
        },
        Allow {
            name: "allow-nextcloud-backends",
            pods: PodsOf::Service(Service::Collaboration),
            ingress: Some((Peer::Pods(nextcloud.to_vec()), vec![POSTGRES, REDIS])),
            egress: Some((
                Peer::Pods(vec![
                    (Service::Collaboration, "database"),
                    (Service::Collaboration, "cache"),
                ]),
                vec![POSTGRES, REDIS],
            )),
        },
    ];
    if mail_on {
        for (name, component) in [
            ("allow-nextcloud-smtp", "nextcloud"),
            ("allow-nextcloud-cron-smtp", "cron"),
        ] {
            allows.push(Allow {
                name,
                pods: PodsOf::Component(Service::Collaboration, component),
                ingress: None,
                egress: Some((
                    Peer::Pods(vec![(Service::Mail, "mail")]),
                    vec![mail::SUBMISSION],
                )),
            });
        }
    }
    allows
}
pub(super) const WWW_DATA: i64 = 33;

/// Where the pods read their Secret files (the image's `*_FILE` variables point here).
pub(super) const SECRETS_DIR: &str = "/run/secrets/mutualis";
/// The entrypoint runs the executable `*.sh` files of this directory at every start.
const HOOKS_DIR: &str = "/docker-entrypoint-hooks.d/before-starting";
const HOOKS: [&str; 2] = ["mutualis-settings.sh", "member-groups.sh"];
/// PHP's conf.d: the entrypoint writes the Redis session settings there at start, so the
/// web pod gets a writable copy of the image's own files.
const PHP_CONF_D: &str = "/usr/local/etc/php/conf.d";

pub fn build(ctx: &Ctx<'_>, out: &mut Out) {
    let host = ctx.cloud_host();
    for secret in [ADMIN_SECRET, DB_SECRET, REDIS_SECRET] {
        out.secret(
            ctx,
            secret,
            Service::Collaboration,
            vec![("password".to_owned(), SecretKind::Password { length: 32 })],
        );
    }
    if !ctx.tenant.services().is_on(Service::Mail) {
        out.notes.push(format!(
            "collaboration: mail is off, {host} sends no e-mail (no SMTP settings)"
        ));
    }
    let mut data = BTreeMap::from(settings::apache_files(&host));
    data.insert(HOOKS[0].to_owned(), settings::settings_hook(ctx));
    data.insert(HOOKS[1].to_owned(), settings::member_groups_hook(ctx));
    let hash = config_hash(&data);
    out.push(config_map(
        ctx.meta(CONFIG, Service::Collaboration, "nextcloud", "nextcloud"),
        data,
    ));
    out.push(pvc(
        ctx.meta(
            NEXTCLOUD_PVC,
            Service::Collaboration,
            "nextcloud",
            "nextcloud",
        ),
        ctx.volume(NEXTCLOUD_PVC),
        ctx.storage_class(),
    ));
    out.push(pvc(
        ctx.meta(
            POSTGRES_PVC,
            Service::Collaboration,
            "postgresql",
            "database",
        ),
        ctx.volume(POSTGRES_PVC),
        ctx.storage_class(),
    ));
    backends::database(ctx, out);
    backends::cache(ctx, out);

    let sel = selector(ctx.tenant.name(), Service::Collaboration, "nextcloud");
    let meta = || {
        ctx.meta(
            "nextcloud",
            Service::Collaboration,
            "nextcloud",
            "nextcloud",
        )
    };
    out.push(service(meta(), sel.clone(), &[HTTP], false));
    out.push(deployment(
        meta(),
        sel.clone(),
        Some(hash),
        web_pod(ctx),
        true,
    ));
    out.push(ingress(
        meta(),
        ctx.ingress_class(),
        ctx.issuer(),
        std::slice::from_ref(&host),
        "nextcloud",
        HTTP.port,
        "nextcloud-tls",
        &[(
            "nginx.ingress.kubernetes.io/proxy-body-size",
            &settings::ingress_body_size(),
        )],
    ));
    out.push(cron::cron(ctx, sel));
}

/// `/status.php` with the trusted host name: Nextcloud answers 400 to other hosts.
fn status_probe(host: &str) -> Probe {
    let mut status = http_probe("/status.php", HTTP.target, 10, 3);
    if let Some(get) = status.http_get.as_mut() {
        get.http_headers = Some(vec![HTTPHeader {
            name: "Host".into(),
            value: host.to_owned(),
        }]);
    }
    status
}

fn web_pod(ctx: &Ctx<'_>) -> PodSpec {
    let status = status_probe(&ctx.cloud_host());
    let image = ctx.tenant.catalog().images.collaboration.reference();
    // The image's conf.d, copied where the entrypoint may add its Redis session file.
    let php_conf = Container {
        name: "php-conf".into(),
        image: Some(image.clone()),
        command: Some(vec![
            "/bin/sh".into(),
            "-c".into(),
            format!("cp -R {PHP_CONF_D}/. /php-conf/"),
        ]),
        volume_mounts: Some(vec![mount("php-conf", "/php-conf", None, false)]),
        security_context: Some(restricted(WWW_DATA)),
        resources: Some(resources("10m", "16Mi", "100m", "64Mi")),
        ..Container::default()
    };
    let mut mounts = nextcloud_mounts();
    mounts.extend([
        mount("php-conf", PHP_CONF_D, None, false),
        mount(
            "config",
            "/etc/apache2/ports.conf",
            Some("ports.conf"),
            true,
        ),
        mount(
            "config",
            "/etc/apache2/sites-available/000-default.conf",
            Some("000-default.conf"),
            true,
        ),
        mount("hooks", HOOKS_DIR, None, true),
    ]);
    let container = Container {
        name: "nextcloud".into(),
        image: Some(image),
        ports: Some(vec![HTTP.container_port()]),
        env: Some(settings::web_env(ctx)),
        volume_mounts: Some(mounts),
        // The entrypoint copies and upgrades the application into /var/www/html and writes
        // PHP settings at start: the root filesystem must stay writable for this image.
        security_context: Some(restricted(WWW_DATA)).map(|mut s| {
            s.read_only_root_filesystem = Some(false);
            s
        }),
        resources: Some(resources("250m", "512Mi", "2", "2Gi")),
        // Upgrades run at start and can take many minutes: the startup probe allows 15
        // before liveness takes over.
        startup_probe: Some(Probe {
            period_seconds: Some(10),
            failure_threshold: Some(90),
            ..status.clone()
        }),
        readiness_probe: Some(status.clone()),
        liveness_probe: Some(Probe {
            period_seconds: Some(30),
            failure_threshold: Some(4),
            ..status
        }),
        ..Container::default()
    };
    let mut volumes = nextcloud_volumes(ctx, true);
    volumes.extend([
        crate::plan::builders::config_volume("config", CONFIG),
        hooks_volume(),
        scratch("php-conf", "16Mi"),
    ]);
    PodSpec {
        init_containers: Some(vec![php_conf]),
        containers: vec![container],
        volumes: Some(volumes),
        security_context: Some(pod(Some(WWW_DATA))),
        ..PodSpec::default()
    }
}

/// The hook scripts as a directory, executable (the entrypoint skips other files).
fn hooks_volume() -> Volume {
    Volume {
        name: "hooks".into(),
        config_map: Some(ConfigMapVolumeSource {
            name: CONFIG.to_owned(),
            items: Some(
                HOOKS
                    .iter()
                    .map(|h| KeyToPath {
                        key: (*h).to_owned(),
                        path: (*h).to_owned(),
                        mode: None,
                    })
                    .collect(),
            ),
            default_mode: Some(0o555),
            optional: None,
        }),
        ..Volume::default()
    }
}

/// What the web pod and the cron job both mount: the application and data, scratch space,
/// and their Secret files.
pub(super) fn nextcloud_mounts() -> Vec<VolumeMount> {
    vec![
        mount("data", "/var/www/html", None, false),
        mount("tmp", "/tmp", None, false),
        mount("secrets", SECRETS_DIR, None, true),
    ]
}

pub(super) fn nextcloud_volumes(ctx: &Ctx<'_>, web: bool) -> Vec<Volume> {
    vec![
        claim_volume("data", NEXTCLOUD_PVC),
        scratch("tmp", "1Gi"),
        settings::secrets_volume(ctx, web),
    ]
}
