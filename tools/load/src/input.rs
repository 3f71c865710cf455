//! Reads request records on a thread of their own, ahead of the schedule, so that parsing
//! input never makes a send late. A bounded channel keeps memory flat however long the stream.

use sb_records::{Api, Input, Request};
use tokio::sync::mpsc;

/// How far the reader may run ahead of the dispatcher.
const READ_AHEAD: usize = 4096;

/// A request with the line it came from, or the one-line error that ends the input.
pub type InputItem = Result<Request, String>;

pub fn spawn_reader(input: Input) -> mpsc::Receiver<InputItem> {
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    std::thread::Builder::new()
        .name("sb-load-reader".into())
        .spawn(move || {
            let mut reader = input.records();
            while let Some(item) = reader.next_of::<Request>() {
                let item = item.map_err(|e| e.to_string()).and_then(|req| match check(&req) {
                    Ok(()) => Ok(req),
                    Err(why) => Err(reader.error_here(why).to_string()),
                });
                let stop = item.is_err();
                if tx.blocking_send(item).is_err() || stop {
                    return;
                }
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
        while let Some(item) = rx.blocking_recv() {
            got.push(item);
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
