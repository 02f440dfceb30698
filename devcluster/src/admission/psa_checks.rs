//! The Pod Security Standards checks of upstream's `pod-security-admission/policy`, as of the
//! 1.32 policy version (what `latest` means for a server that reports 1.32): same check order
//! (baseline IDs sorted, then restricted IDs sorted), same reasons, same details.

use serde_json::Value;
use std::collections::BTreeSet;

use super::psa_baseline::{
    app_armor, capabilities_baseline, host_path_volumes, proc_mount, se_linux, seccomp_baseline,
    sysctls, windows_host_process,
};
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

pub(super) fn added(c: &Value) -> impl Iterator<Item = &str> {
    c["securityContext"]["capabilities"]["add"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
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
