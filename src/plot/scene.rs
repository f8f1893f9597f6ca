//! What a figure shows, read from the file: the plan from the listing (rows, sources,
//! traces; no samples), then the scene (spikes binned or marked, traces loaded).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use super::layout::Layout;
use super::options::PlotOptions;
use super::raster::{MAX_BINS, Raster, default_bin_ms};
use super::{Format, PlacementSet, PlotSummary, TraceSummary};
use crate::contract::keys;
use crate::error::{Error, Result};
use crate::reader::{Kind, Listing, NioFile, Object, seconds_per};
use crate::recording::{Pick, parts_keeping, target_index};

/// The placement sets of the raster, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Group {
    pub name: String,
    pub cells: usize,
    pub first_row: usize,
}

/// A raster row's cell: `(placement set, cell id)`.
type Key = (String, i64);

/// The cells an object speaks for, and which of its spikes are each's.
type Targets = Vec<(Pick, Key)>;

/// Converts a time unit to ms, or names the object whose unit is not a time.
type ToMs<'a> = &'a dyn Fn(&str, &dyn Fn() -> String) -> Result<f64>;

/// Which rows an object's spikes go to.
enum Rows {
    /// Every spike to one row.
    All(u32),
    /// Spike `i` to the row of its target index (multiplexed).
    Targets(Vec<Option<u32>>),
}

/// A spike train object to read.
struct Source {
    object: usize,
    /// Its time unit in ms.
    to_ms: f64,
    rows: Rows,
}

/// A trace to draw: which channel of which object, per segment.
pub(crate) struct TracePick {
    summary: TraceSummary,
    pieces: Vec<(usize, usize)>,
}

/// One segment's part of a trace: samples from `t_start` every `step` ms.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Piece {
    pub t_start: f64,
    pub step: f64,
    pub samples: Vec<f64>,
}

/// A trace with its samples.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Trace {
    pub summary: TraceSummary,
    pub pieces: Vec<Piece>,
}

/// What to read, from the listing alone.
pub(crate) struct Plan {
    segments: Range<usize>,
    t0: f64,
    t1: f64,
    boundaries: Vec<f64>,
    groups: Vec<Group>,
    /// The group and the cell id of each row.
    row_group: Vec<u32>,
    cell_ids: Vec<i64>,
    sources: Vec<Source>,
    /// Spikes in the sources.
    total: usize,
    pub traces: Vec<TracePick>,
    trace_candidates: usize,
    title: String,
}

/// A figure's content, ready to draw.
pub(crate) struct Scene {
    pub title: String,
    pub notes: String,
    pub segments: Range<usize>,
    /// Where segments meet, in ms.
    pub boundaries: Vec<f64>,
    pub groups: Vec<Group>,
    /// The cell id of each row.
    pub cell_ids: Vec<i64>,
    pub raster: Raster,
    pub traces: Vec<Trace>,
    trace_candidates: usize,
}

