//! A strict reader of Prometheus' text exposition format (version 0.0.4), so the end-to-end
//! tests check what a Prometheus server would accept, not just that some text came back:
//! every sample belongs to a family declared with `# TYPE`, names and label values are well
//! formed (escapes included), and every histogram is whole (cumulative buckets ending in
//! `+Inf`, equal to its `_count`).

use std::collections::{BTreeMap, HashMap};

/// A histogram's series (its labels without `le`) → buckets (upper bound, cumulative count).
type Series = Vec<(String, String)>;

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed scrape.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    pub samples: Vec<Sample>,
    /// Family name → `counter`, `gauge`, `histogram`, `summary` or `untyped`.
    pub types: HashMap<String, String>,
}

impl Scrape {
    /// Parses and validates a whole exposition; the error names the offending line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut scrape = Scrape::default();
        for (n, line) in text.lines().enumerate() {
            let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
            if line.trim().is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                let mut words = comment.trim_start().splitn(3, ' ');
                match words.next() {
                    Some("TYPE") => {
                        let name = words
                            .next()
                            .ok_or_else(|| at("TYPE without a name".into()))?;
                        let kind = words
                            .next()
                            .ok_or_else(|| at("TYPE without a type".into()))?;
                        check_metric_name(name).map_err(at)?;
                        if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind)
                        {
                            return Err(at(format!("unknown type {kind}")));
                        }
                        if scrape.types.insert(name.into(), kind.into()).is_some() {
                            return Err(at(format!("{name} has two TYPE lines")));
                        }
                    }
                    Some("HELP") => {
                        let name = words
                            .next()
                            .ok_or_else(|| at("HELP without a name".into()))?;
                        check_metric_name(name).map_err(at)?;
                    }
                    _ => {}
                }
                continue;
            }
            let sample = parse_sample(line).map_err(at)?;
            let family = scrape.family_of(&sample.name);
            if family.is_none() {
                return Err(at(format!("{} has no TYPE line before it", sample.name)));
            }
            scrape.samples.push(sample);
        }
        scrape.check_histograms()?;
        Ok(scrape)
    }

    /// The declared family a sample name belongs to (`x_bucket` → `x` for a histogram).
    fn family_of(&self, name: &str) -> Option<String> {
        if self.types.contains_key(name) {
            return Some(name.to_owned());
        }
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix)
                && matches!(
                    self.types.get(base).map(String::as_str),
                    Some("histogram" | "summary")
                )
            {
                return Some(base.to_owned());
            }
        }
        None
    }

    fn check_histograms(&self) -> Result<(), String> {
        for (family, kind) in &self.types {
            if kind != "histogram" {
                continue;
            }
            let mut buckets: BTreeMap<Series, Vec<(f64, f64)>> = BTreeMap::new();
            for s in self
                .samples
                .iter()
                .filter(|s| s.name == format!("{family}_bucket"))
            {
                let le = s
                    .labels
                    .get("le")
                    .ok_or_else(|| format!("{family}_bucket without le"))?;
                let bound = parse_value(le).map_err(|e| format!("{family}: le {e}"))?;
                let mut key: Vec<_> = s.labels.clone().into_iter().collect();
                key.retain(|(k, _)| k != "le");
                buckets.entry(key).or_default().push((bound, s.value));
            }
            for (series, mut list) in buckets {
                list.sort_by(|a, b| a.0.total_cmp(&b.0));
                if list.windows(2).any(|w| w[1].1 < w[0].1) {
                    return Err(format!("{family}{series:?}: buckets are not cumulative"));
                }
                let Some(&(last, inf_count)) = list.last() else {
                    continue;
                };
                if last != f64::INFINITY {
                    return Err(format!("{family}{series:?}: no +Inf bucket"));
                }
                let labels: BTreeMap<String, String> = series.into_iter().collect();
                let count = self
                    .samples
                    .iter()
                    .find(|s| s.name == format!("{family}_count") && s.labels == labels)
                    .ok_or_else(|| format!("{family}{labels:?}: no _count"))?;
                if count.value != inf_count {
                    return Err(format!("{family}{labels:?}: +Inf bucket != _count"));
                }
                if !self
                    .samples
                    .iter()
                    .any(|s| s.name == format!("{family}_sum") && s.labels == labels)
                {
                    return Err(format!("{family}{labels:?}: no _sum"));
                }
            }
        }
        Ok(())
    }

    /// The sum of the samples named `name` whose labels include every pair of `labels`
    /// (0 when there is none: a counter that never moved is not exported yet).
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|s| s.value).sum()
    }

    /// The one sample named `name` with exactly these labels, if exported.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
    }

    pub fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }
}

