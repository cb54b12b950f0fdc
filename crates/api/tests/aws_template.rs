//! deploy/aws/postiqo.yaml cannot drift from what `postiqo-api bootstrap` creates
//! (`postiqo_storage::definition`), from the IAM actions the README lists, or from the
//! variables the API needs to start.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap};

use base64::Engine;
use postiqo_api::config::{AWS_VARIABLES, Settings, VARIABLES};
use postiqo_storage::definition::{
    API_ACTIONS, BOOTSTRAP_ACTIONS, CORS, LIFECYCLE_RULES, LifecycleAction, LifecycleFilter, TABLE,
};
use serde_json::{Value, json};

mod common;
use common::repo_file;

/// The template as JSON, its short-form intrinsics (`!Ref X`, `!GetAtt A.b`, `!Sub …`) in their
/// long form (`{"Ref": "X"}`, `{"Fn::GetAtt": ["A", "b"]}`, `{"Fn::Sub": …}`).
fn template() -> Value {
    let yaml: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&repo_file("deploy/aws/postiqo.yaml")).unwrap();
    to_json(yaml)
}

fn to_json(yaml: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match yaml {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(&n).unwrap(),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k.as_str().unwrap().to_owned(), to_json(v)))
                .collect(),
        ),
        Y::Tagged(tagged) => {
            let name = tagged.tag.to_string();
            let name = name.trim_start_matches('!');
            let value = to_json(tagged.value);
            match (name, value) {
                ("Ref" | "Condition", v) => json!({ name: v }),
                ("GetAtt", Value::String(s)) => {
                    let (resource, attribute) = s.split_once('.').unwrap();
                    json!({"Fn::GetAtt": [resource, attribute]})
                }
                (other, v) => json!({ format!("Fn::{other}"): v }),
            }
        }
    }
}

fn resource<'a>(t: &'a Value, name: &str) -> &'a Value {
    let r = &t["Resources"][name];
    assert!(r.is_object(), "the template has no resource {name}");
    r
}

fn strings(list: &[&str]) -> Value {
    json!(list)
}

fn sorted(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

fn key_schema(hash: &str, range: &str) -> Value {
    json!([
        {"AttributeName": hash, "KeyType": "HASH"},
        {"AttributeName": range, "KeyType": "RANGE"},
    ])
}

#[test]
fn the_table_is_the_one_bootstrap_creates() {
    let t = template();
    let table = resource(&t, "Table");
    assert_eq!(table["Type"], "AWS::DynamoDB::Table");
    let p = &table["Properties"];
    assert_eq!(p["BillingMode"], TABLE.billing_mode);
    assert_eq!(p["KeySchema"], key_schema(TABLE.hash_key, TABLE.range_key));

    let defined: BTreeMap<&str, &str> = p["AttributeDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().unwrap(),
                a["AttributeType"].as_str().unwrap(),
            )
        })
        .collect();
    let expected: BTreeMap<&str, &str> = TABLE
        .key_attributes()
        .into_iter()
        .map(|a| (a, "S"))
        .collect();
    assert_eq!(defined, expected, "attribute definitions");

    let indexes = p["GlobalSecondaryIndexes"].as_array().unwrap();
    assert_eq!(indexes.len(), TABLE.indexes.len(), "{indexes:?}");
    for def in TABLE.indexes {
        let index = indexes
            .iter()
            .find(|i| i["IndexName"] == def.name)
            .unwrap_or_else(|| panic!("index {} is missing", def.name));
        assert_eq!(
            index["KeySchema"],
            key_schema(def.hash_key, def.range_key),
            "{}",
            def.name
        );
        assert_eq!(index["Projection"], json!({"ProjectionType": "ALL"}));
    }

    assert_eq!(
        p["TimeToLiveSpecification"],
        json!({"AttributeName": TABLE.ttl_attribute, "Enabled": true})
    );
    // What the deployment adds to bootstrap's table.
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(p["DeletionProtectionEnabled"], true);
    assert_eq!(table["DeletionPolicy"], "Retain");
}

