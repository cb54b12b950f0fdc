//! Our presigned requests against the SDK's `.presigned()` for the same inputs at the same
//! instant: method, URL and headers must be identical, byte for byte.

use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Credentials, Region, SharedCredentialsProvider};
use aws_sdk_s3::presigning::{PresignedRequest as SdkPresigned, PresigningConfig};

use super::ObjectRequest;
use crate::definition::{UPLOAD_PENDING, UPLOAD_TAG_KEY};
use crate::{JobShards, PresignedRequest, S3Blobs, StorageConfig};

const BUCKET: &str = "postiqo-videos";
const EXPIRES: Duration = Duration::from_secs(900);
/// Fake credentials (AWS's documentation example); nothing here reaches a network.
const ACCESS_KEY: &str = "AKIDEXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJGMEQCIF+EXAMPLE=";

/// The shape of every key we write.
const KEY: &str =
    "users/01937b6e-8f4a-7c3d-9e2b-5a6c7d8e9f01/videos/01937b6f-0a1b-7c2d-8e3f-4a5b6c7d8e9f";
/// Characters the SDK percent-encodes, a non-ASCII one, and segments a URI normalizer would
/// rewrite (`.`, `..`, `//`): S3 signs the path as it is.
const AWKWARD_KEY: &str = "users/a b+c/ü%20/./x/../y//z(1)*~!$&'=;:@,?#[]{}|^\"<>.mp4";
/// Upload ids are opaque; S3's contain `.`, `_`, `-` and sometimes characters to encode.
const UPLOAD_ID: &str = "2~Xb9.abc_DEF-ghi/jk+l==";

fn fixed_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_123)
}

struct Setup {
    region: &'static str,
    /// `AWS_ENDPOINT_URL`: where the API reaches S3 (none: AWS's regional endpoint).
    endpoint: Option<&'static str>,
    /// `POSTIQO_S3_PUBLIC_ENDPOINT`.
    public_endpoint: Option<&'static str>,
    path_style: bool,
    session_token: bool,
}

impl Setup {
    fn sdk_config(&self) -> SdkConfig {
        let credentials = Credentials::new(
            ACCESS_KEY,
            SECRET_KEY,
            self.session_token.then(|| SESSION_TOKEN.to_owned()),
            None,
            "test",
        );
        let mut sdk = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region))
            .credentials_provider(SharedCredentialsProvider::new(credentials));
        if let Some(endpoint) = self.endpoint {
            sdk = sdk.endpoint_url(endpoint);
        }
        sdk.build()
    }

    /// The adapter as `connect` builds it.
    fn blobs(&self) -> S3Blobs {
        S3Blobs::new(
            &self.sdk_config(),
            &StorageConfig {
                table: "postiqo".to_owned(),
                bucket: BUCKET.to_owned(),
                s3_public_endpoint: self.public_endpoint.map(str::to_owned),
                s3_force_path_style: self.path_style,
                record_capacity: false,
                job_shards: JobShards::default(),
            },
        )
    }

    /// The SDK client that presigned before: the API's configuration, the public endpoint if
    /// one is set.
    fn sdk_presigner(&self) -> Client {
        let mut conf =
            aws_sdk_s3::config::Builder::from(&self.sdk_config()).force_path_style(self.path_style);
        if let Some(endpoint) = self.public_endpoint {
            conf = conf.endpoint_url(endpoint);
        }
        Client::from_conf(conf.build())
    }
}

fn presigning() -> PresigningConfig {
    PresigningConfig::builder()
        .start_time(fixed_time())
        .expires_in(EXPIRES)
        .build()
        .expect("presigning config")
}

fn sdk_parts(p: &SdkPresigned) -> (String, String, Vec<(String, String)>) {
    (
        p.method().to_owned(),
        p.uri().to_owned(),
        p.headers()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    )
}

fn our_parts(p: &PresignedRequest) -> (String, String, Vec<(String, String)>) {
    (p.method.clone(), p.url.clone(), p.headers.clone())
}

async fn ours(blobs: &S3Blobs, request: &ObjectRequest<'_>) -> PresignedRequest {
    let p = blobs
        .presigner()
        .presign(request, EXPIRES, fixed_time())
        .await
        .expect("our presign");
    assert_eq!(
        p.expires_at,
        chrono::DateTime::<chrono::Utc>::from(fixed_time() + EXPIRES)
    );
    p
}

