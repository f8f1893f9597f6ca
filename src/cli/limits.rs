//! What `simulate` accepts: each value on its own (clap's value parsers, so a bad one
//! ends with exit status 2 and clap's message naming the argument and the value), and
//! the values together (the run must fit in time steps and in memory).

/// A positive, finite number of ms (`--duration-ms`, `--resolution-ms`).
pub(crate) fn positive_ms(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(_) => Err("must be a positive, finite number of ms".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// A finite rate of at least 0 Hz (`--rate-hz`).
pub(crate) fn rate_hz(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        Ok(_) => Err("must be a finite rate of at least 0 Hz".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// The arguments that size a run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub cells: u64,
    pub voltage_cells: u64,
    pub duration_ms: f64,
    pub resolution_ms: f64,
    pub rate_hz: f64,
    pub checkpoints: u32,
    pub stream: bool,
}

/// Bytes a recording holds besides its values (names, annotations, the roster).
const PER_OBJECT: f64 = 2048.0;

impl Shape {
    /// Time steps of the whole run.
    fn steps(&self) -> f64 {
        (self.duration_ms / self.resolution_ms).round()
    }

    /// The most any one of `ranks` ranks buffers before a write, in bytes: all
    /// checkpoints without `--stream`, one with it. The first ranks hold the most (the
    /// watched cells are the first ones, and cells are dealt in blocks).
    pub(crate) fn buffered_bytes(&self, ranks: u64) -> f64 {
        let cells = self.cells.div_ceil(ranks.max(1));
        let watched = self.voltage_cells.min(cells);
        let buffered_checkpoints = if self.stream { 1.0 } else { f64::from(self.checkpoints) };
        let steps = self.steps() / f64::from(self.checkpoints) * buffered_checkpoints;
        let spikes_per_cell = (self.rate_hz * self.duration_ms / 1000.0).min(self.steps()) / f64::from(self.checkpoints) * buffered_checkpoints;
        #[allow(clippy::cast_precision_loss)]
        let (cells, watched) = (cells as f64, watched as f64);
        let objects = (cells + 2.0 * watched + 1.0) * buffered_checkpoints;
        8.0 * (cells * spikes_per_cell + 2.0 * watched * steps) + PER_OBJECT * objects
    }

    /// Why the values do not make a run this machine can do, naming the arguments and
    /// their values; `None` when they do. `available` is the least memory available to
    /// any rank, in bytes.
    pub(crate) fn problem(&self, ranks: u64, available: Option<u64>) -> Option<String> {
        let (res, dur) = (self.resolution_ms, self.duration_ms);
        if res > dur {
            return Some(format!("--resolution-ms {res} is longer than --duration-ms {dur}: the run would have no time step"));
        }
        if f64::from(self.checkpoints) > self.steps() {
            return Some(format!(
                "--checkpoints {} is more than the {} time steps of --duration-ms {dur} at --resolution-ms {res}",
                self.checkpoints,
                self.steps()
            ));
        }
        let max_rate = 1000.0 / res;
        if self.rate_hz > max_rate {
            return Some(format!("--rate-hz {} is more than one spike per time step (at most {max_rate} Hz at --resolution-ms {res})", self.rate_hz));
        }
        let need = self.buffered_bytes(ranks);
        #[allow(clippy::cast_precision_loss)]
        let have = available? as f64;
        (need > have).then(|| {
            let gib = |b: f64| b / f64::from(1u32 << 30);
            format!(
                "--cells {} --voltage-cells {} --duration-ms {dur} --resolution-ms {res} --rate-hz {} --checkpoints {}{}: a rank of {ranks} would buffer about {:.1} GiB of recordings, more than the {:.1} GiB of memory available; use --stream with more --checkpoints, more ranks, fewer cells or a coarser resolution",
                self.cells,
                self.voltage_cells,
                self.rate_hz,
                self.checkpoints,
                if self.stream { " --stream" } else { "" },
                gib(need),
                gib(have)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> Shape {
        Shape { cells: 1000, voltage_cells: 10, duration_ms: 1000.0, resolution_ms: 0.1, rate_hz: 20.0, checkpoints: 1, stream: false }
    }

    #[test]
    fn single_values_are_checked() {
        for bad in ["0", "-1", "nan", "inf", "x"] {
            assert!(positive_ms(bad).is_err(), "{bad}");
        }
        assert_eq!(positive_ms("0.5"), Ok(0.5));
        assert!(rate_hz("-0.1").is_err() && rate_hz("NaN").is_err());
        assert_eq!(rate_hz("0"), Ok(0.0));
    }

    #[test]
    fn the_default_run_fits_and_the_estimate_scales() {
        let s = shape();
        assert_eq!(s.problem(1, Some(1 << 30)), None);
        // 1000 cells × 20 spikes + 2 × 10 cells × 10,000 samples, 8 bytes each.
        let values = 8.0 * (1000.0 * 20.0 + 20.0 * 10_000.0);
        assert!((s.buffered_bytes(1) - values - 2048.0 * 1021.0).abs() < 1.0);
        let all = Shape { checkpoints: 10, ..s };
        let streamed = Shape { stream: true, ..all };
        assert!((streamed.buffered_bytes(1) * 10.0 - all.buffered_bytes(1)).abs() < 1.0, "a stream buffers one checkpoint");
        let spikes_only = Shape { voltage_cells: 0, ..s };
        assert!(spikes_only.buffered_bytes(4) < spikes_only.buffered_bytes(1) / 3.0, "cells are dealt to the ranks");
    }

    #[test]
    fn runs_that_cannot_be_done_are_refused_naming_the_values() {
        let tiny = Shape { resolution_ms: 1e-9, ..shape() };
        let msg = tiny.problem(1, Some(1 << 34)).unwrap();
        assert!(msg.contains("--resolution-ms 0.000000001") && msg.contains("GiB"), "{msg}");
        let fast = Shape { rate_hz: 1e12, ..shape() };
        assert!(fast.problem(1, Some(1 << 34)).unwrap().contains("--rate-hz 1000000000000"));
        let many = Shape { checkpoints: 20_000, ..shape() };
        assert!(many.problem(1, None).unwrap().contains("--checkpoints 20000"));
        let long = Shape { resolution_ms: 2000.0, ..shape() };
        assert!(long.problem(1, None).unwrap().contains("no time step"));
    }
}
