//! Figures of small known files, written here with the library (one object per cell, and
//! the same recordings multiplexed): the SVG has one raster mark per spike, at the spike's
//! time and in its cell's row, with the time axis spanning the segments shown and every
//! placement set in the legend; the PNG has the expected size and the marks' colours
//! where the spikes are; a density raster says so; bad options and files get named
//! errors; the command line draws in a child process. (`harness = false`: MPI
//! initializes once.)

use std::path::Path;
use std::process::Command;

use bsb_results::plot::{Format, PlotOptions, PlotSummary, Segments, render, render_bytes};
use bsb_results::{AnalogSignal, Annotations, CellTarget, Device, Direction, ErrorKind, FileMode, Meta, RunInfo, SimulationResult, SpikeTrain, contract, multiplex};
use mpi::topology::SimpleCommunicator;

/// The segments' times in ms.
const SEGMENTS: [(f64, f64); 2] = [(0.0, 50.0), (50.0, 100.0)];

/// Placement set, cell id and spike times per segment.
type Cell = (&'static str, i64, [&'static [f64]; 2]);
const CELLS: &[Cell] = &[
    ("granule", 0, [&[1.0, 12.5, 49.0], &[60.0]]),
    ("granule", 1, [&[], &[75.5, 99.0]]),
    ("granule", 2, [&[25.0], &[]]),
    ("golgi", 5, [&[5.0, 45.0], &[55.0, 95.0]]),
    ("golgi", 7, [&[30.0], &[80.0]]),
    ("purkinje", 9, [&[], &[]]),
];
/// The raster's rows: placement sets by name, cells by id.
const ROWS: [(&str, i64); 6] = [("golgi", 5), ("golgi", 7), ("granule", 0), ("granule", 1), ("granule", 2), ("purkinje", 9)];
/// Cells with a voltmeter.
const TRACED: [(&str, i64); 2] = [("granule", 0), ("golgi", 5)];
const PERIOD_MS: f64 = 0.5;

fn samples(cell: i64, t_start: f64) -> Vec<f64> {
    #[allow(clippy::cast_precision_loss)]
    (0..100).map(|i| -65.0 + (cell as f64) + ((t_start + f64::from(i) * PERIOD_MS) / 10.0).sin()).collect()
}

