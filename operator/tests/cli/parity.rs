//! The offline commands and the API agree: each case of a corpus goes through `mutualis plan`
//! and, through the real kubectl (`create --dry-run=server`, strict field validation by
//! default), to the development cluster holding the CRDs `mutualis crd` generates. Both must
//! accept it or both refuse it, and a refusal must name the same field on both sides.
//!
//! kubectl decodes YAML with go-yaml v2 (YAML 1.1 scalars) before the server sees JSON, so the
//! corpus also judges how the offline commands read YAML: unquoted `no`, quoted `"off"`,
//! numbers for strings. Not covered: the transition rule (a subscription cannot be removed)
//! needs the stored object, which the offline commands never have.

use super::{example, root, run};
use mutualis_tests::cluster::Cluster;

const BASE: &str = "apiVersion: mutualis.io/v1alpha1\nkind: Tenant\nmetadata:\n  name: parity\nspec:\n  catalogRef: gironde-numerique\n  tier: 500gb\n  displayName: Parité\n  domain: parite.fr\n";

/// The base tenant with `extra` spec lines appended.
fn tenant(extra: &str) -> String {
    format!("{BASE}{extra}")
}

/// The base tenant with one piece of text replaced.
fn with(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "{from}");
    BASE.replace(from, to)
}

fn members(n: usize) -> String {
    let mut s = String::from("  members:\n");
    for i in 0..n {
        s.push_str(&format!(
            "  - displayName: Commune {i}\n    domain: commune-{i}.fr\n"
        ));
    }
    s
}

fn admins(n: usize) -> String {
    let mut s = String::from("  admins:\n");
    for i in 0..n {
        s.push_str(&format!("  - kind: User\n    name: user-{i}\n"));
    }
    s
}

fn catalog(from: &str, to: &str) -> String {
    let c = example("catalog.yaml");
    assert!(c.contains(from), "{from}");
    c.replacen(from, to, 1)
}

