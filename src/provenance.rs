//! Provenance: where, when and with what a run was made (schema version 1).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The memory the system can still give, in bytes (a host fact that is not recorded: the
/// command line checks that a run fits before it starts).
pub use crate::os::available_memory;

/// The provenance schema this crate writes.
pub const SCHEMA_VERSION: u32 = 1;
/// This crate's package name, as it appears in `plugins`.
pub const PACKAGE: &str = env!("CARGO_PKG_NAME");
/// This crate's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The provenance object stored as the Block's `bsb_provenance` JSON string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// Always [`SCHEMA_VERSION`] when written by this crate.
    pub schema_version: u32,
    /// The run's id (UUID4), shared by every rank.
    pub simulation_id: String,
    /// The simulation's name.
    pub simulation_name: String,
    /// ISO 8601 UTC start time, set by `mark_started`.
    pub started_at: Option<String>,
    /// ISO 8601 UTC end time, set by `mark_finished`; `null` in a file a run never finished.
    pub finished_at: Option<String>,
    /// Seconds from start to finish.
    pub wall_seconds: Option<f64>,
    /// The simulation's random seed.
    pub seed: Option<u64>,
    /// Simulated duration in ms.
    pub duration_ms: Option<f64>,
    /// Simulation time step in ms.
    pub resolution_ms: Option<f64>,
    /// The network the run was made on.
    pub scaffold: Scaffold,
    /// `{category: {entry: {package, version}}}`: this crate plus what the application registered.
    pub plugins: BTreeMap<String, BTreeMap<String, Plugin>>,
    /// The simulator, set by `set_simulator`.
    pub simulator: Simulator,
    /// Rank 0's host.
    pub host: Host,
    /// Every rank's host, in rank order.
    pub ranks: Vec<RankHost>,
    /// The communicator's size.
    pub mpi_size: i32,
}

/// The network a run was made on; each field `null` when unknown.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scaffold {
    /// The network storage's id.
    pub storage_id: Option<String>,
    /// The network storage's state.
    pub state_id: Option<i64>,
    /// Where the network is stored.
    pub root: Option<String>,
}

/// One registered plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plugin {
    /// The package that provides it.
    pub package: String,
    /// The package's version.
    pub version: Option<String>,
}

/// The simulator that ran the simulation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Simulator {
    /// Its name (`nest`, `neuron`).
    pub name: Option<String>,
    /// Its version.
    pub version: Option<String>,
    /// Anything else the adapter wants to keep.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Facts about one process's host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    /// Operating system, kernel release and machine (`Linux-6.1.0-x86_64`).
    pub platform: String,
    /// The host name MPI reports for this process.
    pub hostname: String,
    /// The user running the process.
    pub user: Option<String>,
    /// The working directory.
    pub cwd: Option<String>,
    /// This crate's version.
    pub bsb_results_version: String,
}

/// One rank and its host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankHost {
    /// The rank in the communicator.
    pub mpi_rank: i32,
    /// Its host.
    pub host: Host,
}

/// What the application knows about the run before it starts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunInfo {
    /// The random seed.
    pub seed: Option<u64>,
    /// Simulated duration in ms; the default `t_stop_ms` of a flush.
    pub duration_ms: Option<f64>,
    /// Time step in ms.
    pub resolution_ms: Option<f64>,
    /// The network.
    pub scaffold: Scaffold,
}

impl Provenance {
    /// A fresh provenance object for a run (no times set yet).
    pub(crate) fn new(simulation_id: String, simulation_name: String, info: &RunInfo, ranks: Vec<RankHost>) -> Self {
        let mut plugins = BTreeMap::new();
        plugins.insert(
            "results".to_owned(),
            BTreeMap::from([(PACKAGE.to_owned(), Plugin { package: PACKAGE.to_owned(), version: Some(VERSION.to_owned()) })]),
        );
        let host = ranks.first().map(|r| r.host.clone()).unwrap_or_else(|| Host::collect(String::new()));
        let mpi_size = i32::try_from(ranks.len()).unwrap_or(i32::MAX);
        Provenance {
            schema_version: SCHEMA_VERSION,
            simulation_id,
            simulation_name,
            started_at: None,
            finished_at: None,
            wall_seconds: None,
            seed: info.seed,
            duration_ms: info.duration_ms,
            resolution_ms: info.resolution_ms,
            scaffold: info.scaffold.clone(),
            plugins,
            simulator: Simulator::default(),
            host,
            ranks,
            mpi_size,
        }
    }

    /// The provenance as the JSON text the file stores.
    pub fn to_json_string(&self) -> String {
        serde_json::to_string(self).expect("provenance is plain data")
    }
}

impl Host {
    /// This process's host facts; `hostname` is what MPI calls the processor.
    pub fn collect(hostname: String) -> Host {
        Host {
            platform: crate::os::platform(),
            hostname,
            user: std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).ok(),
            cwd: std::env::current_dir().ok().map(|p| p.display().to_string()),
            bsb_results_version: VERSION.to_owned(),
        }
    }
}

/// The current UTC time, ISO 8601 to the second (`2026-11-24T22:24:41+00:00`).
pub fn iso_now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prov() -> Provenance {
        let ranks = (0..3).map(|r| RankHost { mpi_rank: r, host: Host::collect(format!("node{r}")) }).collect();
        let info = RunInfo { seed: Some(7), duration_ms: Some(100.0), resolution_ms: Some(0.1), scaffold: Scaffold::default() };
        Provenance::new("id".into(), "sim".into(), &info, ranks)
    }

    #[test]
    fn every_contract_field_is_serialized() {
        let v: serde_json::Value = serde_json::from_str(&prov().to_json_string()).unwrap();
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "schema_version",
                "simulation_id",
                "simulation_name",
                "started_at",
                "finished_at",
                "wall_seconds",
                "seed",
                "duration_ms",
                "resolution_ms",
                "scaffold",
                "plugins",
                "simulator",
                "host",
                "ranks",
                "mpi_size"
            ]
        );
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["started_at"], serde_json::Value::Null);
        assert_eq!(v["seed"], 7);
        assert_eq!(v["scaffold"], serde_json::json!({"storage_id": null, "state_id": null, "root": null}));
        assert_eq!(v["plugins"]["results"][PACKAGE]["version"], VERSION);
        assert_eq!(v["simulator"], serde_json::json!({"name": null, "version": null, "extra": {}}));
        assert_eq!(v["host"]["hostname"], "node0");
        for key in ["platform", "user", "cwd", "bsb_results_version"] {
            assert!(v["host"].get(key).is_some(), "host.{key}");
        }
        assert_eq!(v["ranks"].as_array().unwrap().len(), 3);
        assert_eq!(v["ranks"][2]["mpi_rank"], 2);
        assert_eq!(v["ranks"][2]["host"]["hostname"], "node2");
        assert_eq!(v["mpi_size"], 3);
    }

    #[test]
    fn timestamps_are_iso_utc_to_the_second() {
        let t = iso_now();
        assert_eq!(t.len(), "2026-11-24T22:24:41+00:00".len(), "{t}");
        assert!(t.ends_with("+00:00"));
        assert!(chrono::DateTime::parse_from_rfc3339(&t).is_ok());
    }

}
