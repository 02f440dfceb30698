//! Scale: ten thousand tenants in one file work; fifty megabytes of garbage fail fast.

use std::time::{Duration, Instant};

use super::{assert_all, example, run};

pub fn many_tenants(n: usize) -> String {
    let mut yaml = example("catalog.yaml");
    for i in 0..n {
        let tier = ["250gb", "500gb", "1tb"][i % 3];
        yaml.push_str(&format!(
            "---\napiVersion: mutualis.io/v1alpha1\nkind: Tenant\nmetadata:\n  name: tenant-{i}\nspec:\n  catalogRef: gironde-numerique\n  tier: {tier}\n  displayName: Commune n° {i}\n  domain: commune-{i}.fr\n  members:\n  - displayName: Hameau {i}\n    domain: hameau-{i}.fr\n"
        ));
    }
    yaml
}

#[test]
fn ten_thousand_tenants_in_one_file_work() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("many.yaml");
    std::fs::write(&file, many_tenants(10_000)).unwrap();
    let out = run(&["plan", "-f", file.to_str().unwrap(), "-o", "json"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plans: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let plans = plans.as_array().unwrap();
    assert_eq!(plans.len(), 10_000);
    assert_eq!(plans[9_999]["name"], "tenant-9999");
    assert_eq!(plans[2]["annualContribution"], 17938);
}

#[test]
fn fifty_megabytes_of_garbage_fail_fast_from_a_file_and_from_stdin() {
    // Deterministic noise, no YAML structure and no newline for long stretches.
    let mut garbage = Vec::with_capacity(50 << 20);
    let mut x: u32 = 0x9e37_79b9;
    while garbage.len() < 50 << 20 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        const NOISE: &[u8] = b"{[:-&*!|>'\"%@` \tqz09";
        garbage.push(NOISE[x as usize % NOISE.len()]);
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("garbage.yaml");
    std::fs::write(&file, &garbage).unwrap();

    let start = Instant::now();
    let out = run(&["plan", "-f", file.to_str().unwrap()], None);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_all(
        &err,
        &[
            "garbage.yaml: input is larger than the 33554432-byte limit",
            "split it into several files",
        ],
    );

    let start = Instant::now();
    let out = run(&["plan", "-f", "-"], Some(&garbage));
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
    assert_all(
        &String::from_utf8(out.stderr).unwrap(),
        &["<stdin>: input is larger than the 33554432-byte limit"],
    );

    // Under the limit, parsing stops at the first error.
    let small = dir.path().join("noise.yaml");
    std::fs::write(&small, &garbage[..20 << 20]).unwrap();
    let start = Instant::now();
    let out = run(&["plan", "-f", small.to_str().unwrap()], None);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("error: ") && err.contains("noise.yaml:1:") && !err.contains("panicked"),
        "{err}"
    );
}
