//! Bad input through the real binary: every case exits non-zero without a panic, and its
//! message names the file, the position, the field, the bad value and what is allowed.
//! Scale (ten thousand tenants, fifty megabytes of garbage) is in `scale.rs`.

mod day2;
mod parity;
mod reliability;
mod scale;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

pub fn example(name: &str) -> String {
    std::fs::read_to_string(root().join("examples").join(name)).unwrap()
}

pub fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mutualis"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        // The binary may stop reading early (size limit): a broken pipe is expected then.
        let _ = input.write_all(bytes);
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// Writes `content` as `name` in a fresh directory, runs `plan -f catalog -f file` and returns
/// stderr after checking the failure is clean.
pub fn fails(name: &str, content: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::write(&file, content).unwrap();
    let catalog = root().join("examples/catalog.yaml");
    let out = run(
        &[
            "plan",
            "-f",
            catalog.to_str().unwrap(),
            "-f",
            file.to_str().unwrap(),
        ],
        None,
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "exit code for {name}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing printed on failure");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains(name), "the file is named: {stderr}");
    stderr
}

pub fn assert_all(stderr: &str, parts: &[&str]) {
    for p in parts {
        assert!(stderr.contains(p), "expected {p:?} in:\n{stderr}");
    }
}

#[test]
fn malformed_yaml_gives_line_column_and_the_line() {
    let err = fails(
        "malformed.yaml",
        "apiVersion: mutualis.io/v1alpha1\nkind: Tenant\nmetadata:\n  name: x\nspec:\n  catalogRef: gironde-numerique\n  tier: 1tb\n  domain: x.fr: y\n",
    );
    assert_all(
        &err,
        &[
            "malformed.yaml:8:",
            "spec.domain",
            "mapping values are not allowed",
            "    8 |   domain: x.fr: y",
        ],
    );
}

#[test]
fn a_field_of_the_wrong_type_or_value_gives_its_path_and_what_is_allowed() {
    let wrong_type = example("minimal.yaml").replace("tier: 500gb", "tier: [500gb]");
    assert_all(
        &fails("type.yaml", &wrong_type),
        &[
            "type.yaml:12:",
            "spec.tier: Invalid value: [\"500gb\"]",
            "must be of type string",
        ],
    );
    let wrong_enum =
        example("minimal.yaml").replace("tier: 500gb", "tier: 500gb\n  deletionPolicy: Destroy");
    assert_all(
        &fails("enum.yaml", &wrong_enum),
        &[
            "enum.yaml:13:",
            "spec.deletionPolicy: Unsupported value: \"Destroy\"",
            "supported values: \"Retain\", \"Delete\"",
        ],
    );
    let missing = example("minimal.yaml").replace("  domain: exemple.fr\n", "");
    assert_all(
        &fails("missing.yaml", &missing),
        &["missing.yaml:", "spec.domain: Required value"],
    );
}

#[test]
fn an_unknown_tier_lists_the_tiers() {
    let err = fails(
        "tier.yaml",
        &example("coteaux-bordelais.yaml").replace("tier: 1tb", "tier: 2tb"),
    );
    assert_all(
        &err,
        &[
            "tier.yaml:12:",
            "Tenant \"coteaux-bordelais\"",
            "spec.tier",
            "\"2tb\"",
            "allowed: \"250gb\", \"500gb\", \"1tb\"",
        ],
    );
}

#[test]
fn a_missing_catalogue_lists_the_catalogues() {
    let err = fails(
        "nocat.yaml",
        &example("minimal.yaml").replace("catalogRef: gironde-numerique", "catalogRef: gironde"),
    );
    assert_all(
        &err,
        &[
            "nocat.yaml:11:",
            "spec.catalogRef",
            "ServiceCatalog \"gironde\" not found",
            "available: \"gironde-numerique\"",
        ],
    );
}

#[test]
fn invalid_domains_say_why() {
    let spaced = fails(
        "domain.yaml",
        &example("coteaux-bordelais.yaml").replace("domain: croignon.fr", "domain: croi gnon.fr"),
    );
    assert_all(
        &spaced,
        &[
            "domain.yaml:49:",
            "spec.members[3].domain: Invalid value: \"croi gnon.fr\"",
            "should match '^([^.\\s/:@_*]{1,63}\\.)+",
        ],
    );
    let single = fails(
        "single.yaml",
        &example("minimal.yaml").replace("domain: exemple.fr", "domain: exemple"),
    );
    assert_all(
        &single,
        &[
            "single.yaml:14:",
            "spec.domain: Invalid value: \"exemple\"",
            "should match",
        ],
    );
    let idna = fails(
        "idna.yaml",
        &example("minimal.yaml").replace("domain: exemple.fr", "domain: exem_ple.fr"),
    );
    assert_all(
        &idna,
        &[
            "spec.domain: Invalid value: \"exem_ple.fr\"",
            "should match",
        ],
    );
}

#[test]
fn duplicate_domains_name_both_fields() {
    let err = fails(
        "dup.yaml",
        &example("coteaux-bordelais.yaml").replace("domain: croignon.fr", "domain: Camarsac.FR"),
    );
    assert_all(
        &err,
        &[
            "dup.yaml:49:",
            "spec.members[3].domain",
            "\"Camarsac.FR\"",
            "already used by spec.members[1].domain",
        ],
    );
    let primary = fails(
        "primary.yaml",
        &example("coteaux-bordelais.yaml")
            .replace("domain: croignon.fr", "domain: coteaux-bordelais.fr"),
    );
    assert_all(
        &primary,
        &[
            "primary.yaml:31:",
            "spec.members: Invalid value: \"array\"",
            "a member's domain must differ from the tenant's own domain",
        ],
    );
}

