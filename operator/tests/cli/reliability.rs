//! Input that used to crash or render silently wrong: domains too long once prefixed, two
//! tenants naming one domain, catalogue mistakes.

use super::{assert_all, example, fails, root, run};

fn tenant(name: &str, domain: &str, member_domain: &str) -> String {
    format!(
        "apiVersion: mutualis.io/v1alpha1\nkind: Tenant\nmetadata:\n  name: {name}\nspec:\n  catalogRef: gironde-numerique\n  tier: 250gb\n  displayName: {name}\n  domain: {domain}\n  members:\n  - displayName: Bourg\n    domain: {member_domain}\n"
    )
}

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

#[test]
fn a_domain_too_long_once_prefixed_is_refused_clearly() {
    for (len, field) in [(253, "spec.domain"), (250, "spec.members[0].domain")] {
        let d = domain_of(len);
        let yaml = if field == "spec.domain" {
            tenant("longue", &d, "bourg.fr")
        } else {
            tenant("longue", "longue.fr", &d)
        };
        let err = fails("long.yaml", &yaml);
        assert_all(&err, &[field, "at most 233 characters", "_domainkey"]);
        assert!(err.len() < 500, "{} bytes: {err}", err.len());
    }
}

#[test]
fn two_tenants_naming_one_domain_are_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.yaml");
    let second = dir.path().join("second.yaml");
    std::fs::write(&first, tenant("alpha", "alpha.fr", "Partagé.fr")).unwrap();
    std::fs::write(
        &second,
        tenant("beta", "xn--partag-gva.fr", "beta-bourg.fr"),
    )
    .unwrap();
    let catalog = root().join("examples/catalog.yaml");
    for command in ["plan", "render"] {
        let out = run(
            &[
                command,
                "-f",
                catalog.to_str().unwrap(),
                "-f",
                second.to_str().unwrap(),
                "-f",
                first.to_str().unwrap(),
            ],
            None,
        );
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(out.stdout.is_empty());
        assert_all(
            &err,
            &[
                "second.yaml:",
                "Tenant \"beta\"",
                "spec.domain",
                "already claimed by Tenant \"alpha\" (spec.members[0].domain)",
            ],
        );
    }
}

fn catalog_fails(from: &str, to: &str, parts: &[&str]) {
    let catalog = example("catalog.yaml");
    assert!(catalog.contains(from), "{from}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cat.yaml");
    std::fs::write(&file, catalog.replace(from, to)).unwrap();
    let out = run(&["render", "-f", file.to_str().unwrap()], None);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{to}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_all(&err, parts);
}

#[test]
fn catalogue_mistakes_are_refused_not_rendered() {
    catalog_fails(
        "repository: docker.io/library/redis,",
        "repository: \"redis:7\",",
        &["spec.images.cache.repository", "\"redis:7\"", "tag"],
    );
    catalog_fails(
        "hostmaster: hostmaster@gironde-numerique.fr",
        "hostmaster: host..master@gironde-numerique.fr",
        &["spec.dns.hostmaster", "no dot"],
    );
    catalog_fails(
        "ttl: 3600",
        "ttl: 0",
        &["spec.dns.ttl", "60 to 604800 seconds"],
    );
    catalog_fails(
        "caaIssuers: [letsencrypt.org]",
        "caaIssuers: [\"lets encrypt\"]",
        &["spec.dns.caaIssuers[0]", "\"lets encrypt\""],
    );
    catalog_fails(
        "soa: {refresh: 7200, retry: 3600,",
        "soa: {refresh: 600, retry: 7200,",
        &["spec.dns.soa", "retry < refresh < expire"],
    );
}