#[test]
fn the_bucket_is_the_one_bootstrap_creates() {
    let t = template();
    let bucket = resource(&t, "Bucket");
    assert_eq!(bucket["Type"], "AWS::S3::Bucket");
    let p = &bucket["Properties"];

    let rules = p["CorsConfiguration"]["CorsRules"].as_array().unwrap();
    assert_eq!(rules.len(), 1, "one CORS rule, like bootstrap's");
    let cors = &rules[0];
    // The same parameter feeds the API's POSTIQO_ALLOWED_ORIGINS (checked below).
    assert_eq!(cors["AllowedOrigins"], json!({"Ref": "AllowedOrigins"}));
    assert_eq!(cors["AllowedMethods"], strings(CORS.allowed_methods));
    assert_eq!(cors["AllowedHeaders"], strings(CORS.allowed_headers));
    assert_eq!(cors["ExposedHeaders"], strings(CORS.expose_headers));
    assert_eq!(cors["MaxAge"], CORS.max_age_secs);
    let keys: BTreeSet<&str> = cors
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "AllowedOrigins",
            "AllowedMethods",
            "AllowedHeaders",
            "ExposedHeaders",
            "MaxAge"
        ]),
        "nothing bootstrap does not set"
    );

    let rules = p["LifecycleConfiguration"]["Rules"].as_array().unwrap();
    assert_eq!(rules.len(), LIFECYCLE_RULES.len(), "{rules:?}");
    for def in LIFECYCLE_RULES {
        let rule = rules
            .iter()
            .find(|r| r["Id"] == def.id)
            .unwrap_or_else(|| panic!("lifecycle rule {} is missing", def.id));
        let mut expected = json!({"Id": def.id, "Status": "Enabled"});
        match def.filter {
            LifecycleFilter::Everything => {}
            LifecycleFilter::Tag { key, value } => {
                expected["TagFilters"] = json!([{"Key": key, "Value": value}]);
            }
        }
        match def.action {
            LifecycleAction::AbortIncompleteMultipartUpload { days } => {
                expected["AbortIncompleteMultipartUpload"] = json!({"DaysAfterInitiation": days});
            }
            LifecycleAction::Expire { days } => expected["ExpirationInDays"] = json!(days),
        }
        assert_eq!(rule, &expected, "lifecycle rule {}", def.id);
    }

    // What the deployment adds to bootstrap's bucket.
    assert_eq!(
        p["PublicAccessBlockConfiguration"],
        json!({"BlockPublicAcls": true, "BlockPublicPolicy": true,
               "IgnorePublicAcls": true, "RestrictPublicBuckets": true})
    );
    assert!(
        p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
            ["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
            .is_string()
    );
    let policy = resource(&t, "BucketPolicy");
    assert_eq!(policy["Properties"]["Bucket"], json!({"Ref": "Bucket"}));
    let tls_only = policy["Properties"]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Condition"]["Bool"]["aws:SecureTransport"] == "false")
        .expect("a statement on aws:SecureTransport");
    assert_eq!(tls_only["Effect"], "Deny");
    assert_eq!(tls_only["Action"], "s3:*");
    assert_eq!(
        tls_only["Resource"],
        json!([{"Fn::GetAtt": ["Bucket", "Arn"]}, {"Fn::Sub": "${Bucket.Arn}/*"}])
    );
}

/// The actions listed in README.md between `<!-- iam-actions:NAME -->` and
/// `<!-- /iam-actions:NAME -->`: every backquoted `service:Action`.
fn readme_actions(name: &str) -> Vec<String> {
    let readme = repo_file("README.md");
    let start = format!("<!-- iam-actions:{name} -->");
    let end = format!("<!-- /iam-actions:{name} -->");
    let from = readme
        .find(&start)
        .unwrap_or_else(|| panic!("README.md has no {start}"));
    let to = readme[from..]
        .find(&end)
        .unwrap_or_else(|| panic!("README.md has no {end}"));
    let mut actions: Vec<String> = readme[from + start.len()..from + to]
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with("dynamodb:") || s.starts_with("s3:"))
        .map(str::to_owned)
        .collect();
    actions.sort();
    actions
}