#[test]
fn duplicate_members_name_both_fields() {
    let err = fails(
        "members.yaml",
        &example("coteaux-bordelais.yaml")
            .replace("displayName: Croignon", "displayName: Camarsac"),
    );
    assert_all(
        &err,
        &[
            "members.yaml:48:",
            "spec.members[3].name",
            "member name \"camarsac\" is already used by spec.members[1].name",
        ],
    );
}

#[test]
fn member_names_are_derived_from_display_names_or_refused_clearly() {
    // Sallebœuf has no explicit name: it becomes `salleboeuf` (share, user, website Ingress).
    let out = run(
        &[
            "render",
            "-f",
            "examples/catalog.yaml",
            "-f",
            "examples/coteaux-bordelais.yaml",
        ],
        None,
    );
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(
        yaml.contains("name: website-salleboeuf"),
        "derived name used"
    );
    assert!(
        yaml.contains("\"salleboeuf\": {\"options\": {\"path\": \"/shares/salleboeuf\""),
        "NAS share of Sallebœuf"
    );
    let err = fails(
        "tokyo.yaml",
        &example("coteaux-bordelais.yaml").replace("displayName: Croignon", "displayName: 東京"),
    );
    assert_all(
        &err,
        &[
            "tokyo.yaml:48:",
            "spec.members[3].name",
            "cannot derive a Kubernetes name from display name \"東京\"",
            "set spec.members[3].name explicitly",
        ],
    );
    let bad = fails(
        "badname.yaml",
        &example("coteaux-bordelais.yaml").replace("name: tresses", "name: Tresses_"),
    );
    assert_all(
        &bad,
        &[
            "badname.yaml:64:",
            "spec.members[7].name: Invalid value: \"Tresses_\"",
            "should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'",
        ],
    );
}

#[test]
fn empty_input_and_unknown_kinds_are_refused() {
    assert_all(
        &fails("empty.yaml", ""),
        &[
            "empty.yaml: no YAML documents",
            "expected ServiceCatalog and Tenant",
        ],
    );
    assert_all(
        &fails("comments.yaml", "# nothing\n---\n"),
        &["comments.yaml: no YAML documents"],
    );
    let kind = fails(
        "kind.yaml",
        "apiVersion: mutualis.io/v1alpha1\nkind: ConfigMap\nmetadata:\n  name: x\n",
    );
    assert_all(
        &kind,
        &[
            "kind.yaml:1 (document 1)",
            "unsupported apiVersion \"mutualis.io/v1alpha1\" kind \"ConfigMap\"",
            "ServiceCatalog or Tenant",
        ],
    );
    let second = fails(
        "second.yaml",
        &format!(
            "{}---\napiVersion: mutualis.io/v1\nkind: Tenant\n",
            example("minimal.yaml")
        ),
    );
    assert_all(
        &second,
        &["second.yaml:16 (document 2)", "\"mutualis.io/v1\""],
    );
    let twice = fails(
        "twice.yaml",
        &format!(
            "{}---\n{}",
            example("minimal.yaml"),
            example("minimal.yaml")
        ),
    );
    assert_all(
        &twice,
        &[
            "twice.yaml:16 (document 2)",
            "Tenant \"minimal\" is defined twice",
            "twice.yaml:1 (document 1))",
        ],
    );
}

#[test]
fn a_bad_catalogue_is_reported_even_without_tenants() {
    let catalog = example("catalog.yaml").replace("tag: \"17.9\"", "tag: latest");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cat.yaml");
    std::fs::write(&file, catalog).unwrap();
    let out = run(&["plan", "-f", file.to_str().unwrap()], None);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_all(
        &err,
        &[
            "cat.yaml:36:",
            "spec.images.database.tag",
            "spec.images.database.tag: Invalid value: \"latest\"",
            "pin a version",
        ],
    );
}

#[test]
fn non_utf8_input_is_refused_with_its_offset() {
    let out = run(
        &["plan", "-f", "-"],
        Some(b"apiVersion: v1\nkind: \xff\xfe\n"),
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_all(
        &err,
        &["<stdin>: not UTF-8 text (invalid byte at offset 21)"],
    );
}

#[test]
fn unknown_fields_are_refused_not_ignored() {
    // serde would drop the typo and leave the default (Retain) in force.
    let typo =
        example("minimal.yaml").replace("  tier: 500gb", "  tier: 500gb\n  deletionPolcy: Delete");
    let err = fails("typo.yaml", &typo);
    assert_all(
        &err,
        &[
            "typo.yaml:13:",
            "spec.deletionPolcy: unknown field",
            "allowed here:",
            "deletionPolicy",
        ],
    );
    let nested = example("coteaux-bordelais.yaml").replace(
        "    domain: croignon.fr",
        "    domain: croignon.fr\n    mayor: Patrick",
    );
    assert_all(
        &fails("nested.yaml", &nested),
        &[
            "nested.yaml:50:",
            "spec.members[3].mayor: unknown field",
            "displayName, domain, mail, name, site",
        ],
    );
}
