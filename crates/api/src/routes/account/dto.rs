//! The export document and the disconnect answer. Nothing here can carry a secret: tokens,
//! their ciphertexts and refresh-token hashes have no field to go into.

use std::collections::BTreeMap;

use crate::services::account::StoredTokens;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use postiqo_domain::{Session, SessionId, TikTokLink, User, UserId};
use serde::Serialize;
use utoipa::ToSchema;

use crate::routes::videos::dto::{VideoResponse, VideoView};
use crate::services::account::{DisconnectOutcome, ExportHeader, ExportPage};

/// Version of the export's shape, so a reader can tell what it holds.
pub const EXPORT_FORMAT: &str = "postiqo-export/1";

/// Everything Postiqo holds about the caller. The document is written piece by piece by
/// [`ExportWriter`]; this type gives its schema (and the tests' expected shape).
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportDocument {
    #[schema(example = "postiqo-export/1")]
    pub format: &'static str,
    pub exported_at: DateTime<Utc>,
    pub profile: ExportProfile,
    pub tiktok: ExportTikTok,
    /// Every video record, oldest first, with its status history, TikTok ids and where its
    /// bytes are (or would be) in S3.
    pub videos: Vec<VideoResponse>,
    /// Sessions that are still valid.
    pub sessions: Vec<ExportSession>,
    /// Where the account's files live: every object of the account is under this prefix.
    pub storage: ExportStorage,
    /// Bookkeeping records of other kinds (idempotency keys, publish tracking, rate windows):
    /// how many of each are held. They expire on their own.
    pub other_records: Vec<ExportRecordCount>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExportProfile {
    pub id: UserId,
    /// TikTok's id of the user for Postiqo.
    pub open_id: String,
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    /// Scopes granted to Postiqo at the last sign-in.
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set while a requested deletion has not finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_requested_at: Option<DateTime<Utc>>,
}

/// The TikTok connection: whether Postiqo can act on TikTok for the user. The tokens
/// themselves are never exported.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportTikTok {
    /// TikTok tokens are stored and were accepted last time.
    pub connected: bool,
    pub link: TikTokLink,
    /// Scopes of the stored grant (absent when no tokens are stored).
    pub granted_scopes: Vec<String>,
    pub access_token_expires_at: Option<DateTime<Utc>>,
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
}

/// One signed-in device or client.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportSession {
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    /// The session ends at this time unless it is used (each refresh extends it).
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    /// The session this export was requested with.
    pub current: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExportStorage {
    pub bucket: String,
    #[schema(example = "users/0190a0b0-0000-7000-8000-000000000000/")]
    pub prefix: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExportRecordCount {
    #[schema(example = "idempotency")]
    pub kind: String,
    pub count: usize,
}

fn session(s: Session, current: &SessionId) -> ExportSession {
    ExportSession {
        current: &s.id == current,
        created_at: s.created_at,
        last_used_at: s.last_used_at,
        expires_at: s.expires_at,
        user_agent: s.user_agent,
    }
}

impl ExportProfile {
    fn new(user: &User) -> Self {
        Self {
            id: user.id,
            open_id: user.open_id.clone(),
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            avatar_url: user.avatar_url.clone(),
            scopes: user.scopes.clone(),
            created_at: user.created_at,
            updated_at: user.updated_at,
            deletion_requested_at: user.deletion_requested_at,
        }
    }
}

impl ExportTikTok {
    fn new(user: &User, tokens: Option<&StoredTokens>) -> Self {
        Self {
            connected: user.tiktok == TikTokLink::Connected && tokens.is_some(),
            link: user.tiktok,
            granted_scopes: tokens.map(|t| t.scopes.clone()).unwrap_or_default(),
            access_token_expires_at: tokens.map(|t| t.access_expires_at),
            refresh_token_expires_at: tokens.map(|t| t.refresh_expires_at),
        }
    }
}

fn other_records(counts: BTreeMap<String, usize>) -> Vec<ExportRecordCount> {
    counts
        .into_iter()
        .map(|(kind, count)| ExportRecordCount { kind, count })
        .collect()
}

/// `attachment` so a browser saves it; the name says whose and when.
pub fn content_disposition(header: &ExportHeader) -> String {
    format!(
        "attachment; filename=\"postiqo-export-{}-{}.json\"",
        header.user.id,
        header.exported_at.format("%Y%m%dT%H%M%SZ")
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Videos,
    Sessions,
    Done,
}

/// Writes an [`ExportDocument`] piece by piece, as its pages arrive: the same JSON as
/// serializing the whole document, without ever holding more than one page of it.
pub struct ExportWriter {
    view: VideoView,
    prefix: String,
    current: SessionId,
    section: Section,
    /// Whether the open array has an element already (the next one needs a comma).
    started: bool,
}

/// The head of the document, up to the opening of `videos`.
#[derive(Serialize)]
struct Head<'a> {
    format: &'static str,
    exported_at: DateTime<Utc>,
    profile: &'a ExportProfile,
    tiktok: &'a ExportTikTok,
}

fn json(value: &impl Serialize) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(value)
}

