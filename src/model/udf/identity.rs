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
//! elsewhere); NULL/NULL pairs are skipped. Union-find with path halving and union by
//! size over interned strings: near-linear, and the strings are borrowed from the
//! input batches (read as string views, so no copy of the input's text), so memory
//! is the input plus a hash entry and two integers per node. The output is cut into
//! batches spread over the session's partitions, so what the calling query does
//! with it (hashing ids, joins) runs in parallel.

use std::sync::{Arc, LazyLock};

use arrow::array::{RecordBatch, StringArrayType, StringBuilder, StringViewArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{DataFusionError, HashMap, Result};
use datafusion::datasource::{MemTable, TableType};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

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
        let input = super::read_source(state, &self.source).await?;
        let pairs = pair_columns(&input)?;
        let refs: Vec<(&StringViewArray, &StringViewArray)> =
            pairs.iter().map(|(a, b)| (a, b)).collect();
        let options = state.config_options();
        let batches = components(&refs, options.execution.batch_size.into())?;
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

/// Union-find over string nodes.
struct UnionFind<'a> {
    ids: HashMap<&'a str, u32>,
    names: Vec<&'a str>,
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl<'a> UnionFind<'a> {
    fn with_capacity(n: usize) -> Self {
        UnionFind {
            ids: HashMap::with_capacity(n),
            names: Vec::with_capacity(n),
            parent: Vec::with_capacity(n),
            size: Vec::with_capacity(n),
        }
    }

    fn node(&mut self, name: &'a str) -> u32 {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(name, id);
        self.names.push(name);
        self.parent.push(id);
        self.size.push(1);
        id
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

/// One row per node: the node and the smallest member of its component, nodes in
/// order of first appearance, in batches of `batch_size` rows.
pub fn components<'a, A>(pairs: &[(A, A)], batch_size: usize) -> Result<Vec<RecordBatch>>
where
    A: StringArrayType<'a> + Copy,
{
    // Most pairs bring one new node on one side; half the pair count is a fair
    // first guess that saves most rehashing on large inputs.
    let rows: usize = pairs.iter().map(|(a, _)| a.len()).sum();
    let mut uf = UnionFind::with_capacity(rows / 2);
    for (a, b) in pairs {
        for (x, y) in a.iter().zip(b.iter()) {
            match (x, y) {
                (Some(x), Some(y)) => {
                    let (x, y) = (uf.node(x), uf.node(y));
                    uf.union(x, y);
                }
                (Some(n), None) | (None, Some(n)) => {
                    uf.node(n);
                }
                (None, None) => {}
            }
        }
    }
    let n = uf.names.len();
    if n > u32::MAX as usize - 1 {
        return Err(DataFusionError::Execution(
            "connected_components: more than 4 billion identifiers".into(),
        ));
    }
    let roots: Vec<u32> = (0..n as u32).map(|i| uf.find(i)).collect();
    let mut min_member: Vec<u32> = (0..n as u32).collect();
    for (i, root) in roots.iter().enumerate() {
        let current = min_member[*root as usize];
        if uf.names[i] < uf.names[current as usize] {
            min_member[*root as usize] = i as u32;
        }
    }
    let batch_size = batch_size.max(1);
    let mut batches = Vec::with_capacity(n.div_ceil(batch_size));
    for start in (0..n).step_by(batch_size) {
        let end = (start + batch_size).min(n);
        let names = &uf.names[start..end];
        let bytes: usize = names.iter().map(|s| s.len()).sum();
        let mut nodes = StringBuilder::with_capacity(names.len(), bytes);
        let mut ids = StringBuilder::with_capacity(names.len(), bytes);
        for (name, root) in names.iter().zip(&roots[start..end]) {
            nodes.append_value(name);
            ids.append_value(uf.names[min_member[*root as usize] as usize]);
        }
        batches.push(RecordBatch::try_new(
            SCHEMA.clone(),
            vec![Arc::new(nodes.finish()), Arc::new(ids.finish())],
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
