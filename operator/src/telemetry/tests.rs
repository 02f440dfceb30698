//! Unit tests of the telemetry: colours, tenant series, build/leader/process metrics, and that
//! the chart's dashboard and alerts query metrics the operator exports.

use super::*;
use crate::api::TenantStatus;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

fn condition(type_: &str, status: &str, reason: &str) -> Condition {
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message: String::new(),
        last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
        observed_generation: None,
    }
}

#[test]
fn colour_only_for_text_logs_on_a_terminal() {
    assert!(colour(LogFormat::Text, true));
    assert!(!colour(LogFormat::Text, false));
    assert!(!colour(LogFormat::Json, true));
}

#[test]
fn tenant_series_follow_the_status_and_go_with_the_tenant() {
    let m = Metrics::default();
    let mut status = TenantStatus {
        conditions: vec![condition("Ready", "True", "Ready")],
        annual_contribution: Some(17938),
        storage: [
            ("mail".to_owned(), "100Gi".to_owned()),
            ("nas".to_owned(), "1Gi".to_owned()),
        ]
        .into(),
        ..Default::default()
    };
    status
        .conditions
        .push(condition("BackupReady", "True", "BackupSucceeded"));
    status.backup = Some(crate::api::BackupStatus {
        last_successful_backup: Some("2026-12-01T01:35:00Z".into()),
        ..Default::default()
    });
    m.tenant.report("coteaux-bordelais", &status);
    let text = m.render();
    for line in [
        "mutualis_tenant_last_backup_success_timestamp_seconds{tenant=\"coteaux-bordelais\"} 1796088900",
        "mutualis_tenant_backup_ready{tenant=\"coteaux-bordelais\"} 1",
        "mutualis_tenant_ready{tenant=\"coteaux-bordelais\"} 1",
        "mutualis_tenant_annual_contribution_euros{tenant=\"coteaux-bordelais\"} 17938",
        "mutualis_tenant_storage_bytes{tenant=\"coteaux-bordelais\",service=\"mail\"} 107374182400",
        "mutualis_tenant_storage_bytes{tenant=\"coteaux-bordelais\",service=\"nas\"} 1073741824",
    ] {
        assert!(text.contains(line), "{line} in:\n{text}");
    }
    // A shrink refused: not ready, refused with its reason; a service gone loses its series.
    status.conditions = vec![
        condition("Ready", "False", "ShrinkRefused"),
        condition("Valid", "False", "ShrinkRefused"),
    ];
    status.storage.remove("nas");
    m.tenant.report("coteaux-bordelais", &status);
    let text = m.render();
    assert!(text.contains("mutualis_tenant_ready{tenant=\"coteaux-bordelais\"} 0"));
    assert!(text.contains(
        "mutualis_tenant_refused{tenant=\"coteaux-bordelais\",reason=\"ShrinkRefused\"} 1"
    ));
    assert!(!text.contains("service=\"nas\""), "{text}");
    m.tenant.forget("coteaux-bordelais");
    let text = m.render();
    assert!(!text.contains("coteaux-bordelais"), "{text}");
}

/// Metrics with a series in every family, as a running operator has after some work.
pub(crate) fn exercised() -> Metrics {
    let m = Metrics::default();
    m.reconciled("ok", Duration::from_millis(3));
    m.failed("transient", "kube");
    m.wrote("Deployment");
    m.set_tenant_counts(&[("Ready", "True", 1)]);
    let status = TenantStatus {
        conditions: vec![
            condition("Valid", "False", "ShrinkRefused"),
            condition("BackupReady", "True", "BackupSucceeded"),
        ],
        backup: Some(crate::api::BackupStatus {
            last_successful_backup: Some("2026-12-01T01:35:00Z".into()),
            ..Default::default()
        }),
        annual_contribution: Some(5638),
        storage: [("mail".to_owned(), "10Gi".to_owned())].into(),
        ..Default::default()
    };
    m.tenant.report("t", &status);
    m.tenant.refusal("ShrinkRefused");
    m
}

#[test]
fn build_info_leader_and_process_metrics_are_exposed() {
    let m = exercised();
    set_leading(true);
    let text = m.render();
    assert!(text.contains(&format!(
        "mutualis_build_info{{version=\"{}\",commit=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        env!("MUTUALIS_GIT_COMMIT")
    )));
    assert!(text.contains("mutualis_leader 1"), "{text}");
    let names = m.names();
    for name in [
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "mutualis_reconciles_total",
        "mutualis_reconcile_duration_seconds_bucket",
        "mutualis_tenant_ready",
        "mutualis_tenant_refused",
        "mutualis_tenant_storage_bytes",
        "mutualis_tenant_annual_contribution_euros",
        "mutualis_tenant_last_backup_success_timestamp_seconds",
        "mutualis_tenant_backup_ready",
        "mutualis_refusals_total",
        "mutualis_reconcile_errors_total",
        "mutualis_api_writes_total",
        "mutualis_tenants",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
}

/// The metric names `text` uses: words starting `mutualis_` or `process_`.
fn metrics_named(text: &str) -> Vec<String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut found = Vec::new();
    for prefix in ["mutualis_", "process_"] {
        for (i, _) in text.match_indices(prefix) {
            if text[..i].chars().next_back().is_some_and(word) {
                continue;
            }
            let end = text[i..]
                .find(|c: char| !word(c))
                .map_or(text.len(), |e| i + e);
            found.push(text[i..end].to_owned());
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn the_charts_dashboard_and_alerts_query_exported_metrics() {
    let names = exercised().names();
    let files = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/mutualis/files");
    for file in ["dashboard.json", "rules.yaml"] {
        let text = std::fs::read_to_string(files.join(file)).unwrap();
        let used = metrics_named(&text);
        assert!(used.len() >= 3, "{file} names {used:?}");
        for metric in used {
            assert!(
                names.contains(&metric),
                "{file} queries {metric}, which the operator does not export; it exports {names:?}"
            );
        }
    }
}
