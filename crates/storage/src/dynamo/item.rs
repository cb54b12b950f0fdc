//! Video <-> DynamoDB item. Every attribute is parsed back through the domain's own parsers,
//! so a malformed item is an error, never a silently wrong video.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use postiqo_domain::{
    ContentType, ETag, HistoryEvent, ObjectKey, StatusChange, Title, UploadPlan, UserId, Video,
    VideoId, VideoSize, VideoStatus,
};

use super::keys::{self, EXPIRES_AT, GSI1PK, GSI1SK, PK, SK};
use crate::RepoError;

pub type Item = HashMap<String, AttributeValue>;

/// A primary key.
pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(pk.into())),
        (SK.to_owned(), AttributeValue::S(sk.into())),
    ])
}

/// A consistent read of one item.
pub async fn get_item(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: impl Into<String>,
    sk: impl Into<String>,
) -> Result<Option<Item>, RepoError> {
    let out = client
        .get_item()
        .table_name(table)
        .set_key(Some(key(pk, sk)))
        .consistent_read(true)
        .send()
        .await
        .map_err(crate::error::repo_error)?;
    Ok(out.item)
}

/// Writes several items at once, all or nothing: the one place a transaction is sent. A
/// cancelled transaction (a condition failed, or a conflicting one ran) is [`RepoError::Conflict`].
pub(crate) async fn transact(
    client: &aws_sdk_dynamodb::Client,
    items: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
) -> Result<(), RepoError> {
    match client
        .transact_write_items()
        .set_transact_items(Some(items))
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if crate::error::service_code(&e) == Some("TransactionCanceledException") => {
            Err(RepoError::Conflict)
        }
        Err(e) => Err(crate::error::repo_error(e)),
    }
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn video_to_item(video: &Video, expires_at: Option<DateTime<Utc>>) -> Item {
    let mut item = Item::new();
    item.insert(PK.into(), s(keys::user_pk(video.owner)));
    item.insert(SK.into(), s(keys::video_sk(video.id)));
    item.insert(
        GSI1PK.into(),
        s(keys::user_status_pk(video.owner, video.status)),
    );
    item.insert(GSI1SK.into(), s(keys::video_sk(video.id)));
    item.insert("kind".into(), s("video"));
    item.insert("id".into(), s(video.id.to_string()));
    item.insert("owner".into(), s(video.owner.to_string()));
    item.insert("title".into(), s(video.title.as_str()));
    item.insert("content_type".into(), s(video.content_type.as_mime()));
    item.insert("size".into(), n(video.size.bytes()));
    item.insert("object_key".into(), s(video.object_key.as_str()));
    item.insert("status".into(), s(video.status.as_str()));
    match video.upload {
        UploadPlan::Single => {
            item.insert("upload_kind".into(), s("single"));
        }
        UploadPlan::Multipart {
            part_size,
            part_count,
        } => {
            item.insert("upload_kind".into(), s("multipart"));
            item.insert("part_size".into(), n(part_size));
            item.insert("part_count".into(), n(part_count));
        }
    }
    if let Some(id) = &video.multipart_upload_id {
        item.insert("multipart_upload_id".into(), s(id.clone()));
    }
    if let Some(etag) = &video.verified_etag {
        item.insert("verified_etag".into(), s(etag.as_str()));
    }
    if let Some(media) = &video.media
        && let Ok(json) = serde_json::to_string(media)
    {
        item.insert("media".into(), s(json));
    }
    item.insert("created_at".into(), s(video.created_at.to_rfc3339()));
    item.insert("updated_at".into(), s(video.updated_at.to_rfc3339()));
    item.insert(
        "history".into(),
        AttributeValue::L(
            video
                .history
                .iter()
                .map(|c| {
                    let mut entry = HashMap::from([
                        ("status".to_owned(), s(c.status.as_str())),
                        ("at".to_owned(), s(c.at.to_rfc3339())),
                    ]);
                    if let Some(event) = c.event {
                        entry.insert("event".to_owned(), s(event.as_str()));
                    }
                    AttributeValue::M(entry)
                })
                .collect(),
        ),
    );
    item.insert("version".into(), n(video.version));
    if let Some(t) = &video.tiktok
        && let Ok(json) = serde_json::to_string(t)
    {
        item.insert("tiktok".into(), s(json));
    }
    if let Some(at) = expires_at {
        item.insert(EXPIRES_AT.into(), n(at.timestamp()));
    }
    item
}

pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, RepoError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(RepoError::Corrupt(format!(
            "attribute {name} missing or not a string"
        ))),
    }
}

pub(crate) fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, RepoError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| RepoError::Corrupt(format!("attribute {name} is not a valid number"))),
        _ => Err(RepoError::Corrupt(format!(
            "attribute {name} missing or not a number"
        ))),
    }
}