impl Plan {
    /// Plans the figure of `listing` (a run of the file at `path`).
    ///
    /// # Errors
    /// [`Error::Validation`] for a segment range or cells the run does not have;
    /// [`Error::Format`] for times in units that are not times.
    pub(crate) fn new(path: &Path, listing: &Listing, options: &PlotOptions) -> Result<Plan> {
        let segments = options
            .segments
            .resolve(listing.block.segments.len())
            .map_err(|problem| Error::invalid(format!("segment range {} of '{}'", options.segments, path.display()), problem))?;
        let to_ms = |units: &str, what: &dyn Fn() -> String| {
            seconds_per(units).map(|s| s * 1000.0).ok_or_else(|| Error::Format { path: path.into(), problem: format!("{} has times in {units:?}, not a unit of time", what()) })
        };
        let chosen: Vec<usize> = (0..listing.objects.len()).filter(|i| segments.contains(&listing.objects[*i].segment)).collect();
        let (t0, t1, boundaries) = span(listing, &segments, &chosen, &to_ms)?;
        if t0.is_nan() || t1.is_nan() || t1 <= t0 {
            return Err(Error::invalid(format!("segments {}..{} of '{}'", segments.start, segments.end, path.display()), "they span no time"));
        }
        // Spike trains with a cell anchor: every (placement set, cell) becomes a row.
        let mut cells: BTreeMap<Key, u32> = BTreeMap::new();
        let mut anchored: Vec<(usize, f64, Targets)> = Vec::new();
        for &i in chosen.iter().filter(|i| listing.objects[**i].kind == Kind::SpikeTrain) {
            let o = &listing.objects[i];
            let targets: Targets = parts_keeping(&o.annotations, &o.array_annotations, 1, Some(&KEYS)).into_iter().filter_map(|p| Some((p.pick, anchor(&p.annotations)?))).collect();
            if targets.is_empty() {
                continue;
            }
            cells.extend(targets.iter().map(|(_, k)| (k.clone(), 0)));
            anchored.push((i, to_ms(&o.units, &|| describe(o))?, targets));
        }
        let mut groups: Vec<Group> = Vec::new();
        let mut row_group = Vec::with_capacity(cells.len());
        let cell_ids: Vec<i64> = cells.keys().map(|k| k.1).collect();
        for (row, ((ps, _), slot)) in cells.iter_mut().enumerate() {
            *slot = u32::try_from(row).map_err(|_| Error::invalid(format!("run of '{}'", path.display()), "more than 2^32 cells to draw"))?;
            if groups.last().is_none_or(|g| g.name != *ps) {
                groups.push(Group { name: ps.clone(), cells: 0, first_row: row });
            }
            let last = groups.len() - 1;
            groups[last].cells += 1;
            row_group.push(u32::try_from(last).unwrap_or(u32::MAX));
        }
        let sources: Vec<Source> = anchored
            .into_iter()
            .map(|(object, to_ms, targets)| {
                let rows = match targets.as_slice() {
                    [(Pick::All | Pick::Channel(_), key)] => Rows::All(cells[key]),
                    _ => {
                        let mut rows = Vec::new();
                        for (pick, key) in &targets {
                            if let Pick::Target(t) = pick {
                                let t = usize::try_from(*t).unwrap_or(usize::MAX);
                                if rows.len() <= t {
                                    rows.resize(t + 1, None);
                                }
                                rows[t] = Some(cells[key]);
                            }
                        }
                        Rows::Targets(rows)
                    }
                };
                Source { object, to_ms, rows }
            })
            .collect();
        let total = sources.iter().map(|s| listing.objects[s.object].n).sum();
        let (traces, trace_candidates) = pick_traces(path, listing, &chosen, &segments, options)?;
        Ok(Plan { segments, t0, t1, boundaries, groups, row_group, cell_ids, sources, total, traces, trace_candidates, title: title(listing) })
    }

    /// Reads the spikes into the raster (a density grid of the layout's raster area when
    /// there are more spikes than it has pixels, or than `max_marks`) and the traces.
    ///
    /// # Errors
    /// The reader's errors; [`Error::Validation`] for a bin width that makes too many bins.
    pub(crate) fn load(self, file: &NioFile, listing: &Listing, layout: &Layout, options: &PlotOptions) -> Result<Scene> {
        let plot = layout.raster.plot;
        let pixels = plot.width() * plot.height();
        let density = (self.total > pixels.min(options.max_marks)).then_some((plot.width(), plot.height()));
        let bin_ms = options.bin_ms.unwrap_or_else(|| default_bin_ms(self.t1 - self.t0));
        #[allow(clippy::cast_precision_loss)]
        if (self.t1 - self.t0) / bin_ms > MAX_BINS as f64 {
            return Err(Error::invalid("rate bin width (bin_ms)", format!("{bin_ms} ms makes more than {MAX_BINS} bins over {} ms", self.t1 - self.t0)));
        }
        let mut raster = Raster::new(self.t0, self.t1, self.row_group.len(), self.groups.len(), bin_ms, density);
        for source in &self.sources {
            let listed = &listing.objects[source.object];
            let Object::SpikeTrain(train) = file.load(listed)? else { continue };
            let group = |row: u32| usize::try_from(self.row_group[usize::try_from(row).unwrap_or(0)]).unwrap_or(0);
            match &source.rows {
                Rows::All(row) => train.times().iter().for_each(|t| raster.add(t * source.to_ms, *row, group(*row))),
                Rows::Targets(rows) => {
                    for (t, target) in train.times().iter().zip(target_index(&listed.array_annotations).iter()) {
                        if let Some(row) = usize::try_from(*target).ok().and_then(|i| rows.get(i).copied().flatten()) {
                            raster.add(t * source.to_ms, row, group(row));
                        }
                    }
                }
            }
        }
        let traces = load_traces(file, listing, self.traces)?;
        let notes = notes(&self.segments, listing.block.segments.len(), &raster, &traces, self.trace_candidates, self.groups.len());
        Ok(Scene {
            title: self.title,
            notes,
            segments: self.segments,
            boundaries: self.boundaries,
            groups: self.groups,
            cell_ids: self.cell_ids,
            raster,
            traces,
            trace_candidates: self.trace_candidates,
        })
    }
}

impl Scene {
    /// The placement set (group index) of raster row `row`.
    pub(crate) fn group_of(&self, row: usize) -> usize {
        self.groups.partition_point(|g| g.first_row <= row).saturating_sub(1)
    }

