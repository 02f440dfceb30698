//! The image: the Containerfile builds with the release build the install guide documents, as
//! the non-root user the chart runs.

use super::guide::{install_guide, shell_lines};
use mutualis_tests::workspace_root;
use serde_json::Value;

#[test]
fn the_image_is_built_with_the_documented_release_build() {
    let containerfile = std::fs::read_to_string(workspace_root().join("Containerfile")).unwrap();
    let joined = containerfile.replace("\\\n", " ");
    let build = joined
        .lines()
        .find_map(|l| {
            l.find("cargo build")
                .map(|i| l[i..].split("&&").next().unwrap().trim().to_owned())
        })
        .expect("the Containerfile runs cargo build");
    let documented = shell_lines(&install_guide(), "cargo");
    assert!(
        documented.contains(&build),
        "the guide's release build {documented:?} is not the image's `{build}`"
    );
    assert_eq!(
        build,
        "cargo build --release --locked --no-default-features --target x86_64-unknown-linux-musl -p mutualis"
    );

    // The builder's toolchain satisfies the workspace's rust-version and knows the target.
    let builder = containerfile
        .lines()
        .find_map(|l| l.strip_prefix("FROM docker.io/library/rust:"))
        .expect("a rust builder stage");
    let builder_version = builder.split_whitespace().next().unwrap();
    let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
    let msrv = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .unwrap()
        .trim_matches('"');
    let minor = |v: &str| v.split('.').nth(1).unwrap().parse::<u32>().unwrap();
    assert!(
        minor(builder_version) >= minor(msrv),
        "rust:{builder_version} is older than rust-version {msrv}"
    );
    assert!(containerfile.contains("rustup target add x86_64-unknown-linux-musl"));
    // `--no-default-features` leaves out exactly the feature that brings the development cluster.
    let operator = std::fs::read_to_string(workspace_root().join("operator/Cargo.toml")).unwrap();
    assert!(operator.contains("devcluster = { workspace = true, optional = true }"));
    assert!(
        operator.contains("default = [\"dev\"]") && operator.contains("dev = [\"dep:devcluster\"]")
    );
    assert!(containerfile.contains("target/x86_64-unknown-linux-musl/release/mutualis"));

    // The final stage: static, non-root as the chart expects, the operator as entry point.
    let final_stage = containerfile.rsplit("\nFROM ").next().unwrap();
    assert!(
        final_stage.starts_with("gcr.io/distroless/static-debian12:nonroot")
            || final_stage.starts_with("scratch"),
        "final stage: {}",
        final_stage.lines().next().unwrap()
    );
    assert!(final_stage.contains("USER 65532:65532"));
    assert!(final_stage.contains("ENTRYPOINT [\"/mutualis\"]"));
    assert!(final_stage.contains("CMD [\"run\"]"));
    let values =
        std::fs::read_to_string(mutualis_tests::chart::chart_dir().join("values.yaml")).unwrap();
    let values: Value = serde_saphyr::from_str(&values).unwrap();
    assert_eq!(
        values["podSecurityContext"]["runAsUser"], 65532,
        "the chart runs the image's user"
    );

    // The build context keeps every workspace member (cargo reads all their manifests).
    let ignored = std::fs::read_to_string(workspace_root().join(".dockerignore")).unwrap();
    let ignored: Vec<&str> = ignored
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    assert!(ignored.contains(&"/target") && ignored.contains(&"/.git"));
    let members = manifest
        .lines()
        .find_map(|l| l.strip_prefix("members = "))
        .unwrap();
    for member in members.trim_matches(|c| c == '[' || c == ']').split(',') {
        let member = member.trim().trim_matches('"');
        assert!(
            !ignored.iter().any(|i| i.trim_matches('/') == member),
            "{member} is ignored"
        );
    }
}
