//! What to draw: [`PlotOptions`], built by chaining, and the [`Segments`] range.

use std::ops::Range;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The most traces one figure draws.
pub(crate) const MAX_TRACES: usize = 50;
/// The figure's size limits in pixels.
const SIZE: std::ops::RangeInclusive<u32> = 400..=20_000;

/// A range of segments by their index in the run: `"0..3"` (half-open, as in Rust),
/// `"0..=2"`, `"2.."`, `"..2"`, or one index `"4"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Segments {
    start: usize,
    /// Exclusive end; `None`: to the last segment.
    end: Option<usize>,
}

impl Segments {
    /// Every segment of the run.
    pub fn all() -> Segments {
        Segments::default()
    }

    /// The segments `range` (half-open).
    pub fn range(range: Range<usize>) -> Segments {
        Segments { start: range.start, end: Some(range.end) }
    }

    /// The indices in a run of `count` segments.
    ///
    /// # Errors
    /// What is wrong when the range is empty or reaches past the last segment.
    pub(crate) fn resolve(self, count: usize) -> std::result::Result<Range<usize>, String> {
        let end = self.end.unwrap_or(count);
        if end > count || self.start >= end.max(1) || count == 0 {
            return Err(format!("the run has {count} segment{} (0..{count})", if count == 1 { "" } else { "s" }));
        }
        Ok(self.start..end)
    }
}

impl std::fmt::Display for Segments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.end {
            Some(end) => write!(f, "{}..{end}", self.start),
            None => write!(f, "{}..", self.start),
        }
    }
}

impl FromStr for Segments {
    type Err = Error;

    fn from_str(s: &str) -> Result<Segments> {
        let bad = || Error::invalid(format!("segment range {s:?}"), "write it as 0..3 (half-open), 0..=2, 2.., ..2 or 4");
        let index = |t: &str| t.trim().parse::<usize>().map_err(|_| bad());
        let Some((a, b)) = s.split_once("..") else {
            let i = index(s)?;
            return Ok(Segments { start: i, end: Some(i + 1) });
        };
        let start = if a.trim().is_empty() { 0 } else { index(a)? };
        let end = match b.strip_prefix('=') {
            Some(b) => Some(index(b)?.checked_add(1).ok_or_else(bad)?),
            None if b.trim().is_empty() => None,
            None => Some(index(b)?),
        };
        if end.is_some_and(|e| e <= start) {
            return Err(Error::invalid(format!("segment range {s:?}"), "it is empty"));
        }
        Ok(Segments { start, end })
    }
}

/// What a figure shows: [`PlotOptions::new`] and the defaults, changed by chaining.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotOptions {
    pub(crate) run: Option<String>,
    pub(crate) run_index: Option<i64>,
    pub(crate) segments: Segments,
    pub(crate) bin_ms: Option<f64>,
    pub(crate) traces: usize,
    pub(crate) cells: Option<Vec<i64>>,
    pub(crate) width: u32,
    pub(crate) height: Option<u32>,
    pub(crate) max_marks: usize,
}

impl Default for PlotOptions {
    fn default() -> Self {
        PlotOptions::new()
    }
}

impl PlotOptions {
    /// The first run, every segment, a rate bin chosen from the duration, 5 traces, 1200
    /// pixels wide, a height that fits the traces, and at most 100,000 raster marks.
    pub fn new() -> PlotOptions {
        PlotOptions { run: None, run_index: None, segments: Segments::all(), bin_ms: None, traces: 5, cells: None, width: 1200, height: None, max_marks: 100_000 }
    }

    /// The run (Block) to draw, by name; the last run of that name unless
    /// [`PlotOptions::run_index`] says which.
    pub fn run(mut self, name: impl Into<String>) -> Self {
        self.run = Some(name.into());
        self
    }

    /// Which run of the name given to [`PlotOptions::run`] (its `run_index`).
    pub fn run_index(mut self, index: i64) -> Self {
        self.run_index = Some(index);
        self
    }

