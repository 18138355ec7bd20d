//! `PATCH /assets/{id}`: absent, null and unknown keys, clearing, limits, tags, renames, `last_modified` and
//! concurrent updates.

use futures::future::join;
use serde_json::{json, Value};

use crate::fixtures;
use crate::helpers::{int_field, next_millisecond, string_field, Multipart, TestServer};

/// Uploads `photo.png` with notes and credits and returns the asset.
async fn upload_described(server: &TestServer) -> Value {
    let form = Multipart::new()
        .file("photo.png", &fixtures::png(4, 3))
        .text("notes", "n")
        .text("credits", "c");
    server
        .upload_multipart(form)
        .await
        .ok_json(200, "upload photo.png")
}

#[tokio::test]
async fn patch_sets_field_and_keeps_absent_ones() {
    let server = TestServer::start();
    let asset = upload_described(&server).await;
    let id = string_field(&asset, "id");

    let patched = server
        .patch_asset(id, &json!({ "alt": "a square" }))
        .await
        .ok_json(200, "set alt");
    assert_eq!(patched["alt"], "a square");
    assert_eq!(
        patched["notes"], "n",
        "notes was absent from the PATCH and stays"
    );
    assert_eq!(
        patched["credits"], "c",
        "credits was absent from the PATCH and stays"
    );
    for unchanged in [
        "id",
        "url",
        "filename",
        "extension",
        "size",
        "kind",
        "width",
        "height",
        "created_at",
        "tags",
    ] {
        assert_eq!(
            patched[unchanged], asset[unchanged],
            "`{unchanged}` should not change"
        );
    }
    assert_eq!(
        server.asset(id).await,
        patched,
        "the listing should return the patched asset"
    );

    let patched = server
        .patch_asset(
            id,
            &json!({ "notes": "new notes", "credits": "new credits" }),
        )
        .await
        .ok_json(200, "set two fields");
    assert_eq!(patched["notes"], "new notes");
    assert_eq!(patched["credits"], "new credits");
    assert_eq!(patched["alt"], "a square");
}

#[tokio::test]
async fn patch_empty_object_changes_nothing() {
    let server = TestServer::start();
    let asset = upload_described(&server).await;
    let id = string_field(&asset, "id");
    next_millisecond().await;

    let patched = server
        .patch_asset(id, &json!({}))
        .await
        .ok_json(200, "PATCH {}");
    assert_eq!(
        patched, asset,
        "`{{}}` returns the asset unchanged, last_modified included"
    );

    let patched = server
        .patch_asset(id, &json!({ "unknown": 1, "also": { "nested": true } }))
        .await;
    let patched = patched.ok_json(200, "only unknown keys");
    assert_eq!(patched, asset, "unknown keys are ignored");

    let patched = server
        .patch_asset(id, &json!({ "unknown": 1, "alt": "x" }))
        .await
        .ok_json(200, "unknown + alt");
    assert_eq!(patched["alt"], "x");
    assert!(patched.get("unknown").is_none(), "{patched}");
}

#[tokio::test]
async fn patch_null_or_wrong_type_is_400() {
    let server = TestServer::start();
    let asset = upload_described(&server).await;
    let id = string_field(&asset, "id");

    let bodies = [
        json!({ "notes": null }),
        json!({ "credits": null }),
        json!({ "alt": null }),
        json!({ "filename": null }),
        json!({ "tags": null }),
        json!({ "notes": 1 }),
        json!({ "notes": true }),
        json!({ "credits": ["x"] }),
        json!({ "alt": {} }),
        json!({ "filename": 5 }),
        json!({ "tags": "tag-id" }),
        json!({ "tags": [1] }),
        json!({ "tags": [null] }),
        json!({ "tags": {} }),
        json!({ "alt": "valid", "notes": null }),
    ];
    for body in &bodies {
        server
            .patch_asset(id, body)
            .await
            .expect_error(400, None, &format!("PATCH {body}"));
    }

    for raw in ["{", "", "[]", "\"notes\"", "null", "{\"notes\": \"x\",}"] {
        server.patch_asset_raw(id, raw).await.expect_error(
            400,
            None,
            &format!("PATCH with body {raw:?}"),
        );
    }

    assert_eq!(
        server.asset(id).await,
        asset,
        "rejected PATCHes should change nothing"
    );
}

#[tokio::test]
async fn patch_empty_string_clears_field() {
    let server = TestServer::start();
    let form = Multipart::new()
        .file("photo.png", &fixtures::png(2, 2))
        .text("notes", "n")
        .text("credits", "c")
        .text("alt", "a");
    let asset = server.upload_multipart(form).await.ok_json(200, "upload");
    let id = string_field(&asset, "id");

    let patched = server
        .patch_asset(id, &json!({ "notes": "", "alt": "" }))
        .await
        .ok_json(200, "clear");
    assert_eq!(
        patched["notes"], "",
        "a cleared field is returned as \"\": {patched}"
    );
    assert_eq!(
        patched["alt"], "",
        "a cleared field is returned as \"\": {patched}"
    );
    assert_eq!(patched["credits"], "c");

    let listed = server.asset(id).await;
    assert_eq!(listed["notes"], "");
    assert_eq!(listed["alt"], "");
}

