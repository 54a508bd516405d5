//! Unit tests of the transaction-anomaly checker: a hand-made history per
//! anomaly (it must be flagged, naming the right transactions), clean
//! histories (they must be accepted), and seeded random histories from a
//! small snapshot-isolation simulator (`TINYKV_SEED` replays one seed).

use std::collections::BTreeSet;
use std::thread;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::cycle_search::answer_reachability;
use super::{
    check_transactions, AnomalyKind, CheckResult, DependencyKind, History, HistoryRecorder,
    MicroOp, TxnId, TxnStatus,
};
use crate::cluster::test_seed_or;

fn append(key: &str, value: u64) -> MicroOp {
    MicroOp::append(key, value)
}

fn read(key: &str, list: &[u64]) -> MicroOp {
    MicroOp::read(key, list)
}

fn assert_clean(history: &History) -> CheckResult {
    let result = check_transactions(history);
    assert!(result.is_ok(), "{result}");
    result
}

/// Asserts exactly one anomaly of `kind`, naming exactly the transactions
/// `expected` (in any order), and returns it.
fn assert_one(result: &CheckResult, kind: AnomalyKind, expected: &[TxnId]) -> super::Anomaly {
    let found = result.of_kind(kind);
    assert_eq!(found.len(), 1, "expected one {kind}, got:\n{result}");
    let named: BTreeSet<TxnId> = found[0].txn_ids().into_iter().collect();
    let expected: BTreeSet<TxnId> = expected.iter().copied().collect();
    assert_eq!(named, expected, "{result}");
    found[0].clone()
}

// ---------------------------------------------------------------------------
// Hand-made anomalies

/// Two transactions whose appends interleave on two keys form a ww cycle: G0.
#[test]
fn write_cycle_is_g0() {
    let mut history = History::new();
    let first = history.committed(vec![append("x", 1), append("y", 2)]);
    let second = history.committed(vec![append("x", 3), append("y", 4)]);
    history.committed(vec![read("x", &[1, 3]), read("y", &[4, 2])]);
    let result = check_transactions(&history);
    let anomaly = assert_one(&result, AnomalyKind::G0, &[first, second]);
    assert_eq!(anomaly.cycle.len(), 2);
    assert_eq!(anomaly.count_edges(DependencyKind::WriteWrite), 2);
    assert_eq!(result.kinds(), vec![AnomalyKind::G0], "{result}");
}

/// A committed read of an element appended by an aborted transaction is G1a.
#[test]
fn aborted_read_is_g1a() {
    let mut history = History::new();
    let aborted = history.aborted(vec![append("x", 1)]);
    let reader = history.committed(vec![read("x", &[1])]);
    let result = check_transactions(&history);
    let anomaly = assert_one(&result, AnomalyKind::G1a, &[aborted, reader]);
    assert_eq!(anomaly.txn_ids(), vec![aborted, reader]);
    assert_eq!(result.kinds(), vec![AnomalyKind::G1a], "{result}");
}

/// Reading a list that ends in a transaction's first of two appends is G1b
/// (and, since the reader saw half of it, also a G-single cycle with it).
#[test]
fn intermediate_read_is_g1b() {
    let mut history = History::new();
    let writer = history.committed(vec![append("x", 1), append("x", 2)]);
    let reader = history.committed(vec![read("x", &[1])]);
    history.committed(vec![read("x", &[1, 2])]);
    let result = check_transactions(&history);
    assert_one(&result, AnomalyKind::G1b, &[writer, reader]);
    assert_one(&result, AnomalyKind::GSingle, &[writer, reader]);
    assert_eq!(
        result.kinds(),
        vec![AnomalyKind::G1b, AnomalyKind::GSingle],
        "{result}"
    );
}

