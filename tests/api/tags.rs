//! `/tags`: create, rename, delete, order, counts, assign and unassign, and the tag objects on assets.

use futures::future::join_all;
use serde_json::{json, Value};

use crate::helpers::{int_field, next_millisecond, send, string_field, TestServer};

fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(index, c)| match index {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Asserts that `tag` is exactly `{id, name, created_at, last_modified}`.
#[track_caller]
fn assert_tag_shape(tag: &Value) {
    let object = tag
        .as_object()
        .unwrap_or_else(|| panic!("a tag is a JSON object: {tag}"));
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        vec!["created_at", "id", "last_modified", "name"],
        "tag fields: {tag}"
    );
    assert!(is_uuid(string_field(tag, "id")), "tag ids are UUIDs: {tag}");
    assert!(
        int_field(tag, "last_modified") >= int_field(tag, "created_at"),
        "{tag}"
    );
}

async fn tag_names(server: &TestServer) -> Vec<String> {
    server
        .tags_ok()
        .await
        .iter()
        .map(|tag| string_field(tag, "name").to_string())
        .collect()
}

#[tokio::test]
async fn tag_create_returns_201_without_count() {
    let server = TestServer::start();
    let tag = server.create_tag_ok("Nature").await;
    assert_tag_shape(&tag);
    assert_eq!(tag["name"], "Nature");

    let listed = server.tags_ok().await;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0]["count"], 0,
        "GET /tags carries a count: {}",
        listed[0]
    );
    for field in ["id", "name", "created_at", "last_modified"] {
        assert_eq!(listed[0][field], tag[field], "`{field}` in GET /tags");
    }
}

#[tokio::test]
async fn tag_names_stored_exactly_as_sent() {
    let server = TestServer::start();
    let names = [
        "nature",
        "Nature",
        " nature ",
        "na\u{ef}ve",
        "nai\u{308}ve",
        "a",
        "🌲 forest",
    ];
    for name in names {
        let tag = server.create_tag_ok(name).await;
        assert_eq!(tag["name"], name, "the name is stored as sent");
    }
    for duplicate in ["nature", " nature ", "nai\u{308}ve"] {
        server.create_tag(duplicate).await.expect_error(
            400,
            None,
            &format!("duplicate tag {duplicate:?}"),
        );
    }
    assert_eq!(server.tags_ok().await.len(), names.len());
}

#[tokio::test]
async fn tag_name_length_and_body_errors() {
    let server = TestServer::start();
    server.create_tag_ok("x").await;
    let twenty = "é".repeat(20);
    assert_eq!(
        server.create_tag_ok(&twenty).await["name"],
        twenty.as_str(),
        "20 code points is the maximum"
    );

    server
        .create_tag("")
        .await
        .expect_error(400, None, "empty tag name");
    server
        .create_tag(&"é".repeat(21))
        .await
        .expect_error(400, None, "tag name of 21 code points");

    for body in [
        json!({}),
        json!({ "name": null }),
        json!({ "name": 5 }),
        json!({ "name": ["x"] }),
        json!("x"),
    ] {
        let reply = send(server.request(reqwest::Method::POST, "/tags").json(&body)).await;
        reply.expect_error(400, None, &format!("POST /tags {body}"));
    }
    let reply = send(
        server
            .request(reqwest::Method::POST, "/tags")
            .header("content-type", "application/json")
            .body("{\"name\":"),
    )
    .await;
    reply.expect_error(400, None, "POST /tags with invalid JSON");
    assert_eq!(server.tags_ok().await.len(), 2);
}

#[tokio::test]
async fn tags_ordered_by_name() {
    let server = TestServer::start();
    for name in ["gamma", "alpha", "delta", "beta"] {
        server.create_tag_ok(name).await;
    }
    assert_eq!(
        tag_names(&server).await,
        vec!["alpha", "beta", "delta", "gamma"]
    );
}

#[tokio::test]
async fn tag_rename_rules() {
    let server = TestServer::start();
    let first = server.create_tag_ok("first").await;
    server.create_tag_ok("other").await;
    let id = string_field(&first, "id");
    next_millisecond().await;

    let renamed = server
        .rename_tag(id, "renamed")
        .await
        .ok_json(200, "rename");
    assert_tag_shape(&renamed);
    assert_eq!(renamed["name"], "renamed");
    assert_eq!(renamed["id"], first["id"]);
    assert_eq!(renamed["created_at"], first["created_at"]);

    server
        .rename_tag(id, "renamed")
        .await
        .expect(200, "rename onto its own name");
    server
        .rename_tag(id, "other")
        .await
        .expect_error(400, None, "rename onto another tag's name");
    let case_variant = server
        .rename_tag(id, "Other")
        .await
        .ok_json(200, "names are case-sensitive");
    assert_eq!(case_variant["name"], "Other");

    server
        .rename_tag(id, "")
        .await
        .expect_error(400, None, "rename to an empty name");
    server.rename_tag(id, &"x".repeat(21)).await.expect_error(
        400,
        None,
        "rename to 21 code points",
    );
    for unknown in ["0b5c1a0e-6b1f-4c4e-9a57-2f6f0f6f0f6f", "nope"] {
        server.rename_tag(unknown, "anything").await.expect_error(
            404,
            None,
            &format!("rename unknown {unknown:?}"),
        );
    }
    let reply = send(
        server
            .request(reqwest::Method::PATCH, &format!("/tags/{id}"))
            .json(&json!({ "name": null })),
    )
    .await;
    reply.expect_error(400, None, "rename to null");

    assert_eq!(tag_names(&server).await, vec!["Other", "other"]);
}

