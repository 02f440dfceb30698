//! The Pod Security Standards checks of upstream's `pod-security-admission/policy`, as of the
//! 1.32 policy version (what `latest` means for a server that reports 1.32): same check order
//! (baseline IDs sorted, then restricted IDs sorted), same reasons, same details.

use serde_json::Value;
use std::collections::BTreeSet;

use super::psa_restricted::{
    allow_privilege_escalation, capabilities_restricted, restricted_volumes, run_as_non_root,
    run_as_user, seccomp_restricted,
};

/// A failed check: upstream's `ForbiddenReason` and `ForbiddenDetail`.
pub type Failure = (&'static str, String);
type Check = fn(&Value, &Value) -> Option<Failure>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Privileged,
    Baseline,
    Restricted,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "privileged" => Some(Level::Privileged),
            "baseline" => Some(Level::Baseline),
            "restricted" => Some(Level::Restricted),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }
}

const BASELINE: &[(&str, Check)] = &[
    ("appArmorProfile", app_armor),
    ("capabilities_baseline", capabilities_baseline),
    ("hostNamespaces", host_namespaces),
    ("hostPathVolumes", host_path_volumes),
    ("hostPorts", host_ports),
    ("privileged", privileged),
    ("procMount", proc_mount),
    ("seLinuxOptions", se_linux),
    ("seccompProfile_baseline", seccomp_baseline),
    ("sysctls", sysctls),
    ("windowsHostProcess", windows_host_process),
];

const RESTRICTED: &[(&str, Check)] = &[
    ("allowPrivilegeEscalation", allow_privilege_escalation),
    ("capabilities_restricted", capabilities_restricted),
    ("restrictedVolumes", restricted_volumes),
    ("runAsNonRoot", run_as_non_root),
    ("runAsUser", run_as_user),
    ("seccompProfile_restricted", seccomp_restricted),
];

/// Baseline checks a restricted check replaces.
const OVERRIDDEN: &[&str] = &[
    "capabilities_baseline",
    "hostPathVolumes",
    "seccompProfile_baseline",
];

/// The failures of a pod (metadata, spec) at a level, in upstream's order.
pub fn evaluate(level: Level, meta: &Value, spec: &Value) -> Vec<Failure> {
    let checks: Vec<&Check> = match level {
        Level::Privileged => return vec![],
        Level::Baseline => BASELINE.iter().map(|(_, c)| c).collect(),
        Level::Restricted => BASELINE
            .iter()
            .filter(|(id, _)| !OVERRIDDEN.contains(id))
            .chain(RESTRICTED)
            .map(|(_, c)| c)
            .collect(),
    };
    checks.into_iter().filter_map(|c| c(meta, spec)).collect()
}

