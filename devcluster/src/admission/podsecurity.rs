//! Pod Security admission at the namespace's `pod-security.kubernetes.io/*` labels, as
//! upstream's `pod-security-admission`: Pods violating `enforce` are refused; workloads get a
//! `would violate PodSecurity` warning at the `warn` level. The `audit` level is parsed and
//! validated but writes no audit log (there is none here).
//!
//! Strict mode (`Config::pod_security_strict`) also refuses a workload whose pod template
//! violates `enforce`: the dev cluster runs no pods, so this is where the refusal a real
//! cluster would give its ReplicaSet becomes visible.

use super::psa_checks::{Level, evaluate, render};
use crate::status::{ApiError, ApiResult, Cause, Target};
use serde_json::Value;

const PREFIX: &str = "pod-security.kubernetes.io/";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelVersion {
    pub level: Level,
    /// `latest` or `v1.x`, as labelled; every version is evaluated with the 1.32 checks.
    pub version: String,
}

impl LevelVersion {
    fn privileged() -> Self {
        Self {
            level: Level::Privileged,
            version: "latest".into(),
        }
    }

    /// `restricted:latest`, as upstream prints a policy.
    pub fn label(&self) -> String {
        format!("{}:{}", self.level.as_str(), self.version)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub enforce: LevelVersion,
    pub warn: LevelVersion,
    pub audit: LevelVersion,
}

fn valid_version(v: &str) -> bool {
    v == "latest"
        || v.strip_prefix("v1.")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The policy of a namespace's labels and the label errors (upstream's `PolicyToEvaluate`):
/// an invalid enforce level means `restricted`, invalid warn/audit levels mean `privileged`;
/// an unset warn level follows a stricter enforce level.
pub fn policy(labels: &Value) -> (Policy, Vec<Cause>) {
    let mut p = Policy {
        enforce: LevelVersion::privileged(),
        warn: LevelVersion::privileged(),
        audit: LevelVersion::privileged(),
    };
    let mut errs = Vec::new();
    let mut invalid = |key: &str, value: &str, rule: &str| {
        errs.push(Cause::new(
            "FieldValueInvalid",
            format!("metadata.labels[{PREFIX}{key}]"),
            format!("Invalid value: {value:?}: {rule}"),
        ));
    };
    let get = |k: &str| labels[format!("{PREFIX}{k}")].as_str().map(String::from);
    let mut has_enforce = false;
    for (mode, fallback) in [
        ("enforce", Level::Restricted),
        ("warn", Level::Privileged),
        ("audit", Level::Privileged),
    ] {
        let slot = match mode {
            "enforce" => &mut p.enforce,
            "warn" => &mut p.warn,
            _ => &mut p.audit,
        };
        if let Some(l) = get(mode) {
            match Level::parse(&l) {
                Some(level) => {
                    slot.level = level;
                    has_enforce |= mode == "enforce";
                }
                None => {
                    slot.level = fallback;
                    invalid(mode, &l, "must be one of privileged, baseline, restricted");
                }
            }
        }
        if let Some(v) = get(&format!("{mode}-version")) {
            if valid_version(&v) {
                slot.version = v;
            } else {
                invalid(
                    &format!("{mode}-version"),
                    &v,
                    "must be \"latest\" or \"v1.x\"",
                );
            }
        }
    }
    if get("warn").is_none() && has_enforce && p.enforce.level > p.warn.level {
        p.warn.level = p.enforce.level;
        if get("warn-version").is_none() {
            p.warn.version = p.enforce.version.clone();
        }
    }
    (p, errs)
}

/// A namespace's Pod Security labels must be valid (422, as upstream's namespace validation);
/// on update only when they changed, so an old namespace is never stuck.
pub fn check_namespace(name: &str, new: &Value, old: Option<&Value>) -> ApiResult<()> {
    let psa = |ns: &Value| -> Vec<(String, Value)> {
        ns["metadata"]["labels"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| k.starts_with(PREFIX))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    if old.is_some_and(|o| psa(o) == psa(new)) {
        return Ok(());
    }
    let (_, errs) = policy(&new["metadata"]["labels"]);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid("Namespace", "", name, errs))
    }
}

/// What admission decided for one pod (or pod template).
pub struct Verdict {
    pub warnings: Vec<String>,
}

