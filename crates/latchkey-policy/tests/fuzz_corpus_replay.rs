//! Replays every input of the fuzz corpus through the parser, so that stable CI
//! exercises what the fuzzer found (crashes included, once fixed and added).

use std::path::Path;

#[test]
fn replay_fuzz_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/parse");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            latchkey_policy::fuzzing::parse_untrusted(&std::fs::read(&path).unwrap());
            count += 1;
        }
    }
    assert!(count > 0, "no inputs in {}", dir.display());
}
