//! The run record is typed (`RunFields`) on both sides: what sb-load writes reads back the same,
//! and another writer's record with other shapes stays readable.

use sb_records::{Arrival, Lateness, RunFields, RunLoad, RunRecord};

fn read(line: &str) -> RunRecord {
    let mut reader = sb_records::RecordReader::new("t", std::io::Cursor::new(line.to_string()));
    match reader.next().expect("a record").expect("readable") {
        sb_records::Record::Run(r) => r,
        other => panic!("not a run record: {other:?}"),
    }
}

#[test]
fn the_typed_fields_read_back_as_written() {
    let fields = RunFields {
        model: Some("m".into()),
        load: Some(RunLoad {
            stages: vec!["gamma:4:0.5@30s".into()],
            arrival: vec![Arrival {
                process: "gamma".into(),
                rate_rps: Some(4.0),
                burstiness: Some(0.5),
                speed: None,
                duration_s: Some(30.0),
            }],
            concurrency: Some(8),
            ..Default::default()
        }),
        target_rate_rps: Some(4.0),
        send_lateness_ms: Some(Lateness { mean: 0.1, p50: 0.05, p90: 0.2, p99: 1.5, p99_9: 2.0, max: 3.0 }),
        pacing: Some("open".into()),
        ..Default::default()
    };
    let record = RunRecord::new("r1".into(), 10, 20, &fields);
    let mut out = Vec::new();
    sb_records::RecordWriter::new(&mut out).write(&record).unwrap();
    let line = String::from_utf8(out).unwrap();
    assert!(line.contains(r#""loop":"open""#) && line.contains(r#""p99.9":2.0"#), "{line}");
    assert!(
        line.contains(r#""arrival":[{"process":"gamma","rate_rps":4.0,"burstiness":0.5,"duration_s":30.0}]"#),
        "{line}"
    );
    let back = read(&line);
    assert_eq!((back.run.as_str(), back.started_ns, back.ended_ns), ("r1", 10, 20));
    assert_eq!(back.fields(), fields);
}

#[test]
fn another_writers_shapes_are_missing_fields_not_an_unreadable_record() {
    let back = read(
        r#"{"kind":"run","v":1,"run":"x","started_ns":1,"ended_ns":2,"verdict":true,"load":"fast","target_rate":5,"send_lateness_ms":{"p99":"high"}}"#,
    );
    let f = back.fields();
    assert_eq!((f.verdict, f.load, f.send_lateness_ms), (None, None, None));
    assert_eq!(back.extra["target_rate"], 5, "other spellings stay readable by name");
}
