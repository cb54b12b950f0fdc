//! The export is streamed page by page: any number of videos, one JSON document.

use futures_util::StreamExt;
use postiqo_e2e::TestAppBuilder;
use serde_json::Value;

#[tokio::test]
async fn the_export_streams_every_page_as_one_document() {
    let app = TestAppBuilder::new()
        .env("POSTIQO_RATE_LIMIT", "off")
        .spawn()
        .await;
    let user = app.new_user().await;
    // More than two pages of 100.
    let mut ids = Vec::new();
    for batch in 0..12 {
        let titles: Vec<String> = (0..20).map(|i| format!("v{batch}-{i}")).collect();
        let calls = titles
            .iter()
            .map(|t| app.create_video(&user, t, "video/mp4", 1000));
        for res in futures_util::future::join_all(calls).await {
            assert_eq!(res.status(), 201);
            let body: Value = res.json().await.unwrap();
            ids.push(body["video"]["id"].as_str().unwrap().to_owned());
        }
    }
    let other = app.new_user().await;
    app.create_video_ok(&other, "not mine", "video/mp4", 10)
        .await;

    let res = app
        .http
        .get(app.url("/v1/me/export"))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers().get("content-length").is_none(),
        "streamed, not buffered: {:?}",
        res.headers()
    );
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    // Read it as it comes, chunk by chunk.
    let mut body = Vec::new();
    let mut chunks = 0;
    let mut stream = res.bytes_stream();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.unwrap());
        chunks += 1;
    }
    assert!(chunks > 1, "{chunks} chunk(s)");
    let doc: Value = serde_json::from_slice(&body).expect("one JSON document");
    let exported: Vec<&str> = doc["videos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(exported.len(), 240);
    assert_eq!(exported, expected, "every video once, oldest first");
    assert_eq!(doc["profile"]["id"], user.id);
    assert_eq!(doc["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(doc["sessions"][0]["current"], true);
    assert!(doc["other_records"].is_array());
    assert_eq!(doc["storage"]["prefix"], format!("users/{}/", user.id));
}
