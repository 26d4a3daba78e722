//! The network side of one request: run on a helper thread the worker waits on with its
//! token, because no phase of it looks at a stop signal — name resolution (`getaddrinfo`
//! cannot be interrupted), connecting, the TLS handshake, waiting for headers, reading the
//! body.
//!
//! The helper owns a `ureq` agent of its own and sends what it gets over a short queue:
//! the response's head, then body chunks, then the end or an error. The worker keeps a
//! clone of the agent: dropping a [`Fetch`] shuts the agent down, which wakes a blocked
//! socket read or handshake at once (`Agent::shutdown`), and the helper, finding nobody to
//! send to, ends. A helper still resolving a name or connecting cannot be woken; it is
//! abandoned, holds nothing the worker needs (no file), and ends when that call returns —
//! the worker, the window's close and the process's exit never wait for it.
//!
//! Redirects are followed here, by hand, so that each hop can be checked: at most
//! [`MAX_REDIRECTS`], never from https to http, and the final URL is known (it names the
//! file).

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use ureq::tls::{RootCerts, TlsConfig, TlsProvider};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, DefaultConnector, NextTimeout, Transport,
};

/// Redirects followed at most, as browsers and curl's default.
pub const MAX_REDIRECTS: u32 = 10;

/// Bytes asked of one body read. ureq's own buffer answers most reads with less.
const BODY_CHUNK_BYTES: usize = 256 * 1024;

/// Body chunks that may wait between helper and worker: while the worker is paused or
/// throttled the helper stops reading once these are full.
const QUEUE: usize = 8;

/// Longest a helper may sit in connecting; past it an abandoned helper ends on its own.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a finished answer's connection is watched for bytes past the body's end.
/// A server that sends more than it announced sends it with the body; on loopback or a
/// real link the excess follows within this.
const EXCESS_WAIT: Duration = Duration::from_millis(3);

/// What went wrong on the network, by the kind that decides whether to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetKind {
    /// The URL or a redirect's target is not usable.
    BadUrl,
    /// The host name did not resolve.
    Dns,
    /// The server refused the connection.
    Refused,
    /// The TLS handshake or the certificate check failed.
    Tls,
    /// The connection broke (reset, closed early): worth another try.
    Broken,
    /// A redirect was refused or there were too many.
    Redirect,
    /// The server sent more than its `Content-Length`: which bytes are the file is unknown.
    TooLong,
    /// Anything else (a malformed response, a proxy failure).
    Other,
}

/// A network failure: its kind and a plain sentence.
#[derive(Debug, Clone)]
pub struct NetError {
    /// Decides retrying.
    pub kind: NetKind,
    /// What happened, for the person.
    pub message: String,
}

impl NetError {
    fn new(kind: NetKind, message: impl Into<String>) -> Self {
        NetError {
            kind,
            message: message.into(),
        }
    }
}

/// The parts of a response head a download needs.
#[derive(Debug, Clone, Default)]
pub struct Head {
    /// The status code.
    pub status: u16,
    /// The URL that answered, after redirects.
    pub final_url: String,
    /// `ETag`.
    pub etag: Option<String>,
    /// `Last-Modified`.
    pub last_modified: Option<String>,
    /// `Content-Length`.
    pub content_length: Option<u64>,
    /// `Content-Range`.
    pub content_range: Option<String>,
    /// `Content-Disposition`.
    pub disposition: Option<String>,
    /// `Retry-After`.
    pub retry_after: Option<String>,
}

/// A helper's message.
pub enum Msg {
    /// The final response's head; a body follows for 2xx answers, else `End`.
    Head(Head),
    /// Body bytes: the buffer and how much of it is filled.
    Data(Vec<u8>, usize),
    /// The body ended as its framing says.
    End,
    /// The request or the body failed.
    Failed(NetError),
}

/// How every request of one download is made: the same roots, the same agent settings.
#[derive(Clone)]
pub struct Client {
    roots: RootCerts,
}

