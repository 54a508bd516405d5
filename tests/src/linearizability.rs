//! Linearizability checker for the histories that the cluster tests record.
//!
//! The cluster tests run several concurrent clients against the key-value store
//! while the network drops messages, partitions come and go and stores crash.
//! Every client operation is recorded in a [`History`]: when the client sent it
//! (its *call*), when the answer came back (its *return*) and what the answer was.
//! At the end of a test, [`check_history`] decides whether the store behaved like
//! a single, correct copy of the data.
//!
//! # What linearizability is
//!
//! A history is *linearizable* if we can give every operation a single instant,
//! its *linearization point*, somewhere between its call and its return, such
//! that executing the operations one at a time in the order of those points on a
//! plain sequential map gives exactly the results the clients saw. Two rules
//! follow from this:
//!
//! * operations whose intervals overlap may take effect in either order;
//! * if one operation returned before another was called, the first one must
//!   take effect first (real time is respected, so no stale reads).
//!
//! A tiny example, with time going to the right:
//!
//! ```text
//! client 1: |--- Put(x, "1") -> ok ---|
//! client 2:          |----- Get(x) -> "1" -----|
//! client 3:                                        |-- Get(x) -> not found --|
//! ```
//!
//! Client 2's Get overlaps the Put, so it may see the old or the new value:
//! seeing `"1"` is fine. Client 3's Get starts after the Put returned, so it must
//! see `"1"`: "not found" is a stale read, and no order of linearization points
//! explains it, so this history is *not* linearizable.
//!
//! Some operations have an unknown outcome: the client timed out or got an error
//! that does not say whether the write happened. Such a write may take effect at
//! any moment after its call, even long after the client gave up, or never. A Get
//! with an unknown outcome tells us nothing and is dropped.
//!
//! # How the search works
//!
//! The checker uses the algorithm of Wing and Gong, with the memoization that
//! Lowe added (the same design as Knossos and porcupine). Operations on different
//! keys never affect each other in this model, so the history is split per key and
//! each key is checked on its own: many small searches instead of one huge one.
//!
//! For one key, every operation becomes a *call* event and, if it completed, a
//! *return* event. The events are kept sorted by time in a doubly linked list.
//! The search walks the list from its start:
//!
//! * At a call, it tries to make that operation the next one to take effect: it
//!   applies it to the model (the value of the key). If the model accepts it (a
//!   Get must see the current value), the operation's call and return events are
//!   unlinked from the list, the choice is pushed on a stack, and the walk starts
//!   again from the head of the shortened list.
//! * At a return, the operation that returns there has not been linearized yet,
//!   and every operation that is still in the list after this point was called
//!   after it returned, so nothing further can be tried: the last choice was
//!   wrong. The search pops it, puts its events back into the list, restores the
//!   previous value, and continues with the next call after the popped one.
//! * When every completed operation has been linearized, the history is
//!   linearizable: writes with unknown outcome that are still left are the ones
//!   that never took effect. When the stack is empty and the walk hits a return,
//!   every possibility has been tried and the history is not linearizable.
//!
//! Without memoization this search is exponential: with a few clients
//! overlapping, the same situation is reached through many different orders.
//! Lowe's observation is that what matters for the rest of the search is only
//! *which* operations have been linearized (a bit set) and *what* the model state
//! is, not the order in which we got there. The search remembers every
//! (bit set, state) pair it has entered in a hash set and never enters one twice.
//! A pair seen before was either explored completely and failed, or is an
//! ancestor of the current position (impossible, since the bit set only grows
//! along a path), so skipping it loses nothing and cuts the search down from
//! "all orders" to "all distinct situations", which is small for real histories.
//!
//! Three refinements keep the search small (each is argued where it is coded):
//!
//! * Reads are tried before writes, and a read that fits the current value is
//!   never second-guessed: it changes nothing, so it can always go first.
//! * A write with unknown outcome whose value no read ever saw is taken as never
//!   applied. Left in, it could be placed anywhere after its call, and the search
//!   would try every place before it could call a history illegal.
//! * The search stops with [`CheckResult::Unknown`] when the timeout expires or
//!   its memo outgrows a memory limit (hundreds of megabytes): a few clients
//!   hammering a single key with appends can make the distinct situations
//!   explode, and then the test should spread its load over more keys.
//!
//! # How tests use it
//!
//! ```text
//! let history = History::new();
//! // in each client thread, for every request:
//! let pending = history.call(client_id, KvInput::Put { key, value });
//! // ... send the request and wait for the reply ...
//! pending.finish(KvOutput::Done); // or Value(..) for a Get, Unknown on timeout
//! // after the clients stopped:
//! let result = check_history(&history, Duration::from_secs(10));
//! assert!(result.is_ok(), "{result}");
//! ```
//!
//! [`CheckResult::Illegal`] names the offending key and prints its history,
//! sorted by call time, together with the longest prefix that could be
//! linearized, which is usually close to the operation that went wrong.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use log::{debug, warn};

/// The return time of an operation whose outcome is unknown: it never returned.
pub const NEVER_RETURNED: u64 = u64::MAX;

/// How many search steps run between two looks at the clock and at the memory
/// the search uses.
const STEPS_BETWEEN_LIMIT_CHECKS: u64 = 1024;

/// The most memory the search for one key may use, roughly. A history too
/// concurrent to check within it gets an Unknown verdict instead of exhausting
/// the machine (a search can grow by hundreds of megabytes per second).
const MAX_SEARCH_MEMORY_BYTES: usize = 512 * 1024 * 1024;

/// A client request to the key-value store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvInput {
    /// Read the value of `key`.
    Get { key: Vec<u8> },
    /// Replace the value of `key` with `value`.
    Put { key: Vec<u8>, value: Vec<u8> },
    /// Append `value` to the value of `key`; a missing key counts as empty.
    Append { key: Vec<u8>, value: Vec<u8> },
    /// Remove `key`.
    Delete { key: Vec<u8> },
}

impl KvInput {
    /// The key this request reads or writes.
    pub fn key(&self) -> &[u8] {
        match self {
            KvInput::Get { key }
            | KvInput::Put { key, .. }
            | KvInput::Append { key, .. }
            | KvInput::Delete { key } => key,
        }
    }

    /// Whether this request changes the store.
    fn is_write(&self) -> bool {
        !matches!(self, KvInput::Get { .. })
    }
}

/// What the client learned from the store's reply.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvOutput {
    /// The result of a Get; `None` means the key was not found.
    Value(Option<Vec<u8>>),
    /// A write was acknowledged: it took effect.
    Done,
    /// The client timed out or got an error that does not say whether the
    /// request took effect.
    Unknown,
}

/// One recorded client operation. Times are nanoseconds since the history started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// The client that issued the operation; a client issues one at a time.
    pub client_id: u64,
    /// The request.
    pub input: KvInput,
    /// What the client learned.
    pub output: KvOutput,
    /// When the client sent the request.
    pub call: u64,
    /// When the client got the reply; [`NEVER_RETURNED`] if the output is
    /// [`KvOutput::Unknown`].
    pub return_time: u64,
}

impl Operation {
    /// Whether the client never learned if this operation took effect.
    pub fn has_unknown_outcome(&self) -> bool {
        self.output == KvOutput::Unknown
    }
}

/// A thread-safe recorder of client operations. Clones share the same record.
#[derive(Clone)]
pub struct History {
    shared: Arc<SharedHistory>,
}

struct SharedHistory {
    /// Time zero of the history: one clock for all clients, so times compare.
    start: Instant,
    /// Every operation called so far, in call order.
    operations: Mutex<Vec<Operation>>,
}