fn check_metric_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if ok {
        Ok(())
    } else {
        Err(format!("bad metric name {name:?}"))
    }
}

fn check_label_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!("bad label name {name:?}"))
    }
}

fn parse_value(raw: &str) -> Result<f64, String> {
    match raw {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => raw.parse::<f64>().map_err(|_| format!("bad value {raw:?}")),
    }
}

/// `name{label="value",...} value [timestamp]`
fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    check_metric_name(name)?;
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices().peekable();
        let mut consumed = None;
        loop {
            // Skip separators; `}` ends the set (a trailing comma is allowed).
            while chars.peek().is_some_and(|(_, c)| *c == ',' || *c == ' ') {
                chars.next();
            }
            match chars.peek() {
                Some((i, '}')) => {
                    consumed = Some(i + 1);
                    break;
                }
                None => break,
                _ => {}
            }
            let mut key = String::new();
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            check_label_name(&key)?;
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!("label {key} value is not quoted"));
            }
            let mut value = String::new();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '\\' => match chars.next().map(|(_, c)| c) {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => return Err(format!("bad escape \\{other:?} in {key}")),
                    },
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\n' => return Err(format!("raw newline in {key}")),
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(format!("label {key} value is not closed"));
            }
            if labels.insert(key.clone(), value).is_some() {
                return Err(format!("label {key} twice"));
            }
        }
        let end = consumed.ok_or("label set is not closed")?;
        rest = &after[end..];
    }
    let mut fields = rest.split_whitespace();
    let value = parse_value(fields.next().ok_or("no value")?)?;
    if let Some(ts) = fields.next() {
        ts.parse::<i64>()
            .map_err(|_| format!("bad timestamp {ts:?}"))?;
    }
    if fields.next().is_some() {
        return Err("trailing text".into());
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# TYPE msdos_file_access_time_seconds gauge
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

# TYPE lat histogram
lat_bucket{route="/v1/videos/{id}",le="0.05"} 24054
lat_bucket{route="/v1/videos/{id}",le="0.1"} 33444
lat_bucket{route="/v1/videos/{id}",le="+Inf"} 144320
lat_sum{route="/v1/videos/{id}"} 53423
lat_count{route="/v1/videos/{id}"} 144320
# TYPE up gauge
up 1
"#;

    #[test]
    fn reads_the_formats_own_example() {
        let s = Scrape::parse(GOOD).expect("valid");
        assert_eq!(s.sum("http_requests_total", &[]), 1030.0);
        assert_eq!(
            s.get(
                "http_requests_total",
                &[("method", "post"), ("code", "400")]
            ),
            Some(3.0)
        );
        let file = &s
            .matching("msdos_file_access_time_seconds", &[])
            .next()
            .expect("one");
        assert_eq!(file.labels["path"], r"C:\DIR\FILE.TXT");
        assert_eq!(file.labels["error"], "Cannot find file:\n\"FILE.TXT\"");
        assert_eq!(
            s.get("lat_count", &[("route", "/v1/videos/{id}")]),
            Some(144_320.0)
        );
        assert_eq!(s.get("up", &[]), Some(1.0));
        assert_eq!(s.sum("absent_total", &[]), 0.0);
    }

    #[test]
    fn refuses_what_prometheus_would_refuse() {
        for (bad, why) in [
            ("x_total 1\n", "no TYPE"),
            ("# TYPE x counter\nx{a=\"1} 1\n", "unclosed value"),
            ("# TYPE x counter\nx{a=1} 1\n", "unquoted value"),
            ("# TYPE x counter\nx{a=\"\\t\"} 1\n", "bad escape"),
            ("# TYPE x counter\nx{1a=\"v\"} 1\n", "bad label name"),
            ("# TYPE x counter\nx{a=\"v\",a=\"w\"} 1\n", "label twice"),
            ("# TYPE x counter\nx one\n", "bad value"),
            ("# TYPE x counter\nx 1 2 3\n", "trailing text"),
            ("# TYPE x counter\n# TYPE x gauge\nx 1\n", "two TYPE lines"),
            ("# TYPE 9x counter\n", "bad name"),
            (
                "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
                "not cumulative",
            ),
            (
                "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_sum 1\nh_count 2\n",
                "no +Inf",
            ),
            (
                "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
                "count differs",
            ),
        ] {
            assert!(Scrape::parse(bad).is_err(), "{why}: {bad:?}");
        }
    }
}