pub(crate) fn parse_time(raw: &str, name: &str) -> Result<DateTime<Utc>, RepoError> {
    postiqo_domain::rfc3339::parse(raw)
        .ok_or_else(|| RepoError::Corrupt(format!("attribute {name} is not a timestamp")))
}

fn corrupt<E>(name: &'static str) -> impl Fn(E) -> RepoError {
    move |_| RepoError::Corrupt(format!("attribute {name} has an invalid value"))
}

/// True when the item's TTL has passed (DynamoDB may not have removed it yet).
pub fn is_expired(item: &Item, now: DateTime<Utc>) -> bool {
    match item.get(EXPIRES_AT) {
        Some(AttributeValue::N(v)) => v.parse::<i64>().is_ok_and(|at| at <= now.timestamp()),
        _ => false,
    }
}

/// The attributes a video is read from, moved out of its item in one pass: every item of a
/// list page passes here, and a lookup per attribute hashed each name with SipHash (the SDK's
/// map) and copied every string (docs/benchmarks.md §8).
#[derive(Default)]
struct VideoAttributes {
    id: Option<AttributeValue>,
    owner: Option<AttributeValue>,
    title: Option<AttributeValue>,
    content_type: Option<AttributeValue>,
    size: Option<AttributeValue>,
    object_key: Option<AttributeValue>,
    status: Option<AttributeValue>,
    upload_kind: Option<AttributeValue>,
    part_size: Option<AttributeValue>,
    part_count: Option<AttributeValue>,
    multipart_upload_id: Option<AttributeValue>,
    verified_etag: Option<AttributeValue>,
    media: Option<AttributeValue>,
    created_at: Option<AttributeValue>,
    updated_at: Option<AttributeValue>,
    history: Option<AttributeValue>,
    tiktok: Option<AttributeValue>,
    version: Option<AttributeValue>,
}

impl VideoAttributes {
    fn take(item: Item) -> Self {
        let mut a = Self::default();
        for (name, value) in item {
            let slot = match name.as_str() {
                "id" => &mut a.id,
                "owner" => &mut a.owner,
                "title" => &mut a.title,
                "content_type" => &mut a.content_type,
                "size" => &mut a.size,
                "object_key" => &mut a.object_key,
                "status" => &mut a.status,
                "upload_kind" => &mut a.upload_kind,
                "part_size" => &mut a.part_size,
                "part_count" => &mut a.part_count,
                "multipart_upload_id" => &mut a.multipart_upload_id,
                "verified_etag" => &mut a.verified_etag,
                "media" => &mut a.media,
                "created_at" => &mut a.created_at,
                "updated_at" => &mut a.updated_at,
                "history" => &mut a.history,
                "tiktok" => &mut a.tiktok,
                "version" => &mut a.version,
                // Keys, index keys, `kind`, the TTL: not part of the video.
                _ => continue,
            };
            *slot = Some(value);
        }
        a
    }
}

/// A string attribute (absent or of another type: corrupt).
fn string(value: Option<AttributeValue>, name: &str) -> Result<String, RepoError> {
    match value {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(RepoError::Corrupt(format!(
            "attribute {name} missing or not a string"
        ))),
    }
}

