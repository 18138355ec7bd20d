//! Protocol abuse: clients that drip their headers or bodies, connections that never send anything, bodies that end
//! early, a `Content-Length` that lies and header floods. The server must cut such clients off, respond to the others
//! meanwhile, and keep its memory bounded.
//!
//! The time limits here are guards against a hang, with a wide margin for a loaded machine; they are not speed
//! claims.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::fixtures;
use crate::helpers::{raw_http, send, Multipart, TestServer, REPOSITORY};

/// The server's `--read-timeout` in these tests, in seconds.
const READ_TIMEOUT_SECONDS: u64 = 2;
/// How long a healthy server may take to respond to `GET /health` while it is being abused.
const ANSWER_GUARD: Duration = Duration::from_secs(10);
/// How long after its read timeout the server may take to close an abusive connection.
const CLOSE_MARGIN: Duration = Duration::from_secs(8);
/// Maximum growth of the server's resident memory during one abuse test.
const MAX_RSS_GROWTH_KIB: u64 = 64 * 1024;

fn abused_server() -> TestServer {
    TestServer::builder()
        .arg("--read-timeout", &READ_TIMEOUT_SECONDS.to_string())
        .start()
}

/// Resident memory of a process in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

fn assert_rss_bounded(server: &TestServer, before_kib: u64, context: &str) {
    let after_kib = rss_kib(server.pid());
    assert!(
        after_kib <= before_kib + MAX_RSS_GROWTH_KIB,
        "{context}: the server's memory grew from {before_kib} KiB to {after_kib} KiB"
    );
}

/// Checks that a normal client still gets its response: `GET /health` and an authenticated listing, each on a new connection.
async fn assert_answers_others(server: &TestServer, context: &str) {
    let started = Instant::now();
    let request = format!(
        "GET /health HTTP/1.1\r\nHost: {}\r\nconnection: close\r\n\r\n",
        server.addr
    );
    let response = raw_http(server.addr, request.as_bytes(), true, ANSWER_GUARD)
        .await
        .unwrap_or_else(|| panic!("{context}: GET /health got no answer within {ANSWER_GUARD:?}"));
    assert_eq!(response.status, 200, "{context}: GET /health: {response:?}");
    let request = format!(
        "GET /assets?limit=1 HTTP/1.1\r\nHost: {}\r\nrepository: {REPOSITORY}\r\nauthorization: Bearer {}\r\n\
         connection: close\r\n\r\n",
        server.addr, server.token
    );
    let response = raw_http(server.addr, request.as_bytes(), true, ANSWER_GUARD)
        .await
        .unwrap_or_else(|| panic!("{context}: GET /assets got no answer within {ANSWER_GUARD:?}"));
    assert_eq!(response.status, 200, "{context}: GET /assets: {response:?}");
    eprintln!(
        "{context}: normal requests answered in {:?}",
        started.elapsed()
    );
}

/// Reads until the server closes the connection and returns what it sent, or `None` when it was still open after
/// `limit`.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let reading = async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(read) => received.extend_from_slice(&chunk[..read]),
            }
        }
    };
    tokio::time::timeout(limit, reading).await.ok()?;
    Some(received)
}