/// Writes the known run to `path`, one object per cell or multiplexed.
fn write(world: &SimpleCommunicator, path: &Path, multiplexed: bool) -> bsb_results::Result<()> {
    let info = RunInfo { duration_ms: Some(100.0), resolution_ms: Some(PERIOD_MS), ..RunInfo::default() };
    let mut result = SimulationResult::new(world, "known", serde_json::json!({}), info)?;
    result.create_recorder(Device::new("spikes", "spike_recorder"), Meta::new(), move |ctx| {
        let segment = ctx.checkpoint_index();
        let (t_start, t_stop) = (ctx.t_start_ms(), ctx.t_stop_ms());
        if !multiplexed {
            for (ps, id, times) in CELLS {
                ctx.push_spiketrain(ctx.spike_train(&CellTarget::new(*ps, *id, "m"), times[segment].to_vec(), t_stop).t_start(t_start).build()?);
            }
        } else {
            let targets: Vec<Annotations> = CELLS.iter().map(|(ps, id, _)| multiplex::cell_target(&CellTarget::new(*ps, *id, "m"), Direction::Record)).collect();
            let mut spikes: Vec<(f64, i64)> = (0i64..).zip(CELLS).flat_map(|(i, (_, _, times))| times[segment].iter().map(move |t| (*t, i))).collect();
            spikes.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (times, index): (Vec<f64>, Vec<i64>) = spikes.into_iter().unzip();
            let train = SpikeTrain::builder(times, t_stop)
                .t_start(t_start)
                .name("spikes")
                .annotate_all(&contract::baseline(ctx.device(), "cell", ctx.ids()))
                .annotate_all(&multiplex::multiplex_targets(&targets)?)
                .array_annotate(multiplex::TARGET_INDEX, index);
            ctx.push_spiketrain(train.build()?);
        }
        // A stimulus has no cell anchor: no row of the raster.
        ctx.push_spiketrain(ctx.stimulus_train(vec![t_start + 1.0], 3, t_stop).t_start(t_start).build()?);
        Ok(())
    })?;
    result.create_recorder(Device::new("vm", "voltmeter"), Meta::new(), move |ctx| {
        let t_start = ctx.t_start_ms();
        if !multiplexed {
            for (ps, id) in TRACED {
                ctx.push_analogsignal(ctx.analog_signal(&CellTarget::new(ps, id, "m"), "V_m", "mV", PERIOD_MS, samples(id, t_start)).t_start(t_start).build()?);
            }
        } else {
            let targets: Vec<Annotations> = TRACED.iter().map(|(ps, id)| multiplex::cell_target(&CellTarget::new(*ps, *id, "m"), Direction::Record)).collect();
            let (base, arrays) = multiplex::multiplex_channels(&targets)?;
            let channels = TRACED.iter().map(|(_, id)| samples(*id, t_start)).collect();
            let mut signal = AnalogSignal::from_channels(channels, "mV", PERIOD_MS)
                .name("V_m")
                .t_start(t_start)
                .annotate_all(&contract::baseline(ctx.device(), "cell", ctx.ids()))
                .annotate_all(&base);
            for (k, v) in arrays.iter() {
                signal = signal.array_annotate(k, v.clone());
            }
            ctx.push_analogsignal(signal.build()?);
        }
        Ok(())
    })?;
    for (_, stop) in SEGMENTS {
        result.flush_until(stop, &serde_json::json!({}))?;
    }
    result.write(path, FileMode::Overwrite)?;
    Ok(())
}

/// The spikes of `segments`: (row, time).
fn spikes(segments: std::ops::Range<usize>) -> Vec<(usize, f64)> {
    let mut out = Vec::new();
    for (ps, id, times) in CELLS {
        let row = ROWS.iter().position(|r| r == &(*ps, *id)).unwrap();
        for s in segments.clone() {
            out.extend(times[s].iter().map(|t| (row, *t)));
        }
    }
    out
}

/// Where a spike is drawn: its pixel column and its row's pixel rows.
fn place(summary: &PlotSummary, row: usize, t: f64) -> (f64, i32, i32) {
    let [left, top, right, bottom] = summary.raster_area;
    let x = f64::from(left) + (t - summary.t_start_ms) / (summary.t_stop_ms - summary.t_start_ms) * f64::from(right - left);
    let h = i64::from(bottom - top + 1);
    let rows = i64::try_from(ROWS.len()).unwrap();
    let band = |r: i64| top + i32::try_from(r * h / rows).unwrap();
    let row = i64::try_from(row).unwrap();
    (x, band(row), band(row + 1))
}

/// An attribute of one SVG element's text.
fn attr<'a>(element: &'a str, name: &str) -> Option<&'a str> {
    let start = element.find(&format!(" {name}=\""))? + name.len() + 3;
    element[start..].split('"').next()
}

