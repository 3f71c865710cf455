//! OpenChat's cleaned GPT-4 ShareGPT conversations (`openchat/openchat_sharegpt4_dataset`,
//! `sharegpt_gpt4.json`: ShareGPT pages with the turns under `"items"`). The default task is the
//! chatbot: every conversation is a session whose user turns are sent one after another, each
//! after the server's previous reply (`session` + `turn`).

use super::{sharegpt, Dataset, LoadCtx, Task, Unit};
use anyhow::Result;

pub struct OpenChat;

const TASKS: &[Task] = &[
    Task {
        name: "chatbot",
        about: "multi-turn sessions: one request per user turn holding only that turn's message",
        chat: true,
    },
    Task {
        name: "single",
        about: "first user turn -> prompt, first reply -> expected (vLLM ShareGPT style)",
        chat: false,
    },
];

impl Dataset for OpenChat {
    fn name(&self) -> &'static str {
        "openchat"
    }
    fn hub_repo(&self) -> Option<&'static str> {
        Some("openchat/openchat_sharegpt4_dataset")
    }
    fn about(&self) -> &'static str {
        "OpenChat ShareGPT4: cleaned GPT-4 conversations (sharegpt_gpt4.json)"
    }
    fn tasks(&self) -> &'static [Task] {
        TASKS
    }
    fn flags(&self) -> &'static str {
        "--task chatbot|single --max-turns N (-n counts conversations for chatbot)"
    }
    fn load(&self, ctx: &LoadCtx) -> Result<Vec<Unit>> {
        let files = ctx.files.find(&["sharegpt_gpt4.json", "*.json", "*.jsonl"])?;
        sharegpt::load_conversations(&files, ctx.task == "chatbot", ctx.opts.max_turns)
    }
}
