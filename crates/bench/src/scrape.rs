//! The API's `/metrics` (Prometheus text format), read before and after a flow: what a flow
//! cost is the difference of two scrapes.

use std::collections::BTreeMap;

use crate::error::{Context, Result};

/// One sample: its metric name, labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Debug, Clone, Default)]
pub struct Scrape {
    pub series: Vec<Series>,
}

impl Scrape {
    pub fn parse(text: &str) -> Result<Self> {
        let mut series = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (head, value) = line
                .rsplit_once(' ')
                .context(&format!("metrics line without a value: {line}"))?;
            let value: f64 = value
                .parse()
                .context(&format!("metrics value in: {line}"))?;
            let (name, labels) = match head.split_once('{') {
                None => (head.to_owned(), BTreeMap::new()),
                Some((name, rest)) => (
                    name.to_owned(),
                    labels(rest.trim_end_matches('}')).context(line)?,
                ),
            };
            series.push(Series {
                name,
                labels,
                value,
            });
        }
        Ok(Self { series })
    }

    pub async fn fetch(http: &reqwest::Client, url: &str) -> Result<Self> {
        let res = http.get(url).send().await.context("GET /metrics")?;
        if !res.status().is_success() {
            return Err(format!("GET /metrics: {}", res.status()).into());
        }
        Self::parse(&res.text().await.context("read /metrics")?)
    }

    /// The sum of every series called `name` whose labels include all of `want`.
    pub fn sum(&self, name: &str, want: &[(&str, &str)]) -> f64 {
        self.series
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                want.iter()
                    .all(|(k, v)| s.labels.get(*k).is_some_and(|x| x == v))
            })
            .map(|s| s.value)
            .sum()
    }

    /// How each series called `name` moved since `before`, keyed by its labels (zeros left out).
    pub fn moved(&self, before: &Scrape, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        self.series
            .iter()
            .filter(|s| s.name == name)
            .filter_map(|s| {
                let old = before
                    .series
                    .iter()
                    .find(|b| b.name == name && b.labels == s.labels)
                    .map_or(0.0, |b| b.value);
                let d = s.value - old;
                (d.abs() > 1e-9).then(|| (s.labels.clone(), d))
            })
            .collect()
    }
}

/// `a="x",b="y"` (values may hold escaped quotes and commas).
fn labels(raw: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut rest = raw.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").context("label without a value")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        value.push(match n {
                            'n' => '\n',
                            other => other,
                        });
                    }
                }
                '"' => {
                    end = Some(i);
                    break;
                }
                c => value.push(c),
            }
        }
        let end = end.context("unterminated label value")?;
        out.insert(key.trim().to_owned(), value);
        rest = after[end + 1..].trim_start_matches(',').trim();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_sums_like_prometheus() {
        let before = Scrape::parse(
            "# TYPE x counter\nx{op=\"a\",k=\"r\"} 1\nx{op=\"b\",k=\"w\"} 2.5\ny 3\n",
        )
        .expect("parse");
        let after = Scrape::parse(
            "x{op=\"a\",k=\"r\"} 4\nx{op=\"b\",k=\"w\"} 2.5\nx{op=\"c\",k=\"w\\\"q\"} 1\ny 3\n",
        )
        .expect("parse");
        assert_eq!(after.sum("x", &[]), 7.5);
        assert_eq!(after.sum("x", &[("k", "w")]), 2.5);
        assert_eq!(after.sum("y", &[]), 3.0);
        let moved = after.moved(&before, "x");
        assert_eq!(moved.len(), 2);
        assert!(
            moved
                .iter()
                .any(|(l, d)| l["op"] == "c" && l["k"] == "w\"q" && *d == 1.0)
        );
    }
}
