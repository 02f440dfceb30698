//! Property tests: no input makes the plan or the offline commands panic. Typed Tenants and
//! ServiceCatalogs with arbitrary values (long, Unicode, dotted, `@`, digits-only labels,
//! numbers at their bounds, lists of members) go through `validate` and `build`; arbitrary
//! bytes and mutated manifests go through `render` and `plan`. Each either works or is refused
//! with an error; a valid plan keeps its invariants.
//!
//! 256 cases per property by default; a long run: `PROPTEST_CASES=20000 cargo test -p mutualis
//! --test fuzz --release`.

use std::net::IpAddr;
use std::path::PathBuf;

use mutualis::api::{Member, ServiceCatalog, Services, Tenant};
use mutualis::cli::{Format, Offline, run_offline};
use mutualis::plan::{DkimPublicKey, PlanInputs, ZoneVersion, ZoneVersions, build, validate};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

fn example(name: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    std::fs::read_to_string(root.join(name)).unwrap()
}

fn base_catalog() -> ServiceCatalog {
    serde_saphyr::from_str(&example("catalog.yaml")).unwrap()
}

fn base_tenant() -> Tenant {
    serde_saphyr::from_multiple::<Tenant>(&example("coteaux-bordelais.yaml"))
        .unwrap()
        .remove(0)
}

/// Strings the way mistakes and attacks come: anything, long dotted names near the DNS limits,
/// digits-only labels, Unicode, `@`, dots in odd places.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z0-9-]{1,70}(\\.[a-z0-9-]{1,70}){0,5}",
        "[0-9]{1,4}(\\.[0-9]{1,4}){1,3}",
        "[a-zA-Zéœü0-9@._ -]{0,40}",
        "\\PC{0,300}",
        proptest::collection::vec("[a-zœé0-9-]{1,63}", 1..8).prop_map(|v| v.join(".")),
        "\\.?[a-z]{0,5}\\.\\.[a-z]{0,5}\\.?",
        Just(String::new()),
    ]
}

/// A valid value most of the time and a wild one sometimes: with a score of fields, about a
/// third of the cases reach `build` whole, the others are refused on one or two fields.
fn mostly<T: std::fmt::Debug + Clone + 'static>(
    valid: impl Strategy<Value = T> + 'static,
    wild: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<T> {
    prop_oneof![20 => valid, 1 => wild].boxed()
}

fn or_valid(valid: &str) -> BoxedStrategy<String> {
    mostly(Just(valid.to_owned()), text())
}

fn domain() -> BoxedStrategy<String> {
    mostly(
        prop_oneof![
            4 => "[a-z][a-z0-9]{0,20}\\.fr",
            2 => "[a-zœéè]{1,12}\\.[a-z]{2,3}",
            // Near the length limits: three to five labels of 40 to 63 characters.
            1 => proptest::collection::vec("[a-z]{40,63}", 3..5).prop_map(|v| v.join(".") + ".fr"),
        ],
        text(),
    )
}

fn member() -> impl Strategy<Value = Member> {
    (
        mostly(
            Just(None),
            proptest::option::of(prop_oneof!["[a-z0-9-]{1,45}", text()]),
        ),
        mostly("[A-Z][a-zéœ]{1,30}".prop_map(String::from), text()),
        domain(),
    )
        .prop_map(|(name, display_name, domain)| Member {
            name,
            display_name,
            domain,
            mail: Default::default(),
            site: Default::default(),
        })
}

fn services() -> impl Strategy<Value = Services> {
    any::<[bool; 5]>().prop_map(|[mail, website, dns, collaboration, nas]| Services {
        mail,
        website,
        dns,
        collaboration,
        nas,
    })
}