/// Two transactions that each read the other's append form a wr cycle: G1c.
#[test]
fn mutual_reads_are_g1c() {
    let mut history = History::new();
    let first = history.committed(vec![append("x", 1), read("y", &[2])]);
    let second = history.committed(vec![append("y", 2), read("x", &[1])]);
    let result = check_transactions(&history);
    let anomaly = assert_one(&result, AnomalyKind::G1c, &[first, second]);
    assert_eq!(anomaly.count_edges(DependencyKind::WriteRead), 2);
    assert_eq!(result.kinds(), vec![AnomalyKind::G1c], "{result}");
}

/// A cycle of one ww edge and one wr edge is G1c, not G0.
#[test]
fn write_then_read_cycle_is_g1c() {
    let mut history = History::new();
    let first = history.committed(vec![append("x", 1), read("y", &[3])]);
    let second = history.committed(vec![append("x", 2), append("y", 3)]);
    history.committed(vec![read("x", &[1, 2])]);
    let result = check_transactions(&history);
    let anomaly = assert_one(&result, AnomalyKind::G1c, &[first, second]);
    assert_eq!(anomaly.count_edges(DependencyKind::WriteWrite), 1);
    assert_eq!(anomaly.count_edges(DependencyKind::WriteRead), 1);
    assert_eq!(result.kinds(), vec![AnomalyKind::G1c], "{result}");
}

/// Seeing one of a transaction's appends but not the other is read skew: G-single.
#[test]
fn read_skew_is_g_single() {
    let mut history = History::new();
    let writer = history.committed(vec![append("x", 1), append("y", 2)]);
    let reader = history.committed(vec![read("x", &[]), read("y", &[2])]);
    history.committed(vec![read("x", &[1])]);
    let result = check_transactions(&history);
    let anomaly = assert_one(&result, AnomalyKind::GSingle, &[writer, reader]);
    assert_eq!(anomaly.count_edges(DependencyKind::ReadWrite), 1);
    assert_eq!(
        anomaly.summary,
        format!("T{reader} -rw(x)-> T{writer} -wr(y)-> T{reader}")
    );
    assert_eq!(result.kinds(), vec![AnomalyKind::GSingle], "{result}");
}

/// Two reads of one key where neither is a prefix of the other are an incompatible order.
#[test]
fn diverging_reads_are_incompatible_order() {
    let mut history = History::new();
    history.committed(vec![append("x", 1)]);
    history.committed(vec![append("x", 2)]);
    history.committed(vec![append("x", 3)]);
    let longest = history.committed(vec![read("x", &[1, 2])]);
    let other = history.committed(vec![read("x", &[1, 3])]);
    let result = check_transactions(&history);
    let anomaly = assert_one(&result, AnomalyKind::IncompatibleOrder, &[longest, other]);
    assert_eq!(anomaly.txn_ids(), vec![longest, other]);
    assert_eq!(result.kinds(), vec![AnomalyKind::IncompatibleOrder]);
}

/// An element that no transaction appended is a garbage read, reported once per key with a count of the others.
#[test]
fn element_nobody_appended_is_garbage_read() {
    let mut history = History::new();
    history.committed(vec![append("x", 1)]);
    let reader = history.committed(vec![read("x", &[1, 99])]);
    history.committed(vec![read("x", &[1, 99, 98])]);
    let result = check_transactions(&history);
    let anomaly = assert_one(&result, AnomalyKind::GarbageRead, &[reader]);
    assert!(
        anomaly
            .summary
            .contains("no transaction appended 99 (and 1 more on x)"),
        "{}",
        anomaly.summary
    );
    assert_eq!(result.kinds(), vec![AnomalyKind::GarbageRead]);
}

/// The same element appended to one key by two transactions is a duplicate append.
#[test]
fn same_element_twice_is_duplicate_append() {
    let mut history = History::new();
    let first = history.committed(vec![append("x", 1)]);
    let second = history.committed(vec![append("x", 1)]);
    history.committed(vec![read("x", &[1])]);
    let result = check_transactions(&history);
    assert_one(&result, AnomalyKind::DuplicateAppend, &[first, second]);
    assert_eq!(result.kinds(), vec![AnomalyKind::DuplicateAppend]);
}

