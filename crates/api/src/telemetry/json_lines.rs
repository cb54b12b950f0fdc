//! The JSON log line, written directly.
//!
//! The lines are those of `tracing_subscriber`'s JSON format as we configured it before
//! (`flatten_event`, the current span, the target; tests below compare the two field by
//! field). Writing them ourselves halves what logging costs a request, which was two thirds of
//! what Postiqo's own code added to a `GET /v1/videos/{id}` once its token was cached
//! (docs/benchmarks.md §9):
//! - the JSON format serialized each span's fields into a JSON object when the span was
//!   created, and parsed that text back into a map for every event written inside it;
//! - every string, key or value, went through `serde_json`'s byte-at-a-time escaping.
//!
//! Here a span's fields are kept as a ready fragment (`"request_id":"…"`) that each line
//! copies, and strings are scanned for the few bytes JSON must escape and copied in runs.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats a span's fields as the inside of a JSON object: `"a":1,"b":"x"` (empty without
/// fields), so a line can copy it without parsing it.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonFragments;

impl<'writer> FormatFields<'writer> for JsonFragments {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut visitor = Members::new(&mut writer, true);
        fields.record(&mut visitor);
        visitor.result
    }

    fn add_fields(
        &self,
        current: &mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let first = current.fields.is_empty();
        let mut writer = current.as_writer();
        let mut visitor = Members::new(&mut writer, first);
        fields.record(&mut visitor);
        visitor.result
    }
}

/// One JSON object per event: `timestamp`, `level`, the event's fields (its message as
/// `message`), `target`, and the current span's fields with its `name` under `span`.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonLines;

impl<S> FormatEvent<S, JsonFragments> for JsonLines
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFragments>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        writer.write_str("{\"timestamp\":\"")?;
        SystemTime.format_time(&mut writer)?;
        writer.write_str("\",\"level\":\"")?;
        writer.write_str(meta.level().as_str())?;
        writer.write_char('"')?;
        let mut visitor = Members::new(&mut writer, false);
        event.record(&mut visitor);
        visitor.result?;
        writer.write_str(",\"target\":")?;
        string(&mut writer, meta.target())?;
        let span = event
            .parent()
            .and_then(|id| ctx.span(id))
            .or_else(|| ctx.lookup_current());
        if let Some(span) = span {
            writer.write_str(",\"span\":{")?;
            let extensions = span.extensions();
            if let Some(fields) = extensions.get::<FormattedFields<JsonFragments>>()
                && !fields.fields.is_empty()
            {
                writer.write_str(&fields.fields)?;
                writer.write_char(',')?;
            }
            writer.write_str("\"name\":")?;
            string(&mut writer, span.metadata().name())?;
            writer.write_char('}')?;
        }
        writer.write_str("}\n")
    }
}

/// Writes fields as JSON object members, each after a comma but the very first.
struct Members<'a, 'w> {
    writer: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl<'a, 'w> Members<'a, 'w> {
    fn new(writer: &'a mut Writer<'w>, first: bool) -> Self {
        Self {
            writer,
            first,
            result: Ok(()),
        }
    }

    fn member(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'w>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            if !std::mem::take(&mut self.first) {
                self.writer.write_char(',')?;
            }
            string(self.writer, field.name())?;
            self.writer.write_char(':')?;
            value(self.writer)
        })();
    }
}

impl Visit for Members<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |w| string(w, value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // As serde_json writes them: NaN and infinities are not JSON numbers.
        self.member(field, |w| {
            if value.is_finite() {
                write!(w, "{value:?}")
            } else {
                w.write_str("null")
            }
        });
    }

    // 128-bit integers fall through to here, as with `tracing_subscriber`: quoted, since most
    // JSON readers cannot hold them as numbers.
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, |w| {
            w.write_char('"')?;
            write!(Escaped(w), "{value:?}")?;
            w.write_char('"')
        });
    }
}

/// A JSON string.
fn string(w: &mut Writer<'_>, s: &str) -> fmt::Result {
    w.write_char('"')?;
    Escaped(w).write_str(s)?;
    w.write_char('"')
}

