//! A minimal blocking HTTP/1.1 client over one keep-alive connection, for latency and soak measurements.
//!
//! It sends requests with an optional body and reads responses framed by `Content-Length` or chunked encoding,
//! nothing more. A request
//! costs it one `write` and a few buffered reads, microseconds against the milliseconds measured, and it adds no
//! connection pool, TLS or async runtime between the clock and the socket. The crate's HTTP client (reqwest) is a
//! development dependency only, so a binary of the crate cannot use it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{bail, Context};

/// One keep-alive connection to a server.
pub struct Connection {
    address: SocketAddr,
    headers: String,
    reader: BufReader<TcpStream>,
    /// Whether the last response carried `connection: close`, so the next request must open a new connection.
    closed_by_server: bool,
}

/// Status and body of a response.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Connection {
    /// Connects to `address`; every request carries the `headers` given as `name: value` pairs.
    pub fn open(address: SocketAddr, headers: &[(&str, &str)]) -> anyhow::Result<Self> {
        let mut header_text = format!("host: {address}\r\n");
        for (name, value) in headers {
            header_text.push_str(&format!("{name}: {value}\r\n"));
        }
        let stream = connect(address)?;
        Ok(Self {
            address,
            headers: header_text,
            reader: BufReader::with_capacity(64 * 1024, stream),
            closed_by_server: false,
        })
    }

    /// Sends `GET path_and_query` and reads the whole response; reconnects once if the server closed the connection.
    pub fn get(&mut self, path_and_query: &str) -> anyhow::Result<Response> {
        let request = format!("GET {path_and_query} HTTP/1.1\r\n{}\r\n", self.headers);
        match self.exchange(request.as_bytes(), &[]) {
            Ok(response) => Ok(response),
            Err(_) => {
                self.reconnect()?;
                self.exchange(request.as_bytes(), &[])
            }
        }
    }

    /// Sends `method path_and_query` with `body` of `content_type` (none when `None`) and reads the whole response.
    ///
    /// Unlike [`Connection::get`] it never retries, so that a failed request shows up as an error. It opens a new
    /// connection first when the previous response asked to close this one, and after a failed request the next
    /// call does the same.
    pub fn send(
        &mut self,
        method: &str,
        path_and_query: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> anyhow::Result<Response> {
        if self.closed_by_server {
            self.reconnect()?;
        }
        let mut head = format!("{method} {path_and_query} HTTP/1.1\r\n{}", self.headers);
        if let Some(content_type) = content_type {
            head.push_str(&format!("content-type: {content_type}\r\n"));
        }
        if content_type.is_some() || !body.is_empty() {
            head.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let result = self.exchange(head.as_bytes(), body);
        if result.is_err() {
            self.closed_by_server = true;
        }
        result
    }

    fn reconnect(&mut self) -> anyhow::Result<()> {
        self.reader = BufReader::with_capacity(64 * 1024, connect(self.address)?);
        self.closed_by_server = false;
        Ok(())
    }

    fn exchange(&mut self, head: &[u8], body: &[u8]) -> anyhow::Result<Response> {
        let stream = self.reader.get_mut();
        stream.write_all(head)?;
        if !body.is_empty() {
            stream.write_all(body)?;
        }

        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            bail!("the server closed the connection");
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .with_context(|| format!("invalid status line {line:?}"))?;

        let mut content_length = None;
        let mut chunked = false;
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let Some((name, value)) = header.split_once(':') else {
                bail!("invalid header line {header:?}");
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                content_length = Some(value.parse::<usize>().context("invalid content-length")?);
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                && value.eq_ignore_ascii_case("chunked")
            {
                chunked = true;
            } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close")
            {
                self.closed_by_server = true;
            }
        }

        let body = if chunked {
            self.read_chunked()?
        } else {
            let mut body = vec![0; content_length.unwrap_or(0)];
            self.reader.read_exact(&mut body)?;
            body
        };
        Ok(Response { status, body })
    }

    fn read_chunked(&mut self) -> anyhow::Result<Vec<u8>> {
        let mut body = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let size_text = line.trim_end().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size_text, 16)
                .with_context(|| format!("invalid chunk size {line:?}"))?;
            if size == 0 {
                // Trailer lines end at an empty line.
                loop {
                    line.clear();
                    self.reader.read_line(&mut line)?;
                    if line.trim_end().is_empty() {
                        return Ok(body);
                    }
                }
            }
            let start = body.len();
            body.resize(start + size, 0);
            self.reader.read_exact(&mut body[start..])?;
            let mut crlf = [0; 2];
            self.reader.read_exact(&mut crlf)?;
        }
    }
}

fn connect(address: SocketAddr) -> anyhow::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))
        .with_context(|| format!("connecting to {address}"))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    Ok(stream)
}
