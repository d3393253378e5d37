//! `connected_components('<table or SELECT>')`: identity resolution. The input's
//! first two columns are pairs of identifiers (node_a, node_b) that deterministic
//! rules say belong to one person, e.g. `('shopify:123', 'email:jane@gmail.com')`;
//! the output is one row per identifier: `(node, component_id)`.
//!
//! Stability rule: `component_id` is the smallest member of the component (byte-wise
//! string order). It depends only on the component's own members, so adding pairs
//! that touch other components never changes it, and a rerun on the same data gives
//! the same ids. It changes only when the component itself changes: when it merges
//! with another (the smaller minimum wins) or when its minimum member disappears.
//! Prefix identifiers by kind (`email:`, `phone:`, `shopify:`) to control which
//! member names the component; to keep PII out of an id pushed to a CRM, hash it in
//! SQL: `'g_' || substr(md5(component_id), 1, 16)`.
//!
//! A pair with one NULL side still yields its other node (a singleton unless linked
//! elsewhere); NULL/NULL pairs are skipped. Node names are interned to integer ids
//! (a hash table with prefetched probes, see `Interner`), then union-find with path
//! halving and union by size runs over the ids: near-linear, and the strings are
//! borrowed from the input batches (read as string views, so no copy of the input's
//! text), so memory is the input plus a table slot and three integers per node. The output is cut into
//! batches spread over the session's partitions, so what the calling query does
//! with it (hashing ids, joins) runs in parallel.

use std::sync::{Arc, LazyLock};

use arrow::array::{RecordBatch, StringArrayType, StringBuilder, StringViewArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::{MemTable, TableType};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use crate::slot_index::{PREFETCH_AHEAD, Probe, SlotIndex};

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("node", DataType::Utf8, false),
        Field::new("component_id", DataType::Utf8, false),
    ]))
});

/// The `connected_components` table function.
#[derive(Debug)]
pub struct ConnectedComponents;

impl TableFunctionImpl for ConnectedComponents {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let source = super::string_literal(
            args.exprs(),
            0,
            "connected_components",
            "a table name or a SELECT returning (node_a, node_b)",
        )?;
        Ok(Arc::new(ComponentsTable { source }))
    }
}

/// The result of one call; computed when scanned.
#[derive(Debug)]
struct ComponentsTable {
    source: String,
}

#[async_trait]
impl TableProvider for ComponentsTable {
    fn schema(&self) -> SchemaRef {
        SCHEMA.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let started = std::time::Instant::now();
        let input = super::read_source(state, &self.source).await?;
        let read = started.elapsed();
        let pairs = pair_columns(&input)?;
        let options = state.config_options();
        let batch_size: usize = options.execution.batch_size.into();
        // Seconds of single-threaded work at millions of nodes: on a runtime worker
        // it would stall every other task queued there (the models built alongside
        // this one), so it runs on the blocking pool and the workers go on.
        let batches = tokio::task::spawn_blocking(move || {
            let refs: Vec<(&StringViewArray, &StringViewArray)> =
                pairs.iter().map(|(a, b)| (a, b)).collect();
            components(&refs, batch_size)
        })
        .await
        .map_err(|e| DataFusionError::Execution(format!("connected_components: {e}")))??;
        tracing::debug!(
            source = %self.source,
            read_secs = read.as_secs_f64(),
            resolve_secs = (started.elapsed() - read).as_secs_f64(),
            "connected_components"
        );
        MemTable::try_new(
            SCHEMA.clone(),
            spread(batches, options.execution.target_partitions),
        )?
        .scan(state, projection, filters, limit)
        .await
    }
}

/// Batches dealt round-robin into `partitions` partitions (at least one).
fn spread(batches: Vec<RecordBatch>, partitions: usize) -> Vec<Vec<RecordBatch>> {
    let mut out: Vec<Vec<RecordBatch>> =
        vec![Vec::new(); partitions.clamp(1, batches.len().max(1))];
    let n = out.len();
    for (i, batch) in batches.into_iter().enumerate() {
        out[i % n].push(batch);
    }
    out
}

