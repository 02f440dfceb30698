//! DNS: an authoritative zone per domain, with the records the enabled services need,
//! published as the tenant's zone ConfigMap in the shared DNS namespace. The catalogue's name
//! servers (the NS records) are one shared, redundant CoreDNS installed by the Helm chart; its
//! `auto` plugin reloads a zone when its SOA serial rises, which is why serials follow content
//! (see `plan::zone`).

use std::collections::BTreeMap;
use std::net::IpAddr;

use hickory_proto::rr::rdata::MX;
use hickory_proto::rr::{Name, RData, Record};

use super::{Ctx, Out};
use crate::api::Service;
use crate::plan::builders::config_map;
use crate::plan::hosts;
use crate::plan::network::Allow;
use crate::plan::object::meta;
use crate::plan::validate::Domain;
use crate::plan::zone::{
    SoaValues, ZONE_VERSIONS_ANNOTATION, ZoneFile, ZoneVersions, address, caa_issue, cname, fqdn,
    mx, ns, sub, txt, zone_file,
};

/// No workload in the tenant's namespace: the shared name servers have their own policy.
pub fn network() -> Vec<Allow> {
    Vec::new()
}

/// The zones of every domain of the tenant.
fn zones(ctx: &Ctx<'_>, notes: &mut Vec<String>) -> Vec<ZoneFile> {
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
    if services.is_on(Service::Website) && dns.web_target.cname.is_some() {
        notes.push("dns: the web target is a CNAME, which a zone apex cannot hold; only www. names point to it".into());
    }
    if services.is_on(Service::Mail) && ctx.inputs.dkim.is_none() {
        notes.push(
            "dns: no DKIM record yet; it is published once the mail-dkim Secret exists".into(),
        );
    }
    if services.is_on(Service::Mail) && ctx.inputs.mail_addresses.is_empty() {
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
    if services.is_on(Service::Website) {
        web(&mut r, apex.clone(), true);
        web(&mut r, sub(hosts::WWW, &d.ascii), false);
    }
    if services.is_on(Service::Collaboration) && primary {
        web(&mut r, sub(hosts::CLOUD, &d.ascii), false);
    }
    if services.is_on(Service::Mail) {
        r.push(mx(&apex, ttl, 10, &shared.mail_host));
        // SPF authorises the way out the catalogue declares (validate requires it with mail).
        if let Some(outbound) = t.outbound() {
            r.push(txt(apex.clone(), ttl, &outbound.spf()));
        }
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
        // DNS-01 for the mail certificate, delegated to the syndicate's challenge zone.
        if primary && let Some(zone) = dns_01_zone(ctx) {
            r.push(cname(
                sub(hosts::MAIL_ACME_CHALLENGE, &d.ascii),
                ttl,
                &fqdn(&format!("{}.{zone}", t.name())),
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

/// The challenge zone of the mail certificate's DNS-01 issuer, when the catalogue has one.
fn dns_01_zone(ctx: &Ctx<'_>) -> Option<String> {
    let mail = ctx.tenant.catalog().tls.as_ref()?.mail.as_ref()?;
    Some(mail.challenge_zone.trim_end_matches('.').to_owned())
}

/// The zones, published for the shared name servers.
pub fn build(ctx: &Ctx<'_>, out: &mut Out) {
    let zones = zones(ctx, &mut out.notes);
    publish(ctx, &zones, out);
    out.zones = zones;
}

/// The tenant's zones as one ConfigMap in the shared DNS namespace, one `db.<origin>` file per
/// zone: the shared CoreDNS's sidecar copies every ConfigMap labelled [`ZONE_LABEL`] there
/// into the directory CoreDNS's `auto` plugin loads, so a changed or new zone is served
/// without a restart. The Tenant owns it (a cluster-scoped owner of a namespaced child), so
/// deleting the Tenant removes its zones.
fn publish(ctx: &Ctx<'_>, zones: &[ZoneFile], out: &mut Out) {
    let t = ctx.tenant;
    let data: BTreeMap<String, String> = zones
        .iter()
        .map(|z| (format!("db.{}", z.origin), z.text.clone()))
        .collect();
    let mut meta = meta(
        t.name(),
        Some(&t.catalog().dns.zones_namespace),
        &zones_config_map(t.name()),
        Service::Dns,
        "coredns",
        "zones",
    );
    meta.labels
        .get_or_insert_with(BTreeMap::new)
        .insert(ZONE_LABEL.to_owned(), "true".to_owned());
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
}

/// The label the shared name servers' sidecar selects zone ConfigMaps by.
pub const ZONE_LABEL: &str = crate::plan::object::labels::ZONE;

/// `zones-<tenant>`, the tenant's zone ConfigMap in the shared DNS namespace.
pub fn zones_config_map(tenant: &str) -> String {
    format!("zones-{tenant}")
}
