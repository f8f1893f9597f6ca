//! `inspect`, `provenance` and `dump`: reading a results file from the command line.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bsb_results::recording::{Filter, Recording, RecordingData, iter_recordings_where, parts};
use bsb_results::{Block, Kind, Listed, Listing, NioFile, Run};
use serde_json::{Value as Json, json};

/// Which run of the file, and which recordings.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Select {
    /// The results file.
    pub(crate) file: PathBuf,
    /// The run (Block) name; default: the first run of the file.
    #[arg(long)]
    pub(crate) run: Option<String>,
    /// With --run: which run of that name (its run_index); default: the last.
    #[arg(long)]
    pub(crate) run_index: Option<i64>,
    /// Give up on a read that takes longer (a damaged file can make HDF5 loop).
    #[arg(long, default_value_t = 3600)]
    timeout_s: u64,
    /// Read in this process, without the child process that turns a crash of the HDF5
    /// library on a damaged file into an error.
    #[arg(long = "in-process", hide = true)]
    in_process: bool,
}

/// Summarize a results file; with --json, list its recordings.
///
/// The summary shows the run, its provenance, segments, devices, counts and time span.
/// `--json` prints one JSON object per recording (multiplexed objects demultiplexed):
/// segment (checkpoint index), ps_name, cell_id, device, name, units, kind, n (spikes, or
/// samples × channels), t_start, t_stop and annotations. Samples are never read.
#[derive(Debug, clap::Args)]
pub(crate) struct InspectArgs {
    #[command(flatten)]
    pub(crate) select: Select,
    /// Print the recordings as a JSON array instead of the summary.
    #[arg(long)]
    json: bool,
    /// With --json: list every object without reading its annotations (fastest; objects
    /// without a cell anchor are included, cell fields are null).
    #[arg(long, requires = "json", conflicts_with = "data")]
    no_annotations: bool,
    /// With --json: include each recording's values (`data`: spike times, or samples
    /// channel by channel). This reads the samples.
    #[arg(long, requires = "json")]
    data: bool,
    /// Only recordings of this device.
    #[arg(long)]
    device: Option<String>,
    /// Only recordings of this placement set.
    #[arg(long)]
    ps_name: Option<String>,
    /// Only recordings of this cell id.
    #[arg(long)]
    cell_id: Option<i64>,
}

/// Print the provenance of a run (decoded JSON).
#[derive(Debug, clap::Args)]
pub(crate) struct ProvenanceArgs {
    #[command(flatten)]
    pub(crate) select: Select,
}

/// Print a run whole as JSON, data and typed annotations included (for comparisons).
#[derive(Debug, clap::Args)]
pub(crate) struct DumpArgs {
    #[command(flatten)]
    pub(crate) select: Select,
    /// Every run of the file, not one.
    #[arg(long)]
    all: bool,
}

impl Select {
    /// Runs `work` here when asked to (`--in-process`), else in a supervised child.
    pub(crate) fn run(&self, work: impl FnOnce() -> bsb_results::Result<String>) -> std::process::ExitCode {
        if self.in_process {
            return super::print(work());
        }
        super::isolate::supervise(&self.file, std::time::Duration::from_secs(self.timeout_s))
    }

    fn open(&self) -> bsb_results::Result<(NioFile, Run)> {
        let file = NioFile::open(&self.file)?;
        let run = match &self.run {
            Some(name) => file.run(name, self.run_index)?,
            None => file.runs()?.into_iter().next().ok_or_else(|| bsb_results::Error::Format {
                path: self.file.clone(),
                problem: "it holds no run (no Block)".into(),
            })?,
        };
        Ok((file, run))
    }
}

pub(crate) fn inspect(args: &InspectArgs) -> bsb_results::Result<String> {
    let (file, run) = args.select.open()?;
    let filter = Filter { device: args.device.clone(), ps_name: args.ps_name.clone(), cell_id: args.cell_id };
    if args.data {
        let block = file.read(&run)?;
        return Ok(json_array(iter_recordings_where(&block, filter).map(|r| recording_row(&r, &block))));
    }
    let listing = file.list(&run, !args.no_annotations)?;
    if !args.json {
        return Ok(summary(&file, &run, &listing));
    }
    Ok(json_array(listing.objects.iter().flat_map(|o| rows(o, &listing.block, &filter, args.no_annotations))))
}

/// A JSON array of `rows`, each serialized as it comes (a file's rows as JSON values at
/// once take several times the text).
fn json_array(rows: impl Iterator<Item = Json>) -> String {
    let mut out = b"[".to_vec();
    for (i, row) in rows.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, &row).expect("JSON values");
    }
    out.push(b']');
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// The JSON rows of one listed object: one per recording (or the object itself when
/// listed without annotations).
fn rows(o: &Listed, block: &Block, filter: &Filter, bare: bool) -> Vec<Json> {
    let segment = block.segments[o.segment].annotations.get_int("checkpoint_index").map_or(json!(o.segment), |c| json!(c));
    let kind = serde_json::to_value(o.kind).expect("a name");
    let row = |annotations: Option<&bsb_results::Annotations>, n: usize| {
        let get = |k| annotations.and_then(|a| a.get(k)).map(bsb_results::Value::to_json);
        json!({
            "segment": segment, "ps_name": get("bsb_ps_name"), "cell_id": get("bsb_cell_id").unwrap_or(if bare { Json::Null } else { json!(-1) }),
            "device": get("bsb_device_name"), "name": o.name.clone().unwrap_or_default(), "units": o.units, "kind": kind,
            "n": n, "t_start": o.t_start, "t_stop": o.t_stop, "annotations": annotations.map_or(json!({}), bsb_results::Annotations::to_json),
        })
    };
    if bare {
        return vec![row(None, o.n * o.n_channels)];
    }
    let channels = if o.kind == Kind::AnalogSignal { o.n_channels } else { 1 };
    parts(&o.annotations, &o.array_annotations, channels)
        .into_iter()
        .filter(|p| p.annotations.get("bsb_ps_name").is_some() && filter.accepts(&p.annotations))
        .map(|p| row(Some(&p.annotations), p.pick.count(o.n, channels, &o.array_annotations)))
        .collect()
}

