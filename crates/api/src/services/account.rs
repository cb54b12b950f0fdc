//! The user's rights over their data: export it, disconnect TikTok, delete the account.
//!
//! The export is read page by page while it is sent, so its memory is bounded by a page
//! whatever the account holds.
//!
//! Deletion is synchronous and built to be interrupted: the profile is marked first (a
//! conditional write), every step after it is idempotent, and the caller's own session is the
//! last record to go, so running the deletion again finishes it. While the mark is there the
//! account can only be deleted further: a sign-in finishes the deletion and starts a new,
//! empty account instead of reviving the old one (see `services::signin`). What goes when is
//! written down in docs/data-retention.md.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::Stream;
use postiqo_domain::{Session, SessionId, TikTokLink, User, UserId, Video, VideoId, VideoStatus};
/// The export shows what is stored of the TikTok tokens (never the tokens themselves).
pub use postiqo_storage::StoredTokens;
use postiqo_storage::{BlobError, RepoError, Storage, VideoQuery};
use postiqo_tiktok::PublishId;
use tracing::{info, warn};

use crate::credentials::session_cache::SessionCache;
use crate::services::TikTokAccess;
use crate::services::tiktok_access::TikTokAccessError;

/// What can go wrong with a user's account as a whole.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The account is gone (deleted while the caller's session lived).
    #[error("the account no longer exists")]
    AccountGone,
    #[error(transparent)]
    Storage(#[from] RepoError),
    #[error(transparent)]
    Blobs(#[from] BlobError),
}

/// What became of our grant at TikTok.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// TikTok confirmed the revocation.
    Revoked,
    /// No usable TikTok tokens were stored: there was nothing to revoke.
    NothingToRevoke,
    /// Not attempted: TikTok itself removed the authorization (`authorization.removed`).
    NotRequested,
    /// TikTok could not be reached or refused. Our copies are deleted anyway; the user can
    /// remove Postiqo in TikTok's settings.
    Failed,
}

impl Revocation {
    pub fn as_str(self) -> &'static str {
        match self {
            Revocation::Revoked => "revoked",
            Revocation::NothingToRevoke => "nothing_to_revoke",
            Revocation::NotRequested => "not_requested",
            Revocation::Failed => "failed",
        }
    }
}

/// The result of a disconnect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisconnectOutcome {
    pub revocation: Revocation,
    pub sessions_ended: usize,
    /// The account had a deletion pending: disconnecting finished it instead (ending its
    /// sessions would have left nobody able to finish it).
    pub account_deleted: bool,
}

/// What a deletion removed, for the log line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub records: usize,
    pub objects: usize,
    pub uploads_aborted: usize,
}

/// What an account deletion did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeletionOutcome {
    pub revocation: Revocation,
    pub publishes_cancelled: usize,
    pub purged: Purged,
}

/// The beginning of an export: who, when, and the TikTok connection. The records follow in
/// pages ([`AccountService::export_pages`]).
pub struct ExportHeader {
    pub exported_at: DateTime<Utc>,
    pub user: User,
    /// For the connection state only: the export never carries a token.
    pub tokens: Option<StoredTokens>,
}

/// One page of an export's records. Pages come in this order: videos (oldest first), then
/// sessions, then the counts of everything else, which ends the export.
pub enum ExportPage {
    Videos(Vec<Video>),
    Sessions(Vec<Session>),
    Others(BTreeMap<String, usize>),
}

/// Records read per page: memory stays bounded by a page whatever the account holds.
const EXPORT_PAGE: u32 = 100;

enum ExportCursor {
    Videos(Option<VideoId>),
    Sessions(Option<SessionId>),
    Others,
}

#[derive(Clone)]
pub struct AccountService {
    storage: Storage,
    tiktok: TikTokAccess,
    /// Told at once when sessions end here, so this instance stops honouring them.
    session_cache: Arc<SessionCache>,
}

impl AccountService {
    pub fn new(storage: Storage, tiktok: TikTokAccess, session_cache: Arc<SessionCache>) -> Self {
        Self {
            storage,
            tiktok,
            session_cache,
        }
    }

