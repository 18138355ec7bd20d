//! `GET /assets`: order, `limit`, cursor walks, `assetType`, `ids` with `missing_ids`, `tags` and `uploaderId`.

use std::collections::{BTreeSet, HashSet};

use futures::future::join_all;
use serde_json::{json, Value};

use crate::fixtures;
use crate::helpers::{int_field, item_ids, items, next_millisecond, string_field, TestServer};

/// Uploads `count` small text files, `concurrency` at a time, and returns their ids in upload order.
pub async fn upload_many(server: &TestServer, count: usize, concurrency: usize) -> Vec<String> {
    let names: Vec<String> = (0..count)
        .map(|index| format!("file-{index:04}.txt"))
        .collect();
    let mut ids = Vec::with_capacity(count);
    for batch in names.chunks(concurrency) {
        let uploads = batch
            .iter()
            .map(|name| server.upload_ok(name, name.as_bytes()));
        for asset in join_all(uploads).await {
            ids.push(string_field(&asset, "id").to_string());
        }
    }
    ids
}

#[tokio::test]
async fn listing_empty_repository() {
    let server = TestServer::start();
    let page = server.list_ok(&[]).await;
    assert_eq!(page["items"], json!([]));
    assert_eq!(page["total"], 0);
    assert!(
        page.get("cursor").is_none(),
        "an empty result has no cursor: {page}"
    );
    assert!(
        page.get("missing_ids").is_none(),
        "no ids requested, no missing_ids: {page}"
    );
}

#[tokio::test]
async fn listing_newest_first() {
    let server = TestServer::start();
    let mut uploaded = Vec::new();
    for index in 0..5 {
        let asset = server
            .upload_ok(&format!("ordered-{index}.txt"), b"x")
            .await;
        uploaded.push(string_field(&asset, "id").to_string());
        next_millisecond().await;
    }

    let page = server.list_ok(&[]).await;
    let mut expected = uploaded.clone();
    expected.reverse();
    assert_eq!(
        item_ids(&page),
        expected,
        "assets should be listed newest first"
    );
    assert_eq!(page["total"], 5);

    let times: Vec<i64> = items(&page)
        .iter()
        .map(|item| int_field(item, "created_at"))
        .collect();
    assert!(
        times.windows(2).all(|pair| pair[0] >= pair[1]),
        "created_at should not increase: {times:?}"
    );
}

#[tokio::test]
async fn listing_limit_bounds() {
    let server = TestServer::start();
    upload_many(&server, 3, 3).await;

    for limit in ["0", "-1", "1001", "abc", "1.5", "99999999999999999999"] {
        let reply = server.list_assets(&[("limit", limit)]).await;
        reply.expect_error(400, None, &format!("limit={limit}"));
    }

    let page = server.list_ok(&[("limit", "1")]).await;
    assert_eq!(items(&page).len(), 1);
    assert_eq!(page["total"], 3, "total counts every match, not the page");

    let page = server.list_ok(&[("limit", "1000")]).await;
    assert_eq!(items(&page).len(), 3);
}

#[tokio::test]
async fn listing_default_limit_and_cursor_walks() {
    let server = TestServer::start();
    // Concurrent uploads, so that many assets share a creation millisecond.
    let uploaded = upload_many(&server, 105, 8).await;
    let uploaded_set: BTreeSet<String> = uploaded.iter().cloned().collect();

    let first = server.list_ok(&[]).await;
    assert_eq!(items(&first).len(), 100, "the default page size is 100");
    assert_eq!(first["total"], 105);
    assert!(
        first["cursor"].is_string(),
        "a non-empty page carries a cursor: {first}"
    );

    let whole = server.list_ok(&[("limit", "1000")]).await;
    let whole_order = item_ids(&whole);
    assert_eq!(whole_order.len(), 105);
    assert!(
        whole["cursor"].is_string(),
        "the last non-empty page also carries a cursor: {whole}"
    );
    let times: Vec<i64> = items(&whole)
        .iter()
        .map(|item| int_field(item, "created_at"))
        .collect();
    assert!(
        times.windows(2).all(|pair| pair[0] >= pair[1]),
        "newest first across the whole listing"
    );

    for limit in [10, 7, 1000] {
        let walk = server.walk_assets(&[], limit).await;
        let seen: BTreeSet<String> = walk.ids.iter().cloned().collect();
        assert_eq!(
            seen.len(),
            walk.ids.len(),
            "limit {limit}: an asset appeared twice in the walk"
        );
        assert_eq!(
            seen, uploaded_set,
            "limit {limit}: the walk should return every asset once"
        );
        assert_eq!(
            walk.ids, whole_order,
            "limit {limit}: the walk should follow the listing order"
        );
        for page in &walk.pages {
            assert_eq!(
                page["total"], 105,
                "limit {limit}: total on every page: {page}"
            );
        }
    }
}

