"""Schemathesis hooks for scripts/fuzz: real sign-ins, seeded videos, signed webhooks, counts.

Loaded through SCHEMATHESIS_HOOKS by scripts/fuzz, which exports:
  POSTIQO_FUZZ_API          the API's base URL
  POSTIQO_FUZZ_RETURN_TO    a return_to on an allowed origin
  POSTIQO_FUZZ_SECRET       TikTok's client secret (webhook signatures)
  POSTIQO_FUZZ_STATS        where to write the request counts (JSON) at exit
"""

from __future__ import annotations

import atexit
import base64
import collections
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import tempfile
import threading
import time
import urllib.parse

import requests
import schemathesis

API = os.environ["POSTIQO_FUZZ_API"].rstrip("/")
RETURN_TO = os.environ["POSTIQO_FUZZ_RETURN_TO"]
SECRET = os.environ["POSTIQO_FUZZ_SECRET"].encode()
STATS = os.environ.get("POSTIQO_FUZZ_STATS")

# Operations that end the caller's session (or account). Each of their cases runs as a user
# of its own, so they cannot sign out the user every other case runs as.
DESTRUCTIVE = {"auth.logout", "auth.tiktok.disconnect", "me.delete"}
# Operations taking a video id: half of their cases get one of the seeded videos, so the
# fuzzer reaches the code behind the 404 (publishing, upload checks, cancel).
VIDEO_ID_OPS = {
    "videos.get",
    "videos.update",
    "videos.complete_upload",
    "videos.part_urls",
    "videos.upload_url",
    "videos.publish",
    "videos.cancel_publish",
}
SEED_UPLOADED = 3
SEED_PENDING = 1

_lock = threading.RLock()
_shared: dict[str, object] = {}
_counts: collections.Counter[str] = collections.Counter()
_statuses: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_in(username: str) -> dict:
    """The bearer sign-in a third-party client does: login with mode=code and a PKCE challenge,
    the sandbox approves at once, the callback returns a one-time code, /v1/auth/token trades it.
    """
    verifier = secrets.token_urlsafe(48)
    browser = requests.Session()
    res = browser.get(
        f"{API}/v1/auth/tiktok/login",
        params={"return_to": RETURN_TO, "mode": "code", "code_challenge": _s256(verifier)},
        allow_redirects=False,
        timeout=30,
    )
    if res.status_code != 302:
        raise RuntimeError(f"login answered {res.status_code}: {res.text[:300]}")
    consent = browser.get(
        res.headers["location"] + "&" + urllib.parse.urlencode(
            {"sandbox_auto": "approve", "sandbox_user": username}
        ),
        allow_redirects=False,
        timeout=30,
    )
    if consent.status_code != 302:
        raise RuntimeError(f"sandbox consent answered {consent.status_code}")
    callback = browser.get(consent.headers["location"], allow_redirects=False, timeout=30)
    location = callback.headers.get("location", "")
    code = urllib.parse.parse_qs(urllib.parse.urlparse(location).query).get("code", [None])[0]
    if callback.status_code != 302 or not code:
        raise RuntimeError(f"callback answered {callback.status_code} to {location!r}")
    tokens = requests.post(
        f"{API}/v1/auth/token",
        json={"grant_type": "authorization_code", "code": code, "code_verifier": verifier},
        timeout=30,
    )
    if tokens.status_code != 200:
        raise RuntimeError(f"token exchange answered {tokens.status_code}: {tokens.text[:300]}")
    with _lock:
        _counts["setup requests"] += 4
    return tokens.json()


_encoded: bytes | None = None


def _mp4(size: int) -> bytes:
    """A real one-second H.264 MP4 (upload-complete reads its container; the sandbox checks
    duration, frame rate and size when it pulls), padded to `size` with a top-level `free` box."""
    global _encoded
    if _encoded is None:
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "seed.mp4")
            subprocess.run(
                ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi",
                 "-i", "color=c=black:s=640x360:r=30", "-t", "1", "-c:v", "libx264",
                 "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-movflags", "+faststart", out],
                check=True,
            )
            with open(out, "rb") as f:
                _encoded = f.read()
    pad = size - len(_encoded)
    if pad < 8:
        raise ValueError(f"{size} bytes cannot hold the {len(_encoded)}-byte seed video")
    return _encoded + pad.to_bytes(4, "big") + b"free" + b"\0" * (pad - 8)


