//! Two `medialib serve` processes on one PostgreSQL database and one S3 key prefix, with requests alternating
//! between them, behave as one service. The rate limits hold across both, and concurrent PATCHes and tag changes
//! through both lose nothing. An asset uploaded through one is listed and served by the other at once, and the
//! variant cache budget holds for the shared store. When the rate-limit check in the database stalls, each instance
//! applies the limit on its own instead of failing.
//!
//! The tests need `MEDIALIB_TEST_DATABASE_URL` and `MEDIALIB_TEST_STORAGE_URL`; without them each test prints one
//! line and returns. Run them with `scripts/postgres.sh scripts/s3.sh cargo test --release --test api two_instances`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Connection;

use crate::fixtures;
use crate::image_cache::{total_size, variant_files};
use crate::image_params::base_url;
use crate::helpers::{
    int_field, item_ids, send, start_instance_of, string_field, test_database_url, Reply,
    TestServer, REPOSITORY,
};

/// Returns true when PostgreSQL and S3 are configured; otherwise prints that `test` is skipped.
fn shared_backends_configured(test: &str) -> bool {
    let configured = |name: &str| std::env::var(name).is_ok_and(|value| !value.is_empty());
    if configured("MEDIALIB_TEST_DATABASE_URL") && configured("MEDIALIB_TEST_STORAGE_URL") {
        return true;
    }
    println!(
        "{test}: skipped, it needs MEDIALIB_TEST_DATABASE_URL and MEDIALIB_TEST_STORAGE_URL \
         (run it under scripts/postgres.sh scripts/s3.sh)"
    );
    false
}

/// Starts two instances on one database and file store, both with the extra `serve` arguments `args`.
fn start_pair(args: &[&str]) -> (TestServer, TestServer) {
    let mut builder = TestServer::builder();
    for pair in args.chunks(2) {
        builder = builder.arg(pair[0], pair[1]);
    }
    let first = builder.start();
    let second = start_instance_of(&first, args);
    (first, second)
}

async fn get_assets(server: &TestServer, token: &str) -> Reply {
    send(server.request_as(Method::GET, "/assets", Some(token), Some(REPOSITORY))).await
}

/// Asserts a 429 with a whole-second `retry-after` between 1 and `max_seconds`, and returns that value.
#[track_caller]
fn assert_rate_limited(reply: &Reply, max_seconds: u64, context: &str) -> u64 {
    reply.expect_error(429, None, context);
    let retry_after = reply
        .header("retry-after")
        .unwrap_or_else(|| panic!("{context}: a 429 needs a retry-after header"));
    let seconds: u64 = retry_after.trim().parse().unwrap_or_else(|_| {
        panic!("{context}: retry-after should be whole seconds, got {retry_after:?}")
    });
    assert!(
        (1..=max_seconds).contains(&seconds),
        "{context}: retry-after should be between 1 and {max_seconds}, got {seconds}"
    );
    seconds
}

/// Replaces the origin of a file URL that `from` returned with the origin of `to`.
fn url_on(url: &str, from: &TestServer, to: &TestServer) -> String {
    let path = url
        .strip_prefix(&from.base_url)
        .unwrap_or_else(|| panic!("file URL {url} does not start with {}", from.base_url));
    format!("{}{path}", to.base_url)
}

#[tokio::test]
async fn two_instances_share_token_rate_limit() {
    if !shared_backends_configured("two_instances_share_token_rate_limit") {
        return;
    }
    let (first, second) = start_pair(&["--rate-limit", "1", "--rate-limit-burst", "3"]);
    let instances = [&first, &second];

    // A request with another token on each instance opens the connections the checks use, so that the measured
    // sequence below runs well within one second.
    let warm_up_token = first.create_token(REPOSITORY, &[]);
    for instance in instances {
        get_assets(instance, &warm_up_token)
            .await
            .expect(200, "warm-up request with another token");
    }

    // GCRA at 1 request per second with a burst of 3: requests 1 to 3 pass, and a fourth sent less than a second
    // after the first is rejected. Two unshared limits would let 6 requests pass.
    let started = Instant::now();
    let mut replies = Vec::new();
    for attempt in 0..6 {
        replies.push(get_assets(instances[attempt % 2], &first.token).await);
    }
    let elapsed = started.elapsed();
    let statuses: Vec<u16> = replies.iter().map(|reply| reply.status).collect();
    assert!(
        elapsed < Duration::from_millis(900),
        "the 6 requests took {elapsed:?}; the expected statuses assume less than a second ({statuses:?})"
    );
    assert_eq!(
        statuses,
        vec![200, 200, 200, 429, 429, 429],
        "alternating requests of one token: the burst of 3 is shared by both instances"
    );
    let mut wait = 0;
    for (attempt, reply) in replies.iter().enumerate().skip(3) {
        let instance = if attempt % 2 == 0 { "first" } else { "second" };
        let context = format!("request {} on the {instance} instance", attempt + 1);
        wait = wait.max(assert_rate_limited(reply, 2, &context));
    }

    // After the wait, one request's worth has come back, for both instances together.
    tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(100)).await;
    get_assets(&first, &first.token)
        .await
        .expect(200, "first instance after waiting retry-after");
    let rejected = get_assets(&second, &first.token).await;
    assert_rate_limited(
        &rejected,
        2,
        "second instance right after the first used the one request that came back",
    );

    get_assets(&second, &warm_up_token)
        .await
        .expect(200, "another token keeps its own budget");
}