/// Every action a managed policy allows; panics on a wildcard action or resource.
fn policy_actions(t: &Value, name: &str) -> Vec<String> {
    let policy = resource(t, name);
    assert_eq!(policy["Type"], "AWS::IAM::ManagedPolicy");
    let mut actions = Vec::new();
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
    {
        assert_eq!(statement["Effect"], "Allow", "{name}: {statement}");
        let resources = match &statement["Resource"] {
            Value::Array(list) => list.clone(),
            one => vec![one.clone()],
        };
        for r in &resources {
            let text = r.to_string();
            assert!(
                text.contains("Table") || text.contains("Bucket"),
                "{name} grants only on this stack's table and bucket: {text}"
            );
            assert_ne!(r, "*", "{name}: no wildcard resource");
        }
        let listed = match &statement["Action"] {
            Value::String(a) => vec![a.clone()],
            list => sorted(list),
        };
        for a in &listed {
            assert!(!a.contains('*'), "{name}: no wildcard action ({a})");
        }
        actions.extend(listed);
    }
    actions.sort();
    actions
}

fn definition(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}

#[test]
fn iam_policies_grant_exactly_the_readme_lists() {
    let t = template();
    for (policy, readme, code) in [
        ("ApiPolicy", "api", API_ACTIONS),
        ("BootstrapPolicy", "bootstrap", BOOTSTRAP_ACTIONS),
    ] {
        let listed = readme_actions(readme);
        assert_eq!(
            listed,
            definition(code),
            "README's {readme} list and postiqo_storage::definition"
        );
        assert_eq!(
            policy_actions(&t, policy),
            listed,
            "{policy} and README's {readme} list"
        );
    }
    // The API's tasks hold exactly ApiPolicy.
    let role = &resource(&t, "TaskRole")["Properties"];
    assert_eq!(role["ManagedPolicyArns"], json!([{"Ref": "ApiPolicy"}]));
    assert!(
        role.get("Policies").is_none(),
        "no inline policy on the task role"
    );
}

/// A value for a template expression in the task definition, as a deployment would give.
fn resolve(t: &Value, v: &Value) -> String {
    let samples = HashMap::from([
        ("PublicUrl", "https://api.example.com"),
        ("TikTokClientKey", "client-key"),
        ("AWS::Region", "eu-west-1"),
        ("Table", "postiqo-Table-1A2B3C"),
        ("Bucket", "postiqo-bucket-1a2b3c"),
    ]);
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Object(o) if o.contains_key("Ref") => {
            let name = o["Ref"].as_str().unwrap();
            if let Some(s) = samples.get(name) {
                return (*s).to_owned();
            }
            let param = &t["Parameters"][name];
            assert!(
                param.is_object(),
                "Ref to {name}: no sample and no parameter"
            );
            match &param["Default"] {
                Value::String(s) if !s.is_empty() => s.clone(),
                Value::Number(n) => n.to_string(),
                other => panic!("parameter {name} needs a sample value (default {other})"),
            }
        }
        Value::Object(o) if o.contains_key("Fn::Join") => {
            let args = o["Fn::Join"].as_array().unwrap();
            assert_eq!(args[1], json!({"Ref": "AllowedOrigins"}), "{v}");
            "https://app.example.com,https://admin.example.com".to_owned()
        }
        other => panic!("no sample for {other}"),
    }
}

