//! NAS: one Samba server (samba-container) with an SMB share for the tenant and for each
//! member commune, each with its own generated user, on the `nas-data` volume (`split.nas`).
//! Reached inside the cluster, and from the networks the Tenant (or its catalogue) declares
//! through a load balancer restricted to them; SMB is never open to anyone else.

use std::collections::BTreeMap;
use std::fmt::Write;

use k8s_openapi::api::core::v1::{Container, PodSpec};

use super::{Ctx, Out};
use crate::api::Service;
use crate::plan::builders::{
    claim_volume, config_hash, config_map, config_volume, deployment, env, pvc, secret_volume,
    service,
};
use crate::plan::network::{Allow, Peer, PodsOf, Port};
use crate::plan::object::{Object, selector};
use crate::plan::secrets::SecretKind;
use crate::plan::security::{mount, pod, resources, root_with, scratch_in_memory, tcp_probe};
use crate::plan::storage::{Share, VolumeSpec};

/// The service's one volume (every share): all of its storage share.
pub const DATA_PVC: &str = "nas-data";
pub const VOLUMES: [VolumeSpec; 1] = [VolumeSpec {
    pvc: DATA_PVC,
    share: Share::Rest,
}];

const CONFIG: &str = "nas-config";
const USERS_SECRET: &str = "nas-users";
/// The init container's view of that Secret: a file per share user, named after it.
const PASSWORDS_DIR: &str = "/etc/samba-passwords";
pub const SMB: Port = Port::tcp("smb", 445);

/// Reached by pods of the cluster and, through the load balancer, from the `networks` the
/// Tenant or its catalogue declares (`spec.nas.allowedNetworks`); from nowhere else.
pub fn network(networks: &[String]) -> Vec<Allow> {
    let mut allows = vec![Allow {
        name: "allow-nas",
        pods: PodsOf::Component(Service::Nas, "nas"),
        ingress: Some((Peer::AnyPod, vec![SMB])),
        egress: None,
    }];
    if !networks.is_empty() {
        allows.push(Allow {
            name: "allow-nas-networks",
            pods: PodsOf::Component(Service::Nas, "nas"),
            ingress: Some((Peer::Networks(networks.to_vec()), vec![SMB])),
            egress: None,
        });
    }
    allows
}
/// First uid of share users; share directories are owned by their user.
const FIRST_UID: u32 = 2000;

/// A share: its name (the tenant's or a member's Kubernetes name) and display name.
struct NasShare<'a> {
    name: &'a str,
    comment: &'a str,
}

/// SMB inside the cluster (ClusterIP); with declared networks, a LoadBalancer admitting only
/// them (`loadBalancerSourceRanges`), keeping client addresses (`externalTrafficPolicy:
/// Local`) for the policy's `ipBlock`s, without node ports.
fn smb_service(ctx: &Ctx<'_>, sel: BTreeMap<String, String>) -> Object {
    let networks = ctx.tenant.nas_networks();
    let mut svc = service(
        ctx.meta("nas", Service::Nas, "samba", "nas"),
        sel,
        &[SMB],
        !networks.is_empty(),
    );
    if let Object::Service(s) = &mut svc
        && let Some(spec) = s.spec.as_mut()
        && !networks.is_empty()
    {
        spec.load_balancer_source_ranges = Some(networks.to_vec());
    }
    svc
}

pub fn build(ctx: &Ctx<'_>, out: &mut Out) {
    let t = ctx.tenant;
    let shares: Vec<NasShare<'_>> = std::iter::once(NasShare {
        name: t.name(),
        comment: t.display_name(),
    })
    .chain(t.members().iter().map(|m| NasShare {
        name: &m.name,
        comment: &m.display_name,
    }))
    .collect();
    out.secret(
        ctx,
        USERS_SECRET,
        Service::Nas,
        shares
            .iter()
            .map(|s| (s.name.to_owned(), SecretKind::Password { length: 24 }))
            .collect(),
    );

    let config = sambacc_config(&shares);
    let script = prepare_script(&shares);
    let data = BTreeMap::from([
        ("config.json".to_owned(), config),
        ("prepare.sh".to_owned(), script),
    ]);
    let hash = config_hash(&data);
    out.push(config_map(
        ctx.meta(CONFIG, Service::Nas, "samba", "nas"),
        data,
    ));
    out.push(pvc(
        ctx.meta(DATA_PVC, Service::Nas, "samba", "nas"),
        ctx.volume(DATA_PVC),
        ctx.storage_class(),
    ));

    let sel = selector(t.name(), Service::Nas, "nas");
    out.push(smb_service(ctx, sel.clone()));

    let pod_spec = pod_spec(t.catalog().images.nas.reference());
    out.push(deployment(
        ctx.meta("nas", Service::Nas, "samba", "nas"),
        sel,
        Some(hash),
        pod_spec,
        true,
    ));
}

