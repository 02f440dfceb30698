//! Nextcloud's background jobs (`cron.php`) as a CronJob.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Affinity, Container, PodAffinity, PodAffinityTerm, PodSpec, PodTemplateSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::super::Ctx;
use super::{WWW_DATA, nextcloud_mounts, nextcloud_volumes, settings};
use crate::api::Service;
use crate::plan::security::{pod, resources, restricted};

/// Nextcloud's background jobs every 5 minutes. The data volume is ReadWriteOnce, so the job
/// pod must land on the node running Nextcloud: required pod affinity.
pub(super) fn cron(ctx: &Ctx<'_>, nextcloud: BTreeMap<String, String>) -> CronJob {
    let t = ctx.tenant;
    let meta = ctx.meta(
        "nextcloud-cron",
        Service::Collaboration,
        "nextcloud",
        "cron",
    );
    let labels = meta.labels.clone();
    let container = Container {
        name: "cron".into(),
        image: Some(t.catalog().images.collaboration.reference()),
        command: Some(vec![
            "php".into(),
            "-f".into(),
            "/var/www/html/cron.php".into(),
        ]),
        // The image's config/*.config.php read these at every run, cron.php included.
        env: Some(settings::runtime_env(ctx)),
        volume_mounts: Some(nextcloud_mounts()),
        security_context: Some(restricted(WWW_DATA)),
        resources: Some(resources("100m", "256Mi", "1", "1Gi")),
        ..Container::default()
    };
    let pod_spec = PodSpec {
        containers: vec![container],
        volumes: Some(nextcloud_volumes(ctx, false)),
        restart_policy: Some("Never".into()),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        security_context: Some(pod(Some(WWW_DATA))),
        affinity: Some(Affinity {
            pod_affinity: Some(PodAffinity {
                required_during_scheduling_ignored_during_execution: Some(vec![PodAffinityTerm {
                    label_selector: Some(LabelSelector {
                        match_labels: Some(nextcloud),
                        match_expressions: None,
                    }),
                    topology_key: "kubernetes.io/hostname".into(),
                    ..PodAffinityTerm::default()
                }]),
                ..PodAffinity::default()
            }),
            ..Affinity::default()
        }),
        ..PodSpec::default()
    };
    CronJob {
        metadata: meta,
        spec: Some(CronJobSpec {
            schedule: "*/5 * * * *".into(),
            concurrency_policy: Some("Forbid".into()),
            starting_deadline_seconds: Some(240),
            successful_jobs_history_limit: Some(1),
            failed_jobs_history_limit: Some(3),
            job_template: JobTemplateSpec {
                metadata: None,
                spec: Some(JobSpec {
                    active_deadline_seconds: Some(900),
                    backoff_limit: Some(0),
                    ttl_seconds_after_finished: Some(3600),
                    template: PodTemplateSpec {
                        metadata: Some(ObjectMeta {
                            labels,
                            ..ObjectMeta::default()
                        }),
                        spec: Some(pod_spec),
                    },
                    ..JobSpec::default()
                }),
            },
            ..CronJobSpec::default()
        }),
        status: None,
    }
}