#[tokio::test]
async fn listing_walk_with_equal_creation_times() {
    let server = TestServer::start();
    let uploaded = upload_many(&server, 30, 30).await;

    let walk = server.walk_assets(&[], 3).await;
    let mut seen = HashSet::new();
    for id in &walk.ids {
        assert!(
            seen.insert(id.clone()),
            "asset {id} appeared twice in the walk"
        );
    }
    assert_eq!(seen, uploaded.into_iter().collect::<HashSet<_>>());
    assert_eq!(walk.pages[0]["total"], 30);
}

#[tokio::test]
async fn listing_walk_survives_inserts_and_deletes() {
    let server = TestServer::start();
    let original = upload_many(&server, 20, 4).await;

    let first = server.list_ok(&[("limit", "4")]).await;
    let mut seen = item_ids(&first);
    let mut cursor = string_field(&first, "cursor").to_string();

    // Change the set in the middle of the walk: three new assets, one seen and two unseen assets deleted.
    upload_many(&server, 3, 3).await;
    let unseen: Vec<&String> = original.iter().filter(|id| !seen.contains(id)).collect();
    let deleted = [seen[0].clone(), unseen[0].clone(), unseen[5].clone()];
    for id in &deleted {
        server
            .delete_asset(id)
            .await
            .expect(204, "delete during the walk");
    }

    loop {
        let page = server.list_ok(&[("limit", "4"), ("cursor", &cursor)]).await;
        let ids = item_ids(&page);
        if ids.is_empty() {
            assert!(page.get("cursor").is_none(), "{page}");
            break;
        }
        seen.extend(ids);
        cursor = string_field(&page, "cursor").to_string();
    }

    let mut counts = std::collections::HashMap::new();
    for id in &seen {
        *counts.entry(id.clone()).or_insert(0) += 1;
    }
    for id in &original {
        if deleted[1..].contains(id) {
            continue;
        }
        assert_eq!(
            counts.get(id),
            Some(&1),
            "asset {id}, present for the whole walk, should appear exactly once"
        );
    }
    assert!(
        counts.values().all(|count| *count == 1),
        "no asset may appear twice: {counts:?}"
    );
}

#[tokio::test]
async fn listing_cursor_bound_to_filters() {
    let server = TestServer::start();
    upload_many(&server, 3, 1).await;
    server.upload_ok("photo.png", &fixtures::png(2, 2)).await;
    let tag = server.create_tag_ok("cursor-tag").await;
    let tag_id = string_field(&tag, "id");

    let page = server
        .list_ok(&[("assetType", "document"), ("limit", "1")])
        .await;
    let cursor = string_field(&page, "cursor").to_string();

    let other_filters: Vec<Vec<(&str, &str)>> = vec![
        vec![("assetType", "image")],
        vec![("assetType", "document"), ("keyword", "file")],
        vec![("assetType", "document"), ("tags", tag_id)],
        vec![("assetType", "document"), ("uploaderId", "ghost")],
        vec![("assetType", "document"), ("ids", "some-id")],
        vec![],
    ];
    for filters in other_filters {
        let mut query = filters.clone();
        query.push(("limit", "1"));
        query.push(("cursor", &cursor));
        let reply = server.list_assets(&query).await;
        reply.expect_error(
            400,
            Some("invalid_cursor"),
            &format!("cursor reused with {filters:?}"),
        );
    }

    // The page size is not a filter: the cursor goes on with another limit.
    let next = server
        .list_ok(&[
            ("assetType", "document"),
            ("limit", "5"),
            ("cursor", &cursor),
        ])
        .await;
    assert_eq!(
        items(&next).len(),
        2,
        "the two documents after the first: {next}"
    );
}

