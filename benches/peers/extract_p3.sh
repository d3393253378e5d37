#!/usr/bin/env bash
# Scenario P3 of ../shared/bench (README there): extraction of N Shopify-shaped orders
# over the paginated mock API, lockstep side by side with dlt and a plain Python loop,
# in one run, on the same data and machine.
#   usage: benches/peers/extract_p3.sh [N_ORDERS]   (default 100000)
# Needs: a release build of lockstep (cargo build --release), and /tmp/peers-venv with
#   duckdb pyarrow requests "dlt[parquet]" (created here if missing). Loopback only.
set -euo pipefail
N="${1:-100000}"
HERE="$(cd "$(dirname "$0")/../.." && pwd)"
PEERS="$HERE/../shared/bench/peers"
BIN="${CARGO_TARGET_DIR:-$HOME/.cache/lockstep-target}/release/lockstep"
PY=/tmp/peers-venv/bin/python
PORT=8765
"$PY" -c "import duckdb, pyarrow, requests, dlt" 2>/dev/null || {
  [ -x "$PY" ] || python3 -m venv /tmp/peers-venv
  /tmp/peers-venv/bin/pip install -q duckdb pyarrow requests "dlt[parquet]"
}
[ -x "$BIN" ] || (cd "$HERE" && cargo build --release)
mkdir -p /tmp/bench
[ -f /tmp/bench/ltv/orders.parquet ] || "$PY" "$PEERS/gen_orders.py" "$N" /tmp/bench/ltv
"$PY" "$PEERS/mock_shop_api.py" "$N" "$PORT" & MOCK=$!
trap 'kill $MOCK 2>/dev/null' EXIT
until curl -sf -o /dev/null "http://127.0.0.1:$PORT/admin/api/2024-10/orders.json?limit=1"; do sleep 1; done

PROJECT=$(mktemp -d /tmp/lockstep-p3-XXXX)
cat > "$PROJECT/lockstep.toml" <<TOML
[warehouse]
url = "file://./warehouse"
[sources.shop]
kind = "shopify"
shop = "bench"
access_token = "\${SHOPIFY_ACCESS_TOKEN}"
base_url = "http://127.0.0.1:$PORT"
api_version = "2024-10"
TOML
start=$(date +%s.%N)
SHOPIFY_ACCESS_TOKEN=unused /usr/bin/time -f "lockstep peak RSS %M KiB" "$BIN" --project "$PROJECT" extract shop.orders
end=$(date +%s.%N)
echo "lockstep: $(echo "$end - $start" | bc) s for $N orders (orders + line items landed as Delta)"
SHOPIFY_ACCESS_TOKEN=unused "$BIN" --project "$PROJECT" sql --csv "SELECT (SELECT count(*) FROM raw_shop.orders) AS orders, (SELECT count(*) FROM raw_shop.order_line_items) AS line_items"
"$PY" "$PEERS/naive_extract.py" "$PORT"
"$PY" "$PEERS/dlt_extract.py" "$PORT"
