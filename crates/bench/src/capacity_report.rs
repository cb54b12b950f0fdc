//! The flows' bills as Markdown, with their price at on-demand rates: written between the
//! markers of docs/capacity.md.

use std::fmt::Write as _;

use crate::capacity::FlowCost;
use crate::report::Meta;

/// On-demand list prices, US East (N. Virginia), in US dollars: DynamoDB Standard table class
/// (since the price cut of 2024-11-01) and S3 Standard requests. Stated in docs/capacity.md.
pub const PRICES_AS_OF: &str = "AWS list prices for us-east-1 since DynamoDB on-demand's 2024-11-01 price cut ($0.625 per million write and $0.125 per million read request units, as airbyte.com/data-engineering-resources/dynamodb-pricing also states; AWS's own pricing page is not reachable from this machine) and S3 Standard requests";
const USD_PER_WRITE_UNIT: f64 = 0.625 / 1e6;
const USD_PER_READ_UNIT: f64 = 0.125 / 1e6;
/// PUT, COPY, POST and LIST requests.
const USD_PER_S3_WRITE: f64 = 0.005 / 1e3;
/// GET, HEAD and every other request that is not free.
const USD_PER_S3_READ: f64 = 0.0004 / 1e3;

/// What S3 charges for one request of `op`.
fn s3_price(op: &str) -> f64 {
    let op = op.trim_end_matches(" (client)");
    match op {
        // DELETE and cancel requests are free.
        "DeleteObject" | "DeleteObjects" | "AbortMultipartUpload" => 0.0,
        "PutObject"
        | "UploadPart"
        | "CreateMultipartUpload"
        | "CompleteMultipartUpload"
        | "CopyObject"
        | "UploadPartCopy"
        | "ListObjectsV2"
        | "ListObjects"
        | "ListParts"
        | "ListMultipartUploads"
        | "PutObjectTagging" => USD_PER_S3_WRITE,
        _ => USD_PER_S3_READ,
    }
}

pub fn dollars(f: &FlowCost) -> f64 {
    f.units_of("read") * USD_PER_READ_UNIT
        + f.units_of("write") * USD_PER_WRITE_UNIT
        + f.s3_requests()
            .iter()
            .map(|(op, n)| n * s3_price(op))
            .sum::<f64>()
        // An empty float sum is -0.0; printed, that would be "-0.0000".
        + 0.0
}

fn units(u: f64) -> String {
    if u == 0.0 {
        "0".to_owned()
    } else if (u - u.round()).abs() < 1e-9 {
        format!("{u:.0}")
    } else {
        format!("{u:.1}")
    }
}

fn s3_list(f: &FlowCost) -> String {
    let list: Vec<String> = f
        .s3_requests()
        .iter()
        .map(|(op, n)| format!("{} {op}", units(*n)))
        .collect();
    if list.is_empty() {
        "—".to_owned()
    } else {
        list.join(", ")
    }
}

fn find<'a>(flows: &'a [FlowCost], prefix: &str) -> Option<&'a FlowCost> {
    flows.iter().find(|f| f.name.starts_with(prefix))
}

pub fn markdown(meta: &Meta, flows: &[FlowCost]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "### Run\n\n| | |\n|---|---|");
    for (k, v) in [
        ("date", &meta.date),
        ("commit", &meta.commit),
        ("command", &format!("`{}`", meta.command)),
        ("machine", &meta.machine),
        ("storage", &meta.storage),
        ("profile", &meta.profile),
        ("prices", &PRICES_AS_OF.to_owned()),
    ] {
        let _ = writeln!(s, "| {k} | {v} |");
    }

    let _ = writeln!(s, "\n### Per flow\n");
    let _ = writeln!(
        s,
        "Read and write units as DynamoDB reported them (`ReturnConsumedCapacity=INDEXES`), the table's and each index's together; S3 requests by operation, the API's and those the client sends itself with presigned URLs (\"client\"). Cost at ${:.3} per million write units, ${:.3} per million read units, ${:.3} per 1,000 PUT/POST/LIST and ${:.4} per 1,000 GET/HEAD requests (deletes free).\n",
        USD_PER_WRITE_UNIT * 1e6,
        USD_PER_READ_UNIT * 1e6,
        USD_PER_S3_WRITE * 1e3,
        USD_PER_S3_READ * 1e3
    );
    let _ = writeln!(
        s,
        "| flow | DynamoDB calls | read units | write units (table + GSI1 + GSI2) | S3 requests | $ per 1,000 | took | |\n|---|--:|--:|--:|---|--:|--:|---|"
    );
    for f in flows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} ({} + {} + {}) | {} | {:.4} | {:.1} s | {} |",
            f.name,
            units(f.dynamodb_calls()),
            units(f.units_of("read")),
            units(f.units_of("write")),
            units(f.units_on("write", "table")),
            units(f.units_on("write", "GSI1")),
            units(f.units_on("write", "GSI2")),
            s3_list(f),
            dollars(f) * 1000.0,
            f.took.as_secs_f64(),
            f.note
        );
    }

    let _ = writeln!(s, "\n### Per operation, in each flow\n");
    let _ = writeln!(
        s,
        "| flow | operation | capacity | table or index | units |\n|---|---|---|---|--:|"
    );
    for f in flows {
        for ((op, kind, index), u) in &f.units {
            let _ = writeln!(
                s,
                "| {} | `{op}` | {kind} | {index} | {} |",
                f.name,
                units(*u)
            );
        }
    }

    let _ = writeln!(s, "\n### Per 1,000 publishes\n");
    let _ = writeln!(
        s,
        "A publish here is its video's create + upload + complete, then the publish to `PUBLISHED` (sign-in, lists and the idle worker are shared by many publishes and left out).\n"
    );
    let _ = writeln!(
        s,
        "| video | outcome reported by | read units | write units | S3 requests | $ per 1,000 publishes |\n|---|---|--:|--:|--:|--:|"
    );
    for upload in [
        "create + upload + complete, 1 MiB",
        "create + upload + complete, 1 GiB",
    ] {
        for publish in [
            "publish → PUBLISHED, by webhook",
            "publish → PUBLISHED, by polling",
        ] {
            let (Some(u), Some(p)) = (find(flows, upload), find(flows, publish)) else {
                continue;
            };
            let reqs: f64 =
                u.s3_requests().values().sum::<f64>() + p.s3_requests().values().sum::<f64>();
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {:.3} |",
                upload.trim_start_matches("create + upload + complete, "),
                publish.trim_start_matches("publish → PUBLISHED, by "),
                units((u.units_of("read") + p.units_of("read")) * 1000.0),
                units((u.units_of("write") + p.units_of("write")) * 1000.0),
                units(reqs * 1000.0),
                (dollars(u) + dollars(p)) * 1000.0
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_is_priced_by_units_and_requests() {
        let mut f = FlowCost::default();
        f.units.insert(
            ("dynamodb.PutItem".into(), "write".into(), "table".into()),
            2.0,
        );
        f.units.insert(
            ("dynamodb.GetItem".into(), "read".into(), "table".into()),
            1.0,
        );
        f.calls.insert("s3.HeadObject".into(), 1.0);
        f.calls.insert("s3.DeleteObjects".into(), 1.0);
        f.client_s3.insert("PutObject".into(), 1.0);
        let expected = 2.0 * 0.625e-6 + 0.125e-6 + 0.0004e-3 + 0.005e-3;
        assert!((dollars(&f) - expected).abs() < 1e-15, "{}", dollars(&f));
    }
}
