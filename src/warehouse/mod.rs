//! The warehouse: Delta Lake tables on object_store, one folder per table under
//! `<root>/<area>/<name>/`. Every write is one atomic Delta commit, so a reader sees a
//! whole batch or none of it, and a crash before the commit leaves the previous
//! version. Tables are registered in DataFusion under their area and name.

mod catalog;
mod encoding;
mod error;
pub mod failpoint;
mod guarded_store;
mod location;
mod maintain;
mod name;
mod parallel_write;
pub mod state;
mod stream_write;
mod table;

use std::collections::BTreeMap;
use std::sync::{Arc, Once};

use deltalake::logstore::{LogStoreFactory, StorageConfig, default_logstore, logstore_factories};
use deltalake::{DeltaResult, DeltaTable, DeltaTableBuilder, DeltaTableError};
use object_store::ObjectStore;
use url::Url;

pub use error::{Result, WarehouseError};
pub use location::{Kind, Location, LocationError};
pub use maintain::{MaintenancePolicy, Vacuumed};
pub use name::{NameError, TableName};
pub use stream_write::StreamWriteError;
pub use table::{Commit, TableInfo};

use crate::config::Project;

/// Handle on one warehouse.
#[derive(Debug, Clone)]
pub struct Warehouse {
    location: Location,
    store: Arc<dyn ObjectStore>,
    maintenance: MaintenancePolicy,
}

impl Warehouse {
    /// Open the warehouse a project's lockstep.toml points at.
    pub fn for_project(project: &Project) -> Result<Warehouse> {
        let section = &project.config.warehouse;
        let location = Location::parse(&section.url.get_ref().0, &project.dir)?;
        let options = section
            .options
            .iter()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect();
        Warehouse::open(location, &options)
    }

    /// Open the warehouse at `location`.
    pub fn open(location: Location, options: &BTreeMap<String, String>) -> Result<Warehouse> {
        register_cloud_logstores();
        let mut store = location.root_store(options)?;
        if failpoint::enabled() {
            store = Arc::new(guarded_store::GuardedStore::new(store));
        }
        Ok(Warehouse {
            location,
            store,
            maintenance: MaintenancePolicy::default(),
        })
    }

    /// Change when small files are compacted and the log checkpointed.
    pub fn with_maintenance(mut self, policy: MaintenancePolicy) -> Self {
        self.maintenance = policy;
        self
    }

    /// Where the warehouse lives.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// A Delta handle on `name` (not yet loaded).
    fn handle(&self, name: &TableName) -> Result<DeltaTable> {
        let url = self.location.table_url(name);
        DeltaTableBuilder::from_url(url.clone())
            .and_then(|b| b.with_storage_backend(self.store.clone(), url).build())
            .map_err(error::delta(name))
    }

    /// The latest version of `name`, or `None` if it has never been written.
    pub async fn load(&self, name: &TableName) -> Result<Option<DeltaTable>> {
        if !self.exists(name).await? {
            return Ok(None);
        }
        let mut table = self.handle(name)?;
        match table.load().await {
            Ok(()) => Ok(Some(table)),
            Err(DeltaTableError::NotATable(_)) => Ok(None),
            Err(e) => Err(error::delta(name)(e)),
        }
    }

    /// Whether `name` has a Delta log (a folder without one is not a table yet).
    pub async fn exists(&self, name: &TableName) -> Result<bool> {
        let log = self.table_path(name)?.join("_delta_log");
        Ok(!self
            .store
            .list_with_delimiter(Some(&log))
            .await?
            .objects
            .is_empty())
    }

    fn root_path(&self) -> Result<object_store::path::Path> {
        object_store::path::Path::from_url_path(self.location.root_url().path())
            .map_err(|e| WarehouseError::Store(e.into()))
    }

    fn table_path(&self, name: &TableName) -> Result<object_store::path::Path> {
        Ok(self.root_path()?.join(name.area()).join(name.name()))
    }

    /// The latest version of `name`; an error naming it if it does not exist.
    pub async fn require(&self, name: &TableName) -> Result<DeltaTable> {
        self.load(name)
            .await?
            .ok_or_else(|| WarehouseError::NotFound(name.to_string()))
    }

    /// Every table in the warehouse, sorted.
    pub async fn list_tables(&self) -> Result<Vec<TableName>> {
        let root = self.root_path()?;
        let mut names = Vec::new();
        for area in self
            .store
            .list_with_delimiter(Some(&root))
            .await?
            .common_prefixes
        {
            let Some(area_name) = area.filename().map(str::to_owned) else {
                continue;
            };
            for table in self
                .store
                .list_with_delimiter(Some(&area))
                .await?
                .common_prefixes
            {
                let Some(table_name) = table.filename() else {
                    continue;
                };
                let log = table.clone().join("_delta_log");
                let has_log = !self
                    .store
                    .list_with_delimiter(Some(&log))
                    .await?
                    .objects
                    .is_empty();
                if let (true, Ok(name)) = (has_log, TableName::new(&area_name, table_name)) {
                    names.push(name);
                }
            }
        }
        names.sort();
        Ok(names)
    }
}

/// deltalake ships log stores for file:// and memory:// only; cloud schemes get the
/// default one, which commits with put-if-absent (S3 through ETags, GCS and Azure
/// natively), through the object store lockstep builds itself.
fn register_cloud_logstores() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        #[derive(Debug)]
        struct Default;
        impl LogStoreFactory for Default {
            fn with_options(
                &self,
                prefixed_store: deltalake::logstore::ObjectStoreRef,
                root_store: deltalake::logstore::ObjectStoreRef,
                location: &Url,
                options: &StorageConfig,
            ) -> DeltaResult<Arc<dyn deltalake::logstore::LogStore>> {
                Ok(default_logstore(
                    prefixed_store,
                    root_store,
                    location,
                    options,
                ))
            }
        }
        let registry = logstore_factories();
        for scheme in ["s3://", "s3a://", "gs://", "az://", "abfs://", "abfss://"] {
            if let Ok(url) = Url::parse(scheme) {
                registry.entry(url).or_insert_with(|| Arc::new(Default));
            }
        }
    });
}
