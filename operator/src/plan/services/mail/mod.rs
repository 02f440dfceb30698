//! Mail: one docker-mailserver per tenant, serving the tenant's domain and every member's.
//! Volume: `mail-data` (mailboxes, state and the server's own config, via sub-paths), sized
//! by the tier's `split.mail`. DKIM signing by rspamd with a key the apply step generates.

mod accounts;

use std::collections::BTreeMap;
use std::fmt::Write;

use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec};

use super::{Ctx, Out};
use crate::api::Service;
use crate::api::conditions::reasons;
use crate::plan::Waiting;
use crate::plan::builders::{
    claim_volume, config_hash, config_map, config_volume, deployment, env, pvc, secret_volume,
    service,
};
use crate::plan::catalog_mail::Outbound;
use crate::plan::certificate::certificate;
use crate::plan::network::{Allow, DNS_CLIENT, Peer, PodsOf, Port};
use crate::plan::object::selector;
use crate::plan::secrets::{
    DKIM_PRIVATE_KEY, DKIM_PUBLIC_KEY, DKIM_SECRET, DKIM_SELECTOR, SecretKind,
};
use crate::plan::security::{mount, resources, root_with, tcp_probe};
use crate::plan::storage::{Share, VolumeSpec};

/// The service's one volume (mailboxes, state and the server's own configuration): all of its storage share.
pub const DATA_PVC: &str = "mail-data";
pub const VOLUMES: [VolumeSpec; 1] = [VolumeSpec {
    pvc: DATA_PVC,
    share: Share::Rest,
}];

const CONFIG: &str = "mail-config";
/// The postmaster mailbox's password; Nextcloud authenticates with it to send.
pub const POSTMASTER_SECRET: &str = "mail-postmaster";
const TLS_SECRET: &str = "mail-tls";
/// docker-mailserver's configuration directory.
const DMS_CONFIG: &str = "/tmp/docker-mailserver";

/// The mail protocols; the container listens on the standard ports because postfix and dovecot
/// are started by the image's init as root and drop privileges themselves.
pub const SMTP: Port = Port::tcp("smtp", 25);
pub const SUBMISSIONS: Port = Port::tcp("submissions", 465);
pub const SUBMISSION: Port = Port::tcp("submission", 587);
pub const IMAPS: Port = Port::tcp("imaps", 993);
const PORTS: [Port; 4] = [SMTP, SUBMISSIONS, SUBMISSION, IMAPS];

/// Reached from anywhere on every mail port; reaches the DNS resolvers rspamd uses and the
/// way out the catalogue declares: other domains' MX (SMTP) when sending directly, only the
/// relay's port when relaying (no port 25 out, so nothing bypasses the relay's SPF).
pub fn network(outbound: Option<&Outbound>) -> Vec<Allow> {
    let out = match outbound {
        Some(Outbound::Relay { port, .. }) => Port::tcp("relay", i32::from(*port)),
        _ => SMTP,
    };
    vec![Allow {
        name: "allow-mail",
        pods: PodsOf::Component(Service::Mail, "mail"),
        ingress: Some((Peer::Anywhere, PORTS.to_vec())),
        egress: Some((
            Peer::Anywhere,
            [out].into_iter().chain(DNS_CLIENT).collect(),
        )),
    }]
}

/// The Secret the relay credentials are read from in the tenant's namespace (copied there
/// when the catalogue names another namespace).
pub const RELAY_SECRET: &str = "mail-relay";

/// docker-mailserver's relay settings (v15 reads `RELAY_HOST`, `RELAY_PORT`, `RELAY_USER`
/// and `RELAY_PASSWORD`), and the copy of the credentials the tenant's namespace needs.
fn relay(ctx: &Ctx<'_>, environment: &mut Vec<EnvVar>, out: &mut Out) {
    let Some(Outbound::Relay { host, port, .. }) = ctx.tenant.outbound() else {
        return;
    };
    environment.push(env("RELAY_HOST", host));
    environment.push(env("RELAY_PORT", &port.to_string()));
    let credentials = ctx
        .tenant
        .catalog()
        .mail
        .as_ref()
        .and_then(|m| m.outbound.relay.as_ref())
        .and_then(|r| r.credentials_secret_ref.as_ref());
    let Some(secret) = credentials else {
        return;
    };
    let name = match &secret.namespace {
        Some(namespace) if namespace != ctx.tenant.namespace() => {
            out.secret(
                ctx,
                RELAY_SECRET,
                Service::Mail,
                ["username", "password"]
                    .into_iter()
                    .map(|key| {
                        (
                            key.to_owned(),
                            SecretKind::CopiedFrom {
                                namespace: namespace.clone(),
                                name: secret.name.clone(),
                                key: key.to_owned(),
                            },
                        )
                    })
                    .collect(),
            );
            RELAY_SECRET
        }
        _ => secret.name.as_str(),
    };
    environment.push(env_secret("RELAY_USER", name, "username"));
    environment.push(env_secret("RELAY_PASSWORD", name, "password"));
}

