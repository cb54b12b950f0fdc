use aws_config::BehaviorVersion;

/// SDK clients configured from the same standard variables the API reads.
pub async fn aws_clients() -> (aws_sdk_dynamodb::Client, aws_sdk_s3::Client) {
    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    (aws_sdk_dynamodb::Client::new(&sdk), s3)
}

pub async fn ddb_client() -> aws_sdk_dynamodb::Client {
    aws_clients().await.0
}

pub async fn s3_client() -> aws_sdk_s3::Client {
    aws_clients().await.1
}
