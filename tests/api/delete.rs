//! `DELETE /assets/{id}` and `POST /assets/bulk-delete`.

use serde_json::json;

use crate::fixtures;
use crate::helpers::{send, string_field, TestServer};

#[tokio::test]
async fn delete_asset_then_file_is_404() {
    let server = TestServer::start();
    let asset = server.upload_ok("photo.png", &fixtures::png(2, 2)).await;
    let kept = server.upload_ok("kept.txt", b"kept").await;
    let id = string_field(&asset, "id");
    let file_url = string_field(&asset, "url")
        .split('?')
        .next()
        .unwrap()
        .to_string();
    server
        .fetch(&file_url, &[])
        .await
        .expect(200, "file before the delete");

    let reply = server.delete_asset(id).await;
    reply.expect(204, "DELETE /assets/{id}");
    assert!(
        reply.body.is_empty(),
        "204 has an empty body, got {:?}",
        reply.text()
    );

    let page = server.list_ok(&[("ids", id)]).await;
    assert_eq!(page["items"], json!([]));
    assert_eq!(page["missing_ids"], json!([id]));
    assert_eq!(server.list_ok(&[]).await["total"], 1);

    let file = server.fetch(&file_url, &[]).await;
    file.expect_error(404, None, "file of a deleted asset");

    server
        .delete_asset(id)
        .await
        .expect_error(404, None, "second DELETE of the same asset");
    let kept_file = server.fetch(string_field(&kept, "url"), &[]).await;
    kept_file.expect(200, "the other asset's file stays");
}

#[tokio::test]
async fn delete_unknown_asset_is_404() {
    let server = TestServer::start();
    server.upload_ok("kept.txt", b"kept").await;
    for id in [
        "doesnotexist0000",
        "nope",
        "0b5c1a0e-6b1f-4c4e-9a57-2f6f0f6f0f6f",
    ] {
        server.delete_asset(id).await.expect_error(
            404,
            None,
            &format!("DELETE of unknown asset {id:?}"),
        );
    }
    assert_eq!(server.list_ok(&[]).await["total"], 1);
}

#[tokio::test]
async fn delete_asset_keeps_its_tags() {
    let server = TestServer::start();
    let asset = server.upload_ok("tagged.txt", b"x").await;
    let id = string_field(&asset, "id");
    let tag = server.create_tag_ok("survivor").await;
    server
        .patch_asset(id, &json!({ "tags": [tag["id"]] }))
        .await
        .expect(200, "tag the asset");
    assert_eq!(server.tags_ok().await[0]["count"], 1);

    server
        .delete_asset(id)
        .await
        .expect(204, "delete the tagged asset");
    let tags = server.tags_ok().await;
    assert_eq!(tags.len(), 1, "deleting an asset keeps its tags: {tags:?}");
    assert_eq!(tags[0]["name"], "survivor");
    assert_eq!(
        tags[0]["count"], 0,
        "the count follows the real assignments"
    );
}

#[tokio::test]
async fn bulk_delete_rules() {
    let server = TestServer::start();
    let mut ids = Vec::new();
    for index in 0..4 {
        let asset = server
            .upload_ok(&format!("bulk-{index}.png"), &fixtures::png(2, 2))
            .await;
        ids.push(string_field(&asset, "id").to_string());
    }
    let first_url = server.asset(&ids[0]).await["url"]
        .as_str()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();

    let reply = server
        .bulk_delete(&json!({ "ids": [ids[0], "doesnotexist0000"] }))
        .await;
    reply.expect(204, "one existing id and one unknown id");
    assert!(
        reply.body.is_empty(),
        "204 has an empty body, got {:?}",
        reply.text()
    );
    assert_eq!(
        server.list_ok(&[("ids", &ids[0])]).await["items"],
        json!([])
    );
    server
        .fetch(&first_url, &[])
        .await
        .expect_error(404, None, "file of a bulk-deleted asset");
    assert_eq!(server.list_ok(&[]).await["total"], 3);

    let reply = server
        .bulk_delete(&json!({ "ids": ["doesnotexist0000", "nope", ids[0]] }))
        .await;
    reply.expect_error(404, None, "no id exists (one of them already deleted)");

    server
        .bulk_delete(&json!({ "ids": [] }))
        .await
        .expect_error(400, None, "empty id list");

    let mut too_many: Vec<String> = (0..100)
        .map(|index| format!("unknown-{index:03}"))
        .collect();
    too_many.push(ids[1].clone());
    server
        .bulk_delete(&json!({ "ids": too_many }))
        .await
        .expect_error(400, None, "101 ids");
    assert_eq!(
        server.list_ok(&[]).await["total"],
        3,
        "a rejected bulk delete deletes nothing"
    );

    for body in [
        json!({}),
        json!({ "ids": null }),
        json!({ "ids": ids[1] }),
        json!({ "ids": [1, 2] }),
        json!([ids[1]]),
    ] {
        server
            .bulk_delete(&body)
            .await
            .expect_error(400, None, &format!("body {body}"));
    }
    let reply = send(
        server
            .request(reqwest::Method::POST, "/assets/bulk-delete")
            .header("content-type", "application/json")
            .body("{\"ids\": ["),
    )
    .await;
    reply.expect_error(400, None, "invalid JSON");
    assert_eq!(
        server.list_ok(&[]).await["total"],
        3,
        "rejected bulk deletes delete nothing"
    );

    let mut hundred: Vec<String> = (0..98).map(|index| format!("unknown-{index:03}")).collect();
    hundred.push(ids[1].clone());
    hundred.push(ids[2].clone());
    server
        .bulk_delete(&json!({ "ids": hundred }))
        .await
        .expect(204, "100 ids, two of them existing");
    let page = server.list_ok(&[]).await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["id"], ids[3].as_str());
}
