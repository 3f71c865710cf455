//! The borrowed view of a result record reads each field under the name and with the meaning the
//! full record writes it: a field renamed or retyped in `ResultRecord` but not in `ResultView`
//! fails here instead of reading as missing in every report.

use sb_records::{Api, ResultRecord, ResultView, Status, Usage};

#[test]
fn every_field_of_the_view_reads_what_the_full_record_wrote() {
    let full = ResultRecord {
        id: "r\"1".into(),
        api: Api::Chat,
        status: Status::HttpError,
        http_status: Some(429),
        error: Some("HTTP 429: slow down".into()),
        scheduled_ns: 1,
        sent_ns: 2,
        connected_ns: Some(2),
        first_byte_ns: Some(3),
        first_chunk_ns: Some(4),
        first_token_ns: Some(5),
        end_ns: Some(6),
        done_ns: 7,
        chunks_ns: vec![2, 3, 4],
        usage: Some(Usage { prompt_tokens: 11, completion_tokens: 12, total_tokens: 23, ..Default::default() }),
        prompt_tokens: Some(10),
        output_tokens: Some(13),
        tokenizer: Some("tok".into()),
        max_tokens: Some(12),
        finish_reason: Some("length".into()),
        stage: Some(2),
        shard: Some("1/4".into()),
        warmup: true,
        dataset: Some("sharegpt".into()),
        task: Some("chat".into()),
        session: Some("s".into()),
        turn: Some(3),
        prefix: Some("p".into()),
        run: Some("run-1".into()),
        tags: [("point".to_string(), "p01".to_string())].into(),
        text: Some("hello".into()),
        exceeded_max_tokens: true,
    };
    let line = serde_json::to_string(&full).unwrap();
    let v: ResultView = serde_json::from_str(&line).unwrap();
    assert_eq!(v.id, full.id);
    assert_eq!(v.status, full.status);
    assert_eq!(v.http_status, full.http_status);
    assert_eq!(v.error.as_deref(), full.error.as_deref());
    assert_eq!((v.scheduled_ns, v.sent_ns, v.done_ns), (full.scheduled_ns, full.sent_ns, full.done_ns));
    assert_eq!((v.first_chunk_ns, v.first_token_ns, v.end_ns), (full.first_chunk_ns, full.first_token_ns, full.end_ns));
    assert_eq!(v.chunks_ns, full.chunks_ns);
    let u = v.usage.as_ref().unwrap();
    assert_eq!((u.prompt_tokens, u.completion_tokens), (11, 12));
    assert_eq!((v.prompt_tokens, v.output_tokens), (full.prompt_tokens, full.output_tokens));
    assert_eq!((v.output_len(), v.input_len()), (full.output_len(), full.input_len()));
    assert_eq!((v.stage, v.turn, v.warmup), (full.stage, full.turn, full.warmup));
    let s = |x: &Option<std::borrow::Cow<'_, str>>| x.as_deref().map(str::to_string);
    assert_eq!(s(&v.api), Some("chat".into()));
    assert_eq!(s(&v.shard), full.shard);
    assert_eq!(s(&v.finish_reason), full.finish_reason);
    assert_eq!(s(&v.tokenizer), full.tokenizer);
    assert_eq!((s(&v.dataset), s(&v.task)), (full.dataset.clone(), full.task.clone()));
    assert_eq!((s(&v.session), s(&v.prefix), s(&v.run)), (full.session.clone(), full.prefix.clone(), full.run.clone()));
    assert_eq!(v.tags.get("point").map(|t| t.to_string()), Some("p01".into()));
    assert_eq!(s(&v.text), full.text);
}
