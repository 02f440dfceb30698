//! How mail leaves the cluster: SPF authorises exactly the catalogue's declaration, the mail
//! server relays when told to, its egress policy follows, and a catalogue without the
//! declaration refuses tenants with mail.

use serde_json::{Value, json};

use super::super::*;
use super::{CATALOG, TENANT, find, plan_of, tenant};
use crate::api::ServiceCatalog;

const RELAY: &str = "outbound: {relay: {host: smtp-relay.example.net, spfInclude: _spf.example.net, credentialsSecretRef: {name: smtp-relay, namespace: mutualis-system}}}";

fn catalog_with(outbound: Option<&str>) -> ServiceCatalog {
    let direct = "outbound: {egressAddresses: [192.0.2.25, \"2001:db8::25\"]}";
    let yaml = match outbound {
        Some(o) => CATALOG.replace(direct, o),
        None => CATALOG.replace(&format!("  mail:\n    {direct}\n"), ""),
    };
    assert_ne!(yaml, CATALOG, "the fixture holds the direct declaration");
    serde_saphyr::from_str(&yaml).unwrap()
}

fn plan_with(catalog: &ServiceCatalog) -> Result<Plan, PlanError> {
    Ok(build(
        &validate(&tenant(TENANT), catalog)?,
        &PlanInputs::default(),
    ))
}

fn env_of(plan: &Plan) -> Vec<Value> {
    let d = find(plan, "Deployment", "mail").to_json();
    d["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .clone()
}

fn egress_ports(plan: &Plan) -> Vec<i64> {
    let p = find(plan, "NetworkPolicy", "allow-mail").to_json();
    p["spec"]["egress"][0]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_i64().unwrap())
        .collect()
}

#[test]
fn spf_authorises_the_egress_addresses_and_mail_is_delivered_directly() {
    let p = plan_of(TENANT, &PlanInputs::default());
    for z in &p.zones {
        assert!(
            z.text
                .contains("IN TXT \"v=spf1 ip4:192.0.2.25 ip6:2001:db8::25 -all\""),
            "{}",
            z.text
        );
        assert!(!z.text.contains("v=spf1 mx"), "{}", z.text);
    }
    assert!(
        !env_of(&p)
            .iter()
            .any(|e| e["name"].as_str().unwrap().starts_with("RELAY_"))
    );
    let mut ports = egress_ports(&p);
    ports.sort_unstable();
    assert_eq!(ports, [25, 53, 53]);
}

#[test]
fn a_relay_is_included_in_spf_configured_and_the_only_way_out() {
    let p = plan_with(&catalog_with(Some(RELAY))).unwrap();
    for z in &p.zones {
        assert!(
            z.text
                .contains("IN TXT \"v=spf1 include:_spf.example.net -all\""),
            "{}",
            z.text
        );
    }
    let env = env_of(&p);
    let by_name = |n: &str| env.iter().find(|e| e["name"] == n).cloned().unwrap();
    assert_eq!(by_name("RELAY_HOST")["value"], "smtp-relay.example.net");
    assert_eq!(by_name("RELAY_PORT")["value"], "587", "the default port");
    for (var, key) in [("RELAY_USER", "username"), ("RELAY_PASSWORD", "password")] {
        let from = &by_name(var)["valueFrom"]["secretKeyRef"];
        assert_eq!(
            from["name"], "mail-relay",
            "the copy in the tenant's namespace"
        );
        assert_eq!(from["key"], key);
    }
    let copy = p.secrets.iter().find(|s| s.name == "mail-relay").unwrap();
    assert_eq!(copy.namespace, "mutualis-villages");
    assert!(copy.keys.iter().all(|(_, k)| matches!(k,
        SecretKind::CopiedFrom { namespace, name, .. } if namespace == "mutualis-system" && name == "smtp-relay")));
    let mut ports = egress_ports(&p);
    ports.sort_unstable();
    assert_eq!(
        ports,
        [53, 53, 587],
        "no port 25 out: mail cannot bypass the relay"
    );
}

#[test]
fn a_catalogue_without_outbound_refuses_tenants_with_mail_only() {
    let catalog = catalog_with(None);
    let err = plan_with(&catalog).unwrap_err().to_string();
    assert!(
        err.contains("spec.mail.outbound")
            && err.contains("egressAddresses")
            && err.contains("relay"),
        "{err}"
    );
    let no_mail = TENANT.replace("  admins:", "  services: {mail: false}\n  admins:");
    assert!(validate(&tenant(&no_mail), &catalog).is_ok());
}

