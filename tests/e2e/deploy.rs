//! deploy/aws/postiqo.yaml on the local CloudFormation (ministack's): created with
//! `DeployService=false`, then the API runs on the stack's outputs — never bootstrapped — and
//! takes a video from sign-in to PUBLISHED.
//!
//! ministack's CloudFormation does not apply `TimeToLiveSpecification`,
//! `PointInTimeRecoverySpecification` or `LifecycleConfiguration`; those are compared with
//! bootstrap's on the parsed template (crates/api/tests/aws_template.rs), not weakened here.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus};
use postiqo_e2e::TestAppBuilder;
use serde_json::{Value, json};

const TEMPLATE: &str = include_str!("../../deploy/aws/postiqo.yaml");

/// The local AWS endpoint every service of the stack lives on (ministack).
fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL (set by scripts/local-env.sh)")
}

async fn sdk() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

async fn cloudformation() -> aws_sdk_cloudformation::Client {
    let sdk = sdk().await;
    aws_sdk_cloudformation::Client::from_conf(
        aws_sdk_cloudformation::config::Builder::from(&sdk)
            .endpoint_url(endpoint())
            .build(),
    )
}

fn stack_name() -> String {
    format!(
        "postiqo-e2e-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

fn parameters(pairs: &[(&str, &str)]) -> Vec<Parameter> {
    pairs
        .iter()
        .map(|(k, v)| {
            Parameter::builder()
                .parameter_key(*k)
                .parameter_value(*v)
                .build()
        })
        .collect()
}

/// Creates the stack and waits for CREATE_COMPLETE; returns its outputs.
async fn create_stack(
    cfn: &aws_sdk_cloudformation::Client,
    name: &str,
    params: &[(&str, &str)],
) -> HashMap<String, String> {
    cfn.create_stack()
        .stack_name(name)
        .template_body(TEMPLATE)
        .set_parameters(Some(parameters(params)))
        // The managed policies are IAM resources: CloudFormation refuses them without it.
        .capabilities(Capability::CapabilityIam)
        .send()
        .await
        .expect("CreateStack accepted");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let described = cfn
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
            .expect("DescribeStacks");
        let stack = described.stacks().first().expect("the stack");
        match stack.stack_status() {
            Some(StackStatus::CreateComplete) => {
                return stack
                    .outputs()
                    .iter()
                    .filter_map(|o| {
                        Some((o.output_key()?.to_owned(), o.output_value()?.to_owned()))
                    })
                    .collect();
            }
            Some(StackStatus::CreateInProgress) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            status => {
                let events = cfn
                    .describe_stack_events()
                    .stack_name(name)
                    .send()
                    .await
                    .map(|e| {
                        e.stack_events()
                            .iter()
                            .map(|e| {
                                format!(
                                    "{} {:?} {}",
                                    e.logical_resource_id().unwrap_or_default(),
                                    e.resource_status(),
                                    e.resource_status_reason().unwrap_or_default()
                                )
                            })
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                    .unwrap_or_default();
                panic!("stack {name} ended {status:?}:\n{events}");
            }
        }
    }
}

fn publish_settings() -> Value {
    json!({"privacy_level": "PUBLIC_TO_EVERYONE", "disable_comment": false, "disable_duet": false,
           "disable_stitch": false, "brand_content_toggle": false, "brand_organic_toggle": false,
           "is_aigc": false})
}

#[tokio::test]
async fn the_stack_without_service_serves_sign_in_upload_and_publish() {
    let origins = std::env::var("POSTIQO_ALLOWED_ORIGINS")
        .expect("POSTIQO_ALLOWED_ORIGINS (set by scripts/local-env.sh)");
    let cfn = cloudformation().await;
    let name = stack_name();
    let outputs = create_stack(
        &cfn,
        &name,
        &[("DeployService", "false"), ("AllowedOrigins", &origins)],
    )
    .await;
    let table = outputs.get("TableName").expect("output TableName").clone();
    let bucket = outputs
        .get("BucketName")
        .expect("output BucketName")
        .clone();
    for made in [
        "ApiPolicyArn",
        "BootstrapPolicyArn",
        "JwtKeysSecretArn",
        "TokenEncryptionKeySecretArn",
        "TikTokClientSecretArn",
    ] {
        assert!(outputs.contains_key(made), "{made}: {outputs:?}");
    }
    assert!(
        !outputs.contains_key("LoadBalancerDnsName"),
        "no compute without DeployService: {outputs:?}"
    );

    // Explicit endpoints: another lane may point DynamoDB elsewhere, but the stack's table is
    // where the stack was created.
    let sdk = sdk().await;
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .endpoint_url(endpoint())
            .build(),
    );
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .endpoint_url(endpoint())
            .force_path_style(true)
            .build(),
    );
    let described = ddb
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .expect("the stack's table exists");
    let mut indexes: Vec<String> = described
        .table()
        .unwrap()
        .global_secondary_indexes()
        .iter()
        .filter_map(|i| i.index_name().map(str::to_owned))
        .collect();
    indexes.sort();
    assert_eq!(indexes, ["GSI1", "GSI2"]);
    let cors = s3
        .get_bucket_cors()
        .bucket(&bucket)
        .send()
        .await
        .expect("the stack's bucket has CORS");
    let rule = &cors.cors_rules()[0];
    let expected: Vec<&str> = origins.split(',').map(str::trim).collect();
    assert_eq!(rule.allowed_origins(), expected.as_slice());
    assert!(rule.allowed_methods().contains(&"PUT".to_owned()));
    assert_eq!(rule.expose_headers(), ["ETag"]);

    // The API on the stack's outputs, without `bootstrap`.
    let app = TestAppBuilder::new()
        .env("POSTIQO_TABLE", &table)
        .env("POSTIQO_BUCKET", &bucket)
        .env("AWS_ENDPOINT_URL_DYNAMODB", &endpoint())
        .env("AWS_ENDPOINT_URL_S3", &endpoint())
        .spawn_without_bootstrap()
        .await;
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(
        ready.status(),
        200,
        "the load balancer's health check passes"
    );

    let user = app.new_user().await;
    // create → presigned PUT to the stack's bucket → upload-complete
    let id = app.uploaded_video(&user, 4096).await;
    let res = app
        .publish(&user, &id, "deploy-publish-1", publish_settings())
        .await;
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
    let video = app.wait_for_status(&user, &id, "PUBLISHED", 60).await;
    let statuses: Vec<&str> = video["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["PENDING", "UPLOADED", "PUBLISHING", "PUBLISHED"]);

    // Everything landed in the stack's table and bucket.
    let objects = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix(format!("users/{}/", user.id))
        .send()
        .await
        .unwrap();
    assert_eq!(objects.contents().len(), 1, "the uploaded video");
    let item = ddb
        .get_item()
        .table_name(&table)
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{}", user.id)),
        )
        .key(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("VIDEO#{id}")),
        )
        .send()
        .await
        .unwrap();
    assert!(
        item.item().is_some(),
        "the video record is in the stack's table"
    );
}

#[tokio::test]
async fn deploy_service_true_refuses_a_stack_without_its_service_parameters() {
    let cfn = cloudformation().await;
    let err = cfn
        .create_stack()
        .stack_name(stack_name())
        .template_body(TEMPLATE)
        .set_parameters(Some(parameters(&[
            ("DeployService", "true"),
            ("AllowedOrigins", "https://app.example.com"),
        ])))
        .capabilities(Capability::CapabilityIam)
        .send()
        .await
        .expect_err("the Rules section refuses it before creating anything");
    let text = format!(
        "{:?}",
        aws_sdk_cloudformation::error::DisplayErrorContext(&err)
    );
    assert!(
        text.contains("ContainerImage is required"),
        "the operator is told what is missing: {text}"
    );
}
