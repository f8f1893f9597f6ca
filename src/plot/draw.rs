//! Drawing a scene with `plotters`, on any of its back ends: title, raster with legend,
//! rates, traces. A density raster is laid over the raster's plotting area afterwards
//! (see `encode`).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::layout::{Layout, MARGIN_BOTTOM, MARGIN_LEFT, MARGIN_TOP, Panel, RIGHT, Rect, X_LABELS, Y_LABELS};
use super::raster::Marks;
use super::scene::{Piece, Scene};

/// The font family every text uses: DejaVu Sans, bundled (no system font library).
const FONT: &str = "sans-serif";

/// The colour of placement set `i` (matplotlib's ten, then again).
pub(crate) fn colour(i: usize) -> [u8; 3] {
    const PALETTE: [[u8; 3]; 10] = [
        [0x1f, 0x77, 0xb4],
        [0xff, 0x7f, 0x0e],
        [0x2c, 0xa0, 0x2c],
        [0xd6, 0x27, 0x28],
        [0x94, 0x67, 0xbd],
        [0x8c, 0x56, 0x4b],
        [0xe3, 0x77, 0xc2],
        [0x7f, 0x7f, 0x7f],
        [0xbc, 0xbd, 0x22],
        [0x17, 0xbe, 0xcf],
    ];
    PALETTE[i % PALETTE.len()]
}

fn rgb(i: usize) -> RGBColor {
    let [r, g, b] = colour(i);
    RGBColor(r, g, b)
}

/// Registers the bundled font with `plotters` (once per process).
pub(crate) fn register_font() -> Result<(), String> {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok());
    if ok { Ok(()) } else { Err("the bundled font could not be read".into()) }
}

/// Draws `scene` on `root` as `layout` places it.
pub(crate) fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, scene: &Scene, layout: &Layout) -> Result<(), String> {
    let fail = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(fail)?;
    let left = i32::try_from(MARGIN_LEFT).unwrap_or(0);
    root.draw(&Text::new(scene.title.as_str(), (left, 10), (FONT, 20).into_font())).map_err(fail)?;
    root.draw(&Text::new(scene.notes.as_str(), (left, 36), (FONT, 13).into_font().color(&RGBColor(80, 80, 80)))).map_err(fail)?;
    raster(root, scene, layout.raster)?;
    rates(root, scene, layout.rate)?;
    for (i, (trace, panel)) in scene.traces.iter().zip(&layout.traces).enumerate() {
        let label = format!("{} {} · {} {}{}", trace.summary.ps_name, trace.summary.cell_id, trace.summary.device, trace.summary.name, channel_suffix(trace.summary.channel));
        let group = scene.groups.iter().position(|g| g.name == trace.summary.ps_name).unwrap_or(i);
        let last = i + 1 == scene.traces.len();
        let axis = format!("{} ({})", trace.summary.name, trace.summary.units);
        line_panel(root, scene, *panel, &axis, last, &label, group, &trace.pieces)?;
    }
    Ok(())
}

/// A tick label: the number without float noise or trailing zeros (`100`, `0.25`).
fn tick(v: &f64) -> String {
    let text = format!("{v:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0".into() } else { text.to_owned() }
}

fn channel_suffix(channel: usize) -> String {
    if channel == 0 { String::new() } else { format!(" [channel {channel}]") }
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>>;

/// A chart over `panel` with the time axis `t0..t1` and `y`, checked to plot exactly in
/// the layout's plotting area (the density raster was binned to it).
fn chart<'a, DB: DrawingBackend>(root: &'a DrawingArea<DB, Shift>, scene: &Scene, panel: Panel, y: std::ops::Range<f64>) -> Result<Chart<'a, DB>, String> {
    let a = panel.area;
    let area = root.clone().shrink((a.left, a.top), (a.right - a.left, a.bottom - a.top));
    let chart = ChartBuilder::on(&area)
        .margin_left(MARGIN_LEFT)
        .margin_top(MARGIN_TOP)
        .margin_bottom(MARGIN_BOTTOM)
        .margin_right(RIGHT)
        .x_label_area_size(X_LABELS)
        .y_label_area_size(Y_LABELS)
        .build_cartesian_2d(scene.raster.t0..scene.raster.t1, y)
        .map_err(|e| e.to_string())?;
    let (x, y) = chart.plotting_area().get_pixel_range();
    let p = panel.plot;
    if (x.start, x.end, y.start, y.end) != (p.left, p.right, p.top, p.bottom) {
        return Err(format!("the chart plots in {x:?} × {y:?}, not in the planned {p:?}"));
    }
    Ok(chart)
}