impl History {
    /// Starts an empty history; its clock starts now.
    pub fn new() -> History {
        History {
            shared: Arc::new(SharedHistory {
                start: Instant::now(),
                operations: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Records that `client_id` is about to send `input`. Call this before the
    /// request leaves the client, and [`PendingOperation::finish`] after the reply
    /// arrived: the recorded interval must contain the moment the store acted.
    pub fn call(&self, client_id: u64, input: KvInput) -> PendingOperation {
        let call = self.now();
        let mut operations = self.lock_operations();
        operations.push(Operation {
            client_id,
            input,
            output: KvOutput::Unknown,
            call,
            return_time: NEVER_RETURNED,
        });
        PendingOperation {
            history: self.clone(),
            index: operations.len() - 1,
        }
    }

    /// A copy of every operation recorded so far, in call order. Operations
    /// still pending are included with an unknown outcome.
    pub fn operations(&self) -> Vec<Operation> {
        self.lock_operations().clone()
    }

    /// Nanoseconds since the history started, kept below [`NEVER_RETURNED`].
    fn now(&self) -> u64 {
        let elapsed = self.shared.start.elapsed().as_nanos();
        u64::try_from(elapsed)
            .unwrap_or(NEVER_RETURNED - 1)
            .min(NEVER_RETURNED - 1)
    }

    fn lock_operations(&self) -> MutexGuard<'_, Vec<Operation>> {
        // The lock is only poisoned if a thread panicked while holding it. Every
        // critical section here is a single push or field update, so the list is
        // consistent even then, and a test should still be able to check it.
        self.shared
            .operations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for History {
    /// Only the size: a full history is thousands of lines.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("History")
            .field("operations", &self.lock_operations().len())
            .finish()
    }
}

impl Default for History {
    fn default() -> History {
        History::new()
    }
}

/// An operation that has been called and not finished yet. Dropping it without
/// calling [`PendingOperation::finish`] leaves its outcome unknown, which is the
/// truth for a client that gave up on the request.
#[derive(Debug)]
#[must_use = "finish the operation with the reply's output, or its outcome stays unknown"]
pub struct PendingOperation {
    history: History,
    /// Position of the operation in the history's list.
    index: usize,
}

impl PendingOperation {
    /// Records the reply. Call it after the reply arrived. An `Unknown` output
    /// keeps the operation without a return time.
    pub fn finish(self, output: KvOutput) {
        let return_time = if output == KvOutput::Unknown {
            NEVER_RETURNED
        } else {
            self.history.now()
        };
        let mut operations = self.history.lock_operations();
        // `index` came from the push in `History::call`, and operations are never
        // removed, so it is always in bounds; `get_mut` keeps that off the panic path.
        if let Some(operation) = operations.get_mut(self.index) {
            operation.output = output;
            operation.return_time = return_time;
        }
    }
}

/// The verdict of the checker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckResult {
    /// The history is linearizable.
    Ok,
    /// No linearization exists for the operations on `key`.
    Illegal {
        /// The first key (in byte order) whose history is not linearizable.
        key: Vec<u8>,
        /// That key's history and the longest linearizable prefix found.
        explanation: String,
    },
    /// The checker could not decide, for example because it ran out of time.
    Unknown {
        /// Why the checker could not decide.
        reason: String,
    },
}

impl CheckResult {
    /// Whether the history passed; `Unknown` is never a pass.
    pub fn is_ok(&self) -> bool {
        matches!(self, CheckResult::Ok)
    }
}

impl fmt::Display for CheckResult {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckResult::Ok => write!(formatter, "history is linearizable"),
            CheckResult::Illegal { key, explanation } => write!(
                formatter,
                "history is not linearizable on key {}\n{explanation}",
                format_bytes(key)
            ),
            CheckResult::Unknown { reason } => {
                write!(formatter, "linearizability unknown: {reason}")
            }
        }
    }
}

/// Checks the operations recorded in `history`; see [`check_operations`].
pub fn check_history(history: &History, timeout: Duration) -> CheckResult {
    check_operations(&history.operations(), timeout)
}

/// Checks whether `operations` are linearizable for a key-value store, spending
/// at most about `timeout`. Returns [`CheckResult::Unknown`] if time runs out
/// (even a zero timeout is never a pass) or if the history is malformed.
pub fn check_operations(operations: &[Operation], timeout: Duration) -> CheckResult {
    let started = Instant::now();
    // A timeout too large to represent means "no deadline".
    let deadline = started.checked_add(timeout);

    for (index, operation) in operations.iter().enumerate() {
        if let Err(problem) = validate(operation) {
            return CheckResult::Unknown {
                reason: format!("malformed history: operation {index} ({operation:?}) {problem}"),
            };
        }
    }

    let partitions = partition_by_key(operations);
    let key_count = partitions.len();
    // Keys the checker could not decide, with the reason for the first one.
    let mut undecided_keys = 0;
    let mut first_undecided = None;
    for (key, key_operations) in &partitions {
        let why_undecided = match check_key(key_operations, deadline, MAX_SEARCH_MEMORY_BYTES) {
            SearchOutcome::Linearizable => continue,
            SearchOutcome::Illegal { longest_prefix } => {
                warn!(
                    "linearizability: key {} is not linearizable ({} operations)",
                    format_bytes(key),
                    key_operations.len()
                );
                return CheckResult::Illegal {
                    key: key.clone(),
                    explanation: explain(key, key_operations, &longest_prefix),
                };
            }
            SearchOutcome::TimedOut => format!("the timeout of {timeout:?} expired"),
            SearchOutcome::TooLarge { configurations } => format!(
                "the search outgrew its memory limit after {configurations} configurations \
                 (too many concurrent operations on one key: spread the load over more keys)"
            ),
        };
        // Keep going: a later key may still be proven illegal (a timed-out
        // deadline stops the others at once), and that verdict is worth more.
        undecided_keys += 1;
        if first_undecided.is_none() {
            first_undecided = Some(format!(
                "key {} ({} operations): {why_undecided}",
                format_bytes(key),
                key_operations.len()
            ));
        }
    }

    if let Some(first) = first_undecided {
        let reason = format!(
            "{undecided_keys} of {key_count} keys not decided after {:?}; first {first}",
            started.elapsed()
        );
        warn!("linearizability: {reason}");
        return CheckResult::Unknown { reason };
    }
    debug!(
        "linearizability: {} operations on {key_count} keys checked in {:?}",
        operations.len(),
        started.elapsed()
    );
    CheckResult::Ok
}

/// Rejects operations the recorder could not have produced, so a bug in a test
/// client is reported as such instead of as a store bug.
fn validate(operation: &Operation) -> Result<(), &'static str> {
    match (&operation.input, &operation.output) {
        (_, KvOutput::Unknown) => Ok(()),
        (KvInput::Get { .. }, KvOutput::Done) => Err("is a Get whose output is Done"),
        (KvInput::Get { .. }, KvOutput::Value(_)) | (_, KvOutput::Done) => {
            if operation.return_time < operation.call {
                Err("returns before it is called")
            } else if operation.return_time == NEVER_RETURNED {
                Err("has a known output but no return time")
            } else {
                Ok(())
            }
        }
        (_, KvOutput::Value(_)) => Err("is a write whose output is a value"),
    }
}

/// Splits the history per key, sorted by call time, dropping Gets with an unknown
/// output: they constrain nothing.
fn partition_by_key(operations: &[Operation]) -> BTreeMap<Vec<u8>, Vec<Operation>> {
    let mut partitions: BTreeMap<Vec<u8>, Vec<Operation>> = BTreeMap::new();
    for operation in operations {
        if !operation.input.is_write() && operation.has_unknown_outcome() {
            continue;
        }
        partitions
            .entry(operation.input.key().to_vec())
            .or_default()
            .push(operation.clone());
    }
    for key_operations in partitions.values_mut() {
        // Stable, so equal call times keep the recording order.
        key_operations.sort_by_key(|operation| operation.call);
    }
    partitions
}

/// Checks the operations on one key, sorted by call time. The longest prefix of
/// an illegal outcome indexes `operations`.
fn check_key(
    operations: &[Operation],
    deadline: Option<Instant>,
    memory_limit: usize,
) -> SearchOutcome {
    let unseen = unseen_unknown_writes(operations);
    let positions: Vec<usize> = (0..operations.len())
        .filter(|&position| !unseen[position])
        .collect();
    let searched: Vec<Operation> = positions
        .iter()
        .map(|&position| operations[position].clone())
        .collect();
    match KeySearch::new(&searched).run(deadline, memory_limit) {
        SearchOutcome::Illegal { longest_prefix } => SearchOutcome::Illegal {
            longest_prefix: longest_prefix
                .into_iter()
                .map(|index| positions[index])
                .collect(),
        },
        outcome => outcome,
    }
}

