//! The model graph: topological order (deterministic: among ready models, by name),
//! cycle detection that names the members and where each reads the next, and dbt's
//! selection syntax (`a`, `+a` = a and its ancestors, `a+` = a and its descendants).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// One model-to-model reference: the model read, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dep {
    /// The model read.
    pub model: String,
    /// 1-based line of the reference.
    pub line: u64,
    /// 1-based column of the reference.
    pub column: u64,
}

/// The models of a cycle, in order: each reads the next (the last reads the first),
/// with the position of that reference.
pub type Cycle = Vec<(String, Dep)>;

/// Order `graph` (model → the models it reads) so every model comes after what it
/// reads. Deps on names not in the graph are ignored.
pub fn topo_order(graph: &BTreeMap<String, Vec<Dep>>) -> Result<Vec<String>, Cycle> {
    let mut indegree: BTreeMap<&str, usize> = BTreeMap::new();
    let mut readers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (model, deps) in graph {
        let distinct: BTreeSet<&str> = deps
            .iter()
            .map(|d| d.model.as_str())
            .filter(|d| graph.contains_key(*d))
            .collect();
        indegree.insert(model, distinct.len());
        for d in distinct {
            readers.entry(d).or_default().push(model);
        }
    }
    let mut ready: BTreeSet<&str> = indegree
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(m, _)| *m)
        .collect();
    let mut order = Vec::with_capacity(graph.len());
    while let Some(next) = ready.pop_first() {
        order.push(next.to_string());
        for reader in readers.get(next).into_iter().flatten() {
            if let Some(n) = indegree.get_mut(reader) {
                *n -= 1;
                if *n == 0 {
                    ready.insert(reader);
                }
            }
        }
    }
    if order.len() == graph.len() {
        return Ok(order);
    }
    let placed: BTreeSet<&str> = order.iter().map(String::as_str).collect();
    Err(find_cycle(graph, &placed))
}

/// Walk from the first unplaced model along unplaced deps until a model repeats.
/// Every unplaced model has an unplaced dep (else Kahn would have placed it).
fn find_cycle(graph: &BTreeMap<String, Vec<Dep>>, placed: &BTreeSet<&str>) -> Cycle {
    let Some(start) = graph.keys().find(|m| !placed.contains(m.as_str())) else {
        return Vec::new();
    };
    let mut path: Vec<(String, Dep)> = Vec::new();
    let mut current = start.clone();
    loop {
        if let Some(at) = path.iter().position(|(m, _)| *m == current) {
            return path.split_off(at);
        }
        let Some(dep) = graph.get(&current).and_then(|deps| {
            deps.iter()
                .find(|d| graph.contains_key(&d.model) && !placed.contains(d.model.as_str()))
        }) else {
            return path;
        };
        path.push((current.clone(), dep.clone()));
        current = dep.model.clone();
    }
}

/// A `--select` term that names no model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownModel(pub String);

/// The models selected by dbt-style terms (`a`, `+a`, `a+`, `+a+`); terms may also
/// be comma-separated. No terms selects everything.
pub fn select(
    graph: &BTreeMap<String, Vec<Dep>>,
    terms: &[String],
) -> Result<BTreeSet<String>, UnknownModel> {
    let terms: Vec<&str> = terms
        .iter()
        .flat_map(|t| t.split([',', ' ']))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if terms.is_empty() {
        return Ok(graph.keys().cloned().collect());
    }
    let mut selected = BTreeSet::new();
    for term in terms {
        let (up, rest) = match term.strip_prefix('+') {
            Some(r) => (true, r),
            None => (false, term),
        };
        let (down, name) = match rest.strip_suffix('+') {
            Some(n) => (true, n),
            None => (false, rest),
        };
        if !graph.contains_key(name) {
            return Err(UnknownModel(name.to_string()));
        }
        selected.insert(name.to_string());
        if up {
            selected.extend(ancestors(graph, name));
        }
        if down {
            selected.extend(descendants(graph, name));
        }
    }
    Ok(selected)
}

/// Every model `name` reads, directly or not.
pub fn ancestors(graph: &BTreeMap<String, Vec<Dep>>, name: &str) -> BTreeSet<String> {
    walk(name, |m| {
        graph
            .get(m)
            .map(|deps| deps.iter().map(|d| d.model.clone()).collect())
            .unwrap_or_default()
    })
    .into_iter()
    .filter(|m| graph.contains_key(m))
    .collect()
}

/// Every model that reads `name`, directly or not.
pub fn descendants(graph: &BTreeMap<String, Vec<Dep>>, name: &str) -> BTreeSet<String> {
    let mut readers: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (model, deps) in graph {
        for d in deps {
            readers
                .entry(d.model.as_str())
                .or_default()
                .push(model.clone());
        }
    }
    walk(name, |m| readers.get(m).cloned().unwrap_or_default())
}

fn walk(start: &str, next: impl Fn(&str) -> Vec<String>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut queue: VecDeque<String> = next(start).into();
    while let Some(m) = queue.pop_front() {
        if m != start && seen.insert(m.clone()) {
            queue.extend(next(&m));
        }
    }
    seen
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A dependency graph from `(model, [deps])` pairs (test input shared by the
    /// model modules' tests).
    pub(crate) fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<String, Vec<Dep>> {
        edges
            .iter()
            .map(|(m, deps)| {
                let deps = deps
                    .iter()
                    .enumerate()
                    .map(|(i, d)| Dep {
                        model: d.to_string(),
                        line: 1,
                        column: i as u64 + 1,
                    })
                    .collect();
                (m.to_string(), deps)
            })
            .collect()
    }

    #[test]
    fn order_puts_dependencies_first_and_is_deterministic() {
        let g = graph(&[
            ("d", &["b", "c"]),
            ("c", &["a"]),
            ("b", &["a"]),
            ("a", &[]),
            ("e", &[]),
        ]);
        assert_eq!(topo_order(&g).unwrap(), ["a", "b", "c", "d", "e"]);
    }

    #[test]
    fn cycles_name_their_members_in_order() {
        let g = graph(&[
            ("a", &["b"]),
            ("b", &["c"]),
            ("c", &["a"]),
            ("x", &[]),
            ("y", &["a"]),
        ]);
        let cycle = topo_order(&g).unwrap_err();
        let names: Vec<&str> = cycle.iter().map(|(m, _)| m.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(cycle[2].1.model, "a");
        let selfish = graph(&[("s", &["s"])]);
        assert_eq!(topo_order(&selfish).unwrap_err().len(), 1);
    }

    #[test]
    fn selection_follows_dbt() {
        let g = graph(&[("a", &[]), ("b", &["a"]), ("c", &["b"]), ("z", &[])]);
        let sel = |t: &[&str]| {
            select(&g, &t.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>()
        };
        assert_eq!(sel(&["b"]), ["b"]);
        assert_eq!(sel(&["+b"]), ["a", "b"]);
        assert_eq!(sel(&["b+"]), ["b", "c"]);
        assert_eq!(sel(&["+b+"]), ["a", "b", "c"]);
        assert_eq!(sel(&["a,z"]), ["a", "z"]);
        assert_eq!(sel(&[]), ["a", "b", "c", "z"]);
        assert_eq!(
            select(&g, &["nope+".to_string()]).unwrap_err(),
            UnknownModel("nope".into())
        );
    }
}