    /// The segments to draw.
    pub fn segments(mut self, segments: Segments) -> Self {
        self.segments = segments;
        self
    }

    /// The rate histogram's bin width in ms.
    pub fn bin_ms(mut self, bin_ms: f64) -> Self {
        self.bin_ms = Some(bin_ms);
        self
    }

    /// How many signal channels to draw as traces (at most 50; 0 for none).
    pub fn traces(mut self, traces: usize) -> Self {
        self.traces = traces;
        self
    }

    /// Draw the traces of these cell ids (of any placement set), in the order of the raster.
    pub fn cells(mut self, cells: Vec<i64>) -> Self {
        self.cells = Some(cells);
        self
    }

    /// The figure's width in pixels (400 to 20,000).
    pub fn width(mut self, width: u32) -> Self {
        self.width = width;
        self
    }

    /// The figure's height in pixels (400 to 20,000); default: what fits the traces.
    pub fn height(mut self, height: u32) -> Self {
        self.height = Some(height);
        self
    }

    /// Above this many spikes the raster is a density image even when the spikes are
    /// fewer than its pixels (an SVG of a million marks is slow to open).
    pub fn max_marks(mut self, max_marks: usize) -> Self {
        self.max_marks = max_marks;
        self
    }

    /// Checks the options without reading anything.
    ///
    /// # Errors
    /// [`Error::Validation`] naming the option.
    pub fn validate(&self) -> Result<()> {
        if let Some(bin) = self.bin_ms.filter(|b| !(b.is_finite() && *b > 0.0)) {
            return Err(Error::invalid("rate bin width (bin_ms)", format!("{bin} is not a positive number of ms")));
        }
        if self.traces > MAX_TRACES {
            return Err(Error::invalid("number of traces", format!("{} is more than the {MAX_TRACES} a figure can show", self.traces)));
        }
        if self.cells.as_ref().is_some_and(Vec::is_empty) {
            return Err(Error::invalid("cells to trace", "the list is empty"));
        }
        for (what, v) in [("figure width", Some(self.width)), ("figure height", self.height)] {
            if let Some(v) = v.filter(|v| !SIZE.contains(v)) {
                return Err(Error::invalid(what, format!("{v} pixels is outside {}..={}", SIZE.start(), SIZE.end())));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_ranges_parse_and_resolve() {
        let p = |s: &str| s.parse::<Segments>();
        assert_eq!(p("0..3").unwrap().resolve(5).unwrap(), 0..3);
        assert_eq!(p("0..=2").unwrap().resolve(5).unwrap(), 0..3);
        assert_eq!(p("2..").unwrap().resolve(5).unwrap(), 2..5);
        assert_eq!(p("..2").unwrap().resolve(5).unwrap(), 0..2);
        assert_eq!(p("4").unwrap().resolve(5).unwrap(), 4..5);
        assert_eq!(Segments::all().resolve(3).unwrap(), 0..3);
        for bad in ["", "a..2", "3..1", "2..2", "1...3", "-1..2"] {
            assert!(p(bad).is_err(), "{bad:?} parses");
        }
        let e = p("0..6").unwrap().resolve(5).unwrap_err();
        assert!(e.contains("5 segments (0..5)"), "{e}");
        assert!(p("5..").unwrap().resolve(5).is_err());
        assert!(Segments::all().resolve(0).is_err(), "a run without segments has nothing to draw");
    }

    #[test]
    fn options_are_checked_before_reading() {
        assert!(PlotOptions::new().validate().is_ok());
        assert!(PlotOptions::new().bin_ms(0.0).validate().is_err());
        assert!(PlotOptions::new().bin_ms(f64::NAN).validate().is_err());
        assert!(PlotOptions::new().traces(51).validate().is_err());
        assert!(PlotOptions::new().cells(vec![]).validate().is_err());
        assert!(PlotOptions::new().width(100).validate().unwrap_err().to_string().contains("figure width"));
        assert!(PlotOptions::new().height(30_000).validate().is_err());
    }
}