#[tokio::test]
async fn patch_text_field_length_limits() {
    let server = TestServer::start();
    let asset = upload_described(&server).await;
    let id = string_field(&asset, "id");
    let longest = "ß".repeat(500);
    let over = "ß".repeat(501);
    for field in ["notes", "credits", "alt"] {
        let patched = server.patch_asset(id, &json!({ field: longest })).await;
        assert_eq!(
            patched.ok_json(200, &format!("{field} of 500 code points"))[field],
            longest.as_str()
        );
        let reply = server.patch_asset(id, &json!({ field: over })).await;
        reply.expect_error(400, None, &format!("{field} of 501 code points"));
        assert_eq!(
            server.asset(id).await[field],
            longest.as_str(),
            "a rejected PATCH keeps {field}"
        );
    }
}

#[tokio::test]
async fn patch_unknown_asset_is_404() {
    let server = TestServer::start();
    upload_described(&server).await;
    for id in [
        "doesnotexist0000",
        "nope",
        "0b5c1a0e-6b1f-4c4e-9a57-2f6f0f6f0f6f",
        "a.b",
    ] {
        let reply = server.patch_asset(id, &json!({ "notes": "x" })).await;
        reply.expect_error(404, None, &format!("PATCH of unknown asset {id:?}"));
    }
}

