//! Fuzzes the browser import's checks: the byte checks (encoding, NUL), the CSV reader, the
//! suggested fixes and the grid validation, on up to three files. Besides not crashing, the
//! result must be consistent: a grid only without issues, and then a valid one; issues bounded
//! and located inside the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::interchange::upload::{check, UploadedFile};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else { return };
    // 0xFE never occurs in UTF-8, so it separates the files without taking any text away.
    let tables = ["assets", "maintenance", "incidents"];
    let files: Vec<UploadedFile> = body
        .split(|b| *b == 0xFE)
        .take(3)
        .enumerate()
        .map(|(i, part)| UploadedFile {
            table: tables[i],
            name: format!("{}.csv", tables[i]),
            bytes: bytes::Bytes::copy_from_slice(part),
        })
        .collect();
    let checked = check(&files, flags & 1 == 1);
    assert!(checked.issues.len() <= 100);
    assert!(checked.issues_total >= checked.issues.len() as u64);
    if let Some(grid) = &checked.grid {
        assert!(checked.issues.is_empty());
        assert!(grid.validate().is_empty(), "a grid with problems was accepted");
    }
    for issue in &checked.issues {
        if let Some(file) = files.iter().find(|f| f.name == issue.file) {
            let lines = file.bytes.iter().filter(|b| **b == b'\n').count() as u64 + 2;
            assert!(issue.line <= lines, "line {} beyond the file's {} lines", issue.line, lines);
        }
    }
});
