//! The CRDs' own schema, given to a JSON Schema validator (python-jsonschema, installed with
//! checkov by `scripts/install-tools`): the catalogue's image patterns refuse a repository that
//! carries a tag or digest and a malformed digest, and admit the example catalogue's images.

use std::process::Command;

use serde_json::{Value, json};

use crate::support::{root, run, temp_dir, text, tool, write};

/// The schema of `spec.images.<name>` in the ServiceCatalog CRD.
fn image_schema() -> Value {
    let crd =
        std::fs::read_to_string(root().join("crds/servicecatalogs.mutualis.io.yaml")).unwrap();
    let crd: Value = serde_saphyr::from_str(&crd).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        ["images"]["properties"]["cache"]
        .clone()
}

/// Whether python-jsonschema finds `image` valid against the CRD's image schema.
fn admitted(python: &std::path::Path, image: &Value) -> bool {
    let dir = temp_dir();
    write(&dir.path().join("schema.json"), &image_schema().to_string());
    write(&dir.path().join("image.json"), &image.to_string());
    let script = "import json, sys, jsonschema\n\
                  s = json.load(open(sys.argv[1])); i = json.load(open(sys.argv[2]))\n\
                  errors = list(jsonschema.Draft7Validator(s).iter_errors(i))\n\
                  print('valid' if not errors else 'invalid')\n";
    let out = run(
        Command::new(python)
            .arg("-c")
            .arg(script)
            .arg(dir.path().join("schema.json"))
            .arg(dir.path().join("image.json")),
        "python-jsonschema on the CRD's image schema",
    );
    match text(&out).trim() {
        "valid" => true,
        "invalid" => false,
        other => panic!("jsonschema: {other}"),
    }
}

#[test]
fn the_catalogue_crd_refuses_tagged_repositories_and_bad_digests() {
    let Some(python) = tool("python3") else {
        eprintln!("conformance: SKIPPED CRD schema: no .tools/venv; run scripts/install-tools");
        return;
    };
    let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
    for (image, ok) in [
        (
            json!({"repository": "docker.io/library/redis", "tag": "8.2.4"}),
            true,
        ),
        (
            json!({"repository": "redis", "tag": "8.2.4", "digest": digest}),
            true,
        ),
        (
            json!({"repository": "registry.example:5000/mirror/redis", "tag": "8.2.4"}),
            true,
        ),
        (json!({"repository": "redis:7", "tag": "7"}), false),
        (
            json!({"repository": "docker.io/library/redis:8.2", "tag": "8.2"}),
            false,
        ),
        (
            json!({"repository": format!("redis@{digest}"), "tag": "8.2.4"}),
            false,
        ),
        (
            json!({"repository": "redis", "tag": "8.2.4", "digest": "sha256:00"}),
            false,
        ),
        (
            json!({"repository": "redis", "tag": "8.2.4", "digest": digest.to_uppercase()}),
            false,
        ),
    ] {
        assert_eq!(admitted(&python, &image), ok, "{image}");
    }
    // Every image of the example catalogue.
    let catalog = std::fs::read_to_string(root().join("examples/catalog.yaml")).unwrap();
    let catalog: Value = serde_saphyr::from_str(&catalog).unwrap();
    for (name, image) in catalog["spec"]["images"].as_object().unwrap() {
        assert!(admitted(&python, image), "spec.images.{name}: {image}");
    }
}
