use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;

use super::*;
use crate::middleware::ForwardedHeader;

const MIB: u64 = 1024 * 1024;

fn base() -> HashMap<String, String> {
    [
        ("POSTIQO_PUBLIC_URL", "http://127.0.0.1:8080"),
        (
            "POSTIQO_ALLOWED_ORIGINS",
            "http://localhost:5173, https://app.example.com",
        ),
        ("POSTIQO_TABLE", "postiqo"),
        ("POSTIQO_BUCKET", "postiqo-videos"),
        ("POSTIQO_TIKTOK_CLIENT_KEY", "key"),
        ("POSTIQO_TIKTOK_CLIENT_SECRET", "super-secret-value"),
        (
            "POSTIQO_JWT_KEYS",
            "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        ),
        (
            "POSTIQO_TOKEN_ENCRYPTION_KEY",
            "e1:ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[test]
fn every_variable_read_is_listed() {
    let sources = [
        include_str!("mod.rs"),
        include_str!("env.rs"),
        include_str!("http.rs"),
        include_str!("keys.rs"),
        include_str!("publishing.rs"),
        include_str!("sessions.rs"),
        include_str!("storage.rs"),
        include_str!("tiktok.rs"),
    ];
    for source in sources {
        let mut rest = source;
        while let Some(start) = rest.find("\"POSTIQO_") {
            let tail = &rest[start + 1..];
            let end = tail.find('"').expect("closing quote");
            let name = &tail[..end];
            // The needle of this very test is the one bare prefix.
            assert!(
                name == "POSTIQO_" || VARIABLES.contains(&name),
                "{name} is read but not in VARIABLES"
            );
            rest = &tail[end..];
        }
    }
}

#[test]
fn defaults_apply() {
    let s = Settings::from_env(&base()).expect("valid");
    assert_eq!(s.bind, SocketAddr::from(([127, 0, 0, 1], 8080)));
    assert_eq!(s.tiktok.api_url.as_str(), "https://open.tiktokapis.com/");
    assert_eq!(s.uploads.policy.multipart_threshold, 64 * MIB);
    assert_eq!(s.allowed_origins.len(), 2);
    assert!(!s.storage.s3_force_path_style);
    assert_eq!(s.jwt.access_ttl, Duration::from_secs(900));
    assert_eq!(
        s.edge,
        EdgeSettings {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(5),
            queue_timeout: Duration::from_millis(2000),
            max_connections: 2048,
        }
    );
}

#[test]
fn the_job_queue_shard_count_is_bounded() {
    use postiqo_storage::job_shards::DEFAULT_JOB_SHARDS;
    let shards = |env: &HashMap<String, String>| {
        Settings::from_env(env).map(|s| s.storage.job_shards.count())
    };
    assert_eq!(shards(&base()).expect("valid"), DEFAULT_JOB_SHARDS);
    for (value, ok) in [
        ("1", true),
        ("128", true),
        ("0", false),
        ("129", false),
        ("x", false),
    ] {
        let mut env = base();
        env.insert("POSTIQO_JOB_SHARDS".into(), value.into());
        match shards(&env) {
            Ok(n) => assert!(ok && n.to_string() == value, "{value}"),
            Err(e) => {
                assert!(!ok, "{value}: {e}");
                assert_eq!(e.var, "POSTIQO_JOB_SHARDS");
            }
        }
    }
}

#[test]
fn edge_limits_refuse_zero_and_nonsense() {
    for (var, value) in [
        ("POSTIQO_BODY_TIMEOUT_SECS", "0"),
        ("POSTIQO_HEADER_TIMEOUT_SECS", "soon"),
        ("POSTIQO_KEEP_ALIVE_SECS", "-1"),
        ("POSTIQO_QUEUE_TIMEOUT_MS", "0"),
        ("POSTIQO_QUEUE_TIMEOUT_MS", "600000"),
        ("POSTIQO_MAX_CONNECTIONS", "0"),
    ] {
        let mut env = base();
        env.insert(var.into(), value.into());
        assert_eq!(Settings::from_env(&env).expect_err(var).var, var);
    }
    let mut env = base();
    env.insert("POSTIQO_BODY_TIMEOUT_SECS".into(), "2".into());
    env.insert("POSTIQO_QUEUE_TIMEOUT_MS".into(), "250".into());
    let s = Settings::from_env(&env).expect("valid");
    assert_eq!(s.edge.body_timeout, Duration::from_secs(2));
    assert_eq!(s.edge.queue_timeout, Duration::from_millis(250));
}

#[test]
fn schedule_settings_default_and_name_themselves_when_refused() {
    let s = Settings::from_env(&base()).expect("valid");
    assert_eq!(s.publish.schedule_min_lead, Duration::from_secs(60));
    assert_eq!(s.publish.schedule_grace, Duration::from_secs(21_600));
    for (var, value) in [
        ("POSTIQO_SCHEDULE_MIN_LEAD_SECS", "0"),
        ("POSTIQO_SCHEDULE_MIN_LEAD_SECS", "86401"),
        ("POSTIQO_SCHEDULE_GRACE_SECS", "later"),
    ] {
        let mut env = base();
        env.insert(var.into(), value.into());
        let e = Settings::from_env(&env).expect_err(var);
        assert_eq!(e.var, var);
        assert!(!e.to_string().contains(value), "never echo the value");
    }
}

#[test]
fn missing_or_bad_values_name_the_variable() {
    let mut env = base();
    env.remove("POSTIQO_TABLE");
    let e = Settings::from_env(&env).expect_err("must fail");
    assert_eq!(e.var, "POSTIQO_TABLE");
    assert_eq!(
        e.to_string(),
        "configuration error: POSTIQO_TABLE is required but not set"
    );

    let mut env = base();
    env.insert("POSTIQO_BIND".into(), "nonsense".into());
    assert_eq!(
        Settings::from_env(&env).expect_err("bad bind").var,
        "POSTIQO_BIND"
    );

    let mut env = base();
    env.insert("POSTIQO_ALLOWED_ORIGINS".into(), "*".into());
    assert_eq!(
        Settings::from_env(&env).expect_err("wildcard").var,
        "POSTIQO_ALLOWED_ORIGINS"
    );

    let mut env = base();
    env.insert("POSTIQO_JWT_KEYS".into(), "k1:c2hvcnQ=".into());
    let e = Settings::from_env(&env).expect_err("short key");
    assert_eq!(e.var, "POSTIQO_JWT_KEYS");
    assert!(
        !e.to_string().contains("c2hvcnQ="),
        "never echo secret values"
    );
}

#[test]
fn metrics_are_off_unless_given_their_own_address() {
    assert_eq!(
        Settings::from_env(&base()).expect("valid").metrics_bind,
        None
    );

    let mut env = base();
    env.insert("POSTIQO_METRICS_BIND".into(), "127.0.0.1:9464".into());
    assert_eq!(
        Settings::from_env(&env).expect("valid").metrics_bind,
        Some(SocketAddr::from(([127, 0, 0, 1], 9464)))
    );

    env.insert("POSTIQO_METRICS_BIND".into(), "localhost".into());
    let e = Settings::from_env(&env).expect_err("no port");
    assert_eq!(e.var, "POSTIQO_METRICS_BIND");
    assert!(!e.to_string().contains("localhost"), "never echo values");

    env.insert("POSTIQO_METRICS_BIND".into(), "127.0.0.1:8080".into());
    assert_eq!(
        Settings::from_env(&env).expect_err("the API's port").var,
        "POSTIQO_METRICS_BIND"
    );
}

#[test]
fn consumed_capacity_is_recorded_only_when_asked_and_served() {
    assert!(
        !Settings::from_env(&base())
            .expect("valid")
            .storage
            .record_capacity
    );
    let mut env = base();
    env.insert("POSTIQO_METRICS_DYNAMODB_CAPACITY".into(), "on".into());
    let e = Settings::from_env(&env).expect_err("no metrics listener");
    assert_eq!(e.var, "POSTIQO_METRICS_DYNAMODB_CAPACITY");
    env.insert("POSTIQO_METRICS_BIND".into(), "127.0.0.1:9464".into());
    assert!(
        Settings::from_env(&env)
            .expect("valid")
            .storage
            .record_capacity
    );
    env.insert(
        "POSTIQO_METRICS_DYNAMODB_CAPACITY".into(),
        "sometimes".into(),
    );
    assert_eq!(
        Settings::from_env(&env).expect_err("not a bool").var,
        "POSTIQO_METRICS_DYNAMODB_CAPACITY"
    );
}

#[test]
fn errors_never_contain_secret_values() {
    let mut env = base();
    env.insert(
        "POSTIQO_JWT_KEYS".into(),
        "bad entry with super-secret-value".into(),
    );
    let e = Settings::from_env(&env).expect_err("malformed");
    assert!(!e.to_string().contains("super-secret-value"));
    let s = Settings::from_env(&base()).expect("valid");
    let debug = format!("{s:?}");
    assert!(!debug.contains("super-secret-value"));
    assert!(!debug.contains("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"));
}

/// Random keys nobody has seen (generated for this test, printed nowhere else).
fn fresh_key(kid: &str) -> String {
    let bytes: [u8; 32] = crate::credentials::secrets::random_bytes();
    format!(
        "{kid}:{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// A production deployment: public https URL, https origins, keys of its own.
fn production() -> HashMap<String, String> {
    let mut env = base();
    env.insert(
        "POSTIQO_PUBLIC_URL".into(),
        "https://api.example.com".into(),
    );
    env.insert(
        "POSTIQO_ALLOWED_ORIGINS".into(),
        "https://app.example.com".into(),
    );
    env.insert("POSTIQO_JWT_KEYS".into(), fresh_key("k1"));
    env.insert("POSTIQO_TOKEN_ENCRYPTION_KEY".into(), fresh_key("e1"));
    env
}

#[test]
fn public_url_must_be_https_except_on_localhost() {
    let mut env = production();
    env.insert("POSTIQO_PUBLIC_URL".into(), "http://api.example.com".into());
    assert_eq!(
        Settings::from_env(&env).expect_err("http").var,
        "POSTIQO_PUBLIC_URL"
    );
    env.insert(
        "POSTIQO_PUBLIC_URL".into(),
        "https://api.example.com".into(),
    );
    let s = Settings::from_env(&env).expect("https");
    assert!(s.sessions.secure_cookies);
    assert!(
        !Settings::from_env(&base())
            .expect("local")
            .sessions
            .secure_cookies
    );
}

#[test]
fn published_and_weak_keys_are_refused_outside_localhost() {
    assert!(Settings::from_env(&production()).is_ok());
    let weak = format!(
        "w:{}",
        base64::engine::general_purpose::STANDARD.encode([b'x'; 32])
    );
    let mut refused = crate::key_policy::published_keys()
        .into_iter()
        .map(|k| {
            format!(
                "pub:{}",
                base64::engine::general_purpose::STANDARD.encode(k)
            )
        })
        .collect::<Vec<_>>();
    refused.push(weak);
    for var in ["POSTIQO_JWT_KEYS", "POSTIQO_TOKEN_ENCRYPTION_KEY"] {
        for key in &refused {
            let mut env = production();
            // Behind a good key too: every key of the ring counts.
            let ring = format!("{},{key}", fresh_key("good"));
            env.insert(var.into(), ring);
            let e = Settings::from_env(&env).expect_err("refused");
            assert_eq!(e.var, var, "{key}");
            let secret = key.split_once(':').map(|(_, s)| s).unwrap_or_default();
            assert!(!e.to_string().contains(secret), "{e}");
        }
    }
    // The development keys of scripts/local-env.sh are fine on localhost.
    let mut env = base();
    env.insert(
        "POSTIQO_JWT_KEYS".into(),
        "dev:ZGV2LW9ubHktand0LWtleS1ub3QtZm9yLXByb2R1Y3Rpb24=".into(),
    );
    env.insert(
        "POSTIQO_TOKEN_ENCRYPTION_KEY".into(),
        "dev:ZGV2LW9ubHktdG9rZW4tZW5jcnlwdGlvbi1rZXktMzI=".into(),
    );
    for local in [
        "http://localhost:8080",
        "https://localhost",
        "http://127.0.0.1:8080",
        "https://127.9.9.9",
        "http://[::1]:8080",
    ] {
        env.insert("POSTIQO_PUBLIC_URL".into(), local.into());
        assert!(Settings::from_env(&env).is_ok(), "{local}");
    }
    for public in [
        "https://api.example.com",
        "https://10.0.0.1",
        "https://[2001:db8::1]",
    ] {
        env.insert("POSTIQO_PUBLIC_URL".into(), public.into());
        assert_eq!(
            Settings::from_env(&env).expect_err(public).var,
            "POSTIQO_JWT_KEYS",
            "{public}"
        );
    }
}

#[test]
fn the_refresh_reuse_interval_is_short_and_can_be_off() {
    let s = Settings::from_env(&base()).expect("default");
    assert_eq!(s.sessions.refresh_reuse_interval, Duration::from_secs(10));
    let mut env = base();
    env.insert("POSTIQO_REFRESH_REUSE_INTERVAL_SECS".into(), "0".into());
    let s = Settings::from_env(&env).expect("off");
    assert_eq!(s.sessions.refresh_reuse_interval, Duration::ZERO);
    for bad in ["61", "-1", "soon"] {
        env.insert("POSTIQO_REFRESH_REUSE_INTERVAL_SECS".into(), bad.into());
        let e = Settings::from_env(&env).expect_err(bad);
        assert_eq!(e.var, "POSTIQO_REFRESH_REUSE_INTERVAL_SECS");
        assert!(!e.to_string().contains(bad), "never the value");
    }
}

#[test]
fn plain_http_origins_only_for_localhost() {
    let mut env = production();
    env.insert(
        "POSTIQO_ALLOWED_ORIGINS".into(),
        "https://app.example.com,http://app.example.com".into(),
    );
    assert_eq!(
        Settings::from_env(&env).expect_err("http origin").var,
        "POSTIQO_ALLOWED_ORIGINS"
    );
    // A developer's SPA on localhost may still talk to a deployed API.
    env.insert(
        "POSTIQO_ALLOWED_ORIGINS".into(),
        "https://app.example.com,http://localhost:5173,http://127.0.0.1:5173".into(),
    );
    assert!(Settings::from_env(&env).is_ok());
    // On localhost anything goes.
    let mut env = base();
    env.insert(
        "POSTIQO_ALLOWED_ORIGINS".into(),
        "http://app.example.com".into(),
    );
    assert!(Settings::from_env(&env).is_ok());
}

#[test]
fn session_cache_is_capped() {
    let mut env = base();
    env.insert("POSTIQO_SESSION_CACHE_MS".into(), "5000".into());
    assert_eq!(
        Settings::from_env(&env)
            .expect("at the cap")
            .sessions
            .cache_ttl,
        Duration::from_secs(5)
    );
    env.insert("POSTIQO_SESSION_CACHE_MS".into(), "5001".into());
    assert_eq!(
        Settings::from_env(&env).expect_err("over").var,
        "POSTIQO_SESSION_CACHE_MS"
    );
    env.insert("POSTIQO_SESSION_CACHE_MS".into(), "0".into());
    assert!(Settings::from_env(&env).is_ok(), "0 turns it off");
}

#[test]
fn trusted_proxies_and_their_header() {
    let s = Settings::from_env(&base()).expect("valid");
    assert!(s.proxies.trusted.is_empty(), "nobody is trusted by default");
    assert_eq!(s.proxies.header, ForwardedHeader::XForwardedFor);
    let mut env = base();
    env.insert(
        "POSTIQO_TRUSTED_PROXIES".into(),
        "10.0.0.0/8, fd00::/8".into(),
    );
    env.insert("POSTIQO_FORWARDED_HEADER".into(), "Forwarded".into());
    let s = Settings::from_env(&env).expect("valid");
    assert!(s.proxies.trusted.contains([10, 1, 2, 3].into()));
    assert_eq!(s.proxies.header, ForwardedHeader::Forwarded);
    for bad in ["10.0.0.0/40", "proxy.internal", "0.0.0.0/0"] {
        env.insert("POSTIQO_TRUSTED_PROXIES".into(), bad.into());
        assert_eq!(
            Settings::from_env(&env).expect_err(bad).var,
            "POSTIQO_TRUSTED_PROXIES"
        );
    }
    env.remove("POSTIQO_TRUSTED_PROXIES");
    env.insert("POSTIQO_FORWARDED_HEADER".into(), "x-real-ip".into());
    assert_eq!(
        Settings::from_env(&env).expect_err("unknown header").var,
        "POSTIQO_FORWARDED_HEADER"
    );
}

#[test]
fn encryption_keys_must_be_32_bytes() {
    let mut env = base();
    env.insert(
        "POSTIQO_TOKEN_ENCRYPTION_KEY".into(),
        "e1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIz".into(),
    );
    assert_eq!(
        Settings::from_env(&env).expect_err("too long").var,
        "POSTIQO_TOKEN_ENCRYPTION_KEY"
    );
    env.remove("POSTIQO_TOKEN_ENCRYPTION_KEY");
    assert_eq!(
        Settings::from_env(&env).expect_err("missing").var,
        "POSTIQO_TOKEN_ENCRYPTION_KEY"
    );
}

#[test]
fn path_style_follows_endpoint_override() {
    let mut env = base();
    env.insert("AWS_ENDPOINT_URL".into(), "http://127.0.0.1:4566".into());
    assert!(
        Settings::from_env(&env)
            .expect("valid")
            .storage
            .s3_force_path_style
    );
    env.insert("POSTIQO_S3_FORCE_PATH_STYLE".into(), "false".into());
    assert!(
        !Settings::from_env(&env)
            .expect("valid")
            .storage
            .s3_force_path_style
    );
}

#[test]
fn origins_are_normalised_and_paths_refused() {
    assert_eq!(
        AllowedOrigin::parse("https://App.Example.com").map(|o| o.as_str().to_owned()),
        Some("https://app.example.com".to_owned())
    );
    assert_eq!(
        AllowedOrigin::parse("http://localhost:5173/").map(|o| o.as_str().to_owned()),
        Some("http://localhost:5173".to_owned())
    );
    assert!(AllowedOrigin::parse("https://app.example.com/path").is_none());
    assert!(AllowedOrigin::parse("https://*.example.com").is_none());
    assert!(AllowedOrigin::parse("null").is_none());
}
