//! `plot`: a figure of a run (spike raster, rates, traces) as SVG or PNG.

use std::path::PathBuf;
use std::time::Instant;

use bsb_results::plot::{PlotOptions, Segments, render};

use super::inspect::Select;

/// Draw a run: a spike raster of every recorded cell, the firing rate of each placement
/// set, and membrane traces, into one SVG or PNG figure.
///
/// Cells are grouped by placement set and ordered by id, one colour per placement set.
/// Multiplexed recordings are demultiplexed. A raster with more spikes than pixels (or
/// than --max-marks) is drawn as a density image, and the figure says so. Prints what it
/// drew as one JSON line.
#[derive(Debug, clap::Args)]
pub(crate) struct PlotArgs {
    #[command(flatten)]
    pub(crate) select: Select,
    /// The figure file: FILE.svg or FILE.png (replaced once complete).
    #[arg(long)]
    out: PathBuf,
    /// Segments by index in the run: 0..3 (half-open), 0..=2, 2.., ..2 or 4; default all.
    #[arg(long, value_parser = parse_segments)]
    segments: Option<Segments>,
    /// Bin width of the rate histogram in ms; default: about 100 bins over the time shown.
    #[arg(long)]
    bin_ms: Option<f64>,
    /// Signal channels to draw as traces (one per cell first, in the raster's order).
    #[arg(long, default_value_t = 5)]
    traces: usize,
    /// Draw the traces of these cell ids instead, e.g. 1,2,3.
    #[arg(long, value_delimiter = ',')]
    cells: Option<Vec<i64>>,
    /// Figure width in pixels.
    #[arg(long, default_value_t = 1200)]
    width: u32,
    /// Figure height in pixels; default: what fits the traces.
    #[arg(long)]
    height: Option<u32>,
    /// Bin the raster into a density image above this many spikes (it is binned anyway
    /// when the spikes outnumber its pixels).
    #[arg(long, default_value_t = 100_000)]
    max_marks: usize,
}

fn parse_segments(s: &str) -> Result<Segments, String> {
    s.parse().map_err(|e: bsb_results::Error| e.to_string())
}

pub(crate) fn plot(args: &PlotArgs) -> bsb_results::Result<String> {
    let start = Instant::now();
    let mut options = PlotOptions::new().traces(args.traces).width(args.width).max_marks(args.max_marks);
    let select = &args.select;
    if let Some(run) = &select.run {
        options = options.run(run.clone());
    }
    if let Some(index) = select.run_index {
        options = options.run_index(index);
    }
    if let Some(segments) = args.segments {
        options = options.segments(segments);
    }
    if let Some(bin) = args.bin_ms {
        options = options.bin_ms(bin);
    }
    if let Some(cells) = &args.cells {
        options = options.cells(cells.clone());
    }
    if let Some(height) = args.height {
        options = options.height(height);
    }
    let summary = render(&select.file, &args.out, &options)?;
    let mut json = serde_json::to_value(&summary).expect("plain data");
    json["out"] = serde_json::json!(args.out);
    json["seconds"] = serde_json::json!(start.elapsed().as_secs_f64());
    Ok(json.to_string())
}
