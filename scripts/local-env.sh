# Environment for the local stack (sourced by scripts/dev and scripts/test).
# Only throwaway local values live here: nothing in this file is a real secret.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/postiqo/target}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_EC2_METADATA_DISABLED=true
export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://127.0.0.1:${MINISTACK_PORT:-4566}}"
export POSTIQO_BIND="${POSTIQO_BIND:-127.0.0.1:8080}"
# `localhost`, not 127.0.0.1: the example SPA on http://localhost:5173 is then on the same site
# as the API, so its SameSite=Lax session cookies travel with its requests.
export POSTIQO_PUBLIC_URL="${POSTIQO_PUBLIC_URL:-http://localhost:8080}"
export POSTIQO_ALLOWED_ORIGINS="${POSTIQO_ALLOWED_ORIGINS:-http://localhost:5173,http://127.0.0.1:5173}"
export POSTIQO_TABLE="${POSTIQO_TABLE:-postiqo}"
export POSTIQO_BUCKET="${POSTIQO_BUCKET:-postiqo-videos}"
export SANDBOX_BIND="${SANDBOX_BIND:-127.0.0.1:9090}"
export SANDBOX_CLIENT_KEY="${SANDBOX_CLIENT_KEY:-sbx_client_key}"
export SANDBOX_CLIENT_SECRET="${SANDBOX_CLIENT_SECRET:-sbx_client_secret}"
export POSTIQO_TIKTOK_CLIENT_KEY="${POSTIQO_TIKTOK_CLIENT_KEY:-$SANDBOX_CLIENT_KEY}"
export POSTIQO_TIKTOK_CLIENT_SECRET="${POSTIQO_TIKTOK_CLIENT_SECRET:-$SANDBOX_CLIENT_SECRET}"
export POSTIQO_TIKTOK_AUTH_URL="${POSTIQO_TIKTOK_AUTH_URL:-http://$SANDBOX_BIND/v2/auth/authorize/}"
export POSTIQO_TIKTOK_API_URL="${POSTIQO_TIKTOK_API_URL:-http://$SANDBOX_BIND}"
# A fixed development signing key (base64 of 32+ bytes). Published, so the API refuses it (and
# the key below) whenever POSTIQO_PUBLIC_URL is not a localhost URL: production sets its own.
export POSTIQO_JWT_KEYS="${POSTIQO_JWT_KEYS:-dev:ZGV2LW9ubHktand0LWtleS1ub3QtZm9yLXByb2R1Y3Rpb24=}"
# A fixed development key sealing TikTok tokens at rest (base64 of exactly 32 bytes).
export POSTIQO_TOKEN_ENCRYPTION_KEY="${POSTIQO_TOKEN_ENCRYPTION_KEY:-dev:ZGV2LW9ubHktdG9rZW4tZW5jcnlwdGlvbi1rZXktMzI=}"