/// A read holding one element twice (an append applied twice) is flagged.
#[test]
fn element_read_twice_is_duplicate_elements() {
    let mut history = History::new();
    history.committed(vec![append("x", 1)]);
    history.committed(vec![append("x", 2)]);
    let reader = history.committed(vec![read("x", &[1, 2, 1])]);
    let result = check_transactions(&history);
    assert_one(&result, AnomalyKind::DuplicateElements, &[reader]);
    assert_eq!(result.kinds(), vec![AnomalyKind::DuplicateElements]);
}

/// A transaction of unknown outcome whose append was read is in the graph: its cycle is flagged.
#[test]
fn seen_unknown_txn_takes_part_in_cycles() {
    let mut history = History::new();
    let unknown = history.unknown(vec![append("x", 1), read("y", &[2])]);
    let committed = history.committed(vec![append("y", 2), read("x", &[1])]);
    let result = check_transactions(&history);
    assert_one(&result, AnomalyKind::G1c, &[unknown, committed]);
    assert_eq!(result.stats.graph_txns, 2);
}

/// A long G-single cycle (2000 transactions, chained by wr edges) is found whole.
#[test]
fn long_read_skew_cycle_is_found() {
    const CHAIN: u64 = 2000;
    let mut history = History::new();
    // T1 reads z empty and the end of the chain; T2 appends z; each chain
    // member reads its predecessor's key and appends its own.
    let reader = history.committed(vec![read("z", &[]), read(&format!("k{CHAIN}"), &[CHAIN])]);
    for link in 1..=CHAIN {
        let mut ops = Vec::new();
        if link == 1 {
            ops.push(append("z", 1));
        } else {
            ops.push(read(&format!("k{}", link - 1), &[link - 1]));
        }
        ops.push(append(&format!("k{link}"), link));
        history.committed(ops);
    }
    history.committed(vec![read("z", &[1])]);
    let result = check_transactions(&history);
    let anomaly = assert_one(
        &result,
        AnomalyKind::GSingle,
        &(1..=CHAIN + 1).collect::<Vec<_>>(),
    );
    assert_eq!(anomaly.cycle.len() as u64, CHAIN + 1);
    assert_eq!(anomaly.cycle[0].from, reader);
    assert_eq!(anomaly.cycle[0].kind, DependencyKind::ReadWrite);
    assert_eq!(result.kinds(), vec![AnomalyKind::GSingle]);
}