/// (case, manifest, the field both must refuse, or None: both accept).
fn corpus() -> Vec<(&'static str, String, Option<&'static str>)> {
    let long = |n: usize| "é".repeat(n);
    let label = |n: usize| "a".repeat(n);
    vec![
        // Valid, and edge cases the API accepts.
        ("minimal example", example("minimal.yaml"), None),
        ("founding example", example("coteaux-bordelais.yaml"), None),
        (
            "YAML 1.1 no is a boolean",
            tenant("  services:\n    mail: no\n    nas: off\n    dns: yes\n"),
            None,
        ),
        (
            "YAML 1.1 capitalised",
            tenant("  services:\n    website: False\n    mail: On\n"),
            None,
        ),
        (
            "unquoted date is a string",
            tenant("  subscription:\n    deliberation: 2017-37\n    date: 2017-10-17\n"),
            None,
        ),
        (
            "null on an optional field",
            tenant("  deletionPolicy: null\n  nas: ~\n  members:\n  services:\n"),
            None,
        ),
        (
            "null subscription (nullable)",
            tenant("  subscription: null\n"),
            None,
        ),
        (
            "null member name (nullable)",
            tenant("  members:\n  - displayName: Bourg\n    domain: bourg.fr\n    name: null\n"),
            None,
        ),
        ("200 members", tenant(&members(200)), None),
        ("50 admins", tenant(&admins(50)), None),
        (
            "display name of 200 characters",
            with(
                "displayName: Parité",
                &format!("displayName: {}", long(200)),
            ),
            None,
        ),
        (
            "member name of 40 characters",
            tenant(&format!(
                "  members:\n  - displayName: Bourg\n    domain: bourg.fr\n    name: {}\n",
                label(40)
            )),
            None,
        ),
        (
            "tenant name of 54 characters",
            with("name: parity", &format!("name: {}", label(54))),
            None,
        ),
        (
            "Unicode domain",
            with("domain: parite.fr", "domain: sallebœuf.fr"),
            None,
        ),
        (
            "same admin name, other kind",
            tenant("  admins:\n  - kind: User\n    name: a\n  - kind: Group\n    name: a\n"),
            None,
        ),
        ("the catalogue example", example("catalog.yaml"), None),
        // CRD limits.
        ("201 members", tenant(&members(201)), Some("spec.members")),
        ("51 admins", tenant(&admins(51)), Some("spec.admins")),
        (
            "display name of 201 characters",
            with(
                "displayName: Parité",
                &format!("displayName: {}", long(201)),
            ),
            Some("spec.displayName"),
        ),
        (
            "member display name of 201 characters",
            tenant(&format!(
                "  members:\n  - displayName: {}\n    domain: bourg.fr\n",
                long(201)
            )),
            Some("spec.members[0].displayName"),
        ),
        (
            "member name of 41 characters",
            tenant(&format!(
                "  members:\n  - displayName: Bourg\n    domain: bourg.fr\n    name: {}\n",
                label(41)
            )),
            Some("spec.members[0].name"),
        ),
        (
            "tenant name of 55 characters",
            with("name: parity", &format!("name: {}", label(55))),
            Some("<nil>"),
        ),
        (
            "domain of 233 characters",
            with(
                "domain: parite.fr",
                &format!(
                    "domain: {}.{}.{}.{}.fr",
                    label(57),
                    label(57),
                    label(57),
                    label(57)
                ),
            ),
            Some("spec.domain"),
        ),
        (
            "duplicate admins",
            tenant("  admins:\n  - kind: User\n    name: a\n  - kind: User\n    name: a\n"),
            Some("spec.admins[1]"),
        ),
        (
            "empty admin name",
            tenant("  admins:\n  - kind: User\n    name: \"\"\n"),
            Some("spec.admins[0].name"),
        ),
        (
            "admin kind outside the enum",
            tenant("  admins:\n  - kind: Robot\n    name: a\n"),
            Some("spec.admins[0].kind"),
        ),
        // Patterns and enums.
        (
            "tier in capitals",
            with("tier: 500gb", "tier: 500GB"),
            Some("spec.tier"),
        ),
        (
            "catalogRef not a DNS name",
            with(
                "catalogRef: gironde-numerique",
                "catalogRef: Gironde_Numerique",
            ),
            Some("spec.catalogRef"),
        ),
        (
            "domain with a space",
            with("domain: parite.fr", "domain: pa rite.fr"),
            Some("spec.domain"),
        ),
        (
            "member name not a label",
            tenant("  members:\n  - displayName: Bourg\n    domain: bourg.fr\n    name: Bourg_\n"),
            Some("spec.members[0].name"),
        ),
        (
            "date not YYYY-MM-DD",
            tenant("  subscription:\n    deliberation: \"2017-37\"\n    date: 17/10/2017\n"),
            Some("spec.subscription.date"),
        ),
        (
            "deletion policy outside the enum",
            tenant("  deletionPolicy: Destroy\n"),
            Some("spec.deletionPolicy"),
        ),
        (
            "network not CIDR",
            tenant("  nas:\n    allowedNetworks: [\"192.0.2.0/24x\"]\n"),
            Some("spec.nas.allowedNetworks[0]"),
        ),
        // Wrong types, quoted booleans, YAML 1.1 booleans where a string is expected.
        (
            "quoted true for a boolean",
            tenant("  services:\n    mail: \"true\"\n"),
            Some("spec.services.mail"),
        ),
        (
            "quoted off for a boolean",
            tenant("  services:\n    nas: \"off\"\n"),
            Some("spec.services.nas"),
        ),
        (
            "a number for a boolean",
            tenant("  services:\n    dns: 1\n"),
            Some("spec.services.dns"),
        ),
        (
            "YAML 1.1 no for a string",
            with("displayName: Parité", "displayName: no"),
            Some("spec.displayName"),
        ),
        (
            "a number for a string",
            with("tier: 500gb", "tier: 500"),
            Some("spec.tier"),
        ),
        (
            "a string for a list",
            tenant("  members: bourg.fr\n"),
            Some("spec.members"),
        ),
        (
            "a boolean for an object",
            tenant("  services: true\n"),
            Some("spec.services"),
        ),
        (
            "a number for the deliberation",
            tenant("  subscription:\n    deliberation: 2017\n    date: \"2017-10-17\"\n"),
            Some("spec.subscription.deliberation"),
        ),
        (
            "a string for a number (catalogue)",
            catalog("split: {mail: 20,", "split: {mail: \"20\","),
            Some("spec.tiers[0].split.mail"),
        ),
        // Required fields, nulls of required fields, unknown fields.
        (
            "missing domain",
            BASE.replace("  domain: parite.fr\n", ""),
            Some("spec.domain"),
        ),
        (
            "null display name",
            with("displayName: Parité", "displayName: null"),
            Some("spec.displayName"),
        ),
        (
            "member without a domain",
            tenant("  members:\n  - displayName: Bourg\n"),
            Some("spec.members[0].domain"),
        ),
        (
            "unknown field",
            tenant("  deletionPolcy: Delete\n"),
            Some("spec.deletionPolcy"),
        ),
        (
            "unknown nested field",
            tenant("  members:\n  - displayName: Bourg\n    domain: bourg.fr\n    mayor: X\n"),
            Some("spec.members[0].mayor"),
        ),
        // Duplicates in map and set lists, CEL rules.
        (
            "duplicate member domains",
            tenant(
                "  members:\n  - displayName: A\n    domain: a.fr\n  - displayName: B\n    domain: a.fr\n",
            ),
            Some("spec.members[1]"),
        ),
        (
            "duplicate networks",
            tenant("  nas:\n    allowedNetworks: [192.0.2.0/24, 192.0.2.0/24]\n"),
            Some("spec.nas.allowedNetworks[1]"),
        ),
        (
            "member domain is the tenant's",
            tenant("  members:\n  - displayName: A\n    domain: PARITE.fr\n"),
            Some("spec.members"),
        ),
        (
            "member names repeat",
            tenant(
                "  members:\n  - displayName: A\n    domain: a.fr\n    name: x\n  - displayName: B\n    domain: b.fr\n    name: x\n",
            ),
            Some("spec.members"),
        ),
        (
            "catalogue tag latest (CEL)",
            catalog("tag: \"17.9\"", "tag: latest"),
            Some("spec.images.database.tag"),
        ),
        (
            "catalogue TTL below the minimum",
            catalog("ttl: 3600", "ttl: 0"),
            Some("spec.dns.ttl"),
        ),
        (
            "catalogue name not a DNS subdomain",
            catalog("name: gironde-numerique", "name: Gironde_Numerique"),
            Some("metadata.name"),
        ),
        (
            "unknown top-level field",
            format!("{BASE}labels:\n  a: b\n"),
            Some("labels"),
        ),
    ]
}