/// PutObject, UploadPart and GetObject, for a usual key and one that needs encoding.
async fn assert_same_as_sdk(setup: Setup) {
    let blobs = setup.blobs();
    let sdk = setup.sdk_presigner();
    let tag = format!("{UPLOAD_TAG_KEY}={UPLOAD_PENDING}");
    for key in [KEY, AWKWARD_KEY] {
        let put = sdk
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .content_type("video/mp4")
            .content_length(7_340_032)
            .tagging(&tag)
            .presigned(presigning())
            .await
            .expect("SDK PutObject");
        let our_put = ours(
            &blobs,
            &ObjectRequest::put_object(key, "video/mp4", 7_340_032, &tag),
        )
        .await;
        assert_eq!(our_parts(&our_put), sdk_parts(&put), "PutObject of {key:?}");

        let part = sdk
            .upload_part()
            .bucket(BUCKET)
            .key(key)
            .upload_id(UPLOAD_ID)
            .part_number(7)
            .content_length(16_777_216)
            .presigned(presigning())
            .await
            .expect("SDK UploadPart");
        let our_part = ours(
            &blobs,
            &ObjectRequest::upload_part(key, UPLOAD_ID, 7, 16_777_216),
        )
        .await;
        assert_eq!(
            our_parts(&our_part),
            sdk_parts(&part),
            "UploadPart of {key:?}"
        );

        let get = sdk
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .presigned(presigning())
            .await
            .expect("SDK GetObject");
        let our_get = ours(&blobs, &ObjectRequest::get_object(key)).await;
        assert_eq!(our_parts(&our_get), sdk_parts(&get), "GetObject of {key:?}");
    }
}

#[tokio::test]
async fn path_style_on_a_local_endpoint_matches_the_sdk() {
    assert_same_as_sdk(Setup {
        region: "us-east-1",
        endpoint: Some("http://127.0.0.1:4566"),
        public_endpoint: None,
        path_style: true,
        session_token: false,
    })
    .await;
}

#[tokio::test]
async fn path_style_with_a_session_token_matches_the_sdk() {
    assert_same_as_sdk(Setup {
        region: "eu-west-3",
        endpoint: Some("http://127.0.0.1:4566"),
        public_endpoint: None,
        path_style: true,
        session_token: true,
    })
    .await;
}

#[tokio::test]
async fn virtual_hosted_on_aws_regional_endpoint_matches_the_sdk() {
    assert_same_as_sdk(Setup {
        region: "eu-west-1",
        endpoint: None,
        public_endpoint: None,
        path_style: false,
        session_token: true,
    })
    .await;
}

#[tokio::test]
async fn virtual_hosted_in_us_east_1_without_a_token_matches_the_sdk() {
    assert_same_as_sdk(Setup {
        region: "us-east-1",
        endpoint: None,
        public_endpoint: None,
        path_style: false,
        session_token: false,
    })
    .await;
}

#[tokio::test]
async fn path_style_on_aws_matches_the_sdk() {
    assert_same_as_sdk(Setup {
        region: "ap-southeast-2",
        endpoint: None,
        public_endpoint: None,
        path_style: true,
        session_token: true,
    })
    .await;
}

#[tokio::test]
async fn virtual_hosted_on_a_custom_endpoint_matches_the_sdk() {
    assert_same_as_sdk(Setup {
        region: "eu-central-1",
        endpoint: Some("https://s3.storage.example.test"),
        public_endpoint: None,
        path_style: false,
        session_token: false,
    })
    .await;
}

#[tokio::test]
async fn a_public_endpoint_other_than_the_apis_matches_the_sdk() {
    assert_same_as_sdk(Setup {
        region: "us-east-1",
        endpoint: Some("http://ministack:4566"),
        public_endpoint: Some("http://localhost:4611"),
        path_style: true,
        session_token: true,
    })
    .await;
}

#[tokio::test]
async fn a_public_https_endpoint_with_a_path_matches_the_sdk() {
    assert_same_as_sdk(Setup {
        region: "eu-west-1",
        endpoint: None,
        public_endpoint: Some("https://media.example.test/storage"),
        path_style: true,
        session_token: false,
    })
    .await;
}

#[tokio::test]
async fn the_signature_depends_on_the_time_and_the_signed_headers() {
    let blobs = Setup {
        region: "us-east-1",
        endpoint: Some("http://127.0.0.1:4566"),
        public_endpoint: None,
        path_style: true,
        session_token: false,
    }
    .blobs();
    let presign = |request: ObjectRequest<'static>, time: SystemTime| {
        let blobs = blobs.clone();
        async move {
            blobs
                .presigner()
                .presign(&request, EXPIRES, time)
                .await
                .expect("presign")
                .url
        }
    };
    let put = |length| ObjectRequest::put_object(KEY, "video/mp4", length, "a=b");
    let base = presign(put(10), fixed_time()).await;
    assert_ne!(base, presign(put(11), fixed_time()).await);
    assert_ne!(
        base,
        presign(put(10), fixed_time() + Duration::from_secs(1)).await
    );
    assert!(
        base.starts_with(&format!(
            "http://127.0.0.1:4566/{BUCKET}/{KEY}?x-id=PutObject&"
        )),
        "{base}"
    );
    assert!(
        base.contains("X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost%3Bx-amz-tagging&"),
        "{base}"
    );
}

