//! `soak`: mixed Asset API traffic from several client threads for a fixed time, with latency, errors and the
//! server's RSS recorded per interval.
//!
//! The run fails when any request got a 5xx, an unexpected status or no response, or when the server's RSS level
//! after the warm-up rises above the warm-up's level by more than `--max-rss-growth`. RSS is read once a second, and
//! each interval is represented by its highest sample. The level of a stretch of time is the median of its interval
//! peaks: the warm-up is one stretch, and the rest of the run is cut into stretches as long as the warm-up. A render
//! or upload in flight adds 10 to 30 MiB for a moment, which moves one interval's peak but not a median of dozens,
//! while memory that grows and stays raises every later median.

mod payloads;
mod record;
mod traffic;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;
use serde_json::json;

use crate::http::Connection;
use crate::names::NameGenerator;
use payloads::Templates;
use record::{sample_process, CountsSummary, ProcessSample, Recorder};
use traffic::{Pool, Worker};

/// Options of `soak`.
#[derive(Debug, clap::Args)]
pub struct SoakArgs {
    /// Address of the running server, such as 127.0.0.1:3000. Only loopback addresses are accepted.
    #[arg(long)]
    address: SocketAddr,
    /// Write token of the repository.
    #[arg(long, env = "MEDIALIB_BENCH_TOKEN")]
    token: String,
    #[arg(long, default_value = "demo")]
    repository: String,
    /// Process id of the server, whose RSS is read from /proc/PID/status once a second.
    #[arg(long)]
    server_pid: u32,
    /// Seconds of traffic.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Client threads, each with one keep-alive connection, sending one request at a time.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Seconds per recorded interval.
    #[arg(long, default_value_t = 10)]
    interval: u64,
    /// Seconds of warm-up, rounded up to whole intervals and at least one [default: 20% of the duration].
    #[arg(long)]
    warmup: Option<u64>,
    /// Largest allowed rise of the RSS level after the warm-up, as a fraction of the warm-up's level.
    #[arg(long, default_value_t = 0.10)]
    max_rss_growth: f64,
    /// Most assets of this run alive at once; deletes keep the count between half of this and this.
    #[arg(long, default_value_t = 200)]
    live_assets: usize,
    /// Seed of the generated files and of each thread's choice of operations.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Writes the interval series, the per-request table and the verdict as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Writes the interval series as tab-separated values to this file.
    #[arg(long)]
    tsv: Option<PathBuf>,
}

/// One recorded interval.
#[derive(Serialize)]
struct IntervalRow {
    /// Seconds from the start of the traffic to the end of the interval.
    end_s: f64,
    requests_per_s: f64,
    #[serde(flatten)]
    counts: CountsSummary,
    /// The server's sample at the end of the interval; `None` when /proc could not be read.
    process: Option<ProcessSample>,
    /// Highest RSS of the samples taken once a second during the interval, in KiB.
    peak_rss_kib: Option<u64>,
    live_assets: usize,
    live_tags: usize,
    warm_up: bool,
}

/// RSS figures of the run, in KiB, and whether they stayed within the allowed rise.
#[derive(Serialize)]
struct RssVerdict {
    start_kib: u64,
    /// Median of the interval peaks of the warm-up.
    warm_up_level_kib: u64,
    limit_kib: u64,
    /// Median of the interval peaks of each stretch after the warm-up, and the time its last interval ended.
    levels_after_warm_up: Vec<RssLevel>,
    min_peak_after_warm_up_kib: u64,
    max_peak_after_warm_up_kib: u64,
    end_kib: u64,
    /// Largest rise of a level after the warm-up, in percent of the warm-up's level.
    max_growth_percent: f64,
    within_limit: bool,
}

#[derive(Serialize)]
struct RssLevel {
    end_s: f64,
    level_kib: u64,
}