fn number(element: &str, name: &str) -> f64 {
    attr(element, name).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

/// The `<rect>`s filled with a placement set's colour inside the raster's area:
/// `(x, y, colour)`.
fn marks(svg: &str, summary: &PlotSummary) -> Vec<(f64, f64, String)> {
    let colours: Vec<String> = summary.placement_sets.iter().map(|p| p.colour.to_ascii_lowercase()).collect();
    let [left, top, right, bottom] = summary.raster_area.map(f64::from);
    svg.lines()
        .filter(|l| l.starts_with("<rect"))
        .filter_map(|l| {
            let (x, y) = (number(l, "x"), number(l, "y"));
            let fill = attr(l, "fill")?.to_ascii_lowercase();
            (colours.contains(&fill) && (left..=right).contains(&x) && (top..=bottom).contains(&y)).then_some((x, y, fill))
        })
        .collect()
}

/// The texts of the SVG with their positions: `(x, y, text)`.
fn texts(svg: &str) -> Vec<(f64, f64, String)> {
    svg.split("<text").skip(1).map(|chunk| {
        let (head, rest) = chunk.split_once('>').unwrap_or((chunk, ""));
        let body = rest.split("</text>").next().unwrap_or("").trim().to_owned();
        (number(head, "x"), number(head, "y"), body)
    }).collect()
}

/// Everything the SVG of the segments `segments` must show; problems found.
fn check_svg(svg: &str, summary: &PlotSummary, segments: std::ops::Range<usize>, binned: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let mut expect = |ok: bool, what: String| {
        if !ok {
            problems.push(what);
        }
    };
    let known = spikes(segments.clone());
    let (t0, t1) = (SEGMENTS[segments.start].0, SEGMENTS[segments.end - 1].1);
    expect((summary.t_start_ms, summary.t_stop_ms) == (t0, t1), format!("time axis {}..{} ms, not the segments' {t0}..{t1}", summary.t_start_ms, summary.t_stop_ms));
    expect(summary.spikes == known.len() && summary.cells == ROWS.len(), format!("{} spikes of {} cells, not {} of {}", summary.spikes, summary.cells, known.len(), ROWS.len()));
    expect(summary.binned == binned, format!("binned: {}", summary.binned));
    let found = marks(svg, summary);
    if binned {
        expect(found.is_empty(), format!("a binned raster has {} marks", found.len()));
        expect(svg.contains("<image") && svg.contains("data:image/png;base64,"), "no density image in the SVG".into());
        expect(texts(svg).iter().any(|t| t.2.contains("raster binned")), "the figure does not say the raster is binned".into());
    } else {
        expect(found.len() == known.len(), format!("{} raster marks for {} spikes", found.len(), known.len()));
        let mut left = found.clone();
        for (row, t) in &known {
            let (x, top, bottom) = place(summary, *row, *t);
            let colour = summary.placement_sets.iter().find(|p| p.name == ROWS[*row].0).map(|p| p.colour.to_ascii_lowercase()).unwrap_or_default();
            let hit = left.iter().position(|(mx, my, c)| (mx - x).abs() <= 1.0 && *my >= f64::from(top) && *my < f64::from(bottom) && *c == colour);
            expect(hit.is_some(), format!("no {colour} mark near x {x:.1}, y {top}..{bottom} for the spike at {t} ms of row {row}"));
            if let Some(i) = hit {
                left.remove(i);
            }
        }
    }
    // The x axis's tick labels lie where their times are, within the segments' span.
    let [left, _, right, bottom] = summary.raster_area.map(f64::from);
    let ticks: Vec<(f64, f64)> = texts(svg)
        .into_iter()
        .filter(|(_, y, _)| *y > bottom && *y < bottom + 30.0)
        .filter_map(|(x, _, text)| Some((x, text.parse::<f64>().ok()?)))
        .collect();
    expect(ticks.len() >= 3, format!("{} time ticks under the raster", ticks.len()));
    for (x, v) in &ticks {
        let at = left + (v - t0) / (t1 - t0) * (right - left);
        expect(*v >= t0 && *v <= t1 && (x - at).abs() <= 2.0, format!("tick {v} at x {x}, not {at:.1} (axis {t0}..{t1})"));
    }
    expect(ticks.iter().any(|t| t.1 == t0) && ticks.iter().any(|t| t.1 == t1), format!("the time axis does not run from {t0} to {t1}: ticks {ticks:?}"));
    let all = texts(svg);
    for (ps, cells) in [("golgi", 2), ("granule", 3), ("purkinje", 1)] {
        expect(all.iter().any(|t| t.2 == format!("{ps} ({cells} cells)")), format!("{ps} is not in the legend"));
    }
    for label in ["time (ms)", "rate (Hz)", "V_m (mV)"] {
        expect(all.iter().any(|t| t.2.starts_with(label)), format!("no axis label {label:?}"));
    }
    expect(all.iter().any(|t| t.2.starts_with("run known · simulation ") && t.2.ends_with(" · 1 rank")), "no title with run, simulation id and rank count".into());
    problems
}

/// Everything the PNG must show: its size, the marks' colours where the spikes are, and
/// white where the cells without spikes are.
fn check_png(png_bytes: &[u8], summary: &PlotSummary, binned: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = match decoder.read_info() {
        Ok(r) => r,
        Err(e) => return vec![format!("not a PNG: {e}")],
    };
    let mut pixels = vec![0; reader.output_buffer_size().unwrap_or(0)];
    let info = reader.next_frame(&mut pixels).unwrap();
    if (info.width, info.height) != (summary.width, summary.height) || info.color_type != png::ColorType::Rgb {
        return vec![format!("{}×{} {:?}, not {}×{} RGB", info.width, info.height, info.color_type, summary.width, summary.height)];
    }
    let width = usize::try_from(info.width).unwrap();
    let at = |x: i32, y: i32| {
        let i = (usize::try_from(y).unwrap() * width + usize::try_from(x).unwrap()) * 3;
        [pixels[i], pixels[i + 1], pixels[i + 2]]
    };
    let white = [255, 255, 255];
    for (row, t) in spikes(0..2) {
        let (x, top, bottom) = place(summary, row, t);
        let colour = summary.placement_sets.iter().find(|p| p.name == ROWS[row].0).unwrap().colour.clone();
        let rgb = [1, 3, 5].map(|i| u8::from_str_radix(&colour[i..i + 2], 16).unwrap());
        #[allow(clippy::cast_possible_truncation)]
        let x = x.round() as i32;
        let y = (top + bottom) / 2;
        let shown = (x - 1..=x + 1).any(|x| if binned { at(x, y) != white && at(x, y)[0] != at(x, y)[1] } else { at(x, y) == rgb });
        if !shown {
            problems.push(format!("no {colour} at ({x}, {y}) for the spike at {t} ms of row {row}: {:?}", at(x, y)));
        }
    }
    // The cell without spikes: white along its row, but where the segments meet.
    let (_, top, bottom) = place(summary, 5, 0.0);
    let boundary = place(summary, 5, 50.0).0;
    let [left, _, right, _] = summary.raster_area;
    let stray = (left + 1..right).filter(|x| (f64::from(*x) - boundary).abs() > 2.0).find(|x| at(*x, (top + bottom) / 2) != white);
    if let Some(x) = stray {
        problems.push(format!("the row of the cell without spikes is not white at x {x}: {:?}", at(x, (top + bottom) / 2)));
    }
    problems
}

fn report(failed: &mut Vec<String>, name: &str, problems: Vec<String>) {
    if problems.is_empty() {
        println!("ok   {name}");
    } else {
        println!("FAIL {name}: {problems:#?}");
        failed.push(name.to_owned());
    }
}

fn svg_of(path: &Path, options: &PlotOptions) -> (String, PlotSummary) {
    let (bytes, summary) = render_bytes(path, Format::Svg, options).expect("the figure is drawn");
    (String::from_utf8(bytes).expect("SVG is text"), summary)
}

/// The error of `result`, if it is of `kind` and says `fragment`; else a problem.
fn named_error<T>(result: bsb_results::Result<T>, kind: ErrorKind, fragment: &str) -> Vec<String> {
    match result {
        Err(e) if e.kind() == kind && e.to_string().contains(fragment) => Vec::new(),
        Err(e) => vec![format!("{:?} error {e}, not {kind:?} saying {fragment:?}", e.kind())],
        Ok(_) => vec![format!("no error; expected {kind:?} saying {fragment:?}")],
    }
}

fn main() {
    let universe = mpi::initialize().expect("MPI initializes");
    let world = universe.world();
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let (plain, muxed) = (d.join("known.nio"), d.join("known-mux.nio"));
    write(&world, &plain, false).expect("the known run is written");
    write(&world, &muxed, true).expect("the multiplexed run is written");
    drop(world);
    drop(universe);
    let mut failed = Vec::new();

    let (svg, summary) = svg_of(&plain, &PlotOptions::new());
    report(&mut failed, "SVG: a mark per spike where it is, axes, legend, title", check_svg(&svg, &summary, 0..2, false));
    let names: Vec<&str> = summary.placement_sets.iter().map(|p| p.name.as_str()).collect();
    let counts: Vec<usize> = summary.placement_sets.iter().map(|p| p.spikes).collect();
    report(&mut failed, "placement sets in order, with their spikes", if names == ["golgi", "granule", "purkinje"] && counts == [6, 7, 0] { vec![] } else { vec![format!("{names:?} {counts:?}")] });
    let traced: Vec<(String, i64)> = summary.traces.iter().map(|t| (t.ps_name.clone(), t.cell_id)).collect();
    report(&mut failed, "traces: every voltmeter channel, in the raster's order", if traced == [("golgi".to_owned(), 5), ("granule".to_owned(), 0)] && summary.trace_candidates == 2 { vec![] } else { vec![format!("{traced:?} of {}", summary.trace_candidates)] });

    let (mux_svg, mux_summary) = svg_of(&muxed, &PlotOptions::new());
    let sorted = |mut m: Vec<(f64, f64, String)>| {
        m.sort_by(|a, b| a.partial_cmp(b).unwrap());
        m
    };
    let mut problems = check_svg(&mux_svg, &mux_summary, 0..2, false);
    if sorted(marks(&mux_svg, &mux_summary)) != sorted(marks(&svg, &summary)) {
        problems.push("the multiplexed run's marks differ from the per-cell run's".into());
    }
    if (&mux_summary.placement_sets, &mux_summary.traces) != (&summary.placement_sets, &summary.traces) {
        problems.push(format!("multiplexed: {:?} {:?}", mux_summary.placement_sets, mux_summary.traces));
    }
    report(&mut failed, "multiplexed recordings are demultiplexed first", problems);

    let (second, s) = svg_of(&plain, &PlotOptions::new().segments(Segments::range(1..2)));
    report(&mut failed, "--segments 1..2: the second segment's spikes and times", check_svg(&second, &s, 1..2, false));

    let (only, s) = svg_of(&plain, &PlotOptions::new().cells(vec![0]).bin_ms(25.0));
    let mut problems = check_svg(&only, &s, 0..2, false);
    if s.traces.len() != 1 || s.traces[0].cell_id != 0 || s.bin_ms != 25.0 {
        problems.push(format!("cells [0] and bin 25 ms drew traces {:?} with bins of {} ms", s.traces, s.bin_ms));
    }
    report(&mut failed, "--cells 0 --bin-ms 25", problems);

    let (dense, s) = svg_of(&plain, &PlotOptions::new().max_marks(1));
    report(&mut failed, "SVG: a density raster above --max-marks, and it says so", check_svg(&dense, &s, 0..2, true));

    let png_path = d.join("known.png");
    let problems = match render(&plain, &png_path, &PlotOptions::new()) {
        Ok(s) => check_png(&std::fs::read(&png_path).unwrap(), &s, false),
        Err(e) => vec![e.to_string()],
    };
    report(&mut failed, "PNG: size, and the marks' colours where the spikes are", problems);
    let problems = match render_bytes(&muxed, Format::Png, &PlotOptions::new().max_marks(1)) {
        Ok((bytes, s)) => check_png(&bytes, &s, true),
        Err(e) => vec![e.to_string()],
    };
    report(&mut failed, "PNG: a density raster is shaded where the spikes are", problems);

    // Errors name what is wrong, and no figure replaces anything it should not.
    let as_svg = d.join("results.svg");
    std::fs::copy(&plain, &as_svg).unwrap();
    let before = std::fs::read(&as_svg).unwrap();
    let mut problems = named_error(render(&as_svg, &as_svg, &PlotOptions::new()), ErrorKind::Validation, "is the results file itself");
    if std::fs::read(&as_svg).unwrap() != before {
        problems.push("the results file was changed".into());
    }
    report(&mut failed, "the figure never replaces the results file", problems);
    report(&mut failed, "an output that is not .svg or .png", named_error(render(&plain, d.join("fig.pdf"), &PlotOptions::new()), ErrorKind::Validation, ".svg or .png"));
    report(&mut failed, "an output directory that does not exist", named_error(render(&plain, d.join("no/such/fig.svg"), &PlotOptions::new()), ErrorKind::Validation, "does not exist"));
    let name = plain.display().to_string();
    report(&mut failed, "segments the run does not have", named_error(render_bytes(&plain, Format::Svg, &PlotOptions::new().segments(Segments::range(2..3))), ErrorKind::Validation, &format!("of '{name}'")));
    report(&mut failed, "a cell without a signal", named_error(render_bytes(&plain, Format::Svg, &PlotOptions::new().cells(vec![0, 7])), ErrorKind::Validation, "cell 7 has no signal recording (cells with one: 0, 5)"));
    report(&mut failed, "a run the file does not have", named_error(render_bytes(&plain, Format::Svg, &PlotOptions::new().run("other")), ErrorKind::Format, "no run \"other\""));
    let text = d.join("text.nio");
    std::fs::write(&text, "results, but in words").unwrap();
    report(&mut failed, "a file that is not NIX", named_error(render_bytes(&text, Format::Svg, &PlotOptions::new()), ErrorKind::Format, "not a readable NIX file"));
    report(&mut failed, "options are checked before reading", named_error(render(d.join("missing.nio"), d.join("f.svg"), &PlotOptions::new().bin_ms(-1.0)), ErrorKind::Validation, "bin_ms"));

    report(&mut failed, "bsb-results plot: a figure and a JSON summary, read in a child", cli(d));
    if !failed.is_empty() {
        eprintln!("plot: {} checks failed: {failed:?}", failed.len());
        std::process::exit(1);
    }
    println!("plot: all checks passed");
}

/// The command line: draws, prints one JSON line; on a damaged file, one line of error
/// and no figure.
fn cli(d: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let run = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_bsb-results")).current_dir(d).arg("plot").args(args).output().expect("bsb-results runs");
    let done = run(&["known.nio", "--out", "cli.png", "--segments", "0..=1", "--traces", "1"]);
    let stdout = String::from_utf8_lossy(&done.stdout);
    match serde_json::from_str::<serde_json::Value>(stdout.trim()) {
        Ok(v) if done.status.success() && v["spikes"] == 13 && v["traces"].as_array().map(Vec::len) == Some(1) && d.join("cli.png").exists() => {}
        _ => problems.push(format!("plot known.nio: {:?} {stdout} {}", done.status, String::from_utf8_lossy(&done.stderr))),
    }
    let bytes = std::fs::read(d.join("known.nio")).unwrap();
    std::fs::write(d.join("cut.nio"), &bytes[..bytes.len() / 2]).unwrap();
    let done = run(&["cut.nio", "--out", "cut.svg"]);
    let stderr = String::from_utf8_lossy(&done.stderr);
    if done.status.success() || !stderr.starts_with("error: ") || stderr.trim().lines().count() != 1 || d.join("cut.svg").exists() {
        problems.push(format!("plot of a truncated file: {:?} {stderr:?}", done.status));
    }
    problems
}