/// A variable from a Secret key. Only for the relay credentials: docker-mailserver reads
/// `RELAY_USER`/`RELAY_PASSWORD` from its environment alone (every other credential is a file).
fn env_secret(name: &str, secret: &str, key: &str) -> k8s_openapi::api::core::v1::EnvVar {
    use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, SecretKeySelector};
    EnvVar {
        name: name.to_owned(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_owned(),
                key: key.to_owned(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
    }
}

/// The files mounted into docker-mailserver's configuration: the aliases (each domain's
/// RFC 2142 mailboxes to the tenant's postmaster, which also makes every member domain a
/// virtual domain, then the declared aliases), and rspamd's DKIM signing settings.
fn config_files(ctx: &Ctx<'_>, postmaster: &str) -> BTreeMap<String, String> {
    let mut aliases = String::new();
    let t = ctx.tenant;
    let declared = std::iter::once(t.mail()).chain(t.members().iter().map(|m| &m.mail));
    for (d, mail) in t.domains().zip(declared) {
        for local in crate::plan::hosts::MAILBOXES {
            let address = format!("{local}@{}", d.ascii);
            if address != postmaster {
                let _ = writeln!(aliases, "{address} {postmaster}");
            }
        }
        // Postfix's virtual(5) table: one alias, its addresses separated by commas.
        for (local, to) in &mail.aliases {
            let _ = writeln!(aliases, "{local}@{} {}", d.ascii, to.join(","));
        }
    }
    // rspamd's UCL: `key = value;`, strings quoted.
    let mut dkim = String::from(
        "# Generated by mutualis: one RSA-2048 key signs every domain of the tenant.\n",
    );
    let key_path = format!("/etc/mutualis/dkim/{DKIM_PRIVATE_KEY}");
    for (key, value, quoted) in [
        ("enabled", "true", false),
        ("sign_authenticated", "true", false),
        ("sign_local", "true", false),
        ("use_domain", "header", true),
        ("use_esld", "false", false),
        ("allow_username_mismatch", "true", false),
        ("try_fallback", "true", false),
        ("selector", DKIM_SELECTOR, true),
        ("path", key_path.as_str(), true),
    ] {
        let value = if quoted {
            serde_json::Value::String(value.to_owned()).to_string()
        } else {
            value.to_owned()
        };
        let _ = writeln!(dkim, "{key} = {value};");
    }
    BTreeMap::from([
        ("postfix-virtual.cf".to_owned(), aliases),
        ("dkim_signing.conf".to_owned(), dkim),
    ])
}

/// docker-mailserver's settings (its environment variables).
fn server_environment(host: &str, postmaster: &str) -> Vec<k8s_openapi::api::core::v1::EnvVar> {
    vec![
        env("OVERRIDE_HOSTNAME", host),
        env("POSTMASTER_ADDRESS", postmaster),
        env("ENABLE_RSPAMD", "1"),
        env("ENABLE_OPENDKIM", "0"),
        env("ENABLE_OPENDMARC", "0"),
        env("ENABLE_POLICYD_SPF", "0"),
        env("ENABLE_AMAVIS", "0"),
        // ClamAV alone needs more memory than the rest of the server; off by default.
        env("ENABLE_CLAMAV", "0"),
        // fail2ban needs NET_ADMIN; abuse is handled at the load balancer instead.
        env("ENABLE_FAIL2BAN", "0"),
        env("PERMIT_DOCKER", "none"),
        env("SPOOF_PROTECTION", "1"),
        env("ENABLE_UPDATE_CHECK", "0"),
        env("LOG_LEVEL", "info"),
    ]
}

/// The mail server container.
fn server(
    ctx: &Ctx<'_>,
    environment: Vec<k8s_openapi::api::core::v1::EnvVar>,
    mounts: Vec<k8s_openapi::api::core::v1::VolumeMount>,
) -> Container {
    Container {
        name: "mailserver".into(),
        image: Some(ctx.tenant.catalog().images.mail.reference()),
        ports: Some(PORTS.iter().map(Port::container_port).collect()),
        env: Some(environment),
        volume_mounts: Some(mounts),
        // The image's supervisord starts as root and postfix/dovecot drop to their users;
        // this is docker-mailserver's documented minimal capability set (no NET_ADMIN: no fail2ban).
        security_context: Some(root_with(&[
            "CHOWN",
            "DAC_OVERRIDE",
            "FOWNER",
            "KILL",
            "MKNOD",
            "NET_BIND_SERVICE",
            "SETGID",
            "SETUID",
            "SYS_CHROOT",
        ])),
        resources: Some(resources("200m", "512Mi", "1", "1536Mi")),
        startup_probe: Some(tcp_probe(SMTP.target, 10, 30)),
        readiness_probe: Some(tcp_probe(SMTP.target, 10, 3)),
        liveness_probe: Some(tcp_probe(SMTP.target, 30, 5)),
        ..Container::default()
    }
}

/// With a TLS issuer: the certificate's mount and settings, and the cert-manager `Certificate`
/// that issues `mail-tls` for the mail host — through the DNS-01 issuer of `spec.tls.mail`
/// (docs/dns.md), since an HTTP-01 challenge for mail.<domain> arrives at the mail load
/// balancer, which has no port 80. Until the Secret exists the mail service waits, and says so.
fn tls(
    ctx: &Ctx<'_>,
    host: &str,
    environment: &mut Vec<k8s_openapi::api::core::v1::EnvVar>,
    mounts: &mut Vec<k8s_openapi::api::core::v1::VolumeMount>,
    volumes: &mut Vec<k8s_openapi::api::core::v1::Volume>,
    out: &mut Out,
) {
    let Some(fallback) = ctx.issuer() else {
        out.notes.push(format!(
            "mail: no TLS issuer in the catalogue, {host} serves SMTP and IMAP without TLS"
        ));
        return;
    };
    environment.push(env("SSL_TYPE", "manual"));
    environment.push(env("SSL_CERT_PATH", "/etc/mutualis/tls/tls.crt"));
    environment.push(env("SSL_KEY_PATH", "/etc/mutualis/tls/tls.key"));
    mounts.push(mount("tls", "/etc/mutualis/tls", None, true));
    volumes.push(secret_volume("tls", TLS_SECRET, 0o440));
    // The DNS-01 issuer of `spec.tls.mail` when the catalogue has one: its challenge is
    // delegated by CNAME (see dns.rs). Without it the general issuer is asked, which only
    // works where that issuer solves DNS-01 too, or mail.<domain> reaches the ingress on 80.
    let mail_issuer = ctx
        .tenant
        .catalog()
        .tls
        .as_ref()
        .and_then(|t| t.mail.as_ref());
    if mail_issuer.is_none() {
        out.notes.push(format!(
            "mail: no spec.tls.mail in the catalogue: the certificate of {host} is asked of ClusterIssuer {fallback}; an HTTP-01 challenge reaches the mail load balancer, not the ingress, so declare a DNS-01 issuer there"
        ));
    }
    let issuer = mail_issuer.map_or(fallback, |m| m.cluster_issuer.as_str());
    let meta = ctx.meta(TLS_SECRET, Service::Mail, "docker-mailserver", "mail");
    let secret_labels = meta.labels.clone().unwrap_or_default();
    out.push(certificate(
        meta,
        TLS_SECRET,
        vec![host.to_owned()],
        issuer,
        secret_labels,
    ));
    if !ctx.inputs.mail_certificate_issued {
        out.waiting.push(Waiting {
            service: Service::Mail,
            reason: reasons::CERTIFICATE_PENDING,
            message: format!(
                "the certificate of {host} is not issued yet: Secret {TLS_SECRET} does not exist; ClusterIssuer {issuer} issues it (kubectl describe certificate {TLS_SECRET} -n {})",
                ctx.tenant.namespace()
            ),
        });
    }
}

/// The server's volumes: mailboxes, state and its own configuration on the data volume (by
/// sub-path), the mounted configuration files, and the DKIM key.
fn mounts_and_volumes() -> (
    Vec<k8s_openapi::api::core::v1::VolumeMount>,
    Vec<k8s_openapi::api::core::v1::Volume>,
) {
    let mounts = vec![
        mount("data", "/var/mail", Some("mail"), false),
        mount("data", "/var/mail-state", Some("state"), false),
        mount("data", DMS_CONFIG, Some("config"), false),
        mount(
            "config",
            &format!("{DMS_CONFIG}/postfix-virtual.cf"),
            Some("postfix-virtual.cf"),
            true,
        ),
        mount(
            "config",
            &format!("{DMS_CONFIG}/rspamd/override.d/dkim_signing.conf"),
            Some("dkim_signing.conf"),
            true,
        ),
        mount("dkim", "/etc/mutualis/dkim", None, true),
    ];
    let volumes = vec![
        claim_volume("data", DATA_PVC),
        config_volume("config", CONFIG),
        // rspamd reads the key as its own user, not root. The key is named: until the Secret
        // holds it, the kubelet does not start the pod (the key is generated in the background).
        {
            let mut dkim = secret_volume("dkim", DKIM_SECRET, 0o444);
            if let Some(source) = dkim.secret.as_mut() {
                source.items = Some(vec![k8s_openapi::api::core::v1::KeyToPath {
                    key: DKIM_PRIVATE_KEY.to_owned(),
                    path: DKIM_PRIVATE_KEY.to_owned(),
                    mode: None,
                }]);
            }
            dkim
        },
    ];
    (mounts, volumes)
}

pub fn build(ctx: &Ctx<'_>, out: &mut Out) {
    let t = ctx.tenant;
    let host = ctx.mail_host();
    let postmaster = format!("postmaster@{}", t.domain().ascii);
    out.secret(
        ctx,
        DKIM_SECRET,
        Service::Mail,
        vec![(
            DKIM_PRIVATE_KEY.to_owned(),
            SecretKind::RsaDkimKey {
                public_key: DKIM_PUBLIC_KEY.to_owned(),
            },
        )],
    );
    out.secret(
        ctx,
        POSTMASTER_SECRET,
        Service::Mail,
        vec![("password".to_owned(), SecretKind::Password { length: 32 })],
    );
    accounts::request_secrets(ctx, out);
    let data = config_files(ctx, &postmaster);
    let hash = config_hash(&data);
    out.push(config_map(
        ctx.meta(CONFIG, Service::Mail, "docker-mailserver", "mail"),
        data,
    ));
    out.push(pvc(
        ctx.meta(DATA_PVC, Service::Mail, "docker-mailserver", "mail"),
        ctx.volume(DATA_PVC),
        ctx.storage_class(),
    ));
    let sel = selector(t.name(), Service::Mail, "mail");
    out.push(service(
        ctx.meta("mail", Service::Mail, "docker-mailserver", "mail"),
        sel.clone(),
        &PORTS,
        true,
    ));

    let mut environment = server_environment(&host, &postmaster);
    relay(ctx, &mut environment, out);
    let (mut mounts, mut volumes) = mounts_and_volumes();
    tls(ctx, &host, &mut environment, &mut mounts, &mut volumes, out);
    let (init, passwords) = accounts::init(ctx);
    volumes.push(passwords);
    let pod = PodSpec {
        init_containers: Some(vec![init]),
        containers: vec![server(ctx, environment, mounts)],
        volumes: Some(volumes),
        security_context: Some(crate::plan::security::pod(None)),
        termination_grace_period_seconds: Some(60),
        ..PodSpec::default()
    };
    let workload = deployment(
        ctx.meta("mail", Service::Mail, "docker-mailserver", "mail"),
        sel,
        Some(hash),
        pod,
        true,
    );
    // Without its DKIM key the server would send unsigned mail: its pod waits for the key's
    // volume, which the operator fills in the background (the status says so). The Deployment
    // itself does not change when the key comes: the pod starts without another apply.
    if ctx.inputs.dkim.is_none() {
        out.waiting.push(Waiting {
            service: Service::Mail,
            reason: reasons::DKIM_KEY_PENDING,
            message: format!("the DKIM key of {host} is being generated; the mail server starts once it is stored in Secret {DKIM_SECRET}"),
        });
    }
    out.push(workload);
}
