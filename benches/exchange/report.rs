//! A series of timed operations, and how it is reported: median, p99 and
//! throughput.

use std::time::Duration;

/// The value at fraction `p` of a sorted series.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Timed operations of one kind, with the bytes each moved.
pub struct Series {
    name: String,
    bytes: u64,
    pub times: Vec<Duration>,
}

impl Series {
    pub fn new(name: &str) -> Series {
        Series {
            name: name.to_owned(),
            bytes: 0,
            times: Vec::new(),
        }
    }
    pub fn add(&mut self, bytes: usize, took: Duration) {
        self.bytes += bytes as u64;
        self.times.push(took);
    }
    fn throughput(&self) -> f64 {
        let total: Duration = self.times.iter().sum();
        self.bytes as f64 / (1024.0 * 1024.0) / total.as_secs_f64()
    }
    /// Prints the series' line and answers its throughput (MiB/s).
    pub fn report(&mut self) -> f64 {
        self.times.sort();
        let mbps = self.throughput();
        println!(
            "  {:<28} n={:<4} median {:>9.2?}  p99 {:>9.2?}  {:>8.1} MiB/s",
            self.name,
            self.times.len(),
            percentile(&self.times, 0.5),
            percentile(&self.times, 0.99),
            mbps
        );
        mbps
    }
}
