//! DynamoDB consumed capacity, measured where it is spent: an opt-in interceptor that asks every
//! DynamoDB request for `ReturnConsumedCapacity=INDEXES` and records the read and write units
//! the answer reports, per operation and per table or index (docs/capacity.md).
//!
//! Opt-in (`POSTIQO_METRICS_DYNAMODB_CAPACITY`) because it makes every answer a little longer;
//! it is how the benchmark prices a flow, and how an operator sees which access pattern spends
//! the bill. Recorded through the `metrics` facade only, like [`crate::observe`]:
//!
//! - `postiqo_dynamodb_consumed_capacity_units{operation, capacity, index}`: a histogram of the
//!   units one call consumed; its `_sum` is the running total. `capacity` is `read` or `write`,
//!   `index` is `table` or the index's name (`GSI1`, `GSI2`): a fixed, small set.
//!
//! DynamoDB reports nothing when a conditional write fails or a transaction is cancelled,
//! although AWS bills those writes; such calls are counted by `postiqo_storage_calls_total`
//! with `outcome="conditional_failed"`.

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::{
    batch_get_item::{BatchGetItemInput, BatchGetItemOutput},
    batch_write_item::{BatchWriteItemInput, BatchWriteItemOutput},
    delete_item::{DeleteItemInput, DeleteItemOutput},
    get_item::{GetItemInput, GetItemOutput},
    put_item::{PutItemInput, PutItemOutput},
    query::{QueryInput, QueryOutput},
    scan::{ScanInput, ScanOutput},
    transact_get_items::{TransactGetItemsInput, TransactGetItemsOutput},
    transact_write_items::{TransactWriteItemsInput, TransactWriteItemsOutput},
    update_item::{UpdateItemInput, UpdateItemOutput},
};
use aws_sdk_dynamodb::types::{ConsumedCapacity, ReturnConsumedCapacity};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

pub const CAPACITY: &str = "postiqo_dynamodb_consumed_capacity_units";

/// Histogram buckets: half a read unit up to a large batch.
pub const CAPACITY_BUCKETS: &[f64] = &[0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];

/// The interceptor added to the DynamoDB client when capacity recording is on.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsumedCapacityMetrics;

/// Read or write units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Read,
    Write,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Read => "read",
            Kind::Write => "write",
        }
    }

    /// What a call's units are when the answer does not split them (only transactions do).
    fn of_operation(operation: &str) -> Self {
        match operation {
            "GetItem" | "Query" | "Scan" | "BatchGetItem" | "TransactGetItems" => Kind::Read,
            _ => Kind::Write,
        }
    }
}

/// One line of a call's bill: so many units of one kind on the table or on one index.
#[derive(Debug, Clone, PartialEq)]
pub struct Units {
    pub kind: Kind,
    /// `table`, or the index's name.
    pub index: String,
    pub units: f64,
}

impl Intercept for ConsumedCapacityMetrics {
    fn name(&self) -> &'static str {
        "PostiqoConsumedCapacity"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input_mut();
        let want = Some(ReturnConsumedCapacity::Indexes);
        // Every operation that can report capacity; the others (DescribeTable, ...) pass.
        macro_rules! ask {
            ($($ty:ty),*) => {
                $(if let Some(i) = input.downcast_mut::<$ty>() {
                    i.return_consumed_capacity = want;
                    return Ok(());
                })*
            };
        }
        ask!(
            GetItemInput,
            PutItemInput,
            UpdateItemInput,
            DeleteItemInput,
            QueryInput,
            ScanInput,
            BatchGetItemInput,
            BatchWriteItemInput,
            TransactGetItemsInput,
            TransactWriteItemsInput
        );
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(output) = context.output_or_error() else {
            return Ok(());
        };
        let Some(meta) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        let name = meta.name();
        let mut reported: Vec<&ConsumedCapacity> = Vec::new();
        macro_rules! one {
            ($($ty:ty),*) => {
                $(if let Some(o) = output.downcast_ref::<$ty>() {
                    reported.extend(o.consumed_capacity.as_ref());
                })*
            };
        }
        macro_rules! many {
            ($($ty:ty),*) => {
                $(if let Some(o) = output.downcast_ref::<$ty>() {
                    reported.extend(o.consumed_capacity.iter().flatten());
                })*
            };
        }
        one!(
            GetItemOutput,
            PutItemOutput,
            UpdateItemOutput,
            DeleteItemOutput,
            QueryOutput,
            ScanOutput
        );
        many!(
            BatchGetItemOutput,
            BatchWriteItemOutput,
            TransactGetItemsOutput,
            TransactWriteItemsOutput
        );
        if reported.is_empty() {
            return Ok(());
        }
        let operation = format!("dynamodb.{name}");
        for c in reported {
            for u in split(name, c) {
                metrics::histogram!(
                    CAPACITY,
                    "operation" => operation.clone(),
                    "capacity" => u.kind.as_str(),
                    "index" => u.index
                )
                .record(u.units);
            }
        }
        Ok(())
    }
}

