//! The chart carries the generated CRDs unchanged, and its founding catalogue is the examples'.

use mutualis_tests::chart::{chart_dir, render};
use mutualis_tests::manifests::find;
use mutualis_tests::{require_tool, workspace_root};
use serde_json::{Value, json};
use std::path::Path;

fn files_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().path())
                .filter(|p| p.is_file())
                .map(|p| {
                    (
                        p.file_name().unwrap().to_string_lossy().into_owned(),
                        std::fs::read(&p).unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn chart_crds_are_the_generated_crds_byte_for_byte() {
    let generated = files_of(&workspace_root().join("crds"));
    let charted = files_of(&chart_dir().join("files/crds"));
    assert!(
        !generated.is_empty(),
        "crds/ holds no CRD: run `mutualis crd`"
    );
    let names =
        |files: &[(String, Vec<u8>)]| files.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&charted),
        names(&generated),
        "charts/mutualis/files/crds/ must hold the files of crds/"
    );
    for ((name, chart_bytes), (_, generated_bytes)) in charted.iter().zip(&generated) {
        assert!(
            chart_bytes == generated_bytes,
            "charts/mutualis/files/crds/{name} differs from crds/{name}: cp crds/*.yaml charts/mutualis/files/crds/"
        );
    }
    // The chart has no crds/ directory: Helm would install it and then the templates' CRDs too.
    assert!(
        !chart_dir().join("crds").exists(),
        "charts/mutualis/crds/ must not exist: the CRDs are templates (templates/crds.yaml)"
    );
    // Both CRDs must be there.
    let all: String = generated
        .iter()
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .collect();
    for crd in ["tenants.mutualis.io", "servicecatalogs.mutualis.io"] {
        assert!(
            all.contains(&format!("name: {crd}")),
            "{crd} missing from crds/"
        );
    }
}

#[test]
fn the_founding_catalogue_is_the_examples_catalogue() {
    let Some(helm) = require_tool("helm") else {
        return;
    };
    let example: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(workspace_root().join("examples/catalog.yaml")).unwrap(),
    )
    .unwrap();
    // The cluster-specific settings come from the user's values; the voted part from the chart.
    let spec = &example["spec"];
    let values = json!({"catalog": {"create": true, "spec": {
        "dns": spec["dns"],
        "ingressClassName": spec["ingressClassName"],
        "nas": spec["nas"],
        "tls": spec["tls"],
        "mail": spec["mail"],
        "backup": spec["backup"],
    }}});
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("values.json");
    std::fs::write(&file, serde_json::to_vec(&values).unwrap()).unwrap();
    let objects = render(&helm, &["-f", file.to_str().unwrap()]);
    let catalog = find(
        &objects,
        "ServiceCatalog",
        example["metadata"]["name"].as_str().unwrap(),
    );
    assert_eq!(
        &catalog["spec"], spec,
        "the chart's default catalogue drifted from examples/catalog.yaml"
    );

    // The founding document's figures (deliberation 2017-37).
    let tiers: Vec<(String, String, i64, i64)> = catalog["spec"]["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_owned(),
                t["storage"].as_str().unwrap().to_owned(),
                t["contribution"]["alone"].as_i64().unwrap(),
                t["contribution"]["withMembers"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("250gb", "250Gi", 5638, 12812),
        ("500gb", "500Gi", 7688, 15375),
        ("1tb", "1Ti", 10250, 17938),
    ];
    let expected: Vec<(String, String, i64, i64)> = expected
        .iter()
        .map(|(n, s, a, w)| ((*n).to_owned(), (*s).to_owned(), *a, *w))
        .collect();
    assert_eq!(tiers, expected);
}

#[test]
fn the_tenants_the_guide_applies_use_the_catalogue_the_chart_creates() {
    let values = std::fs::read_to_string(chart_dir().join("values.yaml")).unwrap();
    let values: Value = serde_saphyr::from_str(&values).unwrap();
    let catalog = values["catalog"]["name"].as_str().unwrap();
    let applied: Vec<String> = super::guide::shell_lines(&super::guide::install_guide(), "kubectl")
        .into_iter()
        .filter_map(|l| l.strip_prefix("kubectl apply -f ").map(str::to_owned))
        .collect();
    assert!(!applied.is_empty(), "the guide applies a tenant");
    for file in applied {
        let text = std::fs::read_to_string(workspace_root().join(&file)).unwrap();
        let objects = mutualis_tests::manifests::parse_documents(&text);
        let tenant = objects
            .iter()
            .find(|o| o["kind"] == "Tenant")
            .unwrap_or_else(|| panic!("{file} holds no Tenant"));
        assert_eq!(
            tenant["spec"]["catalogRef"], catalog,
            "{file} names another catalogue than the chart's"
        );
    }
}
