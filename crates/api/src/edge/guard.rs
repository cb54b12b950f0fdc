//! A connection as actix-http sees it, with two things actix does not do:
//!
//! - **Refusals as problem documents.** actix-http answers a request head it cannot parse (400),
//!   an oversized head (431) and a slow first head (408) itself, with an empty body, before any
//!   service or middleware runs, and offers no hook to change that. Here every byte read is
//!   also fed to a second copy of actix-http's own HTTP/1 decoder (same code, so the same
//!   verdicts on the same bytes, message for message). When it refuses a head, the bytes of that
//!   head are not handed to actix; actix sees the end of the stream instead, finishes the
//!   requests before it and shuts the connection down, and at that shutdown this layer writes
//!   the problem document and closes.
//! - **Head and body deadlines on every request.** actix times only the first request head of a
//!   connection; a keep-alive connection that trickles its second head one byte at a time is
//!   held forever. Here each head must arrive within the header timeout of its first byte (of
//!   the connection's start for the first one), and each body within the body timeout (plus a
//!   grace, so the API's own 408 comes first) of its head.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use actix_codec::Decoder;
use actix_http::error::ParseError;
use actix_http::h1::{Codec, Message, MessageType};
use actix_web::web::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep, sleep_until};

use super::refusal::{self, Refusal};

/// actix-http's bound on a request head (its `MAX_BUFFER_SIZE`, not exported): a head still
/// unfinished at this size is refused with 431.
const MAX_HEAD: usize = 128 * 1024;

/// How long a client may take, for [`GuardedConn`].
#[derive(Debug, Clone, Copy)]
pub struct GuardLimits {
    pub header_timeout: Duration,
    /// From a head to the end of its body (the API's body timeout plus a grace).
    pub body_deadline: Duration,
    /// After writing a refusal: how long the rest of what the client sends is read and dropped,
    /// so closing does not reset the connection before the client has read the answer.
    pub linger: Duration,
    pub hsts: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for (the rest of) a request head; the timer runs.
    Head,
    /// Reading a request body; the timer runs.
    Body,
    /// Between requests: idle keep-alive is actix's to time.
    Between,
    /// Refused: nothing more is read or handed to actix.
    Refused,
}

enum Closing {
    /// Nothing of ours to write: shut down as asked.
    PassThrough,
    Answer(Bytes),
    Shutdown,
    Linger,
    Done,
}

pub struct GuardedConn<T> {
    io: T,
    peer: Option<SocketAddr>,
    limits: GuardLimits,
    shadow: Codec,
    /// Bytes read but not yet consumed by the shadow decoder (a partial head or chunk header).
    seen: BytesMut,
    phase: Phase,
    timer: Pin<Box<Sleep>>,
    closing: Closing,
}

impl<T> GuardedConn<T> {
    /// `shadow` must be a fresh codec (actix-http's decoder keeps state between messages).
    pub fn new(io: T, peer: Option<SocketAddr>, limits: GuardLimits, shadow: Codec) -> Self {
        Self {
            io,
            peer,
            limits,
            shadow,
            seen: BytesMut::new(),
            // The first head is timed from the connection's start, like actix's own timer.
            phase: Phase::Head,
            timer: Box::pin(sleep_until(Instant::now() + limits.header_timeout)),
            closing: Closing::PassThrough,
        }
    }

    fn enter(&mut self, phase: Phase, deadline: Option<Duration>) {
        self.phase = phase;
        if let Some(d) = deadline {
            self.timer.as_mut().reset(Instant::now() + d);
        }
    }

