//! Reads request records on a thread of their own, ahead of the schedule, so that parsing
//! input never makes a send late. A bounded channel keeps memory flat however long the stream.

use sb_records::{Api, Input, Request};
use tokio::sync::mpsc;

/// Requests are handed over in batches of up to this many...
const BATCH: usize = 64;
/// ...and at most this many batches wait in the channel (4096 requests read ahead).
const BATCHES_AHEAD: usize = 64;

/// A request, or the one-line error (with the line number) that ends the input.
pub type InputItem = Result<Request, String>;

/// Reads and checks requests on a thread of its own. Batches keep the hand-over cheap at tens
/// of thousands of requests per second (one wake-up per batch, not per request); a batch is
/// only held back while the dispatcher has plenty queued, so a slow upstream producer's
/// requests are passed on at once.
pub fn spawn_reader(input: Input) -> mpsc::Receiver<Vec<InputItem>> {
    let (tx, rx) = mpsc::channel::<Vec<InputItem>>(BATCHES_AHEAD);
    std::thread::Builder::new()
        .name("sb-load-reader".into())
        .spawn(move || {
            crate::output::yield_to_event_loop();
            let mut reader = input.records();
            let mut batch = Vec::with_capacity(BATCH);
            let mut ids = IdLines::default();
            let mut said_plain = false;
            while let Some(item) = reader.next_request() {
                let item = item.map_err(|e| e.to_string()).and_then(|(req, assumed)| {
                    if assumed && !said_plain {
                        said_plain = true;
                        eprintln!(
                            "sb-load: note: {}:{}: a line without \"kind\" is taken as a request (v1); a missing \"id\" is line-<N>, a missing \"api\" is chat when there are \"messages\"",
                            reader.name(),
                            reader.line()
                        );
                    }
                    check(&req).and_then(|()| ids.first(&req.id, reader.line())).map_err(|why| reader.error_here(why).to_string())?;
                    Ok(req)
                });
                let stop = item.is_err();
                batch.push(item);
                let dispatcher_is_busy = tx.capacity() < BATCHES_AHEAD / 2;
                if stop || batch.len() >= BATCH || !dispatcher_is_busy {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    if tx.blocking_send(full).is_err() || stop {
                        return;
                    }
                }
            }
            if !batch.is_empty() {
                let _ = tx.blocking_send(batch);
            }
        })
        .expect("spawn reader thread");
    rx
}

/// Where each request id of the stream was first seen, to refuse a repeated id (two results
/// with one id could not be told apart downstream). Keyed by a 64-bit hash of the id (two u32
/// halves, with the line as a u32, so that an entry is 12 bytes, not 16), and the table hashes
/// that key no further: a slot is 13 bytes however long the ids (27 MB of table for a million
/// requests, the slots being at most 7/8 full). A false alarm needs two ids of one stream to
/// collide in 64 bits (about 1 in 10^8 for a million requests).
#[derive(Default)]
struct IdLines {
    seen: std::collections::HashMap<(u32, u32), u32, std::hash::BuildHasherDefault<Prehashed>>,
}

impl IdLines {
    fn first(&mut self, id: &str, line: u64) -> Result<(), String> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut h);
        let h = h.finish();
        match self.seen.entry(((h >> 32) as u32, h as u32)) {
            std::collections::hash_map::Entry::Occupied(first) => Err(format!(
                "request id {:?} repeats the id of line {} (ids must be unique within a stream)",
                sb_cli::printable(id),
                first.get()
            )),
            std::collections::hash_map::Entry::Vacant(v) => {
                // Past 4.29 billion lines the first line's number is not kept exactly.
                v.insert(u32::try_from(line).unwrap_or(u32::MAX));
                Ok(())
            }
        }
    }
}

/// The hasher of a key that is already a uniform hash: its bits as they are.
#[derive(Default)]
struct Prehashed(u64);

impl std::hash::Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ b as u64;
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 << 32) | n as u64;
    }
}