/// An optional string attribute (of another type: absent, as a lookup treated it).
fn optional_string(value: Option<AttributeValue>) -> Option<String> {
    match value {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

fn number<T: std::str::FromStr>(value: Option<AttributeValue>, name: &str) -> Result<T, RepoError> {
    match value {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| RepoError::Corrupt(format!("attribute {name} is not a valid number"))),
        _ => Err(RepoError::Corrupt(format!(
            "attribute {name} missing or not a number"
        ))),
    }
}

fn status_change(entry: AttributeValue) -> Result<StatusChange, RepoError> {
    let AttributeValue::M(map) = entry else {
        return Err(RepoError::Corrupt("history entry is not a map".into()));
    };
    let (mut status, mut at, mut event) = (None, None, None);
    for (name, value) in map {
        match name.as_str() {
            "status" => status = Some(value),
            "at" => at = Some(value),
            "event" => event = Some(value),
            _ => {}
        }
    }
    Ok(StatusChange {
        status: string(status, "status")?
            .parse()
            .map_err(corrupt("history.status"))?,
        at: parse_time(&string(at, "at")?, "history.at")?,
        event: match optional_string(event) {
            Some(e) => {
                Some(HistoryEvent::parse(&e).ok_or_else(|| {
                    RepoError::Corrupt("history.event has an invalid value".into())
                })?)
            }
            None => None,
        },
    })
}

pub fn item_to_video(item: Item) -> Result<Video, RepoError> {
    let a = VideoAttributes::take(item);
    let id: VideoId = string(a.id, "id")?.parse().map_err(corrupt("id"))?;
    let owner: UserId = string(a.owner, "owner")?
        .parse()
        .map_err(corrupt("owner"))?;
    let upload = match string(a.upload_kind, "upload_kind")?.as_str() {
        "single" => UploadPlan::Single,
        "multipart" => UploadPlan::Multipart {
            part_size: number(a.part_size, "part_size")?,
            part_count: number(a.part_count, "part_count")?,
        },
        _ => {
            return Err(RepoError::Corrupt(
                "attribute upload_kind has an invalid value".into(),
            ));
        }
    };
    let object_key = ObjectKey::parse_stored(&string(a.object_key, "object_key")?)
        .ok_or_else(|| RepoError::Corrupt("attribute object_key has an invalid value".into()))?;
    let history = match a.history {
        Some(AttributeValue::L(entries)) => entries
            .into_iter()
            .map(status_change)
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(RepoError::Corrupt("attribute history missing".into())),
    };
    Ok(Video {
        id,
        owner,
        title: Title::parse(string(a.title, "title")?).map_err(corrupt("title"))?,
        content_type: string(a.content_type, "content_type")?
            .parse::<ContentType>()
            .map_err(corrupt("content_type"))?,
        size: VideoSize::from_stored(number(a.size, "size")?),
        object_key,
        status: string(a.status, "status")?
            .parse::<VideoStatus>()
            .map_err(corrupt("status"))?,
        upload,
        multipart_upload_id: optional_string(a.multipart_upload_id),
        verified_etag: match optional_string(a.verified_etag) {
            Some(v) => Some(ETag::parse(&v).ok_or_else(|| {
                RepoError::Corrupt("attribute verified_etag has an invalid value".into())
            })?),
            None => None,
        },
        media: match optional_string(a.media) {
            Some(json) => Some(
                serde_json::from_str(&json)
                    .map_err(|_| RepoError::Corrupt("attribute media is not valid".into()))?,
            ),
            None => None,
        },
        created_at: parse_time(&string(a.created_at, "created_at")?, "created_at")?,
        updated_at: parse_time(&string(a.updated_at, "updated_at")?, "updated_at")?,
        history,
        tiktok: match optional_string(a.tiktok) {
            Some(json) => Some(
                serde_json::from_str(&json)
                    .map_err(|_| RepoError::Corrupt("attribute tiktok is not valid".into()))?,
            ),
            None => None,
        },
        version: number(a.version, "version")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(upload: UploadPlan) -> Video {
        let now = DateTime::parse_from_rfc3339("2026-11-26T10:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .expect("time");
        Video::new(
            VideoId::new_v7(5, [3; 10]),
            UserId::new_v7(4, [4; 10]),
            Title::parse("a \"title\" #tag 😀").expect("title"),
            ContentType::WebM,
            VideoSize::parse(123, 1000).expect("size"),
            upload,
            Some("mpu-1".into()),
            now,
        )
    }

    #[test]
    fn round_trips_single_and_multipart() {
        for plan in [
            UploadPlan::Single,
            UploadPlan::Multipart {
                part_size: 10,
                part_count: 13,
            },
        ] {
            let v = video(plan);
            let item = video_to_item(&v, None);
            assert_eq!(item_to_video(item).expect("parse"), v);
            let mut v = v;
            v.verified_etag = ETag::parse("\"d41d8cd98f00b204e9800998ecf8427e\"");
            let item = video_to_item(&v, None);
            assert_eq!(item_to_video(item).expect("parse"), v);
            v.media = Some(postiqo_domain::VideoMedia {
                duration_ms: 15_016,
                width: 1080,
                height: 1920,
                frame_rate: postiqo_domain::FrameRate::from_fps(29.97),
                video_codec: "h265".into(),
                has_audio: true,
            });
            v.history.push(StatusChange {
                status: v.status,
                at: v.created_at,
                event: Some(HistoryEvent::NoLongerPubliclyAvailable),
            });
            let item = video_to_item(&v, None);
            assert_eq!(item_to_video(item).expect("parse"), v);
        }
    }

    #[test]
    fn corrupt_items_are_errors_not_panics() {
        let mut item = video_to_item(&video(UploadPlan::Single), None);
        item.insert("status".into(), s("DANCING"));
        assert!(matches!(item_to_video(item), Err(RepoError::Corrupt(_))));
        let mut item = video_to_item(&video(UploadPlan::Single), None);
        item.remove("version");
        assert!(matches!(item_to_video(item), Err(RepoError::Corrupt(_))));
    }

    #[test]
    fn expiry_is_checked_against_now() {
        let v = video(UploadPlan::Single);
        let item = video_to_item(&v, Some(v.created_at));
        assert!(is_expired(&item, v.created_at));
        assert!(!is_expired(
            &item,
            v.created_at - chrono::Duration::seconds(1)
        ));
        assert!(!is_expired(&video_to_item(&v, None), v.created_at));
    }
}