/// The first two columns of every batch as string views: SQL string expressions
/// are views already, and other string types convert without copying their text.
fn pair_columns(batches: &[RecordBatch]) -> Result<Vec<(StringViewArray, StringViewArray)>> {
    let as_strings = |batch: &RecordBatch, i: usize| -> Result<StringViewArray> {
        let cast = arrow::compute::cast(batch.column(i), &DataType::Utf8View)?;
        cast.as_any()
            .downcast_ref::<StringViewArray>()
            .cloned()
            .ok_or_else(|| DataFusionError::Internal("cast to Utf8View failed".into()))
    };
    batches
        .iter()
        .map(|b| {
            if b.num_columns() < 2 {
                return Err(DataFusionError::Plan(
                    "connected_components: the source must have two columns (node_a, node_b)"
                        .into(),
                ));
            }
            Ok((as_strings(b, 0)?, as_strings(b, 1)?))
        })
        .collect()
}

/// Node names interned to dense ids, in order of first appearance, through a
/// [`SlotIndex`] (8 bytes a slot, prefetched ahead of the lookups, which are
/// cache misses at a million nodes and were most of this function's time with a
/// `HashMap<&str, u32>`, 24 bytes an entry).
struct Interner<'a> {
    index: SlotIndex,
    names: Vec<&'a str>,
}

impl<'a> Interner<'a> {
    fn with_capacity(nodes: usize) -> Self {
        Interner {
            index: SlotIndex::with_capacity(nodes),
            names: Vec::with_capacity(nodes),
        }
    }

    fn hash(name: &str) -> u64 {
        xxhash_rust::xxh3::xxh3_64(name.as_bytes())
    }

    /// Fetch the slot `hash` starts probing at into cache ahead of [`Self::id`].
    fn prefetch(&self, hash: u64) {
        self.index.prefetch(hash);
    }

    /// The id of `name` (whose hash is `hash`), a new one if it is new. Ids stay
    /// below `u32::MAX`: [`components`] refuses inputs with that many names.
    fn id(&mut self, name: &'a str, hash: u64) -> u32 {
        let mut after = None;
        loop {
            match self.index.probe(hash, after) {
                Probe::Candidate { id, slot } => {
                    if self.names[id as usize] == name {
                        return id;
                    }
                    after = Some(slot);
                }
                Probe::Vacant(at) => {
                    let id = self.names.len() as u32;
                    self.names.push(name);
                    self.index.insert(hash, at, id);
                    return id;
                }
            }
        }
    }
}

/// Union-find with path halving and union by size over node ids.
struct UnionFind {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl UnionFind {
    /// Make sure ids below `n` exist, each its own set.
    fn extend_to(&mut self, n: usize) {
        while self.parent.len() < n {
            self.parent.push(self.parent.len() as u32);
            self.size.push(1);
        }
    }

    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grandparent = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grandparent;
            x = grandparent;
        }
        x
    }

    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return;
        }
        let (big, small) = if self.size[ra as usize] >= self.size[rb as usize] {
            (ra, rb)
        } else {
            (rb, ra)
        };
        self.parent[small as usize] = big;
        self.size[big as usize] += self.size[small as usize];
    }
}

/// The values of one side of a batch of pairs and their hashes (0 for NULL).
fn hashed<'a, A>(side: A) -> (Vec<Option<&'a str>>, Vec<u64>)
where
    A: StringArrayType<'a>,
{
    let values: Vec<Option<&'a str>> = side.iter().collect();
    let hashes = values.iter().map(|v| v.map_or(0, Interner::hash)).collect();
    (values, hashes)
}

