#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| medialib::fuzzing::probe(data));