fn raster<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, scene: &Scene, panel: Panel) -> Result<(), String> {
    let fail = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    #[allow(clippy::cast_precision_loss)]
    let rows = scene.raster.rows.max(1) as f64;
    let mut chart = chart(root, scene, panel, 0.0..rows)?;
    // y counts rows from the bottom; row 0 is at the top.
    let cell_at = |y: &f64| {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let row = (rows - y).floor().max(0.0) as usize;
        scene.cell_ids.get(row).map_or_else(String::new, i64::to_string)
    };
    axes(&mut chart, "time (ms)", "cell id, by placement set", 10, &cell_at)?;
    let plot = panel.plot;
    for b in &scene.boundaries {
        chart.draw_series(std::iter::once(PathElement::new(vec![(*b, 0.0), (*b, rows)], RGBColor(150, 150, 150)))).map_err(fail)?;
    }
    for g in scene.groups.iter().skip(1) {
        let y = plot.top + band(plot, scene.raster.rows, g.first_row).0;
        root.draw(&PathElement::new(vec![(plot.left, y), (plot.right - 1, y)], RGBColor(200, 200, 200))).map_err(fail)?;
    }
    if let Marks::Points(points) = &scene.raster.marks {
        for (t, row) in points {
            let row = usize::try_from(*row).unwrap_or(0);
            let (top, bottom) = band(plot, scene.raster.rows, row);
            let mark = ((bottom - top) * 4 / 5).max(1);
            let y = plot.top + top + (bottom - top - mark) / 2;
            let x = chart.backend_coord(&(*t, 0.0)).0;
            let style = rgb(scene.group_of(row)).filled();
            root.draw(&Rectangle::new([(x, y), (x + 1, y + mark)], style)).map_err(fail)?;
        }
    }
    legend(root, scene, plot)
}

/// Draws a chart's axes in the figure's style: no grid; times and `y_labels` values
/// labelled; both axes described.
fn axes<DB: DrawingBackend>(chart: &mut Chart<'_, DB>, x_desc: &str, y_desc: &str, y_labels: usize, y_format: &dyn Fn(&f64) -> String) -> Result<(), String> {
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .y_labels(y_labels)
        .x_label_formatter(&tick)
        .y_label_formatter(y_format)
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 13))
        .draw()
        .map_err(|e| e.to_string())
}

/// The pixel rows `top..bottom` of raster row `row` of `rows`, from the plotting area's top.
pub(crate) fn band(plot: Rect, rows: usize, row: usize) -> (i32, i32) {
    let h = i64::from(plot.bottom - plot.top);
    let rows = i64::try_from(rows.max(1)).unwrap_or(i64::MAX);
    let row = i64::try_from(row).unwrap_or(i64::MAX);
    let at = |r: i64| i32::try_from(r * h / rows).unwrap_or(i32::MAX);
    (at(row), at(row + 1))
}

/// The placement sets beside the raster: a swatch, the name and the cell count each.
fn legend<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, scene: &Scene, plot: Rect) -> Result<(), String> {
    let fail = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let x = plot.right + 16;
    let fits = usize::try_from((plot.bottom - plot.top) / 20).unwrap_or(0).max(1);
    let shown = if scene.groups.len() > fits { fits - 1 } else { scene.groups.len() };
    let mut y = plot.top + 4;
    for (i, g) in scene.groups.iter().enumerate().take(shown) {
        root.draw(&Rectangle::new([(x, y), (x + 12, y + 12)], rgb(i).filled())).map_err(fail)?;
        let text = format!("{} ({} cells)", g.name, super::scene::thousands(g.cells));
        root.draw(&Text::new(text, (x + 18, y), (FONT, 13).into_font())).map_err(fail)?;
        y += 20;
    }
    if shown < scene.groups.len() {
        root.draw(&Text::new(format!("… and {} more", scene.groups.len() - shown), (x, y), (FONT, 13).into_font())).map_err(fail)?;
    }
    Ok(())
}

fn rates<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, scene: &Scene, panel: Panel) -> Result<(), String> {
    let fail = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let r = &scene.raster;
    let series: Vec<Vec<(f64, f64)>> = scene
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| r.rates.hz(i, g.cells, r.t0, r.t1).into_iter().flat_map(|(start, stop, hz)| [(start, hz), (stop, hz)]).collect())
        .collect();
    let top = series.iter().flatten().map(|p| p.1).fold(0.0, f64::max);
    let mut chart = chart(root, scene, panel, 0.0..if top > 0.0 { top * 1.1 } else { 1.0 })?;
    axes(&mut chart, &format!("time (ms); bins of {} ms", r.rates.bin_ms), "rate (Hz)", 10, &tick)?;
    for (i, points) in series.into_iter().enumerate() {
        chart.draw_series(std::iter::once(PathElement::new(points, rgb(i).stroke_width(2)))).map_err(fail)?;
    }
    Ok(())
}

