//! The custom resources of mutualis (`mutualis.io/v1alpha1`): the voted `ServiceCatalog`, each
//! subscriber's `Tenant`, and the condition types and reasons their status speaks.
//!
//! These types are the contract between the YAML people write, the pure `plan`, and the
//! reconciler. The CRDs in `crds/` are generated from them by [`crds`] (a test checks drift).

pub mod backup;
pub mod catalog;
mod catalog_mail;
pub mod conditions;
mod crd;
pub mod k8up;
mod mailboxes;
pub mod patterns;
mod service;
mod site;
pub mod tenant;

pub use backup::{
    BackupCredentialsRef, BackupStatus, BackupTarget, CatalogBackup, DailyTime, RestoreStatus,
    RetentionCounts, TenantBackup, WeeklyTime,
};
pub use catalog::{
    CatalogDns, Contribution, DmarcPolicy, Image, Images, MailTls, ServiceCatalog,
    ServiceCatalogSpec, SoaTimers, StorageSplit, Tier, Tls, WebTarget,
};
pub use catalog_mail::{CatalogMail, MailOutbound, MailRelay, SecretRef};
pub use crd::{crd_files, crds, crds_yaml, openapi_schema};
pub use mailboxes::{DomainMail, MailAlias};
pub use service::Service;
pub use site::{GitSource, SiteSource};
pub use tenant::{
    DeletionPolicy, Endpoints, Member, NasAccess, Services, SftpAccess, Subject, SubjectKind,
    Subscription, Tenant, TenantSpec, TenantStatus, ZoneStatus,
};

/// API group of every mutualis resource.
pub const GROUP: &str = "mutualis.io";
/// The one served and stored version.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` string of mutualis resources.
pub const API_VERSION: &str = "mutualis.io/v1alpha1";