/// Marks the writes with unknown outcome that no read can have seen. The search
/// leaves them out, as if they never took effect.
///
/// Why that is safe: once a Put(v) takes effect, the value starts with v until
/// the next Put or Delete; once an Append(s) takes effect, the value contains s
/// until then. If no Get returned such a value, no read sits in that stretch of
/// any linearization, so removing the write changes no result: the history is
/// linearizable with the write exactly when it is without it.
///
/// Why it matters: a write with unknown outcome may be placed anywhere after its
/// call, so each one left in multiplies the configurations the search must
/// visit before it can call a history illegal. Most such writes in a test never
/// took effect, carry a unique value, and are removed here.
fn unseen_unknown_writes(operations: &[Operation]) -> Vec<bool> {
    let seen_values: Vec<&[u8]> = operations
        .iter()
        .filter_map(|operation| match &operation.output {
            KvOutput::Value(Some(value)) => Some(value.as_slice()),
            _ => None,
        })
        .collect();
    operations
        .iter()
        .map(|operation| {
            operation.has_unknown_outcome()
                && match &operation.input {
                    KvInput::Put { value, .. } => {
                        !seen_values.iter().any(|seen| seen.starts_with(value))
                    }
                    KvInput::Append { value, .. } => {
                        !seen_values.iter().any(|seen| contains_bytes(seen, value))
                    }
                    KvInput::Get { .. } | KvInput::Delete { .. } => false,
                }
        })
        .collect()
}

/// Whether `needle` occurs in `haystack`; the empty needle occurs everywhere.
fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

/// The model: the value of one key, `None` when the key does not exist.
type Value = Option<Vec<u8>>;

/// Applies `operation` to `value`, or returns `None` if the operation's output
/// contradicts it (a Get that saw something else).
fn apply(value: &Value, operation: &Operation) -> Option<Value> {
    match &operation.input {
        KvInput::Get { .. } => match &operation.output {
            KvOutput::Value(seen) if seen == value => Some(value.clone()),
            _ => None,
        },
        KvInput::Put { value: new, .. } => Some(Some(new.clone())),
        KvInput::Append { value: suffix, .. } => {
            let mut appended = value.clone().unwrap_or_default();
            appended.extend_from_slice(suffix);
            Some(Some(appended))
        }
        KvInput::Delete { .. } => Some(None),
    }
}

/// How the search stores a model value: by the write that produced it, so a new
/// value costs a few words instead of a copy of a byte string that appends keep
/// making longer.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum ValueNode {
    /// The key does not exist.
    Missing,
    /// The bytes of a Put: a fragment id (see [`ModelStates`]).
    Put { fragment: usize },
    /// Fragment `suffix` appended to the value with id `parent`.
    Append { parent: usize, suffix: usize },
}

/// The model values the search has reached, each named by a small id that the
/// memo stores. Same rules as [`apply`], without copying values.
///
/// Equal ids mean equal values. Equal values normally get equal ids too; the
/// exception, the same bytes reached through different writes (Put "ab" versus
/// Append "a" then Append "b"), only costs the memo a missed merge, never a
/// wrong answer, because reads compare real bytes.
struct ModelStates {
    nodes: Vec<ValueNode>,
    /// Length in bytes of each value (0 for a missing key).
    lengths: Vec<usize>,
    ids: HashMap<ValueNode, usize, BuildHasherDefault<SearchHasher>>,
    /// Every distinct byte string written by a Put or an Append, once.
    fragments: Vec<Vec<u8>>,
    /// For each operation, the fragment it writes (unused for Gets and Deletes).
    written_fragment: Vec<usize>,
}

impl ModelStates {
    /// The id of the initial value: the key does not exist.
    const MISSING: usize = 0;

    fn new(operations: &[Operation]) -> ModelStates {
        let mut fragments = Vec::new();
        let mut fragment_ids: HashMap<&[u8], usize> = HashMap::new();
        let written_fragment = operations
            .iter()
            .map(|operation| match &operation.input {
                KvInput::Put { value, .. } | KvInput::Append { value, .. } => {
                    *fragment_ids.entry(value.as_slice()).or_insert_with(|| {
                        fragments.push(value.clone());
                        fragments.len() - 1
                    })
                }
                KvInput::Get { .. } | KvInput::Delete { .. } => 0,
            })
            .collect();
        let mut states = ModelStates {
            nodes: Vec::new(),
            lengths: Vec::new(),
            ids: HashMap::default(),
            fragments,
            written_fragment,
        };
        states.intern(ValueNode::Missing);
        states
    }

    fn intern(&mut self, node: ValueNode) -> usize {
        if let Some(&id) = self.ids.get(&node) {
            return id;
        }
        let length = match node {
            ValueNode::Missing => 0,
            ValueNode::Put { fragment } => self.fragments[fragment].len(),
            ValueNode::Append { parent, suffix } => {
                self.lengths[parent] + self.fragments[suffix].len()
            }
        };
        self.nodes.push(node);
        self.lengths.push(length);
        self.ids.insert(node, self.nodes.len() - 1);
        self.nodes.len() - 1
    }

    /// The value id after `operations[operation]` runs on value id `value`, or
    /// `None` if the operation's output contradicts the value.
    fn step(&mut self, value: usize, operations: &[Operation], operation: usize) -> Option<usize> {
        let fragment = self.written_fragment[operation];
        match (&operations[operation].input, &operations[operation].output) {
            // A Get never changes the value; it only has to have seen it.
            (KvInput::Get { .. }, KvOutput::Value(seen)) => {
                self.equals(value, seen.as_deref()).then_some(value)
            }
            (KvInput::Get { .. }, _) => None,
            (KvInput::Put { .. }, _) => Some(self.intern(ValueNode::Put { fragment })),
            (KvInput::Append { .. }, _) => Some(self.intern(ValueNode::Append {
                parent: value,
                suffix: fragment,
            })),
            (KvInput::Delete { .. }, _) => Some(ModelStates::MISSING),
        }
    }

    /// Whether value id `value` holds `seen` (`None`: the key is missing),
    /// comparing the appended fragments from the end of `seen` backwards.
    fn equals(&self, value: usize, seen: Option<&[u8]>) -> bool {
        let Some(seen) = seen else {
            return self.nodes[value] == ValueNode::Missing;
        };
        if self.nodes[value] == ValueNode::Missing || self.lengths[value] != seen.len() {
            return false;
        }
        let mut rest = seen;
        let mut node = self.nodes[value];
        loop {
            match node {
                // An append to a missing key starts from the empty value.
                ValueNode::Missing => return rest.is_empty(),
                ValueNode::Put { fragment } => return rest == self.fragments[fragment],
                ValueNode::Append { parent, suffix } => {
                    match rest.strip_suffix(self.fragments[suffix].as_slice()) {
                        Some(prefix) => rest = prefix,
                        None => return false,
                    }
                    node = self.nodes[parent];
                }
            }
        }
    }
}

/// Which operations of a key have been linearized, one bit per operation. A
/// fingerprint (the XOR of a fixed pseudo-random number per set bit) is kept up
/// to date on every change, so hashing the set for the memo costs one word
/// instead of the whole set.
#[derive(Clone, PartialEq, Eq)]
struct Bitset {
    words: Vec<u64>,
    fingerprint: u64,
}

impl Bitset {
    fn new(bits: usize) -> Bitset {
        Bitset {
            words: vec![0; bits.div_ceil(64)],
            fingerprint: 0,
        }
    }

    fn contains(&self, bit: usize) -> bool {
        self.words[bit / 64] & (1 << (bit % 64)) != 0
    }

