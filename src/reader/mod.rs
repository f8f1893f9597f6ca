//! Reading results files back: files of this crate and files Neo's NixIO wrote.
//!
//! Reading is lazy: [`NioFile::list`] walks a run's structure and describes every object
//! without reading its samples (and, if asked, without its annotations);
//! [`NioFile::load`] reads one object's data. [`read_nio`] reads a whole run. Reading uses
//! HDF5's plain serial driver and needs no MPI. Opening a file reads its committed state,
//! also while a write is under way or after one was killed (see [`crate::journal`]); it
//! never writes.
//!
//! Every size and structure read is checked, and bad files give [`Error::Format`]
//! errors. One limit lies below this crate: HDF5 1.10's C library can crash or loop on a
//! deliberately damaged global heap (which has no checksums). The `bsb-results` reading
//! commands therefore read in a child process; an application that reads untrusted files
//! should isolate the read the same way.

mod properties;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::h5::{self, Attr, Data, File, Kit, Link, Mode, Obj, find};
use crate::journal;
use crate::model::{AnalogSignal, Annotations, Block, Segment, SpikeTrain, Value};
use crate::nix::names::{attr, group, prop, types};
use crate::nix::runs;
use properties::PropertyReader;

/// Spike train or analog signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A Neo `SpikeTrain`.
    SpikeTrain,
    /// A Neo `AnalogSignal`.
    AnalogSignal,
}

/// One run (a NIX Block) of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The Block's NIX name (`neo.block.<hex>`).
    pub nix_name: String,
    /// The run's name (`neo_name`).
    pub name: Option<String>,
    /// Its `run_index` annotation; where absent, how many runs of that name came before.
    pub run_index: i64,
}

/// An object of a run, described without its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    /// Index of its segment in the run.
    pub segment: usize,
    pub kind: Kind,
    pub name: Option<String>,
    /// Units of the samples (signals) or spike times (trains).
    pub units: String,
    /// Units of `t_start`, `t_stop` and `sampling_period`.
    pub time_units: String,
    pub t_start: f64,
    pub t_stop: f64,
    /// A signal's sampling period.
    pub sampling_period: Option<f64>,
    /// Spikes of a train, samples per channel of a signal.
    pub n: usize,
    /// Channels of a signal (1 for a train).
    pub n_channels: usize,
    /// Annotations as Neo reads them (`nix_name` first); empty when listed without them.
    pub annotations: Annotations,
    /// Array annotations (per spike or per channel).
    pub array_annotations: Annotations,
    /// The datasets of its values: the spike times, or one per channel (each named by its
    /// path, and found by its address where known).
    data: Vec<Link>,
}

/// A run's structure without samples: the Block with its segments (no objects yet) and
/// every object of every segment (per segment: spike trains, then signals).
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    pub block: Block,
    pub objects: Vec<Listed>,
}

/// An object with its data.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    SpikeTrain(SpikeTrain),
    AnalogSignal(AnalogSignal),
}

/// An open results file.
pub struct NioFile {
    file: File,
    kit: Kit,
    properties: PropertyReader,
}

/// Reads the first run of `path` whole.
///
/// # Errors
/// [`Error::Format`] naming the file and the problem for anything that is not a readable
/// NIX file, or a file without runs; [`Error::Io`] when the journal of an unfinished
/// write cannot be read.
pub fn read_nio(path: impl AsRef<Path>) -> Result<Block> {
    let file = NioFile::open(path)?;
    let run = file.runs()?.into_iter().next().ok_or_else(|| file.bad("it holds no run (no Block)".into()))?;
    file.read(&run)
}

/// Reads every run of `path` whole, in file order.
///
/// # Errors
/// As [`read_nio`].
pub fn read_nio_all(path: impl AsRef<Path>) -> Result<Vec<Block>> {
    let file = NioFile::open(path)?;
    file.runs()?.iter().map(|run| file.read(run)).collect()
}