/// The field an offline refusal names: `file:12: Tenant "x" is invalid: spec.tier: ...` or
/// `file:13: spec.deletionPolcy: unknown field; ...`.
fn offline_field(stderr: &str) -> Option<String> {
    let line = stderr.lines().next()?;
    let rest = match line.split_once(" is invalid: ") {
        Some((_, r)) => r,
        None => line.split_once(".yaml:")?.1.split_once(": ")?.1,
    };
    Some(rest.split_once(": ")?.0.to_owned())
}

#[test]
fn offline_commands_and_the_api_accept_and_refuse_the_same_manifests() {
    let cluster = Cluster::start();
    let crds = root().join("crds");
    let Some(out) = cluster.kubectl(&["apply", "--server-side", "-f", crds.to_str().unwrap()])
    else {
        return;
    };
    assert!(out.status.success(), "{out:?}");
    let dir = tempfile::tempdir().unwrap();
    let catalog_file = root().join("examples/catalog.yaml");
    let cases = corpus();
    assert!(cases.len() >= 55, "{}", cases.len());
    let mut disagreements = Vec::new();
    for (i, (case, yaml, refused_at)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("case-{i}.yaml"));
        std::fs::write(&file, yaml).unwrap();
        let file = file.to_str().unwrap();
        let is_catalog = yaml.contains("kind: ServiceCatalog");
        let offline = if is_catalog {
            run(&["plan", "-f", file], None)
        } else {
            run(
                &["plan", "-f", catalog_file.to_str().unwrap(), "-f", file],
                None,
            )
        };
        let offline_err = String::from_utf8_lossy(&offline.stderr).into_owned();
        let api = cluster
            .kubectl(&["create", "--dry-run=server", "-f", file])
            .expect("kubectl was found above");
        let api_says = format!("{}{}", api.stdout, api.stderr);
        let verdict = |ok: bool| if ok { "accepts" } else { "refuses" };
        let (offline_ok, api_ok) = (offline.status.success(), api.status.success());
        if offline_ok != api_ok || offline_ok != refused_at.is_none() {
            disagreements.push(format!(
                "{case}: offline {}, API {}, expected {}\n  offline: {offline_err}\n  API: {api_says}",
                verdict(offline_ok),
                verdict(api_ok),
                verdict(refused_at.is_none())
            ));
            continue;
        }
        let Some(expected) = refused_at else { continue };
        let field = offline_field(&offline_err);
        let api_names = |f: &str| {
            api_says.contains(&format!("{f}: ")) || api_says.contains(&format!("\"{f}\""))
        };
        if field.as_deref() != Some(*expected) || !api_names(expected) {
            disagreements.push(format!(
                "{case}: expected {expected}; offline named {field:?}: {offline_err}\n  API: {api_says}"
            ));
        }
        assert!(
            offline_err.len() < 500,
            "{case}: {} bytes: {offline_err}",
            offline_err.len()
        );
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} cases disagree:\n{}",
        disagreements.len(),
        cases.len(),
        disagreements.join("\n")
    );
}
