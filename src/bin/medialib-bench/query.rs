//! `query`: runs one SQL statement on a data directory's database with the SQLite library the server links, and
//! prints its first rows and how long each run took. Used to profile slow listings (`EXPLAIN QUERY PLAN …`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{Column, Connection, Row, SqliteConnection, ValueRef};

/// Options of `query`.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// Data directory whose `medialib.sqlite` is opened read-only.
    #[arg(long)]
    data_dir: PathBuf,
    /// Times the statement is run; each run is timed.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Rows of the first run that are printed.
    #[arg(long, default_value_t = 20)]
    show: usize,
    /// The SQL statement.
    sql: String,
}

pub async fn run(args: QueryArgs) -> anyhow::Result<()> {
    let options = SqliteConnectOptions::new()
        .filename(args.data_dir.join("medialib.sqlite"))
        .read_only(true)
        .busy_timeout(Duration::from_secs(10));
    let mut connection = SqliteConnection::connect_with(&options)
        .await
        .context("opening the database")?;
    let version: String = sqlx::query_scalar("SELECT sqlite_version()")
        .fetch_one(&mut connection)
        .await?;
    println!("SQLite {version}");

    for run in 1..=args.runs {
        let started = Instant::now();
        let rows = sqlx::query(&args.sql).fetch_all(&mut connection).await?;
        let elapsed = started.elapsed();
        if run == 1 {
            for row in rows.iter().take(args.show) {
                println!("{}", format_row(row));
            }
            println!("({} rows)", rows.len());
        }
        println!("run {run}: {:.2} ms", elapsed.as_secs_f64() * 1000.0);
    }
    Ok(())
}

fn format_row(row: &SqliteRow) -> String {
    let mut cells = Vec::with_capacity(row.len());
    for (index, column) in row.columns().iter().enumerate() {
        let raw = row.try_get_raw(index).expect("the index is within the row");
        let text = if raw.is_null() {
            "NULL".to_owned()
        } else if let Ok(value) = row.try_get::<i64, _>(index) {
            value.to_string()
        } else if let Ok(value) = row.try_get::<f64, _>(index) {
            value.to_string()
        } else {
            row.try_get::<String, _>(index)
                .unwrap_or_else(|_| "<blob>".to_owned())
        };
        cells.push(format!("{}={text}", column.name()));
    }
    cells.join(" | ")
}
