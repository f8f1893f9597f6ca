//! Synthetic activity: a seeded generator, Poisson spike times, membrane-like traces.
//!
//! What `bsb-results simulate` records, public so that other front ends (the Python
//! package) can record the very same network. Every stream depends only on its seed words,
//! so a cell's activity is the same whichever rank simulates it.

/// Spike times of a Poisson process of `rate_hz` on the `res` grid in `(t_start, t_stop]`.
pub fn poisson(mut rng: Rng, rate_hz: f64, res: f64, t_start: f64, t_stop: f64) -> Vec<f64> {
    let mut times = Vec::new();
    if rate_hz <= 0.0 {
        return times;
    }
    let mut t = t_start;
    loop {
        t += -(1.0 - rng.uniform()).ln() * 1000.0 / rate_hz;
        let on_grid = (t / res).ceil() * res;
        if on_grid > t_stop {
            return times;
        }
        if times.last().is_none_or(|last| on_grid > *last) {
            times.push(on_grid);
        }
    }
}

/// SplitMix64: a small generator whose stream depends only on its seed words, so a
/// cell's activity is the same whichever rank simulates it.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded by `words` (for `simulate`: seed, cell, checkpoint, stream).
    pub fn new(words: &[u64]) -> Rng {
        let mut r = Rng(0x9E37_79B9_7F4A_7C15);
        for w in words {
            r.0 ^= w.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            r.next();
        }
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let x = (self.next() >> 11) as f64;
        x / (1u64 << 53) as f64
    }
}

/// A membrane-potential-like trace of `n` samples in mV (an Ornstein-Uhlenbeck walk).
pub fn trace(mut rng: Rng, n: usize) -> Vec<f64> {
    let mut v = -65.0;
    (0..n)
        .map(|_| {
            v += 0.1 * (-65.0 - v) + 0.5 * (rng.uniform() - 0.5);
            v
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_is_deterministic_on_the_grid_and_in_range() {
        let a = poisson(Rng::new(&[1, 2, 3]), 20.0, 0.1, 0.0, 1000.0);
        let b = poisson(Rng::new(&[1, 2, 3]), 20.0, 0.1, 0.0, 1000.0);
        assert_eq!(a, b);
        assert!(a.len() > 5 && a.len() < 60, "{}", a.len());
        assert!(a.iter().all(|t| *t > 0.0 && *t <= 1000.0));
        assert!(a.iter().all(|t| ((t / 0.1).round() * 0.1 - t).abs() < 1e-9));
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_ne!(a, poisson(Rng::new(&[1, 2, 4]), 20.0, 0.1, 0.0, 1000.0));
    }

    #[test]
    fn traces_are_deterministic_and_finite() {
        let a = trace(Rng::new(&[9]), 100);
        assert_eq!(a, trace(Rng::new(&[9]), 100));
        assert!(a.iter().all(|v| v.is_finite() && (-80.0..-50.0).contains(v)));
    }
}
