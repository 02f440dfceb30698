//! Observe the tenant's backups: from K8up's jobs in its namespace (see `backup_jobs`), the last
//! successful backup and check, the latest failure and restore, and the `BackupReady` verdict —
//! False when the latest backup failed or the last success is older than twice the schedule.
//! Pure: the caller passes the clock, so the staleness rule is tested without waiting a day.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use super::backup_jobs::{JobKind, JobState, Outcome};
use super::status::Verdict;
use crate::api::conditions::{BACKUP_READY, reasons};
use crate::api::{BackupStatus, RestoreStatus};
use crate::plan::backup::ValidBackup;

/// The backup part of a tenant's status.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    pub status: Option<BackupStatus>,
    pub verdict: Verdict,
    /// When the verdict will change by itself (a success going stale).
    pub recheck: Option<Duration>,
}

fn later(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    a.max(b)
}

fn parse(t: Option<&String>) -> Option<Timestamp> {
    t.and_then(|t| t.parse().ok())
}

/// Backup status and `BackupReady` from the jobs of the tenant's namespace; `known` keeps
/// what K8up has since pruned from its history.
pub fn observe(
    backup: Option<&ValidBackup>,
    repository: Option<String>,
    jobs: &[JobState],
    known: Option<&BackupStatus>,
    now: Timestamp,
) -> Observation {
    let Some(backup) = backup else {
        return Observation {
            status: None,
            verdict: Verdict::new(
                BACKUP_READY,
                false,
                reasons::BACKUP_NOT_CONFIGURED,
                "the ServiceCatalog has no spec.backup target: nothing of this tenant is backed up",
            ),
            recheck: None,
        };
    };
    let finished = |kind: JobKind, outcome: Outcome| {
        jobs.iter()
            .filter(move |j| j.kind == kind && j.outcome == outcome)
            .filter_map(|j| j.finished.map(|t| (t, j)))
    };
    // K8up's times have one-second precision, so a failure and a success can finish within
    // the same second: the later-created job is the latest, and on a full tie the failure
    // wins (an alert that clears at the next backup beats a failure nobody sees).
    let success_job = finished(JobKind::Backup, Outcome::Succeeded)
        .map(|(t, j)| (t, j.created))
        .max();
    let last_success = later(
        success_job.map(|(t, _)| t),
        parse(known.and_then(|k| k.last_successful_backup.as_ref())),
    );
    let success_key = last_success.map(|t| {
        let created = success_job.filter(|(s, _)| *s == t).and_then(|(_, c)| c);
        (t, created)
    });
    let last_check = later(
        finished(JobKind::Check, Outcome::Succeeded)
            .map(|(t, _)| t)
            .max(),
        parse(known.and_then(|k| k.last_check.as_ref())),
    );
    let last_failure =
        finished(JobKind::Backup, Outcome::Failed).max_by_key(|(t, j)| (*t, j.created));
    let last_restore = jobs
        .iter()
        .filter(|j| j.kind == JobKind::Restore)
        .max_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)))
        .map(|j| RestoreStatus {
            name: j.name.clone(),
            phase: j.outcome.phase().to_owned(),
        })
        .or_else(|| known.and_then(|k| k.last_restore.clone()));
    let limit = backup.interval_seconds() * 2;
    let (verdict, recheck) = match (last_failure, last_success) {
        (Some((failed_at, job)), success)
            if success_key.is_none_or(|s| s <= (failed_at, job.created)) =>
        {
            (
                Verdict::new(
                    BACKUP_READY,
                    false,
                    reasons::BACKUP_FAILED,
                    format!(
                        "Backup {} failed at {failed_at}{}; last success: {}",
                        job.name,
                        if job.message.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", job.message)
                        },
                        success.map_or_else(|| "never".to_owned(), |s| s.to_string()),
                    ),
                ),
                None,
            )
        }
        (_, Some(success)) => {
            let age = now.as_second() - success.as_second();
            if age > limit {
                let message = format!(
                    "the last successful backup was at {success}, {} h ago: more than twice the daily schedule",
                    age / 3600
                );
                (
                    Verdict::new(BACKUP_READY, false, reasons::BACKUP_STALE, message),
                    None,
                )
            } else {
                let message = format!("last successful backup at {success}");
                let left = u64::try_from(limit - age).unwrap_or(0) + 1;
                (
                    Verdict::new(BACKUP_READY, true, reasons::BACKUP_SUCCEEDED, message),
                    Some(Duration::from_secs(left)),
                )
            }
        }
        (_, None) => (
            Verdict::new(
                BACKUP_READY,
                false,
                reasons::NO_BACKUP_YET,
                format!(
                    "no backup has completed yet; they run daily at {:02}:{:02} UTC",
                    backup.at.hour, backup.at.minute
                ),
            ),
            None,
        ),
    };
    let status = BackupStatus {
        repository,
        last_successful_backup: last_success.map(|t| t.to_string()),
        last_check: last_check.map(|t| t.to_string()),
        last_failed_backup: last_failure
            .map(|(_, j)| j.name.clone())
            .or_else(|| known.and_then(|k| k.last_failed_backup.clone())),
        last_restore,
    };
    Observation {
        status: Some(status),
        verdict,
        recheck,
    }
}