#[tokio::test]
async fn tag_delete_rules() {
    let server = TestServer::start();
    let tag = server.create_tag_ok("doomed").await;
    server.create_tag_ok("kept").await;
    let id = string_field(&tag, "id");

    let reply = server.delete_tag(id).await;
    reply.expect(204, "DELETE /tags/{id}");
    assert!(
        reply.body.is_empty(),
        "204 has an empty body, got {:?}",
        reply.text()
    );
    assert_eq!(tag_names(&server).await, vec!["kept"]);

    server
        .delete_tag(id)
        .await
        .expect_error(404, None, "second delete of the tag");
    server.delete_tag("nope").await.expect_error(
        404,
        None,
        "delete of a tag id of the wrong shape",
    );

    // The name is free again.
    server.create_tag_ok("doomed").await;
}

#[tokio::test]
async fn tag_assign_and_unassign() {
    let server = TestServer::start();
    let mut ids = Vec::new();
    for name in ["a.txt", "b.txt", "c.txt"] {
        ids.push(string_field(&server.upload_ok(name, b"x").await, "id").to_string());
    }
    let tag = server.create_tag_ok("batch").await;
    let tag_id = string_field(&tag, "id");
    server.create_tag_ok("other").await;

    let reply = server
        .assign_tag(tag_id, &json!({ "assetIds": [ids[0], ids[1]] }))
        .await;
    reply.expect(204, "assign");
    assert!(
        reply.body.is_empty(),
        "204 has an empty body, got {:?}",
        reply.text()
    );
    let counts: Vec<(String, i64)> = server
        .tags_ok()
        .await
        .iter()
        .map(|tag| {
            (
                string_field(tag, "name").to_string(),
                int_field(tag, "count"),
            )
        })
        .collect();
    assert_eq!(
        counts,
        vec![("batch".to_string(), 2), ("other".to_string(), 0)]
    );
    assert_eq!(server.asset(&ids[0]).await["tags"], json!([tag]));
    assert_eq!(server.asset(&ids[2]).await["tags"], json!([]));

    server
        .assign_tag(tag_id, &json!({ "assetIds": [ids[0]] }))
        .await
        .expect(204, "assign again");
    assert_eq!(
        server.tags_ok().await[0]["count"],
        2,
        "assigning twice counts once"
    );

    let reply = server
        .unassign_tag(tag_id, &json!({ "assetIds": [ids[0]] }))
        .await;
    reply.expect(204, "unassign");
    assert!(
        reply.body.is_empty(),
        "204 has an empty body, got {:?}",
        reply.text()
    );
    assert_eq!(server.tags_ok().await[0]["count"], 1);
    assert_eq!(server.asset(&ids[0]).await["tags"], json!([]));
    server
        .unassign_tag(tag_id, &json!({ "assetIds": [ids[0]] }))
        .await
        .expect(204, "unassign a tag not assigned");

    let unknown_tag = "0b5c1a0e-6b1f-4c4e-9a57-2f6f0f6f0f6f";
    server
        .assign_tag(unknown_tag, &json!({ "assetIds": [ids[2]] }))
        .await
        .expect_error(404, None, "assign unknown tag");
    server
        .unassign_tag(unknown_tag, &json!({ "assetIds": [ids[1]] }))
        .await
        .expect_error(404, None, "unassign unknown tag");
    server
        .assign_tag(tag_id, &json!({ "assetIds": [ids[2], "doesnotexist0000"] }))
        .await
        .expect_error(404, None, "assign with one unknown asset");
    assert_eq!(
        server.asset(&ids[2]).await["tags"],
        json!([]),
        "a rejected assignment assigns nothing"
    );
    server
        .unassign_tag(tag_id, &json!({ "assetIds": [ids[1], "doesnotexist0000"] }))
        .await
        .expect_error(404, None, "unassign with one unknown asset");
    assert_eq!(
        server.asset(&ids[1]).await["tags"],
        json!([tag]),
        "a rejected unassignment removes nothing"
    );

    for body in [
        json!({ "assetIds": [] }),
        json!({}),
        json!({ "assetIds": ids[2] }),
        json!({ "assetIds": [1] }),
    ] {
        server.assign_tag(tag_id, &body).await.expect_error(
            400,
            None,
            &format!("assign with {body}"),
        );
        server.unassign_tag(tag_id, &body).await.expect_error(
            400,
            None,
            &format!("unassign with {body}"),
        );
    }

    let tags: Vec<Value> = server.tags_ok().await;
    assert_eq!(
        tags[0]["count"], 1,
        "counts equal the real assignments: {tags:?}"
    );
    assert_eq!(tags[1]["count"], 0);
}