#[test]
fn bad_outbound_declarations_are_refused_with_the_field() {
    for (outbound, field, problem) in [
        (
            "outbound: {egressAddresses: [192.0.2.300]}",
            "spec.mail.outbound.egressAddresses[0]",
            "not an IP address",
        ),
        (
            "outbound: {egressAddresses: [127.0.0.1]}",
            "spec.mail.outbound.egressAddresses[0]",
            "cannot be a sending address",
        ),
        (
            "outbound: {egressAddresses: [192.0.2.25], relay: {host: r.example.net, spfInclude: _spf.example.net}}",
            "spec.mail.outbound",
            "exactly one",
        ),
        ("outbound: {}", "spec.mail.outbound", "exactly one"),
        (
            "outbound: {relay: {host: r.example.net, spfInclude: \"not a name\"}}",
            "spec.mail.outbound.relay.spfInclude",
            "not a DNS name",
        ),
    ] {
        let err = validate_catalog(&catalog_with(Some(outbound)))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(field) && err.contains(problem),
            "{outbound}: {err}"
        );
    }
}

/// The mail certificate's DNS-01 challenge is delegated by CNAME to the syndicate's challenge
/// zone, in the tenant's own zone only (the mail host is `mail.<tenant domain>`).
#[test]
fn the_mail_challenge_is_delegated_to_the_challenge_zone() {
    let yaml = CATALOG.replace(
        "tls: {clusterIssuer: letsencrypt}",
        "tls: {clusterIssuer: letsencrypt, mail: {clusterIssuer: acme-dns01, challengeZone: acme.example.net}}",
    );
    assert_ne!(yaml, CATALOG);
    let catalog: ServiceCatalog = serde_saphyr::from_str(&yaml).unwrap();
    let p = plan_with(&catalog).unwrap();
    assert!(
        p.zones[0]
            .text
            .contains("_acme-challenge.mail.villages.fr. 3600 IN CNAME villages.acme.example.net."),
        "{}",
        p.zones[0].text
    );
    assert!(
        p.zones[1..]
            .iter()
            .all(|z| !z.text.contains("_acme-challenge"))
    );
    // The mail certificate is a Certificate asked of the DNS-01 issuer; the websites keep the
    // HTTP-01 one through their Ingresses. No Ingress routes the mail host any more.
    let website_issuer = |p: &Plan| {
        find(p, "Ingress", "website").to_json()["metadata"]["annotations"]["cert-manager.io/cluster-issuer"].clone()
    };
    let mail_certificate = |p: &Plan| find(p, "Certificate", "mail-tls").to_json();
    let cert = mail_certificate(&p);
    assert_eq!(cert["apiVersion"], "cert-manager.io/v1");
    assert_eq!(
        cert["spec"]["issuerRef"],
        json!({"name": "acme-dns01", "kind": "ClusterIssuer", "group": "cert-manager.io"})
    );
    assert_eq!(cert["spec"]["secretName"], "mail-tls");
    assert_eq!(cert["spec"]["dnsNames"], json!(["mail.villages.fr"]));
    // The issued Secret carries the tenant's labels, so the operator's Secret cache sees it.
    assert_eq!(
        cert["spec"]["secretTemplate"]["labels"]["mutualis.io/tenant"],
        cert["metadata"]["labels"]["mutualis.io/tenant"]
    );
    assert_eq!(
        cert["spec"]["secretTemplate"]["labels"]["app.kubernetes.io/managed-by"],
        "mutualis"
    );
    assert!(
        p.objects
            .iter()
            .all(|o| !(o.kind() == "Ingress" && o.name() == "mail"))
    );
    assert_eq!(website_issuer(&p), "letsencrypt");
    let without = plan_of(TENANT, &PlanInputs::default());
    assert!(!without.zones[0].text.contains("_acme-challenge"));
    assert_eq!(
        mail_certificate(&without)["spec"]["issuerRef"]["name"],
        "letsencrypt"
    );
    assert!(
        without.notes.iter().any(|n| n.contains("spec.tls.mail")),
        "{:?}",
        without.notes
    );
}

/// Until cert-manager has issued the mail certificate's Secret, the mail service says so
/// (`CertificatePending`, naming the Secret and the issuer) instead of a pod that cannot start.
#[test]
fn the_mail_service_waits_for_its_certificate_and_says_so() {
    let pending = plan_of(TENANT, &PlanInputs::default());
    let waiting: Vec<_> = pending
        .waiting
        .iter()
        .filter(|w| w.reason == crate::api::conditions::reasons::CERTIFICATE_PENDING)
        .collect();
    assert_eq!(waiting.len(), 1, "{:?}", pending.waiting);
    assert_eq!(waiting[0].service, crate::api::Service::Mail);
    assert!(
        waiting[0].message.contains("mail-tls"),
        "{}",
        waiting[0].message
    );
    assert!(
        waiting[0].message.contains("letsencrypt"),
        "{}",
        waiting[0].message
    );
    assert_eq!(pending.mail_certificate_secret(), Some("mail-tls"));
    let issued = plan_of(
        TENANT,
        &PlanInputs {
            mail_certificate_issued: true,
            ..PlanInputs::default()
        },
    );
    assert!(
        issued
            .waiting
            .iter()
            .all(|w| w.reason != crate::api::conditions::reasons::CERTIFICATE_PENDING),
        "{:?}",
        issued.waiting
    );
    // The objects do not depend on it: the mail server is deployed, its pod waits for the mount.
    assert_eq!(pending.objects, issued.objects);
}
