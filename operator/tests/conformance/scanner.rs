//! Security scanner: `checkov` (Kubernetes framework) over every object of every tenant under
//! test. Its failed checks must be exactly those listed, per check and object, with a reason,
//! in `checkov-exceptions.yaml`.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::support::{fixtures, root, text, tool, write};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Exceptions {
    accepted: Vec<Exception>,
    defects: Vec<Exception>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Exception {
    check: String,
    /// `Kind/name`, in any tenant's namespace.
    object: String,
    reason: String,
}

fn exceptions() -> Exceptions {
    let path = root().join("operator/tests/conformance/checkov-exceptions.yaml");
    let e: Exceptions = serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    for x in e.accepted.iter().chain(&e.defects) {
        assert!(
            x.check.starts_with("CKV_") && x.object.contains('/') && x.reason.len() > 10,
            "{}: an exception needs a check id, a Kind/name and a reason: {} {}",
            path.display(),
            x.check,
            x.object
        );
    }
    e
}

/// (check id, `Kind/name`, tenant namespace) of each failed check; None when checkov is absent.
fn failures() -> Option<&'static BTreeSet<(String, String, String)>> {
    static FAILED: OnceLock<Option<BTreeSet<(String, String, String)>>> = OnceLock::new();
    FAILED
        .get_or_init(|| {
            let Some(checkov) = tool("checkov") else {
                eprintln!("conformance: SKIPPED security scanner: checkov not in .tools/venv; run scripts/install-tools");
                return None;
            };
            // Not tempfile's default `.tmp…`: checkov skips hidden directories.
            let dir = tempfile::Builder::new().prefix("mutualis-checkov-").tempdir().unwrap();
            for f in fixtures() {
                let mut yaml = String::new();
                for o in &f.plan.objects {
                    yaml.push_str("---\n");
                    serde_saphyr::to_fmt_writer(&mut yaml, o).unwrap();
                }
                write(&dir.path().join(format!("{}.yaml", f.name)), &yaml);
            }
            // Offline: no Prisma Cloud mapping, no update check, and a proxy on a closed loopback
            // port catches any other request checkov might try.
            let out = Command::new(&checkov)
                .arg("-d")
                .arg(dir.path())
                .args(["--framework", "kubernetes", "--output", "json", "--quiet"])
                .args(["--skip-download", "--skip-results-upload"])
                .env("BC_SKIP_MAPPING", "TRUE")
                .env("SKIP_PACKAGE_UPDATE_CHECK", "TRUE")
                .env("HTTPS_PROXY", "http://127.0.0.1:9")
                .env("HTTP_PROXY", "http://127.0.0.1:9")
                .output()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", checkov.display()));
            // Exit 1 means "some check failed"; anything else is checkov's own failure.
            assert!(matches!(out.status.code(), Some(0 | 1)), "checkov failed:\n{}", text(&out));
            let report: serde_json::Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("checkov's JSON: {e}\n{}", text(&out)));
            // One report per framework: an object, or a list of them.
            let report = match report {
                serde_json::Value::Array(mut reports) => {
                    let i = reports
                        .iter()
                        .position(|r| r["check_type"] == "kubernetes")
                        .unwrap_or_else(|| panic!("no kubernetes report from checkov: {reports:?}"));
                    reports.swap_remove(i)
                }
                single => single,
            };
            let summary = &report["summary"];
            assert_eq!(summary["parsing_errors"], 0, "checkov could not parse some objects: {summary}");
            let objects: usize = fixtures().iter().map(|f| f.plan.objects.len()).sum();
            assert!(
                summary["resource_count"].as_u64().unwrap_or(0) as usize >= objects / 2,
                "checkov saw too few objects ({summary}) of {objects}"
            );
            Some(
                report["results"]["failed_checks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| {
                        // `Kind.namespace.name`
                        let resource = c["resource"].as_str().unwrap();
                        let mut parts = resource.splitn(3, '.');
                        let kind = parts.next().unwrap_or_default();
                        let namespace = parts.next().unwrap_or_default();
                        let name = parts.next().unwrap_or_default();
                        (c["check_id"].as_str().unwrap().to_owned(), format!("{kind}/{name}"), namespace.to_owned())
                    })
                    .collect(),
            )
        })
        .as_ref()
}

/// Failures not covered by `allowed`, and entries of `allowed` that nothing matched.
fn compare(
    failed: &BTreeSet<(String, String, String)>,
    allowed: &[&Exception],
    unlisted: &str,
) -> Vec<String> {
    let mut problems: Vec<String> = failed
        .iter()
        .filter(|(check, object, _)| {
            !allowed
                .iter()
                .any(|x| &x.check == check && &x.object == object)
        })
        .map(|(check, object, ns)| format!("checkov {check} fails on {object} in {ns}, {unlisted}"))
        .collect();
    for x in allowed {
        if !failed
            .iter()
            .any(|(c, o, _)| c == &x.check && o == &x.object)
        {
            problems.push(format!(
                "checkov-exceptions.yaml: {} on {} no longer fails; remove it",
                x.check, x.object
            ));
        }
    }
    problems
}

#[test]
fn checkov_fails_only_the_listed_checks() {
    let Some(failed) = failures() else { return };
    let e = exceptions();
    let allowed: Vec<&Exception> = e.accepted.iter().chain(&e.defects).collect();
    let problems = compare(failed, &allowed, "not listed in checkov-exceptions.yaml");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn checkov_fails_only_the_accepted_checks() {
    let Some(failed) = failures() else { return };
    let e = exceptions();
    let accepted: Vec<&Exception> = e.accepted.iter().collect();
    let problems = compare(failed, &accepted, "a defect of checkov-exceptions.yaml");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