impl Client {
    /// Certificates checked against the system's store, or only against the roots in the
    /// PEM file `cacert` (curl's `--cacert`).
    pub fn new(cacert: Option<&std::path::Path>) -> Result<Client, String> {
        let roots = match cacert {
            None => RootCerts::PlatformVerifier,
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    format!(
                        "{}: cannot read the CA file: {}",
                        path.display(),
                        crate::error::describe_io(&e)
                    )
                })?;
                let certs: Vec<_> = ureq::tls::parse_pem(&pem)
                    .filter_map(|item| match item {
                        Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                        _ => None,
                    })
                    .collect();
                if certs.is_empty() {
                    return Err(format!(
                        "{}: no PEM certificate in the CA file",
                        path.display()
                    ));
                }
                RootCerts::Specific(Arc::new(certs))
            }
        };
        Ok(Client { roots })
    }

    /// An agent whose connections count, in `excess`, bytes a server sent past the end
    /// of an answer's body (see [`Watched`]).
    fn agent(&self, excess: &Arc<AtomicU64>) -> ureq::Agent {
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(self.roots.clone())
            .build();
        let config = ureq::Agent::config_builder()
            // Statuses and redirects are the download's to judge (see the module docs).
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(format!("ripcord/{}", env!("CARGO_PKG_VERSION")))
            // A file's bytes, never a compressed rendering that a range would not fit.
            .accept_encoding("identity")
            .tls_config(tls)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .build();
        let connector = DefaultConnector::new().chain(ExcessWatch {
            seen: excess.clone(),
        });
        ureq::Agent::with_parts(
            config,
            connector,
            ureq::unversioned::resolver::DefaultResolver::default(),
        )
    }
}

/// Wraps every connection of an agent in a [`Watched`].
#[derive(Debug)]
struct ExcessWatch {
    seen: Arc<AtomicU64>,
}

impl Connector<Box<dyn Transport>> for ExcessWatch {
    type Out = Watched;

    fn connect(
        &self,
        _: &ConnectionDetails,
        chained: Option<Box<dyn Transport>>,
    ) -> Result<Option<Watched>, ureq::Error> {
        Ok(chained.map(|inner| Watched {
            inner,
            seen: self.seen.clone(),
            clean: false,
        }))
    }
}

/// A connection that notices a body longer than its `Content-Length`.
///
/// ureq reads a body exactly to its announced length and then either returns the
/// connection to its pool — after checking, in `is_open`, that nothing more came — or
/// drops it. Either way the excess is simply discarded. Here both moments look for bytes
/// no answer claimed (in ureq's buffer, or arriving within [`EXCESS_WAIT`], decrypted when
/// the connection is TLS, so a closing alert is not mistaken for data) and add their
/// count to `seen`, which the helper reads once the body has ended.
#[derive(Debug)]
struct Watched {
    inner: Box<dyn Transport>,
    seen: Arc<AtomicU64>,
    /// Already looked at when it went into the pool: its later drop is not an answer's end.
    clean: bool,
}

impl Watched {
    /// Counts bytes the connection holds or receives (within the wait) past the last answer.
    fn look(&mut self) {
        let mut n = self.inner.buffers().input().len();
        if n == 0 {
            let wait = NextTimeout {
                after: EXCESS_WAIT.into(),
                reason: ureq::Timeout::RecvBody,
                per_read: None,
                per_write: None,
            };
            // An error or a timeout here is an end or silence: no excess either way.
            if let Ok(true) = self.inner.await_input(wait) {
                n = self.inner.buffers().input().len();
            }
        }
        // Relaxed: a count written and read on the helper thread that runs the request.
        self.seen.fetch_add(n as u64, Ordering::Relaxed);
    }
}

impl Transport for Watched {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.clean = false;
        self.inner.transmit_output(amount, timeout)
    }

    fn maybe_await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.inner.maybe_await_input(timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        let before = self.seen.load(Ordering::Relaxed);
        self.look();
        // Relaxed: as in `look`.
        if self.seen.load(Ordering::Relaxed) != before {
            return false;
        }
        self.clean = true;
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if !self.clean {
            self.look();
        }
    }
}

/// One request in flight on a helper thread. Dropping it releases the helper.
pub struct Fetch {
    rx: Receiver<Msg>,
    recycle: Sender<Vec<u8>>,
    agent: ureq::Agent,
}

impl Fetch {
    /// Starts `GET url` on a helper; with `range`, asks for the bytes from its offset on,
    /// if the server's version still matches its validator (`If-Range`).
    pub fn start(
        client: &Client,
        url: &str,
        range: Option<(u64, String)>,
    ) -> std::io::Result<Fetch> {
        let (tx, rx) = crossbeam_channel::bounded(QUEUE);
        let (recycle, recycled) = crossbeam_channel::unbounded();
        let excess = Arc::new(AtomicU64::new(0));
        let agent = client.agent(&excess);
        let helper_agent = agent.clone();
        let url = url.to_string();
        std::thread::Builder::new()
            .name("ripcord-http".into())
            .spawn(move || run(&helper_agent, url, range, &tx, &recycled, &excess))?;
        Ok(Fetch { rx, recycle, agent })
    }