/// Writes what it is given escaped for the inside of a JSON string: the bytes `serde_json`
/// escapes (quote, backslash, control characters below 0x20), the rest copied in runs.
struct Escaped<'a, 'w>(&'a mut Writer<'w>);

impl fmt::Write for Escaped<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some(at) = rest
            .bytes()
            .position(|b| b < 0x20 || b == b'"' || b == b'\\')
        {
            let (run, tail) = rest.split_at(at);
            self.0.write_str(run)?;
            let mut chars = tail.chars();
            let Some(c) = chars.next() else { break };
            match c {
                '"' => self.0.write_str("\\\"")?,
                '\\' => self.0.write_str("\\\\")?,
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                '\u{8}' => self.0.write_str("\\b")?,
                '\u{c}' => self.0.write_str("\\f")?,
                other => write!(self.0, "\\u{:04x}", u32::from(other))?,
            }
            rest = chars.as_str();
        }
        self.0.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use serde_json::Value;
    use tracing::{info, info_span, warn};
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Self;
        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    impl Buffer {
        fn lines(&self) -> Vec<Value> {
            let bytes = self.0.lock().expect("lock").clone();
            String::from_utf8(bytes)
                .expect("utf-8")
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
                .collect()
        }
    }

    #[derive(Debug)]
    struct Odd;

    impl fmt::Display for Odd {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("disp\"lay\u{1}\u{7f}")
        }
    }

    /// Events of every field kind, with awkward strings, in and out of spans.
    fn emit() {
        info!(target: "access", method = "GET", status = 200_u64, latency_ms = 1.25, "request");
        let quoted = "a \"quoted\" \\ line\nwith\ttabs\r\u{8}\u{c}\u{0}\u{1f} and ü 😀";
        let span = info_span!(
            "request",
            request_id = "abc-123",
            trace_id = Option::<&str>::None
        );
        span.in_scope(|| {
            warn!(
                negative = -5_i64,
                yes = true,
                no = false,
                text = quoted,
                "it's {}",
                "odd \"x\""
            );
            info!(
                nan = f64::NAN,
                inf = f64::INFINITY,
                small = 1e-7,
                big = 1e21,
                whole = 3.0
            );
            info!(display = %Odd, debug = ?Odd, wide = u128::MAX, neg = i128::MIN);
            let err: &(dyn std::error::Error + 'static) = &io::Error::other("disk \"full\"");
            info!(error = err, "failed");
            let inner = info_span!("inner", n = 7_u64, s = quoted);
            inner.in_scope(|| info!("nested"));
            let empty = info_span!("empty");
            empty.in_scope(|| info!("no span fields"));
        });
        let recorded = info_span!("late", first = 1_u64, later = tracing::field::Empty);
        recorded.record("later", "now");
        recorded.in_scope(|| info!("recorded later"));
    }

    fn ours() -> Vec<Value> {
        let out = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(JsonFragments)
            .event_format(JsonLines)
            .with_writer(out.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        out.lines()
    }

    fn theirs() -> Vec<Value> {
        let out = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_target(true)
            .with_writer(out.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        out.lines()
    }

    #[test]
    fn lines_carry_what_tracing_subscribers_json_lines_carry() {
        let (mut ours, mut theirs) = (ours(), theirs());
        assert_eq!(ours.len(), 8);
        assert_eq!(ours.len(), theirs.len());
        for (ours, theirs) in ours.iter_mut().zip(theirs.iter_mut()) {
            let stamp = ours["timestamp"].take();
            let stamp = stamp.as_str().expect("a timestamp string");
            assert!(
                chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
                "RFC 3339: {stamp}"
            );
            theirs["timestamp"].take();
            assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn the_request_line_has_its_span() {
        let lines = ours();
        let line = &lines[1];
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["message"], "it's odd \"x\"");
        assert_eq!(line["span"]["request_id"], "abc-123");
        assert_eq!(line["span"]["name"], "request");
        assert!(lines[0].get("span").is_none(), "no span outside one");
    }
}
