//! Where each panel of a figure lies, in pixels, before anything is drawn (the density
//! raster is binned to the raster's plotting area while the spikes are read).

/// Pixels left of each panel's y labels, above and below each panel.
pub(crate) const MARGIN_LEFT: u32 = 10;
pub(crate) const MARGIN_TOP: u32 = 8;
pub(crate) const MARGIN_BOTTOM: u32 = 4;
/// Room for the y axis's tick labels and description.
pub(crate) const Y_LABELS: u32 = 84;
/// Room for the x axis's tick labels and description.
pub(crate) const X_LABELS: u32 = 40;
/// Room right of every plotting area (the raster's legend), so that the time axes align.
pub(crate) const RIGHT: u32 = 220;
/// The title and the line of notes beneath it.
pub(crate) const TITLE: u32 = 58;

/// The default heights of the panels: raster, rate, one trace.
const RASTER_H: u32 = 420;
const RATE_H: u32 = 190;
const TRACE_H: u32 = 130;

/// A rectangle of pixels, `left..right` × `top..bottom` (half-open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rect {
    pub left: i32,
    pub top: i32,
    pub right: i32,
    pub bottom: i32,
}

impl Rect {
    pub(crate) fn width(self) -> usize {
        usize::try_from(self.right - self.left).unwrap_or(0)
    }

    pub(crate) fn height(self) -> usize {
        usize::try_from(self.bottom - self.top).unwrap_or(0)
    }
}

/// One chart: its whole area and, inside it, its plotting area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Panel {
    pub area: Rect,
    pub plot: Rect,
}

impl Panel {
    fn new(width: u32, top: u32, height: u32) -> Panel {
        let i = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        let area = Rect { left: 0, top: i(top), right: i(width), bottom: i(top + height) };
        let plot = Rect {
            left: i(MARGIN_LEFT + Y_LABELS),
            top: i(top + MARGIN_TOP),
            right: i(width - RIGHT),
            bottom: i(top + height - MARGIN_BOTTOM - X_LABELS),
        };
        Panel { area, plot }
    }
}

/// The panels of a figure, top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    pub width: u32,
    pub height: u32,
    pub raster: Panel,
    pub rate: Panel,
    pub traces: Vec<Panel>,
}

impl Layout {
    /// A figure `width` wide with `traces` trace panels; `height` by default fits them.
    /// The panels share the height below the title in the default proportions.
    ///
    /// # Errors
    /// A message when a panel would have no room to plot in.
    pub(crate) fn new(width: u32, height: Option<u32>, traces: usize) -> Result<Layout, String> {
        let n = u32::try_from(traces).map_err(|_| "too many traces".to_owned())?;
        let natural = RASTER_H + RATE_H + n * TRACE_H;
        let height = height.unwrap_or(TITLE + natural);
        let room = height.saturating_sub(TITLE);
        let share = |h: u32| u32::try_from(u64::from(h) * u64::from(room) / u64::from(natural)).unwrap_or(0);
        let (raster_h, rate_h, trace_h) = (share(RASTER_H), share(RATE_H), share(TRACE_H));
        let raster = Panel::new(width, TITLE, raster_h);
        let rate = Panel::new(width, TITLE + raster_h, rate_h);
        let traces: Vec<Panel> = (0..n).map(|i| Panel::new(width, TITLE + raster_h + rate_h + i * trace_h, trace_h)).collect();
        let too_small = [raster, rate].iter().chain(&traces).any(|p| p.plot.height() < 20 || p.plot.width() < 100);
        if too_small {
            return Err(format!("{width}×{height} pixels leave no room to plot a raster, rates and {n} traces; make it larger or draw fewer traces"));
        }
        Ok(Layout { width, height, raster, rate, traces })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panels_stack_within_the_figure() {
        let l = Layout::new(1200, None, 3).unwrap();
        assert_eq!(l.height, TITLE + RASTER_H + RATE_H + 3 * TRACE_H);
        assert_eq!(l.raster.area.bottom, l.rate.area.top);
        assert_eq!(l.traces[2].area.bottom, i32::try_from(l.height).unwrap());
        assert!(l.raster.plot.left > 0 && l.raster.plot.right < 1200 && l.raster.plot.top > l.raster.area.top);
        let scaled = Layout::new(800, Some(600), 0).unwrap();
        assert!(scaled.rate.area.bottom <= 600 && scaled.rate.area.bottom > 590);
        assert!(Layout::new(400, Some(400), 50).unwrap_err().contains("no room"));
    }
}