#[tokio::test]
async fn tag_changes_and_asset_last_modified() {
    let server = TestServer::start();
    let asset = server.upload_ok("tagged.txt", b"x").await;
    let id = string_field(&asset, "id");
    let zulu = server.create_tag_ok("zulu").await;
    let yankee = server.create_tag_ok("yankee").await;
    let (zulu_id, yankee_id) = (string_field(&zulu, "id"), string_field(&yankee, "id"));
    next_millisecond().await;

    server
        .assign_tag(zulu_id, &json!({ "assetIds": [id] }))
        .await
        .expect(204, "assign zulu");
    server
        .assign_tag(yankee_id, &json!({ "assetIds": [id] }))
        .await
        .expect(204, "assign yankee");
    let tagged = server.asset(id).await;
    let after_assignment = int_field(&tagged, "last_modified");
    assert!(
        after_assignment > int_field(&asset, "last_modified"),
        "tag assignment bumps the asset's last_modified: {asset} -> {tagged}"
    );
    let names: Vec<&str> = tagged["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tag| tag["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["yankee", "zulu"],
        "tags on an asset are ordered by name"
    );
    next_millisecond().await;

    server
        .rename_tag(zulu_id, "alpha")
        .await
        .expect(200, "rename zulu");
    let renamed = server.asset(id).await;
    let names: Vec<&str> = renamed["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tag| tag["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["alpha", "yankee"],
        "the asset shows the new name, ordered by name"
    );
    assert_eq!(
        int_field(&renamed, "last_modified"),
        after_assignment,
        "renaming a tag does not touch its assets"
    );

    server
        .delete_tag(yankee_id)
        .await
        .expect(204, "delete yankee");
    let after_delete = server.asset(id).await;
    assert_eq!(
        after_delete["tags"].as_array().map(Vec::len),
        Some(1),
        "{after_delete}"
    );
    assert_eq!(after_delete["tags"][0]["name"], "alpha");
    assert_eq!(
        int_field(&after_delete, "last_modified"),
        after_assignment,
        "deleting a tag does not touch its assets"
    );
    for tag in after_delete["tags"].as_array().unwrap() {
        assert_tag_shape(tag);
    }
}

#[tokio::test]
async fn tag_counts_match_assignments_under_concurrency() {
    let server = TestServer::start();
    let mut ids = Vec::new();
    for index in 0..12 {
        ids.push(
            string_field(
                &server.upload_ok(&format!("c-{index}.txt"), b"x").await,
                "id",
            )
            .to_string(),
        );
    }
    let red = server.create_tag_ok("red").await;
    let blue = server.create_tag_ok("blue").await;
    let (red_id, blue_id) = (string_field(&red, "id"), string_field(&blue, "id"));

    // Assignments, unassignments and PATCHes of the tag set race on overlapping assets.
    let assign_red = json!({ "assetIds": ids[0..8] });
    let unassign_red = json!({ "assetIds": ids[4..10] });
    let assign_blue = json!({ "assetIds": ids[2..12] });
    let writes = futures::future::join3(
        server.assign_tag(red_id, &assign_red),
        server.unassign_tag(red_id, &unassign_red),
        server.assign_tag(blue_id, &assign_blue),
    );
    let patches: Vec<Value> = ids.iter().map(|_| json!({ "tags": [red_id] })).collect();
    let mut patch_writes = Vec::new();
    for (id, body) in ids.iter().zip(&patches).step_by(3) {
        patch_writes.push(server.patch_asset(id, body));
    }
    let ((first, second, third), patched) =
        futures::future::join(writes, join_all(patch_writes)).await;
    for reply in [first, second, third] {
        reply.expect(204, "concurrent assignment");
    }
    for reply in patched {
        reply.expect(200, "concurrent PATCH of tags");
    }

    for (tag_id, name) in [(red_id, "red"), (blue_id, "blue")] {
        let page = server.list_ok(&[("tags", tag_id), ("limit", "1000")]).await;
        let carried = page["items"].as_array().unwrap().len() as i64;
        let counted = server
            .tags_ok()
            .await
            .iter()
            .find(|tag| tag["name"] == name)
            .map(|tag| int_field(tag, "count"));
        assert_eq!(
            counted,
            Some(carried),
            "the count of {name} equals the assets that carry it"
        );

        let mut by_asset = 0;
        for id in &ids {
            let tags = server.asset(id).await["tags"].clone();
            if tags
                .as_array()
                .unwrap()
                .iter()
                .any(|tag| tag["id"] == tag_id)
            {
                by_asset += 1;
            }
        }
        assert_eq!(
            by_asset, carried,
            "the listing filter and the asset objects agree for {name}"
        );
    }
}
