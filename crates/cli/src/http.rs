//! A minimal HTTP/1.1 GET client for `bioguard audit export`: plain `http://host:port` only,
//! one request per connection. Enough to fetch a log from a service on a trusted network or
//! loopback without a TLS stack in the command-line tool.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context, bail};

/// GETs `path` from `base` (`http://host:port`), returning the body of a 200 response.
pub fn get(base: &str, path: &str) -> anyhow::Result<String> {
    let host = base
        .strip_prefix("http://")
        .context("the server address must start with http:// (for example http://127.0.0.1:8600)")?
        .trim_end_matches('/');
    let addr = host
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {host}"))?
        .next()
        .with_context(|| format!("{host} has no address"))?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .with_context(|| format!("cannot connect to {host}"))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8(raw).context("the response is not UTF-8")?;
    let (head, body) = text.split_once("\r\n\r\n").context("truncated response")?;
    let status = head.split(' ').nth(1).unwrap_or("");
    if status != "200" {
        bail!(
            "GET {path} answered {status}: {}",
            body.chars().take(300).collect::<String>()
        );
    }
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || tail.len() < n {
                break;
            }
            out.push_str(&tail[..n]);
            rest = tail[n..].trim_start_matches("\r\n");
        }
        return Ok(out);
    }
    Ok(body.to_owned())
}