/// What a request needs before it can be sent; refused with the line number otherwise.
fn check(req: &Request) -> Result<(), String> {
    if req.id.is_empty() {
        return Err("request has an empty \"id\"".into());
    }
    match req.api {
        Api::Completions if req.prompt.is_none() => {
            Err(format!("request {:?} is api \"completions\" but has no \"prompt\"", req.id))
        }
        Api::Chat if req.messages.as_ref().is_none_or(|m| m.is_empty()) => {
            Err(format!("request {:?} is api \"chat\" but has no \"messages\"", req.id))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &str) -> Vec<InputItem> {
        let input = Input { name: "req.ndjson".into(), reader: Box::new(std::io::Cursor::new(text.to_string())) };
        let mut rx = spawn_reader(input);
        let mut got = Vec::new();
        while let Some(batch) = rx.blocking_recv() {
            got.extend(batch);
        }
        got
    }

    #[test]
    fn stops_at_the_first_bad_line_naming_it() {
        let text = concat!(
            "{\"kind\":\"request\",\"v\":1,\"id\":\"a\",\"prompt\":\"x\"}\n",
            "{\"kind\":\"request\",\"v\":1,\"id\":\"b\",\"api\":\"chat\"}\n",
            "{\"kind\":\"request\",\"v\":1,\"id\":\"c\",\"prompt\":\"x\"}\n",
        );
        let got = read_all(text);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].as_ref().unwrap().id, "a");
        let err = got[1].as_ref().unwrap_err();
        assert!(err.starts_with("req.ndjson:2: "), "{err}");
        assert!(err.contains("has no \"messages\""), "{err}");
    }

    #[test]
    fn malformed_json_names_the_line() {
        let got = read_all("{\"kind\":\"request\",\"v\":1,\"id\":\"a\",\"prompt\":\"x\"}\n{oops\n");
        assert!(got[1].as_ref().unwrap_err().starts_with("req.ndjson:2: "));
    }

    #[test]
    fn a_repeated_id_is_an_input_error_naming_both_lines() {
        let text = concat!(
            "{\"kind\":\"request\",\"v\":1,\"id\":\"a\",\"prompt\":\"x\"}\n",
            "{\"kind\":\"request\",\"v\":1,\"id\":\"b\",\"prompt\":\"x\"}\n",
            "\n",
            "{\"kind\":\"request\",\"v\":1,\"id\":\"a\",\"prompt\":\"y\"}\n",
        );
        let got = read_all(text);
        assert_eq!(got.len(), 3);
        let err = got[2].as_ref().unwrap_err();
        assert!(err.starts_with("req.ndjson:4: "), "{err}");
        assert!(err.contains("repeats the id of line 1"), "{err}");
    }

    #[test]
    fn plain_jsonl_lines_are_requests_with_ids_from_their_line_numbers() {
        let text = concat!(
            "{\"prompt\": \"hi\", \"max_tokens\": 4}\n",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}], \"id\": 7, \"tags\": {\"conc\": 8}}\n",
            "{\"kind\":\"request\",\"v\":1,\"id\":\"c\",\"prompt\":\"x\"}\n",
            "{\"kind\":\"result\",\"v\":1,\"id\":\"d\"}\n",
        );
        let got = read_all(text);
        let ok: Vec<&Request> = got.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(ok.len(), 3);
        assert_eq!((ok[0].id.as_str(), ok[0].api, ok[0].max_tokens), ("line-1", Api::Completions, Some(4)));
        assert_eq!((ok[1].id.as_str(), ok[1].api), ("7", Api::Chat));
        assert_eq!(ok[1].tags.get("conc").map(String::as_str), Some("8"));
        let err = got[3].as_ref().unwrap_err();
        assert!(err.starts_with("req.ndjson:4: ") && err.contains("found a result record"), "{err}");
        // Neither a record nor a request: refused, naming the line.
        let got = read_all("{\"text\": \"no prompt\"}\n");
        let err = got[0].as_ref().unwrap_err();
        assert!(err.contains("req.ndjson:1:") && err.contains("no \"prompt\" or \"messages\""), "{err}");
    }
}
