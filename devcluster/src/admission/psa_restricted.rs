//! The checks only the `restricted` level adds (upstream's restricted-level checks).

use super::psa_checks::{
    Failure, added, bad_containers, containers, join_quote, name, named, plural, seccomp_explicit,
    seccomp_type, setters, windows,
};
use serde_json::Value;
use std::collections::BTreeSet;

pub(super) fn seccomp_restricted(_: &Value, spec: &Value) -> Option<Failure> {
    if windows(spec) {
        return None;
    }
    if let Some(f) = seccomp_explicit(spec) {
        return Some(f);
    }
    let pod_set = seccomp_type(&spec["securityContext"]).is_some();
    let implicit = bad_containers(spec, |c| {
        seccomp_type(&c["securityContext"]).is_none() && !pod_set
    });
    (!implicit.is_empty()).then(|| {
        let d = format!(
            "pod or {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"",
            named(&implicit)
        );
        ("seccompProfile", d)
    })
}

pub(super) fn allow_privilege_escalation(_: &Value, spec: &Value) -> Option<Failure> {
    if windows(spec) {
        return None;
    }
    let bad = bad_containers(spec, |c| {
        c["securityContext"]["allowPrivilegeEscalation"] != false
    });
    (!bad.is_empty()).then(|| {
        let d = format!(
            "{} must set securityContext.allowPrivilegeEscalation=false",
            named(&bad)
        );
        ("allowPrivilegeEscalation != false", d)
    })
}

pub(super) fn capabilities_restricted(_: &Value, spec: &Value) -> Option<Failure> {
    if windows(spec) {
        return None;
    }
    let drops_all = |c: &Value| {
        c["securityContext"]["capabilities"]["drop"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "ALL"))
    };
    let missing = bad_containers(spec, |c| !drops_all(c));
    let adding = bad_containers(spec, |c| added(c).any(|x| x != "NET_BIND_SERVICE"));
    let caps: BTreeSet<&str> = containers(spec)
        .flat_map(added)
        .filter(|x| *x != "NET_BIND_SERVICE")
        .collect();
    let mut details = Vec::new();
    if !missing.is_empty() {
        details.push(format!(
            "{} must set securityContext.capabilities.drop=[\"ALL\"]",
            named(&missing)
        ));
    }
    if !adding.is_empty() {
        details.push(format!(
            "{} must not include {} in securityContext.capabilities.add",
            named(&adding),
            join_quote(caps)
        ));
    }
    (!details.is_empty()).then(|| ("unrestricted capabilities", details.join("; ")))
}

const ALLOWED_VOLUMES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

const KNOWN_VOLUMES: &[&str] = &[
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
];

pub(super) fn restricted_volumes(_: &Value, spec: &Value) -> Option<Failure> {
    let mut types = BTreeSet::new();
    let mut bad = Vec::new();
    for v in spec["volumes"].as_array().into_iter().flatten() {
        let has = |k: &str| v.get(k).is_some_and(|x| !x.is_null());
        if ALLOWED_VOLUMES.iter().any(|k| has(k)) {
            continue;
        }
        bad.push(name(v));
        types.insert(*KNOWN_VOLUMES.iter().find(|k| has(k)).unwrap_or(&"unknown"));
    }
    (!bad.is_empty()).then(|| {
        let d = format!(
            "{} {} {} {} {}",
            plural("volume", "volumes", bad.len()),
            join_quote(&bad),
            plural("uses", "use", bad.len()),
            plural(
                "restricted volume type",
                "restricted volume types",
                types.len()
            ),
            join_quote(types)
        );
        ("restricted volume types", d)
    })
}

pub(super) fn run_as_non_root(_: &Value, spec: &Value) -> Option<Failure> {
    let pod = &spec["securityContext"]["runAsNonRoot"];
    let pod_true = *pod == true;
    let explicit = bad_containers(spec, |c| c["securityContext"]["runAsNonRoot"] == false);
    let s = setters(*pod == false, &explicit);
    if !s.is_empty() {
        let d = format!(
            "{} must not set securityContext.runAsNonRoot=false",
            s.join(" and ")
        );
        return Some(("runAsNonRoot != true", d));
    }
    let implicit = bad_containers(spec, |c| {
        !c["securityContext"]["runAsNonRoot"].is_boolean() && !pod_true
    });
    (!implicit.is_empty()).then(|| {
        let d = format!(
            "pod or {} must set securityContext.runAsNonRoot=true",
            named(&implicit)
        );
        ("runAsNonRoot != true", d)
    })
}

pub(super) fn run_as_user(_: &Value, spec: &Value) -> Option<Failure> {
    let root = |sc: &Value| sc["runAsUser"].as_i64() == Some(0);
    let bad = bad_containers(spec, |c| root(&c["securityContext"]));
    let s = setters(root(&spec["securityContext"]), &bad);
    (!s.is_empty()).then(|| {
        let d = format!("{} must not set runAsUser=0", s.join(" and "));
        ("runAsUser=0", d)
    })
}
