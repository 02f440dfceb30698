//! More of the baseline-level checks (upstream's baseline checks).

use super::psa_checks::{
    Failure, added, bad_containers, containers, join_quote, name, named, plural, seccomp_explicit,
    setters,
};
use serde_json::Value;
use std::collections::BTreeSet;

const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

pub(super) fn capabilities_baseline(_: &Value, spec: &Value) -> Option<Failure> {
    let not_allowed = |c: &&str| !BASELINE_CAPABILITIES.contains(c);
    let bad = bad_containers(spec, |c| added(c).any(|x| not_allowed(&x)));
    let caps: BTreeSet<&str> = containers(spec)
        .flat_map(added)
        .filter(not_allowed)
        .collect();
    (!bad.is_empty()).then(|| {
        let d = format!(
            "{} must not include {} in securityContext.capabilities.add",
            named(&bad),
            join_quote(caps)
        );
        ("non-default capabilities", d)
    })
}

pub(super) fn host_path_volumes(_: &Value, spec: &Value) -> Option<Failure> {
    let bad: Vec<String> = spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v.get("hostPath").is_some_and(|h| !h.is_null()))
        .map(name)
        .collect();
    (!bad.is_empty()).then(|| {
        let d = format!(
            "{} {}",
            plural("volume", "volumes", bad.len()),
            join_quote(&bad)
        );
        ("hostPath volumes", d)
    })
}

pub(super) fn proc_mount(_: &Value, spec: &Value) -> Option<Failure> {
    let pm = |c: &Value| c["securityContext"]["procMount"].as_str().map(String::from);
    let bad = bad_containers(spec, |c| pm(c).is_some_and(|p| p != "Default"));
    let types: BTreeSet<String> = containers(spec)
        .filter_map(pm)
        .filter(|p| p != "Default")
        .collect();
    (!bad.is_empty()).then(|| {
        let d = format!(
            "{} must not set securityContext.procMount to {}",
            named(&bad),
            join_quote(types)
        );
        ("procMount", d)
    })
}

pub(super) fn app_armor(meta: &Value, spec: &Value) -> Option<Failure> {
    let bad_type = |sc: &Value| {
        sc["appArmorProfile"]["type"]
            .as_str()
            .filter(|t| !matches!(*t, "RuntimeDefault" | "Localhost"))
            .map(String::from)
    };
    let mut values: BTreeSet<String> = BTreeSet::new();
    let pod = bad_type(&spec["securityContext"]);
    values.extend(pod.clone());
    let bad = bad_containers(spec, |c| bad_type(&c["securityContext"]).is_some());
    values.extend(containers(spec).filter_map(|c| bad_type(&c["securityContext"])));
    let mut list: Vec<String> = values.into_iter().collect();
    let mut s = setters(pod.is_some(), &bad);
    let mut annotations: Vec<String> = meta["annotations"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with("container.apparmor.security.beta.kubernetes.io/"))
        .filter_map(|(k, v)| {
            let v = v.as_str().unwrap_or_default();
            let ok = v.is_empty() || v == "runtime/default" || v.starts_with("localhost/");
            (!ok).then(|| format!("{k}={v:?}"))
        })
        .collect();
    if !annotations.is_empty() {
        annotations.sort();
        s.push(plural("annotation", "annotations", annotations.len()).to_string());
        list.extend(annotations);
    }
    (!s.is_empty()).then(|| {
        let r = if list.len() == 1 {
            "forbidden AppArmor profile"
        } else {
            "forbidden AppArmor profiles"
        };
        let d = format!(
            "{} must not set AppArmor profile type to {}",
            s.join(" and "),
            join_quote(list)
        );
        (r, d)
    })
}

pub(super) fn se_linux(_: &Value, spec: &Value) -> Option<Failure> {
    const TYPES: &[&str] = &[
        "",
        "container_t",
        "container_init_t",
        "container_kvm_t",
        "container_engine_t",
    ];
    let (mut types, mut user, mut role) = (BTreeSet::new(), false, false);
    let mut invalid = |o: &Value| -> bool {
        if o.is_null() {
            return false;
        }
        let t = o["type"].as_str().unwrap_or_default();
        let mut bad = false;
        if !TYPES.contains(&t) {
            types.insert(t.to_string());
            bad = true;
        }
        if o["user"].as_str().is_some_and(|u| !u.is_empty()) {
            user = true;
            bad = true;
        }
        if o["role"].as_str().is_some_and(|r| !r.is_empty()) {
            role = true;
            bad = true;
        }
        bad
    };
    let pod = invalid(&spec["securityContext"]["seLinuxOptions"]);
    let bad: Vec<String> = containers(spec)
        .filter(|c| invalid(&c["securityContext"]["seLinuxOptions"]))
        .map(name)
        .collect();
    let s = setters(pod, &bad);
    (!s.is_empty()).then(|| {
        let mut data = Vec::new();
        if !types.is_empty() {
            data.push(format!(
                "{} {}",
                plural("type", "types", types.len()),
                join_quote(&types)
            ));
        }
        if user {
            data.push("user may not be set".to_string());
        }
        if role {
            data.push("role may not be set".to_string());
        }
        let d = format!(
            "{} set forbidden securityContext.seLinuxOptions: {}",
            s.join(" and "),
            data.join("; ")
        );
        ("seLinuxOptions", d)
    })
}

pub(super) fn seccomp_baseline(_: &Value, spec: &Value) -> Option<Failure> {
    seccomp_explicit(spec)
}

const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
];

pub(super) fn sysctls(_: &Value, spec: &Value) -> Option<Failure> {
    let bad: Vec<&str> = spec["securityContext"]["sysctls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str())
        .filter(|n| !SAFE_SYSCTLS.contains(n))
        .collect();
    (!bad.is_empty()).then(|| ("forbidden sysctls", bad.join(", ")))
}

pub(super) fn windows_host_process(_: &Value, spec: &Value) -> Option<Failure> {
    let hp = |sc: &Value| sc["windowsOptions"]["hostProcess"] == true;
    let bad = bad_containers(spec, |c| hp(&c["securityContext"]));
    let s = setters(hp(&spec["securityContext"]), &bad);
    (!s.is_empty()).then(|| {
        let d = format!(
            "{} must not set securityContext.windowsOptions.hostProcess=true",
            s.join(" and ")
        );
        ("hostProcess", d)
    })
}
