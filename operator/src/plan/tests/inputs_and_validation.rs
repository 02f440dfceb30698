//! Zones against their inputs (DKIM key, previous serials, mail addresses), switched-off
//! services, and what validation refuses.

use std::net::IpAddr;

use super::super::object::labels;
use super::super::*;
use super::{TENANT, catalog, find, plan_of, tenant};

#[test]
fn zones_follow_inputs_dkim_and_mail_addresses() {
    let offline = plan_of(TENANT, &PlanInputs::default());
    assert_eq!(offline.zones.len(), 3);
    assert!(!offline.zones[0].text.contains("_domainkey"));
    assert!(offline.notes.iter().any(|n| n.contains("DKIM")));
    let inputs = PlanInputs {
        dkim: Some(DkimPublicKey {
            algorithm: "ed25519".into(),
            public_key_base64: "MCowBQYDK2VwAyEA".into(),
            selector: "mutualis".into(),
        }),
        previous_zones: offline.zone_versions(),
        mail_addresses: vec!["198.51.100.7".parse::<IpAddr>().unwrap()],
        ..PlanInputs::default()
    };
    let online = plan_of(TENANT, &inputs);
    let primary = &online.zones[0].text;
    assert!(primary.contains("mutualis._domainkey.villages.fr. 3600 IN TXT \"v=DKIM1; k=ed25519; p=MCowBQYDK2VwAyEA\""), "{primary}");
    assert!(primary.contains("mail.villages.fr. 3600 IN A 198.51.100.7"));
    assert!(
        online.zones[1]
            .text
            .contains("mutualis._domainkey.xn--sallebuf-ptb.fr.")
    );
    assert!(
        online.zones.iter().all(|z| z.version.serial == 2),
        "content changed: serials rise"
    );
    let again = plan_of(
        TENANT,
        &PlanInputs {
            previous_zones: online.zone_versions(),
            ..inputs
        },
    );
    assert!(
        again.zones.iter().all(|z| z.version.serial == 2),
        "unchanged: serials stay"
    );
    let cm = find(&again, "ConfigMap", "zones-villages");
    let stored = ZoneVersions::from_annotations(cm.metadata().annotations.as_ref().unwrap());
    assert_eq!(
        stored,
        again.zone_versions(),
        "the reconciler reads back what the plan wrote"
    );
}

#[test]
fn disabled_services_have_no_objects_and_a_mail_less_domain_says_so() {
    let off = TENANT.replace(
        "  tier: small\n",
        "  tier: small\n  services: {mail: false, nas: false}\n",
    );
    let p = plan_of(&off, &PlanInputs::default());
    for o in &p.objects {
        let service = &o.metadata().labels.as_ref().unwrap()[labels::SERVICE];
        assert!(service != "mail" && service != "nas", "{}", o.name());
    }
    assert!(
        p.storage
            .volume(crate::plan::services::mail::DATA_PVC)
            .is_none()
    );
    let zone = &p.zones[0].text;
    assert!(zone.contains("villages.fr. 3600 IN MX 0 ."), "{zone}");
    assert!(zone.contains("\"v=spf1 -all\""));
    assert!(p.endpoints.mail_host.is_none() && p.endpoints.nas.is_none());
}

#[test]
fn validation_refuses_what_the_builders_cannot_handle() {
    let cases = [
        (
            TENANT.replace("tier: small", "tier: huge"),
            "spec.tier: \"huge\" is not a tier of ServiceCatalog \"test\"; allowed: \"small\"",
        ),
        (
            TENANT.replace("domain: tresses.fr", "domain: villages.fr"),
            // The CRD's CEL rule (the same rules as the API server's).
            "spec.members: Invalid value: \"array\": a member's domain must differ from the tenant's own domain",
        ),
        (
            TENANT.replace("domain: tresses.fr", "domain: SALLEBŒUF.fr"),
            "spec.members[1].domain: domain \"SALLEBŒUF.fr\" is already used by spec.members[0].domain",
        ),
        (
            TENANT.replace("name: tresses", "name: salleboeuf"),
            "spec.members[1].name: member name \"salleboeuf\" is already used by spec.members[0].name",
        ),
        (
            TENANT.replace("name: tresses", "name: villages"),
            "spec.members[1].name: member name \"villages\" is already used by metadata.name",
        ),
        (
            TENANT.replace("name: tresses", "name: Tresses"),
            "spec.members[1].name: Invalid value: \"Tresses\": spec.members[1].name in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'",
        ),
        (
            TENANT.replace("displayName: Sallebœuf", "displayName: 東京"),
            "spec.members[0].name: cannot derive a Kubernetes name from display name \"東京\"",
        ),
        (
            TENANT.replace("domain: villages.fr", "domain: villages"),
            "spec.domain: Invalid value: \"villages\": spec.domain in body should match",
        ),
        (
            TENANT.replace("catalogRef: test", "catalogRef: other"),
            "spec.catalogRef: ServiceCatalog \"other\" not found",
        ),
        (
            TENANT.replace("name: villages}", "name: Villages}"),
            "metadata.name: Invalid value: \"Villages\": a lowercase RFC 1123 subdomain",
        ),
    ];
    for (yaml, expected) in cases {
        let err = validate(&tenant(&yaml), &catalog())
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "expected {expected:?} in {err:?}");
    }
}

