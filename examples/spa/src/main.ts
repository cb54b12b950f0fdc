// The example SPA: sign in with TikTok, upload straight to S3, publish to TikTok, manage data.
// Plain DOM, no framework: each section below is one part of the flow.
import { api, call, csrf, loadCsrf, loginUrl, onSessionEnded, type Me, type Video } from "./api/client";
import { ApiError, userMessage } from "./api/problem";
import { API_URL, returnTo } from "./config";
import { mediaFacts, videoDurationSecs, type VideoMedia } from "./media";
import {
  blockingProblems,
  CANNOT_POST_NOW,
  emptyChoices,
  publishView,
  type CreatorInfo,
  type PublishCheck,
  type PublishChoices,
  type PublishRequest,
  type PublishView,
} from "./publish-rules";
import { uploadToStorage } from "./upload";

// ---------------------------------------------------------------------------------------------
// DOM helpers

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing`);
  return el as T;
};

type Attrs = Record<string, string | boolean | number | null | undefined | ((e: Event) => void)>;
function h(tag: string, attrs: Attrs = {}, ...children: Array<Node | string | null | undefined | false>): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

function fill(el: HTMLElement, ...children: Array<Node | string | null | undefined | false>): void {
  el.replaceChildren(...children.filter((c): c is Node | string => c !== null && c !== undefined && c !== false));
}

function notice(text: string): void {
  const el = $("notice");
  el.textContent = text;
  el.hidden = !text;
}
/** Problems that a new TikTok sign-in fixes get a link to it. */
const NEEDS_SIGN_IN = new Set(["tiktok_not_connected", "tiktok_reauth_required", "tiktok_scope_missing"]);

function showError(err: unknown): void {
  const el = $("error");
  el.textContent = err ? userMessage(err) : "";
  if (err instanceof ApiError && NEEDS_SIGN_IN.has(err.code)) {
    el.append(" ", h("a", { href: loginUrl(returnTo()) }, "Sign in with TikTok again"));
  }
  el.hidden = !err;
  if (err) console.error(err);
}

/** An avatar that disappears when its URL does not load (TikTok's avatar URLs expire). */
function avatarImg(src: string, size: number): HTMLElement {
  const img = h("img", { src, alt: "", width: size, height: size });
  img.addEventListener("error", () => (img.hidden = true));
  return img;
}

/** What the API read from the video's container, one fact per row (`data-fact` names it). */
function mediaList(id: string, m: VideoMedia): HTMLElement {
  return h(
    "dl",
    { id, class: "media-facts" },
    ...mediaFacts(m).flatMap((f) => [h("dt", {}, f.label), h("dd", { "data-fact": f.key }, f.text)]),
  );
}

const fmtBytes = (n: number): string =>
  n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`;
const fmtTime = (iso: string): string => new Date(iso).toLocaleString();
/** The user's time zone: schedules are picked and shown in it, and sent in UTC. */
const timeZone = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone;
/** A `datetime-local` value (the user's wall clock) as the UTC instant the API takes. */
const localToUtc = (local: string): string | null => {
  const d = new Date(local);
  return local && !Number.isNaN(d.getTime()) ? d.toISOString() : null;
};