impl NioFile {
    /// Opens `path` read-only: its committed state, also while another process writes it
    /// or after a writer was killed (the journal's old pages are read instead of the
    /// disk's; only `bsb-results recover` or the next writer rolls the file back). Needs
    /// read permission only, and never waits for a writer.
    ///
    /// # Errors
    /// As [`read_nio`].
    pub fn open(path: impl AsRef<Path>) -> Result<NioFile> {
        let path = path.as_ref();
        if !path.exists() {
            return Err(Error::io("open", path, std::io::Error::from(std::io::ErrorKind::NotFound)));
        }
        let view = journal::committed_view(path)?;
        h5::locked(|| {
            let fapl = h5::read_fapl(view.as_ref())?;
            let file = File::open(path, Mode::ReadOnly, None, Some(fapl.id())).map_err(|e| match e {
                Error::Hdf5 { message, .. } => Error::Format { path: path.into(), problem: format!("HDF5 cannot open it ({message})") },
                other => other,
            })?;
            runs::check_root(&file)?;
            Ok(NioFile { file, kit: Kit::new()?, properties: PropertyReader::default() })
        })
    }

    /// The file's path.
    pub fn path(&self) -> PathBuf {
        self.file.path().to_owned()
    }

    fn bad(&self, problem: String) -> Error {
        Error::Format { path: self.file.path().into(), problem }
    }

    /// The runs of the file, in file order.
    ///
    /// # Errors
    /// [`Error::Format`] for a malformed Block.
    pub fn runs(&self) -> Result<Vec<Run>> {
        h5::locked(|| {
            let data = self.file.open_path(group::DATA, None)?;
            let mut runs: Vec<Run> = Vec::new();
            for link in data.many_links()? {
                let block = data.open_link(&link)?;
                let nix_name = link.name;
                let what = || format!("Block {nix_name}");
                let wanted = [prop::NEO_NAME, "run_index"];
                let section = self.properties.section(&block, &block.links()?, self.kit.dxpl(), Some(&wanted), &[], &what)?;
                let before = runs.iter().filter(|r| r.name == section.name).count();
                let run_index = section.annotations.get_int("run_index").unwrap_or(i64::try_from(before).unwrap_or(i64::MAX));
                runs.push(Run { nix_name, name: section.name, run_index });
            }
            Ok(runs)
        })
    }

    /// The run named `name`: the one with `run_index`, or the last of that name.
    ///
    /// # Errors
    /// [`Error::Format`] naming what was looked for when there is no such run.
    pub fn run(&self, name: &str, run_index: Option<i64>) -> Result<Run> {
        let runs = self.runs()?;
        let mut named = runs.into_iter().filter(|r| r.name.as_deref() == Some(name));
        let found = match run_index {
            Some(i) => named.into_iter().find(|r| r.run_index == i),
            None => named.next_back(),
        };
        found.ok_or_else(|| self.bad(format!("it has no run {name:?}{}", run_index.map_or(String::new(), |i| format!(" with run_index {i}")))))
    }

    /// Describes every object of `run` without reading its samples; with `annotations`
    /// off, without reading annotations either (the fastest listing).
    ///
    /// # Errors
    /// [`Error::Format`] naming the object for malformed or missing parts.
    pub fn list(&self, run: &Run, annotations: bool) -> Result<Listing> {
        h5::locked(|| self.walk(run, annotations))
    }

    /// Reads one listed object's data.
    ///
    /// # Errors
    /// [`Error::Format`] for unreadable or ragged data.
    pub fn load(&self, listed: &Listed) -> Result<Object> {
        h5::locked(|| {
            let mut channels = Vec::with_capacity(listed.data.len());
            for link in &listed.data {
                let path = &link.name;
                let values = match self.file.open_link(link)?.read(self.kit.dxpl())? {
                    Data::F64(v) => v,
                    #[allow(clippy::cast_precision_loss)]
                    Data::I64(v) => v.into_iter().map(|x| x as f64).collect(),
                    _ => return Err(self.bad(format!("{path} does not hold numbers"))),
                };
                if values.len() != listed.n {
                    return Err(self.bad(format!("{path} holds {} values, not {} like the first channel (ragged signal)", values.len(), listed.n)));
                }
                channels.push(values);
            }
            Ok(match listed.kind {
                Kind::SpikeTrain => Object::SpikeTrain(SpikeTrain {
                    name: listed.name.clone(),
                    times: channels.pop().unwrap_or_default(),
                    units: listed.units.clone(),
                    t_start: listed.t_start,
                    t_stop: listed.t_stop,
                    annotations: listed.annotations.clone(),
                    array_annotations: listed.array_annotations.clone(),
                }),
                Kind::AnalogSignal => Object::AnalogSignal(AnalogSignal {
                    name: listed.name.clone(),
                    data: channels.concat(),
                    n_samples: listed.n,
                    n_channels: listed.n_channels,
                    units: listed.units.clone(),
                    sampling_period: listed.sampling_period.unwrap_or(f64::NAN),
                    time_units: listed.time_units.clone(),
                    t_start: listed.t_start,
                    annotations: listed.annotations.clone(),
                    array_annotations: listed.array_annotations.clone(),
                }),
            })
        })
    }

