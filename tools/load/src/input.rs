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
            while let Some(item) = reader.next_of::<Request>() {
                let item = item.map_err(|e| e.to_string()).and_then(|req| match check(&req) {
                    Ok(()) => Ok(req),
                    Err(why) => Err(reader.error_here(why).to_string()),
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
}
