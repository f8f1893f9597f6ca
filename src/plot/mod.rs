//! Figures of a run: a spike raster, population rates and membrane traces, straight from
//! the file ([`render`]).
//!
//! One figure per run and range of segments: every recorded cell's spikes (time on x;
//! cells grouped by placement set and ordered by id on y; one colour per placement set),
//! the firing rate of each placement set beneath, and up to [`PlotOptions::traces`] signal
//! channels. Multiplexed recordings are demultiplexed as [`crate::iter_recordings`] does.
//! A raster with more spikes than its pixels (or than [`PlotOptions::max_marks`]) is drawn
//! as a density image, so memory stays bounded by the largest object of the file plus the
//! image. SVG and PNG, drawn with `plotters` and a bundled font: no system font library and
//! no Python.
//!
//! ```no_run
//! use bsb_results::plot::{PlotOptions, Segments, render};
//! # fn main() -> bsb_results::Result<()> {
//! let options = PlotOptions::new().segments("0..3".parse::<Segments>()?).traces(3);
//! let summary = render("run.nio", "run.svg", &options)?;
//! println!("{} spikes of {} cells", summary.spikes, summary.cells);
//! # Ok(())
//! # }
//! ```

mod draw;
mod encode;
mod layout;
mod options;
mod raster;
mod scene;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::reader::NioFile;

pub use options::{PlotOptions, Segments};

/// The image format of a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Scalable vector graphics (a density raster is embedded as a PNG image).
    Svg,
    /// A PNG bitmap.
    Png,
}

impl Format {
    /// The format a file name asks for: `.svg` or `.png`.
    ///
    /// # Errors
    /// [`Error::Validation`] naming the path for any other extension.
    pub fn from_path(path: &Path) -> Result<Format> {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("svg") => Ok(Format::Svg),
            Some("png") => Ok(Format::Png),
            _ => Err(Error::invalid(format!("figure file '{}'", path.display()), "its name must end in .svg or .png")),
        }
    }
}

/// What a figure shows, and where (pixel coordinates from the top left).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlotSummary {
    pub format: Format,
    /// The figure's size in pixels.
    pub width: u32,
    pub height: u32,
    /// The run's name.
    pub run: String,
    /// The segments shown (indices in the run, half-open).
    pub segments: std::ops::Range<usize>,
    /// The time axis, in ms.
    pub t_start_ms: f64,
    pub t_stop_ms: f64,
    /// Cells with a spike recording, and the spikes drawn.
    pub cells: usize,
    pub spikes: usize,
    /// Per placement set, in the raster's order (top to bottom).
    pub placement_sets: Vec<PlacementSet>,
    /// Whether the raster is a density image rather than one mark per spike.
    pub binned: bool,
    /// The rate histogram's bin width in ms.
    pub bin_ms: f64,
    /// The traces drawn, top to bottom.
    pub traces: Vec<TraceSummary>,
    /// Signal channels there were to choose from.
    pub trace_candidates: usize,
    /// The raster's plotting area `[left, top, right, bottom]`, inclusive pixels: time
    /// `t_start_ms` is at `left`, `t_stop_ms` at `right`; the first cell's row starts at `top`.
    pub raster_area: [i32; 4],
}

/// One placement set of the raster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlacementSet {
    pub name: String,
    pub cells: usize,
    pub spikes: usize,
    /// Its colour, `#rrggbb`.
    pub colour: String,
}

/// One trace of the figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceSummary {
    pub ps_name: String,
    pub cell_id: i64,
    pub device: String,
    /// The recorded quantity (the signal's name).
    pub name: String,
    /// The channel within the recording (0 for a one-channel recording).
    pub channel: usize,
    pub units: String,
}

/// Draws the figure of `input` into `out` (`.svg` or `.png`), replacing it only once the
/// figure is complete.
///
/// # Errors
/// [`Error::Validation`] for bad options or an `out` that is not `.svg`/`.png` or is the
/// input itself (checked before reading); the reader's errors ([`Error::Format`] naming
/// the file and object); [`Error::Draw`]; [`Error::Io`] when `out` cannot be written.
pub fn render(input: impl AsRef<Path>, out: impl AsRef<Path>, options: &PlotOptions) -> Result<PlotSummary> {
    let (input, out) = (input.as_ref(), out.as_ref());
    let format = Format::from_path(out)?;
    options.validate()?;
    check_target(input, out)?;
    let (bytes, summary) = render_bytes(input, format, options)?;
    write_whole(out, &bytes)?;
    Ok(summary)
}

/// Draws the figure of `input` in memory: the file's bytes (SVG text or PNG) and what it
/// shows.
///
/// # Errors
/// As [`render`], without the output file's.
pub fn render_bytes(input: impl AsRef<Path>, format: Format, options: &PlotOptions) -> Result<(Vec<u8>, PlotSummary)> {
    let input = input.as_ref();
    options.validate()?;
    let file = NioFile::open(input)?;
    let run = match &options.run {
        Some(name) => file.run(name, options.run_index)?,
        None => file.runs()?.into_iter().next().ok_or_else(|| Error::Format { path: input.into(), problem: "it holds no run (no Block)".into() })?,
    };
    let listing = file.list(&run, true)?;
    let plan = scene::Plan::new(input, &listing, options)?;
    let layout = layout::Layout::new(options.width, options.height, plan.traces.len()).map_err(|problem| Error::invalid("figure size", problem))?;
    let scene = plan.load(&file, &listing, &layout, options)?;
    let drawn = encode::encode(&scene, &layout, format).map_err(|problem| Error::Draw { path: input.into(), problem })?;
    let summary = scene.summary(format, &layout, run.name.unwrap_or_default());
    Ok((drawn, summary))
}

/// Refuses an output path that is the input file or lies in a missing directory.
fn check_target(input: &Path, out: &Path) -> Result<()> {
    let what = || format!("figure file '{}'", out.display());
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(Error::invalid(what(), format!("its directory '{}' does not exist", dir.display())));
    }
    if out.is_dir() {
        return Err(Error::invalid(what(), "it is a directory"));
    }
    let same = match (std::fs::canonicalize(input), std::fs::canonicalize(out)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Err(Error::invalid(what(), "it is the results file itself, which the figure would replace"));
    }
    Ok(())
}

/// Writes `bytes` beside `out` and renames them into place: `out` is never half-written.
fn write_whole(out: &Path, bytes: &[u8]) -> Result<()> {
    let name = out.file_name().map_or_else(|| "figure".into(), |n| n.to_string_lossy().into_owned());
    let partial = out.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let written = std::fs::write(&partial, bytes).map_err(|e| Error::io("write", &partial, e));
    let renamed = written.and_then(|()| std::fs::rename(&partial, out).map_err(|e| Error::io("rename", out, e)));
    if renamed.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    renamed
}
