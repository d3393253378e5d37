//! Which view models a run computes once instead of once per reader. A view is
//! re-planned into every query that reads it, so a staging view read by six table
//! models (`stg_shop_orders`: its dedupe window, email and phone parsing) would run
//! six times. A view that two or more of the run's table models read, directly or
//! through other views, is therefore computed once when it is defined and kept in
//! memory (as a DataFusion memory table) until the last of those table models is
//! built, then dropped. Views read by one table model stay plain views: streaming
//! them into their reader costs less than holding them.
//!
//! Caching changes no result: a run's inputs do not change while it runs (the
//! tables a view reads are either raw tables, which a run never writes, or table
//! models built before the view is defined, as the build order guarantees).

use std::collections::{BTreeMap, BTreeSet};

use super::dag::Dep;
use super::properties::Materialized;

/// The views a run shares, with how many of its table models still have to read each.
#[derive(Debug, Default)]
pub struct SharedViews {
    remaining: BTreeMap<String, usize>,
}

impl SharedViews {
    /// Plan the sharing for a run building the models in `selected`. `graph` maps
    /// each model to what it reads; `kind` says how a model is materialized (`None`
    /// for names that are not models). Selected view models do not make a view
    /// shared (defining a view runs nothing) but keep it until they are defined.
    pub fn plan(
        graph: &BTreeMap<String, Vec<Dep>>,
        selected: &BTreeSet<String>,
        kind: impl Fn(&str) -> Option<Materialized>,
    ) -> Self {
        let mut table_readers: BTreeMap<String, usize> = BTreeMap::new();
        let mut readers: BTreeMap<String, usize> = BTreeMap::new();
        for model in selected {
            let is_table = kind(model) == Some(Materialized::Table);
            for view in views_read(graph, model, &kind) {
                if is_table {
                    *table_readers.entry(view.clone()).or_default() += 1;
                }
                *readers.entry(view).or_default() += 1;
            }
        }
        readers.retain(|view, _| table_readers.get(view).is_some_and(|n| *n >= 2));
        SharedViews { remaining: readers }
    }

    /// Whether `view` is computed once and kept for the run.
    pub fn is_shared(&self, view: &str) -> bool {
        self.remaining.contains_key(view)
    }

    /// Selected `model` is built (a table) or defined (a view): the shared views no
    /// later model reads, to drop now, with the views defined over them (their
    /// plans hold the stored rows too; no later model reads them either, or it
    /// would read the shared view).
    pub fn built(
        &mut self,
        graph: &BTreeMap<String, Vec<Dep>>,
        model: &str,
        kind: impl Fn(&str) -> Option<Materialized>,
    ) -> Vec<String> {
        let mut done = Vec::new();
        for view in views_read(graph, model, &kind) {
            if let Some(n) = self.remaining.get_mut(&view) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.remaining.remove(&view);
                    done.push(view);
                }
            }
        }
        let over: Vec<String> = graph
            .keys()
            .filter(|w| kind(w) == Some(Materialized::View) && !done.contains(w))
            .filter(|w| views_read(graph, w, &kind).iter().any(|v| done.contains(v)))
            .cloned()
            .collect();
        done.extend(over);
        done
    }
}

/// The view models `model` reads directly or through other views (a table model
/// ends the walk: its readers read its stored table, not its query).
fn views_read(
    graph: &BTreeMap<String, Vec<Dep>>,
    model: &str,
    kind: &impl Fn(&str) -> Option<Materialized>,
) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut stack = vec![model.to_string()];
    while let Some(next) = stack.pop() {
        for dep in graph.get(&next).into_iter().flatten() {
            if kind(&dep.model) == Some(Materialized::View) && found.insert(dep.model.clone()) {
                stack.push(dep.model.clone());
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::dag::tests::graph;

    fn kind(name: &str) -> Option<Materialized> {
        match name.chars().next() {
            Some('v') => Some(Materialized::View),
            Some('t') => Some(Materialized::Table),
            _ => None,
        }
    }

    #[test]
    fn views_read_by_two_tables_are_shared_until_the_last_is_built() {
        // v_orders is read by t_a directly and by t_b through v_edges; v_edges and
        // v_single by one table each; t_c reads table t_a, not its views.
        let g = graph(&[
            ("v_orders", &["raw"]),
            ("v_edges", &["v_orders"]),
            ("v_single", &[]),
            ("t_a", &["v_orders", "v_single"]),
            ("t_b", &["v_edges"]),
            ("t_c", &["t_a"]),
        ]);
        let all: BTreeSet<String> = g.keys().cloned().collect();
        let mut shared = SharedViews::plan(&g, &all, kind);
        assert!(shared.is_shared("v_orders"));
        assert!(!shared.is_shared("v_edges"));
        assert!(!shared.is_shared("v_single"));
        // In build order: views are defined before the tables reading them.
        assert!(shared.built(&g, "v_edges", kind).is_empty());
        assert!(shared.built(&g, "t_a", kind).is_empty());
        assert_eq!(
            shared.built(&g, "t_b", kind),
            vec!["v_orders".to_string(), "v_edges".to_string()]
        );
        assert!(!shared.is_shared("v_orders"));
    }

    #[test]
    fn only_selected_tables_make_a_view_shared() {
        let g = graph(&[
            ("v", &[]),
            ("t_a", &["v"]),
            ("t_b", &["v"]),
            ("v_w", &["v"]),
        ]);
        let one: BTreeSet<String> = ["t_a", "v", "v_w"].map(String::from).into();
        assert!(!SharedViews::plan(&g, &one, kind).is_shared("v"));
    }

    #[test]
    fn a_selected_view_keeps_a_shared_view_until_it_is_defined() {
        let g = graph(&[
            ("v", &[]),
            ("t_a", &["v"]),
            ("t_b", &["v"]),
            ("v_w", &["v"]),
        ]);
        let all: BTreeSet<String> = g.keys().cloned().collect();
        let mut shared = SharedViews::plan(&g, &all, kind);
        assert!(shared.built(&g, "t_a", kind).is_empty());
        assert!(shared.built(&g, "t_b", kind).is_empty());
        assert_eq!(
            shared.built(&g, "v_w", kind),
            vec!["v".to_string(), "v_w".to_string()]
        );
    }
}
