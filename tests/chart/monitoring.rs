//! The monitoring kit of the chart: ServiceMonitor, PodMonitor, PrometheusRule and the Grafana
//! dashboard render and validate; the alerting rules pass `promtool test rules` with the unit
//! tests of `tests/fixtures/promtool/`; the dashboard is valid JSON whose every panel queries.
//! (That every metric named exists in the operator is checked by the operator's own unit test,
//! `telemetry::tests::the_charts_dashboard_and_alerts_query_exported_metrics`.)

use mutualis_tests::chart::render;
use mutualis_tests::manifests::{find, of_kind};
use mutualis_tests::{require_tool, run, workspace_root};
use serde_json::Value;
use std::process::Command;

const ALL_ON: &str = "metrics.serviceMonitor.enabled=true,metrics.podMonitor.enabled=true,metrics.prometheusRule.enabled=true,metrics.dashboard.enabled=true";

#[test]
fn monitoring_render_passes_kubernetes_validate_strict() {
    let mut kinds = super::DEFAULT_KINDS.to_vec();
    kinds.extend([
        "ServiceMonitor",
        "PodMonitor",
        "PrometheusRule",
        "ConfigMap",
    ]);
    super::validate_rendered(&["--set", ALL_ON], &kinds);
}

#[test]
fn monitoring_is_off_by_default() {
    let Some(helm) = require_tool("helm") else {
        return;
    };
    let objects = render(&helm, &[]);
    for kind in [
        "ServiceMonitor",
        "PodMonitor",
        "PrometheusRule",
        "ConfigMap",
    ] {
        assert!(
            of_kind(&objects, kind).is_empty(),
            "{kind} rendered by default"
        );
    }
}

#[test]
fn the_alerting_rules_pass_promtool_unit_tests() {
    let Some(helm) = require_tool("helm") else {
        return;
    };
    let Some(promtool) = require_tool("promtool") else {
        return;
    };
    let objects = render(&helm, &["--set", "metrics.prometheusRule.enabled=true"]);
    let rule = find(&objects, "PrometheusRule", mutualis_tests::chart::RELEASE);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yaml"),
        serde_json::to_vec_pretty(&rule["spec"]).unwrap(),
    )
    .unwrap();
    let tests = dir.path().join("rules-test.yaml");
    std::fs::copy(
        workspace_root().join("tests/fixtures/promtool/rules-test.yaml"),
        &tests,
    )
    .unwrap();
    let check = run(Command::new(&promtool)
        .args(["check", "rules"])
        .arg(dir.path().join("rules.yaml")))
    .expect_success();
    assert!(
        check.stdout.contains("SUCCESS: 7 rules found"),
        "{}",
        check.printed()
    );
    let test = run(Command::new(&promtool).args(["test", "rules"]).arg(&tests)).expect_success();
    assert!(test.stdout.contains("SUCCESS"), "{}", test.printed());
    let alerts: Vec<&str> = rule["spec"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["alert"].as_str().unwrap())
        .collect();
    let tested = std::fs::read_to_string(&tests).unwrap();
    for alert in alerts {
        assert!(
            tested.contains(&format!("alertname: {alert}\n")),
            "{alert} has no promtool test"
        );
    }
}

#[test]
fn the_dashboard_configmap_holds_valid_json_for_grafanas_sidecar() {
    let Some(helm) = require_tool("helm") else {
        return;
    };
    let objects = render(&helm, &["--set", "metrics.dashboard.enabled=true"]);
    let map = find(&objects, "ConfigMap", "mutualis-dashboard");
    assert_eq!(map["metadata"]["labels"]["grafana_dashboard"], "1");
    let dashboard: Value =
        serde_json::from_str(map["data"]["mutualis.json"].as_str().unwrap()).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    let titles: Vec<&str> = panels
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    for wanted in [
        "Tenants by Ready state",
        "Annual contributions (total)",
        "Storage allocated by service",
        "Reconciles per second, by outcome",
        "Reconcile latency",
    ] {
        assert!(titles.contains(&wanted), "{wanted} in {titles:?}");
    }
    for panel in panels {
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{} queries nothing", panel["title"]);
        for t in targets {
            assert!(
                t["expr"].as_str().is_some_and(|e| !e.is_empty()),
                "{}",
                panel["title"]
            );
        }
    }
}