    fn set(&mut self, bit: usize) {
        if !self.contains(bit) {
            self.words[bit / 64] |= 1 << (bit % 64);
            self.fingerprint ^= mix(bit as u64);
        }
    }

    fn clear(&mut self, bit: usize) {
        if self.contains(bit) {
            self.words[bit / 64] &= !(1 << (bit % 64));
            self.fingerprint ^= mix(bit as u64);
        }
    }
}

impl Hash for Bitset {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Equal sets have equal fingerprints, which is all `Hash` requires.
        state.write_u64(self.fingerprint);
    }
}

/// Where the search stands: which operations are linearized and the value they
/// leave. Lowe's memo is the set of configurations already entered.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Configuration {
    linearized: Bitset,
    value: usize,
}

/// A small, fast, non-cryptographic hasher for the search's own integer keys.
/// The standard SipHash protects maps against keys chosen by an attacker, which
/// costs time and is not needed here: the checker makes up all these keys.
#[derive(Default)]
struct SearchHasher {
    state: u64,
}

impl Hasher for SearchHasher {
    fn finish(&self) -> u64 {
        self.state
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.state = mix(self.state ^ word);
    }

    fn write_usize(&mut self, word: usize) {
        self.write_u64(word as u64);
    }
}

/// Scrambles a word so that nearby inputs give unrelated outputs (the SplitMix64
/// step), for fingerprints and hashes.
fn mix(word: u64) -> u64 {
    let mut z = word.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Marks the end of the event list and missing return events.
const NIL: usize = usize::MAX;

/// One call or return event in the doubly linked list.
struct EventNode {
    /// The operation (index into the key's operations) this event belongs to.
    operation: usize,
    is_call: bool,
    previous: usize,
    next: usize,
}

/// The call and return events of one key, sorted by time, as a doubly linked
/// list whose nodes can be unlinked and relinked in place (in last-out order).
struct EventList {
    /// Node 0 is a head sentinel that is never unlinked.
    nodes: Vec<EventNode>,
    /// For each operation, the node of its call event.
    call_node: Vec<usize>,
    /// For each operation, the node of its return event, or NIL if it never returned.
    return_node: Vec<usize>,
}

impl EventList {
    fn new(operations: &[Operation]) -> EventList {
        // (time, calls before returns at equal times, operation, is_call). Putting
        // calls first makes an operation that returns at the instant another one
        // is called concurrent with it: the clock cannot tell them apart, so the
        // checker must not assume an order.
        let mut events: Vec<(u64, u8, usize, bool)> = Vec::with_capacity(operations.len() * 2);
        for (index, operation) in operations.iter().enumerate() {
            events.push((operation.call, 0, index, true));
            if !operation.has_unknown_outcome() {
                events.push((operation.return_time, 1, index, false));
            }
        }
        events.sort_unstable();

        let mut list = EventList {
            nodes: Vec::with_capacity(events.len() + 1),
            call_node: vec![NIL; operations.len()],
            return_node: vec![NIL; operations.len()],
        };
        list.nodes.push(EventNode {
            operation: NIL,
            is_call: false,
            previous: NIL,
            next: NIL,
        });
        for (_, _, operation, is_call) in events {
            let node = list.nodes.len();
            let previous = node - 1;
            list.nodes[previous].next = node;
            list.nodes.push(EventNode {
                operation,
                is_call,
                previous,
                next: NIL,
            });
            if is_call {
                list.call_node[operation] = node;
            } else {
                list.return_node[operation] = node;
            }
        }
        list
    }

    /// The first event still in the list, or NIL.
    fn first(&self) -> usize {
        self.nodes[0].next
    }

    fn next(&self, node: usize) -> usize {
        self.nodes[node].next
    }

    /// The operation called at `node`, or `None` if `node` is a return or NIL.
    fn call_at(&self, node: usize) -> Option<usize> {
        let node = self.nodes.get(node)?;
        node.is_call.then_some(node.operation)
    }

    fn unlink(&mut self, node: usize) {
        let EventNode { previous, next, .. } = self.nodes[node];
        self.nodes[previous].next = next;
        if next != NIL {
            self.nodes[next].previous = previous;
        }
    }

    /// Undoes `unlink(node)`; the node kept its own links, so it knows its place.
    fn relink(&mut self, node: usize) {
        let EventNode { previous, next, .. } = self.nodes[node];
        self.nodes[previous].next = node;
        if next != NIL {
            self.nodes[next].previous = node;
        }
    }

    /// Removes an operation's events once it has been linearized.
    fn lift(&mut self, operation: usize) {
        self.unlink(self.call_node[operation]);
        if self.return_node[operation] != NIL {
            self.unlink(self.return_node[operation]);
        }
    }

    /// Puts back the events of the operation lifted last, in reverse order.
    fn unlift(&mut self, operation: usize) {
        if self.return_node[operation] != NIL {
            self.relink(self.return_node[operation]);
        }
        self.relink(self.call_node[operation]);
    }
}

/// How the search for one key ended.
enum SearchOutcome {
    Linearizable,
    /// Not linearizable; the longest linearizable prefix found, in order.
    Illegal {
        longest_prefix: Vec<usize>,
    },
    TimedOut,
    /// The search outgrew its memory limit after entering this many
    /// configurations.
    TooLarge {
        configurations: usize,
    },
}

/// One choice on the search stack: `operation` was linearized when the value
/// was `previous_value`.
struct Choice {
    operation: usize,
    previous_value: usize,
}

/// What happened when the search tried to linearize an operation next.
enum Attempt {
    /// The operation is now linearized.
    Linearized,
    /// Its output contradicts the current value.
    Rejected,
    /// The configuration it leads to was entered before, and failed.
    AlreadyFailed,
}

/// The Wing & Gong search with Lowe's memoization over the operations of one key
/// (sorted by call time). See the module documentation.
struct KeySearch<'a> {
    operations: &'a [Operation],
    list: EventList,
    models: ModelStates,
    current: Configuration,
    /// Completed operations not linearized yet; the search succeeds at zero.
    completed_left: usize,
    /// Lowe's memo: every configuration entered so far.
    seen: HashSet<Configuration, BuildHasherDefault<SearchHasher>>,
    stack: Vec<Choice>,
    longest_prefix: Vec<usize>,
}

impl<'a> KeySearch<'a> {
    fn new(operations: &'a [Operation]) -> KeySearch<'a> {
        KeySearch {
            operations,
            list: EventList::new(operations),
            models: ModelStates::new(operations),
            current: Configuration {
                linearized: Bitset::new(operations.len()),
                value: ModelStates::MISSING,
            },
            completed_left: operations
                .iter()
                .filter(|operation| !operation.has_unknown_outcome())
                .count(),
            seen: HashSet::default(),
            stack: Vec::new(),
            longest_prefix: Vec::new(),
        }
    }

    /// Runs the search until it decides, `deadline` passes, or it holds more
    /// than about `memory_limit` bytes.
    ///
    /// The candidates at each configuration are the calls before the first
    /// return still in the list: any later call comes after an operation that is
    /// not linearized yet returned. They are tried in two rounds, each in call
    /// order (operations called earlier tend to take effect earlier): first the
    /// reads, then the writes. A read that fits the current value can always be
    /// linearized at once (see `backtrack`), so no alternative to it needs to be
    /// explored; taking reads first keeps the search from branching on writes
    /// while a read could have settled the question.
    fn run(mut self, deadline: Option<Instant>, memory_limit: usize) -> SearchOutcome {
        let mut entry = self.list.first();
        let mut reads_round = true;
        let mut steps: u64 = 0;
        loop {
            // Writes with unknown outcome that are left never took effect.
            if self.completed_left == 0 {
                debug!(
                    "linearizability: {} operations linearized in {steps} steps, {} configurations",
                    self.operations.len(),
                    self.seen.len()
                );
                return SearchOutcome::Linearizable;
            }
            // Checked before the first step too, so an expired deadline never
            // lets a search finish.
            if steps.is_multiple_of(STEPS_BETWEEN_LIMIT_CHECKS) {
                if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                    return SearchOutcome::TimedOut;
                }
                if self.estimated_memory_bytes() > memory_limit {
                    return SearchOutcome::TooLarge {
                        configurations: self.seen.len(),
                    };
                }
            }
            steps += 1;

            // At the first return, or at the end of the list, every candidate of
            // this round has been tried.
            let Some(operation) = self.list.call_at(entry) else {
                if reads_round {
                    reads_round = false;
                    entry = self.list.first();
                    continue;
                }
                // No write works here either: the last choice was wrong.
                match self.backtrack() {
                    Some(resume) => entry = resume,
                    None => return self.illegal(),
                }
                continue;
            };
            let is_read = !self.operations[operation].input.is_write();
            if is_read != reads_round {
                entry = self.list.next(entry);
                continue;
            }
            match self.attempt(operation) {
                Attempt::Linearized => {
                    entry = self.list.first();
                    reads_round = true;
                }
                Attempt::AlreadyFailed if is_read => {
                    // Everything after this read failed, so everything here fails.
                    match self.backtrack() {
                        Some(resume) => entry = resume,
                        None => return self.illegal(),
                    }
                }
                Attempt::Rejected | Attempt::AlreadyFailed => entry = self.list.next(entry),
            }
        }
    }