pub fn run(args: SoakArgs) -> anyhow::Result<()> {
    if !args.address.ip().is_loopback() {
        bail!(
            "{} is not a loopback address; this benchmark only sends traffic to this machine",
            args.address
        );
    }
    if args.concurrency == 0 || args.interval == 0 || args.live_assets < 2 {
        bail!("--concurrency and --interval must be at least 1, and --live-assets at least 2");
    }
    let intervals = args.duration.div_ceil(args.interval);
    let warmup_seconds = args.warmup.unwrap_or(args.duration / 5);
    let warmup_intervals = warmup_seconds.div_ceil(args.interval).max(1);
    if intervals <= warmup_intervals {
        bail!(
            "a run of {} s has {intervals} intervals of {} s, so none is left after a warm-up of {warmup_intervals}; \
             give a longer --duration or a shorter --warmup or --interval",
            args.duration,
            args.interval
        );
    }
    let start_sample = sample_process(args.server_pid)
        .with_context(|| format!("reading the RSS of the server (pid {})", args.server_pid))?;

    let templates = Templates::generate(args.seed)?;
    let names = NameGenerator::new();
    let recorder = Recorder::new();
    let unix_seconds = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let pool = Pool::new(
        args.live_assets,
        format!("soak-{:05}", unix_seconds % 100_000),
    );
    let authorization = format!("Bearer {}", args.token);
    let mut workers = Vec::with_capacity(args.concurrency);
    for index in 0..args.concurrency {
        let headers = [
            ("repository", args.repository.as_str()),
            ("authorization", authorization.as_str()),
        ];
        workers.push(Worker {
            connection: Connection::open(args.address, &headers)?,
            rng: StdRng::seed_from_u64(args.seed.wrapping_add(index as u64)),
            pool: &pool,
            recorder: &recorder,
            templates: &templates,
            names: &names,
        });
    }
    workers[0].create_tags(8);

    eprintln!(
        "soak: {} s of traffic from {} threads against {}, warm-up {} s, RSS at start {:.1} MiB",
        args.duration,
        args.concurrency,
        args.address,
        warmup_intervals * args.interval,
        start_sample.rss_kib as f64 / 1024.0
    );
    print_interval_header();
    let started = Instant::now();
    let rows = run_intervals(&args, workers, &recorder, &pool, started, warmup_intervals)?;
    let elapsed = started.elapsed();

    let (by_label, all) = recorder.totals();
    print_totals(&by_label, &all, elapsed);
    let rss = rss_verdict(
        &rows,
        start_sample,
        warmup_intervals as usize,
        args.max_rss_growth,
    );
    let failures = failures(&all, rss.as_ref(), args.max_rss_growth);
    print_verdict(&recorder, rss.as_ref(), &failures, args.max_rss_growth);

    if let Some(path) = &args.json {
        let report = json!({
            "duration_s": args.duration,
            "concurrency": args.concurrency,
            "interval_s": args.interval,
            "warm_up_s": warmup_intervals * args.interval,
            "max_rss_growth": args.max_rss_growth,
            "live_assets": args.live_assets,
            "elapsed_s": elapsed.as_secs_f64(),
            "intervals": rows,
            "requests": by_label.iter().map(|(label, summary)| json!({ "request": label, "summary": summary }))
                .collect::<Vec<_>>(),
            "all": all,
            "rss": rss,
            "failures": failures,
            "passed": failures.is_empty(),
        });
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.tsv {
        write_tsv(path, &rows)?;
    }
    if !failures.is_empty() {
        // The verdict above already names every failure.
        std::process::exit(1);
    }
    Ok(())
}

/// Runs the workers until the end of the duration, samples the server once a second and records one row per
/// interval. The last row is taken after every worker finished its last request.
fn run_intervals(
    args: &SoakArgs,
    workers: Vec<Worker<'_>>,
    recorder: &Recorder,
    pool: &Pool,
    started: Instant,
    warmup_intervals: u64,
) -> anyhow::Result<Vec<IntervalRow>> {
    let deadline = started + Duration::from_secs(args.duration);
    let mut rows = Vec::new();
    let mut interval_start = started;
    let mut peak_rss_kib: Option<u64> = None;
    let sample = || match sample_process(args.server_pid) {
        Ok(sample) => Some(sample),
        Err(error) => {
            eprintln!("soak: {error:#}");
            None
        }
    };
    let mut take_row = |number: u64, process: Option<ProcessSample>, peak_rss_kib: Option<u64>| {
        let now = Instant::now();
        let counts = recorder.end_interval();
        let (live_assets, live_tags) = pool.counts();
        let row = IntervalRow {
            end_s: (now - started).as_secs_f64(),
            requests_per_s: counts.requests as f64 / (now - interval_start).as_secs_f64(),
            counts,
            process,
            peak_rss_kib,
            live_assets,
            live_tags,
            warm_up: number <= warmup_intervals,
        };
        print_interval_row(&row);
        rows.push(row);
        interval_start = now;
    };

    std::thread::scope(|scope| -> anyhow::Result<()> {
        let mut handles: Vec<_> = workers
            .into_iter()
            .map(|mut worker| scope.spawn(move || worker.run_until(deadline)))
            .collect();
        for second in 1..=args.duration {
            let tick = started + Duration::from_secs(second);
            std::thread::sleep(tick.saturating_duration_since(Instant::now()));
            let last = second == args.duration;
            if last {
                for handle in handles.drain(..) {
                    if handle.join().is_err() {
                        bail!("a client thread panicked");
                    }
                }
            }
            let process = sample();
            if let Some(process) = process {
                peak_rss_kib =
                    Some(peak_rss_kib.map_or(process.rss_kib, |peak| peak.max(process.rss_kib)));
            }
            if second % args.interval == 0 || last {
                take_row(second.div_ceil(args.interval), process, peak_rss_kib.take());
            }
        }
        Ok(())
    })?;
    Ok(rows)
}

/// Compares the RSS level of each stretch after the warm-up with the warm-up's level. A last stretch shorter than
/// the warm-up joins the one before it. Returns `None` when a needed sample is missing.
fn rss_verdict(
    rows: &[IntervalRow],
    start: ProcessSample,
    warmup_intervals: usize,
    max_growth: f64,
) -> Option<RssVerdict> {
    let peaks: Vec<u64> = rows
        .iter()
        .map(|row| row.peak_rss_kib)
        .collect::<Option<_>>()?;
    let (warm_up, after) = peaks.split_at(warmup_intervals);
    let warm_up_level = median(warm_up)?;

    let mut stretches: Vec<std::ops::Range<usize>> = Vec::new();
    let mut from = warmup_intervals;
    while from < peaks.len() {
        let to = (from + warmup_intervals).min(peaks.len());
        match stretches.last_mut() {
            Some(last) if to - from < warmup_intervals => last.end = to,
            _ => stretches.push(from..to),
        }
        from = to;
    }
    let levels: Vec<RssLevel> = stretches
        .into_iter()
        .map(|stretch| {
            Some(RssLevel {
                end_s: rows[stretch.end - 1].end_s,
                level_kib: median(&peaks[stretch])?,
            })
        })
        .collect::<Option<_>>()?;

    let highest = levels.iter().map(|level| level.level_kib).max()?;
    let limit = (warm_up_level as f64 * (1.0 + max_growth)) as u64;
    Some(RssVerdict {
        start_kib: start.rss_kib,
        warm_up_level_kib: warm_up_level,
        limit_kib: limit,
        levels_after_warm_up: levels,
        min_peak_after_warm_up_kib: *after.iter().min()?,
        max_peak_after_warm_up_kib: *after.iter().max()?,
        end_kib: rows.last()?.process?.rss_kib,
        max_growth_percent: ((highest as f64 / warm_up_level as f64 - 1.0) * 1000.0).round() / 10.0,
        within_limit: highest <= limit,
    })
}

/// Returns the median of `values`, the mean of the two middle ones for an even count.
fn median(values: &[u64]) -> Option<u64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        length if length % 2 == 1 => Some(sorted[middle]),
        _ => Some((sorted[middle - 1] + sorted[middle]) / 2),
    }
}