#[tokio::test]
async fn more_than_a_week_is_refused_like_the_sdk_does() {
    let blobs = Setup {
        region: "us-east-1",
        endpoint: None,
        public_endpoint: None,
        path_style: false,
        session_token: false,
    }
    .blobs();
    let week = Duration::from_secs(7 * 24 * 3600);
    let get = ObjectRequest::get_object(KEY);
    let presigner = blobs.presigner();
    assert!(presigner.presign(&get, week, fixed_time()).await.is_ok());
    assert!(
        presigner
            .presign(&get, week + Duration::from_secs(1), fixed_time())
            .await
            .is_err()
    );
    assert!(PresigningConfig::expires_in(week + Duration::from_secs(1)).is_err());
}

/// CPU per presigned URL, the SDK's pipeline against ours (same inputs, one thread, warm).
/// Run in release: `cargo test --release -p postiqo-storage presign_cost -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement, not a check; run in release"]
async fn presign_cost() {
    const N: u32 = 5_000;
    let setup = Setup {
        region: "us-east-1",
        endpoint: Some("http://127.0.0.1:4566"),
        public_endpoint: None,
        path_style: true,
        session_token: false,
    };
    let blobs = setup.blobs();
    // As the API's presigner client was: with the storage metrics interceptor.
    let sdk = Client::from_conf(
        aws_sdk_s3::config::Builder::from(&setup.sdk_config())
            .force_path_style(true)
            .interceptor(crate::observe::StorageMetrics)
            .build(),
    );
    let tag = format!("{UPLOAD_TAG_KEY}={UPLOAD_PENDING}");
    for round in 0..2 {
        let started = std::time::Instant::now();
        for _ in 0..N {
            let p = sdk
                .put_object()
                .bucket(BUCKET)
                .key(KEY)
                .content_type("video/mp4")
                .content_length(7_340_032)
                .tagging(&tag)
                .presigned(PresigningConfig::expires_in(EXPIRES).expect("config"))
                .await
                .expect("SDK PutObject");
            std::hint::black_box(p);
        }
        let sdk_put = started.elapsed() / N;
        let started = std::time::Instant::now();
        for _ in 0..N {
            let request = ObjectRequest::put_object(KEY, "video/mp4", 7_340_032, &tag);
            let p = blobs
                .presigner()
                .presign(&request, EXPIRES, SystemTime::now())
                .await
                .expect("our PutObject");
            std::hint::black_box(p);
        }
        let our_put = started.elapsed() / N;
        let started = std::time::Instant::now();
        for part in 0..N {
            let p = sdk
                .upload_part()
                .bucket(BUCKET)
                .key(KEY)
                .upload_id(UPLOAD_ID)
                .part_number(i32::try_from(part % 10_000 + 1).expect("part"))
                .content_length(16_777_216)
                .presigned(PresigningConfig::expires_in(EXPIRES).expect("config"))
                .await
                .expect("SDK UploadPart");
            std::hint::black_box(p);
        }
        let sdk_part = started.elapsed() / N;
        let started = std::time::Instant::now();
        for part in 0..N {
            let request = ObjectRequest::upload_part(KEY, UPLOAD_ID, part % 10_000 + 1, 16_777_216);
            let p = blobs
                .presigner()
                .presign(&request, EXPIRES, SystemTime::now())
                .await
                .expect("our UploadPart");
            std::hint::black_box(p);
        }
        let our_part = started.elapsed() / N;
        let started = std::time::Instant::now();
        for _ in 0..N {
            let p = sdk
                .get_object()
                .bucket(BUCKET)
                .key(KEY)
                .presigned(PresigningConfig::expires_in(EXPIRES).expect("config"))
                .await
                .expect("SDK GetObject");
            std::hint::black_box(p);
        }
        let sdk_get = started.elapsed() / N;
        let started = std::time::Instant::now();
        for _ in 0..N {
            let request = ObjectRequest::get_object(KEY);
            let p = blobs
                .presigner()
                .presign(&request, EXPIRES, SystemTime::now())
                .await
                .expect("our GetObject");
            std::hint::black_box(p);
        }
        let our_get = started.elapsed() / N;
        println!(
            "round {round}, µs per URL (SDK → direct): PutObject {:.1} → {:.1}, UploadPart {:.1} → {:.1}, GetObject {:.1} → {:.1}",
            sdk_put.as_secs_f64() * 1e6,
            our_put.as_secs_f64() * 1e6,
            sdk_part.as_secs_f64() * 1e6,
            our_part.as_secs_f64() * 1e6,
            sdk_get.as_secs_f64() * 1e6,
            our_get.as_secs_f64() * 1e6,
        );
    }
}
