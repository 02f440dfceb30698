//! Publishing: an SFTPGo server beside nginx in the website pod, on the same content volume
//! (ReadWriteOnce: one pod mounts it), where nginx keeps it read-only. One SFTP account per
//! domain, named after the domain (ASCII form), confined by SFTPGo to that domain's site
//! directory — the directory nginx serves the domain from. Passwords are generated into the
//! Secret `website-sftp` (key = the domain's ASCII form).
//!
//! SFTPGo runs unprivileged (uid 1000) and confines users in its own virtual file system,
//! where OpenSSH's `ChrootDirectory` would need root. Its users come from a dump the init
//! container writes into memory at each start (the `memory` data provider loads it), so the
//! declaration is the only source of accounts; its host keys are generated once on the
//! volume, outside every site, so they survive restarts and are never served.

use std::fmt::Write;

use k8s_openapi::api::core::v1::{Container, PodSpec};

use super::super::{Ctx, Out};
use crate::api::Service;
use crate::plan::builders::{env, secret_files, service};
use crate::plan::network::{Allow, Peer, PodsOf, Port, Protocol};
use crate::plan::object::{Object, selector};
use crate::plan::secrets::SecretKind;
use crate::plan::security::{mount, resources, restricted, scratch_in_memory, tcp_probe};

/// SFTP on the standard port outside, SFTPGo's unprivileged default inside.
pub const SFTP: Port = Port::mapped("sftp", 22, 2022, Protocol::Tcp);
/// The SFTPGo image's user.
const SFTPGO_UID: i64 = 1000;
/// The Secret holding each domain's SFTP password.
pub const USERS_SECRET: &str = "website-sftp";
/// The SFTP server's Service.
pub const SERVICE: &str = "website-sftp";
/// Where the SFTP containers mount the content volume: `<SITES>/<domain>` is the site.
pub const SITES: &str = "/srv/sites";
/// The host keys, on the volume but outside every site directory (no domain is hidden).
const HOST_KEYS: &str = "/srv/sites/.sftp-host-keys";
/// The users dump the init container writes and SFTPGo's memory provider loads.
const USERS_DIR: &str = "/run/sftpgo";
const USERS_FILE: &str = "/run/sftpgo/users.json";
/// Where the init container sees the passwords: a file per domain.
const PASSWORDS: &str = "/etc/mutualis/sftp";
/// SFTPGo's dump format version this file is written in (`dataprovider.DumpVersion`).
const DUMP_VERSION: u32 = 17;
/// Length of a generated SFTP password.
const PASSWORD_LENGTH: u8 = 24;

/// A domain published over SFTP: its ASCII form and the public keys of its account.
struct Account<'a> {
    domain: &'a str,
    keys: &'a [String],
}

/// The domains published over SFTP: those without a git source.
fn accounts(tenant: &crate::plan::ValidatedTenant) -> Vec<Account<'_>> {
    std::iter::once((tenant.domain(), tenant.site().is_some(), tenant.sftp_keys()))
        .chain(
            tenant
                .members()
                .iter()
                .map(|m| (&m.domain, m.site.is_some(), m.sftp_keys.as_slice())),
        )
        .filter(|(_, git, _)| !git)
        .map(|(d, _, keys)| Account {
            domain: d.ascii.as_str(),
            keys,
        })
        .collect()
}

/// Whether the tenant gets an SFTP server: the catalogue names its image and some domain is
/// published over SFTP.
pub fn published(tenant: &crate::plan::ValidatedTenant) -> bool {
    tenant.catalog().images.sftp.is_some() && !accounts(tenant).is_empty()
}

/// Reached by the cluster's pods and, through the load balancer, from the declared networks.
pub fn network(networks: &[String]) -> Vec<Allow> {
    let mut allows = vec![Allow {
        name: "allow-website-sftp",
        pods: PodsOf::Component(Service::Website, "website"),
        ingress: Some((Peer::AnyPod, vec![SFTP])),
        egress: None,
    }];
    if !networks.is_empty() {
        allows.push(Allow {
            name: "allow-website-sftp-networks",
            pods: PodsOf::Component(Service::Website, "website"),
            ingress: Some((Peer::Networks(networks.to_vec()), vec![SFTP])),
            egress: None,
        });
    }
    allows
}

/// The init script: each site's directory and the host keys' directory on the volume, then
/// the users dump from the password files (generated passwords are `[A-Za-z0-9]`, safe inside
/// a JSON string). A missing password stops the pod rather than creating an open account.
fn script(accounts: &[Account<'_>]) -> String {
    let domains: Vec<&str> = accounts.iter().map(|a| a.domain).collect();
    let mut s = format!("set -eu\numask 077\nmkdir -p {HOST_KEYS}\numask 022\n");
    for d in domains {
        let _ = writeln!(s, "mkdir -p {SITES}/{d}");
        let _ = writeln!(
            s,
            "[ -s {PASSWORDS}/{d} ] || {{ echo \"mutualis: no SFTP password for {d}\" >&2; exit 1; }}"
        );
    }
    s.push_str("umask 077\n{\n  printf '{\"users\": ['\n");
    for (i, a) in accounts.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        let d = a.domain;
        // `type base64` only: no character the shell, printf or JSON would interpret.
        let keys = if a.keys.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = a.keys.iter().map(|k| format!("\"{k}\"")).collect();
            format!(", \"public_keys\": [{}]", list.join(", "))
        };
        let _ = writeln!(
            s,
            "  printf '{sep}{{\"username\": \"{d}\", \"password\": \"%s\", \"status\": 1, \"home_dir\": \"{SITES}/{d}\", \"permissions\": {{\"/\": [\"*\"]}}{keys}}}' \"$(cat {PASSWORDS}/{d})\""
        );
    }
    let _ = write!(
        s,
        "  printf '], \"version\": {DUMP_VERSION}}}\\n'\n}} > {USERS_FILE}.new\nmv {USERS_FILE}.new {USERS_FILE}\n"
    );
    s
}