/// One row per node: the node and the smallest member of its component, nodes in
/// order of first appearance, in batches of `batch_size` rows.
pub fn components<'a, A>(pairs: &[(A, A)], batch_size: usize) -> Result<Vec<RecordBatch>>
where
    A: StringArrayType<'a> + Copy,
{
    // Ids are u32 with one value reserved: refuse inputs that could run out.
    let rows: usize = pairs.iter().map(|(a, _)| a.len()).sum();
    if rows >= (u32::MAX / 2) as usize {
        return Err(DataFusionError::Execution(
            "connected_components: more than 2 billion pairs".into(),
        ));
    }
    // Most pairs bring one new node on one side; half the pair count is a fair
    // first guess that saves most regrowing on large inputs.
    let mut nodes = Interner::with_capacity(rows / 2);
    let mut uf = UnionFind {
        parent: Vec::with_capacity(rows / 2),
        size: Vec::with_capacity(rows / 2),
    };
    // Edge lists give one row per identifier a record links to, so the same
    // node_a repeats on consecutive rows: its id is reused without a lookup.
    let mut last_a: Option<(&'a str, u32)> = None;
    for (a, b) in pairs {
        let ((av, ah), (bv, bh)) = (hashed(*a), hashed(*b));
        let n = av.len().min(bv.len());
        for i in 0..n {
            if i + PREFETCH_AHEAD < n {
                let ahead = i + PREFETCH_AHEAD;
                if av[ahead].is_some() {
                    nodes.prefetch(ah[ahead]);
                }
                if bv[ahead].is_some() {
                    nodes.prefetch(bh[ahead]);
                }
            }
            let x = av[i].map(|name| match last_a {
                Some((last, id)) if last == name => id,
                _ => {
                    let id = nodes.id(name, ah[i]);
                    last_a = Some((name, id));
                    id
                }
            });
            let y = bv[i].map(|name| nodes.id(name, bh[i]));
            uf.extend_to(nodes.names.len());
            if let (Some(x), Some(y)) = (x, y) {
                uf.union(x, y);
            }
        }
    }
    let n = nodes.names.len();
    let names = &nodes.names;
    let roots: Vec<u32> = (0..n as u32).map(|i| uf.find(i)).collect();
    let mut min_member: Vec<u32> = (0..n as u32).collect();
    for (i, root) in roots.iter().enumerate() {
        let current = min_member[*root as usize];
        if names[i] < names[current as usize] {
            min_member[*root as usize] = i as u32;
        }
    }
    let batch_size = batch_size.max(1);
    let mut batches = Vec::with_capacity(n.div_ceil(batch_size));
    for start in (0..n).step_by(batch_size) {
        let end = (start + batch_size).min(n);
        let chunk = &names[start..end];
        let bytes: usize = chunk.iter().map(|s| s.len()).sum();
        let mut node_column = StringBuilder::with_capacity(chunk.len(), bytes);
        let mut ids = StringBuilder::with_capacity(chunk.len(), bytes);
        for (name, root) in chunk.iter().zip(&roots[start..end]) {
            node_column.append_value(name);
            ids.append_value(names[min_member[*root as usize] as usize]);
        }
        batches.push(RecordBatch::try_new(
            SCHEMA.clone(),
            vec![Arc::new(node_column.finish()), Arc::new(ids.finish())],
        )?);
    }
    Ok(batches)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use arrow::array::StringArray;

    fn strings(batch: &RecordBatch, i: usize) -> Vec<String> {
        let column = batch
            .column(i)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        column.iter().map(|s| s.unwrap().to_string()).collect()
    }

    fn run(pairs: &[(Option<&str>, Option<&str>)]) -> BTreeMap<String, String> {
        let a: StringArray = pairs.iter().map(|p| p.0).collect();
        let b: StringArray = pairs.iter().map(|p| p.1).collect();
        // Batches of 2 rows, so results crossing batch boundaries are covered.
        let batches = components(&[(&a, &b)], 2).unwrap();
        batches
            .iter()
            .flat_map(|batch| strings(batch, 0).into_iter().zip(strings(batch, 1)))
            .collect()
    }

    #[test]
    fn components_are_transitive_and_named_by_their_minimum() {
        let out = run(&[
            (Some("shopify:2"), Some("email:jane@gmail.com")),
            (Some("phone:+1415"), Some("email:jane@gmail.com")),
            (Some("hubspot:9"), Some("phone:+1415")),
            (Some("shopify:3"), Some("email:bob@x.com")),
            (Some("shopify:4"), None),
            (None, None),
        ]);
        assert_eq!(out.len(), 7);
        for n in [
            "shopify:2",
            "email:jane@gmail.com",
            "phone:+1415",
            "hubspot:9",
        ] {
            assert_eq!(out[n], "email:jane@gmail.com", "{n}");
        }
        assert_eq!(out["shopify:3"], "email:bob@x.com");
        assert_eq!(out["shopify:4"], "shopify:4");
    }

    #[test]
    fn ids_survive_unrelated_additions_and_reordering() {
        let base = [
            (Some("b"), Some("c")),
            (Some("c"), Some("d")),
            (Some("x"), Some("y")),
        ];
        let before = run(&base);
        let mut more = vec![(Some("0"), Some("1")), (Some("z"), Some("w"))];
        more.extend(base.iter().rev().cloned());
        let after = run(&more);
        for (node, id) in &before {
            assert_eq!(&after[node], id, "{node}");
        }
        assert_eq!(after["w"], "w");
    }

    #[test]
    fn the_interner_keeps_one_id_per_name_while_it_grows() {
        let names: Vec<String> = (0..5_000).map(|i| format!("node:{i}")).collect();
        // Capacity for 8 names: the table doubles many times on the way.
        let mut interner = Interner::with_capacity(1);
        let ids: Vec<u32> = names
            .iter()
            .map(|n| interner.id(n, Interner::hash(n)))
            .collect();
        assert_eq!(ids, (0..5_000).collect::<Vec<u32>>());
        for (i, n) in names.iter().enumerate().rev() {
            assert_eq!(interner.id(n, Interner::hash(n)), i as u32, "{n}");
        }
        assert_eq!(interner.names.len(), 5_000);
        assert!(interner.index.slots() >= 10_000);
    }

    #[test]
    fn repeated_and_null_sides_link_as_pairs_do() {
        // An edge list as the identity model writes it: node_a repeats on
        // consecutive rows, one row per identifier, NULL where there is none; the
        // same node_a comes back later, after another one.
        let out = run(&[
            (Some("o:1"), Some("e:a")),
            (Some("o:1"), None),
            (Some("o:1"), Some("p:1")),
            (Some("o:2"), Some("e:b")),
            (Some("o:1"), Some("e:c")),
            (None, Some("p:9")),
        ]);
        // o:1, e:a, p:1, o:2, e:b, e:c, p:9: each once.
        assert_eq!(out.len(), 7);
        for n in ["o:1", "e:a", "p:1", "e:c"] {
            assert_eq!(out[n], "e:a", "{n}");
        }
        assert_eq!(out["o:2"], "e:b");
        assert_eq!(out["p:9"], "p:9");
    }

    #[test]
    fn a_million_pairs_in_a_chain_resolve_to_one_component() {
        let n = 1_000_000;
        let a: StringArray = (0..n).map(|i| Some(format!("n{i:07}"))).collect();
        let b: StringArray = (0..n)
            .map(|i| Some(format!("n{:07}", (i + 1) % n)))
            .collect();
        let started = std::time::Instant::now();
        let batches = components(&[(&a, &b)], 8192).unwrap();
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), n);
        assert!(
            batches
                .iter()
                .all(|b| strings(b, 1).iter().all(|c| c == "n0000000"))
        );
        assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
    }
}