#[tokio::test]
async fn two_instances_rate_limit_survives_database_stall() {
    if !shared_backends_configured("two_instances_rate_limit_survives_database_stall") {
        return;
    }
    let (first, second) = start_pair(&["--rate-limit", "1", "--rate-limit-burst", "3"]);
    let stall_token = first.create_token(REPOSITORY, &[]);
    let local_token = first.create_token(REPOSITORY, &[]);
    let shared_token = first.create_token(REPOSITORY, &[]);

    // An exclusive lock on the table stalls every check, like a database that does not respond.
    let database_url = test_database_url(first.data_dir()).expect("a PostgreSQL test database");
    let mut connection = sqlx::PgConnection::connect(&database_url)
        .await
        .expect("connect to the test database");
    let mut transaction = connection.begin().await.expect("begin a transaction");
    sqlx::query("LOCK TABLE rate_limits IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *transaction)
        .await
        .expect("lock the rate_limits table");

    // The first check on each instance waits for the check timeout, then the instance decides by itself.
    let started = Instant::now();
    let (on_first, on_second) = futures::future::join(
        get_assets(&first, &stall_token),
        get_assets(&second, &stall_token),
    )
    .await;
    on_first.expect(200, "first instance while the check stalls");
    on_second.expect(200, "second instance while the check stalls");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a stalled check delays a request by the check timeout only, not {:?}",
        started.elapsed()
    );
    for (name, instance) in [("first", &first), ("second", &second)] {
        assert!(
            instance
                .stderr_lines()
                .iter()
                .any(|line| line.contains("rate-limit check in the database failed")),
            "the {name} instance logs the failed check"
        );
    }

    // Meanwhile each instance applies the limit to its own requests, without delay and without errors.
    let started = Instant::now();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(get_assets(&first, &local_token).await.status);
    }
    statuses.push(get_assets(&second, &local_token).await.status);
    assert_eq!(
        statuses,
        vec![200, 200, 200, 429, 200],
        "during the stall, the burst of 3 holds per instance"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "during the fallback period, checks do not wait for the database: {:?}",
        started.elapsed()
    );

    // Once the database responds again and the fallback period of 5 s has passed, the limit is shared again.
    transaction.commit().await.expect("release the lock");
    tokio::time::sleep(Duration::from_millis(5500)).await;
    let instances = [&first, &second];
    let mut statuses = Vec::new();
    for attempt in 0..4 {
        statuses.push(
            get_assets(instances[attempt % 2], &shared_token)
                .await
                .status,
        );
    }
    assert_eq!(
        statuses,
        vec![200, 200, 200, 429],
        "after the stall, both instances count the token's requests together again"
    );
}

#[tokio::test]
async fn two_instances_share_sign_in_limit() {
    if !shared_backends_configured("two_instances_share_sign_in_limit") {
        return;
    }
    let (first, second) = start_pair(&[]);
    first.create_user("limited@example.com", "right password", &[REPOSITORY]);
    first.create_user("other@example.com", "right password", &[REPOSITORY]);
    let instances = [&first, &second];

    // 5 sign-ins per email and minute, all at once if they come together: attempts 1 to 5 get 401, the sixth 429
    // with a wait of about 12 s. Two unshared limits would allow 10.
    let mut statuses = Vec::new();
    for attempt in 0..6 {
        let reply = instances[attempt % 2]
            .login("limited@example.com", "wrong password")
            .await;
        statuses.push(reply.status);
        if attempt == 5 {
            assert_rate_limited(&reply, 12, "sixth sign-in attempt, on the second instance");
        }
    }
    assert_eq!(
        statuses,
        vec![401, 401, 401, 401, 401, 429],
        "alternating failed sign-ins for one email: both instances count them together"
    );

    first
        .login("other@example.com", "wrong password")
        .await
        .expect_error(401, None, "another email is not limited");
}