/// SFTPGo's settings (environment variables `SFTPGO_<section>__<key>`).
fn environment() -> Vec<k8s_openapi::api::core::v1::EnvVar> {
    vec![
        env("SFTPGO_DATA_PROVIDER__DRIVER", "memory"),
        env("SFTPGO_DATA_PROVIDER__NAME", USERS_FILE),
        env("SFTPGO_SFTPD__BINDINGS__0__PORT", &SFTP.target.to_string()),
        env(
            "SFTPGO_SFTPD__HOST_KEYS",
            &format!("{HOST_KEYS}/id_ed25519,{HOST_KEYS}/id_ecdsa"),
        ),
        // No web admin or client: its default port is nginx's, and accounts are declarative.
        env("SFTPGO_HTTPD__BINDINGS__0__PORT", "0"),
        // Files readable by nginx, which reads the volume as another user.
        env("SFTPGO_COMMON__UMASK", "022"),
        // Bans an address after repeated failed logins (in memory, per pod).
        env("SFTPGO_COMMON__DEFENDER__ENABLED", "true"),
    ]
}

/// Adds the SFTP server to the website pod and its Service, Secret and notes to `out`.
pub fn add(ctx: &Ctx<'_>, out: &mut Out, pod: &mut PodSpec) {
    let t = ctx.tenant;
    let Some(image) = t.catalog().images.sftp.as_ref() else {
        out.notes.push(
            "website: the catalogue names no spec.images.sftp: sites cannot be published by SFTP"
                .to_owned(),
        );
        return;
    };
    let accounts = accounts(t);
    if accounts.is_empty() {
        return;
    }
    let domains: Vec<&str> = accounts.iter().map(|a| a.domain).collect();
    out.secret(
        ctx,
        USERS_SECRET,
        Service::Website,
        domains
            .iter()
            .map(|d| {
                (
                    (*d).to_owned(),
                    SecretKind::Password {
                        length: PASSWORD_LENGTH,
                    },
                )
            })
            .collect(),
    );
    let files: Vec<(&str, &str, &str)> = domains.iter().map(|d| (USERS_SECRET, *d, *d)).collect();
    let init = Container {
        name: "sftp-users".into(),
        image: Some(image.reference()),
        command: Some(vec!["/bin/sh".into(), "-c".into(), script(&accounts)]),
        volume_mounts: Some(vec![
            mount("content", SITES, None, false),
            mount("sftp-passwords", PASSWORDS, None, true),
            mount("sftp-users", USERS_DIR, None, false),
        ]),
        security_context: Some(restricted(SFTPGO_UID)),
        resources: Some(resources("10m", "16Mi", "100m", "64Mi")),
        ..Container::default()
    };
    let server = Container {
        name: "sftp".into(),
        image: Some(image.reference()),
        command: Some(vec!["sftpgo".into(), "serve".into()]),
        env: Some(environment()),
        ports: Some(vec![SFTP.container_port()]),
        volume_mounts: Some(vec![
            mount("content", SITES, None, false),
            mount("sftp-users", USERS_DIR, None, true),
            mount("tmp", "/tmp", Some("sftp"), false),
        ]),
        security_context: Some(restricted(SFTPGO_UID)),
        resources: Some(resources("20m", "64Mi", "500m", "256Mi")),
        // No readiness probe: the pod's readiness is nginx's, so an SFTP outage never takes
        // the websites out of their Service. A hung server is restarted.
        liveness_probe: Some(tcp_probe(SFTP.target, 30, 3)),
        ..Container::default()
    };
    pod.init_containers.get_or_insert_with(Vec::new).push(init);
    pod.containers.push(server);
    let volumes = pod.volumes.get_or_insert_with(Vec::new);
    // Read by the SFTPGo user through the pod's fsGroup (nginx's group), by no one else.
    volumes.push(secret_files("sftp-passwords", &files, 0o440));
    volumes.push(scratch_in_memory("sftp-users", "1Mi"));

    let networks = t.sftp_networks();
    let mut svc = service(
        ctx.meta(SERVICE, Service::Website, "sftpgo", "website"),
        selector(t.name(), Service::Website, "website"),
        &[SFTP],
        !networks.is_empty(),
    );
    if let Object::Service(s) = &mut svc
        && let Some(spec) = s.spec.as_mut()
        && !networks.is_empty()
    {
        spec.load_balancer_source_ranges = Some(networks.to_vec());
    }
    out.push(svc);
}