/// Parses the status code of the first response in `received`, if any.
fn first_status(received: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(received);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// Sends `bytes` one at a time, `pause` apart, until done or the server stops reading. Returns when the connection
/// broke, or `None` if all bytes went out.
async fn drip(stream: &mut TcpStream, bytes: &[u8], pause: Duration) -> Option<Instant> {
    for byte in bytes {
        if stream.write_all(std::slice::from_ref(byte)).await.is_err() {
            return Some(Instant::now());
        }
        tokio::time::sleep(pause).await;
    }
    None
}

fn upload_head(addr: SocketAddr, token: &str, content_type: &str, length: usize) -> String {
    format!(
        "POST /assets HTTP/1.1\r\nHost: {addr}\r\nrepository: {REPOSITORY}\r\nauthorization: Bearer {token}\r\n\
         content-type: {content_type}\r\ncontent-length: {length}\r\n\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dripped_headers_cut_off() {
    let server = abused_server();
    let rss_before = rss_kib(server.pid());
    let addr = server.addr;

    // Each client sends a header block far longer than the read timeout allows at 10 bytes per second.
    let mut head =
        format!("GET /assets HTTP/1.1\r\nHost: {addr}\r\nrepository: {REPOSITORY}\r\nx-drip: ")
            .into_bytes();
    head.extend(std::iter::repeat_n(b'x', 500));
    let clients: Vec<_> = (0..40)
        .map(|_| {
            let head = head.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let mut stream = TcpStream::connect(addr).await.expect("connect");
                let closed = match drip(&mut stream, &head, Duration::from_millis(100)).await {
                    Some(at) => Some(at),
                    None => read_until_closed(&mut stream, Duration::ZERO)
                        .await
                        .map(|_| Instant::now()),
                };
                closed.map(|at| at - started)
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_answers_others(&server, "while 40 clients drip their headers").await;

    let limit = Duration::from_secs(READ_TIMEOUT_SECONDS) + CLOSE_MARGIN;
    for client in clients {
        let closed_after = client.await.expect("client task");
        let closed_after =
            closed_after.expect("the server never closed a connection whose headers dripped");
        assert!(
            closed_after <= limit,
            "a connection dripping its headers stayed open for {closed_after:?}, longer than {limit:?}"
        );
    }
    assert_answers_others(&server, "after the dripping clients").await;
    assert_rss_bounded(&server, rss_before, "dripped headers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bodies_get_408() {
    let server = abused_server();
    let rss_before = rss_kib(server.pid());
    let addr = server.addr;
    let form = Multipart::new().file("dripped.bin", &vec![b'd'; 4096]);
    let body = form.body();
    let head = upload_head(addr, &server.token, &form.content_type(), body.len());

    // Each client sends its headers, then a byte of body every 200 ms (within the read timeout) for three seconds,
    // then stops sending: the read timeout must end the upload with 408.
    let clients: Vec<_> = (0..20)
        .map(|_| {
            let (head, body) = (head.clone(), body.clone());
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await.expect("connect");
                stream
                    .write_all(head.as_bytes())
                    .await
                    .expect("send the headers");
                drip(&mut stream, &body[..15], Duration::from_millis(200)).await;
                let stalled_at = Instant::now();
                let received = read_until_closed(
                    &mut stream,
                    Duration::from_secs(READ_TIMEOUT_SECONDS) + CLOSE_MARGIN,
                )
                .await
                .expect("a stalled upload must be cut off");
                (
                    first_status(&received),
                    stalled_at.elapsed(),
                    String::from_utf8_lossy(&received).into_owned(),
                )
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_answers_others(&server, "while 20 uploads drip their bodies").await;
    let reply = server.upload("normal.png", &fixtures::png(2, 2)).await;
    if reply.status != 200 {
        eprintln!("{}", server.stderr_lines().join("\n"));
    }
    let asset = reply.ok_json(200, "a normal upload while others drip their bodies");

    for client in clients {
        let (status, _stalled_for, received) = client.await.expect("client task");
        assert_eq!(
            status,
            Some(408),
            "a stalled upload ends with 408: {received}"
        );
        assert!(
            received.contains("\"error\""),
            "the 408 carries a JSON error: {received}"
        );
    }
    let page = server.list_ok(&[]).await;
    assert_eq!(page["total"], 1, "only the normal upload is stored: {page}");
    assert_eq!(page["items"][0]["id"], asset["id"]);
    assert_answers_others(&server, "after the stalled uploads").await;
    assert_rss_bounded(&server, rss_before, "dripped bodies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_closed() {
    let server = abused_server();
    let rss_before = rss_kib(server.pid());

    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(
            TcpStream::connect(server.addr)
                .await
                .expect("connect an idle client"),
        );
    }
    assert_answers_others(&server, "with 300 idle connections open").await;
    assert_rss_bounded(&server, rss_before, "300 idle connections");

    let limit = Duration::from_secs(READ_TIMEOUT_SECONDS) + CLOSE_MARGIN;
    let started = Instant::now();
    for stream in &mut idle {
        let left = limit.saturating_sub(started.elapsed());
        assert!(
            read_until_closed(stream, left).await.is_some(),
            "an idle connection that never sent a byte was still open {limit:?} after it was made"
        );
    }
    assert_answers_others(&server, "after the idle connections").await;

    // Connections kept alive after a request, then silent, are closed the same way.
    let request = format!("GET /health HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr);
    let mut kept_alive = Vec::new();
    for _ in 0..30 {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send a request");
        let mut response = [0u8; 12];
        stream
            .read_exact(&mut response)
            .await
            .expect("read the status line");
        assert_eq!(
            &response, b"HTTP/1.1 200",
            "GET /health on a kept-alive connection"
        );
        kept_alive.push(stream);
    }
    let started = Instant::now();
    for stream in &mut kept_alive {
        let left = limit.saturating_sub(started.elapsed());
        assert!(
            read_until_closed(stream, left).await.is_some(),
            "a kept-alive connection silent after its request was still open after {limit:?}"
        );
    }
}

const FRAME_HEADERS: u8 = 0x1;
const FRAME_SETTINGS: u8 = 0x4;
const FRAME_PING: u8 = 0x6;
const FRAME_GOAWAY: u8 = 0x7;
const FLAG_ACK: u8 = 0x1;

/// An HTTP/2 frame as received: type, flags, stream id and payload.
#[derive(Debug)]
struct Http2Frame {
    kind: u8,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
}

fn http2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let length = (payload.len() as u32).to_be_bytes();
    let mut frame = vec![length[1], length[2], length[3], kind, flags];
    frame.extend_from_slice(&stream.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// Takes the complete frames off the front of `buffer`.
fn take_http2_frames(buffer: &mut Vec<u8>) -> Vec<Http2Frame> {
    let mut frames = Vec::new();
    while buffer.len() >= 9 {
        let length = u32::from_be_bytes([0, buffer[0], buffer[1], buffer[2]]) as usize;
        if buffer.len() < 9 + length {
            break;
        }
        let frame: Vec<u8> = buffer.drain(..9 + length).collect();
        frames.push(Http2Frame {
            kind: frame[3],
            flags: frame[4],
            stream: u32::from_be_bytes([frame[5], frame[6], frame[7], frame[8]]) & 0x7fff_ffff,
            payload: frame[9..].to_vec(),
        });
    }
    frames
}

/// Sends `GET /health` over HTTP/2 with prior knowledge, then nothing but, when `answer_pings`, the acknowledgements
/// that an HTTP/2 library sends by itself. Returns the frames received once the server closes the connection, or
/// `None` when it is still open after `limit`.
async fn idle_http2_client(
    addr: SocketAddr,
    answer_pings: bool,
    limit: Duration,
) -> Option<Vec<Http2Frame>> {
    let authority = addr.to_string();
    // HPACK: `:method GET` and `:scheme http` from the static table, `:path` and `:authority` as literals.
    let mut block = vec![0x82, 0x86, 0x04, 7];
    block.extend_from_slice(b"/health");
    block.extend_from_slice(&[0x01, authority.len() as u8]);
    block.extend_from_slice(authority.as_bytes());
    let mut request = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    request.extend(http2_frame(FRAME_SETTINGS, 0, 0, &[]));
    // Flags END_STREAM and END_HEADERS.
    request.extend(http2_frame(FRAME_HEADERS, 0x5, 1, &block));

    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(&request).await.expect("send the request");
    let mut frames = Vec::new();
    let exchange = async {
        let (mut buffer, mut chunk) = (Vec::new(), [0u8; 4096]);
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(read) => buffer.extend_from_slice(&chunk[..read]),
            }
            for frame in take_http2_frames(&mut buffer) {
                let unacknowledged = frame.flags & FLAG_ACK == 0;
                if answer_pings
                    && unacknowledged
                    && matches!(frame.kind, FRAME_PING | FRAME_SETTINGS)
                {
                    let payload: &[u8] = if frame.kind == FRAME_PING {
                        &frame.payload
                    } else {
                        &[]
                    };
                    let ack = http2_frame(frame.kind, FLAG_ACK, 0, payload);
                    let _ = stream.write_all(&ack).await;
                }
                frames.push(frame);
            }
        }
    };
    tokio::time::timeout(limit, exchange).await.ok()?;
    Some(frames)
}

/// An HTTP/2 client that stays connected after its request is disconnected. A live one, which acknowledges pings, gets
/// a graceful shutdown once it has sent nothing else for the read timeout. A silent one is disconnected when it does not
/// acknowledge the server's ping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_http2_connections_closed() {
    let server = abused_server();
    let limit = Duration::from_secs(2 * READ_TIMEOUT_SECONDS) + CLOSE_MARGIN;

    for answer_pings in [true, false] {
        let client = if answer_pings {
            "a client that answers pings"
        } else {
            "a silent client"
        };
        let frames = idle_http2_client(server.addr, answer_pings, limit)
            .await
            .unwrap_or_else(|| {
                panic!("{client}: the idle HTTP/2 connection was still open after {limit:?}")
            });

        let response = frames
            .iter()
            .find(|frame| frame.kind == FRAME_HEADERS && frame.stream == 1)
            .unwrap_or_else(|| {
                panic!("{client}: no response headers on stream 1 among {frames:?}")
            });
        // HPACK static table entry 8 is `:status 200`.
        assert_eq!(
            response.payload.first(),
            Some(&0x88),
            "{client}: GET /health is 200: {frames:?}"
        );
        assert!(
            frames.iter().any(|frame| frame.kind == FRAME_GOAWAY),
            "{client}: the server sends GOAWAY before it closes: {frames:?}"
        );
    }
    assert_answers_others(&server, "after idle HTTP/2 connections").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_body_end_stores_nothing() {
    let server = abused_server();
    let form = Multipart::new().file("cut.bin", &vec![b'c'; 64 * 1024]);
    let body = form.body();

    // A Content-Length larger than the body, then the client closes its side.
    let head = upload_head(
        server.addr,
        &server.token,
        &form.content_type(),
        body.len() + 4096,
    );
    let mut request = head.into_bytes();
    request.extend_from_slice(&body);
    let response = raw_http(server.addr, &request, false, ANSWER_GUARD).await;
    if let Some(response) = &response {
        assert_eq!(
            response.status, 400,
            "a body shorter than its Content-Length: {response:?}"
        );
    }

    // A chunked body without its last chunk.
    let mut request = format!(
        "POST /assets HTTP/1.1\r\nHost: {}\r\nrepository: {REPOSITORY}\r\nauthorization: Bearer {}\r\n\
         content-type: {}\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n",
        server.addr,
        server.token,
        form.content_type(),
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    request.extend_from_slice(b"\r\n");
    let response = raw_http(server.addr, &request, false, ANSWER_GUARD).await;
    if let Some(response) = &response {
        assert_eq!(
            response.status, 400,
            "a chunked body without its last chunk: {response:?}"
        );
    }

    assert_eq!(
        server.list_ok(&[]).await["total"],
        0,
        "no asset from a body that ended early"
    );
    assert_answers_others(&server, "after bodies that ended early").await;
    let lines = server.stderr_lines();
    assert!(
        !lines
            .iter()
            .any(|line| line.contains("http.status=5") || line.contains("panicked")),
        "no 5xx or panic in the log:\n{}",
        lines.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_content_length_is_400() {
    let server = abused_server();
    let form = Multipart::new().file("lie.txt", b"the real file content");
    let body = form.body();

    // The Content-Length covers only the start of the body: the server reads that much, which is a broken multipart
    // body, and the rest is not a request either.
    let mut request =
        upload_head(server.addr, &server.token, &form.content_type(), 40).into_bytes();
    request.extend_from_slice(&body);
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream.write_all(&request).await.expect("send the request");
    let received = read_until_closed(
        &mut stream,
        Duration::from_secs(READ_TIMEOUT_SECONDS) + CLOSE_MARGIN,
    )
    .await
    .expect("the server closes a connection whose bytes make no further request");
    let text = String::from_utf8_lossy(&received);
    assert_eq!(
        first_status(&received),
        Some(400),
        "a truncated multipart body: {text}"
    );
    for status_line in text
        .match_indices("HTTP/1.1 ")
        .map(|(index, _)| &text[index..index + 12])
    {
        let status: u16 = status_line[9..12].parse().expect("a status code");
        assert!(
            (400..500).contains(&status),
            "every response is a client error: {text}"
        );
    }

    assert_eq!(server.list_ok(&[]).await["total"], 0, "nothing was stored");
    assert_answers_others(&server, "after a lying Content-Length").await;
}

/// Headers over medialib's limits (100 fields, 64 KiB) but within hyper's own limits get the JSON 431 on every route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_get_json_431() {
    let server = abused_server();
    let asset = server.upload_ok("limits.png", &fixtures::png(4, 4)).await;

    for path in [
        "/assets",
        "/health",
        "/tags",
        asset["url"].as_str().unwrap_or("/"),
    ] {
        let path = path.strip_prefix(&server.base_url).unwrap_or(path);

        let mut many = server.request(reqwest::Method::GET, path);
        for index in 0..120 {
            many = many.header(format!("x-extra-{index}"), "1");
        }
        send(many).await.expect_error(
            431,
            Some("headers_too_large"),
            &format!("120 header fields on {path}"),
        );

        let long = server
            .request(reqwest::Method::GET, path)
            .header("x-long", "l".repeat(70 * 1024));
        let reply = send(long).await;
        reply.expect_error(
            431,
            Some("headers_too_large"),
            &format!("a 70 KiB header on {path}"),
        );
        assert!(
            reply.text().contains("65536"),
            "the message names the limit: {}",
            reply.text()
        );
    }

    let mut within = server.request(reqwest::Method::GET, "/assets");
    for index in 0..90 {
        within = within.header(format!("x-extra-{index}"), "v".repeat(600));
    }
    send(within)
        .await
        .expect(200, "90 header fields of 600 bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_floods_get_431() {
    let server = abused_server();
    let rss_before = rss_kib(server.pid());
    let addr = server.addr;
    let auth = format!(
        "repository: {REPOSITORY}\r\nauthorization: Bearer {}\r\n",
        server.token
    );

    let many_headers: String = (0..5000)
        .map(|index| format!("x-flood-{index}: {index}\r\n"))
        .collect();
    let huge_header = format!("x-flood: {}\r\n", "h".repeat(1024 * 1024));
    let huge_target = format!("/assets?keyword={}", "k".repeat(1024 * 1024));
    let cases = [
        (
            "5000 header lines",
            format!("GET /assets HTTP/1.1\r\nHost: {addr}\r\n{auth}{many_headers}\r\n"),
        ),
        (
            "a header of 1 MiB",
            format!("GET /assets HTTP/1.1\r\nHost: {addr}\r\n{auth}{huge_header}\r\n"),
        ),
        (
            "a request target of 1 MiB",
            format!("GET {huge_target} HTTP/1.1\r\nHost: {addr}\r\n{auth}\r\n"),
        ),
    ];
    for (label, request) in &cases {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        // The server may close the connection before all of it is written.
        let _ = stream.write_all(request.as_bytes()).await;
        let received = read_until_closed(&mut stream, ANSWER_GUARD)
            .await
            .unwrap_or_else(|| panic!("{label}: the connection stayed open"));
        let status = first_status(&received);
        assert_eq!(
            status,
            Some(431),
            "{label}: {}",
            String::from_utf8_lossy(&received)
        );
    }

    // Many flooding clients at once.
    let flooders: Vec<_> = (0..20)
        .map(|_| {
            let request = cases[0].1.clone();
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await.expect("connect");
                let _ = stream.write_all(request.as_bytes()).await;
                read_until_closed(&mut stream, ANSWER_GUARD)
                    .await
                    .map(|received| first_status(&received))
            })
        })
        .collect();
    assert_answers_others(&server, "during a header flood").await;
    for flooder in flooders {
        let status = flooder
            .await
            .expect("flooder task")
            .expect("a flooding connection stayed open");
        assert_eq!(status, Some(431), "a flooding client gets 431");
    }
    assert_rss_bounded(&server, rss_before, "header floods");
}
