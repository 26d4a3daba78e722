//! A small HTTP/1.1 server on 127.0.0.1 for the download tests and benchmark, written on
//! `std::net` so that it can misbehave on purpose: ignore ranges, change the body (and its
//! ETag), stall mid-body or before the head, drop the connection after N bytes, announce
//! more or less than it sends, redirect (in a loop too), answer 404/500/429 with `Retry-After`,
//! and name the file with a hostile `Content-Disposition`. Optionally behind TLS with a
//! certificate from a test root made by `rcgen`.
//!
//! Every request is logged (path and headers), so a test can prove a `Range` was asked. It
//! also answers `CONNECT` as a proxy whose tunnel leads back to itself.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How one path answers.
#[derive(Clone, Default)]
pub struct Resource {
    /// The body.
    pub body: Arc<Vec<u8>>,
    /// Its ETag (sent as is, quotes included).
    pub etag: Option<String>,
    /// Its Last-Modified.
    pub last_modified: Option<String>,
    /// Answer `Range` requests with 206 (else always 200 with everything).
    pub ranges: bool,
    /// Send this many body bytes (from the body's start), then say nothing for a minute.
    pub stall_at: Option<usize>,
    /// Accept the request, then say nothing (not even the head) for a minute.
    pub stall_head: bool,
    /// Close the connection once the body reaches this offset, on the first `drops` answers.
    pub drop_at: Option<usize>,
    /// How many answers `drop_at` applies to.
    pub drops: usize,
    /// Announce this many more bytes than the body has, then close.
    pub short_by: usize,
    /// Announce this many fewer bytes than the body has, and send the whole body.
    pub long_by: usize,
    /// Answer with this status (and a tiny body) the first `status_times` requests.
    pub status: Option<u16>,
    /// How many requests get `status`; `usize::MAX`: all.
    pub status_times: usize,
    /// `Retry-After` sent with `status`.
    pub retry_after: Option<String>,
    /// Answer 302 to this location.
    pub redirect: Option<String>,
    /// `Content-Disposition` header.
    pub disposition: Option<String>,
}

impl Resource {
    /// A plain file that honours ranges, with an ETag.
    pub fn file(body: Vec<u8>) -> Resource {
        Resource {
            body: Arc::new(body),
            etag: Some("\"v1\"".into()),
            ranges: true,
            ..Default::default()
        }
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Request {
    /// `GET`, or `CONNECT` when used as a proxy.
    pub method: String,
    /// The path (with query).
    pub path: String,
    /// Header names lowercased.
    pub headers: HashMap<String, String>,
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Resource>,
    served: HashMap<String, usize>,
    log: Vec<Request>,
}

/// A running server; stops (and releases every stalled answer) when dropped.
pub struct Server {
    /// `http://127.0.0.1:PORT` or `https://…`.
    pub base: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    /// The test root's PEM, for `--cacert`, when serving TLS.
    pub root_pem: Option<String>,
}

impl Server {
    /// A plain-HTTP server.
    pub fn start() -> Server {
        Self::start_with(None)
    }

    /// An HTTPS server with a certificate for 127.0.0.1 signed by a fresh test root.
    pub fn start_tls() -> Server {
        let (config, root_pem) = tls_config();
        let mut s = Self::start_with(Some(Arc::new(config)));
        s.root_pem = Some(root_pem);
        s
    }

    fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (Arc::clone(&state), Arc::clone(&stop));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (st, sp, tls) = (Arc::clone(&st), Arc::clone(&sp), tls.clone());
                std::thread::spawn(move || {
                    let _ = conn.set_nodelay(true);
                    match tls {
                        None => serve(conn.try_clone().unwrap(), &conn, &st, &sp),
                        Some(cfg) => {
                            let Ok(sc) = rustls::ServerConnection::new(cfg) else {
                                return;
                            };
                            let raw = conn.try_clone().unwrap();
                            serve(rustls::StreamOwned::new(sc, conn), &raw, &st, &sp);
                        }
                    }
                });
            }
        });
        Server {
            base: format!("{scheme}://127.0.0.1:{port}"),
            state,
            stop,
            root_pem: None,
        }
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Serves `res` at `path` (replacing what was there).
    pub fn put(&self, path: &str, res: Resource) {
        self.state.lock().unwrap().routes.insert(path.into(), res);
    }

    /// Changes what `path` serves.
    pub fn edit(&self, path: &str, f: impl FnOnce(&mut Resource)) {
        let mut st = self.state.lock().unwrap();
        if let Some(r) = st.routes.get_mut(path) {
            f(r);
        }
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().log.clone()
    }

    /// The requests for `path`.
    pub fn requests_for(&self, path: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let addr = self.base.rsplit('/').next().unwrap_or_default().to_string();
        let _ = TcpStream::connect(addr);
    }
}

