//! Multi-turn sessions: a turn is sent only after the previous turn of its session finished,
//! with the conversation so far (earlier turns' messages and the replies the server actually
//! gave) in front of its own messages.
//!
//! A turn that becomes due while its session is busy is parked here and sent when the previous
//! turn finishes; its `scheduled_ns` then becomes that finish time, so waiting for a reply is not
//! counted as generator lag. A session whose turn failed sends no further turns: they are
//! recorded as not sent, never dropped.

use sb_records::Message;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

struct Session<J> {
    busy: bool,
    history: Vec<Message>,
    parked: VecDeque<J>,
    failed: Option<String>,
}

impl<J> Default for Session<J> {
    fn default() -> Self {
        Session { busy: false, history: Vec::new(), parked: VecDeque::new(), failed: None }
    }
}

/// What to do with a turn that is due.
pub enum Admit<J> {
    /// Send it now with these messages (history + its own).
    Send(J, Vec<Message>),
    /// Its session is busy: it was parked and comes back from [`Sessions::finish`].
    Parked,
    /// An earlier turn failed: record it as not sent, for this reason.
    Skip(J, String),
}

pub struct Sessions<J> {
    map: Mutex<HashMap<String, Session<J>>>,
}

impl<J> Default for Sessions<J> {
    fn default() -> Self {
        Sessions { map: Mutex::new(HashMap::new()) }
    }
}

impl<J> Sessions<J> {
    pub fn admit(&self, session: &str, job: J, own: &[Message]) -> Admit<J> {
        let mut map = self.map.lock().expect("sessions lock");
        let s = map.entry(session.to_string()).or_default();
        if let Some(why) = &s.failed {
            return Admit::Skip(job, why.clone());
        }
        if s.busy {
            s.parked.push_back(job);
            return Admit::Parked;
        }
        s.busy = true;
        let mut messages = s.history.clone();
        messages.extend_from_slice(own);
        Admit::Send(job, messages)
    }

    /// Records how a turn ended and returns the next parked turn of the session, if any: a
    /// turn to send (with its messages) or to skip. `reply` is `None` when the turn failed;
    /// `failure` then says why.
    pub fn finish(
        &self,
        session: &str,
        own: &[Message],
        reply: Option<String>,
        failure: impl FnOnce() -> String,
        own_of: impl Fn(&J) -> &[Message],
    ) -> Option<Admit<J>> {
        let mut map = self.map.lock().expect("sessions lock");
        let s = map.get_mut(session)?;
        match reply {
            Some(text) => {
                s.history.extend_from_slice(own);
                s.history.push(Message { role: "assistant".into(), content: text });
            }
            None => {
                s.failed = Some(failure());
            }
        }
        let next = s.parked.pop_front();
        match next {
            None => {
                s.busy = false;
                None
            }
            Some(job) => {
                if let Some(why) = &s.failed {
                    // Leave `busy` set: the caller skips this turn and calls `finish` for it.
                    return Some(Admit::Skip(job, why.clone()));
                }
                let mut messages = s.history.clone();
                messages.extend_from_slice(own_of(&job));
                Some(Admit::Send(job, messages))
            }
        }
    }

    /// Turns still parked (for the run record when a run stops early).
    pub fn parked(&self) -> usize {
        self.map.lock().expect("sessions lock").values().map(|s| s.parked.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(role: &str, c: &str) -> Message {
        Message { role: role.into(), content: c.into() }
    }

    #[test]
    fn turns_wait_for_the_previous_reply_and_carry_history() {
        let s: Sessions<(u32, Vec<Message>)> = Sessions::default();
        let t0 = vec![m("user", "q0")];
        let t1 = vec![m("user", "q1")];
        let sent = match s.admit("s", (0, t0.clone()), &t0) {
            Admit::Send(_, msgs) => msgs,
            _ => panic!("first turn must be sent"),
        };
        assert_eq!(sent, t0);
        assert!(matches!(s.admit("s", (1, t1.clone()), &t1), Admit::Parked));
        assert_eq!(s.parked(), 1);
        let next = s.finish("s", &t0, Some("a0".into()), || unreachable!(), |j| &j.1).unwrap();
        match next {
            Admit::Send((turn, _), msgs) => {
                assert_eq!(turn, 1);
                assert_eq!(msgs, vec![m("user", "q0"), m("assistant", "a0"), m("user", "q1")]);
            }
            _ => panic!("parked turn must be sent after the reply"),
        }
        assert!(s.finish("s", &t1, Some("a1".into()), || unreachable!(), |j| &j.1).is_none());
        // The session is idle again: the next turn goes straight out with the full history.
        let t2 = vec![m("user", "q2")];
        match s.admit("s", (2, t2.clone()), &t2) {
            Admit::Send(_, msgs) => assert_eq!(msgs.len(), 5),
            _ => panic!(),
        }
    }

    #[test]
    fn a_failed_turn_skips_the_rest_of_its_session() {
        let s: Sessions<u32> = Sessions::default();
        let t = vec![m("user", "q")];
        assert!(matches!(s.admit("s", 0, &t), Admit::Send(..)));
        assert!(matches!(s.admit("s", 1, &t), Admit::Parked));
        match s.finish("s", &t, None, || "turn 0 failed: timeout".into(), |_| &[]) {
            Some(Admit::Skip(1, why)) => assert!(why.contains("turn 0 failed")),
            _ => panic!("parked turn must be skipped"),
        }
        assert!(matches!(s.admit("s", 2, &t), Admit::Skip(2, _)));
        // Other sessions are unaffected.
        assert!(matches!(s.admit("other", 0, &t), Admit::Send(..)));
    }
}
