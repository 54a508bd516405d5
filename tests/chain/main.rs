//! Tests that read the call-chain log (`tinykv::chain`). They run in their
//! own test binary, one at a time, so the captured lines come from their
//! own cluster only. Graded with lab 2C (`lab2c::` paths).

mod lab2c;