/// Returns the reasons the run failed, empty when it passed.
fn failures(
    all: &CountsSummary,
    rss: Option<&RssVerdict>,
    max_growth: f64,
) -> Vec<String> {
    let mut failures = Vec::new();
    if all.server_errors > 0 {
        failures.push(format!("{} responses with a 5xx status", all.server_errors));
    }
    if all.transport_errors > 0 {
        failures.push(format!(
            "{} requests without a response",
            all.transport_errors
        ));
    }
    if all.unexpected > 0 {
        failures.push(format!(
            "{} responses with an unexpected status or body",
            all.unexpected
        ));
    }
    match rss {
        None => failures
            .push("the server's RSS could not be read at the end of every interval".to_owned()),
        Some(rss) if !rss.within_limit => {
            let first_over = rss
                .levels_after_warm_up
                .iter()
                .find(|level| level.level_kib > rss.limit_kib)
                .map_or(0.0, |level| level.end_s);
            failures.push(format!(
                "the RSS level rose {:.1}% above the warm-up's level of {} MiB (allowed: {:.0}%), first in the \
                 stretch ending at {first_over:.0} s",
                rss.max_growth_percent,
                mib(rss.warm_up_level_kib),
                max_growth * 100.0
            ))
        }
        Some(_) => {}
    }
    failures
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

fn optional(value: Option<impl ToString>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| value.to_string())
}