/// Evaluates a pod or pod template against the namespace policy. `enforce` refuses with 403
/// (Pods always; workloads in strict mode), otherwise the warn level yields a warning.
pub fn admit(
    labels: &Value,
    target: Target,
    meta: &Value,
    spec: &Value,
    enforce: bool,
) -> ApiResult<Verdict> {
    let (p, _) = policy(labels);
    if enforce {
        let failures = evaluate(p.enforce.level, meta, spec);
        if !failures.is_empty() {
            return Err(ApiError::forbidden(
                target,
                &format!(
                    "violates PodSecurity {:?}: {}",
                    p.enforce.label(),
                    render(&failures)
                ),
            ));
        }
    }
    let failures = evaluate(p.warn.level, meta, spec);
    let warnings = if failures.is_empty() {
        vec![]
    } else {
        vec![format!(
            "would violate PodSecurity {:?}: {}",
            p.warn.label(),
            render(&failures)
        )]
    };
    Ok(Verdict { warnings })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> Value {
        let mut m = serde_json::Map::new();
        for (k, v) in pairs {
            m.insert(format!("{PREFIX}{k}"), Value::from(*v));
        }
        Value::Object(m)
    }

    #[test]
    fn warn_follows_a_stricter_enforce_and_bad_labels_are_named() {
        let (p, errs) = policy(&labels(&[("enforce", "baseline")]));
        assert!(errs.is_empty());
        assert_eq!(p.warn.label(), "baseline:latest");
        let (p, errs) = policy(&labels(&[("enforce", "strict"), ("warn-version", "1.30")]));
        assert_eq!(p.enforce.level, Level::Restricted, "fails closed");
        let msgs: Vec<String> = errs
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        assert_eq!(
            msgs,
            [
                "metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: \"strict\": must be one of privileged, baseline, restricted",
                "metadata.labels[pod-security.kubernetes.io/warn-version]: Invalid value: \"1.30\": must be \"latest\" or \"v1.x\"",
            ]
        );
    }

    #[test]
    fn restricted_warning_lists_checks_in_upstream_order() {
        let spec = json!({"containers": [{"name": "web", "image": "nginx",
            "ports": [{"containerPort": 80, "hostPort": 8080}]}]});
        let t = Target {
            group: "apps",
            resource: "deployments",
            name: "web",
        };
        let v = admit(
            &labels(&[("warn", "restricted")]),
            t,
            &json!({}),
            &spec,
            false,
        )
        .unwrap();
        assert_eq!(
            v.warnings,
            [concat!(
                "would violate PodSecurity \"restricted:latest\": hostPort (container \"web\" uses hostPort 8080), ",
                "allowPrivilegeEscalation != false (container \"web\" must set securityContext.allowPrivilegeEscalation=false), ",
                "unrestricted capabilities (container \"web\" must set securityContext.capabilities.drop=[\"ALL\"]), ",
                "runAsNonRoot != true (pod or container \"web\" must set securityContext.runAsNonRoot=true), ",
                "seccompProfile (pod or container \"web\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")"
            )]
        );
    }

    #[test]
    fn enforce_refuses_with_the_pod_message() {
        let spec = json!({"hostNetwork": true, "containers": [
            {"name": "a", "securityContext": {"privileged": true, "capabilities": {"add": ["NET_ADMIN", "CHOWN"]}}},
            {"name": "b", "securityContext": {"seccompProfile": {"type": "Unconfined"}}}],
            "volumes": [{"name": "host", "hostPath": {"path": "/"}}]});
        let t = Target {
            group: "apps",
            resource: "deployments",
            name: "web",
        };
        let e = admit(
            &labels(&[("enforce", "baseline")]),
            t,
            &json!({}),
            &spec,
            true,
        )
        .err()
        .unwrap();
        assert_eq!((e.code, e.reason), (403, "Forbidden"));
        assert_eq!(
            e.message,
            concat!(
                "deployments.apps \"web\" is forbidden: violates PodSecurity \"baseline:latest\": ",
                "non-default capabilities (container \"a\" must not include \"NET_ADMIN\" in securityContext.capabilities.add), ",
                "host namespaces (hostNetwork), hostPath volumes (volume \"host\"), ",
                "privileged (container \"a\" must not set securityContext.privileged=true), ",
                "seccompProfile (container \"b\" must not set securityContext.seccompProfile.type to \"Unconfined\")"
            )
        );
    }
}