/** Runs a user action: clears old errors, shows new ones, disables the button meanwhile. */
async function action(button: HTMLButtonElement | null, fn: () => Promise<void>): Promise<void> {
  showError(null);
  if (button) button.disabled = true;
  try {
    await fn();
  } catch (e) {
    if (e instanceof ApiError && (e.status === 401 || e.code === "session_ended")) {
      showSignedOut();
    }
    showError(e);
  } finally {
    if (button) button.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Session

function showSignedOut(): void {
  csrf.clear();
  $("signed-in").hidden = true;
  $("signed-out").hidden = false;
  $<HTMLAnchorElement>("sign-in").href = loginUrl(returnTo());
}

function renderProfile(user: Me): void {
  const avatar = $<HTMLImageElement>("avatar");
  avatar.hidden = !user.avatar_url;
  avatar.onerror = () => (avatar.hidden = true);
  if (user.avatar_url) avatar.src = user.avatar_url;
  $("display-name").textContent = user.display_name ?? "(no display name)";
  $("username").textContent = user.username ? `@${user.username}` : "";
  const link = $("tiktok-link");
  link.textContent = user.tiktok;
  link.className = `badge ${user.tiktok}`;
  $("scopes").textContent = user.scopes.join(", ");
}

async function showSignedIn(user: Me): Promise<void> {
  renderProfile(user);
  $("signed-out").hidden = true;
  $("signed-in").hidden = false;
  await loadVideos();
}

/** Signed in when `GET /v1/me` answers (the cookies travel with it); the CSRF token of the
 * session is then fetched for the unsafe requests to come. */
async function start(): Promise<void> {
  $("api-url").textContent = API_URL;
  onSessionEnded(() => showSignedOut());
  const params = new URLSearchParams(window.location.search);
  const loginError = params.get("error");
  if (params.has("error") || params.has("code")) history.replaceState(null, "", window.location.pathname);
  if (loginError) {
    const why: Record<string, string> = {
      access_denied: "You cancelled signing in on TikTok.",
      state_cookie_missing:
        "The sign-in lost its cookie: open this app on the same host name as the API (localhost, not 127.0.0.1), allow cookies, and try again.",
      invalid_state: "The sign-in expired or was started in another browser. Please try again.",
      tiktok_error: "TikTok could not complete the sign-in. Please try again.",
      server_error: "Postiqo could not complete the sign-in. Please try again.",
    };
    showError(new Error(why[loginError] ?? `Sign-in failed (${loginError}).`));
  }
  try {
    const user = await call(api.GET("/v1/me"));
    await loadCsrf();
    await showSignedIn(user);
  } catch (e) {
    showSignedOut();
    if (!(e instanceof ApiError && e.status === 401)) showError(e);
  }
}

$("sign-out").addEventListener("click", (e) =>
  action(e.currentTarget as HTMLButtonElement, async () => {
    await call(api.POST("/v1/auth/logout"));
    showSignedOut();
    notice("Signed out.");
  }),
);

$("sync-profile").addEventListener("click", (e) =>
  action(e.currentTarget as HTMLButtonElement, async () => {
    renderProfile(await call(api.POST("/v1/me/sync")));
    notice("Profile refreshed from TikTok.");
  }),
);

$("export").addEventListener("click", (e) =>
  action(e.currentTarget as HTMLButtonElement, async () => {
    const data = await call(api.GET("/v1/me/export"));
    const json = JSON.stringify(data, null, 2);
    const url = URL.createObjectURL(new Blob([json], { type: "application/json" }));
    const box = $("export-result");
    box.replaceChildren(
      h("p", {}, `Your data is ready (${data.videos.length} videos): `,
        h("a", { id: "export-link", href: url, download: "postiqo-export.json" }, "postiqo-export.json")),
      h("pre", { id: "export-preview", class: "small" }, json.length > 1200 ? `${json.slice(0, 1200)}\n…` : json),
    );
    box.hidden = false;
  }),
);

$("disconnect").addEventListener("click", (e) =>
  action(e.currentTarget as HTMLButtonElement, async () => {
    if (!confirm("Disconnect TikTok? Postiqo loses access to your TikTok account and signs you out.")) return;
    const done = await call(api.POST("/v1/auth/tiktok/disconnect"));
    showSignedOut();
    notice(
      done.revocation === "failed"
        ? "Postiqo deleted its TikTok access, but TikTok did not confirm the revocation: remove Postiqo in TikTok's settings to be sure."
        : "TikTok is disconnected. Sign in with TikTok again to reconnect.",
    );
  }),
);

$("delete-account").addEventListener("click", (e) =>
  action(e.currentTarget as HTMLButtonElement, async () => {
    if (!confirm("Delete your Postiqo account and all your videos? This cannot be undone.")) return;
    await call(api.DELETE("/v1/me"));
    showSignedOut();
    notice("Your account and all its videos were deleted.");
  }),
);

// ---------------------------------------------------------------------------------------------
// Upload: create → PUT(s) straight to S3 with progress → upload-complete

/** Durations of files picked in this tab, by video id (the API does not know them). */
const localFiles = new Map<string, { file: File; durationSecs: number | null }>();
let picked: { file: File; durationSecs: number | null; contentType: string } | null = null;
let uploadAbort: AbortController | null = null;

const TYPES_BY_EXT: Record<string, string> = { mp4: "video/mp4", m4v: "video/mp4", mov: "video/quicktime", webm: "video/webm" };
const ACCEPTED = new Set(Object.values(TYPES_BY_EXT));

$<HTMLInputElement>("file").addEventListener("change", async (e) => {
  showError(null);
  const file = (e.target as HTMLInputElement).files?.[0];
  const preview = $<HTMLVideoElement>("preview");
  if (preview.src) URL.revokeObjectURL(preview.src);
  picked = null;
  $("upload-media").hidden = true;
  if (!file) return;
  const ext = file.name.split(".").pop()?.toLowerCase() ?? "";
  const contentType = ACCEPTED.has(file.type) ? file.type : (TYPES_BY_EXT[ext] ?? file.type);
  if (!ACCEPTED.has(contentType)) {
    showError(new Error("Choose an MP4, MOV or WebM video."));
    return;
  }
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
  const title = $<HTMLTextAreaElement>("title");
  if (!title.value) title.value = file.name.replace(/\.[^.]+$/, "");
  const durationSecs = await videoDurationSecs(file);
  picked = { file, durationSecs, contentType };
  $("file-info").textContent =
    `${file.name} · ${contentType} · ${fmtBytes(file.size)}` +
    (durationSecs !== null ? ` · ${durationSecs.toFixed(1)} s` : " · duration unknown");
});

function setProgress(sent: number, total: number, label?: string): void {
  $("upload-progress").hidden = false;
  const pct = total ? Math.floor((sent / total) * 100) : 0;
  const bar = $<HTMLProgressElement>("progress-bar");
  bar.value = pct;
  bar.setAttribute("aria-valuenow", String(pct));
  $("progress-text").textContent = label ?? `${pct}% · ${fmtBytes(sent)} of ${fmtBytes(total)}`;
}

$("upload-form").addEventListener("submit", (e) => {
  e.preventDefault();
  void action($<HTMLButtonElement>("upload-button"), async () => {
    if (!picked) throw new Error("Choose a video file first.");
    const { file, durationSecs, contentType } = picked;
    const title = $<HTMLTextAreaElement>("title").value;
    notice("");
    setProgress(0, file.size, "Preparing the upload…");
    const created = await call(
      api.POST("/v1/videos", {
        body: { title, content_type: contentType as Video["content_type"], size_bytes: file.size },
      }),
    );
    const { video, upload } = created;
    localFiles.set(video.id, { file, durationSecs });
    uploadAbort = new AbortController();
    $("upload-cancel").hidden = false;
    try {
      const parts = await uploadToStorage(file, upload, (sent, total) => setProgress(sent, total), {
        signal: uploadAbort.signal,
      });
      setProgress(file.size, file.size, "Checking the upload…");
      const done = await call(
        api.POST("/v1/videos/{id}/upload-complete", {
          params: { path: { id: video.id } },
          body: parts ? { parts } : {},
        }),
      );
      setProgress(file.size, file.size, `Uploaded (${upload.kind === "multipart" ? `${parts?.length} parts` : "one request"}).`);
      notice(`“${done.title}” is uploaded and ready to post.`);
      // What the API read from the container: what TikTok will check.
      const facts = $("upload-media");
      fill(
        facts,
        done.media
          ? h("div", {}, h("strong", {}, `“${done.title}”: `), mediaList("upload-media-facts", done.media))
          : null,
      );
      facts.hidden = !done.media;
      ($("upload-form") as HTMLFormElement).reset();
      $("preview").hidden = true;
      $("file-info").textContent = "";
      picked = null;
      await loadVideos(true);
    } finally {
      $("upload-cancel").hidden = true;
      uploadAbort = null;
    }
  });
});

$("upload-cancel").addEventListener("click", () => uploadAbort?.abort());

// ---------------------------------------------------------------------------------------------
// Videos: list with cursor paging, delete, publish

const pages = { cursors: [undefined] as Array<string | undefined>, index: 0, next: undefined as string | undefined };

/** The video's current or last TikTok publish (absent until the first publish). */
const tiktokOf = (v: Video) => v.tiktok ?? null;

async function loadVideos(first = false): Promise<void> {
  if (first) {
    pages.cursors = [undefined];
    pages.index = 0;
  }
  const status = $<HTMLSelectElement>("status-filter").value as Video["status"] | "";
  const limit = Number($<HTMLSelectElement>("page-size").value);
  const page = await call(
    api.GET("/v1/videos", {
      params: { query: { limit, cursor: pages.cursors[pages.index], ...(status ? { status } : {}) } },
    }),
  );
  pages.next = page.next_cursor ?? undefined;
  const rows = page.items.map((v) => videoRow(v));
  $("video-rows").replaceChildren(
    ...(rows.length ? rows : [h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No videos yet."))]),
  );
  $("page-label").textContent = `Page ${pages.index + 1}`;
  $<HTMLButtonElement>("prev-page").disabled = pages.index === 0;
  $<HTMLButtonElement>("next-page").disabled = !pages.next;
}

function videoRow(v: Video): HTMLElement {
  const tt = tiktokOf(v);
  const canPublish = v.status === "UPLOADED" || v.status === "FAILED";
  return h(
    "tr",
    { "data-testid": "video-row", "data-video-id": v.id, "data-status": v.status },
    h("td", {}, v.title, tt?.failure ? h("div", { class: "small muted" }, tt.failure.message) : null),
    h(
      "td",
      {},
      h("span", { class: `badge ${v.status}`, "data-testid": "video-status" }, v.status),
      v.scheduled_at
        ? h("div", { class: "small", "data-testid": "scheduled-at" }, `${fmtTime(v.scheduled_at)} (${timeZone()})`)
        : null,
      tt?.post_url ? h("div", {}, h("a", { href: tt.post_url, target: "_blank", rel: "noopener" }, "View on TikTok")) : null,
    ),
    h("td", {}, `${fmtBytes(v.size_bytes)}${v.upload_kind === "multipart" ? " (multipart)" : ""}`),
    h("td", { class: "small" }, fmtTime(v.created_at)),
    h(
      "td",
      { class: "actions-cell" },
      canPublish
        ? h("button", { type: "button", class: "primary", onclick: () => void openPublish(v) }, v.status === "FAILED" ? "Try again…" : "Post to TikTok…")
        : null,
      v.status === "SCHEDULED"
        ? h(
            "button",
            {
              type: "button",
              onclick: (e: Event) =>
                void action(e.currentTarget as HTMLButtonElement, async () => {
                  await call(api.DELETE("/v1/videos/{id}/schedule", { params: { path: { id: v.id } } }));
                  notice(`The schedule of “${v.title}” is cancelled.`);
                  await loadVideos();
                }),
            },
            "Cancel schedule",
          )
        : null,
      h("button", { type: "button", class: "danger", onclick: (e: Event) => void deleteVideo(v, e.currentTarget as HTMLButtonElement) }, "Delete"),
    ),
  );
}

async function deleteVideo(v: Video, button: HTMLButtonElement): Promise<void> {
  await action(button, async () => {
    if (!confirm(`Delete “${v.title}”?`)) return;
    await call(api.DELETE("/v1/videos/{id}", { params: { path: { id: v.id } } }));
    localFiles.delete(v.id);
    notice(`Deleted “${v.title}”.`);
    await loadVideos();
  });
}

// The pager's buttons are enabled by loadVideos (from the cursor), not by action().
$("prev-page").addEventListener("click", () =>
  action(null, async () => {
    pages.index = Math.max(0, pages.index - 1);
    await loadVideos();
  }),
);
$("next-page").addEventListener("click", () =>
  action(null, async () => {
    if (!pages.next) return;
    pages.cursors[pages.index + 1] = pages.next;
    pages.index += 1;
    await loadVideos();
  }),
);
for (const id of ["status-filter", "page-size"]) {
  $(id).addEventListener("change", () => action(null, () => loadVideos(true)));
}
$("reload").addEventListener("click", (e) => action(e.currentTarget as HTMLButtonElement, () => loadVideos()));

// ---------------------------------------------------------------------------------------------
// Publish: fresh creator info → TikTok's posting screen rules → publish → watch the status

interface PublishState {
  video: Video;
  info: CreatorInfo;
  choices: PublishChoices;
  caption: string;
  /** One key per posting screen: a double click or a retry of the same request is one publish. */
  idempotencyKey: string;
  busy: boolean;
  /** "Send to TikTok as a draft": the inbox upload, finished by the creator in the app. */
  draft: boolean;
  /** The `datetime-local` value of the Schedule control (the user's time zone); empty: now. */
  scheduleAt: string;
  /** The latest publish-check: the video's facts and what TikTok would refuse it for. */
  check: PublishCheck;
  /** The Cover frame control, in seconds as typed; empty: TikTok's default cover. */
  cover: string;
  /** A publish-check is on its way (the button waits for it). */
  checking: boolean;
  /** Numbers the checks, so a late answer to an older one is dropped. */
  checkSeq: number;
}

/** The cover frame as TikTok takes it (an int32 of milliseconds): undefined when none was
 * given, null when what was typed is not one. */
function coverMs(st: PublishState): number | null | undefined {
  if (st.draft || !st.cover.trim()) return undefined;
  const secs = Number(st.cover);
  const ms = Math.round(secs * 1000);
  return Number.isFinite(secs) && ms >= 0 && ms <= 2 ** 31 - 1 ? ms : null;
}

/** The request the Post button sends, or null while the screen's rules block it. A draft
 * takes none of the posting choices: the creator makes them in the TikTok app. */
function finalRequest(st: PublishState, view: PublishView): PublishRequest | null {
  const scheduledAt = localToUtc(st.scheduleAt);
  const when = scheduledAt ? { scheduled_at: scheduledAt } : {};
  if (st.draft) return { mode: "draft", ...when };
  const cover = coverMs(st);
  if (!view.request || cover === null) return null;
  return { ...view.request, ...(cover !== undefined ? { video_cover_timestamp_ms: cover } : {}), ...when };
}

/** The choices' rules with what the page knows of the video: the API's facts when it has them
 * (publish-check then judges the duration), else the local file's duration. */
function currentView(st: PublishState): PublishView {
  const local = localFiles.get(st.video.id);
  const durationSecs = st.check.media ? null : (local?.durationSecs ?? null);
  return publishView(st.info, st.choices, { durationSecs, title: st.caption });
}

function canPublish(st: PublishState): boolean {
  return !st.busy && !st.checking && blockingProblems(st.check, st.draft).length === 0 && finalRequest(st, currentView(st)) !== null;
}

function updatePublishButton(): void {
  const st = publishing;
  const button = document.getElementById("publish-button") as HTMLButtonElement | null;
  if (st && button) button.disabled = !canPublish(st);
}

/** Lists what TikTok would refuse the video for (every problem at once, with its limit). */
function renderProblems(): void {
  const st = publishing;
  const box = document.getElementById("publish-problems");
  if (!st || !box) return;
  const problems = blockingProblems(st.check, st.draft);
  const cover = coverMs(st);
  fill(
    box,
    problems.length
      ? h(
          "div",
          { role: "alert" },
          h("p", { class: "strong" }, "TikTok would refuse this video:"),
          h(
            "ul",
            { class: "problems" },
            ...problems.map((p) =>
              h("li", { "data-code": p.code }, h("strong", {}, p.title), ". ", h("span", { class: "detail" }, p.detail)),
            ),
          ),
        )
      : null,
    cover === null ? h("p", { class: "problems" }, "The cover frame must be a number of seconds.") : null,
    st.checking ? h("p", { id: "publish-checking", class: "muted small" }, "Checking the video against TikTok's limits…") : null,
  );
  updatePublishButton();
}

let recheckTimer: ReturnType<typeof setTimeout> | undefined;

/** Asks publish-check again (after the cover changed): the button waits for its answer. */
function recheckSoon(delayMs = 400): void {
  const st = publishing;
  if (!st) return;
  clearTimeout(recheckTimer);
  st.checking = true;
  renderProblems();
  recheckTimer = setTimeout(() => void recheck(st), delayMs);
}

async function recheck(st: PublishState): Promise<void> {
  const seq = ++st.checkSeq;
  st.checking = true;
  renderProblems();
  try {
    const cover = coverMs(st);
    const check = await call(
      api.GET("/v1/videos/{id}/publish-check", {
        params: { path: { id: st.video.id }, query: typeof cover === "number" ? { video_cover_timestamp_ms: cover } : {} },
      }),
    );
    if (seq !== st.checkSeq || publishing !== st) return;
    st.check = check;
  } catch (e) {
    if (seq === st.checkSeq) showError(e);
  } finally {
    if (seq === st.checkSeq) {
      st.checking = false;
      renderProblems();
    }
  }
}
let publishing: PublishState | null = null;

async function openPublish(v: Video): Promise<void> {
  await action(null, async () => {
    const section = $("publish");
    section.hidden = false;
    $("publish-body").replaceChildren(h("p", { class: "muted" }, "Loading your TikTok account…"));
    section.scrollIntoView({ behavior: "smooth" });
    // Rule 1: the latest creator info, every time the posting screen is shown. publish-check
    // brings it along with the video's facts and every problem TikTok would refuse it for.
    let check: PublishCheck;
    try {
      check = await call(api.GET("/v1/videos/{id}/publish-check", { params: { path: { id: v.id } } }));
    } catch (e) {
      // Rule 2: TikTok says this creator cannot post now: stop here and say so.
      if (e instanceof ApiError && e.code === "tiktok_cannot_post_now") {
        fill($("publish-body"), h("p", { id: "cannot-post", role: "alert" }, CANNOT_POST_NOW), h("button", { type: "button", onclick: closePublish }, "Close"));
        return;
      }
      closePublish();
      throw e;
    }
    publishing = {
      video: v,
      info: check.creator,
      check,
      cover: "",
      checking: false,
      checkSeq: 0,
      choices: emptyChoices(),
      caption: v.title,
      idempotencyKey: crypto.randomUUID(),
      busy: false,
      draft: false,
      scheduleAt: "",
    };
    renderPublish();
  });
}

function closePublish(): void {
  clearTimeout(recheckTimer);
  publishing = null;
  $("publish").hidden = true;
  $("publish-body").replaceChildren();
}

function renderPublish(): void {
  const st = publishing;
  if (!st) return;
  const local = localFiles.get(st.video.id);
  const view = currentView(st);
  const { info, choices } = st;
  const media = st.check.media ?? st.video.media ?? null;
  const set = (patch: Partial<PublishChoices>) => {
    st.choices = { ...st.choices, ...patch };
    renderPublish();
  };

  const creator = h(
    "div",
    { class: "creator" },
    info.creator_avatar_url ? avatarImg(info.creator_avatar_url, 40) : null,
    h(
      "div",
      {},
      h("div", {}, "Posting to TikTok as ", h("strong", { id: "creator-nickname" }, info.creator_nickname ?? "?")),
      info.creator_username ? h("div", { class: "muted small" }, `@${info.creator_username}`) : null,
    ),
  );

  const privacy = h(
    "select",
    {
      id: "privacy-level",
      required: true,
      onchange: (e: Event) => set({ privacyLevel: (e.target as HTMLSelectElement).value || null }),
    },
    // Rule 5: no default; the placeholder cannot be chosen back.
    h("option", { value: "", disabled: true, selected: choices.privacyLevel === null }, "Select who can view this video"),
    ...view.privacyOptions.map((o) =>
      h(
        "option",
        { value: o.value, selected: choices.privacyLevel === o.value, disabled: !!o.disabledReason, title: o.disabledReason },
        o.disabledReason ? `${o.label} (not available with branded content)` : o.label,
      ),
    ),
  );

  const toggle = (id: string, label: string, checked: boolean, disabled: boolean, onChange: (v: boolean) => void) =>
    h(
      "label",
      { class: `inline${disabled ? " disabled" : ""}`, title: disabled ? "Turned off in this account's TikTok settings" : null },
      h("input", {
        id,
        type: "checkbox",
        checked: checked && !disabled,
        disabled,
        onchange: (e: Event) => onChange((e.target as HTMLInputElement).checked),
      }),
      label,
    );

  const interactions = h(
    "fieldset",
    {},
    h("legend", {}, "Allow users to"),
    // Rule 6: none checked by default; greyed out when the creator turned them off on TikTok.
    toggle("allow-comment", "Comment", choices.allowComment, view.commentDisabled, (v) => set({ allowComment: v })),
    toggle("allow-duet", "Duet", choices.allowDuet, view.duetDisabled, (v) => set({ allowDuet: v })),
    toggle("allow-stitch", "Stitch", choices.allowStitch, view.stitchDisabled, (v) => set({ allowStitch: v })),
    view.commentDisabled || view.duetDisabled || view.stitchDisabled
      ? h("div", { class: "hint" }, "Greyed-out options are turned off in your TikTok settings.")
      : null,
  );

  // Rule 7: commercial content disclosure, off by default.
  const disclosure = h(
    "fieldset",
    {},
    h("legend", {}, "Disclose video content"),
    h(
      "label",
      { class: "inline" },
      h("input", {
        id: "disclose",
        type: "checkbox",
        checked: choices.disclose,
        onchange: (e: Event) => set({ disclose: (e.target as HTMLInputElement).checked }),
      }),
      "This video promotes a brand, product or service",
    ),
    choices.disclose
      ? h(
          "div",
          {},
          h(
            "label",
            { class: "inline" },
            h("input", {
              id: "your-brand",
              type: "checkbox",
              checked: choices.yourBrand,
              onchange: (e: Event) => set({ yourBrand: (e.target as HTMLInputElement).checked }),
            }),
            "Your brand",
          ),
          h("div", { class: "hint" }, "You are promoting yourself or your own business."),
          h(
            "label",
            { class: `inline${view.brandedContentDisabledReason ? " disabled" : ""}`, title: view.brandedContentDisabledReason },
            h("input", {
              id: "branded-content",
              type: "checkbox",
              checked: choices.brandedContent,
              disabled: !!view.brandedContentDisabledReason,
              onchange: (e: Event) => set({ brandedContent: (e.target as HTMLInputElement).checked }),
            }),
            "Branded content",
          ),
          h("div", { class: "hint" }, view.brandedContentDisabledReason ?? "You are promoting another brand or a third party."),
          view.disclosureLabel ? h("p", { id: "disclosure-label", class: "small" }, view.disclosureLabel) : null,
        )
      : null,
  );

  const aigc = h(
    "label",
    { class: "inline" },
    h("input", { id: "is-aigc", type: "checkbox", checked: choices.isAigc, onchange: (e: Event) => set({ isAigc: (e.target as HTMLInputElement).checked }) }),
    "AI-generated content",
  );

  const max = info.max_video_post_duration_sec;
  const preview = local
    ? h("div", { class: "publish-preview" }, h("video", { src: URL.createObjectURL(local.file), controls: true, muted: true }))
    : null;

  // Rule 9: the consent line right before the button, with its links.
  const consent = h(
    "p",
    { id: "consent", class: "consent" },
    ...view.consent.map((part) =>
      typeof part === "string" ? part : h("a", { href: part.href, target: "_blank", rel: "noopener" }, part.label),
    ),
  );

  // How and when: a draft in the creator's TikTok inbox, and/or a time in the user's zone.
  const scheduledUtc = localToUtc(st.scheduleAt);
  const how = h(
    "fieldset",
    { id: "publish-how" },
    h("legend", {}, "How and when"),
    h(
      "label",
      { class: "inline" },
      h("input", {
        id: "send-as-draft",
        type: "checkbox",
        checked: st.draft,
        onchange: (e: Event) => {
          st.draft = (e.target as HTMLInputElement).checked;
          renderPublish();
        },
      }),
      "Send to TikTok as a draft",
    ),
    h("div", { class: "hint" }, "The video goes to your TikTok inbox; you choose who sees it and post it in the TikTok app."),
    h(
      "label",
      {},
      "Schedule (optional) — your time zone: ",
      h("strong", { id: "schedule-tz" }, timeZone()),
      h("input", {
        id: "schedule-at",
        type: "datetime-local",
        value: st.scheduleAt,
        onchange: (e: Event) => {
          st.scheduleAt = (e.target as HTMLInputElement).value;
          renderPublish();
        },
      }),
    ),
    scheduledUtc ? h("div", { id: "schedule-utc", class: "hint" }, `Sent as ${scheduledUtc} (UTC).`) : null,
  );

  // The frame TikTok shows as the cover: it must fall inside the video (publish-check says).
  const cover = h(
    "label",
    {},
    "Cover frame at (seconds into the video, optional)",
    h("input", {
      id: "cover-at",
      type: "number",
      min: 0,
      step: 0.1,
      value: st.cover,
      oninput: (e: Event) => {
        st.cover = (e.target as HTMLInputElement).value;
        recheckSoon();
      },
    }),
  );

  const publishButton = h(
    "button",
    { id: "publish-button", type: "button", class: "primary", disabled: !canPublish(st), onclick: () => void doPublish() },
    st.draft ? (scheduledUtc ? "Schedule draft" : "Send to TikTok inbox") : scheduledUtc ? "Schedule" : "Post",
  );

  fill(
    $("publish-body"),
    creator,
    preview ?? h("p", { class: "muted small" }, `Video: ${st.video.title} (${fmtBytes(st.video.size_bytes)})`),
    media
      ? mediaList("publish-media", media)
      : h("p", { id: "publish-media", class: "muted small" }, "Postiqo did not read this video's facts (it was uploaded before it did)."),
    max ? h("p", { class: "muted small" }, `This account can post videos of up to ${max} s.`) : null,
    h(
      "label",
      {},
      "Caption",
      h("textarea", {
        id: "publish-caption",
        rows: 2,
        maxlength: 2200,
        oninput: (e: Event) => {
          st.caption = (e.target as HTMLTextAreaElement).value;
          updatePublishButton();
        },
      }),
    ),
    how,
    // TikTok's posting choices apply to direct posts only; a draft's are made in the app.
    st.draft ? null : h("label", {}, "Who can view this video", privacy),
    st.draft ? null : cover,
    st.draft ? null : interactions,
    st.draft ? null : disclosure,
    st.draft ? null : aigc,
    !st.draft && view.blockers.length
      ? h("ul", { id: "publish-blockers", class: "blockers" }, ...view.blockers.map((b) => h("li", {}, b)))
      : null,
    h("div", { id: "publish-problems" }),
    consent,
    h("div", { class: "actions" }, publishButton, h("button", { type: "button", onclick: closePublish }, "Cancel")),
    h("div", { id: "publish-status", class: "publish-status", hidden: true }),
  );
  ($("publish-caption") as HTMLTextAreaElement).value = st.caption;
  renderProblems();
}

/** Problems `POST /publish` answers when TikTok would refuse the video: the screen's list is
 * out of date, so it is checked again. */
const MEDIA_CODES = new Set([
  "video_too_long",
  "frame_rate_unsupported",
  "resolution_unsupported",
  "codec_unsupported",
  "cover_timestamp_out_of_range",
]);

async function doPublish(): Promise<void> {
  const st = publishing;
  const request = st && canPublish(st) ? finalRequest(st, currentView(st)) : null;
  if (!st || !request) return;
  const button = $<HTMLButtonElement>("publish-button");
  await action(button, async () => {
    st.busy = true;
    try {
      // Rule 4: the caption stays editable up to here; a change is saved before publishing.
      if (st.caption !== st.video.title) {
        st.video = await call(
          api.PATCH("/v1/videos/{id}", { params: { path: { id: st.video.id } }, body: { title: st.caption } }),
        );
      }
      // Rule 10: media goes to TikTok only now, after the user pressed Post. The same
      // Idempotency-Key on a retry of this request can never publish twice.
      const started = await call(
        api.POST("/v1/videos/{id}/publish", {
          params: { path: { id: st.video.id }, header: { "Idempotency-Key": st.idempotencyKey } },
          body: request,
        }),
      );
      await watchPublish(started);
    } catch (e) {
      // The account's options changed since the screen was shown: show the fresh ones.
      if (e instanceof ApiError && e.code === "privacy_level_not_allowed") {
        st.info = await call(api.GET("/v1/tiktok/creator-info"));
        st.choices = { ...st.choices, privacyLevel: null };
        renderPublish();
      }
      if (e instanceof ApiError && MEDIA_CODES.has(e.code)) void recheck(st);
      throw e;
    } finally {
      st.busy = false;
    }
  });
  button.disabled = true;
}

/** Rule 11: processing can take minutes; show progress until PUBLISHED or FAILED. */
async function watchPublish(first: Video): Promise<void> {
  const status = $("publish-status");
  status.hidden = false;
  const show = (...nodes: Array<Node | string | null | undefined | false>) => fill(status, ...nodes);
  const id = first.id;
  const deadline = Date.now() + 10 * 60 * 1000;
  let delay = 1000;
  let publishedSince: number | null = null;
  let v = first;
  for (;;) {
    const tt = tiktokOf(v);
    if (v.status === "SCHEDULED") {
      show(
        h("strong", { id: "publish-result", "data-status": "SCHEDULED" }, "Scheduled. "),
        v.scheduled_at ? `It goes to TikTok on ${fmtTime(v.scheduled_at)} (${timeZone()}).` : "",
      );
      await loadVideos();
      return;
    }
    if (v.status === "SENT_TO_INBOX") {
      show(
        h("strong", { id: "publish-result", "data-status": "SENT_TO_INBOX" }, "Sent to your TikTok inbox. "),
        "Open TikTok to finish and post it; the list shows it as published once you do.",
      );
      await loadVideos();
      return;
    }
    if (v.status === "PUBLISHED") {
      publishedSince ??= Date.now();
      // `post_id_expected` says whether a link is still to come: a public post gets its id once
      // TikTok's moderation releases it, other privacy levels never do. This screen stops
      // waiting after 20 s (the list shows the link when it comes).
      if (!tt?.post_id_expected || Date.now() - publishedSince > 20000) {
        show(
          h("strong", { id: "publish-result", "data-status": "PUBLISHED" }, "Published on TikTok."),
          " ",
          tt?.post_url
            ? h("a", { id: "post-link", href: tt.post_url, target: "_blank", rel: "noopener" }, "View the post")
            : h("span", { class: "muted" }, "TikTok gives a link only for public posts, once they pass moderation."),
        );
        await loadVideos();
        return;
      }
      show(h("span", { id: "publish-progress" }, "Published; waiting for TikTok to make the post public…"));
    } else if (v.status === "FAILED") {
      show(
        h("strong", { id: "publish-result", "data-status": "FAILED" }, "TikTok did not publish the video. "),
        tt?.failure ? `${tt.failure.message} (${tt.failure.code})` : "",
        tt?.failure?.retryable ? " You can try again." : "",
      );
      await loadVideos();
      return;
    } else {
      show(
        h(
          "span",
          { id: "publish-progress" },
          `Publishing… ${tt?.tiktok_status ? `TikTok: ${tt.tiktok_status}. ` : ""}Processing can take a few minutes; you can leave this page and come back.`,
        ),
        " ",
        tt?.publish_id &&
          h(
            "button",
            {
              type: "button",
              id: "cancel-publish",
              onclick: (e: Event) =>
                void action(e.currentTarget as HTMLButtonElement, async () => {
                  await call(api.POST("/v1/videos/{id}/publish/cancel", { params: { path: { id } } }));
                  notice("Cancellation requested.");
                }),
            },
            "Cancel publishing",
          ),
      );
    }
    if (Date.now() > deadline) {
      show("TikTok is still processing. Check the list later.");
      return;
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 1.5, 5000);
    v = await call(api.GET("/v1/videos/{id}", { params: { path: { id } } }));
  }
}

void start();