prop_compose! {
    fn tenant()(
        name in mostly("[a-z][a-z0-9]{0,20}(-[a-z0-9]{1,10})?".prop_map(String::from), prop_oneof!["[a-z0-9-]{1,70}", text()]),
        tier in mostly(prop_oneof![Just("250gb".to_owned()), Just("1tb".to_owned())], text()),
        display_name in or_valid("Coteaux"),
        domain in domain(),
        members in proptest::collection::vec(member(), 0..12),
        services in services(),
        date in or_valid("2017-10-17"),
    ) -> Tenant {
        let mut t = base_tenant();
        t.metadata.name = Some(name);
        t.spec.tier = tier;
        t.spec.display_name = display_name;
        t.spec.domain = domain;
        t.spec.members = members;
        t.spec.services = services;
        if let Some(s) = t.spec.subscription.as_mut() {
            s.date = date;
        }
        t
    }
}

/// Seconds at and around the bounds the catalogue allows, or anything.
fn seconds(valid: u32) -> BoxedStrategy<u32> {
    mostly(
        Just(valid),
        prop_oneof![
            Just(0u32),
            Just(1),
            Just(59),
            Just(60),
            Just(604_800),
            Just(4_838_401),
            Just(u32::MAX),
            any::<u32>()
        ],
    )
}

prop_compose! {
    fn catalog()(
        storage in mostly(
            "[1-9][0-9]{0,3}(Gi|Ti)".prop_map(String::from),
            prop_oneof!["[0-9]{1,22}(\\.[0-9]{1,3})?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?", text()],
        ),
        split in mostly(any::<[u8; 4]>().prop_map(|s| s.map(|p| p % 26)), any::<[u8; 4]>()),
        contribution in mostly(
            (0i64..100_000, 0i64..100_000).prop_map(|(a, extra)| (a, a + extra)),
            any::<(i64, i64)>(),
        ),
        repository in or_valid("docker.io/library/redis"),
        tag in or_valid("8.2.2"),
        name_server in or_valid("ns1.gironde-numerique.fr"),
        hostmaster in or_valid("hostmaster@gironde-numerique.fr"),
        caa in mostly(Just(Vec::new()), proptest::collection::vec(text(), 1..3)),
        cname in mostly(Just(None), proptest::option::of(text())),
        address in mostly(any::<IpAddr>().prop_map(|a| a.to_string()), text()),
        timers in (seconds(3600), seconds(7200), seconds(3600), seconds(1_209_600), seconds(3600)),
    ) -> ServiceCatalog {
        let mut c = base_catalog();
        let tier = &mut c.spec.tiers[0];
        tier.storage = storage;
        [tier.split.mail, tier.split.website, tier.split.collaboration, tier.split.nas] = split;
        (tier.contribution.alone, tier.contribution.with_members) = contribution;
        c.spec.images.cache.repository = repository;
        c.spec.images.cache.tag = tag;
        let dns = &mut c.spec.dns;
        dns.name_servers[0] = name_server;
        dns.hostmaster = hostmaster;
        if !caa.is_empty() {
            dns.caa_issuers = caa;
        }
        match cname {
            Some(cname) => {
                dns.web_target.cname = Some(cname);
                dns.web_target.addresses.clear();
            }
            None => dns.web_target.addresses[0] = address,
        }
        (dns.ttl, dns.soa.refresh, dns.soa.retry, dns.soa.expire, dns.soa.minimum) = timers;
        c
    }
}

fn inputs() -> impl Strategy<Value = PlanInputs> {
    (
        proptest::option::of("[A-Za-z0-9+/=]{0,600}"),
        proptest::collection::vec(any::<IpAddr>(), 0..3),
        proptest::option::of(any::<u32>()),
        any::<bool>(),
    )
        .prop_map(
            |(key, mail_addresses, serial, mail_certificate_issued)| PlanInputs {
                // The same arbitrary addresses for the NAS's and SFTP's load balancers.
                load_balancer_addresses: ["nas", "website-sftp"]
                    .into_iter()
                    .map(|s| (s.to_owned(), mail_addresses.clone()))
                    .collect(),
                mail_certificate_issued,
                dkim: key.map(|public_key_base64| DkimPublicKey {
                    algorithm: "ed25519".into(),
                    public_key_base64,
                    selector: "mutualis".into(),
                }),
                previous_zones: ZoneVersions(
                    serial
                        .map(|serial| {
                            (
                                "coteaux-bordelais.fr".to_owned(),
                                ZoneVersion {
                                    serial,
                                    digest: "x".into(),
                                },
                            )
                        })
                        .into_iter()
                        .collect(),
                ),
                mail_addresses,
            },
        )
}

