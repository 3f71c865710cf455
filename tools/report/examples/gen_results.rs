//! Writes synthetic result records shaped like sb-load's, for bench/report.sh:
//! `gen_results COUNT CHUNKS [DURATION_S] > results.ndjson`. Deterministic (a fixed LCG), COUNT
//! requests spread evenly over DURATION_S (default 1000 s), chunk gaps of 5-25 ms, one request
//! in 100 failed with HTTP 503.

use sb_records::{Api, RecordWriter, ResultRecord, Status, Usage};
use std::io::{BufWriter, Write};

fn main() {
    let mut args = std::env::args().skip(1);
    let count: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let chunks: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let duration_s: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let spacing_ns = duration_s * 1_000_000_000 / count.max(1);
    let mut out = RecordWriter::new(BufWriter::with_capacity(1 << 20, std::io::stdout().lock()));
    let t0: u64 = 1_764_000_000_000_000_000;
    let mut state: u64 = 42;
    let mut rand = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        state >> 33
    };
    for i in 0..count {
        let scheduled_ns = t0 + i * spacing_ns;
        let sent_ns = scheduled_ns + rand() % 200_000;
        let mut r = ResultRecord {
            id: format!("req-{i}"),
            api: Api::Chat,
            scheduled_ns,
            sent_ns,
            run: Some("bench".into()),
            stage: Some(0),
            prompt_tokens: Some(512),
            max_tokens: Some(chunks as u32),
            ..Default::default()
        };
        if i % 100 == 99 {
            r.status = Status::HttpError;
            r.http_status = Some(503);
            r.error = Some("Service Unavailable".into());
            r.done_ns = sent_ns + 2_000_000;
        } else {
            let mut t = 20_000_000 + rand() % 80_000_000;
            let mut offsets = Vec::with_capacity(chunks as usize);
            for _ in 0..chunks {
                offsets.push(t);
                t += 5_000_000 + rand() % 20_000_000;
            }
            let last = *offsets.last().unwrap();
            r.status = Status::Ok;
            r.first_byte_ns = Some(sent_ns + offsets[0] - 1_000_000);
            r.first_chunk_ns = Some(sent_ns + offsets[0]);
            r.first_token_ns = Some(sent_ns + offsets[0]);
            r.end_ns = Some(sent_ns + last);
            r.done_ns = sent_ns + last + 500_000;
            r.chunks_ns = offsets;
            r.usage = Some(Usage {
                prompt_tokens: 512,
                completion_tokens: chunks as u32,
                total_tokens: 512 + chunks as u32,
                ..Default::default()
            });
            r.output_tokens = Some(chunks as u32);
            r.finish_reason = Some("length".into());
        }
        if let Err(e) = out.write_buffered(&r) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return;
            }
            panic!("{e}");
        }
    }
    out.into_inner().flush().unwrap();
}