#[tokio::test]
async fn two_instances_concurrent_patches_keep_every_field() {
    if !shared_backends_configured("two_instances_concurrent_patches_keep_every_field") {
        return;
    }
    let (first, second) = start_pair(&[]);
    let asset = first.upload_ok("photo.png", &fixtures::png(2, 2)).await;
    let id = string_field(&asset, "id");

    for round in 0..10 {
        let bodies = [
            json!({ "alt": format!("alt {round}") }),
            json!({ "notes": format!("notes {round}") }),
            json!({ "credits": format!("credits {round}") }),
            json!({ "filename": format!("photo-{round}.png") }),
        ];
        let patches = bodies.iter().enumerate().map(|(index, body)| {
            let instance = if (index + round) % 2 == 0 {
                &first
            } else {
                &second
            };
            instance.patch_asset(id, body)
        });
        for (reply, body) in join_all(patches).await.iter().zip(&bodies) {
            reply.expect(200, &format!("round {round}: concurrent PATCH {body}"));
        }

        for (name, instance) in [("first", &first), ("second", &second)] {
            let stored = instance.asset(id).await;
            for body in &bodies {
                let (field, value) = body.as_object().unwrap().iter().next().unwrap();
                assert_eq!(
                    &stored[field], value,
                    "round {round}: the {name} instance lost the acknowledged change of `{field}`"
                );
            }
        }
    }
}

/// Tag ids on an asset, from its `tags` objects.
fn tag_ids_of(asset: &Value) -> BTreeSet<String> {
    asset["tags"]
        .as_array()
        .unwrap_or_else(|| panic!("asset without a tags array: {asset}"))
        .iter()
        .map(|tag| string_field(tag, "id").to_string())
        .collect()
}

/// Asserts, through `instance`, that exactly the pairs of `assigned` are tag assignments: tag counts, the tags of
/// each asset, and the tag filter of the listing.
async fn assert_assignments(
    instance: &TestServer,
    name: &str,
    tag_ids: &[String],
    asset_ids: &[String],
    assigned: &BTreeSet<(usize, usize)>,
    context: &str,
) {
    let tags = instance.tags_ok().await;
    for (tag, tag_id) in tag_ids.iter().enumerate() {
        let expected: BTreeSet<String> = (0..asset_ids.len())
            .filter(|asset| assigned.contains(&(tag, *asset)))
            .map(|asset| asset_ids[asset].clone())
            .collect();
        let listed = tags
            .iter()
            .find(|listed| string_field(listed, "id") == tag_id)
            .unwrap_or_else(|| {
                panic!("{context}: GET /tags on the {name} instance lacks tag {tag_id}")
            });
        assert_eq!(
            int_field(listed, "count"),
            expected.len() as i64,
            "{context}: count of tag {tag} on the {name} instance"
        );

        let page = instance
            .list_ok(&[("tags", tag_id.as_str()), ("limit", "100")])
            .await;
        let found: BTreeSet<String> = item_ids(&page).into_iter().collect();
        assert_eq!(
            found, expected,
            "{context}: GET /assets?tags= of tag {tag} on the {name} instance"
        );
        assert_eq!(
            page["total"],
            expected.len(),
            "{context}: total of tag {tag} on the {name} instance"
        );
    }

    for (asset, asset_id) in asset_ids.iter().enumerate() {
        let expected: BTreeSet<String> = (0..tag_ids.len())
            .filter(|tag| assigned.contains(&(*tag, asset)))
            .map(|tag| tag_ids[tag].clone())
            .collect();
        assert_eq!(
            tag_ids_of(&instance.asset(asset_id).await),
            expected,
            "{context}: tags of asset {asset} on the {name} instance"
        );
    }
}

