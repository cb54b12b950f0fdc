//! Presigned S3 requests, signed with `aws-sigv4` directly.
//!
//! The SDK's `.presigned()` runs its whole request pipeline for every URL (interceptors, endpoint
//! resolution — the object key is an endpoint parameter, so its endpoint cache always misses —
//! identity, signing), ≈ 100–230 µs of CPU each. Here the SDK is asked once, for a placeholder
//! key, where our bucket's URLs point and which region and service sign them; every URL after
//! that is the key encoded as the SDK encodes it plus one SigV4 query signature with the
//! settings the SDK uses for S3. `tests` compares the result byte for byte with the SDK's.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_http::label::{EncodingStrategy, fmt_string as encode_label};
use aws_smithy_http::query::fmt_string as encode_query;
use aws_smithy_runtime_api::client::identity::Identity;
use chrono::{DateTime, Utc};

use super::credentials::CachedCredentials;
use crate::error::blob_error;
use crate::{BlobError, PresignedRequest};

/// SigV4 query signatures are valid for at most a week (the SDK refuses longer too).
const MAX_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

/// The object the SDK presigns once to show where our URLs point.
const PROBE_KEY: &str = "postiqo-presign-probe";

fn backend(e: impl std::error::Error + Send + Sync + 'static) -> BlobError {
    BlobError::Backend(Box::new(e))
}

/// Signs S3 requests for the endpoint browsers use.
pub(crate) struct Presigner {
    /// An SDK client for that endpoint with placeholder credentials: it only presigns
    /// [`PROBE_KEY`], which needs no real credentials and makes no network call.
    probe: Client,
    bucket: String,
    target: tokio::sync::OnceCell<Arc<Target>>,
    credentials: CachedCredentials,
}

impl Presigner {
    /// `public` is the S3 configuration for the host the client will call; `credentials` are
    /// the ones to sign with (the shared configuration's provider).
    pub(crate) fn new(
        public: aws_sdk_s3::config::Builder,
        credentials: Option<SharedCredentialsProvider>,
        bucket: String,
    ) -> Self {
        let probe_credentials = Credentials::new(
            "POSTIQOPROBE",
            "placeholder",
            None,
            None,
            "postiqo-presign-probe",
        );
        Self {
            probe: Client::from_conf(
                public
                    .credentials_provider(SharedCredentialsProvider::new(probe_credentials))
                    .build(),
            ),
            bucket,
            target: tokio::sync::OnceCell::new(),
            credentials: CachedCredentials::new(credentials),
        }
    }

    /// `request` signed at `time`, valid for `expires_in`.
    pub(crate) async fn presign(
        &self,
        request: &ObjectRequest<'_>,
        expires_in: Duration,
        time: SystemTime,
    ) -> Result<PresignedRequest, BlobError> {
        if expires_in > MAX_EXPIRY {
            return Err(BlobError::Backend(
                "a presigned URL can be valid for at most 7 days".into(),
            ));
        }
        let target = self
            .target
            .get_or_try_init(|| async { self.resolve_target().await.map(Arc::new) })
            .await?;
        let identity = self.credentials.get(time).await?;
        target.presign(&identity, request, expires_in, time)
    }

    async fn resolve_target(&self) -> Result<Target, BlobError> {
        let presigning = PresigningConfig::expires_in(Duration::from_secs(60)).map_err(backend)?;
        let probe = self
            .probe
            .get_object()
            .bucket(&self.bucket)
            .key(PROBE_KEY)
            .presigned(presigning)
            .await
            .map_err(blob_error)?;
        Target::from_probe(probe.uri())
    }
}

/// Where our bucket's presigned URLs point and whom they are signed for, as the SDK resolved it
/// for the configured endpoint, region and addressing style.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    /// Everything before the encoded key: `https://bucket.s3.eu-west-1.amazonaws.com/`,
    /// `http://127.0.0.1:4566/bucket/`.
    base: String,
    region: String,
    service: String,
}

