//! Printing lists as aligned tables or as JSON.

use serde::Serialize;

/// Prints `rows` as JSON when `json` is set, else as a table with `headers`.
pub fn print_list<T: Serialize>(
    items: &[T],
    json: bool,
    headers: &[&str],
    row: impl Fn(&T) -> Vec<String>,
) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(items).expect("records serialise")
        );
        return;
    }
    let rows: Vec<Vec<String>> = items.iter().map(row).collect();
    let mut widths: Vec<usize> = headers
        .iter()
        .map(|header| header.chars().count())
        .collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.iter().map(|header| header.to_string()).collect());
    for row in rows {
        line(row);
    }
}

/// Formats Unix epoch milliseconds as an RFC 3339 UTC time.
pub fn time(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|time| time.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}
