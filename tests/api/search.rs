//! `GET /assets?keyword=`: folding (case, `ß`, accents, NFC), the fields searched, ranking, literal characters
//! and immediate consistency.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::fixtures;
use crate::helpers::{item_ids, items, next_millisecond, string_field, Multipart, TestServer};

/// Returns the filenames of the assets matching `keyword`, in listing order.
async fn search_filenames(server: &TestServer, keyword: &str) -> Vec<String> {
    let page = server
        .list_ok(&[("keyword", keyword), ("limit", "1000")])
        .await;
    let names: Vec<String> = items(&page)
        .iter()
        .map(|item| string_field(item, "filename").to_string())
        .collect();
    assert_eq!(
        page["total"],
        names.len(),
        "total for keyword {keyword:?}: {page}"
    );
    names
}

async fn search_filename_set(server: &TestServer, keyword: &str) -> BTreeSet<String> {
    search_filenames(server, keyword)
        .await
        .into_iter()
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|name| name.to_string()).collect()
}

#[tokio::test]
async fn search_folds_case_and_accents() {
    let server = TestServer::start();
    for name in [
        "Straße.txt",
        "Résumé.txt",
        "UPPER CASE.txt",
        "Cafe\u{301} menu.txt",
        "unrelated.txt",
    ] {
        server.upload_ok(name, b"text").await;
    }
    let form = Multipart::new()
        .file("notes-only.txt", b"text")
        .text("notes", "Große Fußgängerzone");
    server
        .upload_multipart(form)
        .await
        .expect(200, "upload with notes");

    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("strasse", vec!["Straße.txt"]),
        ("STRASSE", vec!["Straße.txt"]),
        ("straße", vec!["Straße.txt"]),
        ("STRAẞE", vec!["Straße.txt"]),
        ("resume", vec!["Résumé.txt"]),
        ("RÉSUMÉ", vec!["Résumé.txt"]),
        ("Re\u{301}sume\u{301}", vec!["Résumé.txt"]),
        ("sum", vec!["Résumé.txt"]),
        ("upper case", vec!["UPPER CASE.txt"]),
        ("uPPeR", vec!["UPPER CASE.txt"]),
        ("café", vec!["Café menu.txt"]),
        ("cafe", vec!["Café menu.txt"]),
        ("grosse", vec!["notes-only.txt"]),
        ("FUSSGANGER", vec!["notes-only.txt"]),
        ("nothing matches this", vec![]),
    ];
    for (keyword, expected) in cases {
        assert_eq!(
            search_filename_set(&server, keyword).await,
            set(&expected),
            "keyword {keyword:?}"
        );
    }
}

#[tokio::test]
async fn search_covers_notes_credits_and_alt() {
    let server = TestServer::start();
    let fields = [
        ("notes", "moonlight sonata"),
        ("credits", "Jane Photographer"),
        ("alt", "golden retriever"),
    ];
    for (field, value) in fields {
        let form = Multipart::new()
            .file(&format!("{field}.txt"), b"x")
            .text(field, value);
        server.upload_multipart(form).await.expect(200, field);
    }
    server.upload_ok("plain.txt", b"x").await;

    assert_eq!(
        search_filenames(&server, "moonlight").await,
        vec!["notes.txt"]
    );
    assert_eq!(
        search_filenames(&server, "photographer").await,
        vec!["credits.txt"]
    );
    assert_eq!(
        search_filenames(&server, "retriever").await,
        vec!["alt.txt"]
    );
    assert_eq!(search_filenames(&server, "plain").await, vec!["plain.txt"]);
}

#[tokio::test]
async fn search_ranks_best_match_first() {
    let server = TestServer::start();
    // Uploaded from best to worst match, so that newest-first order alone would invert the ranking.
    let uploads: Vec<(&str, Option<(&str, &str)>)> = vec![
        ("report", None),
        ("report-2024.txt", None),
        ("old-report.txt", None),
        ("annual-report.txt", None),
        ("first.txt", Some(("alt", "monthly report chart"))),
        ("second.txt", Some(("notes", "see the report"))),
        ("third.txt", Some(("credits", "report desk"))),
        ("unrelated.txt", Some(("notes", "nothing here"))),
    ];
    for (name, field) in uploads {
        let mut form = Multipart::new().file(name, b"content");
        if let Some((field, value)) = field {
            form = form.text(field, value);
        }
        server.upload_multipart(form).await.expect(200, name);
        next_millisecond().await;
    }

    let expected = vec![
        "report",            // the filename equals the keyword
        "report-2024.txt",   // the filename starts with it
        "annual-report.txt", // the filename contains it (newer first)
        "old-report.txt",
        "third.txt", // a match in alt, notes or credits (newest first)
        "second.txt",
        "first.txt",
    ];
    assert_eq!(search_filenames(&server, "report").await, expected);
    assert_eq!(
        search_filenames(&server, "REPORT").await,
        expected,
        "ranking after case folding"
    );

    // A cursor walk keeps the ranking and returns each match once.
    let walk = server.walk_assets(&[("keyword", "report")], 2).await;
    let page = server
        .list_ok(&[("keyword", "report"), ("limit", "1000")])
        .await;
    assert_eq!(walk.ids, item_ids(&page));
    for page in &walk.pages {
        assert_eq!(page["total"], 7, "{page}");
    }
}