/// The NS records name the catalogue's shared name servers: the zones go to them, as one
/// ConfigMap in their namespace with one `db.<A-label origin>` file per zone, and the tenant
/// runs no name server of its own.
#[test]
fn zones_are_published_for_the_shared_name_servers() {
    let p = plan_of(TENANT, &PlanInputs::default());
    let cm = find(&p, "ConfigMap", "zones-villages").to_json();
    assert_eq!(cm["metadata"]["namespace"], "mutualis-dns");
    let files: Vec<&str> = cm["data"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        files,
        ["db.tresses.fr", "db.villages.fr", "db.xn--sallebuf-ptb.fr"]
    );
    assert_eq!(
        cm["data"]["db.xn--sallebuf-ptb.fr"].as_str().unwrap(),
        p.zones[1].text
    );
    for o in &p.objects {
        let service = &o.metadata().labels.as_ref().unwrap()[labels::SERVICE];
        assert!(
            service != "dns" || o.name() == "zones-villages",
            "{} {}: the tenant runs no name server",
            o.kind(),
            o.name()
        );
    }
}

/// Zone files are ASCII: `$ORIGIN`, every owner name and every name in RDATA in A-label form
/// (a Unicode name in a zone file is another name to every server).
#[test]
fn zone_files_hold_only_a_label_names() {
    let p = plan_of(TENANT, &PlanInputs::default());
    let z = p
        .zones
        .iter()
        .find(|z| z.unicode == "sallebœuf.fr")
        .unwrap();
    assert_eq!(z.origin, "xn--sallebuf-ptb.fr");
    assert!(z.text.is_ascii(), "{}", z.text);
    for r in &z.records {
        let owner = r.name.to_ascii();
        assert!(owner.ends_with("xn--sallebuf-ptb.fr."), "owner {owner}");
        let data = r.data.to_string();
        assert!(data.is_ascii(), "{data}");
    }
    assert!(z.text.contains("_dmarc.xn--sallebuf-ptb.fr."));
    assert!(z.text.contains("mailto:dmarc-reports@xn--sallebuf-ptb.fr"));
}
const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn a_catalogue_digest_pins_the_image_by_content() {
    let mut c = catalog();
    c.spec.images.cache.digest = Some(DIGEST.to_owned());
    let p = build(
        &validate(&tenant(TENANT), &c).unwrap(),
        &PlanInputs::default(),
    );
    let redis = find(&p, "Deployment", "redis").to_json();
    assert_eq!(
        redis["spec"]["template"]["spec"]["containers"][0]["image"],
        format!("redis:8.2.4@{DIGEST}")
    );
    // Without a digest: repository:tag, as before.
    let p = plan_of(TENANT, &PlanInputs::default());
    let nextcloud = find(&p, "Deployment", "nextcloud").to_json();
    let image = nextcloud["spec"]["template"]["spec"]["containers"][0]["image"].clone();
    assert!(image.as_str().is_some_and(|i| !i.contains('@')), "{image}");
}

#[test]
fn a_repository_with_a_tag_or_digest_and_a_bad_digest_are_refused() {
    let refused = |edit: &dyn Fn(&mut crate::api::Image)| {
        let mut c = catalog();
        edit(&mut c.spec.images.cache);
        validate(&tenant(TENANT), &c).unwrap_err().to_string()
    };
    for repository in [
        "redis:7",
        "docker.io/library/redis:8.2",
        "redis@sha256:00",
        "registry.example:5000",
    ] {
        let e = refused(&|i| i.repository = repository.to_owned());
        assert!(
            e.contains("spec.images.cache.repository")
                && e.contains(repository)
                && e.contains("should match"),
            "{e}"
        );
    }
    // A registry port followed by a path is a repository, not a tag.
    let mut c = catalog();
    c.spec.images.cache.repository = "registry.example:5000/mirror/redis".into();
    assert!(validate(&tenant(TENANT), &c).is_ok());
    for digest in [
        "sha256:00",
        "sha512:0123",
        &DIGEST.to_uppercase(),
        "0123456789abcdef",
    ] {
        let e = refused(&|i| i.digest = Some(digest.to_owned()));
        assert!(
            e.contains("spec.images.cache.digest")
                && e.contains(digest)
                && e.contains("should match '^sha256:[a-f0-9]{64}$'"),
            "{e}"
        );
    }
}