#[tokio::test]
async fn patch_tags_replace_and_clear() {
    let server = TestServer::start();
    let asset = upload_described(&server).await;
    let id = string_field(&asset, "id");
    // Created in reverse name order: tags on an asset are ordered by name.
    let zeta = server.create_tag_ok("zeta").await;
    let alpha = server.create_tag_ok("alpha").await;
    let mid = server.create_tag_ok("mid").await;
    let (zeta_id, alpha_id, mid_id) = (
        string_field(&zeta, "id"),
        string_field(&alpha, "id"),
        string_field(&mid, "id"),
    );

    let patched = server
        .patch_asset(id, &json!({ "tags": [zeta_id, alpha_id] }))
        .await
        .ok_json(200, "set tags");
    let tags = patched["tags"].as_array().expect("tags array").clone();
    let names: Vec<&str> = tags
        .iter()
        .map(|tag| tag["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, vec!["alpha", "zeta"], "tags are ordered by name");
    assert_eq!(
        tags[0], alpha,
        "a tag on an asset is {{id, name, created_at, last_modified}}"
    );
    assert_eq!(tags[1], zeta);
    for tag in &tags {
        assert!(
            tag.get("count").is_none(),
            "tags on an asset carry no count: {tag}"
        );
    }
    assert_eq!(patched["notes"], "n", "tags do not touch other fields");

    let patched = server
        .patch_asset(id, &json!({ "tags": [mid_id] }))
        .await
        .ok_json(200, "replace tags");
    assert_eq!(patched["tags"], json!([mid]), "tags replaces the whole set");

    let unknown = "0b5c1a0e-6b1f-4c4e-9a57-2f6f0f6f0f6f";
    for tags in [
        json!([unknown]),
        json!([alpha_id, unknown]),
        json!(["not-a-tag-id"]),
    ] {
        let reply = server.patch_asset(id, &json!({ "tags": tags })).await;
        reply.expect_error(400, None, &format!("PATCH tags {tags}"));
    }
    assert_eq!(
        server.asset(id).await["tags"],
        json!([mid]),
        "a rejected PATCH keeps the tags"
    );

    let patched = server
        .patch_asset(id, &json!({ "tags": [] }))
        .await
        .ok_json(200, "clear tags");
    assert_eq!(patched["tags"], json!([]));
    assert_eq!(server.asset(id).await["tags"], json!([]));
}

#[tokio::test]
async fn patch_rename_keeps_url_and_kind() {
    let server = TestServer::start();
    let asset = server.upload_ok("photo.png", &fixtures::png(4, 3)).await;
    let id = string_field(&asset, "id");

    let patched = server
        .patch_asset(id, &json!({ "filename": "Renamed Photo.JPG" }))
        .await
        .ok_json(200, "rename");
    assert_eq!(patched["filename"], "Renamed Photo.JPG");
    assert_eq!(
        patched["extension"], "jpg",
        "a rename updates the extension"
    );
    assert_eq!(
        patched["url"], asset["url"],
        "a rename does not change the url"
    );
    assert_eq!(patched["kind"], "image", "a rename never changes the kind");
    assert_eq!(patched["width"], 4);
    assert_eq!(patched["height"], 3);

    let cases = [
        ("notes.pdf", "notes.pdf", "pdf"),
        ("no extension", "no extension", ""),
        ("folder/inner.GIF", "inner.GIF", "gif"),
        ("Cafe\u{301}.png", "Caf\u{e9}.png", "png"),
    ];
    for (sent, filename, extension) in cases {
        let patched = server
            .patch_asset(id, &json!({ "filename": sent }))
            .await
            .ok_json(200, sent);
        assert_eq!(patched["filename"], filename, "rename to {sent:?}");
        assert_eq!(
            patched["extension"], extension,
            "extension after renaming to {sent:?}"
        );
        assert_eq!(patched["kind"], "image", "kind after renaming to {sent:?}");
        assert_eq!(patched["url"], asset["url"]);
    }

    let longest = format!("{}.png", "é".repeat(496));
    let patched = server
        .patch_asset(id, &json!({ "filename": longest }))
        .await
        .ok_json(200, "500 code points");
    assert_eq!(patched["filename"], longest.as_str());

    let invalid = [
        String::new(),
        "folder/".to_string(),
        format!("{}.png", "é".repeat(497)),
        "a\u{0}b.png".to_string(),
        "a\nb.png".to_string(),
        "a\u{85}b.png".to_string(),
        "gnp\u{202e}.exe".to_string(),
        "a\u{2066}b.png".to_string(),
    ];
    for filename in &invalid {
        let reply = server
            .patch_asset(id, &json!({ "filename": filename }))
            .await;
        reply.expect_error(400, None, &format!("rename to {filename:?}"));
    }
    assert_eq!(
        server.asset(id).await["filename"],
        longest.as_str(),
        "rejected renames keep the name"
    );
}

#[tokio::test]
async fn patch_bumps_last_modified_only_on_change() {
    let server = TestServer::start();
    let asset = upload_described(&server).await;
    let id = string_field(&asset, "id");
    let created_at = int_field(&asset, "created_at");
    let tag = server.create_tag_ok("kept").await;
    let tag_id = string_field(&tag, "id");
    next_millisecond().await;

    let changed = server
        .patch_asset(id, &json!({ "notes": "changed" }))
        .await
        .ok_json(200, "change notes");
    let after_change = int_field(&changed, "last_modified");
    assert!(
        after_change > int_field(&asset, "last_modified"),
        "a PATCH that changes something bumps last_modified: {asset} -> {changed}"
    );
    assert_eq!(
        int_field(&changed, "created_at"),
        created_at,
        "created_at never changes"
    );
    next_millisecond().await;

    let same_values = [
        json!({ "notes": "changed" }),
        json!({ "credits": "c" }),
        json!({ "filename": "photo.png" }),
        json!({}),
        json!({ "ignored": "key" }),
    ];
    for body in &same_values {
        let patched = server
            .patch_asset(id, body)
            .await
            .ok_json(200, &body.to_string());
        assert_eq!(
            int_field(&patched, "last_modified"),
            after_change,
            "PATCH {body} changes nothing"
        );
    }

    let tagged = server
        .patch_asset(id, &json!({ "tags": [tag_id] }))
        .await
        .ok_json(200, "add tag");
    let after_tags = int_field(&tagged, "last_modified");
    assert!(
        after_tags > after_change,
        "changing tags bumps last_modified"
    );
    next_millisecond().await;
    let same_tags = server
        .patch_asset(id, &json!({ "tags": [tag_id] }))
        .await
        .ok_json(200, "same tags");
    assert_eq!(
        int_field(&same_tags, "last_modified"),
        after_tags,
        "the same tag set changes nothing"
    );

    next_millisecond().await;
    let cleared = server
        .patch_asset(id, &json!({ "alt": "" }))
        .await
        .ok_json(200, "set alt to empty");
    assert!(
        int_field(&cleared, "last_modified") > after_tags,
        "setting an absent field to \"\" is a change"
    );
    assert_eq!(int_field(&cleared, "created_at"), created_at);
}

#[tokio::test]
async fn patch_concurrent_fields_all_survive() {
    let server = TestServer::start();
    let asset = server.upload_ok("photo.png", &fixtures::png(2, 2)).await;
    let id = string_field(&asset, "id");

    for round in 0..10 {
        let notes = format!("notes {round}");
        let credits = format!("credits {round}");
        let notes_body = json!({ "notes": notes });
        let credits_body = json!({ "credits": credits });
        let (first, second) = join(
            server.patch_asset(id, &notes_body),
            server.patch_asset(id, &credits_body),
        )
        .await;
        first.expect(200, "concurrent notes");
        second.expect(200, "concurrent credits");

        let stored = server.asset(id).await;
        assert_eq!(
            stored["notes"],
            notes.as_str(),
            "round {round}: an acknowledged notes change was lost"
        );
        assert_eq!(
            stored["credits"],
            credits.as_str(),
            "round {round}: an acknowledged credits change was lost"
        );
    }
}
