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
        assert_all(
            &err,
            &[field, "Too long", "may not be more than 232 characters"],
        );
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
        &[
            "spec.images.cache.repository: Invalid value: \"redis:7\"",
            "should match",
        ],
    );
    catalog_fails(
        "hostmaster: hostmaster@gironde-numerique.fr",
        "hostmaster: host..master@gironde-numerique.fr",
        &[
            "spec.dns.hostmaster: Invalid value: \"host..master@gironde-numerique.fr\"",
            "should match",
        ],
    );
    catalog_fails(
        "ttl: 3600",
        "ttl: 0",
        &[
            "spec.dns.ttl: Invalid value: 0",
            "greater than or equal to 60",
        ],
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

/// Every message: under 500 bytes, no Rust type or library option.
fn plain(err: &str) {
    assert!(err.len() < 500, "{} bytes: {err}", err.len());
    for leak in [
        "Option<",
        "DuplicateKeyPolicy",
        "budget breached",
        "Depth {",
        "WebTarget {",
        "invalid u8",
        "invalid u32",
        "`",
    ] {
        assert!(!err.contains(leak), "{leak:?} leaks into: {err}");
    }
}

#[test]
fn parser_messages_say_path_value_and_what_is_allowed() {
    let tenant = example("minimal.yaml");
    let missing = fails(
        "missing.yaml",
        &tenant.replace("  catalogRef: gironde-numerique\n", ""),
    );
    assert_all(
        &missing,
        &["missing.yaml:", ": spec.catalogRef: Required value"],
    );
    plain(&missing);

    let null = fails(
        "null.yaml",
        &tenant.replace("displayName: Exemple", "displayName: ~"),
    );
    // The API drops a null of a non-nullable field before defaulting: then it is missing.
    assert_all(&null, &["null.yaml:", "spec.displayName: Required value"]);
    let duplicate = fails(
        "dup.yaml",
        &tenant.replace("tier: 500gb", "tier: 500gb\n  tier: 1tb"),
    );
    assert_all(&duplicate, &["spec.tier", "key tier appears twice"]);
    for err in [&null, &duplicate] {
        plain(err);
    }

    let deep = format!(
        "{}  members: {}{}\n",
        tenant,
        "[".repeat(20_000),
        "]".repeat(20_000)
    );
    let err = fails("deep.yaml", &deep);
    assert_all(&err, &["spec.members", "nested too deeply"]);
    plain(&err);
    let deep_map = format!(
        "{}  services: {}1{}\n",
        tenant,
        "{a: ".repeat(5_000),
        "}".repeat(5_000)
    );
    let err = fails("deepmap.yaml", &deep_map);
    plain(&err);
}

#[test]
fn catalogue_type_errors_give_the_allowed_range() {
    let catalog = example("catalog.yaml");
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "split: {mail: 20,",
            "split: {mail: 300,",
            "spec.tiers[0].split.mail: Invalid value: 300",
            "should be less than or equal to 100",
        ),
        (
            "ttl: 3600",
            "ttl: -5",
            "spec.dns.ttl: Invalid value: -5",
            "should be greater than or equal to 60",
        ),
        (
            "webTarget:\n      addresses: [203.0.113.10, \"2001:db8::10\"]",
            "webTarget:\n      addresses: [203.0.113.10]\n      cname: web.example.fr",
            "spec.dns.webTarget: Invalid value: \"object\"",
            "set either addresses or cname",
        ),
    ];
    for (from, to, value, allowed) in cases {
        assert!(catalog.contains(from), "{from}");
        let file = dir.path().join("cat.yaml");
        std::fs::write(&file, catalog.replacen(from, to, 1)).unwrap();
        let out = run(&["plan", "-f", file.to_str().unwrap()], None);
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(1), "{to}: {err}");
        assert_all(&err, &[value, allowed]);
        plain(&err);
    }
}