    /// Where the helper's messages arrive.
    pub fn messages(&self) -> &Receiver<Msg> {
        &self.rx
    }

    /// Hands a body buffer back for reuse.
    pub fn recycle(&self, buf: Vec<u8>) {
        // The helper may be gone already; the buffer is then simply freed.
        let _ = self.recycle.send(buf);
    }
}

impl Drop for Fetch {
    fn drop(&mut self) {
        // Wakes a helper blocked in a handshake or a read; a finished one loses nothing.
        self.agent.clone().shutdown();
    }
}

/// The helper's work. Every send failing means the worker has left: stop there.
fn run(
    agent: &ureq::Agent,
    mut url: String,
    range: Option<(u64, String)>,
    tx: &Sender<Msg>,
    recycled: &Receiver<Vec<u8>>,
    excess: &AtomicU64,
) {
    let mut hops = 0;
    let response = loop {
        let mut req = agent.get(&url);
        if let Some((from, validator)) = &range {
            req = req
                .header("Range", format!("bytes={from}-"))
                .header("If-Range", validator.as_str());
        }
        let resp = match req.call() {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.send(Msg::Failed(classify(e)));
                return;
            }
        };
        let status = resp.status().as_u16();
        let location = header(&resp, "location");
        match location {
            Some(loc) if (300..400).contains(&status) && status != 304 => {
                hops += 1;
                match next_hop(&url, &loc, hops) {
                    Ok(next) => url = next,
                    Err(e) => {
                        let _ = tx.send(Msg::Failed(e));
                        return;
                    }
                }
            }
            _ => break resp,
        }
    };
    let head = Head {
        status: response.status().as_u16(),
        final_url: url,
        etag: header(&response, "etag"),
        last_modified: header(&response, "last-modified"),
        content_length: header(&response, "content-length").and_then(|v| v.trim().parse().ok()),
        content_range: header(&response, "content-range"),
        disposition: header(&response, "content-disposition"),
        retry_after: header(&response, "retry-after"),
    };
    // What earlier hops' connections left behind is not this answer's.
    // Relaxed: as in `Watched::look`.
    excess.store(0, Ordering::Relaxed);
    let announced = head.content_length;
    let ok = (200..300).contains(&head.status);
    if tx.send(Msg::Head(head)).is_err() {
        return;
    }
    if !ok {
        let _ = tx.send(Msg::End);
        return;
    }
    let mut reader = response.into_body().into_reader();
    loop {
        let mut buf = recycled
            .try_recv()
            .unwrap_or_else(|_| vec![0; BODY_CHUNK_BYTES]);
        let msg = match reader.read(&mut buf) {
            // Relaxed: as in `Watched::look`; the connection was looked at inside this read.
            Ok(0) => match (announced, excess.load(Ordering::Relaxed)) {
                (Some(len), more) if more > 0 => Msg::Failed(NetError::new(
                    NetKind::TooLong,
                    format!("the body is longer than its announced {len} bytes"),
                )),
                _ => Msg::End,
            },
            Ok(n) => Msg::Data(buf, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => Msg::Failed(NetError::new(
                NetKind::Broken,
                format!("connection lost: {}", crate::error::describe_io(&e)),
            )),
        };
        let last = !matches!(msg, Msg::Data(..));
        if tx.send(msg).is_err() || last {
            return;
        }
    }
}

fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The target of a redirect from `from` to `location`, if it may be followed.
fn next_hop(from: &str, location: &str, hops: u32) -> Result<String, NetError> {
    if hops > MAX_REDIRECTS {
        return Err(NetError::new(
            NetKind::Redirect,
            format!("more than {MAX_REDIRECTS} redirects (the last to {location})"),
        ));
    }
    let next = resolve(from, location);
    let scheme = |u: &str| u.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match (scheme(from).as_deref(), scheme(&next).as_deref()) {
        (Some("https"), Some("http")) => Err(NetError::new(
            NetKind::Redirect,
            format!("refused a redirect from https to plain http ({next})"),
        )),
        (_, Some("http" | "https")) => Ok(next),
        _ => Err(NetError::new(
            NetKind::Redirect,
            format!("refused a redirect to {next} (not http or https)"),
        )),
    }
}

