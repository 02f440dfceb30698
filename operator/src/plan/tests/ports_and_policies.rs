//! Every port a Service exposes is allowed by a NetworkPolicy that selects its pods, and no
//! policy of our pods opens a port that no Service of those pods has.

use std::collections::BTreeMap;

use serde_json::Value;

use super::*;

fn selects(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    selector["matchLabels"].as_object().is_none_or(|m| {
        m.iter()
            .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str())
    })
}

/// (protocol, port) pairs a policy's ingress rules allow.
fn ingress_ports(policy: &Value) -> Vec<(String, i64)> {
    policy["spec"]["ingress"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["ports"].as_array().into_iter().flatten())
        .map(|p| {
            (
                p["protocol"].as_str().unwrap().to_owned(),
                p["port"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn check(plan: &Plan) {
    let objects: Vec<Value> = plan.objects.iter().map(Object::to_json).collect();
    let of = |kind: &'static str| objects.iter().filter(move |o| o["kind"] == kind);
    let policies: Vec<&Value> = of("NetworkPolicy").collect();
    // Service → the labels of the pods it selects, and their target ports.
    let mut exposed: Vec<(BTreeMap<String, String>, String, i64)> = Vec::new();
    for s in of("Service") {
        let selector: BTreeMap<String, String> =
            serde_json::from_value(s["spec"]["selector"].clone()).unwrap();
        for p in s["spec"]["ports"].as_array().unwrap() {
            let proto = p["protocol"].as_str().unwrap().to_owned();
            let target = p["targetPort"].as_i64().unwrap();
            let allowed = policies.iter().any(|np| {
                selects(&np["spec"]["podSelector"], &selector)
                    && ingress_ports(np).contains(&(proto.clone(), target))
            });
            assert!(
                allowed,
                "{}: Service {} port {proto}/{target} is allowed by no NetworkPolicy",
                plan.tenant, s["metadata"]["name"]
            );
            exposed.push((selector.clone(), proto.clone(), target));
        }
    }
    for np in &policies {
        let sel = &np["spec"]["podSelector"];
        // Policies of pods that are not ours (cert-manager's solvers) are checked by name only.
        let ours = sel["matchLabels"]
            .as_object()
            .is_some_and(|m| m.contains_key(labels::TENANT));
        if !ours {
            continue;
        }
        for (proto, port) in ingress_ports(np) {
            assert!(
                exposed
                    .iter()
                    .any(|(pods, p, t)| selects(sel, pods) && *p == proto && *t == port),
                "{}: NetworkPolicy {} allows {proto}/{port}, which no Service of its pods has",
                plan.tenant,
                np["metadata"]["name"]
            );
        }
    }
}

#[test]
fn every_service_port_is_allowed_and_no_policy_opens_another() {
    check(&plan_of(TENANT, &PlanInputs::default()));
    let few = TENANT.replace(
        "  admins:",
        "  services: {mail: false, collaboration: false}\n  admins:",
    );
    check(&plan_of(&few, &PlanInputs::default()));
    // Mail off with Nextcloud on (no SMTP egress), and a NAS reached from declared networks.
    let variants = TENANT.replace(
        "  admins:",
        "  services: {mail: false}\n  nas: {allowedNetworks: [192.0.2.0/24]}\n  admins:",
    );
    check(&plan_of(&variants, &PlanInputs::default()));
}

#[test]
fn the_check_catches_a_port_that_moved() {
    let mut plan = plan_of(TENANT, &PlanInputs::default());
    for o in &mut plan.objects {
        if let Object::Service(s) = o
            && s.metadata.name.as_deref() == Some("nas")
            && let Some(p) = s.spec.as_mut().and_then(|s| s.ports.as_mut())
        {
            p[0].target_port =
                Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(4450));
        }
    }
    let caught = std::panic::catch_unwind(|| check(&plan)).is_err();
    assert!(
        caught,
        "a Service port without a policy must fail the check"
    );
}