    /// Reads `run` whole.
    ///
    /// # Errors
    /// As [`NioFile::list`] and [`NioFile::load`].
    pub fn read(&self, run: &Run) -> Result<Block> {
        let Listing { mut block, objects } = self.list(run, true)?;
        for listed in &objects {
            let segment = &mut block.segments[listed.segment];
            match self.load(listed)? {
                Object::SpikeTrain(t) => segment.spiketrains.push(t),
                Object::AnalogSignal(s) => segment.analogsignals.push(s),
            }
        }
        Ok(block)
    }

    /// The traversal behind [`NioFile::list`], under the HDF5 lock.
    fn walk(&self, run: &Run, annotations: bool) -> Result<Listing> {
        let base = format!("/{}/{}", group::DATA, run.nix_name);
        let block_obj = self.file.open_path(&base, Some(&format!("Block {}", run.nix_name)))?;
        let what = || format!("Block {}", run.nix_name);
        let block_links = block_obj.links()?;
        let section = self.properties.section(&block_obj, &block_links, self.kit.dxpl(), None, &[], &what)?;
        let mut block = Block {
            name: section.name,
            rec_datetime: block_obj.attr_string(attr::CREATED_AT)?,
            annotations: with_nix_name(&run.nix_name, section.annotations),
            segments: Vec::new(),
        };
        let mut objects = Vec::new();
        if let Some(groups) = find(&block_links, group::GROUPS) {
            let groups = block_obj.open_link(groups)?;
            for link in groups.many_links()? {
                let g = groups.open_link(&link).map_err(|e| properties::dangling(&groups, &what, e))?;
                let seg_path = format!("{base}/{}/{}", group::GROUPS, link.name);
                match g.attr_string(attr::TYPE)?.as_deref() {
                    Some(types::SEGMENT) => {}
                    Some("neo.group" | "neo.subgroup") => continue,
                    other => return Err(self.bad(format!("{seg_path} has type {other:?}, not \"neo.segment\" (unexpected group type)"))),
                }
                let index = block.segments.len();
                let seg_name = g.attr_string(attr::NAME)?.unwrap_or_else(|| link.name.clone());
                let what = || format!("segment {seg_name}");
                let children = g.links()?;
                let section = self.properties.section(&g, &children, self.kit.dxpl(), None, &[], &what)?;
                block.segments.push(Segment {
                    name: section.name,
                    rec_datetime: g.attr_string(attr::CREATED_AT)?,
                    annotations: with_nix_name(&seg_name, section.annotations),
                    spiketrains: Vec::new(),
                    analogsignals: Vec::new(),
                });
                let at = Place { g: &g, children: &children, seg_path: &seg_path, segment: index };
                self.list_trains(&at, annotations, &mut objects)?;
                self.list_signals(&at, annotations, &mut objects)?;
            }
        }
        Ok(Listing { block, objects })
    }

    /// The section properties of an object: all of them, or only Neo's own.
    fn object_section(&self, owner: &Obj<'_>, children: &[Link], annotations: bool, consumed: &[&str], what: &dyn Fn() -> String) -> Result<properties::Section> {
        let own = [prop::NEO_NAME, prop::T_START, prop::T_STOP];
        let wanted = if annotations { None } else { Some(&own[..]) };
        self.properties.section(owner, children, self.kit.dxpl(), wanted, consumed, what)
    }

