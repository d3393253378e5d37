#!/usr/bin/env bash
# Scenario P1 of ../shared/bench (README there): diff of a 10M-row customer model with
# 1% changed rows, lockstep side by side with DuckDB (key+hash state and full join) and
# Polars, in one run, on the same parquet files.
#   usage: benches/peers/diff_p1.sh [N_ROWS]   (default 10000000)
# Needs /tmp/peers-venv with duckdb polars pyarrow (created here if missing). Data goes
# to $BENCH_DIR (default /tmp/bench); made once, reused after.
set -euo pipefail
N="${1:-10000000}"
HERE="$(cd "$(dirname "$0")/../.." && pwd)"
PEERS="$HERE/../shared/bench/peers"
B="${BENCH_DIR:-/tmp/bench}"
PY=/tmp/peers-venv/bin/python
[ -x "$PY" ] || { python3 -m venv /tmp/peers-venv && /tmp/peers-venv/bin/pip install -q duckdb polars pyarrow; }
# run_bench.py reads its SQL from /tmp/bench/sql.
mkdir -p /tmp/bench "$B" && cp -r "$PEERS"/* /tmp/bench/
if [ ! -f "$B/diff/state_v1.parquet" ]; then
  "$PY" "$PEERS/gen_customers.py" "$N" "$B/diff"
  "$PY" - "$B/diff" <<'PYEOF'
import sys, duckdb
d = sys.argv[1]
duckdb.connect().execute(f"""COPY (SELECT customer_id, hash(email, first_name, last_name, phone, country, currency,
  accepts_marketing, orders_count, total_spent, tags, created_at, updated_at) AS row_hash
  FROM '{d}/customers_v1.parquet') TO '{d}/state_v1.parquet' (FORMAT parquet)""")
PYEOF
fi
echo "== lockstep"
(cd "$HERE" && LOCKSTEP_BENCH_P1_DIR="$B/diff" LOCKSTEP_BENCH_DIFF_KEEP="${LOCKSTEP_BENCH_DIFF_KEEP:-}" cargo bench --bench diff)
for run in "duckdb diff_hashstate" "duckdb diff_join" "polars diff_join"; do
  echo "== $run"
  (cd /tmp/bench && BENCH_DIR="$B" "$PY" run_bench.py $run)
done