    /// What the figure shows, for the caller.
    pub(crate) fn summary(&self, format: Format, layout: &Layout, run: String) -> PlotSummary {
        let p = layout.raster.plot;
        PlotSummary {
            format,
            width: layout.width,
            height: layout.height,
            run,
            segments: self.segments.clone(),
            t_start_ms: self.raster.t0,
            t_stop_ms: self.raster.t1,
            cells: self.raster.rows,
            spikes: self.raster.spikes,
            placement_sets: self
                .groups
                .iter()
                .enumerate()
                .map(|(i, g)| {
                    let [r, gr, b] = super::draw::colour(i);
                    PlacementSet { name: g.name.clone(), cells: g.cells, spikes: self.raster.spikes_per_group[i], colour: format!("#{r:02x}{gr:02x}{b:02x}") }
                })
                .collect(),
            binned: matches!(self.raster.marks, super::raster::Marks::Density(_)),
            bin_ms: self.raster.rates.bin_ms,
            traces: self.traces.iter().map(|t| t.summary.clone()).collect(),
            trace_candidates: self.trace_candidates,
            raster_area: [p.left, p.top, p.right - 1, p.bottom - 1],
        }
    }
}

/// The annotations a figure needs of each target.
const KEYS: [&str; 4] = [keys::PS_NAME, keys::CELL_ID, keys::DEVICE_NAME, keys::RECORDING_KIND];

/// `(placement set, cell id)` of a recording with a cell anchor.
fn anchor(annotations: &crate::Annotations) -> Option<Key> {
    Some((annotations.get_str(keys::PS_NAME)?.to_owned(), annotations.get_int(keys::CELL_ID).unwrap_or(-1)))
}

fn describe(o: &crate::Listed) -> String {
    format!("{} {:?} of segment {}", if o.kind == Kind::SpikeTrain { "spike train" } else { "analog signal" }, o.name.as_deref().unwrap_or(""), o.segment)
}

/// The time axis in ms: from the segments' `t_start_ms`/`t_stop_ms` and their objects'
/// times; and where the segments after the first begin.
fn span(listing: &Listing, segments: &Range<usize>, chosen: &[usize], to_ms: ToMs<'_>) -> Result<(f64, f64, Vec<f64>)> {
    let (mut t0, mut t1) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut boundaries = Vec::new();
    for s in segments.clone() {
        let a = &listing.block.segments[s].annotations;
        let get = |k| a.get(k).and_then(crate::Value::as_float).filter(|v| v.is_finite());
        if let Some(start) = get("t_start_ms") {
            t0 = t0.min(start);
            if s > segments.start {
                boundaries.push(start);
            }
        }
        if let Some(stop) = get("t_stop_ms") {
            t1 = t1.max(stop);
        }
    }
    for &i in chosen {
        let o = &listing.objects[i];
        let scale = to_ms(&o.time_units, &|| describe(o))?;
        t0 = t0.min(o.t_start * scale);
        t1 = t1.max(o.t_stop * scale);
    }
    Ok((t0, t1, boundaries))
}

/// `run NAME · simulation ID · N ranks`, with `?` for what the run does not say.
fn title(listing: &Listing) -> String {
    let block = &listing.block;
    let provenance = block.provenance().unwrap_or_default();
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned).or_else(|| v.as_i64().map(|i| i.to_string()));
    let id = text(&provenance["simulation_id"]).or_else(|| block.annotations.get_str(keys::SIMULATION_ID).map(str::to_owned)).unwrap_or_else(|| "?".into());
    let ranks = match provenance["mpi_size"].as_i64() {
        Some(1) => "1 rank".to_owned(),
        Some(n) => format!("{n} ranks"),
        None => "? ranks".to_owned(),
    };
    format!("run {} · simulation {id} · {ranks}", block.name.as_deref().unwrap_or("(unnamed)"))
}