#[tokio::test]
async fn two_instances_concurrent_tag_changes_keep_exact_counts() {
    if !shared_backends_configured("two_instances_concurrent_tag_changes_keep_exact_counts") {
        return;
    }
    let (first, second) = start_pair(&[]);
    let mut asset_ids = Vec::new();
    for index in 0..6 {
        let asset = first
            .upload_ok(
                &format!("file-{index}.txt"),
                format!("file {index}").as_bytes(),
            )
            .await;
        asset_ids.push(string_field(&asset, "id").to_string());
    }
    let mut tag_ids = Vec::new();
    for name in ["red", "green", "blue"] {
        tag_ids.push(string_field(&first.create_tag_ok(name).await, "id").to_string());
    }

    // Each round moves from one set of assignments to the next with one request per (tag, asset) pair, all at
    // once and alternating between the instances: assign where the pair should end assigned, unassign elsewhere.
    // Assigning an assigned pair and unassigning an unassigned one are part of the mix, and must change nothing.
    let targets: [fn(usize, usize) -> bool; 4] = [
        |tag, asset| (tag + asset) % 2 == 0,
        |tag, asset| (tag * 2 + asset) % 3 != 0,
        |_, _| true,
        |tag, asset| asset % 3 == tag,
    ];
    let (tag_ids, asset_ids) = (&tag_ids, &asset_ids);
    for (round, target) in targets.iter().enumerate() {
        let pairs: Vec<(usize, usize)> = (0..tag_ids.len())
            .flat_map(|tag| (0..asset_ids.len()).map(move |asset| (tag, asset)))
            .collect();
        let requests = pairs.iter().enumerate().map(|(index, &(tag, asset))| {
            let instance = if index % 2 == 0 { &first } else { &second };
            let body = json!({ "assetIds": [asset_ids[asset]] });
            async move {
                let reply = if target(tag, asset) {
                    instance.assign_tag(&tag_ids[tag], &body).await
                } else {
                    instance.unassign_tag(&tag_ids[tag], &body).await
                };
                (tag, asset, reply)
            }
        });
        for (tag, asset, reply) in join_all(requests).await {
            reply.expect(
                204,
                &format!("round {round}: concurrent change of tag {tag} on asset {asset}"),
            );
        }

        let assigned: BTreeSet<(usize, usize)> = pairs
            .iter()
            .copied()
            .filter(|&(tag, asset)| target(tag, asset))
            .collect();
        let context = format!("round {round}");
        assert_assignments(&first, "first", tag_ids, asset_ids, &assigned, &context).await;
        assert_assignments(&second, "second", tag_ids, asset_ids, &assigned, &context).await;
    }
}

#[tokio::test]
async fn two_instances_share_uploads_at_once() {
    if !shared_backends_configured("two_instances_share_uploads_at_once") {
        return;
    }
    let (first, second) = start_pair(&[]);

    for (round, (uploader, reader)) in [(&first, &second), (&second, &first), (&first, &second)]
        .into_iter()
        .enumerate()
    {
        let filename = format!("shared-upload-{round}.png");
        let bytes = fixtures::png(3 + round as u32, 2);
        let asset = uploader.upload_ok(&filename, &bytes).await;
        let id = string_field(&asset, "id");

        // No wait between the upload and the reads on the other instance.
        let newest = reader.list_ok(&[("limit", "1")]).await;
        assert_eq!(
            item_ids(&newest),
            vec![id.to_string()],
            "round {round}: the newest asset on the other instance is the one just uploaded"
        );
        let by_keyword = reader
            .list_ok(&[("keyword", &format!("shared-upload-{round}"))])
            .await;
        assert_eq!(
            item_ids(&by_keyword),
            vec![id.to_string()],
            "round {round}: keyword search on the other instance finds the upload"
        );
        // Asset URLs start with the public URL of the instance that sends the response.
        let listed = reader.asset(id).await;
        let mut expected = asset.clone();
        expected["url"] = json!(url_on(string_field(&asset, "url"), uploader, reader));
        assert_eq!(
            listed, expected,
            "round {round}: the other instance lists the same asset"
        );

        // Without the URL's image parameters, so that the response is the stored bytes.
        let url = string_field(&listed, "url").split('?').next().unwrap();
        let file = reader.fetch(url, &[]).await;
        file.expect(
            200,
            &format!("round {round}: file URL on the other instance"),
        );
        assert_eq!(
            file.body, bytes,
            "round {round}: the other instance serves the uploaded bytes"
        );
    }
}

#[tokio::test]
async fn two_instances_share_the_variant_cache_budget() {
    if !shared_backends_configured("two_instances_share_the_variant_cache_budget") {
        return;
    }
    const BUDGET: u64 = 4096;
    let budget = BUDGET.to_string();
    let (first, second) = start_pair(&["--variant-cache-size", &budget]);
    let asset = first.upload_ok("budget.png", &fixtures::png(64, 64)).await;
    let url = base_url(&asset);

    // The instances take turns, so that each renders less than the budget and only their sum passes it: a budget
    // counted per instance would evict nothing.
    let mut rendered_by = [0u64; 2];
    for (turn, width) in [20, 24, 28, 32, 36, 40, 44, 48].into_iter().enumerate() {
        let server = [&first, &second][turn % 2];
        let variant = format!("{}?w={width}&fm=jpg", url_on(&url, &first, server));
        let reply = server.fetch(&variant, &[]).await;
        reply.expect(200, &format!("w={width} on instance {}", turn % 2 + 1));
        rendered_by[turn % 2] += reply.body.len() as u64;
    }
    assert!(
        rendered_by.iter().all(|&bytes| bytes <= BUDGET) && rendered_by.iter().sum::<u64>() > BUDGET,
        "precondition: each instance renders at most the budget and both together more, got {rendered_by:?}"
    );

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let files = variant_files(&first);
        let size = total_size(&files);
        if size <= BUDGET {
            assert!(!files.is_empty(), "the most recent variants stay");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the shared store still holds {size} bytes of variants, over the budget of {BUDGET}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