def _seed_videos(token: str) -> list[str]:
    """A few uploaded videos (publishable) and a pending one, owned by the fuzzing user."""
    auth = {"Authorization": f"Bearer {token}"}
    ids = []
    for n in range(SEED_UPLOADED + SEED_PENDING):
        size = 64 * 1024
        created = requests.post(
            f"{API}/v1/videos",
            json={"title": f"seed {n}", "content_type": "video/mp4", "size_bytes": size},
            headers=auth,
            timeout=30,
        )
        created.raise_for_status()
        body = created.json()
        vid = body["video"]["id"]
        ids.append(vid)
        if n < SEED_UPLOADED:
            upload = body["upload"]
            headers = {
                k: v for k, v in upload["headers"].items() if k.lower() != "content-length"
            }
            put = requests.request(
                upload["method"], upload["url"], data=_mp4(size), headers=headers, timeout=30
            )
            put.raise_for_status()
            done = requests.post(
                f"{API}/v1/videos/{vid}/upload-complete", json={}, headers=auth, timeout=30
            )
            done.raise_for_status()
    with _lock:
        _counts["setup requests"] += 2 * (SEED_UPLOADED + SEED_PENDING) + SEED_UPLOADED
    return ids


def _shared_user() -> dict:
    with _lock:
        if "tokens" not in _shared:
            tokens = sign_in("fuzz_main")
            _shared["tokens"] = tokens
            _shared["videos"] = _seed_videos(tokens["access_token"])
        return _shared


@schemathesis.auth(refresh_interval=None)
class PostiqoAuth:
    """Bearer tokens from real sign-ins: one shared user, a fresh one per destructive case."""

    def get(self, case, ctx):
        if ctx.operation.definition.raw.get("operationId") in DESTRUCTIVE:
            name = f"fuzz_{secrets.token_hex(5)}"
            return sign_in(name)["access_token"]
        return _shared_user()["tokens"]["access_token"]

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


def _op_id(context) -> str | None:
    op = getattr(context, "operation", None)
    return op.definition.raw.get("operationId") if op is not None else None


@schemathesis.hook
def map_path_parameters(context, path_parameters):
    if _op_id(context) in VIDEO_ID_OPS and "id" in path_parameters:
        digest = hashlib.sha256(repr(path_parameters["id"]).encode()).digest()
        if digest[0] % 2 == 0:
            videos = _shared_user()["videos"]
            path_parameters["id"] = videos[digest[1] % len(videos)]
    return path_parameters


# TikTok's webhook envelope as the document describes it.
_WEBHOOK_FIELDS = {"client_key": str, "event": str, "create_time": int, "user_openid": str, "content": str}


def _is_envelope(body) -> bool:
    return (
        isinstance(body, dict)
        and all(
            isinstance(body.get(k), t) and not isinstance(body.get(k), bool)
            for k, t in _WEBHOOK_FIELDS.items()
        )
        # `create_time` is an int64 in the document.
        and -(2**63) <= body["create_time"] < 2**63
    )


@schemathesis.hook
def before_call(context, case, kwargs):
    """Signs half of the schema-valid webhook bodies correctly, so the event parser behind the
    signature check is fuzzed too (a signed body we cannot act on must still be a calm 200).
    Cases testing a missing header or an invalid body are left as generated: those must be 401.
    """
    if _op_id(context) != "webhooks.tiktok" or not _is_envelope(case.body):
        return
    if not any(k.lower() == "tiktok-signature" for k in (case.headers or {})):
        return
    try:
        raw = json.dumps(case.body, allow_nan=False).encode()
    except (TypeError, ValueError):
        return
    if hashlib.sha256(raw).digest()[0] % 2:
        return
    t = str(int(time.time()))
    mac = hmac.new(SECRET, t.encode() + b"." + raw, hashlib.sha256).hexdigest()
    for k in [k for k in case.headers if k.lower() == "tiktok-signature"]:
        del case.headers[k]
    case.headers["TikTok-Signature"] = f"t={t},s={mac}"
    with _lock:
        _counts["signed webhooks"] += 1


@schemathesis.hook
def after_call(context, case, response):
    with _lock:
        _counts["requests"] += 1
        _statuses[_op_id(context) or "?"][str(response.status_code)] += 1


def _write_stats() -> None:
    if not STATS:
        return
    with _lock:
        data = {
            "counts": dict(_counts),
            "statuses": {op: dict(c) for op, c in sorted(_statuses.items())},
        }
    with open(STATS, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)


atexit.register(_write_stats)
