//! Counters and latencies of `soak`, per interval and per kind of request, and the server's memory samples.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::latency::percentile;

/// The result of a request.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The expected status.
    Expected,
    /// A 404 or 400 explained by a concurrent delete of an asset or tag of this run.
    Race,
    /// Another status below 500.
    Unexpected,
    /// A status of 500 or more.
    ServerError,
    /// No response: the connection failed, closed early, timed out or sent an invalid response.
    Transport,
}

/// Error details printed at the end; later ones are only counted.
const MAX_ERROR_DETAILS: usize = 20;

/// Latencies in microseconds and outcome counts of a set of requests.
#[derive(Default)]
pub struct Counts {
    latencies_us: Vec<u32>,
    races: u64,
    unexpected: u64,
    server_errors: u64,
    transport_errors: u64,
}

impl Counts {
    fn add(&mut self, duration: Duration, outcome: Outcome) {
        match outcome {
            Outcome::Expected => {}
            Outcome::Race => self.races += 1,
            Outcome::Unexpected => self.unexpected += 1,
            Outcome::ServerError => self.server_errors += 1,
            Outcome::Transport => self.transport_errors += 1,
        }
        // Transport errors have no response, so their time is not a latency.
        if outcome != Outcome::Transport {
            self.latencies_us
                .push(duration.as_micros().min(u32::MAX as u128) as u32);
        }
    }

    fn requests(&self) -> u64 {
        self.latencies_us.len() as u64 + self.transport_errors
    }

    /// Returns the summary of these requests; sorts the latencies.
    fn summarize(&mut self) -> CountsSummary {
        self.latencies_us.sort_unstable();
        let ms = |micros: Option<u32>| micros.map(|micros| (micros as f64 / 10.0).round() / 100.0);
        let sorted = &self.latencies_us;
        CountsSummary {
            requests: self.requests(),
            p50_ms: ms((!sorted.is_empty()).then(|| percentile(sorted, 50.0))),
            p99_ms: ms((!sorted.is_empty()).then(|| percentile(sorted, 99.0))),
            max_ms: ms(sorted.last().copied()),
            races: self.races,
            unexpected: self.unexpected,
            server_errors: self.server_errors,
            transport_errors: self.transport_errors,
        }
    }
}

/// Request count, nearest-rank percentiles in milliseconds and outcome counts.
#[derive(Clone, Default, Serialize)]
pub struct CountsSummary {
    pub requests: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub races: u64,
    pub unexpected: u64,
    pub server_errors: u64,
    pub transport_errors: u64,
}

/// Shared by all workers: the counts of the current interval and of the whole run, per request label.
pub struct Recorder {
    state: Mutex<RecorderState>,
}

#[derive(Default)]
struct RecorderState {
    interval: Counts,
    by_label: BTreeMap<&'static str, Counts>,
    error_details: Vec<String>,
    errors_without_detail: u64,
}

impl Recorder {
    pub fn new() -> Self {
        Self {
            state: Mutex::new(RecorderState::default()),
        }
    }

    /// Records one request; `detail` describes an error for the report.
    pub fn record(
        &self,
        label: &'static str,
        duration: Duration,
        outcome: Outcome,
        detail: Option<String>,
    ) {
        let mut state = self.state.lock().unwrap();
        state.interval.add(duration, outcome);
        state
            .by_label
            .entry(label)
            .or_default()
            .add(duration, outcome);
        if let Some(detail) = detail {
            state.keep_detail(detail);
        }
    }

    /// Records a response that had the expected status but a body the run cannot use, as an unexpected result.
    pub fn unexpected_body(&self, label: &'static str, detail: &str) {
        let mut state = self.state.lock().unwrap();
        state.interval.unexpected += 1;
        state.by_label.entry(label).or_default().unexpected += 1;
        state.keep_detail(format!("{label}: {detail}"));
    }

    /// Returns the summary of the interval that ends now and starts the next one.
    pub fn end_interval(&self) -> CountsSummary {
        let mut interval = std::mem::take(&mut self.state.lock().unwrap().interval);
        interval.summarize()
    }

    /// Returns the summary of each request label over the whole run, and of all of them together.
    pub fn totals(&self) -> (Vec<(&'static str, CountsSummary)>, CountsSummary) {
        let mut state = self.state.lock().unwrap();
        let mut all = Counts::default();
        let mut rows = Vec::new();
        for (label, counts) in state.by_label.iter_mut() {
            all.latencies_us.extend_from_slice(&counts.latencies_us);
            all.races += counts.races;
            all.unexpected += counts.unexpected;
            all.server_errors += counts.server_errors;
            all.transport_errors += counts.transport_errors;
            rows.push((*label, counts.summarize()));
        }
        (rows, all.summarize())
    }

    /// Returns the first error details, and how many more errors there were.
    pub fn error_details(&self) -> (Vec<String>, u64) {
        let state = self.state.lock().unwrap();
        (state.error_details.clone(), state.errors_without_detail)
    }
}

impl RecorderState {
    fn keep_detail(&mut self, detail: String) {
        if self.error_details.len() < MAX_ERROR_DETAILS {
            self.error_details.push(detail);
        } else {
            self.errors_without_detail += 1;
        }
    }
}

/// The server's memory and file descriptors at one moment.
#[derive(Clone, Copy, Serialize)]
pub struct ProcessSample {
    /// Resident set size (`VmRSS` of `/proc/PID/status`), in KiB.
    pub rss_kib: u64,
    /// Open file descriptors (entries of `/proc/PID/fd`); `None` when that directory cannot be read.
    pub open_fds: Option<u64>,
}

/// Reads the resident set size and the open file descriptors of process `pid`.
pub fn sample_process(pid: u32) -> anyhow::Result<ProcessSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|error| {
        anyhow::anyhow!("reading /proc/{pid}/status failed (has the server exited?): {error}")
    })?;
    let rss_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("/proc/{pid}/status has no VmRSS line"))?;
    let open_fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|entries| entries.count() as u64);
    Ok(ProcessSample { rss_kib, open_fds })
}
