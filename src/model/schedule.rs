//! Which of a run's models may start now, and which first, when a run builds
//! several at once (see `materialize::build`). A model is ready once every model
//! of the run it reads is done. Light models (views defined without running
//! anything) go first: they cost nothing and unblock their readers. Heavy ones
//! (table models, views computed once for several readers) go longest chain of
//! heavy models after them first, so the critical path starts early and the other
//! core fills with side branches; ties go in the run's order (deterministic).

/// One model of a run, as the schedule sees it.
#[derive(Debug, Clone)]
pub struct Node {
    /// The model's name.
    pub name: String,
    /// The models of the run it reads (others are ignored).
    pub reads: Vec<String>,
    /// Whether building it runs a query (a table, a computed view).
    pub heavy: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Started,
    Done,
}

/// The run's models and how far each is.
#[derive(Debug)]
pub struct Schedule {
    nodes: Vec<Node>,
    readers: Vec<Vec<usize>>,
    /// Reads of each model not done yet.
    pending: Vec<usize>,
    /// Heavy models on the longest chain from each model to the end of the run.
    chain: Vec<usize>,
    state: Vec<State>,
}

impl Schedule {
    /// A schedule over `nodes`, given in an order where each comes after what it
    /// reads (the run's dependency order).
    pub fn new(nodes: Vec<Node>) -> Self {
        let index = |name: &str| nodes.iter().position(|n| n.name == name);
        let mut readers = vec![Vec::new(); nodes.len()];
        let mut pending = vec![0; nodes.len()];
        for (i, node) in nodes.iter().enumerate() {
            let mut deps: Vec<usize> = node.reads.iter().filter_map(|r| index(r)).collect();
            deps.sort_unstable();
            deps.dedup();
            pending[i] = deps.len();
            for d in deps {
                readers[d].push(i);
            }
        }
        let mut chain = vec![0; nodes.len()];
        for i in (0..nodes.len()).rev() {
            let after = readers[i].iter().map(|r| chain[*r]).max().unwrap_or(0);
            chain[i] = after + usize::from(nodes[i].heavy);
        }
        let state = vec![State::Waiting; nodes.len()];
        Schedule {
            nodes,
            readers,
            pending,
            chain,
            state,
        }
    }

    /// The model at `i`.
    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    /// The next model to start: a ready light one, else the ready heavy one with
    /// the longest chain after it; `None` when nothing is ready.
    pub fn next(&self, heavy_allowed: bool) -> Option<usize> {
        let ready = (0..self.nodes.len())
            .filter(|i| self.state[*i] == State::Waiting && self.pending[*i] == 0);
        let mut best: Option<usize> = None;
        for i in ready {
            if !self.nodes[i].heavy {
                return Some(i);
            }
            if heavy_allowed && best.is_none_or(|b| self.chain[i] > self.chain[b]) {
                best = Some(i);
            }
        }
        best
    }

    /// Model `i` has started.
    pub fn start(&mut self, i: usize) {
        self.state[i] = State::Started;
    }

    /// Model `i` is done: its readers have one read fewer to wait for.
    pub fn finish(&mut self, i: usize) {
        self.state[i] = State::Done;
        for r in &self.readers[i] {
            self.pending[*r] = self.pending[*r].saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, reads: &[&str], heavy: bool) -> Node {
        Node {
            name: name.into(),
            reads: reads.iter().map(|r| r.to_string()).collect(),
            heavy,
        }
    }

    fn name(s: &Schedule, i: Option<usize>) -> Option<&str> {
        i.map(|i| s.node(i).name.as_str())
    }

    #[test]
    fn views_first_then_the_longest_chain_and_readers_wait() {
        // a → b → c is the long chain; side is a lone table; v is a view over a.
        let mut s = Schedule::new(vec![
            node("a", &[], true),
            node("side", &["raw"], true),
            node("v", &["a"], false),
            node("b", &["v"], true),
            node("c", &["b"], true),
        ]);
        assert_eq!(name(&s, s.next(true)), Some("a"));
        s.start(0);
        assert_eq!(name(&s, s.next(true)), Some("side"));
        s.start(1);
        assert_eq!(s.next(true), None);
        s.finish(0);
        // The view is light: it goes even when no heavy model may start.
        assert_eq!(name(&s, s.next(false)), Some("v"));
        s.start(2);
        s.finish(2);
        assert_eq!(s.next(false), None);
        assert_eq!(name(&s, s.next(true)), Some("b"));
        s.start(3);
        s.finish(3);
        s.finish(1);
        assert_eq!(name(&s, s.next(true)), Some("c"));
        s.start(4);
        s.finish(4);
        assert_eq!(s.next(true), None);
    }

    #[test]
    fn ties_go_in_run_order() {
        let s = Schedule::new(vec![node("x", &[], true), node("y", &[], true)]);
        assert_eq!(name(&s, s.next(true)), Some("x"));
    }
}