    /// Feeds newly read bytes to the shadow decoder; returns how many of them actix may see.
    fn inspect(&mut self, new: &[u8]) -> usize {
        let already_forwarded = self.seen.len();
        self.seen.extend_from_slice(new);
        let total = self.seen.len();
        loop {
            let before = self.seen.len();
            let decoded = self.shadow.decode(&mut self.seen);
            // On a refusal, actix gets exactly the bytes of the messages the shadow accepted
            // before it: not one byte of the refused message beyond what it already has, so
            // its own decoder never reaches the error (and never answers for it).
            let accepted = total - before;
            let refusal = match decoded {
                Ok(Some(Message::Item(_))) if before - self.seen.len() >= MAX_HEAD => {
                    // actix refuses such a head or not depending on how it arrives in its
                    // buffer; refused here always.
                    Some(Refusal::HeadTooLarge)
                }
                Ok(Some(Message::Item(_))) => {
                    match self.shadow.message_type() {
                        MessageType::None => self.enter(Phase::Between, None),
                        MessageType::Payload | MessageType::Stream => {
                            self.enter(Phase::Body, Some(self.limits.body_deadline));
                        }
                    }
                    continue;
                }
                Ok(Some(Message::Chunk(Some(_)))) => continue,
                Ok(Some(Message::Chunk(None))) => {
                    self.enter(Phase::Between, None);
                    continue;
                }
                Ok(None) => break,
                // A broken body belongs to a request actix already has: that request ends
                // with the stream, and the API answers for it.
                Err(_) if self.phase == Phase::Body => None,
                Err(ParseError::TooLarge) => Some(Refusal::HeadTooLarge),
                Err(_) => Some(Refusal::Malformed),
            };
            self.refuse(refusal);
            return accepted.saturating_sub(already_forwarded);
        }
        if self.phase == Phase::Between && !self.seen.is_empty() {
            self.enter(Phase::Head, Some(self.limits.header_timeout));
        }
        new.len()
    }