    /// Finishes account deletions untouched since `before`: their caller went away before the
    /// end (they were marked, so no sign-in can revive them, but their records would
    /// otherwise stay). Returns how many were finished.
    pub async fn finish_abandoned_deletions(
        &self,
        before: DateTime<Utc>,
    ) -> Result<usize, AccountError> {
        let users = self
            .storage
            .accounts
            .abandoned_deletions(before, 10)
            .await?;
        if !users.is_empty() {
            info!(count = users.len(), "finishing abandoned account deletions");
        }
        let mut finished = 0;
        for user in users {
            match self.delete_account(user, None, true).await {
                Ok(_) => {
                    finished += 1;
                    info!(user_id = %user, "abandoned account deletion finished");
                }
                Err(e) => {
                    warn!(user_id = %user, error = ?e, "abandoned account deletion still incomplete")
                }
            }
        }
        Ok(finished)
    }

    /// The export's header. Fails (before anything is sent) when the account is gone.
    pub async fn export_header(&self, user: UserId) -> Result<ExportHeader, AccountError> {
        let exported_at = Utc::now();
        let (profile, tokens) =
            tokio::join!(self.storage.users.get(user), self.storage.tokens.get(user));
        let profile = profile?.ok_or_else(|| AccountError::AccountGone)?;
        Ok(ExportHeader {
            exported_at,
            user: profile,
            tokens: tokens?,
        })
    }

    /// The export's records, read page by page as the stream is consumed (so a slow client
    /// holds one page, not the account). Records past their TTL at `now` are left out. An
    /// error ends the stream.
    pub fn export_pages(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> impl Stream<Item = Result<ExportPage, AccountError>> + 'static {
        let storage = self.storage.clone();
        futures_util::stream::unfold(Some(ExportCursor::Videos(None)), move |cursor| {
            let storage = storage.clone();
            async move {
                let accounts = &storage.accounts;
                let (page, next) = match cursor? {
                    ExportCursor::Videos(after) => {
                        match accounts.videos_page(user, after, EXPORT_PAGE, now).await {
                            Ok(p) => (
                                Ok(ExportPage::Videos(p.videos)),
                                Some(match p.next_after {
                                    Some(a) => ExportCursor::Videos(Some(a)),
                                    None => ExportCursor::Sessions(None),
                                }),
                            ),
                            Err(e) => (Err(e.into()), None),
                        }
                    }
                    ExportCursor::Sessions(after) => {
                        match accounts
                            .sessions_page(user, after.as_ref(), EXPORT_PAGE, now)
                            .await
                        {
                            Ok(p) => (
                                Ok(ExportPage::Sessions(p.sessions)),
                                Some(match p.next_after {
                                    Some(a) => ExportCursor::Sessions(Some(a)),
                                    None => ExportCursor::Others,
                                }),
                            ),
                            Err(e) => (Err(e.into()), None),
                        }
                    }
                    ExportCursor::Others => match accounts.other_counts(user, now).await {
                        Ok(counts) => (Ok(ExportPage::Others(counts)), None),
                        Err(e) => (Err(e.into()), None),
                    },
                };
                Some((page, next))
            }
        })
    }