/// `reason (detail), reason (detail)`: upstream's `AggregateCheckResult.ForbiddenDetail`.
pub fn render(failures: &[Failure]) -> String {
    failures
        .iter()
        .map(|(r, d)| {
            if d.is_empty() {
                r.to_string()
            } else {
                format!("{r} ({d})")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn containers(spec: &Value) -> impl Iterator<Item = &Value> {
    ["initContainers", "containers", "ephemeralContainers"]
        .into_iter()
        .flat_map(move |l| spec[l].as_array().into_iter().flatten())
}

pub(super) fn name(c: &Value) -> String {
    c["name"].as_str().unwrap_or_default().to_string()
}

pub(super) fn join_quote<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let v: Vec<String> = items
        .into_iter()
        .map(|s| format!("\"{}\"", s.as_ref()))
        .collect();
    v.join(", ")
}

pub(super) fn plural<'a>(one: &'a str, many: &'a str, n: usize) -> &'a str {
    if n == 1 { one } else { many }
}

/// `container "a"` / `containers "a", "b"`.
pub(super) fn named(list: &[String]) -> String {
    format!(
        "{} {}",
        plural("container", "containers", list.len()),
        join_quote(list)
    )
}

pub(super) fn bad_containers(spec: &Value, bad: impl Fn(&Value) -> bool) -> Vec<String> {
    containers(spec).filter(|c| bad(c)).map(name).collect()
}

pub(super) fn windows(spec: &Value) -> bool {
    spec["os"]["name"] == "windows"
}

fn privileged(_: &Value, spec: &Value) -> Option<Failure> {
    let bad = bad_containers(spec, |c| c["securityContext"]["privileged"] == true);
    (!bad.is_empty()).then(|| {
        let d = format!(
            "{} must not set securityContext.privileged=true",
            named(&bad)
        );
        ("privileged", d)
    })
}

fn host_namespaces(_: &Value, spec: &Value) -> Option<Failure> {
    let set: BTreeSet<&str> = ["hostIPC", "hostNetwork", "hostPID"]
        .into_iter()
        .filter(|f| spec[*f] == true)
        .collect();
    (!set.is_empty()).then(|| {
        let d = set.into_iter().collect::<Vec<_>>().join(", ");
        ("host namespaces", d)
    })
}

fn host_ports(_: &Value, spec: &Value) -> Option<Failure> {
    let ports = |c: &Value| -> Vec<String> {
        c["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["hostPort"].as_i64().filter(|h| *h != 0))
            .map(|h| h.to_string())
            .collect()
    };
    let bad = bad_containers(spec, |c| !ports(c).is_empty());
    let all: BTreeSet<String> = containers(spec).flat_map(ports).collect();
    (!bad.is_empty()).then(|| {
        let d = format!(
            "{} {} {} {}",
            named(&bad),
            plural("uses", "use", bad.len()),
            plural("hostPort", "hostPorts", all.len()),
            all.into_iter().collect::<Vec<_>>().join(", ")
        );
        ("hostPort", d)
    })
}

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

pub(super) fn added(c: &Value) -> impl Iterator<Item = &str> {
    c["securityContext"]["capabilities"]["add"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

fn capabilities_baseline(_: &Value, spec: &Value) -> Option<Failure> {
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

fn host_path_volumes(_: &Value, spec: &Value) -> Option<Failure> {
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

fn proc_mount(_: &Value, spec: &Value) -> Option<Failure> {
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

/// "pod and containers "a"" style setters, shared by several checks.
pub(super) fn setters(pod: bool, bad: &[String]) -> Vec<String> {
    let mut s = Vec::new();
    if pod {
        s.push("pod".to_string());
    }
    if !bad.is_empty() {
        s.push(named(bad));
    }
    s
}

fn app_armor(meta: &Value, spec: &Value) -> Option<Failure> {
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

fn se_linux(_: &Value, spec: &Value) -> Option<Failure> {
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

pub(super) fn seccomp_type(sc: &Value) -> Option<&str> {
    sc["seccompProfile"]
        .is_object()
        .then(|| sc["seccompProfile"]["type"].as_str().unwrap_or_default())
}

fn valid_seccomp(t: &str) -> bool {
    matches!(t, "RuntimeDefault" | "Localhost")
}

/// Explicitly bad seccomp setters and values, shared by the baseline and restricted checks.
pub(super) fn seccomp_explicit(spec: &Value) -> Option<Failure> {
    let mut values = BTreeSet::new();
    let pod = seccomp_type(&spec["securityContext"]).filter(|t| !valid_seccomp(t));
    values.extend(pod.map(String::from));
    let bad: Vec<String> = containers(spec)
        .filter(|c| {
            let t = seccomp_type(&c["securityContext"]).filter(|t| !valid_seccomp(t));
            values.extend(t.map(String::from));
            t.is_some()
        })
        .map(name)
        .collect();
    let s = setters(pod.is_some(), &bad);
    (!s.is_empty()).then(|| {
        let d = format!(
            "{} must not set securityContext.seccompProfile.type to {}",
            s.join(" and "),
            join_quote(values)
        );
        ("seccompProfile", d)
    })
}

fn seccomp_baseline(_: &Value, spec: &Value) -> Option<Failure> {
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

fn sysctls(_: &Value, spec: &Value) -> Option<Failure> {
    let bad: Vec<&str> = spec["securityContext"]["sysctls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str())
        .filter(|n| !SAFE_SYSCTLS.contains(n))
        .collect();
    (!bad.is_empty()).then(|| ("forbidden sysctls", bad.join(", ")))
}

fn windows_host_process(_: &Value, spec: &Value) -> Option<Failure> {
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