/// sambacc's configuration, without users: their passwords are only known in the pod.
fn sambacc_config(shares: &[NasShare<'_>]) -> String {
    let mut share_defs = String::new();
    for (i, s) in shares.iter().enumerate() {
        let sep = if i == 0 { "" } else { ",\n" };
        let _ = write!(
            share_defs,
            "{sep}    {name:?}: {{\"options\": {{\"path\": \"/shares/{name}\", \"comment\": {comment}, \"valid users\": {name:?}, \"read only\": \"no\", \"browseable\": \"yes\"}}}}",
            name = s.name,
            comment = serde_json::Value::String(s.comment.to_owned()),
        );
    }
    let names: Vec<String> = shares.iter().map(|s| format!("{:?}", s.name)).collect();
    format!(
        "{{\n  \"samba-container-config\": \"v0\",\n  \"configs\": {{\"mutualis\": {{\"shares\": [{}], \"globals\": [\"mutualis\"], \"instance_name\": \"NAS\"}}}},\n  \"globals\": {{\"mutualis\": {{\"options\": {{\"security\": \"user\", \"server min protocol\": \"SMB3\", \"smb encrypt\": \"required\", \"load printers\": \"no\", \"printing\": \"bsd\", \"printcap name\": \"/dev/null\", \"disable spoolss\": \"yes\", \"guest ok\": \"no\", \"map to guest\": \"Never\"}}}}}},\n  \"shares\": {{\n{share_defs}\n  }}\n}}\n",
        names.join(", ")
    )
}

/// The init container's script: the users file from the mounted Secret's passwords, and each
/// share directory owned by its user.
fn prepare_script(shares: &[NasShare<'_>]) -> String {
    let mut script = String::from(
        "set -eu\nmkdir -p /etc/samba-users\n{\n  printf '{\"samba-container-config\": \"v0\", \"users\": {\"all_entries\": ['\n",
    );
    for (i, s) in shares.iter().enumerate() {
        let uid = FIRST_UID + i as u32;
        let sep = if i == 0 { "" } else { "," };
        let _ = writeln!(
            script,
            "  printf '{sep}{{\"name\": \"{n}\", \"uid\": {uid}, \"gid\": {uid}, \"password\": \"%s\"}}' \"$(cat {PASSWORDS_DIR}/{n})\"",
            n = s.name
        );
    }
    script.push_str("  printf ']}}\\n'\n} > /etc/samba-users/users.json\n");
    for (i, s) in shares.iter().enumerate() {
        let uid = FIRST_UID + i as u32;
        let _ = writeln!(
            script,
            "mkdir -p /shares/{n} && chown {uid}:{uid} /shares/{n} && chmod 0770 /shares/{n}",
            n = s.name
        );
    }
    script
}

/// The Samba pod: the init container preparing users and share directories, then smbd.
fn pod_spec(image: String) -> PodSpec {
    let init = Container {
        name: "prepare".into(),
        image: Some(image.clone()),
        command: Some(vec![
            "/bin/sh".into(),
            "/etc/samba-container/prepare.sh".into(),
        ]),
        volume_mounts: Some(vec![
            mount("config", "/etc/samba-container", None, true),
            mount("passwords", PASSWORDS_DIR, None, true),
            mount("users", "/etc/samba-users", None, false),
            mount("data", "/shares", None, false),
        ]),
        security_context: Some(root_with(&["CHOWN", "FOWNER"])),
        resources: Some(resources("10m", "16Mi", "100m", "64Mi")),
        ..Container::default()
    };
    let container = Container {
        name: "samba".into(),
        image: Some(image),
        env: Some(vec![
            env("SAMBA_CONTAINER_ID", "mutualis"),
            env(
                "SAMBACC_CONFIG",
                "/etc/samba-container/config.json:/etc/samba-users/users.json",
            ),
        ]),
        ports: Some(vec![SMB.container_port()]),
        volume_mounts: Some(vec![
            mount("config", "/etc/samba-container", None, true),
            mount("users", "/etc/samba-users", None, true),
            mount("data", "/shares", None, false),
        ]),
        // smbd starts as root and switches to each share's user per session.
        security_context: Some(root_with(&[
            "CHOWN",
            "DAC_OVERRIDE",
            "FOWNER",
            "NET_BIND_SERVICE",
            "SETGID",
            "SETUID",
        ])),
        resources: Some(resources("100m", "128Mi", "1", "512Mi")),
        readiness_probe: Some(tcp_probe(SMB.target, 10, 3)),
        liveness_probe: Some(tcp_probe(SMB.target, 30, 3)),
        ..Container::default()
    };
    PodSpec {
        init_containers: Some(vec![init]),
        containers: vec![container],
        volumes: Some(vec![
            config_volume("config", CONFIG),
            // Root reads it, in the init container only.
            secret_volume("passwords", USERS_SECRET, 0o400),
            scratch_in_memory("users", "1Mi"),
            claim_volume("data", DATA_PVC),
        ]),
        security_context: Some(pod(None)),
        ..PodSpec::default()
    }
}