fn print_interval_header() {
    println!(
        "| End s | Requests | Requests/s | p50 ms | p99 ms | Max ms | Races | Unexpected | 5xx | No response | RSS MiB | Peak RSS MiB | Open fds | Live assets |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
}

fn print_interval_row(row: &IntervalRow) {
    let counts = &row.counts;
    println!(
        "| {:.0}{} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        row.end_s,
        if row.warm_up { " (warm-up)" } else { "" },
        counts.requests,
        row.requests_per_s,
        optional(counts.p50_ms),
        optional(counts.p99_ms),
        optional(counts.max_ms),
        counts.races,
        counts.unexpected,
        counts.server_errors,
        counts.transport_errors,
        optional(row.process.map(|sample| mib(sample.rss_kib))),
        optional(row.peak_rss_kib.map(mib)),
        optional(row.process.and_then(|sample| sample.open_fds)),
        row.live_assets
    );
    let _ = std::io::stdout().flush();
}

fn print_totals(by_label: &[(&str, CountsSummary)], all: &CountsSummary, elapsed: Duration) {
    println!();
    println!(
        "| Request | Count | p50 ms | p99 ms | Max ms | Races | Unexpected | 5xx | No response |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let rows = by_label.iter().map(|(label, summary)| (*label, summary));
    for (label, summary) in rows.chain([("all", all)]) {
        println!(
            "| {label} | {} | {} | {} | {} | {} | {} | {} | {} |",
            summary.requests,
            optional(summary.p50_ms),
            optional(summary.p99_ms),
            optional(summary.max_ms),
            summary.races,
            summary.unexpected,
            summary.server_errors,
            summary.transport_errors
        );
    }
    println!();
    println!(
        "{} requests in {:.0} s: {:.0} per second",
        all.requests,
        elapsed.as_secs_f64(),
        all.requests as f64 / elapsed.as_secs_f64()
    );
}

fn print_verdict(
    recorder: &Recorder,
    rss: Option<&RssVerdict>,
    failures: &[String],
    max_growth: f64,
) {
    if let Some(rss) = rss {
        let levels: Vec<String> = rss
            .levels_after_warm_up
            .iter()
            .map(|level| format!("{} (to {:.0} s)", mib(level.level_kib), level.end_s))
            .collect();
        println!(
            "RSS MiB: {} at start, {} at the end; interval peaks {} to {} after the warm-up. Level (median of \
             the interval peaks): {} in the warm-up, then {}; largest rise {:+.1}% (limit {:.0}%): {}",
            mib(rss.start_kib),
            mib(rss.end_kib),
            mib(rss.min_peak_after_warm_up_kib),
            mib(rss.max_peak_after_warm_up_kib),
            mib(rss.warm_up_level_kib),
            levels.join(", "),
            rss.max_growth_percent,
            max_growth * 100.0,
            if rss.within_limit { "within the limit" } else { "over the limit" }
        );
    }
    let (details, more) = recorder.error_details();
    if !details.is_empty() {
        println!();
        println!("Errors:");
        for detail in &details {
            println!("- {detail}");
        }
        if more > 0 {
            println!("- and {more} more");
        }
    }
    println!();
    if failures.is_empty() {
        println!("PASSED");
    } else {
        println!("FAILED: {}", failures.join("; "));
    }
}

fn write_tsv(path: &PathBuf, rows: &[IntervalRow]) -> anyhow::Result<()> {
    let mut text = String::from(
        "end_s\twarm_up\trequests\trequests_per_s\tp50_ms\tp99_ms\tmax_ms\traces\tunexpected\tserver_errors\t\
         transport_errors\trss_kib\tpeak_rss_kib\topen_fds\tlive_assets\tlive_tags\n",
    );
    for row in rows {
        let counts = &row.counts;
        text.push_str(&format!(
            "{:.1}\t{}\t{}\t{:.1}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            row.end_s,
            row.warm_up,
            counts.requests,
            row.requests_per_s,
            optional(counts.p50_ms),
            optional(counts.p99_ms),
            optional(counts.max_ms),
            counts.races,
            counts.unexpected,
            counts.server_errors,
            counts.transport_errors,
            optional(row.process.map(|sample| sample.rss_kib)),
            optional(row.peak_rss_kib),
            optional(row.process.and_then(|sample| sample.open_fds)),
            row.live_assets,
            row.live_tags
        ));
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows of 10-s intervals with the given RSS peaks, in MiB; the first `warm_up` are the warm-up.
    fn rows(peaks_mib: &[u64], warm_up: usize) -> Vec<IntervalRow> {
        peaks_mib
            .iter()
            .enumerate()
            .map(|(index, &peak)| IntervalRow {
                end_s: (index as f64 + 1.0) * 10.0,
                requests_per_s: 0.0,
                counts: CountsSummary::default(),
                process: Some(ProcessSample {
                    rss_kib: peak * 1024,
                    open_fds: None,
                }),
                peak_rss_kib: Some(peak * 1024),
                live_assets: 0,
                live_tags: 0,
                warm_up: index < warm_up,
            })
            .collect()
    }

    fn verdict(peaks_mib: &[u64], warm_up: usize) -> RssVerdict {
        let start = ProcessSample {
            rss_kib: 1024,
            open_fds: None,
        };
        rss_verdict(&rows(peaks_mib, warm_up), start, warm_up, 0.10).expect("every sample is there")
    }

    #[test]
    fn single_spikes_do_not_move_the_level() {
        let rss = verdict(&[100, 104, 98, 100, 140, 101, 99, 100, 100, 150, 97, 100], 4);
        assert_eq!(rss.warm_up_level_kib, 100 * 1024);
        let levels: Vec<u64> = rss.levels_after_warm_up.iter().map(|level| level.level_kib / 1024).collect();
        assert_eq!(levels, [100, 100]);
        assert_eq!(rss.max_peak_after_warm_up_kib, 150 * 1024);
        assert!(rss.within_limit);
    }

    #[test]
    fn memory_that_stays_raises_the_level() {
        // The third stretch is two intervals long, so it joins the second.
        let rss = verdict(&[100, 100, 100, 100, 105, 106, 104, 107, 112, 113, 114, 115, 116, 118], 4);
        let levels: Vec<(u64, f64)> = rss
            .levels_after_warm_up
            .iter()
            .map(|level| (level.level_kib / 1024, level.end_s))
            .collect();
        assert_eq!(levels, [(105, 80.0), (114, 140.0)]);
        assert!(!rss.within_limit);
        assert_eq!(rss.max_growth_percent, 14.5);
    }
}