/// The signal channels of the chosen objects with a cell anchor, and which to draw:
/// `--cells` picks cells; otherwise one channel per cell first, in the raster's order,
/// then the cells' further channels; within a cell, whole-cell recordings (the membrane
/// potential; `bsb_recording_kind` "cell") before compartments and others. Returns them
/// and how many there were.
fn pick_traces(path: &Path, listing: &Listing, chosen: &[usize], segments: &Range<usize>, options: &PlotOptions) -> Result<(Vec<TracePick>, usize)> {
    let mut candidates: BTreeMap<(String, i64, bool, String, String, usize), TracePick> = BTreeMap::new();
    for &i in chosen.iter().filter(|i| listing.objects[**i].kind == Kind::AnalogSignal) {
        let o = &listing.objects[i];
        for p in parts_keeping(&o.annotations, &o.array_annotations, o.n_channels, Some(&KEYS)) {
            let Some((ps_name, cell_id)) = anchor(&p.annotations) else { continue };
            let device = p.annotations.get_str(keys::DEVICE_NAME).unwrap_or_default().to_owned();
            let part_of_cell = p.annotations.get_str(keys::RECORDING_KIND) != Some("cell");
            let name = o.name.clone().unwrap_or_default();
            let channels: Vec<(usize, usize)> = match p.pick {
                Pick::All => (0..o.n_channels).map(|c| (c, c)).collect(),
                Pick::Channel(c) => vec![(0, c)],
                Pick::Target(_) => continue,
            };
            for (channel, in_object) in channels {
                let key = (ps_name.clone(), cell_id, part_of_cell, device.clone(), name.clone(), channel);
                let summary = TraceSummary { ps_name: ps_name.clone(), cell_id, device: device.clone(), name: name.clone(), channel, units: o.units.clone() };
                candidates.entry(key).or_insert_with(|| TracePick { summary, pieces: Vec::new() }).pieces.push((i, in_object));
            }
        }
    }
    let count = candidates.len();
    if let Some(wanted) = &options.cells {
        let have: std::collections::BTreeSet<i64> = candidates.keys().map(|k| k.1).collect();
        if let Some(missing) = wanted.iter().find(|c| !have.contains(c)) {
            let some: Vec<String> = have.iter().take(20).map(i64::to_string).collect();
            let more = if have.len() > 20 { ", ..." } else { "" };
            return Err(Error::invalid(
                format!("cells to trace in segments {}..{} of '{}'", segments.start, segments.end, path.display()),
                format!("cell {missing} has no signal recording (cells with one: {}{more})", if some.is_empty() { "none".into() } else { some.join(", ") }),
            ));
        }
    }
    let mut ranked: Vec<(usize, TracePick)> = Vec::new();
    let mut previous: Option<Key> = None;
    let mut within = 0;
    for ((ps, cell, ..), pick) in candidates {
        if options.cells.as_ref().is_some_and(|c| !c.contains(&cell)) {
            continue;
        }
        let this = Some((ps, cell));
        within = if this == previous { within + 1 } else { 0 };
        previous = this;
        ranked.push((within, pick));
    }
    ranked.sort_by_key(|(within, _)| *within);
    Ok((ranked.into_iter().take(options.traces).map(|(_, p)| p).collect(), count))
}

/// Reads the traces' samples, each object once.
fn load_traces(file: &NioFile, listing: &Listing, picks: Vec<TracePick>) -> Result<Vec<Trace>> {
    let mut wanted: Vec<(usize, usize, usize, usize)> = Vec::new();
    for (t, pick) in picks.iter().enumerate() {
        wanted.extend(pick.pieces.iter().enumerate().map(|(p, (object, channel))| (*object, *channel, t, p)));
    }
    wanted.sort_unstable();
    let mut traces: Vec<Trace> = picks.into_iter().map(|p| Trace { pieces: vec![Piece { t_start: 0.0, step: 1.0, samples: Vec::new() }; p.pieces.len()], summary: p.summary }).collect();
    let mut loaded: Option<(usize, Object)> = None;
    for (object, channel, t, p) in wanted {
        if loaded.as_ref().is_none_or(|(o, _)| *o != object) {
            loaded = Some((object, file.load(&listing.objects[object])?));
        }
        let Some((_, Object::AnalogSignal(signal))) = &loaded else { continue };
        let to_ms = seconds_per(signal.time_units()).map_or(1.0, |s| s * 1000.0);
        traces[t].pieces[p] = Piece { t_start: signal.t_start() * to_ms, step: signal.sampling_period() * to_ms, samples: signal.channel(channel).to_vec() };
    }
    Ok(traces)
}

/// `1234567` → `1,234,567`.
pub(crate) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The line under the title: what is shown, and whether the raster is binned.
fn notes(segments: &Range<usize>, count: usize, raster: &Raster, traces: &[Trace], candidates: usize, groups: usize) -> String {
    let mut parts = vec![
        format!("segments {}..{} of {count}, {}–{} ms", segments.start, segments.end, raster.t0, raster.t1),
        format!("{} spikes of {} cells in {groups} placement sets", thousands(raster.spikes), thousands(raster.rows)),
        format!("traces: {} of {} signal channels", traces.len(), candidates),
        format!("rate bins {} ms", raster.rates.bin_ms),
    ];
    if let super::raster::Marks::Density(d) = &raster.marks {
        parts.push(format!("raster binned: {} × {} density image (shade: log of the count)", d.columns, d.bands));
    }
    parts.join(" · ")
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(10_000_000), "10,000,000");
    }
}
