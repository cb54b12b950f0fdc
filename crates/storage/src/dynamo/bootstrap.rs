use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};
use tracing::info;

use crate::RepoError;
use crate::definition::{IndexDefinition, TABLE};
use crate::error::{repo_error, service_code};

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, RepoError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|e| RepoError::Backend(Box::new(e)))
}

fn attr(name: &str) -> Result<AttributeDefinition, RepoError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| RepoError::Backend(Box::new(e)))
}

fn gsi(index: &IndexDefinition) -> Result<GlobalSecondaryIndex, RepoError> {
    GlobalSecondaryIndex::builder()
        .index_name(index.name)
        .key_schema(key(index.hash_key, KeyType::Hash)?)
        .key_schema(key(index.range_key, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(|e| RepoError::Backend(Box::new(e)))
}

/// Creates the table, its indexes and its TTL setting as [`TABLE`] defines them. Safe to run
/// any number of times.
pub async fn bootstrap_table(client: &Client, table: &str) -> Result<(), RepoError> {
    let created = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::from(TABLE.billing_mode))
        .key_schema(key(TABLE.hash_key, KeyType::Hash)?)
        .key_schema(key(TABLE.range_key, KeyType::Range)?)
        .set_attribute_definitions(Some(
            TABLE
                .key_attributes()
                .into_iter()
                .map(attr)
                .collect::<Result<_, _>>()?,
        ))
        .set_global_secondary_indexes(Some(
            TABLE.indexes.iter().map(gsi).collect::<Result<_, _>>()?,
        ))
        .send()
        .await;
    match created {
        Ok(_) => info!(table, "table created"),
        Err(e) if service_code(&e) == Some("ResourceInUseException") => {
            info!(table, "table exists")
        }
        Err(e) => return Err(repo_error(e)),
    }
    wait_active(client, table).await?;

    let ttl = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(repo_error)?;
    let status = ttl
        .time_to_live_description
        .and_then(|d| d.time_to_live_status);
    if !matches!(
        status,
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
    ) {
        let spec = TimeToLiveSpecification::builder()
            .attribute_name(TABLE.ttl_attribute)
            .enabled(true)
            .build()
            .map_err(|e| RepoError::Backend(Box::new(e)))?;
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(spec)
            .send()
            .await
            .map_err(repo_error)?;
        info!(table, attribute = TABLE.ttl_attribute, "TTL enabled");
    }
    Ok(())
}

async fn wait_active(client: &Client, table: &str) -> Result<(), RepoError> {
    for _ in 0..120 {
        let out = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(repo_error)?;
        if out.table.and_then(|t| t.table_status) == Some(TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(RepoError::Unavailable(
        "table did not become ACTIVE within 60 s".into(),
    ))
}
