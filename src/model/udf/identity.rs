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
//! input batches, so memory is the input plus two integers per node.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use arrow::array::{RecordBatch, StringArray, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{DataFusionError, Result};
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
        let refs: Vec<(&StringArray, &StringArray)> = pairs.iter().map(|(a, b)| (a, b)).collect();
        let batch = components(&refs)?;
        MemTable::try_new(SCHEMA.clone(), vec![vec![batch]])?
            .scan(state, projection, filters, limit)
            .await
    }
}

/// The first two columns of every batch as strings.
fn pair_columns(batches: &[RecordBatch]) -> Result<Vec<(StringArray, StringArray)>> {
    let as_strings = |batch: &RecordBatch, i: usize| -> Result<StringArray> {
        let cast = arrow::compute::cast(batch.column(i), &DataType::Utf8)?;
        cast.as_any()
            .downcast_ref::<StringArray>()
            .cloned()
            .ok_or_else(|| DataFusionError::Internal("cast to Utf8 failed".into()))
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
    fn new() -> Self {
        UnionFind {
            ids: HashMap::new(),
            names: Vec::new(),
            parent: Vec::new(),
            size: Vec::new(),
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
/// order of first appearance.
pub fn components(pairs: &[(&StringArray, &StringArray)]) -> Result<RecordBatch> {
    let mut uf = UnionFind::new();
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
    let bytes: usize = uf.names.iter().map(|s| s.len()).sum();
    let mut nodes = StringBuilder::with_capacity(n, bytes);
    let mut ids = StringBuilder::with_capacity(n, bytes);
    for (i, root) in roots.iter().enumerate() {
        nodes.append_value(uf.names[i]);
        ids.append_value(uf.names[min_member[*root as usize] as usize]);
    }
    Ok(RecordBatch::try_new(
        SCHEMA.clone(),
        vec![Arc::new(nodes.finish()), Arc::new(ids.finish())],
    )?)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn run(pairs: &[(Option<&str>, Option<&str>)]) -> BTreeMap<String, String> {
        let a: StringArray = pairs.iter().map(|p| p.0).collect();
        let b: StringArray = pairs.iter().map(|p| p.1).collect();
        let batch = components(&[(&a, &b)]).unwrap();
        let nodes = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        let ids = batch
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        nodes
            .iter()
            .zip(ids.iter())
            .map(|(n, c)| (n.unwrap().to_string(), c.unwrap().to_string()))
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
        let batch = components(&[(&a, &b)]).unwrap();
        assert_eq!(batch.num_rows(), n);
        let ids = batch
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert!(ids.iter().all(|c| c == Some("n0000000")));
        assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
    }
}