/// `render` or `plan` on `input` from stdin: must return (Ok or Err), never panic.
fn offline(command: Offline, format: Format, input: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    run_offline(
        command,
        &[PathBuf::from("-")],
        format,
        &mut std::io::Cursor::new(input),
        &mut out,
    )
    .map(|()| out)
    .map_err(|e| e.to_string())
}

/// How many cases of `validate_and_build_never_panic` reached `build` (printed with
/// `--nocapture`, for the record of a long run).
static VALID: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[test]
fn the_generators_reach_build() {
    // Not a property: a check that the strategies are not so wild that `build` is never run.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = (tenant(), catalog());
    let valid = (0..200)
        .filter(|_| {
            let (t, c) = strategy.new_tree(&mut runner).unwrap().current();
            validate(&t, &c).is_ok()
        })
        .count();
    assert!(
        valid >= 20,
        "only {valid} of 200 generated tenants are valid"
    );
    eprintln!("{valid} of 200 generated tenants are valid");
}

proptest! {
    // Cases from `PROPTEST_CASES` (256 by default); failures are printed, not saved in files.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn validate_and_build_never_panic(t in tenant(), c in catalog(), inputs in inputs()) {
        if let Ok(valid) = validate(&t, &c) {
            VALID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let plan = build(&valid, &inputs);
            if t.spec.services.dns {
                prop_assert_eq!(plan.zones.len(), 1 + t.spec.members.len());
            }
            prop_assert!(plan.objects.iter().all(|o| o.name().len() <= 253));
            for z in &plan.zones {
                prop_assert!(z.origin.len() <= 253, "{}", z.origin);
            }
        }
        if std::env::var_os("PROPTEST_CASES").is_some() {
            let n = VALID.load(std::sync::atomic::Ordering::Relaxed);
            if n.is_power_of_two() {
                eprintln!("{n} cases reached build");
            }
        }
    }

    #[test]
    fn errors_stay_short_and_name_a_field(t in tenant(), c in catalog()) {
        if let Err(err) = validate(&t, &c) {
            let text = err.to_string();
            prop_assert!(text.len() < 1000, "{} bytes: {}", text.len(), text);
            prop_assert!(err.field().is_some(), "{}", text);
        }
    }

    #[test]
    fn typed_manifests_through_the_cli_never_panic(t in tenant(), c in catalog()) {
        let yaml = format!(
            "{}---\n{}",
            serde_saphyr::to_string(&c).unwrap(),
            serde_saphyr::to_string(&t).unwrap()
        );
        let _ = offline(Offline::Render, Format::Text, yaml.as_bytes());
        let _ = offline(Offline::Plan, Format::Json, yaml.as_bytes());
    }

    #[test]
    fn arbitrary_bytes_through_the_cli_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(offline(Offline::Plan, Format::Text, &bytes).is_err());
    }

    #[test]
    fn mutated_examples_through_the_cli_never_panic(
        at in any::<proptest::sample::Index>(),
        cut in 0usize..200,
        insert in prop_oneof![text(), "[\\[\\]{}:,'\"&*!|>#%@` \n-]{1,20}", Just("\n  - ".repeat(70))],
        command in prop_oneof![Just(Offline::Render), Just(Offline::Plan)],
    ) {
        let mut doc = example("catalog.yaml") + "---\n" + &example("coteaux-bordelais.yaml");
        let mut start = at.index(doc.len());
        while !doc.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (start + cut).min(doc.len());
        while !doc.is_char_boundary(end) {
            end -= 1;
        }
        doc.replace_range(start..end, &insert);
        if let Err(message) = offline(command, Format::Text, doc.as_bytes()) {
            prop_assert!(message.len() < 2000, "{} bytes: {}", message.len(), message);
        }
    }
}