    /// Disconnects TikTok: revokes our grant at TikTok (unless TikTok already removed it),
    /// deletes the stored tokens and ends every session. The account and its videos stay;
    /// signing in again reconnects. Safe to repeat.
    pub async fn disconnect(
        &self,
        user: UserId,
        revoke_at_tiktok: bool,
    ) -> Result<DisconnectOutcome, AccountError> {
        let profile = self.storage.users.get(user).await?;
        if profile.as_ref().is_some_and(User::is_being_deleted) {
            let outcome = self.delete_account(user, None, revoke_at_tiktok).await?;
            return Ok(DisconnectOutcome {
                revocation: outcome.revocation,
                sessions_ended: 0,
                account_deleted: true,
            });
        }
        let revocation = if revoke_at_tiktok {
            self.revoke(user).await
        } else {
            Revocation::NotRequested
        };
        // Our copies go whatever TikTok said.
        self.storage.tokens.delete(user).await?;
        if profile.is_some() {
            match self
                .storage
                .users
                .set_tiktok_link(user, TikTokLink::Disconnected, Utc::now())
                .await
            {
                // The profile vanished meanwhile (a deletion finished): nothing to mark.
                Ok(()) | Err(RepoError::Conflict) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let sessions_ended = self.storage.sessions.delete_all(user).await?;
        self.session_cache.forget_user(user);
        info!(
            user_id = %user,
            revocation = revocation.as_str(),
            sessions_ended,
            "TikTok disconnected: tokens deleted, sessions ended"
        );
        Ok(DisconnectOutcome {
            revocation,
            sessions_ended,
            account_deleted: false,
        })
    }

    /// [`Self::disconnect`] for the TikTok user `open_id` (webhooks name users that way);
    /// `None` when no account has this open_id.
    pub async fn disconnect_by_open_id(
        &self,
        open_id: &str,
        revoke_at_tiktok: bool,
    ) -> Result<Option<DisconnectOutcome>, AccountError> {
        match self.storage.users.find_by_open_id(open_id).await? {
            Some(user) => self.disconnect(user.id, revoke_at_tiktok).await.map(Some),
            None => Ok(None),
        }
    }

    /// Deletes the account and everything of it. `caller` is the session asking: it is kept
    /// until the very end so that, if anything fails on the way, the same client can call
    /// again and finish the job. Publishes in flight are cancelled where TikTok still allows
    /// it, then the grant is revoked (TikTok fails what is still running with
    /// `auth_removed`), then the object TikTok would pull is deleted.
    pub async fn delete_account(
        &self,
        user: UserId,
        caller: Option<&SessionId>,
        revoke_at_tiktok: bool,
    ) -> Result<DeletionOutcome, AccountError> {
        // 1. The mark: from now on no sign-in can bring this account back with its data.
        let profile = self
            .storage
            .accounts
            .mark_deleting(user, Utc::now())
            .await?;
        match &profile {
            Some(p) => info!(
                user_id = %user,
                requested_at = ?p.deletion_requested_at,
                "account deletion running"
            ),
            None => info!(user_id = %user, "account deletion resumed after the profile was gone"),
        }
        // 2. No other device acts for the account while it is deleted.
        self.end_sessions_except(user, caller).await?;
        self.session_cache.forget_user(user);
        // 3. TikTok: stop what can be stopped, then revoke. Neither blocks the deletion.
        let (publishes_cancelled, revocation) = if revoke_at_tiktok {
            (self.cancel_publishes(user).await, self.revoke(user).await)
        } else {
            (0, Revocation::NotRequested)
        };
        // 4. Our copies of TikTok's tokens, before anything slower.
        self.storage.tokens.delete(user).await?;
        // 5. Objects, records and finally the profile, identity and caller's session.
        let open_id = profile.as_ref().map(|p| p.open_id.as_str());
        let purged = purge(&self.storage, user, open_id, caller).await?;
        // The caller's own session went last.
        self.session_cache.forget_user(user);
        info!(
            user_id = %user,
            revocation = revocation.as_str(),
            publishes_cancelled,
            records = purged.records,
            objects = purged.objects,
            uploads_aborted = purged.uploads_aborted,
            "account deleted"
        );
        Ok(DeletionOutcome {
            revocation,
            publishes_cancelled,
            purged,
        })
    }

    async fn end_sessions_except(
        &self,
        user: UserId,
        keep: Option<&SessionId>,
    ) -> Result<(), AccountError> {
        let sessions = self
            .storage
            .sessions
            .list(user, DateTime::<Utc>::MIN_UTC)
            .await?;
        for s in sessions.iter().filter(|s| Some(&s.id) != keep) {
            self.storage.sessions.delete(user, &s.id).await?;
        }
        Ok(())
    }

    /// Revokes our grant at TikTok, refreshing the access token first if it has expired.
    /// Never fails: the outcome is logged (never a token) and returned.
    async fn revoke(&self, user: UserId) -> Revocation {
        let client = self.tiktok.client().clone();
        let res = self
            .tiktok
            .with_token_raw(user, |token| {
                let client = client.clone();
                async move { client.revoke(&token).await }
            })
            .await;
        let outcome = match res {
            Ok(Ok(())) => Revocation::Revoked,
            Ok(Err(e)) => {
                warn!(user_id = %user, error = %e, "TikTok revoke failed; our copies are deleted anyway");
                Revocation::Failed
            }
            // No tokens, or TikTok already refused our refresh token: no live grant to revoke.
            Err(TikTokAccessError::NotConnected | TikTokAccessError::ReauthRequired) => {
                Revocation::NothingToRevoke
            }
            Err(e) => {
                warn!(user_id = %user, error = ?e, "no usable TikTok token to revoke; our copies are deleted anyway");
                Revocation::Failed
            }
        };
        info!(user_id = %user, revocation = outcome.as_str(), "TikTok revocation");
        outcome
    }

    /// Best effort: asks TikTok to cancel every publish of the user still in flight. TikTok
    /// cancels only while it is still downloading; whatever it refuses fails anyway once the
    /// grant is revoked and the object deleted.
    async fn cancel_publishes(&self, user: UserId) -> usize {
        let mut publish_ids = Vec::new();
        let mut after = None;
        loop {
            let page = match self
                .storage
                .videos
                .list(VideoQuery {
                    owner: user,
                    status: Some(VideoStatus::Publishing),
                    limit: 100,
                    after,
                    now: Utc::now(),
                })
                .await
            {
                Ok(page) => page,
                Err(e) => {
                    warn!(user_id = %user, error = ?e, "publishing videos not listed; none cancelled");
                    return 0;
                }
            };
            publish_ids.extend(
                page.videos
                    .iter()
                    .filter_map(|v| v.tiktok.as_ref().and_then(|t| t.publish_id.clone())),
            );
            after = page.next_after;
            if after.is_none() {
                break;
            }
        }
        let mut cancelled = 0;
        for id in publish_ids {
            let client = self.tiktok.client().clone();
            let publish_id = PublishId::new(id);
            let res = self
                .tiktok
                .with_token_raw(user, |token| {
                    let client = client.clone();
                    let publish_id = publish_id.clone();
                    async move { client.cancel_publish(&token, &publish_id).await }
                })
                .await;
            match res {
                Ok(Ok(())) => cancelled += 1,
                Ok(Err(e)) => {
                    info!(user_id = %user, publish_id = publish_id.as_str(), error = %e, "publish not cancelled")
                }
                Err(e) => {
                    info!(user_id = %user, error = ?e, "no TikTok token to cancel publishes with");
                    break;
                }
            }
        }
        cancelled
    }
}

/// Deletes every object and record of the user, the TikTok identity last together with the
/// profile (and the session `keep`, which survives until then). Every step is idempotent. No
/// TikTok call: used both by the deletion above and by a sign-in that finds an account whose
/// deletion was interrupted (where the user is granting access again, so nothing is revoked).
pub(crate) async fn purge(
    storage: &Storage,
    user: UserId,
    open_id: Option<&str>,
    keep: Option<&SessionId>,
) -> Result<Purged, AccountError> {
    // Uploads first: an aborted upload can no longer complete into a new object.
    let mut uploads_aborted = storage.blobs.abort_uploads_of(user).await?;
    let mut objects = storage.blobs.delete_objects_of(user).await?;
    let mut records = storage.accounts.delete_records(user, keep).await?;
    storage.accounts.delete_root(user, open_id, keep).await?;
    // Requests of the account that were already running may have written meanwhile; with
    // every session gone, none can start any more, so one more pass catches the stragglers.
    records += storage.accounts.delete_records(user, None).await?;
    uploads_aborted += storage.blobs.abort_uploads_of(user).await?;
    objects += storage.blobs.delete_objects_of(user).await?;
    Ok(Purged {
        records,
        objects,
        uploads_aborted,
    })
}
