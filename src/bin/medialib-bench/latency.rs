//! `latency`: p50 and p99 of `GET /assets` requests sent one after another over one keep-alive connection.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::{json, Value};

use crate::http::Connection;
use crate::names::WORDS;

/// Options of `latency`.
#[derive(Debug, clap::Args)]
pub struct LatencyArgs {
    /// Address of the running server, such as 127.0.0.1:3000. Only loopback addresses are accepted.
    #[arg(long)]
    address: SocketAddr,
    /// Write token of the repository.
    #[arg(long, env = "MEDIALIB_BENCH_TOKEN")]
    token: String,
    #[arg(long, default_value = "demo")]
    repository: String,
    /// Measured requests per scenario; keywords of 1 or 2 characters get a fifth of them (at least 20).
    #[arg(long, default_value_t = 1000)]
    requests: usize,
    /// Unmeasured requests sent before each scenario.
    #[arg(long, default_value_t = 5)]
    warmup: usize,
    /// Seconds after which a scenario stops early, once it has measured at least `--min-requests` requests, so that
    /// a slow scenario does not run for hours.
    #[arg(long, default_value_t = 120)]
    scenario_seconds: u64,
    /// Requests a scenario measures before it may stop early.
    #[arg(long, default_value_t = 30)]
    min_requests: usize,
    /// Items walked by cursor before the deep page is measured.
    #[arg(long, default_value_t = 100_000)]
    deep_items: usize,
    /// Page size (`limit`) of every request.
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Seed of the random choice of keywords and tags.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Scenario groups to run, in this order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "plain,keyword,short-keyword,tags,deep"
    )]
    groups: Vec<Group>,
    /// Writes the results as JSON to this file as well.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

/// A group of scenarios.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Group {
    /// `GET /assets` without filters.
    Plain,
    /// Keywords of 3 or more characters: any word of the list, and the 10 most frequent words.
    Keyword,
    /// Keywords of 1 or 2 characters.
    ShortKeyword,
    /// One tag, and two tags.
    Tags,
    /// A cursor walk to the deep page, then the first page and the deep page.
    Deep,
}

/// Keywords of 1 or 2 characters, which the trigram index cannot serve.
const SHORT_KEYWORDS: &[&str] = &[
    "a", "e", "o", "s", "x", "7", "ca", "re", "on", "ng", "jp", "20",
];

/// When a scenario may stop before its requested count.
#[derive(Clone, Copy)]
struct Budget {
    seconds: Duration,
    min_requests: usize,
}

/// Latencies of one scenario, with the `total` of each response.
struct Scenario {
    name: String,
    durations: Vec<Duration>,
    totals: Vec<i64>,
}

pub fn run(args: LatencyArgs) -> anyhow::Result<()> {
    if !args.address.ip().is_loopback() {
        bail!(
            "{} is not a loopback address; this benchmark only sends traffic to this machine",
            args.address
        );
    }
    let authorization = format!("Bearer {}", args.token);
    let mut connection = Connection::open(
        args.address,
        &[
            ("repository", &args.repository),
            ("authorization", &authorization),
        ],
    )?;
    let mut runner = Runner {
        connection: &mut connection,
        budget: Budget {
            seconds: Duration::from_secs(args.scenario_seconds),
            min_requests: args.min_requests,
        },
        warmup: args.warmup,
        results: Vec::new(),
    };
    print_header();

    let limit = args.limit;
    for group in &args.groups {
        match group {
            Group::Plain => {
                let plain = format!("/assets?limit={limit}");
                runner.measure("plain", args.requests, |_| plain.clone())?;
            }
            Group::Keyword => {
                let long_words: Vec<&str> = WORDS
                    .iter()
                    .copied()
                    .filter(|word| word.len() >= 3)
                    .collect();
                let frequent_words = &long_words[..10];
                let mut rng = StdRng::seed_from_u64(args.seed);
                runner.measure("keyword, any word of 3+ characters", args.requests, |_| {
                    keyword_path(limit, choose(&mut rng, &long_words))
                })?;
                runner.measure("keyword, 10 most frequent words", args.requests, |_| {
                    keyword_path(limit, choose(&mut rng, frequent_words))
                })?;
            }
            Group::ShortKeyword => {
                let mut rng = StdRng::seed_from_u64(args.seed + 1);
                let requests = (args.requests / 5).max(20);
                runner.measure("keyword of 1-2 characters", requests, |_| {
                    keyword_path(limit, choose(&mut rng, SHORT_KEYWORDS))
                })?;
            }
            Group::Tags => {
                let tags = tag_ids(runner.connection)?;
                if tags.len() < 2 {
                    eprintln!("the repository has fewer than 2 tags; skipping the tag scenarios");
                    continue;
                }
                let mut rng = StdRng::seed_from_u64(args.seed + 2);
                runner.measure("tags, one tag", args.requests, |_| {
                    format!("/assets?limit={limit}&tags={}", choose(&mut rng, &tags))
                })?;
                runner.measure("tags, two tags", args.requests, |_| {
                    let pair: Vec<&String> = tags.choose_multiple(&mut rng, 2).collect();
                    format!("/assets?limit={limit}&tags={}&tags={}", pair[0], pair[1])
                })?;
            }
            Group::Deep => {
                let deep_cursor = runner.walk_cursor(limit, args.deep_items)?;
                let first = format!("/assets?limit={limit}");
                let deep = format!("/assets?limit={limit}&cursor={deep_cursor}");
                runner.measure("first page (for the deep page)", args.requests, |_| {
                    first.clone()
                })?;
                runner.measure(
                    &format!("page after {} items, from its cursor", args.deep_items),
                    args.requests,
                    |_| deep.clone(),
                )?;
            }
        }
    }

    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&runner.results)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn keyword_path(limit: u32, keyword: impl std::fmt::Display) -> String {
    format!("/assets?limit={limit}&keyword={keyword}")
}