#[tokio::test]
async fn search_special_characters_are_literal() {
    let server = TestServer::start();
    let plain = [
        "100%.txt",
        "100 percent.txt",
        "a_b.txt",
        "axb.txt",
        "star*.txt",
        "starry.txt",
        "it's.txt",
        "its.txt",
    ];
    for name in plain {
        server.upload_ok(name, b"x").await;
    }
    for (name, notes) in [
        ("quoted.txt", "say \"hi\" now"),
        ("unquoted.txt", "say hi now"),
        ("backslash.txt", "C:\\temp\\dir"),
        ("no-backslash.txt", "C:temp dir"),
    ] {
        let form = Multipart::new().file(name, b"x").text("notes", notes);
        server.upload_multipart(form).await.expect(200, name);
    }

    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("%", vec!["100%.txt"]),
        ("100%", vec!["100%.txt"]),
        ("_", vec!["a_b.txt"]),
        ("a_b", vec!["a_b.txt"]),
        ("*", vec!["star*.txt"]),
        ("star*", vec!["star*.txt"]),
        ("'", vec!["it's.txt"]),
        ("it's", vec!["it's.txt"]),
        ("\"", vec!["quoted.txt"]),
        ("\"hi\"", vec!["quoted.txt"]),
        ("\\", vec!["backslash.txt"]),
        ("C:\\temp", vec!["backslash.txt"]),
        ("' OR '1'='1", vec![]),
        ("%_%", vec![]),
    ];
    for (keyword, expected) in cases {
        assert_eq!(
            search_filename_set(&server, keyword).await,
            set(&expected),
            "keyword {keyword:?}"
        );
    }
}

#[tokio::test]
async fn search_is_immediately_consistent() {
    let server = TestServer::start();
    let asset = server.upload_ok("zebra.txt", b"x").await;
    let id = string_field(&asset, "id");
    assert_eq!(
        search_filenames(&server, "zebra").await,
        vec!["zebra.txt"],
        "found right after the upload"
    );

    server
        .patch_asset(id, &json!({ "filename": "giraffe.txt" }))
        .await
        .expect(200, "rename");
    assert_eq!(
        search_filenames(&server, "giraffe").await,
        vec!["giraffe.txt"],
        "found by its new name"
    );
    assert_eq!(
        search_filenames(&server, "zebra").await,
        Vec::<String>::new(),
        "the old name no longer matches"
    );

    server
        .patch_asset(id, &json!({ "notes": "savanna" }))
        .await
        .expect(200, "set notes");
    assert_eq!(
        search_filenames(&server, "savanna").await,
        vec!["giraffe.txt"]
    );
    server
        .patch_asset(id, &json!({ "notes": "" }))
        .await
        .expect(200, "clear notes");
    assert_eq!(
        search_filenames(&server, "savanna").await,
        Vec::<String>::new()
    );

    server.delete_asset(id).await.expect(204, "delete");
    assert_eq!(
        search_filenames(&server, "giraffe").await,
        Vec::<String>::new(),
        "a deleted asset is not found"
    );
}

#[tokio::test]
async fn search_empty_keyword_and_other_filters() {
    let server = TestServer::start();
    server.upload_ok("sunset.png", &fixtures::png(2, 2)).await;
    server.upload_ok("sunset.pdf", &fixtures::pdf()).await;
    server.upload_ok("other.txt", b"x").await;

    let page: Value = server.list_ok(&[("keyword", "")]).await;
    assert_eq!(page["total"], 3, "an empty keyword is no filter: {page}");

    let page = server
        .list_ok(&[("keyword", "sunset"), ("assetType", "image")])
        .await;
    let found = items(&page);
    let names: Vec<&str> = found
        .iter()
        .map(|item| item["filename"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, vec!["sunset.png"]);
    assert_eq!(page["total"], 1);
}
