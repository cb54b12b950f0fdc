//! The export document and the disconnect answer. Nothing here can carry a secret: tokens,
//! their ciphertexts and refresh-token hashes have no field to go into.

use chrono::{DateTime, Utc};
use postiqo_domain::{Session, SessionId, TikTokLink, UserId};
use serde::Serialize;
use utoipa::ToSchema;

use crate::routes::videos::dto::{VideoResponse, VideoView};
use crate::services::account::{AccountExport, DisconnectOutcome};

/// Version of the export's shape, so a reader can tell what it holds.
pub const EXPORT_FORMAT: &str = "postiqo-export/1";

/// Everything Postiqo holds about the caller.
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

impl ExportDocument {
    pub fn new(export: AccountExport, view: &VideoView, current: &SessionId) -> Self {
        let AccountExport {
            exported_at,
            user,
            records,
        } = export;
        let tokens = records.tokens;
        Self {
            format: EXPORT_FORMAT,
            exported_at,
            tiktok: ExportTikTok {
                connected: user.tiktok == TikTokLink::Connected && tokens.is_some(),
                link: user.tiktok,
                granted_scopes: tokens
                    .as_ref()
                    .map(|t| t.scopes.clone())
                    .unwrap_or_default(),
                access_token_expires_at: tokens.as_ref().map(|t| t.access_expires_at),
                refresh_token_expires_at: tokens.as_ref().map(|t| t.refresh_expires_at),
            },
            storage: ExportStorage {
                bucket: view.bucket.clone(),
                prefix: postiqo_domain::ObjectKey::account_prefix(user.id),
            },
            profile: ExportProfile {
                id: user.id,
                open_id: user.open_id,
                username: user.username,
                display_name: user.display_name,
                avatar_url: user.avatar_url,
                scopes: user.scopes,
                created_at: user.created_at,
                updated_at: user.updated_at,
                deletion_requested_at: user.deletion_requested_at,
            },
            videos: records
                .videos
                .into_iter()
                .map(|v| VideoResponse::new(v, view))
                .collect(),
            sessions: records
                .sessions
                .into_iter()
                .map(|s| session(s, current))
                .collect(),
            other_records: records
                .other
                .into_iter()
                .map(|(kind, count)| ExportRecordCount { kind, count })
                .collect(),
        }
    }

    /// `attachment` so a browser saves it; the name says whose and when.
    pub fn content_disposition(&self) -> String {
        format!(
            "attachment; filename=\"postiqo-export-{}-{}.json\"",
            self.profile.id,
            self.exported_at.format("%Y%m%dT%H%M%SZ")
        )
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
    use std::collections::BTreeMap;

    use chrono::TimeZone;
    use postiqo_storage::{AccountRecords, StoredTokens};

    use super::*;
    use postiqo_domain::User;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0)
            .single()
            .expect("time")
    }

    #[test]
    fn the_export_has_no_room_for_secrets() {
        let id = UserId::new_v7(1, [1; 10]);
        let current = SessionId::from_random([2; 16]);
        let other = SessionId::from_random([3; 16]);
        let session = |sid: &SessionId| Session {
            id: sid.clone(),
            user: id,
            created_at: at(0),
            last_used_at: at(1),
            user_agent: Some("ua/1".into()),
            expires_at: at(100),
            refresh_hash: format!("refresh-hash-{sid}"),
            used_hashes: vec![format!("used-hash-{sid}")],
            previous: Some(postiqo_domain::RetiredRefresh {
                hash: format!("used-hash-{sid}"),
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
        let export = AccountExport {
            exported_at: at(5),
            user: user.clone(),
            records: AccountRecords {
                profile: Some(user),
                tokens: Some(StoredTokens {
                    key_id: "k1".into(),
                    access_ciphertext: "sealed-access-token".into(),
                    refresh_ciphertext: "sealed-refresh-token".into(),
                    access_expires_at: at(7200),
                    refresh_expires_at: at(86400),
                    scopes: vec!["video.publish".into()],
                    version: 3,
                    lease_until: None,
                }),
                sessions: vec![session(&current), session(&other)],
                videos: vec![],
                other: BTreeMap::from([("idempotency".to_owned(), 2)]),
            },
        };
        let doc = ExportDocument::new(
            export,
            &VideoView {
                bucket: "bucket".into(),
                post_id_wait: std::time::Duration::from_secs(60),
            },
            &current,
        );
        let json = serde_json::to_string(&doc).expect("serialize");
        for secret in [
            "sealed-access-token",
            "sealed-refresh-token",
            "refresh-hash",
            "used-hash",
            current.as_str(),
            other.as_str(),
        ] {
            assert!(!json.contains(secret), "{secret} leaked: {json}");
        }
        assert!(doc.tiktok.connected);
        assert_eq!(doc.sessions.iter().filter(|s| s.current).count(), 1);
        assert_eq!(doc.other_records[0].count, 2);
        assert_eq!(doc.storage.prefix, format!("users/{id}/"));
        assert!(
            doc.content_disposition()
                .starts_with(&format!("attachment; filename=\"postiqo-export-{id}-"))
        );
    }
}
