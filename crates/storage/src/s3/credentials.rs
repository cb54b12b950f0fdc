//! The credentials presigned URLs are signed with, fetched once and kept until shortly before
//! they expire.
//!
//! A client caches its identity itself, but the shared configuration's provider does not: the
//! default chain would read the environment, a profile file or the instance metadata service
//! again for every URL.

use std::sync::{PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_s3::config::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_runtime_api::client::identity::Identity;

use crate::BlobError;

/// Credentials this close to their expiry are fetched again: a URL signed with them stops
/// working when they expire, and role providers have fresh ones well before that.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// Deliberately not `Debug`: it holds a secret key.
pub(crate) struct CachedCredentials {
    provider: Option<SharedCredentialsProvider>,
    current: RwLock<Option<Identity>>,
    /// One fetch at a time; the others wait for its result instead of asking the provider too.
    refresh: tokio::sync::Mutex<()>,
}

impl CachedCredentials {
    pub(crate) fn new(provider: Option<SharedCredentialsProvider>) -> Self {
        Self {
            provider,
            current: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// Credentials valid at `now` for a while yet (static ones forever).
    pub(crate) async fn get(&self, now: SystemTime) -> Result<Identity, BlobError> {
        if let Some(identity) = self.fresh(now) {
            return Ok(identity);
        }
        let _one_fetch = self.refresh.lock().await;
        if let Some(identity) = self.fresh(now) {
            return Ok(identity);
        }
        let provider = self.provider.as_ref().ok_or_else(|| {
            BlobError::Backend("no AWS credentials provider is configured".into())
        })?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(credentials_error)?;
        let identity = Identity::from(credentials);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(identity.clone());
        Ok(identity)
    }

    fn fresh(&self, now: SystemTime) -> Option<Identity> {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        current
            .as_ref()
            .filter(|identity| {
                identity
                    .expiration()
                    .is_none_or(|expiry| now + REFRESH_BEFORE_EXPIRY < expiry)
            })
            .cloned()
    }
}

/// A source that timed out or failed (the instance metadata service, STS, the container's
/// credentials endpoint) is a passing outage, answered 503 like storage being down; no
/// credentials at all or a bad configuration stays a failure.
fn credentials_error(e: CredentialsError) -> BlobError {
    match e {
        CredentialsError::ProviderTimedOut(_) | CredentialsError::ProviderError(_) => {
            BlobError::Unavailable(Box::new(e))
        }
        _ => BlobError::Backend(Box::new(e)),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_sdk_s3::config::Credentials;
    use aws_sdk_s3::config::ProvideCredentials;
    use aws_sdk_s3::config::SharedCredentialsProvider;

    use super::*;

    const T0: Duration = Duration::from_secs(1_800_000_000);

    /// Hands out credentials expiring `lifetime` after the given start, counting the calls.
    #[derive(Debug)]
    struct Counting {
        calls: Arc<AtomicUsize>,
        expiry: Option<SystemTime>,
    }

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            aws_credential_types::provider::future::ProvideCredentials::ready(Ok(Credentials::new(
                format!("AKIDTEST{n}"),
                "not-a-secret",
                None,
                self.expiry,
                "test",
            )))
        }
    }

    fn cache(expiry: Option<SystemTime>) -> (CachedCredentials, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let provider = SharedCredentialsProvider::new(Counting {
            calls: calls.clone(),
            expiry,
        });
        (CachedCredentials::new(Some(provider)), calls)
    }

    fn key_id(identity: &Identity) -> String {
        identity
            .data::<Credentials>()
            .map(|c| c.access_key_id().to_owned())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn credentials_without_expiry_are_fetched_once() {
        let (cache, calls) = cache(None);
        let now = SystemTime::UNIX_EPOCH + T0;
        for i in 0..5 {
            let id = cache
                .get(now + Duration::from_secs(86_400 * i))
                .await
                .expect("credentials");
            assert_eq!(key_id(&id), "AKIDTEST0");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn expiring_credentials_are_fetched_again_shortly_before_expiry() {
        let now = SystemTime::UNIX_EPOCH + T0;
        let (cache, calls) = cache(Some(now + Duration::from_secs(3600)));
        assert_eq!(key_id(&cache.get(now).await.expect("first")), "AKIDTEST0");
        let later =
            now + Duration::from_secs(3600) - REFRESH_BEFORE_EXPIRY - Duration::from_secs(1);
        assert_eq!(
            key_id(&cache.get(later).await.expect("cached")),
            "AKIDTEST0"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let close = now + Duration::from_secs(3600) - REFRESH_BEFORE_EXPIRY;
        assert_eq!(
            key_id(&cache.get(close).await.expect("refreshed")),
            "AKIDTEST1"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn no_provider_is_an_error() {
        let cache = CachedCredentials::new(None);
        assert!(matches!(
            cache.get(SystemTime::now()).await,
            Err(BlobError::Backend(_))
        ));
    }

    /// Always fails with `error()`.
    #[derive(Debug)]
    struct Failing(fn() -> CredentialsError);

    impl ProvideCredentials for Failing {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            aws_credential_types::provider::future::ProvideCredentials::ready(Err((self.0)()))
        }
    }

    async fn fetch_with(error: fn() -> CredentialsError) -> BlobError {
        match CachedCredentials::new(Some(SharedCredentialsProvider::new(Failing(error))))
            .get(SystemTime::now())
            .await
        {
            Ok(_) => panic!("the provider fails"),
            Err(e) => e,
        }
    }

    #[tokio::test]
    async fn a_source_that_times_out_or_fails_is_unavailable_a_missing_one_is_not() {
        assert!(matches!(
            fetch_with(|| CredentialsError::provider_timed_out(Duration::from_secs(5))).await,
            BlobError::Unavailable(_)
        ));
        assert!(matches!(
            fetch_with(|| CredentialsError::provider_error("connection refused")).await,
            BlobError::Unavailable(_)
        ));
        assert!(matches!(
            fetch_with(CredentialsError::not_loaded_no_source).await,
            BlobError::Backend(_)
        ));
        assert!(matches!(
            fetch_with(|| CredentialsError::invalid_configuration("no region")).await,
            BlobError::Backend(_)
        ));
    }
}
