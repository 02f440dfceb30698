//! The plan's cost: the founding example, and a thousand generated tenants planned and
//! rendered to YAML. Goals: under 50 µs per tenant for the plan (objects built, nothing
//! serialized), and a render of 1 000 tenants under a second on one core.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mutualis::api::{ServiceCatalog, Tenant};
use mutualis::cli::{Format, render};
use mutualis::plan::{PlanInputs, ValidatedTenant, build, validate};

fn example<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/");
    serde_saphyr::from_str(&std::fs::read_to_string(format!("{path}{name}")).unwrap()).unwrap()
}

/// `n` tenants, tiers in turn, 0 to 8 member communes each (4 on average).
fn generated(n: usize, catalog: &ServiceCatalog) -> Vec<ValidatedTenant> {
    (0..n)
        .map(|i| {
            let members: String = (0..i % 9)
                .map(|m| format!("  - displayName: Commune {i}-{m}\n    domain: commune-{i}-{m}.fr\n"))
                .collect();
            let yaml = format!(
                "apiVersion: mutualis.io/v1alpha1\nkind: Tenant\nmetadata:\n  name: tenant-{i}\nspec:\n  catalogRef: gironde-numerique\n  tier: {}\n  displayName: Tenant {i}\n  domain: tenant-{i}.fr\n  members:{}\n{members}",
                ["250gb", "500gb", "1tb"][i % 3],
                if members.is_empty() { " []" } else { "" }
            );
            let tenant: Tenant = serde_saphyr::from_str(&yaml).unwrap();
            validate(&tenant, catalog).unwrap()
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let catalog: ServiceCatalog = example("catalog.yaml");
    let coteaux: Tenant = example("coteaux-bordelais.yaml");
    let inputs = PlanInputs::default();
    let validated = validate(&coteaux, &catalog).unwrap();

    c.bench_function("plan/coteaux-bordelais (build)", |b| {
        b.iter(|| build(black_box(&validated), &inputs))
    });
    c.bench_function("plan/coteaux-bordelais (validate + build)", |b| {
        b.iter(|| build(&validate(black_box(&coteaux), &catalog).unwrap(), &inputs))
    });

    // What the CRD's schema and CEL rules add to validate: the same pipeline the API server
    // runs, on each document as JSON (the catalogue's is checked for every tenant using it).
    let schema_of = |kind| mutualis::api::openapi_schema(kind).unwrap();
    let tenant_json = serde_json::to_value(&coteaux).unwrap();
    let catalog_json = serde_json::to_value(&catalog).unwrap();
    c.bench_function("schema + CEL/coteaux-bordelais Tenant", |b| {
        b.iter(|| crdvalidation::admit(schema_of("Tenant"), &mut tenant_json.clone(), None))
    });
    c.bench_function("schema + CEL/ServiceCatalog", |b| {
        b.iter(|| {
            crdvalidation::admit(schema_of("ServiceCatalog"), &mut catalog_json.clone(), None)
        })
    });
    let examples = [
        concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/catalog.yaml"),
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/coteaux-bordelais.yaml"
        ),
    ]
    .map(std::path::PathBuf::from);
    c.bench_function(
        "offline input/catalog + coteaux-bordelais (read, admit, type)",
        |b| {
            b.iter(|| {
                mutualis::cli::input::read(black_box(&examples), &mut std::io::empty()).unwrap()
            })
        },
    );

    let thousand = generated(1000, &catalog);
    let mut group = c.benchmark_group("1000 tenants");
    group.throughput(Throughput::Elements(1000));
    group.sample_size(10);
    group.bench_function("plan", |b| {
        b.iter(|| {
            thousand
                .iter()
                .map(|t| build(t, &inputs).objects.len())
                .sum::<usize>()
        })
    });
    group.bench_function("render to YAML", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(64 << 20);
            let mut plans = thousand.iter().map(|t| build(t, &inputs));
            render::write(&mut plans, Format::Yaml, &mut out).unwrap();
            out.len()
        })
    });
    group.finish();
}

/// What one tenant's DKIM key costs (generated off the reconcile loop, see `reconcile::keygen`).
fn dkim_key(c: &mut Criterion) {
    let mut group = c.benchmark_group("credentials");
    group.sample_size(10);
    group.bench_function("RSA-2048 DKIM key pair", |b| {
        b.iter(mutualis::reconcile::credentials::dkim_key_pair)
    });
    group.finish();
}

criterion_group!(plan, benches, dkim_key);
criterion_main!(plan);