#[tokio::test]
async fn listing_garbled_cursor() {
    let server = TestServer::start();
    upload_many(&server, 3, 1).await;
    let page = server.list_ok(&[("limit", "1")]).await;
    let cursor = string_field(&page, "cursor").to_string();

    let half = cursor[..cursor.len() / 2].to_string();
    let reversed: String = cursor.chars().rev().collect();
    for garbled in [
        "not a cursor",
        "AAAA",
        "%%%%",
        "{}",
        half.as_str(),
        reversed.as_str(),
    ] {
        if garbled == cursor {
            continue;
        }
        let reply = server
            .list_assets(&[("limit", "1"), ("cursor", garbled)])
            .await;
        reply.expect_error(400, Some("invalid_cursor"), &format!("cursor {garbled:?}"));
    }
}

#[tokio::test]
async fn listing_asset_type_filter() {
    let server = TestServer::start();
    let image = server.upload_ok("photo.png", &fixtures::png(2, 2)).await;
    let audio = server.upload_ok("song.mp3", &fixtures::mp3()).await;
    let video = server.upload_ok("clip.mp4", &fixtures::mp4()).await;
    let document = server.upload_ok("paper.pdf", &fixtures::pdf()).await;
    let empty = server.upload_ok("empty.png", b"").await;

    let cases: Vec<(&str, Vec<&Value>)> = vec![
        ("image", vec![&image]),
        ("audio", vec![&audio]),
        ("video", vec![&video]),
        ("document", vec![&empty, &document]),
        ("all", vec![&empty, &document, &video, &audio, &image]),
    ];
    for (asset_type, expected) in cases {
        let page = server.list_ok(&[("assetType", asset_type)]).await;
        let expected_ids: Vec<String> = expected
            .iter()
            .map(|asset| string_field(asset, "id").to_string())
            .collect();
        assert_eq!(item_ids(&page), expected_ids, "assetType={asset_type}");
        assert_eq!(
            page["total"],
            expected_ids.len(),
            "total for assetType={asset_type}"
        );
    }

    for invalid in ["Image", "images", "pdf", "ALL", "photo"] {
        let reply = server.list_assets(&[("assetType", invalid)]).await;
        reply.expect_error(400, None, &format!("assetType={invalid}"));
    }
}

#[tokio::test]
async fn listing_ids_and_missing_ids() {
    let server = TestServer::start();
    let a = server.upload_ok("a.png", &fixtures::png(2, 2)).await;
    next_millisecond().await;
    let b = server.upload_ok("b.txt", b"b").await;
    next_millisecond().await;
    let c = server.upload_ok("c.txt", b"c").await;
    let (a, b, c) = (
        string_field(&a, "id"),
        string_field(&b, "id"),
        string_field(&c, "id"),
    );

    let page = server.list_ok(&[("ids", a), ("ids", b)]).await;
    assert_eq!(
        item_ids(&page),
        vec![b.to_string(), a.to_string()],
        "ids keep the newest-first order"
    );
    assert_eq!(page["total"], 2);
    assert!(
        page.get("missing_ids").is_none(),
        "missing_ids is absent when every id exists: {page}"
    );

    let page = server
        .list_ok(&[("ids", a), ("ids", "doesnotexist0000")])
        .await;
    assert_eq!(item_ids(&page), vec![a.to_string()]);
    assert_eq!(page["missing_ids"], json!(["doesnotexist0000"]));

    // An id of the wrong shape is simply unknown.
    let page = server.list_ok(&[("ids", "../../etc/passwd")]).await;
    assert_eq!(page["items"], json!([]));
    assert_eq!(page["missing_ids"], json!(["../../etc/passwd"]));

    // missing_ids is on every page of a walk.
    let query = [
        ("ids", a),
        ("ids", b),
        ("ids", c),
        ("ids", "missing-one"),
        ("ids", "missing-two"),
    ];
    let walk = server.walk_assets(&query, 1).await;
    assert_eq!(walk.ids, vec![c.to_string(), b.to_string(), a.to_string()]);
    for page in &walk.pages {
        let missing: BTreeSet<String> = page["missing_ids"]
            .as_array()
            .unwrap_or_else(|| panic!("missing_ids should be on every page: {page}"))
            .iter()
            .map(|id| id.as_str().expect("string id").to_string())
            .collect();
        assert_eq!(
            missing,
            BTreeSet::from(["missing-one".to_string(), "missing-two".to_string()]),
            "{page}"
        );
    }

    // ids combine with the other filters; an existing id filtered out is not missing.
    let page = server
        .list_ok(&[("ids", a), ("ids", b), ("assetType", "image")])
        .await;
    assert_eq!(item_ids(&page), vec![a.to_string()]);
    assert!(
        page.get("missing_ids").is_none(),
        "b exists, it is only filtered out: {page}"
    );
}

