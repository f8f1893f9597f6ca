//! The raster and the rates, accumulated spike by spike as the trains are read: one mark
//! per spike, or counts in a grid of the plotting area's pixels (bounded memory).

/// How the raster is drawn.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Marks {
    /// One mark per spike: `(time in ms, row)`.
    Points(Vec<(f64, u32)>),
    /// Spikes counted per pixel column and band of rows.
    Density(Density),
}

/// Spike counts over `columns` pixel columns × `bands` bands of rows (a band is one or
/// more rows when there are more rows than pixels, else one row).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Density {
    pub columns: usize,
    pub bands: usize,
    /// Row-major, `bands × columns`.
    pub counts: Vec<u32>,
}

/// Spike counts per placement set and time bin.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rates {
    pub bin_ms: f64,
    pub bins: usize,
    /// Per placement set, per bin.
    pub counts: Vec<Vec<u32>>,
}

/// A raster over `t0..=t1` ms of `rows` cells, and the rates of its placement sets.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Raster {
    pub t0: f64,
    pub t1: f64,
    pub rows: usize,
    pub marks: Marks,
    pub rates: Rates,
    /// Spikes drawn, in all and per placement set.
    pub spikes: usize,
    pub spikes_per_group: Vec<usize>,
}

/// The most rate bins a figure draws.
pub(crate) const MAX_BINS: usize = 1_000_000;

impl Raster {
    /// An empty raster; `density` gives the grid's `(columns, rows)` in pixels when the
    /// spikes are to be binned.
    pub(crate) fn new(t0: f64, t1: f64, rows: usize, groups: usize, bin_ms: f64, density: Option<(usize, usize)>) -> Raster {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let bins = (((t1 - t0) / bin_ms).ceil() as usize).clamp(1, MAX_BINS);
        let marks = match density {
            Some((columns, pixels)) => {
                let bands = rows.min(pixels).max(1);
                Marks::Density(Density { columns, bands, counts: vec![0; columns * bands] })
            }
            None => Marks::Points(Vec::new()),
        };
        Raster { t0, t1, rows, marks, rates: Rates { bin_ms, bins, counts: vec![vec![0; bins]; groups] }, spikes: 0, spikes_per_group: vec![0; groups] }
    }

    /// Adds a spike at `t` ms of cell `row` of placement set `group`; spikes outside the
    /// time axis are left out.
    pub(crate) fn add(&mut self, t: f64, row: u32, group: usize) {
        if !(t >= self.t0 && t <= self.t1) {
            return;
        }
        let at = (t - self.t0) / (self.t1 - self.t0);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let index = |n: usize| ((at * n as f64) as usize).min(n - 1);
        match &mut self.marks {
            Marks::Points(points) => points.push((t, row)),
            Marks::Density(d) => {
                let band = usize::try_from(row).unwrap_or(usize::MAX).saturating_mul(d.bands) / self.rows;
                let cell = band * d.columns + index(d.columns);
                d.counts[cell] = d.counts[cell].saturating_add(1);
            }
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let bin = (((t - self.t0) / self.rates.bin_ms) as usize).min(self.rates.bins - 1);
        let counts = &mut self.rates.counts[group];
        counts[bin] = counts[bin].saturating_add(1);
        self.spikes += 1;
        self.spikes_per_group[group] += 1;
    }
}

impl Density {
    /// The first row of band `band` (bands cover the rows in order).
    pub(crate) fn first_row(&self, band: usize, rows: usize) -> usize {
        (band * rows).div_ceil(self.bands)
    }
}

impl Rates {
    /// The rate in Hz of placement set `group` of `cells` cells, per bin, and the bins'
    /// start times from `t0`; the last bin may be shorter (up to `t1`).
    pub(crate) fn hz(&self, group: usize, cells: usize, t0: f64, t1: f64) -> Vec<(f64, f64, f64)> {
        #[allow(clippy::cast_precision_loss)]
        let cells = cells.max(1) as f64;
        (0..self.bins)
            .map(|i| {
                #[allow(clippy::cast_precision_loss)]
                let start = t0 + i as f64 * self.bin_ms;
                let stop = (start + self.bin_ms).min(t1);
                let seconds = (stop - start) / 1000.0;
                let hz = if seconds > 0.0 { f64::from(self.counts[group][i]) / cells / seconds } else { 0.0 };
                (start, stop, hz)
            })
            .collect()
    }
}

/// A rate bin width for `duration_ms`: about 100 bins, rounded to 1, 2 or 5 × 10^k ms.
pub(crate) fn default_bin_ms(duration_ms: f64) -> f64 {
    let raw = duration_ms / 100.0;
    let decade = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].into_iter().find(|m| m * decade >= raw * 0.999).unwrap_or(10.0);
    step * decade
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_are_round_numbers_near_a_hundredth() {
        assert_eq!(default_bin_ms(1000.0), 10.0);
        assert_eq!(default_bin_ms(300.0), 5.0);
        assert!((default_bin_ms(1.5) - 0.02).abs() < 1e-12);
        assert_eq!(default_bin_ms(120_000.0), 2000.0);
    }

    #[test]
    fn spikes_land_in_points_or_density_and_rates() {
        let mut points = Raster::new(0.0, 100.0, 4, 2, 10.0, None);
        for (t, row, g) in [(0.0, 0, 0), (100.0, 3, 1), (55.0, 3, 1), (100.5, 0, 0), (-1.0, 0, 0)] {
            points.add(t, row, g);
        }
        assert_eq!(points.spikes, 3, "spikes outside the axis are left out");
        assert_eq!(points.spikes_per_group, [1, 2]);
        assert_eq!(points.marks, Marks::Points(vec![(0.0, 0), (100.0, 3), (55.0, 3)]));
        assert_eq!(points.rates.counts[1][9], 1, "a spike at the end falls in the last bin");
        let hz = points.rates.hz(1, 2, 0.0, 100.0);
        assert_eq!(hz[5], (50.0, 60.0, 50.0), "1 spike of 2 cells in 10 ms is 50 Hz");

        let mut dense = Raster::new(0.0, 100.0, 1000, 1, 10.0, Some((50, 100)));
        dense.add(99.0, 999, 0);
        dense.add(0.0, 0, 0);
        dense.add(0.1, 5, 0);
        let Marks::Density(d) = &dense.marks else { panic!() };
        assert_eq!((d.columns, d.bands), (50, 100), "1000 rows share 100 pixel bands");
        assert_eq!((d.counts[0], d.counts[99 * 50 + 49]), (2, 1));
        assert_eq!(d.first_row(99, 1000), 990);
    }
}