/// The report prints the cycle, each transaction's steps, and why each edge exists.
#[test]
fn report_shows_cycle_ops_and_reasons() {
    let mut history = History::new();
    history.committed(vec![append("x", 1), append("y", 2)]);
    history.committed(vec![read("x", &[]), read("y", &[2])]);
    history.committed(vec![read("x", &[1])]);
    let text = check_transactions(&history).to_string();
    println!("{text}");
    for expected in [
        "G-single (read skew): T2 -rw(x)-> T1 -wr(y)-> T2",
        "T1 committed:  append(x, 1)  append(y, 2)",
        "T2 committed:  read(x) = []  read(y) = [2]",
        "T2 -rw(x)-> T1: T2 read x empty; T1 appended 1, its first element",
        "T1 -wr(y)-> T2: T2 read y ending in 2, which T1 appended",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

// ---------------------------------------------------------------------------
// Hand-made clean histories

/// Transactions run one after another, reading and appending, are accepted.
#[test]
fn serial_history_is_clean() {
    let mut history = History::new();
    history.committed(vec![append("x", 1), read("y", &[])]);
    history.committed(vec![read("x", &[1]), append("y", 1)]);
    history.committed(vec![read("x", &[1]), read("y", &[1]), append("x", 2)]);
    history.committed(vec![read("x", &[1, 2])]);
    let result = assert_clean(&history);
    assert!(result.stats.write_write > 0 && result.stats.write_read > 0);
    assert!(result.stats.read_write > 0);
}

/// Write skew (a cycle of two rw edges, G2) is allowed under snapshot isolation.
#[test]
fn write_skew_is_allowed() {
    let mut history = History::new();
    history.committed(vec![read("x", &[]), read("y", &[]), append("x", 1)]);
    history.committed(vec![read("x", &[]), read("y", &[]), append("y", 2)]);
    history.committed(vec![read("x", &[1]), read("y", &[2])]);
    let result = assert_clean(&history);
    assert_eq!(result.stats.read_write, 2, "{result}");
}

/// Reading one's own appends, before and after other transactions' appends, is accepted.
#[test]
fn reading_own_appends_is_clean() {
    let mut history = History::new();
    history.committed(vec![append("x", 1), read("x", &[1])]);
    history.committed(vec![read("x", &[1]), append("x", 2), read("x", &[1, 2])]);
    history.committed(vec![
        append("x", 3),
        append("x", 4),
        read("x", &[1, 2, 3, 4]),
    ]);
    assert_clean(&history);
}

/// A transaction of unknown outcome whose append was read counts as committed.
#[test]
fn seen_unknown_txn_is_clean() {
    let mut history = History::new();
    history.unknown(vec![append("x", 1)]);
    history.committed(vec![read("x", &[1]), append("x", 2)]);
    history.committed(vec![read("x", &[1, 2])]);
    let result = assert_clean(&history);
    assert_eq!(result.stats.graph_txns, 3);
}

/// A transaction of unknown outcome nobody saw is left out, reads and all.
#[test]
fn unseen_unknown_txn_is_ignored() {
    let mut history = History::new();
    // Had it committed, its read of y would be garbage and it would form a
    // cycle; nothing shows it did.
    history.unknown(vec![append("x", 1), read("y", &[7])]);
    history.committed(vec![read("x", &[]), append("y", 2)]);
    history.committed(vec![read("y", &[2])]);
    let result = assert_clean(&history);
    assert_eq!(result.stats.graph_txns, 2);
}

/// An aborted transaction's reads are ignored and its unseen appends are fine.
#[test]
fn aborted_txn_unseen_is_clean() {
    let mut history = History::new();
    history.committed(vec![append("x", 1)]);
    history.aborted(vec![read("x", &[1, 42]), append("x", 2)]);
    history.committed(vec![read("x", &[1]), append("x", 3)]);
    history.committed(vec![read("x", &[1, 3])]);
    assert_clean(&history);
}

/// A read whose answer never arrived is skipped.
#[test]
fn unobserved_read_is_skipped() {
    let mut history = History::new();
    history.committed(vec![append("x", 1), MicroOp::unobserved_read("y")]);
    history.committed(vec![read("x", &[1])]);
    assert_clean(&history);
}

// ---------------------------------------------------------------------------
// The recorder

/// Concurrent clients get unique ids; finished txns keep their status, dropped ones are unknown.
#[test]
fn recorder_keeps_concurrent_txns() {
    const CLIENTS: u64 = 4;
    const PER_CLIENT: u64 = 50;
    let recorder = HistoryRecorder::new();
    thread::scope(|scope| {
        for client in 0..CLIENTS {
            let recorder = recorder.clone();
            scope.spawn(move || {
                for index in 0..PER_CLIENT {
                    let txn = recorder.begin();
                    let key = format!("c{client}");
                    txn.append(key.clone(), index);
                    txn.read(key, Some((0..=index).collect()));
                    match index % 3 {
                        0 => txn.finish(TxnStatus::Committed),
                        1 => txn.finish(TxnStatus::Aborted),
                        _ => drop(txn),
                    }
                }
            });
        }
    });
    let history = recorder.history();
    assert_eq!(history.len() as u64, CLIENTS * PER_CLIENT);
    let ids: Vec<TxnId> = history.txns().iter().map(|txn| txn.id).collect();
    assert_eq!(ids, (1..=CLIENTS * PER_CLIENT).collect::<Vec<_>>());
    for txn in history.txns() {
        let MicroOp::Append { value, .. } = txn.ops[0] else {
            panic!("first op of {txn} is not the append");
        };
        let expected = match value % 3 {
            0 => TxnStatus::Committed,
            1 => TxnStatus::Aborted,
            _ => TxnStatus::Unknown,
        };
        assert_eq!(txn.status, expected, "{txn}");
        assert_eq!(txn.ops.len(), 2);
    }
}

// ---------------------------------------------------------------------------
// Random histories from a snapshot-isolation simulator

/// When the simulated transactions take their reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadsAt {
    /// From the snapshot at the transaction's start: snapshot isolation.
    Start,
    /// Each read from the latest commits at a random moment before the
    /// transaction commits: read committed, which allows read skew.
    AnyMoment,
}

/// What to simulate.
#[derive(Debug, Clone, Copy)]
struct Simulation {
    txns: usize,
    /// Transactions open at once; 1 gives a serial history.
    concurrency: usize,
    keys: usize,
    reads_at: ReadsAt,
}

/// A transaction being simulated: when it started, and its steps (reads
/// get their lists when it ends).
struct OpenTxn {
    start: u64,
    plan: Vec<MicroOp>,
}

/// Runs transactions against a multi-version list store with
/// first-committer-wins: a transaction that appends to a key someone else
/// committed to since it started aborts. About 3% of the transactions roll
/// back on their own and 5% end with an unknown outcome (applied or not, at
/// random), as a client that timed out would see.
fn simulate(rng: &mut StdRng, simulation: Simulation) -> History {
    // Per key, the committed elements with their commit times, in order.
    let mut committed: Vec<Vec<(u64, u64)>> = vec![Vec::new(); simulation.keys];
    let mut open: Vec<OpenTxn> = Vec::new();
    let mut history = History::new();
    let (mut clock, mut started, mut next_value) = (0u64, 0usize, 1u64);
    while history.len() < simulation.txns {
        clock += 1;
        let may_start = open.len() < simulation.concurrency && started < simulation.txns;
        if may_start && (open.is_empty() || rng.gen_bool(0.5)) {
            let mut plan = Vec::new();
            for _ in 0..rng.gen_range(1..=4) {
                let key = format!("k{}", rng.gen_range(0..simulation.keys));
                if rng.gen_bool(0.5) {
                    plan.push(MicroOp::unobserved_read(key));
                } else {
                    plan.push(append(&key, next_value));
                    next_value += 1;
                }
            }
            open.push(OpenTxn { start: clock, plan });
            started += 1;
            continue;
        }
        let txn = open.swap_remove(rng.gen_range(0..open.len()));
        let commit = clock;
        let key_index = |key: &str| key[1..].parse::<usize>().expect("keys are k<number>");
        let mut ops = Vec::new();
        let mut own: Vec<Vec<u64>> = vec![Vec::new(); simulation.keys];
        let mut conflict = false;
        for op in txn.plan {
            match op {
                MicroOp::Read { key, .. } => {
                    let at = match simulation.reads_at {
                        ReadsAt::Start => txn.start,
                        ReadsAt::AnyMoment => rng.gen_range(txn.start..commit),
                    };
                    let index = key_index(&key);
                    let mut list: Vec<u64> = committed[index]
                        .iter()
                        .take_while(|(time, _)| *time < at)
                        .map(|&(_, value)| value)
                        .collect();
                    list.extend(&own[index]);
                    ops.push(MicroOp::Read {
                        key,
                        list: Some(list),
                    });
                }
                MicroOp::Append { key, value } => {
                    let index = key_index(&key);
                    own[index].push(value);
                    conflict |= committed[index]
                        .last()
                        .is_some_and(|&(time, _)| time > txn.start);
                    ops.push(MicroOp::Append { key, value });
                }
            }
        }
        let (status, applied) = if conflict || rng.gen_bool(0.03) {
            (TxnStatus::Aborted, false)
        } else if rng.gen_bool(0.05) {
            (TxnStatus::Unknown, rng.gen_bool(0.5))
        } else {
            (TxnStatus::Committed, true)
        };
        if applied {
            for (index, values) in own.iter().enumerate() {
                committed[index].extend(values.iter().map(|&value| (commit, value)));
            }
        }
        history.add(status, ops);
    }
    history
}

/// Checks `runs` histories simulated one after another from one seed.
fn check_simulated_runs(seed: u64, runs: usize, simulation: Simulation) -> Vec<CheckResult> {
    let mut rng = StdRng::seed_from_u64(test_seed_or(seed));
    (0..runs)
        .map(|_| check_transactions(&simulate(&mut rng, simulation)))
        .collect()
}

/// Random serial executions (with aborts and unknown outcomes) are accepted.
#[test]
fn random_serial_histories_are_clean() {
    let serial = Simulation {
        txns: 200,
        concurrency: 1,
        keys: 4,
        reads_at: ReadsAt::Start,
    };
    for result in check_simulated_runs(0x11e1, 50, serial) {
        assert!(result.is_ok(), "{result}");
        assert!(result.stats.write_read > 0 && result.stats.read_write > 0);
    }
}

/// Random snapshot-isolated executions, write skew included, are accepted.
#[test]
fn random_snapshot_isolated_histories_are_clean() {
    let snapshot_isolated = Simulation {
        txns: 300,
        concurrency: 6,
        keys: 5,
        reads_at: ReadsAt::Start,
    };
    let mut read_writes = 0;
    for result in check_simulated_runs(0x11e2, 50, snapshot_isolated) {
        assert!(result.is_ok(), "{result}");
        read_writes += result.stats.read_write;
    }
    assert!(read_writes > 0);
}

/// Reads from different moments within a transaction (read committed) give read skew, found as G-single only.
#[test]
fn read_committed_histories_show_read_skew() {
    let read_committed = Simulation {
        txns: 300,
        concurrency: 6,
        keys: 5,
        reads_at: ReadsAt::AnyMoment,
    };
    let mut read_skews = 0;
    for result in check_simulated_runs(0x11e3, 20, read_committed) {
        let only_read_skew = result
            .kinds()
            .iter()
            .all(|&kind| kind == AnomalyKind::GSingle);
        assert!(only_read_skew, "{result}");
        read_skews += result.anomalies.len();
    }
    assert!(read_skews > 0, "no read skew in 20 read-committed runs");
}

/// Checks a simulated history of 10,000 transactions over 20 keys, prints
/// how long the check took (timing is not asserted: the machine is shared)
/// and asserts it is clean.
fn check_ten_thousand_txns(seed: u64, concurrency: usize) {
    let ten_thousand = Simulation {
        txns: 10_000,
        concurrency,
        keys: 20,
        reads_at: ReadsAt::Start,
    };
    let mut rng = StdRng::seed_from_u64(test_seed_or(seed));
    let history = simulate(&mut rng, ten_thousand);
    let started = Instant::now();
    let result = check_transactions(&history);
    println!("checked in {:?}: {result}", started.elapsed());
    assert!(result.is_ok(), "{result}");
}

/// A serial history of 10,000 transactions is accepted (the time is printed, not asserted).
#[test]
fn serial_history_of_ten_thousand_txns_is_clean() {
    check_ten_thousand_txns(0x11e4, 1);
}

/// A snapshot-isolated history of 10,000 transactions, ten at a time, is accepted.
#[test]
fn snapshot_isolated_history_of_ten_thousand_txns_is_clean() {
    check_ten_thousand_txns(0x11e5, 10);
}

/// The chunked reachability of the G-single search agrees with a plain search on a DAG of 9000 nodes.
#[test]
fn reachability_agrees_with_plain_search() {
    const NODES: usize = 9000;
    let mut rng = StdRng::seed_from_u64(test_seed_or(0x11e6));
    // Edges only from higher to lower numbers, as the search requires.
    let successors: Vec<Vec<usize>> = (0..NODES)
        .map(|node| {
            if node == 0 {
                return Vec::new();
            }
            (0..rng.gen_range(1..=3))
                .map(|_| node - rng.gen_range(1..=node.min(20)))
                .collect()
        })
        .collect();
    let questions: Vec<Option<(usize, usize)>> = (0..300)
        .map(|_| {
            let source = rng.gen_range(0..NODES);
            Some((source, source.saturating_sub(rng.gen_range(0..300))))
        })
        .chain([None])
        .collect();
    let mut answers = vec![false; questions.len()];
    answer_reachability(&successors, &questions, &mut answers);

    let reaches = |source: usize, target: usize| {
        let mut seen = vec![false; NODES];
        let mut stack = vec![source];
        while let Some(node) = stack.pop() {
            if node == target {
                return true;
            }
            for &next in &successors[node] {
                if !std::mem::replace(&mut seen[next], true) {
                    stack.push(next);
                }
            }
        }
        false
    };
    let mut reachable = 0;
    for (question, answer) in questions.iter().zip(&answers) {
        let expected = question.is_some_and(|(source, target)| reaches(source, target));
        assert_eq!(*answer, expected, "{question:?}");
        reachable += usize::from(expected);
    }
    println!("{reachable} of {} reachable", questions.len());
    assert!(reachable > 10 && reachable < questions.len() - 10);
}

/// A ring of wr chains joined by rw edges: one component of every
/// transaction, full of cycles with many rw edges (allowed) and, when
/// `read_skew` is set, one cycle with a single rw edge inside chain 0: its
/// last transaction reads `g` empty, its first appends to `g`.
fn ring_of_chains(chains: usize, length: usize, read_skew: bool) -> History {
    let mut history = History::new();
    for chain in 0..chains {
        for link in 0..length {
            let mut ops = vec![append(&format!("n{chain}.{link}"), 1)];
            if link == 0 {
                // Every member of the previous chain read h{chain} empty.
                ops.push(append(&format!("h{chain}"), 1));
            } else {
                ops.push(read(&format!("n{chain}.{}", link - 1), &[1]));
            }
            ops.push(read(&format!("h{}", (chain + 1) % chains), &[]));
            if read_skew && chain == 0 && link == 0 {
                ops.push(append("g", 1));
            }
            if read_skew && chain == 0 && link == length - 1 {
                ops.push(read("g", &[]));
            }
            history.committed(ops);
        }
    }
    for chain in 0..chains {
        history.committed(vec![read(&format!("h{chain}"), &[1])]);
    }
    if read_skew {
        history.committed(vec![read("g", &[1])]);
    }
    history
}

/// A 10,000-transaction component whose every cycle has many rw edges is accepted; one read skew inside it is found.
#[test]
fn large_component_of_write_skews_is_searched_fast() {
    let (chains, length) = (100, 100);
    let history = ring_of_chains(chains, length, false);
    let started = Instant::now();
    let result = check_transactions(&history);
    println!("checked in {:?}: {result}", started.elapsed());
    assert!(result.is_ok(), "{result}");
    assert_eq!(result.stats.read_write, chains * length);

    let result = check_transactions(&ring_of_chains(chains, length, true));
    let expected: Vec<TxnId> = (1..=length as TxnId).collect();
    let anomaly = assert_one(&result, AnomalyKind::GSingle, &expected);
    assert_eq!(anomaly.cycle[0].from, length as TxnId);
    assert_eq!(result.kinds(), vec![AnomalyKind::GSingle]);
}