/// Waits up to a minute, or until the server stops.
fn stall(stop: &AtomicBool) {
    for _ in 0..6000 {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn serve<S: Read + Write>(stream: S, raw: &TcpStream, st: &Mutex<State>, stop: &AtomicBool) {
    let mut reader = BufReader::new(stream);
    loop {
        let Some(req) = read_request(&mut reader) else {
            return;
        };
        if req.method == "CONNECT" {
            // As a proxy: the tunnel's far end is this server itself.
            st.lock().unwrap().log.push(req);
            let w = reader.get_mut();
            if w.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .and_then(|()| w.flush())
                .is_err()
            {
                return;
            }
            continue;
        }
        let (res, nth) = {
            let mut s = st.lock().unwrap();
            s.log.push(req.clone());
            let nth = *s.served.entry(req.path.clone()).or_default();
            s.served.insert(req.path.clone(), nth + 1);
            (s.routes.get(&req.path).cloned(), nth)
        };
        let keep = answer(reader.get_mut(), raw, &req, res, nth, stop);
        if !keep {
            let _ = reader.get_mut().flush();
            let _ = raw.shutdown(Shutdown::Both);
            return;
        }
    }
}

fn read_request<R: BufRead>(r: &mut R) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut words = line.split_whitespace();
    let method = words.next()?.to_string();
    let path = words.next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    Some(Request {
        method,
        path,
        headers,
    })
}

/// Writes one answer; returns whether the connection may carry another.
fn answer<W: Write>(
    w: &mut W,
    _raw: &TcpStream,
    req: &Request,
    res: Option<Resource>,
    nth: usize,
    stop: &AtomicBool,
) -> bool {
    let Some(res) = res else {
        let _ = w.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found");
        return true;
    };
    if res.stall_head {
        stall(stop);
        return false;
    }
    if let Some(code) = res.status.filter(|_| nth < res.status_times) {
        let mut head = format!("HTTP/1.1 {code} Oops\r\nContent-Length: 4\r\n");
        if let Some(ra) = &res.retry_after {
            head += &format!("Retry-After: {ra}\r\n");
        }
        let _ = w.write_all(format!("{head}\r\nnope").as_bytes());
        return true;
    }
    if let Some(loc) = &res.redirect {
        let _ = w.write_all(
            format!("HTTP/1.1 302 Found\r\nLocation: {loc}\r\nContent-Length: 0\r\n\r\n")
                .as_bytes(),
        );
        return true;
    }
    let len = res.body.len();
    let if_range_ok = match req.headers.get("if-range") {
        None => true,
        Some(v) => Some(v) == res.etag.as_ref() || Some(v) == res.last_modified.as_ref(),
    };
    let start = req
        .headers
        .get("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|_| res.ranges && if_range_ok);
    let mut head = String::new();
    match start {
        Some(s) if s >= len => {
            let _ = w.write_all(
                format!("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\n\r\n")
                    .as_bytes(),
            );
            return true;
        }
        Some(s) => {
            head += "HTTP/1.1 206 Partial Content\r\n";
            head += &format!("Content-Range: bytes {s}-{}/{len}\r\n", len - 1);
            head += &format!(
                "Content-Length: {}\r\n",
                len - s + res.short_by - res.long_by
            );
        }
        None => {
            head += "HTTP/1.1 200 OK\r\n";
            head += &format!("Content-Length: {}\r\n", len + res.short_by - res.long_by);
        }
    }
    if res.ranges {
        head += "Accept-Ranges: bytes\r\n";
    }
    if let Some(e) = &res.etag {
        head += &format!("ETag: {e}\r\n");
    }
    if let Some(lm) = &res.last_modified {
        head += &format!("Last-Modified: {lm}\r\n");
    }
    if let Some(d) = &res.disposition {
        head += &format!("Content-Disposition: {d}\r\n");
    }
    head += "\r\n";
    if w.write_all(head.as_bytes()).is_err() {
        return false;
    }
    let mut pos = start.unwrap_or(0);
    let drop_at = res.drop_at.filter(|_| nth < res.drops);
    const STEP: usize = 64 * 1024;
    while pos < len {
        let mut end = (pos + STEP).min(len);
        for limit in [res.stall_at, drop_at].into_iter().flatten() {
            if limit > pos {
                end = end.min(limit);
            }
        }
        if w.write_all(&res.body[pos..end]).is_err() {
            return false;
        }
        pos = end;
        if Some(pos) == res.stall_at {
            let _ = w.flush();
            stall(stop);
            return false;
        }
        if Some(pos) == drop_at {
            return false;
        }
    }
    res.short_by == 0
}

/// A server config for 127.0.0.1 signed by a fresh root, and that root's PEM.
fn tls_config() -> (rustls::ServerConfig, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Ripcord test root");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone()], key)
    .unwrap();
    (config, ca_cert.pem())
}