/// Splits one reported `ConsumedCapacity` into units per kind and per table/index.
///
/// With `INDEXES`, DynamoDB gives the table's part and each index's part; an answer without the
/// table's part (ministack's transactions) gets it as the total minus the indexes'. Units are
/// read or write by the operation unless the answer splits them itself.
pub fn split(operation: &str, c: &ConsumedCapacity) -> Vec<Units> {
    let default_kind = Kind::of_operation(operation);
    let mut out = Vec::new();
    let mut push = |index: &str, read: Option<f64>, write: Option<f64>, total: Option<f64>| {
        let parts = match (read, write) {
            (None, None) => vec![(default_kind, total.unwrap_or(0.0))],
            (r, w) => vec![
                (Kind::Read, r.unwrap_or(0.0)),
                (Kind::Write, w.unwrap_or(0.0)),
            ],
        };
        for (kind, units) in parts {
            if units > 0.0 {
                out.push(Units {
                    kind,
                    index: index.to_owned(),
                    units,
                });
            }
        }
    };
    let mut index_total = 0.0;
    let indexes = c
        .global_secondary_indexes
        .iter()
        .chain(c.local_secondary_indexes.iter())
        .flatten();
    for (name, cap) in indexes {
        index_total += cap.capacity_units.unwrap_or(0.0);
        push(
            name,
            cap.read_capacity_units,
            cap.write_capacity_units,
            cap.capacity_units,
        );
    }
    match &c.table {
        Some(t) => push(
            "table",
            t.read_capacity_units,
            t.write_capacity_units,
            t.capacity_units,
        ),
        // Only the totals: servers disagree on whether the top-level read/write split includes
        // the indexes (ministack's does not, AWS's does), so the total less the indexes it is.
        None => push(
            "table",
            None,
            None,
            c.capacity_units.map(|t| t - index_total),
        ),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::Capacity;

    fn cap(units: f64) -> Capacity {
        Capacity::builder().capacity_units(units).build()
    }

    #[test]
    fn a_put_is_billed_on_the_table_and_on_each_index_it_touches() {
        let c = ConsumedCapacity::builder()
            .table_name("t")
            .capacity_units(6.0)
            .table(cap(3.0))
            .global_secondary_indexes("GSI2", cap(3.0))
            .build();
        let mut units = split("PutItem", &c);
        units.sort_by(|a, b| a.index.cmp(&b.index));
        assert_eq!(
            units,
            vec![
                Units {
                    kind: Kind::Write,
                    index: "GSI2".into(),
                    units: 3.0
                },
                Units {
                    kind: Kind::Write,
                    index: "table".into(),
                    units: 3.0
                },
            ]
        );
    }

    #[test]
    fn a_query_is_read_units() {
        let c = ConsumedCapacity::builder()
            .capacity_units(0.5)
            .table(cap(0.5))
            .build();
        assert_eq!(
            split("Query", &c),
            vec![Units {
                kind: Kind::Read,
                index: "table".into(),
                units: 0.5
            }]
        );
    }

    #[test]
    fn a_transaction_without_the_table_part_gets_the_rest() {
        // As ministack answers a TransactWriteItems: totals, and the index's part.
        let c = ConsumedCapacity::builder()
            .capacity_units(9.0)
            .write_capacity_units(8.0)
            .global_secondary_indexes(
                "GSI2",
                Capacity::builder()
                    .capacity_units(1.0)
                    .write_capacity_units(1.0)
                    .build(),
            )
            .build();
        let units = split("TransactWriteItems", &c);
        assert!(units.contains(&Units {
            kind: Kind::Write,
            index: "table".into(),
            units: 8.0
        }));
        assert!(units.contains(&Units {
            kind: Kind::Write,
            index: "GSI2".into(),
            units: 1.0
        }));
        assert_eq!(units.len(), 2, "{units:?}");
    }
}