fn choose<'a, T>(rng: &mut StdRng, values: &'a [T]) -> &'a T {
    values.choose(rng).expect("the list is not empty")
}

/// Sends the requests of the scenarios over one connection and prints each scenario's row as soon as it is measured,
/// so that a failure later in the run keeps the rows measured so far.
struct Runner<'a> {
    connection: &'a mut Connection,
    budget: Budget,
    warmup: usize,
    results: Vec<Value>,
}

impl Runner<'_> {
    /// Sends `warmup` unmeasured then up to `count` measured requests, the path of request `i` being `path(i)`.
    fn measure(
        &mut self,
        name: &str,
        count: usize,
        mut path: impl FnMut(usize) -> String,
    ) -> anyhow::Result<()> {
        for index in 0..self.warmup {
            timed_fetch(self.connection, &path(index))?;
        }
        let mut scenario = Scenario {
            name: name.to_owned(),
            durations: Vec::with_capacity(count),
            totals: Vec::new(),
        };
        let started = Instant::now();
        for index in 0..count {
            if index >= self.budget.min_requests && started.elapsed() > self.budget.seconds {
                eprintln!(
                    "{name}: stopped after {index} requests and {} s",
                    self.budget.seconds.as_secs()
                );
                break;
            }
            let (duration, page) = timed_fetch(self.connection, &path(index))?;
            scenario.durations.push(duration);
            scenario.totals.push(page["total"].as_i64().unwrap_or(-1));
        }
        self.record(&scenario);
        Ok(())
    }

    /// Walks pages by cursor until `items` items were seen, records every page's latency, and returns the cursor
    /// there.
    fn walk_cursor(&mut self, limit: u32, items: usize) -> anyhow::Result<String> {
        let mut scenario = Scenario {
            name: format!("every page of a cursor walk over {items} items"),
            durations: Vec::new(),
            totals: Vec::new(),
        };
        let mut seen = 0;
        let mut path = format!("/assets?limit={limit}");
        loop {
            let (duration, page) = timed_fetch(self.connection, &path)?;
            scenario.durations.push(duration);
            scenario.totals.push(page["total"].as_i64().unwrap_or(-1));
            seen += page["items"].as_array().map_or(0, Vec::len);
            let cursor = page["cursor"]
                .as_str()
                .context("the walk reached the last page before the deep page")?
                .to_owned();
            if seen >= items {
                self.record(&scenario);
                return Ok(cursor);
            }
            path = format!("/assets?limit={limit}&cursor={cursor}");
        }
    }

    fn record(&mut self, scenario: &Scenario) {
        let row = summary(scenario);
        print_row(&row);
        self.results.push(row);
    }
}

/// Returns the ids of the repository's tags.
fn tag_ids(connection: &mut Connection) -> anyhow::Result<Vec<String>> {
    let response = connection.get("/tags")?;
    if response.status != 200 {
        bail!(
            "GET /tags returned {}: {}",
            response.status,
            String::from_utf8_lossy(&response.body)
        );
    }
    let list: Value = serde_json::from_slice(&response.body)?;
    let items = list["items"]
        .as_array()
        .context("GET /tags returned no items array")?;
    Ok(items
        .iter()
        .filter_map(|tag| tag["id"].as_str().map(str::to_owned))
        .collect())
}

/// Sends `GET path` and returns the time until the whole body was read, then the parsed body.
fn timed_fetch(connection: &mut Connection, path: &str) -> anyhow::Result<(Duration, Value)> {
    let started = Instant::now();
    let response = connection.get(path)?;
    let duration = started.elapsed();
    if response.status != 200 {
        bail!(
            "GET {path} returned {}: {}",
            response.status,
            String::from_utf8_lossy(&response.body)
        );
    }
    Ok((duration, serde_json::from_slice(&response.body)?))
}

/// Returns the nearest-rank percentile `p` (0 to 100) of sorted values.
pub(crate) fn percentile<T: Copy>(sorted: &[T], p: f64) -> T {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(scenario: &Scenario) -> Value {
    let mut durations = scenario.durations.clone();
    durations.sort();
    let mut totals = scenario.totals.clone();
    totals.sort();
    let ms = |duration: Duration| (duration.as_secs_f64() * 1e5).round() / 100.0;
    json!({
        "scenario": scenario.name,
        "requests": durations.len(),
        "p50_ms": ms(percentile(&durations, 50.0)),
        "p90_ms": ms(percentile(&durations, 90.0)),
        "p99_ms": ms(percentile(&durations, 99.0)),
        "max_ms": ms(*durations.last().expect("every scenario has requests")),
        "total_min": totals.first(),
        "total_median": percentile(&totals, 50.0),
        "total_max": totals.last(),
    })
}

fn print_header() {
    println!(
        "| Scenario | Requests | p50 ms | p90 ms | p99 ms | max ms | `total` min / median / max |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|");
}

fn print_row(row: &Value) {
    println!(
        "| {} | {} | {} | {} | {} | {} | {} / {} / {} |",
        row["scenario"].as_str().unwrap_or_default(),
        row["requests"],
        row["p50_ms"],
        row["p90_ms"],
        row["p99_ms"],
        row["max_ms"],
        row["total_min"],
        row["total_median"],
        row["total_max"]
    );
}
