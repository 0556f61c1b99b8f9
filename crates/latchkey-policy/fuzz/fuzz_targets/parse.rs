#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_policy::fuzzing::parse_untrusted(data));