impl ExportWriter {
    /// The writer and the document's first bytes.
    pub fn start(
        header: &ExportHeader,
        view: &VideoView,
        current: &SessionId,
    ) -> Result<(Self, Bytes), serde_json::Error> {
        let head = json(&Head {
            format: EXPORT_FORMAT,
            exported_at: header.exported_at,
            profile: &ExportProfile::new(&header.user),
            tiktok: &ExportTikTok::new(&header.user, header.tokens.as_ref()),
        })?;
        // The head's closing brace is replaced by the videos array that follows it.
        let mut out = head;
        out.pop();
        out.extend_from_slice(b",\"videos\":[");
        let writer = Self {
            view: view.clone(),
            prefix: postiqo_domain::ObjectKey::account_prefix(header.user.id),
            current: current.clone(),
            section: Section::Videos,
            started: false,
        };
        Ok((writer, Bytes::from(out)))
    }

    fn element(
        &mut self,
        out: &mut Vec<u8>,
        value: &impl Serialize,
    ) -> Result<(), serde_json::Error> {
        if self.started {
            out.push(b',');
        }
        self.started = true;
        out.extend_from_slice(&json(value)?);
        Ok(())
    }

    fn enter(&mut self, out: &mut Vec<u8>, section: Section) {
        if self.section == Section::Videos && section != Section::Videos {
            out.extend_from_slice(b"],\"sessions\":[");
            self.section = Section::Sessions;
            self.started = false;
        }
        if self.section == Section::Sessions && section == Section::Done {
            out.push(b']');
            self.section = Section::Done;
        }
    }

    /// The bytes of one page. Pages must come in [`ExportPage`]'s order; `Others` ends the
    /// document.
    pub fn page(&mut self, page: ExportPage) -> Result<Bytes, serde_json::Error> {
        let mut out = Vec::new();
        match page {
            ExportPage::Videos(videos) => {
                self.enter(&mut out, Section::Videos);
                for v in videos {
                    self.element(&mut out, &VideoResponse::new(v, &self.view))?;
                }
            }
            ExportPage::Sessions(sessions) => {
                self.enter(&mut out, Section::Sessions);
                for s in sessions {
                    let s = session(s, &self.current);
                    self.element(&mut out, &s)?;
                }
            }
            ExportPage::Others(counts) => {
                self.enter(&mut out, Section::Done);
                out.extend_from_slice(b",\"storage\":");
                out.extend_from_slice(&json(&ExportStorage {
                    bucket: self.view.bucket.clone(),
                    prefix: self.prefix.clone(),
                })?);
                out.extend_from_slice(b",\"other_records\":");
                out.extend_from_slice(&json(&other_records(counts))?);
                out.push(b'}');
            }
        }
        Ok(Bytes::from(out))
    }
}

/// The result of a disconnect.
#[derive(Debug, Serialize, ToSchema)]
pub struct DisconnectResponse {
    /// What became of Postiqo's access at TikTok: `revoked`, `nothing_to_revoke` (no tokens
    /// were stored) or `failed` (TikTok did not confirm; remove Postiqo in TikTok's settings to
    /// be sure). The stored tokens are deleted in every case.
    #[schema(example = "revoked")]
    pub revocation: &'static str,
    /// Sessions ended, this one included.
    pub sessions_ended: usize,
}

impl From<DisconnectOutcome> for DisconnectResponse {
    fn from(o: DisconnectOutcome) -> Self {
        Self {
            revocation: o.revocation.as_str(),
            sessions_ended: o.sessions_ended,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use postiqo_domain::{ContentType, Title, UploadPlan, Video, VideoId, VideoSize};

    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0)
            .single()
            .expect("time")
    }

    fn view() -> VideoView {
        VideoView {
            bucket: "bucket".into(),
            post_id_wait: std::time::Duration::from_secs(60),
        }
    }

    fn fixture() -> (ExportHeader, SessionId, Vec<Session>, Vec<Video>) {
        let id = UserId::new_v7(1, [1; 10]);
        let current = SessionId::from_random([2; 16]);
        let session = |n: u8| Session {
            id: SessionId::from_random([n; 16]),
            user: id,
            created_at: at(0),
            last_used_at: at(1),
            user_agent: Some("ua/1".into()),
            expires_at: at(100),
            refresh_hash: format!("refresh-hash-{n}"),
            used_hashes: vec![format!("used-hash-{n}")],
            previous: Some(postiqo_domain::RetiredRefresh {
                hash: format!("used-hash-{n}"),
                rotated_at: at(1),
            }),
        };
        let user = User {
            id,
            open_id: "open-1".into(),
            username: Some("alice".into()),
            display_name: None,
            avatar_url: None,
            scopes: vec!["user.info.basic".into(), "video.publish".into()],
            tiktok: TikTokLink::Connected,
            created_at: at(0),
            updated_at: at(0),
            deletion_requested_at: None,
        };
        let header = ExportHeader {
            exported_at: at(5),
            user,
            tokens: Some(StoredTokens {
                key_id: "k1".into(),
                access_ciphertext: "sealed-access-token".into(),
                refresh_ciphertext: "sealed-refresh-token".into(),
                access_expires_at: at(7200),
                refresh_expires_at: at(86400),
                scopes: vec!["video.publish".into()],
                granted_at: Some(at(0)),
                version: 3,
                lease_until: None,
            }),
        };
        let videos = (0..5u8)
            .map(|n| {
                Video::new(
                    VideoId::new_v7(u64::from(n), [n; 10]),
                    id,
                    Title::parse(format!("clip \"{n}\"")).expect("title"),
                    ContentType::Mp4,
                    VideoSize::parse(10, 100).expect("size"),
                    UploadPlan::Single,
                    None,
                    at(1),
                )
            })
            .collect();
        (header, current, vec![session(2), session(3)], videos)
    }

