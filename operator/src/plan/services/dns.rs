//! DNS: an authoritative zone per domain, with the records the enabled services need, served
//! by CoreDNS's `file` plugin from the `dns-zones` ConfigMap. The file plugin reloads a zone
//! when its SOA serial rises, which is why serials follow content (see `plan::zone`).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::IpAddr;

use hickory_proto::rr::rdata::MX;
use hickory_proto::rr::{Name, RData, Record};
use k8s_openapi::api::core::v1::{Container, ContainerPort, PodSpec};

use super::{Ctx, Out};
use crate::plan::Service;
use crate::plan::builders::{config_hash, config_map, config_volume, deployment, port, service};
use crate::plan::hosts;
use crate::plan::object::selector;
use crate::plan::security::{http_probe, mount, pod, resources, restricted};
use crate::plan::validate::Domain;
use crate::plan::zone::{
    SoaValues, ZONE_VERSIONS_ANNOTATION, ZoneFile, ZoneVersions, address, caa_issue, cname, fqdn,
    mx, ns, sub, txt, zone_file,
};

const CONFIG: &str = "dns-zones";
/// CoreDNS listens on an unprivileged port; the Service maps 53 to it.
const DNS_PORT: i32 = 1053;
const HEALTH_PORT: i32 = 8080;
const READY_PORT: i32 = 8181;
/// The `nonroot` user of the CoreDNS image.
const COREDNS_UID: i64 = 65532;

/// The zones of every domain of the tenant.
pub fn zones(ctx: &Ctx<'_>, notes: &mut Vec<String>) -> Vec<ZoneFile> {
    let t = ctx.tenant;
    let dns = &t.catalog().dns;
    let soa = SoaValues {
        primary: fqdn(&t.name_servers()[0]),
        mailbox: fqdn(&hosts::soa_mailbox(&dns.hostmaster)),
        refresh: dns.soa.refresh,
        retry: dns.soa.retry,
        expire: dns.soa.expire,
        minimum: dns.soa.minimum,
    };
    let services = t.services();
    if services.website && dns.web_target.cname.is_some() {
        notes.push("dns: the web target is a CNAME, which a zone apex cannot hold; only www. names point to it".into());
    }
    if services.mail && ctx.inputs.dkim.is_none() {
        notes.push(
            "dns: no DKIM record yet; it is published once the mail-dkim Secret exists".into(),
        );
    }
    if services.mail && ctx.inputs.mail_addresses.is_empty() {
        notes.push(format!(
            "dns: no address record for {} until the mail LoadBalancer has an address",
            ctx.mail_host()
        ));
    }
    // Names shared by every zone, parsed once.
    let shared = Shared {
        name_servers: t.name_servers().iter().map(|n| fqdn(n)).collect(),
        // Validated as domains by the catalogue check; Unicode ones go out in ASCII form.
        issuers: dns
            .caa_issuers
            .iter()
            .filter_map(|i| Name::from_ascii(hosts::ascii(i)).ok())
            .collect(),
        mail_host: fqdn(&ctx.mail_host()),
        web_cname: dns
            .web_target
            .cname
            .as_deref()
            .map(|c| fqdn(&hosts::ascii(c))),
        web_addresses: dns
            .web_target
            .addresses
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect(),
    };
    t.domains()
        .map(|d| {
            let body = records(ctx, &shared, d, d == t.domain());
            zone_file(
                &d.ascii,
                &d.unicode,
                dns.ttl,
                &soa,
                body,
                &ctx.inputs.previous_zones,
            )
        })
        .collect()
}

struct Shared {
    name_servers: Vec<Name>,
    issuers: Vec<Name>,
    mail_host: Name,
    web_cname: Option<Name>,
    web_addresses: Vec<IpAddr>,
}