/// A key the API accepts outside localhost (no repeated or stepped pattern, no published one).
fn sample_key() -> String {
    let bytes: Vec<u8> = (0u8..32)
        .map(|i| i.wrapping_mul(97).wrapping_add(13) ^ 0x5a)
        .collect();
    format!(
        "k1:{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

#[test]
fn the_task_definition_gives_the_api_everything_it_needs_to_start() {
    let t = template();
    let task = &resource(&t, "TaskDefinition")["Properties"];
    let containers = task["ContainerDefinitions"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let api = &containers[0];

    let mut env: HashMap<String, String> = HashMap::new();
    for var in api["Environment"].as_array().unwrap() {
        let name = var["Name"].as_str().unwrap().to_owned();
        assert!(
            VARIABLES.contains(&name.as_str()) || AWS_VARIABLES.contains(&name.as_str()),
            "the task sets {name}, which the API does not read"
        );
        let value = resolve(&t, &var["Value"]);
        assert!(env.insert(name.clone(), value).is_none(), "{name} twice");
    }
    assert_eq!(env["POSTIQO_TABLE"], resolve(&t, &json!({"Ref": "Table"})));
    assert_eq!(
        env["POSTIQO_BUCKET"],
        resolve(&t, &json!({"Ref": "Bucket"}))
    );
    assert_eq!(
        env["POSTIQO_WORKER"], "on",
        "the worker runs in-process (docs/deploy-aws.md)"
    );

    // Secrets come from Secrets Manager secrets of this stack, never from plain values.
    let mut secret_names = BTreeSet::new();
    for secret in api["Secrets"].as_array().unwrap() {
        let name = secret["Name"].as_str().unwrap().to_owned();
        let source = secret["ValueFrom"]["Ref"].as_str().unwrap();
        assert_eq!(
            resource(&t, source)["Type"],
            "AWS::SecretsManager::Secret",
            "{name}"
        );
        let value = match name.as_str() {
            "POSTIQO_JWT_KEYS" | "POSTIQO_TOKEN_ENCRYPTION_KEY" => sample_key(),
            _ => "a-secret".to_owned(),
        };
        assert!(!env.contains_key(&name), "{name} is both plain and secret");
        env.insert(name.clone(), value);
        secret_names.insert(name);
    }
    assert_eq!(
        secret_names,
        BTreeSet::from([
            "POSTIQO_JWT_KEYS".to_owned(),
            "POSTIQO_TIKTOK_CLIENT_SECRET".to_owned(),
            "POSTIQO_TOKEN_ENCRYPTION_KEY".to_owned(),
        ])
    );

    let settings = Settings::from_env(&env)
        .unwrap_or_else(|e| panic!("the API would not start with the task's variables: {e}"));
    assert_eq!(settings.bind.port(), 8080);
    assert!(
        settings.bind.ip().is_unspecified(),
        "reachable from the load balancer"
    );
    assert_eq!(
        api["PortMappings"][0]["ContainerPort"],
        json!(settings.bind.port())
    );
    assert_eq!(
        resource(&t, "TargetGroup")["Properties"]["Port"],
        json!(settings.bind.port())
    );
    assert_eq!(api["LogConfiguration"]["LogDriver"], "awslogs");
}

#[test]
fn the_load_balancer_checks_readiness_over_https() {
    let t = template();
    let tg = &resource(&t, "TargetGroup")["Properties"];
    assert_eq!(tg["HealthCheckPath"], "/readyz");
    let https = &resource(&t, "HttpsListener")["Properties"];
    assert_eq!(https["Protocol"], "HTTPS");
    assert_eq!(https["Port"], 443);
    let http = &resource(&t, "HttpListener")["Properties"];
    assert_eq!(http["DefaultActions"][0]["Type"], "redirect");
}

#[test]
fn deploy_service_false_leaves_out_exactly_the_compute() {
    let t = template();
    assert_eq!(
        t["Conditions"]["WithService"],
        json!({"Fn::Equals": [{"Ref": "DeployService"}, "true"]})
    );
    let storage_and_iam = BTreeSet::from([
        "Table",
        "Bucket",
        "BucketPolicy",
        "ApiPolicy",
        "BootstrapPolicy",
        "JwtKeysSecret",
        "TokenEncryptionKeySecret",
        "TikTokClientSecret",
    ]);
    for (name, r) in t["Resources"].as_object().unwrap() {
        let conditional = r["Condition"] == "WithService";
        assert_eq!(
            conditional,
            !storage_and_iam.contains(name.as_str()),
            "{name}: only the compute part depends on DeployService"
        );
    }
    for output in ["TableName", "BucketName"] {
        assert!(t["Outputs"][output]["Condition"].is_null(), "{output}");
    }
    assert_eq!(t["Outputs"]["TableName"]["Value"], json!({"Ref": "Table"}));
    assert_eq!(
        t["Outputs"]["BucketName"]["Value"],
        json!({"Ref": "Bucket"})
    );
}