    fn list_trains(&self, at: &Place<'_, '_>, annotations: bool, out: &mut Vec<Listed>) -> Result<()> {
        let Some(tags) = find(at.children, group::MULTI_TAGS) else {
            return Ok(());
        };
        let tags = at.g.open_link(tags)?;
        for link in tags.many_links()? {
            let what = || format!("spike train {} of {}", link.name, at.seg_path);
            let mt = tags.open_link(&link).map_err(|e| properties::dangling(&tags, &what, e))?;
            if mt.attr_string(attr::TYPE)?.as_deref() != Some(types::SPIKETRAIN) {
                continue;
            }
            let nix_name = mt.attr_string(attr::NAME)?.unwrap_or_else(|| link.name.clone());
            let children = mt.links()?;
            let section = self.object_section(&mt, &children, annotations, &[prop::T_START, prop::T_STOP], &what)?;
            let positions = find(&children, group::POSITIONS).ok_or_else(|| self.bad(format!("{}: it has no 'positions' (spike times)", what())))?;
            let positions = mt.open_link(positions).map_err(|e| properties::dangling(&mt, &what, e))?;
            let units = positions.attr_string(attr::UNIT)?.ok_or_else(|| self.bad(format!("{}: its times have no unit", what())))?;
            let (n, times) = self.values(&positions, format!("{}/{}/{}/{}/{}", at.seg_path, group::MULTI_TAGS, link.name, group::POSITIONS, group::VALUES))?;
            let t_stop = section.reserved.get(prop::T_STOP).ok_or_else(|| self.bad(format!("{}: it has no t_stop", what())))?;
            let t_start = section.reserved.get(prop::T_START).map_or(Ok(0.0), |v| self.magnitude(v, &units, &what))?;
            out.push(Listed {
                segment: at.segment,
                kind: Kind::SpikeTrain,
                name: section.name,
                time_units: units.clone(),
                t_start,
                t_stop: self.magnitude(t_stop, &units, &what)?,
                sampling_period: None,
                units,
                n,
                n_channels: 1,
                annotations: if annotations { with_nix_name(&nix_name, section.annotations) } else { Annotations::new() },
                array_annotations: section.array_annotations,
                data: vec![times],
            });
        }
        Ok(())
    }

    fn list_signals(&self, at: &Place<'_, '_>, annotations: bool, out: &mut Vec<Listed>) -> Result<()> {
        let Some(arrays) = find(at.children, group::DATA_ARRAYS) else {
            return Ok(());
        };
        let arrays = at.g.open_link(arrays)?;
        // Channels of one signal share the name before the last dot, as Neo groups them.
        let mut signals: Vec<(String, Vec<Link>)> = Vec::new();
        let mut by_base: HashMap<String, usize> = HashMap::new();
        for link in arrays.many_links()? {
            let what = || format!("data array {} of {}", link.name, at.seg_path);
            let da = arrays.open_link(&link).map_err(|e| properties::dangling(&arrays, &what, e))?;
            if da.attr_string(attr::TYPE)?.as_deref() != Some(types::ANALOGSIGNAL) {
                continue;
            }
            let name = da.attr_string(attr::NAME)?.ok_or_else(|| self.bad(format!("{}: it has no name", what())))?;
            let base = name.rsplit_once('.').map_or(String::new(), |(b, _)| b.to_owned());
            match by_base.get(&base) {
                Some(&i) => signals[i].1.push(link),
                None => {
                    by_base.insert(base.clone(), signals.len());
                    signals.push((base, vec![link]));
                }
            }
        }
        for (base, links) in signals {
            let what = || format!("analog signal {base} of {}", at.seg_path);
            let first = arrays.open_link(&links[0])?;
            let children = first.links()?;
            let units = first.attr_string(attr::UNIT)?.ok_or_else(|| self.bad(format!("{}: its samples have no unit", what())))?;
            let (interval, time_units, offset) = self.time_axis(&first, &children, &what)?;
            let section = self.object_section(&first, &children, annotations, &[prop::T_START], &what)?;
            let t_start = section.reserved.get(prop::T_START).map_or(Ok(offset), |v| self.magnitude(v, &time_units, &what))?;
            let path = |l: &Link| format!("{}/{}/{}/{}", at.seg_path, group::DATA_ARRAYS, l.name, group::VALUES);
            let (n, values) = self.values(&first, path(&links[0]))?;
            // The other channels' values are found by path when loaded.
            let data: Vec<Link> = std::iter::once(values).chain(links[1..].iter().map(|l| Link { name: path(l), address: None })).collect();
            #[allow(clippy::cast_precision_loss)]
            let t_stop = t_start + n as f64 * interval;
            let nix_name = section_name(&first, &children)?.unwrap_or(base.clone());
            out.push(Listed {
                segment: at.segment,
                kind: Kind::AnalogSignal,
                name: section.name,
                units,
                time_units,
                t_start,
                t_stop,
                sampling_period: Some(interval),
                n,
                n_channels: links.len(),
                annotations: if annotations { with_nix_name(&nix_name, section.annotations) } else { Annotations::new() },
                array_annotations: section.array_annotations,
                data,
            });
        }
        Ok(())
    }