/// A trace panel: the pieces (one per segment) as lines, at most two points per pixel
/// column.
#[allow(clippy::too_many_arguments)]
fn line_panel<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, scene: &Scene, panel: Panel, axis: &str, last: bool, label: &str, group: usize, pieces: &[Piece]) -> Result<(), String> {
    let fail = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let (lo, hi) = pieces.iter().flat_map(|p| p.samples.iter()).filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let (lo, hi) = if lo < hi { (lo - (hi - lo) * 0.05, hi + (hi - lo) * 0.05) } else if lo.is_finite() { (lo - 1.0, lo + 1.0) } else { (0.0, 1.0) };
    let mut chart = chart(root, scene, panel, lo..hi)?;
    axes(&mut chart, if last { "time (ms)" } else { "" }, axis, 4, &tick)?;
    let columns = panel.plot.width().max(1);
    for piece in pieces {
        let points = decimate(piece, scene.raster.t0, scene.raster.t1, columns);
        chart.draw_series(std::iter::once(PathElement::new(points, rgb(group)))).map_err(fail)?;
    }
    let at = (panel.plot.left + 6, panel.plot.top + 2);
    root.draw(&Text::new(label, at, (FONT, 12).into_font().color(&RGBColor(60, 60, 60)))).map_err(fail)?;
    Ok(())
}

/// The points of a piece to draw over `columns` pixels for `t0..t1`: every sample when
/// they are few, else the lowest and highest sample of each pixel column, in time order.
/// Samples that are not finite are left out.
pub(crate) fn decimate(piece: &Piece, t0: f64, t1: f64, columns: usize) -> Vec<(f64, f64)> {
    #[allow(clippy::cast_precision_loss)]
    let time = |i: usize| piece.t_start + i as f64 * piece.step;
    let finite = |&(_, v): &(f64, f64)| v.is_finite();
    #[allow(clippy::cast_precision_loss)]
    let per_column = (t1 - t0) / columns as f64;
    let n = piece.samples.len();
    #[allow(clippy::cast_precision_loss)]
    if piece.step * 2.0 >= per_column || n <= 2 * columns {
        return piece.samples.iter().enumerate().map(|(i, v)| (time(i), *v)).filter(finite).collect();
    }
    let mut out = Vec::with_capacity(4 * columns);
    let mut i = 0;
    while i < n {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let column = ((time(i) - t0) / per_column).floor().max(0.0) as usize;
        let (mut lo, mut hi) = (None::<(usize, f64)>, None::<(usize, f64)>);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        while i < n && ((time(i) - t0) / per_column).floor().max(0.0) as usize == column {
            let v = piece.samples[i];
            if v.is_finite() {
                lo = Some(lo.map_or((i, v), |l| if v < l.1 { (i, v) } else { l }));
                hi = Some(hi.map_or((i, v), |h| if v > h.1 { (i, v) } else { h }));
            }
            i += 1;
        }
        let mut pair: Vec<(usize, f64)> = lo.into_iter().chain(hi).collect();
        pair.sort_by_key(|p| p.0);
        pair.dedup_by_key(|p| p.0);
        out.extend(pair.into_iter().map(|(j, v)| (time(j), v)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_traces_keep_each_columns_extremes() {
        let samples: Vec<f64> = (0..10_000).map(|i| if i % 100 == 50 { 10.0 } else { f64::from(i % 7) - 60.0 }).collect();
        let piece = Piece { t_start: 0.0, step: 0.1, samples };
        let points = decimate(&piece, 0.0, 1000.0, 100);
        assert!(points.len() <= 200, "{} points for 100 columns", points.len());
        assert_eq!(points.iter().filter(|p| p.1 == 10.0).count(), 100, "every spike-like peak survives");
        assert!(points.windows(2).all(|w| w[0].0 <= w[1].0), "in time order");
        let short = Piece { t_start: 5.0, step: 1.0, samples: vec![1.0, f64::NAN, 3.0] };
        assert_eq!(decimate(&short, 0.0, 10.0, 100), vec![(5.0, 1.0), (7.0, 3.0)]);
    }

    #[test]
    fn ticks_read_as_people_write_numbers() {
        assert_eq!(tick(&100.0), "100");
        assert_eq!(tick(&0.30000000000000004), "0.3");
        assert_eq!(tick(&-65.5), "-65.5");
        assert_eq!(tick(&-0.0000001), "0");
    }

    #[test]
    fn bands_split_the_plot_height() {
        let plot = Rect { left: 0, top: 10, right: 100, bottom: 110 };
        assert_eq!(band(plot, 4, 0), (0, 25));
        assert_eq!(band(plot, 4, 3), (75, 100));
        assert_eq!(band(plot, 1000, 999), (99, 100));
    }
}