    /// Tries to linearize `operation` next.
    fn attempt(&mut self, operation: usize) -> Attempt {
        let Some(next_value) = self
            .models
            .step(self.current.value, self.operations, operation)
        else {
            return Attempt::Rejected;
        };
        let previous_value = self.current.value;
        self.current.value = next_value;
        self.current.linearized.set(operation);
        if self.seen.contains(&self.current) {
            self.current.value = previous_value;
            self.current.linearized.clear(operation);
            return Attempt::AlreadyFailed;
        }
        self.seen.insert(self.current.clone());
        self.stack.push(Choice {
            operation,
            previous_value,
        });
        if !self.operations[operation].has_unknown_outcome() {
            self.completed_left -= 1;
        }
        self.list.lift(operation);
        if self.stack.len() > self.longest_prefix.len() {
            self.longest_prefix = self.stack.iter().map(|choice| choice.operation).collect();
        }
        Attempt::Linearized
    }

    /// Undoes choices after a dead end and returns where to resume: the entry
    /// after the undone write's call, in the round of writes. `None` when
    /// nothing is left to undo.
    ///
    /// Undone reads are skipped over: a read that fits the current value can
    /// always be linearized at once. It changes nothing, and every operation
    /// that must come before it already has (it is a candidate), so any
    /// linearization that places it later can move it here. When everything
    /// after a read failed, the configuration before it has no solution either.
    fn backtrack(&mut self) -> Option<usize> {
        loop {
            let choice = self.stack.pop()?;
            let operation = &self.operations[choice.operation];
            self.current.value = choice.previous_value;
            self.current.linearized.clear(choice.operation);
            if !operation.has_unknown_outcome() {
                self.completed_left += 1;
            }
            self.list.unlift(choice.operation);
            if operation.input.is_write() {
                return Some(self.list.next(self.list.call_node[choice.operation]));
            }
        }
    }

    /// A rough count of the bytes held by the memo and the model values, the
    /// two parts that grow with the search.
    fn estimated_memory_bytes(&self) -> usize {
        // Per configuration: the entry, the bit set's heap block with the
        // allocator's header, and the hash table's spare room.
        let per_configuration =
            2 * std::mem::size_of::<Configuration>() + self.current.linearized.words.len() * 8 + 16;
        // Per value: the node, its length and its entry in the id map.
        let per_value = 3 * std::mem::size_of::<ValueNode>() + 16;
        self.seen.len() * per_configuration + self.models.nodes.len() * per_value
    }

    fn illegal(self) -> SearchOutcome {
        SearchOutcome::Illegal {
            longest_prefix: self.longest_prefix,
        }
    }
}

/// The explanation of an illegal key: its history and the longest prefix found.
fn explain(key: &[u8], operations: &[Operation], longest_prefix: &[usize]) -> String {
    let mut text = format!(
        "No order of the {} operations on key {} explains every result.\n\
         Operations on this key, sorted by call time (times in ms since the history started):\n",
        operations.len(),
        format_bytes(key)
    );
    let unseen = unseen_unknown_writes(operations);
    for (index, operation) in operations.iter().enumerate() {
        let return_time = if operation.has_unknown_outcome() {
            "never".to_string()
        } else {
            format_milliseconds(operation.return_time)
        };
        let note = if unseen[index] {
            "  (no read saw it: taken as never applied)"
        } else {
            ""
        };
        text.push_str(&format!(
            "  #{index:<4} client {:<4} call {:>12}  return {:>12}  {} -> {}{note}\n",
            operation.client_id,
            format_milliseconds(operation.call),
            return_time,
            format_input(&operation.input),
            format_output(&operation.output)
        ));
    }

    text.push_str(&format!(
        "Longest linearizable prefix found ({} of {} operations), in linearization order:\n",
        longest_prefix.len(),
        operations.len()
    ));
    let mut value: Value = None;
    for &index in longest_prefix {
        let operation = &operations[index];
        if let Some(next) = apply(&value, operation) {
            value = next;
        }
        text.push_str(&format!(
            "  #{index:<4} client {:<4} {} -> {}  (value afterwards: {})\n",
            operation.client_id,
            format_input(&operation.input),
            format_output(&operation.output),
            format_value(&value)
        ));
    }
    if longest_prefix.is_empty() {
        text.push_str("  (no operation can be linearized first)\n");
    }
    text.push_str(
        "The search tried every order: none of them extends to all the completed operations.\n",
    );
    text
}

fn format_milliseconds(nanoseconds: u64) -> String {
    format!("{:.3}", nanoseconds as f64 / 1_000_000.0)
}

/// Bytes as a quoted string when they are UTF-8, as hex otherwise.
fn format_bytes(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => format!("{text:?}"),
        Err(_) => {
            let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
            format!("0x{hex}")
        }
    }
}

fn format_value(value: &Value) -> String {
    match value {
        Some(bytes) => format_bytes(bytes),
        None => "not found".to_string(),
    }
}

fn format_input(input: &KvInput) -> String {
    match input {
        KvInput::Get { key } => format!("Get({})", format_bytes(key)),
        KvInput::Put { key, value } => {
            format!("Put({}, {})", format_bytes(key), format_bytes(value))
        }
        KvInput::Append { key, value } => {
            format!("Append({}, {})", format_bytes(key), format_bytes(value))
        }
        KvInput::Delete { key } => format!("Delete({})", format_bytes(key)),
    }
}

