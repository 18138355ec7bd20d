//! Benchmark tools for medialib: seed a repository with generated assets, measure listing and search latency, time
//! SQL statements on a seeded database, and hold mixed traffic against a server while recording its memory.
//!
//! `bench/run.sh` drives these commands together with the upload and throughput measurements; see
//! `docs/benchmarks.md` for the method and the results.

mod http;
mod latency;
mod names;
mod query;
mod seed;
mod soak;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "medialib-bench", about = "Benchmark tools for medialib")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inserts generated assets and tags into a repository of a data directory.
    Seed(seed::SeedArgs),
    /// Measures p50 and p99 of listing, keyword search, tag filters and a deep cursor page on a running server.
    Latency(latency::LatencyArgs),
    /// Runs and times one SQL statement on a data directory's database, with the server's SQLite library.
    Query(query::QueryArgs),
    /// Sends mixed Asset API traffic for a fixed time and records latency, errors and the server's RSS per interval.
    /// Fails on any 5xx or lost request, or when RSS rises after the warm-up.
    Soak(soak::SoakArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Seed(args) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(seed::run(args))
        }
        Command::Latency(args) => latency::run(args),
        Command::Query(args) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(query::run(args))
        }
        Command::Soak(args) => soak::run(args),
    }
}