/// The events a person should see: each new failed Backup (a Warning, once: the status records
/// the latest), and each step of the latest restore.
pub async fn report(
    ctx: &super::controller::Context,
    tenant: &crate::api::Tenant,
    before: Option<&BackupStatus>,
    now: Option<&BackupStatus>,
) {
    use kube::runtime::events::EventType;
    let Some(now) = now else { return };
    if let Some(failed) = &now.last_failed_backup
        && before.and_then(|b| b.last_failed_backup.as_ref()) != Some(failed)
    {
        let note = format!("K8up Backup {failed} failed; see its status and the backup pod's log");
        super::report::event(
            ctx,
            tenant,
            EventType::Warning,
            "BackupFailed",
            "Backup",
            &note,
        )
        .await;
    }
    if let Some(restore) = &now.last_restore
        && before.and_then(|b| b.last_restore.as_ref()) != Some(restore)
    {
        let (type_, reason) = match restore.phase.as_str() {
            "Failed" => (EventType::Warning, "RestoreFailed"),
            "Succeeded" => (EventType::Normal, "RestoreSucceeded"),
            "Progressing" => (EventType::Normal, "RestoreProgressing"),
            _ => (EventType::Normal, "RestoreCreated"),
        };
        let note = format!("K8up Restore {}: {}", restore.name, restore.phase);
        super::report::event(ctx, tenant, type_, reason, "Restore", &note).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{BackupCredentialsRef, BackupTarget, DailyTime, RetentionCounts, WeeklyTime};

    fn backup() -> ValidBackup {
        ValidBackup {
            target: BackupTarget {
                endpoint: "https://s3.example.fr".into(),
                bucket: "backups".into(),
                credentials_secret_ref: BackupCredentialsRef {
                    namespace: "mutualis-system".into(),
                    name: "backup-s3".into(),
                },
            },
            at: DailyTime {
                hour: 1,
                minute: 30,
            },
            retention: RetentionCounts {
                daily: 7,
                weekly: 4,
                monthly: 12,
            },
            check: WeeklyTime {
                day_of_week: 0,
                hour: 4,
                minute: 0,
            },
            deletion_retention_days: 90,
        }
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn job(kind: JobKind, name: &str, outcome: Outcome, finished: Option<&str>) -> JobState {
        JobState {
            kind,
            name: name.into(),
            outcome,
            created: finished.map(t),
            finished: finished.map(t),
            message: if outcome == Outcome::Failed {
                "s3: access denied".into()
            } else {
                String::new()
            },
        }
    }

    #[test]
    fn a_recent_success_is_ready_until_twice_the_schedule_has_passed() {
        let b = backup();
        let jobs = [
            job(
                JobKind::Backup,
                "b1",
                Outcome::Succeeded,
                Some("2026-12-01T01:35:00Z"),
            ),
            job(
                JobKind::Check,
                "c1",
                Outcome::Succeeded,
                Some("2026-11-29T04:10:00Z"),
            ),
        ];
        let o = observe(Some(&b), None, &jobs, None, t("2026-12-02T01:00:00Z"));
        assert!(o.verdict.ready, "{o:?}");
        assert_eq!(o.verdict.reason, reasons::BACKUP_SUCCEEDED);
        let s = o.status.unwrap();
        assert_eq!(
            s.last_successful_backup.as_deref(),
            Some("2026-12-01T01:35:00Z")
        );
        assert_eq!(s.last_check.as_deref(), Some("2026-11-29T04:10:00Z"));
        // 24 h before it turns stale (48 h after the success), plus a second.
        assert_eq!(
            o.recheck,
            Some(Duration::from_secs(24 * 3600 + 35 * 60 + 1))
        );
        let stale = observe(Some(&b), None, &jobs, None, t("2026-12-03T01:36:00Z"));
        assert!(!stale.verdict.ready);
        assert_eq!(stale.verdict.reason, reasons::BACKUP_STALE);
        assert!(
            stale.verdict.message.contains("48 h ago"),
            "{}",
            stale.verdict.message
        );
    }

    #[test]
    fn the_latest_failure_turns_it_false_and_a_later_success_back() {
        let b = backup();
        let mut jobs = vec![
            job(
                JobKind::Backup,
                "b1",
                Outcome::Succeeded,
                Some("2026-12-01T01:35:00Z"),
            ),
            job(
                JobKind::Backup,
                "b2",
                Outcome::Failed,
                Some("2026-12-02T01:31:00Z"),
            ),
        ];
        let o = observe(Some(&b), None, &jobs, None, t("2026-12-02T02:00:00Z"));
        assert!(!o.verdict.ready);
        assert_eq!(o.verdict.reason, reasons::BACKUP_FAILED);
        assert!(
            o.verdict.message.contains("Backup b2 failed")
                && o.verdict.message.contains("access denied")
        );
        assert_eq!(
            o.status.as_ref().unwrap().last_failed_backup.as_deref(),
            Some("b2")
        );
        jobs.push(job(
            JobKind::Backup,
            "b3",
            Outcome::Succeeded,
            Some("2026-12-02T03:00:00Z"),
        ));
        let o = observe(
            Some(&b),
            None,
            &jobs,
            o.status.as_ref(),
            t("2026-12-02T03:01:00Z"),
        );
        assert!(o.verdict.ready);
        // The failure stays recorded, so its event is not sent again.
        assert_eq!(o.status.unwrap().last_failed_backup.as_deref(), Some("b2"));
    }

    #[test]
    fn within_one_second_the_later_created_job_wins_and_a_full_tie_is_a_failure() {
        let b = backup();
        let now = t("2026-12-02T02:00:00Z");
        let verdict = |jobs: &[JobState], known: Option<&BackupStatus>| {
            observe(Some(&b), None, jobs, known, now).verdict
        };
        let at = "2026-12-02T01:31:00Z";
        let created = |mut j: JobState, c: &str| {
            j.created = Some(t(c));
            j
        };
        let scheduled = created(
            job(JobKind::Backup, "scheduled", Outcome::Succeeded, Some(at)),
            "2026-12-02T01:30:59Z",
        );
        // An on-demand Backup created after the scheduled one fails in the same second.
        let failed = job(JobKind::Backup, "on-demand", Outcome::Failed, Some(at));
        let v = verdict(&[scheduled, failed.clone()], None);
        assert_eq!(v.reason, reasons::BACKUP_FAILED, "{}", v.message);
        // A success created after the failure, finishing in the same second, clears it.
        let retried = job(JobKind::Backup, "retried", Outcome::Succeeded, Some(at));
        let retried = created(retried, "2026-12-02T01:31:00Z");
        let failed = created(failed, "2026-12-02T01:30:59Z");
        let v = verdict(&[failed.clone(), retried.clone()], None);
        assert!(v.ready, "{}", v.message);
        // Same finish and creation second: nothing tells them apart, and the failure is shown.
        let tied = created(retried, "2026-12-02T01:30:59Z");
        assert_eq!(
            verdict(&[failed.clone(), tied], None).reason,
            reasons::BACKUP_FAILED
        );
        // A success known only from the status (K8up pruned the job) at the failure's second.
        let known = BackupStatus {
            last_successful_backup: Some(at.to_owned()),
            ..BackupStatus::default()
        };
        assert_eq!(
            verdict(&[failed], Some(&known)).reason,
            reasons::BACKUP_FAILED
        );
    }

    #[test]
    fn no_backup_yet_no_target_and_history_kept_after_k8up_prunes_it() {
        let b = backup();
        let o = observe(Some(&b), None, &[], None, t("2026-12-01T00:00:00Z"));
        assert_eq!(
            (o.verdict.ready, o.verdict.reason.as_str()),
            (false, reasons::NO_BACKUP_YET)
        );
        assert!(o.verdict.message.contains("01:30 UTC"));
        let o = observe(None, None, &[], None, t("2026-12-01T00:00:00Z"));
        assert_eq!(o.verdict.reason, reasons::BACKUP_NOT_CONFIGURED);
        assert!(o.status.is_none());
        let known = BackupStatus {
            last_successful_backup: Some("2026-12-01T01:35:00Z".into()),
            ..BackupStatus::default()
        };
        let o = observe(Some(&b), None, &[], Some(&known), t("2026-12-01T02:00:00Z"));
        assert!(o.verdict.ready);
    }

    #[test]
    fn the_latest_restore_and_its_phase() {
        let b = backup();
        let mut r1 = job(
            JobKind::Restore,
            "restore-nas-1",
            Outcome::Succeeded,
            Some("2026-12-01T01:00:00Z"),
        );
        r1.created = Some(t("2026-12-01T00:00:00Z"));
        let mut r2 = job(
            JobKind::Restore,
            "restore-nas-2",
            Outcome::Progressing,
            None,
        );
        r2.created = Some(t("2026-12-01T05:00:00Z"));
        let o = observe(Some(&b), None, &[r1, r2], None, t("2026-12-01T05:01:00Z"));
        let r = o.status.unwrap().last_restore.unwrap();
        assert_eq!(
            (r.name.as_str(), r.phase.as_str()),
            ("restore-nas-2", "Progressing")
        );
    }
}