#[tokio::test]
async fn listing_ids_of_other_repository_are_missing() {
    let server = TestServer::start();
    server.create_repository("other-repo");
    let other_token = server.create_token("other-repo", &[]);
    let form = crate::helpers::Multipart::new().file("theirs.txt", b"theirs");
    let request = server
        .request_as(
            reqwest::Method::POST,
            "/assets",
            Some(&other_token),
            Some("other-repo"),
        )
        .header("content-type", form.content_type())
        .body(form.body());
    let theirs = crate::helpers::send(request)
        .await
        .ok_json(200, "upload to other-repo");
    let theirs_id = string_field(&theirs, "id");

    let page = server.list_ok(&[("ids", theirs_id)]).await;
    assert_eq!(
        page["items"],
        json!([]),
        "another repository's asset is not visible: {page}"
    );
    assert_eq!(page["missing_ids"], json!([theirs_id]));
    let url = string_field(&theirs, "url");
    assert!(url.contains("/files/other-repo/"), "{url}");
}

#[tokio::test]
async fn listing_ids_limit_of_100() {
    let server = TestServer::start();
    let existing = server.upload_ok("kept.txt", b"kept").await;
    let existing_id = string_field(&existing, "id").to_string();

    let mut hundred: Vec<String> = (0..99).map(|index| format!("unknown-{index:03}")).collect();
    hundred.push(existing_id.clone());
    let query: Vec<(&str, &str)> = hundred.iter().map(|id| ("ids", id.as_str())).collect();
    let page = server.list_ok(&query).await;
    assert_eq!(item_ids(&page), vec![existing_id.clone()]);
    assert_eq!(page["missing_ids"].as_array().map(Vec::len), Some(99));

    let mut over: Vec<String> = hundred.clone();
    over.push("unknown-100".to_string());
    let query: Vec<(&str, &str)> = over.iter().map(|id| ("ids", id.as_str())).collect();
    server
        .list_assets(&query)
        .await
        .expect_error(400, None, "101 ids");
}

#[tokio::test]
async fn listing_tags_filter_requires_every_tag() {
    let server = TestServer::start();
    let both = server.upload_ok("both.txt", b"1").await;
    let first_only = server.upload_ok("first.txt", b"2").await;
    server.upload_ok("none.txt", b"3").await;
    let (both, first_only) = (string_field(&both, "id"), string_field(&first_only, "id"));

    let first = server.create_tag_ok("first").await;
    let second = server.create_tag_ok("second").await;
    let (first, second) = (string_field(&first, "id"), string_field(&second, "id"));
    server
        .patch_asset(both, &json!({ "tags": [first, second] }))
        .await
        .expect(200, "tag both");
    server
        .patch_asset(first_only, &json!({ "tags": [first] }))
        .await
        .expect(200, "tag first");

    let page = server.list_ok(&[("tags", first)]).await;
    let ids: BTreeSet<String> = item_ids(&page).into_iter().collect();
    assert_eq!(
        ids,
        BTreeSet::from([both.to_string(), first_only.to_string()])
    );
    assert_eq!(page["total"], 2);

    for query in [
        [("tags", first), ("tags", second)],
        [("tags", second), ("tags", first)],
    ] {
        let page = server.list_ok(&query).await;
        assert_eq!(item_ids(&page), vec![both.to_string()], "{query:?}");
        assert_eq!(page["total"], 1);
    }

    let unknown_tag = "0b5c1a0e-6b1f-4c4e-9a57-2f6f0f6f0f6f";
    for query in [
        vec![("tags", unknown_tag)],
        vec![("tags", first), ("tags", unknown_tag)],
        vec![("tags", "not-a-uuid")],
    ] {
        let page = server.list_ok(&query).await;
        assert_eq!(
            page["items"],
            json!([]),
            "an unknown tag matches nothing: {query:?}"
        );
        assert_eq!(page["total"], 0);
    }
}

#[tokio::test]
async fn listing_uploader_filter() {
    let server = TestServer::start();
    upload_many(&server, 2, 2).await;

    let page = server.list_ok(&[("uploaderId", "ghost")]).await;
    assert_eq!(
        items(&page).len(),
        2,
        "permanent-token uploads belong to ghost: {page}"
    );

    let page = server.list_ok(&[("uploaderId", "someone-else")]).await;
    assert_eq!(page["items"], json!([]));
    assert_eq!(page["total"], 0);
}