fn format_output(output: &KvOutput) -> String {
    match output {
        KvOutput::Value(value) => format_value(value),
        KvOutput::Done => "ok".to_string(),
        KvOutput::Unknown => "unknown outcome".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::test_seed_or;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    const TIMEOUT: Duration = Duration::from_secs(10);

    fn get(
        client_id: u64,
        key: &str,
        seen: Option<&str>,
        call: u64,
        return_time: u64,
    ) -> Operation {
        Operation {
            client_id,
            input: KvInput::Get {
                key: key.as_bytes().to_vec(),
            },
            output: KvOutput::Value(seen.map(|text| text.as_bytes().to_vec())),
            call,
            return_time,
        }
    }

    fn write(client_id: u64, input: KvInput, call: u64, return_time: Option<u64>) -> Operation {
        Operation {
            client_id,
            input,
            output: if return_time.is_some() {
                KvOutput::Done
            } else {
                KvOutput::Unknown
            },
            call,
            return_time: return_time.unwrap_or(NEVER_RETURNED),
        }
    }

    fn put(client_id: u64, key: &str, value: &str, call: u64, return_time: u64) -> Operation {
        let input = KvInput::Put {
            key: key.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
        };
        write(client_id, input, call, Some(return_time))
    }

    fn append(
        client_id: u64,
        key: &str,
        value: &str,
        call: u64,
        return_time: Option<u64>,
    ) -> Operation {
        let input = KvInput::Append {
            key: key.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
        };
        write(client_id, input, call, return_time)
    }

    fn delete(client_id: u64, key: &str, call: u64, return_time: u64) -> Operation {
        let input = KvInput::Delete {
            key: key.as_bytes().to_vec(),
        };
        write(client_id, input, call, Some(return_time))
    }

    fn assert_illegal_on(result: &CheckResult, expected_key: &str) {
        match result {
            CheckResult::Illegal { key, .. } => assert_eq!(key, expected_key.as_bytes()),
            other => panic!("expected an illegal history on {expected_key:?}, got {other}"),
        }
    }

    /// Generates a linearizable history by construction: each client runs its
    /// operations one after another over random intervals, each operation gets a
    /// random linearization point inside its interval, and executing the
    /// operations on a real map in the order of those points gives the results.
    /// About 3% of the operations time out: a timed-out write takes effect (at a
    /// point possibly after the client gave up) or not, at random.
    fn random_history(
        rng: &mut StdRng,
        clients: u64,
        per_client: usize,
        keys: usize,
    ) -> Vec<Operation> {
        struct Planned {
            operation: Operation,
            point: u64,
            takes_effect: bool,
        }
        let mut planned = Vec::new();
        for client_id in 0..clients {
            let mut time = rng.gen_range(0..1_000_000);
            for sequence in 0..per_client {
                let call = time + rng.gen_range(0..500_000);
                let return_time = call + rng.gen_range(1..3_000_000);
                let key = format!("key{}", rng.gen_range(0..keys)).into_bytes();
                let value = format!("[c{client_id}.{sequence}]").into_bytes();
                let input = match rng.gen_range(0..10) {
                    0..=3 => KvInput::Get { key },
                    4..=5 => KvInput::Put { key, value },
                    6..=8 => KvInput::Append { key, value },
                    _ => KvInput::Delete { key },
                };
                let timed_out = rng.gen_bool(0.03);
                let (point, takes_effect) = if timed_out {
                    (
                        rng.gen_range(call..return_time + 5_000_000),
                        rng.gen_bool(0.5),
                    )
                } else {
                    (rng.gen_range(call..=return_time), true)
                };
                planned.push(Planned {
                    operation: Operation {
                        client_id,
                        input,
                        output: KvOutput::Unknown,
                        call,
                        return_time: if timed_out {
                            NEVER_RETURNED
                        } else {
                            return_time
                        },
                    },
                    point,
                    takes_effect,
                });
                time = return_time;
            }
        }

        // Ties between clients may go either way; within a client, the planned
        // order (stable sort) keeps its operations in sequence.
        planned.sort_by_key(|planned| planned.point);
        let mut store: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        for Planned {
            operation,
            takes_effect,
            ..
        } in &mut planned
        {
            let timed_out = operation.return_time == NEVER_RETURNED;
            if *takes_effect {
                match &operation.input {
                    KvInput::Get { key } => {
                        operation.output = KvOutput::Value(store.get(key).cloned())
                    }
                    KvInput::Put { key, value } => {
                        store.insert(key.clone(), value.clone());
                    }
                    KvInput::Append { key, value } => store
                        .entry(key.clone())
                        .or_default()
                        .extend_from_slice(value),
                    KvInput::Delete { key } => {
                        store.remove(key);
                    }
                }
                if operation.input.is_write() {
                    operation.output = KvOutput::Done;
                }
            }
            if timed_out {
                operation.output = KvOutput::Unknown;
            }
        }
        let mut operations: Vec<Operation> = planned
            .into_iter()
            .map(|planned| planned.operation)
            .collect();
        operations.sort_by_key(|operation| operation.call);
        operations
    }

    /// A history where operations follow one another is linearizable.
    #[test]
    fn sequential_history_is_ok() {
        let operations = vec![
            get(1, "x", None, 0, 10),
            put(1, "x", "a", 20, 30),
            get(2, "x", Some("a"), 40, 50),
            append(1, "x", "b", 60, Some(70)),
            get(3, "x", Some("ab"), 80, 90),
            delete(2, "x", 100, 110),
            get(1, "x", None, 120, 130),
        ];
        assert_eq!(check_operations(&operations, TIMEOUT), CheckResult::Ok);
    }

    /// A Get overlapping a Put may see the new value.
    #[test]
    fn overlapping_get_may_see_new_value() {
        let operations = vec![
            put(1, "x", "old", 0, 10),
            put(1, "x", "new", 20, 60),
            get(2, "x", Some("new"), 30, 50),
        ];
        assert_eq!(check_operations(&operations, TIMEOUT), CheckResult::Ok);
    }

    /// A Get overlapping a Put may see the old value.
    #[test]
    fn overlapping_get_may_see_old_value() {
        let operations = vec![
            put(1, "x", "old", 0, 10),
            put(1, "x", "new", 20, 60),
            get(2, "x", Some("old"), 30, 70),
        ];
        assert_eq!(check_operations(&operations, TIMEOUT), CheckResult::Ok);
    }

    /// An operation returning at the instant another is called counts as concurrent with it.
    #[test]
    fn equal_return_and_call_times_are_concurrent() {
        let operations = vec![put(1, "x", "a", 0, 10), get(2, "x", None, 10, 20)];
        assert_eq!(check_operations(&operations, TIMEOUT), CheckResult::Ok);
    }

    /// Reading the old value after a write completed is a stale read.
    #[test]
    fn stale_read_after_completed_write_is_illegal() {
        let operations = vec![
            put(1, "x", "old", 0, 10),
            put(1, "x", "new", 20, 30),
            get(2, "x", Some("old"), 40, 50),
        ];
        assert_illegal_on(&check_operations(&operations, TIMEOUT), "x");
    }

    /// Reading a value that nobody wrote is illegal.
    #[test]
    fn read_of_value_never_written_is_illegal() {
        let operations = vec![put(1, "x", "a", 0, 10), get(2, "x", Some("b"), 5, 20)];
        assert_illegal_on(&check_operations(&operations, TIMEOUT), "x");
    }

    /// Concurrent appends may land in either order.
    #[test]
    fn concurrent_appends_in_either_order_are_ok() {
        let operations = vec![
            append(1, "x", "a", 0, Some(30)),
            append(2, "x", "b", 10, Some(20)),
            get(3, "x", Some("ba"), 40, 50),
        ];
        assert_eq!(check_operations(&operations, TIMEOUT), CheckResult::Ok);
    }

    /// Appends that completed one after the other cannot show up in the opposite order.
    #[test]
    fn appends_in_impossible_order_are_illegal() {
        let operations = vec![
            append(1, "x", "a", 0, Some(10)),
            append(2, "x", "b", 20, Some(30)),
            get(3, "x", Some("ba"), 40, 50),
        ];
        assert_illegal_on(&check_operations(&operations, TIMEOUT), "x");
    }

    /// An append with unknown outcome that shows up later took effect: that is allowed.
    #[test]
    fn unknown_append_that_shows_up_later_is_ok() {
        let operations = vec![
            put(1, "x", "a", 0, 10),
            append(2, "x", "b", 20, None),
            get(1, "x", Some("a"), 30, 40),
            get(1, "x", Some("ab"), 1_000, 1_010),
            get(3, "x", Some("ab"), 2_000, 2_010),
        ];
        assert_eq!(check_operations(&operations, TIMEOUT), CheckResult::Ok);
    }

    /// An append with unknown outcome that never shows up did not take effect: that is allowed.
    #[test]
    fn unknown_append_that_never_shows_up_is_ok() {
        let operations = vec![
            put(1, "x", "a", 0, 10),
            append(2, "x", "b", 20, None),
            get(1, "x", Some("a"), 30, 40),
            get(3, "x", Some("a"), 2_000, 2_010),
        ];
        assert_eq!(check_operations(&operations, TIMEOUT), CheckResult::Ok);
    }

    /// An append with unknown outcome that shows up and then disappears is illegal.
    #[test]
    fn unknown_append_that_shows_up_then_disappears_is_illegal() {
        let operations = vec![
            put(1, "x", "a", 0, 10),
            append(2, "x", "b", 20, None),
            get(1, "x", Some("ab"), 30, 40),
            get(3, "x", Some("a"), 50, 60),
        ];
        assert_illegal_on(&check_operations(&operations, TIMEOUT), "x");
    }

    /// A Get with unknown outcome constrains nothing, whatever its recorded times.
    #[test]
    fn unknown_get_is_ignored() {
        let mut lost_get = get(2, "x", None, 5, NEVER_RETURNED);
        lost_get.output = KvOutput::Unknown;
        let operations = vec![
            put(1, "x", "a", 0, 10),
            lost_get,
            get(1, "x", Some("a"), 20, 30),
        ];
        assert_eq!(check_operations(&operations, TIMEOUT), CheckResult::Ok);
    }

    /// A Get after a Delete finds nothing.
    #[test]
    fn delete_then_get_none_is_ok() {
        let operations = vec![
            put(1, "x", "a", 0, 10),
            delete(2, "x", 20, 30),
            get(1, "x", None, 40, 50),
        ];
        assert_eq!(check_operations(&operations, TIMEOUT), CheckResult::Ok);
    }

    /// A Get after a Delete that still finds the old value is illegal.
    #[test]
    fn get_after_delete_finding_old_value_is_illegal() {
        let operations = vec![
            put(1, "x", "a", 0, 10),
            delete(2, "x", 20, 30),
            get(1, "x", Some("a"), 40, 50),
        ];
        assert_illegal_on(&check_operations(&operations, TIMEOUT), "x");
    }

    /// Keys are checked separately, and the one illegal key among legal ones is the one reported.
    #[test]
    fn illegal_key_among_legal_ones_is_reported() {
        let operations = vec![
            put(1, "a", "1", 0, 10),
            put(2, "b", "1", 0, 10),
            put(3, "c", "1", 0, 10),
            put(1, "b", "2", 20, 30),
            get(2, "a", Some("1"), 40, 50),
            get(3, "b", Some("1"), 40, 50),
            get(1, "c", Some("1"), 40, 50),
        ];
        assert_illegal_on(&check_operations(&operations, TIMEOUT), "b");
    }

    /// Operations on different keys do not constrain each other's order.
    #[test]
    fn operations_on_other_keys_do_not_interfere() {
        // On one register, Get(x) -> "1" after Put(y) returned would not matter
        // anyway, but a checker that mixed keys would see y's value on x.
        let operations = vec![
            put(1, "x", "1", 0, 10),
            put(2, "y", "2", 20, 30),
            get(1, "x", Some("1"), 40, 50),
            get(2, "y", Some("2"), 40, 50),
        ];
        assert_eq!(check_operations(&operations, TIMEOUT), CheckResult::Ok);
    }

    /// The explanation lists the key's operations sorted by call time, with times and the longest prefix.
    #[test]
    fn explanation_shows_history_and_longest_prefix() {
        let operations = vec![
            get(2, "x", Some("stale"), 40_000_000, 50_000_000),
            put(1, "x", "stale", 0, 10_000_000),
            put(1, "x", "fresh", 20_000_000, 30_000_000),
            put(9, "other", "v", 0, 1),
        ];
        let CheckResult::Illegal { key, explanation } = check_operations(&operations, TIMEOUT)
        else {
            panic!("expected an illegal history");
        };
        assert_eq!(key, b"x");
        println!("{explanation}");
        let lines: Vec<&str> = explanation.lines().collect();
        assert!(lines[2].contains("client 1") && lines[2].contains("Put(\"x\", \"stale\") -> ok"));
        assert!(lines[2].contains("call        0.000") && lines[2].contains("return       10.000"));
        assert!(lines[3].contains("Put(\"x\", \"fresh\")"));
        assert!(lines[4].contains("client 2") && lines[4].contains("Get(\"x\") -> \"stale\""));
        assert!(
            !explanation.contains("\"other\""),
            "only the illegal key is shown"
        );
        assert!(explanation.contains("Longest linearizable prefix found (2 of 3 operations)"));
        assert!(explanation.contains("(value afterwards: \"fresh\")"));
    }

    /// Keys and values that are not UTF-8 are printed in hex.
    #[test]
    fn non_utf8_bytes_are_printed_in_hex() {
        assert_eq!(format_bytes(&[0xff, 0x00, 0x1a]), "0xff001a");
        assert_eq!(format_bytes(b"key\n"), "\"key\\n\"");
    }

    /// A Get whose output is Done cannot come from the recorder, so the verdict is Unknown.
    #[test]
    fn malformed_history_is_unknown() {
        let mut malformed = get(1, "x", None, 0, 10);
        malformed.output = KvOutput::Done;
        let result = check_operations(&[malformed], TIMEOUT);
        assert!(matches!(result, CheckResult::Unknown { .. }), "{result}");
        assert!(!result.is_ok());
    }

    /// Only writes with unknown outcome: every one of them may never have happened.
    #[test]
    fn only_unknown_writes_is_ok() {
        let operations = vec![append(1, "x", "a", 0, None), append(2, "x", "b", 0, None)];
        assert_eq!(check_operations(&operations, TIMEOUT), CheckResult::Ok);
        assert_eq!(check_operations(&[], TIMEOUT), CheckResult::Ok);
    }

    /// The recorder stores call and return times, outputs, and unknown outcomes for unfinished operations.
    #[test]
    fn history_records_operations() {
        let history = History::new();
        let first = history.call(1, KvInput::Get { key: b"x".to_vec() });
        first.finish(KvOutput::Value(None));
        let abandoned = history.call(2, KvInput::Delete { key: b"x".to_vec() });
        drop(abandoned);
        let timed_out = history.call(3, KvInput::Delete { key: b"x".to_vec() });
        timed_out.finish(KvOutput::Unknown);

        let operations = history.operations();
        assert_eq!(operations.len(), 3);
        assert_eq!(operations[0].output, KvOutput::Value(None));
        assert!(operations[0].call <= operations[0].return_time);
        assert_ne!(operations[0].return_time, NEVER_RETURNED);
        for operation in &operations[1..] {
            assert_eq!(operation.output, KvOutput::Unknown);
            assert_eq!(operation.return_time, NEVER_RETURNED);
        }
        assert!(operations[0].return_time <= operations[1].call);
        assert_eq!(check_history(&history, TIMEOUT), CheckResult::Ok);
    }

    /// Concurrent clients recording through clones of one history produce a linearizable history.
    #[test]
    fn history_records_concurrent_clients() {
        let history = History::new();
        // The store is a mutex-protected map: linearizable by construction.
        let store = Arc::new(Mutex::new(HashMap::<Vec<u8>, Vec<u8>>::new()));
        let threads: Vec<_> = (0..4u64)
            .map(|client_id| {
                let history = history.clone();
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    for sequence in 0..50 {
                        let key = format!("key{}", sequence % 3).into_bytes();
                        if sequence % 2 == 0 {
                            let value = format!("[{client_id}.{sequence}]").into_bytes();
                            let pending = history.call(
                                client_id,
                                KvInput::Append {
                                    key: key.clone(),
                                    value: value.clone(),
                                },
                            );
                            store
                                .lock()
                                .expect("no client thread panics while holding the store lock")
                                .entry(key)
                                .or_default()
                                .extend_from_slice(&value);
                            pending.finish(KvOutput::Done);
                        } else {
                            let pending =
                                history.call(client_id, KvInput::Get { key: key.clone() });
                            let seen = store
                                .lock()
                                .expect("no client thread panics while holding the store lock")
                                .get(&key)
                                .cloned();
                            pending.finish(KvOutput::Value(seen));
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(history.operations().len(), 200);
        let result = check_history(&history, TIMEOUT);
        assert!(result.is_ok(), "{result}");
    }

    /// A large random history from a real sequential execution (5 clients x 200 ops, 5 keys) is Ok within a second.
    #[test]
    fn large_random_history_is_ok() {
        let seed = test_seed_or(0x5eed_0001);
        let mut rng = StdRng::seed_from_u64(seed);
        let operations = random_history(&mut rng, 5, 200, 5);
        let started = Instant::now();
        let result = check_operations(&operations, Duration::from_secs(1));
        println!(
            "checked {} operations in {:?}",
            operations.len(),
            started.elapsed()
        );
        assert!(result.is_ok(), "{result}");
    }

    /// A large random history with one read corrupted to a value never written is Illegal on that key.
    #[test]
    fn corrupted_read_is_illegal() {
        let seed = test_seed_or(0x5eed_0002);
        let mut rng = StdRng::seed_from_u64(seed);
        let mut operations = random_history(&mut rng, 5, 200, 5);
        // Corrupt a completed Get in the middle, so the search has work before it.
        let reads: Vec<usize> = operations
            .iter()
            .enumerate()
            .filter(|(_, operation)| {
                matches!(operation.input, KvInput::Get { .. }) && !operation.has_unknown_outcome()
            })
            .map(|(index, _)| index)
            .collect();
        let corrupted = reads[reads.len() / 2];
        operations[corrupted].output = KvOutput::Value(Some(b"corrupted".to_vec()));
        let corrupted_key = operations[corrupted].input.key().to_vec();

        let started = Instant::now();
        let result = check_operations(&operations, TIMEOUT);
        println!(
            "checked {} operations in {:?}",
            operations.len(),
            started.elapsed()
        );
        match result {
            CheckResult::Illegal { key, explanation } => {
                assert_eq!(key, corrupted_key);
                assert!(explanation.contains("-> \"corrupted\""));
            }
            other => panic!("expected an illegal history, got {other}"),
        }
    }

    /// Decides linearizability by trying every order, without memoization: an
    /// independent, obviously correct oracle for small histories.
    fn brute_force_is_linearizable(
        operations: &[Operation],
        used: &mut Vec<bool>,
        value: &Value,
    ) -> bool {
        let all_completed_used = operations
            .iter()
            .zip(used.iter())
            .all(|(operation, &used)| used || operation.has_unknown_outcome());
        if all_completed_used {
            return true;
        }
        for candidate in 0..operations.len() {
            // The candidate may go next unless an unused completed operation
            // returned before it was called.
            let blocked = operations
                .iter()
                .zip(used.iter())
                .any(|(other, &other_used)| {
                    !other_used
                        && !other.has_unknown_outcome()
                        && other.return_time < operations[candidate].call
                });
            if used[candidate] || blocked {
                continue;
            }
            if let Some(next) = apply(value, &operations[candidate]) {
                used[candidate] = true;
                let found = brute_force_is_linearizable(operations, used, &next);
                used[candidate] = false;
                if found {
                    return true;
                }
            }
        }
        false
    }

    /// The checker agrees with an exhaustive search on thousands of small random histories, legal and illegal.
    #[test]
    fn agrees_with_brute_force_on_small_histories() {
        let seed = test_seed_or(0x5eed_0004);
        let mut rng = StdRng::seed_from_u64(seed);
        let seen_values: [Option<&str>; 6] = [
            None,
            Some("a"),
            Some("b"),
            Some("ab"),
            Some("ba"),
            Some("bb"),
        ];
        let (mut legal, mut illegal) = (0, 0);
        for _ in 0..3_000 {
            let count = rng.gen_range(1..=7);
            let operations: Vec<Operation> = (0..count)
                .map(|index| {
                    let call = rng.gen_range(0..20);
                    let return_time = call + rng.gen_range(0..10);
                    let client_id = index as u64;
                    let text = if rng.gen_bool(0.5) { "a" } else { "b" };
                    match rng.gen_range(0..10) {
                        0..=3 => get(
                            client_id,
                            "x",
                            seen_values[rng.gen_range(0..6)],
                            call,
                            return_time,
                        ),
                        4 => put(client_id, "x", text, call, return_time),
                        5 => delete(client_id, "x", call, return_time),
                        6..=7 => append(client_id, "x", text, call, Some(return_time)),
                        8 => append(client_id, "x", text, call, None),
                        _ => write(
                            client_id,
                            KvInput::Put {
                                key: b"x".to_vec(),
                                value: text.as_bytes().to_vec(),
                            },
                            call,
                            None,
                        ),
                    }
                })
                .collect();
            let expected = brute_force_is_linearizable(&operations, &mut vec![false; count], &None);
            let result = check_operations(&operations, TIMEOUT);
            assert_eq!(result.is_ok(), expected, "{operations:#?}\n{result}");
            if expected {
                legal += 1;
            } else {
                assert_illegal_on(&result, "x");
                illegal += 1;
            }
        }
        println!("{legal} legal and {illegal} illegal histories");
        assert!(
            legal > 300 && illegal > 300,
            "{legal} legal, {illegal} illegal"
        );
    }

    /// Eight clients overlapping on a single key (with unknown outcomes) give a linearizable history.
    #[test]
    fn heavily_overlapping_history_is_ok() {
        let seed = test_seed_or(0x5eed_0005);
        let mut rng = StdRng::seed_from_u64(seed);
        let operations = random_history(&mut rng, 8, 100, 1);
        let started = Instant::now();
        let result = check_operations(&operations, TIMEOUT);
        println!(
            "checked {} operations in {:?}",
            operations.len(),
            started.elapsed()
        );
        assert!(result.is_ok(), "{result}");
    }

    /// A write with unknown outcome that no read saw is left out of the search and marked as such.
    #[test]
    fn unseen_unknown_write_is_left_out() {
        let operations = vec![
            put(1, "x", "a", 0, 10),
            append(2, "x", "never-seen", 5, None),
            put(3, "x", "b", 20, 30),
            get(1, "x", Some("a"), 40, 50),
        ];
        let unseen = unseen_unknown_writes(&operations);
        assert_eq!(unseen, vec![false, true, false, false]);
        let CheckResult::Illegal { explanation, .. } = check_operations(&operations, TIMEOUT)
        else {
            panic!("expected an illegal history");
        };
        let line = explanation
            .lines()
            .find(|line| line.contains("never-seen"))
            .expect("the left-out write is still listed");
        assert!(line.contains("no read saw it"), "{line}");
    }

    /// Unknown writes whose value a read saw stay in the search, also when seen only as part of a longer value.
    #[test]
    fn seen_unknown_writes_are_kept() {
        let operations = vec![
            put(1, "x", "base", 0, 10),
            write(
                2,
                KvInput::Put {
                    key: b"x".to_vec(),
                    value: b"put".to_vec(),
                },
                20,
                None,
            ),
            append(3, "x", "-tail", 20, None),
            get(1, "x", Some("put-tail"), 40, 50),
        ];
        assert_eq!(unseen_unknown_writes(&operations), vec![false; 4]);
        assert_eq!(check_operations(&operations, TIMEOUT), CheckResult::Ok);
    }

    /// A search that outgrows its memory limit stops with TooLarge rather than a verdict.
    #[test]
    fn search_over_memory_limit_is_too_large() {
        let seed = test_seed_or(0x5eed_0006);
        let mut rng = StdRng::seed_from_u64(seed);
        let operations = random_history(&mut rng, 5, 40, 1);
        assert!(matches!(
            check_key(&operations, None, MAX_SEARCH_MEMORY_BYTES),
            SearchOutcome::Linearizable
        ));
        assert!(matches!(
            check_key(&operations, None, 0),
            SearchOutcome::TooLarge { .. }
        ));
    }

    /// A zero timeout on a big history gives Unknown, never Ok.
    #[test]
    fn zero_timeout_is_unknown() {
        let seed = test_seed_or(0x5eed_0003);
        let mut rng = StdRng::seed_from_u64(seed);
        let operations = random_history(&mut rng, 5, 200, 5);
        let result = check_operations(&operations, Duration::ZERO);
        assert!(matches!(result, CheckResult::Unknown { .. }), "{result}");
        assert!(!result.is_ok());
    }
}