    fn refuse(&mut self, refusal: Option<Refusal>) {
        self.phase = Phase::Refused;
        self.seen = BytesMut::new();
        if let Some(refusal) = refusal {
            self.closing = Closing::Answer(refusal::answer(refusal, self.limits.hsts, self.peer));
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for GuardedConn<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.phase == Phase::Refused {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        // Read first, then look at the clock: a head already waiting in the socket when a busy
        // worker comes back to this connection is not late.
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let keep = this.inspect(&buf.filled()[before..]);
                buf.set_filled(before + keep);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let timed = matches!(this.phase, Phase::Head | Phase::Body);
                if timed && this.timer.as_mut().poll(cx).is_ready() {
                    let refusal = (this.phase == Phase::Head).then_some(Refusal::HeadTimeout);
                    this.refuse(refusal);
                    // The end of the stream, for actix.
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for GuardedConn<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    /// actix shuts down only after flushing every response it wrote, so a refusal written here
    /// comes after the answers to the requests before it.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match &mut this.closing {
                Closing::PassThrough => return Pin::new(&mut this.io).poll_shutdown(cx),
                Closing::Answer(rest) => {
                    while rest.has_remaining() {
                        match ready!(Pin::new(&mut this.io).poll_write(cx, rest.chunk())) {
                            Ok(0) => {
                                this.closing = Closing::Done;
                                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                            }
                            Ok(n) => rest.advance(n),
                            Err(e) => {
                                this.closing = Closing::Done;
                                return Poll::Ready(Err(e));
                            }
                        }
                    }
                    if let Err(e) = ready!(Pin::new(&mut this.io).poll_flush(cx)) {
                        this.closing = Closing::Done;
                        return Poll::Ready(Err(e));
                    }
                    this.closing = Closing::Shutdown;
                }
                Closing::Shutdown => {
                    if let Err(e) = ready!(Pin::new(&mut this.io).poll_shutdown(cx)) {
                        this.closing = Closing::Done;
                        return Poll::Ready(Err(e));
                    }
                    this.timer
                        .as_mut()
                        .reset(Instant::now() + this.limits.linger);
                    this.closing = Closing::Linger;
                }
                Closing::Linger => {
                    let mut scratch = [0u8; 4096];
                    let mut sink = ReadBuf::new(&mut scratch);
                    match Pin::new(&mut this.io).poll_read(cx, &mut sink) {
                        Poll::Ready(Ok(())) if !sink.filled().is_empty() => {}
                        Poll::Ready(_) => this.closing = Closing::Done,
                        Poll::Pending => {
                            ready!(this.timer.as_mut().poll(cx));
                            this.closing = Closing::Done;
                        }
                    }
                }
                Closing::Done => return Poll::Ready(Ok(())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_http::{KeepAlive, ServiceConfig};
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

    fn limits(header_ms: u64, body_ms: u64) -> GuardLimits {
        GuardLimits {
            header_timeout: Duration::from_millis(header_ms),
            body_deadline: Duration::from_millis(body_ms),
            linger: Duration::from_millis(50),
            hsts: false,
        }
    }

    /// (A ServiceConfig starts a local clock task: tests run on actix's runtime.)
    fn codec() -> Codec {
        Codec::new(ServiceConfig::new(
            KeepAlive::Os,
            Duration::ZERO,
            Duration::ZERO,
            false,
            None,
        ))
    }

    /// A guarded server end and the client's end of an in-memory connection.
    fn pair(l: GuardLimits) -> (GuardedConn<DuplexStream>, DuplexStream) {
        let (server, client) = duplex(1 << 20);
        (GuardedConn::new(server, None, l, codec()), client)
    }

    /// Everything the guard hands to actix until it signals the end of the stream.
    async fn forwarded(conn: &mut GuardedConn<DuplexStream>) -> Vec<u8> {
        let mut out = Vec::new();
        conn.read_to_end(&mut out).await.expect("read");
        out
    }

    /// What the client receives once the server side shuts down.
    async fn answer(mut conn: GuardedConn<DuplexStream>, client: &mut DuplexStream) -> String {
        conn.shutdown().await.expect("shutdown");
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.expect("read answer");
        String::from_utf8(out).expect("utf-8")
    }

    fn body_json(raw: &str) -> serde_json::Value {
        let body = raw.split("\r\n\r\n").nth(1).expect("a body");
        serde_json::from_str(body).expect("JSON body")
    }

    #[actix_web::test]
    async fn good_requests_pass_untouched_and_a_malformed_one_is_held_back() {
        let (mut conn, mut client) = pair(limits(5_000, 5_000));
        let good = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut sent = good.to_vec();
        sent.extend_from_slice(b"GET /c HTTP/1.1 extra\r\nHost: x\r\n\r\n");
        client.write_all(&sent).await.expect("write");
        assert_eq!(forwarded(&mut conn).await, good.to_vec());
        let raw = answer(conn, &mut client).await;
        assert!(raw.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{raw}");
        assert!(
            raw.contains("\r\ncontent-type: application/problem+json\r\n"),
            "{raw}"
        );
        assert!(raw.contains("\r\nconnection: close\r\n"));
        assert!(raw.contains("\r\nx-content-type-options: nosniff\r\n"));
        let problem = body_json(&raw);
        assert_eq!(problem["code"], "bad_request");
        assert_eq!(problem["status"], 400);
        let id = problem["request_id"].as_str().expect("request id");
        assert!(raw.contains(&format!("\r\nx-request-id: {id}\r\n")));
        let length: usize = raw
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.parse().ok())
            .expect("content-length");
        assert_eq!(length, raw.split("\r\n\r\n").nth(1).expect("body").len());
    }

    #[actix_web::test]
    async fn an_oversized_head_is_431_and_nothing_of_it_reaches_actix() {
        let (mut conn, mut client) = pair(limits(5_000, 5_000));
        let mut head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
        head.extend(std::iter::repeat_n(b'a', 200_000));
        let writer = tokio::spawn(async move {
            let _ = client.write_all(&head).await;
            client
        });
        let seen = forwarded(&mut conn).await;
        assert!(seen.len() < 200_000, "held back once too large");
        let mut client = writer.await.expect("writer");
        let raw = answer(conn, &mut client).await;
        assert!(
            raw.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{raw}"
        );
        assert_eq!(body_json(&raw)["code"], "headers_too_large");
    }

    #[actix_web::test]
    async fn a_head_just_under_actixs_bound_passes_and_one_at_it_is_431() {
        let head = |size: usize| {
            let mut h = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
            h.extend(std::iter::repeat_n(b'a', size - h.len() - 4));
            h.extend_from_slice(b"\r\n\r\n");
            assert_eq!(h.len(), size);
            h
        };
        let (mut conn, mut client) = pair(limits(5_000, 5_000));
        let fits = head(MAX_HEAD - 1);
        client.write_all(&fits).await.expect("write");
        let mut seen = vec![0u8; MAX_HEAD * 2];
        let mut n = 0;
        while n < fits.len() {
            n += conn.read(&mut seen[n..]).await.expect("read");
        }
        assert_eq!(&seen[..n], &fits[..]);

        let (mut conn, mut client) = pair(limits(5_000, 5_000));
        client.write_all(&head(MAX_HEAD)).await.expect("write");
        assert!(forwarded(&mut conn).await.len() < MAX_HEAD);
        assert_eq!(
            body_json(&answer(conn, &mut client).await)["code"],
            "headers_too_large"
        );
    }

    #[actix_web::test]
    async fn too_many_headers_is_431_too() {
        let (mut conn, mut client) = pair(limits(5_000, 5_000));
        let mut head = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        for i in 0..100 {
            head.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        client.write_all(&head).await.expect("write");
        // actix may get the start of the head (reads come in pieces), never all of it.
        let seen = forwarded(&mut conn).await;
        assert!(seen.len() < head.len() && head.starts_with(&seen));
        assert_eq!(
            body_json(&answer(conn, &mut client).await)["code"],
            "headers_too_large"
        );
    }

    #[actix_web::test]
    async fn a_head_trickled_past_the_timeout_is_408() {
        let (mut conn, mut client) = pair(limits(150, 5_000));
        client
            .write_all(b"GET / HTTP/1.1\r\nHo")
            .await
            .expect("write");
        let started = std::time::Instant::now();
        let seen = forwarded(&mut conn).await;
        assert_eq!(seen, b"GET / HTTP/1.1\r\nHo".to_vec());
        assert!(started.elapsed() >= Duration::from_millis(100));
        let raw = answer(conn, &mut client).await;
        assert!(raw.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{raw}");
        assert_eq!(body_json(&raw)["code"], "request_timeout");
    }

    #[actix_web::test]
    async fn a_later_head_on_a_kept_alive_connection_is_timed_from_its_first_byte() {
        let (mut conn, mut client) = pair(limits(200, 5_000));
        let first = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
        client.write_all(first).await.expect("write");
        let mut buf = [0u8; 256];
        let n = conn.read(&mut buf).await.expect("read");
        assert_eq!(n, first.len());
        // Idle between requests for longer than the header timeout: not the guard's business.
        tokio::time::sleep(Duration::from_millis(300)).await;
        client.write_all(b"GET /b HT").await.expect("write");
        let started = std::time::Instant::now();
        let rest = forwarded(&mut conn).await;
        assert_eq!(rest, b"GET /b HT".to_vec());
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(150), "{waited:?}");
        assert_eq!(
            body_json(&answer(conn, &mut client).await)["code"],
            "request_timeout"
        );
    }

    #[actix_web::test]
    async fn a_stalled_body_ends_the_stream_without_an_answer_of_ours() {
        let (mut conn, mut client) = pair(limits(5_000, 150));
        let sent = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab";
        client.write_all(sent).await.expect("write");
        assert_eq!(forwarded(&mut conn).await, sent.to_vec());
        assert!(
            answer(conn, &mut client).await.is_empty(),
            "the API answers for its request"
        );
    }

    #[actix_web::test]
    async fn a_broken_chunked_body_is_cut_where_it_breaks() {
        let (mut conn, mut client) = pair(limits(5_000, 5_000));
        let head = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n";
        let mut sent = head.to_vec();
        sent.extend_from_slice(b"zz\r\n");
        client.write_all(&sent).await.expect("write");
        let seen = forwarded(&mut conn).await;
        // Up to the broken chunk header, not one byte into it.
        assert!(
            sent.starts_with(&seen),
            "{:?}",
            String::from_utf8_lossy(&seen)
        );
        assert!(
            seen.len() >= head.len() - 2 && seen.len() <= head.len(),
            "{seen:?}"
        );
        assert!(answer(conn, &mut client).await.is_empty());
    }

    #[actix_web::test]
    async fn a_complete_body_clears_its_deadline() {
        let (mut conn, mut client) = pair(limits(5_000, 100));
        let request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab";
        client.write_all(request).await.expect("write");
        let mut buf = [0u8; 256];
        conn.read_exact(&mut buf[..request.len()])
            .await
            .expect("read");
        let idle = tokio::time::timeout(Duration::from_millis(300), conn.read(&mut buf)).await;
        assert!(idle.is_err(), "still open, waiting for the next request");
    }
}