    /// The document written page by page, as the route streams it.
    fn streamed(
        header: &ExportHeader,
        current: &SessionId,
        pages: Vec<ExportPage>,
    ) -> serde_json::Value {
        let (mut writer, head) = ExportWriter::start(header, &view(), current).expect("head");
        let mut bytes = head.to_vec();
        for page in pages {
            bytes.extend_from_slice(&writer.page(page).expect("page"));
        }
        serde_json::from_slice(&bytes).expect("the streamed export is one JSON document")
    }

    #[test]
    fn the_streamed_export_is_the_document_whatever_the_paging() {
        let (header, current, sessions, videos) = fixture();
        let counts = BTreeMap::from([("idempotency".to_owned(), 2)]);
        let whole = ExportDocument {
            format: EXPORT_FORMAT,
            exported_at: header.exported_at,
            profile: ExportProfile::new(&header.user),
            tiktok: ExportTikTok::new(&header.user, header.tokens.as_ref()),
            videos: videos
                .iter()
                .cloned()
                .map(|v| VideoResponse::new(v, &view()))
                .collect(),
            sessions: sessions
                .iter()
                .cloned()
                .map(|s| session(s, &current))
                .collect(),
            storage: ExportStorage {
                bucket: "bucket".into(),
                prefix: postiqo_domain::ObjectKey::account_prefix(header.user.id),
            },
            other_records: other_records(counts.clone()),
        };
        let expected = serde_json::to_value(&whole).expect("serialize");
        // One page each, several pages, empty pages, and nothing at all.
        let one = vec![
            ExportPage::Videos(videos.clone()),
            ExportPage::Sessions(sessions.clone()),
            ExportPage::Others(counts.clone()),
        ];
        let many = vec![
            ExportPage::Videos(videos[..2].to_vec()),
            ExportPage::Videos(vec![]),
            ExportPage::Videos(videos[2..].to_vec()),
            ExportPage::Sessions(sessions[..1].to_vec()),
            ExportPage::Sessions(sessions[1..].to_vec()),
            ExportPage::Others(counts.clone()),
        ];
        assert_eq!(streamed(&header, &current, one), expected);
        assert_eq!(streamed(&header, &current, many), expected);
        let empty = streamed(
            &header,
            &current,
            vec![
                ExportPage::Videos(vec![]),
                ExportPage::Sessions(vec![]),
                ExportPage::Others(BTreeMap::new()),
            ],
        );
        assert_eq!(empty["videos"], serde_json::json!([]));
        assert_eq!(empty["sessions"], serde_json::json!([]));
        assert_eq!(empty["other_records"], serde_json::json!([]));
        assert_eq!(empty["profile"], expected["profile"]);
    }

    #[test]
    fn the_export_has_no_room_for_secrets() {
        let (header, current, sessions, videos) = fixture();
        let doc = streamed(
            &header,
            &current,
            vec![
                ExportPage::Videos(videos),
                ExportPage::Sessions(sessions.clone()),
                ExportPage::Others(BTreeMap::from([("idempotency".to_owned(), 2)])),
            ],
        );
        let json = doc.to_string();
        for secret in [
            "sealed-access-token",
            "sealed-refresh-token",
            "refresh-hash",
            "used-hash",
            sessions[0].id.as_str(),
            sessions[1].id.as_str(),
        ] {
            assert!(!json.contains(secret), "{secret} leaked: {json}");
        }
        assert_eq!(doc["tiktok"]["connected"], true);
        let current_sessions = doc["sessions"]
            .as_array()
            .expect("sessions")
            .iter()
            .filter(|s| s["current"] == true)
            .count();
        assert_eq!(current_sessions, 1);
        assert_eq!(doc["other_records"][0]["count"], 2);
        assert_eq!(
            doc["storage"]["prefix"],
            format!("users/{}/", header.user.id)
        );
        assert!(content_disposition(&header).starts_with(&format!(
            "attachment; filename=\"postiqo-export-{}-",
            header.user.id
        )));
    }
}