    /// The number of values of the `values` dataset of the data array `array`, and the
    /// dataset's link, named by its `path`.
    fn values(&self, array: &Obj<'_>, path: String) -> Result<(usize, Link)> {
        let children = array.links()?;
        let n = array.open_among(&children, group::VALUES)?.len()?;
        let address = find(&children, group::VALUES).and_then(|l| l.address);
        Ok((n, Link { name: path, address }))
    }

    /// The magnitude of a time quantity in `units` (converted by [`seconds_per`]).
    fn magnitude(&self, value: &Value, units: &str, what: &dyn Fn() -> String) -> Result<f64> {
        match value {
            Value::Quantity { values, unit } if values.len() == 1 => match (seconds_per(unit), seconds_per(units)) {
                (Some(from), Some(to)) if unit != units => Ok(values[0] * from / to),
                _ => Ok(values[0]),
            },
            Value::Float(f) => Ok(*f),
            other => Err(self.bad(format!("{}: a time is {other:?}, not a number", what()))),
        }
    }

    /// The SampledDimension labelled `time`: `(sampling interval, unit, offset)`.
    fn time_axis(&self, da: &Obj<'_>, children: &[Link], what: &dyn Fn() -> String) -> Result<(f64, String, f64)> {
        let missing = || self.bad(format!("{}: it has no time dimension (a 'dimensions' group labelled \"time\")", what()));
        let Some(dims) = find(children, group::DIMENSIONS) else {
            return Err(missing());
        };
        let dims = da.open_link(dims)?;
        for link in dims.links()? {
            let dim = dims.open_link(&link)?;
            if dim.attr_string(attr::LABEL)?.as_deref() != Some(types::TIME_LABEL) {
                continue;
            }
            let number = |a| match dim.attr(a) {
                Ok(Some(Attr::F64(v))) => Some(v),
                #[allow(clippy::cast_precision_loss)]
                Ok(Some(Attr::Ints(v))) if v.len() == 1 => Some(v[0] as f64),
                _ => None,
            };
            let interval = number(attr::SAMPLING_INTERVAL).ok_or_else(|| self.bad(format!("{}: its time dimension has no sampling_interval", what())))?;
            let unit = dim.attr_string(attr::UNIT)?.ok_or_else(|| self.bad(format!("{}: its time dimension has no unit", what())))?;
            return Ok((interval, unit, number(attr::OFFSET).unwrap_or(0.0)));
        }
        Err(missing())
    }
}

/// Seconds in one `unit` of time; reciprocal frequencies count too (`1/kHz` is a
/// millisecond, as Neo writes a signal's axis when it was built from a sampling rate).
pub(crate) fn seconds_per(unit: &str) -> Option<f64> {
    match unit.trim() {
        "s" | "1/Hz" => Some(1.0),
        "ms" | "1/kHz" => Some(1e-3),
        "us" | "1/MHz" => Some(1e-6),
        "ns" | "1/GHz" => Some(1e-9),
        "min" => Some(60.0),
        _ => None,
    }
}

/// The name attribute of an entity's `metadata` section (a signal's base name), where
/// `children` are the entity's links.
fn section_name(owner: &Obj<'_>, children: &[Link]) -> Result<Option<String>> {
    match find(children, group::METADATA) {
        Some(metadata) => owner.open_link(metadata)?.attr_string(attr::NAME),
        None => Ok(None),
    }
}

/// A segment being listed: its group and the group's links.
struct Place<'a, 'f> {
    g: &'a Obj<'f>,
    children: &'a [Link],
    /// The segment's path (for messages and the values' paths).
    seg_path: &'a str,
    /// Its index in the run.
    segment: usize,
}

/// Annotations with `nix_name` first, as Neo reads them.
fn with_nix_name(nix_name: &str, rest: Annotations) -> Annotations {
    let mut out = Annotations::with_capacity(rest.len() + 1);
    out.insert(prop::NIX_NAME, nix_name);
    for (k, v) in rest {
        out.insert(k, v);
    }
    out
}

