//! staff-only: held-out lab 1 tests. `make grade` in the full tree runs
//! them with the lab (their paths start with `lab1::`); the skeleton
//! generator leaves this file and its `mod` line out of the students'
//! tree (see docs/labs/README.md, "Hidden tests").

use storage::{Modify, Storage, CF_DEFAULT};

use super::Fixture;

/// A batch is written whole or not at all: one unknown column family in
/// it keeps the valid writes before it out of the store too.
#[test]
fn a_batch_with_an_unknown_column_family_writes_nothing() {
    let fixture = Fixture::new();
    let batch = vec![
        Modify::Put {
            cf: CF_DEFAULT.to_string(),
            key: b"a".to_vec(),
            value: b"1".to_vec(),
        },
        Modify::Put {
            cf: "bogus".to_string(),
            key: b"b".to_vec(),
            value: b"2".to_vec(),
        },
    ];
    let result = fixture.storage.write(&Default::default(), batch);
    assert!(
        result.is_err(),
        "a batch with an unknown column family must fail"
    );
    assert_eq!(fixture.get(CF_DEFAULT, b"a"), None);
}