/// A recording with its values, as `--json --data` prints it.
fn recording_row(r: &Recording, block: &Block) -> Json {
    let segment = block.segments[r.segment].annotations.get_int("checkpoint_index").map_or(json!(r.segment), |c| json!(c));
    let (values, t_start, t_stop): (&[f64], f64, f64) = match &r.data {
        RecordingData::SpikeTrain(t) => (t.times(), t.t_start(), t.t_stop()),
        RecordingData::AnalogSignal(a) => (a.data_channel_major(), a.t_start(), a.t_stop()),
    };
    json!({
        "segment": segment, "ps_name": r.ps_name, "cell_id": r.cell_id, "device": r.device, "name": r.name, "units": r.units,
        "kind": r.kind, "n": values.len(), "t_start": t_start, "t_stop": t_stop, "annotations": r.annotations.to_json(), "data": values,
    })
}

fn summary(file: &NioFile, run: &Run, listing: &Listing) -> String {
    let block = &listing.block;
    let mut out = Vec::new();
    let size = std::fs::metadata(file.path()).map_or(0, |m| m.len());
    out.push(format!("file       {} ({:.1} MB)", file.path().display(), size as f64 / 1e6));
    out.push(format!("run        {} (run_index {}, Block {})", run.name.as_deref().unwrap_or(""), run.run_index, run.nix_name));
    if let Some(p) = block.provenance() {
        let s = |v: &Json| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
        out.push(format!("id         {}", s(&p["simulation_id"])));
        out.push(format!("started    {}   finished {}", s(&p["started_at"]), s(&p["finished_at"])));
        out.push(format!("simulator  {} {}", s(&p["simulator"]["name"]), s(&p["simulator"]["version"])));
        out.push(format!("ranks      {} (rank 0 on {})", p["mpi_size"], s(&p["host"]["hostname"])));
    }
    out.push(format!("segments   {}", block.segments.len()));
    for (i, seg) in block.segments.iter().enumerate() {
        let a = &seg.annotations;
        let objects: Vec<&Listed> = listing.objects.iter().filter(|o| o.segment == i).collect();
        let trains = objects.iter().filter(|o| o.kind == Kind::SpikeTrain).count();
        let float = |k| a.get(k).and_then(bsb_results::Value::as_float).map_or("?".into(), |v| format!("{v}"));
        out.push(format!(
            "  checkpoint {}: {}–{} ms, {trains} spike trains, {} signals",
            a.get_int("checkpoint_index").unwrap_or(i64::try_from(i).unwrap_or(-1)),
            float("t_start_ms"),
            float("t_stop_ms"),
            objects.len() - trains
        ));
    }
    let mut devices: BTreeMap<String, (String, usize, usize, usize)> = BTreeMap::new();
    for o in &listing.objects {
        let a = &o.annotations;
        let entry = devices.entry(a.get_str("bsb_device_name").unwrap_or("(no device)").to_owned()).or_default();
        entry.0 = a.get_str("bsb_device_kind").unwrap_or("").to_owned();
        match o.kind {
            Kind::SpikeTrain => (entry.1 += 1, entry.3 += o.n),
            Kind::AnalogSignal => (entry.2 += 1, entry.3 += o.n * o.n_channels),
        };
    }
    out.push(format!("devices    {}", devices.len()));
    for (name, (kind, trains, signals, values)) in devices {
        out.push(format!("  {name} ({kind}): {trains} spike trains, {signals} signals, {values} spikes and samples"));
    }
    let span = listing.objects.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), o| (lo.min(o.t_start), hi.max(o.t_stop)));
    if span.0.is_finite() {
        out.push(format!("time span  {} – {} {}", span.0, span.1, listing.objects.first().map_or("", |o| o.time_units.as_str())));
    }
    out.join("\n")
}

pub(crate) fn provenance(args: &ProvenanceArgs) -> bsb_results::Result<String> {
    let (file, run) = args.select.open()?;
    let listing = file.list(&run, false)?;
    let p = listing.block.provenance().ok_or_else(|| bsb_results::Error::Format {
        path: args.select.file.clone(),
        problem: format!("run {:?} has no readable bsb_provenance annotation", run.name.as_deref().unwrap_or("")),
    })?;
    Ok(serde_json::to_string_pretty(&p).expect("JSON"))
}

pub(crate) fn dump(args: &DumpArgs) -> bsb_results::Result<String> {
    let blocks = if args.all {
        bsb_results::read_nio_all(&args.select.file)?
    } else {
        let (file, run) = args.select.open()?;
        vec![file.read(&run)?]
    };
    Ok(serde_json::to_string(&blocks).expect("plain data"))
}