impl Target {
    /// Reads the target off the SDK's URL for [`PROBE_KEY`].
    fn from_probe(url: &str) -> Result<Self, BlobError> {
        let unexpected = |what: &str| {
            BlobError::Backend(format!("unexpected presigned URL shape: {what}").into())
        };
        let (path, query) = url.split_once('?').ok_or_else(|| unexpected("no query"))?;
        let base = path
            .strip_suffix(PROBE_KEY)
            .ok_or_else(|| unexpected("the key is not at the end of the path"))?;
        let param = |name: &str| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
        };
        if param("X-Amz-Algorithm") != Some("AWS4-HMAC-SHA256") {
            return Err(BlobError::Backend(
                "the SDK signs this bucket's requests with another algorithm than SigV4 \
                 (a multi-region access point or a directory bucket?); not supported"
                    .into(),
            ));
        }
        // `<access key id>/<date>/<region>/<service>/aws4_request`, its slashes encoded.
        let scope = param("X-Amz-Credential")
            .ok_or_else(|| unexpected("no X-Amz-Credential"))?
            .replace("%2F", "/");
        match scope.split('/').collect::<Vec<_>>()[..] {
            [_, _, region, service, "aws4_request"] => Ok(Self {
                base: base.to_owned(),
                region: region.to_owned(),
                service: service.to_owned(),
            }),
            _ => Err(unexpected("X-Amz-Credential")),
        }
    }

    fn presign(
        &self,
        identity: &Identity,
        request: &ObjectRequest<'_>,
        expires_in: Duration,
        time: SystemTime,
    ) -> Result<PresignedRequest, BlobError> {
        if request.key.is_empty() {
            return Err(BlobError::Backend("cannot presign an empty key".into()));
        }
        // As the SDK writes it: the greedy label keeps the key's `/`, the query's values are
        // encoded, its names are literals.
        let mut url = self.base.clone();
        url.push_str(&encode_label(request.key, EncodingStrategy::Greedy));
        for (i, (name, value)) in request.query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(name);
            url.push('=');
            url.push_str(&encode_query(value));
        }

        // aws-runtime's settings for S3's operations (`double_uri_encode`, `normalize_uri_path`
        // off, `content_sha256_header` on) as the SDK's presigning interceptor changes them.
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires_in);
        let params = v4::SigningParams::builder()
            .identity(identity)
            .region(&self.region)
            .name(&self.service)
            .time(time)
            .settings(settings)
            .build()
            .map_err(backend)?
            .into();
        let signable = SignableRequest::new(
            request.method,
            url.as_str(),
            request
                .headers
                .iter()
                .map(|(name, value)| (*name, value.as_str())),
            SignableBody::UnsignedPayload,
        )
        .map_err(backend)?;
        let (instructions, _signature) = sign(signable, &params).map_err(backend)?.into_parts();
        // What `SigningInstructions::apply_to_request_http1x` does, without parsing the URI again.
        let mut first = request.query.is_empty();
        for (name, value) in instructions.params() {
            url.push(if first { '?' } else { '&' });
            first = false;
            url.push_str(&encode_query(name));
            url.push('=');
            url.push_str(&encode_query(value));
        }

        let lifetime = chrono::Duration::from_std(expires_in).map_err(backend)?;
        Ok(PresignedRequest {
            method: request.method.to_owned(),
            url,
            headers: request
                .headers
                .iter()
                .map(|(name, value)| ((*name).to_owned(), value.clone()))
                .collect(),
            expires_at: DateTime::<Utc>::from(time) + lifetime,
        })
    }
}

/// One S3 request to presign, serialized as the SDK serializes that operation.
pub(crate) struct ObjectRequest<'a> {
    method: &'static str,
    key: &'a str,
    /// In the SDK's order, values not yet encoded.
    query: Vec<(&'static str, Cow<'a, str>)>,
    /// Signed, so the client must send them exactly; in the SDK's order.
    headers: Vec<(&'static str, String)>,
}

impl<'a> ObjectRequest<'a> {
    /// `PutObject` binding the object's type, exact length and tag set.
    pub(crate) fn put_object(
        key: &'a str,
        content_type: &str,
        content_length: u64,
        tagging: &str,
    ) -> Self {
        Self {
            method: "PUT",
            key,
            query: vec![("x-id", Cow::Borrowed("PutObject"))],
            headers: vec![
                ("content-length", content_length.to_string()),
                ("content-type", content_type.to_owned()),
                ("x-amz-tagging", tagging.to_owned()),
            ],
        }
    }

    /// `UploadPart` binding the part's number and exact length.
    pub(crate) fn upload_part(
        key: &'a str,
        upload_id: &'a str,
        part_number: u32,
        content_length: u64,
    ) -> Self {
        Self {
            method: "PUT",
            key,
            query: vec![
                ("x-id", Cow::Borrowed("UploadPart")),
                ("partNumber", Cow::Owned(part_number.to_string())),
                ("uploadId", Cow::Borrowed(upload_id)),
            ],
            headers: vec![("content-length", content_length.to_string())],
        }
    }

    /// `GetObject` of the whole object.
    pub(crate) fn get_object(key: &'a str) -> Self {
        Self {
            method: "GET",
            key,
            query: vec![("x-id", Cow::Borrowed("GetObject"))],
            headers: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests;
