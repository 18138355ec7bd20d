//! `GET /uploaders`: the distinct uploader ids of the repository's assets.

use crate::helpers::{string_field, TestServer};

#[tokio::test]
async fn uploaders_lists_distinct_ids() {
    let server = TestServer::start();
    assert_eq!(
        server.uploader_ids().await,
        Vec::<String>::new(),
        "no asset, no uploader"
    );

    let first = server.upload_ok("one.txt", b"1").await;
    let second = server.upload_ok("two.txt", b"2").await;
    assert_eq!(
        server.uploader_ids().await,
        vec!["ghost"],
        "permanent-token uploads are listed once, as ghost"
    );

    // Another permanent token of the same repository is still ghost.
    let other_token = server.create_token(crate::helpers::REPOSITORY, &["--label", "second"]);
    server
        .upload_as(&other_token, "three.txt", b"3")
        .await
        .expect(200, "upload with a second token");
    assert_eq!(server.uploader_ids().await, vec!["ghost"]);

    for asset in [&first, &second] {
        server
            .delete_asset(string_field(asset, "id"))
            .await
            .expect(204, "delete");
    }
    assert_eq!(
        server.uploader_ids().await,
        vec!["ghost"],
        "one ghost asset remains"
    );
    let remaining = server.list_ok(&[]).await;
    server
        .delete_asset(remaining["items"][0]["id"].as_str().unwrap())
        .await
        .expect(204, "delete the last");
    assert_eq!(
        server.uploader_ids().await,
        Vec::<String>::new(),
        "uploaders come from existing assets only"
    );
}

#[tokio::test]
async fn uploaders_are_per_repository() {
    let server = TestServer::start();
    server.create_repository("other-repo");
    let other_token = server.create_token("other-repo", &[]);
    let form = crate::helpers::Multipart::new().file("theirs.txt", b"x");
    let request = server
        .request_as(
            reqwest::Method::POST,
            "/assets",
            Some(&other_token),
            Some("other-repo"),
        )
        .header("content-type", form.content_type())
        .body(form.body());
    crate::helpers::send(request)
        .await
        .expect(200, "upload to other-repo");

    assert_eq!(
        server.uploader_ids().await,
        Vec::<String>::new(),
        "another repository's uploads are not listed"
    );
}