fn records(ctx: &Ctx<'_>, shared: &Shared, d: &Domain, primary: bool) -> Vec<Record> {
    let t = ctx.tenant;
    let dns = &t.catalog().dns;
    let ttl = dns.ttl;
    let apex = fqdn(&d.ascii);
    let mut r = Vec::with_capacity(24);
    for server in &shared.name_servers {
        r.push(ns(&apex, ttl, server));
    }
    for issuer in &shared.issuers {
        r.push(caa_issue(&apex, ttl, issuer));
    }
    let web = |r: &mut Vec<Record>, owner: Name, apex_name: bool| match &shared.web_cname {
        Some(target) if !apex_name => r.push(cname(owner, ttl, target)),
        Some(_) => {}
        None => {
            for ip in &shared.web_addresses {
                r.push(address(owner.clone(), ttl, *ip));
            }
        }
    };
    let services = t.services();
    if services.website {
        web(&mut r, apex.clone(), true);
        web(&mut r, sub(hosts::WWW, &d.ascii), false);
    }
    if services.collaboration && primary {
        web(&mut r, sub(hosts::CLOUD, &d.ascii), false);
    }
    if services.mail {
        r.push(mx(&apex, ttl, 10, &shared.mail_host));
        r.push(txt(apex.clone(), ttl, "v=spf1 mx -all"));
        r.push(txt(
            sub(hosts::DMARC, &d.ascii),
            ttl,
            &format!(
                "v=DMARC1; p={}; rua=mailto:dmarc-reports@{}",
                dns.dmarc_policy.as_str(),
                d.ascii
            ),
        ));
        if let Some(key) = &ctx.inputs.dkim {
            r.push(txt(
                sub(&hosts::dkim_label(&key.selector), &d.ascii),
                ttl,
                &format!("v=DKIM1; k={}; p={}", key.algorithm, key.public_key_base64),
            ));
        }
        if primary {
            for ip in &ctx.inputs.mail_addresses {
                r.push(address(sub(hosts::MAIL, &d.ascii), ttl, *ip));
            }
        }
    } else {
        // A domain that sends no mail says so (RFC 7505 null MX, SPF -all): spoofers lose it.
        r.push(Record::from_rdata(
            apex.clone(),
            ttl,
            RData::MX(MX::new(0, Name::root())),
        ));
        r.push(txt(apex.clone(), ttl, "v=spf1 -all"));
        r.push(txt(sub(hosts::DMARC, &d.ascii), ttl, "v=DMARC1; p=reject"));
    }
    r
}

/// The CoreDNS workload serving `zones`.
pub fn build(ctx: &Ctx<'_>, zones: &[ZoneFile], out: &mut Out) {
    let t = ctx.tenant;
    let mut corefile = String::from("# Generated by mutualis: one server block per zone.\n");
    for (i, z) in zones.iter().enumerate() {
        let _ = write!(
            corefile,
            "{o}:{DNS_PORT} {{\n    file /etc/coredns/db.{o} {o} {{\n        reload 30s\n    }}\n    errors\n    log . {{\n        class denial error\n    }}\n",
            o = z.origin
        );
        if i == 0 {
            let _ = write!(
                corefile,
                "    health :{HEALTH_PORT}\n    ready :{READY_PORT}\n"
            );
        }
        corefile.push_str("}\n");
    }
    // The zones change on their own (serials); only the Corefile needs a pod restart.
    let hash = config_hash(&BTreeMap::from([("Corefile".to_owned(), corefile.clone())]));
    let mut data = BTreeMap::from([("Corefile".to_owned(), corefile)]);
    for z in zones {
        data.insert(format!("db.{}", z.origin), z.text.clone());
    }
    let mut meta = ctx.meta(CONFIG, Service::Dns, "coredns", "dns");
    let versions = ZoneVersions(
        zones
            .iter()
            .map(|z| (z.origin.clone(), z.version.clone()))
            .collect(),
    );
    meta.annotations = Some(BTreeMap::from([(
        ZONE_VERSIONS_ANNOTATION.to_owned(),
        versions.to_annotation(),
    )]));
    out.push(config_map(meta, data));

    let sel = selector(t.name(), Service::Dns, "dns");
    out.push(service(
        ctx.meta("dns", Service::Dns, "coredns", "dns"),
        sel.clone(),
        vec![
            port("dns-udp", 53, DNS_PORT, "UDP"),
            port("dns-tcp", 53, DNS_PORT, "TCP"),
        ],
        true,
    ));
    let container_port = |name: &str, p: i32, proto: &str| ContainerPort {
        name: Some(name.to_owned()),
        container_port: p,
        protocol: Some(proto.to_owned()),
        ..ContainerPort::default()
    };
    let container = Container {
        name: "coredns".into(),
        image: Some(t.catalog().images.dns.reference()),
        args: Some(vec!["-conf".into(), "/etc/coredns/Corefile".into()]),
        ports: Some(vec![
            container_port("dns-udp", DNS_PORT, "UDP"),
            container_port("dns-tcp", DNS_PORT, "TCP"),
            container_port("health", HEALTH_PORT, "TCP"),
        ]),
        volume_mounts: Some(vec![mount("zones", "/etc/coredns", None, true)]),
        security_context: Some(restricted(COREDNS_UID)),
        resources: Some(resources("50m", "32Mi", "500m", "128Mi")),
        readiness_probe: Some(http_probe("/ready", READY_PORT, 10, 3)),
        liveness_probe: Some(http_probe("/health", HEALTH_PORT, 20, 5)),
        ..Container::default()
    };
    let pod_spec = PodSpec {
        containers: vec![container],
        volumes: Some(vec![config_volume("zones", CONFIG)]),
        security_context: Some(pod(None)),
        ..PodSpec::default()
    };
    out.push(deployment(
        ctx.meta("dns", Service::Dns, "coredns", "dns"),
        sel,
        Some(hash),
        pod_spec,
        false,
    ));
}
