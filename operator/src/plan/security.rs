//! Hardening and sizing shared by every workload: security contexts, resources, probes,
//! scratch volumes. One place, so a reviewer checks the lock-down once.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, EmptyDirVolumeSource, ExecAction, HTTPGetAction, PodSecurityContext, Probe,
    ResourceRequirements, SeccompProfile, SecurityContext, TCPSocketAction, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The restricted Pod Security Standard for a container running as `uid`: non-root,
/// read-only root filesystem, no privilege escalation, every capability dropped.
pub fn restricted(uid: i64) -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(uid),
        run_as_group: Some(uid),
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: None,
        }),
        seccomp_profile: Some(runtime_default()),
        ..SecurityContext::default()
    }
}

/// For images whose init system must start as root and drop to service users itself
/// (docker-mailserver, Samba): root, but no privilege escalation, seccomp, and only the
/// capabilities listed instead of the runtime's default set.
pub fn root_with(caps: &[&str]) -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(false),
        run_as_user: Some(0),
        read_only_root_filesystem: Some(false),
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: Some(caps.iter().map(|c| (*c).to_owned()).collect()),
        }),
        seccomp_profile: Some(runtime_default()),
        ..SecurityContext::default()
    }
}

/// Pod-level defaults: seccomp, and the group owning mounted volumes.
pub fn pod(fs_group: Option<i64>) -> PodSecurityContext {
    PodSecurityContext {
        fs_group,
        fs_group_change_policy: fs_group.map(|_| "OnRootMismatch".to_owned()),
        seccomp_profile: Some(runtime_default()),
        ..PodSecurityContext::default()
    }
}

fn runtime_default() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".into(),
        localhost_profile: None,
    }
}

/// Requests and limits. CPU is limited too: the quota of a tenant namespace counts it.
pub fn resources(
    cpu: &str,
    memory: &str,
    cpu_limit: &str,
    memory_limit: &str,
) -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_owned(), Quantity(cpu.to_owned())),
            ("memory".to_owned(), Quantity(memory.to_owned())),
        ])),
        limits: Some(BTreeMap::from([
            ("cpu".to_owned(), Quantity(cpu_limit.to_owned())),
            ("memory".to_owned(), Quantity(memory_limit.to_owned())),
        ])),
        claims: None,
    }
}

/// A TCP probe on `port`.
pub fn tcp_probe(port: i32, period: i32, failures: i32) -> Probe {
    Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::Int(port),
            host: None,
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(3),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

/// An HTTP GET probe.
pub fn http_probe(path: &str, port: i32, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::Int(port),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(5),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

/// A command probe.
pub fn exec_probe(command: &[&str], period: i32, failures: i32) -> Probe {
    Probe {
        exec: Some(ExecAction {
            command: Some(command.iter().map(|c| (*c).to_owned()).collect()),
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(5),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

/// A size-limited emptyDir, for the writable paths a read-only root filesystem lacks.
pub fn scratch(name: &str, size: &str) -> Volume {
    Volume {
        name: name.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource {
            size_limit: Some(Quantity(size.to_owned())),
            medium: None,
        }),
        ..Volume::default()
    }
}

/// A size-limited in-memory emptyDir, for generated files holding credentials: never on disk.
pub fn scratch_in_memory(name: &str, size: &str) -> Volume {
    let mut v = scratch(name, size);
    if let Some(e) = v.empty_dir.as_mut() {
        e.medium = Some("Memory".into());
    }
    v
}

/// A volume mount, optionally of one sub-path.
pub fn mount(name: &str, path: &str, sub_path: Option<&str>, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        sub_path: sub_path.map(str::to_owned),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}
