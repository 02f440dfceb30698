//! Names and catalogue values at and past their limits: refused by `validate` with the field,
//! never a panic in the builders.

use super::super::*;
use super::{CATALOG, TENANT, catalog, tenant};
use crate::api::ServiceCatalog;

/// A domain of exactly `len` ASCII characters.
fn domain_of(len: usize) -> String {
    let mut s = String::new();
    while len - s.len() > 53 {
        s.push_str(&"a".repeat(50));
        s.push('.');
    }
    s.push_str(&"a".repeat(len - s.len() - 3));
    s + ".fr"
}

fn with_domain(domain: &str) -> String {
    TENANT.replace("domain: villages.fr", &format!("domain: {domain}"))
}

fn with_member_domain(domain: &str) -> String {
    TENANT.replace("domain: tresses.fr", &format!("domain: {domain}"))
}

fn refused(yaml: &str, cat: &ServiceCatalog) -> String {
    let err = validate(&tenant(yaml), cat).expect_err("refused");
    let text = err.to_string();
    assert!(text.len() < 500, "{} bytes: {text}", text.len());
    text
}

#[test]
fn long_domains_are_refused_not_panicked_on() {
    for len in [233, 240, 253] {
        let d = domain_of(len);
        let err = refused(&with_domain(&d), &catalog());
        assert!(
            err.starts_with("spec.domain: Too long: ")
                && err.contains("may not be more than 232 characters"),
            "{err}"
        );
        let err = refused(&with_member_domain(&d), &catalog());
        assert!(err.starts_with("spec.members[1].domain: "), "{err}");
    }
    // The longest domain allowed plans every derived name.
    let d = domain_of(232);
    let p = build(
        &validate(&tenant(&with_domain(&d)), &catalog()).unwrap(),
        &PlanInputs::default(),
    );
    assert!(p.zones[0].text.contains(&format!("_dmarc.{d}.")));
}

#[test]
fn unicode_domains_count_in_ascii_form() {
    // 127 characters as written, 277 once punycoded.
    let label: String = (0..24u32)
        .map(|i| char::from_u32(0x4e00 + i * 37).unwrap())
        .collect();
    let d = format!("{}.fr", [label.as_str(); 5].join("."));
    assert!(d.chars().count() < 232);
    let err = refused(&with_domain(&d), &catalog());
    assert!(err.starts_with("spec.domain: "), "{err}");
}

fn catalog_with(from: &str, to: &str) -> ServiceCatalog {
    assert!(CATALOG.contains(from), "{from}");
    serde_saphyr::from_str(&CATALOG.replace(from, to)).unwrap()
}

#[test]
fn bad_hostmasters_are_refused() {
    for bad in [
        "hostmaster@example..net",
        "host..master@example.net",
        ".hostmaster@example.net",
        &format!("{}@example.net", "h".repeat(64)),
        "hostmaster@",
        "hostmaster",
    ] {
        let cat = catalog_with("hostmaster@example.net", bad);
        let err = refused(TENANT, &cat);
        assert!(err.contains("spec.dns.hostmaster"), "{bad}: {err}");
    }
    // The CRD asks for the host in ASCII form (as the SOA carries it): a Unicode host is
    // refused, as the API server would refuse it.
    let cat = catalog_with("hostmaster@example.net", "dns-admin@sallebœuf.fr");
    let err = refused(TENANT, &cat);
    assert!(err.contains("spec.dns.hostmaster: Invalid value"), "{err}");
}

#[test]
fn unicode_catalogue_names_are_refused_as_the_api_refuses_them() {
    // Found by the property tests: a Unicode CNAME target passed validation, then panicked.
    // The CRD asks for ASCII host names there; the plan holds the same rule.
    for (from, to, field) in [
        (
            "webTarget: {addresses: [192.0.2.1]}",
            "webTarget: {cname: œ.example}",
            "spec.dns.webTarget.cname",
        ),
        (
            "webTarget: {addresses: [192.0.2.1]}",
            "webTarget: {addresses: [192.0.2.1]}\n    caaIssuers: [autorité.fr]",
            "spec.dns.caaIssuers[0]",
        ),
    ] {
        let err = refused(TENANT, &catalog_with(from, to));
        assert!(err.contains(&format!("{field}: Invalid value")), "{err}");
    }
}

#[test]
fn catalogue_mistakes_are_refused() {
    let cases = [
        (
            "webTarget: {addresses: [192.0.2.1]}",
            "webTarget: {addresses: [192.0.2.1]}\n    caaIssuers: [\"letsencrypt org\"]",
            "spec.dns.caaIssuers[0]",
        ),
        (
            "webTarget: {addresses: [192.0.2.1]}",
            "webTarget: {addresses: [192.0.2.1]}\n    ttl: 0",
            "spec.dns.ttl",
        ),
        (
            "webTarget: {addresses: [192.0.2.1]}",
            "webTarget: {addresses: [192.0.2.1]}\n    soa: {refresh: 3600, retry: 7200}",
            "retry < refresh < expire",
        ),
        (
            "repository: redis,",
            "repository: \"redis:7\",",
            "spec.images.cache.repository",
        ),
        (
            "repository: postgres,",
            "repository: \"postgres@sha256:abc\",",
            "spec.images.database.repository",
        ),
    ];
    for (from, to, expect) in cases {
        let err = refused(TENANT, &catalog_with(from, to));
        assert!(err.contains(expect), "{to}: {err}");
    }
    // A registry with a port is a repository, not a tag.
    let cat = catalog_with(
        "repository: redis,",
        "repository: \"registry.example:5000/library/redis\",",
    );
    validate(&tenant(TENANT), &cat).unwrap();
}
