//! Reading variables: where they come from, and the one error shape naming what is wrong.

use std::collections::HashMap;
use std::time::Duration;

use url::Url;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration error: {var} {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

pub(super) fn err(var: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        problem: problem.into(),
    }
}

/// Where variables come from: the process environment, or a map in tests.
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

pub(super) struct Reader<'a>(pub(super) &'a dyn Env);

impl Reader<'_> {
    /// The trimmed value; empty counts as unset.
    pub(super) fn opt(&self, var: &'static str) -> Option<String> {
        self.0
            .get(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub(super) fn required(&self, var: &'static str) -> Result<String, ConfigError> {
        self.opt(var)
            .ok_or_else(|| err(var, "is required but not set"))
    }

    pub(super) fn or(&self, var: &'static str, default: &str) -> String {
        self.opt(var).unwrap_or_else(|| default.to_owned())
    }

    pub(super) fn parse<T: std::str::FromStr>(
        &self,
        var: &'static str,
        default: T,
        what: &str,
    ) -> Result<T, ConfigError> {
        match self.opt(var) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| err(var, format!("must be {what}"))),
        }
    }

    pub(super) fn secs(&self, var: &'static str, default: u64) -> Result<Duration, ConfigError> {
        let n: u64 = self.parse(var, default, "a whole number of seconds")?;
        if n == 0 {
            return Err(err(var, "must be at least 1 second"));
        }
        Ok(Duration::from_secs(n))
    }

    pub(super) fn bool(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.opt(var).as_deref() {
            None => Ok(default),
            Some("1" | "true" | "yes" | "on") => Ok(true),
            Some("0" | "false" | "no" | "off") => Ok(false),
            Some(_) => Err(err(var, "must be true or false")),
        }
    }

    pub(super) fn url(&self, var: &'static str, default: Option<&str>) -> Result<Url, ConfigError> {
        let raw = match default {
            Some(d) => self.or(var, d),
            None => self.required(var)?,
        };
        let url = Url::parse(&raw).map_err(|_| err(var, "must be an absolute http(s) URL"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(err(var, "must be an absolute http(s) URL"));
        }
        Ok(url)
    }

    pub(super) fn ms(&self, var: &'static str, default: u64) -> Result<Duration, ConfigError> {
        let v: u64 = self.parse(var, default, "a whole number of milliseconds")?;
        if v == 0 {
            return Err(err(var, "must be at least 1"));
        }
        Ok(Duration::from_millis(v))
    }
}