/// Resolves a `Location` against the URL it came from (RFC 3986, the common forms).
pub fn resolve(base: &str, location: &str) -> String {
    let location = location.trim();
    if location.contains("://") {
        return location.to_string();
    }
    let Some((scheme, rest)) = base.split_once("://") else {
        return location.to_string();
    };
    if let Some(net) = location.strip_prefix("//") {
        return format!("{scheme}://{net}");
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let origin = format!("{scheme}://{}", &rest[..authority_end]);
    if location.starts_with('/') {
        return format!("{origin}{location}");
    }
    let path = &rest[authority_end..];
    let path = &path[..path.find(['?', '#']).unwrap_or(path.len())];
    if location.starts_with('?') {
        return format!("{origin}{path}{location}");
    }
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    let dir = if dir.is_empty() { "/" } else { dir };
    format!("{origin}{dir}{location}")
}

/// A ureq error as a download failure of a kind.
fn classify(e: ureq::Error) -> NetError {
    use std::io::ErrorKind as K;
    match e {
        ureq::Error::HostNotFound => NetError::new(NetKind::Dns, "cannot resolve the host name"),
        ureq::Error::BadUri(s) => NetError::new(NetKind::BadUrl, format!("bad URL: {s}")),
        ureq::Error::Io(io) => match io.kind() {
            K::ConnectionRefused => NetError::new(NetKind::Refused, "connection refused"),
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                NetError::new(
                    NetKind::Broken,
                    format!("connection lost: {}", crate::error::describe_io(&io)),
                )
            }
            // rustls reports handshake and certificate failures as invalid data.
            K::InvalidData => NetError::new(NetKind::Tls, tls_words(&io.to_string())),
            _ if io.to_string().contains("lookup address") => NetError::new(
                NetKind::Dns,
                format!(
                    "cannot resolve the host name: {}",
                    crate::error::describe_io(&io)
                ),
            ),
            _ => NetError::new(NetKind::Other, crate::error::describe_io(&io)),
        },
        ureq::Error::Timeout(t) => NetError::new(NetKind::Broken, format!("timed out ({t})")),
        ureq::Error::ConnectionFailed => NetError::new(NetKind::Refused, "cannot connect"),
        ureq::Error::Tls(s) => NetError::new(NetKind::Tls, format!("TLS error: {s}")),
        ureq::Error::Rustls(r) => NetError::new(NetKind::Tls, tls_words(&r.to_string())),
        ureq::Error::Protocol(p) => {
            NetError::new(NetKind::Broken, format!("bad HTTP response: {p}"))
        }
        other => NetError::new(NetKind::Other, other.to_string()),
    }
}

/// A TLS failure in words, the certificate's usual faults said plainly before rustls' own.
fn tls_words(raw: &str) -> String {
    let plain = [
        (
            "UnknownIssuer",
            "certificate not trusted: no trusted root signed it",
        ),
        ("NotValidForName", "certificate is for another host name"),
        ("Expired", "certificate has expired"),
        ("NotValidYet", "certificate is not valid yet"),
        ("Revoked", "certificate was revoked"),
        (
            "CaUsedAsEndEntity",
            "certificate not accepted: it is a CA certificate",
        ),
    ]
    .into_iter()
    .find(|(key, _)| raw.contains(key));
    match plain {
        Some((_, words)) => format!("TLS error: {words} ({raw})"),
        None => format!("TLS error: {raw}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_against_their_base() {
        let b = "http://h:1/a/b/c.iso?q=1";
        assert_eq!(resolve(b, "https://x/y"), "https://x/y");
        assert_eq!(resolve(b, "//x/y"), "http://x/y");
        assert_eq!(resolve(b, "/y"), "http://h:1/y");
        assert_eq!(resolve(b, "d.iso"), "http://h:1/a/b/d.iso");
        assert_eq!(resolve(b, "?z"), "http://h:1/a/b/c.iso?z");
        assert_eq!(resolve("http://h", "x"), "http://h/x");
    }

    #[test]
    fn https_to_http_is_refused() {
        let e = next_hop("https://h/a", "http://h/b", 1).err().unwrap();
        assert_eq!(e.kind, NetKind::Redirect);
        assert!(next_hop("http://h/a", "https://h/b", 1).is_ok());
        assert!(next_hop("http://h/a", "ftp://h/b", 1).is_err());
        assert!(next_hop("http://h/a", "/b", MAX_REDIRECTS + 1).is_err());
    }
}
